//! Semi-sync in each flavour's spelling, on the simulated fleet (no MySQL server can be
//! installed here; MariaDB's spelling is also tested on real servers in arbor-recovery):
//! arbor reads `rpl_semi_sync_master_*` (MariaDB) and `rpl_semi_sync_source_*` (MySQL 8.0.26+,
//! 8.4), and a failover promotes the acknowledger and turns the primary side on there with the
//! server's own variable name.

mod common;

use std::time::Duration;

use arbor_simfleet::{Flavor, Fleet, Health};
use common::{finished_recovery, key, watch_and_recover_with};

async fn acknowledger_promoted_with_semi_sync(flavor: Flavor) {
    let fleet = Fleet::start(&[None, Some(0), Some(0)], flavor)
        .await
        .unwrap();
    // The acknowledger is the replica the key order would not choose.
    let acknowledger = if key(fleet.key(1)) > key(fleet.key(2)) {
        1
    } else {
        2
    };
    fleet.set_semi_sync(0, true, false);
    fleet.set_semi_sync(acknowledger, false, true);
    let watched = watch_and_recover_with(&fleet, |_| {}).await;
    let primary = key(fleet.key(0));
    let read = arbor_testkit::wait_for(Duration::from_secs(20), || {
        let store = std::sync::Arc::clone(&watched.store);
        let primary = primary.clone();
        async move {
            let record = store.instance(&primary).await.ok()??;
            let semi_sync = &record.instance.semi_sync;
            (semi_sync.primary_enabled
                && semi_sync.primary_status
                && semi_sync.primary_clients == 1)
                .then_some(())
        }
    })
    .await;
    assert!(
        read.is_some(),
        "{flavor:?}: arbor read the primary's semi-sync"
    );
    fleet.set_health(0, Health::Dead);
    let recovery = finished_recovery(&watched).await.expect("a recovery ran");
    assert!(recovery.successful, "{flavor:?}: {recovery:#?}");
    assert_eq!(
        recovery.successor,
        Some(key(fleet.key(acknowledger))),
        "{flavor:?}"
    );
    assert_eq!(
        fleet.semi_sync(acknowledger),
        (true, true),
        "{flavor:?}: the new primary's primary side is on"
    );
}

#[tokio::test]
async fn mariadb_spelling() {
    acknowledger_promoted_with_semi_sync(Flavor::MariaDb1011).await;
}

#[tokio::test]
async fn mysql_80_spelling() {
    acknowledger_promoted_with_semi_sync(Flavor::MySql80).await;
}

#[tokio::test]
async fn mysql_84_spelling() {
    acknowledger_promoted_with_semi_sync(Flavor::MySql84).await;
}
