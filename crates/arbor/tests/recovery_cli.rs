//! Failure recovery through the `arbor` binary: an automated failover of a real MariaDB
//! primary with hooks and a promotion rule, then the operator's controls from the CLI, and the
//! recoveries page in a browser.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use arbor_testkit::{MariaDbSandbox, REPL_PASSWORD, REPL_USER};
use common::{artifacts_dir, render, render_until, test_config, Service};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn failover_hooks_and_operator_controls_from_the_cli() {
    let mut sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0)]).unwrap();
    let [p, r1, r2] = [0, 1, 2].map(|i| sandbox.key(i));
    let dir = tempfile::tempdir().unwrap();
    let hooks_log = dir.path().join("hooks.log");
    let extra = format!(
        r#""RecoverMasterClusterFilters": ["*"],
        "RecoverIntermediateMasterClusterFilters": ["*"],
        "MySQLReplicaUser": "{REPL_USER}",
        "MySQLReplicaPassword": "{REPL_PASSWORD}",
        "OnFailureDetectionProcesses": ["echo detected {{failureType}} {{failedPort}} >> {log}"],
        "PreFailoverProcesses": ["test -n \"$ORC_FAILED_HOST\""],
        "PostMasterFailoverProcesses": ["echo promoted {{successorPort}} for {{failedPort}} lost={{countLostReplicas}} >> {log}"]"#,
        log = hooks_log.display()
    );
    let service = Service::start(dir.path(), &test_config(dir.path(), 1, &extra));
    service.stdout_of(&["discover", &p]);
    service.wait_for_tree(&p, Duration::from_secs(10), |tree| {
        tree.lines().count() == 3
    });
    assert_eq!(
        service.stdout_of(&["check-global-recoveries"]).trim(),
        "enabled"
    );

    // Operator intents show on the instances.
    assert_eq!(
        service
            .stdout_of(&["register-candidate", &r2, "prefer"])
            .trim(),
        r2
    );
    let instance = json(&service.stdout_of(&["--json", "instance", &r2]));
    assert_eq!(instance["PromotionRule"], "prefer");
    assert_eq!(instance["IsCandidate"], true);
    service.stdout_of(&[
        "begin-downtime",
        &r1,
        "--owner",
        "ops",
        "--reason",
        "disk",
        "--duration",
        "1h",
    ]);
    let instance = json(&service.stdout_of(&["--json", "instance", &r1]));
    assert_eq!(instance["IsDowntimed"], true);
    assert_eq!(instance["DowntimeOwner"], "ops");
    assert_eq!(instance["DowntimeReason"], "disk");
    let downtimed = service.stdout_of(&["end-downtime", &r1]);
    assert_eq!(downtimed.trim(), r1);
    let instance = json(&service.stdout_of(&["--json", "instance", &r1]));
    assert_eq!(instance["IsDowntimed"], false);

    // The primary dies: arbor fails over to the preferred replica by itself.
    sandbox.kill(0).unwrap();
    let started = Instant::now();
    let recovery = loop {
        let recoveries = json(&service.stdout_of(&["--json", "audit-recovery"]));
        if let Some(done) = recoveries
            .as_array()
            .and_then(|list| list.iter().find(|r| r["IsActive"] == false).cloned())
        {
            break done;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no recovery: {}",
            service.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(recovery["IsSuccessful"], true, "{recovery:#}");
    assert_eq!(
        recovery["SuccessorKey"]["Port"],
        sandbox.port(2),
        "the preferred replica"
    );
    assert_eq!(recovery["AnalysisEntry"]["Analysis"], "DeadMaster");
    assert_eq!(recovery["Type"], "MasterRecovery");
    assert!(!recovery["ArborSteps"].as_array().unwrap().is_empty());
    let tree = service.wait_for_tree(&r2, Duration::from_secs(10), |tree| {
        tree.starts_with(&r2) && tree.contains(&format!("+ {r1}"))
    });
    assert!(
        tree.contains(&format!("+ {p}"))
            && tree.contains(&format!("former primary, replaced by {r2}")),
        "the dead primary stays in its cluster, marked as replaced, not a cluster of its own:\n{tree}"
    );

    // Hooks ran with orchestrator's placeholders.
    let log = fs::read_to_string(&hooks_log).unwrap_or_default();
    assert!(
        log.contains(&format!("detected DeadMaster {}", sandbox.port(0))),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "promoted {} for {} lost=0",
            sandbox.port(2),
            sandbox.port(0)
        )),
        "{log}"
    );
    let detections = service.stdout_of(&["audit-failure-detection"]);
    assert!(detections.contains("DeadMaster"), "{detections}");
    // The cluster answers to its former name; nothing of it waits on anti-flapping.
    assert_eq!(
        service.stdout_of(&["blocked-recoveries", &p]).trim(),
        "no recovery is blocked"
    );

    // The recoveries page shows it.
    let page = render_until(
        &format!("{}/web/audit-recovery", service.api),
        Duration::from_secs(20),
        |dom| dom.contains("data-outcome=\"successful\""),
    );
    assert!(page.contains("DeadMaster"), "{page}");
    render(
        &format!("{}/web/audit-recovery", service.api),
        Some(&artifacts_dir().join("recoveries-page.png")),
    );

    // A planned switchover back to R1, with the old primary following it.
    let successor = service.stdout_of(&["graceful-master-takeover", &r2, &r1, "--auto"]);
    assert_eq!(successor.trim(), r1);
    service.wait_for_tree(&r1, Duration::from_secs(10), |tree| {
        tree.starts_with(&r1) && tree.contains(&format!("+ {r2}")) && tree.contains(",ok,")
    });

    // Acknowledgements and the global switch.
    assert_eq!(
        service
            .stdout_of(&["ack-all-recoveries", "--comment", "reviewed"])
            .trim(),
        "reviewed"
    );
    let recoveries = json(&service.stdout_of(&["--json", "audit-recovery"]));
    assert!(
        recoveries
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["Acknowledged"] == true),
        "{recoveries:#}"
    );
    assert_eq!(
        service.stdout_of(&["disable-global-recoveries"]).trim(),
        "disabled"
    );
    assert_eq!(
        service.stdout_of(&["check-global-recoveries"]).trim(),
        "disabled"
    );
    assert_eq!(
        service.stdout_of(&["enable-global-recoveries"]).trim(),
        "enabled"
    );

    // Nothing to recover on a healthy instance: a clear refusal.
    let refused = service.cli(&["recover", &r1]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no failure to recover"), "{stderr}");
}
