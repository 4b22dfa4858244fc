//! The contract with orchestrator's bash client (`orchestrator-client`), command by command, on
//! real MariaDB. For each of its 105 commands: the URL the client builds (its exact form, with
//! the trailing slash it leaves when an optional argument is empty, and `host/port` for
//! `host:port`), requested with GET as the client does, and read the way the client reads it:
//! a body that is not JSON is "Cannot access orchestrator"; an object whose `Code` is `ERROR`
//! is a failure printing `Message`; otherwise the command prints what its jq filter selects.
//! The printers below restate those filters (the client's code is not copied here).
//!
//! Pseudo-GTID, pools, KV stores and unresolved host names answer 501 with why: the client
//! prints that message and exits 1, which each such case checks.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use arbor_testkit::MariaDbSandbox;
use common::{start_node_with, Served};
use serde_json::Value;

/// Every command of orchestrator-client's command table.
const CLIENT_COMMANDS: &[&str] = arbor_testkit::ORCHESTRATOR_CLIENT_COMMANDS;

/// Commands the client answers without calling arbor, or only through other commands' calls.
const LOCAL_COMMANDS: &[&str] = &["help", "which-api"];

/// Commands that need a Raft group: checked in `crates/arbor/tests/raft_cluster.rs`
/// (`the_client_s_raft_commands_work_against_a_group`); here, on a node without Raft, their
/// first call fails with a message saying so.
const RAFT_COMMANDS: &[&str] = &[
    "raft-leader",
    "raft-health",
    "raft-leader-hostname",
    "raft-elect-leader",
];

struct Client {
    served: Served,
    /// Commands exercised so far.
    done: BTreeSet<&'static str>,
}

/// What the client makes of a reply: the parsed body, or the failure it prints.
type Reply = Result<Value, String>;

impl Client {
    async fn start(sources: &[Option<usize>]) -> Client {
        let sandbox = MariaDbSandbox::start(sources).unwrap();
        let node = start_node_with(common::replication_without_automated_recovery()).await;
        let seeds: Vec<usize> = (0..sources.len())
            .filter(|i| sources[*i].is_none())
            .collect();
        Client {
            served: Served::watch(sandbox, node, &seeds).await,
            done: BTreeSet::new(),
        }
    }

    /// `api PATH` as the client runs it, for `command`.
    async fn api(&mut self, command: &'static str, path: &str) -> Reply {
        self.done.insert(command);
        let response = self
            .served
            .client
            .get(format!("{}/api/{path}", self.served.node.base))
            .send()
            .await
            .unwrap();
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text)
            .map_err(|_| format!("Cannot access orchestrator ({path}: {text})"))?;
        if body.get("Code").and_then(Value::as_str) == Some("ERROR") {
            return Err(body["Message"].as_str().unwrap_or("").to_string());
        }
        Ok(body)
    }

    /// A command that must succeed.
    async fn ok(&mut self, command: &'static str, path: &str) -> Value {
        match self.api(command, path).await {
            Ok(body) => body,
            Err(message) => panic!("{command} ({path}) failed: {message}"),
        }
    }

    /// A command that must fail, printing a message containing `says`.
    async fn fails(&mut self, command: &'static str, path: &str, says: &str) {
        match self.api(command, path).await {
            Ok(body) => panic!("{command} ({path}) succeeded: {body}"),
            Err(message) => assert!(
                message.contains(says),
                "{command} ({path}): {message:?} does not say {says:?}"
            ),
        }
    }

    fn hp(&self, index: usize) -> String {
        self.served.path(index)
    }

    fn key(&self, index: usize) -> String {
        self.served.key(index)
    }

    fn replicates_from(&self, index: usize, source: usize) -> bool {
        let status = |column| {
            self.served
                .sandbox
                .replica_status_value(index, column)
                .unwrap()
        };
        status("Master_Port") == self.served.sandbox.port(source).to_string()
            && status("Slave_IO_Running") == "Yes"
            && status("Slave_SQL_Running") == "Yes"
    }

    async fn until_replicates(&self, index: usize, source: usize) {
        for _ in 0..200 {
            if self.replicates_from(index, source) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server {index} does not replicate from {source}");
    }
}

/// The client's `print_key`: `host:port` of an InstanceKey.
fn key(value: &Value) -> String {
    format!(
        "{}:{}",
        value["Hostname"].as_str().unwrap_or(""),
        value["Port"]
    )
}

/// `filter_keys | print_key` of a list of instances.
fn keys(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|i| key(&i["Key"]))
        .collect()
}

/// `print_keys` of a list of InstanceKeys.
fn key_list(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(key)
        .collect()
}

/// What `general_relocate_command` prints: `key<masterKey`.
fn moved(reply: &Value) -> String {
    let details = &reply["Details"];
    format!("{}<{}", key(&details["Key"]), key(&details["MasterKey"]))
}

fn set(items: &[String]) -> BTreeSet<String> {
    items.iter().cloned().collect()
}

#[tokio::test]
async fn every_client_command_gets_what_the_client_reads() {
    // P <- {R1, R2}, R1 <- R3
    let mut c = Client::start(&[None, Some(0), Some(0), Some(1)]).await;
    let (p, r1, r2, r3) = (c.hp(0), c.hp(1), c.hp(2), c.hp(3));
    let (kp, k1, k2, k3) = (c.key(0), c.key(1), c.key(2), c.key(3));
    let all = set(&[kp.clone(), k1.clone(), k2.clone(), k3.clone()]);

    // Leader detection (which-api prints the URL it found): leader-check answers 200.
    let leader = c.ok("which-api", "leader-check").await;
    assert_eq!(leader, "OK");
    c.done.insert("help");
    let raw = c.ok("api", "clusters").await;
    assert_eq!(raw, serde_json::json!([kp]));

    // Discovery and views.
    let discovered = c.ok("discover", &format!("discover/{r3}")).await;
    assert_eq!(key(&discovered["Details"]["Key"]), k3);
    let asynchronous = c
        .ok("async-discover", &format!("async-discover/{r3}"))
        .await;
    assert_eq!(asynchronous["Code"], "OK");
    for (command, route) in [
        ("topology", "topology"),
        ("topology-tabulated", "topology-tabulated"),
        ("topology-tags", "topology-tags"),
    ] {
        let tree = c.ok(command, &format!("{route}/{kp}")).await;
        let text = tree["Details"].as_str().unwrap();
        for member in &all {
            assert!(text.contains(member.as_str()), "{command}: {text}");
        }
    }
    let clusters = c.ok("clusters", "clusters-info").await;
    assert_eq!(clusters[0]["ClusterName"], kp);
    let with_alias = c.ok("clusters-alias", "clusters-info").await;
    assert!(with_alias[0]["ClusterAlias"].is_string());
    let found = c
        .ok("search", &format!("search?s={}", c.served.sandbox.port(3)))
        .await;
    assert!(keys(&found).contains(&k3), "{found}");
    for command in ["instance", "which-instance"] {
        let instance = c.ok(command, &format!("instance/{r3}")).await;
        assert_eq!(key(&instance["Key"]), k3);
    }
    let instance = c.ok("which-master", &format!("instance/{r3}")).await;
    assert_eq!(key(&instance["MasterKey"]), k1);
    let replicas = c
        .ok("which-replicas", &format!("instance-replicas/{p}"))
        .await;
    assert_eq!(keys(&replicas), set(&[k1.clone(), k2.clone()]));
    // which-broken-replicas: replicas with a stopped thread and an error; none here.
    let replicas = c
        .ok("which-broken-replicas", &format!("instance-replicas/{p}"))
        .await;
    let broken = replicas
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            (r["ReplicationSQLThreadRuning"] == false || r["ReplicationIOThreadRuning"] == false)
                && (r["LastSQLError"] != "" || r["LastIOError"] != "")
        })
        .count();
    assert_eq!(broken, 0);
    let members = c
        .ok("which-cluster-instances", &format!("cluster/{k3}"))
        .await;
    assert_eq!(keys(&members), all);
    let info = c.ok("which-cluster", &format!("cluster-info/{k3}")).await;
    assert_eq!(info["ClusterName"], kp);
    let info = c
        .ok("which-cluster-alias", &format!("cluster-info/{k3}"))
        .await;
    assert!(info["ClusterAlias"].is_string());
    let master = c.ok("which-cluster-master", &format!("master/{k3}")).await;
    assert_eq!(master["ClusterName"], kp, "the client prints .ClusterName");
    let masters = c.ok("all-clusters-masters", "masters").await;
    assert_eq!(keys(&masters), set(std::slice::from_ref(&kp)));
    let dominant = c.ok("dominant-dc", "masters").await;
    assert!(dominant[0]["DataCenter"].is_string());
    let everything = c.ok("all-instances", "all-instances").await;
    assert_eq!(keys(&everything), all);
    let osc = c
        .ok(
            "which-cluster-osc-replicas",
            &format!("cluster-osc-replicas/{kp}"),
        )
        .await;
    // R1 (an intermediate primary), its replica R3, and the leaf R2.
    assert_eq!(keys(&osc), set(&[k1.clone(), k2.clone(), k3.clone()]));
    let osc = c
        .ok(
            "which-cluster-osc-running-replicas",
            &format!("cluster-osc-replicas/{kp}"),
        )
        .await;
    let running = osc
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["ReplicationSQLThreadRuning"] == true && r["ReplicationIOThreadRuning"] == true
        })
        .count();
    assert_eq!(running, 3);
    let replicating = c.ok("is-replicating", &format!("instance/{r3}")).await;
    assert!(
        replicating["ReplicationSQLThreadState"] == 1
            && replicating["ReplicationIOThreadState"] == 1
    );
    let stopped = c
        .ok("is-replication-stopped", &format!("instance/{r3}"))
        .await;
    assert!(
        stopped["ReplicationSQLThreadState"] == 1,
        "not stopped: nothing printed"
    );
    let errant = c.ok("which-gtid-errant", &format!("instance/{r3}")).await;
    assert_eq!(errant["GtidErrant"], "");
    let located = c
        .ok("locate-gtid-errant", &format!("locate-gtid-errant/{r3}"))
        .await;
    assert_eq!(located["Details"], serde_json::json!([]));
    let analysis = c.ok("replication-analysis", "replication-analysis").await;
    assert!(analysis["Details"].is_array());

    // Tags, downtime, maintenance, promotion rules (the client URL-encodes owner and reason).
    let tagged = c.ok("tag", &format!("tag/{r2}?tag=role%3Dbackup")).await;
    assert_eq!(key(&tagged["Details"]), k2);
    let tags = c.ok("tags", &format!("tags/{r2}")).await;
    assert_eq!(tags, serde_json::json!(["role=backup"]));
    let value = c.ok("tag-value", &format!("tag-value/{r2}?tag=role")).await;
    assert_eq!(value, "backup");
    let listed = c.ok("tagged", "tagged/?tag=role%3Dbackup").await;
    assert_eq!(key_list(&listed), set(std::slice::from_ref(&k2)));
    let untagged = c.ok("untag", &format!("untag/{r2}?tag=role")).await;
    assert_eq!(
        key_list(&untagged["Details"]),
        set(std::slice::from_ref(&k2))
    );
    c.ok("tag", &format!("tag/{r3}?tag=role%3Dbackup")).await;
    let untagged = c.ok("untag-all", "untag-all?tag=role=backup").await;
    assert_eq!(
        key_list(&untagged["Details"]),
        set(std::slice::from_ref(&k3))
    );
    let downtimed = c
        .ok(
            "begin-downtime",
            &format!("begin-downtime/{r2}/dba%20on%20call/disk%20swap/10m"),
        )
        .await;
    assert_eq!(key(&downtimed["Details"]), k2);
    let listed = c.ok("downtimed", "downtimed/").await;
    assert_eq!(keys(&listed), set(std::slice::from_ref(&k2)));
    let ended = c.ok("end-downtime", &format!("end-downtime/{r2}")).await;
    assert_eq!(key(&ended["Details"]), k2);
    let locked = c
        .ok(
            "begin-maintenance",
            &format!("begin-maintenance/{r2}/dba/checking"),
        )
        .await;
    assert_eq!(key(&locked["Details"]), k2);
    let unlocked = c
        .ok("end-maintenance", &format!("end-maintenance/{r2}"))
        .await;
    assert_eq!(key(&unlocked["Details"]), k2);
    let candidate = c
        .ok(
            "register-candidate",
            &format!("register-candidate/{r2}/prefer"),
        )
        .await;
    assert_eq!(key(&candidate["Details"]), k2);

    // One server's replication.
    for command in [
        "stop-replica",
        "start-replica",
        "restart-replica",
        "stop-replica-nice",
        "start-replica",
        "set-writeable",
        "set-read-only",
        "detach-replica",
        "reattach-replica",
        "detach-replica-master-host",
        "reattach-replica-master-host",
        "enable-semi-sync-replica",
        "disable-semi-sync-replica",
    ] {
        let reply = c.ok(command, &format!("{command}/{r2}")).await;
        assert_eq!(key(&reply["Details"]["Key"]), k2, "{command}");
    }
    c.until_replicates(2, 0).await;
    for command in [
        "enable-semi-sync-master",
        "disable-semi-sync-master",
        "flush-binary-logs",
    ] {
        let reply = c.ok(command, &format!("{command}/{p}")).await;
        assert_eq!(key(&reply["Details"]["Key"]), kp, "{command}");
    }
    c.fails("skip-query", &format!("skip-query/{r2}"), "nothing to skip")
        .await;
    let delayed = c
        .ok("delay-replication", &format!("delay-replication/{r2}/3"))
        .await;
    assert_eq!(delayed["Details"], 3);
    c.ok("delay-replication", &format!("delay-replication/{r2}/0"))
        .await;
    let statements = c
        .ok(
            "restart-replica-statements",
            &format!("restart-replica-statements/{r2}?q=CHANGE%20MASTER%20TO%20MASTER_DELAY%3D1"),
        )
        .await;
    assert_eq!(statements["Details"].as_array().unwrap().len(), 5);
    let binlog = c
        .served
        .sql(0, "SHOW MASTER STATUS")
        .split('\t')
        .next()
        .unwrap()
        .to_string();
    let purged = c
        .ok(
            "purge-binary-logs",
            &format!("purge-binary-logs/{p}/{binlog}"),
        )
        .await;
    assert_eq!(key(&purged["Details"]["Key"]), kp);
    let can = c
        .ok(
            "can-replicate-from",
            &format!("can-replicate-from/{r3}/{r2}"),
        )
        .await;
    assert!(can["Message"].as_str().unwrap().contains("true"), "{can}");
    assert_eq!(
        key(&can["Details"]),
        k2,
        "the client prints the destination"
    );
    let can = c
        .ok(
            "can-replicate-from-gtid",
            &format!("can-replicate-from-gtid/{r3}/{r2}"),
        )
        .await;
    assert!(can["Message"].as_str().unwrap().contains("true"), "{can}");
    c.fails(
        "gtid-errant-reset-master",
        &format!("gtid-errant-reset-master/{r3}"),
        "has no errant GTID",
    )
    .await;
    c.fails(
        "gtid-errant-inject-empty",
        &format!("gtid-errant-inject-empty/{r3}"),
        "no errant",
    )
    .await;

    // Moves, each printed as key<masterKey.
    let reply = c.ok("relocate", &format!("relocate/{r3}/{r2}")).await;
    assert_eq!(moved(&reply), format!("{k3}<{k2}"));
    c.until_replicates(3, 2).await;
    let reply = c.ok("move-up", &format!("move-up/{r3}")).await;
    assert_eq!(moved(&reply), format!("{k3}<{kp}"));
    let reply = c.ok("move-below", &format!("move-below/{r3}/{r1}")).await;
    assert_eq!(moved(&reply), format!("{k3}<{k1}"));
    let reply = c.ok("move-gtid", &format!("move-gtid/{r3}/{r2}")).await;
    assert_eq!(moved(&reply), format!("{k3}<{k2}"));
    let reply = c
        .ok("move-equivalent", &format!("move-equivalent/{r3}/{r1}"))
        .await;
    assert_eq!(moved(&reply), format!("{k3}<{k1}"));
    let reply = c.ok("repoint", &format!("repoint/{r3}/{r1}")).await;
    assert_eq!(moved(&reply), format!("{k3}<{k1}"));
    c.until_replicates(3, 1).await;
    // The replicas' commands leave a trailing slash when no destination is given.
    let reply = c
        .ok("move-up-replicas", &format!("move-up-replicas/{r1}/"))
        .await;
    assert_eq!(keys(&reply["Details"]), set(std::slice::from_ref(&k3)));
    let reply = c
        .ok("relocate-replicas", &format!("relocate-replicas/{p}/{r1}"))
        .await;
    assert_eq!(keys(&reply["Details"]), set(&[k2.clone(), k3.clone()]));
    let reply = c
        .ok(
            "move-replicas-gtid",
            &format!("move-replicas-gtid/{r1}/{p}"),
        )
        .await;
    assert_eq!(keys(&reply["Details"]), set(&[k2.clone(), k3.clone()]));
    let reply = c
        .ok("repoint-replicas", &format!("repoint-replicas/{p}/"))
        .await;
    assert_eq!(keys(&reply["Details"]).len(), 3);
    let reply = c.ok("take-siblings", &format!("take-siblings/{r1}")).await;
    assert_eq!(key(&reply["Details"]["Key"]), k1);
    c.until_replicates(2, 1).await;
    let reply = c.ok("take-master", &format!("take-master/{r2}")).await;
    assert_eq!(moved(&reply), format!("{k2}<{kp}"));
    c.until_replicates(1, 2).await;
    let reply = c
        .ok("make-co-master", &format!("make-co-master/{r2}"))
        .await;
    assert_eq!(key(&reply["Details"]["Key"]), k2);

    // The primaries' key-value pairs, printed as Key:Value (no store configured here).
    let pairs = c
        .ok(
            "submit-masters-to-kv-stores",
            "submit-masters-to-kv-stores/",
        )
        .await;
    let printed: Vec<String> = pairs["Details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}:{}",
                p["Key"].as_str().unwrap(),
                p["Value"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        printed.contains(&format!("mysql/master/{kp}:{kp}")),
        "{printed:?}"
    );

    // Pools: the client submits comma-separated members (URL-encoded) and reads the fit ones.
    let members = format!("{k1},{k2}").replace(':', "%3A").replace(',', "%2C");
    let submitted = c
        .ok(
            "submit-pool-instances",
            &format!("submit-pool-instances/etl?instances={members}"),
        )
        .await;
    assert_eq!(submitted["Details"], "etl");
    let fit = c
        .ok(
            "which-heuristic-cluster-pool-instances",
            &format!("heuristic-cluster-pool-instances/{kp}/"),
        )
        .await;
    assert_eq!(keys(&fit["Details"]).len(), 2, "{fit}");

    // Not built: the client prints why and exits 1.
    for (command, path, says) in [
        ("match", format!("match/{r3}/{r2}"), "Pseudo-GTID"),
        ("match-up", format!("match-up/{r3}"), "Pseudo-GTID"),
        (
            "match-up-replicas",
            format!("match-up-replicas/{r1}/"),
            "Pseudo-GTID",
        ),
        (
            "last-pseudo-gtid",
            format!("last-pseudo-gtid/{p}"),
            "Pseudo-GTID",
        ),
        (
            "register-hostname-unresolve",
            format!("register-hostname-unresolve/{r3}/virtual"),
            "resolve",
        ),
        (
            "deregister-hostname-unresolve",
            format!("deregister-hostname-unresolve/{r3}"),
            "resolve",
        ),
        (
            "snapshot-topologies",
            "snapshot-topologies".into(),
            "history",
        ),
    ] {
        c.fails(command, &path, says).await;
    }

    // Raft commands on a node without Raft: their first call fails and says why.
    for &command in RAFT_COMMANDS {
        c.fails(command, "raft-state", "does not run Raft").await;
    }

    // The global switch, acknowledgements.
    let off = c
        .ok("disable-global-recoveries", "disable-global-recoveries")
        .await;
    assert_eq!(off["Details"], "disabled");
    let check = c
        .ok("check-global-recoveries", "check-global-recoveries")
        .await;
    assert_eq!(check["Details"], "disabled");
    let on = c
        .ok("enable-global-recoveries", "enable-global-recoveries")
        .await;
    assert_eq!(on["Details"], "enabled");
    let acked = c
        .ok("ack-all-recoveries", "ack-all-recoveries?comment=seen")
        .await;
    assert_eq!(acked["Details"], "seen");
    let acked = c
        .ok(
            "ack-cluster-recoveries",
            &format!("ack-recovery/cluster/{kp}?comment=seen"),
        )
        .await;
    assert!(acked["Details"].is_string());

    // Last, what destroys: reset a replica, forget it, forget the cluster.
    let reset = c.ok("reset-replica", &format!("reset-replica/{r3}")).await;
    assert_eq!(key(&reset["Details"]["Key"]), k3);
    let forgotten = c.ok("forget", &format!("forget/{r3}")).await;
    assert_eq!(forgotten["Code"], "OK");
    let forgotten = c
        .ok("forget-cluster", &format!("forget-cluster/{kp}"))
        .await;
    assert_eq!(forgotten["Code"], "OK");

    // Recovery commands run in their own test below; every other command ran here.
    let recovery = [
        "recover",
        "graceful-master-takeover",
        "graceful-master-takeover-auto",
        "force-master-failover",
        "force-master-takeover",
    ];
    let missing: Vec<&&str> = CLIENT_COMMANDS
        .iter()
        .filter(|name| !c.done.contains(**name) && !recovery.contains(name))
        .collect();
    assert!(missing.is_empty(), "commands not exercised: {missing:?}");
    assert_eq!(CLIENT_COMMANDS.len(), 105);
    assert!(LOCAL_COMMANDS.iter().all(|name| c.done.contains(name)));
}

#[tokio::test]
async fn the_clients_recovery_commands_print_the_successor() {
    // P <- {R1, R2, R3}
    let mut c = Client::start(&[None, Some(0), Some(0), Some(0)]).await;
    let (kp, k1, k2, k3) = (c.key(0), c.key(1), c.key(2), c.key(3));
    let (p, r1, r2, r3) = (c.hp(0), c.hp(1), c.hp(2), c.hp(3));

    // Planned: to R1; the old primary is set to replicate, not started.
    let done = c
        .ok(
            "graceful-master-takeover",
            &format!("graceful-master-takeover/{kp}/{r1}"),
        )
        .await;
    assert_eq!(key(&done["Details"]["SuccessorKey"]), k1);
    c.ok("start-replica", &format!("start-replica/{p}")).await;
    for index in [0, 2, 3] {
        c.until_replicates(index, 1).await;
    }
    // Planned, the old primary replicating at once: to R2.
    let done = c
        .ok(
            "graceful-master-takeover-auto",
            &format!("graceful-master-takeover-auto/{k1}/{r2}"),
        )
        .await;
    assert_eq!(key(&done["Details"]["SuccessorKey"]), k2);
    for index in [0, 1, 3] {
        c.until_replicates(index, 2).await;
    }
    // Forced, to a named replica of a live primary: R3; R2 is left read-only.
    let done = c
        .ok(
            "force-master-takeover",
            &format!("force-master-takeover/{k2}/{r3}"),
        )
        .await;
    assert_eq!(key(&done["Details"]["SuccessorKey"]), k3);
    assert_eq!(c.served.sql(2, "SELECT @@read_only"), "1");
    for index in [0, 1] {
        c.until_replicates(index, 3).await;
    }
    c.ok(
        "ack-cluster-recoveries",
        &format!("ack-recovery/cluster/{k3}?comment=next"),
    )
    .await;
    // Forced, arbor choosing: P or R1.
    let done = c
        .ok(
            "force-master-failover",
            &format!("force-master-failover/{k3}"),
        )
        .await;
    let successor = key(&done["Details"]["SuccessorKey"]);
    assert!(successor == kp || successor == k1, "{done}");
    let (promoted, other) = if successor == kp { (0, 1) } else { (1, 0) };
    c.until_replicates(other, promoted).await;
    c.ok(
        "ack-cluster-recoveries",
        &format!("ack-recovery/cluster/{successor}?comment=next"),
    )
    .await;

    // recover: the primary dies; the client prints the promoted replica's key.
    c.served.sandbox.kill(promoted).unwrap();
    let path = c.served.path(promoted);
    let mut printed = None;
    for _ in 0..100 {
        match c.api("recover", &format!("recover/{path}")).await {
            Ok(reply) => {
                printed = Some(key(&reply["Details"]));
                break;
            }
            Err(message) => assert!(message.contains("no failure"), "{message}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let printed = printed.expect("recovered within 10 s");
    assert_eq!(printed, c.key(other));
    assert_eq!(c.served.sql(other, "SELECT @@read_only"), "0");
}
