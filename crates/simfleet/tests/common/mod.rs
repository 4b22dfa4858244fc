//! Shared by the simulated-fleet tests: arbor's prober, and arbor watching and recovering a
//! simulated cluster.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use arbor_discovery::{Discovery, DiscoverySettings};
use arbor_mysql::{Operator, OperatorSettings, ProbeSettings, Prober};
use arbor_recovery::{RecoveryEngine, RecoverySettings, SingleNode};
use arbor_simfleet::Fleet;
use arbor_store::{SqliteStore, Store};
use arbor_topology::InstanceKey;

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

/// arbor watching `fleet` from its first instance, with a recovery engine (filters open,
/// `block` as the block period) running until the returned task is aborted.
pub struct Watched {
    pub store: Arc<dyn Store>,
    pub engine: RecoveryEngine,
    pub engine_loop: tokio::task::JoinHandle<()>,
    _discovery: Discovery,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.engine_loop.abort();
    }
}

/// arbor's discovery (every 500 ms) crawling `fleet` from its first instance into a fresh
/// in-memory store.
pub async fn discover(fleet: &Fleet) -> (Arc<dyn Store>, Discovery) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let discovery = Discovery::start(
        Arc::clone(&store),
        Arc::new(prober()),
        DiscoverySettings {
            poll_interval: Duration::from_millis(500),
            ..DiscoverySettings::default()
        },
        &[key(fleet.key(0))],
    )
    .await
    .unwrap();
    (store, discovery)
}

pub async fn watch_and_recover(fleet: &Fleet, block: Duration) -> Watched {
    watch_and_recover_with(fleet, |settings| settings.block_period = block).await
}

/// [`watch_and_recover`] with the recovery settings `configure`d (filters open and a 200 ms
/// tick before).
pub async fn watch_and_recover_with(
    fleet: &Fleet,
    configure: impl FnOnce(&mut RecoverySettings),
) -> Watched {
    let (store, discovery) = discover(fleet).await;
    let expected = fleet.len();
    let seen = arbor_testkit::wait_for(Duration::from_secs(20), || {
        let store = Arc::clone(&store);
        async move {
            let records = store.all_instances().await.ok()?;
            (records.len() == expected && records.iter().all(|r| r.is_last_check_valid()))
                .then_some(())
        }
    })
    .await;
    assert!(seen.is_some(), "the simulated cluster is discovered");
    let engine = RecoveryEngine::new(
        Arc::clone(&store),
        discovery.handle(),
        Operator::new(OperatorSettings {
            user: "arbor".into(),
            password: "secret".into(),
            connect_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(5),
            default_port: 3306,
            tls: Default::default(),
        }),
        {
            let mut settings = RecoverySettings {
                recover_master_cluster_filters: vec!["*".into()],
                tick: Duration::from_millis(200),
                ..RecoverySettings::default()
            };
            configure(&mut settings);
            settings
        },
        Arc::new(SingleNode),
    );
    let engine_loop = engine.start().await.unwrap();
    Watched {
        store,
        engine,
        engine_loop,
        _discovery: discovery,
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
