//! Leader failover time of a 3-node Raft group on loopback, default timers: SIGKILL the leader,
//! then time until another member answers `/api/leader-check` with 200. Prints each run and
//! min/median/max. `cargo bench -p arbor --bench leader_failover` (ARBOR_BENCH_RUNS to change
//! the number of runs, 20 by default).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::raft_group::{get, Group};

fn main() {
    let runs: usize = std::env::var("ARBOR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut group = Group::start(3, "");
    let mut times = Vec::new();
    for run in 0..runs {
        let leader = group.leader(Duration::from_secs(30));
        // Every member must be caught up and following before the kill, as in production.
        let started = Instant::now();
        while !group
            .members
            .iter()
            .all(|m| m.running() && get(&m.api(), "/api/raft-health").0 == 200)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "group not healthy:\n{}",
                group.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
        let others: Vec<String> = (0..group.members.len())
            .filter(|&i| i != leader)
            .map(|i| group.members[i].api())
            .collect();
        group.members[leader].kill();
        let killed = Instant::now();
        let elapsed = loop {
            if others
                .iter()
                .any(|api| get(api, "/api/leader-check").0 == 200)
            {
                break killed.elapsed();
            }
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "no new leader:\n{}",
                group.logs()
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        println!(
            "run {:2}: new leader after {:6.1} ms",
            run + 1,
            elapsed.as_secs_f64() * 1000.0
        );
        times.push(elapsed);
        group.members[leader].start();
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "leader failover over {} runs: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}
