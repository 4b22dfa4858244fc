use arbor_api::{
    ApiResponse, ClusterInfo, HealthStatus, InstanceJson, InstanceKeyJson, ViewContext,
};
use arbor_topology::{render_tree, InstanceKey, Timestamp, Topology};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::{ApiError, AppState};

/// The API router. Every `/api/` path not listed answers a 404 envelope, never a plain-text
/// page, because `orchestrator-client` parses every body as JSON.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/leader-check", get(leader_check))
        .route("/api/leader-check/{code}", get(leader_check_with_code))
        .route("/api/health", get(health))
        .route("/api/status", get(health))
        .route("/api/discover/{host}/{port}", get(discover).post(discover))
        .route("/api/forget/{host}/{port}", get(forget).post(forget))
        .route("/api/instance/{host}/{port}", get(instance))
        .route(
            "/api/instance-replicas/{host}/{port}",
            get(instance_replicas),
        )
        .route("/api/all-instances", get(all_instances))
        .route("/api/clusters", get(clusters))
        .route("/api/clusters-info", get(clusters_info))
        .route("/api/cluster/{hint}", get(cluster))
        .route("/api/cluster-info/{hint}", get(cluster_info))
        .route("/api/master/{hint}", get(cluster_primary))
        .route("/api/topology/{hint}", get(topology))
        .route("/api/topology/{host}/{port}", get(topology_of_instance))
        .fallback(unknown_path)
        .with_state(state)
}

fn parse_key(host: &str, port: &str) -> Result<InstanceKey, ApiError> {
    if host.trim().is_empty() {
        return Err(ApiError::BadRequest("empty host".into()));
    }
    let port: u16 =
        port.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
            ApiError::BadRequest(format!("invalid port {port:?}: expected 1-65535"))
        })?;
    Ok(InstanceKey::new(host, port))
}

fn view<'a>(state: &AppState, topology: &'a Topology) -> ViewContext<'a> {
    ViewContext {
        topology,
        now: Timestamp::now(),
        check_window: state.view.check_window,
        reasonable_lag: state.view.reasonable_lag,
    }
}

async fn leader_check() -> Response {
    // A single node is always its own leader; Raft and lease modes will answer here too.
    (StatusCode::OK, Json("OK")).into_response()
}

async fn leader_check_with_code(Path(code): Path<String>) -> Result<Response, ApiError> {
    code.parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| ApiError::BadRequest(format!("invalid status code {code:?}")))?;
    Ok((StatusCode::OK, Json("OK")).into_response())
}

async fn health(State(state): State<AppState>) -> Json<ApiResponse<HealthStatus>> {
    Json(ApiResponse::ok(
        "Application node is healthy",
        HealthStatus {
            healthy: true,
            hostname: state.view.hostname.clone(),
            is_active_node: true,
            app_version: env!("CARGO_PKG_VERSION").to_string(),
            watched_instances: state.discovery.stats().watched,
        },
    ))
}

async fn discover(
    State(state): State<AppState>,
    Path((host, port)): Path<(String, String)>,
) -> Result<Json<ApiResponse<InstanceJson>>, ApiError> {
    let key = parse_key(&host, &port)?;
    state.discovery.discover(&key).await?;
    let topology = state.topology().await?;
    let record = topology
        .record(&key)
        .ok_or_else(|| ApiError::Internal(format!("{key} vanished after discovery")))?;
    let json = InstanceJson::from_record(record, &view(&state, &topology));
    Ok(Json(ApiResponse::ok(
        format!("Instance discovered: {key}"),
        json,
    )))
}

async fn forget(
    State(state): State<AppState>,
    Path((host, port)): Path<(String, String)>,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    let key = parse_key(&host, &port)?;
    if !state.discovery.forget(&key).await? {
        return Err(ApiError::NotFound(format!("unknown instance {key}")));
    }
    Ok(Json(ApiResponse::ok(
        format!("Instance forgotten: {key}"),
        (&key).into(),
    )))
}

async fn instance(
    State(state): State<AppState>,
    Path((host, port)): Path<(String, String)>,
) -> Result<Json<InstanceJson>, ApiError> {
    let key = parse_key(&host, &port)?;
    let topology = state.topology().await?;
    let record = topology
        .record(&key)
        .ok_or_else(|| ApiError::NotFound(format!("unknown instance {key}")))?;
    Ok(Json(InstanceJson::from_record(
        record,
        &view(&state, &topology),
    )))
}

async fn instance_replicas(
    State(state): State<AppState>,
    Path((host, port)): Path<(String, String)>,
) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let key = parse_key(&host, &port)?;
    let topology = state.topology().await?;
    if topology.record(&key).is_none() {
        return Err(ApiError::NotFound(format!("unknown instance {key}")));
    }
    let view = view(&state, &topology);
    Ok(Json(
        topology
            .replicas_of(&key)
            .into_iter()
            .map(|r| InstanceJson::from_record(r, &view))
            .collect(),
    ))
}

async fn all_instances(State(state): State<AppState>) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let topology = state.topology().await?;
    let view = view(&state, &topology);
    Ok(Json(
        topology
            .records()
            .map(|r| InstanceJson::from_record(r, &view))
            .collect(),
    ))
}

async fn clusters(State(state): State<AppState>) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(state.topology().await?.cluster_names()))
}

async fn clusters_info(State(state): State<AppState>) -> Result<Json<Vec<ClusterInfo>>, ApiError> {
    let topology = state.topology().await?;
    Ok(Json(
        topology
            .cluster_names()
            .iter()
            .map(|name| ClusterInfo::of(&topology, name))
            .collect(),
    ))
}

async fn cluster(
    State(state): State<AppState>,
    Path(hint): Path<String>,
) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let topology = state.topology().await?;
    let name = topology.resolve_cluster_hint(&hint)?;
    let view = view(&state, &topology);
    Ok(Json(
        topology
            .cluster_members(&name)
            .into_iter()
            .map(|r| InstanceJson::from_record(r, &view))
            .collect(),
    ))
}

async fn cluster_info(
    State(state): State<AppState>,
    Path(hint): Path<String>,
) -> Result<Json<ClusterInfo>, ApiError> {
    let topology = state.topology().await?;
    let name = topology.resolve_cluster_hint(&hint)?;
    Ok(Json(ClusterInfo::of(&topology, &name)))
}

async fn cluster_primary(
    State(state): State<AppState>,
    Path(hint): Path<String>,
) -> Result<Json<InstanceJson>, ApiError> {
    let topology = state.topology().await?;
    let name = topology.resolve_cluster_hint(&hint)?;
    let primary = topology
        .cluster_root(&name)
        .ok_or_else(|| ApiError::NotFound(format!("primary of cluster {name} was never read")))?;
    Ok(Json(InstanceJson::from_record(
        primary,
        &view(&state, &topology),
    )))
}

async fn topology(
    State(state): State<AppState>,
    Path(hint): Path<String>,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    let topology = state.topology().await?;
    let name = topology.resolve_cluster_hint(&hint)?;
    Ok(Json(ApiResponse::ok(
        format!("Topology for cluster {name}"),
        render_tree(&topology, &name),
    )))
}

async fn topology_of_instance(
    State(state): State<AppState>,
    Path((host, port)): Path<(String, String)>,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    let key = parse_key(&host, &port)?;
    topology(State(state), Path(key.to_string())).await
}

async fn unknown_path(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("unknown API path {}", uri.path()))
}
