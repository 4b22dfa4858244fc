//! Shared-backend mode with real processes: three `arbor serve` nodes on one MariaDB backend
//! elect a leader by lease, forward to it, and hand over when it is killed.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_testkit::MariaDbSandbox;
use common::raft_group::{get, json, metric};
use common::{free_port, Service};

const BACKEND_USER: &str = "arbor_backend";
const BACKEND_PASSWORD: &str = "backend-secret";

struct Node {
    dir: tempfile::TempDir,
    config: String,
    service: Option<Service>,
}

impl Node {
    fn api(&self) -> String {
        self.service.as_ref().expect("running").api.clone()
    }
}

fn backend() -> MariaDbSandbox {
    let sandbox = MariaDbSandbox::start(&[None]).unwrap();
    sandbox
        .sql(
            0,
            &format!(
                "CREATE USER '{BACKEND_USER}'@'%' IDENTIFIED BY '{BACKEND_PASSWORD}'; \
                 GRANT ALL ON `arbor`.* TO '{BACKEND_USER}'@'%';"
            ),
        )
        .unwrap();
    sandbox
}

fn node_config(dir: &std::path::Path, backend_port: u16) -> String {
    let port = free_port();
    format!(
        r#"{{
            "ListenAddress": "127.0.0.1:{port}",
            "HTTPAdvertise": "http://127.0.0.1:{port}",
            "BackendDB": "mysql",
            "MySQLOrchestratorHost": "127.0.0.1",
            "MySQLOrchestratorPort": {backend_port},
            "MySQLOrchestratorDatabase": "arbor",
            "MySQLOrchestratorUser": "{BACKEND_USER}",
            "MySQLOrchestratorPassword": "{BACKEND_PASSWORD}",
            "MySQLOrchestratorMaxPoolConnections": 4,
            "MySQLTopologyUser": "{}",
            "MySQLTopologyPassword": "${{ARBOR_E2E_TOPOLOGY_PASSWORD}}",
            "InstancePollSeconds": 1,
            "SQLite3DataFile": "{}"
        }}"#,
        arbor_testkit::ADMIN_USER,
        dir.join("unused.sqlite3").display()
    )
}

fn leaders(nodes: &[Node]) -> Vec<usize> {
    (0..nodes.len())
        .filter(|&i| nodes[i].service.is_some())
        .filter(|&i| get(&nodes[i].api(), "/api/leader-check").0 == 200)
        .collect()
}

fn wait_for_one_leader(nodes: &[Node], deadline: Duration) -> usize {
    let started = Instant::now();
    loop {
        let found = leaders(nodes);
        if let [leader] = found[..] {
            return leader;
        }
        assert!(found.len() < 2, "two leaders at once: {found:?}");
        assert!(
            started.elapsed() < deadline,
            "no single leader after {deadline:?}: {found:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_nodes_on_one_backend_elect_forward_and_hand_over_within_the_lease() {
    let backend = backend();
    let mut nodes: Vec<Node> = (0..3)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let config = node_config(dir.path(), backend.port(0));
            Node {
                dir,
                config,
                service: None,
            }
        })
        .collect();
    for node in &mut nodes {
        node.service = Some(Service::start(node.dir.path(), &node.config));
    }
    let leader = wait_for_one_leader(&nodes, Duration::from_secs(20));

    // Any node answers; a follower forwards a write to the leader, and all share the state.
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let (status, body) = get(&nodes[follower].api(), "/api/disable-global-recoveries");
    assert_eq!(status, 200, "{body}");
    for node in &nodes {
        let answer = json(&get(&node.api(), "/api/check-global-recoveries").1);
        assert_eq!(answer["Details"], "disabled", "{answer}");
    }
    let status = json(&get(&nodes[follower].api(), "/api/status").1);
    let available = status["Details"]["AvailableNodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(available.len(), 3, "{status}");
    assert_eq!(
        available
            .iter()
            .filter(|n| n["ArborIsLeader"] == true)
            .count(),
        1,
        "{status}"
    );

    // The HA page of any node shows the three and who leads.
    let page = common::render_until(
        &format!("{}/web/ha", nodes[follower].api()),
        Duration::from_secs(30),
        |dom| dom.matches("data-node=").count() == 3,
    );
    assert_eq!(page.matches(r#"data-role="Leader""#).count(), 1, "{page}");
    assert!(page.contains("(this node)"), "{page}");

    // Watch every node's leader-check from now on: never two at once.
    let stop = Arc::new(AtomicBool::new(false));
    let apis: Vec<String> = nodes.iter().map(|n| n.api()).collect();
    let watcher = {
        let stop = Arc::clone(&stop);
        let apis = apis.clone();
        std::thread::spawn(move || {
            let mut overlaps = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let at_once: Vec<&String> = apis
                    .iter()
                    .filter(|api| get(api, "/api/leader-check").0 == 200)
                    .collect();
                if at_once.len() > 1 {
                    overlaps.push(format!("{at_once:?}"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            overlaps
        })
    };

    // SIGKILL the leader: another takes the lease within its 5 s, plus 2 s.
    nodes[leader].service = None;
    let killed = Instant::now();
    let new_leader = wait_for_one_leader(&nodes, Duration::from_secs(15));
    let handover = killed.elapsed();
    eprintln!("handover after {handover:?}");
    assert!(
        handover <= Duration::from_secs(7),
        "handover took {handover:?}, more than the 5 s lease + 2 s"
    );
    assert_ne!(new_leader, leader);
    let (status, body) = get(&nodes[follower].api(), "/api/enable-global-recoveries");
    assert_eq!(status, 200, "writes go on through a follower: {body}");

    // The killed node returns as a follower.
    nodes[leader].service = Some(Service::start(
        nodes[leader].dir.path(),
        &nodes[leader].config,
    ));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(get(&nodes[leader].api(), "/api/leader-check").0, 404);
    stop.store(true, Ordering::Relaxed);
    let overlaps = watcher.join().unwrap();
    assert!(overlaps.is_empty(), "two leaders at once: {overlaps:?}");
}

#[test]
fn direct_clis_share_the_services_locks_and_one_of_two_racing_wins() {
    let backend = backend();
    let dir = tempfile::tempdir().unwrap();
    let config = node_config(dir.path(), backend.port(0));
    let service = Service::start(dir.path(), &config);
    let config_path = dir.path().join("arbor.conf.json");
    let config_arg = config_path.display().to_string();
    let direct = |owner: &str| {
        std::process::Command::new(common::ARBOR)
            .args([
                "--config",
                &config_arg,
                "--direct",
                "begin-maintenance",
                "127.0.0.1:3999",
            ])
            .args(["--owner", owner, "--reason", "racing"])
            .env("ARBOR_E2E_TOPOLOGY_PASSWORD", arbor_testkit::ADMIN_PASSWORD)
            .env_remove("ARBOR_API")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    // Two CLIs on different hosts would race the same way: two processes at once.
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| direct("alice"));
        let b = scope.spawn(|| direct("bob"));
        (a.join().unwrap(), b.join().unwrap())
    });
    let outcomes = [&first, &second];
    let winners = outcomes.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        winners,
        1,
        "exactly one wins: {:?}",
        outcomes
            .iter()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .collect::<Vec<_>>()
    );
    let loser = outcomes.iter().find(|o| !o.status.success()).unwrap();
    let message = String::from_utf8_lossy(&loser.stderr);
    assert!(
        message.contains("alice") || message.contains("bob"),
        "the refusal names the holder: {message}"
    );

    // The service sees the lock a CLI took, and refuses its own taker.
    let (status, body) = get(
        &service.api,
        "/api/begin-maintenance/127.0.0.1/3999/carol/through-the-service",
    );
    assert_eq!(status, 409, "{body}");
    // And a direct CLI sees what the service knows: no service URL is involved.
    let output = std::process::Command::new(common::ARBOR)
        .args([
            "--config",
            &config_arg,
            "--direct",
            "--api",
            "http://127.0.0.1:1",
            "check-global-recoveries",
        ])
        .env("ARBOR_E2E_TOPOLOGY_PASSWORD", arbor_testkit::ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "enabled");
}

#[test]
fn direct_refuses_without_a_shared_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arbor.conf.json");
    let sqlite = dir.path().join("arbor.sqlite3");
    std::fs::write(
        &path,
        format!(r#"{{"SQLite3DataFile": "{}"}}"#, sqlite.display()),
    )
    .unwrap();
    let (ok, _, stderr) = common::run(
        &["--config", path.to_str().unwrap(), "--direct", "clusters"],
        &[],
    );
    assert!(!ok);
    assert!(
        stderr.contains("BackendDB") && stderr.contains("mysql"),
        "{stderr}"
    );
}

/// On a shared backend, with `ShareProbingAcrossNodes`, each instance is polled by one live node,
/// into the backend every node reads: followers work too, and nothing is polled twice.
#[test]
fn nodes_on_one_backend_share_the_polling() {
    use common::fleet::FleetProcess;
    let backend = backend();
    let fleet = FleetProcess::start(6);
    let instances = fleet.ports.len();
    let seeds = fleet.primary_seeds();
    let nodes: Vec<Node> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let config = node_config(dir.path(), backend.port(0)).replacen(
                "\"InstancePollSeconds\": 1,",
                &format!(
                    "\"InstancePollSeconds\": 1, \"DiscoverySeeds\": [{}], \
                     \"ShareProbingAcrossNodes\": true,",
                    seeds
                ),
                1,
            );
            let service = Some(Service::start(dir.path(), &config));
            Node {
                dir,
                config,
                service,
            }
        })
        .collect();
    let leader = wait_for_one_leader(&nodes, Duration::from_secs(20));
    let apis: Vec<String> = nodes.iter().map(Node::api).collect();
    let started = Instant::now();
    while (metric(&apis[leader], "arbor_instances_reachable") as usize) < instances {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the leader never saw every instance"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Both nodes have seen each other in the backend by now; a window of polls.
    std::thread::sleep(Duration::from_secs(4));
    let probes = || -> Vec<f64> {
        apis.iter()
            .map(|api| metric(api, "arbor_probe_duration_seconds_count"))
            .collect()
    };
    let window = 5.0;
    let before = probes();
    std::thread::sleep(Duration::from_secs_f64(window));
    let per_node: Vec<f64> = probes().iter().zip(&before).map(|(a, b)| a - b).collect();
    let expected = instances as f64 * window;
    let total: f64 = per_node.iter().sum();
    assert!(
        per_node.iter().all(|p| *p > 0.2 * expected),
        "each node polls a share: {per_node:?} of {expected}"
    );
    assert!(
        total < 1.5 * expected && total > 0.8 * expected,
        "every instance polled about once a second, by one node: {per_node:?} of {expected}"
    );
    drop(fleet);
}
