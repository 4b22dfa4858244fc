//! The write vocabulary: every intent arbor records is one [`Command`], applied by
//! [`Store::apply`].
//!
//! One enum means one path for every write, whoever carries it: the SQLite and MySQL stores
//! apply a command to their tables, the memory layer passes it through, and in Raft mode the
//! replicated store proposes it and every member's state machine hands the committed command to
//! its own store's `apply`. Adding an intent touches this enum, its arm in [`dispatch`], the
//! SQL body in each backend (declared by [`Backend`]), its typed wrapper in [`Intents`], and the
//! conformance check that shows it works.
//!
//! Times are carried in the command, never read from the clock while applying, so every Raft
//! member computes the same state from the same log. The serialized form is the Raft log's, so
//! variants and fields are renamed only with a log migration.

use std::time::Duration;

use arbor_topology::{Downtime, InstanceKey, PromotionRule, Timestamp};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{
    FailureDetection, LockDecision, RecoveryOutcome, RecoveryStart, RecoveryStep, StartDecision,
    Store, StoreError,
};

/// Which recoveries an acknowledgement is for, besides a cluster or all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AckTarget {
    Id(i64),
    Uid(String),
    /// The recoveries of this failed instance.
    Instance(InstanceKey),
}

/// A change to the state arbor keeps (intents and recovery bookkeeping, not readings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Adds a key to watch; a known key is left as it is. Replies whether it was new.
    RegisterInstance {
        key: InstanceKey,
        at: Timestamp,
    },
    /// Removes an instance. Replies whether it was known.
    ForgetInstance {
        key: InstanceKey,
    },
    /// Downtimes an instance (replacing an earlier downtime of it).
    BeginDowntime(Downtime),
    /// Ends an instance's downtime. Replies whether it had one.
    EndDowntime {
        key: InstanceKey,
    },
    /// Sets an instance's promotion rule until `expires_at`.
    RegisterCandidate {
        key: InstanceKey,
        rule: PromotionRule,
        expires_at: Timestamp,
    },
    /// Records a detection unless the same instance had the same analysis detected within the
    /// window before it. Replies whether it was recorded (new).
    RecordDetection {
        detection: FailureDetection,
        dedupe_window_ms: u64,
    },
    /// Registers a recovery if anti-flapping allows it, in one atomic step: refused while
    /// another recovery of the cluster runs (whatever its age), or, unless `ignore_block`,
    /// while one that started within `block_ms` is not acknowledged. With `ignore_block`
    /// (manual recoveries), earlier finished recoveries of the cluster are acknowledged.
    StartRecovery {
        start: RecoveryStart,
        block_ms: u64,
        ignore_block: bool,
    },
    AddRecoveryStep {
        id: i64,
        step: RecoveryStep,
    },
    /// Records the instance a running recovery is about to promote, before it acts: a node
    /// that takes over an interrupted recovery finishes that promotion instead of starting
    /// another.
    RecordRecoverySuccessor {
        id: i64,
        successor: InstanceKey,
    },
    FinishRecovery {
        id: i64,
        outcome: RecoveryOutcome,
    },
    /// Acknowledges the finished, unacknowledged recoveries of a cluster (or all). Replies how
    /// many.
    AcknowledgeRecoveries {
        cluster: Option<String>,
        by: String,
        comment: String,
        at: Timestamp,
        /// Only this recovery, or the recoveries of this failed instance (orchestrator's
        /// `ack-recovery/ID`, `ack-recovery/uid/UID`, `ack-recovery/instance/H/P`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        only: Option<AckTarget>,
    },
    /// Ends recoveries left active by a node that stopped mid-way, and acknowledges them so
    /// they do not block their clusters. Replies how many.
    AbandonActiveRecoveries {
        at: Timestamp,
        note: String,
    },
    /// Takes an instance's maintenance lock unless an unexpired one is held; an expired lock
    /// is replaced. Exactly one of two concurrent callers wins.
    BeginMaintenance {
        key: InstanceKey,
        owner: String,
        reason: String,
        node: String,
        now: Timestamp,
        expires_at: Timestamp,
    },
    /// Releases an instance's lock (any holder's, when `id` is `None`; only that lock
    /// otherwise). Replies whether one was released.
    EndMaintenance {
        key: InstanceKey,
        id: Option<i64>,
    },
    /// Releases every lock a node holds (the node is gone). Replies how many.
    ReleaseNodeMaintenance {
        node: String,
    },
    /// Sets a tag (replacing its value).
    Tag {
        key: InstanceKey,
        name: String,
        value: String,
    },
    /// Removes a tag from an instance. Replies whether it had it.
    Untag {
        key: InstanceKey,
        name: String,
    },
    /// Replaces the members of an instance pool (orchestrator's `submit-pool-instances`).
    SetPoolInstances {
        pool: String,
        instances: Vec<InstanceKey>,
        at: Timestamp,
    },
    /// Removes a tag from every instance. Replies the instances that had it.
    UntagAll {
        name: String,
    },
    SetGlobalRecoveriesDisabled {
        disabled: bool,
    },
    /// Sets an operator's alias for a cluster; an empty alias removes it.
    SetClusterAlias {
        cluster: String,
        alias: String,
    },
}

/// What applying a command returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Done,
    Flag(bool),
    Count(usize),
    Lock(LockDecision),
    Start(StartDecision),
    Keys(Vec<InstanceKey>),
}

impl Reply {
    fn unexpected(self, wanted: &str) -> StoreError {
        StoreError::Query(format!(
            "a store replied {self:?} where {wanted} was expected"
        ))
    }

    pub fn flag(self) -> Result<bool, StoreError> {
        match self {
            Reply::Flag(flag) => Ok(flag),
            other => Err(other.unexpected("a flag")),
        }
    }

    pub fn count(self) -> Result<usize, StoreError> {
        match self {
            Reply::Count(count) => Ok(count),
            other => Err(other.unexpected("a count")),
        }
    }
}

/// The typed bodies of the SQL backends: one method per command. Crate-private: the rest of
/// arbor writes through [`Store::apply`] (or the [`Intents`] wrappers).
#[async_trait]
pub(crate) trait Backend: Send + Sync {
    async fn register_instance(&self, key: &InstanceKey, at: Timestamp)
        -> Result<bool, StoreError>;
    async fn forget_instance(&self, key: &InstanceKey) -> Result<bool, StoreError>;
    async fn begin_downtime(&self, downtime: Downtime) -> Result<(), StoreError>;
    async fn end_downtime(&self, key: &InstanceKey) -> Result<bool, StoreError>;
    async fn register_candidate(
        &self,
        key: &InstanceKey,
        rule: PromotionRule,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn record_detection(
        &self,
        detection: FailureDetection,
        dedupe_window: Duration,
    ) -> Result<bool, StoreError>;
    async fn start_recovery(
        &self,
        start: RecoveryStart,
        block: Duration,
        ignore_block: bool,
    ) -> Result<StartDecision, StoreError>;
    async fn add_recovery_step(&self, id: i64, step: RecoveryStep) -> Result<(), StoreError>;
    async fn record_recovery_successor(
        &self,
        id: i64,
        successor: &InstanceKey,
    ) -> Result<(), StoreError>;
    async fn finish_recovery(&self, id: i64, outcome: RecoveryOutcome) -> Result<(), StoreError>;
    async fn acknowledge_recoveries(
        &self,
        cluster: Option<&str>,
        only: Option<&AckTarget>,
        by: &str,
        comment: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError>;
    async fn abandon_active_recoveries(
        &self,
        at: Timestamp,
        note: &str,
    ) -> Result<usize, StoreError>;
    async fn begin_maintenance(
        &self,
        key: &InstanceKey,
        owner: &str,
        reason: &str,
        node: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<LockDecision, StoreError>;
    async fn end_maintenance(&self, key: &InstanceKey, id: Option<i64>)
        -> Result<bool, StoreError>;
    async fn release_node_maintenance(&self, node: &str) -> Result<usize, StoreError>;
    async fn tag(&self, key: &InstanceKey, name: &str, value: &str) -> Result<(), StoreError>;
    async fn untag(&self, key: &InstanceKey, name: &str) -> Result<bool, StoreError>;
    async fn untag_all(&self, name: &str) -> Result<Vec<InstanceKey>, StoreError>;
    async fn set_pool_instances(
        &self,
        pool: &str,
        instances: &[InstanceKey],
        at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn set_global_recoveries_disabled(&self, disabled: bool) -> Result<(), StoreError>;
    async fn set_cluster_alias(&self, cluster: &str, alias: &str) -> Result<(), StoreError>;
}

/// Applies `command` to a SQL backend: the one place a command meets its body.
pub(crate) async fn dispatch<B: Backend + ?Sized>(
    backend: &B,
    command: Command,
) -> Result<Reply, StoreError> {
    let done = |_: ()| Reply::Done;
    match command {
        Command::RegisterInstance { key, at } => {
            backend.register_instance(&key, at).await.map(Reply::Flag)
        }
        Command::ForgetInstance { key } => backend.forget_instance(&key).await.map(Reply::Flag),
        Command::BeginDowntime(downtime) => backend.begin_downtime(downtime).await.map(done),
        Command::EndDowntime { key } => backend.end_downtime(&key).await.map(Reply::Flag),
        Command::RegisterCandidate {
            key,
            rule,
            expires_at,
        } => backend
            .register_candidate(&key, rule, expires_at)
            .await
            .map(done),
        Command::RecordDetection {
            detection,
            dedupe_window_ms,
        } => backend
            .record_detection(detection, Duration::from_millis(dedupe_window_ms))
            .await
            .map(Reply::Flag),
        Command::StartRecovery {
            start,
            block_ms,
            ignore_block,
        } => backend
            .start_recovery(start, Duration::from_millis(block_ms), ignore_block)
            .await
            .map(Reply::Start),
        Command::AddRecoveryStep { id, step } => {
            backend.add_recovery_step(id, step).await.map(done)
        }
        Command::RecordRecoverySuccessor { id, successor } => backend
            .record_recovery_successor(id, &successor)
            .await
            .map(done),
        Command::FinishRecovery { id, outcome } => {
            backend.finish_recovery(id, outcome).await.map(done)
        }
        Command::AcknowledgeRecoveries {
            cluster,
            by,
            comment,
            at,
            only,
        } => backend
            .acknowledge_recoveries(cluster.as_deref(), only.as_ref(), &by, &comment, at)
            .await
            .map(Reply::Count),
        Command::AbandonActiveRecoveries { at, note } => backend
            .abandon_active_recoveries(at, &note)
            .await
            .map(Reply::Count),
        Command::BeginMaintenance {
            key,
            owner,
            reason,
            node,
            now,
            expires_at,
        } => backend
            .begin_maintenance(&key, &owner, &reason, &node, now, expires_at)
            .await
            .map(Reply::Lock),
        Command::EndMaintenance { key, id } => {
            backend.end_maintenance(&key, id).await.map(Reply::Flag)
        }
        Command::ReleaseNodeMaintenance { node } => backend
            .release_node_maintenance(&node)
            .await
            .map(Reply::Count),
        Command::Tag { key, name, value } => backend.tag(&key, &name, &value).await.map(done),
        Command::Untag { key, name } => backend.untag(&key, &name).await.map(Reply::Flag),
        Command::UntagAll { name } => backend.untag_all(&name).await.map(Reply::Keys),
        Command::SetPoolInstances {
            pool,
            instances,
            at,
        } => backend
            .set_pool_instances(&pool, &instances, at)
            .await
            .map(done),
        Command::SetGlobalRecoveriesDisabled { disabled } => backend
            .set_global_recoveries_disabled(disabled)
            .await
            .map(done),
        Command::SetClusterAlias { cluster, alias } => {
            backend.set_cluster_alias(&cluster, &alias).await.map(done)
        }
    }
}

/// Typed writes over any [`Store`]: each builds its [`Command`], applies it and unpacks the
/// reply.
#[async_trait]
pub trait Intents: Store {
    /// Adds a key to watch. Returns whether it was new; a known key is left as it is.
    async fn register_instance(
        &self,
        key: &InstanceKey,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let key = key.clone();
        self.apply(Command::RegisterInstance { key, at })
            .await?
            .flag()
    }

    /// Removes an instance. Returns whether it was known.
    async fn forget_instance(&self, key: &InstanceKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.apply(Command::ForgetInstance { key }).await?.flag()
    }

    async fn begin_downtime(&self, downtime: Downtime) -> Result<(), StoreError> {
        self.apply(Command::BeginDowntime(downtime)).await.map(drop)
    }

    /// Ends an instance's downtime. Returns whether it had one.
    async fn end_downtime(&self, key: &InstanceKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.apply(Command::EndDowntime { key }).await?.flag()
    }

    async fn register_candidate(
        &self,
        key: &InstanceKey,
        rule: PromotionRule,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let key = key.clone();
        self.apply(Command::RegisterCandidate {
            key,
            rule,
            expires_at,
        })
        .await
        .map(drop)
    }

    /// Returns whether the detection was recorded (not a duplicate within `dedupe_window`).
    async fn record_detection(
        &self,
        detection: FailureDetection,
        dedupe_window: Duration,
    ) -> Result<bool, StoreError> {
        self.apply(Command::RecordDetection {
            detection,
            dedupe_window_ms: dedupe_window.as_millis() as u64,
        })
        .await?
        .flag()
    }

    async fn start_recovery(
        &self,
        start: RecoveryStart,
        block: Duration,
        ignore_block: bool,
    ) -> Result<StartDecision, StoreError> {
        let command = Command::StartRecovery {
            start,
            block_ms: block.as_millis() as u64,
            ignore_block,
        };
        match self.apply(command).await? {
            Reply::Start(decision) => Ok(decision),
            other => Err(other.unexpected("a start decision")),
        }
    }

    async fn add_recovery_step(&self, id: i64, step: RecoveryStep) -> Result<(), StoreError> {
        self.apply(Command::AddRecoveryStep { id, step })
            .await
            .map(drop)
    }

    async fn record_recovery_successor(
        &self,
        id: i64,
        successor: &InstanceKey,
    ) -> Result<(), StoreError> {
        let successor = successor.clone();
        self.apply(Command::RecordRecoverySuccessor { id, successor })
            .await
            .map(drop)
    }

    async fn finish_recovery(&self, id: i64, outcome: RecoveryOutcome) -> Result<(), StoreError> {
        self.apply(Command::FinishRecovery { id, outcome })
            .await
            .map(drop)
    }

    /// Returns how many recoveries were acknowledged.
    async fn acknowledge_recoveries(
        &self,
        cluster: Option<&str>,
        by: &str,
        comment: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        self.apply(Command::AcknowledgeRecoveries {
            cluster: cluster.map(str::to_string),
            by: by.into(),
            comment: comment.into(),
            at,
            only: None,
        })
        .await?
        .count()
    }

    /// Acknowledges one recovery, or the recoveries of one failed instance; returns how many.
    async fn acknowledge_recovery(
        &self,
        target: AckTarget,
        by: &str,
        comment: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        self.apply(Command::AcknowledgeRecoveries {
            cluster: None,
            by: by.into(),
            comment: comment.into(),
            at,
            only: Some(target),
        })
        .await?
        .count()
    }

    /// Returns how many recoveries were closed.
    async fn abandon_active_recoveries(
        &self,
        at: Timestamp,
        note: &str,
    ) -> Result<usize, StoreError> {
        let note = note.to_string();
        self.apply(Command::AbandonActiveRecoveries { at, note })
            .await?
            .count()
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
        let command = Command::BeginMaintenance {
            key: key.clone(),
            owner: owner.into(),
            reason: reason.into(),
            node: node.into(),
            now,
            expires_at,
        };
        match self.apply(command).await? {
            Reply::Lock(decision) => Ok(decision),
            other => Err(other.unexpected("a lock decision")),
        }
    }

    /// Returns whether a lock was released.
    async fn end_maintenance(
        &self,
        key: &InstanceKey,
        id: Option<i64>,
    ) -> Result<bool, StoreError> {
        let key = key.clone();
        self.apply(Command::EndMaintenance { key, id })
            .await?
            .flag()
    }

    /// Returns how many locks were released.
    async fn release_node_maintenance(&self, node: &str) -> Result<usize, StoreError> {
        let node = node.to_string();
        self.apply(Command::ReleaseNodeMaintenance { node })
            .await?
            .count()
    }

    async fn tag(&self, key: &InstanceKey, name: &str, value: &str) -> Result<(), StoreError> {
        self.apply(Command::Tag {
            key: key.clone(),
            name: name.into(),
            value: value.into(),
        })
        .await
        .map(drop)
    }

    /// Returns whether the instance had the tag.
    async fn untag(&self, key: &InstanceKey, name: &str) -> Result<bool, StoreError> {
        let (key, name) = (key.clone(), name.to_string());
        self.apply(Command::Untag { key, name }).await?.flag()
    }

    /// Returns the instances that had the tag.
    async fn untag_all(&self, name: &str) -> Result<Vec<InstanceKey>, StoreError> {
        let name = name.to_string();
        match self.apply(Command::UntagAll { name }).await? {
            Reply::Keys(keys) => Ok(keys),
            other => Err(other.unexpected("a list of instances")),
        }
    }

    /// Replaces the members of `pool`.
    async fn set_pool_instances(
        &self,
        pool: &str,
        instances: &[InstanceKey],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.apply(Command::SetPoolInstances {
            pool: pool.to_string(),
            instances: instances.to_vec(),
            at,
        })
        .await
        .map(drop)
    }

    async fn set_global_recoveries_disabled(&self, disabled: bool) -> Result<(), StoreError> {
        self.apply(Command::SetGlobalRecoveriesDisabled { disabled })
            .await
            .map(drop)
    }

    async fn set_cluster_alias(&self, cluster: &str, alias: &str) -> Result<(), StoreError> {
        let (cluster, alias) = (cluster.to_string(), alias.to_string());
        self.apply(Command::SetClusterAlias { cluster, alias })
            .await
            .map(drop)
    }
}

impl<S: Store + ?Sized> Intents for S {}
