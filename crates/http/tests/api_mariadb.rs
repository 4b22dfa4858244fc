//! The API against a real MariaDB topology: every compatible route, its status and its JSON
//! shape checked field by field against orchestrator's documented shapes.

mod common;

use std::time::Duration;

use arbor_http::{basic_header_value, Access};
use arbor_store::Intents;
use arbor_testkit::{wait_for, MariaDbSandbox};
use common::{fill, http, start_node};
use serde_json::Value;

/// orchestrator's `Instance` fields and the JSON type each must have.
const INSTANCE_FIELDS: &[(&str, &str)] = &[
    ("Key", "object"),
    ("InstanceAlias", "string"),
    ("Uptime", "number"),
    ("ServerID", "number"),
    ("ServerUUID", "string"),
    ("Version", "string"),
    ("VersionComment", "string"),
    ("FlavorName", "string"),
    ("ReadOnly", "bool"),
    ("Binlog_format", "string"),
    ("BinlogRowImage", "string"),
    ("LogBinEnabled", "bool"),
    ("LogSlaveUpdatesEnabled", "bool"),
    ("LogReplicationUpdatesEnabled", "bool"),
    ("SelfBinlogCoordinates", "coordinates"),
    ("MasterKey", "object"),
    ("MasterUUID", "string"),
    ("IsDetachedMaster", "bool"),
    ("Slave_SQL_Running", "bool"),
    ("ReplicationSQLThreadRuning", "bool"),
    ("Slave_IO_Running", "bool"),
    ("ReplicationIOThreadRuning", "bool"),
    ("ReplicationSQLThreadState", "number"),
    ("ReplicationIOThreadState", "number"),
    ("HasReplicationFilters", "bool"),
    ("GTIDMode", "string"),
    ("SupportsOracleGTID", "bool"),
    ("UsingOracleGTID", "bool"),
    ("UsingMariaDBGTID", "bool"),
    ("UsingPseudoGTID", "bool"),
    ("ReadBinlogCoordinates", "coordinates"),
    ("ExecBinlogCoordinates", "coordinates"),
    ("RelaylogCoordinates", "coordinates"),
    ("LastSQLError", "string"),
    ("LastIOError", "string"),
    ("SecondsBehindMaster", "nullint"),
    ("SQLDelay", "number"),
    ("ExecutedGtidSet", "string"),
    ("GtidPurged", "string"),
    ("GtidErrant", "string"),
    ("ReplicationLagSeconds", "nullint"),
    ("SlaveLagSeconds", "nullint"),
    ("Replicas", "keys"),
    ("SlaveHosts", "keys"),
    ("ClusterName", "string"),
    ("SuggestedClusterAlias", "string"),
    ("DataCenter", "string"),
    ("Region", "string"),
    ("PhysicalEnvironment", "string"),
    ("ReplicationDepth", "number"),
    ("IsCoMaster", "bool"),
    ("LastSeenTimestamp", "string"),
    ("IsLastCheckValid", "bool"),
    ("IsUpToDate", "bool"),
    ("IsRecentlyChecked", "bool"),
    ("SecondsSinceLastSeen", "nullint"),
    ("IsCandidate", "bool"),
    ("PromotionRule", "string"),
    ("IsDowntimed", "bool"),
    ("DowntimeReason", "string"),
    ("DowntimeOwner", "string"),
    ("DowntimeEndTimestamp", "string"),
    ("UnresolvedHostname", "string"),
    ("AllowTLS", "bool"),
    ("Problems", "strings"),
    ("LastDiscoveryLatency", "number"),
    ("AncestryUUID", "string"),
    ("IsDetached", "bool"),
    ("HasReplicationCredentials", "bool"),
    ("ReplicationCredentialsAvailable", "bool"),
    ("SemiSyncAvailable", "bool"),
    ("SemiSyncPriority", "number"),
    ("SemiSyncMasterEnabled", "bool"),
    ("SemiSyncReplicaEnabled", "bool"),
    ("SemiSyncMasterTimeout", "number"),
    ("SemiSyncMasterWaitForReplicaCount", "number"),
    ("SemiSyncMasterStatus", "bool"),
    ("SemiSyncMasterClients", "number"),
    ("SemiSyncReplicaStatus", "bool"),
    ("CountMySQLSnapshots", "number"),
    ("ElapsedDowntime", "number"),
    ("ReplicationGroupName", "string"),
    ("ReplicationGroupIsSinglePrimary", "bool"),
    ("ReplicationGroupMemberState", "string"),
    ("ReplicationGroupMemberRole", "string"),
    ("ReplicationGroupMembers", "keys"),
    ("ReplicationGroupPrimaryInstanceKey", "emptykey"),
];

const CLUSTER_INFO_FIELDS: &[(&str, &str)] = &[
    ("ClusterName", "string"),
    ("ClusterAlias", "string"),
    ("ClusterDomain", "string"),
    ("CountInstances", "number"),
    ("HeuristicLag", "number"),
    ("HasAutomatedMasterRecovery", "bool"),
    ("HasAutomatedIntermediateMasterRecovery", "bool"),
];

fn check_type(context: &str, name: &str, value: &Value, kind: &str) {
    let is_key = |v: &Value| v["Hostname"].is_string() && v["Port"].is_u64();
    let ok = match kind {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "bool" => value.is_boolean(),
        "object" => is_key(value),
        "emptykey" => value["Hostname"] == "" && value["Port"] == 0,
        "coordinates" => {
            value["LogFile"].is_string() && value["LogPos"].is_number() && value["Type"].is_number()
        }
        "nullint" => value["Int64"].is_number() && value["Valid"].is_boolean(),
        "keys" => value.as_array().is_some_and(|a| a.iter().all(is_key)),
        "strings" => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)),
        other => panic!("unknown kind {other}"),
    };
    assert!(ok, "{context}: field {name} should be {kind}, got {value}");
}

fn check_shape(context: &str, value: &Value, fields: &[(&str, &str)]) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{context}: expected an object, got {value}"));
    for (name, kind) in fields {
        let field = object
            .get(*name)
            .unwrap_or_else(|| panic!("{context}: field {name} missing"));
        check_type(context, name, field, kind);
    }
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

#[tokio::test]
async fn every_compatible_route_answers_in_orchestrators_shapes() {
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0)]).unwrap();
    let node = start_node().await;
    let client = http();
    let url = |path: &str| format!("{}/api/{path}", node.base);
    let (p, r1, r2) = (sandbox.key(0), sandbox.key(1), sandbox.key(2));
    let path_of = |key: &str| key.replace(':', "/");

    // discover: envelope with the Instance in Details.
    let (status, body) = get(&client, &url(&format!("discover/{}", path_of(&r1)))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Code"], "OK");
    check_shape("discover", &body["Details"], INSTANCE_FIELDS);
    assert_eq!(body["Details"]["Key"]["Port"], sandbox.port(1));

    node.wait_until_serving(3).await;

    // instance: the Instance itself, field by field, with values that match the servers.
    let (status, primary) = get(&client, &url(&format!("instance/{}", path_of(&p)))).await;
    assert_eq!(status, 200);
    check_shape("instance P", &primary, INSTANCE_FIELDS);
    assert_eq!(primary["MasterKey"]["Hostname"], "");
    assert_eq!(primary["ReadOnly"], false);
    assert_eq!(primary["ServerID"], 1);
    assert_eq!(primary["FlavorName"], "MariaDB");
    assert_eq!(primary["ClusterName"], p.as_str());
    assert_eq!(primary["ReplicationSQLThreadState"], -1);
    assert_eq!(primary["Replicas"].as_array().unwrap().len(), 2);
    let (_, replica) = get(&client, &url(&format!("instance/{}", path_of(&r2)))).await;
    check_shape("instance R2", &replica, INSTANCE_FIELDS);
    assert_eq!(replica["MasterKey"]["Port"], sandbox.port(0));
    assert_eq!(replica["UsingMariaDBGTID"], true);
    assert_eq!(replica["ReplicationIOThreadRuning"], true);
    assert_eq!(replica["Slave_SQL_Running"], true);
    assert_eq!(replica["ReplicationDepth"], 1);
    assert_eq!(replica["IsLastCheckValid"], true);

    // Lists of instances.
    for (path, expected) in [
        ("all-instances".to_string(), 3),
        (format!("cluster/{p}"), 3),
        (format!("cluster/{r2}"), 3),
        (format!("instance-replicas/{}", path_of(&p)), 2),
        ("masters".to_string(), 1),
        (format!("search?s={}", sandbox.port(2)), 1),
    ] {
        let (status, list) = get(&client, &url(&path)).await;
        assert_eq!(status, 200, "{path}: {list}");
        let list = list
            .as_array()
            .unwrap_or_else(|| panic!("{path}: not a list"));
        assert_eq!(list.len(), expected, "{path}");
        for item in list {
            check_shape(&path, item, INSTANCE_FIELDS);
        }
    }

    // Clusters.
    let (_, clusters) = get(&client, &url("clusters")).await;
    assert_eq!(clusters, serde_json::json!([p]));
    let (_, infos) = get(&client, &url("clusters-info")).await;
    check_shape("clusters-info", &infos[0], CLUSTER_INFO_FIELDS);
    assert_eq!(infos[0]["CountInstances"], 3);
    let (_, info) = get(&client, &url(&format!("cluster-info/{r1}"))).await;
    check_shape("cluster-info", &info, CLUSTER_INFO_FIELDS);
    assert_eq!(info["ClusterName"], p.as_str());
    let (_, master) = get(&client, &url(&format!("master/{r1}"))).await;
    assert_eq!(master["Key"]["Port"], sandbox.port(0));

    // Topology: the tree in Details, by cluster name and by member key.
    for path in [
        format!("topology/{p}"),
        format!("topology/{}", path_of(&r2)),
    ] {
        let (status, body) = get(&client, &url(&path)).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body["Code"], "OK");
        let tree = body["Details"].as_str().unwrap();
        for key in [&p, &r1, &r2] {
            assert!(
                tree.contains(key.as_str()),
                "{path}: {key} missing from\n{tree}"
            );
        }
    }

    // Leader checks and health.
    for path in ["leader-check", "routed-leader-check"] {
        let (status, body) = get(&client, &url(path)).await;
        assert_eq!((status, body), (200, Value::String("OK".into())), "{path}");
    }
    for path in ["health", "status"] {
        let (status, body) = get(&client, &url(path)).await;
        assert_eq!(status, 200);
        assert_eq!(body["Code"], "OK");
        assert_eq!(body["Details"]["Healthy"], true);
        // orchestrator's fields: the machine's host name, the node's token, who acts.
        let details = &body["Details"];
        let os_hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(details["Hostname"], os_hostname.trim(), "{details}");
        assert_eq!(details["Token"], node.name(), "{details}");
        assert_eq!(details["ActiveNode"]["Token"], node.name(), "{details}");
        assert_eq!(
            details["ActiveNode"]["Hostname"],
            os_hostname.trim(),
            "{details}"
        );
        assert!(details["Error"].is_null(), "{details}");
    }

    // Problems: a stopped replica shows with not_replicating.
    sandbox.sql(2, "STOP SLAVE").unwrap();
    let problems = wait_for(Duration::from_secs(10), || {
        let client = client.clone();
        let url = url("problems");
        async move {
            let (_, body) = get(&client, &url).await;
            body.as_array()
                .filter(|list| {
                    list.iter()
                        .any(|i| i["Problems"].to_string().contains("not_replicating"))
                })
                .cloned()
        }
    })
    .await
    .expect("stopped replica listed in problems");
    assert_eq!(problems[0]["Key"]["Port"], sandbox.port(2));
    let (_, cluster_problems) = get(&client, &url(&format!("problems/{p}"))).await;
    assert_eq!(cluster_problems.as_array().unwrap().len(), 1);

    // Replication analysis: R2 stopped is an instance problem, not a failure of P.
    let (status, body) = get(&client, &url("replication-analysis")).await;
    assert_eq!(status, 200);
    assert_eq!(body["Code"], "OK");
    assert!(body["Details"].is_array(), "{body}");
    let (status, _) = get(&client, &url(&format!("replication-analysis/{p}"))).await;
    assert_eq!(status, 200);

    // Metrics.
    let metrics = client
        .get(format!("{}/metrics", node.base))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    for needle in [
        "arbor_instances_known 3",
        "arbor_instances_reachable 3",
        "arbor_probe_duration_seconds_bucket",
        "arbor_discovery_queue_depth",
        "arbor_poll_overruns_total",
        "arbor_analyses{code=\"DeadMaster\"} 0",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from metrics:\n{text}"
        );
    }

    // async-discover and forget, then forget-cluster.
    let (status, body) = get(&client, &url(&format!("async-discover/{}", path_of(&r2)))).await;
    assert_eq!((status, &body["Code"]), (200, &Value::from("OK")));
    assert!(body["Details"].is_null());
    let (status, body) = get(&client, &url(&format!("forget/{}", path_of(&r2)))).await;
    assert_eq!(status, 200);
    assert_eq!(body["Details"]["Port"], sandbox.port(2));
    let (status, body) = get(&client, &url(&format!("forget-cluster/{p}"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["Details"].as_array().unwrap().is_empty());
    let (status, _) = get(&client, &url(&format!("instance/{}", path_of(&p)))).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn readonly_user_reads_everything_and_changes_nothing() {
    let sandbox = MariaDbSandbox::start(&[None]).unwrap();
    let node = common::start_node_with(common::with(
        common::config(),
        serde_json::json!({
            "AuthenticationMethod": "multi",
            "HTTPAuthUser": "admin",
            "HTTPAuthPassword": "admin-pass",
        }),
    ))
    .await;
    let client = http();
    let admin = basic_header_value("admin", "admin-pass");
    let readonly = basic_header_value("readonly", "whatever");
    let (host, port) = ("127.0.0.1", sandbox.port(0));
    let key = sandbox.key(0);

    // A recovery in the audit, so that its steps can be read too.
    node.store
        .start_recovery(
            arbor_store::RecoveryStart {
                uid: "test-uid".into(),
                cluster: key.clone(),
                failed: key.parse().unwrap(),
                analysis: "DeadMaster".into(),
                kind: "MasterRecovery".into(),
                manual: true,
                processing_node: "test".into(),
                started_at: arbor_topology::Timestamp::now(),
                analysis_entry: String::new(),
            },
            Duration::from_secs(1),
            true,
        )
        .await
        .unwrap();
    let discovered = client
        .post(format!("{}/api/discover/{host}/{port}", node.base))
        .header("authorization", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(discovered.status(), 200);
    let tagged = client
        .post(format!(
            "{}/api/tag/{host}/{port}?tag=role=reporting",
            node.base
        ))
        .header("authorization", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(tagged.status(), 200);

    for spec in &node.specs {
        let url = format!("{}{}", node.base, fill(spec.path, host, port, &key));
        // Required query parameters, from the route's own description.
        let query: Vec<String> = spec
            .query
            .iter()
            .filter(|(_, required, _)| *required)
            .map(|(name, _, _)| match *name {
                "s" => "s=127".to_string(),
                other => format!("{other}=role"),
            })
            .collect();
        let url = if query.is_empty() {
            url
        } else {
            format!("{url}?{}", query.join("&"))
        };
        match spec.access {
            Access::Read => {
                let response = client
                    .get(&url)
                    .header("authorization", &readonly)
                    .send()
                    .await
                    .unwrap();
                // Without Raft the Raft routes answer 404 (and say so); readable all the same.
                let expected = if spec.path.starts_with("/api/raft-") {
                    404
                } else if spec.path.starts_with("/api/restart-replica-statements/") {
                    // The one server here is a primary: readable, and refused with why.
                    422
                } else if spec.path.starts_with("/api/check/replica/") {
                    // ... and not a replica: a load balancer sends it no reads.
                    503
                } else {
                    200
                };
                assert_eq!(response.status(), expected, "readonly GET {}", spec.path);
                let anonymous = client.get(&url).send().await.unwrap();
                assert_eq!(anonymous.status(), 401, "anonymous GET {}", spec.path);
            }
            Access::Write => {
                for method in [reqwest::Method::GET, reqwest::Method::POST] {
                    let response = client
                        .request(method.clone(), &url)
                        .header("authorization", &readonly)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 403, "readonly {method} {}", spec.path);
                    let body: Value = response.json().await.unwrap();
                    assert_eq!(body["Code"], "ERROR");
                    let wrong = client
                        .request(method.clone(), &url)
                        .header("authorization", basic_header_value("admin", "guess"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(wrong.status(), 401, "wrong password {method} {}", spec.path);
                    assert!(wrong.headers().contains_key("www-authenticate"));
                }
            }
        }
    }
    assert!(
        node.specs
            .iter()
            .filter(|s| s.access == Access::Write)
            .count()
            >= 4,
        "the mutating routes were all tried"
    );
    // None of the refused changes happened.
    let still_known = node.store.instance(&key.parse().unwrap()).await.unwrap();
    assert!(still_known.is_some(), "a refused forget must not forget");
    // The UI is readable by readonly too.
    let page = client
        .get(format!("{}/web/clusters", node.base))
        .header("authorization", &readonly)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}

/// orchestrator's other URL forms, on real servers: values in the path where arbor takes a
/// query, clusters named by alias or instance, maintenance by id, one instance's analysis.
#[tokio::test]
async fn orchestrators_other_url_forms_work() {
    let sandbox = MariaDbSandbox::start(&[None, Some(0)]).unwrap();
    let served = common::Served::watch(sandbox, start_node().await, &[0]).await;
    let (p, r) = (served.path(0), served.path(1));
    let primary = served.key(0);

    served.ok(&format!("tag/{r}/role/reporting")).await;
    assert_eq!(
        served.read(&format!("tag-value/{r}?tag=role")).await,
        "reporting"
    );
    assert_eq!(
        served.read(&format!("tag-value/{r}/role")).await,
        "reporting"
    );
    let tagged = served.read("tagged?tag=role=reporting").await;
    assert_eq!(tagged.as_array().map(Vec::len), Some(1), "{tagged}");
    served.ok(&format!("untag/{r}/role")).await;
    let tagged = served.read("tagged?tag=role").await;
    assert_eq!(tagged.as_array().map(Vec::len), Some(0), "{tagged}");

    let by_instance = served.read(&format!("cluster/instance/{r}")).await;
    assert_eq!(
        by_instance.as_array().map(Vec::len),
        Some(2),
        "{by_instance}"
    );
    served
        .ok(&format!("set-cluster-alias/{primary}?alias=orders"))
        .await;
    let by_alias = served.read("cluster/alias/orders").await;
    assert_eq!(by_alias, by_instance);
    let info = served.read("cluster-info/alias/orders").await;
    assert_eq!(info["ClusterAlias"], "orders", "{info}");
    let found = served.read("search/127.0.0.1").await;
    assert_eq!(found.as_array().map(Vec::len), Some(2), "{found}");

    assert_eq!(
        served.read(&format!("in-maintenance/{p}")).await["Message"],
        "false"
    );
    served
        .ok(&format!("begin-maintenance/{p}/ops/upgrade"))
        .await;
    let state = served.read(&format!("in-maintenance/{p}")).await;
    assert_eq!(state["Message"], "true", "{state}");
    assert_eq!(state["Details"], primary.as_str());
    let locks = served.read("maintenance").await;
    let id = locks[0]["MaintenanceId"].as_i64().expect("a lock id");
    let ended = served.ok(&format!("end-maintenance/{id}")).await;
    assert_eq!(ended["Details"], id);
    assert_eq!(
        served.read(&format!("in-maintenance/{p}")).await["Message"],
        "false"
    );
    let (status, _) = served.call(&format!("end-maintenance/{id}")).await;
    assert_eq!(status, 404, "no such lock any more");

    let one = served
        .read(&format!("replication-analysis/instance/{r}"))
        .await;
    assert_eq!(one["Code"], "OK", "{one}");
    let entries = one["Details"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .all(|e| e["AnalyzedInstanceKey"]["Port"] == served.sandbox.port(1)),
        "{one}"
    );
}
