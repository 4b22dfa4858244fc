//! The analysis a recovery starts from, kept with it in orchestrator's `ReplicationAnalysis`
//! JSON (its `AnalysisEntry`), built here for the API too.

use arbor_api::{InstanceKeyJson, ReplicationAnalysisJson};
use arbor_topology::Timestamp;

use crate::engine::RecoveryEngine;

/// orchestrator's replication-analysis entry for one analysis.
pub fn analysis_json(
    analysis: &arbor_analysis::Analysis,
    topology: &arbor_topology::Topology,
    annotations: &arbor_api::Annotations,
    automated: (bool, bool),
    node: &str,
) -> ReplicationAnalysisJson {
    let is_downtimed = annotations.downtimes.contains_key(&analysis.key);
    let downtimed_replicas = analysis
        .replicas
        .iter()
        .filter(|k| annotations.downtimes.contains_key(*k))
        .count();
    ReplicationAnalysisJson {
        analyzed_instance_key: (&analysis.key).into(),
        analyzed_instance_master_key: analysis
            .source
            .as_ref()
            .map(Into::into)
            .unwrap_or_else(InstanceKeyJson::empty),
        cluster_details: arbor_api::ClusterInfo::of(topology, &analysis.cluster, automated),
        is_master: analysis.is_primary,
        is_co_master: analysis.is_co_primary,
        last_check_valid: analysis.last_check_valid,
        is_read_only: analysis.is_read_only,
        count_replicas: analysis.count_replicas,
        count_valid_replicas: analysis.count_valid_replicas,
        count_valid_replicating_replicas: analysis.count_valid_replicating_replicas,
        count_replicas_failing_to_connect_to_master: analysis.count_replicas_failing_to_connect,
        count_downtimed_replicas: downtimed_replicas,
        count_delayed_replicas: analysis.count_delayed_replicas,
        count_lagging_replicas: analysis.count_lagging_replicas,
        replicas: analysis.replicas.iter().map(Into::into).collect(),
        analysis: analysis
            .code
            .map(|c| c.name().to_string())
            .unwrap_or_else(|| "NoProblem".to_string()),
        description: analysis.description(),
        structure_analysis: analysis
            .structure
            .iter()
            .map(|w| w.name().to_string())
            .collect(),
        is_downtimed,
        skippable_due_to_downtime: is_downtimed && analysis.is_actionable(),
        is_actionable_recovery: analysis.is_actionable(),
        gtid_errant: analysis.errant_gtid.clone(),
        command_hint: String::new(),
        extras: arbor_api::AnalysisExtrasJson::of(
            &analysis.key,
            topology,
            annotations,
            node,
            Timestamp::now(),
            arbor_analysis::errant_gtid,
        ),
        not_recovered_because: None,
    }
}

impl RecoveryEngine {
    /// `analysis` as orchestrator's JSON text, on the latest topology (empty if that cannot
    /// be read: the recovery goes on without it).
    pub(crate) async fn analysis_entry(&self, analysis: &arbor_analysis::Analysis) -> String {
        let Ok(snapshot) = self.snapshot().await else {
            return String::new();
        };
        let downtimes = self
            .inner
            .store
            .active_downtimes(Timestamp::now())
            .await
            .unwrap_or_default();
        let annotations = arbor_api::Annotations {
            downtimes: downtimes.into_iter().map(|d| (d.key.clone(), d)).collect(),
            ..Default::default()
        };
        let automated = self.automated_recovery_of(&analysis.cluster, &analysis.cluster_alias);
        let json = analysis_json(
            analysis,
            &snapshot.topology,
            &annotations,
            automated,
            &self.inner.settings.node_name,
        );
        serde_json::to_string(&json).unwrap_or_default()
    }
}
