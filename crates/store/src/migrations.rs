//! Versioned schema migrations. Each migration runs once, in its own transaction, and is
//! recorded in `schema_migrations`; a store written by a newer arbor is refused rather than
//! misread.

use rusqlite::Connection;

use crate::StoreError;

struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
    version: 1,
    description: "instances",
    sql: "CREATE TABLE instances (
              hostname TEXT NOT NULL,
              port INTEGER NOT NULL,
              first_discovered INTEGER NOT NULL,
              last_attempted_check INTEGER,
              last_checked INTEGER,
              last_seen INTEGER,
              last_error TEXT NOT NULL DEFAULT '',
              -- The last successful reading, as JSON: the reading's shape grows with arbor,
              -- and columns would need a migration for every new field.
              data TEXT NOT NULL,
              PRIMARY KEY (hostname, port)
          );",
    },
    Migration {
        version: 2,
        description: "downtime, promotion rules, detections, recoveries, settings",
        sql: "CREATE TABLE downtimes (
                  hostname TEXT NOT NULL,
                  port INTEGER NOT NULL,
                  owner TEXT NOT NULL,
                  reason TEXT NOT NULL,
                  begin_at INTEGER NOT NULL,
                  end_at INTEGER NOT NULL,
                  PRIMARY KEY (hostname, port)
              );
              CREATE TABLE promotion_rules (
                  hostname TEXT NOT NULL,
                  port INTEGER NOT NULL,
                  rule TEXT NOT NULL,
                  expires_at INTEGER NOT NULL,
                  PRIMARY KEY (hostname, port)
              );
              CREATE TABLE failure_detections (
                  id INTEGER PRIMARY KEY AUTOINCREMENT,
                  cluster TEXT NOT NULL,
                  hostname TEXT NOT NULL,
                  port INTEGER NOT NULL,
                  analysis TEXT NOT NULL,
                  description TEXT NOT NULL,
                  detected_at INTEGER NOT NULL
              );
              CREATE INDEX failure_detections_key ON failure_detections (hostname, port, analysis, detected_at);
              CREATE TABLE recoveries (
                  id INTEGER PRIMARY KEY AUTOINCREMENT,
                  uid TEXT NOT NULL UNIQUE,
                  cluster TEXT NOT NULL,
                  hostname TEXT NOT NULL,
                  port INTEGER NOT NULL,
                  analysis TEXT NOT NULL,
                  kind TEXT NOT NULL,
                  manual INTEGER NOT NULL,
                  processing_node TEXT NOT NULL,
                  started_at INTEGER NOT NULL,
                  ended_at INTEGER,
                  is_active INTEGER NOT NULL,
                  successful INTEGER NOT NULL DEFAULT 0,
                  successor_host TEXT,
                  successor_port INTEGER,
                  lost_replicas TEXT NOT NULL DEFAULT '[]',
                  participating TEXT NOT NULL DEFAULT '[]',
                  errors TEXT NOT NULL DEFAULT '[]',
                  acknowledged INTEGER NOT NULL DEFAULT 0,
                  acknowledged_at INTEGER,
                  acknowledged_by TEXT NOT NULL DEFAULT '',
                  acknowledged_comment TEXT NOT NULL DEFAULT ''
              );
              CREATE INDEX recoveries_cluster ON recoveries (cluster, started_at);
              CREATE TABLE recovery_steps (
                  recovery_id INTEGER NOT NULL,
                  at INTEGER NOT NULL,
                  message TEXT NOT NULL
              );
              CREATE INDEX recovery_steps_recovery ON recovery_steps (recovery_id);
              CREATE TABLE settings (
                  name TEXT PRIMARY KEY,
                  value TEXT NOT NULL
              );",
    },
    Migration {
        version: 3,
        description: "maintenance locks, tags",
        sql: "CREATE TABLE maintenance (
                  id INTEGER PRIMARY KEY AUTOINCREMENT,
                  hostname TEXT NOT NULL,
                  port INTEGER NOT NULL,
                  owner TEXT NOT NULL,
                  reason TEXT NOT NULL,
                  node TEXT NOT NULL,
                  begin_at INTEGER NOT NULL,
                  expires_at INTEGER NOT NULL
              );
              -- One active lock per instance: the unique key is what makes two concurrent
              -- moves on one instance end with exactly one winner.
              CREATE UNIQUE INDEX maintenance_instance ON maintenance (hostname, port);
              CREATE TABLE tags (
                  hostname TEXT NOT NULL,
                  port INTEGER NOT NULL,
                  name TEXT NOT NULL,
                  value TEXT NOT NULL,
                  PRIMARY KEY (hostname, port, name)
              );",
    },
    Migration {
        version: 4,
        description: "operators' cluster aliases",
        sql: "CREATE TABLE cluster_aliases (
                  cluster TEXT PRIMARY KEY,
                  alias TEXT NOT NULL
              );",
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 4;

pub(crate) fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             description TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         );",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_string(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                migration.version,
                migration.description,
                arbor_topology::Timestamp::now().millis()
            ],
        )?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_end_at_the_schema_version() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                migration.version,
                index as i64 + 1,
                "{}",
                migration.description
            );
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }

    #[test]
    fn migrating_twice_is_a_no_op_and_a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, ":memory:").unwrap();
        migrate(&mut conn, ":memory:").unwrap();
        let applied: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(applied, SCHEMA_VERSION);
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?1, 'from the future', 0)",
            [SCHEMA_VERSION + 1],
        )
        .unwrap();
        let error = migrate(&mut conn, ":memory:").unwrap_err();
        assert!(matches!(error, StoreError::SchemaTooNew { .. }), "{error}");
    }
}
