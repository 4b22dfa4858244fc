//! The table of configuration keys: one line per key with its field, JSON spelling, type and
//! orchestrator's default. The macro derives the struct, its `Default`, and the key lookup, so a
//! key is declared exactly once.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::value::ConfigValue;

macro_rules! config_keys {
    ($( $(#[doc = $doc:literal])* $field:ident : $ty:ty = $key:literal => $default:expr; )*) => {
        /// arbor's configuration. Field docs give each key's meaning; the JSON key is
        /// orchestrator's spelling.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Config {
            $( $(#[doc = $doc])* #[doc = concat!("\n\nJSON key: `", $key, "`.")] pub $field: $ty, )*
            /// Keys the file gave explicitly (so legacy aliases only fill what was not set).
            pub(crate) explicitly_set: Vec<&'static str>,
            /// The file this configuration was read from, and its keys' values as written
            /// (`reload-configuration` compares a new reading with them).
            pub source: Option<(std::path::PathBuf, std::collections::BTreeMap<String, Value>)>,
        }

        impl Default for Config {
            fn default() -> Config {
                Config { $( $field: $default, )* explicitly_set: Vec::new(), source: None }
            }
        }

        impl Config {
            /// Every key arbor accepts, in orchestrator's spelling.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// Every key with the kind of value it holds, its documentation (the field's doc
            /// comment) and its default: the configuration reference is written from this.
            pub fn key_table() -> Vec<KeyDoc> {
                let defaults = Config::default();
                vec![$(KeyDoc {
                    key: $key,
                    kind: <$ty as ConfigValue>::KIND,
                    doc: concat!("" $(, $doc, "\n")*),
                    default: <$ty as ConfigValue>::to_json(&defaults.$field),
                }),*]
            }

            pub(crate) fn set_key(&mut self, key: &str, value: &Value) -> Result<(), String> {
                match key {
                    $( $key => { self.$field = <$ty as ConfigValue>::from_json(value)?; Ok(()) } )*
                    _ => Err(format!("unknown key {key}")),
                }
            }
        }
    };
}

/// One row of the key table.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyDoc {
    pub key: &'static str,
    /// `boolean`, `string`, `whole number`, `port`, `list of strings`, `object of strings`.
    pub kind: &'static str,
    /// The field's doc comment, one line per source line (empty when it has none).
    pub doc: &'static str,
    pub default: Value,
}

impl Config {
    /// The canonical spelling of a key, matched exactly or, as Go's decoder did,
    /// case-insensitively.
    pub fn canonical_key(key: &str) -> Option<&'static str> {
        Config::KEYS
            .iter()
            .find(|known| **known == key)
            .or_else(|| {
                Config::KEYS
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(key))
            })
            .copied()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

config_keys! {
    // --- HTTP service ---
    /// Address the HTTP API and UI listen on; `:3000` means every interface.
    listen_address: String = "ListenAddress" => ":3000".into();
    /// Unix socket to listen on instead of TCP (not yet supported by arbor).
    listen_socket: String = "ListenSocket" => String::new();
    /// Serve under a sub-path.
    url_prefix: String = "URLPrefix" => String::new();
    /// arbor: the reverse proxies (IP addresses or CIDR ranges) whose `X-Forwarded-Proto` and
    /// `X-Forwarded-Host` are believed (for the URLs arbor writes, e.g. the OpenAPI
    /// document's server). From anyone else they are ignored.
    trusted_proxies: Vec<String> = "TrustedProxies" => Vec::new();
    /// arbor: routes that change something answer only POST; GET gets 405 naming POST. Off by
    /// default, since orchestrator's client sends GET for everything.
    require_post_for_changes: bool = "RequirePostForChanges" => false;
    /// Where this node's API is reached when it is the leader: `scheme://host:port`.
    http_advertise: String = "HTTPAdvertise" => String::new();
    /// Verbose logging.
    debug: bool = "Debug" => false;
    enable_syslog: bool = "EnableSyslog" => false;

    // --- Managed servers ---
    /// User arbor connects to managed servers as.
    mysql_topology_user: String = "MySQLTopologyUser" => String::new();
    /// Its password; `${ENV_VAR}` expands.
    mysql_topology_password: String = "MySQLTopologyPassword" => String::new();
    mysql_topology_credentials_config_file: String = "MySQLTopologyCredentialsConfigFile" => String::new();
    /// TLS to every managed server.
    mysql_topology_use_mutual_tls: bool = "MySQLTopologyUseMutualTLS" => false;
    /// TLS to the managed servers that refuse plain text (`require_secure_transport`, or an
    /// account that `REQUIRE`s SSL); plain text to the others.
    mysql_topology_use_mixed_tls: bool = "MySQLTopologyUseMixedTLS" => true;
    /// Client certificate (PEM) for TLS to the managed servers; with the private key.
    mysql_topology_ssl_cert_file: String = "MySQLTopologySSLCertFile" => String::new();
    /// The private key (PEM) of `MySQLTopologySSLCertFile`.
    mysql_topology_ssl_private_key_file: String = "MySQLTopologySSLPrivateKeyFile" => String::new();
    /// The CA (PEM) that signs the managed servers' certificates; the only one trusted.
    mysql_topology_ssl_ca_file: String = "MySQLTopologySSLCAFile" => String::new();
    /// Accept any certificate from the managed servers.
    mysql_topology_ssl_skip_verify: bool = "MySQLTopologySSLSkipVerify" => false;
    /// A server found to require TLS is remembered as such for this many `InstancePollSeconds`.
    tls_cache_ttl_factor: u64 = "TLSCacheTTLFactor" => 100;
    /// Seconds to establish a connection to a managed server.
    mysql_connect_timeout_seconds: u64 = "MySQLConnectTimeoutSeconds" => 2;
    /// Seconds a discovery probe may wait for answers.
    mysql_discovery_read_timeout_seconds: u64 = "MySQLDiscoveryReadTimeoutSeconds" => 10;
    /// Seconds an operation (moves, recovery) may wait for answers.
    mysql_topology_read_timeout_seconds: u64 = "MySQLTopologyReadTimeoutSeconds" => 600;
    /// Port assumed when an instance is given without one.
    default_instance_port: u16 = "DefaultInstancePort" => 3306;

    // --- arbor's own state ---
    /// `sqlite` or `mysql`; empty means SQLite unless `MySQLOrchestratorHost` is set.
    backend_db: String = "BackendDB" => String::new();
    /// SQLite file for arbor's state.
    sqlite3_data_file: String = "SQLite3DataFile" => String::new();
    /// Host of the shared MySQL backend (`BackendDB` `mysql`); setting it alone selects that
    /// backend.
    mysql_orchestrator_host: String = "MySQLOrchestratorHost" => String::new();
    /// Port of the shared MySQL backend.
    mysql_orchestrator_port: u16 = "MySQLOrchestratorPort" => 3306;
    /// Database arbor keeps its state in on the shared MySQL backend (created and migrated by
    /// arbor).
    mysql_orchestrator_database: String = "MySQLOrchestratorDatabase" => String::new();
    /// User arbor connects to the shared MySQL backend as.
    mysql_orchestrator_user: String = "MySQLOrchestratorUser" => String::new();
    /// `${ENV_VAR}` expands.
    mysql_orchestrator_password: String = "MySQLOrchestratorPassword" => String::new();
    mysql_orchestrator_credentials_config_file: String = "MySQLOrchestratorCredentialsConfigFile" => String::new();
    /// TLS to the MySQL backend, with the `MySQLOrchestratorSSL*` files.
    mysql_orchestrator_use_mutual_tls: bool = "MySQLOrchestratorUseMutualTLS" => false;
    /// The private key (PEM) of `MySQLOrchestratorSSLCertFile`.
    mysql_orchestrator_ssl_private_key_file: String = "MySQLOrchestratorSSLPrivateKeyFile" => String::new();
    /// Client certificate (PEM) for TLS to the MySQL backend.
    mysql_orchestrator_ssl_cert_file: String = "MySQLOrchestratorSSLCertFile" => String::new();
    /// The CA (PEM) that signs the MySQL backend's certificate.
    mysql_orchestrator_ssl_ca_file: String = "MySQLOrchestratorSSLCAFile" => String::new();
    /// Accept any certificate from the MySQL backend.
    mysql_orchestrator_ssl_skip_verify: bool = "MySQLOrchestratorSSLSkipVerify" => false;
    /// Most connections a node keeps open to the MySQL backend.
    mysql_orchestrator_max_pool_connections: u64 = "MySQLOrchestratorMaxPoolConnections" => 128;
    mysql_orchestrator_read_timeout_seconds: u64 = "MySQLOrchestratorReadTimeoutSeconds" => 30;
    skip_orchestrator_database_update: bool = "SkipOrchestratorDatabaseUpdate" => false;
    panic_if_different_database_deploy: bool = "PanicIfDifferentDatabaseDeploy" => false;

    // --- Discovery ---
    /// Seconds between two probes of one instance.
    instance_poll_seconds: u64 = "InstancePollSeconds" => 5;
    /// Grace added to the poll interval before a reading counts as stale.
    reasonable_instance_check_seconds: u64 = "ReasonableInstanceCheckSeconds" => 1;
    /// `host:port` of servers to discover at start-up.
    discovery_seeds: Vec<String> = "DiscoverySeeds" => Vec::new();
    /// Probes running at once.
    discovery_max_concurrency: u64 = "DiscoveryMaxConcurrency" => 300;
    /// Most instances waiting to be probed.
    discovery_queue_capacity: u64 = "DiscoveryQueueCapacity" => 100_000;
    buffer_instance_writes: bool = "BufferInstanceWrites" => false;
    /// Most probe results written to the store in one transaction (at least 1,000: readings are
    /// always written in batches).
    instance_write_buffer_size: u64 = "InstanceWriteBufferSize" => 100;
    instance_flush_interval_milliseconds: u64 = "InstanceFlushIntervalMilliseconds" => 100;
    discover_by_show_slave_hosts: bool = "DiscoverByShowSlaveHosts" => false;
    /// Regexes on `host:port`: a matching server is never discovered, read or shown (`discover`
    /// names the key and pattern that refused it).
    discovery_ignore_hostname_filters: Vec<String> = "DiscoveryIgnoreHostnameFilters" => Vec::new();
    /// Regexes on `host:port`: the crawl does not follow a server's replicas that match
    /// (binlog-dump clients posing as replicas).
    discovery_ignore_replica_hostname_filters: Vec<String> = "DiscoveryIgnoreReplicaHostnameFilters" => Vec::new();
    /// Regexes on `host:port`: the crawl does not follow a replica up to a source that matches.
    discovery_ignore_master_hostname_filters: Vec<String> = "DiscoveryIgnoreMasterHostnameFilters" => Vec::new();
    hostname_resolve_method: String = "HostnameResolveMethod" => "default".into();
    mysql_hostname_resolve_method: String = "MySQLHostnameResolveMethod" => "@@hostname".into();
    unseen_instance_forget_hours: u64 = "UnseenInstanceForgetHours" => 240;
    skip_max_scale_check: bool = "SkipMaxScaleCheck" => true;
    /// Custom lag query (e.g. a heartbeat table).
    replication_lag_query: String = "ReplicationLagQuery" => String::new();
    /// Legacy spelling of `ReplicationLagQuery`.
    slave_lag_query: String = "SlaveLagQuery" => String::new();
    /// Above this lag a replica counts as lagging.
    reasonable_replication_lag_seconds: u64 = "ReasonableReplicationLagSeconds" => 10;
    reasonable_maintenance_replication_lag_seconds: u64 = "ReasonableMaintenanceReplicationLagSeconds" => 20;
    /// Query run on a primary whose result names its cluster.
    detect_cluster_alias_query: String = "DetectClusterAliasQuery" => String::new();
    /// Regex of cluster name to alias, used when `DetectClusterAliasQuery` gives none.
    cluster_name_to_alias: BTreeMap<String, String> = "ClusterNameToAlias" => BTreeMap::new();
    detect_cluster_domain_query: String = "DetectClusterDomainQuery" => String::new();
    detect_instance_alias_query: String = "DetectInstanceAliasQuery" => String::new();
    detect_promotion_rule_query: String = "DetectPromotionRuleQuery" => String::new();
    /// Regex on the host name whose first group is the server's data centre
    /// (`DetectDataCenterQuery` wins over it).
    data_center_pattern: String = "DataCenterPattern" => String::new();
    /// Regex on the host name whose first group is the server's region (`DetectRegionQuery`
    /// wins over it).
    region_pattern: String = "RegionPattern" => String::new();
    /// Regex on the host name whose first group is the server's physical environment.
    physical_environment_pattern: String = "PhysicalEnvironmentPattern" => String::new();
    /// Query run on each server (once per connection) whose first column is its data centre.
    detect_data_center_query: String = "DetectDataCenterQuery" => String::new();
    /// Query run on each server (once per connection) whose first column is its region.
    detect_region_query: String = "DetectRegionQuery" => String::new();
    /// Query run on each server (once per connection) whose first column is its physical
    /// environment.
    detect_physical_environment_query: String = "DetectPhysicalEnvironmentQuery" => String::new();
    /// Query run on every server each poll; its first column is the server's semi-sync
    /// priority: 0 keeps a replica asynchronous, higher ones are chosen first as acknowledgers
    /// (before promotion rules), and a new primary above 0 gets semi-sync's primary side on.
    detect_semi_sync_enforced_query: String = "DetectSemiSyncEnforcedQuery" => String::new();
    /// Query returning the replication user and password (run on a new primary), for
    /// pointing a former primary at it.
    replication_credentials_query: String = "ReplicationCredentialsQuery" => String::new();
    /// Replication user for servers arbor points at a new source (graceful takeover).
    mysql_replica_user: String = "MySQLReplicaUser" => String::new();
    /// Its password; `${ENV_VAR}` expands.
    mysql_replica_password: String = "MySQLReplicaPassword" => String::new();
    /// arbor: the replication links arbor makes (a demoted primary, a server that never
    /// replicated) use TLS (`MASTER_SSL=1`), with the files below (paths on the replica's host).
    /// Links arbor repoints keep their own TLS settings.
    mysql_replica_ssl: bool = "MySQLReplicaSSL" => false;
    /// arbor: the CA file for `MySQLReplicaSSL` links (`MASTER_SSL_CA`; a path on the replica's
    /// host).
    mysql_replica_ssl_ca_file: String = "MySQLReplicaSSLCAFile" => String::new();
    /// arbor: the client certificate for `MySQLReplicaSSL` links (`MASTER_SSL_CERT`; a path on
    /// the replica's host).
    mysql_replica_ssl_cert_file: String = "MySQLReplicaSSLCertFile" => String::new();
    /// arbor: the client key for `MySQLReplicaSSL` links (`MASTER_SSL_KEY`; a path on the
    /// replica's host).
    mysql_replica_ssl_private_key_file: String = "MySQLReplicaSSLPrivateKeyFile" => String::new();
    /// When arbor sets a server read-only it sets `super_read_only` too (MySQL; MariaDB has no
    /// such variable).
    use_super_read_only: bool = "UseSuperReadOnly" => false;
    max_concurrent_replica_operations: u64 = "MaxConcurrentReplicaOperations" => 5;

    // --- Recovery ---
    /// Clusters whose dead primary is recovered automatically: `*`, a regex on the cluster
    /// name, `alias=NAME` or `alias~=REGEX`. Empty: none (manual recovery still works).
    recover_master_cluster_filters: Vec<String> = "RecoverMasterClusterFilters" => Vec::new();
    /// Clusters whose dead intermediate primaries are recovered automatically (same forms as
    /// `RecoverMasterClusterFilters`).
    recover_intermediate_master_cluster_filters: Vec<String> = "RecoverIntermediateMasterClusterFilters" => Vec::new();
    /// Regexes on the host name: a failure of a matching server is never recovered
    /// automatically.
    recovery_ignore_hostname_filters: Vec<String> = "RecoveryIgnoreHostnameFilters" => Vec::new();
    /// Regexes on the host name: a matching replica is never promoted.
    promotion_ignore_hostname_filters: Vec<String> = "PromotionIgnoreHostnameFilters" => Vec::new();
    /// Anti-flapping: seconds after a recovery during which the cluster is not recovered again.
    recovery_period_block_seconds: u64 = "RecoveryPeriodBlockSeconds" => 3600;
    /// Legacy spelling, in minutes.
    recovery_period_block_minutes: u64 = "RecoveryPeriodBlockMinutes" => 60;
    /// A failure of the same server is recorded as a new detection (and
    /// `OnFailureDetectionProcesses` run again) only after this many minutes.
    failure_detection_period_block_minutes: u64 = "FailureDetectionPeriodBlockMinutes" => 60;
    /// Commands run when a failure is detected, before any recovery (orchestrator's
    /// `{placeholders}` and `ORC_*` variables).
    on_failure_detection_processes: Vec<String> = "OnFailureDetectionProcesses" => Vec::new();
    /// Commands run before a graceful takeover; one that fails aborts it.
    pre_graceful_takeover_processes: Vec<String> = "PreGracefulTakeoverProcesses" => Vec::new();
    /// Commands run before a recovery acts; one that fails aborts it.
    pre_failover_processes: Vec<String> = "PreFailoverProcesses" => Vec::new();
    /// Commands run after a successful recovery of a dead primary, once the new primary is
    /// published (a failed recovery runs `PostUnsuccessfulFailoverProcesses` instead).
    post_master_failover_processes: Vec<String> = "PostMasterFailoverProcesses" => Vec::new();
    /// Commands run after a successful recovery of a dead intermediate primary.
    post_intermediate_master_failover_processes: Vec<String> = "PostIntermediateMasterFailoverProcesses" => Vec::new();
    /// Commands run after every successful recovery, after the more specific `Post*` ones.
    post_failover_processes: Vec<String> = "PostFailoverProcesses" => Vec::new();
    /// Commands run after a recovery that failed.
    post_unsuccessful_failover_processes: Vec<String> = "PostUnsuccessfulFailoverProcesses" => Vec::new();
    /// Commands run after a graceful takeover.
    post_graceful_takeover_processes: Vec<String> = "PostGracefulTakeoverProcesses" => Vec::new();
    post_take_master_processes: Vec<String> = "PostTakeMasterProcesses" => Vec::new();
    /// The shell that runs every hook command (`SHELL -c COMMAND`).
    processes_shell_command: String = "ProcessesShellCommand" => "bash".into();
    /// arbor: seconds a hook may run before it is killed (orchestrator had no limit).
    processes_timeout_seconds: u64 = "ProcessesTimeoutSeconds" => 60;
    /// arbor: seconds a recovery waits for the promoted replica to apply what it received.
    promotion_catch_up_timeout_seconds: u64 = "PromotionCatchUpTimeoutSeconds" => 30;
    /// The promoted server gets `RESET SLAVE ALL` and `read_only=0`, the old primary
    /// `read_only=1`. Off: the promoted server only stops replicating and the hooks finish its
    /// promotion.
    apply_mysql_promotion_after_master_failover: bool = "ApplyMySQLPromotionAfterMasterFailover" => true;
    /// A failover promotes only a replica in the failed primary's data centre; with none there,
    /// it promotes nobody.
    prevent_cross_data_center_master_failover: bool = "PreventCrossDataCenterMasterFailover" => false;
    /// A failover promotes only a replica in the failed primary's region; with none there, it
    /// promotes nobody.
    prevent_cross_region_master_failover: bool = "PreventCrossRegionMasterFailover" => false;
    /// A chosen replica lagging this many minutes or more is not promoted (the recovery fails).
    /// 0: off.
    fail_master_promotion_on_lag_minutes: u64 = "FailMasterPromotionOnLagMinutes" => 0;
    /// A replica that has not applied its relay log within `PromotionCatchUpTimeoutSeconds` is
    /// not promoted; the recovery fails.
    fail_master_promotion_if_sql_thread_not_up_to_date: bool = "FailMasterPromotionIfSQLThreadNotUpToDate" => false;
    /// The promotion waits as long as the chosen replica takes to apply its relay log (failing
    /// only if its SQL thread stops with an error).
    delay_master_promotion_if_sql_thread_not_up_to_date: bool = "DelayMasterPromotionIfSQLThreadNotUpToDate" => false;
    /// After a failover, replicas it could not bring along get their source host rewritten to
    /// `//host` (detached), so they cannot reconnect to a primary that comes back.
    detach_lost_replicas_after_master_failover: bool = "DetachLostReplicasAfterMasterFailover" => true;
    /// Legacy spelling of `DetachLostReplicasAfterMasterFailover`.
    detach_lost_slaves_after_master_failover: bool = "DetachLostSlavesAfterMasterFailover" => true;
    /// After a failover, the promoted server's own link to the failed primary is detached
    /// (`//host`); matters when `ApplyMySQLPromotionAfterMasterFailover` is off.
    master_failover_detach_replica_master_host: bool = "MasterFailoverDetachReplicaMasterHost" => false;
    /// orchestrator's older spelling of `MasterFailoverDetachReplicaMasterHost`.
    master_failover_detach_slave_master_host: bool = "MasterFailoverDetachSlaveMasterHost" => false;
    /// After a failover, the failed primary and the replicas it could not bring along are
    /// downtimed (`lost-in-recovery`) for this many minutes. 0: off.
    master_failover_lost_instances_downtime_minutes: u64 = "MasterFailoverLostInstancesDowntimeMinutes" => 0;
    /// Replicas lagging this many minutes or more are repointed after the failover's hooks,
    /// so they do not delay the new primary's readiness. 0: off.
    postpone_replica_recovery_on_lag_minutes: u64 = "PostponeReplicaRecoveryOnLagMinutes" => 0;
    /// orchestrator's older spelling of `PostponeReplicaRecoveryOnLagMinutes`.
    postpone_slave_recovery_on_lag_minutes: u64 = "PostponeSlaveRecoveryOnLagMinutes" => 0;
    /// arbor: a former primary that comes back after its failover, holding nothing its
    /// successor lacks, is repointed below the current primary. Off: it is fenced (read-only,
    /// downtimed) and left for an operator.
    rejoin_former_primary: bool = "RejoinFormerPrimary" => false;
    /// arbor: how long a primary may leave a liveness check on arbor's held connection
    /// unanswered before arbor suspects it hangs and asks its replicas, in milliseconds.
    primary_liveness_timeout_millis: u64 = "PrimaryLivenessTimeoutMillis" => 1000;
    /// A dead co-primary is replaced by the other co-primary or not at all, whatever the
    /// promotion rules prefer.
    co_master_recovery_must_promote_other_co_master: bool = "CoMasterRecoveryMustPromoteOtherCoMaster" => true;
    /// A primary found read-only while replicas follow it (`NoWriteableMasterStructureWarning`)
    /// is made writable.
    recover_non_writeable_master: bool = "RecoverNonWriteableMaster" => false;
    /// A primary whose commits wait for semi-sync acknowledgements no connected replica gives
    /// (`LockedSemiSyncMaster`) gets acknowledgers: the replica side is turned on on enough
    /// replicas.
    recover_locked_semi_sync_master: bool = "RecoverLockedSemiSyncMaster" => false;
    /// A semi-sync primary has exactly the acknowledgers it waits for, the ones priority and
    /// promotion rules choose: extra or wrong ones are turned off after the right ones are on.
    enforce_exact_semi_sync_replicas: bool = "EnforceExactSemiSyncReplicas" => false;
    reasonable_locked_semi_sync_master_seconds: u64 = "ReasonableLockedSemiSyncMasterSeconds" => 0;
    /// How long a promotion rule set with `register-candidate` lasts, in minutes.
    candidate_instance_expire_minutes: u64 = "CandidateInstanceExpireMinutes" => 60;
    auto_pseudo_gtid: bool = "AutoPseudoGTID" => false;
    pseudo_gtid_pattern: String = "PseudoGTIDPattern" => String::new();
    detect_pseudo_gtid_query: String = "DetectPseudoGTIDQuery" => String::new();

    // --- Authentication and TLS of the API ---
    /// `""`, `basic`, `multi`, `proxy`, `token` or `oauth`.
    authentication_method: String = "AuthenticationMethod" => String::new();
    /// User of `AuthenticationMethod` `basic` and `multi` (with `HTTPAuthPassword`).
    http_auth_user: String = "HTTPAuthUser" => String::new();
    /// `${ENV_VAR}` expands.
    http_auth_password: String = "HTTPAuthPassword" => String::new();
    /// With `AuthenticationMethod` `proxy`: the request header in which the proxy names the
    /// user.
    auth_user_header: String = "AuthUserHeader" => "X-Forwarded-User".into();
    /// With `AuthenticationMethod` `proxy`: users allowed to change things (`*`: every user the
    /// proxy names).
    power_auth_users: Vec<String> = "PowerAuthUsers" => strings(&["*"]);
    power_auth_groups: Vec<String> = "PowerAuthGroups" => Vec::new();
    /// The whole service refuses changes.
    read_only: bool = "ReadOnly" => false;
    /// Serve the API over https (`SSLCertFile`, `SSLPrivateKeyFile`).
    use_ssl: bool = "UseSSL" => false;
    /// Require client certificates signed by `SSLCAFile` on the API.
    use_mutual_tls: bool = "UseMutualTLS" => false;
    /// The API's certificate (PEM); also each Raft member's with `RaftUseMutualTLS`.
    ssl_cert_file: String = "SSLCertFile" => String::new();
    /// The private key (PEM) of `SSLCertFile`.
    ssl_private_key_file: String = "SSLPrivateKeyFile" => String::new();
    /// The CA (PEM) that signs the API's clients' certificates (`UseMutualTLS`) and the Raft
    /// members'.
    ssl_ca_file: String = "SSLCAFile" => String::new();
    ssl_valid_ous: Vec<String> = "SSLValidOUs" => Vec::new();
    ssl_skip_verify: bool = "SSLSkipVerify" => false;
    status_endpoint: String = "StatusEndpoint" => "/api/status".into();
    status_ou_verify: bool = "StatusOUVerify" => false;

    // --- Key-value stores (each cluster's primary published there), audit, metrics ---
    /// Consul agent `host:port`; the primaries are published to its KV store.
    consul_address: String = "ConsulAddress" => String::new();
    /// `http` or `https`.
    consul_scheme: String = "ConsulScheme" => "http".into();
    /// Sent as `X-Consul-Token`.
    consul_acl_token: String = "ConsulAclToken" => String::new();
    /// `consul` (one compare-and-set per key) or `consul-txn` (transactions).
    consul_kv_store_provider: String = "ConsulKVStoreProvider" => "consul".into();
    /// Publish to every datacenter the agent knows, not only its own.
    consul_cross_data_center_distribution: bool = "ConsulCrossDataCenterDistribution" => false;
    /// Keys per Consul transaction (`consul-txn`), 1 to 64.
    consul_max_kvs_per_transaction: u64 = "ConsulMaxKVsPerTransaction" => 5;
    /// ZooKeeper `host:port[,host:port...]`; the primaries are published as znodes.
    zk_address: String = "ZkAddress" => String::new();
    /// arbor: etcd v3 client URLs (`http://host:2379[,...]`, `https://` with the
    /// `EtcdSSL*` files); the primaries are published there.
    etcd_address: String = "EtcdAddress" => String::new();
    /// arbor: the CA that signs the etcd servers' certificates (else the system's CAs).
    etcd_ssl_ca_file: String = "EtcdSSLCAFile" => String::new();
    /// arbor: a client certificate for etcd servers that require one, with its key.
    etcd_ssl_cert_file: String = "EtcdSSLCertFile" => String::new();
    /// arbor: the private key of `EtcdSSLCertFile`.
    etcd_ssl_private_key_file: String = "EtcdSSLPrivateKeyFile" => String::new();
    /// The keys' prefix: `PREFIX/<cluster alias>` = `host:port`, with `/hostname`, `/port`,
    /// `/ipv4`, `/ipv6`.
    kv_cluster_master_prefix: String = "KVClusterMasterPrefix" => "mysql/master".into();
    /// File that gets one line per operation, detection and recovery step (for log shippers).
    audit_log_file: String = "AuditLogFile" => String::new();
    /// Entries per page of the audit routes (`audit`, `audit-recovery`,
    /// `audit-failure-detection`).
    audit_page_size: u64 = "AuditPageSize" => 20;
    /// Minutes after which a pool submission (`submit-pool-instances`) expires.
    instance_pool_expiry_minutes: u64 = "InstancePoolExpiryMinutes" => 60;
    audit_to_syslog: bool = "AuditToSyslog" => false;
    audit_to_backend_db: bool = "AuditToBackendDB" => false;
    audit_purge_days: u64 = "AuditPurgeDays" => 7;
    graphite_addr: String = "GraphiteAddr" => String::new();
    graphite_path: String = "GraphitePath" => String::new();
    graphite_poll_seconds: u64 = "GraphitePollSeconds" => 60;

    // --- Raft ---
    /// Run as one node of a Raft group.
    raft_enabled: bool = "RaftEnabled" => false;
    /// Directory of this node's Raft log and snapshots; required with `RaftEnabled`.
    raft_data_dir: String = "RaftDataDir" => String::new();
    /// Address this node's Raft transport binds.
    raft_bind: String = "RaftBind" => "127.0.0.1:10008".into();
    /// Address other nodes contact this node at (defaults to `RaftBind`).
    raft_advertise: String = "RaftAdvertise" => String::new();
    /// Port assumed for `RaftBind`, `RaftAdvertise` and `RaftNodes` entries given without one.
    default_raft_port: u16 = "DefaultRaftPort" => 10008;
    /// Every node of the group, `host` or `host:port`.
    raft_nodes: Vec<String> = "RaftNodes" => Vec::new();
    /// arbor: how often the Raft leader sends heartbeats, in milliseconds.
    raft_heartbeat_interval_millis: u64 = "RaftHeartbeatIntervalMillis" => 50;
    /// arbor: the election timeout T, in milliseconds. Followers that stop hearing from the
    /// leader elect another after 1.5 T plus a random T to 1.5 T; a leader stops acting when a
    /// quorum has not confirmed it within 0.9 T. Raise it for links across data centres.
    raft_election_timeout_millis: u64 = "RaftElectionTimeoutMillis" => 200;
    /// arbor: mutual TLS between Raft members, with the API's `SSLCertFile`,
    /// `SSLPrivateKeyFile` and `SSLCAFile` (each member's certificate valid as server and
    /// client, signed by that CA).
    raft_use_mutual_tls: bool = "RaftUseMutualTLS" => false;
    /// arbor: a Raft snapshot every this many log entries; the log before it is purged.
    raft_snapshot_every_entries: u64 = "RaftSnapshotEveryEntries" => 10_000;
    /// In a Raft group, a failure is recovered automatically only when most members see it too.
    expect_failure_analysis_concensus: bool = "ExpectFailureAnalysisConcensus" => true;
    /// arbor: in a Raft group or on a shared backend, each instance is polled by one live
    /// member (rendezvous hashing); Raft members relay their readings to each other outside
    /// the log. A suspected failure is still probed by every member before a recovery. Off:
    /// every Raft member polls every instance, and on a shared backend only the leader polls.
    share_probing_across_nodes: bool = "ShareProbingAcrossNodes" => true;
}
