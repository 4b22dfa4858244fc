//! Fault cases real servers cannot give at this size: a hundred hung servers among healthy ones,
//! and a primary that flaps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

mod common;

use arbor_simfleet::{Flavor, Fleet, Health};
use arbor_topology::InstanceKey;
use common::key;

#[tokio::test]
async fn a_hundred_hung_servers_never_delay_the_polling_of_the_rest() {
    let hung = Fleet::start(&[None; 100], Flavor::MySql80).await.unwrap();
    for index in 0..hung.len() {
        hung.set_health(index, Health::Hung);
    }
    let healthy = Fleet::start(&[None, Some(0), Some(0), Some(1)], Flavor::MariaDb1011)
        .await
        .unwrap();
    let mut seeds: Vec<String> = (0..hung.len()).map(|i| hung.key(i)).collect();
    seeds.push(healthy.key(0));
    // Polling every second (InstancePollSeconds), with 1 s connect and read timeouts.
    let mut config = common::config(&healthy);
    config["DiscoverySeeds"] = seeds.into();
    let node = common::node(config).await;
    let store = Arc::clone(node.state.discovery.store());
    let healthy_keys: Vec<InstanceKey> = (0..healthy.len()).map(|i| key(healthy.key(i))).collect();

    // Watch each healthy server's last check for 8 s, once its tree is known: the longest gap
    // between two checks is what the hung ones would stretch.
    let mut last: HashMap<InstanceKey, i64> = HashMap::new();
    let mut longest_gap = 0i64;
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(12) {
        let records = store.all_instances().await.unwrap();
        for record in records.iter().filter(|r| healthy_keys.contains(r.key())) {
            let Some(checked) = record.last_checked.map(|t| t.millis()) else {
                continue;
            };
            if let Some(previous) = last.insert(record.key().clone(), checked) {
                if started.elapsed() > Duration::from_secs(4) {
                    longest_gap = longest_gap.max(checked - previous);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.len(), 4, "every healthy server is found and checked");
    // One poll interval, plus the scheduler's tick and a generous margin for a loaded machine.
    // Polls held up behind the hung servers would wait for their timeouts, again and again:
    // gaps of several seconds.
    assert!(
        longest_gap <= 2_500,
        "a healthy server went {longest_gap} ms between checks (poll interval 1 s)"
    );
}

#[tokio::test]
async fn a_flapping_primary_gets_one_recovery_per_block_period() {
    let fleet = Fleet::start(&[None, Some(0), Some(0)], Flavor::MariaDb1011)
        .await
        .unwrap();
    let watched = common::watch_and_recover(&fleet, Duration::from_secs(3_600)).await;

    // Whatever is the primary now goes down for a second and comes back, eight times.
    for _ in 0..8 {
        let primary = (0..fleet.len())
            .find(|&i| {
                fleet.source_of(i).is_none()
                    && (0..fleet.len()).any(|r| fleet.source_of(r) == Some(i))
            })
            .expect("a primary with replicas");
        fleet.set_health(primary, Health::Dead);
        tokio::time::sleep(Duration::from_secs(1)).await;
        fleet.set_health(primary, Health::Up);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let store = Arc::clone(&watched.store);
    drop(watched);
    let recoveries = store.recoveries(None, 50).await.unwrap();
    assert_eq!(
        recoveries.len(),
        1,
        "one recovery in the block period, however often the primary flaps: {recoveries:#?}"
    );
    assert!(recoveries[0].successful, "{:#?}", recoveries[0]);
}
