//! What a simulated instance answers to each statement arbor (and `mysql_async`) sends, in its
//! flavour's dialect: MySQL 8.4 refuses the removed `SLAVE`/`MASTER` statements.

use crate::model::{position_of, uuid, FleetState, Health, Instance};
use crate::protocol::Reply;

/// What to do with one statement.
pub(crate) enum Outcome {
    Reply(Reply),
    /// `MASTER_GTID_WAIT` / `WAIT_FOR_EXECUTED_GTID_SET`: answer once `position` is applied, or
    /// after `timeout_seconds` with the flavour's timeout value.
    Wait {
        position: u64,
        timeout_seconds: f64,
        timed_out: &'static str,
    },
    /// `DO SLEEP(seconds)` (a watcher's liveness check): answered when the time is up, unless
    /// the instance fails first.
    Sleep {
        seconds: f64,
    },
}

const ER_PARSE: u16 = 1064;
const ER_BAD_SLAVE: u16 = 1200;

fn text(value: impl ToString) -> Option<String> {
    Some(value.to_string())
}

/// Answers `sql` on instance `me`, applying replication statements to the fleet.
pub(crate) fn answer(state: &mut FleetState, me: usize, sql: &str) -> Outcome {
    let lower = sql.trim().to_ascii_lowercase();
    let flavor = state.instances[me].flavor;
    let removed = [
        "show slave status",
        "show master status",
        "show slave hosts",
    ];
    if flavor.replica_words() && removed.iter().any(|s| lower.starts_with(s)) {
        return Outcome::Reply(Reply::error(
            ER_PARSE,
            format!(
                "You have an error in your SQL syntax near '{}' (removed in MySQL 8.4)",
                sql.trim()
            ),
        ));
    }
    if let Some(args) = lower.strip_prefix("do sleep(") {
        let seconds = args.split(')').next().unwrap_or_default().trim();
        return match seconds.parse::<f64>() {
            Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Outcome::Sleep { seconds },
            _ => Outcome::Reply(Reply::error(
                ER_PARSE,
                format!("Incorrect arguments to SLEEP: {}", sql.trim()),
            )),
        };
    }
    for (function, timed_out) in [
        ("master_gtid_wait(", "-1"),
        ("wait_for_executed_gtid_set(", "1"),
    ] {
        if let Some(at) = lower.find(function) {
            let args = &sql[at + function.len()..];
            let args = args.split(')').next().unwrap_or_default();
            let (gtid, timeout) = args.rsplit_once(',').unwrap_or((args, "60"));
            return Outcome::Wait {
                position: position_of(gtid.trim().trim_matches('\'')),
                timeout_seconds: timeout.trim().parse().unwrap_or(60.0),
                timed_out,
            };
        }
    }
    match apply(state, me, &lower) {
        Ok(true) => return Outcome::Reply(Reply::Done),
        Ok(false) => {}
        Err(message) => return Outcome::Reply(Reply::error(ER_BAD_SLAVE, message)),
    }
    Outcome::Reply(rows(state, me, &lower, sql).unwrap_or(Reply::Done))
}

/// Applies a replication statement to the simulated topology. Returns whether `lower` was one.
fn apply(state: &mut FleetState, me: usize, lower: &str) -> Result<bool, String> {
    let starts = |verb: &str| {
        ["slave", "replica"]
            .iter()
            .any(|w| lower.starts_with(&format!("{verb} {w}")))
    };
    let instance = &mut state.instances[me];
    if starts("stop") {
        if !lower.ends_with("sql_thread") {
            instance.io_running = false;
        }
        if !lower.ends_with("io_thread") {
            instance.sql_running = false;
        }
        return Ok(true);
    }
    if starts("start") {
        if instance.source.is_none() {
            return Err("Misconfigured slave: MASTER_HOST was not set".into());
        }
        if !lower.ends_with("io_thread") {
            // A broken stream stops the SQL thread again at once, as the same event fails.
            instance.sql_running = instance.sql_error.is_none();
        }
        if !lower.ends_with("sql_thread") {
            instance.io_running = true;
        }
        return Ok(true);
    }
    if starts("reset") {
        if lower.ends_with(" all") {
            instance.source = None;
        }
        instance.io_running = false;
        instance.sql_running = false;
        instance.sql_error = None;
        return Ok(true);
    }
    if lower.starts_with("change master to") || lower.starts_with("change replication source to") {
        // A host change alone (detach/reattach) keeps the simulated source.
        if let Some(port) = setting(lower, &["master_port", "source_port"]) {
            let port: u16 = port.parse().map_err(|_| format!("bad port {port}"))?;
            let source = state
                .instances
                .iter()
                .position(|i| i.port == port)
                .ok_or_else(|| format!("no simulated instance on port {port}"))?;
            if source == me {
                return Err("an instance cannot replicate from itself".into());
            }
            let instance = &mut state.instances[me];
            instance.source = Some(source);
            // A new source's stream starts afresh: a broken event is not replayed.
            instance.sql_error = None;
        }
        return Ok(true);
    }
    if lower.starts_with("set global read_only") {
        instance.read_only = lower.ends_with("on") || lower.ends_with('1');
        return Ok(true);
    }
    if let Some(rest) = lower.strip_prefix("set global rpl_semi_sync_") {
        let (primary_word, replica_word) = instance.flavor.semi_sync_words();
        let (name, value) = rest.split_once('=').unwrap_or((rest, ""));
        let on = matches!(value.trim(), "on" | "1");
        match name.trim() {
            n if n == format!("{primary_word}_enabled") => instance.semi_sync_primary = on,
            n if n == format!("{replica_word}_enabled") => instance.semi_sync_replica = on,
            other => return Err(format!("Unknown system variable 'rpl_semi_sync_{other}'")),
        }
        return Ok(true);
    }
    if lower.starts_with("set global sql_slave_skip_counter") {
        instance.sql_error = None;
        return Ok(true);
    }
    Ok(false)
}

/// The semi-sync variables and status of instance `index`, by its flavour's names: a primary's
/// clients are its replicas with their side on and their I/O thread running.
fn semi_sync_rows(state: &FleetState, index: usize) -> Reply {
    let me = &state.instances[index];
    let (p, r) = me.flavor.semi_sync_words();
    let clients = state
        .instances
        .iter()
        .filter(|i| {
            i.source == Some(index) && i.semi_sync_replica && i.io_running && i.health == Health::Up
        })
        .count();
    let on = |b: bool| if b { "ON" } else { "OFF" }.to_string();
    let mut values = vec![
        (
            format!("rpl_semi_sync_{p}_enabled"),
            on(me.semi_sync_primary),
        ),
        (
            format!("rpl_semi_sync_{r}_enabled"),
            on(me.semi_sync_replica),
        ),
        (format!("rpl_semi_sync_{p}_timeout"), "10000".to_string()),
        (
            format!("rpl_semi_sync_{p}_wait_point"),
            "AFTER_SYNC".to_string(),
        ),
        (
            format!("Rpl_semi_sync_{p}_status"),
            on(me.semi_sync_primary && clients > 0),
        ),
        (format!("Rpl_semi_sync_{p}_clients"), clients.to_string()),
        (format!("Rpl_semi_sync_{p}_wait_sessions"), "0".to_string()),
        (
            format!("Rpl_semi_sync_{r}_status"),
            on(me.semi_sync_replica && me.io_running && me.source.is_some()),
        ),
    ];
    if !me.flavor.is_mariadb() {
        values.push((
            format!("rpl_semi_sync_{p}_wait_for_{r}_count"),
            "1".to_string(),
        ));
    }
    Reply::rows(
        &["name", "value"],
        values
            .into_iter()
            .map(|(name, value)| vec![Some(name), Some(value)])
            .collect(),
    )
}

fn rows(state: &FleetState, index: usize, lower: &str, sql: &str) -> Option<Reply> {
    let me = &state.instances[index];
    if lower.contains("rpl_semi_sync") {
        return Some(semi_sync_rows(state, index));
    }
    if lower.starts_with("select") {
        // Every SELECT arbor and mysql_async send names its columns with AS, or asks for
        // bare @@variables; both are answered by name.
        let names = select_names(sql);
        let values = names
            .iter()
            .map(|name| variable(state, index, name))
            .collect();
        return Some(Reply::Rows {
            columns: names,
            rows: vec![values],
        });
    }
    if lower.starts_with("show processlist") {
        // Every simulated replica reports its host and port, as with report_host: no dump
        // thread needs to be read.
        return Some(Reply::rows(
            &["Id", "User", "Host", "db", "Command"],
            Vec::new(),
        ));
    }
    let all = lower.starts_with("show all slaves status");
    if all || lower.starts_with("show slave status") || lower.starts_with("show replica status") {
        // MariaDB's SHOW SLAVE STATUS shows the default connection only; its ALL form and
        // MySQL's statement show every link, each with its name.
        let every_link = all || !me.flavor.is_mariadb();
        let mut links: Vec<(String, usize)> =
            me.source.map(|s| (String::new(), s)).into_iter().collect();
        if every_link {
            links.extend(me.channels.iter().cloned());
        }
        if links.is_empty() {
            return Some(Reply::rows(&["Slave_IO_State"], Vec::new()));
        }
        let name_column = if me.flavor.is_mariadb() {
            "Connection_name"
        } else {
            "Channel_Name"
        };
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        for (name, source) in links {
            let words = lower.contains("replica");
            if let Reply::Rows {
                columns: c,
                rows: r,
            } = replica_status(state, index, &state.instances[source], words)
            {
                columns = c;
                for mut row in r {
                    if every_link {
                        row.insert(0, text(&name));
                    }
                    rows.push(row);
                }
            }
        }
        if every_link {
            columns.insert(0, name_column.to_string());
        }
        return Some(Reply::Rows { columns, rows });
    }
    if lower.starts_with("show master status") || lower.starts_with("show binary log status") {
        return Some(Reply::rows(
            &["File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB"],
            vec![vec![
                text("mysql-bin.000001"),
                text(Instance::log_position(me.executed)),
                text(""),
                text(""),
            ]],
        ));
    }
    if lower.starts_with("show slave hosts") || lower.starts_with("show replicas") {
        let rows = state
            .instances
            .iter()
            .filter(|i| i.source == Some(index) && i.health == Health::Up)
            .map(|replica| {
                vec![
                    text(replica.server_id),
                    text("127.0.0.1"),
                    text(replica.port),
                    text(me.server_id),
                ]
            })
            .collect();
        return Some(Reply::rows(
            &["Server_id", "Host", "Port", "Master_id"],
            rows,
        ));
    }
    None
}

fn replica_status(state: &FleetState, index: usize, upstream: &Instance, words: bool) -> Reply {
    let me = &state.instances[index];
    let connected = state.connected(index);
    let w = |slave: &'static str, replica: &'static str| if words { replica } else { slave };
    let (sql_errno, sql_error) = me.sql_error.clone().unwrap_or((0, String::new()));
    let mut pairs = vec![
        (
            w("Slave_IO_State", "Replica_IO_State"),
            text(if connected {
                "Waiting for master to send event"
            } else {
                "Reconnecting after a failed master event read"
            }),
        ),
        (w("Master_Host", "Source_Host"), text("127.0.0.1")),
        (w("Master_Port", "Source_Port"), text(upstream.port)),
        (w("Connect_Retry", "Source_Connect_Retry"), text(1)),
        (
            w("Master_Log_File", "Source_Log_File"),
            text("mysql-bin.000001"),
        ),
        (
            w("Read_Master_Log_Pos", "Read_Source_Log_Pos"),
            text(Instance::log_position(me.received)),
        ),
        ("Relay_Log_File", text("relay-bin.000002")),
        ("Relay_Log_Pos", text(Instance::log_position(me.executed))),
        (
            w("Relay_Master_Log_File", "Relay_Source_Log_File"),
            text("mysql-bin.000001"),
        ),
        (
            w("Slave_IO_Running", "Replica_IO_Running"),
            text(if connected {
                "Yes"
            } else if me.io_running {
                "Connecting"
            } else {
                "No"
            }),
        ),
        (
            w("Slave_SQL_Running", "Replica_SQL_Running"),
            text(if me.sql_running && me.sql_error.is_none() {
                "Yes"
            } else {
                "No"
            }),
        ),
        ("Replicate_Do_DB", text("")),
        ("Replicate_Ignore_DB", text("")),
        ("Last_IO_Errno", text(if connected { 0 } else { 2003 })),
        (
            "Last_IO_Error",
            text(if connected || !me.io_running {
                String::new()
            } else {
                format!("error reconnecting to master '127.0.0.1:{}'", upstream.port)
            }),
        ),
        ("Last_SQL_Errno", text(sql_errno)),
        ("Last_SQL_Error", text(sql_error)),
        (
            w("Exec_Master_Log_Pos", "Exec_Source_Log_Pos"),
            text(Instance::log_position(me.executed)),
        ),
        (
            w("Seconds_Behind_Master", "Seconds_Behind_Source"),
            state.seconds_behind(index).and_then(text),
        ),
        (
            w("Master_Server_Id", "Source_Server_Id"),
            text(upstream.server_id),
        ),
        ("SQL_Delay", text(0)),
        (
            w("Slave_SQL_Running_State", "Replica_SQL_Running_State"),
            text("Slave has read all relay log"),
        ),
    ];
    if me.flavor.is_mariadb() {
        pairs.push(("Using_Gtid", text("Slave_Pos")));
        pairs.push(("Gtid_IO_Pos", text(me.gtid_set(me.received))));
    } else {
        pairs.push(("Auto_Position", text(1)));
        pairs.push(("Retrieved_Gtid_Set", text(me.gtid_set(me.received))));
        pairs.push(("Executed_Gtid_Set", text(me.gtid_set(me.executed))));
        pairs.push((
            w("Master_UUID", "Source_UUID"),
            text(uuid(upstream.server_id)),
        ));
    }
    Reply::Rows {
        columns: pairs.iter().map(|(c, _)| c.to_string()).collect(),
        rows: vec![pairs.into_iter().map(|(_, v)| v).collect()],
    }
}

fn variable(state: &FleetState, index: usize, name: &str) -> Option<String> {
    let me = &state.instances[index];
    let name = name.trim_start_matches("@@").trim_start_matches("global.");
    match name {
        "version" => text(me.flavor.version()),
        "version_comment" => text("arbor simulated fleet"),
        "server_id" => text(me.server_id),
        "hostname" => text("simfleet"),
        "read_only" => text(i32::from(me.read_only)),
        "super_read_only" => text(0),
        "log_bin" => text(1),
        "binlog_format" => text("ROW"),
        "binlog_row_image" => text("FULL"),
        "log_replica_updates" | "log_slave_updates" => text(1),
        "replica_net_timeout" | "slave_net_timeout" => text(4),
        "gtid_domain_id" => text(0),
        "gtid_strict_mode" => text(1),
        "gtid_binlog_pos" | "gtid_current_pos" => text(me.gtid_set(me.executed)),
        "gtid_binlog_state" => text(me.gtid_binlog_state(me.executed)),
        "gtid_slave_pos" => text(if me.source.is_none() {
            String::new()
        } else {
            me.gtid_set(me.executed)
        }),
        "server_uuid" => text(uuid(me.server_id)),
        "gtid_mode" => text(if me.flavor.is_mariadb() { "OFF" } else { "ON" }),
        "gtid_executed" => text(me.gtid_set(me.executed)),
        "gtid_purged" => text(""),
        "max_allowed_packet" => text(16_777_216),
        "wait_timeout" => text(28_800),
        "socket" => text(""),
        _ => None,
    }
}

/// The value of `name = value` in a CHANGE MASTER statement (quotes removed).
fn setting<'a>(lower: &'a str, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| {
        let at = lower.find(name)?;
        let rest = lower[at + name.len()..]
            .trim_start()
            .strip_prefix('=')?
            .trim_start();
        let end = rest.find(',').unwrap_or(rest.len());
        Some(rest[..end].trim().trim_matches('\''))
    })
}

/// The names a SELECT's columns take: each item's alias (`... AS name`), else the item itself
/// (`@@max_allowed_packet`).
fn select_names(sql: &str) -> Vec<String> {
    let body = sql.trim();
    let body = body[6..].trim();
    let body = match body.to_ascii_lowercase().find(" from ") {
        Some(at) => &body[..at],
        None => body,
    };
    body.split(',')
        .map(|item| {
            let item = item.trim();
            let lower = item.to_ascii_lowercase();
            match lower.rfind(" as ") {
                Some(at) => item[at + 4..].trim().to_string(),
                None => item.to_string(),
            }
        })
        .collect()
}
