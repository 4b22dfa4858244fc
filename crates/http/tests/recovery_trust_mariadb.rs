//! Recovery through the API as a DBA uses it day to day, on real MariaDB: requests repeated by
//! a double click or a retry, takeovers without a named replica, acknowledgements by whatever
//! name the cluster is known by, absurd durations. Each test is named after what it guards.

mod common;

use std::sync::Arc;
use std::time::Duration;

use arbor_testkit::{wait_for, MariaDbSandbox};
use common::{automated_recovery, start_node_with, Served};
use serde_json::Value;

type Cluster = Served;

impl Served {
    async fn start(sources: &[Option<usize>], automated: bool) -> Cluster {
        Cluster::start_with(sources, automated, |_| {}).await
    }

    /// `sources` as a sandbox, discovered from every server that replicates from no one,
    /// served by a node whose automated recovery runs when `automated`.
    async fn start_with(
        sources: &[Option<usize>],
        automated: bool,
        configure: impl FnOnce(&mut serde_json::Value),
    ) -> Cluster {
        let sandbox = MariaDbSandbox::start(sources).unwrap();
        let mut config = match automated {
            true => automated_recovery(),
            false => common::replication_without_automated_recovery(),
        };
        configure(&mut config);
        let node = start_node_with(config).await;
        let seeds: Vec<usize> = (0..sources.len())
            .filter(|i| sources[*i].is_none())
            .collect();
        Served::watch(sandbox, node, &seeds).await
    }

    /// The servers that are running and writable.
    fn writable(&mut self) -> Vec<usize> {
        let running: Vec<usize> = (0..self.sandbox.len())
            .filter(|i| self.sandbox.is_running(*i))
            .collect();
        running
            .into_iter()
            .filter(|i| self.sql(*i, "SELECT @@read_only") == "0")
            .collect()
    }

    fn source_port(&self, index: usize) -> String {
        self.sandbox
            .replica_status_value(index, "Master_Port")
            .unwrap()
    }

    /// Waits until `count` recoveries are recorded and none runs; returns them, newest first.
    async fn recoveries(&self, count: usize) -> Vec<Value> {
        let store = Arc::clone(&self.node.store);
        wait_for(Duration::from_secs(40), || {
            let store = Arc::clone(&store);
            async move {
                let records = store.recoveries(None, 50).await.ok()?;
                (records.len() >= count && records.iter().all(|r| !r.is_active)).then_some(())
            }
        })
        .await
        .unwrap_or_else(|| panic!("{count} recoveries did not finish"));
        self.read("audit-recovery")
            .await
            .as_array()
            .unwrap()
            .clone()
    }
}

#[tokio::test]
async fn repeated_force_master_failover_fails_the_cluster_over_once() {
    // P with R1 and R2; S a server of its own.
    let mut c = Cluster::start(&[None, Some(0), Some(0), None], false).await;
    let p = c.key(0);
    let route = format!("force-master-failover/{}", c.path(0).replace('/', ":"));
    // A double click and a client retry: three requests, two at once and one just after.
    let (first, second) = tokio::join!(c.call(&route), c.call(&route));
    let third = c.call(&route).await;
    let answers = [first, second, third];
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one failover: {answers:#?}"
    );
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 409, "{body}");
        assert!(
            body["Message"].as_str().unwrap().contains("recovery"),
            "the refusal names the recovery: {body}"
        );
    }
    let successor = answers
        .iter()
        .find(|(s, _)| *s == 200)
        .map(|(_, body)| body["Details"]["SuccessorKey"].clone())
        .unwrap();
    let successor = format!(
        "{}:{}",
        successor["Hostname"].as_str().unwrap(),
        successor["Port"]
    );
    let promoted = c.index_of(&successor);
    assert_ne!(successor, p);
    // One writable server in the cluster (S is another cluster), the other replica follows it,
    // and the old primary no longer takes writes.
    assert_eq!(c.writable(), vec![promoted.min(3), promoted.max(3)]);
    let other = [1, 2].into_iter().find(|i| *i != promoted).unwrap();
    assert_eq!(c.source_port(other), c.sandbox.port(promoted).to_string());
    assert_eq!(c.sql(0, "SELECT @@read_only"), "1");

    // Once acknowledged (or forced), a manual failover of the cluster runs again.
    let (status, body) = c.call(&format!("{route}?force=true")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(c.writable().len(), 2, "one primary per cluster");

    // Nothing to promote is the request's problem, said as such.
    let (status, body) = c.call(&format!("force-master-failover/{}", c.key(3))).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["Message"].as_str().unwrap().contains("no replica"),
        "{body}"
    );
    assert_eq!(c.sql(3, "SELECT @@read_only"), "0", "S untouched");
}

#[tokio::test]
async fn graceful_takeover_needs_a_named_replica_when_there_is_a_choice() {
    let c = Cluster::start(&[None, Some(0), Some(0)], false).await;
    let cluster = c.key(0);
    let (status, body) = c.call(&format!("graceful-master-takeover/{cluster}")).await;
    assert_eq!(status, 422, "{body}");
    let message = body["Message"].as_str().unwrap();
    assert!(
        message.contains(&c.key(1)) && message.contains(&c.key(2)),
        "{message}"
    );
    assert!(
        message.contains("graceful-master-takeover-auto"),
        "{message}"
    );
    assert_eq!(c.sql(0, "SELECT @@read_only"), "0", "nothing changed");

    // -auto chooses.
    let (status, body) = c
        .call(&format!("graceful-master-takeover-auto/{cluster}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(c.sql(0, "SELECT @@read_only"), "1");
}

#[tokio::test]
async fn acknowledging_by_any_name_of_a_cluster_lifts_its_block() {
    let mut c = Cluster::start(&[None, Some(0), Some(0)], true).await;
    let p = c.key(0);
    c.sandbox.kill(0).unwrap();
    let first = c.recoveries(1).await.remove(0);
    assert_eq!(first["IsSuccessful"], true, "{first}");
    let s1 = format!(
        "{}:{}",
        first["SuccessorKey"]["Hostname"].as_str().unwrap(),
        first["SuccessorKey"]["Port"]
    );

    // One cluster, named after its new primary, known by its old name as its alias; the dead
    // old primary is in it, not a healthy-looking cluster of its own.
    let infos = c.read("clusters-info").await;
    let infos = infos.as_array().unwrap();
    assert_eq!(infos.len(), 1, "{infos:#?}");
    assert_eq!(infos[0]["ClusterName"], s1.as_str());
    assert_eq!(infos[0]["ClusterAlias"], p.as_str());
    assert_eq!(infos[0]["CountInstances"], 3);
    assert_eq!(infos[0]["HasAutomatedMasterRecovery"], true);
    for hint in [p.as_str(), s1.as_str()] {
        let info = c.read(&format!("cluster-info/{hint}")).await;
        assert_eq!(info["ClusterName"], s1.as_str(), "{hint}");
    }
    let tree = c.read(&format!("topology/{p}")).await;
    assert!(
        tree["Details"]
            .as_str()
            .unwrap()
            .contains(&format!("+ {p}")),
        "{tree}"
    );

    // The new primary dies within the block period: the recovery is blocked, and says so
    // under every name of the cluster.
    let s1_index = c.index_of(&s1);
    c.sandbox.kill(s1_index).unwrap();
    let blocked = wait_for(Duration::from_secs(20), || async {
        let list = c.read(&format!("blocked-recoveries/cluster/{p}")).await;
        (!list.as_array()?.is_empty()).then_some(list)
    })
    .await
    .expect("the blocked recovery is listed");
    assert_eq!(
        blocked[0]["FailedInstanceKey"]["Port"],
        c.sandbox.port(s1_index)
    );
    assert_eq!(blocked[0]["BlockingRecoveryId"], first["Id"]);
    let audit = c.read(&format!("audit-recovery/{p}")).await;
    assert_eq!(audit[0]["Id"], first["Id"], "{audit}");

    // Acknowledged by the name people see now (the recovery was recorded under the old one).
    let (status, body) = c
        .call(&format!("ack-recovery/cluster/{s1}?comment=seen"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .starts_with("Acknowledged 1 recoveries"),
        "{body}"
    );
    let records = c.recoveries(2).await;
    let second = &records[0];
    assert_eq!(second["IsSuccessful"], true, "{second}");
    let last = [1, 2].into_iter().find(|i| *i != s1_index).unwrap();
    assert_eq!(c.writable(), vec![last]);
    assert!(c
        .read("blocked-recoveries")
        .await
        .as_array()
        .unwrap()
        .is_empty());
    let infos = c.read("clusters-info").await;
    assert_eq!(infos.as_array().unwrap().len(), 1, "{infos}");
    assert_eq!(
        infos[0]["ClusterAlias"],
        p.as_str(),
        "the alias survives two failovers"
    );
}

/// "Why did nothing happen?" is answered where the failure is shown: the analysis of a failure
/// arbor holds back names the reason, and the reason goes when it no longer holds.
#[tokio::test]
async fn a_failure_held_back_says_why_in_the_analysis() {
    let mut c = Cluster::start(&[None, Some(0), Some(0)], true).await;
    let p = c.key(0);
    let (status, body) = c
        .call(&format!("begin-downtime/{}/ops/maintenance/1h", c.path(0)))
        .await;
    assert_eq!(status, 200, "{body}");
    c.sandbox.kill(0).unwrap();
    let entry = wait_for(Duration::from_secs(30), || async {
        let analysis = c.read("replication-analysis").await;
        analysis["Details"]
            .as_array()?
            .iter()
            .find(|a| a["Analysis"] == "DeadMaster" && a["ArborNotRecoveredBecause"].is_string())
            .cloned()
    })
    .await
    .expect("the dead primary's analysis says why it is not recovered");
    assert_eq!(
        entry["ArborNotRecoveredBecause"],
        format!("{p} is downtimed").as_str(),
        "{entry}"
    );
    assert!(c
        .read("audit-recovery")
        .await
        .as_array()
        .unwrap()
        .is_empty());

    // The downtime ends: the failure is recovered, and no reason is left standing.
    let (status, body) = c.call(&format!("end-downtime/{}", c.path(0))).await;
    assert_eq!(status, 200, "{body}");
    let records = c.recoveries(1).await;
    assert_eq!(records[0]["IsSuccessful"], true, "{}", records[0]);
    let analysis = c.read("replication-analysis").await;
    for entry in analysis["Details"].as_array().into_iter().flatten() {
        assert!(entry["ArborNotRecoveredBecause"].is_null(), "{entry}");
    }
}

#[tokio::test]
async fn huge_downtime_durations_are_refused_not_wrapped_into_the_past() {
    let c = Cluster::start(&[None, Some(0)], false).await;
    let replica = c.path(1);
    for duration in ["99999999999999h", "18446744073709551615", "3651d"] {
        let (status, body) = c
            .call(&format!("begin-downtime/{replica}/ops/test/{duration}"))
            .await;
        assert_eq!(status, 400, "{duration}: {body}");
        assert!(
            body["Message"].as_str().unwrap().contains("too long"),
            "{body}"
        );
    }
    assert!(c.read("downtimed").await.as_array().unwrap().is_empty());
    let (status, body) = c
        .call(&format!("begin-downtime/{replica}/ops/test/3650d"))
        .await;
    assert_eq!(status, 200, "{body}");
    let downtimed = c.read("downtimed").await;
    assert_eq!(downtimed.as_array().unwrap().len(), 1, "{downtimed}");
    assert_eq!(downtimed[0]["IsDowntimed"], true, "{downtimed}");
}

#[tokio::test]
async fn the_audit_log_file_gets_a_line_per_operation_detection_and_recovery_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let mut c = Cluster::start_with(&[None, Some(0), Some(0)], true, |config| {
        config["AuditLogFile"] = path.display().to_string().into();
    })
    .await;
    let replica = c.path(1);
    let (status, _) = c
        .call(&format!("begin-downtime/{replica}/ops/backup/1h"))
        .await;
    assert_eq!(status, 200);
    c.sandbox.kill(0).unwrap();
    let recovery = c.recoveries(1).await.remove(0);
    assert_eq!(recovery["IsSuccessful"], true, "{recovery}");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert!(lines.iter().all(|fields| fields.len() == 6), "{text}");
    let operation = lines
        .iter()
        .find(|f| f[1] == "begin-downtime")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        operation[5].contains("POST /api/begin-downtime/") && operation[5].contains("200"),
        "{text}"
    );
    let p_port = c.sandbox.port(0).to_string();
    assert!(
        lines.iter().any(|f| f[1] == "failure-detection"
            && f[3] == p_port
            && f[5].starts_with("DeadMaster")),
        "{text}"
    );
    let steps = lines
        .iter()
        .filter(|f| f[1] == format!("recovery {}", recovery["Id"]) && f[3] == p_port)
        .count();
    assert!(steps >= 5, "every step of the recovery: {text}");
    assert!(text.contains("RESET SLAVE ALL"), "{text}");
}
