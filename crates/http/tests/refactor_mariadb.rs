//! Topology refactoring through the API on a real MariaDB topology: every move changes the
//! servers as asked (checked with the servers' own SHOW SLAVE STATUS), refusals say why, and
//! two moves of one instance at the same moment end with exactly one winner.

mod common;

use std::sync::Arc;
use std::time::Duration;

use arbor_testkit::{wait_for, MariaDbSandbox};
use common::{start_node_with, Served};
use serde_json::Value;

type Cluster = Served;

impl Served {
    /// P <- {R1, R2}, R1 <- R3, all discovered.
    async fn start() -> Cluster {
        let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0), Some(1)]).unwrap();
        // Moves that rebuild a link (a demoted primary's) use the replication user.
        let node = start_node_with(common::replication_without_automated_recovery()).await;
        Served::watch(sandbox, node, &[3]).await
    }

    fn status(&self, index: usize, column: &str) -> String {
        self.sandbox.replica_status_value(index, column).unwrap()
    }

    /// Server `index` replicates (both threads running) from server `source`.
    fn assert_replicates_from(&self, index: usize, source: usize) {
        for _ in 0..100 {
            if self.status(index, "Slave_IO_Running") == "Yes" {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            self.status(index, "Master_Port"),
            self.sandbox.port(source).to_string(),
            "server {index}'s source"
        );
        assert_eq!(
            self.status(index, "Slave_IO_Running"),
            "Yes",
            "server {index} IO"
        );
        assert_eq!(
            self.status(index, "Slave_SQL_Running"),
            "Yes",
            "server {index} SQL"
        );
    }
}

#[tokio::test]
async fn every_move_changes_the_topology_as_asked() {
    let c = Cluster::start().await;
    let (p, r1, r2, r3) = (c.path(0), c.path(1), c.path(2), c.path(3));

    let moved = c.ok(&format!("relocate/{r3}/{r2}")).await;
    assert_eq!(
        moved["Details"]["MasterKey"]["Port"],
        c.sandbox.port(2),
        "the answer shows the new state"
    );
    c.assert_replicates_from(3, 2);

    c.ok(&format!("move-up/{r3}")).await;
    c.assert_replicates_from(3, 0);

    c.ok(&format!("move-below/{r3}/{r1}")).await;
    c.assert_replicates_from(3, 1);

    let up = c.ok(&format!("move-up-replicas/{r1}")).await;
    assert_eq!(up["Details"].as_array().unwrap().len(), 1);
    c.assert_replicates_from(3, 0);

    let relocated = c.ok(&format!("relocate-replicas/{p}/{r1}")).await;
    assert_eq!(
        relocated["Details"].as_array().unwrap().len(),
        2,
        "R2 and R3 moved, R1 is the target"
    );
    c.assert_replicates_from(2, 1);
    c.assert_replicates_from(3, 1);

    c.ok(&format!("move-replicas-gtid/{r1}/{p}")).await;
    c.assert_replicates_from(2, 0);
    c.assert_replicates_from(3, 0);

    c.ok(&format!("move-gtid/{r3}/{r1}")).await;
    c.assert_replicates_from(3, 1);

    c.ok(&format!("repoint/{r2}")).await;
    c.assert_replicates_from(2, 0);
    c.ok(&format!("repoint/{r2}/{r1}")).await;
    c.assert_replicates_from(2, 1);
    c.ok(&format!("repoint-replicas/{r1}")).await;
    c.assert_replicates_from(2, 1);
    c.assert_replicates_from(3, 1);

    // take-master: R3 (under R1, under P) and R1 swap.
    c.ok(&format!("take-master/{r3}")).await;
    c.assert_replicates_from(3, 0);
    c.assert_replicates_from(1, 3);

    // take-siblings: R3's siblings (none but R2's source is R1... move R2 up first).
    c.ok(&format!("relocate/{r2}/{p}")).await;
    let took = c.ok(&format!("take-siblings/{r3}")).await;
    assert_eq!(
        took["Details"]["Key"]["Port"],
        c.sandbox.port(3),
        "the instance: {took}"
    );
    assert!(
        took["Message"].as_str().unwrap().starts_with("Took "),
        "{took}"
    );
    c.assert_replicates_from(2, 3);

    // Writes on the primary still reach everyone.
    c.sql(0, "CREATE DATABASE moved; CREATE TABLE moved.t (id INT PRIMARY KEY); INSERT INTO moved.t VALUES (1)");
    for replica in 1..4 {
        for _ in 0..100 {
            if c.sandbox
                .sql(replica, "SELECT COUNT(*) FROM moved.t")
                .map(|v| v.trim() == "1")
                .unwrap_or(false)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            c.sql(replica, "SELECT COUNT(*) FROM moved.t"),
            "1",
            "server {replica}"
        );
    }

    // make-co-master: P also replicates from R3; then back to a single primary.
    c.ok(&format!("make-co-master/{r3}")).await;
    c.assert_replicates_from(0, 3);
    let reset = c.ok(&format!("reset-replica/{p}")).await;
    assert_eq!(reset["Details"]["MasterKey"]["Hostname"], "");
    assert_eq!(c.status(0, "Master_Host"), "");
}

#[tokio::test]
async fn in_place_operations_do_what_they_say() {
    let c = Cluster::start().await;
    let (p, r2) = (c.path(0), c.path(2));

    c.ok(&format!("stop-replica/{r2}")).await;
    assert_eq!(c.status(2, "Slave_IO_Running"), "No");
    assert_eq!(c.status(2, "Slave_SQL_Running"), "No");
    c.ok(&format!("start-replica/{r2}")).await;
    c.assert_replicates_from(2, 0);
    c.ok(&format!("restart-replica/{r2}")).await;
    c.assert_replicates_from(2, 0);

    let writable = c.ok(&format!("set-writeable/{r2}")).await;
    assert_eq!(writable["Details"]["ReadOnly"], false);
    assert_eq!(c.sql(2, "SELECT @@read_only"), "0");
    c.ok(&format!("set-read-only/{r2}")).await;
    assert_eq!(c.sql(2, "SELECT @@read_only"), "1");

    let delayed = c.ok(&format!("delay-replication/{r2}/5")).await;
    assert_eq!(delayed["Details"], 5);
    assert_eq!(c.status(2, "SQL_Delay"), "5");
    c.ok(&format!("delay-replication/{r2}/0")).await;
    assert_eq!(c.status(2, "SQL_Delay"), "0");

    let detached = c.ok(&format!("detach-replica-master-host/{r2}")).await;
    assert!(
        detached["Details"]["MasterKey"]["Hostname"]
            .as_str()
            .unwrap()
            .starts_with("//"),
        "{detached}"
    );
    assert_eq!(c.status(2, "Master_Host"), "//127.0.0.1");
    c.ok(&format!("reattach-replica-master-host/{r2}")).await;
    c.assert_replicates_from(2, 0);

    // A duplicate-key error stops R2's SQL thread; skip-query gets it going again.
    c.sql(
        0,
        "CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY)",
    );
    for _ in 0..100 {
        if c.sandbox
            .sql(
                2,
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='s'",
            )
            .map(|v| v.trim() == "1")
            .unwrap_or(false)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    c.sql(
        2,
        "SET sql_log_bin = 0; SET SESSION gtid_domain_id = 7; INSERT INTO s.t VALUES (9)",
    );
    c.sql(0, "INSERT INTO s.t VALUES (9)");
    for _ in 0..100 {
        if c.status(2, "Slave_SQL_Running") == "No" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.status(2, "Last_SQL_Errno"), "1062");
    c.ok(&format!("skip-query/{r2}")).await;
    c.assert_replicates_from(2, 0);

    // Binary logs: flush rotates; purge is refused while a replica reads an older file.
    let before = c
        .sql(0, "SHOW MASTER STATUS")
        .split('\t')
        .next()
        .unwrap_or("")
        .to_string();
    c.ok(&format!("flush-binary-logs/{p}")).await;
    let after = c
        .sql(0, "SHOW MASTER STATUS")
        .split('\t')
        .next()
        .unwrap_or("")
        .to_string();
    assert!(after > before, "{before} -> {after}");
    c.ok(&format!("stop-replica/{r2}")).await;
    c.ok(&format!("flush-binary-logs/{p}")).await;
    let newest = c
        .sql(0, "SHOW MASTER STATUS")
        .split('\t')
        .next()
        .unwrap_or("")
        .to_string();
    let (status, body) = c.call(&format!("purge-binary-logs/{p}/{newest}")).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["Message"].as_str().unwrap().contains("still reads"),
        "{body}"
    );
    // Once every replica reads the newest file (a write moves them into it), the older ones go.
    c.ok(&format!("start-replica/{r2}")).await;
    c.sql(0, "CREATE DATABASE purge_marker");
    for replica in 1..3 {
        for _ in 0..100 {
            if c.status(replica, "Master_Log_File") == newest {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            c.status(replica, "Master_Log_File"),
            newest,
            "server {replica}"
        );
    }
    // MariaDB keeps a file until its binlog checkpoint (crash recovery) has passed it, so
    // the purge is repeated, as an operator would, until the older files are gone.
    let mut logs = String::new();
    for _ in 0..50 {
        c.ok(&format!("purge-binary-logs/{p}/{newest}")).await;
        logs = c.sql(0, "SHOW BINARY LOGS");
        if logs.starts_with(&newest) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = logs
        .lines()
        .next()
        .unwrap_or("")
        .split('\t')
        .next()
        .unwrap_or("");
    assert_eq!(first, newest, "older binary logs purged: {logs}");
}

#[tokio::test]
async fn refusals_say_why_and_change_nothing() {
    let mut c = Cluster::start().await;
    let (p, r1, r2, r3) = (c.path(0), c.path(1), c.path(2), c.path(3));

    let refused = |status: u16, body: &Value, expected: &str| {
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["Code"], "ERROR");
        assert!(
            body["Message"].as_str().unwrap().contains(expected),
            "{body}"
        );
    };
    let (status, body) = c.call(&format!("relocate/{r1}/{r3}")).await;
    refused(status, &body, "would make a loop");
    let (status, body) = c.call(&format!("relocate/{p}/{r3}")).await;
    refused(status, &body, "would make a loop");
    let (status, body) = c.call(&format!("move-up/{r1}")).await;
    refused(status, &body, "is a primary");
    let (status, body) = c.call(&format!("move-below/{r3}/{r2}")).await;
    refused(status, &body, "not a sibling");
    let (status, body) = c.call(&format!("take-master/{r1}")).await;
    refused(status, &body, "graceful-master-takeover");
    c.assert_replicates_from(1, 0);
    c.assert_replicates_from(3, 1);

    // can-replicate-from answers true or false with the reason.
    let verdict = c.read(&format!("can-replicate-from/{r3}/{r2}")).await;
    assert_eq!(verdict["Message"], "true");
    let verdict = c.read(&format!("can-replicate-from/{r1}/{r3}")).await;
    assert!(
        verdict["Message"].as_str().unwrap().starts_with("false: "),
        "{verdict}"
    );

    // Locked by an operator: refused, naming the holder.
    c.ok(&format!("begin-maintenance/{r3}/alice/rebuilding-disk"))
        .await;
    let (status, body) = c.call(&format!("relocate/{r3}/{r2}")).await;
    assert_eq!(status, 409, "{body}");
    let message = body["Message"].as_str().unwrap();
    assert!(
        message.contains("alice") && message.contains("rebuilding-disk"),
        "{message}"
    );
    c.assert_replicates_from(3, 1);
    let locks: Value = c
        .client
        .get(format!("{}/api/maintenance", c.node.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(locks[0]["Owner"], "alice");
    c.ok(&format!("end-maintenance/{r3}")).await;
    c.ok(&format!("relocate/{r3}/{r2}")).await;
    c.assert_replicates_from(3, 2);

    // Below a server that cannot be reached.
    c.sandbox.kill(1).unwrap();
    let store = Arc::clone(&c.node.store);
    let r1_key: arbor_topology::InstanceKey = c.sandbox.key(1).parse().unwrap();
    wait_for(Duration::from_secs(10), || {
        let (store, key) = (Arc::clone(&store), r1_key.clone());
        async move {
            store
                .instance(&key)
                .await
                .ok()?
                .filter(|r| !r.is_last_check_valid())
                .map(|_| ())
        }
    })
    .await
    .expect("R1 seen down");
    let (status, body) = c.call(&format!("relocate/{r3}/{r1}")).await;
    refused(status, &body, "cannot be reached");
    c.assert_replicates_from(3, 2);
}

#[tokio::test]
async fn two_moves_of_one_instance_at_once_have_exactly_one_winner() {
    let c = Cluster::start().await;
    let (p, r2, r3) = (c.path(0), c.path(2), c.path(3));
    let (below_r2, below_p) = (format!("relocate/{r3}/{r2}"), format!("relocate/{r3}/{p}"));
    let (first, second) = tokio::join!(c.call(&below_r2), c.call(&below_p));
    let statuses = [first.0, second.0];
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one winner: {first:?} {second:?}"
    );
    let loser = if first.0 == 200 { &second.1 } else { &first.1 };
    assert!(
        loser["Message"]
            .as_str()
            .unwrap()
            .contains("locked by arbor relocate"),
        "{loser}"
    );
    let winner_target = if first.0 == 200 { 2 } else { 0 };
    c.assert_replicates_from(3, winner_target);
    // The lock is released afterwards: the next move goes through.
    c.ok(&format!("relocate/{r3}/{}", c.path(1))).await;
    c.assert_replicates_from(3, 1);
}

#[tokio::test]
async fn tags_are_set_listed_and_removed() {
    let c = Cluster::start().await;
    let (r1, r2) = (c.path(1), c.path(2));
    c.ok(&format!("tag/{r1}?tag=role=reporting")).await;
    c.ok(&format!("tag/{r2}?tag=role=backup")).await;
    c.ok(&format!("tag/{r2}?tag=nightly")).await;
    let get = |path: String| {
        let client = c.client.clone();
        let base = c.node.base.clone();
        async move {
            client
                .get(format!("{base}/api/{path}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        get(format!("tags/{r2}")).await,
        serde_json::json!(["nightly", "role=backup"])
    );
    assert_eq!(get(format!("tag-value/{r1}?tag=role")).await, "reporting");
    assert_eq!(
        get("tagged?tag=role".into())
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        get("tagged?tag=role=backup".into()).await[0]["Port"],
        c.sandbox.port(2)
    );
    let untagged = c.ok(&format!("untag/{r2}?tag=nightly")).await;
    assert_eq!(
        untagged["Details"][0]["Port"],
        c.sandbox.port(2),
        "{untagged}"
    );
    let again = c.ok(&format!("untag/{r2}?tag=nightly")).await;
    assert_eq!(
        again["Details"],
        serde_json::json!([]),
        "orchestrator's answer: {again}"
    );
    let removed = c.ok("untag-all?tag=role").await;
    assert_eq!(removed["Details"].as_array().unwrap().len(), 2);
    assert_eq!(get(format!("tags/{r2}")).await, serde_json::json!([]));
}

#[tokio::test]
async fn errant_gtids_are_shown_located_and_reset() {
    let c = Cluster::start().await;
    let r2 = c.path(2);
    // A write straight on R2 (root bypasses read_only), in a domain of its own so that
    // replication keeps going: the silent kind of errant transaction.
    c.sql(
        2,
        "SET SESSION gtid_domain_id = 9; CREATE DATABASE errant_write",
    );
    let errant = wait_for(Duration::from_secs(10), || async {
        let instance = c.read(&format!("instance/{r2}")).await;
        let errant = instance["GtidErrant"].as_str().unwrap_or("").to_string();
        (!errant.is_empty()).then_some((errant, instance))
    })
    .await
    .expect("errant GTID shown");
    assert_eq!(errant.0, "9-3-1");
    assert!(
        errant.1["Problems"].to_string().contains("errant_gtid"),
        "{}",
        errant.1
    );
    let located = c.read(&format!("locate-gtid-errant/{r2}")).await;
    assert_eq!(located["Code"], "OK", "{located}");
    let files = located["Details"].clone();
    assert_eq!(files.as_array().unwrap().len(), 1, "{files}");
    assert!(
        files[0].as_str().unwrap().starts_with("mysql-bin."),
        "{files}"
    );

    // MariaDB cannot inject empty transactions: refused with the alternative.
    let (status, body) = c.call(&format!("gtid-errant-inject-empty/{r2}")).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .contains("gtid-errant-reset-master"),
        "{body}"
    );

    let fixed = c.ok(&format!("gtid-errant-reset-master/{r2}")).await;
    assert_eq!(fixed["Details"]["GtidErrant"], "", "{fixed}");
    c.assert_replicates_from(2, 0);
    c.sql(0, "CREATE DATABASE after_reset");
    for _ in 0..100 {
        if c.sql(
            2,
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='after_reset'",
        ) == "1"
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        c.sql(
            2,
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='after_reset'"
        ),
        "1"
    );
    // With replicas, reset-master is refused: they read its binary logs.
    let (status, body) = c
        .call(&format!("gtid-errant-reset-master/{}", c.path(1)))
        .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn replicas_without_gtid_move_by_file_and_position() {
    let c = Cluster::start().await;
    let (r1, r2, r3) = (c.path(1), c.path(2), c.path(3));
    // Every replica positions by file and position, as a cluster set up without GTID does.
    for replica in 1..4 {
        c.sql(
            replica,
            "STOP SLAVE; CHANGE MASTER TO MASTER_USE_GTID=no; START SLAVE",
        );
        assert_eq!(c.status(replica, "Using_Gtid"), "No");
    }
    c.sql(
        0,
        "CREATE DATABASE filepos; CREATE TABLE filepos.t (id INT PRIMARY KEY); \
         INSERT INTO filepos.t VALUES (1)",
    );
    let mut rows = 1;
    // Every server has exactly the rows the primary wrote: a move that resumed too early
    // would stop on a duplicate key, one that resumed too late would miss rows.
    let all_have = |c: &Cluster, rows: usize| {
        for server in 1..4 {
            let mut count = String::new();
            for _ in 0..200 {
                count = c
                    .sandbox
                    .sql(server, "SELECT COUNT(*) FROM filepos.t")
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default();
                if count == rows.to_string() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            assert_eq!(count, rows.to_string(), "server {server}");
        }
    };
    all_have(&c, rows);

    // move-up with R3 behind: its SQL thread stopped while the primary writes on. R3 must
    // apply what R1 has before it continues from R1's point on P.
    c.sql(3, "STOP SLAVE SQL_THREAD");
    for _ in 0..5 {
        rows += 1;
        c.sql(0, &format!("INSERT INTO filepos.t VALUES ({rows})"));
    }
    c.ok(&format!("move-up/{r3}")).await;
    c.assert_replicates_from(3, 0);
    c.assert_replicates_from(1, 0);
    assert_eq!(c.status(3, "Using_Gtid"), "No", "still file:position");
    rows += 1;
    c.sql(0, &format!("INSERT INTO filepos.t VALUES ({rows})"));
    all_have(&c, rows);

    // move-below with the sibling behind: R2 catches up to R3's point first.
    c.sql(2, "STOP SLAVE SQL_THREAD");
    for _ in 0..5 {
        rows += 1;
        c.sql(0, &format!("INSERT INTO filepos.t VALUES ({rows})"));
    }
    c.ok(&format!("move-below/{r3}/{r2}")).await;
    c.assert_replicates_from(3, 2);
    c.assert_replicates_from(2, 0);
    assert_eq!(c.status(3, "Using_Gtid"), "No");
    rows += 1;
    c.sql(0, &format!("INSERT INTO filepos.t VALUES ({rows})"));
    all_have(&c, rows);

    // Further than one step: MariaDB switches the replica to GTID (its gtid_slave_pos is
    // kept in every mode), rather than refusing.
    c.ok(&format!("relocate/{r3}/{r1}")).await;
    c.assert_replicates_from(3, 1);
    assert_eq!(c.status(3, "Using_Gtid"), "Slave_Pos");
    rows += 1;
    c.sql(0, &format!("INSERT INTO filepos.t VALUES ({rows})"));
    all_have(&c, rows);
}

#[tokio::test]
async fn a_demoted_primary_is_relocated_with_the_replication_credentials_and_a_fast_retry() {
    let c = Cluster::start().await;
    // force-master-failover leaves the old primary read-only with no replication link.
    let failover = c
        .ok(&format!("force-master-failover/{}", c.sandbox.key(0)))
        .await;
    let successor = &failover["Details"]["SuccessorKey"];
    let new_primary = format!(
        "{}/{}",
        successor["Hostname"].as_str().unwrap(),
        successor["Port"]
    );
    assert_eq!(c.status(0, "Master_Host"), "", "never replicated since");

    c.ok(&format!("relocate/{}/{new_primary}", c.path(0))).await;
    assert_eq!(c.status(0, "Master_User"), arbor_testkit::REPL_USER);
    assert_eq!(
        c.status(0, "Connect_Retry"),
        "1",
        "a link arbor makes reconnects within a second"
    );
    let replicating = wait_for(Duration::from_secs(10), || async {
        (c.status(0, "Slave_IO_Running") == "Yes").then_some(())
    })
    .await;
    assert!(
        replicating.is_some(),
        "IO thread: {} {}",
        c.status(0, "Slave_IO_Running"),
        c.status(0, "Last_IO_Error")
    );
    let instance = wait_for(Duration::from_secs(10), || async {
        let instance = c.read(&format!("instance/{}", c.path(0))).await;
        (instance["MasterKey"]["Port"] == successor["Port"]).then_some(instance)
    })
    .await
    .expect("arbor sees the old primary replicate");
    assert!(
        !instance["Problems"]
            .to_string()
            .contains("slow_failure_detection_settings"),
        "arbor does not warn about a link it made: {instance}"
    );
}

#[tokio::test]
async fn a_detached_replica_is_not_crawled_as_a_phantom_server() {
    let c = Cluster::start().await;
    let r2 = c.path(2);
    c.ok(&format!("detach-replica-master-host/{r2}")).await;
    // A few polls later: still four servers, one cluster, R2 in it and marked detached.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let keys: Vec<String> = c
        .node
        .store
        .all_instances()
        .await
        .unwrap()
        .iter()
        .map(|r| r.key().to_string())
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(keys.iter().all(|k| !k.starts_with("//")), "{keys:?}");
    let clusters = c.read("clusters-info").await;
    assert_eq!(clusters.as_array().unwrap().len(), 1, "{clusters}");
    assert_eq!(clusters[0]["CountInstances"], 4, "{clusters}");
    let tree = c.read(&format!("topology/{}", c.sandbox.key(0))).await;
    assert!(
        tree["Details"]
            .as_str()
            .unwrap()
            .contains(&format!("{} ", c.sandbox.key(2))),
        "{tree}"
    );
    assert!(
        tree["Details"].as_str().unwrap().contains("detached from"),
        "{tree}"
    );
}
