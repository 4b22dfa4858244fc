//! Instance pools, at orchestrator's paths: named sets of instances an application submits
//! (`submit-pool-instances`), replicated like tags, expiring after
//! `InstancePoolExpiryMinutes`; read per cluster, and "heuristically" (the members fit to
//! serve now) with their largest lag.

use std::collections::BTreeMap;

use arbor_api::{ApiResponse, InstanceJson, InstanceKeyJson};
use arbor_store::Intents;
use arbor_topology::{InstanceKey, InstanceRecord, Timestamp, Topology};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;

use crate::params::{HintPath, PathParams};
use crate::registry::{spec, Access, Answer, Api, RouteSpec};
use crate::{ApiError, AppState};

pub(crate) fn routes(api: Api) -> Api {
    use Access::{Read, Write};
    use Answer::*;
    api.route(
        RouteSpec {
            query: &[(
                "instances",
                true,
                "the members, HOST:PORT separated by commas",
            )],
            ..spec(
                "/api/submit-pool-instances/{pool}",
                Write,
                Envelope("Text"),
                "replace the members of an instance pool",
            )
        },
        submit,
    )
    .route(
        spec(
            "/api/cluster-pool-instances/{hint}",
            Read,
            Envelope("PoolMembers"),
            "the pool members of a cluster, by pool",
        ),
        cluster_pools,
    )
    .route(
        spec(
            "/api/cluster-pool-instances/{hint}/{pool}",
            Read,
            Envelope("PoolMembers"),
            "the members of one pool in a cluster",
        ),
        cluster_pools,
    )
    .route(
        spec(
            "/api/heuristic-cluster-pool-instances/{hint}",
            Read,
            Envelope("Instances"),
            "pool members of a cluster fit to serve now (reachable, replicating, not downtimed)",
        ),
        heuristic,
    )
    .route(
        spec(
            "/api/heuristic-cluster-pool-instances/{hint}/{pool}",
            Read,
            Envelope("Instances"),
            "members of one pool fit to serve now",
        ),
        heuristic,
    )
    .route(
        spec(
            "/api/heuristic-cluster-pool-lag/{hint}",
            Read,
            Envelope("Integer"),
            "the largest replication lag among a cluster's fit pool members",
        ),
        heuristic_lag,
    )
    .route(
        spec(
            "/api/heuristic-cluster-pool-lag/{hint}/{pool}",
            Read,
            Envelope("Integer"),
            "the largest replication lag among one pool's fit members",
        ),
        heuristic_lag,
    )
}

#[derive(serde::Deserialize)]
struct Submission {
    instances: Option<String>,
}

fn pool_of(params: &std::collections::HashMap<String, String>) -> Result<Option<String>, ApiError> {
    match params.get("pool") {
        None => Ok(None),
        Some(pool) if pool.is_empty() || pool.len() > 128 || pool.chars().any(char::is_control) => {
            Err(ApiError::BadRequest(format!(
                "invalid pool name {pool:?}: at most 128 printable characters"
            )))
        }
        Some(pool) => Ok(Some(pool.clone())),
    }
}

/// orchestrator's reply: the pool's name.
async fn submit(
    State(state): State<AppState>,
    PathParams(params): PathParams,
    query: Result<Query<Submission>, QueryRejection>,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let pool = pool_of(&params)?.unwrap_or_default();
    let text = query.instances.unwrap_or_default();
    let mut instances = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let key: InstanceKey = item
            .parse()
            .map_err(|e| ApiError::BadRequest(format!("instances: {item:?}: {e}")))?;
        // The same checks as a host in a path.
        let hostname = crate::params::host(&key.hostname)
            .map_err(|e| ApiError::BadRequest(format!("instances: {item:?}: {e}")))?;
        instances.push(InstanceKey::new(hostname, key.port));
    }
    state
        .discovery
        .store()
        .set_pool_instances(&pool, &instances, Timestamp::now())
        .await?;
    Ok(Json(ApiResponse::ok(
        format!("Applied {pool} pool instances ({})", instances.len()),
        pool,
    )))
}

/// The unexpired members of `pool` (or every pool) that belong to the cluster of `hint`.
async fn members(
    state: &AppState,
    topology: &Topology,
    hint: &str,
    pool: Option<&str>,
) -> Result<Vec<(String, InstanceKey)>, ApiError> {
    let cluster = topology.resolve_cluster_hint(hint)?;
    let since = Timestamp(Timestamp::now().millis() - state.view.pool_expiry.as_millis() as i64);
    let all = state.discovery.store().pool_instances(pool, since).await?;
    Ok(all
        .into_iter()
        .filter(|(_, key)| topology.cluster_of(key) == Some(cluster.as_str()))
        .collect())
}

async fn cluster_pools(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
    PathParams(params): PathParams,
) -> Result<Json<ApiResponse<BTreeMap<String, Vec<InstanceKeyJson>>>>, ApiError> {
    let pool = pool_of(&params)?;
    let snapshot = state.snapshot().await?;
    let mut map: BTreeMap<String, Vec<InstanceKeyJson>> = BTreeMap::new();
    for (pool, key) in members(&state, &snapshot.topology, &hint, pool.as_deref()).await? {
        map.entry(pool).or_default().push((&key).into());
    }
    Ok(Json(ApiResponse::ok("Cluster pool instances", map)))
}

/// Fit to serve: read now, replicating when it is a replica, not downtimed.
fn fit(record: &InstanceRecord, downtimed: bool) -> bool {
    record.is_last_check_valid()
        && !downtimed
        && record.instance.replication.as_ref().is_none_or(|r| {
            r.sql_thread_running && r.io_thread == arbor_topology::IoThreadState::Running
        })
}

async fn fit_members(
    state: &AppState,
    hint: &str,
    params: &std::collections::HashMap<String, String>,
) -> Result<Vec<InstanceJson>, ApiError> {
    let pool = pool_of(params)?;
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let keys = members(state, topology, hint, pool.as_deref()).await?;
    let view = crate::wire::view(state, topology).await?;
    let mut seen = std::collections::BTreeSet::new();
    Ok(keys
        .into_iter()
        .filter(|(_, key)| seen.insert(key.clone()))
        .filter_map(|(_, key)| topology.record(&key))
        .filter(|record| {
            fit(
                record,
                view.annotations.downtimes.contains_key(record.key()),
            )
        })
        .map(|record| InstanceJson::from_record(record, &view))
        .collect())
}

async fn heuristic(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
    PathParams(params): PathParams,
) -> Result<Json<ApiResponse<Vec<InstanceJson>>>, ApiError> {
    let instances = fit_members(&state, &hint, &params).await?;
    Ok(Json(ApiResponse::ok(
        "Heuristic cluster pool instances",
        instances,
    )))
}

async fn heuristic_lag(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
    PathParams(params): PathParams,
) -> Result<Json<ApiResponse<u64>>, ApiError> {
    let instances = fit_members(&state, &hint, &params).await?;
    let lag = instances
        .iter()
        .filter_map(|i| i.seconds_behind_master.value())
        .max()
        .unwrap_or(0);
    Ok(Json(ApiResponse::ok(
        "Heuristic cluster pool lag",
        lag.max(0) as u64,
    )))
}
