//! Store records as orchestrator's JSON shapes. The wire types live in `arbor-api`, which
//! knows nothing of the store (so the client builds without it); the conversion is here.

use arbor_api::{
    FailureDetectionJson, InstanceKeyJson, RecoveryStepJson, TopologyRecoveryJson, ViewContext,
};
use arbor_store::{FailureDetection, RecoveryRecord};
use arbor_topology::{InstanceKey, Timestamp, Topology};

use crate::{ApiError, AppState};

/// A recovery as orchestrator's `TopologyRecovery` JSON.
pub(crate) fn recovery_json(record: &RecoveryRecord) -> TopologyRecoveryJson {
    let keys = |keys: &[InstanceKey]| keys.iter().map(Into::into).collect::<Vec<_>>();
    TopologyRecoveryJson {
        id: record.id,
        uid: record.uid.clone(),
        // The full analysis the recovery started from, when it was recorded (recoveries from
        // before arbor kept it have the short form).
        analysis_entry: serde_json::from_str(&record.analysis_entry).unwrap_or_else(|_| {
            serde_json::json!({
                "AnalyzedInstanceKey": InstanceKeyJson::from(&record.failed),
                "Analysis": record.analysis,
                "ClusterDetails": { "ClusterName": record.cluster },
            })
        }),
        successor_key: record.successor.as_ref().map(Into::into),
        successor_alias: String::new(),
        is_active: record.is_active,
        is_successful: record.successful,
        lost_replicas: keys(&record.lost_replicas),
        participating_instance_keys: keys(&record.participating),
        all_errors: record.errors.clone(),
        recovery_start_timestamp: record.started_at.to_sql_datetime(),
        recovery_end_timestamp: record
            .ended_at
            .map(|t| t.to_sql_datetime())
            .unwrap_or_default(),
        processing_node_hostname: record.processing_node.clone(),
        processing_node_token: record.processing_node.clone(),
        successor_binlog_coordinates: None,
        last_detection_id: 0,
        related_recovery_id: 0,
        recovery_type: if record.kind == "MasterRecovery" {
            "MasterRecoveryGTID".to_string()
        } else {
            String::new()
        },
        acknowledged: record.acknowledged,
        acknowledged_at: record
            .acknowledged_at
            .map(|t| t.to_sql_datetime())
            .unwrap_or_default(),
        acknowledged_by: record.acknowledged_by.clone(),
        acknowledged_comment: record.acknowledged_comment.clone(),
        kind: record.kind.clone(),
        manual: record.manual,
        steps: record
            .steps
            .iter()
            .map(|s| RecoveryStepJson {
                at: s.at.to_sql_datetime(),
                message: s.message.clone(),
                millis_since_start: s.at.millis() - record.started_at.millis(),
            })
            .collect(),
    }
}

/// A failure detection as orchestrator's JSON.
pub(crate) fn detection_json(detection: &FailureDetection) -> FailureDetectionJson {
    let at = detection.detected_at.to_sql_datetime();
    FailureDetectionJson {
        recovery: TopologyRecoveryJson {
            id: detection.id,
            uid: String::new(),
            analysis_entry: serde_json::json!({
                "AnalyzedInstanceKey": InstanceKeyJson::from(&detection.key),
                "Analysis": detection.analysis,
                "Description": detection.description,
                "ClusterDetails": { "ClusterName": detection.cluster },
            }),
            successor_key: None,
            successor_alias: String::new(),
            is_active: false,
            is_successful: false,
            lost_replicas: Vec::new(),
            participating_instance_keys: Vec::new(),
            all_errors: Vec::new(),
            recovery_start_timestamp: at.clone(),
            recovery_end_timestamp: String::new(),
            processing_node_hostname: String::new(),
            processing_node_token: String::new(),
            successor_binlog_coordinates: None,
            last_detection_id: detection.id,
            related_recovery_id: 0,
            recovery_type: String::new(),
            acknowledged: false,
            acknowledged_at: String::new(),
            acknowledged_by: String::new(),
            acknowledged_comment: String::new(),
            kind: String::new(),
            manual: false,
            steps: Vec::new(),
        },
        detection_timestamp: at,
    }
}

/// orchestrator's replication-analysis entry for one analysis (the one place it is built:
/// recovery records it too, as the analysis a recovery started from).
pub(crate) use arbor_recovery::analysis_json;

/// What the instance documents are rendered with: the topology, now, and the node's view
/// settings and annotations.
pub(crate) async fn view<'a>(
    state: &AppState,
    topology: &'a Topology,
) -> Result<ViewContext<'a>, ApiError> {
    Ok(ViewContext {
        topology,
        now: Timestamp::now(),
        check_window: state.view.check_window,
        reasonable_lag: state.view.reasonable_lag,
        annotations: state.annotations().await?,
        errant_gtid: arbor_analysis::errant_gtid,
    })
}
