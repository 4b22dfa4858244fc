//! Store records as orchestrator's JSON shapes. The wire types live in `arbor-api`, which
//! knows nothing of the store (so the client builds without it); the conversion is here.

use arbor_api::{FailureDetectionJson, InstanceKeyJson, RecoveryStepJson, TopologyRecoveryJson};
use arbor_store::{FailureDetection, RecoveryRecord};
use arbor_topology::InstanceKey;

/// A recovery as orchestrator's `TopologyRecovery` JSON.
pub(crate) fn recovery_json(record: &RecoveryRecord) -> TopologyRecoveryJson {
    let keys = |keys: &[InstanceKey]| keys.iter().map(Into::into).collect::<Vec<_>>();
    TopologyRecoveryJson {
        id: record.id,
        uid: record.uid.clone(),
        analysis_entry: serde_json::json!({
            "AnalyzedInstanceKey": InstanceKeyJson::from(&record.failed),
            "Analysis": record.analysis,
            "ClusterDetails": { "ClusterName": record.cluster },
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
            })
            .collect(),
    }
}

/// A failure detection as orchestrator's JSON.
pub(crate) fn detection_json(detection: &FailureDetection) -> FailureDetectionJson {
    FailureDetectionJson {
        id: detection.id,
        analysis_entry: serde_json::json!({
            "AnalyzedInstanceKey": InstanceKeyJson::from(&detection.key),
            "Analysis": detection.analysis,
            "Description": detection.description,
            "ClusterDetails": { "ClusterName": detection.cluster },
        }),
        detection_timestamp: detection.detected_at.to_sql_datetime(),
    }
}
