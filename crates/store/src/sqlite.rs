mod intents;

use std::path::Path;
use std::sync::{Arc, Mutex};

use arbor_topology::{
    Downtime, Instance, InstanceKey, InstanceRecord, PromotionRule, Succession, Timestamp,
};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::sql::{self, SqlDialect};

use crate::{
    migrations, CheckOutcome, CheckResult, Command, FailureDetection, Maintenance, RecoveryRecord,
    RecoveryStep, ReplicatedDump, Reply, Store, StoreError, REPLICATED_TABLES,
};

/// The embedded store: one SQLite file in WAL mode.
///
/// One connection behind a mutex, as orchestrator's `SetMaxOpenConns(1)`: SQLite has one
/// writer anyway, and batching (see [`Store::record_checks`]) is what makes writes cheap, not
/// parallel connections.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let shown = path.display().to_string();
        let open_error = |message: String| StoreError::Open {
            path: shown.clone(),
            message,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| open_error(format!("cannot create {}: {e}", parent.display())))?;
        }
        let conn = Connection::open(path).map_err(|e| open_error(e.to_string()))?;
        SqliteStore::prepare(conn, &shown)
    }

    /// A private in-memory store, for tests and throwaway runs.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| StoreError::Open {
            path: ":memory:".into(),
            message: e.to_string(),
        })?;
        SqliteStore::prepare(conn, ":memory:")
    }

    fn prepare(mut conn: Connection, path: &str) -> Result<SqliteStore, StoreError> {
        // WAL lets readers proceed during a write; NORMAL sync is durable across process
        // crashes, which is what arbor's own state needs (probe data is re-read anyway).
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|_| conn.pragma_update(None, "busy_timeout", 5000))
            .map_err(|e| StoreError::Open {
                path: path.to_string(),
                message: e.to_string(),
            })?;
        migrations::migrate(&mut conn, path)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `work` with the connection on the blocking pool, so SQLite never stalls the async
    /// runtime that discovery and the API share.
    async fn with_conn<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Query(format!("store task failed: {e}")))?
    }
}

fn read_maintenance(row: &Row<'_>) -> rusqlite::Result<Maintenance> {
    Ok(Maintenance {
        id: row.get(0)?,
        key: InstanceKey {
            hostname: row.get(1)?,
            port: row.get(2)?,
        },
        owner: row.get(3)?,
        reason: row.get(4)?,
        node: row.get(5)?,
        begin_at: Timestamp(row.get(6)?),
        expires_at: Timestamp(row.get(7)?),
    })
}

fn read_record(row: &Row<'_>) -> rusqlite::Result<(InstanceKey, RawRecord)> {
    let key = InstanceKey {
        hostname: row.get(0)?,
        port: row.get(1)?,
    };
    Ok((
        key,
        RawRecord {
            first_discovered: row.get(2)?,
            last_attempted_check: row.get(3)?,
            last_checked: row.get(4)?,
            last_seen: row.get(5)?,
            last_error: row.get(6)?,
            data: row.get(7)?,
        },
    ))
}

struct RawRecord {
    first_discovered: i64,
    last_attempted_check: Option<i64>,
    last_checked: Option<i64>,
    last_seen: Option<i64>,
    last_error: String,
    data: String,
}

fn into_record(key: InstanceKey, raw: RawRecord) -> Result<InstanceRecord, StoreError> {
    let mut instance: Instance =
        serde_json::from_str(&raw.data).map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            message: e.to_string(),
        })?;
    instance.key = key;
    Ok(InstanceRecord {
        instance,
        first_discovered: Timestamp(raw.first_discovered),
        last_attempted_check: raw.last_attempted_check.map(Timestamp),
        last_checked: raw.last_checked.map(Timestamp),
        last_seen: raw.last_seen.map(Timestamp),
        last_error: raw.last_error,
    })
}

fn to_json_list<T: serde::Serialize>(items: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| StoreError::Query(e.to_string()))
}

fn to_json(instance: &Instance) -> Result<String, StoreError> {
    serde_json::to_string(instance).map_err(|e| StoreError::Query(e.to_string()))
}

#[async_trait]
impl Store for SqliteStore {
    async fn apply(&self, command: Command) -> Result<Reply, StoreError> {
        crate::command::dispatch(self, command).await
    }

    async fn record_checks(&self, outcomes: Vec<CheckOutcome>) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            {
                let mut seen = tx.prepare_cached(&SqlDialect::Sqlite.record_seen())?;
                let mut failed = tx.prepare_cached(&SqlDialect::Sqlite.record_failed())?;
                for outcome in outcomes {
                    let key = &outcome.key;
                    match &outcome.result {
                        CheckResult::Seen(instance) => {
                            seen.execute(params![
                                key.hostname,
                                key.port,
                                outcome.attempted_at.millis(),
                                outcome.checked_at.millis(),
                                to_json(instance)?,
                            ])?;
                        }
                        CheckResult::Failed { error } => {
                            failed.execute(params![
                                key.hostname,
                                key.port,
                                outcome.attempted_at.millis(),
                                outcome.checked_at.millis(),
                                error,
                                to_json(&Instance::unseen(key.clone()))?,
                            ])?;
                        }
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn instance(&self, key: &InstanceKey) -> Result<Option<InstanceRecord>, StoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            let raw = conn
                .prepare_cached(sql::INSTANCE_RECORD)?
                .query_row(params![key.hostname, key.port], read_record)
                .optional()?;
            raw.map(|(key, raw)| into_record(key, raw)).transpose()
        })
        .await
    }

    async fn all_instances(&self) -> Result<Vec<InstanceRecord>, StoreError> {
        self.with_conn(|conn| {
            let mut statement = conn.prepare_cached(sql::ALL_RECORDS)?;
            let rows = statement.query_map([], read_record)?;
            let mut records = Vec::new();
            for row in rows {
                let (key, raw) = row?;
                records.push(into_record(key, raw)?);
            }
            Ok(records)
        })
        .await
    }

    async fn active_downtimes(&self, now: Timestamp) -> Result<Vec<Downtime>, StoreError> {
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(sql::ACTIVE_DOWNTIMES)?;
            let rows = statement.query_map([now.millis()], |row| {
                Ok(Downtime {
                    key: InstanceKey {
                        hostname: row.get(0)?,
                        port: row.get(1)?,
                    },
                    owner: row.get(2)?,
                    reason: row.get(3)?,
                    begin: Timestamp(row.get(4)?),
                    end: Timestamp(row.get(5)?),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn promotion_rules(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(InstanceKey, PromotionRule)>, StoreError> {
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(sql::PROMOTION_RULES)?;
            let rows = statement.query_map([now.millis()], |row| {
                Ok((
                    InstanceKey {
                        hostname: row.get(0)?,
                        port: row.get(1)?,
                    },
                    row.get::<_, String>(2)?,
                ))
            })?;
            let mut rules = Vec::new();
            for row in rows {
                let (key, rule) = row?;
                let rule = rule.parse().map_err(|message| StoreError::Corrupt {
                    key: key.to_string(),
                    message,
                })?;
                rules.push((key, rule));
            }
            Ok(rules)
        })
        .await
    }

    async fn detections(&self, limit: usize) -> Result<Vec<FailureDetection>, StoreError> {
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(sql::DETECTIONS)?;
            let rows = statement.query_map([limit as i64], |row| {
                Ok(FailureDetection {
                    id: row.get(0)?,
                    cluster: row.get(1)?,
                    key: InstanceKey {
                        hostname: row.get(2)?,
                        port: row.get(3)?,
                    },
                    analysis: row.get(4)?,
                    description: row.get(5)?,
                    detected_at: Timestamp(row.get(6)?),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn recoveries(
        &self,
        cluster: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecoveryRecord>, StoreError> {
        let cluster = cluster.map(str::to_string);
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(sql::RECOVERIES)?;
            let rows = statement.query_map(params![cluster, limit as i64], |row| {
                let successor_host: Option<String> = row.get(13)?;
                let successor_port: Option<u16> = row.get(14)?;
                let list = |index: usize| -> rusqlite::Result<String> { row.get(index) };
                Ok((
                    RecoveryRecord {
                        id: row.get(0)?,
                        uid: row.get(1)?,
                        cluster: row.get(2)?,
                        failed: InstanceKey {
                            hostname: row.get(3)?,
                            port: row.get(4)?,
                        },
                        analysis: row.get(5)?,
                        kind: row.get(6)?,
                        manual: row.get(7)?,
                        processing_node: row.get(8)?,
                        started_at: Timestamp(row.get(9)?),
                        ended_at: row.get::<_, Option<i64>>(10)?.map(Timestamp),
                        is_active: row.get(11)?,
                        successful: row.get(12)?,
                        successor: successor_host
                            .zip(successor_port)
                            .map(|(hostname, port)| InstanceKey { hostname, port }),
                        lost_replicas: Vec::new(),
                        participating: Vec::new(),
                        errors: Vec::new(),
                        acknowledged: row.get(18)?,
                        acknowledged_at: row.get::<_, Option<i64>>(19)?.map(Timestamp),
                        acknowledged_by: row.get(20)?,
                        acknowledged_comment: row.get(21)?,
                        analysis_entry: row.get(22)?,
                        steps: Vec::new(),
                    },
                    list(15)?,
                    list(16)?,
                    list(17)?,
                ))
            })?;
            let mut records = Vec::new();
            for row in rows {
                let (mut record, lost, participating, errors) = row?;
                let corrupt = |e: serde_json::Error| StoreError::Corrupt {
                    key: format!("recovery {}", record.id),
                    message: e.to_string(),
                };
                record.lost_replicas = serde_json::from_str(&lost).map_err(corrupt)?;
                record.participating = serde_json::from_str(&participating).map_err(corrupt)?;
                record.errors = serde_json::from_str(&errors).map_err(corrupt)?;
                records.push(record);
            }
            let mut steps = conn.prepare_cached(&SqlDialect::Sqlite.recovery_steps())?;
            for record in &mut records {
                record.steps = steps
                    .query_map([record.id], |row| {
                        Ok(RecoveryStep {
                            at: Timestamp(row.get(0)?),
                            message: row.get(1)?,
                        })
                    })?
                    .collect::<Result<_, _>>()?;
            }
            Ok(records)
        })
        .await
    }

    async fn successions(&self) -> Result<Vec<Succession>, StoreError> {
        self.with_conn(|conn| {
            let mut statement = conn.prepare_cached(crate::SUCCESSIONS_SQL)?;
            let rows = statement.query_map([], |row| {
                Ok(Succession {
                    former: InstanceKey {
                        hostname: row.get(0)?,
                        port: row.get(1)?,
                    },
                    successor: InstanceKey {
                        hostname: row.get(2)?,
                        port: row.get(3)?,
                    },
                    at: Timestamp(row.get(4)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn active_maintenance(&self, now: Timestamp) -> Result<Vec<Maintenance>, StoreError> {
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(sql::ACTIVE_MAINTENANCE)?;
            let rows = statement.query_map([now.millis()], read_maintenance)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn tags(&self, key: &InstanceKey) -> Result<Vec<(String, String)>, StoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(sql::TAGS)?;
            let rows = statement.query_map(params![key.hostname, key.port], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn tagged(
        &self,
        name: &str,
        value: Option<&str>,
    ) -> Result<Vec<InstanceKey>, StoreError> {
        let (name, value) = (name.to_string(), value.map(str::to_string));
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(sql::TAGGED)?;
            let rows = statement.query_map(params![name, value], |row| {
                Ok(InstanceKey {
                    hostname: row.get(0)?,
                    port: row.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn global_recoveries_disabled(&self) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let value: Option<String> = conn
                .query_row(sql::GLOBAL_RECOVERIES_DISABLED, [], |row| row.get(0))
                .optional()?;
            Ok(value.as_deref() == Some("1"))
        })
        .await
    }

    async fn cluster_aliases(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.with_conn(|conn| {
            let mut statement = conn.prepare_cached(sql::CLUSTER_ALIASES)?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn pool_instances(
        &self,
        pool: Option<&str>,
        since: Timestamp,
    ) -> Result<Vec<(String, InstanceKey)>, StoreError> {
        let pool = pool.map(str::to_string);
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(sql::POOL_INSTANCES)?;
            let rows = statement.query_map(params![pool, since.millis()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    InstanceKey::new(row.get::<_, String>(1)?, row.get(2)?),
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn reset_replicated_state(&self) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            // The id sequences go too: a replayed log must hand out the ids it handed out the
            // first time, since later entries (recovery steps) refer to them.
            conn.execute_batch(
                "BEGIN;
                 DELETE FROM downtimes;
                 DELETE FROM promotion_rules;
                 DELETE FROM failure_detections;
                 DELETE FROM recovery_steps;
                 DELETE FROM recoveries;
                 DELETE FROM settings;
                 DELETE FROM maintenance;
                 DELETE FROM tags;
                 DELETE FROM cluster_aliases;
                 DELETE FROM pools;
                 DELETE FROM recovery_analysis;
                 DELETE FROM sqlite_sequence
                   WHERE name IN ('failure_detections', 'recoveries', 'maintenance');
                 COMMIT;",
            )?;
            Ok(())
        })
        .await
    }

    async fn export_replicated(&self) -> Result<ReplicatedDump, StoreError> {
        let instances = self
            .all_instances()
            .await?
            .into_iter()
            .map(|r| (r.key().clone(), r.first_discovered))
            .collect();
        let tables = self
            .with_conn(|conn| {
                let mut tables = std::collections::BTreeMap::new();
                for (table, columns, order) in REPLICATED_TABLES {
                    let mut statement = conn.prepare(&sql::all_rows(table, columns, order))?;
                    let rows = statement.query_map([], |row| {
                        (0..columns.len())
                            .map(|i| Ok(sqlite_to_json(row.get_ref(i)?)))
                            .collect::<rusqlite::Result<Vec<serde_json::Value>>>()
                    })?;
                    tables.insert(table.to_string(), rows.collect::<Result<Vec<_>, _>>()?);
                }
                Ok(tables)
            })
            .await?;
        Ok(ReplicatedDump { tables, instances })
    }

    async fn import_replicated(&self, dump: ReplicatedDump) -> Result<(), StoreError> {
        self.reset_replicated_state().await?;
        let tables = dump.tables;
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            for (table, columns, _) in REPLICATED_TABLES {
                let Some(rows) = tables.get(*table) else {
                    continue;
                };
                let mut insert = tx.prepare(&SqlDialect::Sqlite.insert_row(table, columns))?;
                for row in rows {
                    let values: Vec<rusqlite::types::Value> =
                        row.iter().map(json_to_sqlite).collect();
                    insert.execute(rusqlite::params_from_iter(values))?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
        for (key, at) in dump.instances {
            crate::command::Backend::register_instance(self, &key, at).await?;
        }
        Ok(())
    }
}

fn sqlite_to_json(value: rusqlite::types::ValueRef<'_>) -> serde_json::Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => f.into(),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned().into(),
    }
}

fn json_to_sqlite(value: &serde_json::Value) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(text) => Value::Text(text.clone()),
        other => Value::Text(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Intents;

    crate::store_conformance_suite!(SqliteStore::open_in_memory().unwrap());

    #[tokio::test]
    async fn state_survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/arbor.sqlite3");
        let key: InstanceKey = "db1:3306".parse().unwrap();
        {
            let store = SqliteStore::open(&path).unwrap();
            store.register_instance(&key, Timestamp(5)).await.unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let record = store.instance(&key).await.unwrap().unwrap();
        assert_eq!(record.first_discovered, Timestamp(5));
    }

    #[tokio::test]
    async fn an_unopenable_path_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let error = match SqliteStore::open(&file.join("under-a-file.db")) {
            Err(error) => error,
            Ok(_) => panic!("opening under a regular file must fail"),
        };
        assert!(error.to_string().contains("under-a-file.db"), "{error}");
    }
}
