use arbor_topology::{Flavor, ServerVersion};

/// The SQL one server understands, chosen from its flavour and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub flavor: Flavor,
    pub version: ServerVersion,
}

/// MySQL 8.0.22 added `SHOW REPLICA STATUS` and `SHOW REPLICAS` with `Source_*` columns.
const MYSQL_REPLICA_SYNTAX: ServerVersion = ServerVersion::new(8, 0, 22);
/// MySQL 8.0.26 renamed `log_slave_updates` to `log_replica_updates`.
const MYSQL_LOG_REPLICA_UPDATES: ServerVersion = ServerVersion::new(8, 0, 26);
/// MySQL 8.2 added `SHOW BINARY LOG STATUS`; 8.4 removed `SHOW MASTER STATUS`.
const MYSQL_BINARY_LOG_STATUS: ServerVersion = ServerVersion::new(8, 2, 0);

impl Dialect {
    pub fn new(flavor: Flavor, version: ServerVersion) -> Dialect {
        Dialect { flavor, version }
    }

    fn is_mysql_at_least(&self, version: ServerVersion) -> bool {
        self.flavor != Flavor::MariaDb && self.version >= version
    }

    /// A short name for logs and the instance page.
    pub fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::MariaDb => "mariadb",
            _ if self.version >= ServerVersion::new(8, 4, 0) => "mysql-8.4",
            _ if self.version >= ServerVersion::new(8, 0, 0) => "mysql-8.0",
            _ => "mysql-5.7",
        }
    }

    /// The server variables a probe reads, each under a fixed alias so the row is read by name.
    pub fn variables_sql(&self) -> String {
        let common = "@@server_id AS server_id, @@hostname AS hostname, \
                      @@version AS version, @@version_comment AS version_comment, \
                      @@read_only AS read_only, @@log_bin AS log_bin, \
                      @@binlog_format AS binlog_format, @@binlog_row_image AS binlog_row_image";
        match self.flavor {
            Flavor::MariaDb => format!(
                "SELECT {common}, @@log_slave_updates AS log_replica_updates, \
                 @@slave_net_timeout AS replica_net_timeout, \
                 @@gtid_domain_id AS gtid_domain_id, @@gtid_strict_mode AS gtid_strict_mode, \
                 @@gtid_binlog_pos AS gtid_binlog_pos, @@gtid_binlog_state AS gtid_binlog_state, \
                 @@gtid_current_pos AS gtid_current_pos, \
                 @@gtid_slave_pos AS gtid_slave_pos"
            ),
            _ => {
                let (log_replica_updates, net_timeout) =
                    if self.is_mysql_at_least(MYSQL_LOG_REPLICA_UPDATES) {
                        ("@@log_replica_updates", "@@replica_net_timeout")
                    } else {
                        ("@@log_slave_updates", "@@slave_net_timeout")
                    };
                format!(
                    "SELECT {common}, {log_replica_updates} AS log_replica_updates, \
                     {net_timeout} AS replica_net_timeout, \
                     @@super_read_only AS super_read_only, @@server_uuid AS server_uuid, \
                     @@gtid_mode AS gtid_mode, @@global.gtid_executed AS gtid_executed, \
                     @@global.gtid_purged AS gtid_purged"
                )
            }
        }
    }

    /// Semi-synchronous replication's variables and status, as `name`/`value` rows: none when
    /// the server has none (a MySQL without the plugins), never an error.
    pub fn semi_sync_sql(&self) -> &'static str {
        match self.flavor {
            Flavor::MariaDb => {
                "SELECT VARIABLE_NAME AS name, VARIABLE_VALUE AS value \
                 FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME LIKE 'rpl_semi_sync%' \
                 UNION ALL SELECT VARIABLE_NAME, VARIABLE_VALUE \
                 FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME LIKE 'rpl_semi_sync%'"
            }
            _ => {
                "SELECT VARIABLE_NAME AS name, VARIABLE_VALUE AS value \
                 FROM performance_schema.global_variables WHERE VARIABLE_NAME LIKE 'rpl_semi_sync%' \
                 UNION ALL SELECT VARIABLE_NAME, VARIABLE_VALUE \
                 FROM performance_schema.global_status WHERE VARIABLE_NAME LIKE 'rpl_semi_sync%'"
            }
        }
    }

    /// Every replication link: MariaDB's `SHOW SLAVE STATUS` shows only the default
    /// connection, `SHOW ALL SLAVES STATUS` every named one too; MySQL's shows every channel.
    pub fn replica_status_sql(&self) -> &'static str {
        if self.flavor == Flavor::MariaDb {
            "SHOW ALL SLAVES STATUS"
        } else if self.is_mysql_at_least(MYSQL_REPLICA_SYNTAX) {
            "SHOW REPLICA STATUS"
        } else {
            "SHOW SLAVE STATUS"
        }
    }

    pub fn binary_log_status_sql(&self) -> &'static str {
        if self.is_mysql_at_least(MYSQL_BINARY_LOG_STATUS) {
            "SHOW BINARY LOG STATUS"
        } else {
            "SHOW MASTER STATUS"
        }
    }

    pub fn replica_hosts_sql(&self) -> &'static str {
        if self.is_mysql_at_least(MYSQL_REPLICA_SYNTAX) {
            "SHOW REPLICAS"
        } else {
            "SHOW SLAVE HOSTS"
        }
    }

    /// Replicas' dump threads, for servers whose replicas set no `report_host`. `SHOW
    /// PROCESSLIST`, not `information_schema.PROCESSLIST`: the latter builds an internal
    /// temporary table on every poll, and MariaDB 10.11 was seen to crash freeing one
    /// (`ha_maria::drop_table`) while a connection was being torn down.
    pub fn dump_threads_sql(&self) -> &'static str {
        "SHOW PROCESSLIST"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialect(flavor: Flavor, version: &str) -> Dialect {
        Dialect::new(flavor, ServerVersion::parse(version))
    }

    #[test]
    fn statements_follow_flavour_and_version() {
        // (flavor, version, replica status, binary log status, replica hosts, name)
        let cases = [
            (
                Flavor::MariaDb,
                "10.11.6-MariaDB",
                "SHOW ALL SLAVES STATUS",
                "SHOW MASTER STATUS",
                "SHOW SLAVE HOSTS",
                "mariadb",
            ),
            (
                Flavor::MariaDb,
                "11.4.2-MariaDB",
                "SHOW ALL SLAVES STATUS",
                "SHOW MASTER STATUS",
                "SHOW SLAVE HOSTS",
                "mariadb",
            ),
            (
                Flavor::MySql,
                "5.7.44-log",
                "SHOW SLAVE STATUS",
                "SHOW MASTER STATUS",
                "SHOW SLAVE HOSTS",
                "mysql-5.7",
            ),
            (
                Flavor::MySql,
                "8.0.21",
                "SHOW SLAVE STATUS",
                "SHOW MASTER STATUS",
                "SHOW SLAVE HOSTS",
                "mysql-8.0",
            ),
            (
                Flavor::MySql,
                "8.0.36",
                "SHOW REPLICA STATUS",
                "SHOW MASTER STATUS",
                "SHOW REPLICAS",
                "mysql-8.0",
            ),
            (
                Flavor::Percona,
                "8.0.36-28",
                "SHOW REPLICA STATUS",
                "SHOW MASTER STATUS",
                "SHOW REPLICAS",
                "mysql-8.0",
            ),
            (
                Flavor::MySql,
                "8.4.3",
                "SHOW REPLICA STATUS",
                "SHOW BINARY LOG STATUS",
                "SHOW REPLICAS",
                "mysql-8.4",
            ),
            (
                Flavor::MySql,
                "9.1.0",
                "SHOW REPLICA STATUS",
                "SHOW BINARY LOG STATUS",
                "SHOW REPLICAS",
                "mysql-8.4",
            ),
        ];
        for (flavor, version, status, binlog, hosts, name) in cases {
            let d = dialect(flavor, version);
            assert_eq!(d.replica_status_sql(), status, "{version}");
            assert_eq!(d.binary_log_status_sql(), binlog, "{version}");
            assert_eq!(d.replica_hosts_sql(), hosts, "{version}");
            assert_eq!(d.name(), name, "{version}");
        }
    }

    #[test]
    fn variables_use_each_servers_names() {
        let mariadb = dialect(Flavor::MariaDb, "10.11.6").variables_sql();
        assert!(mariadb.contains("@@gtid_current_pos"));
        assert!(!mariadb.contains("server_uuid"));
        let mysql57 = dialect(Flavor::MySql, "5.7.44").variables_sql();
        assert!(mysql57.contains("@@log_slave_updates AS log_replica_updates"));
        assert!(mysql57.contains("@@server_uuid"));
        let mysql84 = dialect(Flavor::MySql, "8.4.0").variables_sql();
        assert!(mysql84.contains("@@log_replica_updates AS log_replica_updates"));
    }
}
