//! One recovery from registration to record: anti-flapping through the store, the hooks of
//! each stage, the audit trail of steps, and the outcome.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arbor_analysis::{Analysis, AnalysisCode};
use arbor_store::Intents;
use arbor_store::{RecoveryOutcome, RecoveryRecord, RecoveryStart, StartDecision};
use arbor_topology::{Downtime, InstanceKey, Timestamp};

use crate::audit::{Audit, Done};
use crate::engine::{is_intermediate, BlockedRecovery, RecoveryEngine, RecoveryError};
use crate::hooks::{run_hooks, HookContext};
use crate::settings::LOST_IN_RECOVERY;
use crate::{failover, filters};

static UID_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn new_uid() -> String {
    let sequence = UID_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:x}-{:x}-{sequence}",
        Timestamp::now().millis(),
        std::process::id()
    )
}

/// How a recovery was asked for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    /// By an operator (filters and downtime do not apply), not the automated loop.
    pub manual: bool,
    /// The failed primary may be alive (`force-master-failover`): it is set read-only first
    /// and not touched afterwards.
    pub primary_may_live: bool,
    /// Runs even within the block period of an unacknowledged recovery of the cluster (which
    /// it then acknowledges): an operator's explicit `force`.
    pub override_block: bool,
    /// The replica an operator wants promoted (`recover/H/P/candH/candP`,
    /// `force-master-takeover`): it catches up from the most advanced replica first, so no
    /// row any replica had is lost.
    pub designated: Option<InstanceKey>,
    /// No hooks run (`recover-lite`).
    pub skip_hooks: bool,
}

impl Request {
    pub fn automated() -> Request {
        Request::default()
    }

    pub fn manual(override_block: bool) -> Request {
        Request {
            manual: true,
            override_block,
            ..Request::default()
        }
    }
}

/// What a recovery is registered with (see [`RecoveryEngine::begin`]).
pub(crate) struct Starting<'a> {
    pub cluster: &'a str,
    pub failed: &'a InstanceKey,
    /// The analysis code's name.
    pub analysis: &'a str,
    pub kind: &'a str,
    pub manual: bool,
    /// The analysis as orchestrator's JSON, kept with the record.
    pub analysis_entry: String,
}

/// What a recovery does, by the analysis it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// A dead primary: a replica is promoted.
    Primary,
    /// A dead intermediate primary: its replicas move up.
    Intermediate,
    /// `RecoverNonWriteableMaster`: a read-only primary is made writable, not replaced.
    NonWriteablePrimary,
    /// A semi-sync primary with too few or too many acknowledgers: replicas' semi-sync sides
    /// change.
    SemiSync,
}

impl Action {
    fn of(code: Option<AnalysisCode>) -> Action {
        match code {
            _ if is_intermediate(code) => Action::Intermediate,
            Some(AnalysisCode::NoWriteableMasterStructureWarning) => Action::NonWriteablePrimary,
            Some(
                AnalysisCode::LockedSemiSyncMaster
                | AnalysisCode::MasterWithTooManySemiSyncReplicas
                | AnalysisCode::MasterWithIncorrectSemiSyncReplicas,
            ) => Action::SemiSync,
            _ => Action::Primary,
        }
    }

    /// The recovery's type, as orchestrator's recovery records name it.
    fn kind(self) -> &'static str {
        match self {
            Action::Primary => "MasterRecovery",
            Action::Intermediate => "IntermediateMasterRecovery",
            Action::NonWriteablePrimary => "NonWriteableMasterRecovery",
            Action::SemiSync => "SemiSyncRecovery",
        }
    }
}

impl RecoveryEngine {
    pub(crate) async fn execute_marked(
        &self,
        analysis: &Analysis,
        request: Request,
    ) -> Result<RecoveryRecord, RecoveryError> {
        let _mark = self.mark_busy(&analysis.cluster);
        self.execute(analysis, request, None).await
    }

    /// Registers (anti-flapping) and runs the recovery for `analysis`.
    pub(crate) async fn execute(
        &self,
        analysis: &Analysis,
        request: Request,
        votes: Option<String>,
    ) -> Result<RecoveryRecord, RecoveryError> {
        let Request {
            manual,
            primary_may_live: force,
            override_block,
            designated,
            skip_hooks,
        } = request;
        let action = Action::of(analysis.code);
        let kind = action.kind();
        let entry = self.analysis_entry(analysis).await;
        let audit = self
            .begin(
                Starting {
                    cluster: &analysis.cluster,
                    failed: &analysis.key,
                    analysis: analysis.code.map(|c| c.name()).unwrap_or("Manual"),
                    kind,
                    manual,
                    analysis_entry: entry,
                },
                override_block,
            )
            .await?;
        audit
            .step(format!(
                "{} recovery of {} ({}), {}",
                if manual { "manual" } else { "automated" },
                analysis.key,
                analysis.description(),
                if force {
                    "forced"
                } else {
                    "confirmed by re-reading it and its replicas"
                }
            ))
            .await;
        if let Some(votes) = votes {
            audit.step(votes).await;
        }
        let context = self.hook_context(
            analysis,
            if manual { "recover" } else { "auto" },
            &audit.uid,
        );
        let settings = &self.inner.settings;
        let no_hooks = crate::settings::Hooks::default();
        let hooks = if skip_hooks {
            audit
                .step("hooks skipped: recover-lite runs no processes".to_string())
                .await;
            &no_hooks
        } else if action == Action::SemiSync {
            // Nothing fails over: the failover hooks are not for this (as in orchestrator).
            &no_hooks
        } else {
            &settings.hooks
        };
        let pre = run_hooks(
            &hooks.pre_failover,
            &settings.shell,
            &context,
            settings.hook_timeout,
            true,
        )
        .await;
        audit.hooks("PreFailoverProcesses", &pre).await;
        let result = if pre.iter().any(|r| !r.success) {
            Err("a PreFailoverProcesses hook failed: recovery aborted".to_string())
        } else {
            match action {
                Action::Intermediate => {
                    failover::recover_intermediate_primary(self, &audit, analysis).await
                }
                Action::NonWriteablePrimary => {
                    failover::make_primary_writable(self, &audit, &analysis.key).await
                }
                Action::SemiSync => {
                    let exact = settings.analysis.enforce_exact_semi_sync;
                    crate::semi_sync::enforce(self, &audit, analysis, exact).await
                }
                Action::Primary => {
                    let designated = designated.as_ref();
                    failover::recover_dead_primary(self, &audit, analysis, force, designated).await
                }
            }
        };
        if let (Ok(done), Action::Primary) = (&result, action) {
            self.downtime_lost_in_recovery(
                &audit,
                std::slice::from_ref(&analysis.key),
                "failed primary",
            )
            .await;
            if let Some(successor) = &done.successor {
                self.keep_cluster_identity(
                    &audit,
                    &analysis.cluster,
                    &analysis.cluster_alias,
                    successor,
                )
                .await;
            }
        }
        let post_stage = if action == Action::Intermediate {
            &hooks.post_intermediate_master_failover
        } else {
            &hooks.post_master_failover
        };
        let postponed = match &result {
            Ok(Done {
                postponed,
                successor: Some(successor),
                ..
            }) if !postponed.is_empty() => Some((postponed.clone(), successor.clone())),
            _ => None,
        };
        let record = self
            .finish(
                &audit,
                result,
                context,
                &[post_stage.as_slice(), &hooks.post_failover],
                &hooks.post_unsuccessful_failover,
            )
            .await?;
        if action == Action::SemiSync {
            // A change of semi-sync sides is not a failover: it must not hold the next one off
            // for RecoveryPeriodBlockSeconds. Acknowledged at once, it blocks nothing.
            let acknowledged = self
                .inner
                .store
                .acknowledge_recovery(
                    arbor_store::AckTarget::Id(record.id),
                    &settings.node_name,
                    "a semi-sync change, not a failover: it blocks no recovery",
                    Timestamp::now(),
                )
                .await;
            if let Err(error) = acknowledged {
                tracing::warn!(%error, id = record.id, "cannot acknowledge the semi-sync recovery");
            }
            return self.recovery_record(record.id).await;
        }
        match postponed {
            Some((replicas, successor)) => {
                failover::repoint_postponed(self, &audit, &replicas, &successor).await;
                self.recovery_record(record.id).await
            }
            None => Ok(record),
        }
    }

    /// Registers a recovery of `failed` (anti-flapping), under a new uid and this node's name.
    pub(crate) async fn begin(
        &self,
        start: Starting<'_>,
        override_block: bool,
    ) -> Result<Audit, RecoveryError> {
        let uid = new_uid();
        let (cluster, failed, analysis) = (start.cluster, start.failed, start.analysis);
        // From now on no earlier reading of the failed server vouches for it as a primary.
        self.inner
            .demoted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(failed.clone(), Timestamp::now());
        let start = RecoveryStart {
            uid: uid.clone(),
            cluster: cluster.to_string(),
            failed: failed.clone(),
            analysis: analysis.to_string(),
            kind: start.kind.to_string(),
            manual: start.manual,
            processing_node: self.inner.settings.node_name.clone(),
            started_at: Timestamp::now(),
            analysis_entry: start.analysis_entry,
        };
        match self
            .inner
            .store
            .start_recovery(start, self.inner.settings.block_period, override_block)
            .await?
        {
            StartDecision::Started { id } => Ok(Audit {
                id,
                uid,
                failed: failed.clone(),
                cluster: cluster.to_string(),
                store: Arc::clone(&self.inner.store),
                log: self.inner.settings.audit_log.clone(),
            }),
            StartDecision::Blocked {
                reason,
                blocking_id,
            } => {
                // The caller says so: an operator in the reply, the loop once in the log.
                self.note_blocked(BlockedRecovery {
                    key: failed.clone(),
                    cluster: cluster.to_string(),
                    analysis: analysis.to_string(),
                    blocked_at: Timestamp::now(),
                    blocking_id,
                    reason: reason.clone(),
                });
                Err(RecoveryError::Blocked(reason))
            }
        }
    }

    /// With `MasterFailoverLostInstancesDowntimeMinutes`, downtimes `keys` as orchestrator does
    /// (reason `lost-in-recovery`), so that a failed primary coming back, or a replica left
    /// behind, does not start another recovery while an operator deals with it.
    pub(crate) async fn downtime_lost_in_recovery(
        &self,
        audit: &Audit,
        keys: &[InstanceKey],
        what: &str,
    ) {
        let settings = &self.inner.settings;
        if settings.lost_downtime.is_zero() {
            return;
        }
        let now = Timestamp::now();
        for key in keys {
            let downtime = Downtime {
                key: key.clone(),
                owner: settings.node_name.clone(),
                reason: LOST_IN_RECOVERY.to_string(),
                begin: now,
                end: now.plus(settings.lost_downtime),
            };
            match self.inner.store.begin_downtime(downtime).await {
                Ok(()) => audit.step(format!("downtimed {what} {key}")).await,
                Err(e) => {
                    audit
                        .step(format!("cannot downtime {what} {key}: {e}"))
                        .await
                }
            }
        }
    }

    /// Records the outcome, runs the post hooks, and returns the stored record.
    pub(crate) async fn finish(
        &self,
        audit: &Audit,
        result: Result<Done, String>,
        mut context: HookContext,
        success_hooks: &[&[String]],
        failure_hooks: &[String],
    ) -> Result<RecoveryRecord, RecoveryError> {
        let settings = &self.inner.settings;
        let (successful, done) = match result {
            Ok(done) => (true, done),
            Err(error) => {
                audit.step(format!("recovery failed: {error}")).await;
                (
                    false,
                    Done {
                        errors: vec![error],
                        ..Done::default()
                    },
                )
            }
        };
        context.is_successful = successful;
        if let Some(successor) = &done.successor {
            context.successor_host = successor.hostname.clone();
            context.successor_port = successor.port;
        }
        context.lost_replicas = done
            .lost
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(",");
        context.count_lost_replicas = done.lost.len();
        self.downtime_lost_in_recovery(audit, &done.lost, "lost replica")
            .await;
        if successful {
            for hooks in success_hooks {
                let results = run_hooks(
                    hooks,
                    &settings.shell,
                    &context,
                    settings.hook_timeout,
                    false,
                )
                .await;
                audit.hooks("post-recovery hooks", &results).await;
            }
        } else {
            let results = run_hooks(
                failure_hooks,
                &settings.shell,
                &context,
                settings.hook_timeout,
                false,
            )
            .await;
            audit
                .hooks("PostUnsuccessfulFailoverProcesses", &results)
                .await;
        }
        let outcome = RecoveryOutcome {
            successful,
            successor: done.successor,
            lost_replicas: done.lost,
            participating: done.participating,
            errors: done.errors,
            ended_at: Timestamp::now(),
        };
        self.inner.store.finish_recovery(audit.id, outcome).await?;
        self.recovery_record(audit.id).await
    }

    pub(crate) fn note_blocked(&self, blocked: BlockedRecovery) {
        self.inner
            .blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(blocked.key.clone(), blocked);
    }

    /// Recoveries anti-flapping refused and still refuses: the blocking recovery is neither
    /// acknowledged nor older than the block period. Of the clusters named, or all.
    pub async fn blocked_recoveries(
        &self,
        clusters: Option<&[String]>,
    ) -> Result<Vec<BlockedRecovery>, RecoveryError> {
        let entries: Vec<BlockedRecovery> = self
            .inner
            .blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        if entries.is_empty() {
            return Ok(entries);
        }
        let recoveries = self.inner.store.recoveries(None, 1000).await?;
        let block = self.inner.settings.block_period;
        let now = Timestamp::now();
        let still_blocking = |entry: &BlockedRecovery| {
            recoveries.iter().any(|r| {
                r.id == entry.blocking_id
                    && (r.is_active || (!r.acknowledged && now.since(r.started_at) < block))
            })
        };
        let mut blocked = self.inner.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.retain(|_, entry| still_blocking(entry));
        let mut list: Vec<BlockedRecovery> = blocked
            .values()
            .filter(|entry| clusters.is_none_or(|names| names.contains(&entry.cluster)))
            .cloned()
            .collect();
        list.sort_by_key(|entry| std::cmp::Reverse(entry.blocked_at));
        Ok(list)
    }

    /// A cluster is named after its primary, so a failover renames it: the alias people knew it
    /// by (its name, when it had none) moves to the new name, as orchestrator does, so the
    /// cluster keeps one identity. Former names resolve through the successions. The traffic
    /// layer hears of the new primary first (the key-value stores, when configured).
    pub(crate) async fn keep_cluster_identity(
        &self,
        audit: &Audit,
        former_cluster: &str,
        alias: &str,
        successor: &InstanceKey,
    ) {
        let alias = if alias.is_empty() {
            former_cluster
        } else {
            alias
        };
        if let Some(announcer) = self.inner.announcer.get() {
            let lines = announcer.announce(alias, successor).await;
            for line in lines {
                audit.step(line).await;
            }
        }
        let cluster = successor.to_string();
        if cluster == former_cluster {
            return;
        }
        let store = &self.inner.store;
        match store.set_cluster_alias(&cluster, alias).await {
            Ok(()) => {
                audit
                    .step(format!(
                        "cluster {former_cluster} is now {cluster}, alias {alias}"
                    ))
                    .await
            }
            Err(error) => {
                audit
                    .step(format!(
                        "cannot keep alias {alias} for cluster {cluster}: {error}"
                    ))
                    .await
            }
        }
        let had_override = store
            .cluster_aliases()
            .await
            .is_ok_and(|aliases| aliases.iter().any(|(name, _)| name == former_cluster));
        if had_override {
            let _ = store.set_cluster_alias(former_cluster, "").await;
        }
    }

    /// A recovery as stored now.
    pub(crate) async fn recovery_record(&self, id: i64) -> Result<RecoveryRecord, RecoveryError> {
        self.inner
            .store
            .recoveries(None, 50)
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| RecoveryError::Refused(format!("recovery {id} vanished")))
    }

    /// Acknowledges a successful planned operation (and what its cluster had unacknowledged):
    /// an operator switching over on purpose must not block the automated recovery of the next
    /// real failure for `RecoveryPeriodBlockSeconds` (orchestrator #315).
    pub(crate) async fn acknowledge_planned(
        &self,
        record: RecoveryRecord,
        what: &str,
    ) -> Result<RecoveryRecord, RecoveryError> {
        if !record.successful {
            return Ok(record);
        }
        self.inner
            .store
            .acknowledge_recoveries(
                Some(&record.cluster),
                &self.inner.settings.node_name,
                &format!("planned: {what}"),
                Timestamp::now(),
            )
            .await?;
        self.recovery_record(record.id).await
    }

    pub(crate) fn hook_context(
        &self,
        analysis: &Analysis,
        command: &str,
        uid: &str,
    ) -> HookContext {
        let settings = &self.inner.settings;
        HookContext {
            failure_type: analysis
                .code
                .map(|c| c.name().to_string())
                .unwrap_or_default(),
            instance_type: if is_intermediate(analysis.code) {
                "intermediate-master".into()
            } else {
                "master".into()
            },
            is_master: analysis.is_primary,
            is_co_master: analysis.is_co_primary,
            failure_description: analysis.description(),
            command: command.into(),
            failed_host: analysis.key.hostname.clone(),
            failed_port: analysis.key.port,
            failure_cluster: analysis.cluster.clone(),
            failure_cluster_alias: analysis.cluster_alias.clone(),
            count_replicas: analysis.count_replicas,
            replica_hosts: analysis
                .replicas
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(","),
            is_downtimed: false,
            auto_master_recovery: filters::cluster_matches(
                &settings.recover_master_cluster_filters,
                &analysis.cluster,
                &analysis.cluster_alias,
            ),
            auto_intermediate_master_recovery: filters::cluster_matches(
                &settings.recover_intermediate_master_cluster_filters,
                &analysis.cluster,
                &analysis.cluster_alias,
            ),
            orchestrator_host: settings.node_name.clone(),
            recovery_uid: uid.into(),
            ..HookContext::default()
        }
    }
}
