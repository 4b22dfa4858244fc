//! Replication switches on one server, at orchestrator's paths: GTID positioning on or off,
//! the semi-synchronous sides, a nice stop, `KILL QUERY`, and the statements that restart a
//! replica around an injected one. Each is one [`ReplicaOperation`] of the refactorer, which
//! takes the maintenance lock, runs the dialect's statements and re-reads the server.

use std::time::Duration;

use arbor_api::{ApiResponse, InstanceJson};
use arbor_refactor::ReplicaOperation;
use axum::extract::{Query, State};
use axum::Json;

use crate::params::{KeyPath, PathParams};
use crate::registry::{spec, Access, Answer, Api, RouteSpec};
use crate::{ApiError, AppState};

type InstanceAnswer = Result<Json<ApiResponse<InstanceJson>>, ApiError>;

/// How long `stop-replica-nice` lets the SQL thread catch up when the request does not say.
const NICE_STOP_DEFAULT: Duration = Duration::from_secs(30);

pub(crate) fn routes(api: Api) -> Api {
    use Access::{Read, Write};
    use Answer::*;
    let one = |path, summary| spec(path, Write, Envelope("Instance"), summary);
    api.route(
        RouteSpec {
            query: &[(
                "timeout",
                false,
                "seconds the SQL thread may take to apply the relay log (default 30)",
            )],
            ..one(
                "/api/stop-replica-nice/{host}/{port}",
                "stop the I/O thread, let the SQL thread apply what was received, then stop",
            )
        },
        stop_replica_nice,
    )
    .route(
        one(
            "/api/enable-gtid/{host}/{port}",
            "replicate with GTID positioning (MariaDB current_pos, MySQL auto-position)",
        ),
        |State(state): State<AppState>, KeyPath(key): KeyPath| async move {
            operate(state, key, ReplicaOperation::EnableGtid, "GTID positioning on").await
        },
    )
    .route(
        one(
            "/api/disable-gtid/{host}/{port}",
            "replicate by binary log file and position",
        ),
        |State(state): State<AppState>, KeyPath(key): KeyPath| async move {
            operate(state, key, ReplicaOperation::DisableGtid, "GTID positioning off").await
        },
    )
    .route(
        one(
            "/api/kill-query/{host}/{port}/{process}",
            "KILL QUERY of one connection",
        ),
        kill_query,
    )
    .route(
        one(
            "/api/enable-semi-sync-master/{host}/{port}",
            "turn on the primary side of semi-synchronous replication",
        ),
        |State(state): State<AppState>, KeyPath(key): KeyPath| async move {
            let on = ReplicaOperation::SemiSyncPrimary(true);
            operate(state, key, on, "semi-sync primary side on").await
        },
    )
    .route(
        one(
            "/api/disable-semi-sync-master/{host}/{port}",
            "turn off the primary side of semi-synchronous replication",
        ),
        |State(state): State<AppState>, KeyPath(key): KeyPath| async move {
            let off = ReplicaOperation::SemiSyncPrimary(false);
            operate(state, key, off, "semi-sync primary side off").await
        },
    )
    .route(
        one(
            "/api/enable-semi-sync-replica/{host}/{port}",
            "turn on the replica side of semi-synchronous replication (restarts the I/O thread)",
        ),
        |State(state): State<AppState>, KeyPath(key): KeyPath| async move {
            let on = ReplicaOperation::SemiSyncReplica(true);
            operate(state, key, on, "semi-sync replica side on").await
        },
    )
    .route(
        one(
            "/api/disable-semi-sync-replica/{host}/{port}",
            "turn off the replica side of semi-synchronous replication (restarts the I/O thread)",
        ),
        |State(state): State<AppState>, KeyPath(key): KeyPath| async move {
            let off = ReplicaOperation::SemiSyncReplica(false);
            operate(state, key, off, "semi-sync replica side off").await
        },
    )
    .route(
        RouteSpec {
            query: &[(
                "q",
                false,
                "a statement to run while the replica is stopped (CHANGE MASTER TO ...)",
            )],
            ..spec(
                "/api/restart-replica-statements/{host}/{port}",
                Read,
                Envelope("Strings"),
                "the statements that stop a replica's running threads, run q, and start them again (not run)",
            )
        },
        restart_replica_statements,
    )
}

use crate::refactor_routes::operate;

#[derive(serde::Deserialize)]
struct NiceStop {
    timeout: Option<String>,
}

async fn stop_replica_nice(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    Query(query): Query<NiceStop>,
) -> InstanceAnswer {
    let limit = match query.timeout.as_deref() {
        None | Some("") => NICE_STOP_DEFAULT,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=3600).contains(s))
            .map(Duration::from_secs)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "invalid timeout {text:?}: expected whole seconds from 1 to 3600"
                ))
            })?,
    };
    let operation = ReplicaOperation::StopReplicaNicely(limit);
    operate(state, key, operation, "replication stopped nicely").await
}

async fn kill_query(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
) -> InstanceAnswer {
    let text = params.get("process").cloned().unwrap_or_default();
    let id: u64 = text
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("invalid process id {text:?}")))?;
    operate(
        state,
        key,
        ReplicaOperation::KillQuery(id),
        &format!("query {id} killed"),
    )
    .await
}

#[derive(serde::Deserialize)]
struct Injected {
    q: Option<String>,
}

async fn restart_replica_statements(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    Query(query): Query<Injected>,
) -> Result<Json<ApiResponse<Vec<String>>>, ApiError> {
    let statements = state
        .refactor
        .restart_statements(&key, query.q.as_deref().unwrap_or("").trim())
        .await?;
    Ok(Json(ApiResponse::ok(
        format!("statements for {key}"),
        statements,
    )))
}
