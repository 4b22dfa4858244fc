//! `arbor serve`: assembles a node from the configuration, top to bottom.

use arbor_store::Intents;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use arbor_config::{Backend, Config, ConfigWarning};
use arbor_discovery::{Discovery, DiscoverySettings, IgnoreFilters};
use arbor_http::{AppState, AuthMethod, AuthSettings, Metrics, ViewSettings};
use arbor_mysql::{Operator, OperatorSettings, ProbeSettings, Prober};
use arbor_recovery::{Hooks, RecoveryEngine, RecoverySettings, SingleNode};
use arbor_refactor::{RefactorSettings, Refactorer};
use arbor_sandbox::{MariaDbSandbox, ADMIN_PASSWORD, ADMIN_USER};
use arbor_store::{SqliteStore, Store};

pub async fn serve(config_path: Option<&Path>) -> anyhow::Result<()> {
    let (config, warnings) = load_config(config_path)?;
    init_logging(config.debug);
    run_node(config, &warnings, None).await
}

/// `arbor demo`: a real MariaDB topology on loopback (P with replicas R1 and R2, R3 under R1),
/// and a node watching it with embedded defaults. Ctrl-C stops both.
pub async fn demo(config_path: Option<&Path>) -> anyhow::Result<()> {
    let (mut config, warnings) = load_config(config_path)?;
    init_logging(config.debug);
    eprintln!("arbor demo: starting 4 MariaDB servers on 127.0.0.1 ...");
    // Started on this (the main) thread, which lives as long as the demo: see
    // `MariaDbSandbox::start` on why the thread matters.
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0), Some(1)])
        .map_err(anyhow::Error::msg)
        .context("cannot start the demo topology (scripts/demo.sh installs MariaDB first)")?;
    let (_data, api, api_flag) = demo_config(
        &mut config,
        config_path.is_none(),
        (ADMIN_USER, ADMIN_PASSWORD),
        vec![sandbox.key(0)],
    )?;
    eprintln!(
        "\narbor demo: primary P {p}, replicas R1 {r1} and R2 {r2}, R3 {r3} under R1\n\
         \n  API       {api}/api/clusters-info\n\
         \n  try       arbor {api_flag}topology {p}\n\
         \x20           arbor {api_flag}instance {r3}\n\
         \x20           kill -9 {r1_pid}    (R1: watch it turn unreachable and R3 broken)\n\
         \n  Ctrl-C stops arbor and removes the demo servers.\n",
        p = sandbox.key(0),
        r1 = sandbox.key(1),
        r2 = sandbox.key(2),
        r3 = sandbox.key(3),
        r1_pid = sandbox.pid(1).unwrap_or(0),
    );
    let result = run_node(config, &warnings, None).await;
    drop(sandbox);
    result
}

/// `arbor demo`: three simulated clusters (MariaDB 10.11, MySQL 8.0, MySQL 8.4, each a primary
/// with two replicas and one replica below the first), arbor watching and recovering them with
/// embedded defaults, and `/demo/{kill,hang,revive}/PORT` on the API to inject faults. Needs no
/// database installed.
pub async fn demo_simulated(config_path: Option<&Path>) -> anyhow::Result<()> {
    use arbor_simfleet::{Flavor, Fleet};
    let (mut config, warnings) = load_config(config_path)?;
    init_logging(config.debug);
    let shape = [None, Some(0), Some(0), Some(1)];
    let mut fleets = Vec::new();
    for flavor in [Flavor::MariaDb1011, Flavor::MySql80, Flavor::MySql84] {
        fleets.push(
            Fleet::start(&shape, flavor)
                .await
                .context("cannot start the simulated fleet")?,
        );
    }
    let (_data, api, api_flag) = demo_config(
        &mut config,
        config_path.is_none(),
        ("arbor", "demo"),
        fleets.iter().map(|f| f.key(0)).collect(),
    )?;
    if config.recover_master_cluster_filters.is_empty() {
        config.recover_master_cluster_filters = vec!["*".into()];
        config.recover_intermediate_master_cluster_filters = vec!["*".into()];
    }
    let mut text = String::from(
        "\narbor demo: three simulated clusters on 127.0.0.1, recovered automatically\n",
    );
    for (fleet, name) in fleets
        .iter()
        .zip(["MariaDB 10.11", "MySQL 8.0", "MySQL 8.4"])
    {
        text.push_str(&format!(
            "\n  {name:<13} primary P {}, replicas {} and {}, {} under the first\n",
            fleet.key(0),
            fleet.key(1),
            fleet.key(2),
            fleet.key(3)
        ));
    }
    let first = &fleets[0];
    text.push_str(&format!(
        "\n  web UI    {api}/\n\n  try       arbor {api_flag}topology {p}\n{pad}curl -X POST {api}/demo/kill/{port}     (kill P: watch arbor fail it over)\n{pad}arbor {api_flag}audit-recovery\n{pad}curl -X POST {api}/demo/revive/{port}   (P back, now a lone server)\n\n  Ctrl-C stops arbor and the simulated fleet.\n",
        pad = " ".repeat(12),
        p = first.key(0),
        port = first.port(0),
    ));
    eprintln!("{text}");
    let fleets = Arc::new(fleets);
    let control = demo_control(Arc::clone(&fleets));
    let result = run_node(config, &warnings, Some(control)).await;
    drop(fleets);
    result
}

/// What both demos set: the servers' account and seeds, a throwaway SQLite store (the returned
/// dir, which must live as long as the demo), fast polls, and 127.0.0.1:3000 without a config
/// file. Returns the dir, the API's URL and the `--api` flag the printed commands need.
fn demo_config(
    config: &mut Config,
    default_address: bool,
    (user, password): (&str, &str),
    seeds: Vec<String>,
) -> anyhow::Result<(tempfile::TempDir, String, String)> {
    let data = tempfile::tempdir().context("cannot create a data dir for the demo")?;
    config.mysql_topology_user = user.to_string();
    config.mysql_topology_password = password.to_string();
    config.discovery_seeds = seeds;
    config.backend_db = "sqlite".to_string();
    config.sqlite3_data_file = data.path().join("arbor.sqlite3").display().to_string();
    config.instance_poll_seconds = config.instance_poll_seconds.min(2);
    if default_address {
        config.listen_address = "127.0.0.1:3000".to_string();
    }
    let api = format!("http://{}", config.listen_socket_addr()).replace("0.0.0.0", "127.0.0.1");
    let api_flag = if api == "http://127.0.0.1:3000" {
        String::new()
    } else {
        format!("--api {api} ")
    };
    Ok((data, api, api_flag))
}

/// `/demo/{kill,hang,revive}/PORT`: faults on a simulated instance, by its port.
fn demo_control(fleets: Arc<Vec<arbor_simfleet::Fleet>>) -> axum::Router {
    use arbor_simfleet::Health;
    use axum::extract::Path as UrlPath;
    use axum::http::StatusCode;
    let handler = move |UrlPath((action, port)): UrlPath<(String, u16)>| {
        let fleets = Arc::clone(&fleets);
        async move {
            let health = match action.as_str() {
                "kill" => Health::Dead,
                "hang" => Health::Hung,
                "revive" => Health::Up,
                _ => {
                    return (
                        StatusCode::NOT_FOUND,
                        "expected /demo/kill|hang|revive/PORT".to_string(),
                    )
                }
            };
            for fleet in fleets.iter() {
                if let Some(index) = (0..fleet.len()).find(|&i| fleet.port(i) == port) {
                    fleet.set_health(index, health);
                    return (StatusCode::OK, format!("{action}: 127.0.0.1:{port}\n"));
                }
            }
            (
                StatusCode::NOT_FOUND,
                format!("no simulated instance on port {port}\n"),
            )
        }
    };
    axum::Router::new().route("/demo/{action}/{port}", axum::routing::post(handler))
}

/// Assembles and runs one node until a shutdown signal; `extra` routes (the demo's) are served
/// beside the API.
async fn run_node(
    config: Config,
    warnings: &[ConfigWarning],
    extra: Option<axum::Router>,
) -> anyhow::Result<()> {
    for warning in warnings {
        tracing::warn!("{warning}");
    }

    // State first: a store that cannot open should stop us before anything is probed.
    let (local_store, shared_backend) = open_store(&config).await?;
    let node_name = node_name(&config);
    // Several nodes on one MySQL backend (without Raft): a lease row elects the one that acts.
    let lease = match (&shared_backend, config.raft_enabled) {
        (Some(backend), false) => {
            let lease = arbor_recovery::lease::LeaseElection::new(
                Arc::clone(backend),
                node_name.clone(),
                api_address(&config),
            );
            lease.renew().await;
            Some(lease)
        }
        _ => None,
    };
    // In Raft mode the rest of arbor writes intents through the log; the local store holds
    // what this node observes and what the log applied.
    let raft = if config.raft_enabled {
        let node = arbor_raft::RaftNode::start(raft_settings(&config)?, Arc::clone(&local_store))
            .await
            .context("cannot start Raft")?;
        tracing::info!(id = node.id(), advertise = %config.raft_advertise_address(), "joined the Raft group");
        Some(node)
    } else {
        None
    };
    let store = match &raft {
        Some(node) => node.store(),
        None => local_store,
    };
    // Maintenance locks this node held when it last stopped belong to a node that died. In
    // Raft mode this waits for a leader, so it runs aside.
    {
        let store = Arc::clone(&store);
        let node_name = node_name.clone();
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
                        return Ok::<(), arbor_store::StoreError>(());
                    }
                    Err(arbor_store::StoreError::Unavailable(_)) => {
                        tokio::time::sleep(Duration::from_secs(1)).await
                    }
                    Err(error) => return Err(error),
                }
            }
        };
        if raft.is_some() || lease.is_some() {
            tokio::spawn(async move {
                if let Err(error) = release.await {
                    tracing::warn!(%error, "cannot release this node's old maintenance locks");
                }
            });
        } else {
            release
                .await
                .context("cannot release this node's old maintenance locks")?;
        }
    }

    // Discovery: polls every known instance and the configured seeds.
    let prober = Arc::new(Prober::new(probe_settings(&config)));
    let seeds = config.discovery_seed_keys();
    let discovery = Discovery::start(store, prober, discovery_settings(&config)?, &seeds)
        .await
        .context("cannot start discovery")?;

    // Failure detection and recovery: only this node acts (single node: always the leader).
    let recovery = recovery_engine(
        &config,
        &discovery,
        &node_name,
        match (&raft, &lease) {
            (Some(node), _) => Arc::new(crate::raft_glue::RaftLeads(node.clone())),
            (None, Some(lease)) => Arc::clone(lease) as Arc<dyn arbor_recovery::Leadership>,
            (None, None) => Arc::new(SingleNode),
        },
    )?;
    if let Some(lease) = &lease {
        // Only the lease holder polls: a follower's readings would overwrite the leader's in
        // the shared store. Followers keep their watch list current from the store.
        let gate = Arc::clone(lease);
        discovery.handle().set_polling_gate(Arc::new(move || {
            arbor_recovery::Leadership::is_leader(&*gate)
        }));
        tokio::spawn(Arc::clone(lease).run());
    }
    if let Some(node) = &raft {
        crate::raft_glue::join(node, discovery.handle(), &recovery);
    }
    let recovery_loop = recovery.start().await.context("cannot start recovery")?;

    // The HTTP API, with metrics fed by every probe.
    let mut state = app_state(
        &config,
        &discovery,
        recovery,
        &node_name,
        auth_settings(&config)?,
    );
    state.raft = raft.clone();
    state.lease = lease.clone();
    let address = config.listen_socket_addr();
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (ListenAddress)"))?;
    let router = match extra {
        Some(extra) => arbor_http::router(state).merge(extra),
        None => arbor_http::router(state),
    };
    match tls_settings(&config) {
        Some(tls) => {
            let tls_config = arbor_http::tls::server_config(&tls)?;
            tracing::info!(%address, seeds = seeds.len(), mutual_tls = tls.client_ca_file.is_some(), "arbor is serving https");
            arbor_http::tls::serve_tls(listener, router, tls_config, shutdown_signal()).await;
        }
        None => {
            tracing::info!(%address, seeds = seeds.len(), "arbor is serving");
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown_signal())
                .await
                .context("HTTP server failed")?;
        }
    }
    tracing::info!("shutting down");
    recovery_loop.abort();
    drop(discovery);
    if let Some(node) = raft {
        node.shutdown().await;
    }
    Ok(())
}

fn recovery_engine(
    config: &Config,
    discovery: &Discovery,
    node_name: &str,
    leadership: Arc<dyn arbor_recovery::Leadership>,
) -> anyhow::Result<RecoveryEngine> {
    let alias_matcher = Arc::new(config.cluster_alias_matcher());
    let alias_lookup: arbor_recovery::AliasLookup =
        Arc::new(move |name: &str| alias_matcher.alias_for(name));
    let audit_log = match config.audit_log_file.trim() {
        "" => None,
        path => Some(Arc::new(
            arbor_recovery::audit_log::AuditLog::open(Path::new(path))
                .with_context(|| format!("cannot open AuditLogFile {path}"))?,
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
) -> AppState {
    let refactor = Refactorer::new(
        Arc::clone(discovery.handle().store()),
        discovery.handle(),
        Operator::new(operator_settings(config)),
        RefactorSettings {
            node_name: node_name.to_string(),
            default_port: config.default_instance_port,
            use_super_read_only: config.use_super_read_only,
            replication_credentials: (!config.mysql_replica_user.is_empty()).then(|| {
                (
                    config.mysql_replica_user.clone(),
                    config.mysql_replica_password.clone(),
                )
            }),
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
        view: Arc::new(ViewSettings {
            reasonable_lag: config.reasonable_replication_lag(),
            check_window: config.instance_poll_interval()
                + Duration::from_secs(config.reasonable_instance_check_seconds),
            // Also the owner node of the maintenance locks taken through the API, which is why
            // it is the node's unique name and not only its host's.
            hostname: node_name.to_string(),
            candidate_expiry: Duration::from_secs(config.candidate_instance_expire_minutes * 60),
            url_prefix: arbor_http::normalize_url_prefix(&config.url_prefix),
            tls: config.use_ssl,
        }),
    }
}

/// `arbor --direct`: the API of a node assembled in this process, on a loopback port, with
/// the shared backend as its store and no background work (no polling, no automated
/// recovery): client commands then run against the backend and the MySQL servers without a
/// service, honouring the locks the services take. Returns the API's URL; the node lives as
/// long as the returned guard.
pub async fn direct(config_path: Option<&Path>) -> anyhow::Result<(String, DirectNode)> {
    let (config, warnings) = load_config(config_path)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if config.raft_enabled {
        bail!("--direct works with a shared MySQL backend; in Raft mode (RaftEnabled) send commands to any node's API instead");
    }
    if !matches!(config.backend(), Ok(Backend::MySql)) {
        bail!("--direct needs BackendDB \"mysql\" (the backend the services share); with SQLite, send commands to the service's API");
    }
    let (store, _) = open_store(&config).await?;
    let node_name = format!("cli-{}-{}", node_hostname(), std::process::id());
    let prober = Arc::new(Prober::new(probe_settings(&config)));
    let discovery = Discovery::start(store, prober, discovery_settings(&config)?, &[])
        .await
        .context("cannot start discovery")?;
    // The services poll; this process only probes what a command asks for.
    discovery.handle().set_polling_gate(Arc::new(|| false));
    let recovery = recovery_engine(&config, &discovery, &node_name, Arc::new(SingleNode))?;
    let state = app_state(
        &config,
        &discovery,
        recovery,
        &node_name,
        AuthSettings::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot open a loopback port for --direct")?;
    let url = format!(
        "http://{}{}",
        listener.local_addr()?,
        arbor_http::normalize_url_prefix(&config.url_prefix)
    );
    let router = arbor_http::router(state);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((
        url,
        DirectNode {
            _discovery: discovery,
            server,
        },
    ))
}

/// The in-process node of `--direct`, stopped when dropped.
pub struct DirectNode {
    _discovery: Discovery,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for DirectNode {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `arbor check-config`: the same loading as `serve`, without serving.
pub fn check_config(config_path: Option<&Path>) -> anyhow::Result<()> {
    let (config, warnings) = load_config(config_path)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    config.backend().map_err(anyhow::Error::msg)?;
    let inert = warnings
        .iter()
        .filter(|w| w.0.contains(" is accepted, not implemented: "))
        .count();
    if inert == 0 {
        println!(
            "configuration ok: {} key(s) known to arbor, {} warning(s)",
            Config::KEYS.len(),
            warnings.len()
        );
    } else {
        // Not "ok": some keys the file sets do nothing.
        println!(
            "configuration loads, but {inert} key(s) it sets are accepted and not implemented \
             (listed above); {} warning(s) in all",
            warnings.len()
        );
    }
    Ok(())
}

fn load_config(path: Option<&Path>) -> anyhow::Result<(Config, Vec<ConfigWarning>)> {
    match path {
        Some(path) => Ok(Config::load(path)?),
        None => Ok((Config::default(), Vec::new())),
    }
}

fn init_logging(debug: bool) {
    // openraft reports every unanswered heartbeat to a down member at ERROR; arbor logs the
    // Raft events that matter (leadership gained and lost) itself.
    let default = if debug {
        "debug,openraft=info"
    } else {
        "info,openraft=off"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a person at a terminal; logs collected by a supervisor stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

/// The store, and the MySQL backend when it is one (for the shared-backend lease).
async fn open_store(
    config: &Config,
) -> anyhow::Result<(Arc<dyn Store>, Option<Arc<arbor_store::MySqlStore>>)> {
    match config.backend().map_err(anyhow::Error::msg)? {
        Backend::Sqlite { path } => {
            let store = SqliteStore::open(&path)?;
            tracing::info!(path = %path.display(), "using SQLite store");
            // This node's readings are its own: kept in memory, persisted in batches. (A
            // shared MySQL backend is read through: other nodes write readings to it.)
            let store = arbor_store::MemoryStore::open(Arc::new(store))
                .await
                .context("cannot load the stored readings")?;
            Ok((Arc::new(store), None))
        }
        Backend::MySql => {
            if config.mysql_orchestrator_host.trim().is_empty() {
                bail!("BackendDB \"mysql\" needs MySQLOrchestratorHost (and MySQLOrchestratorDatabase, User, Password)");
            }
            let store = arbor_store::MySqlStore::open(&arbor_store::MySqlBackend {
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
            })
            .await?;
            tracing::info!(backend = %store.describe(), "using the MySQL backend");
            let store = Arc::new(store);
            Ok((Arc::clone(&store) as Arc<dyn Store>, Some(store)))
        }
    }
}

/// Where this node's API is reached from other nodes: `HTTPAdvertise`, else the listen
/// address (its host, or this machine's name when it listens on every interface).
fn api_address(config: &Config) -> String {
    if !config.http_advertise.is_empty() {
        return config.http_advertise.trim_end_matches('/').to_string();
    }
    let listen = config.listen_socket_addr();
    let scheme = if config.use_ssl { "https" } else { "http" };
    let host = if listen.ip().is_unspecified() {
        node_hostname()
    } else {
        listen.ip().to_string()
    };
    format!("{scheme}://{host}:{}", listen.port())
}

/// `UseSSL` and `UseMutualTLS` (their consistency is checked when the config loads).
fn tls_settings(config: &Config) -> Option<arbor_http::tls::TlsSettings> {
    config.use_ssl.then(|| arbor_http::tls::TlsSettings {
        cert_file: config.ssl_cert_file.clone().into(),
        key_file: config.ssl_private_key_file.clone().into(),
        client_ca_file: config
            .use_mutual_tls
            .then(|| config.ssl_ca_file.clone().into()),
    })
}

fn auth_settings(config: &Config) -> anyhow::Result<AuthSettings> {
    let method = AuthMethod::parse(&config.authentication_method).map_err(anyhow::Error::msg)?;
    if matches!(method, AuthMethod::Basic | AuthMethod::Multi) && config.http_auth_user.is_empty() {
        bail!(
            "AuthenticationMethod {:?} needs HTTPAuthUser",
            config.authentication_method
        );
    }
    Ok(AuthSettings {
        method,
        user: config.http_auth_user.clone(),
        password: config.http_auth_password.clone(),
        user_header: config.auth_user_header.clone(),
        power_users: config.power_auth_users.clone(),
        read_only: config.read_only,
    })
}

fn analysis_settings(config: &Config) -> arbor_analysis::AnalysisSettings {
    arbor_analysis::AnalysisSettings {
        reasonable_lag: config.reasonable_replication_lag(),
        recover_non_writeable_master: config.recover_non_writeable_master,
    }
}

fn operator_settings(config: &Config) -> OperatorSettings {
    OperatorSettings {
        user: config.mysql_topology_user.clone(),
        password: config.mysql_topology_password.clone(),
        connect_timeout: config.connect_timeout(),
        statement_timeout: Duration::from_secs(config.mysql_topology_read_timeout_seconds),
        default_port: config.default_instance_port,
    }
}

/// `N` minutes, or `None` for 0 (orchestrator's "off").
fn minutes(n: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(n * 60))
}

fn recovery_settings(
    config: &Config,
    alias_lookup: arbor_recovery::AliasLookup,
    node_name: &str,
    audit_log: &Option<Arc<arbor_recovery::audit_log::AuditLog>>,
) -> RecoverySettings {
    RecoverySettings {
        recover_master_cluster_filters: config.recover_master_cluster_filters.clone(),
        recover_intermediate_master_cluster_filters: config
            .recover_intermediate_master_cluster_filters
            .clone(),
        block_period: Duration::from_secs(config.recovery_period_block_seconds),
        detection_block: Duration::from_secs(config.failure_detection_period_block_minutes * 60),
        hooks: Hooks {
            on_failure_detection: config.on_failure_detection_processes.clone(),
            pre_failover: config.pre_failover_processes.clone(),
            post_master_failover: config.post_master_failover_processes.clone(),
            post_intermediate_master_failover: config
                .post_intermediate_master_failover_processes
                .clone(),
            post_failover: config.post_failover_processes.clone(),
            post_unsuccessful_failover: config.post_unsuccessful_failover_processes.clone(),
            pre_graceful_takeover: config.pre_graceful_takeover_processes.clone(),
            post_graceful_takeover: config.post_graceful_takeover_processes.clone(),
        },
        shell: config.processes_shell_command.clone(),
        hook_timeout: Duration::from_secs(config.processes_timeout_seconds.max(1)),
        apply_promotion: config.apply_mysql_promotion_after_master_failover,
        use_super_read_only: config.use_super_read_only,
        catch_up_timeout: Duration::from_secs(config.promotion_catch_up_timeout_seconds.max(1)),
        lost_downtime: Duration::from_secs(
            config.master_failover_lost_instances_downtime_minutes * 60,
        ),
        fail_if_not_caught_up: config.fail_master_promotion_if_sql_thread_not_up_to_date,
        delay_until_caught_up: config.delay_master_promotion_if_sql_thread_not_up_to_date,
        fail_promotion_on_lag: minutes(config.fail_master_promotion_on_lag_minutes),
        postpone_lagging: minutes(config.postpone_replica_recovery_on_lag_minutes),
        detach_lost_replicas: config.detach_lost_replicas_after_master_failover,
        detach_promoted_source: config.master_failover_detach_replica_master_host,
        rejoin_former_primary: config.rejoin_former_primary,
        liveness_timeout: Duration::from_millis(config.primary_liveness_timeout_millis),
        audit_log: audit_log.clone(),
        promotion_ignore_hostname_filters: config.promotion_ignore_hostname_filters.clone(),
        prevent_cross_data_center: config.prevent_cross_data_center_master_failover,
        prevent_cross_region: config.prevent_cross_region_master_failover,
        replication_credentials: (!config.mysql_replica_user.is_empty()).then(|| {
            (
                config.mysql_replica_user.clone(),
                config.mysql_replica_password.clone(),
            )
        }),
        replication_credentials_query: config.replication_credentials_query.clone(),
        analysis: analysis_settings(config),
        default_port: config.default_instance_port,
        alias_for_cluster_name: alias_lookup,
        node_name: node_name.to_string(),
        tick: Duration::from_secs(1),
        require_peer_agreement: config.expect_failure_analysis_concensus,
    }
}

fn probe_settings(config: &Config) -> ProbeSettings {
    ProbeSettings {
        user: config.mysql_topology_user.clone(),
        password: config.mysql_topology_password.clone(),
        connect_timeout: config.connect_timeout(),
        read_timeout: config.discovery_read_timeout(),
        default_port: config.default_instance_port,
        cluster_alias_query: config.detect_cluster_alias_query.clone(),
        location: arbor_mysql::LocationRules {
            data_center: location_rule(
                &config.data_center_pattern,
                &config.detect_data_center_query,
            ),
            region: location_rule(&config.region_pattern, &config.detect_region_query),
            physical_environment: location_rule(
                &config.physical_environment_pattern,
                &config.detect_physical_environment_query,
            ),
        },
    }
}

/// A location pattern (validated when the config loaded) and query.
fn location_rule(pattern: &str, query: &str) -> arbor_mysql::LocationRule {
    arbor_mysql::LocationRule::new(pattern, query).unwrap_or_default()
}

fn discovery_settings(config: &Config) -> anyhow::Result<DiscoverySettings> {
    Ok(DiscoverySettings {
        poll_interval: config.instance_poll_interval(),
        max_concurrency: config.discovery_max_concurrency as usize,
        queue_capacity: config.discovery_queue_capacity as usize,
        // The prober bounds itself by these; the margin only guards against a bug there.
        probe_deadline: config.connect_timeout() * 2
            + config.discovery_read_timeout() * 2
            + Duration::from_secs(1),
        write_batch_size: config.instance_write_buffer_size.max(1000) as usize,
        overrun_grace: Duration::from_secs(config.reasonable_instance_check_seconds),
        ignore: IgnoreFilters::new(
            &config.discovery_ignore_hostname_filters,
            &config.discovery_ignore_replica_hostname_filters,
            &config.discovery_ignore_master_hostname_filters,
        )
        .map_err(anyhow::Error::msg)?,
    })
}

/// This node's name in locks, the lease and the audit: its Raft address in Raft mode, its
/// hostname and API port on a shared backend (unique per node even when several share a
/// host), else its hostname.
fn node_name(config: &Config) -> String {
    if config.raft_enabled {
        config.raft_advertise_address()
    } else if matches!(config.backend(), Ok(Backend::MySql)) {
        // Several nodes may share a host; the API port tells them apart.
        format!("{}:{}", node_hostname(), config.listen_socket_addr().port())
    } else {
        node_hostname()
    }
}

fn raft_settings(config: &Config) -> anyhow::Result<arbor_raft::RaftSettings> {
    let advertise = config.raft_advertise_address();
    let api = if config.http_advertise.is_empty() {
        // orchestrator's rule: the Raft host with the API's port and scheme.
        let host = advertise
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or_else(|| advertise.clone());
        let scheme = if config.use_ssl { "https" } else { "http" };
        format!("{scheme}://{host}:{}", config.listen_socket_addr().port())
    } else {
        config.http_advertise.trim_end_matches('/').to_string()
    };
    let (heartbeat, election_min, election_max) = arbor_raft::RaftSettings::timers(
        config.raft_heartbeat_interval_millis,
        config.raft_election_timeout_millis,
    );
    Ok(arbor_raft::RaftSettings {
        data_dir: config.raft_data_dir.clone().into(),
        bind: config.raft_address(&config.raft_bind),
        advertise,
        nodes: config
            .raft_nodes
            .iter()
            .map(|node| config.raft_address(node))
            .collect(),
        api,
        heartbeat,
        election_timeout_min: election_min,
        election_timeout_max: election_max,
        write_timeout: Duration::from_secs(10),
        tls: raft_tls(config)?,
        snapshot_every: config.raft_snapshot_every_entries.max(1),
    })
}

/// `RaftUseMutualTLS`: the Raft port serves TLS demanding a certificate signed by `SSLCAFile`,
/// and this node calls the others with its own.
fn raft_tls(config: &Config) -> anyhow::Result<Option<arbor_raft::RaftTls>> {
    if !config.raft_use_mutual_tls {
        return Ok(None);
    }
    let server = arbor_http::tls::server_config(&arbor_http::tls::TlsSettings {
        cert_file: config.ssl_cert_file.clone().into(),
        key_file: config.ssl_private_key_file.clone().into(),
        client_ca_file: Some(config.ssl_ca_file.clone().into()),
    })
    .context("RaftUseMutualTLS")?;
    let client = arbor_client::tls_config(&arbor_client::ClientOptions {
        basic_auth: None,
        ca_file: Some(config.ssl_ca_file.clone().into()),
        client_identity: Some((
            config.ssl_cert_file.clone().into(),
            config.ssl_private_key_file.clone().into(),
        )),
    })
    .map_err(anyhow::Error::msg)
    .context("RaftUseMutualTLS")?;
    Ok(Some(arbor_raft::RaftTls {
        serve: Arc::new(move |listener, router| {
            let server = Arc::clone(&server);
            Box::pin(arbor_http::tls::serve_tls(
                listener,
                router,
                server,
                std::future::pending(),
            ))
        }),
        client,
    }))
}

fn node_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// `arbor simfleet`: a simulated fleet driven by commands on standard input.
pub async fn simfleet(topology: arbor_simfleet::Topology) -> anyhow::Result<()> {
    use arbor_simfleet::control;
    use tokio::io::AsyncBufReadExt;

    let fleet = arbor_simfleet::Fleet::from_topology(&topology)
        .await
        .context("cannot start the simulated fleet")?;
    use std::io::Write;

    // Whoever drives the fleet may stop reading its answers: the fleet goes on regardless.
    let say = |text: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}").and_then(|_| out.flush());
    };
    say(&format!("{}ready", control::listing(&fleet, &topology)));
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        match control::command(&fleet, &line) {
            Ok(true) => say("ok"),
            Ok(false) => break,
            Err(message) => say(&format!(
                "error: {message} (commands: {})",
                control::COMMANDS
            )),
        }
    }
    Ok(())
}
