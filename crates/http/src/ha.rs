//! The HA surface: Raft endpoints, leader checks, and forwarding to the leader.
//!
//! A follower answers node-local paths itself (health, status, leader checks, Raft state,
//! metrics, the UI's files) and forwards every other `/api/` request to the leader's API,
//! marked so that the leader never forwards it again. With no leader known it answers 503 with
//! `Retry-After`, which load balancers and `orchestrator-client` retry.

use std::time::Duration;

use arbor_api::ApiResponse;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::registry::{spec, Access, Answer, Api};
use crate::{ApiError, AppState};

/// Set on a forwarded request; a node receiving it answers itself whatever its role.
pub const FORWARDED_HEADER: &str = "x-arbor-forwarded-by";

/// Paths every node answers itself, as orchestrator's "NoProxy" routes.
fn is_node_local(path: &str) -> bool {
    if !path.starts_with("/api/") {
        return true;
    }
    let local_prefixes = [
        "/api/leader-check",
        "/api/health",
        "/api/status",
        "/api/lb-check",
        "/api/_ping",
        "/api/raft-state",
        "/api/raft-leader",
        "/api/raft-health",
        "/api/raft-status",
        "/api/raft-peers",
        "/api/raft-members",
        "/api/grab-election",
        "/api/openapi.json",
        "/api/docs",
        "/api/raft-snapshot",
        "/api/headers",
        "/api/hostname-resolve-cache",
        "/api/reset-hostname-resolve-cache",
        "/api/reload-configuration",
    ];
    local_prefixes.iter().any(|prefix| {
        path == *prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Middleware: forwards to the leader what a follower must not answer.
pub async fn forward_to_leader(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let leadership = state.leadership();
    if !leadership.is_member_of_group()
        || leadership.is_leader()
        || is_node_local(request.uri().path())
        || request.headers().contains_key(FORWARDED_HEADER)
    {
        return next.run(request).await;
    }
    let Some(leader) = leadership.leader_api() else {
        return no_leader();
    };
    match forward(&state, &leader, request).await {
        Ok(response) => response,
        Err(message) => (
            StatusCode::BAD_GATEWAY,
            Json(ApiResponse::error(format!(
                "this node is a follower and the leader at {leader} did not answer: {message}"
            ))),
        )
            .into_response(),
    }
}

fn no_leader() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(ApiResponse::error(
            "no leader is known: the group is electing one, or too few nodes are up to form a \
             majority (Raft), or the backend lease is free (shared backend); retry shortly",
        )),
    )
        .into_response();
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("1"));
    response
}

const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
];

async fn forward(state: &AppState, leader: &str, request: Request) -> Result<Response, String> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .map_err(|e| format!("cannot read the request body: {e}"))?;
    // The path as the client sent it: under a URLPrefix, the nested router sees it stripped.
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|original| original.0.clone())
        .unwrap_or_else(|| parts.uri.clone());
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("{}{path_and_query}", leader.trim_end_matches('/'));
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    let node = HeaderValue::from_str(&state.view.hostname)
        .unwrap_or_else(|_| HeaderValue::from_static("follower"));
    headers.insert(HeaderName::from_static(FORWARDED_HEADER), node);
    if let Some(host) = parts.headers.get("host") {
        headers
            .entry("x-forwarded-host")
            .or_insert_with(|| host.clone());
    }
    // Links the leader builds must point where the client came in, not at the leader.
    headers
        .entry("x-forwarded-proto")
        .or_insert_with(|| HeaderValue::from_static(if state.view.tls { "https" } else { "http" }));
    let response = state
        .forwarder
        .request(parts.method.clone(), url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in response.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != "content-length" {
            out_headers.append(name.clone(), value.clone());
        }
    }
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    let mut answer = Response::new(Body::from(bytes));
    *answer.status_mut() = status;
    *answer.headers_mut() = out_headers;
    Ok(answer)
}

/// The client followers forward with: no proxy from the environment, bounded waits.
pub fn forwarding_client() -> reqwest::Client {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(300))
        .build()
        .expect("an HTTP client always builds")
}

/// Is this node the one that acts? A single node always is.
pub fn is_leader(state: &AppState) -> bool {
    state.leadership().is_leader()
}

pub(crate) fn routes(api: Api) -> Api {
    use Access::{Read, Write};
    api.route(
        spec(
            "/api/grab-election",
            Write,
            Answer::Text,
            "shared backend: this node takes the leader lease now",
        ),
        grab_election,
    )
    .route(
        spec(
            "/api/reelect",
            Write,
            Answer::Text,
            "shared backend: the leader lease is released; the first node to renew takes it",
        ),
        reelect,
    )
    .route(
        spec(
            "/api/raft-state",
            Read,
            Answer::Text,
            "this node's Raft role: Leader, Follower or Candidate",
        ),
        raft_state,
    )
    .route(
        spec(
            "/api/raft-leader",
            Read,
            Answer::Text,
            "the Raft address of the leader",
        ),
        raft_leader,
    )
    .route(
        spec(
            "/api/raft-health",
            Read,
            Answer::Text,
            "200 \"healthy\" when this node is part of a group with a leader",
        ),
        raft_health,
    )
    .route(
        spec(
            "/api/raft-status",
            Read,
            Answer::Object,
            "this node's view of the Raft group: role, term, leader, members",
        ),
        raft_status,
    )
    .route(
        spec(
            "/api/raft-peers",
            Read,
            Answer::Strings,
            "the Raft addresses of the members",
        ),
        raft_peers,
    )
    .route(
        spec(
            "/api/raft-members",
            Read,
            Answer::Object,
            "every member's own view of the group, asked now (for the HA page)",
        ),
        raft_members,
    )
    .route(
        spec(
            "/api/raft-yield/{node}",
            Write,
            Answer::Text,
            "ask member NODE (Raft address or id) to take the lead",
        ),
        raft_yield,
    )
    .route(
        spec(
            "/api/raft-yield-hint/{hint}",
            Write,
            Answer::Text,
            "hand the lead to the one member whose Raft address contains HINT (orchestrator-client's raft-elect-leader)",
        ),
        raft_yield_hint,
    )
    .route(
        spec(
            "/api/raft-snapshot",
            Write,
            Answer::Text,
            "build a snapshot of the replicated state now and purge the log before it",
        ),
        raft_snapshot,
    )
    .route(
        spec(
            "/api/raft-add-peer/{addr}",
            Write,
            Answer::Text,
            "add a member by its Raft address (on the leader)",
        ),
        raft_add_peer,
    )
    .route(
        spec(
            "/api/raft-remove-peer/{addr}",
            Write,
            Answer::Text,
            "remove a member by its Raft address or id (on the leader)",
        ),
        raft_remove_peer,
    )
}

fn lease_of(state: &AppState) -> Result<&arbor_recovery::lease::LeaseElection, ApiError> {
    state.lease.as_deref().ok_or_else(|| {
        ApiError::NotFound(
            "this node does not share a backend with others (BackendDB is not mysql)".into(),
        )
    })
}

async fn grab_election(State(state): State<AppState>) -> Result<Json<String>, ApiError> {
    let lease = lease_of(&state)?;
    lease.grab().await?;
    Ok(Json(format!("{} took the leader lease", lease.node())))
}

async fn reelect(State(state): State<AppState>) -> Result<Json<String>, ApiError> {
    lease_of(&state)?.reelect().await?;
    Ok(Json("the leader lease is released".to_string()))
}

fn raft_of(state: &AppState) -> Result<&arbor_raft::RaftNode, ApiError> {
    state.raft.as_ref().ok_or_else(|| {
        ApiError::NotFound("this node does not run Raft (RaftEnabled is false)".into())
    })
}

async fn raft_state(State(state): State<AppState>) -> Result<Json<String>, ApiError> {
    Ok(Json(raft_of(&state)?.status().state))
}

async fn raft_leader(State(state): State<AppState>) -> Result<Response, ApiError> {
    match raft_of(&state)?.status().leader {
        Some(leader) => Ok(Json(leader).into_response()),
        None => Ok(no_leader()),
    }
}

async fn raft_health(State(state): State<AppState>) -> Result<Response, ApiError> {
    let raft = raft_of(&state)?;
    Ok(if raft.is_healthy() {
        Json("healthy").into_response()
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(ApiResponse::error("unhealthy")),
        )
            .into_response()
    })
}

/// orchestrator's fields first (`RaftBind`, `State`, `Leader`, `Peers`, ...), then arbor's.
pub(crate) fn raft_status_json(raft: &arbor_raft::RaftNode) -> Value {
    let status = raft.status();
    json!({
        "RaftBind": status.bind,
        "RaftAdvertise": status.advertise,
        "State": status.state,
        "Healthy": raft.is_healthy(),
        "IsPartOfQuorum": raft.is_healthy(),
        "Leader": status.leader.clone().unwrap_or_default(),
        "LeaderURI": status.leader_api.clone().unwrap_or_default(),
        "Peers": status.peers.iter().map(|p| p.addr.clone()).collect::<Vec<_>>(),
        "Id": status.id,
        "IsActingLeader": status.is_acting_leader,
        "Term": status.term,
        "LeaderId": status.leader_id,
        "LastLogIndex": status.last_log_index,
        "LastAppliedIndex": status.last_applied_index,
        "SnapshotIndex": status.snapshot_index,
        "PurgedIndex": status.purged_index,
        "MillisSinceQuorumAck": status.millis_since_quorum_ack,
        "HealthyMembers": status.healthy_members,
        "ActingPeriods": raft.acting_periods(),
        "Members": status.peers,
    })
}

async fn raft_status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(raft_status_json(raft_of(&state)?)))
}

async fn raft_peers(State(state): State<AppState>) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(
        raft_of(&state)?
            .status()
            .peers
            .into_iter()
            .map(|p| p.addr)
            .collect(),
    ))
}

async fn raft_members(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let raft = raft_of(&state)?;
    Ok(Json(json!({
        "Self": raft.id(),
        "Members": raft.member_views().await,
    })))
}

fn membership_error(error: arbor_raft::MembershipError) -> ApiError {
    match error {
        arbor_raft::MembershipError::NotLeader(m) => ApiError::Unprocessable(m),
        arbor_raft::MembershipError::BadRequest(m) => ApiError::BadRequest(m),
        arbor_raft::MembershipError::Unreachable(m) => ApiError::Unreachable(m),
        arbor_raft::MembershipError::Failed(m) => ApiError::Internal(m),
    }
}

async fn raft_yield(
    State(state): State<AppState>,
    Path(node): Path<String>,
) -> Result<Json<String>, ApiError> {
    let addr = raft_of(&state)?
        .yield_to(&node)
        .await
        .map_err(membership_error)?;
    Ok(Json(format!("asked {addr} to take the lead")))
}

async fn raft_yield_hint(
    State(state): State<AppState>,
    Path(hint): Path<String>,
) -> Result<Json<String>, ApiError> {
    let raft = raft_of(&state)?;
    let status = raft.status();
    let matching: Vec<&arbor_raft::PeerStatus> = status
        .peers
        .iter()
        .filter(|p| p.addr.contains(hint.as_str()))
        .collect();
    match matching[..] {
        [] => Err(ApiError::NotFound(format!(
            "no member's Raft address contains {hint:?}"
        ))),
        [peer] if status.leader_id == Some(peer.id) => {
            Ok(Json(format!("{} leads already", peer.addr)))
        }
        [peer] => {
            let addr = raft.yield_to(&peer.addr).await.map_err(membership_error)?;
            Ok(Json(format!("asked {addr} to take the lead")))
        }
        _ => Err(ApiError::BadRequest(format!(
            "{hint:?} matches several members ({}): give more of the address",
            matching
                .iter()
                .map(|p| p.addr.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

async fn raft_snapshot(State(state): State<AppState>) -> Result<Json<String>, ApiError> {
    let index = raft_of(&state)?
        .snapshot_now()
        .await
        .map_err(membership_error)?;
    Ok(Json(match index {
        Some(index) => format!("snapshot built up to log index {index}"),
        None => "nothing to snapshot yet".to_string(),
    }))
}

async fn raft_add_peer(
    State(state): State<AppState>,
    Path(addr): Path<String>,
) -> Result<Json<String>, ApiError> {
    let id = raft_of(&state)?
        .add_peer(&addr)
        .await
        .map_err(membership_error)?;
    Ok(Json(format!("added {addr} (id {id})")))
}

async fn raft_remove_peer(
    State(state): State<AppState>,
    Path(addr): Path<String>,
) -> Result<Json<String>, ApiError> {
    let id = raft_of(&state)?
        .remove_peer(&addr)
        .await
        .map_err(membership_error)?;
    Ok(Json(format!("removed {addr} (id {id})")))
}
