//! Failover benchmark: a real MariaDB primary with 3 replicas under a steady write load is
//! killed with SIGKILL, or hung with SIGSTOP (its port still accepts; nothing answers), and
//! arbor (a node in this process, built as `arbor serve` builds it) fails it over. Settings are the
//! issue's: `slave_net_timeout=4` on the replicas, `InstancePollSeconds` 1, orchestrator's
//! default probe timeouts (2 s to connect, 10 s to read). Reports, per run and as
//! min/median/max over the runs of each fault, side by side:
//! - detection: fault to the failure being recorded;
//! - writable: fault to a replica answering `read_only = 0`;
//! - following: fault to every other replica replicating from the new primary;
//! - recorded: fault to the recovery being recorded as finished (its post-failover hooks run
//!   just before);
//! - lost: acknowledged writes missing on the new primary.
//!
//! `cargo bench -p arbor-recovery --bench failover` (ARBOR_BENCH_RUNS=N per fault, default 10;
//! ARBOR_BENCH_SEMI_SYNC=1 for the semi-synchronous runs instead, see [`semi_sync_runs`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor_testkit::{
    ADMIN_PASSWORD, ADMIN_USER, REPL_PASSWORD, REPL_USER, WRITER_PASSWORD, WRITER_USER, WRITE_TABLE,
};
use mysql_async::prelude::Queryable;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Kill,
    Hang,
}

struct Run {
    detection: Duration,
    writable: Duration,
    following: Duration,
    recorded: Duration,
    /// Acknowledged by the old primary, missing on the new one.
    lost: u64,
    /// Of those, writes some replica had received: a loss arbor caused (the others never left
    /// the old primary: asynchronous replication's window, which no failover can close).
    lost_replicated: u64,
    acknowledged: u64,
    /// Semi-sync runs: acknowledged writes that only the semi-sync replica had received when
    /// the primary died (the asynchronous ones had stopped receiving).
    acknowledged_by_one: u64,
}

fn opts(port: u16, user: &str, password: &str) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false)
        .into()
}

async fn one_run(fault: Fault, semi_sync: bool) -> Run {
    let mut sandbox = arbor_testkit::write_load_sandbox().expect("sandbox");
    let ports: Vec<u16> = (0..4).map(|i| sandbox.port(i)).collect();
    if semi_sync {
        // AFTER_SYNC (lossless) semi-sync, acknowledged by the first replica only; a primary
        // that hears no acknowledgement waits 10 s, then falls back to asynchronous.
        sandbox
            .sql(
                0,
                "SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC; \
                 SET GLOBAL rpl_semi_sync_master_enabled = ON",
            )
            .unwrap();
        sandbox
            .sql(
                1,
                "SET GLOBAL rpl_semi_sync_slave_enabled = ON; \
                 STOP SLAVE IO_THREAD; START SLAVE IO_THREAD",
            )
            .unwrap();
        while !sandbox
            .sql(0, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'")
            .unwrap()
            .trim()
            .ends_with('1')
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // A node built as `arbor serve` builds it, from the keys a user writes: orchestrator's
    // default probe timeouts (MySQLConnectTimeoutSeconds, MySQLDiscoveryReadTimeoutSeconds) and
    // InstancePollSeconds 1, as orchestrator tuned for speed.
    let config = serde_json::json!({
        "BackendDB": "sqlite",
        "SQLite3DataFile": ":memory:",
        "MySQLTopologyUser": ADMIN_USER,
        "MySQLTopologyPassword": ADMIN_PASSWORD,
        "MySQLConnectTimeoutSeconds": 2,
        "MySQLDiscoveryReadTimeoutSeconds": 10,
        "MySQLTopologyReadTimeoutSeconds": 30,
        "InstancePollSeconds": 1,
        "DiscoverySeeds": [sandbox.key(0)],
        "RecoverMasterClusterFilters": ["*"],
        "MySQLReplicaUser": REPL_USER,
        "MySQLReplicaPassword": REPL_PASSWORD,
    });
    let (config, _) = arbor_config::Config::from_json_str(
        &config.to_string(),
        std::path::Path::new("benchmark configuration"),
    )
    .unwrap();
    let node = arbor_node::Node::build(&config, arbor_node::Role::Service)
        .await
        .unwrap();
    let store = Arc::clone(node.state.discovery.store());
    loop {
        let snapshot = node.recovery.latest_snapshot().await.unwrap();
        let records: Vec<_> = snapshot.topology.records().collect();
        if records.len() == 4 && records.iter().all(|r| r.is_last_check_valid()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the watcher connect to the primary.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Steady writes on the primary; an id counts once the server acknowledged its commit.
    let acknowledged = Arc::new(Mutex::new(Vec::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(1));
    let writer = {
        let (acknowledged, stop, next) = (acknowledged.clone(), stop.clone(), next.clone());
        let port = ports[0];
        tokio::spawn(async move {
            let Ok(mut conn) =
                mysql_async::Conn::new(opts(port, WRITER_USER, WRITER_PASSWORD)).await
            else {
                return;
            };
            while !stop.load(Ordering::SeqCst) {
                let id = next.fetch_add(1, Ordering::SeqCst);
                // A hung primary never answers: the write is given up, not acknowledged.
                let insert = conn.query_drop(format!("INSERT INTO {WRITE_TABLE} VALUES ({id})"));
                match tokio::time::timeout(Duration::from_secs(2), insert).await {
                    Ok(Ok(())) => acknowledged.lock().unwrap().push(id),
                    _ => break,
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Semi-sync: the asynchronous replicas stop receiving, so that for a while every write the
    // primary acknowledges exists on the semi-sync replica only.
    let mut received_by_async = 0u64;
    if semi_sync {
        for index in [2, 3] {
            sandbox.sql(index, "STOP SLAVE IO_THREAD").unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for index in [2, 3] {
            let max: u64 = sandbox
                .sql(
                    index,
                    &format!("SELECT COALESCE(MAX(id), 0) FROM {WRITE_TABLE}"),
                )
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            received_by_async = received_by_async.max(max);
        }
    }

    let killed_at = Instant::now();
    match fault {
        Fault::Kill => sandbox.kill(0).unwrap(),
        Fault::Hang => sandbox.pause(0).unwrap(),
    }

    let mut detection = None;
    let mut writable: Option<(Duration, usize)> = None;
    let mut following = None;
    let mut recorded = None;
    let mut replicas: Vec<mysql_async::Conn> = Vec::new();
    for port in &ports[1..] {
        replicas.push(
            mysql_async::Conn::new(opts(*port, ADMIN_USER, ADMIN_PASSWORD))
                .await
                .unwrap(),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while (following.is_none() || recorded.is_none()) && Instant::now() < deadline {
        if detection.is_none() && !store.detections(5).await.unwrap().is_empty() {
            detection = Some(killed_at.elapsed());
        }
        if recorded.is_none()
            && store
                .recoveries(None, 5)
                .await
                .unwrap()
                .iter()
                .any(|r| !r.is_active)
        {
            recorded = Some(killed_at.elapsed());
        }
        if writable.is_none() {
            for (index, conn) in replicas.iter_mut().enumerate() {
                let read_only: Option<u8> = conn.query_first("SELECT @@read_only").await.unwrap();
                if read_only == Some(0) {
                    writable = Some((killed_at.elapsed(), index));
                    break;
                }
            }
        }
        if let (Some((_, promoted)), None) = (writable, following) {
            let new_port = ports[promoted + 1].to_string();
            let mut all = true;
            for (index, conn) in replicas.iter_mut().enumerate() {
                if index == promoted {
                    continue;
                }
                let rows: Vec<mysql_async::Row> = conn.query("SHOW SLAVE STATUS").await.unwrap();
                let ok = rows.first().is_some_and(|row| {
                    let get = |name: &str| {
                        row.get_opt::<String, _>(name)
                            .and_then(Result::ok)
                            .unwrap_or_default()
                    };
                    get("Master_Port") == new_port
                        && get("Slave_IO_Running") == "Yes"
                        && get("Slave_SQL_Running") == "Yes"
                });
                all &= ok;
            }
            if all {
                following = Some(killed_at.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let _ = writer.await;
    if fault == Fault::Hang {
        // Thawed so that it ends like the others (it is fenced read-only by then).
        let _ = sandbox.resume(0);
    }
    let (writable_after, promoted) = writable.expect("a replica was promoted");
    let mut new_primary =
        mysql_async::Conn::new(opts(ports[promoted + 1], WRITER_USER, WRITER_PASSWORD))
            .await
            .unwrap();
    let present: Vec<u64> = new_primary
        .query(format!("SELECT id FROM {WRITE_TABLE}"))
        .await
        .unwrap();
    let present: std::collections::HashSet<u64> = present.into_iter().collect();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let missing: Vec<u64> = acknowledged
        .iter()
        .copied()
        .filter(|id| !present.contains(id))
        .collect();
    let mut on_some_replica = std::collections::HashSet::new();
    for (index, port) in ports[1..].iter().enumerate() {
        if index == promoted {
            continue;
        }
        let mut conn = mysql_async::Conn::new(opts(*port, WRITER_USER, WRITER_PASSWORD))
            .await
            .unwrap();
        let ids: Vec<u64> = conn
            .query(format!("SELECT id FROM {WRITE_TABLE}"))
            .await
            .unwrap();
        on_some_replica.extend(ids.into_iter().filter(|id| missing.contains(id)));
    }
    let lost = missing.len() as u64;
    let lost_replicated = on_some_replica.len() as u64;
    node.shutdown().await;
    Run {
        detection: detection.unwrap_or(Duration::MAX),
        writable: writable_after,
        following: following.expect("replicas followed the new primary"),
        recorded: recorded.expect("the recovery was recorded"),
        lost,
        lost_replicated,
        acknowledged_by_one: acknowledged
            .iter()
            .filter(|id| **id > received_by_async)
            .count() as u64
            * u64::from(semi_sync),
        acknowledged: acknowledged.len() as u64,
    }
}

fn summary(fault: &str, name: &str, mut values: Vec<Duration>) {
    values.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{fault:<5} {name:<10} min {:>7.1} ms   median {:>7.1} ms   max {:>7.1} ms",
        ms(values[0]),
        ms(values[values.len() / 2]),
        ms(values[values.len() - 1])
    );
}

fn main() {
    let runs: usize = std::env::var("ARBOR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if std::env::var_os("ARBOR_BENCH_SEMI_SYNC").is_some_and(|v| v == "1") {
        return semi_sync_runs(&runtime, runs);
    }
    let mut results: Vec<(Fault, Run)> = Vec::new();
    println!(
        "failover of a MariaDB primary with 3 replicas under write load, killed (SIGKILL) or \
         hung (SIGSTOP), {runs} runs each, alternating"
    );
    for run in 1..=runs {
        for fault in [Fault::Kill, Fault::Hang] {
            let result = runtime.block_on(one_run(fault, false));
            println!(
                "run {run:>2} {:<4}: detection {:>7.1} ms, writable {:>7.1} ms, following {:>7.1} ms, \
                 recorded {:>7.1} ms, {} of {} acknowledged writes missing ({} of them replicated before the fault)",
                format!("{fault:?}").to_lowercase(),
                result.detection.as_secs_f64() * 1000.0,
                result.writable.as_secs_f64() * 1000.0,
                result.following.as_secs_f64() * 1000.0,
                result.recorded.as_secs_f64() * 1000.0,
                result.lost,
                result.acknowledged,
                result.lost_replicated
            );
            results.push((fault, result));
        }
    }
    for fault in [Fault::Kill, Fault::Hang] {
        let of = || results.iter().filter(|(f, _)| *f == fault).map(|(_, r)| r);
        let name = format!("{fault:?}").to_lowercase();
        summary(&name, "detection", of().map(|r| r.detection).collect());
        summary(&name, "writable", of().map(|r| r.writable).collect());
        summary(&name, "following", of().map(|r| r.following).collect());
        summary(&name, "recorded", of().map(|r| r.recorded).collect());
        println!(
            "{name:<5} acknowledged writes missing on the new primary: {} of {} (replicated before the fault: {})",
            of().map(|r| r.lost).sum::<u64>(),
            of().map(|r| r.acknowledged).sum::<u64>(),
            of().map(|r| r.lost_replicated).sum::<u64>()
        );
    }
}

/// `ARBOR_BENCH_SEMI_SYNC=1`: kills only, semi-sync on (AFTER_SYNC, one acknowledging replica,
/// the two others stopped receiving just before the kill): are the writes that only the
/// acknowledger had all on the new primary?
fn semi_sync_runs(runtime: &tokio::runtime::Runtime, runs: usize) {
    println!(
        "failover of a semi-synchronous MariaDB primary (AFTER_SYNC, one acknowledging replica, \
         two asynchronous ones that stopped receiving 300 ms before) killed under write load, \
         {runs} runs"
    );
    let mut results = Vec::new();
    for run in 1..=runs {
        let result = runtime.block_on(one_run(Fault::Kill, true));
        println!(
            "run {run:>2}: writable {:>7.1} ms, {} of {} acknowledged writes missing; {} acknowledged \
             writes were only on the acknowledger",
            result.writable.as_secs_f64() * 1000.0,
            result.lost,
            result.acknowledged,
            result.acknowledged_by_one
        );
        results.push(result);
    }
    summary(
        "kill",
        "writable",
        results.iter().map(|r| r.writable).collect(),
    );
    println!(
        "semi-sync: acknowledged writes missing on the new primary: {} of {}; acknowledged \
         writes only the acknowledger had: {}",
        results.iter().map(|r| r.lost).sum::<u64>(),
        results.iter().map(|r| r.acknowledged).sum::<u64>(),
        results.iter().map(|r| r.acknowledged_by_one).sum::<u64>()
    );
}
