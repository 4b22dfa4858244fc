//! The store arbor uses in Raft mode: reads from this node's store, intents through the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_store::{
    CheckOutcome, FailureDetection, LockDecision, Maintenance, RecoveryOutcome, RecoveryRecord,
    RecoveryStart, RecoveryStep, ReplicatedDump, StartDecision, Store, StoreError,
};
use arbor_topology::{Downtime, InstanceKey, InstanceRecord, PromotionRule, Succession, Timestamp};
use async_trait::async_trait;
use openraft::error::{ClientWriteError, RaftError};

use crate::network::{forward_write, Network};
use crate::{ArborRaft, Command, NodeId, Reply};

pub struct ReplicatedStore {
    local: Arc<dyn Store>,
    raft: ArborRaft,
    id: NodeId,
    network: Network,
    timeout: Duration,
}

impl ReplicatedStore {
    pub fn new(
        local: Arc<dyn Store>,
        raft: ArborRaft,
        id: NodeId,
        network: Network,
        timeout: Duration,
    ) -> ReplicatedStore {
        ReplicatedStore {
            local,
            raft,
            id,
            network,
            timeout,
        }
    }

    /// Applies `command` through the log: on this node when it leads, else forwarded to the
    /// leader. Retried only while no leader took it (no leader known, a leader that just lost
    /// its place), never after a leader may have appended it, so nothing is applied twice.
    pub async fn write(&self, command: Command) -> Result<Reply, StoreError> {
        let deadline = Instant::now() + self.timeout;
        let mut last_problem = String::from("no Raft leader is known");
        loop {
            let (leader, leader_addr) = {
                let metrics = self.raft.metrics();
                let metrics = metrics.borrow();
                let leader = metrics.current_leader;
                let addr = leader.and_then(|l| {
                    metrics
                        .membership_config
                        .membership()
                        .get_node(&l)
                        .map(|n| n.addr.clone())
                });
                (leader, addr)
            };
            match (leader, leader_addr) {
                (Some(leader), _) if leader == self.id => {
                    match self.write_as_leader(command.clone()).await {
                        Ok(reply) => return reply_to_result(reply),
                        Err(Retry::Again(problem)) => last_problem = problem,
                        Err(Retry::Never(problem)) => return Err(StoreError::Unavailable(problem)),
                    }
                }
                (Some(_), Some(addr)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match forward_write(
                        &self.network,
                        &addr,
                        &command,
                        left.max(Duration::from_millis(100)),
                    )
                    .await
                    {
                        Ok(Ok(reply)) => return reply_to_result(reply),
                        Ok(Err(problem)) if problem.starts_with(NOT_LEADER) => {
                            last_problem = problem
                        }
                        Ok(Err(problem)) => return Err(StoreError::Unavailable(problem)),
                        // The leader may have appended it before the connection broke: not
                        // retried.
                        Err(problem) => {
                            return Err(StoreError::Unavailable(format!(
                                "the Raft leader at {addr} did not answer: {problem}"
                            )))
                        }
                    }
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "cannot write through Raft: {last_problem}; retry when the group has a leader"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Appends `command` on this node, which must lead. What the Raft port answers to a
    /// follower's forwarded write.
    pub async fn write_as_leader(&self, command: Command) -> Result<Reply, Retry> {
        match tokio::time::timeout(self.timeout, self.raft.client_write(command)).await {
            Ok(Ok(response)) => Ok(response.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Err(
                Retry::Again(format!("{NOT_LEADER}: this node is not the Raft leader")),
            ),
            Ok(Err(error)) => Err(Retry::Never(error.to_string())),
            Err(_) => Err(Retry::Never(format!(
                "the write was not committed within {:?} (no quorum?)",
                self.timeout
            ))),
        }
    }

    async fn write_flag(&self, command: Command) -> Result<bool, StoreError> {
        match self.write(command).await? {
            Reply::Flag(flag) => Ok(flag),
            other => Err(unexpected(other)),
        }
    }

    async fn write_count(&self, command: Command) -> Result<usize, StoreError> {
        match self.write(command).await? {
            Reply::Count(count) => Ok(count),
            other => Err(unexpected(other)),
        }
    }

    async fn write_done(&self, command: Command) -> Result<(), StoreError> {
        self.write(command).await.map(|_| ())
    }
}

/// Marks an answer that means "not taken, try the leader".
pub const NOT_LEADER: &str = "not-leader";

pub enum Retry {
    Again(String),
    Never(String),
}

impl From<Retry> for String {
    fn from(retry: Retry) -> String {
        match retry {
            Retry::Again(p) | Retry::Never(p) => p,
        }
    }
}

fn reply_to_result(reply: Reply) -> Result<Reply, StoreError> {
    match reply {
        Reply::Failed(message) => Err(StoreError::Query(message)),
        other => Ok(other),
    }
}

fn unexpected(reply: Reply) -> StoreError {
    StoreError::Query(format!(
        "unexpected reply from the replicated store: {reply:?}"
    ))
}

#[async_trait]
impl Store for ReplicatedStore {
    /// Watching a key is local at once (discovery must not wait for a quorum) and announced
    /// through the log so every node watches it, even when this node knew it already (an
    /// explicit discover stores the reading first). A lost announcement costs nothing the next
    /// crawl does not find again.
    async fn register_instance(
        &self,
        key: &InstanceKey,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let new = self.local.register_instance(key, at).await?;
        {
            let command = Command::RegisterInstance {
                key: key.clone(),
                at,
            };
            let this = ReplicatedStore {
                local: Arc::clone(&self.local),
                raft: self.raft.clone(),
                id: self.id,
                network: self.network.clone(),
                timeout: self.timeout,
            };
            tokio::spawn(async move {
                if let Err(error) = this.write(command).await {
                    tracing::warn!(%error, "cannot announce a discovered instance to the Raft group");
                }
            });
        }
        Ok(new)
    }

    async fn record_checks(&self, outcomes: Vec<CheckOutcome>) -> Result<(), StoreError> {
        self.local.record_checks(outcomes).await
    }

    async fn instance(&self, key: &InstanceKey) -> Result<Option<InstanceRecord>, StoreError> {
        self.local.instance(key).await
    }

    async fn all_instances(&self) -> Result<Vec<InstanceRecord>, StoreError> {
        self.local.all_instances().await
    }

    fn version(&self) -> Option<u64> {
        self.local.version()
    }

    async fn forget_instance(&self, key: &InstanceKey) -> Result<bool, StoreError> {
        self.write_flag(Command::ForgetInstance { key: key.clone() })
            .await
    }

    async fn begin_downtime(&self, downtime: Downtime) -> Result<(), StoreError> {
        self.write_done(Command::BeginDowntime(downtime)).await
    }

    async fn end_downtime(&self, key: &InstanceKey) -> Result<bool, StoreError> {
        self.write_flag(Command::EndDowntime { key: key.clone() })
            .await
    }

    async fn active_downtimes(&self, now: Timestamp) -> Result<Vec<Downtime>, StoreError> {
        self.local.active_downtimes(now).await
    }

    async fn register_candidate(
        &self,
        key: &InstanceKey,
        rule: PromotionRule,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write_done(Command::RegisterCandidate {
            key: key.clone(),
            rule,
            expires_at,
        })
        .await
    }

    async fn promotion_rules(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(InstanceKey, PromotionRule)>, StoreError> {
        self.local.promotion_rules(now).await
    }

    async fn record_detection(
        &self,
        detection: FailureDetection,
        dedupe_window: Duration,
    ) -> Result<bool, StoreError> {
        self.write_flag(Command::RecordDetection {
            detection,
            dedupe_window_ms: dedupe_window.as_millis() as u64,
        })
        .await
    }

    async fn detections(&self, limit: usize) -> Result<Vec<FailureDetection>, StoreError> {
        self.local.detections(limit).await
    }

    async fn start_recovery(
        &self,
        start: RecoveryStart,
        block: Duration,
        ignore_block: bool,
    ) -> Result<StartDecision, StoreError> {
        match self
            .write(Command::StartRecovery {
                start,
                block_ms: block.as_millis() as u64,
                ignore_block,
            })
            .await?
        {
            Reply::Start(decision) => Ok(decision),
            other => Err(unexpected(other)),
        }
    }

    async fn add_recovery_step(&self, id: i64, step: RecoveryStep) -> Result<(), StoreError> {
        self.write_done(Command::AddRecoveryStep { id, step }).await
    }

    async fn record_recovery_successor(
        &self,
        id: i64,
        successor: &InstanceKey,
    ) -> Result<(), StoreError> {
        self.write_done(Command::RecordRecoverySuccessor {
            id,
            successor: successor.clone(),
        })
        .await
    }

    async fn finish_recovery(&self, id: i64, outcome: RecoveryOutcome) -> Result<(), StoreError> {
        self.write_done(Command::FinishRecovery { id, outcome })
            .await
    }

    async fn recoveries(
        &self,
        cluster: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecoveryRecord>, StoreError> {
        self.local.recoveries(cluster, limit).await
    }

    async fn successions(&self) -> Result<Vec<Succession>, StoreError> {
        self.local.successions().await
    }

    async fn acknowledge_recoveries(
        &self,
        cluster: Option<&str>,
        by: &str,
        comment: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        self.write_count(Command::AcknowledgeRecoveries {
            cluster: cluster.map(str::to_string),
            by: by.into(),
            comment: comment.into(),
            at,
        })
        .await
    }

    async fn abandon_active_recoveries(
        &self,
        at: Timestamp,
        note: &str,
    ) -> Result<usize, StoreError> {
        self.write_count(Command::AbandonActiveRecoveries {
            at,
            note: note.into(),
        })
        .await
    }

    async fn begin_maintenance(
        &self,
        key: &InstanceKey,
        owner: &str,
        reason: &str,
        node: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<LockDecision, StoreError> {
        match self
            .write(Command::BeginMaintenance {
                key: key.clone(),
                owner: owner.into(),
                reason: reason.into(),
                node: node.into(),
                now,
                expires_at,
            })
            .await?
        {
            Reply::Lock(decision) => Ok(decision),
            other => Err(unexpected(other)),
        }
    }

    async fn end_maintenance(
        &self,
        key: &InstanceKey,
        id: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.write_flag(Command::EndMaintenance {
            key: key.clone(),
            id,
        })
        .await
    }

    async fn active_maintenance(&self, now: Timestamp) -> Result<Vec<Maintenance>, StoreError> {
        self.local.active_maintenance(now).await
    }

    async fn release_node_maintenance(&self, node: &str) -> Result<usize, StoreError> {
        self.write_count(Command::ReleaseNodeMaintenance { node: node.into() })
            .await
    }

    async fn tag(&self, key: &InstanceKey, name: &str, value: &str) -> Result<(), StoreError> {
        self.write_done(Command::Tag {
            key: key.clone(),
            name: name.into(),
            value: value.into(),
        })
        .await
    }

    async fn untag(&self, key: &InstanceKey, name: &str) -> Result<bool, StoreError> {
        self.write_flag(Command::Untag {
            key: key.clone(),
            name: name.into(),
        })
        .await
    }

    async fn untag_all(&self, name: &str) -> Result<Vec<InstanceKey>, StoreError> {
        match self.write(Command::UntagAll { name: name.into() }).await? {
            Reply::Keys(keys) => Ok(keys),
            other => Err(unexpected(other)),
        }
    }

    async fn tags(&self, key: &InstanceKey) -> Result<Vec<(String, String)>, StoreError> {
        self.local.tags(key).await
    }

    async fn tagged(
        &self,
        name: &str,
        value: Option<&str>,
    ) -> Result<Vec<InstanceKey>, StoreError> {
        self.local.tagged(name, value).await
    }

    async fn set_global_recoveries_disabled(&self, disabled: bool) -> Result<(), StoreError> {
        self.write_done(Command::SetGlobalRecoveriesDisabled { disabled })
            .await
    }

    async fn global_recoveries_disabled(&self) -> Result<bool, StoreError> {
        self.local.global_recoveries_disabled().await
    }

    async fn set_cluster_alias(&self, cluster: &str, alias: &str) -> Result<(), StoreError> {
        self.write_done(Command::SetClusterAlias {
            cluster: cluster.into(),
            alias: alias.into(),
        })
        .await
    }

    async fn cluster_aliases(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.local.cluster_aliases().await
    }

    /// The replicated state is the log's to rebuild; a caller outside Raft has no business
    /// wiping it on every node.
    async fn reset_replicated_state(&self) -> Result<(), StoreError> {
        Err(StoreError::Query(
            "the replicated state of a Raft group is rebuilt from its log, not reset".into(),
        ))
    }

    async fn export_replicated(&self) -> Result<ReplicatedDump, StoreError> {
        self.local.export_replicated().await
    }

    async fn import_replicated(&self, _dump: ReplicatedDump) -> Result<(), StoreError> {
        Err(StoreError::Query(
            "the replicated state of a Raft group comes from its log and snapshots only".into(),
        ))
    }
}
