//! Routes of failure recovery and its controls: manual recoveries, graceful takeover,
//! downtime, promotion rules, acknowledgements, the global switch, and the audit.

use std::collections::HashMap;
use std::time::Duration;

use arbor_api::{
    ApiResponse, BlockedRecoveryJson, InstanceJson, InstanceKeyJson, TopologyRecoveryJson,
};
use arbor_recovery::RecoveryError;
use arbor_store::Intents;
use arbor_store::RecoveryRecord;
use arbor_topology::{Downtime, PromotionRule, Timestamp};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;

use crate::params::{parse_duration, HintPath, KeyPath, PathParams};
use crate::registry::{spec, Access, Answer, Api, RouteSpec};
use crate::{ApiError, AppState};

impl From<RecoveryError> for ApiError {
    fn from(error: RecoveryError) -> Self {
        match error {
            RecoveryError::NothingToRecover(message) | RecoveryError::Blocked(message) => {
                ApiError::Conflict(message)
            }
            RecoveryError::Refused(message) => ApiError::Unprocessable(message),
            RecoveryError::NotFound(message) => ApiError::NotFound(message),
            // Leadership moved while the request was on its way: the client retries, and a
            // follower forwards the retry to the new leader.
            error @ RecoveryError::NotLeader => ApiError::Unavailable(error.to_string()),
            RecoveryError::Store(error) => error.into(),
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct CommentQuery {
    comment: Option<String>,
}

#[derive(serde::Deserialize)]
pub(crate) struct AliasQuery {
    alias: String,
}

/// Who asked, for the audit: the authenticated user, else `api`.
fn who(state: &AppState, headers: &HeaderMap) -> String {
    crate::auth::user_name(&state.auth, headers).unwrap_or_else(|| "api".to_string())
}

/// A recovery that ran and failed is the servers' state answering, not a fault of arbor: a
/// 422 with what the recovery recorded (its audit has every step).
fn successful(record: RecoveryRecord) -> Result<RecoveryRecord, ApiError> {
    if record.successful {
        Ok(record)
    } else {
        Err(ApiError::Unprocessable(format!(
            "recovery {} of {} failed: {}",
            record.id,
            record.cluster,
            record.errors.join("; ")
        )))
    }
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct ForceQuery {
    /// Run within the block period of an unacknowledged recovery of the cluster.
    #[serde(default)]
    force: bool,
}

fn force_of(query: Result<Query<ForceQuery>, QueryRejection>) -> Result<bool, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(query.force)
}

const FORCE_QUERY: &[(&str, bool, &str)] = &[(
    "force",
    false,
    "true: run even within the block period of an unacknowledged recovery of the cluster",
)];

pub(crate) fn routes(api: Api) -> Api {
    use Access::{Read, Write};
    use Answer::*;
    api.route(RouteSpec { query: FORCE_QUERY, ..spec("/api/recover/{host}/{port}", Write, Envelope("InstanceKey"), "recover the failure of an instance now (ignores filters and downtime; within the block period of an unacknowledged recovery only with force=true)") }, recover)
        .route(RouteSpec { query: FORCE_QUERY, ..spec("/api/recover/{host}/{port}/{candidateHost}/{candidatePort}", Write, Envelope("InstanceKey"), "recover a dead primary, promoting the given replica (it first catches up from the most advanced one)") }, recover)
        .route(RouteSpec { query: FORCE_QUERY, ..spec("/api/recover-lite/{host}/{port}", Write, Envelope("InstanceKey"), "recover without running any hook") }, recover_lite)
        .route(RouteSpec { query: FORCE_QUERY, ..spec("/api/recover-lite/{host}/{port}/{candidateHost}/{candidatePort}", Write, Envelope("InstanceKey"), "recover a dead primary promoting the given replica, without running any hook") }, recover_lite)
        .route(spec("/api/make-master/{host}/{port}", Write, Envelope("Instance"), "promote a replica in place of its dead primary (recover with this replica designated)"), make_master)
        .route(spec("/api/make-local-master/{host}/{port}", Write, Envelope("Instance"), "a replica of a dead intermediate primary takes its place: its siblings move below it"), make_local_master)
        .route(RouteSpec { query: FORCE_QUERY, ..spec("/api/force-master-takeover/{hint}/{host}/{port}", Write, Envelope("TopologyRecovery"), "fail a cluster's primary over to the given direct replica even if the primary is alive") }, force_master_takeover)
        .route(RouteSpec { query: &[("comment", false, "why")], ..spec("/api/ack-recovery/{id}", Write, Envelope("Text"), "acknowledge one recovery by its id") }, ack_one)
        .route(RouteSpec { query: &[("comment", false, "why")], ..spec("/api/ack-recovery/uid/{uid}", Write, Envelope("Text"), "acknowledge one recovery by its uid") }, ack_one)
        .route(RouteSpec { query: &[("comment", false, "why")], ..spec("/api/ack-recovery/instance/{host}/{port}", Write, Envelope("InstanceKey"), "acknowledge the recoveries of a failed instance") }, ack_instance)
        .route(RouteSpec { query: FORCE_QUERY, ..spec("/api/force-master-failover/{hint}", Write, Envelope("TopologyRecovery"), "fail a cluster's primary over even if it is alive (within the block period only with force=true)") }, force_master_failover)
        .route(spec("/api/graceful-master-takeover/{hint}", Write, Envelope("TopologyRecovery"), "planned switchover to the best replica; the old primary is set to replicate, not started"), graceful)
        .route(spec("/api/graceful-master-takeover/{hint}/{host}/{port}", Write, Envelope("TopologyRecovery"), "planned switchover to the given replica"), graceful)
        .route(spec("/api/graceful-master-takeover-auto/{hint}", Write, Envelope("TopologyRecovery"), "planned switchover; the old primary replicates from the new one"), graceful_auto)
        .route(spec("/api/graceful-master-takeover-auto/{hint}/{host}/{port}", Write, Envelope("TopologyRecovery"), "planned switchover to the given replica; the old primary replicates"), graceful_auto)
        .route(spec("/api/register-candidate/{host}/{port}/{rule}", Write, Envelope("InstanceKey"), "set a promotion rule (must, prefer, neutral, prefer_not, must_not)"), register_candidate)
        .route(spec("/api/begin-downtime/{host}/{port}/{owner}/{reason}", Write, Envelope("InstanceKey"), "downtime an instance for 10 minutes"), begin_downtime)
        .route(spec("/api/begin-downtime/{host}/{port}/{owner}/{reason}/{duration}", Write, Envelope("InstanceKey"), "downtime an instance (duration like 30m, 2h)"), begin_downtime)
        .route(spec("/api/end-downtime/{host}/{port}", Write, Envelope("InstanceKey"), "end an instance's downtime"), end_downtime)
        .route(spec("/api/downtimed", Read, Instances, "downtimed instances"), downtimed)
        .route(spec("/api/downtimed/{hint}", Read, Instances, "downtimed instances of a cluster"), downtimed_in_cluster)
        .route(spec("/api/disable-global-recoveries", Write, Envelope("Text"), "stop automated recoveries everywhere"), disable_recoveries)
        .route(RouteSpec { query: &[("alias", true, "the alias; empty removes the override")], ..spec("/api/set-cluster-alias/{hint}", Write, Envelope("Text"), "set an operator's alias for a cluster, which wins over detected and configured ones") }, set_cluster_alias)
        .route(spec("/api/enable-global-recoveries", Write, Envelope("Text"), "allow automated recoveries again"), enable_recoveries)
        .route(spec("/api/check-global-recoveries", Read, Envelope("Text"), "whether automated recoveries are enabled"), check_recoveries)
        .route(RouteSpec { query: &[("comment", false, "why")], ..spec("/api/ack-recovery/cluster/{hint}", Write, Envelope("Text"), "acknowledge a cluster's recoveries, lifting the block period") }, ack_cluster)
        .route(RouteSpec { query: &[("comment", false, "why")], ..spec("/api/ack-all-recoveries", Write, Envelope("Text"), "acknowledge every recovery") }, ack_all)
        .route(spec("/api/blocked-recoveries", Read, List("BlockedRecovery"), "recoveries anti-flapping refuses now, and the recovery blocking each"), blocked_recoveries)
        .route(spec("/api/blocked-recoveries/cluster/{hint}", Read, List("BlockedRecovery"), "blocked recoveries of a cluster (by name, alias or a former name)"), blocked_recoveries_of_cluster)
}

async fn recover(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
    query: Result<Query<ForceQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    recover_as(state, key, params, query, false).await
}

async fn recover_lite(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
    query: Result<Query<ForceQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    recover_as(state, key, params, query, true).await
}

async fn recover_as(
    state: AppState,
    key: arbor_topology::InstanceKey,
    params: HashMap<String, String>,
    query: Result<Query<ForceQuery>, QueryRejection>,
    skip_hooks: bool,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    let force = force_of(query)?;
    let designated = crate::params::key_of(&params, "candidateHost", "candidatePort")?;
    let record = state
        .recovery
        .recover_with(&key, designated, skip_hooks, force)
        .await?;
    let record = successful(record)?;
    let successor = record
        .successor
        .as_ref()
        .map(Into::into)
        .unwrap_or_else(InstanceKeyJson::empty);
    Ok(Json(ApiResponse::ok(
        format!("Recovery executed on {key}"),
        successor,
    )))
}

async fn force_master_failover(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
    query: Result<Query<ForceQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<TopologyRecoveryJson>>, ApiError> {
    let force = force_of(query)?;
    let record = successful(state.recovery.force_master_failover(&hint, force).await?)?;
    Ok(Json(ApiResponse::ok(
        "Master failover executed",
        crate::wire::recovery_json(&record),
    )))
}

/// The source of `key`, as last read.
async fn source_of(
    state: &AppState,
    key: &arbor_topology::InstanceKey,
) -> Result<(arbor_topology::InstanceKey, bool), ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let record = topology
        .record(key)
        .ok_or_else(|| ApiError::NotFound(format!("unknown instance {key}")))?;
    let source = record
        .instance
        .source()
        .cloned()
        .ok_or_else(|| ApiError::Unprocessable(format!("{key} is not a replica")))?;
    let source_is_replica = topology
        .record(&source)
        .is_some_and(|r| r.instance.source().is_some());
    Ok((source, source_is_replica))
}

/// orchestrator's legacy `make-master`: the replica replaces its dead primary. arbor runs the
/// dead primary's recovery with this replica designated (it catches up from the most advanced
/// replica first); a live primary is refused like `recover` refuses it.
async fn make_master(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<InstanceJson>>, ApiError> {
    let (source, source_is_replica) = source_of(&state, &key).await?;
    if source_is_replica {
        return Err(ApiError::Unprocessable(format!(
            "{source} is an intermediate primary: use make-local-master"
        )));
    }
    successful(
        state
            .recovery
            .recover_with(&source, Some(key.clone()), false, false)
            .await?,
    )?;
    crate::refactor_routes::answer(&state, &key, format!("{key} replaced {source}")).await
}

/// orchestrator's legacy `make-local-master`: the replica takes its dead intermediate
/// primary's place. arbor recovers the intermediate primary (its replicas move up to its
/// source), then this replica takes its former siblings.
async fn make_local_master(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<InstanceJson>>, ApiError> {
    let (source, source_is_replica) = source_of(&state, &key).await?;
    if !source_is_replica {
        return Err(ApiError::Unprocessable(format!(
            "{source} is the cluster's primary: use make-master"
        )));
    }
    successful(state.recovery.recover(&source, false).await?)?;
    let (moved, errors) = state.refactor.take_siblings(&key).await?;
    let mut message = format!(
        "{key} replaced {source}; {} sibling(s) moved below it",
        moved.len()
    );
    if !errors.is_empty() {
        message.push_str(&format!("; not moved: {}", errors.join("; ")));
    }
    crate::refactor_routes::answer(&state, &key, message).await
}

async fn force_master_takeover(
    State(state): State<AppState>,
    PathParams(params): PathParams,
    query: Result<Query<ForceQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<TopologyRecoveryJson>>, ApiError> {
    let force = force_of(query)?;
    let hint = params.get("hint").cloned().unwrap_or_default();
    let designated = crate::params::key_of(&params, "host", "port")?;
    let record = state
        .recovery
        .force_master_takeover(&hint, designated, force)
        .await?;
    Ok(Json(ApiResponse::ok(
        "Master takeover executed",
        crate::wire::recovery_json(&successful(record)?),
    )))
}

async fn takeover(
    state: AppState,
    params: HashMap<String, String>,
    start: bool,
) -> Result<Json<ApiResponse<TopologyRecoveryJson>>, ApiError> {
    let hint = params.get("hint").cloned().unwrap_or_default();
    let designated = crate::params::key_of(&params, "host", "port")?;
    let record = successful(
        state
            .recovery
            .graceful_takeover(&hint, designated, start)
            .await?,
    )?;
    Ok(Json(ApiResponse::ok(
        "Graceful master takeover executed",
        crate::wire::recovery_json(&record),
    )))
}

async fn graceful(
    State(state): State<AppState>,
    PathParams(params): PathParams,
) -> Result<Json<ApiResponse<TopologyRecoveryJson>>, ApiError> {
    takeover(state, params, false).await
}

async fn graceful_auto(
    State(state): State<AppState>,
    PathParams(params): PathParams,
) -> Result<Json<ApiResponse<TopologyRecoveryJson>>, ApiError> {
    takeover(state, params, true).await
}

async fn register_candidate(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    let rule: PromotionRule = params
        .get("rule")
        .map(String::as_str)
        .unwrap_or("")
        .parse()
        .map_err(ApiError::BadRequest)?;
    let expires = Timestamp::now().plus(state.view.candidate_expiry);
    state
        .discovery
        .store()
        .register_candidate(&key, rule, expires)
        .await?;
    Ok(Json(ApiResponse::ok(
        format!("Registered {key} as {rule}"),
        (&key).into(),
    )))
}

async fn begin_downtime(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    let duration = match params.get("duration") {
        Some(text) => parse_duration(text)?,
        None => Duration::from_secs(600),
    };
    if duration.is_zero() {
        return Err(ApiError::BadRequest(
            "a downtime must last longer than 0 seconds".into(),
        ));
    }
    let now = Timestamp::now();
    let downtime = Downtime {
        key: key.clone(),
        owner: params.get("owner").cloned().unwrap_or_default(),
        reason: params.get("reason").cloned().unwrap_or_default(),
        begin: now,
        end: now.plus(duration),
    };
    state.discovery.store().begin_downtime(downtime).await?;
    Ok(Json(ApiResponse::ok(
        format!("{key} downtimed for {duration:?}"),
        (&key).into(),
    )))
}

async fn end_downtime(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    if !state.discovery.store().end_downtime(&key).await? {
        return Err(ApiError::NotFound(format!("{key} is not downtimed")));
    }
    Ok(Json(ApiResponse::ok(
        format!("{key} no longer downtimed"),
        (&key).into(),
    )))
}

async fn downtimed_matching(
    state: &AppState,
    cluster: Option<String>,
) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let annotations = state.annotations().await?;
    let records = topology.records().filter(|r| {
        annotations.downtimes.contains_key(r.key())
            && cluster
                .as_deref()
                .is_none_or(|c| topology.cluster_of(r.key()) == Some(c))
    });
    let view = arbor_api::ViewContext {
        topology,
        now: Timestamp::now(),
        check_window: state.view.check_window,
        reasonable_lag: state.view.reasonable_lag,
        annotations: annotations.clone(),
        errant_gtid: arbor_analysis::errant_gtid,
    };
    Ok(Json(
        records
            .map(|r| InstanceJson::from_record(r, &view))
            .collect(),
    ))
}

async fn downtimed(State(state): State<AppState>) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    downtimed_matching(&state, None).await
}

async fn downtimed_in_cluster(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let cluster = state
        .snapshot()
        .await?
        .topology
        .resolve_cluster_hint(&hint)?;
    downtimed_matching(&state, Some(cluster)).await
}

async fn disable_recoveries(
    State(state): State<AppState>,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    state
        .discovery
        .store()
        .set_global_recoveries_disabled(true)
        .await?;
    Ok(Json(ApiResponse::ok(
        "Global recoveries disabled",
        "disabled".to_string(),
    )))
}

async fn enable_recoveries(
    State(state): State<AppState>,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    state
        .discovery
        .store()
        .set_global_recoveries_disabled(false)
        .await?;
    Ok(Json(ApiResponse::ok(
        "Global recoveries enabled",
        "enabled".to_string(),
    )))
}

async fn check_recoveries(
    State(state): State<AppState>,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    let disabled = state.discovery.store().global_recoveries_disabled().await?;
    let word = if disabled { "disabled" } else { "enabled" };
    Ok(Json(ApiResponse::ok(
        format!("Global recoveries {word}"),
        word.to_string(),
    )))
}

async fn set_cluster_alias(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
    query: Result<Query<AliasQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let alias = query.alias.trim().to_string();
    if alias.len() > 255 || alias.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "alias: at most 255 printable characters".into(),
        ));
    }
    let cluster = state
        .snapshot()
        .await?
        .topology
        .resolve_cluster_hint(&hint)?;
    state
        .discovery
        .store()
        .set_cluster_alias(&cluster, &alias)
        .await?;
    let message = if alias.is_empty() {
        format!("alias override of {cluster} removed")
    } else {
        format!("{cluster} is now also known as {alias}")
    };
    Ok(Json(ApiResponse::ok(message, cluster)))
}

async fn ack_cluster(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
    headers: HeaderMap,
    query: Result<Query<CommentQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    // By its name, its alias or a former name: recoveries are recorded under the name the
    // cluster had at the time, so every name it had is acknowledged.
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let cluster = topology.resolve_cluster_hint(&hint)?;
    let comment = query.comment.unwrap_or_default();
    let who = who(&state, &headers);
    let mut count = 0;
    for name in topology.names_of(&cluster) {
        count += state
            .discovery
            .store()
            .acknowledge_recoveries(Some(&name), &who, &comment, Timestamp::now())
            .await?;
    }
    Ok(Json(ApiResponse::ok(
        format!("Acknowledged {count} recoveries of {cluster}"),
        cluster,
    )))
}

async fn ack_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CommentQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let comment = query.comment.unwrap_or_default();
    let count = state
        .discovery
        .store()
        .acknowledge_recoveries(None, &who(&state, &headers), &comment, Timestamp::now())
        .await?;
    Ok(Json(ApiResponse::ok(
        format!("Acknowledged {count} recoveries"),
        comment,
    )))
}

/// `ack-recovery/ID` and `ack-recovery/uid/UID`: one recovery. An id that names no
/// unacknowledged, finished recovery is a 404.
async fn ack_one(
    State(state): State<AppState>,
    PathParams(params): PathParams,
    headers: HeaderMap,
    query: Result<Query<CommentQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (target, named) = match (params.get("id"), params.get("uid")) {
        (Some(id), _) => (
            arbor_store::AckTarget::Id(
                id.parse()
                    .map_err(|_| ApiError::BadRequest(format!("invalid recovery id {id:?}")))?,
            ),
            id.clone(),
        ),
        (None, Some(uid)) => (arbor_store::AckTarget::Uid(uid.clone()), uid.clone()),
        (None, None) => return Err(ApiError::BadRequest("missing recovery id".into())),
    };
    let comment = query.comment.unwrap_or_default();
    let count = state
        .discovery
        .store()
        .acknowledge_recovery(target, &who(&state, &headers), &comment, Timestamp::now())
        .await?;
    if count == 0 {
        return Err(ApiError::NotFound(format!(
            "no finished, unacknowledged recovery {named}"
        )));
    }
    Ok(Json(ApiResponse::ok("Acknowledged recovery", named)))
}

/// `ack-recovery/instance/H/P`: the recoveries of that failed instance.
async fn ack_instance(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    headers: HeaderMap,
    query: Result<Query<CommentQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let comment = query.comment.unwrap_or_default();
    let count = state
        .discovery
        .store()
        .acknowledge_recovery(
            arbor_store::AckTarget::Instance(key.clone()),
            &who(&state, &headers),
            &comment,
            Timestamp::now(),
        )
        .await?;
    Ok(Json(ApiResponse::ok(
        format!("Acknowledged {count} recoveries of {key}"),
        (&key).into(),
    )))
}

async fn blocked_recoveries(
    State(state): State<AppState>,
) -> Result<Json<Vec<BlockedRecoveryJson>>, ApiError> {
    blocked(&state, None).await
}

async fn blocked_recoveries_of_cluster(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<Vec<BlockedRecoveryJson>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let cluster = topology.resolve_cluster_hint(&hint)?;
    blocked(&state, Some(topology.names_of(&cluster))).await
}

async fn blocked(
    state: &AppState,
    names: Option<Vec<String>>,
) -> Result<Json<Vec<BlockedRecoveryJson>>, ApiError> {
    let list = state.recovery.blocked_recoveries(names.as_deref()).await?;
    Ok(Json(
        list.iter()
            .map(|b| BlockedRecoveryJson {
                failed_instance_key: (&b.key).into(),
                cluster_name: b.cluster.clone(),
                analysis: b.analysis.clone(),
                last_blocked_timestamp: b.blocked_at.to_sql_datetime(),
                blocking_recovery_id: b.blocking_id,
                reason: b.reason.clone(),
            })
            .collect(),
    ))
}
