use std::path::Path;
use std::sync::{Arc, Mutex};

use arbor_topology::{Instance, InstanceKey, InstanceRecord, Timestamp};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::{migrations, CheckOutcome, CheckResult, Store, StoreError};

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

const SELECT_RECORD: &str = "SELECT hostname, port, first_discovered, last_attempted_check, \
     last_checked, last_seen, last_error, data FROM instances";

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

fn to_json(instance: &Instance) -> Result<String, StoreError> {
    serde_json::to_string(instance).map_err(|e| StoreError::Query(e.to_string()))
}

#[async_trait]
impl Store for SqliteStore {
    async fn register_instance(
        &self,
        key: &InstanceKey,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            let data = to_json(&Instance::unseen(key.clone()))?;
            let inserted = conn.execute(
                "INSERT INTO instances (hostname, port, first_discovered, data) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (hostname, port) DO NOTHING",
                params![key.hostname, key.port, at.millis(), data],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn record_checks(&self, outcomes: Vec<CheckOutcome>) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            {
                let mut seen = tx.prepare_cached(
                    "INSERT INTO instances (hostname, port, first_discovered, \
                         last_attempted_check, last_checked, last_seen, last_error, data) \
                     VALUES (?1, ?2, ?3, ?3, ?4, ?4, '', ?5) \
                     ON CONFLICT (hostname, port) DO UPDATE SET \
                         last_attempted_check = excluded.last_attempted_check, \
                         last_checked = excluded.last_checked, \
                         last_seen = excluded.last_seen, \
                         last_error = '', \
                         data = excluded.data",
                )?;
                let mut failed = tx.prepare_cached(
                    "INSERT INTO instances (hostname, port, first_discovered, \
                         last_attempted_check, last_checked, last_seen, last_error, data) \
                     VALUES (?1, ?2, ?3, ?3, ?4, NULL, ?5, ?6) \
                     ON CONFLICT (hostname, port) DO UPDATE SET \
                         last_attempted_check = excluded.last_attempted_check, \
                         last_checked = excluded.last_checked, \
                         last_error = excluded.last_error",
                )?;
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
                .prepare_cached(&format!(
                    "{SELECT_RECORD} WHERE hostname = ?1 AND port = ?2"
                ))?
                .query_row(params![key.hostname, key.port], read_record)
                .optional()?;
            raw.map(|(key, raw)| into_record(key, raw)).transpose()
        })
        .await
    }

    async fn all_instances(&self) -> Result<Vec<InstanceRecord>, StoreError> {
        self.with_conn(|conn| {
            let mut statement =
                conn.prepare_cached(&format!("{SELECT_RECORD} ORDER BY hostname, port"))?;
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

    async fn forget_instance(&self, key: &InstanceKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            let deleted = conn.execute(
                "DELETE FROM instances WHERE hostname = ?1 AND port = ?2",
                params![key.hostname, key.port],
            )?;
            Ok(deleted > 0)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
