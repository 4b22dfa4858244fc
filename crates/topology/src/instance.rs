use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{InstanceKey, Timestamp};

/// Which server family a server belongs to. Percona Server speaks MySQL's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Flavor {
    #[default]
    MySql,
    Percona,
    MariaDb,
}

impl Flavor {
    /// Guesses the flavour from `@@version` and `@@version_comment`.
    pub fn detect(version: &str, version_comment: &str) -> Flavor {
        if version.contains("MariaDB") || version_comment.contains("MariaDB") {
            Flavor::MariaDb
        } else if version_comment.contains("Percona") || version.contains("Percona") {
            Flavor::Percona
        } else {
            Flavor::MySql
        }
    }

    /// The name orchestrator shows in `FlavorName`.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::MySql => "MySQL",
            Flavor::Percona => "Percona",
            Flavor::MariaDb => "MariaDB",
        }
    }
}

/// `major.minor.patch` of a server, parsed from the leading digits of `@@version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ServerVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl ServerVersion {
    pub const fn new(major: u16, minor: u16, patch: u16) -> ServerVersion {
        ServerVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parses `10.11.6-MariaDB-log`, `8.0.36`, `5.7.44-log`; missing parts are zero. MariaDB's
    /// old replication-compatibility prefix `5.5.5-` is skipped.
    pub fn parse(version: &str) -> ServerVersion {
        let version = version.strip_prefix("5.5.5-").unwrap_or(version);
        let mut parts = version
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map(|p| p.parse::<u16>().unwrap_or(0));
        ServerVersion {
            major: parts.next().unwrap_or(0),
            minor: parts.next().unwrap_or(0),
            patch: parts.next().unwrap_or(0),
        }
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A position in a binary or relay log.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BinlogCoordinates {
    pub log_file: String,
    pub log_pos: u64,
}

impl BinlogCoordinates {
    pub fn is_empty(&self) -> bool {
        self.log_file.is_empty()
    }
}

impl fmt::Display for BinlogCoordinates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.log_file, self.log_pos)
    }
}

/// State of a replica's IO (receiver) thread, from `Slave_IO_Running`/`Replica_IO_Running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum IoThreadState {
    Running,
    /// Trying to (re)connect to its source: the typical reading after the source died.
    Connecting,
    #[default]
    Stopped,
}

impl IoThreadState {
    /// Reads the column text: `Yes`, `Connecting`, `Preparing` (MariaDB, counts as connecting)
    /// or `No`.
    pub fn from_column(text: &str) -> IoThreadState {
        match text.trim().to_ascii_lowercase().as_str() {
            "yes" => IoThreadState::Running,
            "connecting" | "preparing" => IoThreadState::Connecting,
            _ => IoThreadState::Stopped,
        }
    }
}

/// How a replica positions itself on its source, and so how it can be moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GtidKind {
    /// File and position only.
    #[default]
    None,
    /// MySQL GTID auto-positioning (`MASTER_AUTO_POSITION=1`).
    Oracle,
    /// MariaDB GTID (`MASTER_USE_GTID=slave_pos|current_pos`).
    MariaDb,
}

/// What `SHOW SLAVE STATUS` / `SHOW REPLICA STATUS` said about a replica's link to its source.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReplicaStatus {
    pub source: InstanceKey,
    pub source_server_id: u64,
    /// MySQL only: the source's `server_uuid`.
    pub source_uuid: String,
    pub io_thread: IoThreadState,
    pub sql_thread_running: bool,
    pub io_state: String,
    pub sql_state: String,
    pub last_io_errno: u32,
    pub last_io_error: String,
    pub last_sql_errno: u32,
    pub last_sql_error: String,
    /// `Seconds_Behind_Master`; `None` when the server reports NULL (not connected).
    pub seconds_behind_source: Option<u64>,
    pub sql_delay: u64,
    /// How far the IO thread has read from the source's binary log.
    pub read_coordinates: BinlogCoordinates,
    /// How far the SQL thread has executed, in the source's binary log.
    pub exec_coordinates: BinlogCoordinates,
    pub relay_coordinates: BinlogCoordinates,
    pub gtid_kind: GtidKind,
    /// MariaDB `Using_Gtid` (`No`, `Slave_Pos`, `Current_Pos`); empty on MySQL.
    pub using_gtid: String,
    /// MariaDB `Gtid_IO_Pos` or MySQL `Retrieved_Gtid_Set`: what the IO thread has received.
    pub gtid_io_pos: String,
    pub has_replication_filters: bool,
    /// `Connect_Retry`: seconds between the IO thread's reconnection attempts.
    #[serde(default)]
    pub connect_retry: u64,
    /// The link's name: MariaDB's `Connection_name`, MySQL's `Channel_Name`; empty for the
    /// default connection, the one arbor manages.
    #[serde(default)]
    pub connection_name: String,
}

impl ReplicaStatus {
    /// Detached (`detach-replica-master-host`, orchestrator's convention): the source host is
    /// written `//host`, which resolves nowhere, keeping every position for a reattach.
    pub fn is_detached(&self) -> bool {
        self.source.hostname.starts_with("//")
    }

    /// The source a detached replica was detached from.
    pub fn detached_from(&self) -> Option<InstanceKey> {
        self.source
            .hostname
            .strip_prefix("//")
            .map(|host| InstanceKey::new(host, self.source.port))
    }

    /// Both threads running.
    pub fn is_replicating(&self) -> bool {
        self.io_thread == IoThreadState::Running && self.sql_thread_running
    }

    /// A thread is down because of an error, or the IO thread can't reach its source.
    pub fn is_broken(&self) -> bool {
        self.io_thread == IoThreadState::Connecting
            || (self.io_thread == IoThreadState::Stopped && self.last_io_errno != 0)
            || (!self.sql_thread_running && self.last_sql_errno != 0)
    }
}

/// A server's semi-synchronous replication, as its variables and status say (MariaDB 10.3+ has
/// it built in; MySQL through its plugins, named `master`/`slave` before 8.0.26 and
/// `source`/`replica` after, both read into these fields).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SemiSync {
    /// The server has semi-synchronous replication at all (its variables exist).
    pub available: bool,
    /// `rpl_semi_sync_master_enabled`: the primary side is on.
    pub primary_enabled: bool,
    /// `rpl_semi_sync_slave_enabled`: the replica side is on.
    pub replica_enabled: bool,
    /// `rpl_semi_sync_master_timeout`, in milliseconds.
    pub timeout_ms: u64,
    /// `rpl_semi_sync_master_wait_for_slave_count` (MySQL; 1 on MariaDB, which has no such
    /// variable and waits for one replica).
    pub wait_for_replica_count: u64,
    /// `rpl_semi_sync_master_wait_point`: `AFTER_SYNC` or `AFTER_COMMIT`.
    pub wait_point: String,
    /// `Rpl_semi_sync_master_status`: on now (off while the primary has fallen back to
    /// asynchronous replication).
    pub primary_status: bool,
    /// `Rpl_semi_sync_master_clients`: semi-synchronous replicas connected now.
    pub primary_clients: u64,
    /// `Rpl_semi_sync_slave_status`: this replica acknowledges now.
    pub replica_status: bool,
    /// `Rpl_semi_sync_master_wait_sessions`: commits waiting for an acknowledgement now.
    #[serde(default)]
    pub wait_sessions: u64,
    /// What `DetectSemiSyncEnforcedQuery` answered on this server (orchestrator's semi-sync
    /// priority): 0 for a replica that must stay asynchronous, higher for one preferred as an
    /// acknowledger, and a new primary with more than 0 gets the primary side on. `None` when
    /// no query is configured or it gave no number.
    #[serde(default)]
    pub priority: Option<u64>,
}

impl SemiSync {
    /// Reads the `rpl_semi_sync_*` variables and status values (names in any case, either
    /// naming generation).
    pub fn from_values<'a>(values: impl IntoIterator<Item = (&'a str, &'a str)>) -> SemiSync {
        let mut semi_sync = SemiSync::default();
        let on = |v: &str| matches!(v.to_ascii_uppercase().as_str(), "ON" | "1" | "YES");
        let mut count = None;
        for (name, value) in values {
            let name = name
                .to_ascii_lowercase()
                .replace("_source_", "_master_")
                .replace("_replica_", "_slave_")
                .replace("wait_for_replica_count", "wait_for_slave_count");
            let Some(name) = name.strip_prefix("rpl_semi_sync_") else {
                continue;
            };
            semi_sync.available = true;
            match name {
                "master_enabled" => semi_sync.primary_enabled = on(value),
                "slave_enabled" => semi_sync.replica_enabled = on(value),
                "master_timeout" => semi_sync.timeout_ms = value.parse().unwrap_or(0),
                "master_wait_for_slave_count" => count = value.parse().ok(),
                "master_wait_point" => semi_sync.wait_point = value.to_ascii_uppercase(),
                "master_status" => semi_sync.primary_status = on(value),
                "master_clients" => semi_sync.primary_clients = value.parse().unwrap_or(0),
                "slave_status" => semi_sync.replica_status = on(value),
                "master_wait_sessions" => semi_sync.wait_sessions = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        if semi_sync.available {
            semi_sync.wait_for_replica_count = count.unwrap_or(1);
        }
        semi_sync
    }
}

/// Everything one probe read from a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub key: InstanceKey,
    pub server_id: u64,
    /// MySQL's `@@server_uuid`; MariaDB has none.
    pub server_uuid: String,
    /// `@@hostname` as the server sees itself.
    pub hostname: String,
    pub version: String,
    pub version_comment: String,
    pub flavor: Flavor,
    pub read_only: bool,
    pub super_read_only: bool,
    pub log_bin: bool,
    pub log_replica_updates: bool,
    pub binlog_format: String,
    pub binlog_row_image: String,
    /// This server's own binary log position (`SHOW MASTER STATUS`), if it logs.
    pub self_coordinates: Option<BinlogCoordinates>,
    /// MySQL `@@gtid_mode` (`OFF`, `ON`, ...); `ON` on MariaDB, whose GTIDs are always on.
    pub gtid_mode: String,
    /// MySQL `@@gtid_executed`; MariaDB `@@gtid_current_pos`.
    pub gtid_executed: String,
    /// MySQL `@@gtid_purged`; empty on MariaDB.
    pub gtid_purged: String,
    /// MariaDB `@@gtid_binlog_pos`.
    pub gtid_binlog_pos: String,
    /// MariaDB `@@gtid_binlog_state`: the last GTID of every (domain, server) pair in the
    /// binary log, which is what tells a replica's own old writes from errant ones.
    #[serde(default)]
    pub gtid_binlog_state: String,
    /// MariaDB `@@gtid_slave_pos`.
    pub gtid_slave_pos: String,
    pub gtid_domain_id: Option<u32>,
    pub gtid_strict_mode: bool,
    /// The link to this server's source; `None` when it is not a replica.
    pub replication: Option<ReplicaStatus>,
    /// Replicas this server reports (`SHOW SLAVE HOSTS` / `SHOW REPLICAS`, or the processlist).
    pub replicas: Vec<InstanceKey>,
    /// The cluster alias that `DetectClusterAliasQuery` returned on this server.
    pub suggested_cluster_alias: String,
    pub data_center: String,
    pub region: String,
    pub physical_environment: String,
    /// How long the probe that produced this reading took.
    pub probe_latency_ms: u64,
    /// `@@slave_net_timeout` / `@@replica_net_timeout`: how long a replica waits for data
    /// before it suspects its source (0 when unknown).
    #[serde(default)]
    pub replica_net_timeout: u64,
    /// Semi-synchronous replication on this server.
    #[serde(default)]
    pub semi_sync: SemiSync,
    /// Replication links besides `replication` (multi-source: MariaDB's named connections,
    /// MySQL's channels). `replication` is the default connection when there is one, else the
    /// first named one; it places the server in the topology.
    #[serde(default)]
    pub other_links: Vec<ReplicaStatus>,
}

impl Instance {
    /// An instance arbor knows by key but has never read.
    pub fn unseen(key: InstanceKey) -> Instance {
        Instance {
            key,
            server_id: 0,
            server_uuid: String::new(),
            hostname: String::new(),
            version: String::new(),
            version_comment: String::new(),
            flavor: Flavor::default(),
            read_only: false,
            super_read_only: false,
            log_bin: false,
            log_replica_updates: false,
            binlog_format: String::new(),
            binlog_row_image: String::new(),
            self_coordinates: None,
            gtid_mode: String::new(),
            gtid_executed: String::new(),
            gtid_purged: String::new(),
            gtid_binlog_pos: String::new(),
            gtid_binlog_state: String::new(),
            gtid_slave_pos: String::new(),
            gtid_domain_id: None,
            gtid_strict_mode: false,
            replication: None,
            replicas: Vec::new(),
            suggested_cluster_alias: String::new(),
            data_center: String::new(),
            region: String::new(),
            physical_environment: String::new(),
            probe_latency_ms: 0,
            replica_net_timeout: 0,
            semi_sync: SemiSync::default(),
            other_links: Vec::new(),
        }
    }

    /// Advice when this replica's settings would slow down failure detection: with the
    /// defaults (60 s each) a replica of a hung or partitioned source keeps saying it
    /// replicates for a minute, and arbor cannot confirm the failure meanwhile.
    pub fn failure_detection_advice(&self) -> Option<String> {
        const QUICK: u64 = 10;
        let replication = self.replication.as_ref()?;
        let slow = self.replica_net_timeout > QUICK || replication.connect_retry > QUICK;
        slow.then(|| {
            format!(
                "slow failure detection: slave_net_timeout={} and MASTER_CONNECT_RETRY={}; \
                 4 and 1 let replicas notice a lost source within seconds",
                self.replica_net_timeout, replication.connect_retry
            )
        })
    }

    pub fn server_version(&self) -> ServerVersion {
        ServerVersion::parse(&self.version)
    }

    /// The names of this server's named replication links (empty unless it replicates over
    /// a named connection or channel: multi-source).
    pub fn named_links(&self) -> Vec<&str> {
        self.replication
            .iter()
            .chain(&self.other_links)
            .map(|link| link.connection_name.as_str())
            .filter(|name| !name.is_empty())
            .collect()
    }

    /// Why arbor will not change this server's replication, when it will not: arbor manages
    /// the default connection only, and this server has none (it replicates over named
    /// connections alone). A server with a default connection and named ones (multi-source) has
    /// its default connection managed as any other.
    pub fn unmanaged_links(&self) -> Option<String> {
        let link = self.replication.as_ref()?;
        if link.connection_name.is_empty() {
            return None;
        }
        let quoted: Vec<String> = self
            .named_links()
            .iter()
            .map(|name| format!("'{name}'"))
            .collect();
        Some(format!(
            "{} replicates over named connections only ({}): arbor manages the default \
             connection and does not change named ones; change them by hand",
            self.key,
            quoted.join(", ")
        ))
    }

    /// The server this one replicates from; `None` for a primary and for a detached replica,
    /// whose `//host` names no server (it is not crawled, nor counted as anyone's replica).
    pub fn source(&self) -> Option<&InstanceKey> {
        self.replication
            .as_ref()
            .filter(|r| !r.is_detached())
            .map(|r| &r.source)
    }

    /// Whether this server can serve as a GTID source: MariaDB always can; MySQL with
    /// `gtid_mode=ON`.
    pub fn supports_gtid(&self) -> bool {
        match self.flavor {
            Flavor::MariaDb => true,
            Flavor::MySql | Flavor::Percona => self.gtid_mode.eq_ignore_ascii_case("ON"),
        }
    }

    /// The GTID kind shown for this server: how it replicates if it is a replica, otherwise
    /// what its replicas could use.
    pub fn gtid_kind(&self) -> GtidKind {
        match &self.replication {
            Some(replication) => replication.gtid_kind,
            None if self.version.is_empty() || !self.supports_gtid() => GtidKind::None,
            None if self.flavor == Flavor::MariaDb => GtidKind::MariaDb,
            None => GtidKind::Oracle,
        }
    }
}

/// The health of an instance as an operator reads it in a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceStatus {
    /// Known by key, never checked yet.
    Unchecked,
    /// The last check failed: arbor cannot reach the server (its data is the last good reading).
    Unreachable,
    /// Replication is down because of an error, or the IO thread cannot connect to its source.
    Broken,
    /// A replication thread was stopped without an error (e.g. `STOP SLAVE`).
    ReplicationStopped,
    /// Replicating, but further behind than `ReasonableReplicationLagSeconds`.
    Lagging,
    Ok,
}

impl InstanceStatus {
    pub fn label(self) -> &'static str {
        match self {
            InstanceStatus::Unchecked => "unchecked",
            InstanceStatus::Unreachable => "unreachable",
            InstanceStatus::Broken => "broken",
            InstanceStatus::ReplicationStopped => "replication stopped",
            InstanceStatus::Lagging => "lagging",
            InstanceStatus::Ok => "ok",
        }
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// An instance as arbor has observed it over time.
///
/// The three timestamps follow orchestrator's meaning, so that analysis can tell "dead" from
/// "stale": a check is *attempted* before a probe starts, *checked* when it ends either way,
/// and *seen* when it succeeded. A check that hangs shows as attempted-but-not-checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// The last successful reading; `Instance::unseen` when there was none.
    pub instance: Instance,
    pub first_discovered: Timestamp,
    pub last_attempted_check: Option<Timestamp>,
    pub last_checked: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    /// Why the last check failed; empty after a success.
    pub last_error: String,
}

impl InstanceRecord {
    pub fn new_unseen(key: InstanceKey, now: Timestamp) -> InstanceRecord {
        InstanceRecord {
            instance: Instance::unseen(key),
            first_discovered: now,
            last_attempted_check: None,
            last_checked: None,
            last_seen: None,
            last_error: String::new(),
        }
    }

    pub fn key(&self) -> &InstanceKey {
        &self.instance.key
    }

    /// The last check succeeded.
    pub fn is_last_check_valid(&self) -> bool {
        match (self.last_seen, self.last_checked) {
            (Some(seen), Some(checked)) => seen >= checked,
            _ => false,
        }
    }

    /// Has ever been read successfully.
    pub fn has_been_seen(&self) -> bool {
        self.last_seen.is_some()
    }

    /// Checked within `window` of `now` (orchestrator's `IsRecentlyChecked`, with
    /// `window = InstancePollSeconds + ReasonableInstanceCheckSeconds`).
    pub fn is_recently_checked(&self, now: Timestamp, window: Duration) -> bool {
        self.last_checked
            .is_some_and(|checked| now.since(checked) <= window)
    }

    pub fn status(&self, reasonable_lag: Duration) -> InstanceStatus {
        if self.last_checked.is_none() {
            return InstanceStatus::Unchecked;
        }
        if !self.is_last_check_valid() {
            return InstanceStatus::Unreachable;
        }
        let Some(replication) = &self.instance.replication else {
            return InstanceStatus::Ok;
        };
        if replication.is_broken() {
            InstanceStatus::Broken
        } else if !replication.is_replicating() {
            InstanceStatus::ReplicationStopped
        } else if replication
            .seconds_behind_source
            .is_some_and(|lag| lag > reasonable_lag.as_secs())
        {
            InstanceStatus::Lagging
        } else {
            InstanceStatus::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_with(replication: Option<ReplicaStatus>, seen: bool) -> InstanceRecord {
        let mut record = InstanceRecord::new_unseen("db2:3306".parse().unwrap(), Timestamp(0));
        record.instance.version = "10.11.6-MariaDB".into();
        record.instance.flavor = Flavor::MariaDb;
        record.instance.replication = replication;
        record.last_attempted_check = Some(Timestamp(1_000));
        record.last_checked = Some(Timestamp(1_100));
        record.last_seen = seen.then_some(Timestamp(1_100));
        record
    }

    fn replication(io: IoThreadState, sql: bool, io_errno: u32, lag: Option<u64>) -> ReplicaStatus {
        ReplicaStatus {
            source: "db1:3306".parse().unwrap(),
            io_thread: io,
            sql_thread_running: sql,
            last_io_errno: io_errno,
            seconds_behind_source: lag,
            ..ReplicaStatus::default()
        }
    }

    #[test]
    fn status_reflects_reachability_and_replication() {
        use IoThreadState::*;
        let lag = Duration::from_secs(10);
        let cases = [
            (record_with(None, true), InstanceStatus::Ok),
            (record_with(None, false), InstanceStatus::Unreachable),
            (
                record_with(Some(replication(Running, true, 0, Some(0))), true),
                InstanceStatus::Ok,
            ),
            (
                record_with(Some(replication(Running, true, 0, Some(11))), true),
                InstanceStatus::Lagging,
            ),
            (
                record_with(Some(replication(Stopped, false, 0, None)), true),
                InstanceStatus::ReplicationStopped,
            ),
            (
                record_with(Some(replication(Connecting, true, 2003, None)), true),
                InstanceStatus::Broken,
            ),
            (
                record_with(Some(replication(Stopped, true, 1236, None)), true),
                InstanceStatus::Broken,
            ),
            (
                record_with(Some(replication(Running, true, 0, Some(0))), false),
                InstanceStatus::Unreachable,
            ),
        ];
        for (i, (record, expected)) in cases.iter().enumerate() {
            assert_eq!(record.status(lag), *expected, "case {i}");
        }
        let never_checked = InstanceRecord::new_unseen("db9:1".parse().unwrap(), Timestamp(0));
        assert_eq!(never_checked.status(lag), InstanceStatus::Unchecked);
    }

    #[test]
    fn slow_replica_settings_are_pointed_out() {
        let mut record = record_with(
            Some(replication(IoThreadState::Running, true, 0, Some(0))),
            true,
        );
        record.instance.replica_net_timeout = 4;
        record.instance.replication.as_mut().unwrap().connect_retry = 1;
        assert_eq!(record.instance.failure_detection_advice(), None);
        record.instance.replica_net_timeout = 60;
        let advice = record.instance.failure_detection_advice().unwrap();
        assert!(advice.contains("slave_net_timeout=60"), "{advice}");
        record.instance.replication = None;
        assert_eq!(
            record.instance.failure_detection_advice(),
            None,
            "only replicas"
        );
    }

    #[test]
    fn versions_and_flavors_parse() {
        assert_eq!(
            ServerVersion::parse("10.11.6-MariaDB-0+deb12u1-log"),
            ServerVersion::new(10, 11, 6)
        );
        assert_eq!(
            ServerVersion::parse("5.5.5-10.6.1-MariaDB"),
            ServerVersion::new(10, 6, 1)
        );
        assert_eq!(ServerVersion::parse("8.4.3"), ServerVersion::new(8, 4, 3));
        assert_eq!(
            ServerVersion::parse("5.7.44-log"),
            ServerVersion::new(5, 7, 44)
        );
        assert_eq!(ServerVersion::parse("9"), ServerVersion::new(9, 0, 0));
        assert_eq!(
            Flavor::detect("10.11.6-MariaDB", "Debian 12"),
            Flavor::MariaDb
        );
        assert_eq!(
            Flavor::detect("8.0.36-28", "Percona Server (GPL), Release 28"),
            Flavor::Percona
        );
        assert_eq!(
            Flavor::detect("8.4.3", "MySQL Community Server - GPL"),
            Flavor::MySql
        );
    }

    #[test]
    fn io_thread_state_reads_both_servers_words() {
        assert_eq!(IoThreadState::from_column("Yes"), IoThreadState::Running);
        assert_eq!(
            IoThreadState::from_column("Connecting"),
            IoThreadState::Connecting
        );
        assert_eq!(
            IoThreadState::from_column("Preparing"),
            IoThreadState::Connecting
        );
        assert_eq!(IoThreadState::from_column("No"), IoThreadState::Stopped);
        assert_eq!(IoThreadState::from_column(""), IoThreadState::Stopped);
    }
}
