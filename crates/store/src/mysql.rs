//! The shared backend: arbor's state in a MySQL or MariaDB database that several arbor nodes
//! use at once (`BackendDB: "mysql"`). Same behaviour as the SQLite store (the conformance
//! suite runs against both); what SQLite gets from having one writer, this store gets from
//! the database: unique keys (one maintenance lock per instance), and a lock row taken with
//! `SELECT ... FOR UPDATE` where a read decides a write (anti-flapping, detection dedupe).
//!
//! It also holds the shared-backend leader election: [`MySqlStore::renew_lease`] on a one-row
//! table, judged by the database's clock so that nodes' clocks do not matter.

use std::time::Duration;

use arbor_topology::{
    Downtime, Instance, InstanceKey, InstanceRecord, PromotionRule, Succession, Timestamp,
};
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, Row, TxOpts, Value};

use crate::{
    CheckOutcome, CheckResult, FailureDetection, LockDecision, Maintenance, RecoveryOutcome,
    RecoveryRecord, RecoveryStart, RecoveryStep, ReplicatedDump, StartDecision, Store, StoreError,
    REPLICATED_TABLES,
};

/// Where the shared backend is (orchestrator's `MySQLOrchestrator*` keys).
#[derive(Debug, Clone)]
pub struct MySqlBackend {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    /// `MySQLOrchestratorMaxPoolConnections`: at most this many connections per node.
    pub max_connections: usize,
}

#[derive(Clone)]
pub struct MySqlStore {
    pool: Pool,
    shown: String,
}

fn query_error(error: mysql_async::Error) -> StoreError {
    StoreError::Query(error.to_string())
}

macro_rules! args {
    ($($value:expr),* $(,)?) => {
        Params::Positional(vec![$(Value::from($value)),*])
    };
}

/// Tables, in MySQL's dialect. `CREATE ... IF NOT EXISTS`: every node runs this at start, and
/// the first one creates them.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS instances (
         hostname VARCHAR(255) NOT NULL,
         port INT UNSIGNED NOT NULL,
         first_discovered BIGINT NOT NULL,
         last_attempted_check BIGINT NULL,
         last_checked BIGINT NULL,
         last_seen BIGINT NULL,
         last_error TEXT NOT NULL,
         data MEDIUMTEXT NOT NULL,
         PRIMARY KEY (hostname, port)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS downtimes (
         hostname VARCHAR(255) NOT NULL,
         port INT UNSIGNED NOT NULL,
         owner TEXT NOT NULL,
         reason TEXT NOT NULL,
         begin_at BIGINT NOT NULL,
         end_at BIGINT NOT NULL,
         PRIMARY KEY (hostname, port)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS promotion_rules (
         hostname VARCHAR(255) NOT NULL,
         port INT UNSIGNED NOT NULL,
         rule VARCHAR(32) NOT NULL,
         expires_at BIGINT NOT NULL,
         PRIMARY KEY (hostname, port)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS failure_detections (
         id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         cluster VARCHAR(512) NOT NULL,
         hostname VARCHAR(255) NOT NULL,
         port INT UNSIGNED NOT NULL,
         analysis VARCHAR(128) NOT NULL,
         description TEXT NOT NULL,
         detected_at BIGINT NOT NULL,
         KEY failure_detections_key (hostname, port, analysis, detected_at)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS recoveries (
         id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         uid VARCHAR(128) NOT NULL UNIQUE,
         cluster VARCHAR(512) NOT NULL,
         hostname VARCHAR(255) NOT NULL,
         port INT UNSIGNED NOT NULL,
         analysis VARCHAR(128) NOT NULL,
         kind VARCHAR(64) NOT NULL,
         manual TINYINT NOT NULL,
         processing_node VARCHAR(255) NOT NULL,
         started_at BIGINT NOT NULL,
         ended_at BIGINT NULL,
         is_active TINYINT NOT NULL,
         successful TINYINT NOT NULL DEFAULT 0,
         successor_host VARCHAR(255) NULL,
         successor_port INT UNSIGNED NULL,
         lost_replicas MEDIUMTEXT NOT NULL,
         participating MEDIUMTEXT NOT NULL,
         errors MEDIUMTEXT NOT NULL,
         acknowledged TINYINT NOT NULL DEFAULT 0,
         acknowledged_at BIGINT NULL,
         acknowledged_by VARCHAR(255) NOT NULL DEFAULT '',
         acknowledged_comment TEXT NOT NULL,
         KEY recoveries_cluster (cluster(191), started_at)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS recovery_steps (
         id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         recovery_id BIGINT NOT NULL,
         at BIGINT NOT NULL,
         message TEXT NOT NULL,
         KEY recovery_steps_recovery (recovery_id)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS settings (
         name VARCHAR(128) NOT NULL PRIMARY KEY,
         value TEXT NOT NULL
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS maintenance (
         id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         hostname VARCHAR(255) NOT NULL,
         port INT UNSIGNED NOT NULL,
         owner TEXT NOT NULL,
         reason TEXT NOT NULL,
         node VARCHAR(255) NOT NULL,
         begin_at BIGINT NOT NULL,
         expires_at BIGINT NOT NULL,
         UNIQUE KEY maintenance_instance (hostname, port)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS tags (
         hostname VARCHAR(255) NOT NULL,
         port INT UNSIGNED NOT NULL,
         name VARCHAR(128) NOT NULL,
         value TEXT NOT NULL,
         PRIMARY KEY (hostname, port, name)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS cluster_aliases (
         cluster VARCHAR(255) NOT NULL PRIMARY KEY,
         alias VARCHAR(255) NOT NULL
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    // Rows whose lock (FOR UPDATE) serializes decisions that read before they write.
    "CREATE TABLE IF NOT EXISTS arbor_locks (
         name VARCHAR(64) NOT NULL PRIMARY KEY
     ) ENGINE=InnoDB",
    "INSERT IGNORE INTO arbor_locks (name) VALUES ('recovery'), ('detection')",
    // The leader's lease, one row, judged by the database's clock.
    "CREATE TABLE IF NOT EXISTS arbor_leader (
         anchor TINYINT NOT NULL PRIMARY KEY,
         node VARCHAR(255) NOT NULL,
         api VARCHAR(512) NOT NULL,
         expires_at DATETIME(3) NOT NULL
     ) ENGINE=InnoDB",
    // Every node that ran recently, for /api/status.
    "CREATE TABLE IF NOT EXISTS arbor_nodes (
         node VARCHAR(255) NOT NULL PRIMARY KEY,
         api VARCHAR(512) NOT NULL,
         first_seen DATETIME(3) NOT NULL,
         last_seen DATETIME(3) NOT NULL
     ) ENGINE=InnoDB",
];

/// The lease holder as the database sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub node: String,
    pub api: String,
    /// Whether the lease has not run out (by the database's clock).
    pub valid: bool,
}

/// A node the backend heard from recently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSeen {
    pub node: String,
    pub api: String,
    pub first_seen: String,
    pub last_seen: String,
    /// Seen within the last `ActiveNodeExpireSeconds` (5 s).
    pub active: bool,
}

impl MySqlStore {
    /// Connects, creates the database when missing, and creates the tables.
    pub async fn open(backend: &MySqlBackend) -> Result<MySqlStore, StoreError> {
        let shown = format!(
            "mysql://{}@{}:{}/{}",
            backend.user, backend.host, backend.port, backend.database
        );
        let open_error = |message: String| StoreError::Open {
            path: shown.clone(),
            message,
        };
        let valid_name = !backend.database.is_empty()
            && backend
                .database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(open_error(format!(
                "MySQLOrchestratorDatabase {:?}: expected letters, digits and _",
                backend.database
            )));
        }
        let base = OptsBuilder::default()
            .ip_or_hostname(backend.host.clone())
            .tcp_port(backend.port)
            .user(Some(backend.user.clone()))
            .pass(Some(backend.password.clone()))
            .prefer_socket(false)
            .tcp_nodelay(true);
        let mut conn = Conn::new(base.clone())
            .await
            .map_err(|e| open_error(e.to_string()))?;
        conn.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS `{}`",
            backend.database
        ))
        .await
        .map_err(|e| open_error(format!("cannot create the database: {e}")))?;
        let _ = conn.disconnect().await;
        let max = backend.max_connections.max(2);
        let constraints = PoolConstraints::new(1, max).ok_or_else(|| {
            open_error("MySQLOrchestratorMaxPoolConnections must be at least 1".into())
        })?;
        let opts = base
            .db_name(Some(backend.database.clone()))
            .pool_opts(PoolOpts::default().with_constraints(constraints));
        let store = MySqlStore {
            pool: Pool::new(opts),
            shown: shown.clone(),
        };
        let mut conn = store.conn().await.map_err(|e| open_error(e.to_string()))?;
        for statement in SCHEMA {
            conn.query_drop(*statement)
                .await
                .map_err(|e| open_error(format!("cannot create the tables: {e}")))?;
        }
        Ok(store)
    }

    /// Where it is, for logs (no password).
    pub fn describe(&self) -> &str {
        &self.shown
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        self.pool.get_conn().await.map_err(query_error)
    }

    /// Takes or renews the leader lease for `node` when it is free, expired, or already this
    /// node's; returns who holds it afterwards. Judged by the database's clock.
    pub async fn renew_lease(
        &self,
        node: &str,
        api: &str,
        lease: Duration,
    ) -> Result<LeaseHolder, StoreError> {
        let mut conn = self.conn().await?;
        let millis = lease.as_millis() as i64;
        // Assignments run left to right: `expires_at` is decided before `node` may change.
        conn.exec_drop(
            "INSERT INTO arbor_leader (anchor, node, api, expires_at) \
             VALUES (1, ?, ?, NOW(3) + INTERVAL ? * 1000 MICROSECOND) \
             ON DUPLICATE KEY UPDATE \
               expires_at = IF(node = VALUES(node) OR expires_at < NOW(3), VALUES(expires_at), expires_at), \
               api = IF(node = VALUES(node) OR expires_at = VALUES(expires_at), VALUES(api), api), \
               node = IF(expires_at = VALUES(expires_at), VALUES(node), node)",
            args![node, api, millis],
        )
        .await
        .map_err(query_error)?;
        conn.exec_drop(
            "INSERT INTO arbor_nodes (node, api, first_seen, last_seen) VALUES (?, ?, NOW(3), NOW(3)) \
             ON DUPLICATE KEY UPDATE api = VALUES(api), last_seen = NOW(3)",
            args![node, api],
        )
        .await
        .map_err(query_error)?;
        self.lease_holder_on(&mut conn)
            .await?
            .ok_or_else(|| StoreError::Query("the lease row vanished".into()))
    }

    async fn lease_holder_on(&self, conn: &mut Conn) -> Result<Option<LeaseHolder>, StoreError> {
        let row: Option<(String, String, i64)> = conn
            .query_first("SELECT node, api, expires_at > NOW(3) FROM arbor_leader WHERE anchor = 1")
            .await
            .map_err(query_error)?;
        Ok(row.map(|(node, api, valid)| LeaseHolder {
            node,
            api,
            valid: valid == 1,
        }))
    }

    pub async fn lease_holder(&self) -> Result<Option<LeaseHolder>, StoreError> {
        let mut conn = self.conn().await?;
        self.lease_holder_on(&mut conn).await
    }

    /// `grab-election`: this node takes the lease now, whoever holds it.
    pub async fn grab_lease(
        &self,
        node: &str,
        api: &str,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "REPLACE INTO arbor_leader (anchor, node, api, expires_at) \
             VALUES (1, ?, ?, NOW(3) + INTERVAL ? * 1000 MICROSECOND)",
            args![node, api, lease.as_millis() as i64],
        )
        .await
        .map_err(query_error)
    }

    /// `reelect`: the lease is released; the next node to renew takes it.
    pub async fn release_lease(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.query_drop("DELETE FROM arbor_leader WHERE anchor = 1")
            .await
            .map_err(query_error)
    }

    /// Nodes seen in the last hour, the most recent first.
    pub async fn nodes(&self) -> Result<Vec<NodeSeen>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<(String, String, String, String, i64)> = conn
            .query(
                "SELECT node, api, CAST(first_seen AS CHAR), CAST(last_seen AS CHAR), \
                     last_seen > NOW(3) - INTERVAL 5 SECOND \
                 FROM arbor_nodes WHERE last_seen > NOW(3) - INTERVAL 1 HOUR ORDER BY last_seen DESC",
            )
            .await
            .map_err(query_error)?;
        Ok(rows
            .into_iter()
            .map(|(node, api, first_seen, last_seen, active)| NodeSeen {
                node,
                api,
                first_seen,
                last_seen,
                active: active == 1,
            })
            .collect())
    }
}

/// A transaction holding the lock row `name`: the decisions that read before they write queue
/// here, across every node sharing the backend.
async fn locked<'a>(
    conn: &'a mut Conn,
    name: &str,
) -> Result<mysql_async::Transaction<'a>, StoreError> {
    let mut tx = conn
        .start_transaction(TxOpts::default())
        .await
        .map_err(query_error)?;
    tx.exec_drop(
        "SELECT name FROM arbor_locks WHERE name = ? FOR UPDATE",
        args![name],
    )
    .await
    .map_err(query_error)?;
    Ok(tx)
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Query(e.to_string()))
}

fn key_of(row: &Row, host: usize, port: usize) -> InstanceKey {
    InstanceKey {
        hostname: row.get(host).unwrap_or_default(),
        port: row.get::<u32, _>(port).unwrap_or_default() as u16,
    }
}

fn into_record(row: Row) -> Result<InstanceRecord, StoreError> {
    let key = key_of(&row, 0, 1);
    let data: String = row.get(7).unwrap_or_default();
    let mut instance: Instance = serde_json::from_str(&data).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        message: e.to_string(),
    })?;
    instance.key = key;
    let opt = |index: usize| row.get::<Option<i64>, _>(index).flatten().map(Timestamp);
    Ok(InstanceRecord {
        instance,
        first_discovered: Timestamp(row.get(2).unwrap_or_default()),
        last_attempted_check: opt(3),
        last_checked: opt(4),
        last_seen: opt(5),
        last_error: row.get(6).unwrap_or_default(),
    })
}

const SELECT_RECORD: &str = "SELECT hostname, port, first_discovered, last_attempted_check, \
     last_checked, last_seen, last_error, data FROM instances";

const SELECT_MAINTENANCE: &str =
    "SELECT id, hostname, port, owner, reason, node, begin_at, expires_at FROM maintenance";

fn read_maintenance(row: &Row) -> Maintenance {
    Maintenance {
        id: row.get(0).unwrap_or_default(),
        key: key_of(row, 1, 2),
        owner: row.get(3).unwrap_or_default(),
        reason: row.get(4).unwrap_or_default(),
        node: row.get(5).unwrap_or_default(),
        begin_at: Timestamp(row.get(6).unwrap_or_default()),
        expires_at: Timestamp(row.get(7).unwrap_or_default()),
    }
}

#[async_trait]
impl Store for MySqlStore {
    async fn register_instance(
        &self,
        key: &InstanceKey,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "INSERT IGNORE INTO instances (hostname, port, first_discovered, last_error, data) \
             VALUES (?, ?, ?, '', ?)",
            args![
                key.hostname.as_str(),
                key.port,
                at.millis(),
                to_json(&Instance::unseen(key.clone()))?
            ],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() == 1)
    }

    async fn record_checks(&self, outcomes: Vec<CheckOutcome>) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(query_error)?;
        for outcome in outcomes {
            let key = &outcome.key;
            match &outcome.result {
                CheckResult::Seen(instance) => {
                    tx.exec_drop(
                        "INSERT INTO instances (hostname, port, first_discovered, \
                             last_attempted_check, last_checked, last_seen, last_error, data) \
                         VALUES (?, ?, ?, ?, ?, ?, '', ?) \
                         ON DUPLICATE KEY UPDATE last_attempted_check = VALUES(last_attempted_check), \
                             last_checked = VALUES(last_checked), last_seen = VALUES(last_seen), \
                             last_error = '', data = VALUES(data)",
                        args![
                            key.hostname.as_str(),
                            key.port,
                            outcome.attempted_at.millis(),
                            outcome.attempted_at.millis(),
                            outcome.checked_at.millis(),
                            outcome.checked_at.millis(),
                            to_json(instance.as_ref())?,
                        ],
                    )
                    .await
                    .map_err(query_error)?;
                }
                CheckResult::Failed { error } => {
                    tx.exec_drop(
                        "INSERT INTO instances (hostname, port, first_discovered, \
                             last_attempted_check, last_checked, last_seen, last_error, data) \
                         VALUES (?, ?, ?, ?, ?, NULL, ?, ?) \
                         ON DUPLICATE KEY UPDATE last_attempted_check = VALUES(last_attempted_check), \
                             last_checked = VALUES(last_checked), last_error = VALUES(last_error)",
                        args![
                            key.hostname.as_str(),
                            key.port,
                            outcome.attempted_at.millis(),
                            outcome.attempted_at.millis(),
                            outcome.checked_at.millis(),
                            error.as_str(),
                            to_json(&Instance::unseen(key.clone()))?,
                        ],
                    )
                    .await
                    .map_err(query_error)?;
                }
            }
        }
        tx.commit().await.map_err(query_error)
    }

    async fn instance(&self, key: &InstanceKey) -> Result<Option<InstanceRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!("{SELECT_RECORD} WHERE hostname = ? AND port = ?"),
                args![key.hostname.as_str(), key.port],
            )
            .await
            .map_err(query_error)?;
        row.map(into_record).transpose()
    }

    async fn all_instances(&self) -> Result<Vec<InstanceRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .query(format!("{SELECT_RECORD} ORDER BY hostname, port"))
            .await
            .map_err(query_error)?;
        rows.into_iter().map(into_record).collect()
    }

    async fn forget_instance(&self, key: &InstanceKey) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "DELETE FROM instances WHERE hostname = ? AND port = ?",
            args![key.hostname.as_str(), key.port],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() > 0)
    }

    async fn begin_downtime(&self, downtime: Downtime) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "INSERT INTO downtimes (hostname, port, owner, reason, begin_at, end_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE owner = VALUES(owner), \
                 reason = VALUES(reason), begin_at = VALUES(begin_at), end_at = VALUES(end_at)",
            args![
                downtime.key.hostname.as_str(),
                downtime.key.port,
                downtime.owner.as_str(),
                downtime.reason.as_str(),
                downtime.begin.millis(),
                downtime.end.millis()
            ],
        )
        .await
        .map_err(query_error)
    }

    async fn end_downtime(&self, key: &InstanceKey) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "DELETE FROM downtimes WHERE hostname = ? AND port = ?",
            args![key.hostname.as_str(), key.port],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() > 0)
    }

    async fn active_downtimes(&self, now: Timestamp) -> Result<Vec<Downtime>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                "SELECT hostname, port, owner, reason, begin_at, end_at FROM downtimes \
                 WHERE begin_at <= ? AND end_at > ? ORDER BY hostname, port",
                args![now.millis(), now.millis()],
            )
            .await
            .map_err(query_error)?;
        Ok(rows
            .iter()
            .map(|row| Downtime {
                key: key_of(row, 0, 1),
                owner: row.get(2).unwrap_or_default(),
                reason: row.get(3).unwrap_or_default(),
                begin: Timestamp(row.get(4).unwrap_or_default()),
                end: Timestamp(row.get(5).unwrap_or_default()),
            })
            .collect())
    }

    async fn register_candidate(
        &self,
        key: &InstanceKey,
        rule: PromotionRule,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "INSERT INTO promotion_rules (hostname, port, rule, expires_at) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE rule = VALUES(rule), expires_at = VALUES(expires_at)",
            args![
                key.hostname.as_str(),
                key.port,
                rule.name(),
                expires_at.millis()
            ],
        )
        .await
        .map_err(query_error)
    }

    async fn promotion_rules(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(InstanceKey, PromotionRule)>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                "SELECT hostname, port, rule FROM promotion_rules WHERE expires_at > ? \
                 ORDER BY hostname, port",
                args![now.millis()],
            )
            .await
            .map_err(query_error)?;
        rows.iter()
            .map(|row| {
                let key = key_of(row, 0, 1);
                let rule: String = row.get(2).unwrap_or_default();
                let rule = rule.parse().map_err(|message| StoreError::Corrupt {
                    key: key.to_string(),
                    message,
                })?;
                Ok((key, rule))
            })
            .collect()
    }

    async fn record_detection(
        &self,
        detection: FailureDetection,
        dedupe_window: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = locked(&mut conn, "detection").await?;
        let since = detection.detected_at.millis() - dedupe_window.as_millis() as i64;
        let recent: Option<i64> = tx
            .exec_first(
                "SELECT COUNT(*) FROM failure_detections WHERE hostname = ? AND port = ? \
                 AND analysis = ? AND detected_at > ?",
                args![
                    detection.key.hostname.as_str(),
                    detection.key.port,
                    detection.analysis.as_str(),
                    since
                ],
            )
            .await
            .map_err(query_error)?;
        if recent.unwrap_or(0) > 0 {
            tx.rollback().await.map_err(query_error)?;
            return Ok(false);
        }
        tx.exec_drop(
            "INSERT INTO failure_detections (cluster, hostname, port, analysis, description, detected_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
            args![
                detection.cluster.as_str(),
                detection.key.hostname.as_str(),
                detection.key.port,
                detection.analysis.as_str(),
                detection.description.as_str(),
                detection.detected_at.millis()
            ],
        )
        .await
        .map_err(query_error)?;
        tx.commit().await.map_err(query_error)?;
        Ok(true)
    }

    async fn detections(&self, limit: usize) -> Result<Vec<FailureDetection>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                "SELECT id, cluster, hostname, port, analysis, description, detected_at \
                 FROM failure_detections ORDER BY id DESC LIMIT ?",
                args![limit as u64],
            )
            .await
            .map_err(query_error)?;
        Ok(rows
            .iter()
            .map(|row| FailureDetection {
                id: row.get(0).unwrap_or_default(),
                cluster: row.get(1).unwrap_or_default(),
                key: key_of(row, 2, 3),
                analysis: row.get(4).unwrap_or_default(),
                description: row.get(5).unwrap_or_default(),
                detected_at: Timestamp(row.get(6).unwrap_or_default()),
            })
            .collect())
    }

    async fn start_recovery(
        &self,
        start: RecoveryStart,
        block: Duration,
        ignore_block: bool,
    ) -> Result<StartDecision, StoreError> {
        let mut conn = self.conn().await?;
        // Every node's starts queue here: two cannot both pass the checks below.
        let mut tx = locked(&mut conn, "recovery").await?;
        let active: Option<i64> = tx
            .exec_first(
                "SELECT id FROM recoveries WHERE cluster = ? AND is_active = 1 LIMIT 1",
                args![start.cluster.as_str()],
            )
            .await
            .map_err(query_error)?;
        if let Some(blocking_id) = active {
            tx.rollback().await.map_err(query_error)?;
            return Ok(StartDecision::still_running(blocking_id, &start.cluster));
        }
        if ignore_block {
            tx.exec_drop(
                "UPDATE recoveries SET acknowledged = 1, acknowledged_at = ?, \
                     acknowledged_by = 'arbor', acknowledged_comment = 'superseded by a manual recovery' \
                 WHERE cluster = ? AND acknowledged = 0",
                args![start.started_at.millis(), start.cluster.as_str()],
            )
            .await
            .map_err(query_error)?;
        } else {
            let since = start.started_at.millis() - block.as_millis() as i64;
            let recent: Option<i64> = tx
                .exec_first(
                    "SELECT id FROM recoveries WHERE acknowledged = 0 AND started_at > ? \
                     AND (cluster = ? OR (successor_host = ? AND successor_port = ?)) \
                     ORDER BY id DESC LIMIT 1",
                    args![
                        since,
                        start.cluster.as_str(),
                        start.failed.hostname.as_str(),
                        start.failed.port
                    ],
                )
                .await
                .map_err(query_error)?;
            if let Some(blocking_id) = recent {
                tx.rollback().await.map_err(query_error)?;
                return Ok(StartDecision::recently_recovered(
                    blocking_id,
                    &start.cluster,
                    &start.failed,
                ));
            }
        }
        tx.exec_drop(
            "INSERT INTO recoveries (uid, cluster, hostname, port, analysis, kind, manual, \
                 processing_node, started_at, is_active, lost_replicas, participating, errors, \
                 acknowledged_comment) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, '[]', '[]', '[]', '')",
            args![
                start.uid.as_str(),
                start.cluster.as_str(),
                start.failed.hostname.as_str(),
                start.failed.port,
                start.analysis.as_str(),
                start.kind.as_str(),
                start.manual,
                start.processing_node.as_str(),
                start.started_at.millis()
            ],
        )
        .await
        .map_err(query_error)?;
        let id = tx.last_insert_id().unwrap_or_default() as i64;
        tx.commit().await.map_err(query_error)?;
        Ok(StartDecision::Started { id })
    }

    async fn add_recovery_step(&self, id: i64, step: RecoveryStep) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "INSERT INTO recovery_steps (recovery_id, at, message) VALUES (?, ?, ?)",
            args![id, step.at.millis(), step.message.as_str()],
        )
        .await
        .map_err(query_error)
    }

    async fn record_recovery_successor(
        &self,
        id: i64,
        successor: &InstanceKey,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "UPDATE recoveries SET successor_host = ?, successor_port = ? \
             WHERE id = ? AND is_active = 1",
            args![successor.hostname.as_str(), successor.port, id],
        )
        .await
        .map_err(query_error)
    }

    async fn finish_recovery(&self, id: i64, outcome: RecoveryOutcome) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "UPDATE recoveries SET is_active = 0, ended_at = ?, successful = ?, \
                 successor_host = ?, successor_port = ?, lost_replicas = ?, \
                 participating = ?, errors = ? WHERE id = ?",
            args![
                outcome.ended_at.millis(),
                outcome.successful,
                outcome.successor.as_ref().map(|k| k.hostname.clone()),
                outcome.successor.as_ref().map(|k| k.port),
                to_json(&outcome.lost_replicas)?,
                to_json(&outcome.participating)?,
                to_json(&outcome.errors)?,
                id
            ],
        )
        .await
        .map_err(query_error)
    }

    async fn recoveries(
        &self,
        cluster: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecoveryRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                "SELECT id, uid, cluster, hostname, port, analysis, kind, manual, processing_node, \
                     started_at, ended_at, is_active, successful, successor_host, successor_port, \
                     lost_replicas, participating, errors, acknowledged, acknowledged_at, \
                     acknowledged_by, acknowledged_comment \
                 FROM recoveries WHERE (? IS NULL OR cluster = ?) ORDER BY id DESC LIMIT ?",
                args![cluster, cluster, limit as u64],
            )
            .await
            .map_err(query_error)?;
        let mut records = Vec::new();
        for row in rows {
            let id: i64 = row.get(0).unwrap_or_default();
            let corrupt = |e: serde_json::Error| StoreError::Corrupt {
                key: format!("recovery {id}"),
                message: e.to_string(),
            };
            let list = |index: usize| row.get::<String, _>(index).unwrap_or_else(|| "[]".into());
            let flag = |index: usize| row.get::<i64, _>(index).unwrap_or_default() != 0;
            let successor_host: Option<String> = row.get::<Option<String>, _>(13).flatten();
            let successor_port: Option<u32> = row.get::<Option<u32>, _>(14).flatten();
            records.push(RecoveryRecord {
                id,
                uid: row.get(1).unwrap_or_default(),
                cluster: row.get(2).unwrap_or_default(),
                failed: key_of(&row, 3, 4),
                analysis: row.get(5).unwrap_or_default(),
                kind: row.get(6).unwrap_or_default(),
                manual: flag(7),
                processing_node: row.get(8).unwrap_or_default(),
                started_at: Timestamp(row.get(9).unwrap_or_default()),
                ended_at: row.get::<Option<i64>, _>(10).flatten().map(Timestamp),
                is_active: flag(11),
                successful: flag(12),
                successor: successor_host
                    .zip(successor_port)
                    .map(|(hostname, port)| InstanceKey {
                        hostname,
                        port: port as u16,
                    }),
                lost_replicas: serde_json::from_str(&list(15)).map_err(corrupt)?,
                participating: serde_json::from_str(&list(16)).map_err(corrupt)?,
                errors: serde_json::from_str(&list(17)).map_err(corrupt)?,
                acknowledged: flag(18),
                acknowledged_at: row.get::<Option<i64>, _>(19).flatten().map(Timestamp),
                acknowledged_by: row.get(20).unwrap_or_default(),
                acknowledged_comment: row.get(21).unwrap_or_default(),
                steps: Vec::new(),
            });
        }
        for record in &mut records {
            let steps: Vec<(i64, String)> = conn
                .exec(
                    "SELECT at, message FROM recovery_steps WHERE recovery_id = ? ORDER BY id",
                    args![record.id],
                )
                .await
                .map_err(query_error)?;
            record.steps = steps
                .into_iter()
                .map(|(at, message)| RecoveryStep {
                    at: Timestamp(at),
                    message,
                })
                .collect();
        }
        Ok(records)
    }

    async fn successions(&self) -> Result<Vec<Succession>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .query(crate::SUCCESSIONS_SQL)
            .await
            .map_err(query_error)?;
        Ok(rows
            .iter()
            .map(|row| Succession {
                former: key_of(row, 0, 1),
                successor: key_of(row, 2, 3),
                at: Timestamp(row.get(4).unwrap_or_default()),
            })
            .collect())
    }

    async fn acknowledge_recoveries(
        &self,
        cluster: Option<&str>,
        by: &str,
        comment: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "UPDATE recoveries SET acknowledged = 1, acknowledged_at = ?, acknowledged_by = ?, \
                 acknowledged_comment = ? \
             WHERE (? IS NULL OR cluster = ?) AND acknowledged = 0 AND is_active = 0",
            args![at.millis(), by, comment, cluster, cluster],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() as usize)
    }

    async fn abandon_active_recoveries(
        &self,
        at: Timestamp,
        note: &str,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "UPDATE recoveries SET is_active = 0, ended_at = ?, successful = 0, errors = ?, \
                 acknowledged = 1, acknowledged_at = ?, acknowledged_by = 'arbor', \
                 acknowledged_comment = ? \
             WHERE is_active = 1",
            args![at.millis(), to_json(&[note])?, at.millis(), note],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() as usize)
    }

    async fn begin_maintenance(
        &self,
        key: &InstanceKey,
        owner: &str,
        reason: &str,
        node: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<LockDecision, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "DELETE FROM maintenance WHERE hostname = ? AND port = ? AND expires_at <= ?",
            args![key.hostname.as_str(), key.port, now.millis()],
        )
        .await
        .map_err(query_error)?;
        // The unique key decides between concurrent requests, on every node at once.
        conn.exec_drop(
            "INSERT IGNORE INTO maintenance (hostname, port, owner, reason, node, begin_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            args![key.hostname.as_str(), key.port, owner, reason, node, now.millis(), expires_at.millis()],
        )
        .await
        .map_err(query_error)?;
        if conn.affected_rows() == 1 {
            return Ok(LockDecision::Acquired {
                id: conn.last_insert_id().unwrap_or_default() as i64,
            });
        }
        let held: Option<Row> = conn
            .exec_first(
                format!("{SELECT_MAINTENANCE} WHERE hostname = ? AND port = ?"),
                args![key.hostname.as_str(), key.port],
            )
            .await
            .map_err(query_error)?;
        match held {
            Some(row) => Ok(LockDecision::Held(read_maintenance(&row))),
            // Released between our insert and our read: ask again.
            None => {
                Box::pin(self.begin_maintenance(key, owner, reason, node, now, expires_at)).await
            }
        }
    }

    async fn end_maintenance(
        &self,
        key: &InstanceKey,
        id: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "DELETE FROM maintenance WHERE hostname = ? AND port = ? AND (? IS NULL OR id = ?)",
            args![key.hostname.as_str(), key.port, id, id],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() > 0)
    }

    async fn active_maintenance(&self, now: Timestamp) -> Result<Vec<Maintenance>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                format!("{SELECT_MAINTENANCE} WHERE expires_at > ? ORDER BY hostname, port"),
                args![now.millis()],
            )
            .await
            .map_err(query_error)?;
        Ok(rows.iter().map(read_maintenance).collect())
    }

    async fn release_node_maintenance(&self, node: &str) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop("DELETE FROM maintenance WHERE node = ?", args![node])
            .await
            .map_err(query_error)?;
        Ok(conn.affected_rows() as usize)
    }

    async fn tag(&self, key: &InstanceKey, name: &str, value: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "INSERT INTO tags (hostname, port, name, value) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE value = VALUES(value)",
            args![key.hostname.as_str(), key.port, name, value],
        )
        .await
        .map_err(query_error)
    }

    async fn untag(&self, key: &InstanceKey, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "DELETE FROM tags WHERE hostname = ? AND port = ? AND name = ?",
            args![key.hostname.as_str(), key.port, name],
        )
        .await
        .map_err(query_error)?;
        Ok(conn.affected_rows() > 0)
    }

    async fn untag_all(&self, name: &str) -> Result<Vec<InstanceKey>, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(query_error)?;
        let rows: Vec<Row> = tx
            .exec(
                "SELECT hostname, port FROM tags WHERE name = ? ORDER BY hostname, port FOR UPDATE",
                args![name],
            )
            .await
            .map_err(query_error)?;
        tx.exec_drop("DELETE FROM tags WHERE name = ?", args![name])
            .await
            .map_err(query_error)?;
        tx.commit().await.map_err(query_error)?;
        Ok(rows.iter().map(|row| key_of(row, 0, 1)).collect())
    }

    async fn tags(&self, key: &InstanceKey) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec(
            "SELECT name, value FROM tags WHERE hostname = ? AND port = ? ORDER BY name",
            args![key.hostname.as_str(), key.port],
        )
        .await
        .map_err(query_error)
    }

    async fn tagged(
        &self,
        name: &str,
        value: Option<&str>,
    ) -> Result<Vec<InstanceKey>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                "SELECT hostname, port FROM tags WHERE name = ? AND (? IS NULL OR value = ?) \
                 ORDER BY hostname, port",
                args![name, value, value],
            )
            .await
            .map_err(query_error)?;
        Ok(rows.iter().map(|row| key_of(row, 0, 1)).collect())
    }

    async fn set_global_recoveries_disabled(&self, disabled: bool) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "INSERT INTO settings (name, value) VALUES ('recoveries_disabled', ?) \
             ON DUPLICATE KEY UPDATE value = VALUES(value)",
            args![if disabled { "1" } else { "0" }],
        )
        .await
        .map_err(query_error)
    }

    async fn global_recoveries_disabled(&self) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let value: Option<String> = conn
            .query_first("SELECT value FROM settings WHERE name = 'recoveries_disabled'")
            .await
            .map_err(query_error)?;
        Ok(value.as_deref() == Some("1"))
    }

    async fn set_cluster_alias(&self, cluster: &str, alias: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let alias = alias.trim();
        if alias.is_empty() {
            conn.exec_drop(
                "DELETE FROM cluster_aliases WHERE cluster = ?",
                args![cluster],
            )
            .await
            .map_err(query_error)
        } else {
            conn.exec_drop(
                "INSERT INTO cluster_aliases (cluster, alias) VALUES (?, ?) \
                 ON DUPLICATE KEY UPDATE alias = VALUES(alias)",
                args![cluster, alias],
            )
            .await
            .map_err(query_error)
        }
    }

    async fn cluster_aliases(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.conn().await?;
        conn.query("SELECT cluster, alias FROM cluster_aliases ORDER BY cluster")
            .await
            .map_err(query_error)
    }

    async fn reset_replicated_state(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        // TRUNCATE also restarts the AUTO_INCREMENT counters.
        for table in [
            "downtimes",
            "promotion_rules",
            "failure_detections",
            "recovery_steps",
            "recoveries",
            "settings",
            "maintenance",
            "tags",
            "cluster_aliases",
        ] {
            conn.query_drop(format!("TRUNCATE TABLE {table}"))
                .await
                .map_err(query_error)?;
        }
        Ok(())
    }

    async fn export_replicated(&self) -> Result<ReplicatedDump, StoreError> {
        let instances = self
            .all_instances()
            .await?
            .into_iter()
            .map(|r| (r.key().clone(), r.first_discovered))
            .collect();
        let mut conn = self.conn().await?;
        let mut tables = std::collections::BTreeMap::new();
        for (table, columns, order) in REPLICATED_TABLES {
            let rows: Vec<Row> = conn
                .query(format!(
                    "SELECT {} FROM {table} ORDER BY {order}",
                    columns.join(", ")
                ))
                .await
                .map_err(query_error)?;
            let rows = rows
                .into_iter()
                .map(|row| {
                    // The text protocol sends numbers as text: typed back by their column.
                    let numeric: Vec<bool> = row
                        .columns_ref()
                        .iter()
                        .map(|c| c.column_type().is_numeric_type())
                        .collect();
                    row.unwrap()
                        .into_iter()
                        .zip(numeric)
                        .map(|(value, numeric)| mysql_to_json(value, numeric))
                        .collect()
                })
                .collect();
            tables.insert(table.to_string(), rows);
        }
        Ok(ReplicatedDump { tables, instances })
    }

    async fn import_replicated(&self, dump: ReplicatedDump) -> Result<(), StoreError> {
        self.reset_replicated_state().await?;
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(query_error)?;
        for (table, columns, _) in REPLICATED_TABLES {
            let Some(rows) = dump.tables.get(*table) else {
                continue;
            };
            let statement = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                columns.join(", "),
                vec!["?"; columns.len()].join(", ")
            );
            for row in rows {
                let values: Vec<Value> = row.iter().map(json_to_mysql).collect();
                tx.exec_drop(&statement, Params::Positional(values))
                    .await
                    .map_err(query_error)?;
            }
        }
        tx.commit().await.map_err(query_error)?;
        drop(conn);
        for (key, at) in dump.instances {
            self.register_instance(&key, at).await?;
        }
        Ok(())
    }
}

fn mysql_to_json(value: Value, numeric: bool) -> serde_json::Value {
    match value {
        Value::NULL => serde_json::Value::Null,
        Value::Int(i) => i.into(),
        Value::UInt(u) => u.into(),
        Value::Float(f) => f64::from(f).into(),
        Value::Double(d) => d.into(),
        Value::Bytes(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            match text.parse::<i64>() {
                Ok(number) if numeric => number.into(),
                _ => text.into(),
            }
        }
        other => other.as_sql(true).into(),
    }
}

fn json_to_mysql(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::NULL,
        serde_json::Value::Bool(b) => Value::Int(i64::from(*b)),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Double(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(text) => Value::Bytes(text.clone().into_bytes()),
        other => Value::Bytes(other.to_string().into_bytes()),
    }
}
