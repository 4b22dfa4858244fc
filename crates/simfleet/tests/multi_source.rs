//! Multi-source replicas in each flavour's spelling, on the simulated fleet (no MySQL server
//! can be installed here; MariaDB's named connections are also tested on real servers in
//! arbor-http's `multi_source_mariadb`): arbor reads every channel (MySQL's `Channel_Name` in
//! `SHOW REPLICA STATUS`, MariaDB's `Connection_name` in `SHOW ALL SLAVES STATUS`), does not
//! promote a multi-source replica, and repoints its default channel after a failover.

mod common;

use std::time::Duration;

use arbor_simfleet::{Flavor, Fleet, Health};
use common::{finished_recovery, key, watch_and_recover_with};

async fn channels_are_read_and_the_default_one_follows(flavor: Flavor) {
    // 0: primary; 1: its replica, also replicating from 2 over 'billing'; 3: another replica.
    let fleet = Fleet::start(&[None, Some(0), None, Some(0)], flavor)
        .await
        .unwrap();
    fleet.add_channel(1, "billing", 2);
    let watched = watch_and_recover_with(&fleet, |_| {}).await;
    let multi = key(fleet.key(1));
    let other = key(fleet.key(2));
    let read = arbor_testkit::wait_for(Duration::from_secs(20), || {
        let store = std::sync::Arc::clone(&watched.store);
        let (multi, other) = (multi.clone(), other.clone());
        async move {
            let record = store.instance(&multi).await.ok()??;
            let links = &record.instance.other_links;
            (record
                .instance
                .replication
                .as_ref()?
                .connection_name
                .is_empty()
                && links.len() == 1
                && links[0].connection_name == "billing"
                && links[0].source == other)
                .then_some(())
        }
    })
    .await;
    assert!(read.is_some(), "{flavor:?}: arbor read both links");

    fleet.set_health(0, Health::Dead);
    let recovery = finished_recovery(&watched).await.expect("a recovery ran");
    assert!(recovery.successful, "{flavor:?}: {recovery:#?}");
    assert_eq!(
        recovery.successor,
        Some(key(fleet.key(3))),
        "{flavor:?}: the multi-source replica is not promoted"
    );
    let followed = arbor_testkit::wait_for(Duration::from_secs(20), || async {
        (fleet.source_of(1) == Some(3)).then_some(())
    })
    .await;
    assert!(
        followed.is_some(),
        "{flavor:?}: its default channel follows the new primary"
    );
}

#[tokio::test]
async fn mariadb_named_connections() {
    channels_are_read_and_the_default_one_follows(Flavor::MariaDb1011).await;
}

#[tokio::test]
async fn mysql_80_channels() {
    channels_are_read_and_the_default_one_follows(Flavor::MySql80).await;
}

#[tokio::test]
async fn mysql_84_channels() {
    channels_are_read_and_the_default_one_follows(Flavor::MySql84).await;
}
