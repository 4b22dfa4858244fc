//! Reading the record of what happened, at orchestrator's paths and in its shapes (bare JSON
//! arrays, pages of `AuditPageSize` entries, newest first): recoveries and their steps,
//! failure detections, the analysis changelog, active and recent recoveries, the recovery
//! filters, and the general audit.

use std::collections::BTreeMap;

use arbor_api::{FailureDetectionJson, InstanceKeyJson, RecoveryStepJson, TopologyRecoveryJson};
use arbor_store::RecoveryRecord;
use arbor_topology::{InstanceKey, Timestamp};
use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::params::{HintPath, KeyPath, PathParams};
use crate::registry::{spec, Access, Answer, Api};
use crate::{ApiError, AppState};

/// The most records a listing reads, whatever the page.
const READ_LIMIT: usize = 10_000;

pub(crate) fn routes(api: Api) -> Api {
    use Access::Read;
    use Answer::*;
    let recoveries = |path, summary| spec(path, Read, List("TopologyRecovery"), summary);
    let detections = |path, summary| spec(path, Read, List("FailureDetection"), summary);
    api.route(recoveries("/api/audit-recovery", "recoveries, most recent first, with their steps (first page)"), audit_recovery)
        .route(recoveries("/api/audit-recovery/{hint}", "a page of recoveries (a number), or the recoveries of a cluster (a name, alias or member)"), audit_recovery_page_or_cluster)
        .route(recoveries("/api/audit-recovery/cluster/{hint}", "recoveries of one cluster"), audit_recovery_of_cluster)
        .route(recoveries("/api/audit-recovery/cluster/{hint}/{page}", "a page of one cluster's recoveries"), audit_recovery_of_cluster)
        .route(recoveries("/api/audit-recovery/alias/{hint}", "recoveries of the cluster with this alias"), audit_recovery_of_cluster)
        .route(recoveries("/api/audit-recovery/alias/{hint}/{page}", "a page of the recoveries of the cluster with this alias"), audit_recovery_of_cluster)
        .route(recoveries("/api/audit-recovery/id/{id}", "one recovery by id (empty when unknown)"), audit_recovery_by_id)
        .route(recoveries("/api/audit-recovery/uid/{uid}", "one recovery by uid (empty when unknown)"), audit_recovery_by_id)
        .route(spec("/api/audit-recovery-steps/{uid}", Read, List("RecoveryStep"), "the steps of one recovery"), audit_recovery_steps)
        .route(recoveries("/api/active-cluster-recovery/{hint}", "the recoveries of a cluster running now"), active_cluster_recovery)
        .route(recoveries("/api/recently-active-cluster-recovery/{hint}", "the recoveries of a cluster within RecoveryPeriodBlockSeconds"), recently_active_cluster_recovery)
        .route(recoveries("/api/recently-active-instance-recovery/{host}/{port}", "the recoveries of a failed instance within RecoveryPeriodBlockSeconds"), recently_active_instance_recovery)
        .route(detections("/api/audit-failure-detection", "failure detections, most recent first (first page)"), audit_failure_detection)
        .route(detections("/api/audit-failure-detection/{page}", "a page of failure detections"), audit_failure_detection)
        .route(detections("/api/audit-failure-detection/id/{id}", "one failure detection by id (empty when unknown)"), audit_failure_detection_by_id)
        .route(detections("/api/audit-failure-detection/alias/{hint}", "failure detections of the cluster with this alias"), audit_failure_detection_of_cluster)
        .route(detections("/api/audit-failure-detection/alias/{hint}/{page}", "a page of the failure detections of the cluster with this alias"), audit_failure_detection_of_cluster)
        .route(spec("/api/replication-analysis-changelog", Read, List("AnalysisChangelog"), "per instance, the failures arbor detected on it (time;analysis), newest first"), analysis_changelog)
        .route(spec("/api/automated-recovery-filters", Read, Object, "the filters that decide which clusters and hosts are recovered automatically"), automated_recovery_filters)
        .route(spec("/api/audit", Read, List("AuditEntry"), "the audit, newest first (first page)"), audit)
        .route(spec("/api/audit/{page}", Read, List("AuditEntry"), "a page of the audit"), audit)
        .route(spec("/api/audit/instance/{host}/{port}", Read, List("AuditEntry"), "the audit of one instance"), audit)
        .route(spec("/api/audit/instance/{host}/{port}/{page}", Read, List("AuditEntry"), "a page of the audit of one instance"), audit)
}

/// The page a request names (`page` path parameter), 0 when it names none.
fn page_of(params: &std::collections::HashMap<String, String>) -> Result<usize, ApiError> {
    match params.get("page") {
        None => Ok(0),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|p| *p <= 100_000)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("invalid page {text:?}: expected 0, 1, ..."))
            }),
    }
}

/// Entries `page` of `items` (already newest first).
fn paged<T>(state: &AppState, items: Vec<T>, page: usize) -> Vec<T> {
    let size = state.view.audit_page_size;
    items.into_iter().skip(page * size).take(size).collect()
}

fn recovery_list(records: &[RecoveryRecord]) -> Json<Vec<TopologyRecoveryJson>> {
    Json(records.iter().map(crate::wire::recovery_json).collect())
}

/// Every name a cluster hint stands for: the cluster's names (it may have been renamed by a
/// failover), or the hint itself when the cluster is gone but its records are not.
async fn names_of(state: &AppState, hint: &str) -> Result<Vec<String>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    Ok(match topology.resolve_cluster_hint(hint) {
        Ok(cluster) => topology.names_of(&cluster),
        Err(_) => vec![hint.to_string()],
    })
}

async fn recoveries_of(
    state: &AppState,
    names: &[String],
) -> Result<Vec<RecoveryRecord>, ApiError> {
    let mut records = Vec::new();
    for name in names {
        records.extend(
            state
                .discovery
                .store()
                .recoveries(Some(name), READ_LIMIT)
                .await?,
        );
    }
    records.sort_by_key(|r| std::cmp::Reverse(r.id));
    Ok(records)
}

async fn audit_recovery(
    State(state): State<AppState>,
) -> Result<Json<Vec<TopologyRecoveryJson>>, ApiError> {
    let records = state
        .discovery
        .store()
        .recoveries(None, state.view.audit_page_size)
        .await?;
    Ok(recovery_list(&records))
}

/// orchestrator's `audit-recovery/PAGE`; arbor also takes a cluster here.
async fn audit_recovery_page_or_cluster(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<Vec<TopologyRecoveryJson>>, ApiError> {
    if let Ok(page) = hint.parse::<usize>() {
        let size = state.view.audit_page_size;
        let records = state
            .discovery
            .store()
            .recoveries(None, (page + 1) * size)
            .await?;
        return Ok(recovery_list(&paged(&state, records, page)));
    }
    let records = recoveries_of(&state, &names_of(&state, &hint).await?).await?;
    Ok(recovery_list(&paged(&state, records, 0)))
}

async fn audit_recovery_of_cluster(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
    PathParams(params): PathParams,
) -> Result<Json<Vec<TopologyRecoveryJson>>, ApiError> {
    let page = page_of(&params)?;
    let records = recoveries_of(&state, &names_of(&state, &hint).await?).await?;
    Ok(recovery_list(&paged(&state, records, page)))
}

/// One recovery by its id or its uid, as a one-element array (orchestrator's shape).
async fn audit_recovery_by_id(
    State(state): State<AppState>,
    PathParams(params): PathParams,
) -> Result<Json<Vec<TopologyRecoveryJson>>, ApiError> {
    let records = state.discovery.store().recoveries(None, READ_LIMIT).await?;
    let found: Vec<RecoveryRecord> = records
        .into_iter()
        .filter(|r| match (params.get("id"), params.get("uid")) {
            (Some(id), _) => r.id.to_string() == *id,
            (None, Some(uid)) => r.uid == *uid,
            (None, None) => false,
        })
        .take(1)
        .collect();
    Ok(recovery_list(&found))
}

async fn audit_recovery_steps(
    State(state): State<AppState>,
    PathParams(params): PathParams,
) -> Result<Json<Vec<RecoveryStepJson>>, ApiError> {
    let uid = params.get("uid").cloned().unwrap_or_default();
    let records = state.discovery.store().recoveries(None, READ_LIMIT).await?;
    let record = records
        .iter()
        .find(|r| r.uid == uid)
        .ok_or_else(|| ApiError::NotFound(format!("unknown recovery {uid}")))?;
    Ok(Json(crate::wire::recovery_json(record).steps))
}

async fn active_cluster_recovery(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<Vec<TopologyRecoveryJson>>, ApiError> {
    let mut records = recoveries_of(&state, &names_of(&state, &hint).await?).await?;
    records.retain(|r| r.is_active);
    Ok(recovery_list(&records))
}

/// Started within `RecoveryPeriodBlockSeconds`.
fn recent(state: &AppState, record: &RecoveryRecord) -> bool {
    let since = Timestamp::now().millis() - state.recovery.block_period().as_millis() as i64;
    record.started_at.millis() >= since
}

async fn recently_active_cluster_recovery(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<Vec<TopologyRecoveryJson>>, ApiError> {
    let mut records = recoveries_of(&state, &names_of(&state, &hint).await?).await?;
    records.retain(|r| recent(&state, r));
    Ok(recovery_list(&records))
}

async fn recently_active_instance_recovery(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<Vec<TopologyRecoveryJson>>, ApiError> {
    let mut records = state.discovery.store().recoveries(None, READ_LIMIT).await?;
    records.retain(|r| r.failed == key && recent(&state, r));
    Ok(recovery_list(&records))
}

async fn audit_failure_detection(
    State(state): State<AppState>,
    PathParams(params): PathParams,
) -> Result<Json<Vec<FailureDetectionJson>>, ApiError> {
    let page = page_of(&params)?;
    let size = state.view.audit_page_size;
    let detections = state
        .discovery
        .store()
        .detections((page + 1) * size)
        .await?;
    let detections = paged(&state, detections, page);
    Ok(Json(
        detections.iter().map(crate::wire::detection_json).collect(),
    ))
}

async fn audit_failure_detection_by_id(
    State(state): State<AppState>,
    PathParams(params): PathParams,
) -> Result<Json<Vec<FailureDetectionJson>>, ApiError> {
    let id = params.get("id").cloned().unwrap_or_default();
    let detections = state.discovery.store().detections(READ_LIMIT).await?;
    Ok(Json(
        detections
            .iter()
            .filter(|d| d.id.to_string() == id)
            .map(crate::wire::detection_json)
            .collect(),
    ))
}

async fn audit_failure_detection_of_cluster(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
    PathParams(params): PathParams,
) -> Result<Json<Vec<FailureDetectionJson>>, ApiError> {
    let page = page_of(&params)?;
    let names = names_of(&state, &hint).await?;
    let mut detections = state.discovery.store().detections(READ_LIMIT).await?;
    detections.retain(|d| names.contains(&d.cluster));
    let detections = paged(&state, detections, page);
    Ok(Json(
        detections.iter().map(crate::wire::detection_json).collect(),
    ))
}

/// orchestrator's `ReplicationAnalysisChangelog`.
#[derive(Serialize)]
pub(crate) struct AnalysisChangelog {
    #[serde(rename = "AnalyzedInstanceKey")]
    pub analyzed_instance_key: InstanceKeyJson,
    /// `time;analysis`, newest first.
    #[serde(rename = "Changelog")]
    pub changelog: Vec<String>,
}

/// arbor records each failure it detects (deduplicated within
/// `FailureDetectionPeriodBlockMinutes`): those are the changes listed, per instance.
async fn analysis_changelog(
    State(state): State<AppState>,
) -> Result<Json<Vec<AnalysisChangelog>>, ApiError> {
    let detections = state.discovery.store().detections(READ_LIMIT).await?;
    let mut per_instance: BTreeMap<InstanceKey, Vec<String>> = BTreeMap::new();
    for detection in &detections {
        per_instance
            .entry(detection.key.clone())
            .or_default()
            .push(format!(
                "{};{}",
                detection.detected_at.to_sql_datetime(),
                detection.analysis
            ));
    }
    Ok(Json(
        per_instance
            .into_iter()
            .map(|(key, changelog)| AnalysisChangelog {
                analyzed_instance_key: (&key).into(),
                changelog,
            })
            .collect(),
    ))
}

async fn automated_recovery_filters(State(state): State<AppState>) -> Json<serde_json::Value> {
    let map: serde_json::Map<String, serde_json::Value> = state
        .recovery
        .recovery_filters()
        .into_iter()
        .map(|(key, patterns)| (key.to_string(), serde_json::json!(patterns)))
        .collect();
    Json(serde_json::Value::Object(map))
}

/// orchestrator's `Audit` entry.
#[derive(Serialize)]
pub(crate) struct AuditEntry {
    #[serde(rename = "AuditId")]
    pub id: i64,
    #[serde(rename = "AuditTimestamp")]
    pub timestamp: String,
    #[serde(rename = "AuditType")]
    pub kind: String,
    #[serde(rename = "AuditInstanceKey")]
    pub key: InstanceKeyJson,
    #[serde(rename = "Message")]
    pub message: String,
}

/// The general audit: what arbor did, newest first. It is read from the store, which holds the
/// audit of record: every failure detection (`AuditType` `detection-ANALYSIS`) and every step
/// of every recovery (`AuditType` the recovery's kind). Operators' requests are in
/// `AuditLogFile` when it is set.
async fn audit(
    State(state): State<AppState>,
    PathParams(params): PathParams,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let page = page_of(&params)?;
    let only = crate::params::key_of(&params, "host", "port")?;
    let store = state.discovery.store();
    let mut entries: Vec<(i64, AuditEntry)> = Vec::new();
    for detection in store.detections(READ_LIMIT).await? {
        entries.push((
            detection.detected_at.millis(),
            AuditEntry {
                id: 0,
                timestamp: detection.detected_at.to_sql_datetime(),
                kind: format!("detection-{}", detection.analysis),
                key: (&detection.key).into(),
                message: format!("{} ({})", detection.description, detection.cluster),
            },
        ));
    }
    for record in store.recoveries(None, READ_LIMIT).await? {
        for step in &record.steps {
            entries.push((
                step.at.millis(),
                AuditEntry {
                    id: 0,
                    timestamp: step.at.to_sql_datetime(),
                    kind: record.kind.clone(),
                    key: (&record.failed).into(),
                    message: format!("recovery {}: {}", record.id, step.message),
                },
            ));
        }
    }
    if let Some(key) = &only {
        let key: InstanceKeyJson = key.into();
        entries.retain(|(_, e)| e.key == key);
    }
    // Oldest first to number them, then newest first.
    entries.sort_by_key(|(at, _)| *at);
    for (n, (_, entry)) in entries.iter_mut().enumerate() {
        entry.id = n as i64 + 1;
    }
    entries.reverse();
    Ok(Json(paged(
        &state,
        entries.into_iter().map(|(_, e)| e).collect(),
        page,
    )))
}
