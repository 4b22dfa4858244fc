//! Choosing the replica to promote, in pure code.
//!
//! Order of preference among the replicas of the failed server that arbor can reach:
//! 1. promotion rule: `must`, `prefer`, `neutral`, `prefer_not` (`must_not` never);
//! 2. the most advanced position (GTID received), so the least data is lost;
//! 3. a semi-synchronous acknowledger (its replica side on): with semi-sync it holds every
//!    transaction the failed primary acknowledged to a client;
//! 4. the same data centre as the failed server;
//! 5. the oldest version (a replica must not be older than its source);
//! 6. the key, so the choice is deterministic.
//!
//! Not eligible at all: unreachable, `must_not`, matched by `PromotionIgnoreHostnameFilters`,
//! not writing a binary log (or, with other replicas to serve, not logging what it
//! replicates), or errant GTIDs. A delayed replica (`MASTER_DELAY`) only when no other is
//! eligible; it then loses its delay and applies its relay log first (`remove_delay`).
//!
//! When the rules favour a replica that is behind the most advanced one, the plan says so
//! (`catch_up_from`): the recovery first makes the favoured replica replicate from the most
//! advanced one until it has everything, then promotes it. Nothing the dead primary sent to any
//! replica is lost for the sake of a preference.

use std::collections::HashMap;

use arbor_analysis::errant_gtid;
use arbor_topology::{InstanceKey, InstanceRecord, PromotionRule};

/// What to do with the replicas of a failed server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateChoice {
    pub promote: InstanceKey,
    /// A replica ahead of `promote` that it must catch up from before it is promoted.
    pub catch_up_from: Option<InstanceKey>,
    /// Reachable replicas to repoint under the promoted one.
    pub others: Vec<InstanceKey>,
    /// Replicas that cannot follow (unreachable), with why.
    pub lost: Vec<(InstanceKey, String)>,
    /// Why the choice fell where it did, for the audit.
    pub reasons: Vec<String>,
    /// Delayed replicas whose delay goes before anything else: `promote` when only delayed
    /// replicas could be chosen, and `catch_up_from` when delayed (it has received more than it
    /// applied, and serves only what it applied).
    pub remove_delay: Vec<InstanceKey>,
}

/// Settings of the choice.
#[derive(Default)]
pub struct CandidatePolicy<'a> {
    pub rules: HashMap<InstanceKey, PromotionRule>,
    /// `PromotionIgnoreHostnameFilters`.
    pub ignore_hostname: Option<&'a dyn Fn(&str) -> bool>,
    /// `PreventCrossDataCenterMasterFailover`.
    pub prevent_cross_data_center: bool,
    /// `PreventCrossRegionMasterFailover`.
    pub prevent_cross_region: bool,
}

pub use arbor_analysis::Position;

fn rule_of(policy: &CandidatePolicy<'_>, key: &InstanceKey) -> PromotionRule {
    policy
        .rules
        .get(key)
        .copied()
        .unwrap_or(PromotionRule::Neutral)
}

/// Chooses among `replicas` (every known replica of `failed`, reachable or not).
pub fn choose_candidate(
    failed: &InstanceRecord,
    replicas: &[&InstanceRecord],
    policy: &CandidatePolicy<'_>,
) -> Result<CandidateChoice, String> {
    let mut reasons = Vec::new();
    let mut lost = Vec::new();
    let reachable: Vec<&InstanceRecord> = replicas
        .iter()
        .copied()
        .filter(|replica| {
            let ok = replica.is_last_check_valid();
            if !ok {
                lost.push((replica.key().clone(), "unreachable".to_string()));
            }
            ok
        })
        .collect();
    if reachable.is_empty() {
        return Err(format!(
            "no reachable replica of {} to promote",
            failed.key()
        ));
    }
    let has_others = reachable.len() > 1;
    let ineligible = |replica: &InstanceRecord| -> Option<String> {
        let instance = &replica.instance;
        let rule = rule_of(policy, replica.key());
        if rule == PromotionRule::MustNot {
            return Some("promotion rule must_not".into());
        }
        if policy
            .ignore_hostname
            .is_some_and(|ignored| ignored(&replica.key().hostname))
        {
            return Some("matched by PromotionIgnoreHostnameFilters".into());
        }
        if !instance.log_bin {
            return Some("no binary log".into());
        }
        if let Some(why) = instance.unmanaged_links() {
            return Some(why);
        }
        let named = instance.named_links();
        if !named.is_empty() {
            return Some(format!(
                "multi-source: it also replicates over named connections ({}), which a \
                 primary would keep pulling from",
                named.join(", ")
            ));
        }
        if has_others && !instance.log_replica_updates {
            return Some("does not log what it replicates (log_slave_updates off)".into());
        }
        // Errant: written on the replica itself and never part of the failed primary's history
        // (as last read). A former primary's old writes, which that primary replicated, are not.
        if let Some(errant) = errant_gtid(instance, Some(&failed.instance)) {
            return Some(format!("errant GTID {errant}"));
        }
        if policy.prevent_cross_data_center && instance.data_center != failed.instance.data_center {
            return Some("another data centre (PreventCrossDataCenterMasterFailover)".into());
        }
        if policy.prevent_cross_region && instance.region != failed.instance.region {
            return Some("another region (PreventCrossRegionMasterFailover)".into());
        }
        None
    };
    // A delayed replica (MASTER_DELAY) is a safety net, not a successor: it is chosen only when
    // no other replica can be, and then loses its delay first.
    let delayed = |r: &InstanceRecord| {
        r.instance
            .replication
            .as_ref()
            .is_some_and(|s| s.sql_delay > 0)
    };
    let mut eligible: Vec<&InstanceRecord> = Vec::new();
    let mut delayed_ones: Vec<&InstanceRecord> = Vec::new();
    for replica in &reachable {
        match ineligible(replica) {
            Some(reason) => reasons.push(format!("{} not eligible: {reason}", replica.key())),
            None if delayed(replica) => delayed_ones.push(replica),
            None => eligible.push(replica),
        }
    }
    let only_delayed = eligible.is_empty() && !delayed_ones.is_empty();
    if only_delayed {
        reasons.push(
            "only delayed replicas can be promoted: the chosen one loses its delay and applies \
             its relay log before its promotion"
                .into(),
        );
        eligible = delayed_ones;
    } else {
        for replica in delayed_ones {
            reasons.push(format!("{} not eligible: delayed replica", replica.key()));
        }
    }
    if eligible.is_empty() {
        return Err(format!(
            "no replica of {} can be promoted: {}",
            failed.key(),
            reasons.join("; ")
        ));
    }
    let positions: HashMap<&InstanceKey, Position> = reachable
        .iter()
        .map(|r| (r.key(), Position::of(r)))
        .collect();
    let same_dc = |r: &InstanceRecord| r.instance.data_center == failed.instance.data_center;
    let acknowledges = |r: &InstanceRecord| r.instance.semi_sync.replica_enabled;
    eligible.sort_by(|a, b| {
        let (pa, pb) = (&positions[a.key()], &positions[b.key()]);
        rule_of(policy, a.key())
            .cmp(&rule_of(policy, b.key()))
            .then(pb.total().cmp(&pa.total()))
            .then(acknowledges(b).cmp(&acknowledges(a)))
            .then(same_dc(b).cmp(&same_dc(a)))
            .then(
                a.instance
                    .server_version()
                    .cmp(&b.instance.server_version()),
            )
            .then(a.key().cmp(b.key()))
    });
    let chosen = eligible[0];
    let chosen_position = &positions[chosen.key()];
    reasons.push(format!(
        "chose {} (promotion rule {}, position {:?})",
        chosen.key(),
        rule_of(policy, chosen.key()),
        chosen_position.per_stream
    ));

    // The most advanced replica that can serve as a source for the chosen one to catch up.
    // Not a multi-source replica: its binary log carries its other sources' transactions,
    // which the chosen one would take in with the failed primary's.
    let most_advanced = reachable
        .iter()
        .filter(|r| r.instance.log_bin && r.instance.log_replica_updates)
        .filter(|r| r.instance.named_links().is_empty())
        .max_by(|a, b| {
            positions[a.key()]
                .total()
                .cmp(&positions[b.key()].total())
                .then(b.key().cmp(a.key()))
        });
    let catch_up_from = match most_advanced {
        Some(ahead) if !chosen_position.covers(&positions[ahead.key()]) => {
            reasons.push(format!(
                "{} is behind {}: it catches up from it before promotion",
                chosen.key(),
                ahead.key()
            ));
            Some(*ahead)
        }
        _ => None,
    };
    let mut remove_delay = Vec::new();
    if only_delayed {
        remove_delay.push(chosen.key().clone());
    }
    if let Some(ahead) = catch_up_from.filter(|ahead| delayed(ahead)) {
        reasons.push(format!(
            "{} is delayed: it loses its delay, so that it applies and serves what it received",
            ahead.key()
        ));
        remove_delay.push(ahead.key().clone());
    }
    let catch_up_from = catch_up_from.map(|ahead| ahead.key().clone());
    let others = reachable
        .iter()
        .map(|r| r.key().clone())
        .filter(|k| k != chosen.key())
        .collect();
    Ok(CandidateChoice {
        promote: chosen.key().clone(),
        catch_up_from,
        others,
        lost,
        reasons,
        remove_delay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_topology::{Flavor, GtidKind, Instance, IoThreadState, ReplicaStatus, Timestamp};

    fn replica(key: &str, received: &str) -> InstanceRecord {
        let mut instance = Instance::unseen(key.parse().unwrap());
        instance.flavor = Flavor::MariaDb;
        instance.version = "10.11.6-MariaDB".into();
        instance.log_bin = true;
        instance.log_replica_updates = true;
        instance.server_id = 100;
        instance.replication = Some(ReplicaStatus {
            source: "p:1".parse().unwrap(),
            io_thread: IoThreadState::Connecting,
            sql_thread_running: true,
            gtid_kind: GtidKind::MariaDb,
            gtid_io_pos: received.into(),
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

    fn failed() -> InstanceRecord {
        let mut record = replica("p:1", "");
        record.instance.replication = None;
        record.instance.server_id = 1;
        record.instance.gtid_binlog_pos = "0-1-40".into();
        record.instance.gtid_binlog_state = "0-1-40".into();
        record.last_seen = Some(Timestamp(5));
        record
    }

    fn choose(
        replicas: &[InstanceRecord],
        policy: &CandidatePolicy<'_>,
    ) -> Result<CandidateChoice, String> {
        let refs: Vec<&InstanceRecord> = replicas.iter().collect();
        choose_candidate(&failed(), &refs, policy)
    }

    fn key(text: &str) -> InstanceKey {
        text.parse().unwrap()
    }

    #[test]
    fn the_most_advanced_replica_wins_among_equals() {
        let choice = choose(
            &[
                replica("a:1", "0-1-40"),
                replica("b:1", "0-1-42"),
                replica("c:1", "0-1-41"),
            ],
            &CandidatePolicy::default(),
        )
        .unwrap();
        assert_eq!(choice.promote, key("b:1"));
        assert_eq!(choice.catch_up_from, None);
        assert_eq!(choice.others, vec![key("a:1"), key("c:1")]);
    }

    #[test]
    fn a_semi_sync_acknowledger_wins_among_equally_advanced_replicas_only() {
        let mut acknowledger = replica("b:1", "0-1-42");
        acknowledger.instance.semi_sync.replica_enabled = true;
        let choice = choose(
            &[replica("a:1", "0-1-42"), acknowledger.clone()],
            &CandidatePolicy::default(),
        )
        .unwrap();
        assert_eq!(
            choice.promote,
            key("b:1"),
            "equal positions: the acknowledger"
        );
        // Position comes first: the asynchronous replica that received more wins.
        let choice = choose(
            &[replica("a:1", "0-1-43"), acknowledger],
            &CandidatePolicy::default(),
        )
        .unwrap();
        assert_eq!(choice.promote, key("a:1"));
    }

    #[test]
    fn a_preferred_replica_behind_the_others_catches_up_first() {
        let mut policy = CandidatePolicy::default();
        policy.rules.insert(key("a:1"), PromotionRule::Prefer);
        let choice = choose(
            &[replica("a:1", "0-1-40"), replica("b:1", "0-1-42")],
            &policy,
        )
        .unwrap();
        assert_eq!(choice.promote, key("a:1"));
        assert_eq!(choice.catch_up_from, Some(key("b:1")));
        // must beats prefer; must_not is never promoted, even when most advanced.
        policy.rules.insert(key("c:1"), PromotionRule::Must);
        policy.rules.insert(key("b:1"), PromotionRule::MustNot);
        let choice = choose(
            &[
                replica("a:1", "0-1-40"),
                replica("b:1", "0-1-42"),
                replica("c:1", "0-1-41"),
            ],
            &policy,
        )
        .unwrap();
        assert_eq!(choice.promote, key("c:1"));
        assert_eq!(
            choice.catch_up_from,
            Some(key("b:1")),
            "b is must_not but still a source"
        );
    }

    #[test]
    fn a_multi_source_replica_is_neither_promoted_nor_a_catch_up_source() {
        // m received more, but over its other connection too: b is promoted, and does not
        // take m's other source's transactions in by catching up from it.
        let mut m = replica("m:1", "0-1-58,2-3-9");
        let mut other = m.instance.replication.clone().unwrap();
        other.source = "q:1".parse().unwrap();
        other.connection_name = "billing".into();
        m.instance.other_links = vec![other];
        let choice = choose(
            &[m.clone(), replica("b:1", "0-1-58")],
            &CandidatePolicy::default(),
        )
        .unwrap();
        assert_eq!(choice.promote, key("b:1"));
        assert_eq!(choice.catch_up_from, None, "{:?}", choice.reasons);
        assert!(
            choice
                .reasons
                .iter()
                .any(|r| r.contains("m:1 not eligible: multi-source")),
            "{:?}",
            choice.reasons
        );
        // A server with a named connection only is not promoted either.
        let mut named_only = replica("n:1", "0-1-60");
        named_only
            .instance
            .replication
            .as_mut()
            .unwrap()
            .connection_name = "a".into();
        let refused = choose(&[named_only], &CandidatePolicy::default()).unwrap_err();
        assert!(
            refused.contains("named connections only ('a')"),
            "{refused}"
        );
    }

    #[test]
    fn a_delayed_replica_is_promoted_only_when_no_other_can_be() {
        let mut delayed = replica("a:1", "0-1-58");
        delayed.instance.replication.as_mut().unwrap().sql_delay = 3600;
        let choice = choose(
            &[delayed.clone(), replica("b:1", "0-1-42")],
            &CandidatePolicy::default(),
        )
        .unwrap();
        assert_eq!(choice.promote, key("b:1"), "behind, but not delayed");
        // b catches up from the delayed one first (it received more), which loses its delay
        // so that it serves what it received: nothing is lost.
        assert_eq!(choice.catch_up_from, Some(key("a:1")));
        assert_eq!(choice.remove_delay, vec![key("a:1")]);
        let choice = choose(&[delayed], &CandidatePolicy::default()).unwrap();
        assert_eq!(choice.promote, key("a:1"));
        assert_eq!(
            choice.remove_delay,
            vec![key("a:1")],
            "{:?}",
            choice.reasons
        );
    }

    #[test]
    fn ineligible_and_unreachable_replicas_are_explained() {
        let mut no_binlog = replica("a:1", "0-1-50");
        no_binlog.instance.log_bin = false;
        let mut down = replica("d:1", "0-1-60");
        down.last_seen = Some(Timestamp(1));
        let mut errant = replica("e:1", "0-1-55");
        errant.instance.gtid_binlog_pos = "0-100-3".into();
        let mut delayed = replica("f:1", "0-1-58");
        delayed.instance.replication.as_mut().unwrap().sql_delay = 3600;
        let choice = choose(
            &[no_binlog, replica("b:1", "0-1-42"), down, errant, delayed],
            &CandidatePolicy::default(),
        )
        .unwrap();
        assert_eq!(choice.promote, key("b:1"));
        assert_eq!(choice.lost, vec![(key("d:1"), "unreachable".to_string())]);
        let reasons = choice.reasons.join("\n");
        assert!(
            reasons.contains("a:1 not eligible: no binary log"),
            "{reasons}"
        );
        assert!(
            reasons.contains("e:1 not eligible: errant GTID 0-100-3"),
            "{reasons}"
        );
        assert!(
            reasons.contains("f:1 not eligible: delayed replica"),
            "{reasons}"
        );

        let ignore = |host: &str| host == "b";
        let policy = CandidatePolicy {
            ignore_hostname: Some(&ignore),
            ..CandidatePolicy::default()
        };
        let error = choose(&[replica("b:1", "0-1-42")], &policy).unwrap_err();
        assert!(error.contains("PromotionIgnoreHostnameFilters"), "{error}");
        let error = choose(&[], &CandidatePolicy::default()).unwrap_err();
        assert!(error.contains("no reachable replica"), "{error}");
    }

    #[test]
    fn a_former_primary_holding_its_old_writes_is_eligible_and_its_rule_counts() {
        // R1 (server 2) took over from P (server 1), which wrote 0-1-1..40 and now replicates
        // from R1; R1 died before anyone wrote again.
        let mut dead = failed();
        dead.instance.server_id = 2;
        let mut former = replica("p:1", "0-1-40");
        former.instance.server_id = 1;
        former.instance.gtid_binlog_state = "0-1-40".into();
        let other = replica("b:1", "0-1-40");
        let mut policy = CandidatePolicy::default();
        policy.rules.insert(key("p:1"), PromotionRule::Prefer);
        let choice = choose_candidate(&dead, &[&former, &other], &policy).unwrap();
        assert_eq!(choice.promote, key("p:1"), "{:#?}", choice.reasons);
        // Alone, it is promoted all the same.
        let choice = choose_candidate(&dead, &[&former], &CandidatePolicy::default()).unwrap();
        assert_eq!(choice.promote, key("p:1"));
        // A write of its own after the takeover is errant: it is not promoted.
        former.instance.gtid_binlog_state = "0-1-41".into();
        let error = choose_candidate(&dead, &[&former], &CandidatePolicy::default()).unwrap_err();
        assert!(error.contains("errant GTID 0-1-41"), "{error}");
    }

    #[test]
    fn a_single_replica_need_not_log_what_it_replicates() {
        let mut only = replica("a:1", "0-1-40");
        only.instance.log_replica_updates = false;
        assert_eq!(
            choose(&[only.clone()], &CandidatePolicy::default())
                .unwrap()
                .promote,
            key("a:1")
        );
        let error = choose(
            &[only, {
                let mut other = replica("b:1", "0-1-40");
                other.instance.log_replica_updates = false;
                other
            }],
            &CandidatePolicy::default(),
        )
        .unwrap_err();
        assert!(error.contains("log_slave_updates"), "{error}");
    }

    #[test]
    fn data_centre_breaks_ties_and_can_be_required() {
        let mut far = replica("a:1", "0-1-42");
        far.instance.data_center = "dc2".into();
        let near = replica("b:1", "0-1-42");
        assert_eq!(
            choose(&[far.clone(), near.clone()], &CandidatePolicy::default())
                .unwrap()
                .promote,
            key("b:1")
        );
        let policy = CandidatePolicy {
            prevent_cross_data_center: true,
            ..CandidatePolicy::default()
        };
        let mut far_ahead = far;
        far_ahead.instance.replication.as_mut().unwrap().gtid_io_pos = "0-1-50".into();
        assert_eq!(
            choose(&[far_ahead, near], &policy).unwrap().promote,
            key("b:1")
        );
    }

    #[test]
    fn a_region_can_be_required_and_a_lone_candidate_elsewhere_is_refused_with_the_key() {
        let mut near = replica("b:1", "0-1-40");
        near.instance.region = "eu".into();
        let mut far = replica("a:1", "0-1-45");
        far.instance.region = "us".into();
        let mut dead = failed();
        dead.instance.region = "eu".into();
        let policy = CandidatePolicy {
            prevent_cross_region: true,
            ..CandidatePolicy::default()
        };
        let choice = choose_candidate(&dead, &[&far, &near], &policy).unwrap();
        assert_eq!(choice.promote, key("b:1"));
        assert_eq!(
            choice.catch_up_from,
            Some(key("a:1")),
            "nothing lost for it"
        );
        let error = choose_candidate(&dead, &[&far], &policy).unwrap_err();
        assert!(
            error.contains("PreventCrossRegionMasterFailover"),
            "{error}"
        );
    }

    #[test]
    fn positions_compare_per_stream() {
        let a = Position::of(&replica("a:1", "0-1-40,1-2-7"));
        let b = Position::of(&replica("b:1", "0-1-39,1-2-7"));
        assert!(a.covers(&b) && !b.covers(&a));
        let mut mysql = replica("m:1", "");
        mysql.instance.flavor = Flavor::MySql;
        mysql.instance.gtid_executed = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10".into();
        mysql.instance.replication.as_mut().unwrap().gtid_io_pos =
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-12".into();
        assert_eq!(Position::of(&mysql).total(), 12);
    }
}
