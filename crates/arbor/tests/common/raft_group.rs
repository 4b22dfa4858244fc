//! A group of `arbor serve` processes in Raft mode on loopback, for tests and benchmarks.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{free_port, Service};

/// One member: its directory and config are kept so that it can be restarted after a kill.
pub struct Member {
    pub dir: PathBuf,
    pub config: String,
    pub raft: String,
    pub service: Option<Service>,
}

impl Member {
    fn configure(
        dir: &std::path::Path,
        raft_port: u16,
        nodes: &[String],
        poll_seconds: u64,
        extra: &str,
    ) -> Member {
        std::fs::create_dir_all(dir).unwrap();
        let extra = format!(
            r#""RaftEnabled": true,
                "RaftDataDir": "{raft_dir}",
                "RaftBind": "127.0.0.1:{raft_port}",
                "RaftNodes": [{nodes}]{extra}"#,
            raft_dir = dir.join("raft").display(),
            nodes = nodes.join(", "),
        );
        Member {
            dir: dir.to_path_buf(),
            config: super::test_config(dir, poll_seconds, &extra),
            raft: format!("127.0.0.1:{raft_port}"),
            service: None,
        }
    }

    pub fn api(&self) -> String {
        self.service
            .as_ref()
            .expect("member is running")
            .api
            .clone()
    }

    pub fn kill(&mut self) {
        // Dropping the service sends SIGKILL (`Child::kill`) and reaps it.
        self.service = None;
    }

    pub fn start(&mut self) {
        // Fault injection on: tests cut a member's Raft traffic through its Raft port.
        self.service = Some(Service::start_with_env(
            &self.dir,
            &self.config,
            &[("ARBOR_RAFT_FAULTS", "1")],
        ));
    }

    pub fn running(&self) -> bool {
        self.service.is_some()
    }

    pub fn stderr(&self) -> String {
        self.service
            .as_ref()
            .map(|s| s.stderr())
            .unwrap_or_default()
    }
}

pub struct Group {
    _root: tempfile::TempDir,
    pub members: Vec<Member>,
}

impl Group {
    pub fn start(size: usize, extra: &str) -> Group {
        Group::start_polling(size, 1, extra)
    }

    /// As [`Group::start`], polling each instance every `poll_seconds`.
    pub fn start_polling(size: usize, poll_seconds: u64, extra: &str) -> Group {
        let root = tempfile::tempdir().unwrap();
        let raft_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let nodes: Vec<String> = raft_ports
            .iter()
            .map(|p| format!("\"127.0.0.1:{p}\""))
            .collect();
        let extra = if extra.trim().is_empty() {
            String::new()
        } else {
            format!(",\n{extra}")
        };
        let mut members = Vec::new();
        for (index, raft_port) in raft_ports.iter().enumerate() {
            members.push(Member::configure(
                &root.path().join(format!("node{index}")),
                *raft_port,
                &nodes,
                poll_seconds,
                &extra,
            ));
        }
        for member in &mut members {
            member.start();
        }
        Group {
            _root: root,
            members,
        }
    }

    /// Starts one more node whose `RaftNodes` lists the members and itself, as an operator
    /// would before `raft-add-peer`; returns its index.
    pub fn start_new_member(&mut self) -> usize {
        let raft_port = free_port();
        let mut nodes: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("\"{}\"", m.raft))
            .collect();
        nodes.push(format!("\"127.0.0.1:{raft_port}\""));
        let index = self.members.len();
        let dir = self._root.path().join(format!("node{index}"));
        let mut member = Member::configure(&dir, raft_port, &nodes, 1, "");
        member.start();
        self.members.push(member);
        index
    }

    /// Waits until exactly one running member answers leader-check 200; returns its index.
    pub fn leader(&self, deadline: Duration) -> usize {
        self.leader_at(deadline, "/api/leader-check")
    }

    /// As [`Group::leader`], with the leader check at `path` (under a URLPrefix).
    pub fn leader_at(&self, deadline: Duration, path: &str) -> usize {
        let started = Instant::now();
        loop {
            let leaders: Vec<usize> = (0..self.members.len())
                .filter(|&i| self.members[i].running())
                .filter(|&i| get(&self.members[i].api(), path).0 == 200)
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

    pub fn follower_of(&self, leader: usize) -> usize {
        (0..self.members.len())
            .find(|&i| i != leader && self.members[i].running())
            .expect("a running follower")
    }

    /// Each member's log (a killed member's too): the whole file kept in the artifacts
    /// folder, and its last lines without the transport's retry noise, for the test's output.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let text = std::fs::read_to_string(m.dir.join("serve.stderr")).unwrap_or_default();
                let kept =
                    super::artifacts_dir().join(format!("raft-{}-node{i}.log", std::process::id()));
                let _ = std::fs::write(&kept, &text);
                let quiet: String = text
                    .lines()
                    .filter(|l| !l.contains("openraft::") && !l.contains("not delivered"))
                    .collect::<Vec<_>>()
                    .join("\n");
                format!(
                    "--- node {i} (whole log: {}) ---\n{}",
                    kept.display(),
                    tail(&quiet, 40)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A plain HTTP/1.0 request; returns the status and body. `local` asks the node to answer
/// itself (as a forwarded request), which is how a test reads one node's own state.
pub fn request(api: &str, method: &str, path: &str, local: bool) -> (u16, String) {
    let header = [(arbor_http::FORWARDED_HEADER, "test")];
    request_with_headers(api, method, path, if local { &header } else { &[] })
}

/// A plain HTTP/1.0 request with extra headers; returns the status and body.
pub fn request_with_headers(
    api: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let address = api.trim_start_matches("http://");
    let Ok(mut stream) = TcpStream::connect(address) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let header: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
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

pub fn get(api: &str, path: &str) -> (u16, String) {
    request(api, "GET", path, false)
}

pub fn get_local(api: &str, path: &str) -> (u16, String) {
    request(api, "GET", path, true)
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

/// Polls until `check` holds, or panics with `what` and the group's logs.
pub fn wait_until(group: &Group, deadline: Duration, what: &str, mut check: impl FnMut() -> bool) {
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

pub fn instance_path(key: &str) -> String {
    let (host, port) = key.rsplit_once(':').unwrap();
    format!("/api/instance/{host}/{port}")
}

/// Cuts (`true`) or restores a member's Raft traffic, both ways (fault injection).
pub fn isolate(member: &Member, cut: bool) {
    let mode = if cut { "on" } else { "off" };
    let (status, body) = request(
        &format!("http://{}", member.raft),
        "POST",
        &format!("/raft/fault/isolate/{mode}"),
        false,
    );
    assert_eq!(status, 200, "isolate {mode}: {body}");
}

/// A member's acting periods from `/api/raft-status`, as (from, until) in wall-clock ms.
pub fn acting_periods(member: &Member) -> Vec<(i64, i64)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    json(&get(&member.api(), "/api/raft-status").1)["ActingPeriods"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_i64().unwrap_or(now)))
        .collect()
}

/// Sums a counter of a node's own `/metrics` (every line starting with `name`).
pub fn metric(api: &str, name: &str) -> f64 {
    get_local(api, "/metrics")
        .1
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}
