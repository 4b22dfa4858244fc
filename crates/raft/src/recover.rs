//! Recovery from a lost majority: forcing a group down to one member.
//!
//! A group that lost a majority of its members for good (two of three machines gone) cannot
//! commit anything, and no membership change can pass, since that too needs a majority. As
//! etcd's `--force-new-cluster` and rqlite's `peers.json` do, an operator can then tell the
//! surviving node, while it is stopped, that it alone is the group: [`force_single_member`]
//! appends to its log a configuration with itself as the only voter, in a new term. On its
//! next start it elects itself, commits what it has, and serves. Entries only the lost members
//! had are gone (they were never committed where this node could see them): that is the price,
//! and why the command says so loudly. The lost members, if they come back, must be wiped and
//! re-added with `raft-add-peer`, or they would still believe in the old configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use openraft::storage::RaftLogStorage;
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, Membership, RaftLogReader, Vote,
};

use crate::log_store::LogStore;
use crate::{node_id, RaftStartError, TypeConfig};

/// What [`force_single_member`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedMembership {
    /// The members of the configuration it replaced (their Raft addresses).
    pub previous_members: Vec<String>,
    /// The log index of the new configuration.
    pub index: u64,
    pub term: u64,
}

/// Makes the node whose Raft address is `advertise`, with its log in `data_dir`, the only
/// member of its group, keeping everything its log holds. Run only while that node is
/// stopped (the caller checks).
pub async fn force_single_member(
    data_dir: &Path,
    advertise: &str,
) -> Result<ForcedMembership, RaftStartError> {
    let path = data_dir.join("raft.db");
    if !path.exists() {
        return Err(RaftStartError::DataDir {
            path: data_dir.display().to_string(),
            message: "holds no Raft log (raft.db): nothing to recover".into(),
        });
    }
    let failed = |message: String| RaftStartError::DataDir {
        path: path.display().to_string(),
        message,
    };
    let mut log = LogStore::open(&path)?;
    let vote = log
        .read_vote()
        .await
        .map_err(|e| failed(e.to_string()))?
        .unwrap_or_default();
    let state = log
        .get_log_state()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let last = state.last_log_id;
    let previous_members = last_membership(&mut log, last.map_or(0, |l| l.index))
        .await
        .map_err(failed)?;
    // A term above any this node has seen or logged: the new configuration's entry is then
    // newer than every entry in the log, and the vote matches it.
    let term = vote
        .leader_id()
        .term
        .max(last.map_or(0, |l| l.leader_id.term))
        + 1;
    let id = node_id(advertise);
    let index = last.map_or(1, |l| l.index + 1);
    let nodes = BTreeMap::from([(id, BasicNode::new(advertise))]);
    let entry = Entry::<TypeConfig> {
        log_id: LogId::new(CommittedLeaderId::new(term, id), index),
        payload: EntryPayload::Membership(Membership::new(vec![BTreeSet::from([id])], nodes)),
    };
    log.append_offline(entry)
        .map_err(|e| failed(e.to_string()))?;
    log.save_vote(&Vote::new(term, id))
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(ForcedMembership {
        previous_members,
        index,
        term,
    })
}

/// The members (addresses) of the last configuration in the log, if the log still holds one.
async fn last_membership(log: &mut LogStore, last_index: u64) -> Result<Vec<String>, String> {
    let entries = log
        .try_get_log_entries(0..=last_index)
        .await
        .map_err(|e| e.to_string())?;
    Ok(entries
        .iter()
        .rev()
        .find_map(|entry| match &entry.payload {
            EntryPayload::Membership(membership) => Some(
                membership
                    .nodes()
                    .map(|(_, node)| node.addr.clone())
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default())
}
