//! The configuration keys that change a failover, on real MariaDB, each with orchestrator's
//! meaning: where a new primary may be (data centre), how long its relay log may take, what
//! "applying the promotion" does, what happens to lost replicas and to a returning primary,
//! and the audit file.

mod common;

use std::time::Duration;

use arbor_store::Intents;
use arbor_testkit::{wait_for, ADMIN_USER};
use arbor_topology::{PromotionRule, Timestamp};
use common::{create_table, harness, hold_table_lock, key, write_rows, Harness, ROWS};

/// Gives each server a data centre (in a table of its own) that `DetectDataCenterQuery` reads.
fn place(h: &Harness, places: &[&str]) {
    for (index, dc) in places.iter().enumerate() {
        h.sql(
            index,
            &format!(
                "SET sql_log_bin = 0; CREATE DATABASE meta; CREATE TABLE meta.location (dc VARCHAR(20)); \
                 INSERT INTO meta.location VALUES ('{dc}'); GRANT SELECT ON meta.* TO '{ADMIN_USER}'@'%'"
            ),
        );
    }
}

#[tokio::test]
async fn prevent_cross_data_center_master_failover_promotes_only_in_the_failed_primarys() {
    // Cluster A: P (dc1), R1 (dc2, preferred), R2 (dc1). Cluster B: Q (dc1), S (dc2).
    let mut h = harness(&[None, Some(0), Some(0), None, Some(3)], |config| {
        config["PreventCrossDataCenterMasterFailover"] = true.into();
        config["DetectDataCenterQuery"] = "SELECT dc FROM meta.location".into();
    })
    .await;
    place(&h, &["dc1", "dc2", "dc1", "dc1", "dc2"]);
    let store = std::sync::Arc::clone(&h.store);
    let placed = wait_for(Duration::from_secs(20), || {
        let store = std::sync::Arc::clone(&store);
        let r1 = key(h.sandbox.key(1));
        async move {
            let record = store.instance(&r1).await.ok()??;
            (record.instance.data_center == "dc2").then_some(())
        }
    })
    .await;
    assert!(placed.is_some(), "arbor read the data centres");
    h.store
        .register_candidate(
            &key(h.sandbox.key(1)),
            PromotionRule::Prefer,
            Timestamp::now().plus(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    h.sandbox.kill(0).unwrap();
    h.sandbox.kill(3).unwrap();
    let records = h.finished_recoveries(2, Duration::from_secs(40)).await;
    let a = records
        .iter()
        .find(|r| r.failed == key(h.sandbox.key(0)))
        .unwrap();
    let b = records
        .iter()
        .find(|r| r.failed == key(h.sandbox.key(3)))
        .unwrap();
    assert!(a.successful, "{a:#?}");
    assert_eq!(
        a.successor,
        Some(key(h.sandbox.key(2))),
        "R2 shares P's data centre; the preferred R1 does not: {a:#?}"
    );
    assert!(!b.successful, "{b:#?}");
    assert!(
        b.errors
            .iter()
            .any(|e| e.contains("PreventCrossDataCenterMasterFailover")),
        "{b:#?}"
    );
    assert_eq!(h.sql(4, "SELECT @@read_only"), "1", "S stays a replica");
}

/// P with one replica R, whose SQL thread is held back by a table lock while P writes 5 more
/// rows it receives; then P dies.
async fn relay_log_not_applied(
    configure: impl FnOnce(&mut serde_json::Value),
) -> (Harness, u64, std::process::Child) {
    let mut h = harness(&[None, Some(0)], |config| {
        config["PromotionCatchUpTimeoutSeconds"] = 1.into();
        configure(config);
    })
    .await;
    create_table(&h);
    write_rows(&h, 0, 3, &[1]);
    let lock = hold_table_lock(&h, 1, 5);
    let written = {
        for _ in 0..5 {
            h.sql(0, "INSERT INTO app.t (v) VALUES (2)");
        }
        h.sql(0, ROWS).parse::<u64>().unwrap()
    };
    let position = h.sql(0, "SELECT @@gtid_binlog_pos");
    let received = wait_for(Duration::from_secs(10), || async {
        (h.status(1, "Gtid_IO_Pos") == position).then_some(())
    })
    .await;
    assert!(received.is_some(), "R received every write");
    h.sandbox.kill(0).unwrap();
    (h, written, lock)
}

#[tokio::test]
async fn fail_master_promotion_if_sql_thread_not_up_to_date_fails_rather_than_lose_rows() {
    let (h, _, mut lock) =
        relay_log_not_applied(|c| c["FailMasterPromotionIfSQLThreadNotUpToDate"] = true.into())
            .await;
    let recovery = h.first_recovery().await;
    assert!(!recovery.successful, "{recovery:#?}");
    assert!(
        recovery
            .errors
            .iter()
            .any(|e| e.contains("FailMasterPromotionIfSQLThreadNotUpToDate")),
        "{recovery:#?}"
    );
    assert_eq!(h.sql(1, "SELECT @@read_only"), "1", "not promoted");
    let _ = lock.wait();
}

#[tokio::test]
async fn delay_master_promotion_if_sql_thread_not_up_to_date_waits_for_every_row() {
    let (h, written, mut lock) =
        relay_log_not_applied(|c| c["DelayMasterPromotionIfSQLThreadNotUpToDate"] = true.into())
            .await;
    let recovery = h.first_recovery().await;
    let _ = lock.wait();
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(h.sql(1, "SELECT @@read_only"), "0");
    assert_eq!(
        h.sql(1, ROWS),
        written.to_string(),
        "promoted only once it applied everything it received"
    );
    assert!(
        recovery
            .steps
            .iter()
            .any(|s| s.message.contains("repeated until it has applied")),
        "{:#?}",
        recovery.steps
    );
}

#[tokio::test]
async fn without_apply_mysql_promotion_the_promoted_server_is_left_to_the_hooks_and_detached() {
    let mut h = harness(&[None, Some(0), Some(0)], |config| {
        config["ApplyMySQLPromotionAfterMasterFailover"] = false.into();
        config["MasterFailoverDetachReplicaMasterHost"] = true.into();
    })
    .await;
    h.sandbox.kill(0).unwrap();
    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    let promoted = h.index_of(recovery.successor.as_ref().unwrap());
    // No RESET SLAVE ALL, no read_only=0: its link stays, detached (MasterFailoverDetachReplicaMasterHost).
    assert_eq!(h.sql(promoted, "SELECT @@read_only"), "1");
    assert_eq!(h.status(promoted, "Master_Host"), "//127.0.0.1");
    assert_eq!(h.status(promoted, "Slave_IO_Running"), "No");
    let other = [1, 2].into_iter().find(|i| *i != promoted).unwrap();
    assert_eq!(
        h.status(other, "Master_Port"),
        h.sandbox.port(promoted).to_string()
    );
}

#[tokio::test]
async fn a_lost_replica_that_comes_back_is_detached_from_the_failed_primary() {
    let mut h = harness(&[None, Some(0), Some(0), Some(0)], |_| {}).await;
    let lost = key(h.sandbox.key(3));
    h.sandbox.pause(3).unwrap();
    let store = std::sync::Arc::clone(&h.store);
    let unreachable = wait_for(Duration::from_secs(15), || {
        let store = std::sync::Arc::clone(&store);
        let lost = lost.clone();
        async move {
            let record = store.instance(&lost).await.ok()??;
            (!record.is_last_check_valid()).then_some(())
        }
    })
    .await;
    assert!(unreachable.is_some());
    h.sandbox.kill(0).unwrap();
    let recovery = h
        .finished_recoveries(1, Duration::from_secs(40))
        .await
        .remove(0);
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.lost_replicas, vec![lost.clone()]);
    // Back, it still points at the dead primary: detached, so it can never follow it again.
    h.sandbox.resume(3).unwrap();
    let detached = wait_for(Duration::from_secs(20), || async {
        (h.status(3, "Master_Host") == "//127.0.0.1").then_some(())
    })
    .await;
    assert!(
        detached.is_some(),
        "Master_Host is {}",
        h.status(3, "Master_Host")
    );
    // The audit says why, in the step written once the detach statements ran (the server
    // shows `//host` a moment before it: waited for, not read once).
    let explained = wait_for(Duration::from_secs(10), || async {
        let record = h
            .finished_recoveries(1, Duration::from_secs(5))
            .await
            .remove(0);
        record
            .steps
            .iter()
            .any(|s| s.message.contains("DetachLostReplicasAfterMasterFailover"))
            .then_some(())
    })
    .await;
    let record = h
        .finished_recoveries(1, Duration::from_secs(5))
        .await
        .remove(0);
    assert!(explained.is_some(), "{:#?}", record.steps);
}

#[tokio::test]
async fn a_returning_former_primary_rejoins_when_it_holds_nothing_new_and_stays_fenced_otherwise() {
    let mut h = harness(&[None, Some(0), Some(0)], |config| {
        config["RejoinFormerPrimary"] = true.into();
    })
    .await;
    create_table(&h);
    let written = write_rows(&h, 0, 3, &[1, 2]);
    h.sandbox.kill(0).unwrap();
    let first = h.first_recovery().await;
    assert!(first.successful, "{first:#?}");
    let successor = first.successor.clone().unwrap();
    let s1 = h.index_of(&successor);
    h.sandbox.restart(0).unwrap();
    let rejoined = wait_for(Duration::from_secs(20), || async {
        (h.status(0, "Master_Port") == successor.port.to_string()
            && h.status(0, "Slave_IO_Running") == "Yes")
            .then_some(())
    })
    .await;
    assert!(
        rejoined.is_some(),
        "P replicates from {successor}: {} {}",
        h.status(0, "Master_Port"),
        h.status(0, "Last_IO_Error")
    );
    h.sql(s1, "INSERT INTO app.t (v) VALUES (3)");
    h.wait_replicated(0, ROWS, &(written + 1).to_string());
    assert_eq!(h.sql(0, "SELECT @@read_only"), "1");

    // Now S1 writes a row nobody receives (its replicas' IO threads are stopped), then dies.
    // P and R2 follow the new primary; S1 comes back holding a transaction it lacks.
    h.store
        .acknowledge_recoveries(None, "test", "next", Timestamp::now())
        .await
        .unwrap();
    let others: Vec<usize> = [0, 1, 2].into_iter().filter(|i| *i != s1).collect();
    for i in &others {
        h.sql(*i, "STOP SLAVE IO_THREAD");
    }
    h.sql(s1, "INSERT INTO app.t (v) VALUES (4)");
    h.sandbox.kill(s1).unwrap();
    let second = h
        .finished_recoveries(2, Duration::from_secs(30))
        .await
        .remove(1);
    assert!(second.successful, "{second:#?}");
    h.sandbox.restart(s1).unwrap();
    let s1_key = successor;
    let judged = h
        .analysis_of(&s1_key, Duration::from_secs(20), |a| {
            a.code.map(|c| c.name()) == Some("FormerMasterWithErrantTransactions")
        })
        .await
        .expect("the returning primary is judged");
    assert!(!judged.errant_gtid.is_empty(), "{judged:#?}");
    assert_eq!(h.sql(s1, "SELECT @@read_only"), "1", "fenced");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(h.status(s1, "Master_Host"), "", "not rejoined");
    let downtimed = h
        .store
        .active_downtimes(Timestamp::now())
        .await
        .unwrap()
        .iter()
        .any(|d| d.key == s1_key);
    assert!(downtimed, "fenced and downtimed");
}

#[tokio::test]
async fn recover_non_writeable_master_makes_a_read_only_primary_writable_not_replaced() {
    let h = harness(&[None, Some(0), Some(0)], |config| {
        config["RecoverNonWriteableMaster"] = true.into();
    })
    .await;
    let primary = key(h.sandbox.key(0));
    h.sql(0, "SET GLOBAL read_only = 1");
    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.analysis, "NoWriteableMasterStructureWarning");
    assert_eq!(recovery.failed, primary);
    assert_eq!(h.sql(0, "SELECT @@read_only"), "0", "writable again");
    for replica in [1, 2] {
        assert_eq!(
            h.sql(replica, "SELECT @@read_only"),
            "1",
            "nothing promoted"
        );
        assert_eq!(h.status(replica, "Master_Port"), primary.port.to_string());
    }
}

/// P and R1 as co-primaries (P also replicates from R1; R1 stays read-only), R2 a replica of P
/// that the operator prefers; then P is killed.
async fn co_primaries_with_a_preferred_replica(must_promote_other: bool) -> Harness {
    let mut h = harness(&[None, Some(0), Some(0)], |config| {
        config["CoMasterRecoveryMustPromoteOtherCoMaster"] = must_promote_other.into();
    })
    .await;
    h.sql(
        0,
        &format!(
            "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos; \
             CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, \
             MASTER_USER = '{}', MASTER_PASSWORD = '{}', MASTER_USE_GTID = slave_pos, \
             MASTER_CONNECT_RETRY = 1; START SLAVE",
            h.sandbox.port(1),
            arbor_testkit::REPL_USER,
            arbor_testkit::REPL_PASSWORD,
        ),
    );
    let (primary, other) = (key(h.sandbox.key(0)), key(h.sandbox.key(1)));
    let store = std::sync::Arc::clone(&h.store);
    let ring = wait_for(Duration::from_secs(20), || {
        let (store, primary, other) = (
            std::sync::Arc::clone(&store),
            primary.clone(),
            other.clone(),
        );
        async move {
            let record = store.instance(&primary).await.ok()??;
            let replication = record.instance.replication.as_ref()?;
            (replication.source == other && replication.is_replicating()).then_some(())
        }
    })
    .await;
    assert!(
        ring.is_some(),
        "arbor read P replicating from R1: a ring of two"
    );
    h.rule(&key(h.sandbox.key(2)), PromotionRule::Prefer).await;
    create_table(&h);
    write_rows(&h, 0, 3, &[1, 2]);
    h.sandbox.kill(0).unwrap();
    h
}

#[tokio::test]
async fn a_dead_co_primary_is_replaced_by_the_other_co_primary() {
    let h = co_primaries_with_a_preferred_replica(true).await;
    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.analysis, "DeadCoMaster", "{recovery:#?}");
    assert_eq!(
        recovery.successor,
        Some(key(h.sandbox.key(1))),
        "the other co-primary, not the preferred replica: {recovery:#?}"
    );
    assert_eq!(h.sql(1, "SELECT @@read_only"), "0");
    assert_eq!(h.status(2, "Master_Port"), h.sandbox.port(1).to_string());
    assert_eq!(h.sql(1, ROWS), "3");
}

#[tokio::test]
async fn without_co_master_recovery_must_promote_other_co_master_the_rules_choose() {
    let h = co_primaries_with_a_preferred_replica(false).await;
    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(
        recovery.successor,
        Some(key(h.sandbox.key(2))),
        "{recovery:#?}"
    );
    assert_eq!(h.sql(2, ROWS), "3");
}
