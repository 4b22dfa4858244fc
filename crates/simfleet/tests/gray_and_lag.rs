//! On the simulated fleet (no real server can be slowed on demand or made to lag minutes in a
//! test's time): a primary that answers late is not failed over, and the lag-based failover
//! keys do what orchestrator's do.

use std::time::Duration;

mod common;

use arbor_simfleet::{Flavor, Fleet, Health};
use arbor_store::Intents;
use arbor_topology::{PromotionRule, Timestamp};
use common::{finished_recovery, key, watch_and_recover_with, Watched};

/// Makes replica `index` lag about `seconds` behind (a burst of writes it does not apply, then
/// a write rate so slow that the backlog is `seconds` of it), and waits until arbor's view of
/// the topology shows a lag of a minute or more on it.
async fn lag(fleet: &Fleet, watched: &Watched, index: usize, seconds: f64) {
    fleet.set_lag(index, 10_000.0);
    fleet.set_write_rate(500.0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    fleet.set_write_rate(500.0 / seconds);
    let seen = arbor_testkit::wait_for(Duration::from_secs(10), || {
        let engine = watched.engine.clone();
        let replica = key(fleet.key(index));
        async move {
            let snapshot = engine.latest_snapshot().await.ok()?;
            let record = snapshot.topology.record(&replica)?;
            let lag = record
                .instance
                .replication
                .as_ref()?
                .seconds_behind_source?;
            (lag >= 60).then_some(())
        }
    })
    .await;
    assert!(seen.is_some(), "replica {index} lags");
}

#[tokio::test]
async fn a_primary_that_answers_late_is_not_failed_over() {
    let fleet = Fleet::start(&[None, Some(0), Some(0)], Flavor::MariaDb1011)
        .await
        .unwrap();
    fleet.set_write_rate(20.0);
    let watched = watch_and_recover_with(&fleet, |_| {}).await;
    // Every reply of the primary (queries and handshakes) comes 2.5 s late, longer than the
    // 1 s liveness check: arbor suspects it, but its replicas still receive its writes.
    fleet.set_delay(0, Duration::from_millis(2500));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let recoveries = watched.store.recoveries(None, 10).await.unwrap();
    assert!(recoveries.is_empty(), "no failover: {recoveries:#?}");
    assert!(fleet.is_replicating(1) && fleet.is_replicating(2));
    assert!(!fleet.is_read_only(0), "still the primary");
    fleet.set_delay(0, Duration::ZERO);
}

#[tokio::test]
async fn a_replica_lagging_past_fail_master_promotion_on_lag_minutes_is_not_promoted() {
    let fleet = Fleet::start(&[None, Some(0)], Flavor::MariaDb1011)
        .await
        .unwrap();
    let watched = watch_and_recover_with(&fleet, |config| {
        config["FailMasterPromotionOnLagMinutes"] = 1.into();
    })
    .await;
    // arbor has seen the lag before the primary dies (its replica then reports none).
    lag(&fleet, &watched, 1, 120.0).await;
    fleet.set_health(0, Health::Dead);
    let recovery = finished_recovery(&watched).await.expect("a recovery ran");
    assert!(!recovery.successful, "{recovery:#?}");
    assert!(
        recovery
            .errors
            .iter()
            .any(|e| e.contains("FailMasterPromotionOnLagMinutes")),
        "{recovery:#?}"
    );
    assert!(fleet.is_read_only(1), "not promoted");
}

#[tokio::test]
async fn replicas_lagging_past_postpone_replica_recovery_on_lag_minutes_are_repointed_after() {
    let fleet = Fleet::start(&[None, Some(0), Some(0)], Flavor::MariaDb1011)
        .await
        .unwrap();
    let watched = watch_and_recover_with(&fleet, |config| {
        config["PostponeReplicaRecoveryOnLagMinutes"] = 1.into();
    })
    .await;
    watched
        .store
        .register_candidate(
            &key(fleet.key(1)),
            PromotionRule::Prefer,
            Timestamp::now().plus(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    lag(&fleet, &watched, 2, 120.0).await;
    fleet.set_health(0, Health::Dead);
    let recovery = finished_recovery(&watched).await.expect("a recovery ran");
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.successor, Some(key(fleet.key(1))));
    let steps: Vec<&str> = recovery.steps.iter().map(|s| s.message.as_str()).collect();
    let postponed = steps
        .iter()
        .position(|s| s.contains("PostponeReplicaRecoveryOnLagMinutes"))
        .unwrap_or_else(|| panic!("{steps:#?}"));
    let repointed = steps
        .iter()
        .position(|s| s.starts_with(&format!("postponed {} replicates from", fleet.key(2))))
        .unwrap_or_else(|| panic!("{steps:#?}"));
    assert!(postponed < repointed);
    assert_eq!(fleet.source_of(2), Some(1));
}
