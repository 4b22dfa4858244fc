//! The semi-synchronous replicas of a primary: which of them should acknowledge its commits
//! (pure, [`plan`]), and making it so ([`enforce`]) for `LockedSemiSyncMaster` (with
//! `RecoverLockedSemiSyncMaster` or `EnforceExactSemiSyncReplicas`) and
//! `MasterWithTooManySemiSyncReplicas` (with `EnforceExactSemiSyncReplicas`).
//!
//! orchestrator's order is kept: replicas are switched on first, then off, so the primary never
//! has fewer acknowledgers on the way than at the start. Only the replica side changes; the
//! primary's own switch and wait count are the operator's.

use std::collections::HashMap;

use arbor_analysis::Analysis;
use arbor_topology::{InstanceKey, InstanceRecord, IoThreadState, PromotionRule, Topology};

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

/// The replicas of `primary` that should acknowledge: as many as it waits for, among its
/// direct replicas that are reachable, replicating, have semi-sync at all and are not
/// `must_not`, chosen by promotion rule, then those acknowledging already (no needless
/// change), then key. With `exact`, the other acknowledgers are turned off; without, nobody is
/// turned off (`RecoverLockedSemiSyncMaster` only adds). Fewer candidates than the wait count
/// enable them all; no change possible is an error that says why.
pub(crate) fn plan(
    topology: &Topology,
    primary: &InstanceKey,
    rules: &HashMap<InstanceKey, PromotionRule>,
    exact: bool,
) -> Result<SemiSyncPlan, String> {
    let record = topology
        .record(primary)
        .ok_or_else(|| format!("{primary} is not known"))?;
    let wanted = record.instance.semi_sync.wait_for_replica_count.max(1) as usize;
    let rule = |r: &InstanceRecord| {
        rules
            .get(r.key())
            .copied()
            .unwrap_or(PromotionRule::Neutral)
    };
    let acknowledges = |r: &InstanceRecord| r.instance.semi_sync.replica_enabled;
    // Enabled but not acknowledging (its I/O thread connected before the switch): turning it
    // on again restarts the I/O thread, which is what it needs.
    let acknowledging_now =
        |r: &InstanceRecord| acknowledges(r) && r.instance.semi_sync.replica_status;
    let replicas = topology.replicas_of(primary);
    let mut candidates: Vec<&InstanceRecord> = replicas
        .iter()
        .copied()
        .filter(|r| {
            r.is_last_check_valid()
                && r.instance.semi_sync.available
                && rule(r) != PromotionRule::MustNot
                && r.instance
                    .replication
                    .as_ref()
                    .is_some_and(|s| s.io_thread == IoThreadState::Running)
        })
        .collect();
    candidates.sort_by(|a, b| {
        rule(a)
            .cmp(&rule(b))
            .then(acknowledges(b).cmp(&acknowledges(a)))
            .then(a.key().cmp(b.key()))
    });
    let chosen: Vec<&InstanceRecord> = candidates.iter().copied().take(wanted).collect();
    let enable: Vec<InstanceKey> = chosen
        .iter()
        .filter(|r| !acknowledging_now(r))
        .map(|r| r.key().clone())
        .collect();
    let disable: Vec<InstanceKey> = if exact {
        replicas
            .iter()
            .filter(|r| acknowledges(r) && !chosen.iter().any(|c| c.key() == r.key()))
            .map(|r| r.key().clone())
            .collect()
    } else {
        Vec::new()
    };
    if enable.is_empty() && disable.is_empty() {
        return Err(format!(
            "{primary} waits for {wanted} semi-synchronous replica(s); {} of its replicas can \
             acknowledge (reachable, replicating, semi-sync available, not must_not) and \
             nothing would change",
            candidates.len()
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
    let rules = engine.promotion_rules().await.map_err(|e| e.to_string())?;
    let plan = plan(&snapshot.topology, &analysis.key, &rules, exact)?;
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
        Flavor, GtidKind, Instance, ReplicaStatus, SemiSync, Timestamp, TopologyOptions,
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
        Topology::new(records, &TopologyOptions::default())
    }

    fn keys(keys: &[&str]) -> Vec<InstanceKey> {
        keys.iter().map(|k| k.parse().unwrap()).collect()
    }

    #[test]
    fn a_locked_primary_gets_an_acknowledger_by_rule_then_key() {
        let topology = topology(vec![replica("a:1", false), replica("b:1", false)]);
        let primary: InstanceKey = "p:1".parse().unwrap();
        let plan = plan(&topology, &primary, &HashMap::new(), false).unwrap();
        assert_eq!(plan.enable, keys(&["a:1"]));
        assert!(plan.disable.is_empty());
        // A preferred replica comes first; a must_not one is never chosen.
        let mut rules = HashMap::new();
        rules.insert("b:1".parse().unwrap(), PromotionRule::Prefer);
        let plan_b = super::plan(&topology, &primary, &rules, false).unwrap();
        assert_eq!(plan_b.enable, keys(&["b:1"]));
        rules.insert("b:1".parse().unwrap(), PromotionRule::MustNot);
        rules.insert("a:1".parse().unwrap(), PromotionRule::MustNot);
        let none = super::plan(&topology, &primary, &rules, false).unwrap_err();
        assert!(none.contains("0 of its replicas can acknowledge"), "{none}");
    }

    #[test]
    fn exact_keeps_the_acknowledger_it_has_and_turns_the_others_off() {
        let topology = topology(vec![
            replica("a:1", true),
            replica("b:1", true),
            replica("c:1", false),
        ]);
        let primary: InstanceKey = "p:1".parse().unwrap();
        let plan = plan(&topology, &primary, &HashMap::new(), true).unwrap();
        assert!(plan.enable.is_empty(), "a:1 acknowledges already");
        assert_eq!(plan.disable, keys(&["b:1"]));
        // Without exact nobody is turned off, so nothing would change.
        assert!(super::plan(&topology, &primary, &HashMap::new(), false).is_err());
    }
}
