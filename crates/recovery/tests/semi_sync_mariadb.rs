//! Failover of a semi-synchronous cluster on real MariaDB (semi-sync is built into 10.3+): the
//! acknowledging replica is preferred among equally advanced ones, and the new primary gets
//! the primary side of semi-sync back, so the cluster keeps its durability setting.

mod common;

use std::time::Duration;

use arbor_testkit::{wait_for, ADMIN_USER};
use common::{create_table, harness, key, write_rows, Harness, ROWS};

/// P with replicas R1 and R2, P's semi-sync primary side on (AFTER_SYNC) and the replica side
/// on one replica only, the one the key order would not choose (only its semi-sync side can
/// make it win), with rows written and acknowledged; returns once arbor has read the
/// acknowledger's side: the harness, the acknowledger's index and the rows written.
async fn semi_sync_cluster() -> (Harness, usize, u64) {
    let h = harness(&[None, Some(0), Some(0)], |_| {}).await;
    let acknowledger = if key(h.sandbox.key(1)) > key(h.sandbox.key(2)) {
        1
    } else {
        2
    };
    // A primary waits up to rpl_semi_sync_master_timeout for its replicas when it shuts down
    // (10 s by default): the short one keeps the test's clean-up short.
    for index in 0..3 {
        h.sql(index, "SET GLOBAL rpl_semi_sync_master_timeout = 1000");
    }
    h.sql(
        0,
        "SET GLOBAL rpl_semi_sync_master_enabled = ON; \
         SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC",
    );
    h.sql(
        acknowledger,
        "SET GLOBAL rpl_semi_sync_slave_enabled = ON; STOP SLAVE IO_THREAD; START SLAVE IO_THREAD",
    );
    let clients = wait_for(Duration::from_secs(10), || async {
        (h.sql(0, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'")
            .ends_with('1'))
        .then_some(())
    })
    .await;
    assert!(clients.is_some(), "the replica acknowledges the primary");
    // Every write is acknowledged by the semi-sync replica before the client hears of it.
    create_table(&h);
    let written = write_rows(&h, 0, 5, &[1, 2]);
    let store = std::sync::Arc::clone(&h.store);
    let ack_key = key(h.sandbox.key(acknowledger));
    let seen = wait_for(Duration::from_secs(15), || {
        let (store, ack_key) = (std::sync::Arc::clone(&store), ack_key.clone());
        async move {
            let record = store.instance(&ack_key).await.ok()??;
            record.instance.semi_sync.replica_enabled.then_some(())
        }
    })
    .await;
    assert!(seen.is_some(), "arbor read the replica's semi-sync side");
    (h, acknowledger, written)
}

#[tokio::test]
async fn the_acknowledger_is_promoted_and_the_new_primary_runs_semi_sync() {
    let (mut h, acknowledger, written) = semi_sync_cluster().await;
    let other = 3 - acknowledger;
    let ack_key = key(h.sandbox.key(acknowledger));
    h.sandbox.kill(0).unwrap();
    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.successor, Some(ack_key.clone()), "{recovery:#?}");
    assert_eq!(h.sql(acknowledger, "SELECT @@read_only"), "0");
    assert_eq!(
        h.sql(acknowledger, "SELECT @@rpl_semi_sync_master_enabled"),
        "1",
        "the new primary keeps the cluster's semi-sync setting"
    );
    assert!(
        recovery.steps.iter().any(|s| s
            .message
            .contains("semi-synchronous replication's primary side on")),
        "{:#?}",
        recovery.steps
    );
    assert_eq!(h.sql(acknowledger, ROWS), written.to_string());
    assert_eq!(
        h.status(other, "Master_Port"),
        ack_key.port.to_string(),
        "the other replica follows the new primary"
    );
}

#[tokio::test]
async fn a_graceful_takeover_hands_each_side_of_semi_sync_to_the_other_server() {
    let (h, acknowledger, written) = semi_sync_cluster().await;
    let designated = key(h.sandbox.key(acknowledger));
    let record = h
        .engine
        .graceful_takeover(&h.sandbox.key(0), Some(designated.clone()), true)
        .await
        .unwrap();
    assert!(record.successful, "{record:#?}");
    assert_eq!(
        h.sql(acknowledger, "SELECT @@rpl_semi_sync_master_enabled"),
        "1"
    );
    assert_eq!(
        h.sql(0, "SELECT @@rpl_semi_sync_slave_enabled"),
        "1",
        "the demoted primary acknowledges the new one"
    );
    // The old primary replicates from the new one and acknowledges its writes: a write on the
    // new primary returns at once (no semi-sync timeout) and reaches the old primary.
    let acknowledged = wait_for(Duration::from_secs(10), || async {
        (h.sql(
            acknowledger,
            "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'",
        )
        .ends_with('1'))
        .then_some(())
    })
    .await;
    assert!(acknowledged.is_some(), "the old primary acknowledges");
    h.sql(acknowledger, "INSERT INTO app.t (v) VALUES (2)");
    assert_eq!(
        h.sql(
            acknowledger,
            "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_yes_tx'"
        )
        .split_whitespace()
        .last(),
        Some("1"),
        "the write was acknowledged semi-synchronously"
    );
    let replicated = wait_for(Duration::from_secs(10), || async {
        (h.sql(0, ROWS) == (written + 1).to_string()).then_some(())
    })
    .await;
    assert!(replicated.is_some(), "the old primary has the new write");
}

/// The value of a status variable (`SHOW GLOBAL STATUS LIKE name`) on server `index`.
fn status_value(h: &Harness, index: usize, name: &str) -> u64 {
    h.sql(index, &format!("SHOW GLOBAL STATUS LIKE '{name}'"))
        .split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_locked_semi_sync_primary_gets_an_acknowledger_and_its_waiting_commit_returns() {
    let h = harness(&[None, Some(0), Some(0)], |config| {
        config["RecoverLockedSemiSyncMaster"] = true.into();
    })
    .await;
    create_table(&h);
    h.sql(0, &format!("GRANT INSERT ON app.* TO '{ADMIN_USER}'@'%'"));
    write_rows(&h, 0, 1, &[1, 2]);
    // Semi-sync on the primary only, with a long timeout: a commit waits up to 60 s.
    h.sql(
        0,
        "SET GLOBAL rpl_semi_sync_master_timeout = 60000; \
         SET GLOBAL rpl_semi_sync_master_enabled = ON",
    );
    let started = std::time::Instant::now();
    let mut writer = h.admin_client(0, "INSERT INTO app.t (v) VALUES (9)");
    let writer = std::thread::spawn(move || (writer.output(), started.elapsed()));

    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.analysis, "LockedSemiSyncMaster", "{recovery:#?}");
    assert_eq!(recovery.kind, "SemiSyncRecovery");
    assert!(
        recovery.acknowledged,
        "a semi-sync change blocks no later failover"
    );
    // The next commit is acknowledged by the replica now on, and the one that waited returns
    // with it: a replica acknowledges a position, and the waiting commit's is below it.
    let next = std::time::Instant::now();
    h.sql(0, "INSERT INTO app.t (v) VALUES (10)");
    assert!(
        next.elapsed() < Duration::from_secs(20),
        "a new commit is acknowledged: {:?}",
        next.elapsed()
    );
    let (output, took) = writer.join().unwrap();
    assert!(output.unwrap().status.success());
    assert!(
        took < Duration::from_secs(40),
        "the waiting commit returned with the next acknowledgement, not at the timeout: {took:?}"
    );
    assert_eq!(status_value(&h, 0, "Rpl_semi_sync_master_no_tx"), 0);
    assert!(status_value(&h, 0, "Rpl_semi_sync_master_yes_tx") >= 1);
    let enabled: Vec<usize> = [1, 2]
        .into_iter()
        .filter(|i| h.sql(*i, "SELECT @@rpl_semi_sync_slave_enabled") == "1")
        .collect();
    assert_eq!(
        enabled.len(),
        1,
        "one replica, as many as the primary waits for"
    );
    // Semi-sync off again before the servers stop, so that shutting down waits for nobody.
    h.sql(0, "SET GLOBAL rpl_semi_sync_master_enabled = OFF");
}

#[tokio::test]
async fn enforce_exact_semi_sync_replicas_turns_the_surplus_acknowledger_off() {
    let h = harness(&[None, Some(0), Some(0)], |config| {
        config["EnforceExactSemiSyncReplicas"] = true.into();
    })
    .await;
    h.sql(
        0,
        "SET GLOBAL rpl_semi_sync_master_timeout = 1000; \
         SET GLOBAL rpl_semi_sync_master_enabled = ON",
    );
    for replica in [1, 2] {
        h.sql(
            replica,
            "SET GLOBAL rpl_semi_sync_slave_enabled = ON; STOP SLAVE IO_THREAD; START SLAVE IO_THREAD",
        );
    }
    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.analysis, "MasterWithTooManySemiSyncReplicas");
    // The lower key keeps acknowledging (rules equal, both acknowledging: the key decides).
    let kept = if key(h.sandbox.key(1)) < key(h.sandbox.key(2)) {
        1
    } else {
        2
    };
    assert_eq!(h.sql(kept, "SELECT @@rpl_semi_sync_slave_enabled"), "1");
    assert_eq!(h.sql(3 - kept, "SELECT @@rpl_semi_sync_slave_enabled"), "0");
    let settled = wait_for(Duration::from_secs(10), || async {
        (status_value(&h, 0, "Rpl_semi_sync_master_clients") == 1).then_some(())
    })
    .await;
    assert!(
        settled.is_some(),
        "the primary has exactly the one it waits for"
    );
}

#[tokio::test]
async fn enforce_exact_semi_sync_replicas_hands_acknowledging_to_the_preferred_replica() {
    let h = harness(&[None, Some(0), Some(0)], |config| {
        config["EnforceExactSemiSyncReplicas"] = true.into();
    })
    .await;
    // R_other acknowledges; the rules prefer R_pref.
    let (preferred, other) = (1, 2);
    h.rule(
        &key(h.sandbox.key(preferred)),
        arbor_topology::PromotionRule::Prefer,
    )
    .await;
    h.sql(
        0,
        "SET GLOBAL rpl_semi_sync_master_timeout = 1000; \
         SET GLOBAL rpl_semi_sync_master_enabled = ON",
    );
    h.sql(
        other,
        "SET GLOBAL rpl_semi_sync_slave_enabled = ON; STOP SLAVE IO_THREAD; START SLAVE IO_THREAD",
    );
    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.analysis, "MasterWithIncorrectSemiSyncReplicas");
    // The preferred replica was switched on before the other was switched off.
    let on = recovery.steps.iter().position(|s| {
        s.message.contains(&h.sandbox.key(preferred))
            && s.message.contains("rpl_semi_sync_slave_enabled = ON")
    });
    let off = recovery.steps.iter().position(|s| {
        s.message.contains(&h.sandbox.key(other))
            && s.message.contains("rpl_semi_sync_slave_enabled = OFF")
    });
    assert!(
        matches!((on, off), (Some(on), Some(off)) if on < off),
        "on first, then off: {:#?}",
        recovery.steps
    );
    assert_eq!(
        h.sql(preferred, "SELECT @@rpl_semi_sync_slave_enabled"),
        "1"
    );
    assert_eq!(h.sql(other, "SELECT @@rpl_semi_sync_slave_enabled"), "0");
    let settled = wait_for(Duration::from_secs(10), || async {
        (status_value(&h, 0, "Rpl_semi_sync_master_clients") == 1).then_some(())
    })
    .await;
    assert!(
        settled.is_some(),
        "the primary has exactly its one acknowledger"
    );
    h.sql(0, "SET GLOBAL rpl_semi_sync_master_enabled = OFF");
}

/// `DetectSemiSyncEnforcedQuery` as orchestrator's users write it, answered per server (here
/// by server_id: R1 priority 5, R2 priority 0, the rest 1).
const PRIORITY_QUERY: &str = "SELECT CASE @@server_id WHEN 2 THEN 5 WHEN 3 THEN 0 ELSE 1 END";

#[tokio::test]
async fn a_priority_zero_replica_never_acknowledges_under_enforce_exact() {
    let h = harness(&[None, Some(0), Some(0)], |config| {
        config["EnforceExactSemiSyncReplicas"] = true.into();
        config["DetectSemiSyncEnforcedQuery"] = PRIORITY_QUERY.into();
    })
    .await;
    // arbor read each server's priority.
    let store = std::sync::Arc::clone(&h.store);
    let r1 = key(h.sandbox.key(1));
    let read = wait_for(Duration::from_secs(10), || {
        let (store, r1) = (std::sync::Arc::clone(&store), r1.clone());
        async move {
            let record = store.instance(&r1).await.ok()??;
            (record.instance.semi_sync.priority == Some(5)).then_some(())
        }
    })
    .await;
    assert!(read.is_some(), "R1's semi-sync priority is read");
    // R2, priority 0 (an asynchronous replica), is the one acknowledging.
    h.sql(
        0,
        "SET GLOBAL rpl_semi_sync_master_timeout = 1000; \
         SET GLOBAL rpl_semi_sync_master_enabled = ON",
    );
    h.sql(
        2,
        "SET GLOBAL rpl_semi_sync_slave_enabled = ON; STOP SLAVE IO_THREAD; START SLAVE IO_THREAD",
    );
    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.analysis, "MasterWithIncorrectSemiSyncReplicas");
    assert_eq!(h.sql(1, "SELECT @@rpl_semi_sync_slave_enabled"), "1");
    assert_eq!(h.sql(2, "SELECT @@rpl_semi_sync_slave_enabled"), "0");
    h.sql(0, "SET GLOBAL rpl_semi_sync_master_enabled = OFF");
}

#[tokio::test]
async fn a_new_primary_with_a_semi_sync_priority_gets_the_primary_side() {
    // The old primary never ran semi-sync; the query says every server should.
    let mut h = harness(&[None, Some(0), Some(0)], |config| {
        config["DetectSemiSyncEnforcedQuery"] = "SELECT 1".into();
    })
    .await;
    let store = std::sync::Arc::clone(&h.store);
    let r2 = key(h.sandbox.key(2));
    let read = wait_for(Duration::from_secs(10), || {
        let (store, r2) = (std::sync::Arc::clone(&store), r2.clone());
        async move {
            let record = store.instance(&r2).await.ok()??;
            (record.instance.semi_sync.priority == Some(1)).then_some(())
        }
    })
    .await;
    assert!(read.is_some(), "the priorities are read");
    h.sandbox.kill(0).unwrap();
    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    let successor = recovery.successor.clone().expect("a successor");
    let index = (1..3)
        .find(|i| key(h.sandbox.key(*i)) == successor)
        .unwrap();
    assert_eq!(
        h.sql(index, "SELECT @@rpl_semi_sync_master_enabled"),
        "1",
        "{:#?}",
        recovery.steps
    );
    h.sql(index, "SET GLOBAL rpl_semi_sync_master_enabled = OFF");
}
