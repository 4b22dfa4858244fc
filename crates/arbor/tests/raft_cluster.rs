//! Raft mode with real `arbor serve` processes on loopback: election, replication of intents
//! through followers, the leader killed with SIGKILL, a node rejoining, and a group that lost
//! its majority refusing to act.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use arbor_testkit::MariaDbSandbox;
use common::free_port;
use common::raft_group::{
    acting_periods, get, get_local, instance_path, isolate, json, metric, wait_until, Group,
};

#[test]
fn three_nodes_replicate_intents_survive_a_killed_leader_and_catch_up_a_returning_node() {
    let sandbox = MariaDbSandbox::start(&[None, Some(0)]).unwrap();
    let (primary, replica) = (sandbox.key(0), sandbox.key(1));
    let mut group = Group::start(3, "");
    let leader = group.leader(Duration::from_secs(30));
    let follower = group.follower_of(leader);

    // A discover sent to a follower is forwarded to the leader and replicated: every node
    // then probes the servers itself.
    let (host, port) = primary.rsplit_once(':').unwrap();
    let (status, body) = get(
        &group.members[follower].api(),
        &format!("/api/discover/{host}/{port}"),
    );
    assert_eq!(status, 200, "discover through a follower: {body}");
    for member in &group.members {
        let api = member.api();
        wait_until(
            &group,
            Duration::from_secs(20),
            "every node sees the replica",
            || get_local(&api, &instance_path(&replica)).0 == 200,
        );
    }

    // A downtime set through a follower shows on all three nodes' own stores.
    let (rhost, rport) = replica.rsplit_once(':').unwrap();
    let (status, body) = get(
        &group.members[follower].api(),
        &format!("/api/begin-downtime/{rhost}/{rport}/ops/raft-test/1h"),
    );
    assert_eq!(status, 200, "begin-downtime through a follower: {body}");
    for member in &group.members {
        let api = member.api();
        wait_until(
            &group,
            Duration::from_secs(10),
            "the downtime is on every node",
            || json(&get_local(&api, &instance_path(&replica)).1)["IsDowntimed"] == true,
        );
    }

    // An operator's cluster alias, set through a follower, names the cluster on every node.
    let (status, body) = get(
        &group.members[follower].api(),
        &format!("/api/set-cluster-alias/{host}:{port}?alias=orders"),
    );
    assert_eq!(status, 200, "set-cluster-alias through a follower: {body}");
    for member in &group.members {
        let api = member.api();
        wait_until(
            &group,
            Duration::from_secs(10),
            "the alias is on every node",
            || {
                get_local(&api, "/api/clusters-info")
                    .1
                    .contains(r#""ClusterAlias":"orders""#)
            },
        );
    }

    // SIGKILL the leader: another member leads and answers leader-check.
    let old_leader = leader;
    group.members[old_leader].kill();
    let new_leader = group.leader(Duration::from_secs(20));
    assert_ne!(new_leader, old_leader);

    // While the old leader is away, an intent changes: the downtime ends.
    let (status, body) = get(
        &group.members[new_leader].api(),
        &format!("/api/end-downtime/{rhost}/{rport}"),
    );
    assert_eq!(status, 200, "end-downtime on the new leader: {body}");

    // The old leader rejoins as a follower and catches up with what it missed.
    group.members[old_leader].start();
    let api = group.members[old_leader].api();
    wait_until(
        &group,
        Duration::from_secs(20),
        "the returning node catches up",
        || {
            let instance = json(&get_local(&api, &instance_path(&replica)).1);
            instance["IsDowntimed"] == false && instance["Key"]["Port"].is_number()
        },
    );
    assert_eq!(get(&api, "/api/leader-check").0, 404);
    let status = json(&get(&api, "/api/raft-status").1);
    assert_eq!(status["State"], "Follower", "{status}");
    assert_eq!(
        status["Leader"],
        group.members[new_leader].raft.as_str(),
        "{status}"
    );
    // A read through the returning follower is answered by the leader.
    let (code, body) = get(&api, "/api/check-global-recoveries");
    assert_eq!(code, 200, "{body}");
}

#[test]
fn five_nodes_work_with_two_down_and_three_nodes_with_two_down_refuse() {
    let mut five = Group::start(5, "");
    let leader = five.leader(Duration::from_secs(30));
    // Kill the leader and one follower: three of five remain, a majority.
    let follower = five.follower_of(leader);
    five.members[leader].kill();
    five.members[follower].kill();
    let leader = five.leader(Duration::from_secs(20));
    let survivor = five.follower_of(leader);
    let (status, body) = get(
        &five.members[survivor].api(),
        "/api/disable-global-recoveries",
    );
    assert_eq!(
        status, 200,
        "a write through a follower of the remaining three: {body}"
    );
    for member in five.members.iter().filter(|m| m.running()) {
        let api = member.api();
        wait_until(
            &five,
            Duration::from_secs(10),
            "recoveries disabled on every survivor",
            || json(&get_local(&api, "/api/check-global-recoveries").1)["Details"] == "disabled",
        );
    }
    drop(five);

    let mut three = Group::start(3, "");
    let leader = three.leader(Duration::from_secs(30));
    // Kill both followers: the leader is alone, without a majority.
    for index in 0..3 {
        if index != leader {
            three.members[index].kill();
        }
    }
    let api = three.members[leader].api();
    wait_until(
        &three,
        Duration::from_secs(10),
        "a lone leader stops answering as leader",
        || get(&api, "/api/leader-check").0 == 404,
    );
    let (status, body) = get(&api, "/api/disable-global-recoveries");
    assert_eq!(status, 503, "a write without a majority is refused: {body}");
    assert!(
        json(&body)["Message"]
            .as_str()
            .is_some_and(|m| m.contains("leader")),
        "the refusal says why: {body}"
    );
    let (status, _) = get(&api, "/api/raft-health");
    assert_eq!(status, 500, "raft-health reports the lone node unhealthy");
}

#[test]
fn a_missing_or_unwritable_raft_data_dir_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let blocker = root.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let config = common::test_config(
        root.path(),
        1,
        &format!(
            r#""RaftEnabled": true, "RaftDataDir": "{}", "RaftBind": "127.0.0.1:{}""#,
            blocker.join("raft").display(),
            free_port()
        ),
    );
    let path: &Path = &root.path().join("arbor.conf.json");
    std::fs::write(path, &config).unwrap();
    let (ok, _, stderr) = common::run(
        &["--config", path.to_str().unwrap(), "serve"],
        &[("ARBOR_E2E_TOPOLOGY_PASSWORD", "unused")],
    );
    assert!(!ok);
    assert!(
        stderr.contains("RaftDataDir") && stderr.contains("cannot create"),
        "{stderr}"
    );
}

/// The server indices (among `running`) that replicate from nobody: the primaries.
fn primaries(sandbox: &MariaDbSandbox, running: &[usize]) -> Vec<usize> {
    running
        .iter()
        .copied()
        .filter(|&i| sandbox.replica_status(i).is_ok_and(|rows| rows.is_empty()))
        .collect()
}

/// Whether server `index` replicates from `source` with both threads running.
fn follows(sandbox: &MariaDbSandbox, index: usize, source: usize) -> bool {
    let value = |column: &str| {
        sandbox
            .replica_status_value(index, column)
            .unwrap_or_default()
    };
    value("Master_Port") == sandbox.port(source).to_string()
        && value("Slave_IO_Running") == "Yes"
        && value("Slave_SQL_Running") == "Yes"
}

/// The highest recovery id in the audit (0 for none).
fn last_recovery_id(api: &str) -> i64 {
    json(&get(api, "/api/audit-recovery").1)
        .as_array()
        .map(|records| {
            records
                .iter()
                .filter_map(|r| r["Id"].as_i64())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Recoveries of `failed` with an id above `after`, as (successor port, successful). A server
/// that failed in an earlier run and came back keeps its key, hence the id bound.
fn recoveries_of(api: &str, failed: &str, after: i64) -> Vec<(Option<u64>, bool)> {
    let (host, port) = failed.rsplit_once(':').unwrap();
    let audit = json(&get(api, "/api/audit-recovery").1);
    audit
        .as_array()
        .map(|records| {
            records
                .iter()
                .filter(|r| r["Id"].as_i64().is_some_and(|id| id > after))
                .filter(|r| {
                    let key = &r["AnalysisEntry"]["AnalyzedInstanceKey"];
                    key["Hostname"] == host && key["Port"].as_u64() == port.parse().ok()
                })
                .map(|r| {
                    (
                        r["SuccessorKey"]["Port"].as_u64(),
                        r["IsSuccessful"] == true,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn killing_the_leader_during_a_failover_never_promotes_twice() {
    let mut sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0)]).unwrap();
    let extra = format!(
        r#""RecoverMasterClusterFilters": ["*"],
        "RecoveryPeriodBlockSeconds": 1,
        "MySQLReplicaUser": "{}",
        "MySQLReplicaPassword": "{}""#,
        arbor_testkit::REPL_USER,
        arbor_testkit::REPL_PASSWORD
    );
    let mut group = Group::start(3, &extra);
    let leader = group.leader(Duration::from_secs(30));
    let (host, port) = sandbox
        .key(0)
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .unwrap();
    let (status, body) = get(
        &group.members[leader].api(),
        &format!("/api/discover/{host}/{port}"),
    );
    assert_eq!(status, 200, "{body}");
    let mut primary = 0;
    for run in 0..10 {
        let leader = group.leader(Duration::from_secs(30));
        let api = group.members[leader].api();
        // Every node must see the whole cluster, so whichever leads next can recover it.
        for member in &group.members {
            let member_api = member.api();
            wait_until(
                &group,
                Duration::from_secs(30),
                "every node sees the cluster",
                || {
                    (0..3).filter(|&i| i != primary).all(|i| {
                        let instance =
                            json(&get_local(&member_api, &instance_path(&sandbox.key(i))).1);
                        instance["MasterKey"]["Port"] == sandbox.port(primary)
                            && instance["ReplicationSQLThreadRuning"] != false
                            && instance["IsLastCheckValid"] == true
                    })
                },
            );
        }
        let (code, body) = get(&api, "/api/ack-all-recoveries?comment=next-run");
        assert_eq!(code, 200, "{body}");

        let failed = sandbox.key(primary);
        let before = last_recovery_id(&api);
        sandbox.kill(primary).unwrap();
        // "A moment later": from at once to a quarter second, so that the leader dies at
        // different points of the recovery across runs.
        std::thread::sleep(Duration::from_millis(25 * run as u64));
        group.members[leader].kill();

        let survivors: Vec<usize> = (0..3).filter(|&i| i != primary).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        let new_primary = loop {
            let found = primaries(&sandbox, &survivors);
            if let [new_primary] = found[..] {
                let other = survivors
                    .iter()
                    .copied()
                    .find(|&i| i != new_primary)
                    .unwrap();
                if follows(&sandbox, other, new_primary) {
                    break new_primary;
                }
            }
            assert!(
                found.len() <= 1,
                "run {run}: two primaries among the survivors: {found:?}\n{}",
                group.logs()
            );
            if Instant::now() >= deadline {
                let current = group.leader(Duration::from_secs(10));
                let api = group.members[current].api();
                let downtimed = get(&api, "/api/downtimed").1;
                let audit = get(&api, "/api/audit-recovery").1;
                // What the leader believes: its analyses and its readings of the cluster.
                let analysis = get_local(&api, "/api/replication-analysis").1;
                let readings: Vec<String> = (0..3)
                    .map(|i| get_local(&api, &instance_path(&sandbox.key(i))).1)
                    .collect();
                panic!(
                    "run {run}: no completed failover of {failed}; primaries {found:?}\n\
                     downtimed: {downtimed}\naudit: {audit}\nleader's analysis: {analysis}\n\
                     leader's readings: {readings:#?}\n{}",
                    group.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };

        // The audit, read from the current leader, shows one promotion for this failure.
        let current = group.leader(Duration::from_secs(30));
        let current_api = group.members[current].api();
        let mut promotions = Vec::new();
        wait_until(
            &group,
            Duration::from_secs(20),
            "the recovery is recorded as finished",
            || {
                promotions = recoveries_of(&current_api, &failed, before);
                promotions.iter().any(|(_, ok)| *ok)
            },
        );
        // What happened, for whoever reads the test's output: which node recovered, and
        // whether it continued a recovery the killed leader had started.
        for record in json(&get(&current_api, "/api/audit-recovery").1)
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["Id"].as_i64().is_some_and(|id| id > before))
        {
            let continued = record["ArborSteps"].as_array().is_some_and(|steps| {
                steps.iter().any(|s| {
                    s["Message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("continued by"))
                })
            });
            eprintln!(
                "run {run}: recovery {} by {} (killed leader {}), successful {}, continued {continued}, errors {}",
                record["Id"], record["ProcessingNodeHostname"], group.members[leader].raft,
                record["IsSuccessful"], record["AllErrors"]
            );
        }
        let promoted: Vec<Option<u64>> = promotions
            .iter()
            .filter(|(successor, _)| successor.is_some())
            .map(|(successor, _)| *successor)
            .collect();
        assert_eq!(
            promoted,
            vec![Some(u64::from(sandbox.port(new_primary)))],
            "run {run}: one promotion for the failure of {failed}: {promotions:?}"
        );

        // Back to three of each: the killed arbor node rejoins, the failed server returns
        // as a replica of the new primary.
        group.members[leader].start();
        sandbox.restart_as_replica(primary, new_primary).unwrap();
        primary = new_primary;
    }
}

#[test]
fn a_partitioned_leader_stops_acting_and_no_two_nodes_ever_act_at_once() {
    let group = Group::start(3, "");
    let leader = group.leader(Duration::from_secs(30));
    let old_api = group.members[leader].api();

    // Cut the leader's Raft traffic: it stops acting, and the other two elect a leader.
    isolate(&group.members[leader], true);
    wait_until(
        &group,
        Duration::from_secs(10),
        "the cut-off leader stops acting",
        || get(&old_api, "/api/leader-check").0 == 404,
    );
    let new_leader = group.leader(Duration::from_secs(20));
    assert_ne!(new_leader, leader);
    // The cut-off node refuses what it cannot do; the majority takes writes.
    let (status, body) = get(&old_api, "/api/disable-global-recoveries");
    assert_eq!(status, 503, "{body}");
    let (status, body) = get(
        &group.members[new_leader].api(),
        "/api/disable-global-recoveries",
    );
    assert_eq!(status, 200, "{body}");

    // Healed, it follows the new leader and catches up.
    isolate(&group.members[leader], false);
    wait_until(
        &group,
        Duration::from_secs(20),
        "the healed node follows and catches up",
        || {
            json(&get_local(&old_api, "/api/check-global-recoveries").1)["Details"] == "disabled"
                && json(&get(&old_api, "/api/raft-status").1)["State"] == "Follower"
        },
    );
    assert_eq!(get(&old_api, "/api/leader-check").0, 404);

    // The audit of who could act when: no two members' periods overlap.
    let periods: Vec<Vec<(i64, i64)>> = group.members.iter().map(acting_periods).collect();
    assert!(
        !periods[leader].is_empty() && !periods[new_leader].is_empty(),
        "{periods:?}"
    );
    for a in 0..periods.len() {
        for b in a + 1..periods.len() {
            for &(a_from, a_until) in &periods[a] {
                for &(b_from, b_until) in &periods[b] {
                    assert!(
                        a_until <= b_from || b_until <= a_from,
                        "members {a} and {b} acted at once: {:?} and {:?} (cut-off leader {leader}, \
                         new leader {new_leader}, all periods {periods:?})\n{}",
                        (a_from, a_until),
                        (b_from, b_until),
                        group.logs()
                    );
                }
            }
        }
    }
}

#[test]
fn the_ha_page_shows_every_member_its_role_and_a_dead_one() {
    let mut group = Group::start(3, "");
    let leader = group.leader(Duration::from_secs(30));
    let follower = group.follower_of(leader);
    // Served by a follower: the page asks every member itself.
    let url = format!("{}/web/ha", group.members[follower].api());
    let dom = common::render_until(&url, Duration::from_secs(30), |dom| {
        dom.matches("data-role=\"Follower\"").count() == 2
            && dom.matches("data-role=\"Leader\"").count() == 1
    });
    assert!(
        dom.contains(&format!("Leader: {}", group.members[leader].raft)),
        "{dom}"
    );
    assert!(dom.contains("(this node)"), "{dom}");
    common::render(&url, Some(&common::artifacts_dir().join("ha-page.png")));

    // A killed member shows as unreachable; a new leader is named.
    let dead = (0..3).find(|&i| i != leader && i != follower).unwrap();
    group.members[dead].kill();
    let dom = common::render_until(&url, Duration::from_secs(30), |dom| {
        dom.contains(&format!(
            "data-member=\"{}\" data-role=\"unreachable\"",
            group.members[dead].raft
        ))
    });
    assert!(dom.contains("2 of 3 members answer"), "{dom}");
}

#[test]
fn members_are_added_removed_and_handed_the_lead_without_restarts() {
    let mut group = Group::start(3, "");
    let leader = group.leader(Duration::from_secs(30));
    let (status, body) = get(
        &group.members[leader].api(),
        "/api/disable-global-recoveries",
    );
    assert_eq!(status, 200, "{body}");

    // A fourth node starts, finds the group running, and waits; added through a follower
    // (forwarded to the leader), it becomes a voter and catches up from the log.
    let new = group.start_new_member();
    let new_raft = group.members[new].raft.clone();
    let follower = group.follower_of(leader);
    let (status, body) = get(
        &group.members[follower].api(),
        &format!("/api/raft-add-peer/{new_raft}"),
    );
    assert_eq!(status, 200, "add-peer: {body}");
    let new_api = group.members[new].api();
    wait_until(
        &group,
        Duration::from_secs(20),
        "the new member catches up",
        || json(&get_local(&new_api, "/api/check-global-recoveries").1)["Details"] == "disabled",
    );
    let members = json(&get(&group.members[leader].api(), "/api/raft-status").1)["Members"].clone();
    let voters = members
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["voter"] == true)
        .count();
    assert_eq!(voters, 4, "{members}");

    // The lead is handed to the new member on request.
    let api = group.members[follower].api();
    let (status, body) = get(&api, &format!("/api/raft-yield/{new_raft}"));
    assert_eq!(status, 200, "yield: {body}\n{}", group.logs());
    wait_until(
        &group,
        Duration::from_secs(20),
        "the new member leads",
        || get(&new_api, "/api/leader-check").0 == 200,
    );

    // The old leader is removed; the group goes on with three.
    let old = group.members[leader].raft.clone();
    let (status, body) = get(&new_api, &format!("/api/raft-remove-peer/{old}"));
    assert_eq!(status, 200, "remove-peer: {body}");
    let peers = json(&get(&new_api, "/api/raft-peers").1);
    assert_eq!(peers.as_array().map(Vec::len), Some(3), "{peers}");
    assert!(
        !peers.as_array().unwrap().iter().any(|p| p == old.as_str()),
        "{peers}"
    );
    let (status, body) = get(&api, "/api/enable-global-recoveries");
    assert_eq!(status, 200, "writes go on: {body}");
}

/// orchestrator-client's Raft commands, as it calls them: `raft-leader` (raft-state, then
/// raft-leader), `raft-health`, `raft-leader-hostname` (raft-state, then status's
/// Details.Hostname) and `raft-elect-leader` (raft-yield-hint with a part of the address).
#[test]
fn the_client_s_raft_commands_work_against_a_group() {
    let group = Group::start(3, "");
    let leader = group.leader(Duration::from_secs(30));
    let api = group.members[leader].api();
    assert_eq!(json(&get(&api, "/api/raft-state").1), "Leader");
    let (status, body) = get(&api, "/api/raft-leader");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body), group.members[leader].raft.as_str());
    let (status, body) = get(&api, "/api/raft-health");
    assert_eq!((status, json(&body)), (200, serde_json::json!("healthy")));
    let status = json(&get(&api, "/api/status").1);
    assert!(
        !status["Details"]["Hostname"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "{status}"
    );

    // Elect another member by a hint: its Raft port is unique among the members.
    let other = group.follower_of(leader);
    let port = group.members[other]
        .raft
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let (status, body) = get(&api, &format!("/api/raft-yield-hint/{port}"));
    assert_eq!(status, 200, "{body}");
    let other_api = group.members[other].api();
    wait_until(
        &group,
        Duration::from_secs(20),
        "the hinted member leads",
        || get(&other_api, "/api/leader-check").0 == 200,
    );
    // A hint nobody matches is a 404 saying so.
    let (status, body) = get(&other_api, "/api/raft-yield-hint/no-such-member");
    assert_eq!(status, 404, "{body}");
    // raft-snapshot builds a snapshot on the node asked (not forwarded).
    let (status, body) = get(&api, "/api/raft-snapshot");
    assert_eq!(status, 200, "{body}");
    let snapshot = json(&get_local(&api, "/api/raft-status").1);
    assert!(snapshot["SnapshotIndex"].as_u64().is_some(), "{snapshot}");
}

#[test]
fn under_a_url_prefix_and_behind_a_proxy_links_point_where_the_client_came_in() {
    // The test's "proxy" is on loopback, like the members: trusted, as TrustedProxies says.
    let group = Group::start(
        3,
        r#""URLPrefix": "/arbor/", "TrustedProxies": ["127.0.0.0/8"]"#,
    );
    let leader = group.leader_at(Duration::from_secs(30), "/arbor/api/leader-check");
    let follower = group.follower_of(leader);
    let api = group.members[follower].api();

    // Everything lives under the prefix; the bare root points there.
    assert_eq!(get(&api, "/api/clusters").0, 404);
    let (status, _) = get(&api, "/");
    assert_eq!(status, 307);
    let page = get(&api, "/arbor/web/clusters").1;
    assert!(
        page.contains(r#"<meta name="arbor-prefix" content="/arbor">"#),
        "{page}"
    );
    assert!(page.contains(r#"src="/arbor/ui/app.js""#), "{page}");

    // The page's own requests go under the prefix too (rendered by a real browser).
    common::render_until(
        &format!("{api}/arbor/web/ha"),
        Duration::from_secs(30),
        |dom| dom.matches("data-role=\"Follower\"").count() == 2,
    );

    // A follower forwards prefixed paths to the leader, which answers them.
    let (status, body) = get(&api, "/arbor/api/check-global-recoveries");
    assert_eq!(status, 200, "{body}");

    // The OpenAPI document names the URL the client used: the proxy's, when one forwarded it.
    let proxied = common::raft_group::request_with_headers(
        &api,
        "GET",
        "/arbor/api/openapi.json",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "arbor.example.com"),
        ],
    );
    assert_eq!(
        json(&proxied.1)["servers"][0]["url"],
        "https://arbor.example.com/arbor",
        "{}",
        proxied.1
    );
    let direct = json(&get(&api, "/arbor/api/openapi.json").1);
    let host = api.trim_start_matches("http://");
    assert_eq!(direct["servers"][0]["url"], format!("http://{host}/arbor"));

    // The CLI takes the prefix in its URL.
    let output = std::process::Command::new(common::ARBOR)
        .args(["--api", &format!("{api}/arbor"), "check-global-recoveries"])
        .env_remove("ARBOR_API")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn members_talk_mutual_tls_with_certificates_from_tls_init() {
    let certs = tempfile::tempdir().unwrap();
    let certs_dir = certs.path().display().to_string();
    let (ok, _, stderr) = common::run(&["tls", "init", &certs_dir, "--host", "127.0.0.1"], &[]);
    assert!(ok, "{stderr}");
    let file = |name: &str| certs.path().join(name).display().to_string();
    let extra = format!(
        r#""RaftUseMutualTLS": true, "SSLCertFile": "{}", "SSLPrivateKeyFile": "{}", "SSLCAFile": "{}""#,
        file("127.0.0.1.pem"),
        file("127.0.0.1.key"),
        file("ca.pem")
    );
    let group = Group::start(3, &extra);
    let leader = group.leader(Duration::from_secs(30));
    let follower = group.follower_of(leader);
    let (status, body) = get(
        &group.members[follower].api(),
        "/api/disable-global-recoveries",
    );
    assert_eq!(
        status, 200,
        "a write through a follower crosses the TLS transport: {body}"
    );
    for member in &group.members {
        let api = member.api();
        wait_until(
            &group,
            Duration::from_secs(10),
            "replicated over TLS",
            || json(&get_local(&api, "/api/check-global-recoveries").1)["Details"] == "disabled",
        );
    }
    // The Raft port answers nothing to plain HTTP, which cannot present a certificate.
    let plain = common::raft_group::request(
        &format!("http://{}", group.members[leader].raft),
        "GET",
        "/raft/status",
        false,
    );
    assert_ne!(plain.0, 200, "plain HTTP is refused: {plain:?}");
    // The HA page still gathers every member's view, over TLS.
    let members = json(&get(&group.members[follower].api(), "/api/raft-members").1);
    let reachable = members["Members"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["reachable"] == true).count());
    assert_eq!(reachable, Some(3), "{members}");
}

#[test]
fn the_log_is_compacted_and_late_or_restarted_members_get_the_state_back() {
    let mut group = Group::start(3, r#""RaftSnapshotEveryEntries": 10"#);
    let leader = group.leader(Duration::from_secs(30));
    let api = group.members[leader].api();
    // An intent from before compaction, which must survive it.
    let (status, body) = get(
        &api,
        "/api/begin-maintenance/127.0.0.1/3999/early-owner/kept",
    );
    assert_eq!(status, 200, "{body}");
    for round in 0..30 {
        let path = if round % 2 == 0 {
            "/api/disable-global-recoveries"
        } else {
            "/api/enable-global-recoveries"
        };
        assert_eq!(get(&api, path).0, 200);
    }
    assert_eq!(get(&api, "/api/disable-global-recoveries").0, 200);
    wait_until(
        &group,
        Duration::from_secs(20),
        "the leader purged its log",
        || {
            json(&get(&api, "/api/raft-status").1)["PurgedIndex"]
                .as_u64()
                .is_some_and(|i| i > 0)
        },
    );
    let has_state = |api: &str| {
        json(&get_local(api, "/api/check-global-recoveries").1)["Details"] == "disabled"
            && get_local(api, "/api/maintenance").1.contains("early-owner")
    };

    // A member added now cannot be sent the purged entries: it gets the snapshot.
    let new = group.start_new_member();
    let new_raft = group.members[new].raft.clone();
    let (status, body) = get(&api, &format!("/api/raft-add-peer/{new_raft}"));
    assert_eq!(status, 200, "{body}");
    let new_api = group.members[new].api();
    wait_until(
        &group,
        Duration::from_secs(20),
        "the new member has the state",
        || has_state(&new_api),
    );
    let status = json(&get(&new_api, "/api/raft-status").1);
    assert!(
        status["SnapshotIndex"].as_u64().is_some(),
        "it installed a snapshot: {status}"
    );

    // A restarted member rebuilds its state from its own snapshot and the log after it.
    let follower = group.follower_of(leader);
    group.members[follower].kill();
    group.members[follower].start();
    let follower_api = group.members[follower].api();
    wait_until(
        &group,
        Duration::from_secs(20),
        "the restarted member has the state",
        || has_state(&follower_api),
    );
}

#[test]
fn a_group_of_one_leads_itself_with_an_empty_or_self_only_node_list() {
    // RaftNodes listing only this node.
    let group = Group::start(1, "");
    let leader = group.leader(Duration::from_secs(20));
    let api = group.members[leader].api();
    let (status, body) = get(&api, "/api/disable-global-recoveries");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&get(&api, "/api/raft-state").1), "Leader");

    // RaftNodes: [] — the same, with the bind address as the only member.
    let dir = tempfile::tempdir().unwrap();
    let raft_port = free_port();
    let config = common::test_config(
        dir.path(),
        1,
        &format!(
            r#""RaftEnabled": true, "RaftDataDir": "{}", "RaftBind": "127.0.0.1:{raft_port}", "RaftNodes": []"#,
            dir.path().join("raft").display()
        ),
    );
    let alone = common::Service::start(dir.path(), &config);
    let started = Instant::now();
    while get(&alone.api, "/api/leader-check").0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            alone.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let peers = json(&get(&alone.api, "/api/raft-peers").1);
    assert_eq!(peers, serde_json::json!([format!("127.0.0.1:{raft_port}")]));
}

/// A member that cannot be reached is never added as a voter: the add fails within a bounded
/// time with the reason, and the group keeps its majority (a single node stays able to write).
/// Before, the address became a voter at once and the group was wedged for good.
#[test]
fn adding_an_unreachable_member_fails_cleanly_and_leaves_the_group_as_it_was() {
    let group = Group::start(1, "");
    let leader = group.leader(Duration::from_secs(20));
    let api = group.members[leader].api();
    let nobody = format!("127.0.0.1:{}", free_port());
    let asked = Instant::now();
    let (status, body) = get(&api, &format!("/api/raft-add-peer/{nobody}"));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("was not added"), "{body}");
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "bounded: {:?}",
        asked.elapsed()
    );
    let members = get(&api, "/api/raft-peers").1;
    assert!(!members.contains(&nobody), "{members}");
    let (status, body) = get(&api, "/api/disable-global-recoveries");
    assert_eq!(status, 200, "the group still writes: {body}");
    assert_eq!(get(&api, "/api/leader-check").0, 200);
}

/// A member that is down can be removed: the others still make a majority of the old
/// configuration, so the change commits, and the group goes on with the rest.
#[test]
fn a_member_that_is_down_is_removed() {
    let mut group = Group::start(3, "");
    let leader = group.leader(Duration::from_secs(30));
    let down = (leader + 1) % 3;
    let down_raft = group.members[down].raft.clone();
    group.members[down].kill();
    let api = group.members[leader].api();
    let (status, body) = get(&api, &format!("/api/raft-remove-peer/{down_raft}"));
    assert_eq!(status, 200, "{body}");
    let peers = json(&get(&api, "/api/raft-peers").1);
    assert_eq!(peers.as_array().map(Vec::len), Some(2), "{peers}");
    assert!(!peers.to_string().contains(&down_raft), "{peers}");
    let (status, body) = get(&api, "/api/disable-global-recoveries");
    assert_eq!(status, 200, "the group writes on: {body}");
}

/// Work shared across members (`ShareProbingAcrossNodes`): each instance of a
/// simulated fleet is polled by one member, every member still holds every instance (the
/// readings are relayed), and when a member dies the others take its share over.
#[test]
fn probing_is_shared_and_a_dead_members_share_is_taken_over() {
    use common::fleet::FleetProcess;
    let fleet = FleetProcess::start(10);
    let instances = fleet.ports.len();
    let seeds = fleet.primary_seeds();
    let mut group = Group::start_polling(
        3,
        1,
        &format!(
            r#""DiscoverySeeds": [{}], "ShareProbingAcrossNodes": true"#,
            seeds
        ),
    );
    let leader = group.leader(Duration::from_secs(20));
    let apis: Vec<String> = group.members.iter().map(|m| m.api()).collect();
    wait_until(
        &group,
        Duration::from_secs(30),
        "every member holds every instance, read by itself or relayed",
        || {
            apis.iter()
                .all(|api| metric(api, "arbor_instances_reachable") as usize >= instances)
        },
    );
    let probes = |apis: &[String]| -> Vec<f64> {
        apis.iter()
            .map(|api| metric(api, "arbor_probe_duration_seconds_count"))
            .collect()
    };
    // Settle, then a window of polls.
    std::thread::sleep(Duration::from_secs(3));
    let window = 5.0;
    let before = probes(&apis);
    std::thread::sleep(Duration::from_secs_f64(window));
    let after = probes(&apis);
    let per_member: Vec<f64> = before.iter().zip(&after).map(|(b, a)| a - b).collect();
    let total: f64 = per_member.iter().sum();
    let expected = instances as f64 * window;
    assert!(
        total < 1.5 * expected,
        "{total} probes in {window} s for {instances} instances polled every second: \
         every member polls everything ({per_member:?})"
    );
    assert!(
        per_member.iter().all(|p| *p > 0.1 * expected),
        "each member polls a share: {per_member:?}"
    );

    // A follower dies: the other two take its instances over.
    let dead = group.follower_of(leader);
    group.members[dead].kill();
    let survivors: Vec<String> = (0..3)
        .filter(|&i| i != dead)
        .map(|i| group.members[i].api())
        .collect();
    let started = Instant::now();
    loop {
        let before = probes(&survivors);
        std::thread::sleep(Duration::from_secs(3));
        let after = probes(&survivors);
        let done: f64 = before.iter().zip(&after).map(|(b, a)| a - b).sum();
        if done >= 0.9 * instances as f64 * 3.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the survivors poll {done} in 3 s, not every one of {instances} instances \
             every second:\n{}",
            group.logs()
        );
    }
    drop(fleet);
}

/// Two of three members lost for good: the survivor cannot write (no majority) until the
/// operator forces it down to a one-member group (`arbor raft force-single-member`), after
/// which it serves alone with everything it had, and takes writes.
#[test]
fn a_survivor_of_a_lost_majority_is_forced_into_a_group_of_its_own() {
    let mut group = Group::start(3, "");
    let leader = group.leader(Duration::from_secs(30));
    let (status, body) = get(
        &group.members[leader].api(),
        "/api/disable-global-recoveries",
    );
    assert_eq!(status, 200, "{body}");
    let survivor = (leader + 1) % 3;
    // Wait until the survivor has the write, then lose the other two for good.
    wait_until(
        &group,
        Duration::from_secs(20),
        "the survivor has the write",
        || {
            get_local(
                &group.members[survivor].api(),
                "/api/check-global-recoveries",
            )
            .1
            .contains("disabled")
        },
    );
    for index in (0..3).filter(|i| *i != survivor) {
        group.members[index].kill();
    }
    let (status, _) = get(
        &group.members[survivor].api(),
        "/api/enable-global-recoveries",
    );
    assert!(status >= 500, "no majority, no write: {status}");

    // Refused while the node runs, and without --yes.
    let config = group.members[survivor].dir.join("arbor.conf.json");
    let config = config.to_str().unwrap();
    let env = &[("ARBOR_E2E_TOPOLOGY_PASSWORD", arbor_testkit::ADMIN_PASSWORD)];
    let (ok, _, stderr) = common::run(
        &["--config", config, "raft", "force-single-member", "--yes"],
        env,
    );
    assert!(!ok && stderr.contains("is in use"), "{stderr}");
    group.members[survivor].kill();
    let (ok, _, stderr) = common::run(&["--config", config, "raft", "force-single-member"], env);
    assert!(
        !ok && stderr.contains("WARNING") && stderr.contains("--yes"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = common::run(
        &["--config", config, "raft", "force-single-member", "--yes"],
        env,
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("is now the only member"), "{stdout}");

    group.members[survivor].start();
    let api = group.members[survivor].api();
    wait_until(
        &group,
        Duration::from_secs(30),
        "the survivor leads alone",
        || get_local(&api, "/api/leader-check").0 == 200,
    );
    assert!(
        get_local(&api, "/api/check-global-recoveries")
            .1
            .contains("disabled"),
        "what it had is kept"
    );
    let (status, body) = get(&api, "/api/enable-global-recoveries");
    assert_eq!(status, 200, "writes again: {body}");
    let peers = json(&get_local(&api, "/api/raft-peers").1);
    assert_eq!(peers.as_array().map(Vec::len), Some(1), "{peers}");
}
