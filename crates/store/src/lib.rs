//! arbor's state: what it knows about every instance, and every intent about them (downtime,
//! maintenance locks, promotion rules, tags, aliases) and the recovery audit.
//!
//! [`Store`] is the interface the rest of arbor uses: typed reads, one [`Store::apply`] taking
//! a [`Command`] for every intent, and [`Store::record_checks`] for readings. [`SqliteStore`]
//! is the embedded default (one SQLite file, WAL mode, versioned migrations), [`MySqlStore`]
//! the shared backend, [`MemoryStore`] keeps readings in memory in front of either, and
//! `arbor-raft` replicates the commands. Each must pass the `conformance` suite (feature
//! `conformance`), which is why the suite tests behaviour only through the trait.
//!
//! The store keeps observations, not conclusions: clusters, tree shape and health are derived
//! from the records by `arbor-topology`, so that a store never holds two truths that disagree.
//! See `DESIGN.md` beside this file.

mod command;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod memory;
mod migrations;
mod mysql;
mod records;
mod sql;
mod sqlite;

use arbor_topology::{
    Downtime, Instance, InstanceKey, InstanceRecord, PromotionRule, Succession, Timestamp,
};
use async_trait::async_trait;

pub use command::{AckTarget, Command, Intents, Reply};
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckOutcome {
    pub key: InstanceKey,
    /// When the probe started.
    pub attempted_at: Timestamp,
    /// When it ended.
    pub checked_at: Timestamp,
    pub result: CheckResult,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CheckResult {
    /// The probe read the server.
    Seen(Box<Instance>),
    /// The probe failed; the previous reading, if any, is kept as the last known state.
    Failed { error: String },
}

/// Persistent state shared by discovery, the API, analysis and recovery: typed reads, one
/// [`apply`](Store::apply) for every intent, and [`record_checks`](Store::record_checks) for
/// readings (observations, which are not intents: they are not replicated).
///
/// Methods are async because the MySQL backend is; the SQLite backend runs its work on the
/// blocking thread pool.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies one intent (see [`Command`]); every write but readings goes through here. The
    /// typed wrappers of [`Intents`] build the command and unpack the reply.
    async fn apply(&self, command: Command) -> Result<Reply, StoreError>;

    /// Records a batch of check outcomes in one write. An outcome for a key not yet known adds
    /// it (discovery crawls faster than it registers).
    async fn record_checks(&self, outcomes: Vec<CheckOutcome>) -> Result<(), StoreError>;

    async fn instance(&self, key: &InstanceKey) -> Result<Option<InstanceRecord>, StoreError>;

    /// Every known instance, in key order.
    async fn all_instances(&self) -> Result<Vec<InstanceRecord>, StoreError>;

    /// Every known instance's key, in key order: [`Store::all_instances`] without the
    /// readings, for callers that only follow which instances exist.
    async fn instance_keys(&self) -> Result<Vec<InstanceKey>, StoreError> {
        Ok(self
            .all_instances()
            .await?
            .into_iter()
            .map(|record| record.key().clone())
            .collect())
    }

    /// A number that changes whenever a write may have changed what a read returns, for
    /// readers that keep what they derive from the state until it changes; `None` when this
    /// store cannot tell (one other nodes write to as well).
    fn version(&self) -> Option<u64> {
        None
    }

    /// Like [`Store::version`], but moved only by what arbor did or was asked (every
    /// [`Store::apply`], and readings recorded with
    /// [`record_requested_checks`](Store::record_requested_checks)), not by background polls:
    /// readers may serve a snapshot a moment behind the polls, never one behind their own
    /// actions.
    fn causal_version(&self) -> Option<u64> {
        self.version()
    }

    /// [`Store::record_checks`] for readings someone waits for (a confirmation's re-read, an
    /// operation's, an explicit discovery): they move [`Store::causal_version`].
    async fn record_requested_checks(&self, outcomes: Vec<CheckOutcome>) -> Result<(), StoreError> {
        self.record_checks(outcomes).await
    }

    /// Downtimes in force at `now`.
    async fn active_downtimes(&self, now: Timestamp) -> Result<Vec<Downtime>, StoreError>;

    /// Promotion rules in force at `now`.
    async fn promotion_rules(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(InstanceKey, PromotionRule)>, StoreError>;

    /// The most recent detections first.
    async fn detections(&self, limit: usize) -> Result<Vec<FailureDetection>, StoreError>;

    /// Recoveries, the most recent first, of one cluster or all; with their steps.
    async fn recoveries(
        &self,
        cluster: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecoveryRecord>, StoreError>;

    /// Every primary a successful recovery or takeover replaced, oldest first: how clusters
    /// keep their identity across failovers.
    async fn successions(&self) -> Result<Vec<Succession>, StoreError>;

    /// Locks in force at `now`.
    async fn active_maintenance(&self, now: Timestamp) -> Result<Vec<Maintenance>, StoreError>;

    /// An instance's tags, by name.
    async fn tags(&self, key: &InstanceKey) -> Result<Vec<(String, String)>, StoreError>;

    /// Instances with tag `name` (and `value`, when given), in key order.
    async fn tagged(&self, name: &str, value: Option<&str>)
        -> Result<Vec<InstanceKey>, StoreError>;

    /// Operators' cluster aliases, by cluster name.
    async fn cluster_aliases(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// The members of every pool (or of `pool`) submitted at or after `since`, as
    /// (pool, instance), in pool and key order.
    async fn pool_instances(
        &self,
        pool: Option<&str>,
        since: Timestamp,
    ) -> Result<Vec<(String, InstanceKey)>, StoreError>;

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
