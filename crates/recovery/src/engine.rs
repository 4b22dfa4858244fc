//! The engine: who may act (leadership, the group's verdict), the clusters being worked on,
//! and the topology snapshot every decision starts from. The automated path is in `detect`
//! and `watch`, operators' requests in `requests`, the run of one recovery in `run`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arbor_analysis::{Analysis, AnalysisCode};
use arbor_discovery::DiscoveryHandle;
use arbor_mysql::Operator;
use arbor_store::{Store, StoreError};
use arbor_topology::{InstanceKey, Timestamp, Topology};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::settings::RecoverySettings;

/// A cluster's busy mark, removed when dropped: a cancelled task (an aborted primary watcher,
/// an HTTP request whose client went away) must not leave its cluster marked, which would
/// silently block every later recovery of it.
pub(crate) struct BusyMark {
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

/// Who may act: the one leadership abstraction of a node, whatever elects it (a single node,
/// a Raft group, a lease on a shared backend). Recovery acts and the HTTP layer answers (or
/// forwards to the leader) through it.
pub trait Leadership: Send + Sync + 'static {
    /// May this node act now? Only the leader of an HA group does; a single node always may.
    fn is_leader(&self) -> bool;

    /// The leader's API base URL when another member leads (followers forward there);
    /// `None` when this node leads, stands alone, or no leader is known.
    fn leader_api(&self) -> Option<String> {
        None
    }

    /// Whether this node is one member of several (requests it does not lead for are
    /// forwarded); a single node answers everything itself.
    fn is_member_of_group(&self) -> bool {
        false
    }

    /// A number that grows with every change of leader (the Raft term, the lease's
    /// generation): what a leader does is stamped with it, so an act of a former leader can
    /// be told from the current one's. `None` for a single node.
    fn fencing_token(&self) -> Option<u64> {
        None
    }
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

/// Tells the traffic layer (key-value stores) which server is a cluster's primary now. A
/// failover and a takeover call it once the new primary is writable and before the
/// post-failover hooks run; it must return promptly (a store that is down is retried in the
/// background, never waited on for long).
pub trait PrimaryAnnouncer: Send + Sync + 'static {
    /// Announces `primary` as the primary of the cluster known as `alias`; one line per
    /// destination saying what happened, for the audit.
    fn announce<'a>(
        &'a self,
        alias: &'a str,
        primary: &'a InstanceKey,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<String>> + Send + 'a>>;
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
    /// The request cannot work (no candidate, bad designated replica, ...).
    #[error("{0}")]
    Refused(String),
    /// The cluster or instance the request names is not known.
    #[error("{0}")]
    NotFound(String),
    /// This node does not lead (any more): the leader acts; retry there.
    #[error("this node is not the leader")]
    NotLeader,
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
    pub(crate) leadership: Arc<dyn Leadership>,
    /// Set in an HA group: the members asked before an automated recovery.
    pub(crate) peers: std::sync::OnceLock<Arc<dyn PeerJudges>>,
    /// Set when key-value stores are configured: told of every new primary.
    pub(crate) announcer: std::sync::OnceLock<Arc<dyn PrimaryAnnouncer>>,
    pub(crate) wake: Notify,
    /// Clusters a recovery task of this node is working on, so the loop does not re-confirm
    /// them every tick.
    /// Clusters being confirmed or recovered, with how many tasks hold them.
    pub(crate) busy: Mutex<HashMap<String, usize>>,
    /// The last recovery refused by anti-flapping, per failed instance (`blocked-recoveries`).
    pub(crate) blocked: Mutex<HashMap<InstanceKey, BlockedRecovery>>,
    /// Why each confirmed failure was last not recovered, so the reason is logged once.
    pub(crate) said: Mutex<HashMap<InstanceKey, String>>,
    /// Replicas last seen lagging a minute or more, with when: a replica of a dead source
    /// reports no lag (`NULL`), yet the lag-based keys judge it by its lag before the failure.
    pub(crate) lags: Mutex<HashMap<InstanceKey, (u64, Timestamp)>>,
    /// Servers being probed in the background by a confirmation.
    pub(crate) probing: Mutex<std::collections::HashSet<InstanceKey>>,
    /// Former primaries this node fenced and downtimed: nothing more to do while they stay so.
    pub(crate) fenced: Mutex<std::collections::HashSet<InstanceKey>>,
    /// Returning lost replicas this node tried to detach: one attempt each while they stay so.
    pub(crate) detach_tried: Mutex<std::collections::HashSet<InstanceKey>>,
    /// The last snapshot built, kept while the store's version says nothing changed.
    pub(crate) snapshot: Mutex<Option<Arc<Snapshot>>>,
    /// Held while a snapshot is derived: one derivation at a time, whose result serves every
    /// caller that asked before it began reading (a storm of suspicions at 10,000 instances
    /// would otherwise derive thousands of topologies at once).
    pub(crate) deriving: tokio::sync::Mutex<()>,
    /// When this node last began replacing each primary (a failover or a takeover): a reading
    /// of that server from before then no longer vouches that it is the primary.
    pub(crate) demoted: Mutex<HashMap<InstanceKey, Timestamp>>,
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
                announcer: std::sync::OnceLock::new(),
                wake: Notify::new(),
                busy: Mutex::new(HashMap::new()),
                blocked: Mutex::new(HashMap::new()),
                said: Mutex::new(HashMap::new()),
                lags: Mutex::new(HashMap::new()),
                fenced: Mutex::new(std::collections::HashSet::new()),
                detach_tried: Mutex::new(std::collections::HashSet::new()),
                snapshot: Mutex::new(None),
                deriving: tokio::sync::Mutex::new(()),
                probing: Mutex::new(std::collections::HashSet::new()),
                demoted: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// When this node last began replacing `key` as a primary (a failover or a takeover), if
    /// it did: the load-balancer checks trust no reading of `key` from before then, so that
    /// a stale reading never sends writes to a primary being replaced.
    pub fn demoted_at(&self, key: &InstanceKey) -> Option<Timestamp> {
        self.inner
            .demoted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
    }

    /// Makes automated recoveries wait for the agreement of the group's other members (see
    /// [`RecoverySettings::require_peer_agreement`]).
    /// Who may act, as this engine was built with.
    pub fn leadership(&self) -> &dyn Leadership {
        &*self.inner.leadership
    }

    pub fn set_peer_judges(&self, peers: Arc<dyn PeerJudges>) {
        let _ = self.inner.peers.set(peers);
    }

    /// Tells `announcer` of every primary this engine promotes.
    pub fn set_primary_announcer(&self, announcer: Arc<dyn PrimaryAnnouncer>) {
        let _ = self.inner.announcer.set(announcer);
    }

    /// Closes recoveries a previous run left active, then runs the automated loop, the
    /// primary watcher and the snapshot refresher, all stopped when the returned task is
    /// aborted.
    pub async fn start(&self) -> Result<JoinHandle<()>, StoreError> {
        if self.inner.leadership.is_leader() {
            self.close_unfinished().await?;
        }
        let engine = self.clone();
        Ok(tokio::spawn(async move {
            /// Aborts the helpers when the loop's task ends or is aborted.
            struct Helpers(Vec<JoinHandle<()>>);
            impl Drop for Helpers {
                fn drop(&mut self) {
                    self.0.iter().for_each(JoinHandle::abort);
                }
            }
            let _helpers = Helpers(vec![
                tokio::spawn(engine.clone().watch_primaries()),
                tokio::spawn(engine.clone().refresh_snapshots()),
            ]);
            engine.run_loop().await;
        }))
    }

    /// Asks the loop to look now (e.g. when a primary's connection dropped).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// How far behind `record` is: its reading's lag, else the lag it was last seen with
    /// (within the last five minutes), else none known.
    pub(crate) fn known_lag(&self, record: &arbor_topology::InstanceRecord) -> Option<u64> {
        let reading = record
            .instance
            .replication
            .as_ref()
            .and_then(|r| r.seconds_behind_source);
        reading.or_else(|| {
            let lags = self.inner.lags.lock().unwrap_or_else(|e| e.into_inner());
            lags.get(record.key())
                .filter(|(_, at)| Timestamp::now().since(*at) < std::time::Duration::from_secs(300))
                .map(|(lag, _)| *lag)
        })
    }

    /// `AuditLogFile`, when configured: where the API's operations are audited too.
    pub fn audit_log(&self) -> Option<&crate::audit_log::AuditLog> {
        self.inner.settings.audit_log.as_deref()
    }

    /// Whether the recovery filters let arbor recover this cluster's primary, and its
    /// intermediate primaries, automatically (orchestrator's `HasAutomatedMasterRecovery` and
    /// `HasAutomatedIntermediateMasterRecovery`; the global switch is apart).
    pub fn automated_recovery_of(&self, cluster: &str, alias: &str) -> (bool, bool) {
        let settings = &self.inner.settings;
        (
            crate::filters::cluster_matches(
                &settings.recover_master_cluster_filters,
                cluster,
                alias,
            ),
            crate::filters::cluster_matches(
                &settings.recover_intermediate_master_cluster_filters,
                cluster,
                alias,
            ),
        )
    }

    /// Marks a cluster busy unless it already is; the mark lasts until the result is dropped.
    pub(crate) fn try_mark_busy(&self, cluster: &str) -> Option<BusyMark> {
        self.add_busy_mark(cluster, false)
    }

    /// Marks a cluster busy whether or not it already is (operator-requested work). Marks are
    /// counted, so an operator's recovery ending does not unmark a cluster whose automated
    /// confirmation still runs.
    pub(crate) fn mark_busy(&self, cluster: &str) -> BusyMark {
        self.add_busy_mark(cluster, true)
            .expect("an unconditional mark is always taken")
    }

    pub(crate) fn add_busy_mark(&self, cluster: &str, even_if_busy: bool) -> Option<BusyMark> {
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

    pub(crate) fn require_leader(&self) -> Result<(), RecoveryError> {
        if self.inner.leadership.is_leader() {
            Ok(())
        } else {
            Err(RecoveryError::NotLeader)
        }
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

impl RecoveryEngine {
    /// Whether this node recovers `code` by itself: an actionable code, or a locked semi-sync
    /// primary when `RecoverLockedSemiSyncMaster` or `EnforceExactSemiSyncReplicas` is on.
    pub(crate) fn acts_on(&self, code: Option<AnalysisCode>) -> bool {
        let settings = &self.inner.settings;
        code.is_some_and(|code| {
            code.is_actionable()
                || (code == AnalysisCode::LockedSemiSyncMaster
                    && (settings.recover_locked_semi_sync
                        || settings.analysis.enforce_exact_semi_sync))
        })
    }
}

/// Codes worth re-reading at once: the primary may be dead and the replicas not yet noticed.
pub(crate) fn is_suspicious(code: Option<AnalysisCode>) -> bool {
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

pub(crate) fn is_intermediate(code: Option<AnalysisCode>) -> bool {
    code.is_some_and(|c| c.name().contains("IntermediateMaster"))
}

/// Codes a manual `recover` acts on: every dead primary or intermediate primary.
pub(crate) fn is_recoverable(code: Option<AnalysisCode>) -> bool {
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

/// A topology and its analyses, derived from one reading of the store.
pub struct Snapshot {
    pub topology: Topology,
    pub analyses: Vec<Analysis>,
    /// The store's version it was derived at.
    pub(crate) version: Option<u64>,
    /// The store's causal version it was derived at.
    pub(crate) causal: Option<u64>,
    /// When its reading of the store began.
    pub(crate) read_at: std::time::Instant,
    /// How long deriving it took.
    pub(crate) cost: std::time::Duration,
}

/// A recovery refused by anti-flapping, as `blocked-recoveries` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedRecovery {
    pub key: InstanceKey,
    pub cluster: String,
    pub analysis: String,
    pub blocked_at: Timestamp,
    /// The recovery whose block period it fell in (or that was still running).
    pub blocking_id: i64,
    pub reason: String,
}
