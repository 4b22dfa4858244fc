//! After a failover, the old primary and the replicas the failover could not bring along may
//! come back. Left alone, a returning primary takes writes beside the new one, and a lost
//! replica reconnects to it and follows the wrong history. Every pass of the loop, the leader:
//!
//! - fences a former primary that is back: `read_only` at once, and a downtime, so an operator
//!   sees it; with `RejoinFormerPrimary`, one that holds nothing its successor lacks is then
//!   pointed at the current primary and becomes a replica again (analysis codes
//!   `FormerMasterNotRejoined` and `FormerMasterWithErrantTransactions` say which case it is);
//! - detaches (`//host`) a lost replica that is back still pointing at the failed primary
//!   (`DetachLostReplicasAfterMasterFailover`);
//! - ends the `lost-in-recovery` downtime of any instance seen replicating again.

use arbor_analysis::{Analysis, AnalysisCode};
use arbor_mysql::Link;
use arbor_store::Intents;
use arbor_store::RecoveryRecord;
use arbor_topology::{Downtime, InstanceKey, Kept, Timestamp, Topology};

use crate::actions::{open, replication_credentials, run_all, run_hiding};
use crate::audit::Audit;
use crate::engine::RecoveryEngine;
use crate::failover::detach_source;
use crate::settings::LOST_IN_RECOVERY;

impl RecoveryEngine {
    pub(crate) async fn look_after_former_members(
        &self,
        topology: &Topology,
        analyses: &[Analysis],
    ) {
        self.end_downtimes_of_the_recovered(topology).await;
        // What this node handled stays handled only while the server is still a former
        // primary, or still a replica pointing at one.
        self.inner
            .fenced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|key| topology.replaced_by(key).is_some());
        self.inner
            .detach_tried
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|key| {
                topology
                    .record(key)
                    .and_then(|r| r.instance.source())
                    .is_some_and(|s| topology.replaced_by(s).is_some())
            });
        for analysis in analyses {
            if matches!(
                analysis.code,
                Some(AnalysisCode::FormerMasterNotRejoined)
                    | Some(AnalysisCode::FormerMasterWithErrantTransactions)
            ) {
                self.look_after_former_primary(topology, analysis).await;
            }
        }
        if self.inner.settings.detach_lost_replicas {
            for record in topology.records() {
                let source = record.instance.source();
                let pointing_at_former = source
                    .is_some_and(|s| matches!(topology.kept(s), Some(Kept::FormerPrimary { .. })));
                if pointing_at_former && record.is_last_check_valid() {
                    self.detach_returning_lost_replica(topology, record.key(), source.unwrap())
                        .await;
                }
            }
        }
    }

    async fn look_after_former_primary(&self, topology: &Topology, analysis: &Analysis) {
        let key = &analysis.key;
        let Some(record) = topology.record(key) else {
            return;
        };
        let settings = &self.inner.settings;
        let rejoin = settings.rejoin_former_primary
            && analysis.code == Some(AnalysisCode::FormerMasterNotRejoined);
        let already_fenced = self
            .inner
            .fenced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key);
        if record.instance.read_only && !rejoin && already_fenced {
            return;
        }
        let Some(_mark) = self.try_mark_busy(&analysis.cluster) else {
            return;
        };
        if self.any_recovery_running().await {
            return;
        }
        let audit = self.audit_of_failover_of(key, &analysis.cluster).await;
        if !record.instance.read_only {
            let fenced = async {
                let mut session = open(self, key).await?;
                let statements = session
                    .dialect()
                    .set_read_only(true, settings.use_super_read_only);
                run_all(&mut session, &audit, &statements).await
            }
            .await;
            match fenced {
                Ok(()) => {
                    audit
                        .step(format!(
                            "former primary {key} is back and was writable: fenced read-only"
                        ))
                        .await
                }
                Err(error) => {
                    audit
                        .step(format!(
                            "former primary {key} is back and writable; cannot fence it: {error}"
                        ))
                        .await;
                    return;
                }
            }
        }
        let primary = topology
            .cluster_root(&analysis.cluster)
            .filter(|p| p.is_last_check_valid());
        match (rejoin, primary) {
            (true, Some(primary)) => match self.rejoin(&audit, key, primary.key()).await {
                Ok(()) => {
                    audit
                            .step(format!(
                                "former primary {key} holds nothing {} lacks: rejoined as its replica (RejoinFormerPrimary)",
                                primary.key()
                            ))
                            .await;
                    let _ = self.inner.store.end_downtime(key).await;
                    self.inner
                        .fenced
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(key);
                    return;
                }
                Err(error) => {
                    audit
                        .step(format!("cannot rejoin former primary {key}: {error}"))
                        .await
                }
            },
            _ if analysis.code == Some(AnalysisCode::FormerMasterWithErrantTransactions) => {
                self.say_why_not(
                    analysis,
                    format!(
                        "former primary {key} holds transactions its successor lacks ({}): left fenced",
                        analysis.errant_gtid
                    ),
                );
            }
            _ => {}
        }
        self.downtime_fenced(&audit, key).await;
        self.inner
            .fenced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
    }

    /// Points a fenced former primary at the current primary, with GTID from its own binary
    /// log position (MariaDB: its own old writes count as applied).
    async fn rejoin(
        &self,
        audit: &Audit,
        key: &InstanceKey,
        primary: &InstanceKey,
    ) -> Result<(), String> {
        let mut session = open(self, key).await?;
        // Judged on a poll's reading: someone may have pointed it somewhere since.
        if let Some(status) = session.replica_status().await.map_err(|e| e.to_string())? {
            return Err(format!(
                "it replicates from {} already (set since arbor last read it)",
                status.source
            ));
        }
        let (user, password) = replication_credentials(self, primary).await?;
        let dialect = session.dialect();
        run_all(&mut session, audit, &dialect.prepare_former_primary()).await?;
        let link = Link::new_with(
            &user,
            &password,
            self.inner.settings.replication_ssl.as_ref(),
        );
        let change = dialect.change_source_gtid(primary, &link);
        run_hiding(&mut session, audit, &change, Some(&password)).await?;
        run_all(&mut session, audit, &[dialect.start_replica()]).await
    }

    /// A `lost-in-recovery` downtime lasts until the instance is seen replicating again, as in
    /// orchestrator: it may be promoted one day, and a downtimed primary is never recovered.
    async fn end_downtimes_of_the_recovered(&self, topology: &Topology) {
        let store = &self.inner.store;
        let Ok(downtimes) = store.active_downtimes(Timestamp::now()).await else {
            return;
        };
        for downtime in downtimes.iter().filter(|d| d.reason == LOST_IN_RECOVERY) {
            let replicating = topology.record(&downtime.key).is_some_and(|r| {
                r.is_last_check_valid()
                    && r.instance.source().is_some()
                    && r.instance
                        .replication
                        .as_ref()
                        .is_some_and(|s| s.is_replicating())
            });
            if replicating && store.end_downtime(&downtime.key).await.unwrap_or(false) {
                tracing::info!(key = %downtime.key, "replicates again: its lost-in-recovery downtime ends");
                if let Some(log) = &self.inner.settings.audit_log {
                    log.append(
                        "end-downtime",
                        Some(&downtime.key),
                        topology.cluster_of(&downtime.key).unwrap_or_default(),
                        "replicates again: its lost-in-recovery downtime ends",
                    );
                }
            }
        }
    }

    /// A fenced former primary is downtimed (once), as orchestrator does with what a recovery
    /// left behind: automated recovery leaves it alone and operators see it.
    async fn downtime_fenced(&self, audit: &Audit, key: &InstanceKey) {
        let store = &self.inner.store;
        let now = Timestamp::now();
        let downtimed = store
            .active_downtimes(now)
            .await
            .is_ok_and(|list| list.iter().any(|d| &d.key == key));
        if downtimed {
            return;
        }
        let settings = &self.inner.settings;
        let length = if settings.lost_downtime.is_zero() {
            std::time::Duration::from_secs(24 * 3600)
        } else {
            settings.lost_downtime
        };
        let downtime = Downtime {
            key: key.clone(),
            owner: settings.node_name.clone(),
            reason: LOST_IN_RECOVERY.to_string(),
            begin: now,
            end: now.plus(length),
        };
        match store.begin_downtime(downtime).await {
            Ok(()) => {
                audit
                    .step(format!("downtimed fenced former primary {key}"))
                    .await
            }
            Err(error) => {
                audit
                    .step(format!("cannot downtime former primary {key}: {error}"))
                    .await
            }
        }
    }

    async fn detach_returning_lost_replica(
        &self,
        topology: &Topology,
        key: &InstanceKey,
        failed: &InstanceKey,
    ) {
        let cluster = topology.cluster_of(key).unwrap_or_default().to_string();
        // One attempt per replica: a refusal (privileges) must not be retried every second.
        if self
            .inner
            .detach_tried
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
        {
            return;
        }
        let Some(_mark) = self.try_mark_busy(&cluster) else {
            return;
        };
        if self.any_recovery_running().await {
            return;
        }
        self.inner
            .detach_tried
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        let audit = self.audit_of_failover_of(failed, &cluster).await;
        // Judged on a reading that may be a poll old: the link is read again on the session
        // that detaches, and left alone if someone already pointed it elsewhere.
        match open(self, key).await {
            Ok(mut session) => {
                let detached =
                    detach_source(&mut session, &audit, failed, "returning lost replica").await;
                if detached {
                    audit
                        .step(format!(
                            "{key}, lost in the failover of {failed}, is back: detached from it (DetachLostReplicasAfterMasterFailover)"
                        ))
                        .await
                }
            }
            Err(error) => {
                audit
                    .step(format!(
                        "cannot detach returning lost replica {key}: {error}"
                    ))
                    .await
            }
        }
    }

    /// Whether the store has a recovery still running (this node's, or one another node left
    /// and this one has not closed yet). While one runs the topology is half moved: a server
    /// being promoted looks like a lone former primary for a moment. Nothing is touched then.
    async fn any_recovery_running(&self) -> bool {
        self.inner
            .store
            .recoveries(None, 20)
            .await
            .map_or(true, |records| records.iter().any(|r| r.is_active))
    }

    /// The audit of the latest recovery that replaced `failed`, to append what happens to it
    /// after; a bare log when there is none.
    async fn audit_of_failover_of(&self, failed: &InstanceKey, cluster: &str) -> Audit {
        let records: Vec<RecoveryRecord> = self
            .inner
            .store
            .recoveries(None, 100)
            .await
            .unwrap_or_default();
        let record = records
            .into_iter()
            .find(|r| &r.failed == failed && r.successor.is_some());
        Audit {
            id: record.as_ref().map(|r| r.id).unwrap_or(0),
            uid: record.map(|r| r.uid).unwrap_or_default(),
            failed: failed.clone(),
            cluster: cluster.to_string(),
            store: std::sync::Arc::clone(&self.inner.store),
            log: self.inner.settings.audit_log.clone(),
        }
    }
}
