//! The parts of orchestrator's `ReplicationAnalysis` entry beyond what its clients usually
//! read: location, coordinates, the replicas' logging, GTID and semi-sync make-up, downtime
//! and the processing node. Derived from the topology the analysis was made on; what arbor
//! has no notion of (Pseudo-GTID, binlog servers, partial checks) is its zero value.
//! Flattened into [`crate::ReplicationAnalysisJson`].

use std::collections::BTreeSet;

use arbor_topology::{GtidKind, InstanceKey, Timestamp, Topology};
use serde::{Deserialize, Serialize};

use crate::{Annotations, BinlogCoordinatesJson, InstanceKeyJson};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalysisExtrasJson {
    #[serde(rename = "AnalyzedInstanceDataCenter")]
    pub data_center: String,
    #[serde(rename = "AnalyzedInstanceRegion")]
    pub region: String,
    #[serde(rename = "AnalyzedInstancePhysicalEnvironment")]
    pub physical_environment: String,
    #[serde(rename = "AnalyzedInstanceBinlogCoordinates")]
    pub binlog_coordinates: Option<BinlogCoordinatesJson>,
    #[serde(rename = "IsClusterMaster")]
    pub is_cluster_master: bool,
    #[serde(rename = "LastCheckPartialSuccess")]
    pub last_check_partial_success: bool,
    #[serde(rename = "ReplicationDepth")]
    pub replication_depth: usize,
    #[serde(rename = "SlaveHosts")]
    pub slave_hosts: Vec<InstanceKeyJson>,
    #[serde(rename = "IsFailingToConnectToMaster")]
    pub is_failing_to_connect_to_master: bool,
    #[serde(rename = "ReplicationStopped")]
    pub replication_stopped: bool,
    #[serde(rename = "IsReplicasDowntimed")]
    pub is_replicas_downtimed: bool,
    #[serde(rename = "DowntimeEndTimestamp")]
    pub downtime_end_timestamp: String,
    #[serde(rename = "DowntimeRemainingSeconds")]
    pub downtime_remaining_seconds: u64,
    #[serde(rename = "IsBinlogServer")]
    pub is_binlog_server: bool,
    #[serde(rename = "PseudoGTIDImmediateTopology")]
    pub pseudo_gtid_immediate_topology: bool,
    #[serde(rename = "OracleGTIDImmediateTopology")]
    pub oracle_gtid_immediate_topology: bool,
    #[serde(rename = "MariaDBGTIDImmediateTopology")]
    pub mariadb_gtid_immediate_topology: bool,
    #[serde(rename = "BinlogServerImmediateTopology")]
    pub binlog_server_immediate_topology: bool,
    #[serde(rename = "SemiSyncMasterEnabled")]
    pub semi_sync_master_enabled: bool,
    #[serde(rename = "SemiSyncMasterStatus")]
    pub semi_sync_master_status: bool,
    #[serde(rename = "SemiSyncMasterWaitForReplicaCount")]
    pub semi_sync_master_wait_for_replica_count: u64,
    #[serde(rename = "SemiSyncMasterClients")]
    pub semi_sync_master_clients: u64,
    #[serde(rename = "CountSemiSyncReplicasEnabled")]
    pub count_semi_sync_replicas_enabled: usize,
    #[serde(rename = "CountLoggingReplicas")]
    pub count_logging_replicas: usize,
    #[serde(rename = "CountStatementBasedLoggingReplicas")]
    pub count_statement_based_logging_replicas: usize,
    #[serde(rename = "CountMixedBasedLoggingReplicas")]
    pub count_mixed_based_logging_replicas: usize,
    #[serde(rename = "CountRowBasedLoggingReplicas")]
    pub count_row_based_logging_replicas: usize,
    #[serde(rename = "CountDistinctMajorVersionsLoggingReplicas")]
    pub count_distinct_major_versions_logging_replicas: usize,
    /// The arbor node that made the analysis.
    #[serde(rename = "ProcessingNodeHostname")]
    pub processing_node_hostname: String,
    #[serde(rename = "ProcessingNodeToken")]
    pub processing_node_token: String,
    /// Other nodes' agreement is asked for before a recovery, not per analysis: 0.
    #[serde(rename = "CountAdditionalAgreeingNodes")]
    pub count_additional_agreeing_nodes: usize,
    #[serde(rename = "StartActivePeriod")]
    pub start_active_period: String,
    #[serde(rename = "GTIDMode")]
    pub gtid_mode: String,
    #[serde(rename = "MinReplicaGTIDMode")]
    pub min_replica_gtid_mode: String,
    #[serde(rename = "MaxReplicaGTIDMode")]
    pub max_replica_gtid_mode: String,
    #[serde(rename = "MaxReplicaGTIDErrant")]
    pub max_replica_gtid_errant: String,
}

impl AnalysisExtrasJson {
    /// For the analysis of `key` on `topology`, as seen by node `node` at `now`.
    pub fn of(
        key: &InstanceKey,
        topology: &Topology,
        annotations: &Annotations,
        node: &str,
        now: Timestamp,
        errant_gtid: fn(
            &arbor_topology::Instance,
            Option<&arbor_topology::Instance>,
        ) -> Option<String>,
    ) -> AnalysisExtrasJson {
        let Some(record) = topology.record(key) else {
            return AnalysisExtrasJson::default();
        };
        let instance = &record.instance;
        let replicas = topology.replicas_of(key);
        let logging: Vec<_> = replicas
            .iter()
            .filter(|r| r.instance.log_bin && r.instance.log_replica_updates)
            .collect();
        let count_format = |format: &str| {
            logging
                .iter()
                .filter(|r| r.instance.binlog_format.eq_ignore_ascii_case(format))
                .count()
        };
        let majors: BTreeSet<(u16, u16)> = logging
            .iter()
            .map(|r| {
                let v = r.instance.server_version();
                (v.major, v.minor)
            })
            .collect();
        let all_use = |kind: GtidKind| {
            !replicas.is_empty()
                && replicas.iter().all(|r| {
                    r.instance
                        .replication
                        .as_ref()
                        .is_some_and(|s| s.gtid_kind == kind)
                })
        };
        let modes: BTreeSet<String> = replicas
            .iter()
            .map(|r| r.instance.gtid_mode.clone())
            .filter(|m| !m.is_empty())
            .collect();
        let max_errant = replicas
            .iter()
            .filter_map(|r| errant_gtid(&r.instance, Some(instance)))
            .max_by_key(String::len)
            .unwrap_or_default();
        let replication = instance.replication.as_ref();
        let downtime = annotations.downtimes.get(key);
        AnalysisExtrasJson {
            data_center: instance.data_center.clone(),
            region: instance.region.clone(),
            physical_environment: instance.physical_environment.clone(),
            binlog_coordinates: Some(BinlogCoordinatesJson::binary(
                instance.self_coordinates.as_ref(),
            )),
            is_cluster_master: instance.source().is_none()
                && topology
                    .cluster_root(topology.cluster_of(key).unwrap_or_default())
                    .is_some_and(|root| root.key() == key),
            last_check_partial_success: false,
            replication_depth: topology.depth_of(key),
            slave_hosts: replicas.iter().map(|r| r.key().into()).collect(),
            is_failing_to_connect_to_master: replication.is_some_and(|r| {
                r.last_io_errno != 0 && r.io_thread != arbor_topology::IoThreadState::Running
            }),
            replication_stopped: replication.is_some_and(|r| {
                !r.sql_thread_running && r.io_thread == arbor_topology::IoThreadState::Stopped
            }),
            is_replicas_downtimed: !replicas.is_empty()
                && replicas
                    .iter()
                    .all(|r| annotations.downtimes.contains_key(r.key())),
            downtime_end_timestamp: downtime
                .map(|d| d.end.to_sql_datetime())
                .unwrap_or_default(),
            downtime_remaining_seconds: downtime.map(|d| d.end.since(now).as_secs()).unwrap_or(0),
            oracle_gtid_immediate_topology: all_use(GtidKind::Oracle),
            mariadb_gtid_immediate_topology: all_use(GtidKind::MariaDb),
            semi_sync_master_enabled: instance.semi_sync.primary_enabled,
            semi_sync_master_status: instance.semi_sync.primary_status,
            semi_sync_master_wait_for_replica_count: instance.semi_sync.wait_for_replica_count,
            semi_sync_master_clients: instance.semi_sync.primary_clients,
            count_semi_sync_replicas_enabled: replicas
                .iter()
                .filter(|r| r.instance.semi_sync.replica_enabled)
                .count(),
            count_logging_replicas: logging.len(),
            count_statement_based_logging_replicas: count_format("STATEMENT"),
            count_mixed_based_logging_replicas: count_format("MIXED"),
            count_row_based_logging_replicas: count_format("ROW"),
            count_distinct_major_versions_logging_replicas: majors.len(),
            processing_node_hostname: node.to_string(),
            processing_node_token: node.to_string(),
            gtid_mode: instance.gtid_mode.clone(),
            min_replica_gtid_mode: modes.iter().next().cloned().unwrap_or_default(),
            max_replica_gtid_mode: modes.iter().next_back().cloned().unwrap_or_default(),
            max_replica_gtid_errant: max_errant,
            ..AnalysisExtrasJson::default()
        }
    }
}
