//! Routes of topology refactoring (orchestrator's paths), maintenance locks and tags.

use std::collections::HashMap;

use arbor_api::{ApiResponse, InstanceJson, InstanceKeyJson};
use arbor_refactor::{RefactorError, ReplicaOperation};
use arbor_topology::InstanceKey;
use axum::extract::State;
use axum::Json;

use crate::params::KeyPath;
use crate::params::PathParams;
use crate::registry::{spec, Access, Answer, Api};
use crate::{ApiError, AppState};

impl From<RefactorError> for ApiError {
    fn from(error: RefactorError) -> Self {
        match error {
            RefactorError::Refused(message) => ApiError::Unprocessable(message),
            RefactorError::Locked { .. } => ApiError::Conflict(error.to_string()),
            RefactorError::NotFound(message) => ApiError::NotFound(message),
            RefactorError::Failed(message) => ApiError::Internal(message),
            RefactorError::Store(error) => error.into(),
        }
    }
}

/// The second instance of a route (`{belowHost}/{belowPort}`), when it has one.
fn second_key(params: &HashMap<String, String>) -> Result<Option<InstanceKey>, ApiError> {
    crate::params::key_of(params, "belowHost", "belowPort")
}

fn required_second_key(params: &HashMap<String, String>) -> Result<InstanceKey, ApiError> {
    second_key(params)?.ok_or_else(|| ApiError::BadRequest("missing the second instance".into()))
}

/// The instance as it is now (after the operation re-read it).
async fn instance_now(state: &AppState, key: &InstanceKey) -> Result<InstanceJson, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let record = topology
        .record(key)
        .ok_or_else(|| ApiError::NotFound(format!("unknown instance {key}")))?;
    let view = crate::wire::view(state, topology).await?;
    Ok(InstanceJson::from_record(record, &view))
}

async fn instances_now(
    state: &AppState,
    keys: &[InstanceKey],
) -> Result<Vec<InstanceJson>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let view = crate::wire::view(state, topology).await?;
    Ok(keys
        .iter()
        .filter_map(|k| topology.record(k))
        .map(|r| InstanceJson::from_record(r, &view))
        .collect())
}

type InstanceAnswer = Result<Json<ApiResponse<InstanceJson>>, ApiError>;
type InstancesAnswer = Result<Json<ApiResponse<Vec<InstanceJson>>>, ApiError>;

pub(crate) async fn answer(state: &AppState, key: &InstanceKey, message: String) -> InstanceAnswer {
    Ok(Json(ApiResponse::ok(
        message,
        instance_now(state, key).await?,
    )))
}

async fn answer_many(
    state: &AppState,
    moved: (Vec<InstanceKey>, Vec<String>),
    what: &str,
) -> InstancesAnswer {
    let (moved, errors) = moved;
    let mut message = format!("{what}: {} moved", moved.len());
    if !errors.is_empty() {
        message.push_str(&format!("; not moved: {}", errors.join("; ")));
    }
    Ok(Json(ApiResponse::ok(
        message,
        instances_now(state, &moved).await?,
    )))
}

pub(crate) fn routes(api: Api) -> Api {
    use Access::{Read, Write};
    use Answer::*;
    let one = |path, summary| spec(path, Write, Envelope("Instance"), summary);
    let many = |path, summary| spec(path, Write, Envelope("Instances"), summary);
    api.route(
        one(
            "/api/relocate/{host}/{port}/{belowHost}/{belowPort}",
            "move a replica below any instance it can replicate from",
        ),
        relocate,
    )
    .route(
        one(
            "/api/move-below-gtid/{host}/{port}/{belowHost}/{belowPort}",
            "move a replica below another with GTID",
        ),
        relocate,
    )
    .route(
        one(
            "/api/move-gtid/{host}/{port}/{belowHost}/{belowPort}",
            "move-below-gtid (the name orchestrator-client calls)",
        ),
        relocate,
    )
    .route(
        many(
            "/api/relocate-replicas/{host}/{port}/{belowHost}/{belowPort}",
            "move every replica of an instance below another",
        ),
        relocate_replicas,
    )
    .route(
        many(
            "/api/move-replicas-gtid/{host}/{port}/{belowHost}/{belowPort}",
            "move every replica of an instance below another with GTID",
        ),
        relocate_replicas,
    )
    .route(
        one(
            "/api/move-up/{host}/{port}",
            "make a replica a sibling of its source",
        ),
        move_up,
    )
    .route(
        many(
            "/api/move-up-replicas/{host}/{port}",
            "make every replica of an instance its sibling",
        ),
        move_up_replicas,
    )
    .route(
        one(
            "/api/move-below/{host}/{port}/{belowHost}/{belowPort}",
            "move a replica below its sibling",
        ),
        move_below,
    )
    .route(
        one(
            "/api/repoint/{host}/{port}",
            "re-point a replica at its current source",
        ),
        repoint,
    )
    .route(
        one(
            "/api/repoint/{host}/{port}/{belowHost}/{belowPort}",
            "point a replica at another source, checking only that it can be reached",
        ),
        repoint,
    )
    .route(
        many(
            "/api/repoint-replicas/{host}/{port}",
            "re-point every replica of an instance at it",
        ),
        repoint_replicas,
    )
    .route(
        one(
            "/api/take-master/{host}/{port}",
            "swap a replica with its source (which must itself be a replica)",
        ),
        take_master,
    )
    .route(
        one(
            "/api/take-siblings/{host}/{port}",
            "move a replica's siblings below it",
        ),
        take_siblings,
    )
    .route(
        spec(
            "/api/regroup-replicas/{host}/{port}",
            Write,
            Envelope("InstanceKey"),
            "the most advanced replica of an instance takes its siblings (with GTID)",
        ),
        regroup,
    )
    .route(
        spec(
            "/api/regroup-replicas-gtid/{host}/{port}",
            Write,
            Envelope("InstanceKey"),
            "the most advanced replica of an instance takes its siblings with GTID",
        ),
        regroup,
    )
    .route(
        one(
            "/api/make-co-master/{host}/{port}",
            "make a primary also replicate from its replica (a co-primary pair)",
        ),
        make_co_master,
    )
    .route(
        one("/api/stop-replica/{host}/{port}", "stop replication"),
        stop_replica,
    )
    .route(
        one("/api/start-replica/{host}/{port}", "start replication"),
        start_replica,
    )
    .route(
        one(
            "/api/restart-replica/{host}/{port}",
            "stop and start replication",
        ),
        restart_replica,
    )
    .route(
        one(
            "/api/reset-replica/{host}/{port}",
            "stop replication and forget the source (RESET SLAVE ALL)",
        ),
        reset_replica,
    )
    .route(
        one(
            "/api/detach-replica-master-host/{host}/{port}",
            "rewrite the source host to //host, keeping the position",
        ),
        detach,
    )
    .route(
        one(
            "/api/reattach-replica-master-host/{host}/{port}",
            "undo detach-replica-master-host and start replication",
        ),
        reattach,
    )
    .route(
        one("/api/set-read-only/{host}/{port}", "set read_only"),
        set_read_only,
    )
    .route(
        one("/api/set-writeable/{host}/{port}", "unset read_only"),
        set_writeable,
    )
    .route(
        one(
            "/api/skip-query/{host}/{port}",
            "skip the event replication stopped at",
        ),
        skip_query,
    )
    .route(
        one(
            "/api/flush-binary-logs/{host}/{port}",
            "rotate the binary log",
        ),
        flush_binary_logs,
    )
    .route(
        one(
            "/api/purge-binary-logs/{host}/{port}/{logFile}",
            "purge binary logs before a file, unless a replica still reads them",
        ),
        purge_binary_logs,
    )
    .route(
        spec(
            "/api/delay-replication/{host}/{port}/{seconds}",
            Write,
            Envelope("Integer"),
            "apply replicated events only after a delay",
        ),
        delay_replication,
    )
    .route(
        spec(
            "/api/can-replicate-from/{host}/{port}/{belowHost}/{belowPort}",
            Read,
            Envelope("InstanceKey"),
            "whether a replica could be moved below an instance (Message true/false and why)",
        ),
        can_replicate,
    )
    .route(
        spec(
            "/api/can-replicate-from-gtid/{host}/{port}/{belowHost}/{belowPort}",
            Read,
            Envelope("InstanceKey"),
            "whether a replica could be moved below an instance with GTID",
        ),
        can_replicate,
    )
    .route(
        spec(
            "/api/locate-gtid-errant/{host}/{port}",
            Read,
            Envelope("Strings"),
            "the binary logs holding a replica's errant transactions",
        ),
        locate_gtid_errant,
    )
    .route(
        one(
            "/api/gtid-errant-reset-master/{host}/{port}",
            "forget a replica's errant transactions by resetting its binary logs and GTID history",
        ),
        gtid_errant_reset_master,
    )
    .route(
        one(
            "/api/gtid-errant-inject-empty/{host}/{port}",
            "inject a replica's errant GTIDs on the primary as empty transactions (MySQL)",
        ),
        gtid_errant_inject_empty,
    )
}

async fn relocate(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
) -> InstanceAnswer {
    let below = required_second_key(&params)?;
    state.refactor.relocate(&key, &below).await?;
    answer(&state, &key, format!("{key} moved below {below}")).await
}

async fn relocate_replicas(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
) -> InstancesAnswer {
    let below = required_second_key(&params)?;
    let moved = state.refactor.relocate_replicas(&key, &below).await?;
    answer_many(
        &state,
        moved,
        &format!("replicas of {key} moved below {below}"),
    )
    .await
}

async fn move_up(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    state.refactor.move_up(&key).await?;
    answer(&state, &key, format!("{key} moved up")).await
}

async fn move_up_replicas(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstancesAnswer {
    let moved = state.refactor.move_up_replicas(&key).await?;
    answer_many(&state, moved, &format!("replicas of {key} moved up")).await
}

async fn move_below(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
) -> InstanceAnswer {
    let sibling = required_second_key(&params)?;
    state.refactor.move_below(&key, &sibling).await?;
    answer(&state, &key, format!("{key} moved below {sibling}")).await
}

async fn repoint(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
) -> InstanceAnswer {
    let below = second_key(&params)?;
    state.refactor.repoint(&key, below.as_ref()).await?;
    answer(&state, &key, format!("{key} repointed")).await
}

async fn repoint_replicas(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstancesAnswer {
    let moved = state.refactor.repoint_replicas(&key).await?;
    answer_many(&state, moved, &format!("replicas of {key} repointed")).await
}

async fn take_master(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    state.refactor.take_master(&key).await?;
    answer(&state, &key, format!("{key} took its source's place")).await
}

/// orchestrator's shape: Details is the instance that took its siblings; how many it took, and
/// what could not be moved, are in the message.
async fn take_siblings(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    let (moved, errors) = state.refactor.take_siblings(&key).await?;
    let mut message = format!("Took {} siblings of {key}", moved.len());
    if !errors.is_empty() {
        message.push_str(&format!("; not moved: {}", errors.join("; ")));
    }
    answer(&state, &key, message).await
}

/// orchestrator's reply: the promoted replica's key, and counts in the message.
async fn regroup(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    let (chosen, moved, errors) = state.refactor.regroup_replicas(&key).await?;
    let mut message = format!(
        "promoted replica: {chosen}, lost: {}, moved: {}",
        errors.len(),
        moved.len()
    );
    if !errors.is_empty() {
        message.push_str(&format!("; not moved: {}", errors.join("; ")));
    }
    Ok(Json(ApiResponse::ok(message, (&chosen).into())))
}

async fn make_co_master(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    state.refactor.make_co_master(&key).await?;
    answer(&state, &key, format!("{key} is now a co-primary")).await
}

pub(crate) async fn operate(
    state: AppState,
    key: InstanceKey,
    operation: ReplicaOperation,
    message: &str,
) -> InstanceAnswer {
    state.refactor.operate(&key, operation).await?;
    answer(&state, &key, format!("{key}: {message}")).await
}

async fn stop_replica(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    operate(
        state,
        key,
        ReplicaOperation::StopReplica,
        "replication stopped",
    )
    .await
}

async fn start_replica(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    operate(
        state,
        key,
        ReplicaOperation::StartReplica,
        "replication started",
    )
    .await
}

async fn restart_replica(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    operate(
        state,
        key,
        ReplicaOperation::RestartReplica,
        "replication restarted",
    )
    .await
}

async fn reset_replica(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    operate(
        state,
        key,
        ReplicaOperation::ResetReplica,
        "replication reset",
    )
    .await
}

async fn detach(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    operate(
        state,
        key,
        ReplicaOperation::DetachSourceHost,
        "source host detached",
    )
    .await
}

async fn reattach(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    operate(
        state,
        key,
        ReplicaOperation::ReattachSourceHost,
        "source host reattached",
    )
    .await
}

async fn set_read_only(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    operate(state, key, ReplicaOperation::SetReadOnly, "read-only").await
}

async fn set_writeable(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    operate(state, key, ReplicaOperation::SetWriteable, "writeable").await
}

async fn skip_query(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    operate(state, key, ReplicaOperation::SkipQuery, "one event skipped").await
}

async fn flush_binary_logs(State(state): State<AppState>, KeyPath(key): KeyPath) -> InstanceAnswer {
    operate(
        state,
        key,
        ReplicaOperation::FlushBinaryLogs,
        "binary logs flushed",
    )
    .await
}

async fn purge_binary_logs(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
) -> InstanceAnswer {
    let file = params.get("logFile").cloned().unwrap_or_default();
    if file.is_empty() || file.contains(['/', '\'']) {
        return Err(ApiError::BadRequest(format!(
            "invalid binary log file name {file:?}"
        )));
    }
    operate(
        state,
        key,
        ReplicaOperation::PurgeBinaryLogs(file),
        "binary logs purged",
    )
    .await
}

async fn delay_replication(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
) -> Result<Json<ApiResponse<u64>>, ApiError> {
    let seconds: u64 = params
        .get("seconds")
        .and_then(|s| s.parse().ok())
        // MASTER_DELAY is a 31-bit number of seconds on both MySQL and MariaDB.
        .filter(|s| *s <= i32::MAX as u64)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid delay: expected whole seconds up to {}",
                i32::MAX
            ))
        })?;
    state
        .refactor
        .operate(&key, ReplicaOperation::DelayReplication(seconds))
        .await?;
    Ok(Json(ApiResponse::ok(
        format!("{key} delayed by {seconds}s"),
        seconds,
    )))
}

async fn can_replicate(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    let below = required_second_key(&params)?;
    let verdict = state.refactor.can_replicate_from(&key, &below).await?;
    // orchestrator's shape: the verdict is the Message, "true" or "false".
    let message = match verdict {
        Ok(()) => "true".to_string(),
        Err(reason) => format!("false: {reason}"),
    };
    Ok(Json(ApiResponse::ok(message, (&below).into())))
}

async fn locate_gtid_errant(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<Vec<String>>>, ApiError> {
    Ok(Json(ApiResponse::ok(
        "located errant GTID",
        state.refactor.locate_gtid_errant(&key).await?,
    )))
}

async fn gtid_errant_reset_master(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> InstanceAnswer {
    state.refactor.gtid_errant_reset_master(&key).await?;
    answer(&state, &key, format!("{key}: errant GTIDs reset")).await
}

async fn gtid_errant_inject_empty(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> InstanceAnswer {
    state.refactor.gtid_errant_inject_empty(&key).await?;
    answer(
        &state,
        &key,
        format!("{key}: errant GTIDs injected on the primary"),
    )
    .await
}
