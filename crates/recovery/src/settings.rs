//! What recovery reads from the configuration.

use std::sync::Arc;
use std::time::Duration;

use arbor_analysis::AnalysisSettings;

/// The hooks of each stage (orchestrator's `*Processes` keys).
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub on_failure_detection: Vec<String>,
    pub pre_failover: Vec<String>,
    pub post_master_failover: Vec<String>,
    pub post_intermediate_master_failover: Vec<String>,
    pub post_failover: Vec<String>,
    pub post_unsuccessful_failover: Vec<String>,
    pub pre_graceful_takeover: Vec<String>,
    pub post_graceful_takeover: Vec<String>,
}

/// Maps a cluster name to its configured alias.
pub type AliasLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything recovery reads from the configuration.
#[derive(Clone)]
pub struct RecoverySettings {
    pub recover_master_cluster_filters: Vec<String>,
    pub recover_intermediate_master_cluster_filters: Vec<String>,
    /// `RecoveryIgnoreHostnameFilters`: automated recovery leaves failures of matching hosts
    /// alone (an operator's `recover` still acts).
    pub recovery_ignore_hostname_filters: Vec<String>,
    /// `RecoveryPeriodBlockSeconds`.
    pub block_period: Duration,
    /// `FailureDetectionPeriodBlockMinutes`.
    pub detection_block: Duration,
    pub hooks: Hooks,
    pub shell: String,
    pub hook_timeout: Duration,
    /// `ApplyMySQLPromotionAfterMasterFailover`: the promoted server gets `RESET SLAVE ALL`
    /// and `read_only=0`, the old primary `read_only=1`. Off: the promoted server only stops
    /// replicating (hooks finish its promotion), and the old primary is not touched.
    pub apply_promotion: bool,
    pub use_super_read_only: bool,
    /// `PromotionCatchUpTimeoutSeconds`: how long the promoted replica may take to apply what
    /// it received before the promotion goes on anyway (or fails, or waits on).
    pub catch_up_timeout: Duration,
    /// `FailMasterPromotionIfSQLThreadNotUpToDate`: a replica that has not applied its relay
    /// log within `catch_up_timeout` is not promoted; the recovery fails.
    pub fail_if_not_caught_up: bool,
    /// `DelayMasterPromotionIfSQLThreadNotUpToDate`: the promotion waits as long as the replica
    /// takes to apply its relay log (failing only if its SQL thread stops with an error).
    pub delay_until_caught_up: bool,
    /// `FailMasterPromotionOnLagMinutes`: a chosen replica lagging this much is not promoted.
    pub fail_promotion_on_lag: Option<Duration>,
    /// `PostponeReplicaRecoveryOnLagMinutes`: replicas lagging this much are repointed after
    /// the recovery's hooks ran.
    pub postpone_lagging: Option<Duration>,
    /// `DetachLostReplicasAfterMasterFailover`: replicas a failover could not bring along,
    /// still pointing at the failed primary, are detached (`//host`).
    pub detach_lost_replicas: bool,
    /// `MasterFailoverDetachReplicaMasterHost`: the promoted server's link to the failed
    /// primary is detached (when `apply_promotion` is off and the link is kept).
    pub detach_promoted_source: bool,
    /// `RejoinFormerPrimary`: a former primary that comes back holding nothing its successor
    /// lacks replicates from the current primary; otherwise it stays fenced.
    pub rejoin_former_primary: bool,
    /// `PrimaryLivenessTimeoutMillis`: how long a primary may leave arbor's liveness check
    /// unanswered before arbor asks its replicas whether it still streams to them.
    pub liveness_timeout: Duration,
    /// `AuditLogFile`: every audit entry also appended there as a line.
    pub audit_log: Option<Arc<crate::audit_log::AuditLog>>,
    /// `MasterFailoverLostInstancesDowntimeMinutes`: how long a failed primary and the replicas
    /// its recovery could not bring along are downtimed. Zero: off.
    pub lost_downtime: Duration,
    pub promotion_ignore_hostname_filters: Vec<String>,
    pub prevent_cross_data_center: bool,
    pub prevent_cross_region: bool,
    /// `MySQLReplicaUser`/`MySQLReplicaPassword`.
    pub replication_credentials: Option<(String, String)>,
    pub replication_credentials_query: String,
    /// `MySQLReplicaSSL*`: TLS for the links recovery makes.
    pub replication_ssl: Option<arbor_mysql::ReplicationSsl>,
    pub analysis: AnalysisSettings,
    pub default_port: u16,
    pub alias_for_cluster_name: AliasLookup,
    /// This node's name in the audit.
    pub node_name: String,
    /// How often the automated loop looks for failures.
    pub tick: Duration,
    /// `ExpectFailureAnalysisConcensus`: in a group of 3 or more arbor nodes, an automated
    /// recovery runs only when a majority of the members (this one included) see the failure
    /// on a fresh look of their own.
    pub require_peer_agreement: bool,
    /// `RecoverLockedSemiSyncMaster`: a `LockedSemiSyncMaster` gets semi-sync turned on on as
    /// many replicas as it waits for (`analysis.enforce_exact_semi_sync`, which is
    /// `EnforceExactSemiSyncReplicas`, also turns surplus ones off).
    pub recover_locked_semi_sync: bool,
    /// `CoMasterRecoveryMustPromoteOtherCoMaster`: a dead co-primary's successor is the other
    /// co-primary or nobody (an operator's designated replica still wins).
    pub co_master_must_promote_other: bool,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        RecoverySettings {
            recover_master_cluster_filters: Vec::new(),
            recover_intermediate_master_cluster_filters: Vec::new(),
            recovery_ignore_hostname_filters: Vec::new(),
            block_period: Duration::from_secs(3600),
            detection_block: Duration::from_secs(3600),
            hooks: Hooks::default(),
            shell: "bash".into(),
            hook_timeout: Duration::from_secs(60),
            apply_promotion: true,
            use_super_read_only: false,
            catch_up_timeout: Duration::from_secs(30),
            fail_if_not_caught_up: false,
            delay_until_caught_up: false,
            fail_promotion_on_lag: None,
            postpone_lagging: None,
            detach_lost_replicas: true,
            detach_promoted_source: false,
            rejoin_former_primary: false,
            liveness_timeout: Duration::from_secs(1),
            audit_log: None,
            lost_downtime: Duration::ZERO,
            promotion_ignore_hostname_filters: Vec::new(),
            prevent_cross_data_center: false,
            prevent_cross_region: false,
            replication_credentials: None,
            replication_credentials_query: String::new(),
            replication_ssl: None,
            analysis: AnalysisSettings::default(),
            default_port: 3306,
            alias_for_cluster_name: Arc::new(|_| None),
            node_name: "arbor".into(),
            tick: Duration::from_secs(1),
            require_peer_agreement: true,
            recover_locked_semi_sync: false,
            co_master_must_promote_other: true,
        }
    }
}

/// The downtime reason orchestrator gives instances a recovery left behind; kept verbatim for
/// tools that look for it.
pub const LOST_IN_RECOVERY: &str = "lost-in-recovery";
