//! The Raft transport: JSON over HTTP on the Raft port, client (reqwest) and server (axum).
//!
//! Besides the three Raft RPCs the server takes writes a follower forwards to the leader
//! (`/raft/write`) and a request to stand for election (`/raft/elect`, for `raft-yield`).
//! With `ARBOR_RAFT_FAULTS=1` in its environment a node also obeys `/raft/fault/isolate/on|off`,
//! which drops all its Raft traffic both ways: the test kit's partition.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use arbor_topology::InstanceKey;

use crate::state_machine::Shared;
use crate::{Applied, ArborRaft, NodeId, Proposal, TypeConfig, WriteRefused};

/// Whether this node's Raft traffic is cut (fault injection for tests).
#[derive(Clone, Default)]
pub struct Faults {
    enabled: bool,
    isolated: Arc<AtomicBool>,
}

impl Faults {
    pub fn from_env() -> Faults {
        Faults {
            enabled: std::env::var("ARBOR_RAFT_FAULTS").is_ok_and(|v| v == "1"),
            isolated: Arc::default(),
        }
    }

    pub fn isolated(&self) -> bool {
        self.isolated.load(Ordering::Relaxed)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Isolated(&'static str);

/// Makes connections to peers; one HTTP client (and its connection pool) for all of them.
#[derive(Clone)]
pub struct Network {
    client: reqwest::Client,
    /// `https` with mutual TLS between members, else `http`.
    scheme: &'static str,
    faults: Faults,
}

impl Network {
    /// With `tls`, members are reached over https and present this node's certificate.
    pub fn new(faults: Faults, tls: Option<rustls::ClientConfig>) -> Network {
        // reqwest builds its TLS config even for plain HTTP; ring is the tree's one provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_millis(500));
        let (builder, scheme) = match tls {
            Some(config) => (builder.use_preconfigured_tls(config), "https"),
            None => (builder, "http"),
        };
        let client = builder
            .build()
            .expect("an HTTP client with a checked TLS config builds");
        Network {
            client,
            scheme,
            faults,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        Connection {
            network: self.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

pub struct Connection {
    network: Network,
    target: NodeId,
    addr: String,
}

impl Connection {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        if self.network.faults.isolated() {
            return Err(RPCError::Unreachable(Unreachable::new(&Isolated(
                "Raft traffic of this node is cut (fault injection)",
            ))));
        }
        let url = format!("{}://{}/raft/{path}", self.network.scheme, self.addr);
        let response = self
            .network
            .client
            .post(url)
            .json(request)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        let result: Result<Resp, RaftError<NodeId, E>> = response
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("append", &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call("snapshot", &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("vote", &rpc, option.hard_ttl()).await
    }
}

/// Sends a write to the leader's Raft port, which applies it and answers the reply.
pub async fn forward_write(
    network: &Network,
    leader_addr: &str,
    command: &Proposal,
    timeout: Duration,
) -> Result<Result<Applied, WriteRefused>, String> {
    post_to_member(network, leader_addr, "/raft/write", command, timeout)
        .await?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// POSTs `body` to `path` on a member's Raft port within `timeout`: the answer, unless the
/// request failed or this node's Raft traffic is cut.
async fn post_to_member(
    network: &Network,
    addr: &str,
    path: &str,
    body: &impl Serialize,
    timeout: Duration,
) -> Result<reqwest::Response, String> {
    if network.faults.isolated() {
        return Err("Raft traffic of this node is cut (fault injection)".into());
    }
    network
        .client
        .post(format!("{}://{addr}{path}", network.scheme))
        .json(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| e.to_string())
}

/// Sends a batch of this member's readings to a member's Raft port.
pub async fn send_readings(
    network: &Network,
    addr: &str,
    batch: &crate::readings::Batch,
) -> Result<(), String> {
    let response = post_to_member(
        network,
        addr,
        "/raft/readings",
        batch,
        Duration::from_secs(1),
    )
    .await?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
}

/// Asks a node to stand for election now.
pub async fn request_election(network: &Network, addr: &str) -> Result<(), String> {
    let response = network
        .client
        .post(format!("{}://{addr}/raft/elect", network.scheme))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(response.text().await.unwrap_or_default())
    }
}

#[derive(Clone)]
struct ServerState {
    raft: ArborRaft,
    shared: Arc<Shared>,
    faults: Faults,
    write: Arc<dyn Fn(Proposal) -> WriteFuture + Send + Sync>,
    /// This member's own store, where other members' readings are recorded.
    local: Arc<dyn arbor_store::Store>,
}

type WriteFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Applied, WriteRefused>> + Send>>;

/// The largest request body the Raft port takes.
pub const RAFT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The routes of the Raft port.
pub fn router(
    raft: ArborRaft,
    shared: Arc<Shared>,
    faults: Faults,
    write: Arc<dyn Fn(Proposal) -> WriteFuture + Send + Sync>,
    local: Arc<dyn arbor_store::Store>,
) -> Router {
    let state = ServerState {
        raft,
        shared,
        faults,
        write,
        local,
    };
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/write", post(write_route))
        .route("/raft/elect", post(elect))
        .route("/raft/judge", post(judge))
        .route("/raft/readings", post(readings))
        .route("/raft/status", axum::routing::get(status))
        .route("/raft/fault/isolate/{mode}", post(isolate))
        // Snapshot chunks (openraft sends up to 3 MiB), log entries and readings batches are
        // larger than axum's 2 MB default; members are trusted peers (mutual TLS when asked).
        .layer(axum::extract::DefaultBodyLimit::max(RAFT_BODY_LIMIT))
        .with_state(state)
}

fn cut(state: &ServerState) -> Option<Response> {
    state.faults.isolated().then(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Raft traffic of this node is cut (fault injection)",
        )
            .into_response()
    })
}

async fn append(
    State(state): State<ServerState>,
    Json(rpc): Json<AppendEntriesRequest<TypeConfig>>,
) -> Response {
    if let Some(cut) = cut(&state) {
        return cut;
    }
    Json(state.raft.append_entries(rpc).await).into_response()
}

async fn vote(State(state): State<ServerState>, Json(rpc): Json<VoteRequest<NodeId>>) -> Response {
    if let Some(cut) = cut(&state) {
        return cut;
    }
    // A leader handing the lead over votes for the member it hands it to and no other.
    let yielding_to = state
        .shared
        .node
        .get()
        .and_then(|node| node.upgrade())
        .map_or(0, |node| {
            node.yielding.load(std::sync::atomic::Ordering::Relaxed)
        });
    if yielding_to != 0 && rpc.vote.leader_id.node_id != yielding_to {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("this member is handing the lead to member {yielding_to}"),
        )
            .into_response();
    }
    Json(state.raft.vote(rpc).await).into_response()
}

async fn snapshot(
    State(state): State<ServerState>,
    Json(rpc): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Response {
    if let Some(cut) = cut(&state) {
        return cut;
    }
    Json(state.raft.install_snapshot(rpc).await).into_response()
}

async fn write_route(State(state): State<ServerState>, Json(command): Json<Proposal>) -> Response {
    if let Some(cut) = cut(&state) {
        return cut;
    }
    Json((state.write)(command).await).into_response()
}

/// This node's fresh verdict on a failure the leader is about to recover: (actionable,
/// analysis). `None` while its recovery engine is not running yet, or cannot judge.
async fn judge(State(state): State<ServerState>, Json(key): Json<InstanceKey>) -> Response {
    if let Some(cut) = cut(&state) {
        return cut;
    }
    let verdict: Option<(bool, String)> = match state.shared.judge.get() {
        Some(judge) => judge.judge(&key).await,
        None => None,
    };
    Json(verdict).into_response()
}

/// Another member's readings: recorded in this member's own store, and a sign that it lives.
async fn readings(
    State(state): State<ServerState>,
    Json(batch): Json<crate::readings::Batch>,
) -> Response {
    if let Some(cut) = cut(&state) {
        return cut;
    }
    state.shared.relay.heard_from(batch.from);
    if !batch.outcomes.is_empty() {
        if let Err(error) = state.local.record_checks(batch.outcomes).await {
            tracing::warn!(%error, from = batch.from, "cannot record another member's readings");
            return (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response();
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn status(State(state): State<ServerState>) -> Response {
    if let Some(cut) = cut(&state) {
        return cut;
    }
    match state.shared.node.get().and_then(|node| node.upgrade()) {
        Some(node) => Json(crate::RaftNode { inner: node }.status()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response(),
    }
}

/// A member's own status, from its Raft port.
pub async fn fetch_status(network: &Network, addr: &str) -> Result<crate::RaftStatus, String> {
    if network.faults.isolated() {
        return Err("Raft traffic of this node is cut (fault injection)".into());
    }
    let response = network
        .client
        .get(format!("{}://{addr}/raft/status", network.scheme))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    response.json().await.map_err(|e| e.to_string())
}

/// Asks the member at `addr` for its verdict on `key`.
pub async fn ask_judge(
    network: &Network,
    addr: &str,
    key: &InstanceKey,
) -> Result<Option<(bool, String)>, String> {
    post_to_member(network, addr, "/raft/judge", key, Duration::from_secs(5))
        .await?
        .json()
        .await
        .map_err(|e| e.to_string())
}

async fn elect(State(state): State<ServerState>) -> Response {
    match state.raft.trigger().elect().await {
        Ok(()) => (StatusCode::OK, "election started").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn isolate(State(state): State<ServerState>, Path(mode): Path<String>) -> Response {
    if !state.faults.enabled {
        return (
            StatusCode::FORBIDDEN,
            "fault injection is off (start the node with ARBOR_RAFT_FAULTS=1)",
        )
            .into_response();
    }
    let on = match mode.as_str() {
        "on" => true,
        "off" => false,
        _ => return (StatusCode::BAD_REQUEST, "expected on or off").into_response(),
    };
    state.faults.isolated.store(on, Ordering::Relaxed);
    (StatusCode::OK, if on { "isolated" } else { "connected" }).into_response()
}
