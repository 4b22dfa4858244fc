//! Multi-source replicas on real MariaDB (named connections): discovered with every source,
//! never mistaken for broken; a server with named connections only is never changed by arbor
//! (moves refused naming the connections, not repointed by a failover); a multi-source replica
//! is not promoted, and its default connection follows a failover as any replica's does, its
//! named connection untouched.

mod common;

use std::time::Duration;

use arbor_testkit::{wait_for, MariaDbSandbox, REPL_PASSWORD, REPL_USER};
use common::{automated_recovery, start_node_with, with, Served};
use serde_json::json;

const A: usize = 0; // primary of the cluster
const M: usize = 1; // replica of A (default connection) and of B (connection 'b')
const B: usize = 2; // another primary, in its own GTID domain
const N: usize = 3; // replicates from A over the named connection 'a' only
const R: usize = 4; // an ordinary replica of A

/// `CHANGE MASTER 'name' TO` server `source`, from its current binary log position.
fn named_link(sandbox: &MariaDbSandbox, replica: usize, name: &str, source: usize) {
    let status = sandbox.sql(source, "SHOW MASTER STATUS").unwrap();
    let mut fields = status.split_whitespace();
    let (file, position) = (fields.next().unwrap(), fields.next().unwrap());
    sandbox
        .sql(
            replica,
            &format!(
                "CHANGE MASTER '{name}' TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, \
                 MASTER_USER='{REPL_USER}', MASTER_PASSWORD='{REPL_PASSWORD}', \
                 MASTER_USE_GTID=no, MASTER_LOG_FILE='{file}', MASTER_LOG_POS={position}, \
                 MASTER_CONNECT_RETRY=1; START SLAVE '{name}'",
                sandbox.port(source)
            ),
        )
        .unwrap();
}

/// The names of server `index`'s replication connections, as `SHOW ALL SLAVES STATUS` lists
/// them (the default one is `""`).
fn connections(sandbox: &MariaDbSandbox, index: usize) -> Vec<String> {
    let mut names: Vec<String> = sandbox
        .sql(index, "SHOW ALL SLAVES STATUS")
        .unwrap()
        .lines()
        .map(|line| line.split('\t').next().unwrap_or("").to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn named_connections_are_shown_and_left_alone() {
    let sandbox = MariaDbSandbox::start(&[None, Some(A), None, None, Some(A)]).unwrap();
    // B writes in its own GTID domain, as multi-source replication with GTID requires.
    sandbox.sql(B, "SET GLOBAL gtid_domain_id = 2").unwrap();
    named_link(&sandbox, M, "b", B);
    named_link(&sandbox, N, "a", A);
    sandbox.sql(N, "SET GLOBAL read_only = 1").unwrap();
    sandbox
        .sql(B, "CREATE DATABASE from_b; CREATE TABLE from_b.t (id INT PRIMARY KEY); INSERT INTO from_b.t VALUES (1)")
        .unwrap();
    let replicated = wait_for(Duration::from_secs(30), || async {
        (sandbox.sql(M, "SELECT COUNT(*) FROM from_b.t").ok()?.trim() == "1").then_some(())
    })
    .await;
    assert!(
        replicated.is_some(),
        "M replicates from B over 'b': {:?}",
        sandbox.sql(M, "SHOW SLAVE 'b' STATUS")
    );

    let node = start_node_with(with(
        automated_recovery(),
        json!({ "RecoveryPeriodBlockSeconds": 1 }),
    ))
    .await;
    let mut served = Served::watch(sandbox, node, &[A, B]).await;

    // M: in A's cluster, healthy, with both links listed; the tree names its other source.
    let m = served.read(&format!("instance/{}", served.path(M))).await;
    assert_eq!(m["ArborStatus"], "ok", "{m}");
    assert_eq!(m["MasterKey"]["Port"], served.sandbox.port(A), "{m}");
    let links = m["ArborSourceConnections"].as_array().unwrap();
    let described: Vec<(String, u64)> = links
        .iter()
        .map(|l| {
            (
                l["ConnectionName"].as_str().unwrap().to_string(),
                l["MasterKey"]["Port"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            (String::new(), u64::from(served.sandbox.port(A))),
            ("b".to_string(), u64::from(served.sandbox.port(B)))
        ],
        "{m}"
    );
    assert!(
        links
            .iter()
            .all(|l| l["ReplicationSQLThreadRunning"] == true),
        "{m}"
    );
    let tree = served.read(&format!("topology/{}", served.path(A))).await;
    let tree = tree["Details"].as_str().unwrap_or_default().to_string();
    assert!(
        tree.contains(&format!("multi-source: 'b' from {}", served.key(B))),
        "{tree}"
    );
    // N: placed under A by its named link, and not a problem either.
    let n = served.read(&format!("instance/{}", served.path(N))).await;
    assert_eq!(n["MasterKey"]["Port"], served.sandbox.port(A), "{n}");
    assert_eq!(n["ArborStatus"], "ok", "{n}");
    let problems = served.read("replication-analysis").await;
    let flagged: Vec<&serde_json::Value> = problems["Details"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    assert!(
        flagged.iter().all(|p| {
            let port = &p["AnalyzedInstanceKey"]["Port"];
            *port != served.sandbox.port(M) && *port != served.sandbox.port(N)
        }),
        "{problems}"
    );

    // Moving N is refused, naming its connection; nothing changed on it.
    let (status, body) = served
        .call(&format!("relocate/{}/{}", served.path(N), served.path(R)))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["Message"].as_str().unwrap().contains("'a'"), "{body}");
    assert_eq!(connections(&served.sandbox, N), ["a"]);

    // A dies: R is promoted (M is multi-source, N has no default connection); M's default
    // connection follows R while 'b' stays on B; N is left alone, and the audit says why.
    served.sandbox.kill(A).unwrap();
    let recovery = served.finished_recovery_of(A).await;
    assert_eq!(
        recovery["SuccessorKey"]["Port"],
        served.sandbox.port(R),
        "{recovery}"
    );
    let steps = served
        .read(&format!(
            "audit-recovery-steps/{}",
            recovery["UID"].as_str().unwrap()
        ))
        .await
        .to_string();
    assert!(
        steps.contains("multi-source"),
        "M's exclusion is explained: {steps}"
    );
    assert!(
        steps.contains("named connection 'a'"),
        "N is left alone: {steps}"
    );
    let following = wait_for(Duration::from_secs(30), || async {
        let m = served.read(&format!("instance/{}", served.path(M))).await;
        let links = m["ArborSourceConnections"].as_array()?.clone();
        let ports: Vec<u64> = links
            .iter()
            .map(|l| l["MasterKey"]["Port"].as_u64().unwrap_or(0))
            .collect();
        (ports
            == [
                u64::from(served.sandbox.port(R)),
                u64::from(served.sandbox.port(B)),
            ]
            && links
                .iter()
                .all(|l| l["ReplicationSQLThreadRunning"] == true))
        .then_some(())
    })
    .await;
    assert!(
        following.is_some(),
        "M follows R by default and B by 'b': {}",
        served.read(&format!("instance/{}", served.path(M))).await
    );
    // N still has 'a' alone: arbor added no default connection to it.
    assert_eq!(connections(&served.sandbox, N), ["a"]);
    assert_eq!(connections(&served.sandbox, M), ["", "b"]);
}
