//! Routes of failure recovery and its controls: manual recoveries, graceful takeover,
//! downtime, promotion rules, acknowledgements, the global switch, and the audit.

use std::collections::HashMap;
use std::time::Duration;

use arbor_api::{
    ApiResponse, BlockedRecoveryJson, FailureDetectionJson, InstanceJson, InstanceKeyJson,
    RecoveryStepJson, TopologyRecoveryJson,
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
        .route(spec("/api/audit-recovery", Read, List("TopologyRecovery"), "recoveries, most recent first, with their steps"), audit_recovery)
        .route(spec("/api/audit-recovery/{hint}", Read, List("TopologyRecovery"), "recoveries of one cluster"), audit_recovery_of_cluster)
        .route(spec("/api/audit-recovery/cluster/{hint}", Read, List("TopologyRecovery"), "recoveries of one cluster"), audit_recovery_of_cluster)
        .route(spec("/api/audit-recovery/alias/{hint}", Read, List("TopologyRecovery"), "recoveries of the cluster with this alias"), audit_recovery_of_cluster)
        .route(spec("/api/audit-recovery/id/{id}", Read, List("TopologyRecovery"), "one recovery by id (empty when unknown)"), audit_recovery_by_id)
        .route(spec("/api/audit-recovery/uid/{uid}", Read, List("TopologyRecovery"), "one recovery by uid (empty when unknown)"), audit_recovery_by_id)
        .route(spec("/api/audit-recovery-steps/{uid}", Read, List("RecoveryStep"), "the steps of one recovery"), audit_recovery_steps)
        .route(spec("/api/audit-failure-detection", Read, List("FailureDetection"), "failure detections, most recent first"), audit_failure_detection)
        .route(spec("/api/blocked-recoveries", Read, List("BlockedRecovery"), "recoveries anti-flapping refuses now, and the recovery blocking each"), blocked_recoveries)
        .route(spec("/api/blocked-recoveries/cluster/{hint}", Read, List("BlockedRecovery"), "blocked recoveries of a cluster (by name, alias or a former name)"), blocked_recoveries_of_cluster)
}

async fn recover(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    query: Result<Query<ForceQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    let force = force_of(query)?;
    let record = successful(state.recovery.recover(&key, force).await?)?;
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

/// The latest recoveries, most recent first, as orchestrator answers `audit-recovery`: a bare
/// JSON array (its handler writes the list, not the envelope).
async fn audit_recovery(
    State(state): State<AppState>,
) -> Result<Json<Vec<TopologyRecoveryJson>>, ApiError> {
    let records = state.discovery.store().recoveries(None, 100).await?;
    Ok(Json(
        records.iter().map(crate::wire::recovery_json).collect(),
    ))
}

async fn audit_recovery_of_cluster(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<Vec<TopologyRecoveryJson>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let names = match topology.resolve_cluster_hint(&hint) {
        Ok(cluster) => topology.names_of(&cluster),
        // A cluster that is gone still has its recoveries, under the name it had.
        Err(_) => vec![hint],
    };
    let mut records = Vec::new();
    for name in &names {
        records.extend(state.discovery.store().recoveries(Some(name), 100).await?);
    }
    records.sort_by_key(|r| std::cmp::Reverse(r.id));
    records.truncate(100);
    Ok(Json(
        records.iter().map(crate::wire::recovery_json).collect(),
    ))
}

/// One recovery by its id or its uid, as a one-element array (orchestrator's shape).
async fn audit_recovery_by_id(
    State(state): State<AppState>,
    PathParams(params): PathParams,
) -> Result<Json<Vec<TopologyRecoveryJson>>, ApiError> {
    let records = state.discovery.store().recoveries(None, 10_000).await?;
    let found = match (params.get("id"), params.get("uid")) {
        (Some(id), _) => records.iter().find(|r| r.id.to_string() == *id),
        (None, Some(uid)) => records.iter().find(|r| r.uid == *uid),
        (None, None) => None,
    };
    Ok(Json(
        found.map(crate::wire::recovery_json).into_iter().collect(),
    ))
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

async fn audit_recovery_steps(
    State(state): State<AppState>,
    PathParams(params): PathParams,
) -> Result<Json<Vec<RecoveryStepJson>>, ApiError> {
    let uid = params.get("uid").cloned().unwrap_or_default();
    let records = state.discovery.store().recoveries(None, 1000).await?;
    let record = records
        .iter()
        .find(|r| r.uid == uid)
        .ok_or_else(|| ApiError::NotFound(format!("unknown recovery {uid}")))?;
    Ok(Json(crate::wire::recovery_json(record).steps))
}

async fn audit_failure_detection(
    State(state): State<AppState>,
) -> Result<Json<Vec<FailureDetectionJson>>, ApiError> {
    let detections = state.discovery.store().detections(100).await?;
    Ok(Json(
        detections.iter().map(crate::wire::detection_json).collect(),
    ))
}
