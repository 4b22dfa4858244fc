//! Which replicas of a semi-synchronous primary should acknowledge its commits: the choice
//! analysis checks the cluster against (`MasterWithIncorrectSemiSyncReplicas`) and recovery
//! enforces, made in one place so the two never disagree.

use arbor_topology::{InstanceKey, InstanceRecord, IoThreadState, PromotionRule, Topology};

/// The acknowledgers a primary should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgers {
    /// How many the primary waits for (at least one).
    pub wanted: usize,
    /// How many of its replicas could acknowledge: reachable, replicating, with semi-sync
    /// available, not `must_not`, and not priority 0 (`DetectSemiSyncEnforcedQuery`: an
    /// asynchronous replica).
    pub candidates: usize,
    /// The ones that should: as many as it waits for among the candidates, by semi-sync
    /// priority (highest first), then promotion rule, then those acknowledging already (no
    /// needless change), then key.
    pub chosen: Vec<InstanceKey>,
    /// Its direct replicas whose semi-sync replica side is on now, in key order.
    pub enabled: Vec<InstanceKey>,
}

/// Whether the replica side of semi-sync is on, and acknowledging (its I/O thread connected
/// after the switch).
pub fn acknowledging(record: &InstanceRecord) -> bool {
    record.instance.semi_sync.replica_enabled && record.instance.semi_sync.replica_status
}

/// The acknowledgers `primary` should have (`None` when it is not known).
pub fn semi_sync_acknowledgers(
    topology: &Topology,
    primary: &InstanceKey,
) -> Option<Acknowledgers> {
    let record = topology.record(primary)?;
    let wanted = record.instance.semi_sync.wait_for_replica_count.max(1) as usize;
    let enabled_side = |r: &InstanceRecord| r.instance.semi_sync.replica_enabled;
    let replicas = topology.replicas_of(primary);
    let mut candidates: Vec<&InstanceRecord> = replicas
        .iter()
        .copied()
        .filter(|r| {
            r.is_last_check_valid()
                && r.instance.semi_sync.available
                && topology.promotion_rule(r.key()) != PromotionRule::MustNot
                && r.instance.semi_sync.priority != Some(0)
                && r.instance
                    .replication
                    .as_ref()
                    .is_some_and(|s| s.io_thread == IoThreadState::Running)
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.instance
            .semi_sync
            .priority
            .cmp(&a.instance.semi_sync.priority)
            .then(
                topology
                    .promotion_rule(a.key())
                    .cmp(&topology.promotion_rule(b.key())),
            )
            .then(enabled_side(b).cmp(&enabled_side(a)))
            .then(a.key().cmp(b.key()))
    });
    Some(Acknowledgers {
        wanted,
        candidates: candidates.len(),
        chosen: candidates
            .iter()
            .take(wanted)
            .map(|r| r.key().clone())
            .collect(),
        enabled: replicas
            .iter()
            .filter(|r| enabled_side(r))
            .map(|r| r.key().clone())
            .collect(),
    })
}

/// `MasterWithIncorrectSemiSyncReplicas`: the primary has as many acknowledgers as it waits
/// for, but not the ones it should (a higher priority or `prefer` replica left out, a
/// `must_not` or priority-0 one acknowledging), while enough right ones exist to fix it.
pub(crate) fn incorrect_acknowledgers(topology: &Topology, primary: &InstanceKey) -> bool {
    let Some(record) = topology.record(primary) else {
        return false;
    };
    let s = &record.instance.semi_sync;
    if !(s.primary_enabled && s.primary_status && s.wait_for_replica_count > 0)
        || s.primary_clients != s.wait_for_replica_count
    {
        return false;
    }
    let Some(acknowledgers) = semi_sync_acknowledgers(topology, primary) else {
        return false;
    };
    let mut acknowledging: Vec<InstanceKey> = topology
        .replicas_of(primary)
        .iter()
        .filter(|r| acknowledging(r))
        .map(|r| r.key().clone())
        .collect();
    let mut chosen = acknowledgers.chosen.clone();
    acknowledging.sort();
    chosen.sort();
    acknowledgers.chosen.len() == acknowledgers.wanted && acknowledging != chosen
}
