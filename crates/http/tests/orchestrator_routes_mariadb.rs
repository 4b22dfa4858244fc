//! The orchestrator routes arbor added for drop-in migration, on real MariaDB, checked with the
//! servers' own state: GTID positioning, semi-sync switches, a nice stop, KILL QUERY, the
//! restart statements, regrouping, recoveries with a designated replica or without hooks,
//! forced takeovers, the other acknowledgement forms and the audit pages.

mod common;

use std::time::Duration;

use arbor_testkit::MariaDbSandbox;
use common::{start_node_with, Served};
use serde_json::Value;

type Cluster = Served;

/// orchestrator's `ReplicationAnalysis` fields and their JSON types ("key": an InstanceKey,
/// "keys": a list of them, "list": strings or null).
const ANALYSIS_FIELDS: &[(&str, &str)] = &[
    ("AnalyzedInstanceKey", "key"),
    ("AnalyzedInstanceMasterKey", "key"),
    ("ClusterDetails", "object"),
    ("AnalyzedInstanceDataCenter", "string"),
    ("AnalyzedInstanceRegion", "string"),
    ("AnalyzedInstancePhysicalEnvironment", "string"),
    ("AnalyzedInstanceBinlogCoordinates", "object"),
    ("IsMaster", "bool"),
    ("IsClusterMaster", "bool"),
    ("IsCoMaster", "bool"),
    ("LastCheckValid", "bool"),
    ("LastCheckPartialSuccess", "bool"),
    ("CountReplicas", "number"),
    ("CountValidReplicas", "number"),
    ("CountValidReplicatingReplicas", "number"),
    ("CountReplicasFailingToConnectToMaster", "number"),
    ("CountDowntimedReplicas", "number"),
    ("ReplicationDepth", "number"),
    ("Replicas", "keys"),
    ("SlaveHosts", "keys"),
    ("IsFailingToConnectToMaster", "bool"),
    ("ReplicationStopped", "bool"),
    ("Analysis", "string"),
    ("Description", "string"),
    ("StructureAnalysis", "list"),
    ("IsDowntimed", "bool"),
    ("IsReplicasDowntimed", "bool"),
    ("DowntimeEndTimestamp", "string"),
    ("DowntimeRemainingSeconds", "number"),
    ("IsBinlogServer", "bool"),
    ("PseudoGTIDImmediateTopology", "bool"),
    ("OracleGTIDImmediateTopology", "bool"),
    ("MariaDBGTIDImmediateTopology", "bool"),
    ("BinlogServerImmediateTopology", "bool"),
    ("SemiSyncMasterEnabled", "bool"),
    ("SemiSyncMasterStatus", "bool"),
    ("SemiSyncMasterWaitForReplicaCount", "number"),
    ("SemiSyncMasterClients", "number"),
    ("CountSemiSyncReplicasEnabled", "number"),
    ("CountLoggingReplicas", "number"),
    ("CountStatementBasedLoggingReplicas", "number"),
    ("CountMixedBasedLoggingReplicas", "number"),
    ("CountRowBasedLoggingReplicas", "number"),
    ("CountDistinctMajorVersionsLoggingReplicas", "number"),
    ("CountDelayedReplicas", "number"),
    ("CountLaggingReplicas", "number"),
    ("IsActionableRecovery", "bool"),
    ("ProcessingNodeHostname", "string"),
    ("ProcessingNodeToken", "string"),
    ("CountAdditionalAgreeingNodes", "number"),
    ("StartActivePeriod", "string"),
    ("SkippableDueToDowntime", "bool"),
    ("GTIDMode", "string"),
    ("MinReplicaGTIDMode", "string"),
    ("MaxReplicaGTIDMode", "string"),
    ("MaxReplicaGTIDErrant", "string"),
    ("CommandHint", "string"),
    ("IsReadOnly", "bool"),
];

fn check_analysis_shape(entry: &Value) {
    for (name, kind) in ANALYSIS_FIELDS {
        let value = &entry[*name];
        let ok = match *kind {
            "key" => value["Hostname"].is_string() && value["Port"].is_number(),
            "keys" => value
                .as_array()
                .is_some_and(|a| a.iter().all(|k| k["Port"].is_number())),
            "list" => {
                value.is_null()
                    || value
                        .as_array()
                        .is_some_and(|a| a.iter().all(Value::is_string))
            }
            "object" => value.is_object(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "bool" => value.is_boolean(),
            other => panic!("kind {other}"),
        };
        assert!(
            ok,
            "analysis field {name} should be {kind}: {value} in {entry}"
        );
    }
}

impl Served {
    /// `sources` as a sandbox, served by a node whose recoveries are manual only.
    async fn manual(sources: &[Option<usize>]) -> Cluster {
        let sandbox = MariaDbSandbox::start(sources).unwrap();
        let node = start_node_with(common::replication_without_automated_recovery()).await;
        let seeds: Vec<usize> = (0..sources.len())
            .filter(|i| sources[*i].is_none())
            .collect();
        Served::watch(sandbox, node, &seeds).await
    }

    fn status(&self, index: usize, column: &str) -> String {
        self.sandbox.replica_status_value(index, column).unwrap()
    }

    /// Waits (up to 10 s) until `check` holds.
    async fn eventually(&self, what: &str, mut check: impl FnMut(&Self) -> bool) {
        for _ in 0..200 {
            if check(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not within 10 s: {what}");
    }

    fn replicates_from(&self, index: usize, source: usize) -> bool {
        self.status(index, "Master_Port") == self.sandbox.port(source).to_string()
            && self.status(index, "Slave_IO_Running") == "Yes"
            && self.status(index, "Slave_SQL_Running") == "Yes"
    }
}

#[tokio::test]
async fn replication_switches_change_the_servers_as_orchestrator_does() {
    // P <- {R1, R2}
    let c = Cluster::manual(&[None, Some(0), Some(0)]).await;
    let (p, r1, r2) = (c.path(0), c.path(1), c.path(2));

    // GTID positioning off and on again; asking twice is refused with why.
    let off = c.ok(&format!("disable-gtid/{r2}")).await;
    assert_eq!(c.status(2, "Using_Gtid"), "No", "{off}");
    c.eventually("R2 replicates again", |c| c.replicates_from(2, 0))
        .await;
    let (status, body) = c.call(&format!("disable-gtid/{r2}")).await;
    assert_eq!(status, 422, "{body}");
    c.ok(&format!("enable-gtid/{r2}")).await;
    assert_eq!(c.status(2, "Using_Gtid"), "Current_Pos");
    let (status, body) = c.call(&format!("enable-gtid/{r2}")).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["Message"].as_str().unwrap().contains("already"),
        "{body}"
    );

    // The statements that restart a replica around an injected one: listed, not run.
    let statements = c
        .read(&format!(
            "restart-replica-statements/{r1}?q=CHANGE%20MASTER%20TO%20MASTER_DELAY%3D1"
        ))
        .await;
    assert_eq!(
        statements["Details"],
        serde_json::json!([
            "STOP SLAVE IO_THREAD;",
            "STOP SLAVE SQL_THREAD;",
            "CHANGE MASTER TO MASTER_DELAY=1;",
            "START SLAVE SQL_THREAD;",
            "START SLAVE IO_THREAD;"
        ])
    );
    assert_eq!(c.status(1, "SQL_Delay"), "0", "nothing was run");

    // A nice stop: both threads stopped, everything received applied.
    c.sql(
        0,
        "CREATE DATABASE nice; CREATE TABLE nice.t (id INT PRIMARY KEY)",
    );
    c.sql(0, "INSERT INTO nice.t VALUES (1), (2), (3)");
    c.ok(&format!("stop-replica-nice/{r1}")).await;
    assert_eq!(c.status(1, "Slave_IO_Running"), "No");
    assert_eq!(c.status(1, "Slave_SQL_Running"), "No");
    assert_eq!(
        c.status(1, "Exec_Master_Log_Pos"),
        c.status(1, "Read_Master_Log_Pos"),
        "everything received was applied"
    );
    let (status, body) = c.call(&format!("stop-slave-nice/{r1}?timeout=0")).await;
    assert_eq!(status, 400, "a timeout of 0 is refused: {body}");
    c.ok(&format!("start-replica/{r1}")).await;
    c.eventually("R1 replicates again", |c| c.replicates_from(1, 0))
        .await;

    // Semi-sync: the primary's side, then a replica's, which the primary then counts.
    c.ok(&format!("enable-semi-sync-master/{p}")).await;
    assert_eq!(c.sql(0, "SELECT @@rpl_semi_sync_master_enabled"), "1");
    c.ok(&format!("enable-semi-sync-replica/{r1}")).await;
    assert_eq!(c.sql(1, "SELECT @@rpl_semi_sync_slave_enabled"), "1");
    c.eventually("the primary counts one semi-sync replica", |c| {
        c.sql(0, "SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'")
            .ends_with("\t1")
    })
    .await;
    // The instance documents show it, in orchestrator's fields.
    let mut primary = Value::Null;
    for _ in 0..100 {
        primary = c.read(&format!("instance/{p}")).await;
        if primary["SemiSyncMasterClients"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(primary["SemiSyncAvailable"], true, "{primary}");
    assert_eq!(primary["SemiSyncMasterEnabled"], true);
    assert_eq!(primary["SemiSyncMasterStatus"], true);
    assert_eq!(primary["SemiSyncMasterClients"], 1);
    assert_eq!(primary["SemiSyncMasterWaitForReplicaCount"], 1);
    assert!(primary["SemiSyncMasterTimeout"].as_u64().unwrap() > 0);
    let replica = c.read(&format!("instance/{r1}")).await;
    assert_eq!(replica["SemiSyncReplicaEnabled"], true, "{replica}");
    assert_eq!(replica["SemiSyncReplicaStatus"], true, "{replica}");
    c.ok(&format!("disable-semi-sync-replica/{r1}")).await;
    assert_eq!(c.sql(1, "SELECT @@rpl_semi_sync_slave_enabled"), "0");
    c.ok(&format!("disable-semi-sync-master/{p}")).await;
    assert_eq!(c.sql(0, "SELECT @@rpl_semi_sync_master_enabled"), "0");
    c.eventually("R1 replicates after its I/O thread restarted", |c| {
        c.replicates_from(1, 0)
    })
    .await;

    // KILL QUERY ends a running statement and keeps its connection.
    let sleeper = c
        .sandbox
        .tcp_client(
            2,
            arbor_testkit::ADMIN_USER,
            arbor_testkit::ADMIN_PASSWORD,
            "SELECT SLEEP(60) AS slept",
        )
        .unwrap()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut id = String::new();
    c.eventually("the sleeping query runs", |c| {
        id = c.sql(
            2,
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60) AS slept'",
        );
        !id.is_empty()
    })
    .await;
    c.ok(&format!("kill-query/{r2}/{id}")).await;
    let started = std::time::Instant::now();
    let output = tokio::task::spawn_blocking(move || sleeper.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the query ended when killed"
    );
    // MariaDB ends the interrupted statement with error 1317.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
    let (status, body) = c.call(&format!("kill-query/{r2}/notanumber")).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn regroup_and_recoveries_with_a_designated_replica() {
    // P <- {R1, R2, R3}
    let mut c = Cluster::manual(&[None, Some(0), Some(0), Some(0)]).await;
    let p = c.path(0);

    // Regroup: one replica of P takes its siblings.
    let regrouped = c.ok(&format!("regroup-replicas/{p}")).await;
    let chosen = format!(
        "{}:{}",
        regrouped["Details"]["Hostname"].as_str().unwrap(),
        regrouped["Details"]["Port"]
    );
    let chosen = c.index_of(&chosen);
    assert!(
        regrouped["Message"].as_str().unwrap().contains("moved: 2"),
        "{regrouped}"
    );
    for other in (1..4).filter(|i| *i != chosen) {
        c.eventually("the siblings replicate from the chosen replica", |c| {
            c.replicates_from(other, chosen)
        })
        .await;
    }
    // Back to P <- {R1, R2, R3} for the recovery.
    for other in (1..4).filter(|i| *i != chosen) {
        c.ok(&format!("relocate/{}/{p}", c.path(other))).await;
        c.eventually("back under P", |c| c.replicates_from(other, 0))
            .await;
    }

    // P dies; the operator names R3: R3 is promoted, the others follow it.
    c.sql(
        0,
        "CREATE DATABASE designated; CREATE TABLE designated.t (id INT PRIMARY KEY)",
    );
    c.sql(0, "INSERT INTO designated.t VALUES (1), (2)");
    c.eventually("every replica has the rows", |c| {
        (1..4).all(|i| {
            c.sandbox
                .sql(i, "SELECT COUNT(*) FROM designated.t")
                .is_ok_and(|n| n.trim() == "2")
        })
    })
    .await;
    c.sandbox.kill(0).unwrap();
    // The analysis, in orchestrator's shape, before the recovery.
    let mut dead = Value::Null;
    for _ in 0..100 {
        let analysis = c.read("replication-analysis").await;
        if let Some(entry) = analysis["Details"]
            .as_array()
            .and_then(|list| list.iter().find(|e| e["Analysis"] == "DeadMaster"))
        {
            dead = entry.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check_analysis_shape(&dead);
    assert_eq!(dead["CountReplicas"], 3, "{dead}");
    assert_eq!(dead["IsClusterMaster"], true, "{dead}");
    assert_eq!(dead["MariaDBGTIDImmediateTopology"], true, "{dead}");
    assert_eq!(dead["CountLoggingReplicas"], 3, "{dead}");
    assert_eq!(dead["ProcessingNodeHostname"], c.node.name(), "{dead}");
    let r3 = c.path(3);
    let mut answer = Value::Null;
    for _ in 0..100 {
        let (status, body) = c.call(&format!("recover-lite/{p}/{r3}")).await;
        if status == 200 {
            answer = body;
            break;
        }
        // Until the analysis sees the primary dead: "no failure to recover".
        assert_eq!(status, 409, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer["Details"]["Port"], c.sandbox.port(3), "{answer}");
    assert_eq!(c.sql(3, "SELECT @@read_only"), "0");
    for other in [1, 2] {
        c.eventually("the others follow the designated replica", |c| {
            c.replicates_from(other, 3)
        })
        .await;
        assert_eq!(c.sql(other, "SELECT COUNT(*) FROM designated.t"), "2");
    }

    // The audit: one recovery, found by id, page, instance; its steps say what was asked.
    let audit = c.read("audit-recovery").await;
    let record = &audit[0];
    let id = record["Id"].as_i64().unwrap();
    // The whole analysis it started from, as orchestrator embeds it.
    check_analysis_shape(&record["AnalysisEntry"]);
    assert_eq!(record["AnalysisEntry"]["Analysis"], "DeadMaster");
    assert_eq!(record["AnalysisEntry"]["CountReplicas"], 3);
    let steps = c
        .read(&format!(
            "audit-recovery-steps/{}",
            record["UID"].as_str().unwrap()
        ))
        .await;
    let steps = steps.to_string();
    assert!(steps.contains("designated by the operator"), "{steps}");
    assert!(steps.contains("hooks skipped"), "{steps}");
    assert_eq!(
        c.read("audit-recovery/0").await.as_array().unwrap().len(),
        1
    );
    assert_eq!(c.read("audit-recovery/1").await, serde_json::json!([]));
    let recent = c
        .read(&format!("recently-active-instance-recovery/{p}"))
        .await;
    assert_eq!(recent[0]["Id"], id);
    let active = c
        .read(&format!("active-cluster-recovery/{}", c.key(3)))
        .await;
    assert_eq!(active, serde_json::json!([]), "it ended");
    let audit = c.read("audit").await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["Message"].as_str().unwrap_or("").contains("designated")),
        "{audit}"
    );

    // Acknowledged by id: the same id again is a 404 (nothing left to acknowledge).
    let acked = c.ok(&format!("ack-recovery/{id}?comment=seen")).await;
    assert_eq!(acked["Details"], id.to_string());
    let (status, body) = c.call(&format!("ack-recovery/{id}?comment=again")).await;
    assert_eq!(status, 404, "{body}");
    let record = &c.read(&format!("audit-recovery/id/{id}")).await[0];
    assert_eq!(record["Acknowledged"], true);
    assert_eq!(record["AcknowledgedComment"], "seen");
}

#[tokio::test]
async fn a_forced_takeover_promotes_the_named_replica_of_a_live_primary() {
    // P <- {R1, R2}
    let c = Cluster::manual(&[None, Some(0), Some(0)]).await;
    let (r1, r2) = (c.path(1), c.path(2));
    let cluster = c.key(0);
    // Not a replica of the primary: refused, nothing changes.
    let (status, body) = c
        .call(&format!("force-master-takeover/{cluster}/127.0.0.1/1"))
        .await;
    assert_eq!(status, 404, "{body}");
    let taken = c.ok(&format!("force-master-takeover/{cluster}/{r2}")).await;
    assert_eq!(taken["Details"]["SuccessorKey"]["Port"], c.sandbox.port(2));
    assert_eq!(c.sql(2, "SELECT @@read_only"), "0");
    assert_eq!(
        c.sql(0, "SELECT @@read_only"),
        "1",
        "the old primary stops taking writes"
    );
    c.eventually("R1 follows R2", |c| c.replicates_from(1, 2))
        .await;
    // orchestrator's host/port form of the same route, and ack by instance.
    let (status, body) = c
        .call(&format!(
            "force-master-takeover/127.0.0.1/{}/{r1}",
            c.sandbox.port(0)
        ))
        .await;
    assert!(
        (400..500).contains(&status) && !body.to_string().contains("unknown path"),
        "routed, and refused: the old primary leads nothing now: {body}"
    );
    let acked = c
        .ok(&format!(
            "ack-recovery/instance/127.0.0.1/{}?comment=planned",
            c.sandbox.port(0)
        ))
        .await;
    assert!(
        acked["Message"]
            .as_str()
            .unwrap()
            .contains("Acknowledged 1"),
        "{acked}"
    );
}

#[tokio::test]
async fn pools_are_submitted_read_per_cluster_and_filtered_by_fitness() {
    // P <- {R1, R2}
    let c = Cluster::manual(&[None, Some(0), Some(0)]).await;
    let (k1, k2) = (c.key(1), c.key(2));
    let cluster = c.key(0);
    let submitted = c
        .ok(&format!(
            "submit-pool-instances/etl?instances={k1},{k2},elsewhere.example:3306"
        ))
        .await;
    assert_eq!(submitted["Details"], "etl");
    let pools = c.read(&format!("cluster-pool-instances/{cluster}")).await;
    let members: Vec<String> = pools["Details"]["etl"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("{}:{}", k["Hostname"].as_str().unwrap(), k["Port"]))
        .collect();
    let mut expected = vec![k1.clone(), k2.clone()];
    expected.sort();
    assert_eq!(members, expected, "only this cluster's members: {pools}");
    // R2 stops replicating: no longer fit to serve.
    c.ok(&format!("stop-replica/{}", c.path(2))).await;
    let fit = c
        .read(&format!("heuristic-cluster-pool-instances/{cluster}/etl"))
        .await;
    let fit: Vec<String> = fit["Details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["Key"]["Hostname"].as_str().unwrap(),
                i["Key"]["Port"]
            )
        })
        .collect();
    assert_eq!(fit, vec![k1.clone()]);
    let lag = c
        .read(&format!("heuristic-cluster-pool-lag/{cluster}"))
        .await;
    assert!(lag["Details"].is_u64(), "{lag}");
    // A new submission replaces the members.
    c.ok(&format!("submit-pool-instances/etl?instances={k2}"))
        .await;
    let pools = c
        .read(&format!("cluster-pool-instances/{cluster}/etl"))
        .await;
    assert_eq!(
        pools["Details"]["etl"].as_array().unwrap().len(),
        1,
        "{pools}"
    );
    let (status, body) = c
        .call("submit-pool-instances/etl?instances=db1:notaport")
        .await;
    assert_eq!(status, 400, "{body}");
}

/// A semi-sync primary with no semi-sync replica blocks its commits: the analysis says
/// `LockedSemiSyncMaster` (and warns that too few replicas have semi-sync on) until a replica
/// has its semi-sync side on (`enable-semi-sync-replica`) and connects as an acknowledger.
#[tokio::test]
async fn a_locked_semi_sync_primary_is_reported_until_a_replica_acknowledges() {
    // P <- {R1}
    let c = Cluster::manual(&[None, Some(0)]).await;
    let (p, r1) = (c.path(0), c.path(1));
    c.sql(
        0,
        "CREATE DATABASE locked; CREATE TABLE locked.t (id INT PRIMARY KEY); \
         GRANT INSERT ON locked.* TO 'arbor'@'%'",
    );
    c.ok(&format!("enable-semi-sync-master/{p}")).await;
    c.sql(0, "SET GLOBAL rpl_semi_sync_master_timeout = 30000");
    let writer = c
        .sandbox
        .tcp_client(
            0,
            arbor_testkit::ADMIN_USER,
            arbor_testkit::ADMIN_PASSWORD,
            "INSERT INTO locked.t VALUES (1)",
        )
        .unwrap()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let analysis_of_p = |body: &Value| {
        body["Details"]
            .as_array()
            .and_then(|list| {
                list.iter()
                    .find(|a| a["AnalyzedInstanceKey"]["Port"] == c.sandbox.port(0))
                    .cloned()
            })
            .unwrap_or(Value::Null)
    };
    let mut entry = Value::Null;
    for _ in 0..100 {
        entry = analysis_of_p(&c.read("replication-analysis").await);
        if entry["Analysis"] == "LockedSemiSyncMaster" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(entry["Analysis"], "LockedSemiSyncMaster", "{entry}");
    assert!(
        entry["StructureAnalysis"]
            .to_string()
            .contains("NotEnoughValidSemiSyncReplicasStructureWarning"),
        "{entry}"
    );
    assert_eq!(entry["SemiSyncMasterClients"], 0);
    // A replica connects as an acknowledger: the primary has the acknowledgers it waits for.
    // (The commit already waiting completes at the timeout: MariaDB acknowledges only what it
    // sends after the replica reconnected.)
    c.ok(&format!("enable-semi-sync-replica/{r1}")).await;
    let mut cleared = false;
    for _ in 0..100 {
        let entry = analysis_of_p(&c.read("replication-analysis").await);
        if entry.is_null() || entry["Analysis"] == "NoProblem" {
            cleared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cleared, "the lock cleared");
    c.ok(&format!("disable-semi-sync-master/{p}")).await;
    // The client that waited is ours: stopped, whatever the server did with its commit.
    let mut writer = writer;
    let _ = writer.kill();
    let _ = writer.wait();
}
