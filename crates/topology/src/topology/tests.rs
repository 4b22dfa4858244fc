use super::*;
use crate::{Instance, IoThreadState, ReplicaStatus, Timestamp};

pub(crate) fn seen(key: &str, source: Option<&str>) -> InstanceRecord {
    let key: InstanceKey = key.parse().unwrap();
    let mut instance = Instance::unseen(key.clone());
    instance.version = "10.11.6-MariaDB-log".into();
    instance.flavor = crate::Flavor::MariaDb;
    instance.read_only = source.is_some();
    instance.log_bin = true;
    instance.log_replica_updates = true;
    instance.binlog_format = "ROW".into();
    instance.replication = source.map(|source| ReplicaStatus {
        source: source.parse().unwrap(),
        io_thread: IoThreadState::Running,
        sql_thread_running: true,
        seconds_behind_source: Some(0),
        gtid_kind: crate::GtidKind::MariaDb,
        ..ReplicaStatus::default()
    });
    InstanceRecord {
        instance,
        first_discovered: Timestamp(0),
        last_attempted_check: Some(Timestamp(10)),
        last_checked: Some(Timestamp(20)),
        last_seen: Some(Timestamp(20)),
        last_error: String::new(),
    }
}

#[test]
fn clusters_follow_source_links_to_the_primary() {
    let topology = Topology::new(
        vec![
            seen("p:1", None),
            seen("r1:1", Some("p:1")),
            seen("r2:1", Some("p:1")),
            seen("r3:1", Some("r1:1")),
            seen("other:1", None),
        ],
        &TopologyOptions::default(),
    );
    for key in ["p:1", "r1:1", "r2:1", "r3:1"] {
        assert_eq!(topology.cluster_of(&key.parse().unwrap()), Some("p:1"));
    }
    assert_eq!(
        topology.cluster_of(&"other:1".parse().unwrap()),
        Some("other:1")
    );
    assert_eq!(topology.depth_of(&"r3:1".parse().unwrap()), 2);
    assert_eq!(topology.cluster_names(), vec!["other:1", "p:1"]);
    let summaries = topology.cluster_summaries();
    assert_eq!(summaries[1].instance_count, 4);
    assert_eq!(summaries[1].primary, Some("p:1".parse().unwrap()));
}

#[test]
fn an_unknown_source_still_names_the_cluster() {
    // R3 was discovered first; its source R1 is known by key only.
    let topology = Topology::new(
        vec![seen("r3:1", Some("r1:1"))],
        &TopologyOptions::default(),
    );
    assert_eq!(topology.cluster_of(&"r3:1".parse().unwrap()), Some("r1:1"));
    assert!(topology.cluster_root("r1:1").is_none());
    assert_eq!(topology.resolve_cluster_hint("r1:1").unwrap(), "r1:1");
}

#[test]
fn co_primaries_agree_on_the_writable_member() {
    let mut a = seen("a:1", Some("b:1"));
    a.instance.read_only = true;
    let mut b = seen("b:1", Some("a:1"));
    b.instance.read_only = false;
    let c = seen("c:1", Some("a:1"));
    let topology = Topology::new(vec![a, b, c], &TopologyOptions::default());
    for key in ["a:1", "b:1", "c:1"] {
        assert_eq!(topology.cluster_of(&key.parse().unwrap()), Some("b:1"));
    }
    assert_eq!(topology.depth_of(&"b:1".parse().unwrap()), 0);
}

#[test]
fn hints_resolve_by_name_alias_or_member() {
    let mut p = seen("p:1", None);
    p.instance.suggested_cluster_alias = "orders".into();
    let alias_map = |name: &str| (name == "q:1").then(|| "from-map".to_string());
    let topology = Topology::new(
        vec![p, seen("r1:1", Some("p:1")), seen("q:1", None)],
        &TopologyOptions {
            alias_for_cluster_name: &alias_map,
            ..TopologyOptions::default()
        },
    );
    assert_eq!(topology.resolve_cluster_hint("p:1").unwrap(), "p:1");
    assert_eq!(topology.resolve_cluster_hint("orders").unwrap(), "p:1");
    assert_eq!(topology.resolve_cluster_hint("r1:1").unwrap(), "p:1");
    assert_eq!(topology.resolve_cluster_hint("from-map").unwrap(), "q:1");
    assert_eq!(topology.alias_of("q:1"), Some("from-map"));
    assert_eq!(
        topology.resolve_cluster_hint("nope:1"),
        Err(ResolveHintError("nope:1".into()))
    );
}

fn succession(former: &str, successor: &str, at: i64) -> Succession {
    Succession {
        former: former.parse().unwrap(),
        successor: successor.parse().unwrap(),
        at: Timestamp(at),
    }
}

fn down(key: &str) -> InstanceRecord {
    let mut record = seen(key, None);
    record.last_checked = Some(Timestamp(99));
    record
}

#[test]
fn a_cluster_keeps_its_former_names_and_its_lost_primaries() {
    // p failed over to r1, then r1 to r2; both dead. r3 replicates from r2.
    let successions = [
        succession("p:1", "r1:1", 10),
        succession("r1:1", "r2:1", 20),
    ];
    let topology = Topology::new(
        vec![
            down("p:1"),
            down("r1:1"),
            seen("r2:1", None),
            seen("r3:1", Some("r2:1")),
        ],
        &TopologyOptions {
            successions: &successions,
            ..TopologyOptions::default()
        },
    );
    assert_eq!(
        topology.cluster_names(),
        vec!["r2:1"],
        "one cluster, not three"
    );
    for key in ["p:1", "r1:1", "r3:1"] {
        assert_eq!(
            topology.cluster_of(&key.parse().unwrap()),
            Some("r2:1"),
            "{key}"
        );
    }
    assert_eq!(
        topology.replaced_by(&"p:1".parse().unwrap()),
        Some(&"r1:1".parse().unwrap())
    );
    assert_eq!(topology.names_of("r2:1"), vec!["r2:1", "p:1", "r1:1"]);
    for hint in ["p:1", "r1:1", "r2:1", "r3:1"] {
        assert_eq!(
            topology.resolve_cluster_hint(hint).unwrap(),
            "r2:1",
            "{hint}"
        );
    }
    assert_eq!(topology.cluster_summaries()[0].instance_count, 4);

    // A former primary that was forgotten still names the cluster.
    let topology = Topology::new(
        vec![seen("r1:1", None), seen("r2:1", Some("r1:1"))],
        &TopologyOptions {
            successions: &successions[..1],
            ..TopologyOptions::default()
        },
    );
    assert_eq!(topology.resolve_cluster_hint("p:1").unwrap(), "r1:1");

    // Back as a replica of the new primary, it is a plain member.
    let topology = Topology::new(
        vec![seen("p:1", Some("r1:1")), seen("r1:1", None)],
        &TopologyOptions {
            successions: &successions[..1],
            ..TopologyOptions::default()
        },
    );
    assert_eq!(topology.replaced_by(&"p:1".parse().unwrap()), None);
    assert_eq!(topology.depth_of(&"p:1".parse().unwrap()), 1);
    // Back and writable with a lost replica reconnected to it, while its successor leads:
    // a split brain in the making, still the former primary (to be fenced).
    let back_with_replica = |successor: InstanceRecord| {
        Topology::new(
            vec![seen("p:1", None), seen("x:1", Some("p:1")), successor],
            &TopologyOptions {
                successions: &successions[..1],
                ..TopologyOptions::default()
            },
        )
    };
    let topology = back_with_replica(seen("r1:1", None));
    assert_eq!(topology.cluster_names(), vec!["r1:1"]);
    assert_eq!(
        topology.replaced_by(&"p:1".parse().unwrap()),
        Some(&"r1:1".parse().unwrap())
    );
    // With its successor gone, it leads a cluster again (an operator made it one).
    let topology = back_with_replica(down("r1:1"));
    assert_eq!(topology.replaced_by(&"p:1".parse().unwrap()), None);
    assert!(topology.cluster_names().contains(&"p:1".to_string()));
    // A dead replica's last reading does not make it a primary again.
    let mut dead_replica = seen("x:1", Some("p:1"));
    dead_replica.last_checked = Some(Timestamp(99));
    let topology = Topology::new(
        vec![seen("p:1", None), dead_replica, down("r1:1")],
        &TopologyOptions {
            successions: &successions[..1],
            ..TopologyOptions::default()
        },
    );
    assert_eq!(
        topology.replaced_by(&"p:1".parse().unwrap()),
        Some(&"r1:1".parse().unwrap())
    );
}

#[test]
fn a_former_primary_promoted_again_is_a_primary() {
    // p was replaced by r1, then r1 by p again (a takeover back); r1 is now the former one.
    let successions = [succession("p:1", "r1:1", 10), succession("r1:1", "p:1", 20)];
    let topology = Topology::new(
        vec![seen("p:1", None), down("r1:1")],
        &TopologyOptions {
            successions: &successions,
            ..TopologyOptions::default()
        },
    );
    assert_eq!(topology.replaced_by(&"p:1".parse().unwrap()), None);
    assert_eq!(
        topology.replaced_by(&"r1:1".parse().unwrap()),
        Some(&"p:1".parse().unwrap())
    );
    assert_eq!(topology.cluster_names(), vec!["p:1"]);
}

#[test]
fn a_detached_replica_is_nobodys_replica_but_stays_in_its_cluster() {
    let mut detached = seen("r2:1", Some("p:1"));
    detached.instance.replication.as_mut().unwrap().source = "//p:1".parse().unwrap();
    let topology = Topology::new(
        vec![seen("p:1", None), seen("r1:1", Some("p:1")), detached],
        &TopologyOptions::default(),
    );
    let r2: InstanceKey = "r2:1".parse().unwrap();
    assert_eq!(topology.record(&r2).unwrap().instance.source(), None);
    assert_eq!(
        topology.replica_keys_of(&"p:1".parse().unwrap()),
        vec!["r1:1".parse::<InstanceKey>().unwrap()]
    );
    assert_eq!(topology.cluster_of(&r2), Some("p:1"));
    assert_eq!(
        topology.kept(&r2),
        Some(&Kept::Detached {
            from: "p:1".parse().unwrap()
        })
    );
    assert_eq!(
        topology.cluster_names(),
        vec!["p:1"],
        "no phantom //p:1 cluster"
    );
}

#[test]
fn an_operators_alias_wins_over_detected_and_configured_ones() {
    let mut p = seen("p:1", None);
    p.instance.suggested_cluster_alias = "detected".into();
    let configured = |_: &str| Some("configured".to_string());
    let manual = |name: &str| (name == "p:1").then(|| "manual".to_string());
    let topology = Topology::new(
        vec![p, seen("q:1", None)],
        &TopologyOptions {
            alias_for_cluster_name: &configured,
            alias_override: &manual,
            ..TopologyOptions::default()
        },
    );
    assert_eq!(topology.alias_of("p:1"), Some("manual"));
    assert_eq!(topology.alias_of("q:1"), Some("configured"));
    assert_eq!(topology.resolve_cluster_hint("manual").unwrap(), "p:1");
}
