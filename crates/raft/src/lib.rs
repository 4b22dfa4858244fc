//! arbor's Raft mode: several arbor nodes agree, through openraft, on every user intent and
//! every piece of recovery bookkeeping, and elect the one node that acts.
//!
//! - [`RaftNode::start`] opens the log under `RaftDataDir` (SQLite), serves the Raft port,
//!   and joins or forms the group listed in `RaftNodes`.
//! - [`RaftNode::store`] is a [`Store`] for the rest of arbor: reads are answered from this
//!   node's own store, intents are written through the log and applied on every node;
//!   observations (instance readings) stay local, since every node probes every server.
//! - [`RaftNode::leadership`] answers "may I act?" only while a quorum has confirmed this
//!   node's leadership within the last election timeout, so a partitioned leader stops acting
//!   before another can be elected.
//!
//! Every `RaftSnapshotEveryEntries` entries a node snapshots the replicated rows into
//! `RaftDataDir` and purges the log before it; a member too far behind gets the snapshot.
//! See `DESIGN.md` beside this file.

// openraft's own error types are large and its traits return them by value.
#![allow(clippy::result_large_err)]

mod leader_watch;
mod lease;
mod log_store;
mod membership;
mod network;
pub mod readings;
mod recover;
mod replicated;
mod state_machine;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor_store::{Store, StoreError};
use arbor_topology::{InstanceKey, Timestamp};
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use lease::keep_lease;
pub use lease::RaftLeadership;
pub use network::Faults;
use network::Network;
pub use recover::{force_single_member, ForcedMembership};
use replicated::ReplicatedStore;
use state_machine::{Shared, StateMachine};

openraft::declare_raft_types!(
    /// arbor's Raft types: commands in, replies out, nodes known by their Raft address.
    pub TypeConfig:
        D = Proposal,
        R = Applied,
);

pub type NodeId = u64;
pub type ArborRaft = openraft::Raft<TypeConfig>;

pub use arbor_store::{Command, Reply};

/// What the Raft log carries: the store's commands, applied on every member in log order, and
/// the group's own bookkeeping. Untagged, so an entry is written as the command it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Proposal {
    Store(Command),
    Group(GroupCommand),
}

/// The group's own bookkeeping, applied beside the store's commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupCommand {
    /// Where a node's HTTP API is reached, for followers proxying to it when it leads.
    AnnounceNode { id: NodeId, api: String },
}

/// What applying a proposal answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    Reply(Reply),
    /// The local store refused the write.
    Failed(String),
}

/// Why a write was not taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum WriteRefused {
    /// This node does not lead (any more): the writer tries the leader; nothing was appended.
    #[error("not the Raft leader: {0}")]
    NotLeader(String),
    /// The leader may have appended it: never retried, so nothing is applied twice.
    #[error("{0}")]
    Failed(String),
}

/// Called with every store command this node applies from the log (discovery watches what
/// the group registers and forgets).
pub type AppliedHook = Arc<dyn Fn(&Command) + Send + Sync>;

/// A member's verdict on a failure: (actionable, the analysis it sees); `None` when it cannot
/// judge yet.
pub type Verdict = Option<(bool, String)>;

/// This node's own fresh verdict on a failure, which the leader asks every member for before an
/// automated recovery: (actionable, the analysis seen). Implemented by what runs recovery.
pub trait LocalJudge: Send + Sync + 'static {
    fn judge<'a>(
        &'a self,
        key: &'a InstanceKey,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Verdict> + Send + 'a>>;
}

/// What the other voting members answered about a failure.
#[derive(Debug, Clone, Default)]
pub struct PeerAnswers {
    /// Voting members, this node included.
    pub members: usize,
    /// Each other voter's Raft address and verdict (`Ok(None)`: not ready to judge).
    pub answers: Vec<(String, Result<Verdict, String>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RaftStartError {
    #[error("RaftDataDir {path}: {message}")]
    DataDir { path: String, message: String },
    #[error("RaftBind {addr}: cannot listen: {message}")]
    Bind { addr: String, message: String },
    #[error("{key}: {message}")]
    Config { key: &'static str, message: String },
    #[error("cannot start Raft: {0}")]
    Raft(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("{0}")]
    NotLeader(String),
    /// The member to add could not be reached or did not catch up; nothing changed.
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Failed(String),
}

/// How a node runs; built from the configuration by the binary.
#[derive(Debug, Clone)]
pub struct RaftSettings {
    pub data_dir: PathBuf,
    /// Where the Raft port listens (`RaftBind`).
    pub bind: String,
    /// Where peers reach this node (`RaftAdvertise`, else `RaftBind`), as `host:port`.
    pub advertise: String,
    /// Every member, `host:port`; this node's `advertise` among them.
    pub nodes: Vec<String>,
    /// This node's API base URL (`HTTPAdvertise`, else derived).
    pub api: String,
    pub heartbeat: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// How long a write waits for a leader before failing.
    pub write_timeout: Duration,
    /// Mutual TLS between members (`RaftUseMutualTLS`); plain HTTP without it.
    pub tls: Option<RaftTls>,
    /// A snapshot is taken every this many log entries, and the log before it purged
    /// (`RaftSnapshotEveryEntries`).
    pub snapshot_every: u64,
}

/// Serves the Raft port's router on a listener (over TLS, as the binary sets it up).
pub type ServeFn = Arc<
    dyn Fn(
            tokio::net::TcpListener,
            axum::Router,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// Mutual TLS on the Raft transport: how the port serves, and how this node calls the others.
#[derive(Clone)]
pub struct RaftTls {
    /// Serves with a certificate and demands one signed by the members' CA.
    pub serve: ServeFn,
    /// Trusts the members' CA and presents this node's certificate.
    pub client: rustls::ClientConfig,
}

impl std::fmt::Debug for RaftTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RaftTls")
    }
}

impl RaftSettings {
    /// (heartbeat, minimum and maximum election timeout). openraft lets a follower elect only
    /// after the leader lease (the maximum) plus a random timeout between the two have passed
    /// without a heartbeat, so with the defaults (50 ms, 200 ms) a dead leader is replaced in
    /// 500 to 600 ms, plus one election round. Cross-DC groups raise them.
    pub fn timers(heartbeat_ms: u64, election_ms: u64) -> (Duration, Duration, Duration) {
        (
            Duration::from_millis(heartbeat_ms),
            Duration::from_millis(election_ms),
            Duration::from_millis(election_ms * 3 / 2),
        )
    }
}

/// How long `raft-add-peer` waits for a new member to catch up before giving up on it.
pub const ADD_PEER_CATCH_UP: Duration = Duration::from_secs(10);

/// A stable id for a member: derived from its address as configured (a hostname stays the same
/// id when its IP changes), so every node computes the same ids from the same `RaftNodes`.
pub fn node_id(addr: &str) -> NodeId {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in addr.trim().to_ascii_lowercase().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    // JSON readers that hold numbers as doubles (browsers) keep ids below 2^53 exact.
    hash >> 11
}

/// A running Raft member. Cheap to clone.
#[derive(Clone)]
pub struct RaftNode {
    inner: Arc<NodeInner>,
}

pub(crate) struct NodeInner {
    id: NodeId,
    raft: ArborRaft,
    settings: RaftSettings,
    shared: Arc<Shared>,
    network: Network,
    faults: Faults,
    store: Arc<ReplicatedStore>,
    leadership: Arc<RaftLeadership>,
    /// The member this node is handing the lead to (0: none): lease renewals pause, and
    /// other members' vote requests are refused (see `yield_to`).
    yielding: Arc<std::sync::atomic::AtomicU64>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// One member as another sees it right now: its own status, fetched from its Raft port.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub id: NodeId,
    pub addr: String,
    pub api: Option<String>,
    pub voter: bool,
    /// Whether it answered, and in how long.
    pub reachable: bool,
    pub round_trip_ms: Option<f64>,
    pub error: Option<String>,
    pub status: Option<RaftStatus>,
}

/// One member as `/api/raft-status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerStatus {
    pub id: NodeId,
    pub addr: String,
    pub api: Option<String>,
    pub voter: bool,
    /// The leader's view: the last log index this member holds (None when unknown).
    pub matched_index: Option<u64>,
}

/// This node's view of the group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RaftStatus {
    pub id: NodeId,
    pub bind: String,
    pub advertise: String,
    /// `Leader`, `Follower`, `Candidate` or `Learner`.
    pub state: String,
    /// Confirmed by a quorum within the lease: this node may act.
    pub is_acting_leader: bool,
    pub term: u64,
    pub leader: Option<String>,
    pub leader_id: Option<NodeId>,
    pub leader_api: Option<String>,
    pub last_log_index: Option<u64>,
    pub last_applied_index: Option<u64>,
    /// The last snapshot's last index, and the last purged one.
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub millis_since_quorum_ack: Option<u64>,
    pub peers: Vec<PeerStatus>,
    /// Members the leader hears from (all members, on the leader; empty elsewhere).
    pub healthy_members: Vec<String>,
}

impl RaftNode {
    /// Opens the log, serves the Raft port and joins the group. `local` is this node's own
    /// store; its replicated part is rebuilt from the log.
    pub async fn start(
        settings: RaftSettings,
        local: Arc<dyn Store>,
    ) -> Result<RaftNode, RaftStartError> {
        let id = node_id(&settings.advertise);
        let members: BTreeMap<NodeId, BasicNode> = members_of(&settings)?;
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| RaftStartError::DataDir {
            path: settings.data_dir.display().to_string(),
            message: format!("cannot create it: {e}"),
        })?;
        check_writable(&settings.data_dir)?;
        let log = log_store::LogStore::open(&settings.data_dir.join("raft.db"))?;
        local.reset_replicated_state().await?;
        let shared = Arc::new(Shared::default());
        let state_machine =
            StateMachine::open(Arc::clone(&local), Arc::clone(&shared), &settings.data_dir).await?;
        let config = openraft::Config {
            cluster_name: "arbor".into(),
            heartbeat_interval: settings.heartbeat.as_millis() as u64,
            election_timeout_min: settings.election_timeout_min.as_millis() as u64,
            election_timeout_max: settings.election_timeout_max.as_millis() as u64,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(settings.snapshot_every),
            // Entries kept behind a snapshot, for members that are only a little behind.
            max_in_snapshot_log_to_keep: settings.snapshot_every.min(1_000),
            ..Default::default()
        }
        .validate()
        .map_err(|e| RaftStartError::Config {
            key: "RaftElectionTimeoutMillis",
            message: e.to_string(),
        })?;
        let faults = Faults::from_env();
        let network = Network::new(
            faults.clone(),
            settings.tls.as_ref().map(|tls| tls.client.clone()),
        );
        let raft = ArborRaft::new(id, Arc::new(config), network.clone(), log, state_machine)
            .await
            .map_err(|e| RaftStartError::Raft(e.to_string()))?;

        let listener = tokio::net::TcpListener::bind(&settings.bind)
            .await
            .map_err(|e| RaftStartError::Bind {
                addr: settings.bind.clone(),
                message: e.to_string(),
            })?;
        let yielding = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let leadership = Arc::new(RaftLeadership::new());
        let store = Arc::new(ReplicatedStore::new(
            Arc::clone(&local),
            raft.clone(),
            id,
            network.clone(),
            settings.write_timeout,
        ));
        let node = RaftNode {
            inner: Arc::new(NodeInner {
                id,
                raft: raft.clone(),
                settings: settings.clone(),
                shared,
                network,
                faults: faults.clone(),
                store: Arc::clone(&store),
                leadership: Arc::clone(&leadership),
                yielding: Arc::clone(&yielding),
                tasks: Mutex::new(Vec::new()),
            }),
        };

        let _ = node.inner.shared.node.set(Arc::downgrade(&node.inner));
        let write_store = Arc::clone(&store);
        let send_network = node.inner.network.clone();
        let relay = tokio::spawn(readings::send_loop(
            raft.clone(),
            id,
            Arc::new(move |addr, batch| {
                let network = send_network.clone();
                Box::pin(async move { network::send_readings(&network, &addr, &batch).await })
            }),
            Arc::clone(&node.inner.shared.relay),
        ));
        let router = network::router(
            raft.clone(),
            Arc::clone(&node.inner.shared),
            faults,
            Arc::new(move |command| {
                let store = Arc::clone(&write_store);
                Box::pin(async move { store.write_as_leader(command).await })
            }),
            local,
        );
        let serve_tls = settings.tls.as_ref().map(|tls| Arc::clone(&tls.serve));
        let server = tokio::spawn(async move {
            match serve_tls {
                Some(serve) => serve(listener, router).await,
                None => {
                    if let Err(error) = axum::serve(listener, router).await {
                        tracing::error!(%error, "the Raft port stopped serving");
                    }
                }
            }
        });

        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| RaftStartError::Raft(e.to_string()))?;
        let running_group = if initialized {
            None
        } else {
            running_group(&node.inner.network, &members, id).await
        };
        match running_group {
            // A new member of a group that already runs must not form one of its own: it would
            // stand for election with an empty log, raising terms and unsettling the leader.
            // It waits to be added (`raft-add-peer`) and catches up from the log.
            Some(peer) => tracing::info!(
                id, %peer,
                "a Raft group already runs; waiting to be added to it (raft-add-peer)"
            ),
            None if initialized => {}
            None => match raft.initialize(members).await {
                Ok(()) => tracing::info!(id, "formed the Raft group"),
                // Another member initialized it first with the same list: fine.
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(error) => return Err(RaftStartError::Raft(error.to_string())),
            },
        }

        let lease_task = tokio::spawn(keep_lease(
            raft.clone(),
            leadership,
            yielding,
            settings.heartbeat,
            settings.election_timeout_min,
        ));
        let watch = tokio::spawn(leader_watch::watch_leader(
            raft.clone(),
            id,
            node.inner.faults.clone(),
        ));
        let announce = {
            let node = node.clone();
            tokio::spawn(async move { node.announce().await })
        };
        node.inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend([server, lease_task, announce, watch, relay]);
        Ok(node)
    }

    /// Publishes this node's API address through the log, retrying until a leader takes it.
    async fn announce(&self) {
        let command = Proposal::Group(GroupCommand::AnnounceNode {
            id: self.inner.id,
            api: self.inner.settings.api.clone(),
        });
        loop {
            match self.inner.store.write(command.clone()).await {
                Ok(_) => return,
                Err(error) => tracing::debug!(%error, "cannot announce this node yet"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// The store the rest of arbor uses in Raft mode.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.inner.store) as Arc<dyn Store>
    }

    pub fn leadership(&self) -> Arc<RaftLeadership> {
        Arc::clone(&self.inner.leadership)
    }

    /// The current term: grows with every election, so it fences what a former leader does.
    pub fn term(&self) -> u64 {
        self.inner.raft.metrics().borrow().current_term
    }

    /// Lets this node answer the leader's "do you see this failure too?" (set once).
    pub fn set_judge(&self, judge: Arc<dyn LocalJudge>) {
        let _ = self.inner.shared.judge.set(judge);
    }

    /// Shares probing: from now on this member sends its own readings (queued with
    /// [`Self::relay_readings`]) to the others, and signs of life with them.
    pub fn enable_reading_relay(&self) {
        self.inner.shared.relay.enable();
    }

    /// Queues this member's own readings for the other members.
    pub fn relay_readings(&self, outcomes: &[arbor_store::CheckOutcome]) {
        self.inner.shared.relay.queue(outcomes);
    }

    /// The Raft addresses of the members that share probing now: this one, and the others
    /// heard from within [`readings::LIVE_WINDOW`].
    pub fn live_members(&self) -> Vec<String> {
        let heard = self.inner.shared.relay.heard_lately();
        let metrics = self.metrics();
        let mut live: Vec<String> = metrics
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| **id == self.inner.id || heard.contains(id))
            .map(|(_, node)| node.addr.clone())
            .collect();
        if !live.contains(&self.inner.settings.advertise) {
            live.push(self.inner.settings.advertise.clone());
        }
        live
    }

    /// This member's Raft address, as the others know it.
    pub fn advertise(&self) -> &str {
        &self.inner.settings.advertise
    }

    /// Called with every store command applied from the log from now on (set once).
    pub fn on_applied(&self, hook: AppliedHook) {
        let _ = self.inner.shared.applied.set(hook);
    }

    pub fn is_leader(&self) -> bool {
        self.inner.leadership.is_leader()
    }

    /// The member Raft currently calls leader, if any (which may be this node without a
    /// confirmed lease).
    pub fn leader_id(&self) -> Option<NodeId> {
        self.inner.raft.metrics().borrow().current_leader
    }

    /// When this node could act as leader, in wall-clock milliseconds (see
    /// [`RaftLeadership::acting_periods`]).
    pub fn acting_periods(&self) -> Vec<(i64, Option<i64>)> {
        self.inner.leadership.acting_periods()
    }

    fn metrics(&self) -> openraft::RaftMetrics<NodeId, BasicNode> {
        self.inner.raft.metrics().borrow().clone()
    }

    /// The leader's API base URL, when a leader is known: what it announced, else derived from
    /// its Raft host and this node's API port and scheme.
    pub fn leader_api(&self) -> Option<String> {
        let metrics = self.metrics();
        let leader = metrics.current_leader?;
        if let Some(api) = self.inner.shared.api_of(leader) {
            return Some(api);
        }
        let node = metrics.membership_config.membership().get_node(&leader)?;
        Some(derive_api(&node.addr, &self.inner.settings.api))
    }

    pub fn status(&self) -> RaftStatus {
        let metrics = self.metrics();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let replication = metrics.replication.clone().unwrap_or_default();
        let peers: Vec<PeerStatus> = membership
            .nodes()
            .map(|(id, node)| PeerStatus {
                id: *id,
                addr: node.addr.clone(),
                api: self.inner.shared.api_of(*id),
                voter: voters.contains(id),
                matched_index: replication
                    .get(id)
                    .and_then(|m| m.as_ref().map(|log_id| log_id.index)),
            })
            .collect();
        let leader_addr = metrics
            .current_leader
            .and_then(|l| membership.get_node(&l).map(|n| n.addr.clone()));
        let healthy_members = if metrics.state == ServerState::Leader {
            let last = metrics.last_log_index.unwrap_or(0);
            peers
                .iter()
                .filter(|p| {
                    p.id == self.inner.id || p.matched_index.is_some_and(|m| m + 100 >= last)
                })
                .map(|p| p.addr.clone())
                .collect()
        } else {
            Vec::new()
        };
        RaftStatus {
            id: self.inner.id,
            bind: self.inner.settings.bind.clone(),
            advertise: self.inner.settings.advertise.clone(),
            state: format!("{:?}", metrics.state),
            is_acting_leader: self.is_leader(),
            term: metrics.current_term,
            leader: leader_addr,
            leader_id: metrics.current_leader,
            leader_api: self.leader_api(),
            last_log_index: metrics.last_log_index,
            last_applied_index: metrics.last_applied.map(|l| l.index),
            snapshot_index: metrics.snapshot.map(|l| l.index),
            purged_index: metrics.purged.map(|l| l.index),
            millis_since_quorum_ack: metrics.millis_since_quorum_ack,
            peers,
            healthy_members,
        }
    }

    /// Every member's own view, asked now over the Raft port (this node's without a call).
    pub async fn member_views(&self) -> Vec<MemberView> {
        let own = self.status();
        let asks = own.peers.iter().map(|peer| {
            let own = own.clone();
            async move {
                let started = Instant::now();
                let answer = if peer.id == self.inner.id {
                    Ok(own)
                } else {
                    network::fetch_status(&self.inner.network, &peer.addr).await
                };
                let elapsed = started.elapsed().as_secs_f64() * 1000.0;
                let (status, error) = match answer {
                    Ok(status) => (Some(status), None),
                    Err(error) => (None, Some(error)),
                };
                MemberView {
                    id: peer.id,
                    addr: peer.addr.clone(),
                    api: peer.api.clone(),
                    voter: peer.voter,
                    reachable: status.is_some(),
                    round_trip_ms: status.is_some().then_some(elapsed),
                    error,
                    status,
                }
            }
        });
        futures_util::future::join_all(asks).await
    }

    /// Healthy: part of a group that has a leader this node hears from, and not cut off.
    pub fn is_healthy(&self) -> bool {
        let metrics = self.metrics();
        !self.inner.faults.isolated()
            && metrics.running_state.is_ok()
            && metrics.current_leader.is_some()
            && (metrics.state != ServerState::Leader || self.is_leader())
    }

    pub async fn shutdown(&self) {
        let _ = self.inner.raft.shutdown().await;
    }
}

impl RaftNode {
    /// Asks every other voting member to look at `key` afresh and give its verdict.
    pub async fn ask_peers(&self, key: &InstanceKey) -> PeerAnswers {
        let status = self.status();
        let others: Vec<&PeerStatus> = status
            .peers
            .iter()
            .filter(|p| p.voter && p.id != self.inner.id)
            .collect();
        let asks = others.iter().map(|peer| async move {
            let verdict = network::ask_judge(&self.inner.network, &peer.addr, key).await;
            (peer.addr.clone(), verdict)
        });
        PeerAnswers {
            members: others.len() + 1,
            answers: futures_util::future::join_all(asks).await,
        }
    }
}

/// A member (other than `me`) that reports a group with a log: the group already runs.
async fn running_group(
    network: &Network,
    members: &BTreeMap<NodeId, BasicNode>,
    me: NodeId,
) -> Option<String> {
    let asks = members
        .iter()
        .filter(|(id, _)| **id != me)
        .map(|(_, node)| async move {
            network::fetch_status(network, &node.addr)
                .await
                .ok()
                .filter(|status| status.last_log_index.is_some())
                .map(|_| node.addr.clone())
        });
    futures_util::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .next()
}

fn members_of(settings: &RaftSettings) -> Result<BTreeMap<NodeId, BasicNode>, RaftStartError> {
    let mut nodes = settings.nodes.clone();
    if nodes.is_empty() {
        nodes.push(settings.advertise.clone());
    }
    if !nodes.iter().any(|n| n == &settings.advertise) {
        return Err(RaftStartError::Config {
            key: "RaftNodes",
            message: format!(
                "this node's address {} (RaftAdvertise, else RaftBind) is not listed in {:?}",
                settings.advertise, settings.nodes
            ),
        });
    }
    let mut members = BTreeMap::new();
    for addr in nodes {
        let id = node_id(&addr);
        if let Some(previous) = members.insert(id, BasicNode { addr: addr.clone() }) {
            return Err(RaftStartError::Config {
                key: "RaftNodes",
                message: format!(
                    "{addr} is listed twice (or collides with {})",
                    previous.addr
                ),
            });
        }
    }
    Ok(members)
}

fn check_writable(dir: &std::path::Path) -> Result<(), RaftStartError> {
    let probe = dir.join(".arbor-write-test");
    std::fs::write(&probe, b"ok")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| RaftStartError::DataDir {
            path: dir.display().to_string(),
            message: format!("not writable: {e}"),
        })
}

/// `http://HOST:PORT` from a Raft address's host and the scheme and port of `own_api`.
fn derive_api(raft_addr: &str, own_api: &str) -> String {
    let host = raft_addr
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(raft_addr);
    let (scheme, rest) = own_api.split_once("://").unwrap_or(("http", own_api));
    let port = rest
        .trim_end_matches('/')
        .rsplit_once(':')
        .map(|(_, p)| p)
        .unwrap_or("3000");
    format!("{scheme}://{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(node_id("db-arbor-1:10008"), node_id("DB-arbor-1:10008 "));
        assert_ne!(node_id("10.0.0.1:10008"), node_id("10.0.0.2:10008"));
        assert!(node_id("10.0.0.1:10008") < (1 << 53));
    }

    #[test]
    fn a_leader_api_is_derived_from_its_raft_host() {
        assert_eq!(
            derive_api("10.0.0.3:10008", "https://10.0.0.1:3000"),
            "https://10.0.0.3:3000"
        );
        assert_eq!(
            derive_api("db3:10008", "http://db1:8080/"),
            "http://db3:8080"
        );
    }
}
