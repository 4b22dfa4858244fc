//! Recovery bookkeeping kept by the store: failure detections, recoveries with their steps and
//! acknowledgements.

use arbor_topology::{InstanceKey, Timestamp};
use serde::{Deserialize, Serialize};

/// A failure that was detected (deduplicated per instance and code within a window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureDetection {
    pub id: i64,
    pub cluster: String,
    pub key: InstanceKey,
    pub analysis: String,
    pub description: String,
    pub detected_at: Timestamp,
}

/// What a recovery is registered with when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryStart {
    pub uid: String,
    pub cluster: String,
    pub failed: InstanceKey,
    pub analysis: String,
    /// `MasterRecovery`, `IntermediateMasterRecovery`, `GracefulMasterTakeover`, ...
    pub kind: String,
    /// Asked for by an operator (ignores the block period), not automated.
    pub manual: bool,
    pub processing_node: String,
    pub started_at: Timestamp,
    /// The analysis that started it, as orchestrator's `ReplicationAnalysis` JSON (empty when
    /// not recorded).
    #[serde(default)]
    pub analysis_entry: String,
}

/// Whether a recovery may start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartDecision {
    Started {
        id: i64,
    },
    /// Anti-flapping: another recovery of the cluster is running, or one ended within the
    /// block period and was not acknowledged.
    Blocked {
        blocking_id: i64,
        reason: String,
    },
}

impl StartDecision {
    /// Refused: another recovery of the cluster is still running.
    pub fn still_running(blocking_id: i64, cluster: &str) -> StartDecision {
        StartDecision::Blocked {
            blocking_id,
            reason: format!("recovery {blocking_id} of cluster {cluster} is still running"),
        }
    }

    /// Refused by anti-flapping: a recent, unacknowledged recovery of the cluster (or of the
    /// instance that failed, promoted by it).
    pub fn recently_recovered(
        blocking_id: i64,
        cluster: &str,
        failed: &InstanceKey,
    ) -> StartDecision {
        StartDecision::Blocked {
            blocking_id,
            reason: format!(
                "cluster {cluster} (or its failed instance {failed}) had recovery {blocking_id} within \
                 the block period (RecoveryPeriodBlockSeconds); acknowledge it to allow another"
            ),
        }
    }
}

/// How a recovery ended.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecoveryOutcome {
    pub successful: bool,
    pub successor: Option<InstanceKey>,
    pub lost_replicas: Vec<InstanceKey>,
    pub participating: Vec<InstanceKey>,
    pub errors: Vec<String>,
    pub ended_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryStep {
    pub at: Timestamp,
    pub message: String,
}

/// A recovery as the audit shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryRecord {
    pub id: i64,
    pub uid: String,
    pub cluster: String,
    pub failed: InstanceKey,
    pub analysis: String,
    pub kind: String,
    pub manual: bool,
    pub processing_node: String,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub is_active: bool,
    pub successful: bool,
    pub successor: Option<InstanceKey>,
    pub lost_replicas: Vec<InstanceKey>,
    pub participating: Vec<InstanceKey>,
    pub errors: Vec<String>,
    pub acknowledged: bool,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: String,
    pub acknowledged_comment: String,
    pub steps: Vec<RecoveryStep>,
    /// See [`RecoveryStart::analysis_entry`].
    pub analysis_entry: String,
}

/// An exclusive lock on an instance while an operator or a move works on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    pub id: i64,
    pub key: InstanceKey,
    pub owner: String,
    pub reason: String,
    /// The arbor node that took it: its locks go when it is gone.
    pub node: String,
    pub begin_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The outcome of asking for a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockDecision {
    Acquired {
        id: i64,
    },
    /// Someone holds it.
    Held(Maintenance),
}

/// The replicated part of a store as plain rows, for a Raft snapshot: the same for every
/// backend (columns listed in [`REPLICATED_TABLES`]), so a snapshot taken on a SQLite node
/// installs on a MySQL one.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReplicatedDump {
    /// Per table, its rows, each the values of the table's listed columns in order.
    pub tables: std::collections::BTreeMap<String, Vec<Vec<serde_json::Value>>>,
    /// Watched instances, with when they were first discovered.
    pub instances: Vec<(InstanceKey, Timestamp)>,
}

/// The replicated tables: (name, columns, order). Ids are kept, since later log entries
/// (recovery steps, lock releases) refer to them.
pub const REPLICATED_TABLES: &[(&str, &[&str], &str)] = &[
    (
        "downtimes",
        &["hostname", "port", "owner", "reason", "begin_at", "end_at"],
        "hostname, port",
    ),
    (
        "promotion_rules",
        &["hostname", "port", "rule", "expires_at"],
        "hostname, port",
    ),
    (
        "failure_detections",
        &[
            "id",
            "cluster",
            "hostname",
            "port",
            "analysis",
            "description",
            "detected_at",
        ],
        "id",
    ),
    (
        "recoveries",
        &[
            "id",
            "uid",
            "cluster",
            "hostname",
            "port",
            "analysis",
            "kind",
            "manual",
            "processing_node",
            "started_at",
            "ended_at",
            "is_active",
            "successful",
            "successor_host",
            "successor_port",
            "lost_replicas",
            "participating",
            "errors",
            "acknowledged",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledged_comment",
        ],
        "id",
    ),
    (
        "recovery_steps",
        &["recovery_id", "at", "message"],
        "recovery_id, at",
    ),
    ("settings", &["name", "value"], "name"),
    (
        "maintenance",
        &[
            "id",
            "hostname",
            "port",
            "owner",
            "reason",
            "node",
            "begin_at",
            "expires_at",
        ],
        "id",
    ),
    (
        "tags",
        &["hostname", "port", "name", "value"],
        "hostname, port, name",
    ),
    ("cluster_aliases", &["cluster", "alias"], "cluster"),
    (
        "recovery_analysis",
        &["recovery_id", "entry"],
        "recovery_id",
    ),
    (
        "pools",
        &["pool", "hostname", "port", "registered_at"],
        "pool, hostname, port",
    ),
];
