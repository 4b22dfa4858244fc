//! The `arbor` binary end to end: `arbor serve` against a real MariaDB topology, driven by the
//! client subcommands exactly as an operator would type them.

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arbor_testkit::MariaDbSandbox;
use common::{free_port, test_config, Service, ARBOR};

/// The line of `key` in a tree, and its indentation depth (2 spaces per level below the root).
fn line_of<'a>(tree: &'a str, key: &str) -> Option<(usize, &'a str)> {
    tree.lines().find_map(|line| {
        let trimmed = line.trim_start();
        let body = trimmed.strip_prefix("+ ").unwrap_or(trimmed);
        if !body.starts_with(&format!("{key} ")) {
            return None;
        }
        let indent = line.len() - trimmed.len();
        let depth = if trimmed.starts_with("+ ") {
            indent / 2 + 1
        } else {
            0
        };
        Some((depth, line))
    })
}

#[test]
fn discover_one_replica_then_watch_the_topology_change() {
    // P with replicas R1 and R2; R3 replicates from R1.
    let mut sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0), Some(1)]).unwrap();
    let [p, r1, r2, r3] = [0, 1, 2, 3].map(|i| sandbox.key(i));
    let dir = tempfile::tempdir().unwrap();
    let poll = Duration::from_secs(2);
    let config = test_config(
        dir.path(),
        poll.as_secs(),
        r#""DetectClusterAliasQuery": "SELECT 'orders'", "SomeKeyFromTheFuture": true"#,
    );
    let service = Service::start(dir.path(), &config);
    assert!(
        service.stderr().contains("SomeKeyFromTheFuture"),
        "unknown key warned about by name: {}",
        service.stderr()
    );

    // Discover R3 only; the rest must be crawled within two poll intervals.
    let discovered = service.stdout_of(&["discover", &r3]);
    assert_eq!(discovered.trim(), r3);
    let tree = service.wait_for_tree(&r3, poll * 2, |tree| tree.lines().count() == 4);
    let depth = |key: &str| line_of(&tree, key).map(|(depth, _)| depth);
    assert_eq!(depth(&p), Some(0), "P is the root:\n{tree}");
    assert_eq!(depth(&r1), Some(1), "R1 under P:\n{tree}");
    assert_eq!(depth(&r2), Some(1), "R2 under P:\n{tree}");
    assert_eq!(depth(&r3), Some(2), "R3 under R1:\n{tree}");
    let order: Vec<usize> = [&p, &r1, &r3]
        .iter()
        .map(|key| tree.find(key.as_str()).unwrap())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "R3 drawn right after R1:\n{tree}"
    );
    for key in [&p, &r1, &r2, &r3] {
        let (_, line) = line_of(&tree, key).unwrap();
        assert!(line.contains(",ok,") && line.contains("MariaDB"), "{line}");
    }
    assert!(line_of(&tree, &p).unwrap().1.contains(",rw,"));
    assert!(line_of(&tree, &r1).unwrap().1.contains(",ro,"));

    // The cluster is named after the primary, every member resolves to it, and so does the
    // alias that DetectClusterAliasQuery returned on the primary.
    assert_eq!(service.stdout_of(&["clusters"]).trim(), p);
    assert_eq!(service.stdout_of(&["topology", "orders"]), tree);
    let clusters: serde_json::Value =
        serde_json::from_str(&service.stdout_of(&["--json", "clusters"])).unwrap();
    assert_eq!(clusters[0]["ClusterAlias"], "orders");
    assert_eq!(clusters[0]["CountInstances"], 4);
    let instance_json: serde_json::Value =
        serde_json::from_str(&service.stdout_of(&["--json", "instance", &r3])).unwrap();
    assert_eq!(instance_json["ClusterName"], p.as_str());
    assert_eq!(instance_json["MasterKey"]["Port"], sandbox.port(1));
    assert_eq!(instance_json["ReplicationDepth"], 2);

    // Stopping replication on R2 shows within two poll intervals.
    sandbox.sql(2, "STOP SLAVE").unwrap();
    let tree = service.wait_for_tree(&p, poll * 2 + Duration::from_secs(1), |tree| {
        line_of(tree, &r2).is_some_and(|(_, line)| line.contains("replication stopped"))
    });
    assert!(line_of(&tree, &r1).unwrap().1.contains(",ok,"), "{tree}");

    // Killing R1: R1 unreachable, R3 broken, both still in their places.
    sandbox.kill(1).unwrap();
    let tree = service.wait_for_tree(&p, poll * 3, |tree| {
        line_of(tree, &r1).is_some_and(|(_, line)| line.contains("unreachable"))
            && line_of(tree, &r3).is_some_and(|(_, line)| line.contains("broken"))
    });
    assert_eq!(
        line_of(&tree, &r3).map(|(d, _)| d),
        Some(2),
        "R3 still under R1:\n{tree}"
    );
    // Analysis: R1 is a dead intermediate primary (R3 confirms it cannot connect), and P is
    // alive with no replica replicating (R2 stopped, R1 dead): neither is a dead primary.
    let analysis = service.stdout_of(&["replication-analysis"]);
    assert!(
        analysis.contains(&format!(
            "{r1} (cluster {p}): DeadIntermediateMasterWithSingleReplicaFailingToConnect"
        )),
        "{analysis}"
    );
    assert!(
        analysis.contains(&format!(
            "{p} (cluster {p}): AllMasterReplicasNotReplicatingOrDead"
        )),
        "{analysis}"
    );
    assert!(!analysis.contains("DeadMaster"), "{analysis}");
    let analyses: serde_json::Value =
        serde_json::from_str(&service.stdout_of(&["--json", "replication-analysis"])).unwrap();
    let r1_analysis = analyses
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["AnalyzedInstanceKey"]["Port"] == sandbox.port(1))
        .expect("R1 analysed");
    assert_eq!(
        r1_analysis["AnalyzedInstanceMasterKey"]["Port"],
        sandbox.port(0)
    );
    assert_eq!(r1_analysis["ClusterDetails"]["ClusterName"], p.as_str());
    assert_eq!(r1_analysis["IsMaster"], false);
    assert_eq!(r1_analysis["LastCheckValid"], false);
    assert_eq!(r1_analysis["CountReplicas"], 1);
    assert_eq!(r1_analysis["CountValidReplicas"], 1);
    assert_eq!(r1_analysis["CountValidReplicatingReplicas"], 0);
    assert_eq!(r1_analysis["CountReplicasFailingToConnectToMaster"], 1);
    assert_eq!(r1_analysis["IsActionableRecovery"], true);
    // orchestrator writes an empty list as null.
    assert!(
        r1_analysis["StructureAnalysis"].is_array() || r1_analysis["StructureAnalysis"].is_null()
    );
    assert_eq!(r1_analysis["Replicas"][0]["Port"], sandbox.port(3));
    let r1_json: serde_json::Value =
        serde_json::from_str(&service.stdout_of(&["--json", "instance", &r1])).unwrap();
    assert_eq!(r1_json["IsLastCheckValid"], false);
    assert!(!r1_json["ArborLastCheckError"].as_str().unwrap().is_empty());

    // Forget takes an instance out; unknown instances are a clear error.
    assert_eq!(service.stdout_of(&["forget", &r2]).trim(), r2);
    let missing = service.cli(&["instance", &r2]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("unknown instance"));
}

#[test]
fn a_wrongly_typed_key_stops_serve_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.json");
    fs::write(
        &config,
        r#"{"InstancePollSeconds": "five", "RaftEnabled": true}"#,
    )
    .unwrap();
    let output = Command::new(ARBOR)
        .args(["--config", config.to_str().unwrap(), "serve"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("InstancePollSeconds"), "{stderr}");
    assert!(stderr.contains("expected a whole number"), "{stderr}");
    assert!(
        stderr.contains("RaftDataDir"),
        "RaftEnabled without RaftDataDir: {stderr}"
    );
}

#[test]
fn check_config_reports_unknown_keys_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("orchestrator.conf.json");
    fs::write(
        &config,
        r#"{"InstancePollSeconds": 1, "StatusSimpleHealth": true}"#,
    )
    .unwrap();
    let output = Command::new(ARBOR)
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("StatusSimpleHealth"));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("configuration ok"));

    // A key arbor accepts but does not act on is named, and the verdict is not "ok".
    fs::write(
        &config,
        r#"{"InstancePollSeconds": 1, "GraphiteAddr": "graphite:2003"}"#,
    )
    .unwrap();
    let output = Command::new(ARBOR)
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("GraphiteAddr is accepted, not implemented"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("ok"), "{stdout}");
    assert!(
        stdout.contains("1 key(s) it sets are accepted and not implemented"),
        "{stdout}"
    );
}

#[test]
fn client_commands_explain_an_unreachable_service() {
    let port = free_port();
    let output = Command::new(ARBOR)
        .args(["--api", &format!("http://127.0.0.1:{port}"), "clusters"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot reach arbor"), "{stderr}");
}

#[test]
fn discovery_ignore_filters_from_the_config_keep_a_server_out() {
    // P with replicas R1 and R2; the config ignores R2 by its port.
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0)]).unwrap();
    let [p, r1, r2] = [0, 1, 2].map(|i| sandbox.key(i));
    let dir = tempfile::tempdir().unwrap();
    let pattern = format!(":{}$", sandbox.port(2));
    let config = test_config(
        dir.path(),
        1,
        &format!(r#""DiscoveryIgnoreHostnameFilters": ["{pattern}"]"#),
    );
    let service = Service::start(dir.path(), &config);

    service.stdout_of(&["discover", &p]);
    let tree = service.wait_for_tree(&p, Duration::from_secs(10), |tree| {
        tree.contains(r1.as_str())
    });
    // P listed R2 in the same probe that revealed R1: it was skipped, not merely late.
    assert!(!tree.contains(r2.as_str()), "R2 ignored:\n{tree}");

    let refused = service.cli(&["discover", &r2]);
    assert!(
        !refused.status.success(),
        "discovering an ignored server fails"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("DiscoveryIgnoreHostnameFilters") && stderr.contains(&pattern),
        "the error names the key and the pattern: {stderr}"
    );
    let tree = service.stdout_of(&["topology", &p]);
    assert!(!tree.contains(r2.as_str()), "still not there:\n{tree}");
}

#[test]
fn simfleet_runs_a_topology_file_driven_by_commands() {
    use std::io::{BufRead, BufReader, Read, Write};

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    fs::write(
        &bad,
        r#"{"clusters": [{"instances": [{}, {"source": 7}]}]}"#,
    )
    .unwrap();
    let refused = Command::new(ARBOR)
        .args(["simfleet", "--topology", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("cluster 0, instance 1: source 7"),
        "{stderr}"
    );

    let path = dir.path().join("fleet.json");
    fs::write(
        &path,
        r#"{"clusters": [{"flavor": "mysql-8.4", "instances": [{}, {"source": 0}]}]}"#,
    )
    .unwrap();
    let mut child = Command::new(ARBOR)
        .args(["simfleet", "--topology", path.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut listing = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == "ready" {
            break;
        }
        listing.push(line);
    }
    assert_eq!(listing.len(), 2, "{listing:?}");
    let fields: Vec<Vec<String>> = listing
        .iter()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(
        (fields[0][2].as_str(), fields[0][3].as_str()),
        ("-", "mysql-8.4")
    );
    assert_eq!(
        (fields[1][2].as_str(), fields[1][3].as_str()),
        ("0", "mysql-8.4")
    );
    let primary = format!("127.0.0.1:{}", fields[0][1]);

    // A live instance greets with its version; a killed one closes at once.
    let greeting = |address: &str| {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buffer = [0u8; 128];
        let n = stream.read(&mut buffer).unwrap_or(0);
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    assert!(greeting(&primary).contains("8.4.3"));
    writeln!(stdin, "kill {}", fields[0][1]).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "ok");
    assert_eq!(greeting(&primary), "", "a killed instance answers nothing");
    writeln!(stdin, "explode {}", fields[0][1]).unwrap();
    assert!(lines
        .next()
        .unwrap()
        .unwrap()
        .starts_with("error: unknown command explode"));

    writeln!(stdin, "quit").unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "quit ends the fleet"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `reload-configuration` re-reads the file the service started with: nothing changed, then
/// the keys that changed (applied at restart), then a broken file refused with its key named.
#[test]
fn reload_configuration_reads_the_file_again_and_names_what_changed() {
    use common::raft_group::{get, json};
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), 1, "");
    let service = Service::start(dir.path(), &config);
    let (status, body) = get(&service.api, "/api/reload-configuration");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["Details"]["ChangedKeys"], serde_json::json!([]));

    let path = dir.path().join("arbor.conf.json");
    let changed = config.replace("\"InstancePollSeconds\": 1", "\"InstancePollSeconds\": 2");
    let changed = changed.replacen('{', "{\"GraphiteAddr\": \"graphite:2003\",", 1);
    fs::write(&path, &changed).unwrap();
    let (status, body) = get(&service.api, "/api/reload-configuration");
    assert_eq!(status, 200, "{body}");
    let details = &json(&body)["Details"];
    assert_eq!(
        details["ChangedKeys"],
        serde_json::json!(["GraphiteAddr", "InstancePollSeconds"])
    );
    assert!(
        details["Warnings"]
            .to_string()
            .contains("GraphiteAddr is accepted"),
        "{details}"
    );
    assert!(json(&body)["Message"].as_str().unwrap().contains("restart"));

    fs::write(
        &path,
        changed.replace(
            "\"InstancePollSeconds\": 2",
            "\"InstancePollSeconds\": \"often\"",
        ),
    )
    .unwrap();
    let (status, body) = get(&service.api, "/api/reload-configuration");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("InstancePollSeconds"), "{body}");
}

#[test]
fn version_names_the_commit() {
    let output = Command::new(ARBOR).arg("--version").output().unwrap();
    assert!(output.status.success());
    let version = String::from_utf8_lossy(&output.stdout);
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    assert_eq!(
        version.trim(),
        format!("arbor {} (commit {head})", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_and_man_page_are_generated() {
    for (shell, marker) in [
        ("bash", "_arbor()"),
        ("zsh", "#compdef arbor"),
        ("fish", "complete -c arbor"),
    ] {
        let output = Command::new(ARBOR)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        // The subcommands are completed.
        assert!(script.contains("graceful-master-takeover"), "{shell}");
    }
    let output = Command::new(ARBOR).arg("man").output().unwrap();
    assert!(output.status.success());
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(page.contains(".TH arbor 1"), "{page}");
    assert!(page.contains("check\\-config"), "{page}");

    // With --dir, a page per command beside arbor.1, as `man arbor-relocate` finds them.
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(ARBOR)
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let relocate = std::fs::read_to_string(dir.path().join("arbor-relocate.1")).unwrap();
    assert!(relocate.contains(".TH arbor-relocate 1"), "{relocate}");
    assert!(relocate.contains("BELOW"), "{relocate}");
    let pages = std::fs::read_dir(dir.path()).unwrap().count();
    let commands = arbor_testkit::ORCHESTRATOR_CLIENT_COMMANDS.len();
    assert!(
        pages > commands,
        "{pages} man pages for more than {commands} commands"
    );
}
