//! Where traffic may go, in pure code: the verdicts behind the load-balancer checks
//! (`/api/check/primary/...`, `/api/check/replica/...`). A proxy sends writes to the server
//! whose primary check passes and reads to those whose replica check does; each verdict is
//! the answer's reason either way.
//!
//! The primary check passes for at most one server per cluster, the cluster's root, and only
//! on a fresh, successful reading that says it is writable: two servers answering 200 at once
//! (a split view) cannot come from one snapshot. A former primary that returns writable after
//! a failover stays in its cluster as a former member, never its root.

use std::time::Duration;

use arbor_topology::{InstanceKey, InstanceRecord, Timestamp, Topology};

/// Why a server may or may not take a kind of traffic now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteVerdict {
    /// Send it the traffic; the reason names its role.
    Serve(String),
    /// Do not; the reason says why.
    Refuse(String),
    /// The server is not known at all.
    Unknown(String),
}

/// How fresh a reading must be, and how far behind a replica may be.
#[derive(Debug, Clone, Copy)]
pub struct RouteLimits {
    /// A reading older than this is not trusted (a poll interval plus
    /// `ReasonableInstanceCheckSeconds`).
    pub fresh_within: Duration,
    /// The largest replication lag a replica may serve reads with.
    pub max_lag: Duration,
}

fn known<'a>(
    topology: &'a Topology,
    key: &InstanceKey,
) -> Result<&'a InstanceRecord, RouteVerdict> {
    topology
        .record(key)
        .ok_or_else(|| RouteVerdict::Unknown(format!("{key} is not a known instance")))
}

/// The reading is successful and fresh.
fn fresh(record: &InstanceRecord, limits: &RouteLimits, now: Timestamp) -> Result<(), String> {
    if !record.is_last_check_valid() {
        return Err(format!(
            "{} did not answer its last check: {}",
            record.key(),
            record.last_error
        ));
    }
    let age = record
        .last_checked
        .map(|at| Duration::from_millis((now.millis() - at.millis()).max(0) as u64));
    match age {
        Some(age) if age <= limits.fresh_within => Ok(()),
        Some(age) => Err(format!(
            "{}'s last reading is {} ms old (more than {} ms)",
            record.key(),
            age.as_millis(),
            limits.fresh_within.as_millis()
        )),
        None => Err(format!("{} has not been read yet", record.key())),
    }
}

/// Whether `key` is its cluster's writable primary now. `demoted_at`: when arbor began
/// replacing `key` as a primary, if it did; a reading from before then does not count.
pub fn primary_verdict(
    topology: &Topology,
    key: &InstanceKey,
    limits: &RouteLimits,
    now: Timestamp,
    demoted_at: Option<Timestamp>,
) -> RouteVerdict {
    let record = match known(topology, key) {
        Ok(record) => record,
        Err(verdict) => return verdict,
    };
    let Some(cluster) = topology.cluster_of(key) else {
        return RouteVerdict::Refuse(format!("{key} belongs to no cluster yet"));
    };
    match topology.cluster_root(cluster) {
        Some(root) if root.key() == key => {}
        Some(root) => {
            return RouteVerdict::Refuse(format!(
                "{key} is not the primary of {cluster}: {} is",
                root.key()
            ))
        }
        None => return RouteVerdict::Refuse(format!("{cluster} has no primary")),
    }
    if let Err(why) = fresh(record, limits, now) {
        return RouteVerdict::Refuse(why);
    }
    if let Some(demoted) = demoted_at.filter(|at| record.last_checked.is_some_and(|c| c <= *at)) {
        return RouteVerdict::Refuse(format!(
            "{key} is being replaced (since {} ms after the epoch) and has not been read since",
            demoted.millis()
        ));
    }
    if record.instance.read_only {
        return RouteVerdict::Refuse(format!("{key} is the primary of {cluster} but read-only"));
    }
    RouteVerdict::Serve(format!("{key} is the writable primary of {cluster}"))
}

/// Whether `key` is a replica fit to serve reads now: freshly read, both threads running, at
/// most `max_lag` behind.
pub fn replica_verdict(
    topology: &Topology,
    key: &InstanceKey,
    limits: &RouteLimits,
    now: Timestamp,
) -> RouteVerdict {
    let record = match known(topology, key) {
        Ok(record) => record,
        Err(verdict) => return verdict,
    };
    let Some(replication) = record.instance.replication.as_ref() else {
        return RouteVerdict::Refuse(format!("{key} is not a replica"));
    };
    if let Err(why) = fresh(record, limits, now) {
        return RouteVerdict::Refuse(why);
    }
    if !replication.is_replicating() {
        return RouteVerdict::Refuse(format!(
            "{key} is not replicating (I/O thread {:?}, SQL thread {})",
            replication.io_thread,
            if replication.sql_thread_running {
                "running"
            } else {
                "stopped"
            }
        ));
    }
    match replication.seconds_behind_source {
        Some(lag) if Duration::from_secs(lag) <= limits.max_lag => RouteVerdict::Serve(format!(
            "{key} replicates from {}, {lag} s behind",
            replication.source
        )),
        Some(lag) => RouteVerdict::Refuse(format!(
            "{key} is {lag} s behind (more than {} s)",
            limits.max_lag.as_secs()
        )),
        None => RouteVerdict::Refuse(format!("{key} reports no lag")),
    }
}

/// Each cluster's writable primary now, by the cluster's alias: what the key-value stores
/// should name. A cluster whose root does not pass the primary check is left out (its last
/// published primary stands: a stale or failed reading must never replace a newer one). An
/// alias two clusters claim is left out as well, and returned, since naming either could send
/// writes to the wrong server.
pub fn writable_primaries(
    topology: &Topology,
    limits: &RouteLimits,
    now: Timestamp,
    demoted_at: impl Fn(&InstanceKey) -> Option<Timestamp>,
) -> (Vec<(String, InstanceKey)>, Vec<String>) {
    let mut by_alias: std::collections::BTreeMap<String, Vec<InstanceKey>> = Default::default();
    for name in topology.cluster_names() {
        let Some(root) = topology.cluster_root(&name) else {
            continue;
        };
        let key = root.key();
        let alias = topology.alias_of(&name).unwrap_or(&name).to_string();
        if matches!(
            primary_verdict(topology, key, limits, now, demoted_at(key)),
            RouteVerdict::Serve(_)
        ) {
            by_alias.entry(alias).or_default().push(key.clone());
        }
    }
    let mut primaries = Vec::new();
    let mut ambiguous = Vec::new();
    for (alias, mut keys) in by_alias {
        if keys.len() == 1 {
            primaries.push((alias, keys.remove(0)));
        } else {
            ambiguous.push(alias);
        }
    }
    (primaries, ambiguous)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_topology::{Flavor, Instance, IoThreadState, ReplicaStatus, TopologyOptions};

    fn record(key: &str, source: Option<&str>, checked: i64) -> InstanceRecord {
        let mut instance = Instance::unseen(key.parse().unwrap());
        instance.flavor = Flavor::MariaDb;
        instance.version = "10.11.6-MariaDB".into();
        instance.server_id = u64::from(key.as_bytes()[0]);
        instance.read_only = source.is_some();
        instance.replication = source.map(|source| ReplicaStatus {
            source: source.parse().unwrap(),
            io_thread: IoThreadState::Running,
            sql_thread_running: true,
            seconds_behind_source: Some(0),
            ..ReplicaStatus::default()
        });
        InstanceRecord {
            instance,
            first_discovered: Timestamp(0),
            last_attempted_check: Some(Timestamp(checked)),
            last_checked: Some(Timestamp(checked)),
            last_seen: Some(Timestamp(checked)),
            last_error: String::new(),
        }
    }

    const LIMITS: RouteLimits = RouteLimits {
        fresh_within: Duration::from_secs(3),
        max_lag: Duration::from_secs(10),
    };

    fn key(text: &str) -> InstanceKey {
        text.parse().unwrap()
    }

    fn serves(verdict: RouteVerdict) -> bool {
        matches!(verdict, RouteVerdict::Serve(_))
    }

    #[test]
    fn only_the_fresh_writable_root_passes_the_primary_check() {
        let now = Timestamp(10_000);
        let topology = Topology::new(
            vec![
                record("p:1", None, 9_000),
                record("r:1", Some("p:1"), 9_000),
            ],
            &TopologyOptions::default(),
        );
        assert!(serves(primary_verdict(
            &topology,
            &key("p:1"),
            &LIMITS,
            now,
            None
        )));
        assert!(!serves(primary_verdict(
            &topology,
            &key("r:1"),
            &LIMITS,
            now,
            None
        )));
        assert!(matches!(
            primary_verdict(&topology, &key("x:1"), &LIMITS, now, None),
            RouteVerdict::Unknown(_)
        ));
        // Being replaced, and not read since: refused; read since, it is judged by the reading.
        let demoted = Some(Timestamp(9_500));
        assert!(!serves(primary_verdict(
            &topology,
            &key("p:1"),
            &LIMITS,
            now,
            demoted
        )));
        assert!(serves(primary_verdict(
            &topology,
            &key("p:1"),
            &LIMITS,
            now,
            Some(Timestamp(8_000))
        )));
        // Stale, or read-only: refused.
        let later = Timestamp(20_000);
        assert!(!serves(primary_verdict(
            &topology,
            &key("p:1"),
            &LIMITS,
            later,
            None
        )));
        let mut read_only = record("p:1", None, 9_000);
        read_only.instance.read_only = true;
        let topology = Topology::new(vec![read_only], &TopologyOptions::default());
        assert!(!serves(primary_verdict(
            &topology,
            &key("p:1"),
            &LIMITS,
            now,
            None
        )));
    }

    #[test]
    fn publishable_primaries_are_the_roots_that_pass_the_check_under_a_unique_alias() {
        let now = Timestamp(10_000);
        let shop = |name: &str| (name != "z:1").then(|| "shop".to_string());
        let fresh = Topology::new(
            vec![
                record("p:1", None, 9_000),
                record("r:1", Some("p:1"), 9_000),
                record("q:1", None, 1_000), // stale: its last primary stands
            ],
            &TopologyOptions {
                alias_override: &|name| (name == "p:1").then(|| "shop".to_string()),
                ..TopologyOptions::default()
            },
        );
        let (primaries, ambiguous) = writable_primaries(&fresh, &LIMITS, now, |_| None);
        assert_eq!(primaries, [("shop".to_string(), key("p:1"))]);
        assert!(ambiguous.is_empty());
        // Being replaced: nothing is published for it.
        let (primaries, _) = writable_primaries(&fresh, &LIMITS, now, |_| Some(Timestamp(9_500)));
        assert!(primaries.is_empty());
        // Two writable roots under one alias: neither.
        let split = Topology::new(
            vec![
                record("p:1", None, 9_000),
                record("z:1", None, 9_000),
                record("y:1", None, 9_000),
            ],
            &TopologyOptions {
                alias_override: &shop,
                ..TopologyOptions::default()
            },
        );
        let (primaries, ambiguous) = writable_primaries(&split, &LIMITS, now, |_| None);
        assert_eq!(primaries, [("z:1".to_string(), key("z:1"))]);
        assert_eq!(ambiguous, ["shop"]);
    }

    #[test]
    fn a_replica_passes_while_replicating_within_the_lag() {
        let now = Timestamp(10_000);
        let mut lagging = record("b:1", Some("p:1"), 9_000);
        lagging
            .instance
            .replication
            .as_mut()
            .unwrap()
            .seconds_behind_source = Some(30);
        let mut stopped = record("c:1", Some("p:1"), 9_000);
        stopped
            .instance
            .replication
            .as_mut()
            .unwrap()
            .sql_thread_running = false;
        let topology = Topology::new(
            vec![
                record("p:1", None, 9_000),
                record("a:1", Some("p:1"), 9_000),
                lagging,
                stopped,
            ],
            &TopologyOptions::default(),
        );
        assert!(serves(replica_verdict(
            &topology,
            &key("a:1"),
            &LIMITS,
            now
        )));
        assert!(!serves(replica_verdict(
            &topology,
            &key("b:1"),
            &LIMITS,
            now
        )));
        let generous = RouteLimits {
            max_lag: Duration::from_secs(60),
            ..LIMITS
        };
        assert!(serves(replica_verdict(
            &topology,
            &key("b:1"),
            &generous,
            now
        )));
        assert!(!serves(replica_verdict(
            &topology,
            &key("c:1"),
            &LIMITS,
            now
        )));
        assert!(!serves(replica_verdict(
            &topology,
            &key("p:1"),
            &LIMITS,
            now
        )));
    }
}
