//! Raft mode with real `arbor serve` processes on loopback: election, replication of intents
//! through followers, the leader killed with SIGKILL, a node rejoining, and a group that lost
//! its majority refusing to act.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arbor_testkit::MariaDbSandbox;
use common::{free_port, Service};

/// One member: its directory and config are kept so that it can be restarted after a kill.
struct Member {
    dir: PathBuf,
    config: String,
    raft: String,
    service: Option<Service>,
}

impl Member {
    fn api(&self) -> String {
        self.service
            .as_ref()
            .expect("member is running")
            .api
            .clone()
    }

    fn kill(&mut self) {
        // Dropping the service sends SIGKILL (`Child::kill`) and reaps it.
        self.service = None;
    }

    fn start(&mut self) {
        self.service = Some(Service::start(&self.dir, &self.config));
    }

    fn running(&self) -> bool {
        self.service.is_some()
    }

    fn stderr(&self) -> String {
        self.service
            .as_ref()
            .map(|s| s.stderr())
            .unwrap_or_default()
    }
}

struct Group {
    _root: tempfile::TempDir,
    members: Vec<Member>,
}

impl Group {
    fn start(size: usize, extra: &str) -> Group {
        let root = tempfile::tempdir().unwrap();
        let raft_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let nodes: Vec<String> = raft_ports
            .iter()
            .map(|p| format!("\"127.0.0.1:{p}\""))
            .collect();
        let mut members = Vec::new();
        for (index, raft_port) in raft_ports.iter().enumerate() {
            let dir = root.path().join(format!("node{index}"));
            std::fs::create_dir_all(&dir).unwrap();
            let extra = format!(
                r#""RaftEnabled": true,
                "RaftDataDir": "{raft_dir}",
                "RaftBind": "127.0.0.1:{raft_port}",
                "RaftNodes": [{nodes}]{extra}"#,
                raft_dir = dir.join("raft").display(),
                nodes = nodes.join(", "),
            );
            let config = common::test_config(&dir, 1, &extra);
            members.push(Member {
                dir,
                config,
                raft: format!("127.0.0.1:{raft_port}"),
                service: None,
            });
        }
        for member in &mut members {
            member.start();
        }
        Group {
            _root: root,
            members,
        }
    }

    /// Waits until exactly one running member answers leader-check 200; returns its index.
    fn leader(&self, deadline: Duration) -> usize {
        let started = Instant::now();
        loop {
            let leaders: Vec<usize> = (0..self.members.len())
                .filter(|&i| self.members[i].running())
                .filter(|&i| get(&self.members[i].api(), "/api/leader-check").0 == 200)
                .collect();
            if leaders.len() == 1 {
                return leaders[0];
            }
            assert!(
                leaders.len() <= 1,
                "two members answer leader-check 200 at once: {leaders:?}"
            );
            assert!(
                started.elapsed() < deadline,
                "no leader after {deadline:?}; logs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn follower_of(&self, leader: usize) -> usize {
        (0..self.members.len())
            .find(|&i| i != leader && self.members[i].running())
            .expect("a running follower")
    }

    fn logs(&self) -> String {
        self.members
            .iter()
            .enumerate()
            .map(|(i, m)| format!("--- node {i} ---\n{}", tail(&m.stderr(), 30)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A plain HTTP/1.0 request; returns the status and body. `local` asks the node to answer
/// itself (as a forwarded request), which is how a test reads one node's own state.
fn request(api: &str, method: &str, path: &str, local: bool) -> (u16, String) {
    let address = api.trim_start_matches("http://");
    let Ok(mut stream) = TcpStream::connect(address) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let header = if local {
        format!("{}: test\r\n", arbor_http::FORWARDED_HEADER)
    } else {
        String::new()
    };
    let text = format!("{method} {path} HTTP/1.0\r\nHost: {address}\r\n{header}\r\n");
    if stream.write_all(text.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get(api: &str, path: &str) -> (u16, String) {
    request(api, "GET", path, false)
}

fn get_local(api: &str, path: &str) -> (u16, String) {
    request(api, "GET", path, true)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

/// Polls until `check` holds, or panics with `what` and the group's logs.
fn wait_until(group: &Group, deadline: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < deadline,
            "{what}: not true after {deadline:?}; logs:\n{}",
            group.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn instance_path(key: &str) -> String {
    let (host, port) = key.rsplit_once(':').unwrap();
    format!("/api/instance/{host}/{port}")
}

#[test]
fn three_nodes_replicate_intents_survive_a_killed_leader_and_catch_up_a_returning_node() {
    let sandbox = MariaDbSandbox::start(&[None, Some(0)]).unwrap();
    let (primary, replica) = (sandbox.key(0), sandbox.key(1));
    let mut group = Group::start(3, "");
    let leader = group.leader(Duration::from_secs(30));
    let follower = group.follower_of(leader);

    // A discover sent to a follower is forwarded to the leader and replicated: every node
    // then probes the servers itself.
    let (host, port) = primary.rsplit_once(':').unwrap();
    let (status, body) = get(
        &group.members[follower].api(),
        &format!("/api/discover/{host}/{port}"),
    );
    assert_eq!(status, 200, "discover through a follower: {body}");
    for member in &group.members {
        let api = member.api();
        wait_until(
            &group,
            Duration::from_secs(20),
            "every node sees the replica",
            || get_local(&api, &instance_path(&replica)).0 == 200,
        );
    }

    // A downtime set through a follower shows on all three nodes' own stores.
    let (rhost, rport) = replica.rsplit_once(':').unwrap();
    let (status, body) = get(
        &group.members[follower].api(),
        &format!("/api/begin-downtime/{rhost}/{rport}/ops/raft-test/1h"),
    );
    assert_eq!(status, 200, "begin-downtime through a follower: {body}");
    for member in &group.members {
        let api = member.api();
        wait_until(
            &group,
            Duration::from_secs(10),
            "the downtime is on every node",
            || json(&get_local(&api, &instance_path(&replica)).1)["IsDowntimed"] == true,
        );
    }

    // SIGKILL the leader: another member leads and answers leader-check.
    let old_leader = leader;
    group.members[old_leader].kill();
    let new_leader = group.leader(Duration::from_secs(20));
    assert_ne!(new_leader, old_leader);

    // While the old leader is away, an intent changes: the downtime ends.
    let (status, body) = get(
        &group.members[new_leader].api(),
        &format!("/api/end-downtime/{rhost}/{rport}"),
    );
    assert_eq!(status, 200, "end-downtime on the new leader: {body}");

    // The old leader rejoins as a follower and catches up with what it missed.
    group.members[old_leader].start();
    let api = group.members[old_leader].api();
    wait_until(
        &group,
        Duration::from_secs(20),
        "the returning node catches up",
        || {
            let instance = json(&get_local(&api, &instance_path(&replica)).1);
            instance["IsDowntimed"] == false && instance["Key"]["Port"].is_number()
        },
    );
    assert_eq!(get(&api, "/api/leader-check").0, 404);
    let status = json(&get(&api, "/api/raft-status").1);
    assert_eq!(status["State"], "Follower", "{status}");
    assert_eq!(
        status["Leader"],
        group.members[new_leader].raft.as_str(),
        "{status}"
    );
    // A read through the returning follower is answered by the leader.
    let (code, body) = get(&api, "/api/check-global-recoveries");
    assert_eq!(code, 200, "{body}");
}

#[test]
fn five_nodes_work_with_two_down_and_three_nodes_with_two_down_refuse() {
    let mut five = Group::start(5, "");
    let leader = five.leader(Duration::from_secs(30));
    // Kill the leader and one follower: three of five remain, a majority.
    let follower = five.follower_of(leader);
    five.members[leader].kill();
    five.members[follower].kill();
    let leader = five.leader(Duration::from_secs(20));
    let survivor = five.follower_of(leader);
    let (status, body) = get(
        &five.members[survivor].api(),
        "/api/disable-global-recoveries",
    );
    assert_eq!(
        status, 200,
        "a write through a follower of the remaining three: {body}"
    );
    for member in five.members.iter().filter(|m| m.running()) {
        let api = member.api();
        wait_until(
            &five,
            Duration::from_secs(10),
            "recoveries disabled on every survivor",
            || json(&get_local(&api, "/api/check-global-recoveries").1)["Details"] == "disabled",
        );
    }
    drop(five);

    let mut three = Group::start(3, "");
    let leader = three.leader(Duration::from_secs(30));
    // Kill both followers: the leader is alone, without a majority.
    for index in 0..3 {
        if index != leader {
            three.members[index].kill();
        }
    }
    let api = three.members[leader].api();
    wait_until(
        &three,
        Duration::from_secs(10),
        "a lone leader stops answering as leader",
        || get(&api, "/api/leader-check").0 == 404,
    );
    let (status, body) = get(&api, "/api/disable-global-recoveries");
    assert_eq!(status, 503, "a write without a majority is refused: {body}");
    assert!(
        json(&body)["Message"]
            .as_str()
            .is_some_and(|m| m.contains("leader")),
        "the refusal says why: {body}"
    );
    let (status, _) = get(&api, "/api/raft-health");
    assert_eq!(status, 500, "raft-health reports the lone node unhealthy");
}

#[test]
fn a_missing_or_unwritable_raft_data_dir_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let blocker = root.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let config = common::test_config(
        root.path(),
        1,
        &format!(
            r#""RaftEnabled": true, "RaftDataDir": "{}", "RaftBind": "127.0.0.1:{}""#,
            blocker.join("raft").display(),
            free_port()
        ),
    );
    let path: &Path = &root.path().join("arbor.conf.json");
    std::fs::write(path, &config).unwrap();
    let output = std::process::Command::new(common::ARBOR)
        .args(["--config", path.to_str().unwrap(), "serve"])
        .env("ARBOR_E2E_TOPOLOGY_PASSWORD", "unused")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("RaftDataDir") && stderr.contains("cannot create"),
        "{stderr}"
    );
}
