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
    AckTarget, CheckOutcome, CheckResult, FailureDetection, Intents, LockDecision, RecoveryOutcome,
    RecoveryRecord, RecoveryStart, RecoveryStep, StartDecision, Store,
};

mod intents;
mod recoveries;

pub use intents::*;
pub use recoveries::*;

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
            one_recovery_is_acknowledged_by_id_uid_or_instance,
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
            pool_submissions_replace_and_expire,
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
        connection_name: "feed".into(),
    });
    instance.replicas = vec![parse_key("r1:3306"), parse_key("r2:3307")];
    instance.suggested_cluster_alias = "orders".into();
    instance.data_center = "dc1".into();
    instance.region = "eu".into();
    instance.physical_environment = "prod".into();
    instance.probe_latency_ms = 12;
    instance.replica_net_timeout = 4;
    // A second source over another named connection (multi-source) survives the store too.
    let mut other = instance.replication.clone().unwrap();
    other.source = parse_key("other-source:3306");
    other.connection_name = "billing".into();
    instance.other_links = vec![other];
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
    let only_keys: Vec<String> = store
        .instance_keys()
        .await
        .unwrap()
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(
        only_keys, keys,
        "instance_keys lists what all_instances does"
    );
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
        analysis_entry: format!(r#"{{"Analysis":"DeadMaster","ArborUid":"{uid}"}}"#),
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
