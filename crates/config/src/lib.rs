//! arbor's configuration: one JSON object with orchestrator's PascalCase keys.
//!
//! An existing `orchestrator.conf.json` loads as it is. Every key orchestrator users commonly
//! set is parsed here, with orchestrator's default, even where the feature behind it comes in a
//! later arbor release, so that a config never loses a setting on the way in.
//!
//! Loading is strict about values and lenient about keys:
//! - a key arbor does not know produces a warning naming it, never an error (orchestrator
//!   silently ignored them; a warning catches typos without breaking migrations);
//! - a key spelled with other letter case is accepted, as Go's JSON decoder did, with a warning
//!   giving the canonical spelling;
//! - a value of the wrong type, or one that cannot work (a port out of range, `RaftEnabled`
//!   without `RaftDataDir`, an `HTTPAdvertise` without scheme or port, ...), is an error that
//!   names the key and the problem. All such problems are reported together.
//!
//! `${ENV_VAR}` inside the password keys expands from the environment.
//!
//! This crate reads one file and validates it; it does not watch or reload files.

mod inert;
mod keys;
mod orchestrator_keys;
mod reference;
mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arbor_topology::InstanceKey;
use serde_json::Value;

pub use inert::{not_implemented, orchestrator_only, NOT_IMPLEMENTED, ORCHESTRATOR_ONLY};
pub use keys::{Config, KeyDoc};
pub use reference::reference_markdown;
pub use value::IpRange;

/// A warning produced while loading; the config is still usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning(pub String);

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One key whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    pub key: String,
    pub problem: String,
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid JSON: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config file {path} must hold a JSON object of keys, not {found}")]
    NotAnObject { path: PathBuf, found: &'static str },
    #[error("invalid configuration in {path}:\n{}", display_problems(.problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<KeyProblem>,
    },
}

fn display_problems(problems: &[KeyProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// The keys the error is about, for tests and tooling.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            ConfigError::Invalid { problems, .. } => {
                problems.iter().map(|p| p.key.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Where arbor keeps its own state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite { path: PathBuf },
    MySql,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let (mut config, warnings) = Config::from_json_str(&text, path)?;
        let values = serde_json::from_str::<serde_json::Map<String, Value>>(&text)
            .map(|map| map.into_iter().collect())
            .unwrap_or_default();
        config.source = Some((path.to_path_buf(), values));
        Ok((config, warnings))
    }

    /// The keys whose values differ between this configuration's file as it was read and
    /// `other` (the same file read again): changed, added or removed, by name.
    pub fn changed_keys(&self, other: &Config) -> Vec<String> {
        let empty = std::collections::BTreeMap::new();
        let before = self.source.as_ref().map_or(&empty, |(_, values)| values);
        let after = other.source.as_ref().map_or(&empty, |(_, values)| values);
        let mut keys: Vec<String> = before
            .keys()
            .chain(after.keys())
            .filter(|key| before.get(*key) != after.get(*key))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Parses and validates config text; `origin` names it in messages.
    pub fn from_json_str(
        text: &str,
        origin: &Path,
    ) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        let Value::Object(map) = value else {
            return Err(ConfigError::NotAnObject {
                path: origin.to_path_buf(),
                found: value::describe_kind(&value),
            });
        };
        let mut config = Config::default();
        let mut warnings = Vec::new();
        let mut problems = Vec::new();
        let mut unknown = Vec::new();
        for (key, value) in &map {
            let canonical = match Config::canonical_key(key) {
                Some(canonical) => canonical,
                None => {
                    match inert::orchestrator_only(key) {
                        Some(why) => warnings.push(ConfigWarning(format!(
                            "{key} is accepted, not implemented: {why}"
                        ))),
                        None => unknown.push(key.clone()),
                    }
                    continue;
                }
            };
            if canonical != key {
                warnings.push(ConfigWarning(format!(
                    "config key {key} is spelled {canonical} by arbor and orchestrator; accepted"
                )));
            }
            if let Err(problem) = config.set_key(canonical, value) {
                problems.push(KeyProblem {
                    key: canonical.to_string(),
                    problem,
                });
            }
            config.explicitly_set.push(canonical);
        }
        for key in &config.explicitly_set {
            if let Some(why) = inert::not_implemented(key) {
                warnings.push(ConfigWarning(format!(
                    "{key} is accepted, not implemented: {why}"
                )));
            }
        }
        if config.authentication_method == "proxy"
            && config.power_auth_users.iter().any(|u| u == "*")
        {
            warnings.push(ConfigWarning(
                "AuthenticationMethod \"proxy\" with PowerAuthUsers [\"*\"] (orchestrator's default): \
                 every user your proxy names may change topologies; name the users who may in \
                 PowerAuthUsers"
                    .into(),
            ));
        }
        if !unknown.is_empty() {
            warnings.push(ConfigWarning(format!(
                "ignoring unknown config key{} {}",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", ")
            )));
        }
        // Validate even after type errors (a field that failed keeps its default), so that one
        // run reports every problem; a key already reported is not reported twice.
        config.apply_legacy_keys();
        for problem in config
            .expand_env_in_passwords()
            .into_iter()
            .chain(config.validate())
        {
            if !problems.iter().any(|known| known.key == problem.key) {
                problems.push(problem);
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: origin.to_path_buf(),
                problems,
            });
        }
        Ok((config, warnings))
    }

    fn is_set(&self, key: &str) -> bool {
        self.explicitly_set.contains(&key)
    }

    /// orchestrator's older spellings fill in the newer keys when those were not given.
    fn apply_legacy_keys(&mut self) {
        if !self.is_set("ReplicationLagQuery") && !self.slave_lag_query.is_empty() {
            self.replication_lag_query = self.slave_lag_query.clone();
        }
        if !self.is_set("DetachLostReplicasAfterMasterFailover")
            && self.is_set("DetachLostSlavesAfterMasterFailover")
        {
            self.detach_lost_replicas_after_master_failover =
                self.detach_lost_slaves_after_master_failover;
        }
        if !self.is_set("MasterFailoverDetachReplicaMasterHost")
            && self.is_set("MasterFailoverDetachSlaveMasterHost")
        {
            self.master_failover_detach_replica_master_host =
                self.master_failover_detach_slave_master_host;
        }
        if !self.is_set("PostponeReplicaRecoveryOnLagMinutes")
            && self.is_set("PostponeSlaveRecoveryOnLagMinutes")
        {
            self.postpone_replica_recovery_on_lag_minutes =
                self.postpone_slave_recovery_on_lag_minutes;
        }
        if !self.is_set("RecoveryPeriodBlockSeconds") && self.is_set("RecoveryPeriodBlockMinutes") {
            self.recovery_period_block_seconds = self.recovery_period_block_minutes * 60;
        }
    }

    fn expand_env_in_passwords(&mut self) -> Vec<KeyProblem> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("MySQLTopologyPassword", &mut self.mysql_topology_password),
            (
                "MySQLOrchestratorPassword",
                &mut self.mysql_orchestrator_password,
            ),
            ("HTTPAuthPassword", &mut self.http_auth_password),
            ("MySQLReplicaPassword", &mut self.mysql_replica_password),
        ] {
            match value::expand_env(value, |name| std::env::var(name).ok()) {
                Ok(expanded) => *value = expanded,
                Err(problem) => problems.push(KeyProblem {
                    key: key.to_string(),
                    problem,
                }),
            }
        }
        problems
    }

    fn validate(&self) -> Vec<KeyProblem> {
        let mut problems = Vec::new();
        let mut check = |key: &str, result: Result<(), String>| {
            if let Err(problem) = result {
                problems.push(KeyProblem {
                    key: key.to_string(),
                    problem,
                });
            }
        };
        check(
            "ListenAddress",
            parse_listen_address(&self.listen_address).map(|_| ()),
        );
        for (key, port) in [
            ("DefaultInstancePort", self.default_instance_port),
            ("MySQLOrchestratorPort", self.mysql_orchestrator_port),
            ("DefaultRaftPort", self.default_raft_port),
        ] {
            check(key, value::nonzero_port(port));
        }
        for (key, seconds) in [
            ("InstancePollSeconds", self.instance_poll_seconds),
            (
                "MySQLConnectTimeoutSeconds",
                self.mysql_connect_timeout_seconds,
            ),
            (
                "MySQLDiscoveryReadTimeoutSeconds",
                self.mysql_discovery_read_timeout_seconds,
            ),
            (
                "MySQLTopologyReadTimeoutSeconds",
                self.mysql_topology_read_timeout_seconds,
            ),
            ("DiscoveryMaxConcurrency", self.discovery_max_concurrency),
            ("DiscoveryQueueCapacity", self.discovery_queue_capacity),
        ] {
            check(key, value::at_least_one(seconds));
        }
        for (index, seed) in self.discovery_seeds.iter().enumerate() {
            check(
                "DiscoverySeeds",
                InstanceKey::parse_with_default_port(seed, self.default_instance_port)
                    .map(|_| ())
                    .map_err(|e| format!("entry {index} ({seed:?}): {e}")),
            );
        }
        for pattern in self.cluster_name_to_alias.keys() {
            check(
                "ClusterNameToAlias",
                regex::Regex::new(pattern)
                    .map(|_| ())
                    .map_err(|e| format!("pattern {pattern:?} is not a valid regex: {e}")),
            );
        }
        for (key, patterns) in [
            (
                "DiscoveryIgnoreHostnameFilters",
                &self.discovery_ignore_hostname_filters,
            ),
            (
                "DiscoveryIgnoreReplicaHostnameFilters",
                &self.discovery_ignore_replica_hostname_filters,
            ),
            (
                "DiscoveryIgnoreMasterHostnameFilters",
                &self.discovery_ignore_master_hostname_filters,
            ),
            (
                "RecoveryIgnoreHostnameFilters",
                &self.recovery_ignore_hostname_filters,
            ),
            (
                "PromotionIgnoreHostnameFilters",
                &self.promotion_ignore_hostname_filters,
            ),
        ] {
            for pattern in patterns {
                check(
                    key,
                    regex::Regex::new(pattern)
                        .map(|_| ())
                        .map_err(|e| format!("pattern {pattern:?} is not a valid regex: {e}")),
                );
            }
        }
        check("BackendDB", self.backend().map(|_| ()));
        check(
            "AuthenticationMethod",
            match self.authentication_method.as_str() {
                "" | "basic" | "multi" | "proxy" | "token" | "oauth" => Ok(()),
                other => Err(format!(
                    "unknown method {other:?}: expected \"\", \"basic\", \"multi\", \"proxy\", \"token\" or \"oauth\""
                )),
            },
        );
        if !self.http_advertise.is_empty() {
            check(
                "HTTPAdvertise",
                value::check_http_advertise(&self.http_advertise),
            );
        }
        if self.raft_enabled {
            if self.raft_data_dir.trim().is_empty() {
                check(
                    "RaftDataDir",
                    Err("required when RaftEnabled is true: the directory where this node keeps its Raft log".into()),
                );
            }
            check(
                "RaftBind",
                value::check_host_port(&self.raft_bind, self.default_raft_port),
            );
            if !self.raft_advertise.is_empty() {
                check(
                    "RaftAdvertise",
                    value::check_host_port(&self.raft_advertise, self.default_raft_port),
                );
            }
            if self.raft_heartbeat_interval_millis == 0
                || self.raft_election_timeout_millis <= self.raft_heartbeat_interval_millis
            {
                check(
                    "RaftElectionTimeoutMillis",
                    Err(format!(
                        "{} must be greater than RaftHeartbeatIntervalMillis ({}), which must be above 0",
                        self.raft_election_timeout_millis, self.raft_heartbeat_interval_millis
                    )),
                );
            }
            if self.raft_use_mutual_tls {
                for (key, file) in [
                    ("SSLCertFile", &self.ssl_cert_file),
                    ("SSLPrivateKeyFile", &self.ssl_private_key_file),
                    ("SSLCAFile", &self.ssl_ca_file),
                ] {
                    if file.trim().is_empty() {
                        check(key, Err("required when RaftUseMutualTLS is true".into()));
                    }
                }
            }
            for (index, node) in self.raft_nodes.iter().enumerate() {
                check(
                    "RaftNodes",
                    value::check_host_port(node, self.default_raft_port)
                        .map_err(|e| format!("entry {index}: {e}")),
                );
            }
        }
        self.check_tls_files(&mut check);
        self.check_kv_stores(&mut check);
        for (index, proxy) in self.trusted_proxies.iter().enumerate() {
            check(
                "TrustedProxies",
                IpRange::parse(proxy)
                    .map(|_| ())
                    .map_err(|e| format!("entry {index}: {e}")),
            );
        }
        if self.use_ssl {
            for (key, file) in [
                ("SSLCertFile", &self.ssl_cert_file),
                ("SSLPrivateKeyFile", &self.ssl_private_key_file),
            ] {
                if file.trim().is_empty() {
                    check(key, Err("required when UseSSL is true".into()));
                }
            }
        }
        if self.use_mutual_tls {
            if !self.use_ssl {
                check(
                    "UseMutualTLS",
                    Err("needs UseSSL: mutual TLS is TLS first".into()),
                );
            }
            if self.ssl_ca_file.trim().is_empty() {
                check(
                    "SSLCAFile",
                    Err(
                        "required when UseMutualTLS is true: the CA that signs client certificates"
                            .into(),
                    ),
                );
            }
        }
        for (key, pattern) in [
            ("DataCenterPattern", &self.data_center_pattern),
            ("RegionPattern", &self.region_pattern),
            (
                "PhysicalEnvironmentPattern",
                &self.physical_environment_pattern,
            ),
        ] {
            if !pattern.is_empty() {
                check(
                    key,
                    match regex::Regex::new(pattern) {
                        Ok(re) if re.captures_len() >= 2 => Ok(()),
                        Ok(_) => Err(format!(
                            "pattern {pattern:?} needs a group, (...), around the part of the host name to take"
                        )),
                        Err(e) => Err(format!("pattern {pattern:?} is not a valid regex: {e}")),
                    },
                );
            }
        }
        if self.primary_liveness_timeout_millis == 0 {
            check(
                "PrimaryLivenessTimeoutMillis",
                Err("must be above 0".into()),
            );
        }
        if self.fail_master_promotion_if_sql_thread_not_up_to_date
            && self.delay_master_promotion_if_sql_thread_not_up_to_date
        {
            check(
                "DelayMasterPromotionIfSQLThreadNotUpToDate",
                Err("cannot be true together with FailMasterPromotionIfSQLThreadNotUpToDate: choose one".into()),
            );
        }
        problems
    }

    /// The address `arbor serve` listens on. `:3000` means every interface, as in orchestrator.
    pub fn listen_socket_addr(&self) -> SocketAddr {
        parse_listen_address(&self.listen_address)
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 3000)))
    }

    /// `host:port` of a Raft address as configured (`DefaultRaftPort` when it has no port).
    pub fn raft_address(&self, address: &str) -> String {
        match arbor_topology::InstanceKey::parse_with_default_port(
            address.trim(),
            self.default_raft_port,
        ) {
            Ok(key) => key.to_string(),
            Err(_) => address.trim().to_string(),
        }
    }

    /// Where peers reach this node: `RaftAdvertise`, else `RaftBind`, as `host:port`.
    pub fn raft_advertise_address(&self) -> String {
        if self.raft_advertise.trim().is_empty() {
            self.raft_address(&self.raft_bind)
        } else {
            self.raft_address(&self.raft_advertise)
        }
    }

    /// `BackendDB` resolved: orchestrator defaulted to MySQL; arbor defaults to embedded
    /// SQLite unless the config names a MySQL backend host.
    pub fn backend(&self) -> Result<Backend, String> {
        let backend = self.backend_db.trim().to_ascii_lowercase();
        let sqlite = || Backend::Sqlite {
            path: PathBuf::from(if self.sqlite3_data_file.is_empty() {
                "arbor.sqlite3"
            } else {
                self.sqlite3_data_file.as_str()
            }),
        };
        match backend.as_str() {
            "" if self.mysql_orchestrator_host.is_empty() => Ok(sqlite()),
            "" | "mysql" => Ok(Backend::MySql),
            b if b.contains("sqlite") => Ok(sqlite()),
            other => Err(format!(
                "unknown backend {other:?}: expected \"sqlite\" or \"mysql\""
            )),
        }
    }

    pub fn instance_poll_interval(&self) -> Duration {
        Duration::from_secs(self.instance_poll_seconds)
    }

    /// The TLS files to MySQL servers: a certificate needs its key and a key its certificate,
    /// and each file given must be readable (checked when TLS to those servers may be used).
    /// The certificate files of each TLS client arbor runs, when it runs.
    fn check_tls_files(&self, check: &mut impl FnMut(&str, Result<(), String>)) {
        let sets = [
            (
                self.mysql_topology_use_mutual_tls || self.mysql_topology_use_mixed_tls,
                [
                    (
                        "MySQLTopologySSLCertFile",
                        &self.mysql_topology_ssl_cert_file,
                    ),
                    (
                        "MySQLTopologySSLPrivateKeyFile",
                        &self.mysql_topology_ssl_private_key_file,
                    ),
                    ("MySQLTopologySSLCAFile", &self.mysql_topology_ssl_ca_file),
                ],
            ),
            (
                self.mysql_orchestrator_use_mutual_tls,
                [
                    (
                        "MySQLOrchestratorSSLCertFile",
                        &self.mysql_orchestrator_ssl_cert_file,
                    ),
                    (
                        "MySQLOrchestratorSSLPrivateKeyFile",
                        &self.mysql_orchestrator_ssl_private_key_file,
                    ),
                    (
                        "MySQLOrchestratorSSLCAFile",
                        &self.mysql_orchestrator_ssl_ca_file,
                    ),
                ],
            ),
            (
                !self.etcd_address.trim().is_empty(),
                [
                    ("EtcdSSLCertFile", &self.etcd_ssl_cert_file),
                    ("EtcdSSLPrivateKeyFile", &self.etcd_ssl_private_key_file),
                    ("EtcdSSLCAFile", &self.etcd_ssl_ca_file),
                ],
            ),
        ];
        for (used, [cert, key, ca]) in sets {
            if !used {
                continue;
            }
            match (cert.1.trim().is_empty(), key.1.trim().is_empty()) {
                (false, true) => check(key.0, Err(format!("required with {}", cert.0))),
                (true, false) => check(cert.0, Err(format!("required with {}", key.0))),
                _ => {}
            }
            for (name, file) in [cert, key, ca] {
                let file = file.trim();
                if !file.is_empty() {
                    if let Err(error) = std::fs::metadata(file) {
                        check(name, Err(format!("cannot read {file}: {error}")));
                    }
                }
            }
        }
    }

    /// The key-value stores' settings that cannot work.
    fn check_kv_stores(&self, check: &mut impl FnMut(&str, Result<(), String>)) {
        check(
            "ConsulKVStoreProvider",
            match self.consul_kv_store_provider.trim() {
                "consul" | "consul-txn" => Ok(()),
                other => Err(format!(
                    "unknown provider {other:?}: expected \"consul\" or \"consul-txn\""
                )),
            },
        );
        check(
            "ConsulScheme",
            match self.consul_scheme.trim() {
                "http" | "https" => Ok(()),
                other => Err(format!("{other:?}: expected \"http\" or \"https\"")),
            },
        );
        if !(1..=64).contains(&self.consul_max_kvs_per_transaction) {
            check(
                "ConsulMaxKVsPerTransaction",
                Err(format!(
                    "{} is outside 1 to 64 (Consul's limit per transaction)",
                    self.consul_max_kvs_per_transaction
                )),
            );
        }
        if !self.zk_address.trim().is_empty() {
            for server in self.zk_address.split(',') {
                check("ZkAddress", value::check_host_port(server.trim(), 2181));
            }
        }
        if !self.consul_address.trim().is_empty() {
            check(
                "ConsulAddress",
                value::check_host_port(self.consul_address.trim(), 8500),
            );
        }
        if self.kv_stores_configured() && self.kv_cluster_master_prefix.trim_matches('/').is_empty()
        {
            check(
                "KVClusterMasterPrefix",
                Err("empty: the keys would sit at the root of the store".into()),
            );
        }
    }

    /// Whether any key-value store is configured (ZooKeeper, etcd or Consul).
    pub fn kv_stores_configured(&self) -> bool {
        [&self.zk_address, &self.etcd_address, &self.consul_address]
            .iter()
            .any(|address| !address.trim().is_empty())
    }

    /// How fresh a reading must be to vouch for a server: a poll interval plus
    /// `ReasonableInstanceCheckSeconds`.
    pub fn check_window(&self) -> Duration {
        self.instance_poll_interval() + Duration::from_secs(self.reasonable_instance_check_seconds)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.mysql_connect_timeout_seconds)
    }

    pub fn discovery_read_timeout(&self) -> Duration {
        Duration::from_secs(self.mysql_discovery_read_timeout_seconds)
    }

    pub fn reasonable_replication_lag(&self) -> Duration {
        Duration::from_secs(self.reasonable_replication_lag_seconds)
    }

    /// `DiscoverySeeds` as keys (validated at load).
    pub fn discovery_seed_keys(&self) -> Vec<InstanceKey> {
        self.discovery_seeds
            .iter()
            .filter_map(|seed| {
                InstanceKey::parse_with_default_port(seed, self.default_instance_port).ok()
            })
            .collect()
    }

    /// A matcher for `ClusterNameToAlias` (regex → alias; the first matching pattern in key
    /// order wins, so the result does not depend on hash order).
    pub fn cluster_alias_matcher(&self) -> ClusterAliasMatcher {
        ClusterAliasMatcher {
            patterns: self
                .cluster_name_to_alias
                .iter()
                .filter(|(pattern, _)| !pattern.is_empty())
                .filter_map(|(pattern, alias)| {
                    regex::Regex::new(pattern)
                        .ok()
                        .map(|re| (re, alias.clone()))
                })
                .collect(),
        }
    }
}

/// Compiled `ClusterNameToAlias`.
pub struct ClusterAliasMatcher {
    patterns: Vec<(regex::Regex, String)>,
}

impl ClusterAliasMatcher {
    pub fn alias_for(&self, cluster_name: &str) -> Option<String> {
        self.patterns
            .iter()
            .find(|(re, _)| re.is_match(cluster_name))
            .map(|(_, alias)| alias.clone())
    }
}

fn parse_listen_address(address: &str) -> Result<SocketAddr, String> {
    let address = address.trim();
    let with_host = if address.starts_with(':') {
        format!("0.0.0.0{address}")
    } else {
        address.to_string()
    };
    with_host.parse::<SocketAddr>().map_err(|_| {
        format!("{address:?} is not an address to listen on: expected \":PORT\" or \"IP:PORT\"")
    })
}

/// Keys and values as given, for `BTreeMap` fields.
pub type StringMap = BTreeMap<String, String>;

#[cfg(test)]
mod tests;
