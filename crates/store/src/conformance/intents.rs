//! Conformance: intents (downtime, promotion rules, maintenance locks, tags, aliases) and the
//! replicated state as a whole.

use super::*;

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
    store
        .set_pool_instances("etl", std::slice::from_ref(&db1), Timestamp(1_000))
        .await
        .unwrap();
    store.set_global_recoveries_disabled(true).await.unwrap();
    lock(store, &db1, "ops", "n1", 0).await;

    store.reset_replicated_state().await.unwrap();

    assert!(store.instance(&db1).await.unwrap().is_some());
    assert!(store
        .pool_instances(None, Timestamp(0))
        .await
        .unwrap()
        .is_empty());
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
    store
        .set_pool_instances("etl", std::slice::from_ref(&db1), Timestamp(1_000))
        .await
        .unwrap();
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

/// `submit-pool-instances`: a submission replaces the pool's members; members expire with
/// their submission's age; other pools are untouched.
pub async fn pool_submissions_replace_and_expire(store: &dyn Store) {
    let key = |k: &str| k.parse::<InstanceKey>().unwrap();
    store
        .set_pool_instances(
            "etl",
            &[key("a:1"), key("b:1"), key("a:1")],
            Timestamp(1_000),
        )
        .await
        .unwrap();
    store
        .set_pool_instances("reporting", &[key("c:1")], Timestamp(1_000))
        .await
        .unwrap();
    let all = store.pool_instances(None, Timestamp(0)).await.unwrap();
    assert_eq!(
        all,
        vec![
            ("etl".to_string(), key("a:1")),
            ("etl".to_string(), key("b:1")),
            ("reporting".to_string(), key("c:1")),
        ]
    );
    store
        .set_pool_instances("etl", &[key("d:1")], Timestamp(5_000))
        .await
        .unwrap();
    assert_eq!(
        store
            .pool_instances(Some("etl"), Timestamp(0))
            .await
            .unwrap(),
        vec![("etl".to_string(), key("d:1"))]
    );
    // Submitted before `since`: expired.
    assert_eq!(
        store.pool_instances(None, Timestamp(2_000)).await.unwrap(),
        vec![("etl".to_string(), key("d:1"))]
    );
}
