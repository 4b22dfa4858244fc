//! The SQL both backends run, written once, with the dialect differences in one place.
//!
//! Statements are written with SQLite's numbered placeholders (`?1`, `?2`, ...), which the
//! SQLite backend binds by number. MySQL takes positional `?` only: [`SqlDialect::text`]
//! strips the numbers, and the MySQL backend passes its arguments in the order the
//! placeholders appear, a repeated one as often as it appears. Where the dialects differ
//! (upserts, insert-if-absent, locking reads, row order of insertion), a function of
//! [`SqlDialect`] writes each form. The schema's DDL differs in types and lives, per
//! version, in [`crate::migrations`].

use std::borrow::Cow;

/// Which SQL a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqlDialect {
    Sqlite,
    MySql,
}

impl SqlDialect {
    /// `sql` as this dialect runs it: unchanged for SQLite; for MySQL, `?N` becomes `?`.
    pub(crate) fn text(self, sql: &str) -> Cow<'_, str> {
        match self {
            SqlDialect::Sqlite => Cow::Borrowed(sql),
            SqlDialect::MySql => {
                let mut out = String::with_capacity(sql.len());
                let mut chars = sql.chars().peekable();
                while let Some(c) = chars.next() {
                    out.push(c);
                    if c == '?' {
                        while chars.peek().is_some_and(char::is_ascii_digit) {
                            chars.next();
                        }
                    }
                }
                Cow::Owned(out)
            }
        }
    }

    /// An insert that updates the row when its key exists: `insert` (an `INSERT INTO ...
    /// VALUES (...)`), the key columns, and what to set, each either a column (set to the
    /// inserted value) or `column = expression`.
    pub(crate) fn upsert(self, insert: &str, keys: &[&str], set: &[&str]) -> String {
        let assignments = |new: &dyn Fn(&str) -> String| {
            set.iter()
                .map(|item| match item.split_once('=') {
                    Some((column, expression)) => {
                        format!("{} = {}", column.trim(), expression.trim())
                    }
                    None => format!("{item} = {}", new(item)),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            SqlDialect::Sqlite => format!(
                "{insert} ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                assignments(&|column| format!("excluded.{column}"))
            ),
            SqlDialect::MySql => format!(
                "{} ON DUPLICATE KEY UPDATE {}",
                self.text(insert),
                assignments(&|column| format!("VALUES({column})"))
            ),
        }
    }

    /// An insert that does nothing when a row with the same unique key exists.
    pub(crate) fn insert_if_absent(self, insert: &str) -> String {
        match self {
            SqlDialect::Sqlite => format!("{insert} ON CONFLICT DO NOTHING"),
            SqlDialect::MySql => self
                .text(insert)
                .replacen("INSERT INTO", "INSERT IGNORE INTO", 1),
        }
    }

    /// A read that locks the rows it reads until the transaction ends. SQLite needs none: its
    /// write transactions (`BEGIN IMMEDIATE`) already exclude each other.
    pub(crate) fn locking(self, select: &str) -> String {
        match self {
            SqlDialect::Sqlite => select.to_string(),
            SqlDialect::MySql => format!("{} FOR UPDATE", self.text(select)),
        }
    }

    /// The column that orders rows as they were inserted, in tables without an id.
    pub(crate) fn insertion_order(self) -> &'static str {
        match self {
            SqlDialect::Sqlite => "rowid",
            SqlDialect::MySql => "id",
        }
    }

    /// An insert of one row into `table` with these columns (a restored snapshot's rows).
    pub(crate) fn insert_row(self, table: &str, columns: &[&str]) -> String {
        let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("?{n}")).collect();
        self.text(&format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            columns.join(", "),
            placeholders.join(", ")
        ))
        .into_owned()
    }
}

pub(crate) const ABANDON_ACTIVE_RECOVERIES: &str =
    "UPDATE recoveries SET is_active = 0, ended_at = ?1, successful = 0, errors = ?2, acknowledged = 1, acknowledged_at = ?1, acknowledged_by = 'arbor', acknowledged_comment = ?3 WHERE is_active = 1";

pub(crate) const ACKNOWLEDGE_RECOVERIES: &str =
    "UPDATE recoveries SET acknowledged = 1, acknowledged_at = ?2, acknowledged_by = ?3, acknowledged_comment = ?4 WHERE (?1 IS NULL OR cluster = ?1) AND (?5 IS NULL OR id = ?5) AND (?6 IS NULL OR uid = ?6) AND (?7 IS NULL OR (hostname = ?7 AND port = ?8)) AND acknowledged = 0 AND is_active = 0";

pub(crate) const ACTIVE_DOWNTIMES: &str =
    "SELECT hostname, port, owner, reason, begin_at, end_at FROM downtimes WHERE begin_at <= ?1 AND end_at > ?1 ORDER BY hostname, port";

pub(crate) const ACTIVE_RECOVERY_OF_CLUSTER: &str =
    "SELECT id FROM recoveries WHERE cluster = ?1 AND is_active = 1 LIMIT 1";

pub(crate) const ADD_RECOVERY_STEP: &str =
    "INSERT INTO recovery_steps (recovery_id, at, message) VALUES (?1, ?2, ?3)";

pub(crate) const CLUSTER_ALIASES: &str =
    "SELECT cluster, alias FROM cluster_aliases ORDER BY cluster";

pub(crate) const COUNT_RECENT_DETECTIONS: &str =
    "SELECT COUNT(*) FROM failure_detections WHERE hostname = ?1 AND port = ?2 AND analysis = ?3 AND detected_at > ?4";

pub(crate) const DELETE_CLUSTER_ALIAS: &str = "DELETE FROM cluster_aliases WHERE cluster = ?1";

pub(crate) const DELETE_EXPIRED_MAINTENANCE: &str =
    "DELETE FROM maintenance WHERE hostname = ?1 AND port = ?2 AND expires_at <= ?3";

pub(crate) const DETECTIONS: &str =
    "SELECT id, cluster, hostname, port, analysis, description, detected_at FROM failure_detections ORDER BY id DESC LIMIT ?1";

pub(crate) const END_DOWNTIME: &str = "DELETE FROM downtimes WHERE hostname = ?1 AND port = ?2";

pub(crate) const END_MAINTENANCE: &str =
    "DELETE FROM maintenance WHERE hostname = ?1 AND port = ?2 AND (?3 IS NULL OR id = ?3)";

pub(crate) const FINISH_RECOVERY: &str =
    "UPDATE recoveries SET is_active = 0, ended_at = ?2, successful = ?3, successor_host = ?4, successor_port = ?5, lost_replicas = ?6, participating = ?7, errors = ?8 WHERE id = ?1";

pub(crate) const FORGET_INSTANCE: &str = "DELETE FROM instances WHERE hostname = ?1 AND port = ?2";

pub(crate) const GLOBAL_RECOVERIES_DISABLED: &str =
    "SELECT value FROM settings WHERE name = 'recoveries_disabled'";

pub(crate) const PROMOTION_RULES: &str =
    "SELECT hostname, port, rule FROM promotion_rules WHERE expires_at > ?1 ORDER BY hostname, port";

pub(crate) const RECENT_UNACKNOWLEDGED_RECOVERY: &str =
    "SELECT id FROM recoveries WHERE acknowledged = 0 AND started_at > ?2 AND (cluster = ?1 OR (successor_host = ?3 AND successor_port = ?4)) ORDER BY id DESC LIMIT 1";

pub(crate) const RECORD_DETECTION: &str =
    "INSERT INTO failure_detections (cluster, hostname, port, analysis, description, detected_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

pub(crate) const RECORD_RECOVERY_SUCCESSOR: &str =
    "UPDATE recoveries SET successor_host = ?2, successor_port = ?3 WHERE id = ?1 AND is_active = 1";

pub(crate) const RECOVERIES: &str =
    "SELECT id, uid, cluster, hostname, port, analysis, kind, manual, processing_node, started_at, ended_at, is_active, successful, successor_host, successor_port, lost_replicas, participating, errors, acknowledged, acknowledged_at, acknowledged_by, acknowledged_comment, COALESCE(entry, '') FROM recoveries LEFT JOIN recovery_analysis ON recovery_id = id WHERE (?1 IS NULL OR cluster = ?1) ORDER BY id DESC LIMIT ?2";

pub(crate) const RELEASE_NODE_MAINTENANCE: &str = "DELETE FROM maintenance WHERE node = ?1";

pub(crate) const SUPERSEDE_UNACKNOWLEDGED: &str =
    "UPDATE recoveries SET acknowledged = 1, acknowledged_at = ?2, acknowledged_by = 'arbor', acknowledged_comment = 'superseded by a manual recovery' WHERE cluster = ?1 AND acknowledged = 0";

pub(crate) const TAGGED: &str =
    "SELECT hostname, port FROM tags WHERE name = ?1 AND (?2 IS NULL OR value = ?2) ORDER BY hostname, port";

pub(crate) const TAGS: &str =
    "SELECT name, value FROM tags WHERE hostname = ?1 AND port = ?2 ORDER BY name";

pub(crate) const UNTAG: &str = "DELETE FROM tags WHERE hostname = ?1 AND port = ?2 AND name = ?3";

pub(crate) const UNTAG_ALL: &str = "DELETE FROM tags WHERE name = ?1";

pub(crate) const CLEAR_POOL: &str = "DELETE FROM pools WHERE pool = ?1";

pub(crate) const ADD_TO_POOL: &str =
    "INSERT INTO pools (pool, hostname, port, registered_at) VALUES (?1, ?2, ?3, ?4)";

pub(crate) const POOL_INSTANCES: &str =
    "SELECT pool, hostname, port FROM pools WHERE (?1 IS NULL OR pool = ?1) AND registered_at >= ?2 ORDER BY pool, hostname, port";

pub(crate) const REGISTER_INSTANCE: &str =
    "INSERT INTO instances (hostname, port, first_discovered, last_error, data) VALUES (?1, ?2, ?3, '', ?4)";

pub(crate) const BEGIN_DOWNTIME: &str =
    "INSERT INTO downtimes (hostname, port, owner, reason, begin_at, end_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

pub(crate) const REGISTER_CANDIDATE: &str =
    "INSERT INTO promotion_rules (hostname, port, rule, expires_at) VALUES (?1, ?2, ?3, ?4)";

pub(crate) const START_RECOVERY: &str =
    "INSERT INTO recoveries (uid, cluster, hostname, port, analysis, kind, manual, processing_node, started_at, is_active, lost_replicas, participating, errors, acknowledged_comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, '[]', '[]', '[]', '')";

pub(crate) const RECORD_RECOVERY_ANALYSIS: &str =
    "INSERT INTO recovery_analysis (recovery_id, entry) VALUES (?1, ?2)";

pub(crate) const BEGIN_MAINTENANCE: &str =
    "INSERT INTO maintenance (hostname, port, owner, reason, node, begin_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

pub(crate) const TAG: &str =
    "INSERT INTO tags (hostname, port, name, value) VALUES (?1, ?2, ?3, ?4)";

pub(crate) const TAGGED_BY_NAME: &str =
    "SELECT hostname, port FROM tags WHERE name = ?1 ORDER BY hostname, port";

pub(crate) const SET_GLOBAL_RECOVERIES_DISABLED: &str =
    "INSERT INTO settings (name, value) VALUES ('recoveries_disabled', ?1)";

pub(crate) const SET_CLUSTER_ALIAS: &str =
    "INSERT INTO cluster_aliases (cluster, alias) VALUES (?1, ?2)";

pub(crate) const RECORD_SEEN: &str =
    "INSERT INTO instances (hostname, port, first_discovered, last_attempted_check, last_checked, last_seen, last_error, data) VALUES (?1, ?2, ?3, ?3, ?4, ?4, '', ?5)";

pub(crate) const RECORD_FAILED: &str =
    "INSERT INTO instances (hostname, port, first_discovered, last_attempted_check, last_checked, last_seen, last_error, data) VALUES (?1, ?2, ?3, ?3, ?4, NULL, ?5, ?6)";

pub(crate) const RECOVERY_STEPS: &str =
    "SELECT at, message FROM recovery_steps WHERE recovery_id = ?1";

pub(crate) const INSTANCE_RECORD: &str =
    "SELECT hostname, port, first_discovered, last_attempted_check, last_checked, last_seen, last_error, data FROM instances WHERE hostname = ?1 AND port = ?2";

pub(crate) const ALL_RECORDS: &str =
    "SELECT hostname, port, first_discovered, last_attempted_check, last_checked, last_seen, last_error, data FROM instances ORDER BY hostname, port";

pub(crate) const ACTIVE_MAINTENANCE: &str =
    "SELECT id, hostname, port, owner, reason, node, begin_at, expires_at FROM maintenance WHERE expires_at > ?1 ORDER BY hostname, port";

pub(crate) const MAINTENANCE_OF: &str =
    "SELECT id, hostname, port, owner, reason, node, begin_at, expires_at FROM maintenance WHERE hostname = ?1 AND port = ?2";

/// Every row of a replicated table, for a snapshot.
pub(crate) fn all_rows(table: &str, columns: &[&str], order: &str) -> String {
    format!(
        "SELECT {} FROM {table} ORDER BY {order}",
        columns.join(", ")
    )
}

/// The statements with a dialect-specific part, each written once.
impl SqlDialect {
    /// One recovery's steps, in the order they were added.
    pub(crate) fn recovery_steps(self) -> String {
        format!(
            "{} ORDER BY {}",
            self.text(RECOVERY_STEPS),
            self.insertion_order()
        )
    }

    pub(crate) fn record_seen(self) -> String {
        self.upsert(
            RECORD_SEEN,
            &["hostname", "port"],
            &[
                "last_attempted_check",
                "last_checked",
                "last_seen",
                "last_error = ''",
                "data",
            ],
        )
    }

    pub(crate) fn record_failed(self) -> String {
        self.upsert(
            RECORD_FAILED,
            &["hostname", "port"],
            &["last_attempted_check", "last_checked", "last_error"],
        )
    }

    pub(crate) fn begin_downtime(self) -> String {
        self.upsert(
            BEGIN_DOWNTIME,
            &["hostname", "port"],
            &["owner", "reason", "begin_at", "end_at"],
        )
    }

    pub(crate) fn register_candidate(self) -> String {
        self.upsert(
            REGISTER_CANDIDATE,
            &["hostname", "port"],
            &["rule", "expires_at"],
        )
    }

    pub(crate) fn tag(self) -> String {
        self.upsert(TAG, &["hostname", "port", "name"], &["value"])
    }

    pub(crate) fn set_global_recoveries_disabled(self) -> String {
        self.upsert(SET_GLOBAL_RECOVERIES_DISABLED, &["name"], &["value"])
    }

    pub(crate) fn set_cluster_alias(self) -> String {
        self.upsert(SET_CLUSTER_ALIAS, &["cluster"], &["alias"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_writes_its_form() {
        assert_eq!(
            SqlDialect::MySql.text("a = ?2 AND b = ?1 OR c = ?2"),
            "a = ? AND b = ? OR c = ?"
        );
        assert_eq!(SqlDialect::Sqlite.text(TAG), TAG);
        assert_eq!(
            SqlDialect::Sqlite.upsert(TAG, &["hostname", "port", "name"], &["value"]),
            format!(
                "{TAG} ON CONFLICT (hostname, port, name) DO UPDATE SET value = excluded.value"
            )
        );
        assert_eq!(
            SqlDialect::MySql.upsert(SET_CLUSTER_ALIAS, &["cluster"], &["alias", "x = ''"]),
            "INSERT INTO cluster_aliases (cluster, alias) VALUES (?, ?) \
             ON DUPLICATE KEY UPDATE alias = VALUES(alias), x = ''"
        );
        assert!(SqlDialect::MySql
            .insert_if_absent(REGISTER_INSTANCE)
            .starts_with("INSERT IGNORE INTO instances"));
        assert!(SqlDialect::Sqlite
            .insert_if_absent(REGISTER_INSTANCE)
            .ends_with("ON CONFLICT DO NOTHING"));
        assert!(SqlDialect::MySql
            .locking(TAGGED_BY_NAME)
            .ends_with("FOR UPDATE"));
        assert_eq!(
            SqlDialect::MySql.insert_row("tags", &["a", "b"]),
            "INSERT INTO tags (a, b) VALUES (?, ?)"
        );
    }
}
