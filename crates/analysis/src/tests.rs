use std::collections::BTreeSet;

use arbor_topology::{
    Flavor, GtidKind, Instance, InstanceKey, InstanceRecord, IoThreadState, ReplicaStatus,
    Timestamp, Topology, TopologyOptions,
};

use crate::{analyze, AnalysisCode, AnalysisSettings, StructureWarning};

/// A server in a test topology, built by small modifiers.
#[derive(Clone)]
struct Node {
    key: &'static str,
    source: Option<&'static str>,
    reachable: bool,
    io: IoThreadState,
    sql: bool,
    io_errno: u32,
    lag: Option<u64>,
    delay: u64,
    read_only: bool,
    logs_updates: bool,
    binlog_format: &'static str,
    version: &'static str,
    flavor: Flavor,
    gtid: GtidKind,
    server_id: u64,
    binlog_pos: &'static str,
}

fn primary(key: &'static str) -> Node {
    Node {
        key,
        source: None,
        reachable: true,
        io: IoThreadState::Stopped,
        sql: false,
        io_errno: 0,
        lag: None,
        delay: 0,
        read_only: false,
        logs_updates: true,
        binlog_format: "ROW",
        version: "10.11.6-MariaDB",
        flavor: Flavor::MariaDb,
        gtid: GtidKind::MariaDb,
        server_id: 1,
        binlog_pos: "",
    }
}

fn replica(key: &'static str, source: &'static str) -> Node {
    Node {
        source: Some(source),
        io: IoThreadState::Running,
        sql: true,
        lag: Some(0),
        read_only: true,
        ..primary(key)
    }
}

impl Node {
    /// arbor's last check of it failed.
    fn down(mut self) -> Node {
        self.reachable = false;
        self
    }
    /// Its IO thread keeps trying to reach a source that does not answer.
    fn connecting(mut self) -> Node {
        self.io = IoThreadState::Connecting;
        self.io_errno = 2003;
        self.lag = None;
        self
    }
    /// `STOP SLAVE`.
    fn stopped(mut self) -> Node {
        self.io = IoThreadState::Stopped;
        self.sql = false;
        self.lag = None;
        self
    }
    fn lagging(mut self, seconds: u64) -> Node {
        self.lag = Some(seconds);
        self
    }
    fn read_only(mut self) -> Node {
        self.read_only = true;
        self
    }

    fn record(&self) -> InstanceRecord {
        let key: InstanceKey = self.key.parse().unwrap();
        let mut instance = Instance::unseen(key);
        instance.version = self.version.into();
        instance.flavor = self.flavor;
        instance.read_only = self.read_only;
        instance.log_bin = true;
        instance.log_replica_updates = self.logs_updates;
        instance.binlog_format = self.binlog_format.into();
        instance.server_id = self.server_id;
        instance.gtid_binlog_pos = self.binlog_pos.into();
        instance.gtid_binlog_state = self.binlog_pos.into();
        instance.gtid_executed = self.binlog_pos.into();
        instance.gtid_mode = "ON".into();
        instance.replication = self.source.map(|source| ReplicaStatus {
            source: source.parse().unwrap(),
            io_thread: self.io,
            sql_thread_running: self.sql,
            last_io_errno: self.io_errno,
            seconds_behind_source: self.lag,
            sql_delay: self.delay,
            gtid_kind: self.gtid,
            ..ReplicaStatus::default()
        });
        InstanceRecord {
            instance,
            first_discovered: Timestamp(0),
            last_attempted_check: Some(Timestamp(2_000)),
            last_checked: Some(Timestamp(2_000)),
            last_seen: Some(Timestamp(if self.reachable { 2_000 } else { 1_000 })),
            last_error: String::new(),
        }
    }
}

fn topology(nodes: &[Node]) -> Topology {
    Topology::new(
        nodes.iter().map(Node::record).collect(),
        &TopologyOptions::default(),
    )
}

fn code_of(nodes: &[Node], analyzed: &str, settings: &AnalysisSettings) -> Option<AnalysisCode> {
    let key: InstanceKey = analyzed.parse().unwrap();
    analyze(&topology(nodes), settings)
        .into_iter()
        .find(|a| a.key == key)
        .and_then(|a| a.code)
}

#[test]
fn every_code_is_decided_as_orchestrator_decides_it() {
    use AnalysisCode::*;
    let p = || primary("p:1");
    let r1 = || replica("r1:1", "p:1");
    let r2 = || replica("r2:1", "p:1");
    // A co-primary ring a <-> b, c replicating from a.
    let a = || replica("a:1", "b:1").read_only();
    let b = || replica("b:1", "a:1");
    let c = || replica("c:1", "a:1");
    // An intermediate primary i under p, with replicas x and y.
    let i = || replica("i:1", "p:1");
    let x = || replica("x:1", "i:1");
    let y = || replica("y:1", "i:1");

    let cases: Vec<(&str, Vec<Node>, &str, Option<AnalysisCode>)> = vec![
        (
            "primary down, replicas confirm",
            vec![p().down(), r1().connecting(), r2().connecting()],
            "p:1",
            Some(DeadMaster),
        ),
        (
            "primary down, replicas stopped too",
            vec![p().down(), r1().stopped(), r2().connecting()],
            "p:1",
            Some(DeadMaster),
        ),
        (
            "primary and one replica down",
            vec![p().down(), r1().connecting(), r2().down()],
            "p:1",
            Some(DeadMasterAndSomeReplicas),
        ),
        (
            "everything down",
            vec![p().down(), r1().down(), r2().down()],
            "p:1",
            Some(DeadMasterAndReplicas),
        ),
        (
            "lone primary down",
            vec![p().down()],
            "p:1",
            Some(DeadMasterWithoutReplicas),
        ),
        (
            "blip: replicas still replicate",
            vec![p().down(), r1(), r2().connecting()],
            "p:1",
            Some(UnreachableMaster),
        ),
        (
            "primary refuses arbor and its reconnecting replicas: too many connections",
            vec![
                p().down(),
                Node {
                    io_errno: 1040,
                    ..r1().connecting()
                },
                Node {
                    io_errno: 1040,
                    ..r2().connecting()
                },
            ],
            "p:1",
            Some(UnreachableMaster),
        ),
        (
            "intermediate refuses its reconnecting replica",
            vec![
                p(),
                i().down(),
                Node {
                    io_errno: 1040,
                    ..x().connecting()
                },
            ],
            "i:1",
            Some(UnreachableIntermediateMaster),
        ),
        (
            "blip with lagging replicas",
            vec![p().down(), r1().lagging(60), r2().lagging(60)],
            "p:1",
            Some(UnreachableMasterWithLaggingReplicas),
        ),
        (
            "single replica stopped",
            vec![p(), r1().stopped()],
            "p:1",
            Some(MasterSingleReplicaNotReplicating),
        ),
        (
            "single replica down",
            vec![p(), r1().down()],
            "p:1",
            Some(MasterSingleReplicaDead),
        ),
        (
            "all replicas stopped",
            vec![p(), r1().stopped(), r2().stopped()],
            "p:1",
            Some(AllMasterReplicasNotReplicating),
        ),
        (
            "replicas stopped or down",
            vec![p(), r1().stopped(), r2().down()],
            "p:1",
            Some(AllMasterReplicasNotReplicatingOrDead),
        ),
        ("healthy", vec![p(), r1(), r2()], "p:1", None),
        (
            "co-primary down",
            vec![a().down(), b().connecting()],
            "a:1",
            Some(DeadCoMaster),
        ),
        (
            "co-primary and a replica down",
            vec![a().down(), b().connecting(), c().down()],
            "a:1",
            Some(DeadCoMasterAndSomeReplicas),
        ),
        (
            "co-primary blip",
            vec![a().down(), b()],
            "a:1",
            Some(UnreachableCoMaster),
        ),
        (
            "co-primary's replicas stopped",
            vec![a(), b().stopped()],
            "a:1",
            Some(AllCoMasterReplicasNotReplicating),
        ),
        (
            "intermediate down, single replica failing",
            vec![p(), i().down(), x().connecting()],
            "i:1",
            Some(DeadIntermediateMasterWithSingleReplicaFailingToConnect),
        ),
        (
            "intermediate down, single replica stopped",
            vec![p(), i().down(), x().stopped()],
            "i:1",
            Some(DeadIntermediateMasterWithSingleReplica),
        ),
        (
            "intermediate down",
            vec![p(), i().down(), x().connecting(), y().connecting()],
            "i:1",
            Some(DeadIntermediateMaster),
        ),
        (
            "intermediate and one replica down",
            vec![p(), i().down(), x().connecting(), y().down()],
            "i:1",
            Some(DeadIntermediateMasterAndSomeReplicas),
        ),
        (
            "intermediate and all replicas down",
            vec![p(), i().down(), x().down(), y().down()],
            "i:1",
            Some(DeadIntermediateMasterAndReplicas),
        ),
        (
            "intermediate blip, lagging",
            vec![p(), i().down(), x().lagging(60), y().lagging(60)],
            "i:1",
            Some(UnreachableIntermediateMasterWithLaggingReplicas),
        ),
        (
            "intermediate blip",
            vec![p(), i().down(), x(), y().connecting()],
            "i:1",
            Some(UnreachableIntermediateMaster),
        ),
        (
            "intermediate up, replicas cannot connect",
            vec![p(), i(), x().connecting(), y().connecting()],
            "i:1",
            Some(AllIntermediateMasterReplicasFailingToConnectOrDead),
        ),
        (
            "intermediate up, replicas stopped",
            vec![p(), i(), x().stopped()],
            "i:1",
            Some(AllIntermediateMasterReplicasNotReplicating),
        ),
        (
            "first-tier replica cannot connect",
            vec![p(), r1().connecting(), r2()],
            "r1:1",
            Some(FirstTierReplicaFailingToConnectToMaster),
        ),
        (
            "first-tier replica of a dead primary",
            vec![p().down(), r1().connecting(), r2().connecting()],
            "r1:1",
            None,
        ),
    ];
    let settings = AnalysisSettings::default();
    let mut covered = BTreeSet::new();
    for (name, nodes, analyzed, expected) in cases {
        assert_eq!(code_of(&nodes, analyzed, &settings), expected, "{name}");
        covered.extend(expected);
    }

    // A read-only primary is a problem only when the config says so.
    let ro = vec![primary("p:1").read_only(), replica("r1:1", "p:1")];
    assert_eq!(code_of(&ro, "p:1", &settings), None);
    let fix_read_only = AnalysisSettings {
        recover_non_writeable_master: true,
        ..AnalysisSettings::default()
    };
    assert_eq!(
        code_of(&ro, "p:1", &fix_read_only),
        Some(NoWriteableMasterStructureWarning)
    );
    covered.insert(NoWriteableMasterStructureWarning);

    // A former primary back after its failover (r1 replaced p), judged against r1.
    let successions = [arbor_topology::Succession {
        former: "p:1".parse().unwrap(),
        successor: "r1:1".parse().unwrap(),
        at: arbor_topology::Timestamp(1),
    }];
    let after_failover = |p: Node| {
        let records = vec![
            p.record(),
            Node {
                binlog_pos: "0-1-20",
                ..primary("r1:1")
            }
            .record(),
            replica("r2:1", "r1:1").record(),
        ];
        let topology = Topology::new(
            records,
            &TopologyOptions {
                successions: &successions,
                ..TopologyOptions::default()
            },
        );
        analyze(&topology, &settings)
            .into_iter()
            .find(|a| a.key.to_string() == "p:1")
    };
    let back = Node {
        server_id: 1,
        binlog_pos: "0-1-20",
        ..primary("p:1")
    };
    let analysis = after_failover(back.clone()).unwrap();
    assert_eq!(analysis.code, Some(FormerMasterNotRejoined));
    assert_eq!(analysis.cluster, "r1:1");
    let with_lost_writes = Node {
        binlog_pos: "0-1-22",
        ..back.clone()
    };
    let analysis = after_failover(with_lost_writes).unwrap();
    assert_eq!(analysis.code, Some(FormerMasterWithErrantTransactions));
    assert_eq!(analysis.errant_gtid, "0-1-22");
    assert!(!analysis.is_actionable());
    // Still dead: lost, nothing to say (not DeadMasterWithoutReplicas).
    assert_eq!(after_failover(back.down()).and_then(|a| a.code), None);

    // A successor left without replicas that came back read-only is still the cluster's
    // primary; a lone read-only server arbor never promoted is not.
    let lone_successor = |successions: &[arbor_topology::Succession]| {
        let records = vec![
            primary("p:1").down().record(),
            primary("r1:1").read_only().record(),
        ];
        let topology = Topology::new(
            records,
            &TopologyOptions {
                successions,
                ..TopologyOptions::default()
            },
        );
        analyze(&topology, &fix_read_only)
            .into_iter()
            .find(|a| a.key.to_string() == "r1:1")
            .and_then(|a| a.code)
    };
    assert_eq!(
        lone_successor(&successions),
        Some(NoWriteableMasterStructureWarning)
    );
    assert_eq!(lone_successor(&[]), None);
    covered.extend([FormerMasterNotRejoined, FormerMasterWithErrantTransactions]);
    // Decided in `a_semi_sync_primary_short_of_acknowledgers_is_locked_once_commits_wait`.
    covered.extend([
        LockedSemiSyncMasterHypothesis,
        LockedSemiSyncMaster,
        MasterWithTooManySemiSyncReplicas,
        MasterWithIncorrectSemiSyncReplicas,
    ]);

    let all: BTreeSet<AnalysisCode> = AnalysisCode::ALL.iter().copied().collect();
    let missing: Vec<_> = all.difference(&covered).collect();
    assert!(missing.is_empty(), "codes without a test case: {missing:?}");
}

/// A semi-sync primary waiting for more acknowledgements than its connected semi-sync
/// replicas can give: a hypothesis while no commit waits, locked once commits wait; and a
/// warning when too few reachable replicas have semi-sync on at all.
#[test]
fn a_semi_sync_primary_short_of_acknowledgers_is_locked_once_commits_wait() {
    let settings = AnalysisSettings::default();
    let semi_primary = |clients: u64, waiting: u64| {
        let mut record = primary("p:1").record();
        record.instance.semi_sync = arbor_topology::SemiSync {
            available: true,
            primary_enabled: true,
            primary_status: true,
            wait_for_replica_count: 1,
            primary_clients: clients,
            wait_sessions: waiting,
            timeout_ms: 10_000,
            ..Default::default()
        };
        record
    };
    let replica_with_semi_sync = |on: bool| {
        let mut record = replica("r1:1", "p:1").record();
        record.instance.semi_sync.available = true;
        record.instance.semi_sync.replica_enabled = on;
        record
    };
    let analyse_with = |records: Vec<InstanceRecord>, settings: &AnalysisSettings| {
        analyze(
            &Topology::new(records, &TopologyOptions::default()),
            settings,
        )
        .into_iter()
        .find(|a| a.key.to_string() == "p:1")
    };
    let analyse = |records: Vec<InstanceRecord>| analyse_with(records, &settings);
    let hypothesis = analyse(vec![semi_primary(0, 0), replica_with_semi_sync(false)]).unwrap();
    assert_eq!(
        hypothesis.code,
        Some(AnalysisCode::LockedSemiSyncMasterHypothesis)
    );
    assert!(hypothesis
        .structure
        .contains(&StructureWarning::NotEnoughValidSemiSyncReplicasStructureWarning));
    let locked = analyse(vec![semi_primary(0, 3), replica_with_semi_sync(false)]).unwrap();
    assert_eq!(locked.code, Some(AnalysisCode::LockedSemiSyncMaster));
    assert!(
        !locked.is_actionable(),
        "recovered only when RecoverLockedSemiSyncMaster or EnforceExactSemiSyncReplicas says so"
    );
    // Enough acknowledgers: nothing to say.
    let fine = analyse(vec![semi_primary(1, 0), replica_with_semi_sync(true)]);
    assert!(fine.is_none(), "{fine:?}");
    // More than it waits for: a problem only under EnforceExactSemiSyncReplicas.
    let mut second = replica("r2:1", "p:1").record();
    second.instance.semi_sync.available = true;
    second.instance.semi_sync.replica_enabled = true;
    let surplus = || {
        vec![
            semi_primary(2, 0),
            replica_with_semi_sync(true),
            second.clone(),
        ]
    };
    assert!(analyse(surplus()).is_none());
    let exact = AnalysisSettings {
        enforce_exact_semi_sync: true,
        ..AnalysisSettings::default()
    };
    let too_many = analyse_with(surplus(), &exact).unwrap();
    assert_eq!(
        too_many.code,
        Some(AnalysisCode::MasterWithTooManySemiSyncReplicas)
    );
    assert!(too_many.is_actionable());

    // As many as it waits for, but the wrong one: r2 is preferred, r1 acknowledges.
    let acknowledging = |key: &'static str, on: bool| {
        let mut record = replica(key, "p:1").record();
        record.instance.semi_sync.available = true;
        record.instance.semi_sync.replica_enabled = on;
        record.instance.semi_sync.replica_status = on;
        record
    };
    let wrong_one = || {
        vec![
            semi_primary(1, 0),
            acknowledging("r1:1", true),
            acknowledging("r2:1", false),
        ]
    };
    let with_rules = |rules: &[(InstanceKey, arbor_topology::PromotionRule)]| {
        analyze(
            &Topology::new(
                wrong_one(),
                &TopologyOptions {
                    promotion_rules: rules,
                    ..TopologyOptions::default()
                },
            ),
            &exact,
        )
        .into_iter()
        .find(|a| a.key.to_string() == "p:1")
        .and_then(|a| a.code)
    };
    let r2: InstanceKey = "r2:1".parse().unwrap();
    assert_eq!(
        with_rules(&[(r2.clone(), arbor_topology::PromotionRule::Prefer)]),
        Some(AnalysisCode::MasterWithIncorrectSemiSyncReplicas)
    );
    assert!(AnalysisCode::MasterWithIncorrectSemiSyncReplicas.is_actionable());
    // No rule says otherwise: the one acknowledging is as good as any.
    assert_eq!(with_rules(&[]), None);
    // Without EnforceExactSemiSyncReplicas arbor leaves the choice to the operator.
    assert!(analyse(wrong_one()).is_none());
}

/// A primary arbor never read alive (a member that started just before it died) is judged by
/// its replicas; a server never read that no replica names is not analyzed at all.
#[test]
fn a_primary_never_read_is_judged_by_the_replicas_that_name_it() {
    let never_read = |node: Node| {
        let mut record = node.record();
        record.last_seen = None;
        record.instance = Instance::unseen(record.instance.key.clone());
        record
    };
    let settings = AnalysisSettings::default();
    let dead = Topology::new(
        vec![
            never_read(primary("p:1")),
            replica("r1:1", "p:1").connecting().record(),
            replica("r2:1", "p:1").connecting().record(),
        ],
        &TopologyOptions::default(),
    );
    let analysis = analyze(&dead, &settings);
    let primary_analysis = analysis.iter().find(|a| a.key.to_string() == "p:1");
    assert_eq!(
        primary_analysis.and_then(|a| a.code),
        Some(AnalysisCode::DeadMaster),
        "{analysis:?}"
    );
    // Replicas still replicating from it: it lives, whatever arbor could not read.
    let alive = Topology::new(
        vec![
            never_read(primary("p:1")),
            replica("r1:1", "p:1").record(),
            replica("r2:1", "p:1").record(),
        ],
        &TopologyOptions::default(),
    );
    let code = analyze(&alive, &settings)
        .into_iter()
        .find(|a| a.key.to_string() == "p:1")
        .and_then(|a| a.code);
    assert_ne!(code, Some(AnalysisCode::DeadMaster));
    // Nobody names it: nothing to say.
    let lone = Topology::new(
        vec![never_read(primary("p:1"))],
        &TopologyOptions::default(),
    );
    assert!(analyze(&lone, &settings).is_empty());
}

#[test]
fn only_confirmed_failures_are_actionable() {
    let settings = AnalysisSettings::default();
    let dead = analyze(
        &topology(&[primary("p:1").down(), replica("r1:1", "p:1").connecting()]),
        &settings,
    );
    let primary_analysis = dead.iter().find(|a| a.key.to_string() == "p:1").unwrap();
    assert!(primary_analysis.is_actionable());
    assert_eq!(primary_analysis.count_replicas, 1);
    assert_eq!(primary_analysis.count_replicas_failing_to_connect, 1);
    assert_eq!(primary_analysis.cluster, "p:1");

    let blip = analyze(
        &topology(&[primary("p:1").down(), replica("r1:1", "p:1")]),
        &settings,
    );
    assert!(blip.iter().all(|a| !a.is_actionable()), "{blip:?}");
}

fn warnings_of(nodes: &[Node], analyzed: &str) -> Vec<StructureWarning> {
    analyze(&topology(nodes), &AnalysisSettings::default())
        .into_iter()
        .find(|a| a.key.to_string() == analyzed)
        .map(|a| a.structure)
        .unwrap_or_default()
}

#[test]
fn structure_warnings_name_what_limits_a_failover() {
    use StructureWarning::*;
    let p = || primary("p:1");
    let no_logs = |key| Node {
        logs_updates: false,
        ..replica(key, "p:1")
    };
    assert_eq!(
        warnings_of(&[p(), no_logs("r1:1"), no_logs("r2:1")], "p:1"),
        vec![NoLoggingReplicasStructureWarning]
    );

    let format = |key, binlog_format| Node {
        binlog_format,
        ..replica(key, "p:1")
    };
    assert_eq!(
        warnings_of(
            &[p(), format("r1:1", "ROW"), format("r2:1", "MIXED")],
            "p:1"
        ),
        vec![MixedAndRowLoggingReplicasStructureWarning]
    );
    assert_eq!(
        warnings_of(
            &[p(), format("r1:1", "STATEMENT"), format("r2:1", "ROW")],
            "p:1"
        ),
        vec![StatementAndRowLoggingReplicasStructureWarning]
    );
    assert_eq!(
        warnings_of(
            &[p(), format("r1:1", "STATEMENT"), format("r2:1", "MIXED")],
            "p:1"
        ),
        vec![StatementAndMixedLoggingReplicasStructureWarning]
    );

    let version = |key, version| Node {
        version,
        ..replica(key, "p:1")
    };
    assert_eq!(
        warnings_of(
            &[
                p(),
                version("r1:1", "10.6.1-MariaDB"),
                version("r2:1", "10.11.6-MariaDB")
            ],
            "p:1"
        ),
        vec![MultipleMajorVersionsLoggingReplicasStructureWarning]
    );

    let gtid = |key, gtid| Node {
        gtid,
        ..replica(key, "p:1")
    };
    assert_eq!(
        warnings_of(
            &[
                p(),
                gtid("r1:1", GtidKind::MariaDb),
                gtid("r2:1", GtidKind::None)
            ],
            "p:1"
        ),
        vec![DifferentGTIDModesStructureWarning]
    );

    let mysql = |key| Node {
        flavor: Flavor::MySql,
        version: "8.0.36",
        gtid: GtidKind::None,
        ..replica(key, "p:1")
    };
    let mysql_primary = Node {
        flavor: Flavor::MySql,
        version: "8.0.36",
        ..p()
    };
    assert_eq!(
        warnings_of(&[mysql_primary, mysql("r1:1"), mysql("r2:1")], "p:1"),
        vec![NoFailoverSupportStructureWarning]
    );

    // An errant write on a MariaDB replica: its own server id in its binlog position.
    let errant = Node {
        server_id: 2,
        binlog_pos: "0-2-17",
        ..replica("r1:1", "p:1")
    };
    let with_history = Node {
        binlog_pos: "0-1-20",
        ..p()
    };
    let analysis = analyze(
        &topology(&[with_history, errant]),
        &AnalysisSettings::default(),
    );
    let replica_analysis = analysis
        .iter()
        .find(|a| a.key.to_string() == "r1:1")
        .unwrap();
    assert_eq!(replica_analysis.structure, vec![ErrantGTIDStructureWarning]);
    assert_eq!(replica_analysis.errant_gtid, "0-2-17");
    assert_eq!(replica_analysis.code, None);

    assert!(warnings_of(
        &[p(), replica("r1:1", "p:1"), replica("r2:1", "p:1")],
        "p:1"
    )
    .is_empty());
}

/// The tables of codes and structure warnings in `docs/troubleshooting.md`, written from the
/// code (`ARBOR_BLESS=1` rewrites them); the rest of the page is prose.
#[test]
fn the_troubleshooting_page_lists_every_code() {
    let mut tables = String::from("| code | arbor | what it means |\n|---|---|---|\n");
    for code in AnalysisCode::ALL {
        let acts = if code.is_actionable() {
            "recovers"
        } else {
            "shown"
        };
        tables.push_str(&format!(
            "| `{}` | {acts} | {} |\n",
            code.name(),
            code.description()
        ));
    }
    tables.push_str(
        "\n### Structure warnings\n\nNot failures: shapes of a cluster that limit what a \
         recovery can do, listed in an analysis's `StructureAnalysis` and on the web UI's \
         problems page.\n\n| warning | what it means |\n|---|---|\n",
    );
    for warning in StructureWarning::ALL {
        tables.push_str(&format!(
            "| `{}` | {} |\n",
            warning.name(),
            warning.description()
        ));
    }
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/troubleshooting.md");
    let page = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = (
        "<!-- analysis-codes:begin -->\n",
        "<!-- analysis-codes:end -->",
    );
    let start = page.find(begin).expect("the begin marker") + begin.len();
    let stop = page.find(end).expect("the end marker");
    let written = format!("{}{tables}{}", &page[..start], &page[stop..]);
    if std::env::var_os("ARBOR_BLESS").is_some() {
        std::fs::write(&path, &written).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap();
    assert!(
        on_disk == written,
        "docs/troubleshooting.md's tables are out of date: run ARBOR_BLESS=1 cargo test -p arbor-analysis troubleshooting"
    );
}
