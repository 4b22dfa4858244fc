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
mod migrations;
mod sqlite;

use arbor_topology::{Instance, InstanceKey, InstanceRecord, Timestamp};
use async_trait::async_trait;

pub use migrations::SCHEMA_VERSION;
pub use sqlite::SqliteStore;

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
}
