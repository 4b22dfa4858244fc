// Each test binary uses part of these helpers.
#![allow(dead_code)]

//! Shared by the API tests: an in-process arbor node (real discovery, real prober, SQLite in
//! memory) served on a free loopback port.

use std::sync::Arc;
use std::time::Duration;

use arbor_discovery::{Discovery, DiscoverySettings};
use arbor_http::{AppState, AuthSettings, Metrics, RouteSpec, ViewSettings};
use arbor_mysql::{ProbeSettings, Prober};
use arbor_store::{SqliteStore, Store};
use arbor_testkit::{ADMIN_PASSWORD, ADMIN_USER};

pub struct Node {
    pub base: String,
    pub specs: Vec<RouteSpec>,
    pub store: Arc<dyn Store>,
    _discovery: Discovery,
    server: tokio::task::JoinHandle<()>,
    engine_loop: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(engine_loop) = &self.engine_loop {
            engine_loop.abort();
        }
    }
}

pub async fn start_node(auth: AuthSettings) -> Node {
    start_node_with(auth, arbor_recovery::RecoverySettings::default(), false).await
}

/// Recovery settings for a node that recovers every cluster automatically, quickly.
pub fn automated_recovery() -> arbor_recovery::RecoverySettings {
    arbor_recovery::RecoverySettings {
        recover_master_cluster_filters: vec!["*".into()],
        recover_intermediate_master_cluster_filters: vec!["*".into()],
        replication_credentials: Some((
            arbor_testkit::REPL_USER.into(),
            arbor_testkit::REPL_PASSWORD.into(),
        )),
        tick: Duration::from_millis(200),
        node_name: "test-node".into(),
        ..arbor_recovery::RecoverySettings::default()
    }
}

/// A node with the given recovery settings; with `run_loop`, its automated recovery runs.
pub async fn start_node_with(
    auth: AuthSettings,
    recovery_settings: arbor_recovery::RecoverySettings,
    run_loop: bool,
) -> Node {
    start_node_full(auth, recovery_settings, run_loop, false).await
}

/// A node with `RequirePostForChanges` on.
pub async fn start_node_requiring_post() -> Node {
    start_node_full(
        AuthSettings::default(),
        arbor_recovery::RecoverySettings::default(),
        false,
        true,
    )
    .await
}

async fn start_node_full(
    auth: AuthSettings,
    recovery_settings: arbor_recovery::RecoverySettings,
    run_loop: bool,
    require_post: bool,
) -> Node {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let prober = Arc::new(Prober::new(ProbeSettings {
        user: ADMIN_USER.into(),
        password: ADMIN_PASSWORD.into(),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        default_port: 3306,
        cluster_alias_query: String::new(),
        ..Default::default()
    }));
    let discovery = Discovery::start(
        Arc::clone(&store),
        prober,
        DiscoverySettings {
            poll_interval: Duration::from_secs(1),
            ..DiscoverySettings::default()
        },
        &[],
    )
    .await
    .unwrap();
    let metrics = Arc::new(Metrics::new());
    discovery.handle().set_probe_observer(metrics.clone());
    let recovery = arbor_recovery::RecoveryEngine::new(
        Arc::clone(&store),
        discovery.handle(),
        arbor_mysql::Operator::new(arbor_mysql::OperatorSettings {
            user: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
            connect_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(30),
            default_port: 3306,
            tls: Default::default(),
        }),
        recovery_settings,
        Arc::new(arbor_recovery::SingleNode),
    );
    let engine_loop = if run_loop {
        Some(recovery.start().await.unwrap())
    } else {
        None
    };
    let refactor = arbor_refactor::Refactorer::new(
        Arc::clone(&store),
        discovery.handle(),
        arbor_mysql::Operator::new(arbor_mysql::OperatorSettings {
            user: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
            connect_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(30),
            default_port: 3306,
            tls: Default::default(),
        }),
        arbor_refactor::RefactorSettings {
            replication_credentials: Some((
                arbor_testkit::REPL_USER.into(),
                arbor_testkit::REPL_PASSWORD.into(),
            )),
            ..arbor_refactor::RefactorSettings::default()
        },
    );
    let state = AppState {
        recovery,
        refactor,
        discovery: discovery.handle(),
        view: Arc::new(ViewSettings {
            reasonable_lag: Duration::from_secs(10),
            check_window: Duration::from_secs(2),
            hostname: "test-node".into(),
            candidate_expiry: Duration::from_secs(3600),
            url_prefix: String::new(),
            tls: false,
            trusted_proxies: Vec::new(),
            audit_page_size: 20,
            require_post,
            kv_prefix: "mysql/master".into(),
            pool_expiry: Duration::from_secs(3600),
            kv_stores: Vec::new(),
        }),
        auth: Arc::new(auth),
        metrics,
        raft: None,
        lease: None,
        forwarder: arbor_http::forwarding_client(),
        config: Arc::new(arbor_config::Config::default()),
    };
    let (router, specs) = arbor_http::router_with_specs(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        arbor_http::serve::serve(listener, router, None, std::future::pending()).await;
    });
    Node {
        base,
        specs,
        store,
        _discovery: discovery,
        server,
        engine_loop,
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
        let store = Arc::clone(&served.node.store);
        let expected = served.sandbox.len();
        arbor_testkit::wait_for(Duration::from_secs(20), || {
            let store = Arc::clone(&store);
            async move {
                let records = store.all_instances().await.ok()?;
                (records.len() == expected && records.iter().all(|r| r.is_last_check_valid()))
                    .then_some(())
            }
        })
        .await
        .expect("every server discovered");
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

    /// Runs SQL on server `index` as the admin; its output, trimmed.
    pub fn sql(&self, index: usize, sql: &str) -> String {
        self.sandbox.sql(index, sql).unwrap().trim().to_string()
    }
}
