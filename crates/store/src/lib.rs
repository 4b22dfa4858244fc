//! arbor's state: what it knows about every instance, and (in later releases) downtime,
//! maintenance locks, promotion rules and the recovery audit.
//!
//! [`Store`] is the interface the rest of arbor uses. [`SqliteStore`] is the embedded default
//! (one SQLite file, WAL mode, versioned migrations). A MySQL-backed store for the shared-backend
//! HA mode implements the same trait and must pass the same [`conformance`] suite, which is why
//! the suite tests behaviour only through the trait.
//!
//! The store keeps observations, not conclusions: clusters, tree shape and health are derived
//! from the records by `arbor-topology`, so that a store never holds two truths that disagree.
//! See `DESIGN.md` beside this file.

pub mod conformance;
mod memory;
mod migrations;
mod mysql;
mod records;
mod sqlite;

use std::time::Duration;

use arbor_topology::{
    Downtime, Instance, InstanceKey, InstanceRecord, PromotionRule, Succession, Timestamp,
};
use async_trait::async_trait;

pub use memory::{MemoryStore, FLUSH_INTERVAL};
pub use migrations::SCHEMA_VERSION;
pub use mysql::{LeaseHolder, MySqlBackend, MySqlStore, NodeSeen};
pub use records::{
    FailureDetection, LockDecision, Maintenance, RecoveryOutcome, RecoveryRecord, RecoveryStart,
    RecoveryStep, ReplicatedDump, StartDecision, REPLICATED_TABLES,
};
pub use sqlite::SqliteStore;

/// The recoveries whose successor replaced a primary (a failover or a takeover, not an
/// intermediate primary's recovery, whose "successor" is the grandparent): the statement both
/// backends run for [`Store::successions`].
pub(crate) const SUCCESSIONS_SQL: &str = "SELECT hostname, port, successor_host, successor_port, \
     started_at FROM recoveries WHERE successful = 1 AND successor_host IS NOT NULL \
     AND kind IN ('MasterRecovery', 'GracefulMasterTakeover') ORDER BY id";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store at {path}: {message}")]
    Open { path: String, message: String },
    #[error("store at {path} has schema version {found}, newer than this arbor understands ({supported}); upgrade arbor")]
    SchemaTooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("store query failed: {0}")]
    Query(String),
    /// The store cannot take writes now (a Raft group without a leader); retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    #[error("stored record for {key} is corrupt: {message}")]
    Corrupt { key: String, message: String },
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        StoreError::Query(error.to_string())
    }
}

/// The outcome of one check of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub key: InstanceKey,
    /// When the probe started.
    pub attempted_at: Timestamp,
    /// When it ended.
    pub checked_at: Timestamp,
    pub result: CheckResult,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// The probe read the server.
    Seen(Box<Instance>),
    /// The probe failed; the previous reading, if any, is kept as the last known state.
    Failed { error: String },
}

/// Persistent state shared by discovery, the API and (later) analysis and recovery.
///
/// Methods are async because the MySQL backend is; the SQLite backend runs its work on the
/// blocking thread pool.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Adds a key to watch. Returns whether it was new; a known key is left as it is.
    async fn register_instance(&self, key: &InstanceKey, at: Timestamp)
        -> Result<bool, StoreError>;

    /// Records a batch of check outcomes in one write. An outcome for a key not yet known adds
    /// it (discovery crawls faster than it registers).
    async fn record_checks(&self, outcomes: Vec<CheckOutcome>) -> Result<(), StoreError>;

    async fn instance(&self, key: &InstanceKey) -> Result<Option<InstanceRecord>, StoreError>;

    /// Every known instance, in key order.
    async fn all_instances(&self) -> Result<Vec<InstanceRecord>, StoreError>;

    /// Removes an instance. Returns whether it was known.
    async fn forget_instance(&self, key: &InstanceKey) -> Result<bool, StoreError>;

    /// A number that changes whenever a write may have changed what a read returns, for
    /// readers that keep what they derive from the state until it changes; `None` when this
    /// store cannot tell (one other nodes write to as well).
    fn version(&self) -> Option<u64> {
        None
    }

    /// Marks an instance as downtimed (replacing an earlier downtime of it).
    async fn begin_downtime(&self, downtime: Downtime) -> Result<(), StoreError>;

    /// Ends an instance's downtime. Returns whether it had one.
    async fn end_downtime(&self, key: &InstanceKey) -> Result<bool, StoreError>;

    /// Downtimes in force at `now`.
    async fn active_downtimes(&self, now: Timestamp) -> Result<Vec<Downtime>, StoreError>;

    /// Sets an instance's promotion rule until `expires_at`.
    async fn register_candidate(
        &self,
        key: &InstanceKey,
        rule: PromotionRule,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Promotion rules in force at `now`.
    async fn promotion_rules(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(InstanceKey, PromotionRule)>, StoreError>;

    /// Records a detection unless the same instance had the same analysis detected within
    /// `dedupe_window` before it. Returns whether it was recorded (new).
    async fn record_detection(
        &self,
        detection: FailureDetection,
        dedupe_window: Duration,
    ) -> Result<bool, StoreError>;

    /// The most recent detections first.
    async fn detections(&self, limit: usize) -> Result<Vec<FailureDetection>, StoreError>;

    /// Registers a recovery if anti-flapping allows it, in one atomic step: refused while
    /// another recovery of the cluster runs (whatever its age), or, unless `ignore_block`,
    /// while one that started within `block` is not acknowledged. With `ignore_block` (manual
    /// recoveries), earlier finished recoveries of the cluster are acknowledged.
    async fn start_recovery(
        &self,
        start: RecoveryStart,
        block: Duration,
        ignore_block: bool,
    ) -> Result<StartDecision, StoreError>;

    async fn add_recovery_step(&self, id: i64, step: RecoveryStep) -> Result<(), StoreError>;

    /// Records the instance a running recovery is about to promote, before it acts: a node that
    /// takes over an interrupted recovery finishes that promotion instead of starting another.
    async fn record_recovery_successor(
        &self,
        id: i64,
        successor: &InstanceKey,
    ) -> Result<(), StoreError>;

    async fn finish_recovery(&self, id: i64, outcome: RecoveryOutcome) -> Result<(), StoreError>;

    /// Recoveries, the most recent first, of one cluster or all; with their steps.
    async fn recoveries(
        &self,
        cluster: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecoveryRecord>, StoreError>;

    /// Every primary a successful recovery or takeover replaced, oldest first: how clusters
    /// keep their identity across failovers.
    async fn successions(&self) -> Result<Vec<Succession>, StoreError>;

    /// Acknowledges the finished, unacknowledged recoveries of a cluster (or all). Returns how
    /// many.
    async fn acknowledge_recoveries(
        &self,
        cluster: Option<&str>,
        by: &str,
        comment: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError>;

    /// Ends recoveries left active by a node that stopped mid-way, and acknowledges them so
    /// they do not block their clusters. Returns how many.
    async fn abandon_active_recoveries(
        &self,
        at: Timestamp,
        note: &str,
    ) -> Result<usize, StoreError>;

    /// Takes an instance's maintenance lock unless an unexpired one is held; an expired lock
    /// is replaced. Exactly one of two concurrent callers wins.
    async fn begin_maintenance(
        &self,
        key: &InstanceKey,
        owner: &str,
        reason: &str,
        node: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<LockDecision, StoreError>;

    /// Releases an instance's lock (any holder's, when `id` is `None`; only that lock
    /// otherwise). Returns whether one was released.
    async fn end_maintenance(&self, key: &InstanceKey, id: Option<i64>)
        -> Result<bool, StoreError>;

    /// Locks in force at `now`.
    async fn active_maintenance(&self, now: Timestamp) -> Result<Vec<Maintenance>, StoreError>;

    /// Releases every lock a node holds (the node is gone). Returns how many.
    async fn release_node_maintenance(&self, node: &str) -> Result<usize, StoreError>;

    /// Sets a tag (replacing its value).
    async fn tag(&self, key: &InstanceKey, name: &str, value: &str) -> Result<(), StoreError>;

    /// Removes a tag from an instance. Returns whether it had it.
    async fn untag(&self, key: &InstanceKey, name: &str) -> Result<bool, StoreError>;

    /// Removes a tag from every instance. Returns the instances that had it.
    async fn untag_all(&self, name: &str) -> Result<Vec<InstanceKey>, StoreError>;

    /// An instance's tags, by name.
    async fn tags(&self, key: &InstanceKey) -> Result<Vec<(String, String)>, StoreError>;

    /// Instances with tag `name` (and `value`, when given), in key order.
    async fn tagged(&self, name: &str, value: Option<&str>)
        -> Result<Vec<InstanceKey>, StoreError>;

    async fn set_global_recoveries_disabled(&self, disabled: bool) -> Result<(), StoreError>;

    /// Sets an operator's alias for a cluster; an empty alias removes it.
    async fn set_cluster_alias(&self, cluster: &str, alias: &str) -> Result<(), StoreError>;

    /// Operators' cluster aliases, by cluster name.
    async fn cluster_aliases(&self) -> Result<Vec<(String, String)>, StoreError>;

    async fn global_recoveries_disabled(&self) -> Result<bool, StoreError>;

    /// Removes everything except the instances and their observations: downtimes, promotion
    /// rules, detections, recoveries, locks, tags and settings. A Raft node calls it before its
    /// log is replayed onto the store, which rebuilds that state exactly (ids included).
    async fn reset_replicated_state(&self) -> Result<(), StoreError>;

    /// The replicated part as plain rows (a Raft snapshot's content).
    async fn export_replicated(&self) -> Result<ReplicatedDump, StoreError>;

    /// Replaces the replicated part with `dump` (ids kept) and watches its instances (a Raft
    /// snapshot installed).
    async fn import_replicated(&self, dump: ReplicatedDump) -> Result<(), StoreError>;
}
