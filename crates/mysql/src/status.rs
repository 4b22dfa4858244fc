//! Pure parsing of what servers answer, from rows turned into column maps. Every reader accepts
//! both spellings of a column (`Master_Host` and `Source_Host`, `Slave_IO_Running` and
//! `Replica_IO_Running`, ...) and ignores columns it does not know, so MariaDB's extra columns
//! and future MySQL columns do no harm.

use std::collections::HashMap;

use arbor_topology::{BinlogCoordinates, GtidKind, InstanceKey, IoThreadState, ReplicaStatus};

/// One result row: column name to text value (`None` for SQL NULL).
pub type ColumnMap = HashMap<String, Option<String>>;

/// Reads a column under any of its names.
fn text<'a>(row: &'a ColumnMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| row.get(*name).and_then(|v| v.as_deref()))
}

fn text_or_empty(row: &ColumnMap, names: &[&str]) -> String {
    text(row, names).unwrap_or("").trim().to_string()
}

fn number(row: &ColumnMap, names: &[&str]) -> Option<u64> {
    text(row, names).and_then(|v| v.trim().parse().ok())
}

/// `ON`, `1`, `YES`, `TRUE` are true; anything else false.
pub fn flag(value: Option<&str>) -> bool {
    matches!(
        value.map(|v| v.trim().to_ascii_uppercase()).as_deref(),
        Some("1" | "ON" | "YES" | "TRUE")
    )
}

/// Every replication link in `rows`, parsed, the default connection first (multi-source
/// servers have several; most have one or none).
pub fn replica_links(rows: &[ColumnMap], default_port: u16) -> Vec<ReplicaStatus> {
    let mut links: Vec<ReplicaStatus> = rows
        .iter()
        .filter_map(|row| parse_replica_status(row, default_port))
        .collect();
    links.sort_by(|a, b| a.connection_name.cmp(&b.connection_name));
    links
}

/// Parses one replica status row; `None` when the row names no source (a server after
/// `RESET SLAVE ALL` answers no row, one after a plain `RESET SLAVE` may answer an empty one).
pub fn parse_replica_status(row: &ColumnMap, default_port: u16) -> Option<ReplicaStatus> {
    let host = text_or_empty(row, &["Master_Host", "Source_Host"]);
    if host.is_empty() {
        return None;
    }
    let port = number(row, &["Master_Port", "Source_Port"])
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(default_port);
    let using_gtid = text_or_empty(row, &["Using_Gtid"]);
    let auto_position = flag(text(row, &["Auto_Position"]));
    let gtid_kind = if !using_gtid.is_empty() && !using_gtid.eq_ignore_ascii_case("No") {
        GtidKind::MariaDb
    } else if auto_position {
        GtidKind::Oracle
    } else {
        GtidKind::None
    };
    let filters = [
        "Replicate_Do_DB",
        "Replicate_Ignore_DB",
        "Replicate_Do_Table",
        "Replicate_Ignore_Table",
        "Replicate_Wild_Do_Table",
        "Replicate_Wild_Ignore_Table",
    ];
    Some(ReplicaStatus {
        source: InstanceKey::new(host, port),
        source_server_id: number(row, &["Master_Server_Id", "Source_Server_Id"]).unwrap_or(0),
        source_uuid: text_or_empty(row, &["Master_UUID", "Source_UUID"]),
        io_thread: IoThreadState::from_column(
            text(row, &["Slave_IO_Running", "Replica_IO_Running"]).unwrap_or("No"),
        ),
        sql_thread_running: flag(text(row, &["Slave_SQL_Running", "Replica_SQL_Running"])),
        io_state: text_or_empty(row, &["Slave_IO_State", "Replica_IO_State"]),
        sql_state: text_or_empty(
            row,
            &["Slave_SQL_Running_State", "Replica_SQL_Running_State"],
        ),
        last_io_errno: number(row, &["Last_IO_Errno"]).unwrap_or(0) as u32,
        last_io_error: text_or_empty(row, &["Last_IO_Error"]),
        last_sql_errno: number(row, &["Last_SQL_Errno"]).unwrap_or(0) as u32,
        last_sql_error: text_or_empty(row, &["Last_SQL_Error"]),
        seconds_behind_source: number(row, &["Seconds_Behind_Master", "Seconds_Behind_Source"]),
        sql_delay: number(row, &["SQL_Delay"]).unwrap_or(0),
        read_coordinates: BinlogCoordinates {
            log_file: text_or_empty(row, &["Master_Log_File", "Source_Log_File"]),
            log_pos: number(row, &["Read_Master_Log_Pos", "Read_Source_Log_Pos"]).unwrap_or(0),
        },
        exec_coordinates: BinlogCoordinates {
            log_file: text_or_empty(row, &["Relay_Master_Log_File", "Relay_Source_Log_File"]),
            log_pos: number(row, &["Exec_Master_Log_Pos", "Exec_Source_Log_Pos"]).unwrap_or(0),
        },
        relay_coordinates: BinlogCoordinates {
            log_file: text_or_empty(row, &["Relay_Log_File"]),
            log_pos: number(row, &["Relay_Log_Pos"]).unwrap_or(0),
        },
        gtid_kind,
        using_gtid,
        gtid_io_pos: text_or_empty(row, &["Gtid_IO_Pos", "Retrieved_Gtid_Set"]),
        has_replication_filters: filters
            .iter()
            .any(|name| !text_or_empty(row, &[name]).is_empty()),
        connect_retry: number(row, &["Connect_Retry", "Source_Connect_Retry"]).unwrap_or(0),
        connection_name: text_or_empty(row, &["Channel_Name", "Connection_name"]),
    })
}

/// Parses `SHOW SLAVE HOSTS` / `SHOW REPLICAS` rows. Replicas without `report_host` show an
/// empty `Host` and are skipped (they are found through their own source link instead).
pub fn parse_replica_hosts(rows: &[ColumnMap], default_port: u16) -> Vec<InstanceKey> {
    let mut keys: Vec<InstanceKey> = rows
        .iter()
        .filter_map(|row| {
            let host = text_or_empty(row, &["Host"]);
            if host.is_empty() {
                return None;
            }
            let port = number(row, &["Port"])
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .unwrap_or(default_port);
            Some(InstanceKey::new(host, port))
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Parses `SHOW MASTER STATUS` / `SHOW BINARY LOG STATUS`.
pub fn parse_binary_log_status(rows: &[ColumnMap]) -> Option<BinlogCoordinates> {
    let row = rows.first()?;
    let log_file = text_or_empty(row, &["File"]);
    if log_file.is_empty() {
        return None;
    }
    Some(BinlogCoordinates {
        log_file,
        log_pos: number(row, &["Position"]).unwrap_or(0),
    })
}

/// Hosts of replicas from the processlist (`host:ephemeral-port` → `host`), given the port
/// they are assumed to listen on, as orchestrator assumes: the source's own port.
pub fn parse_dump_thread_hosts(rows: &[ColumnMap], assumed_port: u16) -> Vec<InstanceKey> {
    let mut keys: Vec<InstanceKey> = rows
        .iter()
        .filter(|row| {
            let command = text_or_empty(row, &["Command", "COMMAND"]);
            command == "Binlog Dump" || command == "Binlog Dump GTID"
        })
        .filter_map(|row| {
            let host = text_or_empty(row, &["Host", "host", "HOST"]);
            let host = match host.rsplit_once(':') {
                Some((host, _port)) => host.to_string(),
                None => host,
            };
            (!host.is_empty()).then(|| InstanceKey::new(host, assumed_port))
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Option<&str>)]) -> ColumnMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn reads_a_mariadb_replica_row() {
        let status = parse_replica_status(
            &row(&[
                ("Slave_IO_State", Some("Waiting for master to send event")),
                ("Master_Host", Some("127.0.0.1")),
                ("Master_Port", Some("23306")),
                ("Master_Log_File", Some("mysql-bin.000002")),
                ("Read_Master_Log_Pos", Some("1234")),
                ("Relay_Master_Log_File", Some("mysql-bin.000002")),
                ("Exec_Master_Log_Pos", Some("1200")),
                ("Slave_IO_Running", Some("Yes")),
                ("Slave_SQL_Running", Some("Yes")),
                ("Replicate_Do_DB", Some("")),
                ("Last_IO_Errno", Some("0")),
                ("Last_SQL_Errno", Some("0")),
                ("Seconds_Behind_Master", Some("3")),
                ("Master_Server_Id", Some("1")),
                ("Using_Gtid", Some("Slave_Pos")),
                ("Gtid_IO_Pos", Some("0-1-42")),
                ("SQL_Delay", Some("0")),
                ("Parallel_Mode", Some("optimistic")),
            ]),
            3306,
        )
        .unwrap();
        assert_eq!(status.source, InstanceKey::new("127.0.0.1", 23306));
        assert!(status.is_replicating());
        assert_eq!(status.seconds_behind_source, Some(3));
        assert_eq!(status.gtid_kind, GtidKind::MariaDb);
        assert_eq!(status.gtid_io_pos, "0-1-42");
        assert_eq!(status.read_coordinates.log_pos, 1234);
        assert_eq!(status.exec_coordinates.log_pos, 1200);
        assert_eq!(status.source_server_id, 1);
        assert!(!status.has_replication_filters);
    }

    #[test]
    fn reads_a_mysql_84_replica_row_with_source_columns() {
        let status = parse_replica_status(
            &row(&[
                ("Replica_IO_State", Some("")),
                ("Source_Host", Some("db1.example")),
                ("Source_Port", Some("3306")),
                ("Source_Log_File", Some("binlog.000007")),
                ("Read_Source_Log_Pos", Some("99")),
                ("Relay_Source_Log_File", Some("binlog.000007")),
                ("Exec_Source_Log_Pos", Some("99")),
                ("Replica_IO_Running", Some("Connecting")),
                ("Replica_SQL_Running", Some("Yes")),
                ("Last_IO_Errno", Some("2003")),
                ("Last_IO_Error", Some("error connecting to source")),
                ("Seconds_Behind_Source", None),
                ("Source_UUID", Some("3e11fa47-71ca-11e1-9e33-c80aa9429562")),
                ("Auto_Position", Some("1")),
                (
                    "Retrieved_Gtid_Set",
                    Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"),
                ),
                ("Replicate_Wild_Ignore_Table", Some("tmp.%")),
                ("Channel_Name", Some("")),
            ]),
            3306,
        )
        .unwrap();
        assert_eq!(status.source, InstanceKey::new("db1.example", 3306));
        assert_eq!(status.io_thread, IoThreadState::Connecting);
        assert!(status.is_broken());
        assert_eq!(status.seconds_behind_source, None);
        assert_eq!(status.gtid_kind, GtidKind::Oracle);
        assert_eq!(status.last_io_errno, 2003);
        assert!(status.has_replication_filters);
        assert_eq!(status.source_uuid, "3e11fa47-71ca-11e1-9e33-c80aa9429562");
    }

    #[test]
    fn a_row_without_a_source_is_not_a_replica() {
        assert!(parse_replica_status(&row(&[("Master_Host", Some(""))]), 3306).is_none());
        assert!(parse_replica_status(&row(&[]), 3306).is_none());
    }

    #[test]
    fn every_link_is_read_the_default_connection_first() {
        let rows = vec![
            row(&[
                ("Connection_name", Some("analytics")),
                ("Master_Host", Some("a")),
            ]),
            row(&[("Connection_name", Some("")), ("Master_Host", Some("b"))]),
            // A named connection after RESET SLAVE: no source, no link.
            row(&[("Connection_name", Some("old")), ("Master_Host", Some(""))]),
        ];
        let links = replica_links(&rows, 3306);
        let read: Vec<(&str, &str)> = links
            .iter()
            .map(|l| (l.connection_name.as_str(), l.source.hostname.as_str()))
            .collect();
        assert_eq!(read, [("", "b"), ("analytics", "a")]);
        assert!(replica_links(&[], 3306).is_empty());
        // MySQL names its channels in Channel_Name.
        let mysql = vec![row(&[
            ("Channel_Name", Some("eu")),
            ("Source_Host", Some("c")),
        ])];
        assert_eq!(replica_links(&mysql, 3306)[0].connection_name, "eu");
    }

    #[test]
    fn replica_hosts_skip_replicas_without_report_host() {
        let rows = vec![
            row(&[
                ("Server_id", Some("3")),
                ("Host", Some("127.0.0.1")),
                ("Port", Some("23308")),
            ]),
            row(&[
                ("Server_id", Some("2")),
                ("Host", Some("127.0.0.1")),
                ("Port", Some("23307")),
            ]),
            row(&[
                ("Server_Id", Some("4")),
                ("Host", Some("")),
                ("Port", Some("3306")),
            ]),
        ];
        assert_eq!(
            parse_replica_hosts(&rows, 3306),
            vec![
                InstanceKey::new("127.0.0.1", 23307),
                InstanceKey::new("127.0.0.1", 23308)
            ]
        );
    }

    #[test]
    fn binary_log_status_and_dump_threads_parse() {
        let rows = vec![row(&[
            ("File", Some("mysql-bin.000003")),
            ("Position", Some("342")),
        ])];
        assert_eq!(
            parse_binary_log_status(&rows),
            Some(BinlogCoordinates {
                log_file: "mysql-bin.000003".into(),
                log_pos: 342
            })
        );
        assert_eq!(parse_binary_log_status(&[]), None);
        let threads = vec![
            row(&[
                ("Host", Some("10.0.0.7:51544")),
                ("Command", Some("Binlog Dump GTID")),
            ]),
            row(&[("Host", Some("10.0.0.8")), ("Command", Some("Binlog Dump"))]),
            row(&[("Host", Some("10.0.0.9:4000")), ("Command", Some("Query"))]),
        ];
        assert_eq!(
            parse_dump_thread_hosts(&threads, 3307),
            vec![
                InstanceKey::new("10.0.0.7", 3307),
                InstanceKey::new("10.0.0.8", 3307)
            ]
        );
    }

    #[test]
    fn flags_read_the_servers_words() {
        for yes in ["1", "ON", "on", "YES", "Yes", "TRUE"] {
            assert!(flag(Some(yes)), "{yes}");
        }
        for no in ["0", "OFF", "No", "", "2"] {
            assert!(!flag(Some(no)), "{no}");
        }
        assert!(!flag(None));
    }
}
