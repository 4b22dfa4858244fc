//! Fuzz targets: each takes arbitrary bytes, feeds them to a parser that reads input arbor
//! does not control (a config file, a server's status rows, GTID sets, the simulated fleet's
//! wire protocol), and checks what must hold whatever the input: no panic, and the parser's
//! own invariants. `fuzz/` runs them under libFuzzer (`cargo +nightly fuzz run TARGET`); the
//! tests of this crate run them, bounded, on every test run (stable Rust, no sanitizer).

use std::collections::HashMap;
use std::path::Path;

use arbor_analysis::{errant_gtid, MysqlGtidSet};
use arbor_topology::{Flavor, Instance};

/// A fuzz target: takes any bytes, panics only on a broken invariant.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/fuzz_targets/NAME.rs` names them.
pub const TARGETS: &[(&str, Target)] = &[
    ("config_json", config_json),
    ("replica_status_row", replica_status_row),
    ("gtid_sets", gtid_sets),
    ("simfleet_protocol", simfleet_protocol),
];

/// A configuration file: loads or is refused, with the key named, never a panic.
pub fn config_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Err(error) = arbor_config::Config::from_json_str(&text, Path::new("fuzz.conf.json")) {
        assert!(!error.to_string().is_empty());
    }
}

/// A `SHOW SLAVE STATUS` / `SHOW REPLICA STATUS` row as a server could send it: column names
/// and values from the input (split at NUL, then `=`), read by name.
pub fn replica_status_row(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut row: HashMap<String, Option<String>> = HashMap::new();
    for field in text.split('\0') {
        match field.split_once('=') {
            Some((name, value)) => row.insert(name.to_string(), Some(value.to_string())),
            None => row.insert(field.to_string(), None),
        };
    }
    let rows = vec![row.clone()];
    let _ = arbor_mysql::status::parse_replica_status(&row, 3306);
    let _ = arbor_mysql::status::parse_replica_hosts(&rows, 3306);
    let _ = arbor_mysql::status::parse_binary_log_status(&rows);
    let _ = arbor_mysql::status::parse_dump_thread_hosts(&rows, 3306);
    let _ = arbor_mysql::status::replica_links(&rows, 3306);
}

/// GTID sets of both flavours. MySQL: what is printed parses back to the same set, and a set
/// minus itself is empty. MariaDB: the errant-transaction judgement of two instances whose
/// GTID variables come from the input never panics.
pub fn gtid_sets(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (left, right) = text.split_once('|').unwrap_or((&text, ""));
    let set = MysqlGtidSet::parse(left);
    let printed = set.to_string();
    assert_eq!(
        MysqlGtidSet::parse(&printed),
        set,
        "{left:?} printed as {printed:?}"
    );
    assert!(set.subtract(&set).is_empty());
    let other = MysqlGtidSet::parse(right);
    let _ = set.subtract(&other);
    for flavor in [Flavor::MariaDb, Flavor::MySql] {
        let replica = Instance {
            flavor,
            server_id: 2,
            server_uuid: "00000000-0000-0000-0000-000000000002".into(),
            gtid_executed: left.to_string(),
            gtid_binlog_state: left.to_string(),
            ..Instance::unseen("replica:3306".parse().unwrap_or_default())
        };
        let source = Instance {
            flavor,
            server_id: 1,
            gtid_executed: right.to_string(),
            gtid_binlog_state: right.to_string(),
            ..Instance::unseen("source:3306".parse().unwrap_or_default())
        };
        let _ = errant_gtid(&replica, Some(&source));
    }
}

/// What a client sends the simulated fleet after its handshake: packets, commands, SQL.
pub fn simfleet_protocol(data: &[u8]) {
    arbor_simfleet::answer_client_bytes(data);
}
