//! End-to-end write outage through a real HAProxy: a MariaDB primary with 3 replicas, HAProxy
//! in front checking arbor's `/api/check/primary/%[srv_name]` every 100 ms (docs/traffic.md),
//! arbor (a node in this process, built as `arbor serve` builds it) recovering automatically,
//! and a client writing through HAProxy every 5 ms with 200 ms connect and 500 ms statement
//! timeouts, reconnecting on any error. The primary is killed (SIGKILL). Per run:
//! - outage: from the kill to the first write acknowledged through HAProxy afterwards (the old
//!   primary is dead, so by the new primary);
//! - lost: writes acknowledged through HAProxy (before or after) missing on the new primary;
//! - KV: from the kill to the moment a watcher of etcd (`etcdctl watch`, a real etcd from
//!   Debian that arbor publishes the primary to) prints the new primary.
//!
//! `cargo bench -p arbor-http --bench write_outage` (ARBOR_BENCH_RUNS=N, default 10).
//! Target (issue 18): median outage ≤ 1.0 s, 0 acknowledged writes lost.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor_mysql::{Operator, OperatorSettings};
use arbor_testkit::{WRITER_PASSWORD, WRITER_USER, WRITE_TABLE};
use arbor_topology::InstanceKey;
use common::haproxy::Haproxy;

fn operator(user: &str, password: &str, connect: Duration, statement: Duration) -> Operator {
    Operator::new(OperatorSettings {
        user: user.into(),
        password: password.into(),
        connect_timeout: connect,
        statement_timeout: statement,
        default_port: 3306,
        tls: Default::default(),
    })
}

struct Run {
    outage: Duration,
    kv: Option<Duration>,
    acknowledged: usize,
    lost: usize,
}

/// Lines a watcher printed, each with when it arrived.
type Lines = Arc<Mutex<Vec<(String, Instant)>>>;

/// `etcdctl watch KEY`: the Instant each value line arrived, as it arrives.
fn watch_etcd(etcd: &str, key: &str) -> (tokio::process::Child, Lines) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", etcd, "watch", key])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("etcdctl (etcd-client)");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            record.lock().unwrap().push((line, Instant::now()));
        }
    });
    (child, seen)
}

async fn one_run(etcd: &str) -> Run {
    let mut sandbox = arbor_testkit::write_load_sandbox().expect("sandbox");
    let ports: Vec<u16> = (0..4).map(|i| sandbox.port(i)).collect();
    let node = common::start_node_with(common::with(
        common::automated_recovery(),
        serde_json::json!({
            "DiscoverySeeds": [sandbox.key(0)],
            "ClusterNameToAlias": { "127": "bench" },
            "EtcdAddress": etcd,
        }),
    ))
    .await;
    node.wait_until_serving(4).await;
    let (_watcher, watched) = watch_etcd(etcd, "mysql/master/bench");
    let arbor_port: u16 = node.base.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = Haproxy::start(&ports, arbor_port);
    let through = InstanceKey::new("127.0.0.1", proxy.port);
    let writer_ops = operator(
        WRITER_USER,
        WRITER_PASSWORD,
        Duration::from_millis(200),
        Duration::from_millis(500),
    );

    // The writer: an id counts once its INSERT returned OK through the proxy.
    let acknowledged = Arc::new(Mutex::new(Vec::<(u64, Instant)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(1));
    let writer = {
        let (acknowledged, stop, next, through) = (
            acknowledged.clone(),
            stop.clone(),
            next.clone(),
            through.clone(),
        );
        tokio::spawn(async move {
            let mut session = None;
            while !stop.load(Ordering::SeqCst) {
                if session.is_none() {
                    session = writer_ops.session(&through).await.ok();
                }
                if let Some(open) = session.as_mut() {
                    let id = next.fetch_add(1, Ordering::SeqCst);
                    match open
                        .execute(&format!("INSERT INTO {WRITE_TABLE} VALUES ({id})"))
                        .await
                    {
                        Ok(()) => acknowledged.lock().unwrap().push((id, Instant::now())),
                        Err(_) => session = None,
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    // Writes flow through the proxy before the fault.
    while acknowledged.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed_at = Instant::now();
    sandbox.kill(0).unwrap();
    let deadline = killed_at + Duration::from_secs(30);
    let outage = loop {
        let first_after = acknowledged
            .lock()
            .unwrap()
            .iter()
            .find(|(_, at)| *at > killed_at)
            .map(|(_, at)| *at - killed_at);
        if let Some(outage) = first_after {
            break outage;
        }
        assert!(
            Instant::now() < deadline,
            "no write went through within 30 s\n{}",
            common::haproxy::diagnose(&node.base, &ports, &proxy).await
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let replicas: Vec<String> = (1..4).map(|i| sandbox.key(i)).collect();
    let mut kv = None;
    while kv.is_none() && Instant::now() < deadline {
        kv = watched
            .lock()
            .unwrap()
            .iter()
            .find(|(line, at)| *at > killed_at && replicas.contains(line))
            .map(|(_, at)| *at - killed_at);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // A little more writing on the new primary, then the account.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let _ = writer.await;
    let reader = operator(
        WRITER_USER,
        WRITER_PASSWORD,
        Duration::from_secs(2),
        Duration::from_secs(10),
    );
    let mut session = reader.session(&through).await.unwrap();
    let present: HashSet<u64> = session
        .query_rows(&format!("SELECT id FROM {WRITE_TABLE}"))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|row| row[0].as_deref().and_then(|v| v.parse().ok()))
        .collect();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let lost = acknowledged
        .iter()
        .filter(|(id, _)| !present.contains(id))
        .count();
    Run {
        outage,
        kv,
        acknowledged: acknowledged.len(),
        lost,
    }
}

fn main() {
    let runs: usize = std::env::var("ARBOR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let etcd = arbor_testkit::start_etcd().expect("etcd (etcd-server)");
    let etcd_address = etcd.address();
    println!(
        "write outage through HAProxy: MariaDB primary with 3 replicas killed (SIGKILL) under a \
         write every 5 ms, {runs} runs"
    );
    let mut results = Vec::new();
    for run in 1..=runs {
        let result = runtime.block_on(one_run(&etcd_address));
        println!(
            "run {run:>2}: outage {:>7.1} ms, etcd watcher saw the new primary after {}, {} of {} acknowledged writes missing",
            result.outage.as_secs_f64() * 1000.0,
            result
                .kv
                .map_or("never (30 s)".to_string(), |d| format!("{:.1} ms", d.as_secs_f64() * 1000.0)),
            result.lost,
            result.acknowledged
        );
        results.push(result);
    }
    let mut outages: Vec<Duration> = results.iter().map(|r| r.outage).collect();
    outages.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "outage min {:.1} ms   median {:.1} ms   max {:.1} ms; acknowledged writes missing: {} of {}",
        ms(outages[0]),
        ms(outages[outages.len() / 2]),
        ms(outages[outages.len() - 1]),
        results.iter().map(|r| r.lost).sum::<usize>(),
        results.iter().map(|r| r.acknowledged).sum::<usize>()
    );
    let mut kv: Vec<Duration> = results.iter().filter_map(|r| r.kv).collect();
    kv.sort();
    if !kv.is_empty() {
        println!(
            "etcd watcher: min {:.1} ms   median {:.1} ms   max {:.1} ms ({} of {runs} runs seen)",
            ms(kv[0]),
            ms(kv[kv.len() / 2]),
            ms(kv[kv.len() - 1]),
            kv.len()
        );
    }
}
