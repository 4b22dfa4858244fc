use std::sync::{Arc, OnceLock};

use arbor_api::{
    ApiResponse, ClusterInfo, HealthStatus, InstanceJson, InstanceKeyJson, ReplicationAnalysisJson,
};
use arbor_topology::{InstanceRecord, Topology};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

use crate::params::{HintPath, KeyPath};
use crate::registry::{spec, Access, Answer, Api, RouteSpec};
use crate::wire::view;
use crate::{ApiError, AppState};

/// The whole HTTP surface: the API (every route described in the returned list), `/metrics`
/// and the web UI. Unknown `/api/` paths and wrong methods answer an envelope, never a
/// plain-text page, because `orchestrator-client` parses every body as JSON.
pub fn router_with_specs(state: AppState) -> (Router, Vec<RouteSpec>) {
    use Access::{Read, Write};
    use Answer::*;
    let openapi: Arc<OnceLock<serde_json::Value>> = Arc::new(OnceLock::new());
    let openapi_for_handler = Arc::clone(&openapi);
    let api = Api::new(state.clone())
        .route(
            spec(
                "/api/leader-check",
                Read,
                Text,
                "200 \"OK\" on the leader, 404 \"Not leader\" elsewhere",
            ),
            leader_check,
        )
        .route(
            spec(
                "/api/leader-check/{code}",
                Read,
                Text,
                "as leader-check, answering CODE instead of 404 on non-leaders",
            ),
            leader_check_with_code,
        )
        .route(
            spec(
                "/api/routed-leader-check",
                Read,
                Text,
                "leader-check answered by the leader, through any node",
            ),
            leader_check,
        )
        .route(
            spec(
                "/api/health",
                Read,
                Envelope("HealthStatus"),
                "health of this node",
            ),
            health,
        )
        .route(
            spec(
                "/api/status",
                Read,
                Envelope("HealthStatus"),
                "health of this node (orchestrator's StatusEndpoint)",
            ),
            health,
        )
        .route(
            spec(
                "/api/discover/{host}/{port}",
                Write,
                Envelope("Instance"),
                "read a server now and watch it and its topology",
            ),
            discover,
        )
        .route(
            spec(
                "/api/async-discover/{host}/{port}",
                Write,
                Envelope("Null"),
                "start discovering a server and return at once",
            ),
            async_discover,
        )
        .route(
            spec(
                "/api/forget/{host}/{port}",
                Write,
                Envelope("InstanceKey"),
                "stop watching a server and remove what is known of it",
            ),
            forget,
        )
        .route(
            spec(
                "/api/forget-cluster/{hint}",
                Write,
                Envelope("InstanceKeys"),
                "forget every member of a cluster",
            ),
            forget_cluster,
        )
        .route(
            spec(
                "/api/instance/{host}/{port}",
                Read,
                Instance,
                "what arbor knows of one server",
            ),
            instance,
        )
        .route(
            spec(
                "/api/instance-replicas/{host}/{port}",
                Read,
                Instances,
                "direct replicas of a server",
            ),
            instance_replicas,
        )
        .route(
            spec("/api/all-instances", Read, Instances, "every known server"),
            all_instances,
        )
        .route(
            RouteSpec {
                query: &[(
                    "s",
                    true,
                    "text to look for in keys, host names, versions and cluster names",
                )],
                ..spec("/api/search", Read, Instances, "servers matching a text")
            },
            search,
        )
        .route(
            spec(
                "/api/masters",
                Read,
                Instances,
                "the primary of every cluster",
            ),
            primaries,
        )
        .route(
            spec(
                "/api/problems",
                Read,
                InstancesOrNull,
                "servers with problems (null when none, as orchestrator answers)",
            ),
            problems,
        )
        .route(
            spec(
                "/api/problems/{hint}",
                Read,
                InstancesOrNull,
                "servers with problems in one cluster",
            ),
            cluster_problems,
        )
        .route(
            spec(
                "/api/replication-analysis",
                Read,
                Envelope("ReplicationAnalyses"),
                "current failure analyses of every cluster",
            ),
            replication_analysis,
        )
        .route(
            spec(
                "/api/replication-analysis/{hint}",
                Read,
                Envelope("ReplicationAnalyses"),
                "current failure analyses of one cluster",
            ),
            cluster_replication_analysis,
        )
        .route(
            spec(
                "/api/replication-analysis/instance/{host}/{port}",
                Read,
                Envelope("ReplicationAnalyses"),
                "current failure analysis of one instance",
            ),
            instance_replication_analysis,
        )
        .route(
            spec("/api/clusters", Read, Strings, "cluster names"),
            clusters,
        )
        .route(
            spec(
                "/api/clusters-info",
                Read,
                ClusterInfos,
                "every cluster with its alias and counts",
            ),
            clusters_info,
        )
        .route(
            spec(
                "/api/cluster/{hint}",
                Read,
                Instances,
                "members of a cluster (by name, alias or member host:port)",
            ),
            cluster,
        )
        .route(
            spec(
                "/api/cluster-info/{hint}",
                Read,
                ClusterInfo,
                "one cluster with its alias and counts",
            ),
            cluster_info,
        )
        .route(
            spec(
                "/api/master/{hint}",
                Read,
                Instance,
                "the primary of a cluster",
            ),
            cluster_primary,
        )
        .route(
            spec(
                "/api/topology/{hint}",
                Read,
                Envelope("Text"),
                "a cluster as an ASCII tree",
            ),
            topology,
        )
        .route(
            spec(
                "/api/topology/{host}/{port}",
                Read,
                Envelope("Text"),
                "the cluster of a server as an ASCII tree",
            ),
            topology_of_instance,
        )
        .route(
            spec("/api/openapi.json", Read, Object, "this document"),
            move |State(state): State<AppState>, request: axum::extract::Request| {
                let document = Arc::clone(&openapi_for_handler);
                async move {
                    let mut document = document.get().cloned().unwrap_or_default();
                    // Where a client reaches the API, as it asked: behind a trusted proxy,
                    // its X-Forwarded-Proto/Host, and the URLPrefix.
                    document["servers"] =
                        serde_json::json!([{ "url": public_base_url(&state, &request) }]);
                    Json(document)
                }
            },
        )
        .route(
            spec("/metrics", Read, Metrics, "Prometheus metrics"),
            crate::metrics::metrics_handler,
        );
    let api = crate::recovery_routes::routes(api);
    let api = crate::audit_routes::routes(api);
    let api = crate::refactor_routes::routes(api);
    let api = crate::replication_routes::routes(api);
    let api = crate::intent_routes::routes(api);
    let api = crate::ha::routes(api);
    let api = crate::info_routes::routes(api);
    let api = crate::pool_routes::routes(api);
    let api = crate::check_routes::routes(api);
    let (api_router, specs) = api.finish();
    let _ = openapi.set(crate::openapi::document(&specs, state.view.require_post));
    let prefix = state.view.url_prefix.clone();
    let api_docs =
        crate::api_docs::reference_html(openapi.get().unwrap_or(&serde_json::Value::Null), &prefix);
    let router = api_router
        .merge(crate::ui::router(&state, api_docs))
        .fallback(crate::compat::unknown_path)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ha::forward_to_leader,
        ))
        .with_state(state);
    if prefix.is_empty() {
        return (router, specs);
    }
    // URLPrefix: everything lives under it, as in orchestrator; the bare root points there.
    let home = format!("{prefix}/");
    let router = Router::new()
        .nest(&prefix, router)
        .route(
            "/",
            axum::routing::get(move || async move { axum::response::Redirect::temporary(&home) }),
        )
        .fallback(crate::compat::unknown_path);
    (router, specs)
}

/// The HTTP surface, ready to serve.
pub fn router(state: AppState) -> Router {
    router_with_specs(state).0
}

/// The base URL a client reached this API at: `X-Forwarded-Proto` and `X-Forwarded-Host` when
/// a trusted proxy (`TrustedProxies`) set them, else `Host`, with the `URLPrefix`. From any
/// other peer the forwarded headers are ignored: they are the client's to forge.
pub(crate) fn public_base_url(state: &AppState, request: &axum::extract::Request) -> String {
    let headers = request.headers();
    let from_trusted_proxy = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|peer| {
            state
                .view
                .trusted_proxies
                .iter()
                .any(|range| range.contains(peer.0.ip()))
        });
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            // A proxy chain appends: the first is what the client used.
            .map(|v| v.split(',').next().unwrap_or("").trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let forwarded = |name: &str| header(name).filter(|_| from_trusted_proxy);
    let scheme = forwarded("x-forwarded-proto")
        .unwrap_or_else(|| if state.view.tls { "https" } else { "http" }.into());
    let host = forwarded("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or_else(|| "localhost".into());
    format!("{scheme}://{host}{}", state.view.url_prefix)
}

async fn to_json<'a>(
    state: &AppState,
    topology: &Topology,
    records: impl IntoIterator<Item = &'a InstanceRecord>,
) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let records: Vec<&InstanceRecord> = records.into_iter().collect();
    let view = view(state, topology).await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| InstanceJson::from_record(r, &view))
            .collect(),
    ))
}

async fn leader_check(State(state): State<AppState>) -> Response {
    leader_check_answer(&state, StatusCode::NOT_FOUND)
}

fn leader_check_answer(state: &AppState, not_leader: StatusCode) -> Response {
    if crate::ha::is_leader(state) {
        (StatusCode::OK, Json("OK")).into_response()
    } else {
        (not_leader, Json("Not leader")).into_response()
    }
}

async fn leader_check_with_code(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let code = code
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| ApiError::BadRequest(format!("invalid status code {code:?}")))?;
    Ok(leader_check_answer(&state, code))
}

async fn health(State(state): State<AppState>) -> Json<ApiResponse<HealthStatus>> {
    let available_nodes = match &state.lease {
        Some(lease) => {
            let holder = lease.holder().map(|h| h.node);
            Some(
                lease
                    .nodes()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| arbor_api::AvailableNode {
                        is_leader: holder.as_deref() == Some(n.node.as_str()),
                        hostname: n.node,
                        app_version: env!("CARGO_PKG_VERSION").to_string(),
                        first_seen_active: n.first_seen,
                        last_seen_active: n.last_seen,
                        db_backend: "mysql".into(),
                        api: n.api,
                        active: n.active,
                    })
                    .collect(),
            )
        }
        None => None,
    };
    let version = env!("CARGO_PKG_VERSION").to_string();
    let active_node = match (&state.raft, &state.lease) {
        (Some(raft), _) => {
            let status = raft.status();
            let api = status.leader_api.unwrap_or_default();
            arbor_api::ActiveNode {
                hostname: host_of_url(&api),
                token: status.leader.unwrap_or_default(),
                app_version: version.clone(),
                db_backend: "raft".into(),
            }
        }
        (None, Some(lease)) => arbor_api::ActiveNode {
            hostname: String::new(),
            token: lease.holder().map(|h| h.node).unwrap_or_default(),
            app_version: version.clone(),
            db_backend: "mysql".into(),
        },
        (None, None) => arbor_api::ActiveNode {
            hostname: os_hostname(&state.view.hostname),
            token: state.view.hostname.clone(),
            app_version: version.clone(),
            db_backend: "sqlite".into(),
        },
    };
    Json(ApiResponse::ok(
        "Application node is healthy",
        HealthStatus {
            healthy: true,
            hostname: os_hostname(&state.view.hostname),
            is_active_node: crate::ha::is_leader(&state),
            app_version: version,
            watched_instances: state.discovery.stats().watched,
            token: state.view.hostname.clone(),
            active_node,
            error: None,
            available_nodes,
            raft: state.raft.as_ref().map(|raft| {
                let status = raft.status();
                arbor_api::RaftHealth {
                    leader: status.leader.unwrap_or_default(),
                    is_leader: raft.is_leader(),
                    leader_uri: status.leader_api.unwrap_or_default(),
                    advertise: status.advertise,
                    healthy_members: status.healthy_members,
                    members: crate::ha::raft_status_json(raft),
                }
            }),
            kv_stores: state.kv.status(),
        },
    ))
}

/// The machine's host name (orchestrator's `Hostname`), or `fallback` when it cannot be read.
fn os_hostname(fallback: &str) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| fallback.to_string())
}

/// `host` of `http://host:port/...`.
fn host_of_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or("");
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
            host.trim_matches(['[', ']']).to_string()
        }
        _ => authority.to_string(),
    }
}

async fn discover(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<InstanceJson>>, ApiError> {
    state.discovery.discover(&key).await?;
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let record = topology
        .record(&key)
        .ok_or_else(|| ApiError::Internal(format!("{key} vanished after discovery")))?;
    let json = InstanceJson::from_record(record, &view(&state, topology).await?);
    Ok(Json(ApiResponse::ok(
        format!("Instance discovered: {key}"),
        json,
    )))
}

async fn async_discover(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Json<ApiResponse<serde_json::Value>> {
    let discovery = state.discovery.clone();
    let message = format!("Asynchronous discovery initiated for instance: {key}");
    tokio::spawn(async move {
        if let Err(error) = discovery.discover(&key).await {
            tracing::warn!(%error, "asynchronous discovery failed");
        }
    });
    Json(ApiResponse::ok(message, serde_json::Value::Null))
}

async fn forget(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    if !state.discovery.forget(&key).await? {
        return Err(ApiError::NotFound(format!("unknown instance {key}")));
    }
    Ok(Json(ApiResponse::ok(
        format!("Instance forgotten: {key}"),
        (&key).into(),
    )))
}

async fn forget_cluster(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<ApiResponse<Vec<InstanceKeyJson>>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let name = topology.resolve_cluster_hint(&hint)?;
    let mut forgotten = Vec::new();
    for record in topology.cluster_members(&name) {
        state.discovery.forget(record.key()).await?;
        forgotten.push(record.key().into());
    }
    Ok(Json(ApiResponse::ok(
        format!("Cluster forgotten: {name}"),
        forgotten,
    )))
}

async fn instance(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<InstanceJson>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let record = topology
        .record(&key)
        .ok_or_else(|| ApiError::NotFound(format!("unknown instance {key}")))?;
    Ok(Json(InstanceJson::from_record(
        record,
        &view(&state, topology).await?,
    )))
}

async fn instance_replicas(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    if topology.record(&key).is_none() {
        return Err(ApiError::NotFound(format!("unknown instance {key}")));
    }
    to_json(&state, topology, topology.replicas_of(&key)).await
}

async fn all_instances(State(state): State<AppState>) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    to_json(&state, topology, topology.records()).await
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    s: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let needle = query
        .s
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("missing search text: add ?s=TEXT".into()))?;
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let matches = topology.records().filter(|record| {
        let cluster = topology.cluster_of(record.key()).unwrap_or_default();
        [
            record.key().to_string(),
            record.instance.hostname.clone(),
            record.instance.version.clone(),
            cluster.to_string(),
            topology.alias_of(cluster).unwrap_or_default().to_string(),
        ]
        .iter()
        .any(|field| field.to_ascii_lowercase().contains(&needle))
    });
    to_json(&state, topology, matches).await
}

async fn primaries(State(state): State<AppState>) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let names = topology.cluster_names();
    let roots = names.iter().filter_map(|name| topology.cluster_root(name));
    to_json(&state, topology, roots).await
}

/// orchestrator answers `null` for an empty list here (a nil slice).
fn null_if_empty(list: Vec<InstanceJson>) -> Json<Option<Vec<InstanceJson>>> {
    Json((!list.is_empty()).then_some(list))
}

async fn problems(
    State(state): State<AppState>,
) -> Result<Json<Option<Vec<InstanceJson>>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let Json(all) = to_json(&state, topology, topology.records()).await?;
    Ok(null_if_empty(
        all.into_iter().filter(|i| !i.problems.is_empty()).collect(),
    ))
}

async fn cluster_problems(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<Option<Vec<InstanceJson>>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let name = topology.resolve_cluster_hint(&hint)?;
    let Json(members) = to_json(&state, topology, topology.cluster_members(&name)).await?;
    Ok(null_if_empty(
        members
            .into_iter()
            .filter(|i| !i.problems.is_empty())
            .collect(),
    ))
}

async fn replication_analysis(
    State(state): State<AppState>,
) -> Result<Json<ApiResponse<Vec<ReplicationAnalysisJson>>>, ApiError> {
    analyses_where(&state, |_, _| true).await
}

async fn cluster_replication_analysis(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<ApiResponse<Vec<ReplicationAnalysisJson>>>, ApiError> {
    let name = state
        .snapshot()
        .await?
        .topology
        .resolve_cluster_hint(&hint)?;
    analyses_where(&state, |analysis, _| analysis.cluster == name).await
}

async fn instance_replication_analysis(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<Vec<ReplicationAnalysisJson>>>, ApiError> {
    analyses_where(&state, |analysis, _| analysis.key == key).await
}

/// The current analyses that `keep` keeps, as orchestrator's `replication-analysis` answers.
async fn analyses_where(
    state: &AppState,
    keep: impl Fn(&arbor_analysis::Analysis, &arbor_topology::Topology) -> bool,
) -> Result<Json<ApiResponse<Vec<ReplicationAnalysisJson>>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let (topology, analyses) = (&snapshot.topology, &snapshot.analyses);
    let annotations = state.annotations().await?;
    Ok(Json(ApiResponse::ok(
        "Analysis",
        analyses
            .iter()
            .filter(|a| keep(a, topology))
            .map(|a| {
                let automated = state.automated_recovery_of(topology, &a.cluster);
                let mut json = crate::wire::analysis_json(
                    a,
                    topology,
                    &annotations,
                    automated,
                    &state.view.hostname,
                );
                json.not_recovered_because = state.recovery.why_not(&a.key);
                json
            })
            .collect(),
    )))
}

async fn clusters(State(state): State<AppState>) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(state.snapshot().await?.topology.cluster_names()))
}

async fn clusters_info(State(state): State<AppState>) -> Result<Json<Vec<ClusterInfo>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    Ok(Json(
        topology
            .cluster_names()
            .iter()
            .map(|name| {
                ClusterInfo::of(topology, name, state.automated_recovery_of(topology, name))
            })
            .collect(),
    ))
}

async fn cluster(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let name = topology.resolve_cluster_hint(&hint)?;
    to_json(&state, topology, topology.cluster_members(&name)).await
}

async fn cluster_info(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<ClusterInfo>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let name = topology.resolve_cluster_hint(&hint)?;
    let automated = state.automated_recovery_of(topology, &name);
    Ok(Json(ClusterInfo::of(topology, &name, automated)))
}

async fn cluster_primary(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<InstanceJson>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let name = topology.resolve_cluster_hint(&hint)?;
    let primary = topology
        .cluster_root(&name)
        .ok_or_else(|| ApiError::NotFound(format!("primary of cluster {name} was never read")))?;
    Ok(Json(InstanceJson::from_record(
        primary,
        &view(&state, topology).await?,
    )))
}

async fn topology(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    tree_of(&state, &hint).await
}

async fn topology_of_instance(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    tree_of(&state, &key.to_string()).await
}

async fn tree_of(state: &AppState, hint: &str) -> Result<Json<ApiResponse<String>>, ApiError> {
    crate::info_routes::tree(state, hint, crate::info_routes::TreeKind::Plain).await
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
