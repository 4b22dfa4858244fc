//! The replicated state machine: committed commands applied to this node's own arbor store.
//!
//! The state is not persisted with its applied index. Instead the node wipes the replicated
//! part of its store at start-up and openraft replays the whole log onto it, so what a node
//! holds is always a function of the log (see `DESIGN.md`). Observations (instance readings)
//! are not replicated: every node probes every server itself.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arbor_discovery::DiscoveryHandle;
use arbor_store::{Store, StoreError};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};

use crate::{Command, NodeId, Reply, TypeConfig};

/// State the API and the transport read outside the state machine task.
#[derive(Default)]
pub struct Shared {
    /// Each node's API address, as it announced it.
    pub apis: Mutex<BTreeMap<NodeId, String>>,
    /// Set once discovery runs, so that a replicated discover or forget reaches it.
    pub discovery: OnceLock<DiscoveryHandle>,
    /// Set once recovery runs: answers the leader's "do you see this failure too?".
    pub engine: OnceLock<arbor_recovery::RecoveryEngine>,
    /// The node itself, for the Raft port's status route (weak: the node owns this).
    pub node: OnceLock<std::sync::Weak<crate::NodeInner>>,
}

impl Shared {
    pub fn api_of(&self, id: NodeId) -> Option<String> {
        self.apis
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }
}

pub struct StateMachine {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

impl StateMachine {
    pub fn new(store: Arc<dyn Store>, shared: Arc<Shared>) -> StateMachine {
        StateMachine {
            store,
            shared,
            last_applied: None,
            membership: StoredMembership::default(),
        }
    }

    async fn apply_command(&self, command: Command) -> Result<Reply, StoreError> {
        let store = &self.store;
        Ok(match command {
            Command::RegisterInstance { key, at } => {
                let new = store.register_instance(&key, at).await?;
                if let Some(discovery) = self.shared.discovery.get() {
                    discovery.watch_now(&key);
                }
                Reply::Flag(new)
            }
            Command::ForgetInstance { key } => {
                if let Some(discovery) = self.shared.discovery.get() {
                    discovery.unwatch(&key);
                }
                Reply::Flag(store.forget_instance(&key).await?)
            }
            Command::BeginDowntime(downtime) => {
                store.begin_downtime(downtime).await?;
                Reply::Done
            }
            Command::EndDowntime { key } => Reply::Flag(store.end_downtime(&key).await?),
            Command::RegisterCandidate {
                key,
                rule,
                expires_at,
            } => {
                store.register_candidate(&key, rule, expires_at).await?;
                Reply::Done
            }
            Command::RecordDetection {
                detection,
                dedupe_window_ms,
            } => Reply::Flag(
                store
                    .record_detection(detection, Duration::from_millis(dedupe_window_ms))
                    .await?,
            ),
            Command::StartRecovery {
                start,
                block_ms,
                ignore_block,
            } => Reply::Start(
                store
                    .start_recovery(start, Duration::from_millis(block_ms), ignore_block)
                    .await?,
            ),
            Command::AddRecoveryStep { id, step } => {
                store.add_recovery_step(id, step).await?;
                Reply::Done
            }
            Command::RecordRecoverySuccessor { id, successor } => {
                store.record_recovery_successor(id, &successor).await?;
                Reply::Done
            }
            Command::FinishRecovery { id, outcome } => {
                store.finish_recovery(id, outcome).await?;
                Reply::Done
            }
            Command::AcknowledgeRecoveries {
                cluster,
                by,
                comment,
                at,
            } => Reply::Count(
                store
                    .acknowledge_recoveries(cluster.as_deref(), &by, &comment, at)
                    .await?,
            ),
            Command::AbandonActiveRecoveries { at, note } => {
                Reply::Count(store.abandon_active_recoveries(at, &note).await?)
            }
            Command::BeginMaintenance {
                key,
                owner,
                reason,
                node,
                now,
                expires_at,
            } => Reply::Lock(
                store
                    .begin_maintenance(&key, &owner, &reason, &node, now, expires_at)
                    .await?,
            ),
            Command::EndMaintenance { key, id } => {
                Reply::Flag(store.end_maintenance(&key, id).await?)
            }
            Command::ReleaseNodeMaintenance { node } => {
                Reply::Count(store.release_node_maintenance(&node).await?)
            }
            Command::Tag { key, name, value } => {
                store.tag(&key, &name, &value).await?;
                Reply::Done
            }
            Command::Untag { key, name } => Reply::Flag(store.untag(&key, &name).await?),
            Command::UntagAll { name } => Reply::Keys(store.untag_all(&name).await?),
            Command::SetGlobalRecoveriesDisabled { disabled } => {
                store.set_global_recoveries_disabled(disabled).await?;
                Reply::Done
            }
            Command::AnnounceNode { id, api } => {
                self.shared
                    .apis
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, api);
                Reply::Done
            }
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = NoSnapshots;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Reply>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let mut replies = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            let reply = match entry.payload {
                EntryPayload::Blank => Reply::Done,
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Reply::Done
                }
                EntryPayload::Normal(command) => match self.apply_command(command).await {
                    Ok(reply) => reply,
                    // Applying is deterministic for every node holding the same log; a store
                    // that cannot write (disk full) is reported to the writer, and this node's
                    // copy is repaired by the replay at its next start.
                    Err(error) => {
                        tracing::error!(%error, index = entry.log_id.index,
                            "cannot apply a replicated command to the local store");
                        Reply::Failed(error.to_string())
                    }
                },
            };
            replies.push(reply);
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        NoSnapshots
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        _meta: &SnapshotMeta<NodeId, BasicNode>,
        _snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        Err(no_snapshots())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        Ok(None)
    }
}

/// The log is never compacted (the snapshot policy is `Never`), so no snapshot is ever built
/// or sent: a node that joins or returns catches up from the log itself.
pub struct NoSnapshots;

fn no_snapshots() -> StorageError<NodeId> {
    StorageIOError::write_snapshot(
        None,
        &std::io::Error::other("arbor does not compact its Raft log; snapshots are not used"),
    )
    .into()
}

impl RaftSnapshotBuilder<TypeConfig> for NoSnapshots {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        Err(no_snapshots())
    }
}
