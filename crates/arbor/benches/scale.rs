//! Scale: arbor watching a simulated fleet of 1,000, 5,000 and 10,000 instances (clusters of
//! four), polled every 5 s and every 1 s. The fleet runs in this process; arbor runs as its own
//! `arbor serve` process, so its CPU and memory are measured alone. Reports, per run: arbor's
//! CPU (cores), RSS, probes per second, poll overruns (instances not probed within their
//! interval plus grace), and the time from a primary's kill to its DeadMaster analysis.
//!
//! `cargo bench -p arbor --bench scale` (ARBOR_SCALE_SIZES=1000,5000 and ARBOR_SCALE_POLLS=5,1
//! to choose; ARBOR_SCALE_SECONDS for the measuring window, 20 by default).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use arbor_simfleet::{Flavor, Fleet, Health};
use common::raft_group::request;

fn list(name: &str, default: &str) -> Vec<u64> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

/// (utime + stime in seconds, RSS in MiB) of a process.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command: state is 0, utime 11, stime 12 (clock ticks of 1/100 s).
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, rss_kib / 1024.0)
}

/// A counter from arbor's /metrics (the sum of the lines starting with `name`).
fn metric(api: &str, name: &str) -> f64 {
    request(api, "GET", "/metrics", false)
        .1
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// Raises the open-files limit as far as allowed; returns the limit in force.
fn raise_fd_limit() -> u64 {
    let wanted: libc::rlim_t = 65_536;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack struct this function owns.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_max = limit.rlim_max.max(wanted);
        limit.rlim_cur = wanted.min(limit.rlim_max);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

fn main() {
    let fd_limit = raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sizes = list("ARBOR_SCALE_SIZES", "1000,5000,10000");
    let polls = list("ARBOR_SCALE_POLLS", "5,1");
    let window = Duration::from_secs(list("ARBOR_SCALE_SECONDS", "20")[0]);
    println!("instances poll  cpu(cores)  rss(MiB)  probes/s  overruns  kill->DeadMaster");
    for &size in &sizes {
        for &poll in &polls {
            // This process holds each instance's listener and the connection arbor keeps to it.
            let needed = size * 2 + 1_000;
            if needed > fd_limit {
                println!(
                    "{size:>9} {poll:>4}  skipped: needs {needed} open files, the limit here is {fd_limit}"
                );
                continue;
            }
            runtime.block_on(run(size as usize, poll, window));
        }
    }
}

async fn run(size: usize, poll: u64, window: Duration) {
    let shape = [None, Some(0), Some(0), Some(0)];
    let mut fleets = Vec::new();
    for _ in 0..size / shape.len() {
        fleets.push(Fleet::start(&shape, Flavor::MySql80).await.expect("fleet"));
    }
    let dir = tempfile::tempdir().unwrap();
    let seeds: Vec<String> = fleets.iter().map(|f| format!("\"{}\"", f.key(0))).collect();
    let config = common::test_config(
        dir.path(),
        poll,
        &format!(
            r#""DiscoverySeeds": [{}], "DiscoveryMaxConcurrency": 1000"#,
            seeds.join(", ")
        ),
    );
    let service = common::Service::start(dir.path(), &config);
    let api = service.api.clone();
    let pid = service.pid();

    // Discovered: every instance watched and read once.
    let started = Instant::now();
    loop {
        let known = metric(&api, "arbor_instances_reachable");
        if known as usize >= size {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            println!(
                "{size:>9} {poll:>4}  discovery incomplete after 300 s ({known:.0} reachable)"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // One full interval to settle, then the window.
    tokio::time::sleep(Duration::from_secs(poll)).await;
    let (cpu0, _) = usage(pid);
    let probes0 = metric(&api, "arbor_probe_duration_seconds_count");
    let overruns0 = metric(&api, "arbor_poll_overruns");
    let t0 = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, rss) = usage(pid);
    let probes = (metric(&api, "arbor_probe_duration_seconds_count") - probes0) / elapsed;
    let overruns = metric(&api, "arbor_poll_overruns") - overruns0;

    // A primary dies: how long until arbor analyses DeadMaster?
    let victim = &fleets[fleets.len() / 2];
    let killed_key = victim.key(0);
    victim.set_health(0, Health::Dead);
    let killed = Instant::now();
    let detected = loop {
        let body = request(&api, "GET", "/api/replication-analysis", false).1;
        if body.contains(&format!("\"Port\":{}", victim.port(0))) && body.contains("\"DeadMaster\"")
        {
            break Some(killed.elapsed());
        }
        if killed.elapsed() > Duration::from_secs(60) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = killed_key;
    println!(
        "{size:>9} {poll:>4}  {:>10.2}  {:>8.0}  {:>8.0}  {:>8.0}  {}",
        (cpu1 - cpu0) / elapsed,
        rss,
        probes,
        overruns,
        detected
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .unwrap_or_else(|| "not within 60 s".into())
    );
    drop(service);
    drop(fleets);
}
