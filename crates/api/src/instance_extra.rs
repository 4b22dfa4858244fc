//! The parts of orchestrator's `Instance` JSON beyond the core reading: semi-synchronous
//! replication, and the fields for what arbor does not have (group replication, snapshots,
//! credentials queries), emitted with their types and zero values so that scripts reading them
//! find what they expect. Flattened into [`crate::InstanceJson`].

use arbor_topology::{InstanceRecord, SemiSync};
use serde::{Deserialize, Serialize};

use crate::{InstanceKeyJson, ViewContext};

/// orchestrator's `SemiSync*` fields, and arbor's wait point.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SemiSyncJson {
    #[serde(rename = "SemiSyncAvailable")]
    pub available: bool,
    /// The priority `DetectSemiSyncEnforcedQuery` answered (0 without one, as orchestrator).
    #[serde(rename = "SemiSyncPriority")]
    pub priority: u64,
    #[serde(rename = "SemiSyncMasterEnabled")]
    pub master_enabled: bool,
    #[serde(rename = "SemiSyncReplicaEnabled")]
    pub replica_enabled: bool,
    #[serde(rename = "SemiSyncMasterTimeout")]
    pub master_timeout: u64,
    #[serde(rename = "SemiSyncMasterWaitForReplicaCount")]
    pub master_wait_for_replica_count: u64,
    #[serde(rename = "SemiSyncMasterStatus")]
    pub master_status: bool,
    #[serde(rename = "SemiSyncMasterClients")]
    pub master_clients: u64,
    #[serde(rename = "SemiSyncReplicaStatus")]
    pub replica_status: bool,
    /// `AFTER_SYNC` or `AFTER_COMMIT` (empty without semi-sync).
    #[serde(rename = "ArborSemiSyncWaitPoint")]
    pub wait_point: String,
}

impl From<&SemiSync> for SemiSyncJson {
    fn from(s: &SemiSync) -> Self {
        SemiSyncJson {
            available: s.available,
            priority: s.priority.unwrap_or(0),
            master_enabled: s.primary_enabled,
            replica_enabled: s.replica_enabled,
            master_timeout: s.timeout_ms,
            master_wait_for_replica_count: s.wait_for_replica_count,
            master_status: s.primary_status,
            master_clients: s.primary_clients,
            replica_status: s.replica_status,
            wait_point: s.wait_point.clone(),
        }
    }
}

/// orchestrator's remaining `Instance` fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceExtrasJson {
    /// The `server_uuid`s of this server and of its sources up the tree, comma-separated
    /// (MySQL; empty on MariaDB, which has no server UUID).
    #[serde(rename = "AncestryUUID")]
    pub ancestry_uuid: String,
    /// Replication detached by `detach-replica-master-host` (`//host`).
    #[serde(rename = "IsDetached")]
    pub is_detached: bool,
    /// orchestrator's `ReplicationCredentialsQuery` results; arbor takes `MySQLReplicaUser`
    /// from its configuration: false.
    #[serde(rename = "HasReplicationCredentials")]
    pub has_replication_credentials: bool,
    #[serde(rename = "ReplicationCredentialsAvailable")]
    pub replication_credentials_available: bool,
    /// orchestrator-agent snapshots; not supported: 0.
    #[serde(rename = "CountMySQLSnapshots")]
    pub count_mysql_snapshots: i64,
    /// How long the instance has been downtimed, in nanoseconds (Go's `time.Duration`).
    #[serde(rename = "ElapsedDowntime")]
    pub elapsed_downtime: i64,
    /// MySQL group replication is not managed by arbor: empty values.
    #[serde(rename = "ReplicationGroupName")]
    pub replication_group_name: String,
    #[serde(rename = "ReplicationGroupIsSinglePrimary")]
    pub replication_group_is_single_primary: bool,
    #[serde(rename = "ReplicationGroupMemberState")]
    pub replication_group_member_state: String,
    #[serde(rename = "ReplicationGroupMemberRole")]
    pub replication_group_member_role: String,
    #[serde(rename = "ReplicationGroupMembers")]
    pub replication_group_members: Vec<InstanceKeyJson>,
    #[serde(rename = "ReplicationGroupPrimaryInstanceKey")]
    pub replication_group_primary_instance_key: InstanceKeyJson,
    /// arbor: every replication link of a multi-source replica (MariaDB named connections,
    /// MySQL channels), the default connection (`""`) first; empty for a server with one
    /// unnamed link or none. arbor manages the default connection only.
    #[serde(rename = "ArborSourceConnections", default)]
    pub arbor_source_connections: Vec<SourceConnectionJson>,
}

/// One replication link of a multi-source replica.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceConnectionJson {
    /// MariaDB's `Connection_name`, MySQL's `Channel_Name`; empty for the default connection.
    #[serde(rename = "ConnectionName")]
    pub connection_name: String,
    #[serde(rename = "MasterKey")]
    pub master_key: InstanceKeyJson,
    #[serde(rename = "ReplicationIOThreadRunning")]
    pub io_thread_running: bool,
    #[serde(rename = "ReplicationSQLThreadRunning")]
    pub sql_thread_running: bool,
    /// `null` when the link reports none (not connected).
    #[serde(rename = "SecondsBehindMaster")]
    pub seconds_behind_master: Option<u64>,
    #[serde(rename = "LastIOError")]
    pub last_io_error: String,
    #[serde(rename = "LastSQLError")]
    pub last_sql_error: String,
}

impl InstanceExtrasJson {
    pub fn of(record: &InstanceRecord, view: &ViewContext<'_>) -> InstanceExtrasJson {
        let mut ancestry = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut current = Some(record);
        // Up the tree; a co-primary ring stops where it loops.
        while let Some(node) = current {
            if !seen.insert(node.key().clone()) {
                break;
            }
            if !node.instance.server_uuid.is_empty() {
                ancestry.push(node.instance.server_uuid.clone());
            }
            current = node.instance.source().and_then(|s| view.topology.record(s));
        }
        let elapsed_downtime = view
            .annotations
            .downtimes
            .get(record.key())
            .map(|d| view.now.since(d.begin).as_nanos() as i64)
            .unwrap_or(0);
        InstanceExtrasJson {
            ancestry_uuid: ancestry.join(","),
            is_detached: record
                .instance
                .replication
                .as_ref()
                .is_some_and(|r| r.is_detached()),
            elapsed_downtime,
            replication_group_primary_instance_key: InstanceKeyJson::empty(),
            arbor_source_connections: source_connections(&record.instance),
            ..InstanceExtrasJson::default()
        }
    }
}

/// Every link of a server that has a named one; none otherwise.
fn source_connections(instance: &arbor_topology::Instance) -> Vec<SourceConnectionJson> {
    if instance.named_links().is_empty() {
        return Vec::new();
    }
    instance
        .replication
        .iter()
        .chain(&instance.other_links)
        .map(|link| SourceConnectionJson {
            connection_name: link.connection_name.clone(),
            master_key: (&link.source).into(),
            io_thread_running: link.io_thread == arbor_topology::IoThreadState::Running,
            sql_thread_running: link.sql_thread_running,
            seconds_behind_master: link.seconds_behind_source,
            last_io_error: link.last_io_error.clone(),
            last_sql_error: link.last_sql_error.clone(),
        })
        .collect()
}
