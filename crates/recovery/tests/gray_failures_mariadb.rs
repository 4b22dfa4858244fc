//! Gray failures on real MariaDB: a primary that hangs (SIGSTOP: its port accepts, nothing
//! answers) is failed over without waiting for arbor's 10-second read timeout and is fenced
//! when it wakes; a primary that is only busy (a global read lock) or refuses connections
//! ("Too many connections") while its replicas still hear from it is never failed over.

mod common;

use std::time::{Duration, Instant};

use arbor_mysql::{Operator, OperatorSettings};
use arbor_testkit::{wait_for, ADMIN_PASSWORD, ADMIN_USER};
use common::{create_table, harness, key, write_rows, Harness, ROWS};

/// orchestrator's default probe timeouts (2 s to connect, 10 s to read): a failover faster
/// than the read timeout is the liveness check's doing, not a poll's.
/// orchestrator's default connect timeout and a 10 s read timeout (the harness's are 1 s).
fn default_timeouts(config: &mut serde_json::Value) {
    config["MySQLConnectTimeoutSeconds"] = 2.into();
    config["MySQLDiscoveryReadTimeoutSeconds"] = 10.into();
}

async fn no_recovery_for(h: &Harness, how_long: Duration) {
    let deadline = Instant::now() + how_long;
    while Instant::now() < deadline {
        let recoveries = h.store.recoveries(None, 10).await.unwrap();
        assert!(
            recoveries.is_empty(),
            "no failover expected: {recoveries:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_hung_primary_is_failed_over_before_the_read_timeout_and_fenced_when_it_wakes() {
    let h = harness(&[None, Some(0), Some(0)], default_timeouts).await;
    create_table(&h);
    let written = write_rows(&h, 0, 5, &[1, 2]);
    let old = key(h.sandbox.key(0));
    // Let the watcher settle on its held connection.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hung_at = Instant::now();
    h.sandbox.pause(0).unwrap();

    let recovery = h
        .finished_recoveries(1, Duration::from_secs(40))
        .await
        .remove(0);
    let took = hung_at.elapsed();
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.failed, old);
    // A poll would only give up on the frozen primary after its 10 s read timeout.
    assert!(
        took < Duration::from_secs(9),
        "the hang was acted on after {took:?}: {recovery:#?}"
    );
    let successor = recovery.successor.clone().unwrap();
    let new_primary = h.index_of(&successor);
    assert_eq!(h.sql(new_primary, "SELECT @@read_only"), "0");
    assert_eq!(h.sql(new_primary, ROWS), written.to_string());
    let other = [1, 2].into_iter().find(|i| *i != new_primary).unwrap();
    assert_eq!(h.status(other, "Master_Port"), successor.port.to_string());

    // The old primary wakes up: it must not take writes beside the new one.
    h.sandbox.resume(0).unwrap();
    let fenced = wait_for(Duration::from_secs(15), || async {
        (h.sql(0, "SELECT @@read_only") == "1").then_some(())
    })
    .await;
    assert!(
        fenced.is_some(),
        "the returning primary is fenced read-only"
    );
    let returned = h
        .analysis_of(&old, Duration::from_secs(15), |a| a.code.is_some())
        .await
        .expect("the returned primary is analysed");
    assert_eq!(returned.cluster, successor.to_string(), "{returned:#?}");
    assert!(
        returned.code.unwrap().name().starts_with("FormerMaster"),
        "{returned:#?}"
    );
}

#[tokio::test]
async fn a_primary_under_a_global_read_lock_is_not_failed_over() {
    let h = harness(&[None, Some(0), Some(0)], default_timeouts).await;
    create_table(&h);
    // A backup-style global read lock held for 8 s in a session of its own.
    let mut lock_session =
        h.admin_client(0, "FLUSH TABLES WITH READ LOCK; DO SLEEP(8); UNLOCK TABLES");
    let locker = std::thread::spawn(move || lock_session.output());
    no_recovery_for(&h, Duration::from_secs(9)).await;
    let lock = locker.join().unwrap().unwrap();
    assert!(
        lock.status.success(),
        "the lock was held: {}",
        String::from_utf8_lossy(&lock.stderr)
    );
    assert_eq!(h.sql(0, "SELECT @@read_only"), "0", "still the primary");
    h.sql(0, "INSERT INTO app.t (v) VALUES (1)");
}

#[tokio::test]
async fn a_primary_refusing_connections_while_its_replicas_hear_from_it_is_not_failed_over() {
    let h = harness(&[None, Some(0), Some(0)], |_| {}).await;
    let primary = key(h.sandbox.key(0));
    // One connection kept open before the server fills up, to set things and put them back.
    let operator = Operator::new(OperatorSettings {
        user: ADMIN_USER.into(),
        password: ADMIN_PASSWORD.into(),
        connect_timeout: Duration::from_secs(2),
        statement_timeout: Duration::from_secs(10),
        default_port: 3306,
        tls: Default::default(),
    });
    let mut held = operator.session(&primary).await.unwrap();
    let mine = held
        .query_value("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    // arbor's other connections (its probe's, its watcher's) will be killed.
    let arbors: Vec<String> = held
        .query_rows(&format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{ADMIN_USER}' AND ID <> {mine}"
        ))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|row| row[0].clone())
        .collect();
    // Sleepers take connections until, once arbor's are killed, max_connections (10, MariaDB's
    // floor) plus the one extra a privileged user gets are all taken, with two to spare: then
    // nobody connects.
    let target = 13 + arbors.len();
    let mut sleepers = Vec::new();
    loop {
        let connected: usize = held
            .query_value("SELECT COUNT(*) FROM information_schema.PROCESSLIST")
            .await
            .unwrap()
            .unwrap()
            .parse()
            .unwrap();
        if connected >= target {
            break;
        }
        assert!(sleepers.len() < 40, "cannot fill the server's connections");
        sleepers.push(
            h.admin_client(0, "DO SLEEP(40)")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut batch = vec!["SET GLOBAL max_connections = 10".to_string()];
    batch.extend(arbors.iter().map(|id| format!("KILL CONNECTION {id}")));
    for sql in &batch {
        let _ = held.execute(sql).await;
    }
    // A connection arbor opened after the list was taken (a probe's, on a loaded machine) would
    // keep it reading the primary: kill whatever of arbor's is left (the sleepers' connections
    // are the same user's, running their sleep) until none is.
    for _ in 0..50 {
        let left: Vec<String> = held
            .query_rows(&format!(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{ADMIN_USER}' \
                 AND ID <> {mine} AND COALESCE(INFO, '') NOT LIKE 'DO SLEEP%'"
            ))
            .await
            .unwrap()
            .into_iter()
            .filter_map(|row| row[0].clone())
            .collect();
        if left.is_empty() {
            break;
        }
        for id in left {
            let _ = held.execute(&format!("KILL CONNECTION {id}")).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The replicas reconnect, and are refused too.
    for replica in [1, 2] {
        h.sql(replica, "STOP SLAVE IO_THREAD; START SLAVE IO_THREAD");
    }
    let refused = wait_for(Duration::from_secs(10), || async {
        let errno = h.status(1, "Last_IO_Errno");
        (errno == "1040").then_some(())
    })
    .await;
    assert!(
        refused.is_some(),
        "the replica is refused by its source: {} {}",
        h.status(1, "Slave_IO_Running"),
        h.status(1, "Last_IO_Error")
    );
    let unreachable = h
        .analysis_of(&primary, Duration::from_secs(10), |a| {
            a.code.is_some() && !a.last_check_valid
        })
        .await
        .expect("arbor cannot read the primary");
    assert_eq!(
        unreachable.code.map(|c| c.name()),
        Some("UnreachableMaster"),
        "replicas refused by the primary vouch that it lives: {unreachable:#?}"
    );
    no_recovery_for(&h, Duration::from_secs(4)).await;
    held.execute("SET GLOBAL max_connections = 60")
        .await
        .unwrap();
    for mut sleeper in sleepers {
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }
    assert_eq!(
        held.query_value("SELECT @@read_only")
            .await
            .unwrap()
            .as_deref(),
        Some("0"),
        "still the primary"
    );
}
