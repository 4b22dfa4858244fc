//! An arbor node, assembled from its configuration in one place: the store (SQLite behind the
//! in-memory readings, or the shared MySQL backend), the leadership (single node, Raft or the
//! backend lease), discovery, recovery, refactoring and the HTTP API.
//!
//! `arbor serve`, `arbor demo`, `arbor --direct`, and the tests and benchmarks that run a
//! whole node in their process build it with [`Node::build`]; what differs between them is a
//! [`Role`], not a second copy of the wiring.

mod kv_glue;
mod raft_glue;
pub mod settings;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arbor_config::{Backend, Config};
use arbor_discovery::Discovery;
use arbor_http::{AppState, AuthSettings, Metrics, ViewSettings};
use arbor_mysql::{Operator, Prober};
use arbor_raft::{RaftNode, RaftStartError};
use arbor_recovery::lease::LeaseElection;
use arbor_recovery::{Leadership, RecoveryEngine, SingleNode};
use arbor_refactor::{RefactorSettings, Refactorer};
use arbor_store::{Intents, MySqlStore, SqliteStore, Store, StoreError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use raft_glue::RaftLeads;
use settings::*;

/// Why a node could not be built or served: each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A configuration value that cannot work (it names the key).
    #[error("{0}")]
    Config(String),
    #[error("cannot open the store: {0}")]
    Store(StoreError),
    #[error("cannot load the stored readings: {0}")]
    Readings(StoreError),
    #[error("cannot release this node's old maintenance locks: {0}")]
    Locks(StoreError),
    #[error("cannot start Raft: {0}")]
    Raft(#[from] RaftStartError),
    #[error("cannot start discovery: {0}")]
    Discovery(StoreError),
    #[error("cannot start recovery: {0}")]
    Recovery(StoreError),
    #[error("cannot open AuditLogFile {path}: {message}")]
    AuditLog { path: String, message: String },
    #[error("{key}: {message}")]
    Tls { key: &'static str, message: String },
    #[error("cannot listen on {address} (ListenAddress): {message}")]
    Listen { address: String, message: String },
    #[error("HTTP server failed: {0}")]
    Serve(String),
}

/// What the node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A service: polls, detects, recovers, and answers the API.
    Service,
    /// `arbor --direct`: the API over the shared backend for one command, without background
    /// work (no polling, no automated recovery); the services do that.
    Direct,
}

/// A running node. Dropping it stops its background work (discovery, recovery, the lease);
/// [`Node::shutdown`] also leaves the Raft group cleanly.
pub struct Node {
    pub state: AppState,
    pub discovery: Discovery,
    pub recovery: RecoveryEngine,
    pub raft: Option<RaftNode>,
    pub lease: Option<Arc<LeaseElection>>,
    recovery_loop: Option<JoinHandle<()>>,
    /// The lease's renewals and the share's liveness tracking.
    tasks: Vec<JoinHandle<()>>,
    config: Config,
}

impl Node {
    /// Opens the store, joins the HA group the configuration names, and starts discovery and
    /// (for a service) recovery. Needs a tokio runtime.
    pub async fn build(config: &Config, role: Role) -> Result<Node, NodeError> {
        if role == Role::Direct {
            if config.raft_enabled {
                return Err(NodeError::Config(
                    "--direct works with a shared MySQL backend; in Raft mode (RaftEnabled) \
                     send commands to any node's API instead"
                        .into(),
                ));
            }
            if !matches!(config.backend(), Ok(Backend::MySql)) {
                return Err(NodeError::Config(
                    "--direct needs BackendDB \"mysql\" (the backend the services share); with \
                     SQLite, send commands to the service's API"
                        .into(),
                ));
            }
        }
        // State first: a store that cannot open should stop us before anything is probed.
        let (local_store, shared_backend) = open_store(config).await?;
        let node_name = match role {
            Role::Service => node_name(config),
            Role::Direct => format!("cli-{}-{}", node_hostname(), std::process::id()),
        };
        // Several nodes on one MySQL backend (without Raft): a lease row elects the one that
        // acts. `--direct` never leads: it acts on a command, under the services' locks.
        let lease = match (&shared_backend, config.raft_enabled, role) {
            (Some(backend), false, Role::Service) => {
                let lease =
                    LeaseElection::new(Arc::clone(backend), node_name.clone(), api_address(config));
                lease.renew().await;
                Some(lease)
            }
            _ => None,
        };
        // In Raft mode the rest of arbor writes intents through the log; the local store holds
        // what this node observes and what the log applied.
        let raft = if config.raft_enabled {
            let node = RaftNode::start(raft_settings(config)?, Arc::clone(&local_store)).await?;
            tracing::info!(id = node.id(), advertise = %config.raft_advertise_address(), "joined the Raft group");
            Some(node)
        } else {
            None
        };
        let store = match &raft {
            Some(node) => node.store(),
            None => local_store,
        };
        if role == Role::Service {
            release_old_locks(&store, &node_name, raft.is_some() || lease.is_some()).await?;
        }

        // Discovery: polls every known instance and the configured seeds.
        let prober = Arc::new(Prober::new(probe_settings(config)));
        let seeds = match role {
            Role::Service => config.discovery_seed_keys(),
            Role::Direct => Vec::new(),
        };
        let discovery = Discovery::start(store, prober, discovery_settings(config)?, &seeds)
            .await
            .map_err(NodeError::Discovery)?;

        // Failure detection and recovery: only the leader acts (a single node always leads).
        let leadership: Arc<dyn Leadership> = match (&raft, &lease) {
            (Some(node), _) => Arc::new(RaftLeads(node.clone())),
            (None, Some(lease)) => Arc::clone(lease) as Arc<dyn Leadership>,
            (None, None) => Arc::new(SingleNode),
        };
        let recovery = recovery_engine(config, &discovery, &node_name, Arc::clone(&leadership))?;
        let mut tasks = Vec::new();
        // The key-value stores hear of every new primary: from recovery at once, and from
        // discovery (a service only; `--direct` publishes on request).
        let kv = kv_glue::publisher(config, leadership)?;
        if role == Role::Service {
            tasks.extend(kv_glue::follow(&kv, &recovery, config.check_window()));
        }
        match (role, &lease) {
            // The services poll; this process only probes what a command asks for.
            (Role::Direct, _) => discovery.handle().set_polling_gate(Arc::new(|| false)),
            (Role::Service, Some(lease)) => {
                if config.share_probing_across_nodes {
                    tasks.push(share_with_backend_nodes(
                        &discovery.handle(),
                        lease,
                        &node_name,
                    ));
                } else {
                    // Only the lease holder polls: a follower's readings would overwrite the
                    // leader's in the shared store. Followers keep their watch list current
                    // from the store.
                    let gate = Arc::clone(lease);
                    discovery
                        .handle()
                        .set_polling_gate(Arc::new(move || gate.is_leader()));
                }
                tasks.push(tokio::spawn(Arc::clone(lease).run()));
            }
            (Role::Service, None) => {}
        }
        if let Some(node) = &raft {
            raft_glue::join(node, discovery.handle(), &recovery);
            if config.share_probing_across_nodes && role == Role::Service {
                tasks.push(raft_glue::share_probing(node, &discovery.handle()));
            }
        }
        let recovery_loop = match role {
            Role::Service => Some(recovery.start().await.map_err(NodeError::Recovery)?),
            Role::Direct => None,
        };

        // The HTTP API, with metrics fed by every probe.
        let auth = match role {
            Role::Service => auth_settings(config)?,
            Role::Direct => AuthSettings::default(),
        };
        let mut state = app_state(config, &discovery, recovery.clone(), &node_name, auth, kv);
        state.raft = raft.clone();
        state.lease = lease.clone();
        Ok(Node {
            state,
            discovery,
            recovery,
            raft,
            lease,
            recovery_loop,
            tasks,
            config: config.clone(),
        })
    }

    /// The node's HTTP API (and web UI).
    pub fn router(&self) -> axum::Router {
        arbor_http::router(self.state.clone())
    }

    /// The node's name: the owner of the maintenance locks it takes, the `Token` in its status.
    pub fn name(&self) -> &str {
        &self.state.view.hostname
    }

    /// Serves the API over plain HTTP on a free loopback port, for the tests, benchmarks and
    /// demos that run a node in their process: the base URL (`http://127.0.0.1:PORT`), the
    /// route table, and the server task (abort it to stop serving).
    pub async fn serve_loopback(
        &self,
    ) -> Result<(String, Vec<arbor_http::RouteSpec>, JoinHandle<()>), NodeError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| NodeError::Listen {
                address: "127.0.0.1:0".into(),
                message: e.to_string(),
            })?;
        let address = listener.local_addr().map_err(|e| NodeError::Listen {
            address: "127.0.0.1:0".into(),
            message: e.to_string(),
        })?;
        let (router, specs) = arbor_http::router_with_specs(self.state.clone());
        let server = tokio::spawn(async move {
            arbor_http::serve::serve(listener, router, None, std::future::pending()).await;
        });
        Ok((format!("http://{address}"), specs, server))
    }

    /// Serves `router` on `ListenAddress` (https with `UseSSL`) until `shutdown` completes.
    pub async fn serve(
        &self,
        router: axum::Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let address = self.config.listen_socket_addr();
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| NodeError::Listen {
                address: address.to_string(),
                message: e.to_string(),
            })?;
        let seeds = self.config.discovery_seed_keys().len();
        match tls_settings(&self.config) {
            Some(tls) => {
                let tls_config =
                    arbor_http::tls::server_config(&tls).map_err(|e| NodeError::Tls {
                        key: "UseSSL",
                        message: e.to_string(),
                    })?;
                tracing::info!(%address, seeds, mutual_tls = tls.client_ca_file.is_some(), "arbor is serving https");
                arbor_http::serve::serve(listener, router, Some(tls_config), shutdown).await;
            }
            None => {
                tracing::info!(%address, seeds, "arbor is serving");
                arbor_http::serve::serve(listener, router, None, shutdown).await;
            }
        }
        Ok(())
    }

    /// Stops recovery, discovery and the Raft member.
    pub async fn shutdown(mut self) {
        self.stop_tasks();
        if let Some(node) = self.raft.take() {
            node.shutdown().await;
        }
    }

    fn stop_tasks(&mut self) {
        if let Some(recovery_loop) = &self.recovery_loop {
            recovery_loop.abort();
        }
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Discovery stops when its handle drops with the node.
        self.stop_tasks();
    }
}

/// Shares polling among the nodes of a shared backend: each polls its share of the instances
/// into the backend; the live nodes are those the backend heard from within
/// `ActiveNodeExpireSeconds`, re-read every second.
fn share_with_backend_nodes(
    discovery: &arbor_discovery::DiscoveryHandle,
    lease: &Arc<LeaseElection>,
    me: &str,
) -> JoinHandle<()> {
    let share = arbor_discovery::Share::new(me);
    discovery.set_share(share.clone());
    let lease = Arc::clone(lease);
    tokio::spawn(async move {
        loop {
            if let Ok(nodes) = lease.nodes().await {
                share.set_live(nodes.into_iter().filter(|n| n.active).map(|n| n.node));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// The store, and the MySQL backend when it is one (for the shared-backend lease).
async fn open_store(
    config: &Config,
) -> Result<(Arc<dyn Store>, Option<Arc<MySqlStore>>), NodeError> {
    match config.backend().map_err(NodeError::Config)? {
        Backend::Sqlite { path } => {
            let store = SqliteStore::open(&path).map_err(NodeError::Store)?;
            tracing::info!(path = %path.display(), "using SQLite store");
            // This node's readings are its own: kept in memory, persisted in batches. (A
            // shared MySQL backend is read through: other nodes write readings to it.)
            let store = arbor_store::MemoryStore::open(Arc::new(store))
                .await
                .map_err(NodeError::Readings)?;
            Ok((Arc::new(store), None))
        }
        Backend::MySql => {
            if config.mysql_orchestrator_host.trim().is_empty() {
                return Err(NodeError::Config(
                    "BackendDB \"mysql\" needs MySQLOrchestratorHost (and \
                     MySQLOrchestratorDatabase, User, Password)"
                        .into(),
                ));
            }
            let store = MySqlStore::open(&arbor_store::MySqlBackend {
                host: config.mysql_orchestrator_host.clone(),
                port: config.mysql_orchestrator_port,
                database: if config.mysql_orchestrator_database.is_empty() {
                    "orchestrator".into()
                } else {
                    config.mysql_orchestrator_database.clone()
                },
                user: config.mysql_orchestrator_user.clone(),
                password: config.mysql_orchestrator_password.clone(),
                max_connections: config.mysql_orchestrator_max_pool_connections.max(1) as usize,
                tls: backend_tls(config).map(|tls| tls.ssl_opts()),
            })
            .await
            .map_err(NodeError::Store)?;
            tracing::info!(backend = %store.describe(), "using the MySQL backend");
            let store = Arc::new(store);
            Ok((Arc::clone(&store) as Arc<dyn Store>, Some(store)))
        }
    }
}

/// Maintenance locks this node held when it last stopped belong to a node that died. In an HA
/// group this waits for a leader (or the backend), so it runs aside.
async fn release_old_locks(
    store: &Arc<dyn Store>,
    node_name: &str,
    in_group: bool,
) -> Result<(), NodeError> {
    let store = Arc::clone(store);
    let node_name = node_name.to_string();
    let release = async move {
        loop {
            match store.release_node_maintenance(&node_name).await {
                Ok(released) => {
                    if released > 0 {
                        tracing::warn!(
                            released,
                            "released maintenance locks left by this node's previous run"
                        );
                    }
                    return Ok(());
                }
                Err(StoreError::Unavailable(_)) => tokio::time::sleep(Duration::from_secs(1)).await,
                Err(error) => return Err(error),
            }
        }
    };
    if in_group {
        tokio::spawn(async move {
            if let Err(error) = release.await {
                tracing::warn!(%error, "cannot release this node's old maintenance locks");
            }
        });
        Ok(())
    } else {
        release.await.map_err(NodeError::Locks)
    }
}

fn recovery_engine(
    config: &Config,
    discovery: &Discovery,
    node_name: &str,
    leadership: Arc<dyn Leadership>,
) -> Result<RecoveryEngine, NodeError> {
    let alias_matcher = Arc::new(config.cluster_alias_matcher());
    let alias_lookup: arbor_recovery::AliasLookup =
        Arc::new(move |name: &str| alias_matcher.alias_for(name));
    let audit_log = match config.audit_log_file.trim() {
        "" => None,
        path => Some(Arc::new(
            arbor_recovery::audit_log::AuditLog::open(Path::new(path)).map_err(|e| {
                NodeError::AuditLog {
                    path: path.to_string(),
                    message: e.to_string(),
                }
            })?,
        )),
    };
    Ok(RecoveryEngine::new(
        Arc::clone(discovery.handle().store()),
        discovery.handle(),
        Operator::new(operator_settings(config)),
        recovery_settings(config, alias_lookup, node_name, &audit_log),
        leadership,
    ))
}

/// What every request handler shares; `raft` and `lease` are left for the caller to set.
fn app_state(
    config: &Config,
    discovery: &Discovery,
    recovery: RecoveryEngine,
    node_name: &str,
    auth: AuthSettings,
    kv: arbor_kv::Publisher,
) -> AppState {
    let refactor = Refactorer::new(
        Arc::clone(discovery.handle().store()),
        discovery.handle(),
        Operator::new(operator_settings(config)),
        RefactorSettings {
            node_name: node_name.to_string(),
            default_port: config.default_instance_port,
            use_super_read_only: config.use_super_read_only,
            replication_credentials: replication_credentials(config),
            replication_ssl: replication_ssl(config),
            ..RefactorSettings::default()
        },
    );
    let metrics = Arc::new(Metrics::new());
    discovery.handle().set_probe_observer(metrics.clone());
    AppState {
        discovery: discovery.handle(),
        auth: Arc::new(auth),
        metrics,
        recovery,
        refactor,
        raft: None,
        lease: None,
        forwarder: arbor_http::forwarding_client(),
        config: Arc::new(config.clone()),
        kv,
        view: Arc::new(ViewSettings {
            reasonable_lag: config.reasonable_replication_lag(),
            check_window: config.check_window(),
            // Also the owner node of the maintenance locks taken through the API, which is why
            // it is the node's unique name and not only its host's.
            hostname: node_name.to_string(),
            candidate_expiry: Duration::from_secs(config.candidate_instance_expire_minutes * 60),
            url_prefix: arbor_http::normalize_url_prefix(&config.url_prefix),
            tls: config.use_ssl,
            trusted_proxies: config
                .trusted_proxies
                .iter()
                .filter_map(|proxy| arbor_config::IpRange::parse(proxy).ok())
                .collect(),
            audit_page_size: config.audit_page_size.clamp(1, 10_000) as usize,
            require_post: config.require_post_for_changes,
            pool_expiry: Duration::from_secs(config.instance_pool_expiry_minutes * 60),
        }),
    }
}
