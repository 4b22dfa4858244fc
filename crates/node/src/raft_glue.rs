//! Where Raft meets the rest of a node. `arbor-raft` knows the store and the topology only; it
//! declares what it needs from recovery and discovery ([`LocalJudge`], an applied-command
//! hook), and recovery declares what it needs from an HA group ([`Leadership`],
//! [`PeerJudges`]). The node that has both joins them here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arbor_discovery::{DiscoveryHandle, Share};
use arbor_raft::{LocalJudge, RaftNode, Verdict};
use arbor_recovery::{Leadership, PeerJudges, PeerVotes, RecoveryEngine};
use arbor_store::Command;
use arbor_topology::InstanceKey;

/// A Raft member's leadership, as recovery and the HTTP layer see it.
pub struct RaftLeads(pub RaftNode);

impl Leadership for RaftLeads {
    fn is_leader(&self) -> bool {
        self.0.leadership().is_leader()
    }

    /// A node that Raft still calls leader but whose lease a quorum did not renew (it lost its
    /// majority) must not answer as leader, nor forward to itself: no leader is known.
    fn leader_api(&self) -> Option<String> {
        match self.0.leader_id() {
            Some(leader) if leader != self.0.id() => self.0.leader_api(),
            _ => None,
        }
    }

    fn is_member_of_group(&self) -> bool {
        true
    }

    fn fencing_token(&self) -> Option<u64> {
        Some(self.0.term())
    }
}

/// The other members' verdicts, asked by the leader before an automated recovery.
struct RaftPeers(RaftNode);

impl PeerJudges for RaftPeers {
    fn judge<'a>(
        &'a self,
        key: &'a InstanceKey,
    ) -> Pin<Box<dyn Future<Output = PeerVotes> + Send + 'a>> {
        Box::pin(async move {
            let asked = self.0.ask_peers(key).await;
            let mut votes = PeerVotes {
                members: asked.members,
                ..Default::default()
            };
            for (addr, verdict) in asked.answers {
                let line = match verdict {
                    Ok(Some((true, code))) => {
                        votes.agreeing += 1;
                        format!("{addr} sees {code}")
                    }
                    Ok(Some((false, code))) => {
                        format!("{addr} sees {code}, not a failure to act on")
                    }
                    Ok(None) => format!("{addr} is not ready to judge"),
                    Err(error) => format!("{addr} did not answer ({error})"),
                };
                votes.details.push(line);
            }
            votes
        })
    }
}

/// This node's recovery engine answering the leader's "do you see this failure too?".
struct EngineJudge(RecoveryEngine);

impl LocalJudge for EngineJudge {
    fn judge<'a>(
        &'a self,
        key: &'a InstanceKey,
    ) -> Pin<Box<dyn Future<Output = Verdict> + Send + 'a>> {
        Box::pin(async move { self.0.judge(key).await.ok() })
    }
}

/// Shares polling with the other members: this member polls its share of the instances and
/// relays its readings to the others; the live members (those heard from lately) are looked
/// at four times a second, so a member that leaves has its share taken over within about
/// two seconds plus one poll interval.
pub fn share_probing(node: &RaftNode, discovery: &DiscoveryHandle) -> tokio::task::JoinHandle<()> {
    let share = Share::new(node.advertise());
    discovery.set_share(share.clone());
    node.enable_reading_relay();
    let relay = node.clone();
    discovery.set_reading_sink(Arc::new(move |outcomes| relay.relay_readings(outcomes)));
    let node = node.clone();
    tokio::spawn(async move {
        loop {
            share.set_live(node.live_members());
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    })
}

/// Joins a Raft member to this node's discovery (keys the group registers or forgets are
/// watched or dropped here too) and recovery (this node judges for the leader, and asks the
/// others when it leads).
pub fn join(node: &RaftNode, discovery: DiscoveryHandle, recovery: &RecoveryEngine) {
    node.on_applied(Arc::new(move |command: &Command| match command {
        Command::RegisterInstance { key, .. } => discovery.watch_now(key),
        Command::ForgetInstance { key } => {
            discovery.unwatch(key);
        }
        _ => {}
    }));
    node.set_judge(Arc::new(EngineJudge(recovery.clone())));
    recovery.set_peer_judges(Arc::new(RaftPeers(node.clone())));
}
