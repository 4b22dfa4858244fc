//! The store arbor uses in Raft mode: reads from this node's store, intents through the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_store::{
    CheckOutcome, FailureDetection, Maintenance, RecoveryRecord, ReplicatedDump, Store, StoreError,
};
use arbor_topology::{Downtime, InstanceKey, InstanceRecord, PromotionRule, Succession, Timestamp};
use async_trait::async_trait;
use openraft::error::{ClientWriteError, RaftError};

use crate::network::{forward_write, Network};
use crate::{Applied, ArborRaft, Command, NodeId, Proposal, Reply, WriteRefused};

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

    /// Applies `proposal` through the log: on this node when it leads, else forwarded to the
    /// leader. Retried only while no leader took it (no leader known, a leader that just lost
    /// its place), never after a leader may have appended it, so nothing is applied twice.
    pub async fn write(&self, proposal: Proposal) -> Result<Reply, StoreError> {
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
            let outcome = match (leader, leader_addr) {
                (Some(leader), _) if leader == self.id => {
                    Some(self.write_as_leader(proposal.clone()).await)
                }
                (Some(_), Some(addr)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let wait = left.max(Duration::from_millis(100));
                    match forward_write(&self.network, &addr, &proposal, wait).await {
                        Ok(outcome) => Some(outcome),
                        // The leader may have appended it before the connection broke: not
                        // retried.
                        Err(problem) => {
                            return Err(StoreError::Unavailable(format!(
                                "the Raft leader at {addr} did not answer: {problem}"
                            )))
                        }
                    }
                }
                _ => None,
            };
            match outcome {
                Some(Ok(Applied::Reply(reply))) => return Ok(reply),
                Some(Ok(Applied::Failed(message))) => return Err(StoreError::Query(message)),
                Some(Err(WriteRefused::NotLeader(problem))) => last_problem = problem,
                Some(Err(WriteRefused::Failed(problem))) => {
                    return Err(StoreError::Unavailable(problem))
                }
                None => {}
            }
            if Instant::now() >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "cannot write through Raft: {last_problem}; retry when the group has a leader"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Appends `proposal` on this node, which must lead. What the Raft port answers to a
    /// follower's forwarded write.
    pub async fn write_as_leader(&self, proposal: Proposal) -> Result<Applied, WriteRefused> {
        match tokio::time::timeout(self.timeout, self.raft.client_write(proposal)).await {
            Ok(Ok(response)) => Ok(response.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Err(
                WriteRefused::NotLeader("this node is not the Raft leader".into()),
            ),
            Ok(Err(error)) => Err(WriteRefused::Failed(error.to_string())),
            Err(_) => Err(WriteRefused::Failed(format!(
                "the write was not committed within {:?} (no quorum?)",
                self.timeout
            ))),
        }
    }
}

#[async_trait]
impl Store for ReplicatedStore {
    /// Every command goes through the log, but registering a key: watching it is local at
    /// once (discovery must not wait for a quorum) and announced through the log so every
    /// node watches it, even when this node knew it already (an explicit discover stores the
    /// reading first). A lost announcement costs nothing the next crawl does not find again.
    async fn apply(&self, command: Command) -> Result<Reply, StoreError> {
        if !matches!(command, Command::RegisterInstance { .. }) {
            return self.write(Proposal::Store(command)).await;
        }
        let reply = self.local.apply(command.clone()).await?;
        let this = ReplicatedStore {
            local: Arc::clone(&self.local),
            raft: self.raft.clone(),
            id: self.id,
            network: self.network.clone(),
            timeout: self.timeout,
        };
        tokio::spawn(async move {
            if let Err(error) = this.write(Proposal::Store(command)).await {
                tracing::warn!(%error, "cannot announce a discovered instance to the Raft group");
            }
        });
        Ok(reply)
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

    async fn instance_keys(&self) -> Result<Vec<InstanceKey>, StoreError> {
        self.local.instance_keys().await
    }

    fn version(&self) -> Option<u64> {
        self.local.version()
    }

    fn causal_version(&self) -> Option<u64> {
        self.local.causal_version()
    }

    async fn record_requested_checks(&self, outcomes: Vec<CheckOutcome>) -> Result<(), StoreError> {
        self.local.record_requested_checks(outcomes).await
    }

    async fn active_downtimes(&self, now: Timestamp) -> Result<Vec<Downtime>, StoreError> {
        self.local.active_downtimes(now).await
    }

    async fn promotion_rules(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(InstanceKey, PromotionRule)>, StoreError> {
        self.local.promotion_rules(now).await
    }

    async fn detections(&self, limit: usize) -> Result<Vec<FailureDetection>, StoreError> {
        self.local.detections(limit).await
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

    async fn active_maintenance(&self, now: Timestamp) -> Result<Vec<Maintenance>, StoreError> {
        self.local.active_maintenance(now).await
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

    async fn global_recoveries_disabled(&self) -> Result<bool, StoreError> {
        self.local.global_recoveries_disabled().await
    }

    async fn cluster_aliases(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.local.cluster_aliases().await
    }

    async fn pool_instances(
        &self,
        pool: Option<&str>,
        since: Timestamp,
    ) -> Result<Vec<(String, InstanceKey)>, StoreError> {
        self.local.pool_instances(pool, since).await
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
