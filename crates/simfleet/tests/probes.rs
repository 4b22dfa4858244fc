//! arbor's real prober against the simulated fleet: every flavour is read through its own
//! dialect, and a killed primary shows in its replicas' status as it would on real servers.

use std::time::Duration;

mod common;

use arbor_simfleet::{Flavor, Fleet, Health};
use arbor_topology::{Flavor as ServerFlavor, IoThreadState};
use common::{key, prober};

#[tokio::test]
async fn every_flavour_is_read_through_its_own_dialect() {
    for (flavor, expected) in [
        (Flavor::MariaDb1011, ServerFlavor::MariaDb),
        (Flavor::MySql80, ServerFlavor::MySql),
        (Flavor::MySql84, ServerFlavor::MySql),
    ] {
        let fleet = Fleet::start(&[None, Some(0), Some(0)], flavor)
            .await
            .unwrap();
        let prober = prober();
        let primary = prober.probe(&key(fleet.key(0))).await.unwrap();
        assert_eq!(primary.flavor, expected, "{flavor:?}");
        assert!(!primary.read_only, "{flavor:?}");
        assert!(primary.replication.is_none(), "{flavor:?}");
        let mut replicas = primary.replicas.clone();
        replicas.sort();
        let mut expected_replicas = vec![key(fleet.key(1)), key(fleet.key(2))];
        expected_replicas.sort();
        assert_eq!(replicas, expected_replicas, "{flavor:?}");

        let replica = prober.probe(&key(fleet.key(1))).await.unwrap();
        assert!(replica.read_only, "{flavor:?}");
        let status = replica.replication.expect("a replica");
        assert_eq!(status.source, key(fleet.key(0)), "{flavor:?}");
        assert_eq!(status.io_thread, IoThreadState::Running, "{flavor:?}");
        assert!(status.sql_thread_running, "{flavor:?}");
    }
}

#[tokio::test]
async fn a_killed_primary_refuses_and_its_replicas_lose_it_a_hung_one_times_out() {
    let fleet = Fleet::start(&[None, Some(0), Some(0)], Flavor::MariaDb1011)
        .await
        .unwrap();
    let prober = prober();
    fleet.set_health(0, Health::Dead);
    assert!(prober.probe(&key(fleet.key(0))).await.is_err());
    let replica = prober.probe(&key(fleet.key(1))).await.unwrap();
    let status = replica.replication.expect("a replica");
    assert_eq!(status.io_thread, IoThreadState::Connecting);
    assert_eq!(status.last_io_errno, 2003);

    fleet.set_health(2, Health::Hung);
    let started = std::time::Instant::now();
    assert!(prober.probe(&key(fleet.key(2))).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a hung instance costs the prober its timeouts, not more"
    );
    fleet.set_health(0, Health::Up);
    let primary = prober.probe(&key(fleet.key(0))).await.unwrap();
    assert_eq!(
        primary.replicas,
        vec![key(fleet.key(1))],
        "the hung replica is not listed"
    );
}

#[tokio::test]
async fn discovery_crawls_a_simulated_topology_and_analysis_sees_its_primary_die() {
    use std::sync::Arc;

    use arbor_topology::{Topology, TopologyOptions};

    let fleet = Fleet::start(&[None, Some(0), Some(0), Some(1)], Flavor::MySql84)
        .await
        .unwrap();
    let (store, _discovery) = common::discover(&fleet).await;
    let analyses = || {
        let store = Arc::clone(&store);
        async move {
            let topology = Topology::new(
                store.all_instances().await.ok()?,
                &TopologyOptions::default(),
            );
            Some((
                topology.records().count(),
                arbor_analysis::analyze(&topology, &arbor_analysis::AnalysisSettings::default()),
            ))
        }
    };
    let crawled = arbor_testkit::wait_for(Duration::from_secs(20), || {
        let analyses = analyses();
        async move { analyses.await.filter(|(count, _)| *count == 4) }
    })
    .await;
    assert!(crawled.is_some(), "the whole tree is found from one seed");

    fleet.set_health(0, Health::Dead);
    let primary = key(fleet.key(0));
    let dead = arbor_testkit::wait_for(Duration::from_secs(20), || {
        let analyses = analyses();
        let primary = primary.clone();
        async move {
            let (_, analyses) = analyses.await?;
            analyses
                .into_iter()
                .find(|a| a.key == primary && a.code.map(|c| c.name()) == Some("DeadMaster"))
        }
    })
    .await;
    assert!(
        dead.is_some(),
        "DeadMaster is analysed once the replicas lose the primary"
    );
}

#[tokio::test]
async fn arbor_fails_a_simulated_primary_over() {
    for flavor in [Flavor::MariaDb1011, Flavor::MySql84] {
        fail_over(flavor).await;
    }
}

async fn fail_over(flavor: Flavor) {
    let fleet = Fleet::start(&[None, Some(0), Some(0), Some(0)], flavor)
        .await
        .unwrap();
    let watched = common::watch_and_recover(&fleet, Duration::from_secs(3_600)).await;
    fleet.set_health(0, Health::Dead);
    let recovered = common::finished_recovery(&watched).await;
    drop(watched);
    let record = recovered.expect("a recovery ran");
    assert!(record.successful, "{flavor:?}: {record:#?}");
    let successor = record.successor.clone().expect("a successor");
    let promoted = (1..4).find(|&i| key(fleet.key(i)) == successor).unwrap();
    assert_eq!(
        fleet.source_of(promoted),
        None,
        "the successor replicates from nobody"
    );
    assert!(!fleet.is_read_only(promoted), "and takes writes");
    for other in (1..4).filter(|&i| i != promoted) {
        assert_eq!(fleet.source_of(other), Some(promoted), "{record:#?}");
        assert!(fleet.is_replicating(other));
    }
}

/// What the primary watchers rely on: a live primary answers `DO SLEEP` when the time is up, a
/// killed one breaks the connection, a frozen one leaves it unanswered.
#[tokio::test]
async fn a_watchers_liveness_check_is_answered_broken_or_left_unanswered() {
    use arbor_mysql::{Liveness, Operator, OperatorSettings};
    let fleet = Fleet::start(&[None, Some(0), None], Flavor::MariaDb1011)
        .await
        .unwrap();
    let operator = Operator::new(OperatorSettings {
        user: "arbor".into(),
        password: "secret".into(),
        connect_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(5),
        default_port: 3306,
        tls: Default::default(),
    });
    let pause = Duration::from_millis(300);
    let timeout = Duration::from_millis(700);

    let mut live = operator.session(&key(fleet.key(0))).await.unwrap();
    for _ in 0..3 {
        assert_eq!(live.liveness_check(pause, timeout).await, Liveness::Alive);
    }
    fleet.set_health(0, Health::Dead);
    assert!(
        matches!(
            live.liveness_check(pause, timeout).await,
            Liveness::Closed(_)
        ),
        "a killed primary breaks the held connection"
    );

    let mut frozen = operator.session(&key(fleet.key(2))).await.unwrap();
    assert_eq!(frozen.liveness_check(pause, timeout).await, Liveness::Alive);
    fleet.set_health(2, Health::Hung);
    assert_eq!(
        frozen.liveness_check(pause, timeout).await,
        Liveness::Unanswered
    );
}
