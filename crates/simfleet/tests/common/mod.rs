//! Shared by the simulated-fleet tests: arbor's prober, and an arbor node (built the way
//! `arbor serve` builds it) watching and recovering a simulated cluster.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use arbor_mysql::{ProbeSettings, Prober};
use arbor_recovery::RecoveryEngine;
use arbor_simfleet::Fleet;
use arbor_store::Store;
use arbor_topology::InstanceKey;
use serde_json::{json, Value};

pub fn prober() -> Prober {
    Prober::new(ProbeSettings {
        user: "arbor".into(),
        password: "secret".into(),
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_secs(1),
        default_port: 3306,
        cluster_alias_query: String::new(),
        ..Default::default()
    })
}

pub fn key(text: String) -> InstanceKey {
    text.parse().unwrap()
}

/// arbor (a node built as `arbor serve` builds it) watching `fleet` from its first instance,
/// recovering it automatically.
pub struct Watched {
    pub store: Arc<dyn Store>,
    pub engine: RecoveryEngine,
    pub node: arbor_node::Node,
}

/// The configuration of a node watching `fleet` (seeded with its first instance), polling
/// every second into SQLite in memory, in the keys a user writes.
pub fn config(fleet: &Fleet) -> Value {
    json!({
        "BackendDB": "sqlite",
        "SQLite3DataFile": ":memory:",
        "MySQLTopologyUser": "arbor",
        "MySQLTopologyPassword": "secret",
        "MySQLConnectTimeoutSeconds": 1,
        "MySQLDiscoveryReadTimeoutSeconds": 1,
        "MySQLTopologyReadTimeoutSeconds": 5,
        "InstancePollSeconds": 1,
        "DiscoverySeeds": [fleet.key(0)],
    })
}

/// A node built from `config` (a JSON object of configuration keys).
pub async fn node(config: Value) -> arbor_node::Node {
    let (config, _) = arbor_config::Config::from_json_str(
        &config.to_string(),
        std::path::Path::new("test configuration"),
    )
    .expect("the test configuration is valid");
    arbor_node::Node::build(&config, arbor_node::Role::Service)
        .await
        .expect("the node builds")
}

/// A node crawling `fleet` from its first instance (recovering nothing), and its store.
pub async fn discover(fleet: &Fleet) -> (Arc<dyn Store>, arbor_node::Node) {
    let node = node(config(fleet)).await;
    (Arc::clone(node.state.discovery.store()), node)
}

pub async fn watch_and_recover(fleet: &Fleet, block: Duration) -> Watched {
    watch_and_recover_with(fleet, |config| {
        config["RecoveryPeriodBlockSeconds"] = block.as_secs().into();
    })
    .await
}

/// A node recovering `fleet` automatically (`RecoverMasterClusterFilters` open), with its
/// configuration `configure`d, once it has read every instance.
pub async fn watch_and_recover_with(fleet: &Fleet, configure: impl FnOnce(&mut Value)) -> Watched {
    let mut config = config(fleet);
    config["RecoverMasterClusterFilters"] = json!(["*"]);
    configure(&mut config);
    let node = node(config).await;
    let store = Arc::clone(node.state.discovery.store());
    let expected = fleet.len();
    let engine = node.recovery.clone();
    let seen = arbor_testkit::wait_for(Duration::from_secs(20), || {
        let engine = engine.clone();
        async move {
            let snapshot = engine.latest_snapshot().await.ok()?;
            let records: Vec<_> = snapshot.topology.records().collect();
            (records.len() == expected && records.iter().all(|r| r.is_last_check_valid()))
                .then_some(())
        }
    })
    .await;
    assert!(seen.is_some(), "the simulated cluster is discovered");
    Watched {
        store,
        engine,
        node,
    }
}

/// The first recovery `watched` finished (successful or not), within 30 s.
pub async fn finished_recovery(watched: &Watched) -> Option<arbor_store::RecoveryRecord> {
    let store = Arc::clone(&watched.store);
    arbor_testkit::wait_for(Duration::from_secs(30), || {
        let store = Arc::clone(&store);
        async move {
            let records = store.recoveries(None, 10).await.ok()?;
            records.into_iter().find(|r| !r.is_active)
        }
    })
    .await
}
