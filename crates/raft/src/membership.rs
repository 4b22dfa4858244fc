//! Changing the group: handing the lead over, adding a member (a learner first, a voter once
//! caught up), removing one.

use super::*;

impl RaftNode {
    /// Builds a snapshot of the state machine now and purges the log before it (orchestrator's
    /// `raft-snapshot`); returns the snapshot's last index once it is built.
    pub async fn snapshot_now(&self) -> Result<Option<u64>, MembershipError> {
        let raft = &self.inner.raft;
        raft.trigger()
            .snapshot()
            .await
            .map_err(|e| MembershipError::Failed(format!("cannot start a snapshot: {e}")))?;
        let wanted = self.metrics().last_applied.map(|l| l.index);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let built = self.metrics().snapshot.map(|l| l.index);
            if built >= wanted {
                return Ok(built);
            }
            if Instant::now() >= deadline {
                return Err(MembershipError::Failed(format!(
                    "the snapshot was not built within 30 s (at {built:?} of {wanted:?})"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asks `target` (a member's Raft address or id) to take the lead.
    pub async fn yield_to(&self, target: &str) -> Result<String, MembershipError> {
        let status = self.status();
        let peer = member(&status, target)?;
        if peer.id == self.inner.id {
            return Err(MembershipError::BadRequest(format!(
                "{target} is this node; ask another member to take the lead"
            )));
        }
        if !peer.voter {
            return Err(MembershipError::BadRequest(format!(
                "{target} is a learner, not a voter: it cannot lead"
            )));
        }
        if self.metrics().state != ServerState::Leader {
            return Err(MembershipError::NotLeader(
                "only the leader hands over the lead (send the request through any node: it is forwarded)".into(),
            ));
        }
        // A candidate with a shorter log loses every vote: wait until the target holds all of
        // this leader's log before going quiet.
        let caught_up_by = Instant::now() + Duration::from_secs(5);
        loop {
            let metrics = self.metrics();
            let matched = metrics
                .replication
                .as_ref()
                .and_then(|r| r.get(&peer.id).cloned().flatten())
                .map(|log_id| log_id.index);
            if matched.is_some() && matched >= metrics.last_log_index {
                break;
            }
            if Instant::now() >= caught_up_by {
                return Err(MembershipError::Failed(format!(
                    "{} has not caught up with the log (at {matched:?} of {:?}); try again",
                    peer.addr, metrics.last_log_index
                )));
            }
            tokio::time::sleep(self.inner.settings.heartbeat).await;
        }
        // Followers refuse to vote while they hear from a leader (openraft's leader lease), so
        // this leader goes quiet, heartbeats and lease renewals both, stops acting, and asks
        // the target to stand until it has won. Meanwhile it votes for the target only: a
        // third member whose election timer fires first would otherwise win with its vote.
        let raft = &self.inner.raft;
        self.inner
            .yielding
            .store(peer.id, std::sync::atomic::Ordering::Relaxed);
        raft.runtime_config().heartbeat(false);
        // Until the followers' leader lease on this node has run out they refuse any vote; a
        // candidate asked too early, or too often, only raises terms and resets their timers.
        tokio::time::sleep(
            self.inner.settings.election_timeout_max + self.inner.settings.heartbeat,
        )
        .await;
        let mut outcome = Err(MembershipError::Failed(format!(
            "{} did not take the lead",
            peer.addr
        )));
        'attempts: for _ in 0..3 {
            if let Err(error) = network::request_election(&self.inner.network, &peer.addr).await {
                outcome = Err(MembershipError::Failed(error));
                break;
            }
            let deadline = Instant::now() + self.inner.settings.election_timeout_max * 4;
            while Instant::now() < deadline {
                tokio::time::sleep(self.inner.settings.heartbeat).await;
                match self.metrics().current_leader {
                    Some(leader) if leader == peer.id => {
                        outcome = Ok(peer.addr.clone());
                        break 'attempts;
                    }
                    // Another member won the election the target started: the lead moved,
                    // not where it was asked to.
                    Some(leader) if leader != self.inner.id => {
                        outcome = Err(MembershipError::Failed(format!(
                            "{} did not take the lead; member {leader} did",
                            peer.addr
                        )));
                        break 'attempts;
                    }
                    _ => {}
                }
            }
        }
        raft.runtime_config().heartbeat(true);
        self.inner
            .yielding
            .store(0, std::sync::atomic::Ordering::Relaxed);
        outcome
    }

    /// Adds a member (as a learner first, then a voter once it caught up). Leader only.
    pub async fn add_peer(&self, addr: &str) -> Result<NodeId, MembershipError> {
        let addr = addr.trim().to_string();
        if !addr.contains(':') {
            return Err(MembershipError::BadRequest(format!(
                "{addr:?}: expected host:port (the member's Raft address)"
            )));
        }
        let id = node_id(&addr);
        let raft = &self.inner.raft;
        let voters: BTreeSet<NodeId> = self
            .metrics()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        if voters.contains(&id) {
            return Err(MembershipError::BadRequest(format!(
                "{addr} is already a voting member"
            )));
        }
        // A learner first: it does not count towards a quorum, so a member that cannot be
        // reached (a typo, a node not started) never costs the group its majority.
        raft.add_learner(id, BasicNode { addr: addr.clone() }, false)
            .await
            .map_err(membership_error)?;
        if let Err(problem) = self.wait_caught_up(id, ADD_PEER_CATCH_UP).await {
            // Back to the configuration before: the learner is dropped.
            let learner = openraft::ChangeMembers::RemoveNodes(BTreeSet::from([id]));
            let undone = raft.change_membership(learner, false).await;
            if let Err(error) = undone {
                tracing::warn!(%error, %addr, "cannot drop the learner that did not catch up");
            }
            return Err(MembershipError::Unreachable(format!(
                "{addr} was not added: {problem}; the group is unchanged"
            )));
        }
        let mut new_voters = voters;
        new_voters.insert(id);
        raft.change_membership(new_voters, false)
            .await
            .map_err(membership_error)?;
        Ok(id)
    }

    /// Waits until learner `id` has replicated the leader's log as it stood when asked.
    async fn wait_caught_up(&self, id: NodeId, within: Duration) -> Result<(), String> {
        let target = self.metrics().last_log_index.unwrap_or(0);
        let deadline = Instant::now() + within;
        loop {
            let metrics = self.metrics();
            let matched = metrics
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).cloned().flatten())
                .map(|log_id| log_id.index);
            if matched.is_some_and(|index| index >= target) {
                return Ok(());
            }
            if metrics.current_leader != Some(self.inner.id) {
                return Err("this node stopped leading while it waited".into());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "it did not catch up with the log within {within:?} (not reachable, or \
                     not running arbor's Raft port there?)"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Removes a member. Leader only.
    pub async fn remove_peer(&self, target: &str) -> Result<NodeId, MembershipError> {
        let status = self.status();
        let peer = member(&status, target)?;
        let voters: BTreeSet<NodeId> = status
            .peers
            .iter()
            .filter(|p| p.voter && p.id != peer.id)
            .map(|p| p.id)
            .collect();
        if voters.is_empty() {
            return Err(MembershipError::BadRequest(
                "cannot remove the last member".into(),
            ));
        }
        self.inner
            .raft
            .change_membership(voters, false)
            .await
            .map_err(membership_error)?;
        Ok(peer.id)
    }
}

/// The member named by its Raft address or id.
fn member<'a>(status: &'a RaftStatus, target: &str) -> Result<&'a PeerStatus, MembershipError> {
    status
        .peers
        .iter()
        .find(|p| p.addr == target || p.id.to_string() == target)
        .ok_or_else(|| {
            MembershipError::BadRequest(format!("{target} is not a member of this Raft group"))
        })
}

fn membership_error(
    error: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
) -> MembershipError {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
            MembershipError::NotLeader(format!(
                "not the Raft leader (leader: {})",
                forward
                    .leader_node
                    .map(|n| n.addr)
                    .unwrap_or_else(|| "unknown".into())
            ))
        }
        other => MembershipError::Failed(other.to_string()),
    }
}
