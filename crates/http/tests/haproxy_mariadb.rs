//! Traffic follows the primary through a real HAProxy (Debian's), configured as
//! `docs/traffic.md` shows: each MariaDB server is a backend server named `host:port`, checked
//! with `GET /api/check/primary/%[srv_name]` on arbor. After a graceful takeover and after an
//! automated failover, connections through the proxy reach the new primary; and at no moment
//! do two servers pass the primary check.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor_mysql::{Operator, OperatorSettings};
use arbor_testkit::{wait_for, MariaDbSandbox, ADMIN_PASSWORD, ADMIN_USER};
use arbor_topology::InstanceKey;
use common::haproxy::{diagnose, Haproxy};
use common::{automated_recovery, start_node_with, with, Served};

/// The port of the server a new connection through the proxy reaches, if it answers and
/// takes writes.
async fn writable_port_through(proxy: u16) -> Option<u16> {
    let operator = Operator::new(OperatorSettings {
        user: ADMIN_USER.into(),
        password: ADMIN_PASSWORD.into(),
        connect_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(2),
        default_port: 3306,
        tls: Default::default(),
    });
    let mut session = operator
        .session(&InstanceKey::new("127.0.0.1", proxy))
        .await
        .ok()?;
    // `+ 0`: MariaDB 10.11 renders the variable as ON/OFF in a string.
    let answer = session
        .query_value("SELECT CONCAT(@@port, ' ', @@read_only + 0)")
        .await
        .ok()??;
    let (port, read_only) = answer.split_once(' ')?;
    (read_only == "0").then(|| port.parse().ok())?
}

#[tokio::test]
async fn haproxy_sends_writes_to_the_new_primary_after_a_takeover_and_a_failover() {
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0)]).unwrap();
    let ports: Vec<u16> = (0..3).map(|i| sandbox.port(i)).collect();
    let node = start_node_with(with(
        automated_recovery(),
        serde_json::json!({ "RecoveryPeriodBlockSeconds": 1 }),
    ))
    .await;
    let mut served = Served::watch(sandbox, node, &[0]).await;
    let arbor_port: u16 = served
        .node
        .base
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let proxy = Haproxy::start(&ports, arbor_port);
    let reaches = |want: u16| async move {
        wait_for(Duration::from_secs(30), || async move {
            (writable_port_through(proxy.port).await == Some(want)).then_some(())
        })
        .await
        .is_some()
    };
    assert!(
        reaches(ports[0]).await,
        "the proxy sends writes to P\n{}",
        diagnose(&served.node.base, &ports, &proxy).await
    );

    // All along, no two servers pass the primary check at once. The three checks of a round
    // are three requests, so a round that straddles the change of primary may see the old one
    // pass and then the new one: a split is two servers passing in two rounds running. (The
    // primary may legitimately come back to P: the failover of R1 may promote it again.)
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(std::sync::Mutex::new(Vec::<Vec<u16>>::new()));
    let watcher = {
        let (stop, rounds) = (stop.clone(), rounds.clone());
        let (client, base, ports) = (common::http(), served.node.base.clone(), ports.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let mut passing = Vec::new();
                for port in &ports {
                    let url = format!("{base}/api/check/primary/127.0.0.1:{port}");
                    if let Ok(response) = client.get(url).send().await {
                        if response.status() == 200 {
                            passing.push(*port);
                        }
                    }
                }
                rounds.lock().unwrap().push(passing);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // A graceful takeover to R1: the proxy follows.
    served
        .ok(&format!(
            "graceful-master-takeover-auto/{}/{}",
            served.key(0),
            served.path(1)
        ))
        .await;
    assert!(
        reaches(ports[1]).await,
        "after the takeover, writes reach R1\n{}",
        diagnose(&served.node.base, &ports, &proxy).await
    );

    // R1 dies: arbor fails over, and the proxy follows again.
    served.sandbox.kill(1).unwrap();
    let moved = wait_for(Duration::from_secs(40), || async {
        let port = writable_port_through(proxy.port).await?;
        (port == ports[0] || port == ports[2]).then_some(port)
    })
    .await;
    assert!(
        moved.is_some(),
        "after the failover, writes reach the new primary\n{}",
        diagnose(&served.node.base, &ports, &proxy).await
    );

    stop.store(true, Ordering::SeqCst);
    watcher.await.unwrap();
    let rounds = rounds.lock().unwrap().clone();
    assert!(rounds.len() > 10, "the checks were watched");
    let doubled = rounds
        .windows(2)
        .any(|pair| pair[0].len() > 1 && pair[1].len() > 1);
    assert!(
        !doubled,
        "two servers passed the primary check at once: the passing servers, round by round: \
         {rounds:?}"
    );
}
