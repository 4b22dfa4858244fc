//! The Raft log, vote and commit index in one SQLite file under `RaftDataDir`.
//!
//! Every write is a transaction in WAL mode with `synchronous=FULL`: openraft requires the vote
//! and appended entries to be durable before it is told so, since a node that forgets a vote
//! it gave could vote twice in one term.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use rusqlite::{params, Connection, OptionalExtension};

use crate::{NodeId, RaftStartError, TypeConfig};

/// The log store; clones share one connection (openraft reads from replication tasks while the
/// core writes).
#[derive(Clone)]
pub struct LogStore {
    conn: Arc<Mutex<Connection>>,
}

type StorageResult<T> = Result<T, StorageError<NodeId>>;

impl LogStore {
    pub fn open(path: &Path) -> Result<LogStore, RaftStartError> {
        let open = || -> rusqlite::Result<Connection> {
            let conn = Connection::open(path)?;
            conn.execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 CREATE TABLE IF NOT EXISTS raft_log (idx INTEGER PRIMARY KEY, entry TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS raft_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);",
            )?;
            Ok(conn)
        };
        let conn = open().map_err(|e| RaftStartError::DataDir {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(LogStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_meta<T: serde::de::DeserializeOwned>(&self, name: &str) -> rusqlite::Result<Option<T>> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT value FROM raft_meta WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn write_meta<T: serde::Serialize>(&self, name: &str, value: &T) -> rusqlite::Result<()> {
        let text = serde_json::to_string(value).expect("raft metadata serializes");
        self.conn().execute(
            "INSERT INTO raft_meta (name, value) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![name, text],
        )?;
        Ok(())
    }

    fn last_entry_id(&self) -> rusqlite::Result<Option<LogId<NodeId>>> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT entry FROM raft_log ORDER BY idx DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()?;
        Ok(text
            .and_then(|t| serde_json::from_str::<Entry<TypeConfig>>(&t).ok())
            .map(|entry| entry.log_id))
    }
}

impl LogStore {
    /// Appends one entry outside a running Raft node (forced recovery), durably.
    pub(crate) fn append_offline(&self, entry: Entry<TypeConfig>) -> rusqlite::Result<()> {
        let text = serde_json::to_string(&entry).expect("raft entries serialize");
        self.conn().execute(
            "INSERT OR REPLACE INTO raft_log (idx, entry) VALUES (?1, ?2)",
            params![entry.log_id.index as i64, text],
        )?;
        Ok(())
    }
}

fn bound_to_sql(range: &impl RangeBounds<u64>) -> (i64, i64) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s as i64,
        Bound::Excluded(&s) => s as i64 + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e as i64,
        Bound::Excluded(&e) => e as i64 - 1,
        Bound::Unbounded => i64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let (start, end) = bound_to_sql(&range);
        let conn = self.conn();
        let read = || -> rusqlite::Result<Vec<String>> {
            let mut statement = conn.prepare_cached(
                "SELECT entry FROM raft_log WHERE idx >= ?1 AND idx <= ?2 ORDER BY idx",
            )?;
            let rows = statement.query_map(params![start, end], |row| row.get::<_, String>(0))?;
            rows.collect()
        };
        let texts = read().map_err(|e| StorageIOError::read_logs(&e))?;
        texts
            .iter()
            .map(|text| {
                serde_json::from_str(text).map_err(|e| StorageIOError::read_logs(&e).into())
            })
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let last_purged: Option<LogId<NodeId>> = self
            .read_meta("last_purged")
            .map_err(|e| StorageIOError::read_logs(&e))?;
        let last = self
            .last_entry_id()
            .map_err(|e| StorageIOError::read_logs(&e))?
            .or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        self.write_meta("vote", vote)
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        self.read_meta("vote")
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        self.write_meta("committed", &committed)
            .map_err(|e| StorageIOError::write(&e).into())
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        Ok(self
            .read_meta::<Option<LogId<NodeId>>>("committed")
            .map_err(|e| StorageIOError::read(&e))?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let result = {
            let mut conn = self.conn();
            let write = |conn: &mut Connection| -> rusqlite::Result<()> {
                let transaction = conn.transaction()?;
                {
                    let mut statement = transaction.prepare_cached(
                        "INSERT OR REPLACE INTO raft_log (idx, entry) VALUES (?1, ?2)",
                    )?;
                    for entry in entries {
                        let text = serde_json::to_string(&entry).expect("raft entries serialize");
                        statement.execute(params![entry.log_id.index as i64, text])?;
                    }
                }
                transaction.commit()
            };
            write(&mut conn)
        };
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(&e).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        self.conn()
            .execute(
                "DELETE FROM raft_log WHERE idx >= ?1",
                [log_id.index as i64],
            )
            .map(|_| ())
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        self.write_meta("last_purged", &log_id)
            .and_then(|()| {
                self.conn()
                    .execute(
                        "DELETE FROM raft_log WHERE idx <= ?1",
                        [log_id.index as i64],
                    )
                    .map(|_| ())
            })
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
