//! The semi-synchronous replicas of a primary: which of them should acknowledge its commits
//! (pure, [`plan`]), and making it so ([`enforce`]) for `LockedSemiSyncMaster` (with
//! `RecoverLockedSemiSyncMaster` or `EnforceExactSemiSyncReplicas`) and
//! `MasterWithTooManySemiSyncReplicas` and `MasterWithIncorrectSemiSyncReplicas` (with
//! `EnforceExactSemiSyncReplicas`). Which replicas should acknowledge is analysis's choice
//! ([`arbor_analysis::semi_sync_acknowledgers`]), so the analysis and the fix agree.
//!
//! orchestrator's order is kept: replicas are switched on first, then off, so the primary never
//! has fewer acknowledgers on the way than at the start. Only the replica side changes; the
//! primary's own switch and wait count are the operator's.

use arbor_analysis::Analysis;
use arbor_topology::{InstanceKey, Topology};

use crate::actions::{open, run_all};
use crate::audit::{Audit, Done};
use crate::engine::RecoveryEngine;

/// The replicas whose semi-sync replica side turns on, then those whose side turns off: in
/// that order, so that the primary is never left with fewer acknowledgers than before.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SemiSyncPlan {
    pub enable: Vec<InstanceKey>,
    pub disable: Vec<InstanceKey>,
}

/// What to change so that `primary` has the acknowledgers
/// [`arbor_analysis::semi_sync_acknowledgers`] chooses (promotion rules from the topology):
/// the chosen ones not acknowledging yet are turned on; with `exact`, the other acknowledgers
/// are turned off; without, nobody is turned off (`RecoverLockedSemiSyncMaster` only adds).
/// Fewer candidates than the wait count enable them all; no change possible is an error that
/// says why.
pub(crate) fn plan(
    topology: &Topology,
    primary: &InstanceKey,
    exact: bool,
) -> Result<SemiSyncPlan, String> {
    let choice = arbor_analysis::semi_sync_acknowledgers(topology, primary)
        .ok_or_else(|| format!("{primary} is not known"))?;
    // Enabled but not acknowledging (its I/O thread connected before the switch): turning it
    // on again restarts the I/O thread, which is what it needs.
    let enable: Vec<InstanceKey> = choice
        .chosen
        .iter()
        .filter(|key| {
            !topology
                .record(key)
                .is_some_and(arbor_analysis::acknowledging)
        })
        .cloned()
        .collect();
    let disable: Vec<InstanceKey> = if exact {
        choice
            .enabled
            .iter()
            .filter(|key| !choice.chosen.contains(key))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    if enable.is_empty() && disable.is_empty() {
        return Err(format!(
            "{primary} waits for {} semi-synchronous replica(s); {} of its replicas can \
             acknowledge (reachable, replicating, semi-sync available, not must_not) and \
             nothing would change",
            choice.wanted, choice.candidates
        ));
    }
    Ok(SemiSyncPlan { enable, disable })
}

/// Turns the replica side of semi-sync on and off on `analysis`'s primary's replicas as
/// [`plan`] says (each I/O thread restarted, so that the change takes effect now).
pub(crate) async fn enforce(
    engine: &RecoveryEngine,
    audit: &Audit,
    analysis: &Analysis,
    exact: bool,
) -> Result<Done, String> {
    let snapshot = engine
        .fresh_snapshot_of(&analysis.cluster, None)
        .await
        .map_err(|e| e.to_string())?;
    let plan = plan(&snapshot.topology, &analysis.key, exact)?;
    audit
        .step(format!(
            "semi-sync replicas of {}{}: on {:?}, then off {:?}",
            analysis.key,
            if exact {
                " (EnforceExactSemiSyncReplicas)"
            } else {
                " (RecoverLockedSemiSyncMaster)"
            },
            plan.enable
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            plan.disable
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        ))
        .await;
    let mut participating = vec![analysis.key.clone()];
    for (keys, on) in [(&plan.enable, true), (&plan.disable, false)] {
        for key in keys {
            let mut session = open(engine, key).await?;
            let statements = session.dialect().set_semi_sync(false, on, true);
            run_all(&mut session, audit, &statements)
                .await
                .map_err(|e| format!("{key}: {e}"))?;
            participating.push(key.clone());
        }
    }
    Ok(Done {
        successor: None,
        participating,
        ..Done::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_topology::{
        Flavor, GtidKind, Instance, InstanceRecord, IoThreadState, PromotionRule, ReplicaStatus,
        SemiSync, Timestamp, TopologyOptions,
    };

    fn record(key: &str, source: Option<&str>, semi_sync: SemiSync) -> InstanceRecord {
        let mut instance = Instance::unseen(key.parse().unwrap());
        instance.flavor = Flavor::MariaDb;
        instance.version = "10.11.6-MariaDB".into();
        instance.server_id = u64::from(key.as_bytes()[0]);
        instance.semi_sync = semi_sync;
        instance.replication = source.map(|source| ReplicaStatus {
            source: source.parse().unwrap(),
            io_thread: IoThreadState::Running,
            sql_thread_running: true,
            gtid_kind: GtidKind::MariaDb,
            ..ReplicaStatus::default()
        });
        InstanceRecord {
            instance,
            first_discovered: Timestamp(0),
            last_attempted_check: Some(Timestamp(10)),
            last_checked: Some(Timestamp(10)),
            last_seen: Some(Timestamp(10)),
            last_error: String::new(),
        }
    }

    fn replica(key: &str, on: bool) -> InstanceRecord {
        record(
            key,
            Some("p:1"),
            SemiSync {
                available: true,
                replica_enabled: on,
                replica_status: on,
                ..SemiSync::default()
            },
        )
    }

    fn topology(replicas: Vec<InstanceRecord>) -> Topology {
        topology_with(replicas, &[])
    }

    fn topology_with(
        replicas: Vec<InstanceRecord>,
        rules: &[(InstanceKey, PromotionRule)],
    ) -> Topology {
        let primary = record(
            "p:1",
            None,
            SemiSync {
                available: true,
                primary_enabled: true,
                primary_status: true,
                wait_for_replica_count: 1,
                ..SemiSync::default()
            },
        );
        let mut records = vec![primary];
        records.extend(replicas);
        Topology::new(
            records,
            &TopologyOptions {
                promotion_rules: rules,
                ..TopologyOptions::default()
            },
        )
    }

    fn keys(keys: &[&str]) -> Vec<InstanceKey> {
        keys.iter().map(|k| k.parse().unwrap()).collect()
    }

    #[test]
    fn a_locked_primary_gets_an_acknowledger_by_rule_then_key() {
        let replicas = || vec![replica("a:1", false), replica("b:1", false)];
        let primary: InstanceKey = "p:1".parse().unwrap();
        let plan = plan(&topology(replicas()), &primary, false).unwrap();
        assert_eq!(plan.enable, keys(&["a:1"]));
        assert!(plan.disable.is_empty());
        // A preferred replica comes first; a must_not one is never chosen.
        let b = "b:1".parse::<InstanceKey>().unwrap();
        let a = "a:1".parse::<InstanceKey>().unwrap();
        let preferred = topology_with(replicas(), &[(b.clone(), PromotionRule::Prefer)]);
        assert_eq!(plan_of(&preferred, &primary).enable, keys(&["b:1"]));
        let none = topology_with(
            replicas(),
            &[(b, PromotionRule::MustNot), (a, PromotionRule::MustNot)],
        );
        let refused = super::plan(&none, &primary, false).unwrap_err();
        assert!(
            refused.contains("0 of its replicas can acknowledge"),
            "{refused}"
        );
    }

    fn plan_of(topology: &Topology, primary: &InstanceKey) -> SemiSyncPlan {
        super::plan(topology, primary, false).unwrap()
    }

    #[test]
    fn exact_replaces_a_wrong_acknowledger_with_the_preferred_one_on_first() {
        // a:1 acknowledges, b:1 is preferred: b:1 on first, then a:1 off.
        let b = "b:1".parse::<InstanceKey>().unwrap();
        let topology = topology_with(
            vec![replica("a:1", true), replica("b:1", false)],
            &[(b, PromotionRule::Prefer)],
        );
        let primary: InstanceKey = "p:1".parse().unwrap();
        let plan = super::plan(&topology, &primary, true).unwrap();
        assert_eq!(plan.enable, keys(&["b:1"]));
        assert_eq!(plan.disable, keys(&["a:1"]));
    }

    #[test]
    fn priority_comes_before_rules_and_zero_never_acknowledges() {
        let with_priority = |key: &str, on: bool, priority: u64| {
            let mut record = replica(key, on);
            record.instance.semi_sync.priority = Some(priority);
            record
        };
        let a = "a:1".parse::<InstanceKey>().unwrap();
        // a:1 is preferred by rule but has priority 0; c:1 has the highest priority.
        let topology = topology_with(
            vec![
                with_priority("a:1", true, 0),
                with_priority("b:1", false, 1),
                with_priority("c:1", false, 7),
            ],
            &[(a, PromotionRule::Prefer)],
        );
        let primary: InstanceKey = "p:1".parse().unwrap();
        let plan = super::plan(&topology, &primary, true).unwrap();
        assert_eq!(plan.enable, keys(&["c:1"]));
        assert_eq!(plan.disable, keys(&["a:1"]));
    }

    #[test]
    fn exact_keeps_the_acknowledger_it_has_and_turns_the_others_off() {
        let topology = topology(vec![
            replica("a:1", true),
            replica("b:1", true),
            replica("c:1", false),
        ]);
        let primary: InstanceKey = "p:1".parse().unwrap();
        let plan = plan(&topology, &primary, true).unwrap();
        assert!(plan.enable.is_empty(), "a:1 acknowledges already");
        assert_eq!(plan.disable, keys(&["b:1"]));
        // Without exact nobody is turned off, so nothing would change.
        assert!(super::plan(&topology, &primary, false).is_err());
    }
}
