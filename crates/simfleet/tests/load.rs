//! The simulated fleet under a write load and the faults beyond death: positions advance and
//! lag shows through arbor's prober, a failover under load loses nothing and writes resume,
//! slow servers and broken replication look to arbor as they would on real servers.

use std::time::Duration;

mod common;

use arbor_mysql::ProbeErrorKind;
use arbor_simfleet::{Flavor, Fleet, Health, Topology};
use common::{key, prober};

fn sequence(gtid: &str) -> u64 {
    gtid.rsplit('-').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_topology_file_under_write_load_advances_gtids_and_shows_lag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.json");
    std::fs::write(
        &path,
        r#"{ "write_rate": 200,
             "clusters": [ { "flavor": "mariadb-10.11",
                             "instances": [ {}, {"source": 0}, {"source": 0, "lag_seconds": 3} ] } ] }"#,
    )
    .unwrap();
    let fleet = Fleet::from_topology(&Topology::from_file(&path).unwrap())
        .await
        .unwrap();
    let prober = prober();
    let first = prober.probe(&key(fleet.key(0))).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = prober.probe(&key(fleet.key(0))).await.unwrap();
    let written = sequence(&later.gtid_executed) - sequence(&first.gtid_executed);
    assert!(
        (600..=1000).contains(&written),
        "about 200 transactions a second: {} then {}",
        first.gtid_executed,
        later.gtid_executed
    );

    let prompt = prober.probe(&key(fleet.key(1))).await.unwrap();
    let lagging = prober.probe(&key(fleet.key(2))).await.unwrap();
    let behind =
        |i: &arbor_topology::Instance| i.replication.as_ref().unwrap().seconds_behind_source;
    assert!(behind(&prompt).unwrap() <= 1, "{:?}", prompt.replication);
    assert!(
        (2..=4).contains(&behind(&lagging).unwrap()),
        "{:?}",
        lagging.replication
    );
    assert!(sequence(&lagging.gtid_executed) < sequence(&prompt.gtid_executed));
}

#[tokio::test]
async fn a_failover_under_write_load_loses_nothing_and_writes_resume() {
    // MySQL's GTID form names each writer with its count: what the successor holds of the
    // old primary's transactions is read off its executed set.
    let mut topology = Topology::generate(1, 4, &[Flavor::MySql80]);
    topology.write_rate = 200.0;
    topology.clusters[0].instances[1].lag_seconds = 2.0;
    topology.clusters[0].instances[2].lag_seconds = 2.0;
    let fleet = Fleet::from_topology(&topology).await.unwrap();
    let watched = common::watch_and_recover(&fleet, Duration::from_secs(3_600)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    fleet.set_health(0, Health::Dead);
    let sent = (1..4).map(|i| fleet.received(i)).max().unwrap();
    let recovered = common::finished_recovery(&watched).await;
    drop(watched);
    let record = recovered.expect("a recovery ran");
    assert!(record.successful, "{record:#?}");
    let successor = record.successor.clone().expect("a successor");
    let promoted = (1..4).find(|&i| key(fleet.key(i)) == successor).unwrap();

    // Writes resume on the successor, and the other replicas follow it.
    let resumed = arbor_testkit::wait_for(Duration::from_secs(10), || {
        let progressed = fleet.executed(promoted) > sent + 100;
        async move { progressed.then_some(()) }
    })
    .await;
    assert!(resumed.is_some(), "the successor takes writes");
    fleet.set_write_rate(0.0);
    let converged = arbor_testkit::wait_for(Duration::from_secs(10), || {
        let target = fleet.gtid_executed(promoted);
        let all = (1..4).all(|i| fleet.gtid_executed(i) == target);
        async move { all.then_some(()) }
    })
    .await;
    assert!(
        converged.is_some(),
        "every replica applies the successor's writes: {:?}",
        (1..4).map(|i| fleet.gtid_executed(i)).collect::<Vec<_>>()
    );

    let executed = fleet.gtid_executed(promoted);
    let old_primary = "00000000-0000-0000-0000-000000000001:1-";
    let kept: u64 = executed
        .split(',')
        .find_map(|part| part.strip_prefix(old_primary))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert_eq!(
        kept, sent,
        "the successor applied everything the replicas had received before it took writes: {executed}"
    );
}

#[tokio::test]
async fn a_slow_server_answers_late_and_a_broken_replica_shows_its_error() {
    let fleet = Fleet::start(&[None, Some(0), Some(0)], Flavor::MariaDb1011)
        .await
        .unwrap();
    let prober = prober();
    fleet.set_delay(1, Duration::from_millis(300));
    let slow = prober.probe(&key(fleet.key(1))).await.unwrap();
    assert!(slow.probe_latency_ms >= 300, "{}", slow.probe_latency_ms);

    // Slower than the prober's read timeout (1 s): a timeout, not a wrong answer.
    fleet.set_delay(1, Duration::from_secs(3));
    let error = prober.probe(&key(fleet.key(1))).await.unwrap_err();
    assert_eq!(error.kind(), ProbeErrorKind::ReadTimeout, "{error}");
    fleet.set_delay(1, Duration::ZERO);
    assert!(prober.probe(&key(fleet.key(1))).await.is_ok());

    fleet.break_replication(2);
    let broken = prober.probe(&key(fleet.key(2))).await.unwrap();
    let status = broken.replication.expect("still a replica");
    assert!(!status.sql_thread_running);
    assert_eq!(status.last_sql_errno, 1062);
    assert!(status.last_sql_error.contains("Duplicate entry"));
}
