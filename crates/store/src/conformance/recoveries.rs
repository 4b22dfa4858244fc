//! Conformance: detections, recoveries and anti-flapping.

use super::*;

pub async fn detections_are_deduplicated_within_the_window(store: &dyn Store) {
    let window = Duration::from_secs(60);
    assert!(store
        .record_detection(detection(100_000), window)
        .await
        .unwrap());
    assert!(!store
        .record_detection(detection(130_000), window)
        .await
        .unwrap());
    let mut other = detection(130_000);
    other.analysis = "UnreachableMaster".into();
    assert!(
        store.record_detection(other, window).await.unwrap(),
        "another code is news"
    );
    assert!(
        store
            .record_detection(detection(170_000), window)
            .await
            .unwrap(),
        "window passed"
    );
    let recorded = store.detections(10).await.unwrap();
    assert_eq!(recorded.len(), 3);
    assert_eq!(
        recorded[0].detected_at,
        Timestamp(170_000),
        "most recent first"
    );
}

pub async fn a_recent_recovery_blocks_the_next_until_acknowledged(store: &dyn Store) {
    let block = Duration::from_secs(3_600);
    let id = started_id(
        store
            .start_recovery(start("a", "c1:1", 1_000, false), block, false)
            .await
            .unwrap(),
    );
    store.finish_recovery(id, finished(2_000)).await.unwrap();
    let second = store
        .start_recovery(start("b", "c1:1", 60_000, false), block, false)
        .await
        .unwrap();
    assert!(matches!(second, StartDecision::Blocked { blocking_id, .. } if blocking_id == id));
    // Another cluster is not affected.
    started_id(
        store
            .start_recovery(start("c", "c2:1", 60_000, false), block, false)
            .await
            .unwrap(),
    );
    // After the block period, or once acknowledged, the cluster may be recovered again.
    assert_eq!(
        store
            .acknowledge_recoveries(Some("c1:1"), "ops", "checked", Timestamp(61_000))
            .await
            .unwrap(),
        1
    );
    started_id(
        store
            .start_recovery(start("d", "c1:1", 62_000, false), block, false)
            .await
            .unwrap(),
    );
    let records = store.recoveries(Some("c1:1"), 10).await.unwrap();
    let acknowledged = records.iter().find(|r| r.id == id).unwrap();
    assert!(acknowledged.acknowledged);
    assert_eq!(acknowledged.acknowledged_by, "ops");
    assert_eq!(acknowledged.acknowledged_comment, "checked");
}

/// orchestrator's `ack-recovery/ID`, `ack-recovery/uid/UID`, `ack-recovery/instance/H/P`:
/// each acknowledges its recoveries and no other.
pub async fn one_recovery_is_acknowledged_by_id_uid_or_instance(store: &dyn Store) {
    let block = Duration::from_secs(1);
    let mut ids = Vec::new();
    for (uid, failed, at) in [
        ("u1", "c1:1", 1_000),
        ("u2", "c2:1", 1_000),
        ("u3", "c3:1", 1_000),
    ] {
        let id = started_id(
            store
                .start_recovery(start(uid, failed, at, false), block, false)
                .await
                .unwrap(),
        );
        store.finish_recovery(id, finished(2_000)).await.unwrap();
        ids.push(id);
    }
    let acknowledged = |records: &[RecoveryRecord]| -> Vec<String> {
        let mut uids: Vec<String> = records
            .iter()
            .filter(|r| r.acknowledged)
            .map(|r| r.uid.clone())
            .collect();
        uids.sort();
        uids
    };
    let by_id = store
        .acknowledge_recovery(AckTarget::Id(ids[1]), "ops", "by id", Timestamp(3_000))
        .await
        .unwrap();
    assert_eq!(by_id, 1);
    assert_eq!(
        acknowledged(&store.recoveries(None, 10).await.unwrap()),
        ["u2"]
    );
    let by_uid = store
        .acknowledge_recovery(
            AckTarget::Uid("u3".into()),
            "ops",
            "by uid",
            Timestamp(3_000),
        )
        .await
        .unwrap();
    assert_eq!(by_uid, 1);
    let failed: InstanceKey = "c1:1".parse().unwrap();
    let by_instance = store
        .acknowledge_recovery(
            AckTarget::Instance(failed),
            "ops",
            "by key",
            Timestamp(3_000),
        )
        .await
        .unwrap();
    assert_eq!(by_instance, 1);
    let records = store.recoveries(None, 10).await.unwrap();
    assert_eq!(acknowledged(&records), ["u1", "u2", "u3"]);
    let first = records.iter().find(|r| r.uid == "u1").unwrap();
    assert_eq!(first.acknowledged_comment, "by key");
    // An unknown id acknowledges nothing.
    let none = store
        .acknowledge_recovery(AckTarget::Id(9_999), "ops", "none", Timestamp(3_000))
        .await
        .unwrap();
    assert_eq!(none, 0);
}

pub async fn a_running_recovery_blocks_even_manual_ones_whatever_its_age(store: &dyn Store) {
    let block = Duration::from_secs(10);
    let id = started_id(
        store
            .start_recovery(start("a", "c1:1", 1_000, false), block, false)
            .await
            .unwrap(),
    );
    // Long after the block period, the first recovery still runs: nothing else may start.
    for manual in [false, true] {
        let decision = store
            .start_recovery(
                start(&format!("x{manual}"), "c1:1", 1_000_000, manual),
                block,
                manual,
            )
            .await
            .unwrap();
        assert!(
            matches!(decision, StartDecision::Blocked { blocking_id, .. } if blocking_id == id),
            "manual={manual}"
        );
    }
    // Acknowledging does not end a running recovery.
    assert_eq!(
        store
            .acknowledge_recoveries(None, "ops", "", Timestamp(1_000_001))
            .await
            .unwrap(),
        0
    );
}

pub async fn a_manual_recovery_ignores_the_block_and_acknowledges_earlier_ones(store: &dyn Store) {
    let block = Duration::from_secs(3_600);
    let id = started_id(
        store
            .start_recovery(start("a", "c1:1", 1_000, false), block, false)
            .await
            .unwrap(),
    );
    store.finish_recovery(id, finished(2_000)).await.unwrap();
    started_id(
        store
            .start_recovery(start("m", "c1:1", 3_000, true), block, true)
            .await
            .unwrap(),
    );
    let records = store.recoveries(Some("c1:1"), 10).await.unwrap();
    assert!(records.iter().find(|r| r.id == id).unwrap().acknowledged);
}

pub async fn recoveries_keep_their_steps_and_outcome(store: &dyn Store) {
    let id = started_id(
        store
            .start_recovery(
                start("uid-1", "c1:1", 1_000, false),
                Duration::from_secs(1),
                false,
            )
            .await
            .unwrap(),
    );
    for (at, message) in [(1_001, "chose db2"), (1_002, "promoted db2")] {
        store
            .add_recovery_step(
                id,
                RecoveryStep {
                    at: Timestamp(at),
                    message: message.into(),
                },
            )
            .await
            .unwrap();
    }
    let running = store.recoveries(None, 10).await.unwrap();
    assert!(running[0].is_active);
    assert_eq!(running[0].ended_at, None);
    assert_eq!(running[0].successor, None);
    store
        .record_recovery_successor(id, &parse_key("db2:3306"))
        .await
        .unwrap();
    let running = store.recoveries(None, 10).await.unwrap();
    assert!(running[0].is_active, "naming the successor does not end it");
    assert_eq!(running[0].successor, Some(parse_key("db2:3306")));
    store.finish_recovery(id, finished(3_000)).await.unwrap();
    let record = store.recoveries(None, 10).await.unwrap().remove(0);
    assert_eq!(record.uid, "uid-1");
    assert!(!record.is_active);
    assert!(record.successful);
    assert_eq!(record.ended_at, Some(Timestamp(3_000)));
    assert_eq!(record.successor, Some(parse_key("db2:3306")));
    assert_eq!(record.lost_replicas, vec![parse_key("db9:3306")]);
    assert_eq!(record.participating.len(), 2);
    let messages: Vec<&str> = record.steps.iter().map(|s| s.message.as_str()).collect();
    assert_eq!(messages, vec!["chose db2", "promoted db2"]);
    assert_eq!(record.failed, parse_key("c1:1"));
    assert_eq!(
        record.analysis_entry, r#"{"Analysis":"DeadMaster","ArborUid":"uid-1"}"#,
        "the analysis it started from is kept"
    );
}

pub async fn successions_list_the_primaries_replaced(store: &dyn Store) {
    let block = Duration::from_secs(1);
    // A failover (c1 -> db2), a failed one, an intermediate recovery and a takeover (db2 -> c1).
    let recovery = |uid: &str, cluster: &str, kind: &str| RecoveryStart {
        kind: kind.into(),
        ..start(uid, cluster, 1_000, true)
    };
    for (recovery, successor, successful) in [
        (recovery("f1", "c1:1", "MasterRecovery"), "db2:3306", true),
        (recovery("f2", "c7:1", "MasterRecovery"), "db8:3306", false),
        (
            recovery("i1", "c5:1", "IntermediateMasterRecovery"),
            "c4:1",
            true,
        ),
        (
            recovery("t1", "db2:3306", "GracefulMasterTakeover"),
            "c1:1",
            true,
        ),
    ] {
        let id = started_id(store.start_recovery(recovery, block, true).await.unwrap());
        store
            .record_recovery_successor(id, &parse_key(successor))
            .await
            .unwrap();
        let mut outcome = finished(2_000);
        outcome.successful = successful;
        outcome.successor = Some(parse_key(successor));
        store.finish_recovery(id, outcome).await.unwrap();
    }
    let successions = store.successions().await.unwrap();
    let pairs: Vec<(String, String)> = successions
        .iter()
        .map(|s| (s.former.to_string(), s.successor.to_string()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("c1:1".to_string(), "db2:3306".to_string()),
            ("db2:3306".to_string(), "c1:1".to_string()),
        ]
    );
    assert_eq!(successions[0].at, Timestamp(1_000));
}

pub async fn recoveries_left_running_by_a_crash_are_closed_and_acknowledged(store: &dyn Store) {
    let block = Duration::from_secs(3_600);
    started_id(
        store
            .start_recovery(start("a", "c1:1", 1_000, false), block, false)
            .await
            .unwrap(),
    );
    assert_eq!(
        store
            .abandon_active_recoveries(Timestamp(5_000), "arbor restarted")
            .await
            .unwrap(),
        1
    );
    let record = store.recoveries(None, 1).await.unwrap().remove(0);
    assert!(!record.is_active && !record.successful && record.acknowledged);
    assert_eq!(record.errors, vec!["arbor restarted".to_string()]);
    // The cluster is not left blocked for the whole block period.
    started_id(
        store
            .start_recovery(start("b", "c1:1", 6_000, false), block, false)
            .await
            .unwrap(),
    );
}

pub async fn global_recoveries_can_be_disabled(store: &dyn Store) {
    assert!(!store.global_recoveries_disabled().await.unwrap());
    store.set_global_recoveries_disabled(true).await.unwrap();
    assert!(store.global_recoveries_disabled().await.unwrap());
    store.set_global_recoveries_disabled(false).await.unwrap();
    assert!(!store.global_recoveries_disabled().await.unwrap());
}

pub async fn the_promoted_instance_failing_again_is_blocked_too(store: &dyn Store) {
    let block = Duration::from_secs(3_600);
    let id = started_id(
        store
            .start_recovery(start("a", "c1:1", 1_000, false), block, false)
            .await
            .unwrap(),
    );
    // finished() promotes db2:3306; the cluster is now named after it.
    store.finish_recovery(id, finished(2_000)).await.unwrap();
    let mut again = start("b", "db2:3306", 10_000, false);
    again.failed = parse_key("db2:3306");
    let decision = store.start_recovery(again, block, false).await.unwrap();
    assert!(
        matches!(decision, StartDecision::Blocked { blocking_id, .. } if blocking_id == id),
        "{decision:?}"
    );
}
