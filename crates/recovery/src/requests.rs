//! What operators ask for (`recover`, `force-master-failover`, `graceful-master-takeover`),
//! and the continuation of a recovery another node left half done.

use std::sync::Arc;

use arbor_analysis::AnalysisCode;
use arbor_store::Intents;
use arbor_store::{RecoveryRecord, StoreError};
use arbor_topology::{InstanceKey, Timestamp};

use crate::audit::Audit;
use crate::engine::{healthy_analysis, is_recoverable, RecoveryEngine, RecoveryError};
use crate::hooks::HookContext;
use crate::run::Request;
use crate::{failover, takeover};

impl RecoveryEngine {
    /// `recover HOST:PORT`: recovers whatever failure the instance has now, ignoring filters and
    /// downtime, never beside another recovery of the cluster, and (unless `override_block`)
    /// not within the block period of an unacknowledged recovery of it: a retried or doubled
    /// request must not fail a cluster over twice.
    pub async fn recover(
        &self,
        key: &InstanceKey,
        override_block: bool,
    ) -> Result<RecoveryRecord, RecoveryError> {
        self.recover_with(key, None, false, override_block).await
    }

    /// [`Self::recover`] with a designated replica to promote (a dead primary's recovery
    /// only), and without hooks when `skip_hooks` (orchestrator's `recover-lite`).
    pub async fn recover_with(
        &self,
        key: &InstanceKey,
        designated: Option<InstanceKey>,
        skip_hooks: bool,
        override_block: bool,
    ) -> Result<RecoveryRecord, RecoveryError> {
        self.require_leader()?;
        let analysis = match self.confirm(key).await? {
            Some(analysis) => analysis,
            None => {
                let snapshot = self.snapshot().await?;
                let analyses = &snapshot.analyses;
                let current = analyses.iter().find(|a| &a.key == key);
                match current {
                    Some(analysis) if is_recoverable(analysis.code) => analysis.clone(),
                    Some(analysis) => {
                        return Err(RecoveryError::NothingToRecover(format!(
                            "{key} has no failure to recover ({})",
                            analysis.code.map(|c| c.name()).unwrap_or("no problem")
                        )))
                    }
                    None => {
                        return Err(RecoveryError::NothingToRecover(format!(
                            "{key} has no failure to recover"
                        )))
                    }
                }
            }
        };
        if designated.is_some() && crate::engine::is_intermediate(analysis.code) {
            return Err(RecoveryError::Refused(format!(
                "{key} is an intermediate primary: its replicas move up to its source, there is \
                 no replica to designate"
            )));
        }
        self.register_detection(&analysis).await?;
        let request = Request {
            designated,
            skip_hooks,
            ..Request::manual(override_block)
        };
        self.execute_marked(&analysis, request).await
    }

    /// `force-master-failover CLUSTER`: fails the primary over even though it may be alive
    /// (it is set read-only first when reachable). Blocked like [`Self::recover`].
    pub async fn force_master_failover(
        &self,
        cluster_hint: &str,
        override_block: bool,
    ) -> Result<RecoveryRecord, RecoveryError> {
        self.force_master_takeover(cluster_hint, None, override_block)
            .await
    }

    /// `force-master-takeover CLUSTER HOST:PORT`: [`Self::force_master_failover`] promoting
    /// the given direct replica of the primary.
    pub async fn force_master_takeover(
        &self,
        cluster_hint: &str,
        designated: Option<InstanceKey>,
        override_block: bool,
    ) -> Result<RecoveryRecord, RecoveryError> {
        self.require_leader()?;
        let snapshot = self.snapshot().await?;
        let topology = &snapshot.topology;
        let analyses = &snapshot.analyses;
        let cluster = topology
            .resolve_cluster_hint(cluster_hint)
            .map_err(|e| RecoveryError::NotFound(e.to_string()))?;
        let primary = topology.cluster_root(&cluster).ok_or_else(|| {
            RecoveryError::Refused(format!("primary of cluster {cluster} was never read"))
        })?;
        if topology.replicas_of(primary.key()).is_empty() {
            return Err(RecoveryError::Refused(format!(
                "{} has no replica to promote",
                primary.key()
            )));
        }
        if let Some(designated) = &designated {
            if topology.record(designated).is_none() {
                return Err(RecoveryError::NotFound(format!(
                    "unknown instance {designated}"
                )));
            }
            if !topology.replica_keys_of(primary.key()).contains(designated) {
                return Err(RecoveryError::Refused(format!(
                    "{designated} is not a direct replica of {}, the primary of {cluster}",
                    primary.key()
                )));
            }
        }
        let mut analysis = analyses
            .iter()
            .find(|a| &a.key == primary.key())
            .cloned()
            .unwrap_or_else(|| healthy_analysis(topology, primary.key()));
        analysis.code = Some(AnalysisCode::DeadMaster);
        self.execute_marked(
            &analysis,
            Request {
                primary_may_live: true,
                designated,
                ..Request::manual(override_block)
            },
        )
        .await
    }

    /// `graceful-master-takeover CLUSTER [HOST:PORT]`: a planned switchover with no write lost.
    /// With `start_replication`, the old primary replicates from the new one at the end.
    pub async fn graceful_takeover(
        &self,
        cluster_hint: &str,
        designated: Option<InstanceKey>,
        start_replication: bool,
    ) -> Result<RecoveryRecord, RecoveryError> {
        self.require_leader()?;
        let snapshot = self.snapshot().await?;
        let topology = &snapshot.topology;
        let cluster = topology
            .resolve_cluster_hint(cluster_hint)
            .map_err(|e| RecoveryError::NotFound(e.to_string()))?;
        let _mark = self.mark_busy(&cluster);
        // Chosen from a fresh reading of every member, not the last poll: a replica that died
        // since must not be designated, nor a sibling moved under it.
        let snapshot = self.fresh_snapshot_of(&cluster, None).await?;
        let topology = &snapshot.topology;
        takeover::graceful_takeover(self, topology, &cluster, designated, start_replication).await
    }

    /// Closes (and acknowledges) recoveries left active by a node that stopped or lost the
    /// lead mid-way, so they do not block their clusters for the whole block period; a failure
    /// still there is detected again and recovered by this node.
    pub(crate) async fn close_unfinished(&self) -> Result<(), StoreError> {
        // A dead-primary recovery that recorded its successor may have promoted it already:
        // starting another would promote a second primary. It is finished instead.
        let interrupted: Vec<RecoveryRecord> = self
            .inner
            .store
            .recoveries(None, 100)
            .await?
            .into_iter()
            .filter(|r| r.is_active && r.successor.is_some() && r.kind == "MasterRecovery")
            .collect();
        for record in interrupted {
            self.continue_promotion(record).await;
        }
        let abandoned = self
            .inner
            .store
            .abandon_active_recoveries(
                Timestamp::now(),
                "the arbor node running this recovery stopped or lost the lead",
            )
            .await?;
        if abandoned > 0 {
            tracing::warn!(abandoned, "closed recoveries left unfinished");
        }
        Ok(())
    }

    /// Finishes a dead-primary recovery another node left after naming its successor: the
    /// promotion is done again (each step is idempotent) and the failed primary's remaining
    /// replicas are moved under the successor.
    pub(crate) async fn continue_promotion(&self, record: RecoveryRecord) {
        let Some(successor) = record.successor.clone() else {
            return;
        };
        let _mark = self.mark_busy(&record.cluster);
        let settings = &self.inner.settings;
        let audit = Audit {
            id: record.id,
            uid: record.uid.clone(),
            failed: record.failed.clone(),
            cluster: record.cluster.clone(),
            store: Arc::clone(&self.inner.store),
            log: settings.audit_log.clone(),
        };
        audit
            .step(format!(
                "continued by {}: the node running this recovery stopped or lost the lead after choosing {successor}; finishing that promotion",
                settings.node_name
            ))
            .await;
        // Fresh readings first: the previous leader may have moved some replicas already.
        let snapshot = match self.snapshot().await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(%error, "cannot read the topology to continue a recovery");
                return;
            }
        };
        let topology = &snapshot.topology;
        let mut keys = vec![successor.clone()];
        keys.extend(topology.replica_keys_of(&record.failed));
        keys.extend(topology.replica_keys_of(&successor));
        self.inner.discovery.probe_now(&keys).await;
        // Still under the failed primary, or already moved under the successor by the previous
        // leader (which may have died between CHANGE MASTER and START SLAVE): all are
        // (re)pointed, which is harmless for those already replicating.
        let (others, semi_sync_primary): (Vec<InstanceKey>, bool) = match self.snapshot().await {
            Ok(snapshot) => {
                let topology = &snapshot.topology;
                let mut others = topology.replica_keys_of(&record.failed);
                others.extend(topology.replica_keys_of(&successor));
                others.retain(|k| k != &successor);
                others.sort();
                others.dedup();
                let semi_sync = topology
                    .record(&record.failed)
                    .is_some_and(|r| r.instance.semi_sync.primary_enabled);
                (others, semi_sync)
            }
            Err(_) => (Vec::new(), false),
        };
        let result = failover::promote_and_repoint(
            self,
            &audit,
            &record.failed,
            failover::Promotion {
                promote: successor,
                others,
                lost: Vec::new(),
                errors: Vec::new(),
                force: false,
                wait_for_relay_log: false,
                semi_sync_primary,
            },
        )
        .await;
        if let Ok(done) = &result {
            self.downtime_lost_in_recovery(
                &audit,
                std::slice::from_ref(&record.failed),
                "failed primary",
            )
            .await;
            if let Some(successor) = &done.successor {
                let alias = topology
                    .alias_of(&record.cluster)
                    .unwrap_or(&record.cluster)
                    .to_string();
                self.keep_cluster_identity(&audit, &record.cluster, &alias, successor)
                    .await;
            }
        }
        let context = HookContext {
            failure_type: record.analysis.clone(),
            instance_type: "master".into(),
            is_master: true,
            command: "continue".into(),
            failed_host: record.failed.hostname.clone(),
            failed_port: record.failed.port,
            failure_cluster: record.cluster.clone(),
            orchestrator_host: settings.node_name.clone(),
            recovery_uid: record.uid.clone(),
            ..HookContext::default()
        };
        let hooks = &settings.hooks;
        if let Err(error) = self
            .finish(
                &audit,
                result,
                context,
                &[hooks.post_master_failover.as_slice(), &hooks.post_failover],
                &hooks.post_unsuccessful_failover,
            )
            .await
        {
            tracing::warn!(%error, "cannot record the end of a continued recovery");
        }
    }
}
