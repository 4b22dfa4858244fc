//! The replicated state machine: committed commands applied to this node's own arbor store.
//!
//! The state is not persisted with its applied index. Instead the node wipes the replicated
//! part of its store at start-up, loads its last snapshot, and openraft replays the log after
//! it, so what a node holds is always a function of the snapshot and the log (see
//! `DESIGN.md`). Observations (instance readings)
//! are not replicated: every node probes every server itself.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use arbor_store::{ReplicatedDump, Store, StoreError};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use crate::{Applied, Command, GroupCommand, NodeId, Proposal, Reply, TypeConfig};

/// State the API and the transport read outside the state machine task.
#[derive(Default)]
pub struct Shared {
    /// Each node's API address, as it announced it.
    pub apis: Mutex<BTreeMap<NodeId, String>>,
    /// Told of every store command applied (discovery watches what is registered).
    pub applied: OnceLock<crate::AppliedHook>,
    /// Set once recovery runs: answers the leader's "do you see this failure too?".
    pub judge: OnceLock<Arc<dyn crate::LocalJudge>>,
    /// Readings relayed among members when probing is shared.
    pub relay: Arc<crate::readings::Relay>,
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
    /// Where the current snapshot is kept (`RaftDataDir/snapshot.json`).
    snapshot_path: PathBuf,
}

/// What a snapshot holds: the replicated rows and the state machine's own bookkeeping.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotContent {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    apis: BTreeMap<NodeId, String>,
    dump: ReplicatedDump,
}

/// The snapshot file: its meta and its bytes (the serialized content).
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: String,
}

impl StateMachine {
    /// A state machine over `store`, starting from the snapshot in `data_dir` when there is
    /// one (imported into the store, which must have had its replicated part reset); openraft
    /// then applies the log entries after it.
    pub async fn open(
        store: Arc<dyn Store>,
        shared: Arc<Shared>,
        data_dir: &Path,
    ) -> Result<StateMachine, StoreError> {
        let mut machine = StateMachine {
            store,
            shared,
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot_path: data_dir.join("snapshot.json"),
        };
        if let Some(file) = machine.read_snapshot_file()? {
            let content: SnapshotContent =
                serde_json::from_str(&file.data).map_err(|e| StoreError::Corrupt {
                    key: machine.snapshot_path.display().to_string(),
                    message: e.to_string(),
                })?;
            machine.load(content).await?;
        }
        Ok(machine)
    }

    fn read_snapshot_file(&self) -> Result<Option<SnapshotFile>, StoreError> {
        match std::fs::read_to_string(&self.snapshot_path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    key: self.snapshot_path.display().to_string(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Open {
                path: self.snapshot_path.display().to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// Replaces the state with a snapshot's.
    async fn load(&mut self, content: SnapshotContent) -> Result<(), StoreError> {
        self.store.import_replicated(content.dump).await?;
        self.last_applied = content.last_applied;
        self.membership = content.membership;
        *self.shared.apis.lock().unwrap_or_else(|e| e.into_inner()) = content.apis;
        Ok(())
    }

    /// Writes the snapshot file atomically (a crash leaves the old one or the new one).
    fn write_snapshot_file(&self, file: &SnapshotFile) -> std::io::Result<()> {
        let temporary = self.snapshot_path.with_extension("json.tmp");
        let text = serde_json::to_string(file).map_err(std::io::Error::other)?;
        std::fs::write(&temporary, text)?;
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, &self.snapshot_path)
    }

    async fn apply_proposal(&self, proposal: Proposal) -> Result<Reply, StoreError> {
        match proposal {
            Proposal::Store(command) => {
                let hook = self.shared.applied.get();
                // A forgotten key stops being watched before its rows go, a registered one
                // is watched once its row exists.
                if let (Some(hook), Command::ForgetInstance { .. }) = (hook, &command) {
                    hook(&command);
                }
                let announce =
                    matches!(command, Command::RegisterInstance { .. }).then(|| command.clone());
                let reply = self.store.apply(command).await?;
                if let (Some(hook), Some(command)) = (hook, announce) {
                    hook(&command);
                }
                Ok(reply)
            }
            Proposal::Group(GroupCommand::AnnounceNode { id, api }) => {
                self.shared
                    .apis
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, api);
                Ok(Reply::Done)
            }
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let mut replies = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            let reply = match entry.payload {
                EntryPayload::Blank => Applied::Reply(Reply::Done),
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Applied::Reply(Reply::Done)
                }
                EntryPayload::Normal(proposal) => match self.apply_proposal(proposal).await {
                    Ok(reply) => Applied::Reply(reply),
                    // Applying is deterministic for every node holding the same log; a store
                    // that cannot write (disk full) is reported to the writer, and this node's
                    // copy is repaired by the replay at its next start.
                    Err(error) => {
                        tracing::error!(%error, index = entry.log_id.index,
                            "cannot apply a replicated command to the local store");
                        Applied::Failed(error.to_string())
                    }
                },
            };
            replies.push(reply);
        }
        Ok(replies)
    }

    /// The content is read here, on the state machine's task, so it is the state at
    /// `last_applied` exactly: no entry is applied while it is read.
    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let content = self
            .store
            .export_replicated()
            .await
            .map(|dump| SnapshotContent {
                last_applied: self.last_applied,
                membership: self.membership.clone(),
                apis: self
                    .shared
                    .apis
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
                dump,
            })
            .map_err(|e| e.to_string());
        SnapshotBuilder {
            content,
            path: self.snapshot_path.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        let data = String::from_utf8(bytes)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let content: SnapshotContent = serde_json::from_str(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        self.load(content)
            .await
            .map_err(|e| StorageIOError::write_state_machine(&e))?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        let file = SnapshotFile {
            meta: meta.clone(),
            data,
        };
        self.write_snapshot_file(&file)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!(last = ?meta.last_log_id, "installed a snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let file = self
            .read_snapshot_file()
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(file.map(|file| Snapshot {
            meta: file.meta,
            snapshot: Box::new(Cursor::new(file.data.into_bytes())),
        }))
    }
}

/// Builds a snapshot from the content read when openraft asked for a builder, and keeps it
/// in `RaftDataDir` so that the log before it can be purged.
pub struct SnapshotBuilder {
    content: Result<SnapshotContent, String>,
    path: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let content = self
            .content
            .clone()
            .map_err(|e| StorageIOError::read_state_machine(&std::io::Error::other(e)))?;
        let data = serde_json::to_string(&content)
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let meta = SnapshotMeta {
            last_log_id: content.last_applied,
            last_membership: content.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                content.last_applied.map(|l| l.index).unwrap_or(0),
                arbor_topology::Timestamp::now().millis()
            ),
        };
        let file = SnapshotFile {
            meta: meta.clone(),
            data: data.clone(),
        };
        let machine_path = &self.path;
        let temporary = machine_path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            std::fs::write(
                &temporary,
                serde_json::to_string(&file).map_err(std::io::Error::other)?,
            )?;
            std::fs::File::open(&temporary)?.sync_all()?;
            std::fs::rename(&temporary, machine_path)
        };
        write().map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!(last = ?meta.last_log_id, "took a snapshot; the log before it can go");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data.into_bytes())),
        })
    }
}
