//! The automated path: every tick (or when woken) the analyses are read, suspicious ones are
//! confirmed by re-reading the server and its replicas, confirmed failures are recorded and,
//! where the switches, filters, downtime and the group allow, recovered.

use std::time::Duration;

use arbor_analysis::Analysis;
use arbor_store::Intents;
use arbor_store::{FailureDetection, StoreError};
use arbor_topology::{InstanceKey, Timestamp};

use crate::engine::{is_intermediate, is_suspicious, RecoveryEngine};
use crate::filters;
use crate::hooks::run_hooks;
use crate::run::Request;

/// Why a server is suspected of having failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suspicion {
    /// A poll saw it fail, or its watcher's connection closed: its replicas notice a closed
    /// source within milliseconds.
    Seen,
    /// It left arbor's liveness check unanswered; an answer was due at `since`. It may hang,
    /// and its replicas notice only after their `slave_net_timeout`.
    Unanswered { since: Timestamp },
}

impl RecoveryEngine {
    pub(crate) async fn run_loop(self) {
        let mut was_leader = self.inner.leadership.is_leader();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.inner.settings.tick) => {}
                _ = self.inner.wake.notified() => {}
            }
            let leader = self.inner.leadership.is_leader();
            if leader && !was_leader {
                if let Err(error) = self.close_unfinished().await {
                    tracing::warn!(%error, "cannot close recoveries left unfinished");
                    continue;
                }
            }
            was_leader = leader;
            if !leader {
                continue;
            }
            if let Err(error) = self.check_and_recover().await {
                tracing::warn!(%error, "failure detection pass failed");
            }
        }
    }

    /// One automated pass: every actionable or suspicious analysis is confirmed, detected and
    /// recovered (where the filters, downtime, the global switch and anti-flapping allow) in a
    /// task of its own per cluster, so that a slow confirmation (a frozen server costs its
    /// timeouts) never holds up other clusters or the next pass.
    pub async fn check_and_recover(&self) -> Result<(), StoreError> {
        let snapshot = self.latest_snapshot().await?;
        let topology = &snapshot.topology;
        let analyses = &snapshot.analyses;
        self.look_after_former_members(topology, analyses).await;
        for analysis in analyses {
            let Some(code) = analysis.code else { continue };
            if !(self.acts_on(Some(code)) || is_suspicious(Some(code))) {
                continue;
            }
            let Some(mark) = self.try_mark_busy(&analysis.cluster) else {
                continue;
            };
            let engine = self.clone();
            let analysis = analysis.clone();
            tokio::spawn(async move {
                let _mark = mark;
                if let Err(error) = engine.confirm_and_recover(&analysis.key).await {
                    tracing::warn!(%error, cluster = %analysis.cluster, "failure handling failed");
                }
            });
        }
        Ok(())
    }

    /// Re-reads a suspected server and its replicas at once, a few times, until the analysis
    /// confirms an actionable failure or clears. Replicas notice a dead source within tens of
    /// milliseconds of it, so a short retry turns an early "unreachable" into a confirmed
    /// failure without waiting for the next poll.
    pub(crate) async fn confirm(&self, key: &InstanceKey) -> Result<Option<Analysis>, StoreError> {
        self.confirm_with(key, Suspicion::Seen).await
    }

    /// [`Self::confirm`], for a suspicion of either kind. An unanswered primary is not waited
    /// for (each read of a frozen server costs a timeout): it is probed in the background, is
    /// taken as unreachable unless it answered a probe after its answer was due, and its
    /// replicas are re-read every 100 ms for as long as they may take to notice a silent source
    /// (their `slave_net_timeout`, plus a margin). A primary seen failing is re-read after 2,
    /// 4, 8, 16, 32, then every 50 ms, for 350 ms.
    pub(crate) async fn confirm_with(
        &self,
        key: &InstanceKey,
        suspicion: Suspicion,
    ) -> Result<Option<Analysis>, StoreError> {
        let started = std::time::Instant::now();
        // A primary seen to fail (its connection closed) is re-read at once, then after 2, 4,
        // 8, 16, 32 and every 50 ms: its replicas notice a killed source within milliseconds, and
        // a first re-read that beats them must not cost a whole 50 ms step (it did, in half of
        // the failover benchmark's kills).
        let (window, mut pause, longest_pause) = match suspicion {
            Suspicion::Seen => (
                Duration::from_millis(350),
                Duration::from_millis(2),
                Duration::from_millis(50),
            ),
            Suspicion::Unanswered { .. } => {
                let snapshot = self.snapshot().await?;
                let topology = &snapshot.topology;
                let replica_timeout = topology
                    .replicas_of(key)
                    .iter()
                    .map(|r| r.instance.replica_net_timeout)
                    .max()
                    .filter(|t| *t > 0)
                    .unwrap_or(60);
                let window = Duration::from_secs(replica_timeout + 2)
                    .clamp(Duration::from_secs(3), Duration::from_secs(120));
                (
                    window,
                    Duration::from_millis(100),
                    Duration::from_millis(100),
                )
            }
        };
        loop {
            // Only to know whom to re-read; the verdict comes from the reading after.
            let snapshot = self.latest_snapshot().await?;
            let topology = &snapshot.topology;
            let replicas = topology.replica_keys_of(key);
            let unanswered = match suspicion {
                Suspicion::Seen => {
                    let mut keys = vec![key.clone()];
                    keys.extend(replicas);
                    self.inner.discovery.probe_now(&keys).await;
                    None
                }
                Suspicion::Unanswered { since } => {
                    self.probe_in_background(key);
                    self.inner.discovery.probe_now(&replicas).await;
                    Some((key, since))
                }
            };
            let snapshot = match unanswered {
                Some(unanswered) => std::sync::Arc::new(self.snapshot_with(unanswered).await?),
                None => self.snapshot().await?,
            };
            let (topology, analyses) = (&snapshot.topology, &snapshot.analyses);
            if let Some((key, since)) = unanswered {
                let answered = topology
                    .record(key)
                    .and_then(|r| r.last_seen)
                    .is_some_and(|seen| seen > since);
                if answered {
                    tracing::info!(%key, "the primary answered again: not a failure");
                    return Ok(None);
                }
            }
            let current = analyses.iter().find(|a| &a.key == key);
            match current {
                Some(analysis) if self.acts_on(analysis.code) => return Ok(Some(analysis.clone())),
                Some(analysis) if is_suspicious(analysis.code) && started.elapsed() < window => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(longest_pause);
                }
                _ => return Ok(None),
            }
        }
    }

    /// Probes `key` in a task of its own, unless such a probe is still running: its outcome
    /// is recorded when it comes, and nobody waits for it.
    fn probe_in_background(&self, key: &InstanceKey) {
        let fresh = self
            .inner
            .probing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        if !fresh {
            return;
        }
        let engine = self.clone();
        let key = key.clone();
        tokio::spawn(async move {
            engine
                .inner
                .discovery
                .probe_now(std::slice::from_ref(&key))
                .await;
            engine
                .inner
                .probing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        });
    }

    pub(crate) async fn confirm_and_recover(&self, key: &InstanceKey) -> Result<(), StoreError> {
        self.confirm_and_recover_with(key, Suspicion::Seen).await
    }

    pub(crate) async fn confirm_and_recover_with(
        &self,
        key: &InstanceKey,
        suspicion: Suspicion,
    ) -> Result<(), StoreError> {
        let Some(confirmed) = self.confirm_with(key, suspicion).await? else {
            self.forget_why_not(key);
            return Ok(());
        };
        self.register_detection(&confirmed).await?;
        let why_not = if self.inner.store.global_recoveries_disabled().await? {
            Some("recoveries are disabled globally".to_string())
        } else if self
            .inner
            .store
            .active_downtimes(Timestamp::now())
            .await?
            .iter()
            .any(|d| d.key == confirmed.key)
        {
            Some(format!("{} is downtimed", confirmed.key))
        } else if let Some(pattern) = self.ignored_host(&confirmed.key) {
            Some(format!(
                "{} matches RecoveryIgnoreHostnameFilters ({pattern})",
                confirmed.key
            ))
        } else if !self.filters_allow(&confirmed) {
            Some(format!(
                "cluster {} ({}) is not matched by the recovery filters",
                confirmed.cluster, confirmed.cluster_alias
            ))
        } else {
            None
        };
        if let Some(reason) = why_not {
            self.say_why_not(&confirmed, reason);
            return Ok(());
        }
        let (agreed, votes) = self.peers_agree(&confirmed).await;
        if !agreed {
            self.say_why_not(
                &confirmed,
                format!(
                    "most arbor nodes do not see this failure: {}",
                    votes.as_deref().unwrap_or("")
                ),
            );
            return Ok(());
        }
        self.forget_why_not(&confirmed.key);
        match self.execute(&confirmed, Request::automated(), votes).await {
            Ok(record) => tracing::info!(
                id = record.id,
                successful = record.successful,
                "recovery finished"
            ),
            Err(error) => self.say_why_not(&confirmed, error.to_string()),
        }
        Ok(())
    }

    /// Logs why a confirmed failure is not recovered, once per failed instance and reason: the
    /// loop looks every second, and one line per second says nothing new.
    pub(crate) fn say_why_not(&self, analysis: &Analysis, reason: String) {
        let mut said = self.inner.said.lock().unwrap_or_else(|e| e.into_inner());
        if said.get(&analysis.key) != Some(&reason) {
            tracing::warn!(
                key = %analysis.key,
                code = analysis.code.map(|c| c.name()).unwrap_or(""),
                "not recovering: {reason}"
            );
            said.insert(analysis.key.clone(), reason);
        }
    }

    /// Why the confirmed failure of `key` was last not recovered automatically (downtime,
    /// filters, the global switch, the block period, other nodes disagreeing, a failed
    /// attempt), while it lasts; `None` when nothing held it back or this node does not act.
    pub fn why_not(&self, key: &InstanceKey) -> Option<String> {
        self.inner
            .said
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// The failure cleared (or is being recovered): the next refusal is news again.
    fn forget_why_not(&self, key: &InstanceKey) {
        self.inner
            .said
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// The `RecoveryIgnoreHostnameFilters` pattern `key`'s host matches, if any.
    fn ignored_host(&self, key: &InstanceKey) -> Option<String> {
        self.inner
            .settings
            .recovery_ignore_hostname_filters
            .iter()
            .find(|p| regex::Regex::new(p).is_ok_and(|re| re.is_match(&key.hostname)))
            .cloned()
    }

    /// `RecoveryPeriodBlockSeconds`: how long a recovery counts as recent.
    pub fn block_period(&self) -> std::time::Duration {
        self.inner.settings.block_period
    }

    /// `RecoverMasterClusterFilters`, `RecoverIntermediateMasterClusterFilters` and
    /// `RecoveryIgnoreHostnameFilters`, as orchestrator's `automated-recovery-filters` shows them.
    pub fn recovery_filters(&self) -> [(&'static str, &[String]); 3] {
        let settings = &self.inner.settings;
        [
            (
                "RecoverMasterClusterFilters",
                &settings.recover_master_cluster_filters,
            ),
            (
                "RecoverIntermediateMasterClusterFilters",
                &settings.recover_intermediate_master_cluster_filters,
            ),
            (
                "RecoveryIgnoreHostnameFilters",
                &settings.recovery_ignore_hostname_filters,
            ),
        ]
    }

    pub(crate) fn filters_allow(&self, analysis: &Analysis) -> bool {
        let settings = &self.inner.settings;
        let filters = if is_intermediate(analysis.code) {
            &settings.recover_intermediate_master_cluster_filters
        } else {
            &settings.recover_master_cluster_filters
        };
        filters::cluster_matches(filters, &analysis.cluster, &analysis.cluster_alias)
    }

    pub(crate) async fn register_detection(&self, analysis: &Analysis) -> Result<(), StoreError> {
        let code = analysis.code.map(|c| c.name()).unwrap_or("NoProblem");
        let detection = FailureDetection {
            id: 0,
            cluster: analysis.cluster.clone(),
            key: analysis.key.clone(),
            analysis: code.to_string(),
            description: analysis.description(),
            detected_at: Timestamp::now(),
        };
        let new = self
            .inner
            .store
            .record_detection(detection, self.inner.settings.detection_block)
            .await?;
        if new {
            tracing::warn!(key = %analysis.key, code, "failure detected");
            if let Some(log) = &self.inner.settings.audit_log {
                log.append(
                    "failure-detection",
                    Some(&analysis.key),
                    &analysis.cluster,
                    &format!("{code}: {}", analysis.description()),
                );
            }
            let hooks = &self.inner.settings.hooks.on_failure_detection;
            if !hooks.is_empty() {
                let context = self.hook_context(analysis, "detection", "");
                for result in run_hooks(
                    hooks,
                    &self.inner.settings.shell,
                    &context,
                    self.inner.settings.hook_timeout,
                    false,
                )
                .await
                {
                    tracing::info!("OnFailureDetectionProcesses: {}", result.summary());
                }
            }
        }
        Ok(())
    }

    /// A fresh look at `key` (it and its replicas re-read, as before a recovery): whether this
    /// node sees an actionable failure there, and its analysis. What a member answers the
    /// leader's [`PeerJudges`] question with.
    pub async fn judge(&self, key: &InstanceKey) -> Result<(bool, String), StoreError> {
        // First the whole cluster as this member knows it, not only the replicas its view
        // lists: a member whose view lags (it just restarted, or its readings of others' share
        // are late) would otherwise judge from a picture in which the suspect is not a primary.
        let members: Vec<InstanceKey> = {
            let snapshot = self.latest_snapshot().await?;
            let topology = &snapshot.topology;
            match topology.cluster_of(key) {
                Some(cluster) => topology
                    .cluster_members(cluster)
                    .iter()
                    .map(|record| record.instance.key.clone())
                    .collect(),
                None => vec![key.clone()],
            }
        };
        self.inner.discovery.probe_now(&members).await;
        Ok(match self.confirm(key).await? {
            Some(analysis) => (
                true,
                analysis.code.map(|c| c.name()).unwrap_or("").to_string(),
            ),
            None => {
                let snapshot = self.snapshot().await?;
                let analyses = &snapshot.analyses;
                let code = analyses
                    .iter()
                    .find(|a| &a.key == key)
                    .and_then(|a| a.code)
                    .map(|c| c.name())
                    .unwrap_or("NoProblem");
                (false, code.to_string())
            }
        })
    }

    /// Whether the group's majority sees the failure (always, without peers or with fewer than
    /// three members); the answer as an audit line.
    pub(crate) async fn peers_agree(&self, analysis: &Analysis) -> (bool, Option<String>) {
        let Some(peers) = self.inner.peers.get() else {
            return (true, None);
        };
        if !self.inner.settings.require_peer_agreement {
            return (true, None);
        }
        let votes = peers.judge(&analysis.key).await;
        if votes.members < 3 {
            return (true, None);
        }
        let line = format!(
            "{} of {} arbor nodes see the failure (this one included): {}",
            votes.agreeing + 1,
            votes.members,
            votes.details.join("; ")
        );
        (votes.is_majority(), Some(line))
    }
}
