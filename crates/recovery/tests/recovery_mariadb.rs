//! Recoveries of real MariaDB topologies: servers are killed with SIGKILL or frozen with
//! SIGSTOP, and the tests check what an operator would: who is primary, who replicates from
//! whom, that no acknowledged write is missing, and what the audit says.

mod common;

use std::sync::Arc;
use std::time::Duration;

use arbor_store::Intents;
use arbor_testkit::wait_for;
use arbor_topology::{Downtime, InstanceKey, PromotionRule, Timestamp};
use common::{create_table, harness, hold_table_lock, key, write_rows, ROWS};

#[tokio::test]
async fn a_killed_primary_is_replaced_and_every_replica_follows_the_new_one() {
    let mut h = harness(&[None, Some(0), Some(0), Some(0)], |_| {}).await;
    create_table(&h);
    for _ in 0..10 {
        h.sql(0, "INSERT INTO app.t (v) VALUES (1)");
    }
    for replica in 1..4 {
        h.wait_replicated(replica, ROWS, "10");
    }
    let old_primary = key(h.sandbox.key(0));
    h.sandbox.kill(0).unwrap();

    let records = h.finished_recoveries(1, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 1, "exactly one recovery");
    let recovery = &records[0];
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.failed, old_primary);
    assert_eq!(recovery.analysis, "DeadMaster");
    assert!(!recovery.steps.is_empty());
    assert!(recovery.lost_replicas.is_empty(), "{recovery:#?}");
    let successor = recovery.successor.clone().unwrap();
    let new_primary = h.index_of(&successor);
    assert_ne!(new_primary, 0);

    // The new primary is writable, has every write, and the others replicate from it.
    assert_eq!(h.sql(new_primary, "SELECT @@read_only"), "0");
    assert_eq!(h.sql(new_primary, ROWS), "10");
    assert_eq!(
        h.status(new_primary, "Master_Host"),
        "",
        "no longer a replica"
    );
    h.sql(new_primary, "INSERT INTO app.t (v) VALUES (2)");
    for replica in (1..4).filter(|i| *i != new_primary) {
        assert_eq!(h.status(replica, "Master_Port"), successor.port.to_string());
        assert_eq!(h.status(replica, "Slave_IO_Running"), "Yes");
        assert_eq!(h.status(replica, "Slave_SQL_Running"), "Yes");
        h.wait_replicated(replica, ROWS, "11");
    }
    let steps: Vec<&str> = recovery.steps.iter().map(|s| s.message.as_str()).collect();
    assert!(
        steps.iter().any(|s| s.contains("RESET SLAVE ALL")),
        "{steps:#?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.contains("MASTER_USE_GTID=slave_pos")),
        "{steps:#?}"
    );
}

#[tokio::test]
async fn a_promotion_rule_can_choose_a_lagging_replica_which_catches_up_first() {
    let mut h = harness(&[None, Some(0), Some(0), Some(0)], |_| {}).await;
    create_table(&h);
    h.sql(0, "INSERT INTO app.t (v) VALUES (1)");
    for replica in 1..4 {
        h.wait_replicated(replica, ROWS, "1");
    }
    // R3 stops receiving; the primary writes on; R3 is now behind R1 and R2.
    h.sql(3, "STOP SLAVE IO_THREAD");
    for _ in 0..5 {
        h.sql(0, "INSERT INTO app.t (v) VALUES (1)");
    }
    h.wait_replicated(1, ROWS, "6");
    h.wait_replicated(2, ROWS, "6");
    assert_eq!(h.sql(3, ROWS), "1");
    let preferred = key(h.sandbox.key(3));
    h.rule(&preferred, PromotionRule::Prefer).await;
    h.sandbox.kill(0).unwrap();

    let recovery = h
        .finished_recoveries(1, Duration::from_secs(40))
        .await
        .remove(0);
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(
        recovery.successor.as_ref(),
        Some(&preferred),
        "{recovery:#?}"
    );
    assert_eq!(
        h.sql(3, ROWS),
        "6",
        "the preferred replica caught up before promotion"
    );
    assert_eq!(h.sql(3, "SELECT @@read_only"), "0");
    for replica in 1..3 {
        assert_eq!(h.status(replica, "Master_Port"), preferred.port.to_string());
        assert_eq!(h.status(replica, "Slave_IO_Running"), "Yes");
    }
    assert!(
        recovery
            .steps
            .iter()
            .any(|s| s.message.contains("caught up from")),
        "{recovery:#?}"
    );
}

#[tokio::test]
async fn a_dead_intermediate_primary_has_its_replicas_moved_up() {
    // P <- R1 <- {R2, R3}
    let mut h = harness(&[None, Some(0), Some(1), Some(1)], |_| {}).await;
    let primary = key(h.sandbox.key(0));
    h.sandbox.kill(1).unwrap();
    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.kind, "IntermediateMasterRecovery");
    assert!(
        recovery.analysis.starts_with("DeadIntermediateMaster"),
        "{}",
        recovery.analysis
    );
    assert_eq!(recovery.successor.as_ref(), Some(&primary));
    for replica in [2, 3] {
        assert_eq!(h.status(replica, "Master_Port"), primary.port.to_string());
        assert_eq!(h.status(replica, "Slave_IO_Running"), "Yes");
    }
}

#[tokio::test]
async fn graceful_takeover_swaps_primary_and_replica_without_losing_a_write() {
    let h = harness(&[None, Some(0), Some(0)], |_| {}).await;
    create_table(&h);
    // A writer on the primary until the takeover turns it read-only; every insert it saw
    // succeed must be on the new primary.
    let writer_sandbox_key = h.sandbox.key(0);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acknowledged = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (stop, acknowledged) = (Arc::clone(&stop), Arc::clone(&acknowledged));
        let port = h.sandbox.port(0);
        std::thread::spawn(move || {
            // The app account has no READ_ONLY ADMIN, so read_only really stops it.
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let ok = std::process::Command::new("mariadb")
                    .args([
                        "-h127.0.0.1",
                        &format!("-P{port}"),
                        "-uapp",
                        "-papp-pass",
                        "-e",
                        "INSERT INTO app.t (v) VALUES (7)",
                    ])
                    .output()
                    .is_ok_and(|o| o.status.success());
                if ok {
                    acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    // The app account exists only for this test.
    h.sql(0, "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pass'; GRANT INSERT, SELECT ON app.* TO 'app'@'%'");
    let _ = writer_sandbox_key;
    tokio::time::sleep(Duration::from_millis(700)).await;

    let designated = key(h.sandbox.key(1));
    let record = h
        .engine
        .graceful_takeover(&h.sandbox.key(0), Some(designated.clone()), true)
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
    assert!(record.successful, "{record:#?}");
    assert_eq!(record.successor.as_ref(), Some(&designated));
    let written = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
    assert!(written > 0, "the writer wrote before the takeover");
    let on_new_primary: u64 = h.sql(1, ROWS).parse().unwrap();
    assert_eq!(
        on_new_primary, written,
        "every acknowledged write is on the new primary"
    );
    assert_eq!(h.sql(1, "SELECT @@read_only"), "0");
    assert_eq!(h.sql(0, "SELECT @@read_only"), "1");
    for replica in [0, 2] {
        assert_eq!(
            h.status(replica, "Master_Port"),
            designated.port.to_string(),
            "server {replica}"
        );
        assert_eq!(
            h.status(replica, "Slave_IO_Running"),
            "Yes",
            "server {replica}"
        );
        assert_eq!(
            h.status(replica, "Slave_SQL_Running"),
            "Yes",
            "server {replica}"
        );
    }
    h.sql(1, "INSERT INTO app.t (v) VALUES (8)");
    h.wait_replicated(0, ROWS, &(written + 1).to_string());
}

#[tokio::test]
async fn clusters_outside_the_filters_are_not_recovered() {
    let mut h = harness(&[None, Some(0), Some(0)], |config| {
        config["RecoverMasterClusterFilters"] = serde_json::json!(["alias=some-other-cluster"]);
    })
    .await;
    let primary = key(h.sandbox.key(0));
    h.sandbox.kill(0).unwrap();
    h.detected(&primary, "DeadMaster").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        h.store.recoveries(None, 10).await.unwrap().is_empty(),
        "no recovery outside the filters"
    );
    // An operator may still recover it by hand.
    let record = h.engine.recover(&primary, false).await.unwrap();
    assert!(record.successful && record.manual, "{record:#?}");
}

#[tokio::test]
async fn hosts_matched_by_recovery_ignore_hostname_filters_are_not_recovered() {
    let mut h = harness(&[None, Some(0), Some(0)], |config| {
        config["RecoveryIgnoreHostnameFilters"] = serde_json::json!([r"^127\.0\.0\.1$"]);
    })
    .await;
    let primary = key(h.sandbox.key(0));
    h.sandbox.kill(0).unwrap();
    h.detected(&primary, "DeadMaster").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        h.store.recoveries(None, 10).await.unwrap().is_empty(),
        "no automated recovery of an ignored host"
    );
    let record = h.engine.recover(&primary, false).await.unwrap();
    assert!(record.successful && record.manual, "{record:#?}");
}

#[tokio::test]
async fn a_downtimed_primary_is_not_recovered() {
    let mut h = harness(&[None, Some(0), Some(0)], |_| {}).await;
    let primary = key(h.sandbox.key(0));
    h.store
        .begin_downtime(Downtime {
            key: primary.clone(),
            owner: "ops".into(),
            reason: "maintenance".into(),
            begin: Timestamp::now(),
            end: Timestamp::now().plus(Duration::from_secs(3600)),
        })
        .await
        .unwrap();
    h.sandbox.kill(0).unwrap();
    h.detected(&primary, "DeadMaster").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        h.store.recoveries(None, 10).await.unwrap().is_empty(),
        "no recovery of a downtimed primary"
    );
}

#[tokio::test]
async fn a_second_failure_within_the_block_period_waits_for_an_acknowledgement() {
    let mut h = harness(&[None, Some(0), Some(0)], |_| {}).await;
    h.sandbox.kill(0).unwrap();
    let first = h.first_recovery().await;
    assert!(first.successful, "{first:#?}");
    let promoted = first.successor.clone().unwrap();
    let promoted_index = h.index_of(&promoted);

    // The new primary dies too, within the block period.
    h.sandbox.kill(promoted_index).unwrap();
    h.detected(&promoted, "DeadMaster").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        h.store.recoveries(None, 10).await.unwrap().len(),
        1,
        "blocked while unacknowledged"
    );

    let acknowledged = h
        .store
        .acknowledge_recoveries(None, "ops", "seen it", Timestamp::now())
        .await
        .unwrap();
    assert_eq!(acknowledged, 1);
    let records = h.finished_recoveries(2, Duration::from_secs(30)).await;
    let second = &records[1];
    assert!(second.successful, "{second:#?}");
    assert_eq!(second.failed, promoted);
    let last = h.index_of(second.successor.as_ref().unwrap());
    assert_eq!(h.sql(last, "SELECT @@read_only"), "0");
}

#[tokio::test]
async fn a_frozen_primary_whose_replicas_still_replicate_is_never_failed_over() {
    let h = harness(&[None, Some(0), Some(0)], |_| {}).await;
    let primary = key(h.sandbox.key(0));
    // Frozen for less than the replicas' slave_net_timeout (4 s): arbor cannot reach the
    // primary, but its replicas still hold their connections and say they replicate.
    h.sandbox.pause(0).unwrap();
    let seen_unreachable = h
        .analysis_of(&primary, Duration::from_secs(3), |a| {
            a.code.map(|c| c.name()) == Some("UnreachableMaster")
        })
        .await;
    h.sandbox.resume(0).unwrap();
    assert!(
        seen_unreachable.is_some(),
        "arbor saw the primary unreachable and its replicas replicating"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        h.store.recoveries(None, 10).await.unwrap().is_empty(),
        "no failover on a blip"
    );
    assert_eq!(
        h.sql(0, "SELECT @@read_only"),
        "0",
        "the primary is still the primary"
    );
}

#[tokio::test]
async fn a_lost_replica_and_the_failed_primary_are_downtimed_when_configured() {
    let mut h = harness(&[None, Some(0), Some(0), Some(0)], |config| {
        config["MasterFailoverLostInstancesDowntimeMinutes"] = 10.into();
    })
    .await;
    let lost = key(h.sandbox.key(3));
    // R3 freezes first: arbor cannot read it, so the recovery cannot bring it along. Each
    // re-read of the frozen R3 costs a timeout, so this also proves that a slow confirmation
    // (outliving the primary watcher that started it) still ends in a recovery.
    h.sandbox.pause(3).unwrap();
    let store = Arc::clone(&h.store);
    let unreachable = wait_for(Duration::from_secs(15), || {
        let store = Arc::clone(&store);
        let lost = lost.clone();
        async move {
            let record = store.instance(&lost).await.ok()??;
            (!record.is_last_check_valid()).then_some(())
        }
    })
    .await;
    assert!(unreachable.is_some(), "arbor saw R3 unreachable");
    let before = Timestamp::now();
    h.sandbox.kill(0).unwrap();

    let records = h.finished_recoveries(1, Duration::from_secs(40)).await;
    h.sandbox.resume(3).unwrap();
    let recovery = &records[0];
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.lost_replicas, vec![lost.clone()], "{recovery:#?}");

    // The lost replica and the failed primary are downtimed, as orchestrator does; the new
    // primary and the replica that follows it are not.
    let old_primary = key(h.sandbox.key(0));
    let downtimes = h.store.active_downtimes(Timestamp::now()).await.unwrap();
    let mut keys: Vec<&InstanceKey> = downtimes.iter().map(|d| &d.key).collect();
    keys.sort_by_key(|k| k.port);
    let mut expected = vec![&old_primary, &lost];
    expected.sort_by_key(|k| k.port);
    assert_eq!(keys, expected, "{downtimes:#?}");
    for downtime in &downtimes {
        assert_eq!(downtime.reason, "lost-in-recovery", "{downtime:?}");
        let minutes = (downtime.end.0 - before.0) / 60_000;
        assert!((9..=10).contains(&minutes), "{downtime:?}");
    }
    for expected in [
        format!("downtimed lost replica {lost}"),
        format!("downtimed failed primary {old_primary}"),
    ] {
        assert!(
            recovery.steps.iter().any(|s| s.message == expected),
            "{expected}: {:#?}",
            recovery.steps
        );
    }
}

/// Stands for the other members of a 3-node group, agreeing or not as the test says.
struct Peers {
    agree: std::sync::atomic::AtomicBool,
}

impl arbor_recovery::PeerJudges for Peers {
    fn judge<'a>(
        &'a self,
        _key: &'a InstanceKey,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = arbor_recovery::PeerVotes> + Send + 'a>>
    {
        let agree = self.agree.load(std::sync::atomic::Ordering::Relaxed);
        Box::pin(async move {
            arbor_recovery::PeerVotes {
                members: 3,
                agreeing: if agree { 2 } else { 0 },
                details: vec![format!("peers agree: {agree}")],
            }
        })
    }
}

#[tokio::test]
async fn a_failover_waits_until_most_of_the_arbor_group_sees_the_failure() {
    let mut h = harness(&[None, Some(0), Some(0)], |_| {}).await;
    let peers = Arc::new(Peers {
        agree: std::sync::atomic::AtomicBool::new(false),
    });
    h.engine.set_peer_judges(peers.clone());
    let primary = key(h.sandbox.key(0));
    h.sandbox.kill(0).unwrap();
    // This node sees the primary dead, the other two do not: no recovery.
    h.detected(&primary, "DeadMaster").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        h.store.recoveries(None, 10).await.unwrap().is_empty(),
        "no failover while most of the group disagrees"
    );
    // Once they agree, the failover runs, and its audit says who agreed.
    peers
        .agree
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let records = h.finished_recoveries(1, Duration::from_secs(30)).await;
    assert!(records[0].successful, "{:#?}", records[0]);
    assert!(
        records[0]
            .steps
            .iter()
            .any(|s| s.message.starts_with("3 of 3 arbor nodes see the failure")),
        "{:#?}",
        records[0].steps
    );
}

#[tokio::test]
async fn a_member_judges_a_failure_by_looking_again_itself() {
    let mut h = harness(&[None, Some(0), Some(0)], |config| {
        config["RecoverMasterClusterFilters"] = serde_json::json!([]);
    })
    .await;
    let primary = key(h.sandbox.key(0));
    let (actionable, code) = h.engine.judge(&primary).await.unwrap();
    assert!(!actionable, "a healthy primary is no failure: {code}");
    h.sandbox.kill(0).unwrap();
    // At once, without waiting for a poll: the judge re-reads the primary and its replicas.
    let (actionable, code) = h.engine.judge(&primary).await.unwrap();
    assert!(actionable, "a killed primary is a failure: {code}");
    assert!(code.starts_with("DeadMaster"), "{code}");
}

#[tokio::test]
async fn a_former_primary_holding_only_its_own_old_writes_is_promoted() {
    // P wrote, a takeover made R1 the primary (P replicates from R1), nothing was written
    // since: P's binary log ends with its own old transactions, which R1 holds. When R2 and
    // then R1 die, P is the one server left and must become the primary again.
    let mut h = harness(&[None, Some(0), Some(0)], |_| {}).await;
    create_table(&h);
    let written = write_rows(&h, 0, 3, &[1, 2]);
    let (p, r1) = (key(h.sandbox.key(0)), key(h.sandbox.key(1)));
    let takeover = h
        .engine
        .graceful_takeover(&h.sandbox.key(0), Some(r1.clone()), true)
        .await
        .unwrap();
    assert!(takeover.successful, "{takeover:#?}");
    assert!(
        takeover.acknowledged,
        "a planned takeover does not block later recoveries: {takeover:#?}"
    );
    h.sandbox.kill(2).unwrap();
    h.sandbox.kill(1).unwrap();

    let records = h.finished_recoveries(2, Duration::from_secs(40)).await;
    let failover = &records[1];
    assert_eq!(failover.failed, r1, "{failover:#?}");
    assert!(failover.successful, "{failover:#?}");
    assert_eq!(failover.successor.as_ref(), Some(&p), "{failover:#?}");
    assert!(
        !failover.steps.iter().any(|s| s.message.contains("errant")),
        "{:#?}",
        failover.steps
    );
    assert_eq!(h.sql(0, "SELECT @@read_only"), "0");
    assert_eq!(h.sql(0, ROWS), written.to_string());
    assert_eq!(h.status(0, "Master_Host"), "", "P no longer replicates");
    h.sql(0, "INSERT INTO app.t (v) VALUES (2)");
}

#[tokio::test]
async fn a_prefer_rule_on_a_former_primary_is_honoured() {
    let mut h = harness(&[None, Some(0), Some(0), Some(0)], |_| {}).await;
    create_table(&h);
    let written = write_rows(&h, 0, 3, &[1, 2, 3]);
    let (p, r1) = (key(h.sandbox.key(0)), key(h.sandbox.key(1)));
    let takeover = h
        .engine
        .graceful_takeover(&h.sandbox.key(0), Some(r1.clone()), true)
        .await
        .unwrap();
    assert!(takeover.successful, "{takeover:#?}");
    h.rule(&p, PromotionRule::Prefer).await;
    h.sandbox.kill(1).unwrap();

    let records = h.finished_recoveries(2, Duration::from_secs(40)).await;
    let failover = &records[1];
    assert!(failover.successful, "{failover:#?}");
    assert_eq!(failover.successor.as_ref(), Some(&p), "{failover:#?}");
    assert_eq!(h.sql(0, "SELECT @@read_only"), "0");
    for replica in [2, 3] {
        assert_eq!(h.status(replica, "Master_Port"), p.port.to_string());
        h.wait_replicated(replica, ROWS, &written.to_string());
    }
}

#[tokio::test]
async fn a_takeover_never_designates_a_replica_that_died_since_the_last_poll() {
    let mut h = harness(&[None, Some(0), Some(0)], |_| {}).await;
    let (r1, r2) = (key(h.sandbox.key(1)), key(h.sandbox.key(2)));
    // R1 would be chosen: preferred, and read alive by the last poll.
    h.rule(&r1, PromotionRule::Prefer).await;
    h.sandbox.kill(1).unwrap();
    let record = h
        .engine
        .graceful_takeover(&h.sandbox.key(0), None, true)
        .await
        .unwrap();
    assert!(record.successful, "{record:#?}");
    assert_eq!(record.successor.as_ref(), Some(&r2), "the live replica");
    assert_eq!(h.sql(2, "SELECT @@read_only"), "0");
    assert_eq!(h.status(0, "Master_Port"), r2.port.to_string());
}

#[tokio::test]
async fn a_takeover_that_cannot_complete_leaves_the_cluster_as_it_was() {
    let h = harness(&[None, Some(0), Some(0)], |config| {
        config["PromotionCatchUpTimeoutSeconds"] = 1.into();
    })
    .await;
    create_table(&h);
    write_rows(&h, 0, 3, &[1, 2]);
    // R1 cannot apply what P writes next: it will not catch up in time.
    let mut lock = hold_table_lock(&h, 1, 5);
    h.sql(0, "INSERT INTO app.t (v) VALUES (2)");
    let r1 = key(h.sandbox.key(1));
    let record = h
        .engine
        .graceful_takeover(&h.sandbox.key(0), Some(r1.clone()), true)
        .await
        .unwrap();
    assert!(!record.successful, "{record:#?}");
    assert!(
        record.errors.iter().any(|e| e.contains("backed out")),
        "{record:#?}"
    );
    // P takes writes again, and R2, moved under R1 first, replicates from P again.
    assert_eq!(h.sql(0, "SELECT @@read_only"), "0");
    assert_eq!(h.sql(1, "SELECT @@read_only"), "1");
    let p_port = h.sandbox.port(0).to_string();
    for replica in [1, 2] {
        assert_eq!(h.status(replica, "Master_Port"), p_port, "server {replica}");
    }
    let _ = lock.wait();
    let following = wait_for(Duration::from_secs(15), || async {
        [1, 2]
            .iter()
            .all(|r| {
                h.status(*r, "Slave_IO_Running") == "Yes"
                    && h.status(*r, "Slave_SQL_Running") == "Yes"
            })
            .then_some(())
    })
    .await;
    assert!(following.is_some(), "both replicas replicate from P");
}
