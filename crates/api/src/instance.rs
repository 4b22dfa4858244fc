use std::time::Duration;

use arbor_topology::{
    BinlogCoordinates, Flavor, GtidKind, InstanceKey, InstanceRecord, InstanceStatus,
    IoThreadState, Timestamp, Topology,
};
use serde::{Deserialize, Serialize};

/// `{"Hostname": "...", "Port": 3306}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InstanceKeyJson {
    #[serde(rename = "Hostname")]
    pub hostname: String,
    #[serde(rename = "Port")]
    pub port: u16,
}

impl From<&InstanceKey> for InstanceKeyJson {
    fn from(key: &InstanceKey) -> Self {
        InstanceKeyJson {
            hostname: key.hostname.clone(),
            port: key.port,
        }
    }
}

impl InstanceKeyJson {
    pub fn to_key(&self) -> InstanceKey {
        InstanceKey::new(self.hostname.clone(), self.port)
    }

    /// An empty key (orchestrator's zero value for "no master").
    pub fn empty() -> Self {
        InstanceKeyJson {
            hostname: String::new(),
            port: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hostname.is_empty()
    }
}

/// Go's `sql.NullInt64` as orchestrator serializes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NullInt64 {
    #[serde(rename = "Int64")]
    pub int64: i64,
    #[serde(rename = "Valid")]
    pub valid: bool,
}

impl From<Option<u64>> for NullInt64 {
    fn from(value: Option<u64>) -> Self {
        NullInt64 {
            int64: value.map(|v| v as i64).unwrap_or(0),
            valid: value.is_some(),
        }
    }
}

impl NullInt64 {
    pub fn value(&self) -> Option<i64> {
        self.valid.then_some(self.int64)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinlogCoordinatesJson {
    #[serde(rename = "LogFile")]
    pub log_file: String,
    #[serde(rename = "LogPos")]
    pub log_pos: u64,
    /// orchestrator's `BinlogType`, a number: 0 for a binary log, 1 for a relay log.
    #[serde(rename = "Type")]
    pub kind: u8,
}

/// orchestrator's `BinaryLog`.
pub const BINARY_LOG: u8 = 0;
/// orchestrator's `RelayLog`.
pub const RELAY_LOG: u8 = 1;

impl BinlogCoordinatesJson {
    pub fn binary(coordinates: Option<&BinlogCoordinates>) -> Self {
        BinlogCoordinatesJson::of(coordinates, BINARY_LOG)
    }

    fn of(coordinates: Option<&BinlogCoordinates>, kind: u8) -> Self {
        BinlogCoordinatesJson {
            log_file: coordinates.map(|c| c.log_file.clone()).unwrap_or_default(),
            log_pos: coordinates.map(|c| c.log_pos).unwrap_or(0),
            kind,
        }
    }
}

/// Operator intents attached to instances: downtimes and promotion rules in force.
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    pub downtimes: std::collections::HashMap<InstanceKey, arbor_topology::Downtime>,
    pub rules: std::collections::HashMap<InstanceKey, arbor_topology::PromotionRule>,
    /// Maintenance locks in force: the holder's name.
    pub maintenance: std::collections::HashMap<InstanceKey, String>,
}

/// What a view of an instance needs besides the record itself.
pub struct ViewContext<'a> {
    pub topology: &'a Topology,
    pub now: Timestamp,
    /// `InstancePollSeconds + ReasonableInstanceCheckSeconds`: a check older than this is stale.
    pub check_window: Duration,
    /// `ReasonableReplicationLagSeconds`.
    pub reasonable_lag: Duration,
    pub annotations: Annotations,
    /// The errant transactions of a replica against its source's reading, if any (the
    /// analysis crate's judgement, passed in so that these wire types stay free of it).
    pub errant_gtid: ErrantGtid,
}

/// Judges a replica's errant transactions against its source's reading.
pub type ErrantGtid =
    fn(&arbor_topology::Instance, Option<&arbor_topology::Instance>) -> Option<String>;

/// orchestrator's `Instance` JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceJson {
    #[serde(rename = "Key")]
    pub key: InstanceKeyJson,
    #[serde(rename = "InstanceAlias")]
    pub instance_alias: String,
    #[serde(rename = "Uptime")]
    pub uptime: u64,
    #[serde(rename = "ServerID")]
    pub server_id: u64,
    #[serde(rename = "ServerUUID")]
    pub server_uuid: String,
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "VersionComment")]
    pub version_comment: String,
    #[serde(rename = "FlavorName")]
    pub flavor_name: String,
    #[serde(rename = "ReadOnly")]
    pub read_only: bool,
    #[serde(rename = "Binlog_format")]
    pub binlog_format: String,
    #[serde(rename = "BinlogRowImage")]
    pub binlog_row_image: String,
    #[serde(rename = "LogBinEnabled")]
    pub log_bin_enabled: bool,
    #[serde(rename = "LogSlaveUpdatesEnabled")]
    pub log_slave_updates_enabled: bool,
    #[serde(rename = "LogReplicationUpdatesEnabled")]
    pub log_replication_updates_enabled: bool,
    #[serde(rename = "SelfBinlogCoordinates")]
    pub self_binlog_coordinates: BinlogCoordinatesJson,
    #[serde(rename = "MasterKey")]
    pub master_key: InstanceKeyJson,
    #[serde(rename = "MasterUUID")]
    pub master_uuid: String,
    #[serde(rename = "IsDetachedMaster")]
    pub is_detached_master: bool,
    #[serde(rename = "Slave_SQL_Running")]
    pub slave_sql_running: bool,
    #[serde(rename = "ReplicationSQLThreadRuning")]
    pub replication_sql_thread_runing: bool,
    #[serde(rename = "Slave_IO_Running")]
    pub slave_io_running: bool,
    #[serde(rename = "ReplicationIOThreadRuning")]
    pub replication_io_thread_runing: bool,
    /// -1 not a replica, 0 stopped, 1 running, 2 other (e.g. connecting).
    #[serde(rename = "ReplicationSQLThreadState")]
    pub replication_sql_thread_state: i8,
    #[serde(rename = "ReplicationIOThreadState")]
    pub replication_io_thread_state: i8,
    #[serde(rename = "HasReplicationFilters")]
    pub has_replication_filters: bool,
    #[serde(rename = "GTIDMode")]
    pub gtid_mode: String,
    #[serde(rename = "SupportsOracleGTID")]
    pub supports_oracle_gtid: bool,
    #[serde(rename = "UsingOracleGTID")]
    pub using_oracle_gtid: bool,
    #[serde(rename = "UsingMariaDBGTID")]
    pub using_mariadb_gtid: bool,
    #[serde(rename = "UsingPseudoGTID")]
    pub using_pseudo_gtid: bool,
    #[serde(rename = "ReadBinlogCoordinates")]
    pub read_binlog_coordinates: BinlogCoordinatesJson,
    #[serde(rename = "ExecBinlogCoordinates")]
    pub exec_binlog_coordinates: BinlogCoordinatesJson,
    #[serde(rename = "RelaylogCoordinates")]
    pub relaylog_coordinates: BinlogCoordinatesJson,
    #[serde(rename = "LastSQLError")]
    pub last_sql_error: String,
    #[serde(rename = "LastIOError")]
    pub last_io_error: String,
    #[serde(rename = "SecondsBehindMaster")]
    pub seconds_behind_master: NullInt64,
    #[serde(rename = "SQLDelay")]
    pub sql_delay: u64,
    #[serde(rename = "ExecutedGtidSet")]
    pub executed_gtid_set: String,
    #[serde(rename = "GtidPurged")]
    pub gtid_purged: String,
    #[serde(rename = "GtidErrant")]
    pub gtid_errant: String,
    #[serde(rename = "ReplicationLagSeconds")]
    pub replication_lag_seconds: NullInt64,
    #[serde(rename = "SlaveLagSeconds")]
    pub slave_lag_seconds: NullInt64,
    #[serde(rename = "Replicas")]
    pub replicas: Vec<InstanceKeyJson>,
    #[serde(rename = "SlaveHosts")]
    pub slave_hosts: Vec<InstanceKeyJson>,
    #[serde(rename = "ClusterName")]
    pub cluster_name: String,
    #[serde(rename = "SuggestedClusterAlias")]
    pub suggested_cluster_alias: String,
    #[serde(rename = "DataCenter")]
    pub data_center: String,
    #[serde(rename = "Region")]
    pub region: String,
    #[serde(rename = "PhysicalEnvironment")]
    pub physical_environment: String,
    #[serde(rename = "ReplicationDepth")]
    pub replication_depth: usize,
    #[serde(rename = "IsCoMaster")]
    pub is_co_master: bool,
    #[serde(rename = "LastSeenTimestamp")]
    pub last_seen_timestamp: String,
    #[serde(rename = "IsLastCheckValid")]
    pub is_last_check_valid: bool,
    #[serde(rename = "IsUpToDate")]
    pub is_up_to_date: bool,
    #[serde(rename = "IsRecentlyChecked")]
    pub is_recently_checked: bool,
    #[serde(rename = "SecondsSinceLastSeen")]
    pub seconds_since_last_seen: NullInt64,
    #[serde(rename = "IsCandidate")]
    pub is_candidate: bool,
    #[serde(rename = "PromotionRule")]
    pub promotion_rule: String,
    #[serde(rename = "IsDowntimed")]
    pub is_downtimed: bool,
    #[serde(rename = "DowntimeReason")]
    pub downtime_reason: String,
    #[serde(rename = "DowntimeOwner")]
    pub downtime_owner: String,
    #[serde(rename = "DowntimeEndTimestamp")]
    pub downtime_end_timestamp: String,
    #[serde(rename = "UnresolvedHostname")]
    pub unresolved_hostname: String,
    #[serde(rename = "AllowTLS")]
    pub allow_tls: bool,
    #[serde(rename = "Problems")]
    pub problems: Vec<String>,
    /// Nanoseconds, as Go's `time.Duration`.
    #[serde(rename = "LastDiscoveryLatency")]
    pub last_discovery_latency: u64,
    /// arbor's reading of the instance: `ok`, `lagging`, `replication stopped`, `broken`,
    /// `unreachable` or `unchecked`.
    #[serde(rename = "ArborStatus")]
    pub arbor_status: String,
    /// Why the last check failed; empty when it succeeded.
    #[serde(rename = "ArborLastCheckError")]
    pub arbor_last_check_error: String,
    /// Who holds the instance's maintenance lock; empty when none.
    #[serde(rename = "ArborMaintenanceOwner", default)]
    pub arbor_maintenance_owner: String,
    #[serde(flatten)]
    pub semi_sync: crate::instance_extra::SemiSyncJson,
    #[serde(flatten)]
    pub extras: crate::instance_extra::InstanceExtrasJson,
}

fn thread_state(replicating: bool, running: bool, other: bool) -> i8 {
    match (replicating, running, other) {
        (false, _, _) => -1,
        (true, true, _) => 1,
        (true, false, true) => 2,
        (true, false, false) => 0,
    }
}

impl InstanceJson {
    pub fn from_record(record: &InstanceRecord, view: &ViewContext<'_>) -> InstanceJson {
        let instance = &record.instance;
        let replication = instance.replication.as_ref();
        let is_replica = replication.is_some();
        let io = replication.map(|r| r.io_thread).unwrap_or_default();
        let sql_running = replication.is_some_and(|r| r.sql_thread_running);
        let lag = replication.and_then(|r| r.seconds_behind_source);
        let status = record.status(view.reasonable_lag);
        let valid = record.is_last_check_valid();
        let recently_checked = record.is_recently_checked(view.now, view.check_window);
        let cluster_name = view
            .topology
            .cluster_of(record.key())
            .unwrap_or_default()
            .to_string();
        let replicas: Vec<InstanceKeyJson> = instance.replicas.iter().map(Into::into).collect();
        let is_co_master = view.topology.is_co_primary(record.key());

        let downtime = view.annotations.downtimes.get(record.key());
        // Errant transactions of a replica, judged against a valid reading of its source.
        let errant = match instance.source() {
            Some(source) if valid => {
                let source = view
                    .topology
                    .record(source)
                    .filter(|s| s.is_last_check_valid())
                    .map(|s| &s.instance);
                (view.errant_gtid)(instance, source).unwrap_or_default()
            }
            _ => String::new(),
        };
        let mut problems = Vec::new();
        if !valid {
            problems.push("last_check_invalid".to_string());
        }
        if !recently_checked {
            problems.push("not_recently_checked".to_string());
        }
        if is_replica && !replication.is_some_and(|r| r.is_replicating()) {
            problems.push("not_replicating".to_string());
        }
        if status == InstanceStatus::Lagging {
            problems.push("replication_lag".to_string());
        }
        if !errant.is_empty() {
            problems.push("errant_gtid".to_string());
        }
        if instance.failure_detection_advice().is_some() {
            problems.push("slow_failure_detection_settings".to_string());
        }

        InstanceJson {
            key: record.key().into(),
            instance_alias: String::new(),
            uptime: 0,
            server_id: instance.server_id,
            server_uuid: instance.server_uuid.clone(),
            version: instance.version.clone(),
            version_comment: instance.version_comment.clone(),
            flavor_name: if instance.version.is_empty() {
                String::new()
            } else {
                instance.flavor.name().to_string()
            },
            read_only: instance.read_only,
            binlog_format: instance.binlog_format.clone(),
            binlog_row_image: instance.binlog_row_image.clone(),
            log_bin_enabled: instance.log_bin,
            log_slave_updates_enabled: instance.log_replica_updates,
            log_replication_updates_enabled: instance.log_replica_updates,
            self_binlog_coordinates: BinlogCoordinatesJson::binary(
                instance.self_coordinates.as_ref(),
            ),
            // The source as configured, `//host` when detached (orchestrator's convention).
            master_key: replication
                .map(|r| (&r.source).into())
                .unwrap_or_else(InstanceKeyJson::empty),
            master_uuid: replication
                .map(|r| r.source_uuid.clone())
                .unwrap_or_default(),
            is_detached_master: replication.is_some_and(|r| r.is_detached()),
            slave_sql_running: sql_running,
            replication_sql_thread_runing: sql_running,
            slave_io_running: io == IoThreadState::Running,
            replication_io_thread_runing: io == IoThreadState::Running,
            replication_sql_thread_state: thread_state(is_replica, sql_running, false),
            replication_io_thread_state: thread_state(
                is_replica,
                io == IoThreadState::Running,
                io == IoThreadState::Connecting,
            ),
            has_replication_filters: replication.is_some_and(|r| r.has_replication_filters),
            gtid_mode: instance.gtid_mode.clone(),
            supports_oracle_gtid: instance.flavor != Flavor::MariaDb && instance.supports_gtid(),
            using_oracle_gtid: replication.is_some_and(|r| r.gtid_kind == GtidKind::Oracle),
            using_mariadb_gtid: replication.is_some_and(|r| r.gtid_kind == GtidKind::MariaDb),
            using_pseudo_gtid: false,
            read_binlog_coordinates: BinlogCoordinatesJson::binary(
                replication.map(|r| &r.read_coordinates),
            ),
            exec_binlog_coordinates: BinlogCoordinatesJson::binary(
                replication.map(|r| &r.exec_coordinates),
            ),
            relaylog_coordinates: BinlogCoordinatesJson::of(
                replication.map(|r| &r.relay_coordinates),
                RELAY_LOG,
            ),
            last_sql_error: replication
                .map(|r| r.last_sql_error.clone())
                .unwrap_or_default(),
            last_io_error: replication
                .map(|r| r.last_io_error.clone())
                .unwrap_or_default(),
            seconds_behind_master: lag.into(),
            sql_delay: replication.map(|r| r.sql_delay).unwrap_or(0),
            executed_gtid_set: instance.gtid_executed.clone(),
            gtid_purged: instance.gtid_purged.clone(),
            gtid_errant: errant,
            replication_lag_seconds: lag.into(),
            slave_lag_seconds: lag.into(),
            slave_hosts: replicas.clone(),
            replicas,
            cluster_name,
            suggested_cluster_alias: instance.suggested_cluster_alias.clone(),
            data_center: instance.data_center.clone(),
            region: instance.region.clone(),
            physical_environment: instance.physical_environment.clone(),
            replication_depth: view.topology.depth_of(record.key()),
            is_co_master,
            last_seen_timestamp: record
                .last_seen
                .map(|t| t.to_sql_datetime())
                .unwrap_or_default(),
            is_last_check_valid: valid,
            is_up_to_date: valid && recently_checked,
            is_recently_checked: recently_checked,
            seconds_since_last_seen: record
                .last_seen
                .map(|seen| view.now.since(seen).as_secs())
                .into(),
            is_candidate: matches!(
                view.annotations.rules.get(record.key()),
                Some(arbor_topology::PromotionRule::Must | arbor_topology::PromotionRule::Prefer)
            ),
            promotion_rule: view
                .annotations
                .rules
                .get(record.key())
                .copied()
                .unwrap_or(arbor_topology::PromotionRule::Neutral)
                .name()
                .to_string(),
            is_downtimed: downtime.is_some(),
            downtime_reason: downtime.map(|d| d.reason.clone()).unwrap_or_default(),
            downtime_owner: downtime.map(|d| d.owner.clone()).unwrap_or_default(),
            downtime_end_timestamp: downtime
                .map(|d| d.end.to_sql_datetime())
                .unwrap_or_default(),
            unresolved_hostname: String::new(),
            allow_tls: false,
            problems,
            last_discovery_latency: instance.probe_latency_ms.saturating_mul(1_000_000),
            arbor_status: status.label().to_string(),
            arbor_last_check_error: record.last_error.clone(),
            arbor_maintenance_owner: view
                .annotations
                .maintenance
                .get(record.key())
                .cloned()
                .unwrap_or_default(),
            semi_sync: (&instance.semi_sync).into(),
            extras: crate::instance_extra::InstanceExtrasJson::of(record, view),
        }
    }
}

/// orchestrator's `ClusterInfo` JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    #[serde(rename = "ClusterName")]
    pub cluster_name: String,
    #[serde(rename = "ClusterAlias")]
    pub cluster_alias: String,
    #[serde(rename = "ClusterDomain")]
    pub cluster_domain: String,
    #[serde(rename = "CountInstances")]
    pub count_instances: usize,
    /// The largest replication lag in the cluster, in seconds.
    #[serde(rename = "HeuristicLag")]
    pub heuristic_lag: u64,
    #[serde(rename = "HasAutomatedMasterRecovery")]
    pub has_automated_master_recovery: bool,
    #[serde(rename = "HasAutomatedIntermediateMasterRecovery")]
    pub has_automated_intermediate_master_recovery: bool,
    #[serde(rename = "ArborCountUnreachableInstances")]
    pub count_unreachable_instances: usize,
    /// Replicas whose lag cannot be known now (not replicating, or not read): while there are
    /// any, `HeuristicLag` is a lower bound and the UI says "unknown".
    #[serde(rename = "ArborCountUnknownLagReplicas", default)]
    pub count_unknown_lag_replicas: usize,
    /// The primary's version and flavour (`MariaDB`, `MySQL`), empty when it was never read.
    #[serde(rename = "ArborPrimaryVersion", default)]
    pub primary_version: String,
    #[serde(rename = "ArborPrimaryFlavor", default)]
    pub primary_flavor: String,
}

impl ClusterInfo {
    /// `automated`: whether the recovery filters match the cluster, for its primary and for its
    /// intermediate primaries.
    pub fn of(topology: &Topology, cluster_name: &str, automated: (bool, bool)) -> ClusterInfo {
        let members = topology.cluster_members(cluster_name);
        let heuristic_lag = members
            .iter()
            .filter_map(|r| r.instance.replication.as_ref())
            .filter_map(|r| r.seconds_behind_source)
            .max()
            .unwrap_or(0);
        let count_unknown_lag_replicas = members
            .iter()
            .filter(|r| {
                r.instance.replication.as_ref().is_some_and(|link| {
                    !r.is_last_check_valid() || link.seconds_behind_source.is_none()
                })
            })
            .count();
        let primary = cluster_name
            .parse::<arbor_topology::InstanceKey>()
            .ok()
            .and_then(|key| topology.record(&key))
            .map(|r| &r.instance)
            .filter(|i| !i.version.is_empty());
        let summary = topology
            .cluster_summaries()
            .into_iter()
            .find(|s| s.name == cluster_name);
        ClusterInfo {
            cluster_name: cluster_name.to_string(),
            cluster_alias: topology
                .alias_of(cluster_name)
                .unwrap_or(cluster_name)
                .to_string(),
            cluster_domain: String::new(),
            count_instances: members.len(),
            heuristic_lag,
            has_automated_master_recovery: automated.0,
            has_automated_intermediate_master_recovery: automated.1,
            count_unreachable_instances: summary.map(|s| s.unreachable_count).unwrap_or(0),
            count_unknown_lag_replicas,
            primary_version: primary.map(|i| i.version.clone()).unwrap_or_default(),
            primary_flavor: primary
                .map(|i| i.flavor.name().to_string())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_topology::{Instance, ReplicaStatus, TopologyOptions};

    #[test]
    fn instance_json_keeps_orchestrators_field_names() {
        let key: InstanceKey = "db2:3306".parse().unwrap();
        let mut instance = Instance::unseen(key.clone());
        instance.version = "10.11.6-MariaDB".into();
        instance.flavor = Flavor::MariaDb;
        instance.replication = Some(ReplicaStatus {
            source: "db1:3306".parse().unwrap(),
            io_thread: IoThreadState::Connecting,
            sql_thread_running: true,
            gtid_kind: GtidKind::MariaDb,
            ..ReplicaStatus::default()
        });
        let record = InstanceRecord {
            instance,
            first_discovered: Timestamp(0),
            last_attempted_check: Some(Timestamp(1_000)),
            last_checked: Some(Timestamp(1_000)),
            last_seen: Some(Timestamp(1_000)),
            last_error: String::new(),
        };
        let topology = Topology::new(vec![record.clone()], &TopologyOptions::default());
        let view = ViewContext {
            topology: &topology,
            now: Timestamp(3_000),
            check_window: Duration::from_secs(6),
            reasonable_lag: Duration::from_secs(10),
            annotations: Annotations::default(),
            errant_gtid: |_, _| None,
        };
        let json = serde_json::to_value(InstanceJson::from_record(&record, &view)).unwrap();
        assert_eq!(
            json["Key"],
            serde_json::json!({"Hostname": "db2", "Port": 3306})
        );
        assert_eq!(json["MasterKey"]["Hostname"], "db1");
        assert_eq!(json["ReplicationSQLThreadRuning"], true);
        assert_eq!(json["Slave_SQL_Running"], true);
        assert_eq!(json["Slave_IO_Running"], false);
        assert_eq!(json["ReplicationIOThreadState"], 2, "connecting is 'other'");
        assert_eq!(
            json["SecondsBehindMaster"],
            serde_json::json!({"Int64": 0, "Valid": false})
        );
        assert_eq!(json["UsingMariaDBGTID"], true);
        assert_eq!(json["ClusterName"], "db1:3306");
        assert_eq!(json["ReplicationDepth"], 1);
        assert_eq!(json["SecondsSinceLastSeen"]["Int64"], 2);
        assert_eq!(json["ArborStatus"], "broken");
        assert_eq!(json["Problems"], serde_json::json!(["not_replicating"]));
        let back: InstanceJson = serde_json::from_value(json).unwrap();
        assert_eq!(back.key.to_key(), key);
    }
}

/// orchestrator's `ReplicationAnalysis` JSON (the fields its clients read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationAnalysisJson {
    #[serde(rename = "AnalyzedInstanceKey")]
    pub analyzed_instance_key: InstanceKeyJson,
    #[serde(rename = "AnalyzedInstanceMasterKey")]
    pub analyzed_instance_master_key: InstanceKeyJson,
    #[serde(rename = "ClusterDetails")]
    pub cluster_details: ClusterInfo,
    #[serde(rename = "IsMaster")]
    pub is_master: bool,
    #[serde(rename = "IsCoMaster")]
    pub is_co_master: bool,
    #[serde(rename = "LastCheckValid")]
    pub last_check_valid: bool,
    #[serde(rename = "IsReadOnly")]
    pub is_read_only: bool,
    #[serde(rename = "CountReplicas")]
    pub count_replicas: usize,
    #[serde(rename = "CountValidReplicas")]
    pub count_valid_replicas: usize,
    #[serde(rename = "CountValidReplicatingReplicas")]
    pub count_valid_replicating_replicas: usize,
    #[serde(rename = "CountReplicasFailingToConnectToMaster")]
    pub count_replicas_failing_to_connect_to_master: usize,
    #[serde(rename = "CountDowntimedReplicas")]
    pub count_downtimed_replicas: usize,
    #[serde(rename = "CountDelayedReplicas")]
    pub count_delayed_replicas: usize,
    #[serde(rename = "CountLaggingReplicas")]
    pub count_lagging_replicas: usize,
    #[serde(rename = "Replicas")]
    pub replicas: Vec<InstanceKeyJson>,
    /// The code, or `NoProblem` when only structure warnings were found.
    #[serde(rename = "Analysis")]
    pub analysis: String,
    #[serde(rename = "Description")]
    pub description: String,
    /// `null` when empty, as orchestrator writes it (a nil slice).
    #[serde(
        rename = "StructureAnalysis",
        serialize_with = "null_if_empty",
        deserialize_with = "empty_if_null",
        default
    )]
    pub structure_analysis: Vec<String>,
    #[serde(rename = "IsDowntimed")]
    pub is_downtimed: bool,
    #[serde(rename = "SkippableDueToDowntime")]
    pub skippable_due_to_downtime: bool,
    #[serde(rename = "IsActionableRecovery")]
    pub is_actionable_recovery: bool,
    #[serde(rename = "GtidErrant")]
    pub gtid_errant: String,
    #[serde(rename = "CommandHint")]
    pub command_hint: String,
    #[serde(flatten)]
    pub extras: crate::analysis_extra::AnalysisExtrasJson,
    /// Why arbor (the acting node) did not recover this failure automatically: downtime, the
    /// recovery filters, the global switch, the block period, ...; null when nothing held it
    /// back or it calls for no recovery.
    #[serde(rename = "ArborNotRecoveredBecause", default)]
    pub not_recovered_because: Option<String>,
}

/// orchestrator's `TopologyRecovery` JSON, plus arbor's steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopologyRecoveryJson {
    #[serde(rename = "Id")]
    pub id: i64,
    #[serde(rename = "UID")]
    pub uid: String,
    /// The failure it answered: `AnalyzedInstanceKey`, `Analysis`, `ClusterDetails`.
    #[serde(rename = "AnalysisEntry")]
    pub analysis_entry: serde_json::Value,
    #[serde(rename = "SuccessorKey")]
    pub successor_key: Option<InstanceKeyJson>,
    #[serde(rename = "SuccessorAlias")]
    pub successor_alias: String,
    #[serde(rename = "IsActive")]
    pub is_active: bool,
    #[serde(rename = "IsSuccessful")]
    pub is_successful: bool,
    #[serde(rename = "LostReplicas")]
    pub lost_replicas: Vec<InstanceKeyJson>,
    #[serde(rename = "ParticipatingInstanceKeys")]
    pub participating_instance_keys: Vec<InstanceKeyJson>,
    #[serde(rename = "AllErrors")]
    pub all_errors: Vec<String>,
    #[serde(rename = "RecoveryStartTimestamp")]
    pub recovery_start_timestamp: String,
    #[serde(rename = "RecoveryEndTimestamp")]
    pub recovery_end_timestamp: String,
    #[serde(rename = "ProcessingNodeHostname")]
    pub processing_node_hostname: String,
    #[serde(rename = "ProcessingNodeToken", default)]
    pub processing_node_token: String,
    /// The promoted server's own binary log position at promotion: not recorded by arbor
    /// (GTID positions are what its recoveries use), so null.
    #[serde(rename = "SuccessorBinlogCoordinates", default)]
    pub successor_binlog_coordinates: Option<BinlogCoordinatesJson>,
    /// orchestrator's link from a recovery to its detection and to a related recovery: arbor
    /// keeps neither, so 0.
    #[serde(rename = "LastDetectionId", default)]
    pub last_detection_id: i64,
    #[serde(rename = "RelatedRecoveryId", default)]
    pub related_recovery_id: i64,
    /// How the primary was recovered: `MasterRecoveryGTID` (arbor recovers with GTID), empty
    /// for other recoveries.
    #[serde(rename = "RecoveryType", default)]
    pub recovery_type: String,
    #[serde(rename = "Acknowledged")]
    pub acknowledged: bool,
    #[serde(rename = "AcknowledgedAt")]
    pub acknowledged_at: String,
    #[serde(rename = "AcknowledgedBy")]
    pub acknowledged_by: String,
    #[serde(rename = "AcknowledgedComment")]
    pub acknowledged_comment: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "ArborManual")]
    pub manual: bool,
    #[serde(rename = "ArborSteps")]
    pub steps: Vec<RecoveryStepJson>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryStepJson {
    #[serde(rename = "AuditAt")]
    pub at: String,
    /// Milliseconds from the recovery's start to this step (`AuditAt` has whole seconds).
    #[serde(rename = "ArborMillisSinceStart", default)]
    pub millis_since_start: i64,
    #[serde(rename = "Message")]
    pub message: String,
}

/// orchestrator's `BlockedTopologyRecovery`: a recovery anti-flapping refused, and which one
/// blocked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedRecoveryJson {
    #[serde(rename = "FailedInstanceKey")]
    pub failed_instance_key: InstanceKeyJson,
    #[serde(rename = "ClusterName")]
    pub cluster_name: String,
    #[serde(rename = "Analysis")]
    pub analysis: String,
    #[serde(rename = "LastBlockedTimestamp")]
    pub last_blocked_timestamp: String,
    #[serde(rename = "BlockingRecoveryId")]
    pub blocking_recovery_id: i64,
    /// arbor: why, in words.
    #[serde(rename = "ArborReason")]
    pub reason: String,
}

/// orchestrator's failure detection JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureDetectionJson {
    /// orchestrator answers failure detections in the shape of recoveries (`TopologyRecovery`):
    /// `Id` is the detection's, `RecoveryStartTimestamp` when it was detected.
    #[serde(flatten)]
    pub recovery: TopologyRecoveryJson,
    #[serde(rename = "DetectionTimestamp")]
    pub detection_timestamp: String,
}

fn null_if_empty<S: serde::Serializer>(list: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    if list.is_empty() {
        serializer.serialize_none()
    } else {
        serializer.collect_seq(list)
    }
}

fn empty_if_null<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}
