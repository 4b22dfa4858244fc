//! The behaviour every [`Store`] implementation must have, tested through the trait only.
//!
//! Run it on an implementation with [`store_conformance_suite!`](crate::store_conformance_suite),
//! giving an expression that makes a fresh, empty store; each check becomes its own
//! `#[tokio::test]`:
//!
//! ```text
//! arbor_store::store_conformance_suite!(SqliteStore::open_in_memory().unwrap());
//! ```

use std::time::Duration;

use arbor_topology::{
    BinlogCoordinates, Downtime, Flavor, GtidKind, Instance, InstanceKey, IoThreadState,
    PromotionRule, ReplicaStatus, Timestamp,
};

use crate::{
    CheckOutcome, CheckResult, FailureDetection, Intents, LockDecision, RecoveryOutcome,
    RecoveryStart, RecoveryStep, StartDecision, Store,
};

/// Generates one test per conformance check for the store made by `$make`.
///
/// `replicated` leaves out the checks of [`Store::reset_replicated_state`] and
/// [`Store::import_replicated`]: in a Raft group those belong to the state machine, which
/// calls them on the member's own store, and the replicated store refuses them.
#[macro_export]
macro_rules! store_conformance_suite {
    // `$make` gives (guard, store): the guard (a database server, a temp dir) lives as long as
    // the test.
    (guarded $make:expr) => {
        $crate::store_conformance_suite!(@intents guarded $make);
        $crate::store_conformance_suite!(@tests guarded $make;
            resetting_replicated_state_keeps_instances_and_restarts_ids,
            an_exported_replicated_state_imports_to_the_same,
        );
    };
    (replicated guarded $make:expr) => {
        $crate::store_conformance_suite!(@intents guarded $make);
    };
    ($make:expr) => {
        $crate::store_conformance_suite!(@intents plain $make);
        $crate::store_conformance_suite!(@tests plain $make;
            resetting_replicated_state_keeps_instances_and_restarts_ids,
            an_exported_replicated_state_imports_to_the_same,
        );
    };
    (@intents $mode:ident $make:expr) => {
        $crate::store_conformance_suite!(@tests $mode $make;
            registering_is_idempotent,
            a_successful_check_records_the_reading,
            a_failed_check_keeps_the_last_reading,
            a_failed_check_of_an_unknown_key_registers_it,
            readings_round_trip_exactly,
            all_instances_are_listed_in_key_order,
            forgetting_removes_only_that_instance,
            large_batches_are_recorded_whole,
            downtimes_expire_and_end,
            promotion_rules_expire_and_are_replaced,
            detections_are_deduplicated_within_the_window,
            a_recent_recovery_blocks_the_next_until_acknowledged,
            the_promoted_instance_failing_again_is_blocked_too,
            a_running_recovery_blocks_even_manual_ones_whatever_its_age,
            a_manual_recovery_ignores_the_block_and_acknowledges_earlier_ones,
            recoveries_keep_their_steps_and_outcome,
            successions_list_the_primaries_replaced,
            recoveries_left_running_by_a_crash_are_closed_and_acknowledged,
            global_recoveries_can_be_disabled,
            a_maintenance_lock_has_one_holder_until_released_or_expired,
            concurrent_lock_requests_have_exactly_one_winner,
            a_gone_nodes_locks_are_released,
            tags_are_set_read_and_removed,
            operators_cluster_aliases_are_set_replaced_and_removed,
        );
    };
    (@tests plain $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let store = $make;
                $crate::conformance::$name($crate::conformance::AsDynStore::as_dyn(&store)).await;
            }
        )*
    };
    (@tests guarded $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (_guard, store) = $make;
                $crate::conformance::$name($crate::conformance::AsDynStore::as_dyn(&store)).await;
            }
        )*
    };
}

/// What the suite's `$make` may give: a store, or a shared one.
pub trait AsDynStore {
    fn as_dyn(&self) -> &dyn Store;
}

impl<S: Store> AsDynStore for S {
    fn as_dyn(&self) -> &dyn Store {
        self
    }
}

impl AsDynStore for std::sync::Arc<dyn Store> {
    fn as_dyn(&self) -> &dyn Store {
        &**self
    }
}

fn parse_key(text: &str) -> InstanceKey {
    text.parse().expect("test key")
}

/// A reading with every field set, so a round trip that drops one shows.
pub fn sample_instance(key: &InstanceKey) -> Instance {
    let mut instance = Instance::unseen(key.clone());
    instance.server_id = 7;
    instance.server_uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562".into();
    instance.hostname = "db-host".into();
    instance.version = "10.11.6-MariaDB-log".into();
    instance.version_comment = "Debian 12".into();
    instance.flavor = Flavor::MariaDb;
    instance.read_only = true;
    instance.super_read_only = true;
    instance.log_bin = true;
    instance.log_replica_updates = true;
    instance.binlog_format = "ROW".into();
    instance.binlog_row_image = "FULL".into();
    instance.self_coordinates = Some(BinlogCoordinates {
        log_file: "mysql-bin.000002".into(),
        log_pos: 4321,
    });
    instance.gtid_mode = "ON".into();
    instance.gtid_executed = "0-1-42".into();
    instance.gtid_purged = "0-1-1".into();
    instance.gtid_binlog_pos = "0-1-42".into();
    instance.gtid_slave_pos = "0-1-42".into();
    instance.gtid_domain_id = Some(0);
    instance.gtid_strict_mode = true;
    instance.replication = Some(ReplicaStatus {
        source: key_of_source(),
        source_server_id: 1,
        source_uuid: "uuid-of-source".into(),
        io_thread: IoThreadState::Connecting,
        sql_thread_running: true,
        io_state: "Reconnecting".into(),
        sql_state: "Waiting".into(),
        last_io_errno: 2003,
        last_io_error: "Can't connect".into(),
        last_sql_errno: 0,
        last_sql_error: String::new(),
        seconds_behind_source: None,
        sql_delay: 30,
        read_coordinates: BinlogCoordinates {
            log_file: "mysql-bin.000009".into(),
            log_pos: 100,
        },
        exec_coordinates: BinlogCoordinates {
            log_file: "mysql-bin.000009".into(),
            log_pos: 90,
        },
        relay_coordinates: BinlogCoordinates {
            log_file: "relay.000003".into(),
            log_pos: 200,
        },
        gtid_kind: GtidKind::MariaDb,
        using_gtid: "Slave_Pos".into(),
        gtid_io_pos: "0-1-43".into(),
        has_replication_filters: true,
        connect_retry: 1,
    });
    instance.replicas = vec![parse_key("r1:3306"), parse_key("r2:3307")];
    instance.suggested_cluster_alias = "orders".into();
    instance.data_center = "dc1".into();
    instance.region = "eu".into();
    instance.physical_environment = "prod".into();
    instance.probe_latency_ms = 12;
    instance.replica_net_timeout = 4;
    instance
}

fn key_of_source() -> InstanceKey {
    parse_key("source-host:3306")
}

fn seen(key: &InstanceKey, attempted: i64, checked: i64) -> CheckOutcome {
    CheckOutcome {
        key: key.clone(),
        attempted_at: Timestamp(attempted),
        checked_at: Timestamp(checked),
        result: CheckResult::Seen(Box::new(sample_instance(key))),
    }
}

fn failed(key: &InstanceKey, attempted: i64, checked: i64, error: &str) -> CheckOutcome {
    CheckOutcome {
        key: key.clone(),
        attempted_at: Timestamp(attempted),
        checked_at: Timestamp(checked),
        result: CheckResult::Failed {
            error: error.into(),
        },
    }
}

pub async fn registering_is_idempotent(store: &dyn Store) {
    let db1 = parse_key("db1:3306");
    assert!(store.register_instance(&db1, Timestamp(100)).await.unwrap());
    assert!(!store.register_instance(&db1, Timestamp(200)).await.unwrap());
    let record = store.instance(&db1).await.unwrap().expect("registered");
    assert_eq!(record.key(), &db1);
    assert_eq!(
        record.first_discovered,
        Timestamp(100),
        "first registration wins"
    );
    assert_eq!(record.last_checked, None);
    assert_eq!(record.last_seen, None);
    assert!(!record.has_been_seen());
    assert!(store
        .instance(&parse_key("db2:3306"))
        .await
        .unwrap()
        .is_none());
}

pub async fn a_successful_check_records_the_reading(store: &dyn Store) {
    let db1 = parse_key("db1:3306");
    store.register_instance(&db1, Timestamp(100)).await.unwrap();
    store
        .record_checks(vec![seen(&db1, 1_000, 1_050)])
        .await
        .unwrap();
    let record = store.instance(&db1).await.unwrap().unwrap();
    assert_eq!(record.last_attempted_check, Some(Timestamp(1_000)));
    assert_eq!(record.last_checked, Some(Timestamp(1_050)));
    assert_eq!(record.last_seen, Some(Timestamp(1_050)));
    assert!(record.is_last_check_valid());
    assert_eq!(record.instance.server_id, 7);
    assert_eq!(record.first_discovered, Timestamp(100));
}

pub async fn a_failed_check_keeps_the_last_reading(store: &dyn Store) {
    let db1 = parse_key("db1:3306");
    store
        .record_checks(vec![seen(&db1, 1_000, 1_050)])
        .await
        .unwrap();
    store
        .record_checks(vec![failed(&db1, 2_000, 2_100, "connection refused")])
        .await
        .unwrap();
    let record = store.instance(&db1).await.unwrap().unwrap();
    assert_eq!(
        record.last_seen,
        Some(Timestamp(1_050)),
        "last seen unchanged"
    );
    assert_eq!(record.last_checked, Some(Timestamp(2_100)));
    assert_eq!(record.last_attempted_check, Some(Timestamp(2_000)));
    assert_eq!(record.last_error, "connection refused");
    assert!(!record.is_last_check_valid());
    assert_eq!(record.instance, sample_instance(&db1), "last reading kept");

    // A later success clears the error.
    store
        .record_checks(vec![seen(&db1, 3_000, 3_010)])
        .await
        .unwrap();
    let record = store.instance(&db1).await.unwrap().unwrap();
    assert!(record.is_last_check_valid());
    assert_eq!(record.last_error, "");
}

pub async fn a_failed_check_of_an_unknown_key_registers_it(store: &dyn Store) {
    let db9 = parse_key("db9:3306");
    store
        .record_checks(vec![failed(&db9, 500, 600, "timed out")])
        .await
        .unwrap();
    let record = store
        .instance(&db9)
        .await
        .unwrap()
        .expect("registered by the failure");
    assert_eq!(record.first_discovered, Timestamp(500));
    assert_eq!(record.last_seen, None);
    assert_eq!(record.last_checked, Some(Timestamp(600)));
    assert_eq!(record.last_error, "timed out");
    assert_eq!(record.instance, Instance::unseen(db9));
}

pub async fn readings_round_trip_exactly(store: &dyn Store) {
    let db1 = parse_key("db1:3306");
    store.record_checks(vec![seen(&db1, 10, 20)]).await.unwrap();
    let record = store.instance(&db1).await.unwrap().unwrap();
    assert_eq!(record.instance, sample_instance(&db1));
}

pub async fn all_instances_are_listed_in_key_order(store: &dyn Store) {
    for text in ["db3:3306", "db1:3307", "db1:3306", "a:1"] {
        store
            .register_instance(&parse_key(text), Timestamp(1))
            .await
            .unwrap();
    }
    let keys: Vec<String> = store
        .all_instances()
        .await
        .unwrap()
        .iter()
        .map(|r| r.key().to_string())
        .collect();
    assert_eq!(keys, vec!["a:1", "db1:3306", "db1:3307", "db3:3306"]);
}

pub async fn forgetting_removes_only_that_instance(store: &dyn Store) {
    let db1 = parse_key("db1:3306");
    let db2 = parse_key("db2:3306");
    store.register_instance(&db1, Timestamp(1)).await.unwrap();
    store.record_checks(vec![seen(&db2, 1, 2)]).await.unwrap();
    assert!(store.forget_instance(&db2).await.unwrap());
    assert!(
        !store.forget_instance(&db2).await.unwrap(),
        "already forgotten"
    );
    assert!(store.instance(&db2).await.unwrap().is_none());
    assert!(store.instance(&db1).await.unwrap().is_some());
    // A forgotten instance can be discovered again from scratch.
    assert!(store.register_instance(&db2, Timestamp(9)).await.unwrap());
}

pub async fn large_batches_are_recorded_whole(store: &dyn Store) {
    let outcomes: Vec<CheckOutcome> = (0..500)
        .map(|i| {
            let key = InstanceKey::new(format!("host{i:04}"), 3306);
            if i % 2 == 0 {
                seen(&key, i, i + 1)
            } else {
                failed(&key, i, i + 1, "refused")
            }
        })
        .collect();
    store.record_checks(outcomes).await.unwrap();
    let records = store.all_instances().await.unwrap();
    assert_eq!(records.len(), 500);
    assert_eq!(
        records.iter().filter(|r| r.is_last_check_valid()).count(),
        250
    );
}

pub async fn downtimes_expire_and_end(store: &dyn Store) {
    let db1 = parse_key("db1:3306");
    let downtime = |end: i64| Downtime {
        key: db1.clone(),
        owner: "ops".into(),
        reason: "kernel upgrade".into(),
        begin: Timestamp(1_000),
        end: Timestamp(end),
    };
    store.begin_downtime(downtime(5_000)).await.unwrap();
    assert_eq!(
        store.active_downtimes(Timestamp(2_000)).await.unwrap(),
        vec![downtime(5_000)]
    );
    assert!(
        store
            .active_downtimes(Timestamp(5_000))
            .await
            .unwrap()
            .is_empty(),
        "expired"
    );
    assert!(
        store
            .active_downtimes(Timestamp(500))
            .await
            .unwrap()
            .is_empty(),
        "not begun"
    );
    store.begin_downtime(downtime(9_000)).await.unwrap();
    assert_eq!(
        store
            .active_downtimes(Timestamp(6_000))
            .await
            .unwrap()
            .len(),
        1,
        "extended"
    );
    assert!(store.end_downtime(&db1).await.unwrap());
    assert!(!store.end_downtime(&db1).await.unwrap());
    assert!(store
        .active_downtimes(Timestamp(6_000))
        .await
        .unwrap()
        .is_empty());
}

pub async fn promotion_rules_expire_and_are_replaced(store: &dyn Store) {
    let db1 = parse_key("db1:3306");
    store
        .register_candidate(&db1, PromotionRule::Prefer, Timestamp(5_000))
        .await
        .unwrap();
    assert_eq!(
        store.promotion_rules(Timestamp(1_000)).await.unwrap(),
        vec![(db1.clone(), PromotionRule::Prefer)]
    );
    store
        .register_candidate(&db1, PromotionRule::MustNot, Timestamp(9_000))
        .await
        .unwrap();
    assert_eq!(
        store.promotion_rules(Timestamp(6_000)).await.unwrap(),
        vec![(db1.clone(), PromotionRule::MustNot)]
    );
    assert!(store
        .promotion_rules(Timestamp(9_000))
        .await
        .unwrap()
        .is_empty());
}

fn detection(at: i64) -> FailureDetection {
    FailureDetection {
        id: 0,
        cluster: "db1:3306".into(),
        key: parse_key("db1:3306"),
        analysis: "DeadMaster".into(),
        description: "dead".into(),
        detected_at: Timestamp(at),
    }
}

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

fn start(uid: &str, cluster: &str, at: i64, manual: bool) -> RecoveryStart {
    RecoveryStart {
        uid: uid.into(),
        cluster: cluster.into(),
        failed: parse_key(cluster),
        analysis: "DeadMaster".into(),
        kind: "MasterRecovery".into(),
        manual,
        processing_node: "node1".into(),
        started_at: Timestamp(at),
    }
}

fn finished(at: i64) -> RecoveryOutcome {
    RecoveryOutcome {
        successful: true,
        successor: Some(parse_key("db2:3306")),
        lost_replicas: vec![parse_key("db9:3306")],
        participating: vec![parse_key("db2:3306"), parse_key("db3:3306")],
        errors: vec![],
        ended_at: Timestamp(at),
    }
}

fn started_id(decision: StartDecision) -> i64 {
    match decision {
        StartDecision::Started { id } => id,
        blocked => panic!("expected a start, got {blocked:?}"),
    }
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

async fn lock(
    store: &dyn Store,
    key: &InstanceKey,
    owner: &str,
    node: &str,
    now: i64,
) -> LockDecision {
    store
        .begin_maintenance(
            key,
            owner,
            "testing",
            node,
            Timestamp(now),
            Timestamp(now + 10_000),
        )
        .await
        .unwrap()
}

pub async fn a_maintenance_lock_has_one_holder_until_released_or_expired(store: &dyn Store) {
    let db1 = parse_key("db1:3306");
    let LockDecision::Acquired { id } = lock(store, &db1, "alice", "n1", 1_000).await else {
        panic!("first lock must be acquired");
    };
    match lock(store, &db1, "bob", "n1", 2_000).await {
        LockDecision::Held(held) => {
            assert_eq!(held.owner, "alice");
            assert_eq!(held.id, id);
        }
        other => panic!("expected the lock held by alice, got {other:?}"),
    }
    assert_eq!(
        store
            .active_maintenance(Timestamp(2_000))
            .await
            .unwrap()
            .len(),
        1
    );
    // Expired locks give way.
    assert!(matches!(
        lock(store, &db1, "bob", "n1", 11_000).await,
        LockDecision::Acquired { .. }
    ));
    assert!(store.end_maintenance(&db1, None).await.unwrap());
    assert!(!store.end_maintenance(&db1, None).await.unwrap());
    assert!(store
        .active_maintenance(Timestamp(12_000))
        .await
        .unwrap()
        .is_empty());
    // Releasing by id only releases that lock.
    let LockDecision::Acquired { id } = lock(store, &db1, "carol", "n1", 13_000).await else {
        panic!()
    };
    assert!(!store.end_maintenance(&db1, Some(id + 1000)).await.unwrap());
    assert!(store.end_maintenance(&db1, Some(id)).await.unwrap());
}

pub async fn concurrent_lock_requests_have_exactly_one_winner(store: &dyn Store) {
    let db1 = parse_key("db1:3306");
    let attempts = (0..8).map(|i| {
        let key = db1.clone();
        async move {
            store
                .begin_maintenance(
                    &key,
                    &format!("mover-{i}"),
                    "move",
                    "n1",
                    Timestamp(1_000),
                    Timestamp(60_000),
                )
                .await
                .unwrap()
        }
    });
    let mut winners = 0;
    for decision in futures_util::future::join_all(attempts).await {
        if matches!(decision, LockDecision::Acquired { .. }) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

pub async fn a_gone_nodes_locks_are_released(store: &dyn Store) {
    lock(store, &parse_key("db1:3306"), "a", "node-1", 1_000).await;
    lock(store, &parse_key("db2:3306"), "b", "node-2", 1_000).await;
    assert_eq!(store.release_node_maintenance("node-1").await.unwrap(), 1);
    let left = store.active_maintenance(Timestamp(2_000)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].node, "node-2");
}

pub async fn tags_are_set_read_and_removed(store: &dyn Store) {
    let (db1, db2) = (parse_key("db1:3306"), parse_key("db2:3306"));
    store.tag(&db1, "role", "reporting").await.unwrap();
    store.tag(&db1, "dc", "eu").await.unwrap();
    store.tag(&db2, "role", "oltp").await.unwrap();
    store.tag(&db2, "role", "backup").await.unwrap();
    assert_eq!(
        store.tags(&db1).await.unwrap(),
        vec![
            ("dc".to_string(), "eu".to_string()),
            ("role".to_string(), "reporting".to_string())
        ]
    );
    assert_eq!(
        store.tagged("role", None).await.unwrap(),
        vec![db1.clone(), db2.clone()]
    );
    assert_eq!(
        store.tagged("role", Some("backup")).await.unwrap(),
        vec![db2.clone()]
    );
    assert!(store.untag(&db1, "dc").await.unwrap());
    assert!(!store.untag(&db1, "dc").await.unwrap());
    assert_eq!(store.untag_all("role").await.unwrap(), vec![db1, db2]);
    assert!(store.tagged("role", None).await.unwrap().is_empty());
}

/// What a Raft node relies on before replaying its log: every intent is gone, the instances
/// stay, and ids start over so the replay hands out the same ones.
pub async fn resetting_replicated_state_keeps_instances_and_restarts_ids(store: &dyn Store) {
    let db1 = parse_key("db1:3306");
    store.record_checks(vec![seen(&db1, 1, 2)]).await.unwrap();
    let block = Duration::from_secs(1);
    let first = started_id(
        store
            .start_recovery(start("a", "c1:1", 1_000, false), block, false)
            .await
            .unwrap(),
    );
    store
        .begin_downtime(Downtime {
            key: db1.clone(),
            owner: "ops".into(),
            reason: "upgrade".into(),
            begin: Timestamp(0),
            end: Timestamp(i64::MAX / 2),
        })
        .await
        .unwrap();
    store.tag(&db1, "role", "db").await.unwrap();
    store.set_global_recoveries_disabled(true).await.unwrap();
    lock(store, &db1, "ops", "n1", 0).await;

    store.reset_replicated_state().await.unwrap();

    assert!(store.instance(&db1).await.unwrap().is_some());
    assert!(store.recoveries(None, 10).await.unwrap().is_empty());
    assert!(store
        .active_downtimes(Timestamp(5))
        .await
        .unwrap()
        .is_empty());
    assert!(store.tags(&db1).await.unwrap().is_empty());
    assert!(!store.global_recoveries_disabled().await.unwrap());
    assert!(store
        .active_maintenance(Timestamp(5))
        .await
        .unwrap()
        .is_empty());
    let again = started_id(
        store
            .start_recovery(start("a", "c1:1", 1_000, false), block, false)
            .await
            .unwrap(),
    );
    assert_eq!(again, first, "ids restart after a reset");
}

/// A Raft snapshot's round trip: what one store exports, another imports to the same rows,
/// ids included, and goes on from there.
pub async fn an_exported_replicated_state_imports_to_the_same(store: &dyn Store) {
    let db1 = parse_key("db1:3306");
    store.register_instance(&db1, Timestamp(7)).await.unwrap();
    let block = Duration::from_secs(1);
    let id = started_id(
        store
            .start_recovery(start("a", "c1:1", 1_000, false), block, false)
            .await
            .unwrap(),
    );
    store
        .add_recovery_step(
            id,
            RecoveryStep {
                at: Timestamp(1_001),
                message: "step".into(),
            },
        )
        .await
        .unwrap();
    store.finish_recovery(id, finished(2_000)).await.unwrap();
    store
        .begin_downtime(Downtime {
            key: db1.clone(),
            owner: "ops".into(),
            reason: "upgrade".into(),
            begin: Timestamp(0),
            end: Timestamp(10_000),
        })
        .await
        .unwrap();
    store
        .register_candidate(&db1, PromotionRule::Prefer, Timestamp(9_000))
        .await
        .unwrap();
    store.tag(&db1, "role", "db").await.unwrap();
    store.set_global_recoveries_disabled(true).await.unwrap();
    store.set_cluster_alias("c1:1", "orders").await.unwrap();
    lock(store, &db1, "ops", "n1", 0).await;
    store
        .record_detection(
            FailureDetection {
                id: 0,
                cluster: "c1:1".into(),
                key: db1.clone(),
                analysis: "DeadMaster".into(),
                description: "gone".into(),
                detected_at: Timestamp(900),
            },
            block,
        )
        .await
        .unwrap();
    let dump = store.export_replicated().await.unwrap();
    assert!(
        dump.tables.values().all(|rows| !rows.is_empty()),
        "{dump:?}"
    );

    // Through JSON, as a snapshot travels; into the same store, wiped.
    let text = serde_json::to_string(&dump).unwrap();
    store.reset_replicated_state().await.unwrap();
    store
        .import_replicated(serde_json::from_str(&text).unwrap())
        .await
        .unwrap();
    assert_eq!(store.export_replicated().await.unwrap(), dump);
    assert!(store.global_recoveries_disabled().await.unwrap());
    // Ids go on after the imported ones.
    let next = started_id(
        store
            .start_recovery(start("b", "c2:1", 3_000, false), block, false)
            .await
            .unwrap(),
    );
    assert!(next > id, "{next} after {id}");
}

pub async fn operators_cluster_aliases_are_set_replaced_and_removed(store: &dyn Store) {
    store.set_cluster_alias("db1:3306", "orders").await.unwrap();
    store.set_cluster_alias("db2:3306", "users").await.unwrap();
    store
        .set_cluster_alias("db1:3306", "orders-eu")
        .await
        .unwrap();
    assert_eq!(
        store.cluster_aliases().await.unwrap(),
        vec![
            ("db1:3306".to_string(), "orders-eu".to_string()),
            ("db2:3306".to_string(), "users".to_string())
        ]
    );
    store.set_cluster_alias("db2:3306", "").await.unwrap();
    assert_eq!(store.cluster_aliases().await.unwrap().len(), 1);
}
