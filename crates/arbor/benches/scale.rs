//! Scale: arbor watching a simulated fleet of 1,000, 5,000 and 10,000 instances (clusters of
//! four), polled every 5 s and every 1 s, by one `arbor serve` and by a 3-node Raft group.
//! The fleet runs in `arbor simfleet` child processes (a process may hold 20,000 open files
//! here; each instance needs a listener and one connection per arbor node), and arbor in its
//! own processes, so arbor's CPU and memory are measured alone. Reports, per run: arbor's CPU
//! (cores, summed over the nodes), RSS (MiB, the largest node), probes per second and poll
//! overruns (instances not probed within their interval plus grace; summed over the nodes),
//! the simulated fleet's own CPU over the same window (it shares the machine's cores with
//! arbor: when the two add up to every core, arbor is waiting for a core, not for work),
//! the median time of one `/api/replication-analysis` call, and the time from a primary's kill
//! to its DeadMaster analysis.
//!
//! `cargo bench -p arbor --bench scale` (ARBOR_SCALE_SIZES=1000,5000,10000,
//! ARBOR_SCALE_POLLS=5,1 and ARBOR_SCALE_NODES=1,3 to choose; ARBOR_SCALE_SECONDS for the
//! measuring window, 20 by default; ARBOR_SCALE_SHARE=1 to share polling among the members).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::fleet::FleetProcess;
use common::raft_group::{metric, request, Group};

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

/// Open files one fleet process may use for its instances (listener + a connection per arbor
/// node each), with room to spare under the 20,000 hard limit seen here.
const FLEET_FILES: u64 = 15_000;

fn main() {
    let sizes = list("ARBOR_SCALE_SIZES", "1000,5000,10000");
    let polls = list("ARBOR_SCALE_POLLS", "5,1");
    let node_counts = list("ARBOR_SCALE_NODES", "1,3");
    let window = Duration::from_secs(list("ARBOR_SCALE_SECONDS", "20")[0]);
    println!("nodes instances poll  cpu(cores)  fleet-cpu  rss(MiB)  probes/s  overruns  analysis(ms)  kill->DeadMaster");
    for &nodes in &node_counts {
        for &size in &sizes {
            for &poll in &polls {
                run(nodes as usize, size as usize, poll, window);
            }
        }
    }
}

fn run(nodes: usize, size: usize, poll: u64, window: Duration) {
    let per_process = (FLEET_FILES / (nodes as u64 + 1)) as usize / 4 * 4;
    let mut fleets = Vec::new();
    let mut left = size;
    while left > 0 {
        let here = left.min(per_process);
        fleets.push(FleetProcess::start(here / 4));
        left -= here;
    }
    let seeds: Vec<String> = fleets
        .iter()
        .flat_map(|f| f.ports.iter().filter(|(_, primary)| *primary))
        .map(|(port, _)| format!("\"127.0.0.1:{port}\""))
        .collect();
    // ARBOR_SCALE_SHARE=1: members share the polling (`ShareProbingAcrossNodes`).
    let share = std::env::var("ARBOR_SCALE_SHARE").is_ok_and(|v| v == "1");
    let extra = format!(
        r#""DiscoverySeeds": [{}], "DiscoveryMaxConcurrency": 1000, "ShareProbingAcrossNodes": {share}"#,
        seeds.join(", ")
    );
    // One node: a plain service. Three: a Raft group, every node probing every instance.
    let dir = tempfile::tempdir().unwrap();
    let (single, group) = if nodes == 1 {
        let config = common::test_config(dir.path(), poll, &extra);
        (Some(common::Service::start(dir.path(), &config)), None)
    } else {
        (None, Some(Group::start_polling(nodes, poll, &extra)))
    };
    let apis: Vec<String> = match (&single, &group) {
        (Some(service), _) => vec![service.api.clone()],
        (_, Some(group)) => group.members.iter().map(|m| m.api()).collect(),
        _ => unreachable!(),
    };
    let pids: Vec<u32> = match (&single, &group) {
        (Some(service), _) => vec![service.pid()],
        (_, Some(group)) => group
            .members
            .iter()
            .map(|m| m.service.as_ref().unwrap().pid())
            .collect(),
        _ => unreachable!(),
    };
    let label = format!("{nodes:>5} {size:>9} {poll:>4}");

    // Discovered: every node has read every instance.
    let started = Instant::now();
    loop {
        let least = apis
            .iter()
            .map(|api| metric(api, "arbor_instances_reachable"))
            .fold(f64::MAX, f64::min);
        if least as usize >= size {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            println!("{label}  discovery incomplete after 600 s ({least:.0} reachable)");
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // One full interval to settle, then the window.
    std::thread::sleep(Duration::from_secs(poll));
    let sum = |name: &str| apis.iter().map(|api| metric(api, name)).sum::<f64>();
    let cpu = || pids.iter().map(|&pid| usage(pid).0).sum::<f64>();
    let fleet_pids: Vec<u32> = fleets.iter().map(FleetProcess::pid).collect();
    let fleet_cpu = || fleet_pids.iter().map(|&pid| usage(pid).0).sum::<f64>();
    // Each counter is divided by the time between its own two readings: on a loaded node a
    // /metrics request takes long enough to skew a shared window.
    let timed = |read: &dyn Fn() -> f64| (Instant::now(), read());
    let (cpu_t0, cpu0) = timed(&cpu);
    let (fleet_t0, fleet0) = timed(&fleet_cpu);
    let (probes_t0, probes0) = timed(&|| sum("arbor_probe_duration_seconds_count"));
    let overruns0 = sum("arbor_poll_overruns");
    std::thread::sleep(window);
    let (cpu_t1, cpu1) = timed(&cpu);
    let (fleet_t1, fleet1) = timed(&fleet_cpu);
    let (probes_t1, probes1) = timed(&|| sum("arbor_probe_duration_seconds_count"));
    let cores = (cpu1 - cpu0) / (cpu_t1 - cpu_t0).as_secs_f64();
    let fleet_cores = (fleet1 - fleet0) / (fleet_t1 - fleet_t0).as_secs_f64();
    let rss = pids.iter().map(|&pid| usage(pid).1).fold(0.0, f64::max);
    let probes = (probes1 - probes0) / (probes_t1 - probes_t0).as_secs_f64();
    let overruns = sum("arbor_poll_overruns") - overruns0;

    // What one look at the analysis costs at this size (the detection time below includes
    // up to one such call).
    let mut calls: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            request(&apis[0], "GET", "/api/replication-analysis", false);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    calls.sort_by(f64::total_cmp);
    let analysis_ms = calls[calls.len() / 2];

    // A primary dies: how long until arbor analyses DeadMaster?
    let victim_fleet = fleets.len() / 2;
    let primaries: Vec<u16> = fleets[victim_fleet]
        .ports
        .iter()
        .filter(|(_, primary)| *primary)
        .map(|(port, _)| *port)
        .collect();
    let victim = primaries[primaries.len() / 2];
    fleets[victim_fleet].command(&format!("kill {victim}"));
    let killed = Instant::now();
    let detected = loop {
        let body = request(&apis[0], "GET", "/api/replication-analysis", false).1;
        if body.contains(&format!("\"Port\":{victim}")) && body.contains("\"DeadMaster\"") {
            break Some(killed.elapsed());
        }
        if killed.elapsed() > Duration::from_secs(60) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    println!(
        "{label}  {cores:>10.2}  {fleet_cores:>9.2}  {rss:>8.0}  {probes:>8.0}  {overruns:>8.0}  {analysis_ms:>12.0}  {}",
        detected
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .unwrap_or_else(|| "not within 60 s".into())
    );
    drop(single);
    drop(group);
    drop(fleets);
}
