//! Versioned schema migrations, for both backends: each version holds SQLite's DDL and
//! MySQL's (their types differ), runs once, and is recorded in `schema_migrations`; a store
//! written by a newer arbor is refused rather than misread.

use mysql_async::prelude::Queryable;
use rusqlite::Connection;

use crate::StoreError;

struct Migration {
    version: i64,
    description: &'static str,
    /// SQLite's DDL, run as one batch.
    sqlite: &'static str,
    /// MySQL's DDL, one statement each. MySQL commits DDL as it goes, so each is written to be
    /// run again safely (`IF NOT EXISTS`, `INSERT IGNORE`): a migration cut short by a crash
    /// is simply run again.
    mysql: &'static [&'static str],
}

const MIGRATIONS: &[Migration] = &[
    Migration {
    version: 1,
    description: "instances",
    sqlite: "CREATE TABLE instances (
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
        mysql: &[
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
        ],
    },
    Migration {
        version: 2,
        description: "downtime, promotion rules, detections, recoveries, settings",
        sqlite: "CREATE TABLE downtimes (
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
        mysql: &[
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
        ],
    },
    Migration {
        version: 3,
        description: "maintenance locks, tags",
        sqlite: "CREATE TABLE maintenance (
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
        mysql: &[
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
        ],
    },
    Migration {
        version: 4,
        description: "operators' cluster aliases",
        sqlite: "CREATE TABLE cluster_aliases (
                  cluster TEXT PRIMARY KEY,
                  alias TEXT NOT NULL
              );",
        mysql: &[
            "CREATE TABLE IF NOT EXISTS cluster_aliases (
         cluster VARCHAR(255) NOT NULL PRIMARY KEY,
         alias VARCHAR(255) NOT NULL
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        ],
    },
    Migration {
        version: 5,
        description: "the shared backend's coordination: decision locks, the leader's lease, nodes",
        // SQLite serves one node: it has no lease and no other node to coordinate with.
        sqlite: "",
        mysql: &[
            "CREATE TABLE IF NOT EXISTS arbor_locks (
         name VARCHAR(64) NOT NULL PRIMARY KEY
     ) ENGINE=InnoDB",
            "INSERT IGNORE INTO arbor_locks (name) VALUES ('recovery'), ('detection')",
            "CREATE TABLE IF NOT EXISTS arbor_leader (
         anchor TINYINT NOT NULL PRIMARY KEY,
         node VARCHAR(255) NOT NULL,
         api VARCHAR(512) NOT NULL,
         expires_at DATETIME(3) NOT NULL
     ) ENGINE=InnoDB",
            "CREATE TABLE IF NOT EXISTS arbor_nodes (
         node VARCHAR(255) NOT NULL PRIMARY KEY,
         api VARCHAR(512) NOT NULL,
         first_seen DATETIME(3) NOT NULL,
         last_seen DATETIME(3) NOT NULL
     ) ENGINE=InnoDB",
        ],
    },
    Migration {
        version: 6,
        description: "instance pools",
        sqlite: "CREATE TABLE pools (
                  pool TEXT NOT NULL,
                  hostname TEXT NOT NULL,
                  port INTEGER NOT NULL,
                  registered_at INTEGER NOT NULL,
                  PRIMARY KEY (pool, hostname, port)
              );",
        mysql: &["CREATE TABLE IF NOT EXISTS pools (
         pool VARCHAR(128) NOT NULL,
         hostname VARCHAR(255) NOT NULL,
         port INT UNSIGNED NOT NULL,
         registered_at BIGINT NOT NULL,
         PRIMARY KEY (pool, hostname, port)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"],
    },
    Migration {
        version: 7,
        description: "the analysis each recovery started from",
        sqlite: "CREATE TABLE recovery_analysis (
                  recovery_id INTEGER PRIMARY KEY,
                  entry TEXT NOT NULL
              );",
        mysql: &["CREATE TABLE IF NOT EXISTS recovery_analysis (
         recovery_id BIGINT NOT NULL PRIMARY KEY,
         entry MEDIUMTEXT NOT NULL
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"],
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 7;

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
        tx.execute_batch(migration.sqlite)?;
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

/// Brings a MySQL backend's schema up to date. Nodes sharing the backend may start at once: a
/// named lock (`GET_LOCK`) has them migrate one after the other. A backend made before arbor
/// versioned its MySQL schema (the tables, no `schema_migrations`) is taken as it is: the
/// migrations up to 5 are all `IF NOT EXISTS`, so they find the tables and are recorded.
pub(crate) async fn migrate_mysql(
    conn: &mut mysql_async::Conn,
    shown: &str,
) -> Result<(), StoreError> {
    let failed = |what: &str, error: mysql_async::Error| StoreError::Open {
        path: shown.to_string(),
        message: format!("{what}: {error}"),
    };
    let locked: Option<Option<i64>> = conn
        .query_first("SELECT GET_LOCK('arbor_schema_migrations', 60)")
        .await
        .map_err(|e| failed("cannot lock the schema for migration", e))?;
    if locked.flatten() != Some(1) {
        return Err(StoreError::Open {
            path: shown.to_string(),
            message: "another node held the schema migration lock for 60 s".into(),
        });
    }
    let result = async {
        conn.query_drop(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INT NOT NULL PRIMARY KEY,
                 description VARCHAR(255) NOT NULL,
                 applied_at BIGINT NOT NULL
             ) ENGINE=InnoDB",
        )
        .await
        .map_err(|e| failed("cannot create schema_migrations", e))?;
        let current: Option<i64> = conn
            .query_first("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .await
            .map_err(|e| failed("cannot read schema_migrations", e))?;
        let current = current.unwrap_or(0);
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: shown.to_string(),
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
            for statement in migration.mysql {
                conn.query_drop(*statement).await.map_err(|e| {
                    failed(
                        &format!(
                            "migration {} ({})",
                            migration.version, migration.description
                        ),
                        e,
                    )
                })?;
            }
            conn.exec_drop(
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                (
                    migration.version,
                    migration.description,
                    arbor_topology::Timestamp::now().millis(),
                ),
            )
            .await
            .map_err(|e| failed("cannot record a migration", e))?;
        }
        Ok(())
    }
    .await;
    let _ = conn
        .query_drop("DO RELEASE_LOCK('arbor_schema_migrations')")
        .await;
    result
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
