use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbor_analysis::{analyze, Analysis, AnalysisCode, AnalysisSettings};
use arbor_discovery::DiscoveryHandle;
use arbor_mysql::Operator;
use arbor_store::{
    FailureDetection, RecoveryOutcome, RecoveryRecord, RecoveryStart, RecoveryStep, StartDecision,
    Store, StoreError,
};
use arbor_topology::{Downtime, InstanceKey, Timestamp, Topology, TopologyOptions};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::hooks::{run_hooks, HookContext, HookResult};
use crate::{actions, filters};

/// The hooks of each stage (orchestrator's `*Processes` keys).
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub on_failure_detection: Vec<String>,
    pub pre_failover: Vec<String>,
    pub post_master_failover: Vec<String>,
    pub post_intermediate_master_failover: Vec<String>,
    pub post_failover: Vec<String>,
    pub post_unsuccessful_failover: Vec<String>,
    pub pre_graceful_takeover: Vec<String>,
    pub post_graceful_takeover: Vec<String>,
}

/// Maps a cluster name to its configured alias.
pub type AliasLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything recovery reads from the configuration.
#[derive(Clone)]
pub struct RecoverySettings {
    pub recover_master_cluster_filters: Vec<String>,
    pub recover_intermediate_master_cluster_filters: Vec<String>,
    /// `RecoveryPeriodBlockSeconds`.
    pub block_period: Duration,
    /// `FailureDetectionPeriodBlockMinutes`.
    pub detection_block: Duration,
    pub hooks: Hooks,
    pub shell: String,
    pub hook_timeout: Duration,
    /// `ApplyMySQLPromotionAfterMasterFailover`.
    pub apply_promotion: bool,
    pub use_super_read_only: bool,
    /// How long the promoted replica may take to apply what it received.
    pub catch_up_timeout: Duration,
    /// `FailMasterPromotionIfSQLThreadNotUpToDate`.
    pub fail_if_not_caught_up: bool,
    /// `MasterFailoverLostInstancesDowntimeMinutes`: how long a failed primary and the replicas
    /// its recovery could not bring along are downtimed. Zero: off.
    pub lost_downtime: Duration,
    pub promotion_ignore_hostname_filters: Vec<String>,
    pub prevent_cross_data_center: bool,
    pub prevent_cross_region: bool,
    /// `MySQLReplicaUser`/`MySQLReplicaPassword`.
    pub replication_credentials: Option<(String, String)>,
    pub replication_credentials_query: String,
    pub analysis: AnalysisSettings,
    pub default_port: u16,
    pub alias_for_cluster_name: AliasLookup,
    /// Operators' aliases (`set-cluster-alias`), which win over every other.
    pub alias_override: AliasLookup,
    /// This node's name in the audit.
    pub node_name: String,
    /// How often the automated loop looks for failures.
    pub tick: Duration,
    /// `ExpectFailureAnalysisConcensus`: in a group of 3 or more arbor nodes, an automated
    /// recovery runs only when a majority of the members (this one included) see the failure
    /// on a fresh look of their own.
    pub require_peer_agreement: bool,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        RecoverySettings {
            recover_master_cluster_filters: Vec::new(),
            recover_intermediate_master_cluster_filters: Vec::new(),
            block_period: Duration::from_secs(3600),
            detection_block: Duration::from_secs(3600),
            hooks: Hooks::default(),
            shell: "bash".into(),
            hook_timeout: Duration::from_secs(60),
            apply_promotion: true,
            use_super_read_only: false,
            catch_up_timeout: Duration::from_secs(30),
            fail_if_not_caught_up: false,
            lost_downtime: Duration::ZERO,
            promotion_ignore_hostname_filters: Vec::new(),
            prevent_cross_data_center: false,
            prevent_cross_region: false,
            replication_credentials: None,
            replication_credentials_query: String::new(),
            analysis: AnalysisSettings::default(),
            default_port: 3306,
            alias_for_cluster_name: Arc::new(|_| None),
            alias_override: Arc::new(|_| None),
            node_name: "arbor".into(),
            tick: Duration::from_secs(1),
            require_peer_agreement: true,
        }
    }
}

/// The downtime reason orchestrator gives instances a recovery left behind; kept verbatim for
/// tools that look for it.
pub const LOST_IN_RECOVERY: &str = "lost-in-recovery";

/// A cluster's busy mark, removed when dropped: a cancelled task (an aborted primary watcher,
/// an HTTP request whose client went away) must not leave its cluster marked, which would
/// silently block every later recovery of it.
struct BusyMark {
    inner: Arc<EngineInner>,
    cluster: String,
}

impl Drop for BusyMark {
    fn drop(&mut self) {
        let mut busy = self.inner.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(holders) = busy.get_mut(&self.cluster) {
            *holders -= 1;
            if *holders == 0 {
                busy.remove(&self.cluster);
            }
        }
    }
}

/// Who may act. Only the leader of an HA group recovers; a single node always may.
pub trait Leadership: Send + Sync + 'static {
    fn is_leader(&self) -> bool;
}

/// What the other members of an HA group say about a failure, asked by the leader before an
/// automated recovery.
pub trait PeerJudges: Send + Sync + 'static {
    /// Asks every other member to look at `key` afresh and say whether it sees an actionable
    /// failure there.
    fn judge<'a>(
        &'a self,
        key: &'a InstanceKey,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = PeerVotes> + Send + 'a>>;
}

/// The answers of the other members.
#[derive(Debug, Clone, Default)]
pub struct PeerVotes {
    /// Voting members of the group, this node included.
    pub members: usize,
    /// Other members that see the failure.
    pub agreeing: usize,
    /// What each member answered, for the audit and the logs.
    pub details: Vec<String>,
}

impl PeerVotes {
    /// A majority of the members, counting this node (which saw the failure).
    pub fn is_majority(&self) -> bool {
        self.agreeing + 1 > self.members / 2
    }
}

/// The leadership of a single node: always the leader.
pub struct SingleNode;

impl Leadership for SingleNode {
    fn is_leader(&self) -> bool {
        true
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// Nothing is failing where the request points.
    #[error("{0}")]
    NothingToRecover(String),
    /// Anti-flapping, or another recovery of the cluster is running.
    #[error("{0}")]
    Blocked(String),
    /// The request cannot work (not the leader, no candidate, bad designated replica, ...).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Detects failures and recovers from them. Cheap to clone; see `DESIGN.md`.
#[derive(Clone)]
pub struct RecoveryEngine {
    pub(crate) inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    pub store: Arc<dyn Store>,
    pub discovery: DiscoveryHandle,
    pub operator: Operator,
    pub settings: RecoverySettings,
    leadership: Arc<dyn Leadership>,
    /// Set in an HA group: the members asked before an automated recovery.
    peers: std::sync::OnceLock<Arc<dyn PeerJudges>>,
    wake: Notify,
    /// Clusters a recovery task of this node is working on, so the loop does not re-confirm
    /// them every tick.
    /// Clusters being confirmed or recovered, with how many tasks hold them.
    busy: Mutex<HashMap<String, usize>>,
}

static UID_COUNTER: AtomicU64 = AtomicU64::new(0);

fn new_uid() -> String {
    let sequence = UID_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:x}-{:x}-{sequence}",
        Timestamp::now().millis(),
        std::process::id()
    )
}

/// One recovery's audit trail: steps are stored as they happen and logged.
pub(crate) struct Audit {
    pub id: i64,
    pub uid: String,
    store: Arc<dyn Store>,
}

impl Audit {
    pub async fn step(&self, message: impl Into<String>) {
        let message = message.into();
        tracing::info!(recovery = self.id, "{message}");
        let step = RecoveryStep {
            at: Timestamp::now(),
            message,
        };
        if let Err(error) = self.store.add_recovery_step(self.id, step).await {
            tracing::error!(%error, "cannot record a recovery step");
        }
    }

    /// Records the instance about to be promoted; an error means this node must not go on
    /// (in Raft mode: it can no longer write through a quorum, so it may not be the leader).
    pub async fn commit_successor(&self, successor: &InstanceKey) -> Result<(), String> {
        self.store
            .record_recovery_successor(self.id, successor)
            .await
            .map_err(|e| {
                format!("cannot record the chosen successor {successor}, not promoting: {e}")
            })
    }

    pub async fn hooks(&self, stage: &str, results: &[HookResult]) {
        for result in results {
            self.step(format!("{stage}: {}", result.summary())).await;
        }
    }
}

/// What a recovery did, before it is recorded.
#[derive(Debug, Default)]
pub(crate) struct Done {
    pub successor: Option<InstanceKey>,
    pub lost: Vec<InstanceKey>,
    pub participating: Vec<InstanceKey>,
    pub errors: Vec<String>,
}

impl RecoveryEngine {
    pub fn new(
        store: Arc<dyn Store>,
        discovery: DiscoveryHandle,
        operator: Operator,
        settings: RecoverySettings,
        leadership: Arc<dyn Leadership>,
    ) -> RecoveryEngine {
        RecoveryEngine {
            inner: Arc::new(EngineInner {
                store,
                discovery,
                operator,
                settings,
                leadership,
                peers: std::sync::OnceLock::new(),
                wake: Notify::new(),
                busy: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Makes automated recoveries wait for the agreement of the group's other members (see
    /// [`RecoverySettings::require_peer_agreement`]).
    pub fn set_peer_judges(&self, peers: Arc<dyn PeerJudges>) {
        let _ = self.inner.peers.set(peers);
    }

    /// A fresh look at `key` (it and its replicas re-read, as before a recovery): whether this
    /// node sees an actionable failure there, and its analysis. What a member answers the
    /// leader's [`PeerJudges`] question with.
    pub async fn judge(&self, key: &InstanceKey) -> Result<(bool, String), StoreError> {
        Ok(match self.confirm(key).await? {
            Some(analysis) => (
                true,
                analysis.code.map(|c| c.name()).unwrap_or("").to_string(),
            ),
            None => {
                let (_, analyses) = self.snapshot().await?;
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
    async fn peers_agree(&self, analysis: &Analysis) -> (bool, Option<String>) {
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

    /// Closes recoveries a previous run left active, then runs the automated loop and the
    /// primary watcher.
    pub async fn start(&self) -> Result<JoinHandle<()>, StoreError> {
        if self.inner.leadership.is_leader() {
            self.close_unfinished().await?;
        }
        let engine = self.clone();
        Ok(tokio::spawn(async move {
            let watcher = tokio::spawn(engine.clone().watch_primaries());
            engine.run_loop().await;
            watcher.abort();
        }))
    }

    /// Keeps one idle connection to every primary, whose breaking is news of the primary's
    /// death without waiting for the next poll; a watched primary's connection breaking starts
    /// a confirmation at once.
    async fn watch_primaries(self) {
        let mut watchers: HashMap<InstanceKey, JoinHandle<()>> = HashMap::new();
        loop {
            if let Ok((topology, _)) = self.snapshot().await {
                let primaries: HashSet<InstanceKey> = topology
                    .cluster_names()
                    .iter()
                    .filter_map(|name| topology.cluster_root(name))
                    .filter(|root| root.is_last_check_valid())
                    .map(|root| root.key().clone())
                    .collect();
                watchers.retain(|key, task| {
                    let keep = primaries.contains(key) && !task.is_finished();
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for key in primaries {
                    if let std::collections::hash_map::Entry::Vacant(slot) = watchers.entry(key) {
                        let engine = self.clone();
                        let watched = slot.key().clone();
                        slot.insert(tokio::spawn(async move { engine.watch(watched).await }));
                    }
                }
            }
            tokio::time::sleep(self.inner.settings.tick).await;
        }
    }

    async fn watch(self, key: InstanceKey) {
        loop {
            let Ok(mut session) = self.inner.operator.session(&key).await else {
                // Unreachable now: the polls and the loop deal with it.
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            let error = session.hold_until_closed().await;
            tracing::debug!(%key, %error, "connection to a primary broke");
            if self.inner.leadership.is_leader() {
                let cluster = self
                    .snapshot()
                    .await
                    .ok()
                    .and_then(|(topology, _)| topology.cluster_of(&key).map(str::to_string))
                    .unwrap_or_else(|| key.to_string());
                // In a task of its own: this watcher is aborted as soon as the primary stops
                // answering polls, which must not cancel the recovery it started.
                if let Some(mark) = self.try_mark_busy(&cluster) {
                    let engine = self.clone();
                    let key = key.clone();
                    tokio::spawn(async move {
                        let _mark = mark;
                        if let Err(error) = engine.confirm_and_recover(&key).await {
                            tracing::warn!(%error, %key, "failure handling failed");
                        }
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Asks the loop to look now (e.g. when a primary's connection dropped).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Closes (and acknowledges) recoveries left active by a node that stopped or lost the
    /// lead mid-way, so they do not block their clusters for the whole block period; a failure
    /// still there is detected again and recovered by this node.
    async fn close_unfinished(&self) -> Result<(), StoreError> {
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
    async fn continue_promotion(&self, record: RecoveryRecord) {
        let Some(successor) = record.successor.clone() else {
            return;
        };
        let _mark = self.mark_busy(&record.cluster);
        let settings = &self.inner.settings;
        let audit = Audit {
            id: record.id,
            uid: record.uid.clone(),
            store: Arc::clone(&self.inner.store),
        };
        audit
            .step(format!(
                "continued by {}: the node running this recovery stopped or lost the lead after choosing {successor}; finishing that promotion",
                settings.node_name
            ))
            .await;
        // Fresh readings first: the previous leader may have moved some replicas already.
        let (topology, _) = match self.snapshot().await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(%error, "cannot read the topology to continue a recovery");
                return;
            }
        };
        let mut keys = vec![successor.clone()];
        keys.extend(topology.replica_keys_of(&record.failed));
        keys.extend(topology.replica_keys_of(&successor));
        self.inner.discovery.probe_now(&keys).await;
        // Still under the failed primary, or already moved under the successor by the previous
        // leader (which may have died between CHANGE MASTER and START SLAVE): all are
        // (re)pointed, which is harmless for those already replicating.
        let others: Vec<InstanceKey> = match self.snapshot().await {
            Ok((topology, _)) => {
                let mut others = topology.replica_keys_of(&record.failed);
                others.extend(topology.replica_keys_of(&successor));
                others.retain(|k| k != &successor);
                others.sort();
                others.dedup();
                others
            }
            Err(_) => Vec::new(),
        };
        let result = actions::promote_and_repoint(
            self,
            &audit,
            &record.failed,
            actions::Promotion {
                promote: successor,
                others,
                lost: Vec::new(),
                errors: Vec::new(),
                force: false,
                wait_for_relay_log: false,
            },
        )
        .await;
        if result.is_ok() {
            self.downtime_lost_in_recovery(
                &audit,
                std::slice::from_ref(&record.failed),
                "failed primary",
            )
            .await;
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

    async fn run_loop(self) {
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

    /// The current topology and its analyses.
    pub async fn snapshot(&self) -> Result<(Topology, Vec<Analysis>), StoreError> {
        let records = self.inner.store.all_instances().await?;
        let lookup = Arc::clone(&self.inner.settings.alias_for_cluster_name);
        let alias = move |name: &str| lookup(name);
        let manual = Arc::clone(&self.inner.settings.alias_override);
        let alias_override = move |name: &str| manual(name);
        let topology = Topology::new(
            records,
            &TopologyOptions {
                reasonable_lag: self.inner.settings.analysis.reasonable_lag,
                default_port: self.inner.settings.default_port,
                alias_for_cluster_name: &alias,
                alias_override: &alias_override,
            },
        );
        let analyses = analyze(&topology, &self.inner.settings.analysis);
        Ok((topology, analyses))
    }

    /// Re-reads a suspected server and its replicas at once, a few times, until the analysis
    /// confirms an actionable failure or clears. Replicas notice a dead source within tens of
    /// milliseconds of it, so a short retry turns an early "unreachable" into a confirmed
    /// failure without waiting for the next poll.
    async fn confirm(&self, key: &InstanceKey) -> Result<Option<Analysis>, StoreError> {
        for attempt in 0..8 {
            let (topology, _) = self.snapshot().await?;
            let mut keys = vec![key.clone()];
            keys.extend(topology.replica_keys_of(key));
            self.inner.discovery.probe_now(&keys).await;
            let (_, analyses) = self.snapshot().await?;
            let current = analyses.into_iter().find(|a| &a.key == key);
            match current {
                Some(analysis) if analysis.is_actionable() => return Ok(Some(analysis)),
                Some(analysis) if is_suspicious(analysis.code) && attempt < 7 => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// One automated pass: every actionable or suspicious analysis is confirmed, detected and
    /// recovered (where the filters, downtime, the global switch and anti-flapping allow) in a
    /// task of its own per cluster, so that a slow confirmation (a frozen server costs its
    /// timeouts) never holds up other clusters or the next pass.
    pub async fn check_and_recover(&self) -> Result<(), StoreError> {
        let (_, analyses) = self.snapshot().await?;
        for analysis in analyses {
            let Some(code) = analysis.code else { continue };
            if !(code.is_actionable() || is_suspicious(Some(code))) {
                continue;
            }
            let Some(mark) = self.try_mark_busy(&analysis.cluster) else {
                continue;
            };
            let engine = self.clone();
            tokio::spawn(async move {
                let _mark = mark;
                if let Err(error) = engine.confirm_and_recover(&analysis.key).await {
                    tracing::warn!(%error, cluster = %analysis.cluster, "failure handling failed");
                }
            });
        }
        Ok(())
    }

    async fn confirm_and_recover(&self, key: &InstanceKey) -> Result<(), StoreError> {
        let Some(confirmed) = self.confirm(key).await? else {
            return Ok(());
        };
        self.register_detection(&confirmed).await?;
        let cluster = confirmed.cluster.clone();
        if self.inner.store.global_recoveries_disabled().await? {
            tracing::info!(%cluster, "recoveries are disabled globally; not recovering");
            return Ok(());
        }
        let downtimed = self
            .inner
            .store
            .active_downtimes(Timestamp::now())
            .await?
            .iter()
            .any(|d| d.key == confirmed.key);
        if downtimed {
            tracing::info!(key = %confirmed.key, "downtimed; not recovering");
            return Ok(());
        }
        if !self.filters_allow(&confirmed) {
            tracing::info!(%cluster, "cluster not matched by the recovery filters; not recovering");
            return Ok(());
        }
        let (agreed, votes) = self.peers_agree(&confirmed).await;
        if !agreed {
            tracing::warn!(key = %confirmed.key, votes = votes.as_deref().unwrap_or(""),
                "not recovering: most arbor nodes do not see this failure");
            return Ok(());
        }
        match self.execute(&confirmed, false, false, votes).await {
            Ok(record) => tracing::info!(
                id = record.id,
                successful = record.successful,
                "recovery finished"
            ),
            Err(error) => tracing::info!(%error, "recovery not run"),
        }
        Ok(())
    }

    /// Marks a cluster busy unless it already is; the mark lasts until the result is dropped.
    fn try_mark_busy(&self, cluster: &str) -> Option<BusyMark> {
        self.add_busy_mark(cluster, false)
    }

    /// Marks a cluster busy whether or not it already is (operator-requested work). Marks are
    /// counted, so an operator's recovery ending does not unmark a cluster whose automated
    /// confirmation still runs.
    fn mark_busy(&self, cluster: &str) -> BusyMark {
        self.add_busy_mark(cluster, true)
            .expect("an unconditional mark is always taken")
    }

    fn add_busy_mark(&self, cluster: &str, even_if_busy: bool) -> Option<BusyMark> {
        let mut busy = self.inner.busy.lock().unwrap_or_else(|e| e.into_inner());
        let holders = busy.entry(cluster.to_string()).or_insert(0);
        if *holders > 0 && !even_if_busy {
            return None;
        }
        *holders += 1;
        Some(BusyMark {
            inner: Arc::clone(&self.inner),
            cluster: cluster.to_string(),
        })
    }

    fn filters_allow(&self, analysis: &Analysis) -> bool {
        let settings = &self.inner.settings;
        let filters = if is_intermediate(analysis.code) {
            &settings.recover_intermediate_master_cluster_filters
        } else {
            &settings.recover_master_cluster_filters
        };
        filters::cluster_matches(filters, &analysis.cluster, &analysis.cluster_alias)
    }

    async fn register_detection(&self, analysis: &Analysis) -> Result<(), StoreError> {
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

    /// `recover HOST:PORT`: recovers whatever failure the instance has now, ignoring filters,
    /// downtime and the block period (but never running beside another recovery).
    pub async fn recover(&self, key: &InstanceKey) -> Result<RecoveryRecord, RecoveryError> {
        self.require_leader()?;
        let analysis = match self.confirm(key).await? {
            Some(analysis) => analysis,
            None => {
                let (_, analyses) = self.snapshot().await?;
                let current = analyses.into_iter().find(|a| &a.key == key);
                match current {
                    Some(analysis) if is_recoverable(analysis.code) => analysis,
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
        self.register_detection(&analysis).await?;
        self.execute_marked(&analysis, true, false).await
    }

    /// `force-master-failover CLUSTER`: fails the primary over even though it may be alive
    /// (it is set read-only first when reachable).
    pub async fn force_master_failover(
        &self,
        cluster_hint: &str,
    ) -> Result<RecoveryRecord, RecoveryError> {
        self.require_leader()?;
        let (topology, analyses) = self.snapshot().await?;
        let cluster = topology
            .resolve_cluster_hint(cluster_hint)
            .map_err(|e| RecoveryError::Refused(e.to_string()))?;
        let primary = topology.cluster_root(&cluster).ok_or_else(|| {
            RecoveryError::Refused(format!("primary of cluster {cluster} was never read"))
        })?;
        let mut analysis = analyses
            .into_iter()
            .find(|a| &a.key == primary.key())
            .unwrap_or_else(|| healthy_analysis(&topology, primary.key()));
        analysis.code = Some(AnalysisCode::DeadMaster);
        self.execute_marked(&analysis, true, true).await
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
        let (topology, _) = self.snapshot().await?;
        let cluster = topology
            .resolve_cluster_hint(cluster_hint)
            .map_err(|e| RecoveryError::Refused(e.to_string()))?;
        let _mark = self.mark_busy(&cluster);
        actions::graceful_takeover(self, &topology, &cluster, designated, start_replication).await
    }

    fn require_leader(&self) -> Result<(), RecoveryError> {
        if self.inner.leadership.is_leader() {
            Ok(())
        } else {
            Err(RecoveryError::Refused("this node is not the leader".into()))
        }
    }

    async fn execute_marked(
        &self,
        analysis: &Analysis,
        manual: bool,
        force: bool,
    ) -> Result<RecoveryRecord, RecoveryError> {
        let _mark = self.mark_busy(&analysis.cluster);
        self.execute(analysis, manual, force, None).await
    }

    /// Registers (anti-flapping) and runs the recovery for `analysis`.
    async fn execute(
        &self,
        analysis: &Analysis,
        manual: bool,
        force: bool,
        votes: Option<String>,
    ) -> Result<RecoveryRecord, RecoveryError> {
        let intermediate = is_intermediate(analysis.code);
        let kind = if intermediate {
            "IntermediateMasterRecovery"
        } else {
            "MasterRecovery"
        };
        let audit = self
            .begin(
                &analysis.cluster,
                &analysis.key,
                analysis.code.map(|c| c.name()).unwrap_or("Manual"),
                kind,
                manual,
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
        let pre = run_hooks(
            &settings.hooks.pre_failover,
            &settings.shell,
            &context,
            settings.hook_timeout,
            true,
        )
        .await;
        audit.hooks("PreFailoverProcesses", &pre).await;
        let result = if pre.iter().any(|r| !r.success) {
            Err("a PreFailoverProcesses hook failed: recovery aborted".to_string())
        } else if intermediate {
            actions::recover_intermediate_primary(self, &audit, analysis).await
        } else {
            actions::recover_dead_primary(self, &audit, analysis, force).await
        };
        if result.is_ok() && !intermediate {
            self.downtime_lost_in_recovery(
                &audit,
                std::slice::from_ref(&analysis.key),
                "failed primary",
            )
            .await;
        }
        let post_stage = if intermediate {
            &settings.hooks.post_intermediate_master_failover
        } else {
            &settings.hooks.post_master_failover
        };
        self.finish(
            &audit,
            result,
            context,
            &[post_stage.as_slice(), &settings.hooks.post_failover],
            &settings.hooks.post_unsuccessful_failover,
        )
        .await
    }

    pub(crate) async fn begin(
        &self,
        cluster: &str,
        failed: &InstanceKey,
        analysis: &str,
        kind: &str,
        manual: bool,
    ) -> Result<Audit, RecoveryError> {
        let uid = new_uid();
        let start = RecoveryStart {
            uid: uid.clone(),
            cluster: cluster.to_string(),
            failed: failed.clone(),
            analysis: analysis.to_string(),
            kind: kind.to_string(),
            manual,
            processing_node: self.inner.settings.node_name.clone(),
            started_at: Timestamp::now(),
        };
        match self
            .inner
            .store
            .start_recovery(start, self.inner.settings.block_period, manual)
            .await?
        {
            StartDecision::Started { id } => Ok(Audit {
                id,
                uid,
                store: Arc::clone(&self.inner.store),
            }),
            StartDecision::Blocked { reason, .. } => {
                tracing::warn!(%cluster, %reason, "recovery blocked");
                Err(RecoveryError::Blocked(reason))
            }
        }
    }

    /// With `MasterFailoverLostInstancesDowntimeMinutes`, downtimes `keys` as orchestrator does
    /// (reason `lost-in-recovery`), so that a failed primary coming back, or a replica left
    /// behind, does not start another recovery while an operator deals with it.
    async fn downtime_lost_in_recovery(&self, audit: &Audit, keys: &[InstanceKey], what: &str) {
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
        let record = self
            .inner
            .store
            .recoveries(None, 50)
            .await?
            .into_iter()
            .find(|r| r.id == audit.id)
            .ok_or_else(|| RecoveryError::Refused(format!("recovery {} vanished", audit.id)))?;
        Ok(record)
    }

    /// Promotion rules in force now.
    pub(crate) async fn promotion_rules(
        &self,
    ) -> Result<HashMap<InstanceKey, arbor_topology::PromotionRule>, StoreError> {
        Ok(self
            .inner
            .store
            .promotion_rules(Timestamp::now())
            .await?
            .into_iter()
            .collect())
    }
}

/// Codes worth re-reading at once: the primary may be dead and the replicas not yet noticed.
fn is_suspicious(code: Option<AnalysisCode>) -> bool {
    matches!(
        code,
        Some(
            AnalysisCode::UnreachableMaster
                | AnalysisCode::UnreachableMasterWithLaggingReplicas
                | AnalysisCode::UnreachableIntermediateMaster
                | AnalysisCode::UnreachableIntermediateMasterWithLaggingReplicas
                | AnalysisCode::UnreachableCoMaster
                | AnalysisCode::DeadMasterAndReplicas
                | AnalysisCode::FirstTierReplicaFailingToConnectToMaster
        )
    )
}

fn is_intermediate(code: Option<AnalysisCode>) -> bool {
    code.is_some_and(|c| c.name().contains("IntermediateMaster"))
}

/// Codes a manual `recover` acts on: every dead primary or intermediate primary.
fn is_recoverable(code: Option<AnalysisCode>) -> bool {
    code.is_some_and(|c| c.is_actionable() || c.name().starts_with("Dead"))
}

/// An analysis of a healthy instance, for forced failovers and graceful takeovers' hooks.
pub(crate) fn healthy_analysis(topology: &Topology, key: &InstanceKey) -> Analysis {
    let cluster = topology.cluster_of(key).unwrap_or_default().to_string();
    let replicas: Vec<InstanceKey> = topology.replica_keys_of(key);
    Analysis {
        key: key.clone(),
        source: None,
        cluster_alias: topology.alias_of(&cluster).unwrap_or(&cluster).to_string(),
        cluster,
        code: None,
        structure: Vec::new(),
        is_primary: true,
        is_co_primary: false,
        last_check_valid: true,
        is_read_only: false,
        count_replicas: replicas.len(),
        count_valid_replicas: replicas.len(),
        count_valid_replicating_replicas: replicas.len(),
        count_replicas_failing_to_connect: 0,
        count_lagging_replicas: 0,
        count_delayed_replicas: 0,
        replicas,
        errant_gtid: String::new(),
    }
}
