// Each test binary uses part of these helpers.
#![allow(dead_code)]

//! Shared by the recovery tests on real MariaDB: a sandbox topology, arbor discovering it and
//! running its recovery loop, and what an operator checks afterwards.

use std::sync::Arc;
use std::time::Duration;

use arbor_recovery::RecoveryEngine;
use arbor_store::Intents;
use arbor_store::{RecoveryRecord, Store};
use arbor_testkit::{
    wait_for, MariaDbSandbox, ADMIN_PASSWORD, ADMIN_USER, REPL_PASSWORD, REPL_USER,
};
use arbor_topology::InstanceKey;
use serde_json::{json, Value};

/// Real MariaDB servers (a test kit sandbox) watched and recovered by an arbor node built the
/// way `arbor serve` builds it.
pub struct Harness {
    pub sandbox: MariaDbSandbox,
    pub store: Arc<dyn Store>,
    pub engine: RecoveryEngine,
    pub node: arbor_node::Node,
}

pub fn key(text: String) -> InstanceKey {
    text.parse().unwrap()
}

/// The sandbox `sources` describes, watched (seeded with every server that replicates from no
/// one) by a node that recovers every cluster automatically, with its configuration (a JSON
/// object of the keys a user writes) `configure`d; returned once every server is read.
pub async fn harness(sources: &[Option<usize>], configure: impl FnOnce(&mut Value)) -> Harness {
    let sandbox = MariaDbSandbox::start(sources).unwrap();
    let seeds: Vec<String> = sources
        .iter()
        .enumerate()
        .filter(|(_, source)| source.is_none())
        .map(|(index, _)| sandbox.key(index))
        .collect();
    let mut config = json!({
        "BackendDB": "sqlite",
        "SQLite3DataFile": ":memory:",
        "MySQLTopologyUser": ADMIN_USER,
        "MySQLTopologyPassword": ADMIN_PASSWORD,
        "MySQLConnectTimeoutSeconds": 1,
        "MySQLDiscoveryReadTimeoutSeconds": 1,
        "MySQLTopologyReadTimeoutSeconds": 60,
        "InstancePollSeconds": 1,
        "DiscoverySeeds": seeds,
        "RecoverMasterClusterFilters": ["*"],
        "RecoverIntermediateMasterClusterFilters": ["*"],
        "MySQLReplicaUser": REPL_USER,
        "MySQLReplicaPassword": REPL_PASSWORD,
        "PromotionCatchUpTimeoutSeconds": 20,
    });
    configure(&mut config);
    let (config, _) = arbor_config::Config::from_json_str(
        &config.to_string(),
        std::path::Path::new("test configuration"),
    )
    .expect("the test configuration is valid");
    let node = arbor_node::Node::build(&config, arbor_node::Role::Service)
        .await
        .expect("the node builds");
    let store = Arc::clone(node.state.discovery.store());
    let engine = node.recovery.clone();
    let expected = sources.len();
    let all_seen = wait_for(Duration::from_secs(20), || {
        let engine = engine.clone();
        async move {
            let snapshot = engine.latest_snapshot().await.ok()?;
            let records: Vec<_> = snapshot.topology.records().collect();
            (records.len() == expected && records.iter().all(|r| r.is_last_check_valid()))
                .then_some(())
        }
    })
    .await;
    if all_seen.is_none() {
        let records = store.all_instances().await.unwrap_or_default();
        let seen: Vec<String> = records
            .iter()
            .map(|r| {
                format!(
                    "{} valid={} error={:?}",
                    r.key(),
                    r.is_last_check_valid(),
                    r.last_error
                )
            })
            .collect();
        panic!("topology not discovered in 20 s: expected {expected} servers, saw {seen:#?}");
    }
    Harness {
        sandbox,
        store,
        engine,
        node,
    }
}

impl Harness {
    pub fn sql(&self, index: usize, sql: &str) -> String {
        self.sandbox.sql(index, sql).unwrap().trim().to_string()
    }

    pub fn status(&self, index: usize, column: &str) -> String {
        self.sandbox.replica_status_value(index, column).unwrap()
    }

    pub fn index_of(&self, key: &InstanceKey) -> usize {
        (0..self.sandbox.len())
            .find(|i| self.sandbox.port(*i) == key.port)
            .expect("a sandbox server")
    }

    /// Waits until `count` recoveries have finished, and returns them (oldest first).
    pub async fn finished_recoveries(
        &self,
        count: usize,
        deadline: Duration,
    ) -> Vec<RecoveryRecord> {
        let store = Arc::clone(&self.store);
        let mut records = wait_for(deadline, || {
            let store = Arc::clone(&store);
            async move {
                let records = store.recoveries(None, 50).await.ok()?;
                (records.len() >= count && records.iter().all(|r| !r.is_active)).then_some(records)
            }
        })
        .await
        .unwrap_or_else(|| panic!("{count} recoveries did not finish within {deadline:?}"));
        records.reverse();
        records
    }

    /// Waits up to `deadline` for arbor to analyse `key` as `matches` says; returns that
    /// analysis.
    pub async fn analysis_of(
        &self,
        key: &InstanceKey,
        deadline: Duration,
        matches: impl Fn(&arbor_analysis::Analysis) -> bool,
    ) -> Option<arbor_analysis::Analysis> {
        let matches = &matches;
        wait_for(deadline, || async move {
            let snapshot = self.engine.snapshot().await.ok()?;
            snapshot
                .analyses
                .iter()
                .find(|a| &a.key == key && matches(a))
                .cloned()
        })
        .await
    }

    /// A `mariadb` client running `sql` on server `index` over TCP as arbor's admin account,
    /// to spawn.
    pub fn admin_client(&self, index: usize, sql: &str) -> std::process::Command {
        self.sandbox
            .tcp_client(index, ADMIN_USER, ADMIN_PASSWORD, sql)
            .unwrap()
    }

    /// Gives `instance` a promotion rule for the next hour.
    pub async fn rule(&self, instance: &InstanceKey, rule: arbor_topology::PromotionRule) {
        self.store
            .register_candidate(
                instance,
                rule,
                arbor_topology::Timestamp::now().plus(Duration::from_secs(3600)),
            )
            .await
            .unwrap();
    }

    /// Waits (up to 30 s) until the first recovery finishes; returns it.
    pub async fn first_recovery(&self) -> RecoveryRecord {
        self.finished_recoveries(1, Duration::from_secs(30))
            .await
            .remove(0)
    }

    /// Waits until a detection of `code` on `key` is recorded: proof that arbor saw the failure.
    pub async fn detected(&self, key: &InstanceKey, code: &str) {
        let store = Arc::clone(&self.store);
        let found = wait_for(Duration::from_secs(20), || {
            let store = Arc::clone(&store);
            async move {
                let detections = store.detections(50).await.ok()?;
                detections
                    .iter()
                    .any(|d| &d.key == key && d.analysis == code)
                    .then_some(())
            }
        })
        .await;
        assert!(found.is_some(), "{code} on {key} detected");
    }

    pub fn wait_replicated(&self, index: usize, sql: &str, expected: &str) {
        for _ in 0..200 {
            if self.sql(index, sql) == expected {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server {index}: {sql} never gave {expected}");
    }
}

pub const ROWS: &str = "SELECT COUNT(*) FROM app.t";

pub fn create_table(h: &Harness) {
    h.sql(
        0,
        "CREATE DATABASE app; CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
    );
}

/// Writes `count` rows on server `index` and waits until `replicas` have them all.
pub fn write_rows(h: &Harness, index: usize, count: usize, replicas: &[usize]) -> u64 {
    for _ in 0..count {
        h.sql(index, "INSERT INTO app.t (v) VALUES (1)");
    }
    let total = h.sql(index, ROWS);
    for replica in replicas {
        h.wait_replicated(*replica, ROWS, &total);
    }
    total.parse().unwrap()
}

/// Holds a write lock on `app.t` on server `index` for `seconds`, so its SQL thread cannot
/// apply what it receives meanwhile.
pub fn hold_table_lock(h: &Harness, index: usize, seconds: u64) -> std::process::Child {
    h.sql(
        index,
        &format!("SET sql_log_bin = 0; GRANT LOCK TABLES, SELECT ON app.* TO '{ADMIN_USER}'@'%'"),
    );
    let child = h
        .admin_client(
            index,
            &format!("LOCK TABLES app.t WRITE; DO SLEEP({seconds}); UNLOCK TABLES"),
        )
        .spawn()
        .unwrap();
    // The lock is taken when the session shows up sleeping.
    for _ in 0..100 {
        if h.sql(
            index,
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'DO SLEEP%'",
        ) == "1"
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}
