//! Changing servers: the statements of moves and recoveries, built per dialect, and a session
//! that runs them with timeouts.
//!
//! Statement text is built by pure functions on [`Dialect`], so the exact statements sent to
//! MySQL 8.0 and 8.4 (where `SLAVE`/`MASTER` statements are gone) are tested against recorded
//! lists without those servers.

use std::time::Duration;

use arbor_topology::{BinlogCoordinates, Flavor, InstanceKey, ReplicaStatus, ServerVersion};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::probe::{open_connection, query_maps, value_text};
use crate::{status, Dialect, ProbeError};

/// MySQL 8.0.22 added `START|STOP|RESET REPLICA`; 8.0.23 `CHANGE REPLICATION SOURCE TO`.
const MYSQL_REPLICA_STATEMENTS: ServerVersion = ServerVersion::new(8, 0, 22);
const MYSQL_CHANGE_SOURCE: ServerVersion = ServerVersion::new(8, 0, 23);

/// Quotes a string literal for SQL.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl Dialect {
    fn mysql_at_least(&self, version: ServerVersion) -> bool {
        self.flavor != Flavor::MariaDb && self.version >= version
    }

    fn replica_word(&self) -> &'static str {
        if self.mysql_at_least(MYSQL_REPLICA_STATEMENTS) {
            "REPLICA"
        } else {
            "SLAVE"
        }
    }

    pub fn stop_replica(&self) -> String {
        format!("STOP {}", self.replica_word())
    }

    pub fn start_replica(&self) -> String {
        format!("START {}", self.replica_word())
    }

    pub fn start_replica_sql_thread(&self) -> String {
        format!("START {} SQL_THREAD", self.replica_word())
    }

    pub fn reset_replica_all(&self) -> String {
        format!("RESET {} ALL", self.replica_word())
    }

    /// Points a replica at a new source with GTID positioning: MariaDB
    /// `MASTER_USE_GTID=slave_pos`, MySQL auto-positioning, with what `link` sets besides.
    pub fn change_source_gtid(&self, source: &InstanceKey, link: &Link<'_>) -> String {
        let (host, port) = (quote(&source.hostname), source.port);
        let new_syntax = self.mysql_at_least(MYSQL_CHANGE_SOURCE);
        let (mut sql, word) = match self.flavor {
            Flavor::MariaDb => (
                format!(
                    "CHANGE MASTER TO MASTER_HOST={host}, MASTER_PORT={port}, MASTER_USE_GTID=slave_pos"
                ),
                "MASTER",
            ),
            _ if new_syntax => (
                format!(
                    "CHANGE REPLICATION SOURCE TO SOURCE_HOST={host}, SOURCE_PORT={port}, SOURCE_AUTO_POSITION=1"
                ),
                "SOURCE",
            ),
            _ => (
                format!(
                    "CHANGE MASTER TO MASTER_HOST={host}, MASTER_PORT={port}, MASTER_AUTO_POSITION=1"
                ),
                "MASTER",
            ),
        };
        if let Some((user, password)) = link.credentials {
            sql.push_str(&format!(
                ", {word}_USER={}, {word}_PASSWORD={}",
                quote(user),
                quote(password)
            ));
            if new_syntax {
                // caching_sha2_password without TLS needs the server's RSA key.
                sql.push_str(", GET_SOURCE_PUBLIC_KEY=1");
            }
        }
        if let Some(ssl) = link.ssl {
            sql.push_str(&format!(", {word}_SSL=1"));
            for (option, file) in [
                ("CA", &ssl.ca_file),
                ("CERT", &ssl.cert_file),
                ("KEY", &ssl.key_file),
            ] {
                if !file.is_empty() {
                    sql.push_str(&format!(", {word}_SSL_{option}={}", quote(file)));
                }
            }
        }
        if let Some(seconds) = link.connect_retry {
            sql.push_str(&format!(", {word}_CONNECT_RETRY={seconds}"));
        }
        sql
    }

    /// The statements that move a replica to `source` with GTID positioning and start it.
    pub fn repoint_statements(&self, source: &InstanceKey, link: &Link<'_>) -> Vec<String> {
        vec![
            self.stop_replica(),
            self.change_source_gtid(source, link),
            self.start_replica(),
        ]
    }

    /// Points a replica at a new source at given binary log coordinates, without GTID
    /// positioning (MariaDB `MASTER_USE_GTID=no`, MySQL auto-positioning off).
    pub fn change_source_file_position(
        &self,
        source: &InstanceKey,
        at: &BinlogCoordinates,
    ) -> String {
        let (host, port) = (quote(&source.hostname), source.port);
        let (file, pos) = (quote(&at.log_file), at.log_pos);
        match self.flavor {
            Flavor::MariaDb => format!(
                "CHANGE MASTER TO MASTER_HOST={host}, MASTER_PORT={port}, \
                 MASTER_LOG_FILE={file}, MASTER_LOG_POS={pos}, MASTER_USE_GTID=no"
            ),
            _ if self.mysql_at_least(MYSQL_CHANGE_SOURCE) => format!(
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST={host}, SOURCE_PORT={port}, \
                 SOURCE_LOG_FILE={file}, SOURCE_LOG_POS={pos}, SOURCE_AUTO_POSITION=0"
            ),
            _ => format!(
                "CHANGE MASTER TO MASTER_HOST={host}, MASTER_PORT={port}, \
                 MASTER_LOG_FILE={file}, MASTER_LOG_POS={pos}, MASTER_AUTO_POSITION=0"
            ),
        }
    }

    /// Starts replication that stops by itself once the SQL thread has applied the source's
    /// binary log up to `until`.
    pub fn start_replica_until(&self, until: &BinlogCoordinates) -> String {
        let (file, pos) = (quote(&until.log_file), until.log_pos);
        if self.mysql_at_least(MYSQL_REPLICA_STATEMENTS) {
            format!("START REPLICA UNTIL SOURCE_LOG_FILE={file}, SOURCE_LOG_POS={pos}")
        } else {
            format!("START SLAVE UNTIL MASTER_LOG_FILE={file}, MASTER_LOG_POS={pos}")
        }
    }

    /// `MASTER_DELAY` / `SOURCE_DELAY`: apply events only `seconds` after they were written.
    pub fn delay_replication(&self, seconds: u64) -> Vec<String> {
        let change = if self.mysql_at_least(MYSQL_CHANGE_SOURCE) {
            format!("CHANGE REPLICATION SOURCE TO SOURCE_DELAY = {seconds}")
        } else {
            format!("CHANGE MASTER TO MASTER_DELAY = {seconds}")
        };
        vec![self.stop_replica(), change, self.start_replica()]
    }

    /// What stops before a delayed replica's delay is removed: MySQL changes the delay with
    /// the SQL thread stopped; MariaDB wants both threads stopped.
    pub fn stop_for_delay_change(&self) -> String {
        match self.flavor {
            Flavor::MariaDb => self.stop_replica(),
            _ => format!("STOP {} SQL_THREAD", self.replica_word()),
        }
    }

    /// Then the delay goes and only the SQL thread starts again, at `relay` (where it stopped in
    /// its relay log): a delayed replica of a source that died applies what it received at
    /// once. MariaDB's `CHANGE MASTER` throws the relay log away unless it is given a relay log
    /// position; the I/O thread is not restarted (on MariaDB GTID that too would throw the relay
    /// log away, and the source is gone anyway).
    pub fn remove_delay(&self, relay: &BinlogCoordinates) -> Vec<String> {
        let change = match self.flavor {
            Flavor::MariaDb => format!(
                "CHANGE MASTER TO MASTER_DELAY = 0, RELAY_LOG_FILE = {}, RELAY_LOG_POS = {}",
                quote(&relay.log_file),
                relay.log_pos
            ),
            _ if self.mysql_at_least(MYSQL_CHANGE_SOURCE) => {
                "CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0".to_string()
            }
            _ => "CHANGE MASTER TO MASTER_DELAY = 0".to_string(),
        };
        vec![change, self.start_replica_sql_thread()]
    }

    /// GTID positioning on or off for a replica, keeping its position (orchestrator's
    /// `enable-gtid`/`disable-gtid`): MariaDB `MASTER_USE_GTID=current_pos|no`, MySQL
    /// auto-positioning.
    pub fn set_gtid_positioning(&self, enable: bool) -> Vec<String> {
        let change = match (self.flavor, enable) {
            (Flavor::MariaDb, true) => "CHANGE MASTER TO MASTER_USE_GTID=current_pos".to_string(),
            (Flavor::MariaDb, false) => "CHANGE MASTER TO MASTER_USE_GTID=no".to_string(),
            (_, on) if self.mysql_at_least(MYSQL_CHANGE_SOURCE) => format!(
                "CHANGE REPLICATION SOURCE TO SOURCE_AUTO_POSITION={}",
                u8::from(on)
            ),
            (_, on) => format!("CHANGE MASTER TO MASTER_AUTO_POSITION={}", u8::from(on)),
        };
        vec![self.stop_replica(), change, self.start_replica()]
    }

    pub fn stop_replica_io_thread(&self) -> String {
        format!("STOP {} IO_THREAD", self.replica_word())
    }

    /// The semi-synchronous replication switch of one side, by the name this server gives it:
    /// `rpl_semi_sync_master_enabled`/`rpl_semi_sync_slave_enabled` on MariaDB and MySQL
    /// before 8.0.26, `rpl_semi_sync_source_enabled`/`rpl_semi_sync_replica_enabled` after.
    /// A replica's side takes effect when its I/O thread reconnects, so it is restarted
    /// (when `restart_io`).
    pub fn set_semi_sync(&self, primary_side: bool, enable: bool, restart_io: bool) -> Vec<String> {
        let new_names = self.mysql_at_least(ServerVersion::new(8, 0, 26));
        let variable = match (primary_side, new_names) {
            (true, false) => "rpl_semi_sync_master_enabled",
            (true, true) => "rpl_semi_sync_source_enabled",
            (false, false) => "rpl_semi_sync_slave_enabled",
            (false, true) => "rpl_semi_sync_replica_enabled",
        };
        let value = if enable { "ON" } else { "OFF" };
        let mut statements = vec![format!("SET GLOBAL {variable} = {value}")];
        if restart_io && !primary_side {
            statements.push(self.stop_replica_io_thread());
            statements.push(format!("START {} IO_THREAD", self.replica_word()));
        }
        statements
    }

    /// Stops the threads that run, runs `injected` (when not empty), starts them again; each
    /// statement terminated by `;` (orchestrator's `restart-replica-statements`).
    pub fn restart_preserving(
        &self,
        io_running: bool,
        sql_running: bool,
        injected: &str,
    ) -> Vec<String> {
        let word = self.replica_word();
        let mut statements = Vec::new();
        if io_running {
            statements.push(format!("STOP {word} IO_THREAD"));
        }
        if sql_running {
            statements.push(format!("STOP {word} SQL_THREAD"));
        }
        if !injected.is_empty() {
            statements.push(injected.trim_end_matches(';').to_string());
        }
        if sql_running {
            statements.push(format!("START {word} SQL_THREAD"));
        }
        if io_running {
            statements.push(format!("START {word} IO_THREAD"));
        }
        statements.into_iter().map(|s| format!("{s};")).collect()
    }

    /// Skips the one event the SQL thread stopped at (not with MySQL GTID, where an empty
    /// transaction must be injected instead).
    pub fn skip_one_event(&self) -> Option<Vec<String>> {
        let counter = if self.flavor == Flavor::MariaDb {
            "sql_slave_skip_counter"
        } else if self.mysql_at_least(ServerVersion::new(8, 0, 26)) {
            "sql_replica_skip_counter"
        } else {
            "sql_slave_skip_counter"
        };
        Some(vec![
            self.stop_replica(),
            format!("SET GLOBAL {counter} = 1"),
            self.start_replica(),
        ])
    }

    /// Rewrites the source host (to `//host` to detach, back to `host` to reattach) without
    /// touching positions, so replication can resume exactly where it was.
    pub fn set_source_host(&self, host: &str) -> String {
        if self.mysql_at_least(MYSQL_CHANGE_SOURCE) {
            format!("CHANGE REPLICATION SOURCE TO SOURCE_HOST = {}", quote(host))
        } else {
            format!("CHANGE MASTER TO MASTER_HOST = {}", quote(host))
        }
    }

    /// Deletes the binary logs and the GTID history (`RESET MASTER`; MySQL 8.4: `RESET BINARY
    /// LOGS AND GTIDS`).
    pub fn reset_binary_logs(&self) -> String {
        if self.mysql_at_least(ServerVersion::new(8, 4, 0)) {
            "RESET BINARY LOGS AND GTIDS".to_string()
        } else {
            "RESET MASTER".to_string()
        }
    }

    /// `read_only` on or off. MySQL's `super_read_only` follows when `use_super_read_only`
    /// (turning it off first, since it implies `read_only`). MariaDB has no super_read_only.
    pub fn set_read_only(&self, read_only: bool, use_super_read_only: bool) -> Vec<String> {
        let value = if read_only { "ON" } else { "OFF" };
        let has_super = self.flavor != Flavor::MariaDb;
        match (read_only, has_super && use_super_read_only, has_super) {
            (true, true, _) => vec![
                "SET GLOBAL read_only = ON".into(),
                "SET GLOBAL super_read_only = ON".into(),
            ],
            (false, _, true) => vec![
                "SET GLOBAL super_read_only = OFF".into(),
                "SET GLOBAL read_only = OFF".into(),
            ],
            _ => vec![format!("SET GLOBAL read_only = {value}")],
        }
    }

    /// Waits until the server has applied `position`; answers 0 when done, -1 (MariaDB) or 1
    /// (MySQL) on timeout.
    pub fn wait_for_position(&self, position: &str, timeout: Duration) -> String {
        let seconds = timeout.as_secs().max(1);
        match self.flavor {
            Flavor::MariaDb => format!("SELECT MASTER_GTID_WAIT({}, {seconds})", quote(position)),
            _ => format!(
                "SELECT WAIT_FOR_EXECUTED_GTID_SET({}, {seconds})",
                quote(position)
            ),
        }
    }

    /// What the server's executed position is called: MariaDB `@@gtid_current_pos`, MySQL
    /// `@@global.gtid_executed`.
    pub fn executed_position_sql(&self) -> &'static str {
        match self.flavor {
            Flavor::MariaDb => "SELECT @@gtid_current_pos",
            _ => "SELECT @@global.gtid_executed",
        }
    }

    /// Before a former primary replicates with GTID: MariaDB must start from its own binlog
    /// position (its `gtid_slave_pos` is empty or stale); MySQL needs nothing.
    pub fn prepare_former_primary(&self) -> Vec<String> {
        match self.flavor {
            Flavor::MariaDb => vec!["SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos".into()],
            _ => Vec::new(),
        }
    }
}

/// How operations connect and how long a statement may take.
/// The outcome of a [`Session::liveness_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// The connection broke (with why).
    Closed(String),
    /// No answer in time: the server may hang.
    Unanswered,
}

/// What a `CHANGE MASTER` sets besides the source and the positioning. Both servers keep what
/// a `CHANGE MASTER` leaves out, so a replica that already has a link keeps its credentials and
/// retry interval ([`Link::keep`]); a server without one (it never replicated, or was `RESET
/// ... ALL`) needs them given ([`Link::new_with`]), or its IO thread connects as nobody.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link<'a> {
    pub credentials: Option<(&'a str, &'a str)>,
    /// `MASTER_CONNECT_RETRY`: seconds between reconnection attempts.
    pub connect_retry: Option<u64>,
    /// `MASTER_SSL=1` and its files, for a new link when the user asks (`MySQLReplicaSSL`).
    pub ssl: Option<&'a ReplicationSsl>,
}

/// TLS for the replication links arbor makes: `MASTER_SSL=1` (`SOURCE_SSL`), and the files
/// given, as paths on the replica's host (empty: not set). A link arbor keeps keeps its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationSsl {
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
}

impl<'a> Link<'a> {
    /// Keep whatever the replica's link has (a `CHANGE MASTER` keeps what it does not name,
    /// so its credentials and TLS settings too).
    pub fn keep() -> Link<'a> {
        Link::default()
    }

    /// A new link: these credentials, TLS if `ssl`, and a retry every second, so the replica
    /// is back within a second of its source (and arbor's detection advice holds for links
    /// arbor made).
    pub fn new_with(user: &'a str, password: &'a str, ssl: Option<&'a ReplicationSsl>) -> Link<'a> {
        Link {
            credentials: Some((user, password)),
            connect_retry: Some(1),
            ssl,
        }
    }
}

#[derive(Debug, Clone)]
pub struct OperatorSettings {
    pub user: String,
    pub password: String,
    pub connect_timeout: Duration,
    /// `MySQLTopologyReadTimeoutSeconds`.
    pub statement_timeout: Duration,
    pub default_port: u16,
    /// TLS to the servers (`MySQLTopology*TLS`, `MySQLTopologySSL*`).
    pub tls: crate::Tls,
}

/// Opens sessions for changing servers. Unlike probes, operations use a fresh connection each:
/// they are rare, and must never share a connection whose state a timed-out probe left unknown.
#[derive(Debug, Clone)]
pub struct Operator {
    settings: OperatorSettings,
}

impl Operator {
    pub fn new(settings: OperatorSettings) -> Operator {
        Operator { settings }
    }

    pub async fn session(&self, key: &InstanceKey) -> Result<Session, ProbeError> {
        self.session_within(key, self.settings.connect_timeout)
            .await
    }

    /// A session whose connection must be made within `connect_timeout` (a liveness check
    /// asks for less than an operation may wait).
    pub async fn session_within(
        &self,
        key: &InstanceKey,
        connect_timeout: Duration,
    ) -> Result<Session, ProbeError> {
        let (conn, dialect) = open_connection(
            key,
            &self.settings.user,
            &self.settings.password,
            &self.settings.tls,
            connect_timeout,
        )
        .await?;
        Ok(Session {
            conn,
            dialect,
            key: key.clone(),
            timeout: self.settings.statement_timeout,
            default_port: self.settings.default_port,
        })
    }
}

/// A connection to one server, for a sequence of statements.
pub struct Session {
    conn: Conn,
    dialect: Dialect,
    key: InstanceKey,
    timeout: Duration,
    default_port: u16,
}

impl Session {
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn key(&self) -> &InstanceKey {
        &self.key
    }

    /// Runs one statement. A timeout leaves it unknown whether the statement took effect;
    /// the error says so.
    pub async fn execute(&mut self, sql: &str) -> Result<(), ProbeError> {
        let run = self.conn.query_drop(sql);
        match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(ProbeError::Query {
                key: self.key.clone(),
                query: sql.to_string(),
                message: error.to_string(),
            }),
            Err(_) => Err(ProbeError::ReadTimeout {
                key: self.key.clone(),
                after: self.timeout,
            }),
        }
    }

    pub async fn execute_all(&mut self, statements: &[String]) -> Result<(), ProbeError> {
        for sql in statements {
            self.execute(sql).await?;
        }
        Ok(())
    }

    /// The first column of the first row, as text.
    pub async fn query_value(&mut self, sql: &str) -> Result<Option<String>, ProbeError> {
        Ok(self
            .query_first_row(sql)
            .await?
            .and_then(|row| row.into_iter().next().flatten()))
    }

    /// Every row's columns in order, as text (`None` for NULL).
    pub async fn query_rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ProbeError> {
        let run = self.conn.query::<mysql_async::Row, _>(sql);
        let rows = match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(error)) => {
                return Err(ProbeError::Query {
                    key: self.key.clone(),
                    query: sql.to_string(),
                    message: error.to_string(),
                })
            }
            Err(_) => {
                return Err(ProbeError::ReadTimeout {
                    key: self.key.clone(),
                    after: self.timeout,
                })
            }
        };
        Ok(rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.as_ref(i).and_then(value_text))
                    .collect()
            })
            .collect())
    }

    /// The first row's columns in order, as text (`None` for NULL).
    pub async fn query_first_row(
        &mut self,
        sql: &str,
    ) -> Result<Option<Vec<Option<String>>>, ProbeError> {
        // The statements read this way return a row or two; reading them all costs nothing.
        Ok(self.query_rows(sql).await?.into_iter().next())
    }

    /// One liveness check: the server sleeps `pause` on this connection and must answer within
    /// `pause + timeout`. A killed or restarted server closes the connection at once, which
    /// ends the check early ([`Liveness::Closed`], the earliest news of its death); a frozen
    /// one keeps it open and says nothing ([`Liveness::Unanswered`]); after that the
    /// connection's state is unknown and it must be dropped.
    pub async fn liveness_check(&mut self, pause: Duration, timeout: Duration) -> Liveness {
        let sql = format!("DO SLEEP({:.3})", pause.as_secs_f64());
        match tokio::time::timeout(pause + timeout, self.conn.query_drop(sql)).await {
            Ok(Ok(())) => Liveness::Alive,
            Ok(Err(error)) => Liveness::Closed(error.to_string()),
            Err(_) => Liveness::Unanswered,
        }
    }

    /// The end of the server's binary log now (`SHOW MASTER STATUS` or its 8.4 name).
    pub async fn binary_log_status(&mut self) -> Result<Option<BinlogCoordinates>, ProbeError> {
        let sql = self.dialect.binary_log_status_sql();
        let rows = query_maps(&mut self.conn, &self.key, sql).await?;
        Ok(status::parse_binary_log_status(&rows))
    }

    /// The server's default replication connection now (`None` without one).
    pub async fn replica_status(&mut self) -> Result<Option<ReplicaStatus>, ProbeError> {
        Ok(self
            .replica_links()
            .await?
            .into_iter()
            .find(|link| link.connection_name.is_empty()))
    }

    /// Every replication link now, the default connection first (multi-source servers have
    /// named ones too).
    pub async fn replica_links(&mut self) -> Result<Vec<ReplicaStatus>, ProbeError> {
        let sql = self.dialect.replica_status_sql();
        let rows = query_maps(&mut self.conn, &self.key, sql).await?;
        Ok(status::replica_links(&rows, self.default_port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialect(flavor: Flavor, version: &str) -> Dialect {
        Dialect::new(flavor, ServerVersion::parse(version))
    }

    /// The statements of a failover (promote one replica, repoint another, demote the old
    /// primary), recorded per dialect.
    fn failover_statements(d: Dialect) -> Vec<String> {
        let new_primary = InstanceKey::new("db2", 3306);
        let mut statements = vec![
            d.wait_for_position("POSITION", Duration::from_secs(30)),
            d.stop_replica(),
            d.reset_replica_all(),
        ];
        statements.extend(d.set_read_only(false, true));
        statements.push(d.stop_replica());
        statements.push(d.change_source_gtid(&new_primary, &Link::keep()));
        statements.push(d.start_replica());
        statements.extend(d.set_read_only(true, true));
        statements.extend(d.prepare_former_primary());
        statements.push(d.change_source_gtid(&new_primary, &Link::new_with("repl", "it's", None)));
        statements.push(d.reset_binary_logs());
        statements
    }

    #[test]
    fn a_delay_is_removed_keeping_the_relay_log() {
        let relay = BinlogCoordinates {
            log_file: "relay.000002".into(),
            log_pos: 4711,
        };
        let mariadb = dialect(Flavor::MariaDb, "10.11.6-MariaDB");
        assert_eq!(mariadb.stop_for_delay_change(), "STOP SLAVE");
        assert_eq!(
            mariadb.remove_delay(&relay),
            vec![
                "CHANGE MASTER TO MASTER_DELAY = 0, RELAY_LOG_FILE = 'relay.000002', RELAY_LOG_POS = 4711",
                "START SLAVE SQL_THREAD",
            ]
        );
        let mysql = dialect(Flavor::MySql, "8.4.3");
        assert_eq!(mysql.stop_for_delay_change(), "STOP REPLICA SQL_THREAD");
        assert_eq!(
            mysql.remove_delay(&relay),
            vec![
                "CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0",
                "START REPLICA SQL_THREAD",
            ]
        );
    }

    #[test]
    fn mysql_84_gets_only_the_new_syntax() {
        assert_eq!(
            failover_statements(dialect(Flavor::MySql, "8.4.3")),
            vec![
                "SELECT WAIT_FOR_EXECUTED_GTID_SET('POSITION', 30)",
                "STOP REPLICA",
                "RESET REPLICA ALL",
                "SET GLOBAL super_read_only = OFF",
                "SET GLOBAL read_only = OFF",
                "STOP REPLICA",
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db2', SOURCE_PORT=3306, SOURCE_AUTO_POSITION=1",
                "START REPLICA",
                "SET GLOBAL read_only = ON",
                "SET GLOBAL super_read_only = ON",
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db2', SOURCE_PORT=3306, SOURCE_AUTO_POSITION=1, SOURCE_USER='repl', SOURCE_PASSWORD='it\\'s', GET_SOURCE_PUBLIC_KEY=1, SOURCE_CONNECT_RETRY=1",
                "RESET BINARY LOGS AND GTIDS",
            ]
        );
        let every = failover_statements(dialect(Flavor::MySql, "8.4.3")).join("\n");
        assert!(
            !every.contains("SLAVE") && !every.contains("MASTER"),
            "{every}"
        );
    }

    #[test]
    fn a_new_link_asked_to_use_tls_says_so_in_each_spelling() {
        let ssl = ReplicationSsl {
            ca_file: "/etc/mysql/ca.pem".into(),
            cert_file: String::new(),
            key_file: String::new(),
        };
        let link = Link::new_with("repl", "pw", Some(&ssl));
        let source = InstanceKey::new("db2", 3306);
        assert_eq!(
            dialect(Flavor::MariaDb, "10.11.6").change_source_gtid(&source, &link),
            "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3306, MASTER_USE_GTID=slave_pos, \
             MASTER_USER='repl', MASTER_PASSWORD='pw', MASTER_SSL=1, \
             MASTER_SSL_CA='/etc/mysql/ca.pem', MASTER_CONNECT_RETRY=1"
        );
        assert_eq!(
            dialect(Flavor::MySql, "8.4.3").change_source_gtid(&source, &link),
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db2', SOURCE_PORT=3306, \
             SOURCE_AUTO_POSITION=1, SOURCE_USER='repl', SOURCE_PASSWORD='pw', \
             GET_SOURCE_PUBLIC_KEY=1, SOURCE_SSL=1, SOURCE_SSL_CA='/etc/mysql/ca.pem', \
             SOURCE_CONNECT_RETRY=1"
        );
        // A kept link names no TLS option, so the replica keeps its own.
        let kept = dialect(Flavor::MariaDb, "10.11.6").change_source_gtid(&source, &Link::keep());
        assert!(!kept.contains("SSL"), "{kept}");
    }

    #[test]
    fn mysql_80_before_and_after_the_renames() {
        let mut on_80 = failover_statements(dialect(Flavor::MySql, "8.0.36"));
        let mut on_84 = failover_statements(dialect(Flavor::MySql, "8.4.0"));
        assert_eq!(on_80.pop().as_deref(), Some("RESET MASTER"));
        assert_eq!(on_84.pop().as_deref(), Some("RESET BINARY LOGS AND GTIDS"));
        assert_eq!(on_80, on_84, "8.0.36 already has every other new statement");
        assert_eq!(
            failover_statements(dialect(Flavor::MySql, "8.0.21")),
            vec![
                "SELECT WAIT_FOR_EXECUTED_GTID_SET('POSITION', 30)",
                "STOP SLAVE",
                "RESET SLAVE ALL",
                "SET GLOBAL super_read_only = OFF",
                "SET GLOBAL read_only = OFF",
                "STOP SLAVE",
                "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3306, MASTER_AUTO_POSITION=1",
                "START SLAVE",
                "SET GLOBAL read_only = ON",
                "SET GLOBAL super_read_only = ON",
                "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3306, MASTER_AUTO_POSITION=1, MASTER_USER='repl', MASTER_PASSWORD='it\\'s', MASTER_CONNECT_RETRY=1",
                "RESET MASTER",
            ]
        );
    }

    #[test]
    fn mariadb_uses_its_own_gtid() {
        assert_eq!(
            failover_statements(dialect(Flavor::MariaDb, "10.11.6-MariaDB")),
            vec![
                "SELECT MASTER_GTID_WAIT('POSITION', 30)",
                "STOP SLAVE",
                "RESET SLAVE ALL",
                "SET GLOBAL read_only = OFF",
                "STOP SLAVE",
                "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3306, MASTER_USE_GTID=slave_pos",
                "START SLAVE",
                "SET GLOBAL read_only = ON",
                "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos",
                "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3306, MASTER_USE_GTID=slave_pos, MASTER_USER='repl', MASTER_PASSWORD='it\\'s', MASTER_CONNECT_RETRY=1",
                "RESET MASTER",
            ]
        );
    }

    #[test]
    fn file_position_moves_in_each_dialect() {
        let db2: InstanceKey = "db2:3306".parse().unwrap();
        let at = BinlogCoordinates {
            log_file: "bin.000007".into(),
            log_pos: 1234,
        };
        let statements = |flavor, version| {
            let d = dialect(flavor, version);
            [
                d.start_replica_until(&at),
                d.change_source_file_position(&db2, &at),
            ]
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        assert_eq!(
            statements(Flavor::MariaDb, "10.11.6-MariaDB"),
            [
                "START SLAVE UNTIL MASTER_LOG_FILE='bin.000007', MASTER_LOG_POS=1234",
                "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3306, MASTER_LOG_FILE='bin.000007', MASTER_LOG_POS=1234, MASTER_USE_GTID=no",
            ]
        );
        assert_eq!(
            statements(Flavor::MySql, "8.4.3"),
            [
                "START REPLICA UNTIL SOURCE_LOG_FILE='bin.000007', SOURCE_LOG_POS=1234",
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db2', SOURCE_PORT=3306, SOURCE_LOG_FILE='bin.000007', SOURCE_LOG_POS=1234, SOURCE_AUTO_POSITION=0",
            ]
        );
        assert_eq!(
            statements(Flavor::MySql, "5.7.44"),
            [
                "START SLAVE UNTIL MASTER_LOG_FILE='bin.000007', MASTER_LOG_POS=1234",
                "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3306, MASTER_LOG_FILE='bin.000007', MASTER_LOG_POS=1234, MASTER_AUTO_POSITION=0",
            ]
        );
    }
}
