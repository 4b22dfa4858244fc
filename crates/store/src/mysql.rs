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

use crate::sql::{self, SqlDialect};

/// A shared statement as MySQL runs it (positional `?`; see [`crate::sql`]).
fn my(statement: &str) -> String {
    SqlDialect::MySql.text(statement).into_owned()
}

use crate::{
    CheckOutcome, CheckResult, Command, FailureDetection, Maintenance, RecoveryRecord,
    RecoveryStep, ReplicatedDump, Reply, Store, StoreError, REPLICATED_TABLES,
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
    /// `MySQLOrchestratorUseMutualTLS`: TLS with these options; `None` for plain text.
    pub tls: Option<mysql_async::SslOpts>,
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

mod intents;
mod lease;

pub use lease::{LeaseHolder, NodeSeen};

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
            .tcp_nodelay(true)
            .ssl_opts(backend.tls.clone());
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
        crate::migrations::migrate_mysql(&mut conn, &shown).await?;
        Ok(store)
    }

    /// Where it is, for logs (no password).
    pub fn describe(&self) -> &str {
        &self.shown
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        self.pool.get_conn().await.map_err(query_error)
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
    async fn apply(&self, command: Command) -> Result<Reply, StoreError> {
        crate::command::dispatch(self, command).await
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
                        SqlDialect::MySql.record_seen(),
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
                        SqlDialect::MySql.record_failed(),
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
                my(sql::INSTANCE_RECORD),
                args![key.hostname.as_str(), key.port],
            )
            .await
            .map_err(query_error)?;
        row.map(into_record).transpose()
    }

    async fn all_instances(&self) -> Result<Vec<InstanceRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn.query(sql::ALL_RECORDS).await.map_err(query_error)?;
        rows.into_iter().map(into_record).collect()
    }

    async fn active_downtimes(&self, now: Timestamp) -> Result<Vec<Downtime>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(my(sql::ACTIVE_DOWNTIMES), args![now.millis(), now.millis()])
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

    async fn promotion_rules(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(InstanceKey, PromotionRule)>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(my(sql::PROMOTION_RULES), args![now.millis()])
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

    async fn detections(&self, limit: usize) -> Result<Vec<FailureDetection>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(my(sql::DETECTIONS), args![limit as u64])
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

    async fn recoveries(
        &self,
        cluster: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecoveryRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(my(sql::RECOVERIES), args![cluster, cluster, limit as u64])
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
                analysis_entry: row.get(22).unwrap_or_default(),
                steps: Vec::new(),
            });
        }
        for record in &mut records {
            let steps: Vec<(i64, String)> = conn
                .exec(SqlDialect::MySql.recovery_steps(), args![record.id])
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

    async fn active_maintenance(&self, now: Timestamp) -> Result<Vec<Maintenance>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(my(sql::ACTIVE_MAINTENANCE), args![now.millis()])
            .await
            .map_err(query_error)?;
        Ok(rows.iter().map(read_maintenance).collect())
    }

    async fn tags(&self, key: &InstanceKey) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec(my(sql::TAGS), args![key.hostname.as_str(), key.port])
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
            .exec(my(sql::TAGGED), args![name, value, value])
            .await
            .map_err(query_error)?;
        Ok(rows.iter().map(|row| key_of(row, 0, 1)).collect())
    }

    async fn global_recoveries_disabled(&self) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let value: Option<String> = conn
            .query_first(my(sql::GLOBAL_RECOVERIES_DISABLED))
            .await
            .map_err(query_error)?;
        Ok(value.as_deref() == Some("1"))
    }

    async fn cluster_aliases(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.conn().await?;
        conn.query(my(sql::CLUSTER_ALIASES))
            .await
            .map_err(query_error)
    }

    async fn pool_instances(
        &self,
        pool: Option<&str>,
        since: Timestamp,
    ) -> Result<Vec<(String, InstanceKey)>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<(String, String, u16)> = conn
            .exec(my(sql::POOL_INSTANCES), args![pool, pool, since.millis()])
            .await
            .map_err(query_error)?;
        Ok(rows
            .into_iter()
            .map(|(pool, host, port)| (pool, InstanceKey::new(host, port)))
            .collect())
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
            "pools",
            "recovery_analysis",
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
                .query(sql::all_rows(table, columns, order))
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
            let statement = SqlDialect::MySql.insert_row(table, columns);
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
            crate::command::Backend::register_instance(self, &key, at).await?;
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
