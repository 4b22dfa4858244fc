//! `regroup-replicas`: the most advanced replica of an instance takes its siblings.

use super::*;

impl Refactorer {
    /// Picks the replica of `parent` that received the most (among those that can serve as a
    /// source: reachable, binary log and `log_slave_updates` on, not delayed) and moves its
    /// siblings below it with GTID. Returns the chosen replica, the moved ones and why others
    /// were not moved.
    pub async fn regroup_replicas(
        &self,
        parent: &InstanceKey,
    ) -> Result<(InstanceKey, Vec<InstanceKey>, Vec<String>), RefactorError> {
        let topology = self.topology().await?;
        if topology.record(parent).is_none() {
            return Err(RefactorError::NotFound(format!(
                "unknown instance {parent}"
            )));
        }
        let replicas = topology.replica_keys_of(parent);
        // Judged on fresh readings: positions move.
        self.discovery.probe_now(&replicas).await;
        let topology = self.topology().await?;
        let candidates = topology.replicas_of(parent);
        if candidates.len() < 2 {
            return Err(RefactorError::Refused(format!(
                "{parent} has {} replica(s): nothing to regroup",
                candidates.len()
            )));
        }
        let chosen = candidates
            .iter()
            .filter(|r| {
                r.is_last_check_valid()
                    && r.instance.log_bin
                    && r.instance.log_replica_updates
                    && r.instance
                        .replication
                        .as_ref()
                        .is_some_and(|s| s.sql_delay == 0)
            })
            .max_by(|a, b| {
                let (pa, pb) = (
                    arbor_analysis::Position::of(a),
                    arbor_analysis::Position::of(b),
                );
                pa.total().cmp(&pb.total()).then(b.key().cmp(a.key()))
            })
            .ok_or_else(|| {
                RefactorError::Refused(format!(
                    "no replica of {parent} can take its siblings (each is unreachable, delayed, \
                     or lacks a binary log with log_slave_updates)"
                ))
            })?;
        let chosen = chosen.key().clone();
        let (moved, errors) = self.take_siblings(&chosen).await?;
        Ok((chosen, moved, errors))
    }
}
