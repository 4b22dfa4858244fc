// Each test binary uses part of these helpers.
#![allow(dead_code)]

//! Shared by the API tests: an arbor node built the way `arbor serve` builds it
//! (`arbor_node::Node::build`: real discovery, real prober, SQLite in memory, the recovery loop)
//! and served on a free loopback port.

pub mod haproxy;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arbor_config::Config;
use arbor_http::RouteSpec;
use arbor_store::Store;
use arbor_testkit::{ADMIN_PASSWORD, ADMIN_USER};
use serde_json::{json, Value};

pub struct Node {
    pub base: String,
    pub specs: Vec<RouteSpec>,
    pub store: Arc<dyn Store>,
    pub node: arbor_node::Node,
    server: tokio::task::JoinHandle<()>,
}

impl Node {
    /// The node's name: its status `Token`, the owner of the locks it takes.
    pub fn name(&self) -> &str {
        self.node.name()
    }

    /// Waits (20 s at most) until the API lists `expected` servers, each read successfully:
    /// what a user checks after discovering a topology (the API reads a snapshot that may be
    /// a moment behind the store).
    pub async fn wait_until_serving(&self, expected: usize) {
        let client = http();
        let url = format!("{}/api/all-instances", self.base);
        arbor_testkit::wait_for(Duration::from_secs(20), || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let all: Vec<Value> = client.get(url).send().await.ok()?.json().await.ok()?;
                (all.len() == expected && all.iter().all(|i| i["IsLastCheckValid"] == true))
                    .then_some(())
            }
        })
        .await
        .expect("the API lists every server");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The configuration every test node starts from, in the keys a user writes: SQLite in
/// memory, the test kit's admin user for the servers, polling every second, no automated
/// recovery.
pub fn config() -> Value {
    json!({
        "BackendDB": "sqlite",
        "SQLite3DataFile": ":memory:",
        "MySQLTopologyUser": ADMIN_USER,
        "MySQLTopologyPassword": ADMIN_PASSWORD,
        "MySQLDiscoveryReadTimeoutSeconds": 5,
        "MySQLTopologyReadTimeoutSeconds": 30,
        "InstancePollSeconds": 1,
    })
}

/// `base` with the keys of `more` set (added or replaced).
pub fn with(mut base: Value, more: Value) -> Value {
    let (Some(base_keys), Value::Object(more)) = (base.as_object_mut(), more) else {
        panic!("configurations are JSON objects");
    };
    base_keys.extend(more);
    base
}

/// A node that can repoint replicas (the test kit's replication user) but recovers nothing by
/// itself.
pub fn replication_without_automated_recovery() -> Value {
    with(
        config(),
        json!({
            "MySQLReplicaUser": arbor_testkit::REPL_USER,
            "MySQLReplicaPassword": arbor_testkit::REPL_PASSWORD,
        }),
    )
}

/// A node that recovers every cluster automatically.
pub fn automated_recovery() -> Value {
    with(
        replication_without_automated_recovery(),
        json!({
            "RecoverMasterClusterFilters": ["*"],
            "RecoverIntermediateMasterClusterFilters": ["*"],
        }),
    )
}

/// A node with the default test configuration.
pub async fn start_node() -> Node {
    start_node_with(config()).await
}

/// A node with `RequirePostForChanges` on.
pub async fn start_node_requiring_post() -> Node {
    start_node_with(with(config(), json!({"RequirePostForChanges": true}))).await
}

/// A node built from `config` (start from [`config`] or [`automated_recovery`]).
pub async fn start_node_with(config: Value) -> Node {
    let (config, _) = Config::from_json_str(&config.to_string(), Path::new("test configuration"))
        .expect("the test configuration is valid");
    let node = arbor_node::Node::build(&config, arbor_node::Role::Service)
        .await
        .expect("the node builds");
    let (base, specs, server) = node.serve_loopback().await.expect("the node serves");
    Node {
        base,
        specs,
        store: Arc::clone(node.state.discovery.store()),
        node,
        server,
    }
}

pub fn http() -> reqwest::Client {
    arbor_http::tls::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A spec path with its parameters filled: `{host}`/`{port}` with `key`, `{hint}` with `hint`.
pub fn fill(path: &str, host: &str, port: u16, hint: &str) -> String {
    path.replace("{host}", host)
        .replace("{port}", &port.to_string())
        .replace("{instance}", &format!("{host}:{port}"))
        .replace("{hint}", hint)
        .replace("{code}", "503")
        .replace("{uid}", "test-uid")
        .replace("{rule}", "prefer")
        .replace("{owner}", "ops")
        .replace("{reason}", "testing")
        .replace("{duration}", "10m")
        .replace("{belowHost}", host)
        .replace("{belowPort}", &port.to_string())
        .replace("{seconds}", "0")
        .replace("{logFile}", "mysql-bin.000001")
        .replace("{id}", "1")
        .replace("{page}", "0")
        .replace("{candidateHost}", host)
        .replace("{candidatePort}", &port.to_string())
        .replace("{process}", "1")
        .replace("{pool}", "etl")
}

/// Real MariaDB servers (a test kit sandbox) watched by one node, addressed by their index in
/// the sandbox.
pub struct Served {
    pub sandbox: arbor_testkit::MariaDbSandbox,
    pub node: Node,
    pub client: reqwest::Client,
}

impl Served {
    /// Discovers from each of `seeds` and waits until the node has read every server.
    pub async fn watch(
        sandbox: arbor_testkit::MariaDbSandbox,
        node: Node,
        seeds: &[usize],
    ) -> Served {
        let served = Served {
            sandbox,
            node,
            client: http(),
        };
        for seed in seeds {
            let (status, body) = served
                .call(&format!("discover/{}", served.path(*seed)))
                .await;
            assert_eq!(status, 200, "{body}");
        }
        served.node.wait_until_serving(served.sandbox.len()).await;
        served
    }

    /// `host/port` of server `index`, as API paths take it.
    pub fn path(&self, index: usize) -> String {
        format!("127.0.0.1/{}", self.sandbox.port(index))
    }

    pub fn key(&self, index: usize) -> String {
        self.sandbox.key(index)
    }

    pub fn index_of(&self, key: &str) -> usize {
        (0..self.sandbox.len())
            .find(|i| self.sandbox.key(*i) == key)
            .unwrap_or_else(|| panic!("{key} is not a sandbox server"))
    }

    /// POSTs an API route; its status and body.
    pub async fn call(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(format!("{}/api/{path}", self.node.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// POSTs an API route that must succeed.
    pub async fn ok(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.call(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["Code"], "OK", "{path}: {body}");
        body
    }

    /// GETs a read-only route.
    pub async fn read(&self, path: &str) -> serde_json::Value {
        let response = self
            .client
            .get(format!("{}/api/{path}", self.node.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// The recovery of server `index`'s failure, once it has finished (waits up to 60 s):
    /// its `audit-recovery` record.
    #[allow(dead_code)] // not every test binary that shares this module recovers
    pub async fn finished_recovery_of(&self, index: usize) -> serde_json::Value {
        let port = self.sandbox.port(index);
        arbor_testkit::wait_for(std::time::Duration::from_secs(60), || async {
            let recoveries = self.read("audit-recovery").await;
            recoveries
                .as_array()?
                .iter()
                .find(|r| {
                    r["AnalysisEntry"]["AnalyzedInstanceKey"]["Port"] == port
                        && r["IsActive"] == false
                })
                .cloned()
        })
        .await
        .unwrap_or_else(|| panic!("no finished recovery of server {index} within 60 s"))
    }

    /// Runs SQL on server `index` as the admin; its output, trimmed.
    pub fn sql(&self, index: usize, sql: &str) -> String {
        self.sandbox.sql(index, sql).unwrap().trim().to_string()
    }
}
