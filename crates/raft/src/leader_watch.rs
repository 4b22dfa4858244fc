//! A dead leader is news at once, as a dead MySQL primary is to arbor's primary watcher.
//!
//! Every follower holds one idle TCP connection to the leader's Raft port. When the leader's
//! process dies, its kernel closes that connection, and a new one is refused: the leader is
//! gone, not merely slow or cut off. The follower with the lowest id among the remaining voters
//! then stands for election at once, and again every few milliseconds until a leader emerges,
//! instead of waiting for its election timer to run out and for a first, rejected, round.
//! (Only one member does, so that two candidates never split the vote.)
//!
//! Nothing else changes: a partition (no answer, no refusal) is left to the election timers,
//! which safety needs; and the other voters still refuse to vote while the dead leader's lease
//! runs (openraft grants no vote within `election_timeout_max` of a heartbeat), so the new
//! leader is elected when that lease ends, not before. A false alarm (a leader whose port
//! refuses while it still sends heartbeats) costs a change of leader, never two leaders.

use std::time::{Duration, Instant};

use openraft::ServerState;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::network::Faults;
use crate::{ArborRaft, NodeId};

/// How often the chosen follower stands again while no leader emerges.
const RETRY: Duration = Duration::from_millis(25);
/// How long it keeps trying before leaving it to the election timers.
const GIVE_UP: Duration = Duration::from_secs(2);

/// The leader this node follows: its id and Raft address.
fn followed(raft: &ArborRaft, me: NodeId) -> Option<(NodeId, String)> {
    let metrics = raft.metrics();
    let metrics = metrics.borrow();
    if metrics.state != ServerState::Follower {
        return None;
    }
    let leader = metrics.current_leader.filter(|l| *l != me)?;
    let addr = metrics
        .membership_config
        .membership()
        .get_node(&leader)?
        .addr
        .clone();
    Some((leader, addr))
}

/// Whether this node is the one to stand when `leader` is gone: the lowest id among the other
/// voters.
fn first_to_stand(raft: &ArborRaft, me: NodeId, leader: NodeId) -> bool {
    let metrics = raft.metrics();
    let metrics = metrics.borrow();
    let lowest = metrics
        .membership_config
        .membership()
        .voter_ids()
        .filter(|id| *id != leader)
        .min();
    lowest == Some(me)
}

pub(crate) async fn watch_leader(raft: ArborRaft, me: NodeId, faults: Faults) {
    loop {
        let Some((leader, addr)) = followed(&raft, me) else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if faults.isolated() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        match tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(&addr)).await {
            Ok(Ok(stream)) => hold(&raft, me, leader, stream).await,
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                tracing::info!(leader, %addr, "the Raft leader's port refuses connections: it is gone");
                if first_to_stand(&raft, me, leader) {
                    stand(&raft, me, leader).await;
                } else {
                    // Another member stands; this one waits for the outcome.
                    wait_for_change(&raft, me, leader, GIVE_UP).await;
                }
            }
            // Unreachable or slow: a partition, which the election timers decide.
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Holds the connection until it closes or the leader changes.
async fn hold(raft: &ArborRaft, me: NodeId, leader: NodeId, mut stream: TcpStream) {
    let mut buffer = [0u8; 256];
    let mut changes = raft.metrics();
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return,
                // The server said something (a timeout answer): read on until it closes.
                Ok(_) => continue,
            },
            changed = changes.changed() => {
                if changed.is_err() || followed(raft, me).map(|(l, _)| l) != Some(leader) {
                    return;
                }
            }
        }
    }
}

/// Stands for election until another leader than `gone` is known or this node leads.
async fn stand(raft: &ArborRaft, me: NodeId, gone: NodeId) {
    let started = Instant::now();
    while started.elapsed() < GIVE_UP && !moved_on(raft, me, gone) {
        if let Err(error) = raft.trigger().elect().await {
            tracing::warn!(%error, "cannot stand for election");
            return;
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn wait_for_change(raft: &ArborRaft, me: NodeId, gone: NodeId, within: Duration) {
    let started = Instant::now();
    while started.elapsed() < within && !moved_on(raft, me, gone) {
        tokio::time::sleep(RETRY).await;
    }
}

/// A leader other than `gone` is known, or this node leads.
fn moved_on(raft: &ArborRaft, me: NodeId, gone: NodeId) -> bool {
    let metrics = raft.metrics();
    let metrics = metrics.borrow();
    metrics.state == ServerState::Leader
        || metrics
            .current_leader
            .is_some_and(|leader| leader != gone && leader != me)
}
