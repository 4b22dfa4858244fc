//! From configuration keys to each crate's settings: one pure function per crate, so that a
//! key's effect is found in one place.

use std::sync::Arc;
use std::time::Duration;

use arbor_config::{Backend, Config};
use arbor_discovery::{DiscoverySettings, IgnoreFilters};
use arbor_http::{AuthMethod, AuthSettings};
use arbor_mysql::{OperatorSettings, ProbeSettings};
use arbor_recovery::{Hooks, RecoverySettings};

use crate::NodeError;

/// Where this node's API is reached from other nodes: `HTTPAdvertise`, else the listen
/// address (its host, or this machine's name when it listens on every interface).
pub fn api_address(config: &Config) -> String {
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
pub fn tls_settings(config: &Config) -> Option<arbor_http::tls::TlsSettings> {
    config.use_ssl.then(|| arbor_http::tls::TlsSettings {
        cert_file: config.ssl_cert_file.clone().into(),
        key_file: config.ssl_private_key_file.clone().into(),
        client_ca_file: config
            .use_mutual_tls
            .then(|| config.ssl_ca_file.clone().into()),
    })
}

pub fn auth_settings(config: &Config) -> Result<AuthSettings, NodeError> {
    let method = AuthMethod::parse(&config.authentication_method).map_err(NodeError::Config)?;
    if matches!(method, AuthMethod::Basic | AuthMethod::Multi) && config.http_auth_user.is_empty() {
        return Err(NodeError::Config(format!(
            "AuthenticationMethod {:?} needs HTTPAuthUser",
            config.authentication_method
        )));
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

pub fn analysis_settings(config: &Config) -> arbor_analysis::AnalysisSettings {
    arbor_analysis::AnalysisSettings {
        reasonable_lag: config.reasonable_replication_lag(),
        recover_non_writeable_master: config.recover_non_writeable_master,
        enforce_exact_semi_sync: config.enforce_exact_semi_sync_replicas,
    }
}

pub fn operator_settings(config: &Config) -> OperatorSettings {
    OperatorSettings {
        user: config.mysql_topology_user.clone(),
        password: config.mysql_topology_password.clone(),
        connect_timeout: config.connect_timeout(),
        statement_timeout: Duration::from_secs(config.mysql_topology_read_timeout_seconds),
        default_port: config.default_instance_port,
        tls: topology_tls(config),
    }
}

/// `MySQLReplicaUser`/`MySQLReplicaPassword`, for links arbor makes.
pub fn replication_credentials(config: &Config) -> Option<(String, String)> {
    (!config.mysql_replica_user.is_empty()).then(|| {
        (
            config.mysql_replica_user.clone(),
            config.mysql_replica_password.clone(),
        )
    })
}

/// `MySQLReplicaSSL*`, for links arbor makes.
pub fn replication_ssl(config: &Config) -> Option<arbor_mysql::ReplicationSsl> {
    config
        .mysql_replica_ssl
        .then(|| arbor_mysql::ReplicationSsl {
            ca_file: config.mysql_replica_ssl_ca_file.trim().to_string(),
            cert_file: config.mysql_replica_ssl_cert_file.trim().to_string(),
            key_file: config.mysql_replica_ssl_private_key_file.trim().to_string(),
        })
}

/// TLS to the managed servers (`MySQLTopologyUseMutualTLS`, `...UseMixedTLS`, `...SSL*`).
pub fn topology_tls(config: &Config) -> arbor_mysql::Tls {
    let mode = if config.mysql_topology_use_mutual_tls {
        arbor_mysql::TlsMode::Always
    } else if config.mysql_topology_use_mixed_tls {
        arbor_mysql::TlsMode::WhenRequired
    } else {
        arbor_mysql::TlsMode::Off
    };
    arbor_mysql::Tls::new(arbor_mysql::TlsSettings {
        mode,
        ca_file: path(&config.mysql_topology_ssl_ca_file),
        cert_file: path(&config.mysql_topology_ssl_cert_file),
        key_file: path(&config.mysql_topology_ssl_private_key_file),
        skip_verify: config.mysql_topology_ssl_skip_verify,
        remember: config.instance_poll_interval() * config.tls_cache_ttl_factor.max(1) as u32,
    })
}

/// TLS to the MySQL backend (`MySQLOrchestratorUseMutualTLS`, `MySQLOrchestratorSSL*`).
pub fn backend_tls(config: &Config) -> Option<arbor_mysql::TlsSettings> {
    config
        .mysql_orchestrator_use_mutual_tls
        .then(|| arbor_mysql::TlsSettings {
            mode: arbor_mysql::TlsMode::Always,
            ca_file: path(&config.mysql_orchestrator_ssl_ca_file),
            cert_file: path(&config.mysql_orchestrator_ssl_cert_file),
            key_file: path(&config.mysql_orchestrator_ssl_private_key_file),
            skip_verify: config.mysql_orchestrator_ssl_skip_verify,
            remember: Duration::ZERO,
        })
}

fn path(text: &str) -> Option<std::path::PathBuf> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.into())
}

/// `N` minutes, or `None` for 0 (orchestrator's "off").
fn minutes(n: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(n * 60))
}

pub fn recovery_settings(
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
        recovery_ignore_hostname_filters: config.recovery_ignore_hostname_filters.clone(),
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
        replication_credentials: replication_credentials(config),
        replication_credentials_query: config.replication_credentials_query.clone(),
        replication_ssl: replication_ssl(config),
        analysis: analysis_settings(config),
        default_port: config.default_instance_port,
        alias_for_cluster_name: alias_lookup,
        node_name: node_name.to_string(),
        tick: Duration::from_secs(1),
        require_peer_agreement: config.expect_failure_analysis_concensus,
        recover_locked_semi_sync: config.recover_locked_semi_sync_master,
        co_master_must_promote_other: config.co_master_recovery_must_promote_other_co_master,
    }
}

pub fn probe_settings(config: &Config) -> ProbeSettings {
    ProbeSettings {
        user: config.mysql_topology_user.clone(),
        password: config.mysql_topology_password.clone(),
        connect_timeout: config.connect_timeout(),
        read_timeout: config.discovery_read_timeout(),
        default_port: config.default_instance_port,
        cluster_alias_query: config.detect_cluster_alias_query.clone(),
        semi_sync_priority_query: config.detect_semi_sync_enforced_query.clone(),
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
        tls: topology_tls(config),
    }
}

/// A location pattern (validated when the config loaded) and query.
fn location_rule(pattern: &str, query: &str) -> arbor_mysql::LocationRule {
    arbor_mysql::LocationRule::new(pattern, query).unwrap_or_default()
}

pub fn discovery_settings(config: &Config) -> Result<DiscoverySettings, NodeError> {
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
        .map_err(NodeError::Config)?,
    })
}

/// This node's name in locks, the lease and the audit: its Raft address in Raft mode, its
/// hostname and API port on a shared backend (unique per node even when several share a
/// host), else its hostname.
pub fn node_name(config: &Config) -> String {
    if config.raft_enabled {
        config.raft_advertise_address()
    } else if matches!(config.backend(), Ok(Backend::MySql)) {
        // Several nodes may share a host; the API port tells them apart.
        format!("{}:{}", node_hostname(), config.listen_socket_addr().port())
    } else {
        node_hostname()
    }
}

pub fn raft_settings(config: &Config) -> Result<arbor_raft::RaftSettings, NodeError> {
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
pub fn raft_tls(config: &Config) -> Result<Option<arbor_raft::RaftTls>, NodeError> {
    if !config.raft_use_mutual_tls {
        return Ok(None);
    }
    let server = arbor_http::tls::server_config(&arbor_http::tls::TlsSettings {
        cert_file: config.ssl_cert_file.clone().into(),
        key_file: config.ssl_private_key_file.clone().into(),
        client_ca_file: Some(config.ssl_ca_file.clone().into()),
    })
    .map_err(|e| NodeError::Tls {
        key: "RaftUseMutualTLS",
        message: e.to_string(),
    })?;
    let client = arbor_client::tls_config(&arbor_client::ClientOptions {
        basic_auth: None,
        ca_file: Some(config.ssl_ca_file.clone().into()),
        client_identity: Some((
            config.ssl_cert_file.clone().into(),
            config.ssl_private_key_file.clone().into(),
        )),
    })
    .map_err(|message| NodeError::Tls {
        key: "RaftUseMutualTLS",
        message,
    })?;
    Ok(Some(arbor_raft::RaftTls {
        serve: Arc::new(move |listener, router| {
            let server = Arc::clone(&server);
            Box::pin(arbor_http::serve::serve(
                listener,
                router,
                Some(server),
                std::future::pending(),
            ))
        }),
        client,
    }))
}

pub fn node_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}
