//! The store conformance suite through Raft: every intent written as a command through the
//! log of a group of one and of three members (in-process, on loopback ports), read back from
//! the leader's own store, must behave as it does on SQLite and MySQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_raft::{RaftNode, RaftSettings};
use arbor_store::{SqliteStore, Store};

/// The members of a group (kept running) and their data directories (removed when dropped).
struct Group {
    nodes: Vec<RaftNode>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Drop for Group {
    fn drop(&mut self) {
        for node in &self.nodes {
            let node = node.clone();
            // The runtime may be going away with the test: shut down where it still runs.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move { node.shutdown().await });
            }
        }
    }
}

/// Starts `size` members on fresh ports and returns the group with its leader's store, once
/// the leader has been confirmed by a quorum.
async fn replicated_store(size: usize) -> (Group, Arc<dyn Store>) {
    let addrs: Vec<String> = (0..size)
        .map(|_| format!("127.0.0.1:{}", arbor_sandbox::reserve_port().unwrap()))
        .collect();
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for addr in &addrs {
        let dir = tempfile::tempdir().unwrap();
        let settings = RaftSettings {
            data_dir: dir.path().join("raft"),
            bind: addr.clone(),
            advertise: addr.clone(),
            nodes: addrs.clone(),
            api: format!("http://{addr}/unused"),
            heartbeat: Duration::from_millis(50),
            election_timeout_min: Duration::from_millis(300),
            election_timeout_max: Duration::from_millis(600),
            write_timeout: Duration::from_secs(10),
            tls: None,
            snapshot_every: 10_000,
        };
        let local: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        nodes.push(RaftNode::start(settings, local).await.unwrap());
        dirs.push(dir);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader = loop {
        if let Some(leader) = nodes.iter().find(|n| n.leadership().is_leader()) {
            break leader.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no leader confirmed within 30 s: {:?}",
            nodes.iter().map(|n| n.status()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let store = leader.store();
    (Group { nodes, _dirs: dirs }, store)
}

mod one_member {
    use super::*;
    arbor_store::store_conformance_suite!(replicated guarded replicated_store(1).await);
}

mod three_members {
    use super::*;
    arbor_store::store_conformance_suite!(replicated guarded replicated_store(3).await);
}

/// What a follower's write does: forwarded to the leader, committed, and applied on every
/// member (a follower reads it from its own store once applied there).
#[tokio::test]
async fn a_followers_write_reaches_every_member() {
    use arbor_store::Intents;
    use arbor_topology::{Downtime, Timestamp};
    let (group, _leader_store) = replicated_store(3).await;
    let follower = group
        .nodes
        .iter()
        .find(|n| !n.leadership().is_leader())
        .expect("a follower");
    let key: arbor_topology::InstanceKey = "db9:3306".parse().unwrap();
    let downtime = Downtime {
        key: key.clone(),
        owner: "dba".into(),
        reason: "disk swap".into(),
        begin: Timestamp(1_000),
        end: Timestamp(2_000),
    };
    follower.store().begin_downtime(downtime).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    for node in &group.nodes {
        loop {
            let downtimes = node
                .store()
                .active_downtimes(Timestamp(1_500))
                .await
                .unwrap();
            if downtimes.iter().any(|d| d.key == key) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "member {} never applied the downtime",
                node.id()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
