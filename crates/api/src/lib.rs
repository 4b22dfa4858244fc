//! Wire types of arbor's HTTP API, in orchestrator's JSON shapes.
//!
//! Scripts written for orchestrator (`orchestrator-client`, load balancer checks, `jq`
//! pipelines) read these field names, so they keep orchestrator's spellings, typos included
//! (`ReplicationSQLThreadRuning`), and the `Slave_*` aliases. Fields arbor adds are prefixed
//! `Arbor` so they never collide with a future orchestrator field.
//!
//! Shared by the server (`arbor-http`) and the client (`arbor-client`); no IO here.

mod analysis_extra;
mod instance;
mod instance_extra;

use serde::{Deserialize, Serialize};

pub use analysis_extra::AnalysisExtrasJson;
pub use instance::{
    Annotations, BinlogCoordinatesJson, BlockedRecoveryJson, ClusterInfo, FailureDetectionJson,
    InstanceJson, InstanceKeyJson, NullInt64, RecoveryStepJson, ReplicationAnalysisJson,
    TopologyRecoveryJson, ViewContext,
};
pub use instance_extra::{InstanceExtrasJson, SemiSyncJson};

/// `Code` of orchestrator's response envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseCode {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ERROR")]
    Error,
}

/// orchestrator's envelope: `{"Code":"OK"|"ERROR","Message":"...","Details":...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiResponse<T> {
    #[serde(rename = "Code")]
    pub code: ResponseCode,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "Details")]
    pub details: T,
}

impl<T> ApiResponse<T> {
    pub fn ok(message: impl Into<String>, details: T) -> ApiResponse<T> {
        ApiResponse {
            code: ResponseCode::Ok,
            message: message.into(),
            details,
        }
    }
}

impl ApiResponse<serde_json::Value> {
    pub fn error(message: impl Into<String>) -> ApiResponse<serde_json::Value> {
        ApiResponse {
            code: ResponseCode::Error,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }
}

/// `Details` of `/api/status` and `/api/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthStatus {
    #[serde(rename = "Healthy")]
    pub healthy: bool,
    #[serde(rename = "Hostname")]
    pub hostname: String,
    #[serde(rename = "IsActiveNode")]
    pub is_active_node: bool,
    #[serde(rename = "AppVersion")]
    pub app_version: String,
    #[serde(rename = "ArborWatchedInstances")]
    pub watched_instances: usize,
    /// This node's unique name (orchestrator's process token).
    #[serde(rename = "Token", default)]
    pub token: String,
    /// The node that acts (the leader), as far as this node knows.
    #[serde(rename = "ActiveNode", default)]
    pub active_node: ActiveNode,
    /// Why the node is unhealthy; null when healthy.
    #[serde(rename = "Error", default)]
    pub error: Option<String>,
    /// The nodes sharing the backend, in shared-backend mode (orchestrator's
    /// `AvailableNodes`).
    #[serde(
        rename = "AvailableNodes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub available_nodes: Option<Vec<AvailableNode>>,
    /// The Raft fields, in Raft mode.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub raft: Option<RaftHealth>,
    /// The key-value stores the primaries are published to (empty when none is configured).
    #[serde(rename = "ArborKVStores", default)]
    pub kv_stores: Vec<KvStoreHealth>,
}

/// One key-value store the primaries are published to, as this node sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct KvStoreHealth {
    /// `zookeeper`, `etcd` or `consul`.
    pub store: String,
    pub address: String,
    /// The last attempt to publish succeeded (or none was needed yet).
    pub healthy: bool,
    /// Cluster aliases whose newest primary the store does not hold yet (retried in the
    /// background while this node leads).
    pub pending: Vec<String>,
    /// Why the last attempt failed; empty when it did not.
    pub last_error: String,
    /// Milliseconds since the epoch of the last successful publication, 0 for none.
    pub last_success_at: u64,
    /// Publications that changed the store, and failed attempts, since this node started.
    pub writes: u64,
    pub failures: u64,
}

/// orchestrator's `NodeHealth` of the active node: who acts now.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ActiveNode {
    #[serde(rename = "Hostname")]
    pub hostname: String,
    /// Its unique name (a single node, the lease holder), or its Raft address.
    #[serde(rename = "Token")]
    pub token: String,
    #[serde(rename = "AppVersion")]
    pub app_version: String,
    #[serde(rename = "DBBackend")]
    pub db_backend: String,
}

/// A node that shares the backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailableNode {
    #[serde(rename = "Hostname")]
    pub hostname: String,
    #[serde(rename = "AppVersion")]
    pub app_version: String,
    #[serde(rename = "FirstSeenActive")]
    pub first_seen_active: String,
    #[serde(rename = "LastSeenActive")]
    pub last_seen_active: String,
    #[serde(rename = "DBBackend")]
    pub db_backend: String,
    #[serde(rename = "ArborAPI")]
    pub api: String,
    #[serde(rename = "ArborIsLeader")]
    pub is_leader: bool,
    #[serde(rename = "ArborActive")]
    pub active: bool,
}

/// orchestrator's Raft fields of `/api/status`, and arbor's view of the group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaftHealth {
    #[serde(rename = "RaftLeader")]
    pub leader: String,
    #[serde(rename = "IsRaftLeader")]
    pub is_leader: bool,
    #[serde(rename = "RaftLeaderURI")]
    pub leader_uri: String,
    #[serde(rename = "RaftAdvertise")]
    pub advertise: String,
    #[serde(rename = "RaftHealthyMembers")]
    pub healthy_members: Vec<String>,
    #[serde(rename = "ArborRaft")]
    pub members: serde_json::Value,
}

/// A maintenance lock (orchestrator's `Maintenance`), as `/api/maintenance` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceJson {
    #[serde(rename = "MaintenanceId")]
    pub id: i64,
    #[serde(rename = "Key")]
    pub key: InstanceKeyJson,
    #[serde(rename = "BeginTimestamp")]
    pub begin: String,
    #[serde(rename = "EndTimestamp")]
    pub end: String,
    #[serde(rename = "IsActive")]
    pub active: bool,
    #[serde(rename = "Owner")]
    pub owner: String,
    #[serde(rename = "Reason")]
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_uses_orchestrators_names() {
        let ok = serde_json::to_value(ApiResponse::ok("done", 5)).unwrap();
        assert_eq!(
            ok,
            serde_json::json!({"Code": "OK", "Message": "done", "Details": 5})
        );
        let error = serde_json::to_value(ApiResponse::error("nope")).unwrap();
        assert_eq!(
            error,
            serde_json::json!({"Code": "ERROR", "Message": "nope", "Details": null})
        );
    }
}
