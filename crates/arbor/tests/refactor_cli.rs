//! Topology moves, maintenance locks and tags from the `arbor` CLI, on a real topology.

mod common;

use std::time::Duration;

use arbor_testkit::MariaDbSandbox;
use common::{test_config, Service};

#[test]
fn moves_locks_and_tags_from_the_cli() {
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0)]).unwrap();
    let [p, r1, r2] = [0, 1, 2].map(|i| sandbox.key(i));
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), &test_config(dir.path(), 1, ""));
    service.stdout_of(&["discover", &p]);
    service.wait_for_tree(&p, Duration::from_secs(10), |tree| {
        tree.lines().count() == 3
    });

    // A move prints the instance and its new source, as orchestrator-client does.
    assert_eq!(
        service.stdout_of(&["relocate", &r2, &r1]).trim(),
        format!("{r2}<{r1}")
    );
    let tree = service.wait_for_tree(&p, Duration::from_secs(10), |tree| {
        tree.contains(&format!("  + {r2}"))
    });
    assert!(tree.contains(&format!("+ {r1}")), "{tree}");

    // can-replicate-from: true, or false with the reason and a non-zero exit.
    assert_eq!(
        service.stdout_of(&["can-replicate-from", &r1, &p]).trim(),
        "true"
    );
    let refused = service.cli(&["can-replicate-from", &r1, &r2]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stdout).contains("would make a loop"));

    // A maintenance lock stops moves, naming its owner.
    service.stdout_of(&[
        "begin-maintenance",
        &r2,
        "--owner",
        "bob",
        "--reason",
        "backup",
    ]);
    let locked = service.cli(&["move-up", &r2]);
    assert!(!locked.status.success());
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert!(stderr.contains("locked by bob (backup)"), "{stderr}");
    service.stdout_of(&["end-maintenance", &r2]);
    assert_eq!(
        service.stdout_of(&["move-up", &r2]).trim(),
        format!("{r2}<{p}")
    );

    // In-place operations.
    let stopped = service.stdout_of(&["--json", "stop-replica", &r1]);
    let stopped: serde_json::Value = serde_json::from_str(&stopped).unwrap();
    assert_eq!(stopped["ReplicationIOThreadRuning"], false);
    service.stdout_of(&["start-replica", &r1]);
    assert_eq!(
        service.stdout_of(&["delay-replication", &r1, "3"]).trim(),
        "3"
    );

    // Tags.
    service.stdout_of(&["tag", &r1, "role=reporting"]);
    service.stdout_of(&["tag", &r2, "role=backup"]);
    assert_eq!(
        service.stdout_of(&["tag-value", &r1, "role"]).trim(),
        "reporting"
    );
    assert_eq!(service.stdout_of(&["tags", &r2]).trim(), "role=backup");
    assert_eq!(service.stdout_of(&["tagged", "role=backup"]).trim(), r2);
    assert_eq!(service.stdout_of(&["untag-all", "role"]).lines().count(), 2);
}

/// orchestrator-client's lookups and switches, as native `arbor` commands printing what the
/// client prints (`host:port` lines), `none` for an empty answer; against a service that only
/// takes POST for changes, which the CLI then uses.
#[test]
fn orchestrator_client_commands_are_native_and_print_none_when_empty() {
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0)]).unwrap();
    let [p, r1, r2] = [0, 1, 2].map(|i| sandbox.key(i));
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(
        dir.path(),
        &test_config(dir.path(), 1, r#""RequirePostForChanges": true"#),
    );
    service.stdout_of(&["discover", &p]);
    service.wait_for_tree(&p, Duration::from_secs(10), |tree| {
        tree.lines().count() == 3
    });

    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let mut replicas = vec![r1.clone(), r2.clone()];
    replicas.sort();
    assert_eq!(service.stdout_of(&["which-master", &r1]).trim(), p);
    assert_eq!(service.stdout_of(&["which-master", &p]).trim(), "none");
    assert_eq!(sorted(service.stdout_of(&["which-replicas", &p])), replicas);
    assert_eq!(
        service.stdout_of(&["which-broken-replicas", &p]).trim(),
        "none"
    );
    assert_eq!(service.stdout_of(&["which-cluster", &r2]).trim(), p);
    assert_eq!(service.stdout_of(&["which-cluster-master", &r2]).trim(), p);
    assert_eq!(
        service
            .stdout_of(&["which-cluster-instances", &r2])
            .lines()
            .count(),
        3
    );
    assert_eq!(service.stdout_of(&["all-instances"]).lines().count(), 3);
    assert_eq!(service.stdout_of(&["all-clusters-masters"]).trim(), p);
    assert!(service
        .stdout_of(&["clusters-alias"])
        .starts_with(&format!("{p},")));
    assert_eq!(service.stdout_of(&["downtimed"]).trim(), "none");
    assert_eq!(service.stdout_of(&["is-replicating", &r1]).trim(), r1);
    assert_eq!(
        service.stdout_of(&["is-replication-stopped", &r1]).trim(),
        "none"
    );
    assert!(service
        .stdout_of(&["search", &sandbox.port(2).to_string()])
        .lines()
        .any(|line| line == r2));
    assert_eq!(service.stdout_of(&["tagged", "role"]).trim(), "none");

    // Changes, sent as POST since the service refuses GET for them.
    assert_eq!(
        service.stdout_of(&["disable-gtid", &r1]).trim(),
        format!("{r1}<{p}")
    );
    assert_eq!(
        service.stdout_of(&["enable-gtid", &r1]).trim(),
        format!("{r1}<{p}")
    );
    service.stdout_of(&["stop-replica-nice", &r2]);
    assert_eq!(
        service.stdout_of(&["is-replication-stopped", &r2]).trim(),
        r2
    );
    service.stdout_of(&["start-replica", &r2]);
    let statements = service.stdout_of(&[
        "restart-replica-statements",
        &r2,
        "CHANGE MASTER TO MASTER_DELAY=1",
    ]);
    assert_eq!(statements.lines().count(), 5, "{statements}");
    let regrouped = service.stdout_of(&["regroup-replicas", &p]);
    assert!(
        regrouped.trim() == r1 || regrouped.trim() == r2,
        "{regrouped}"
    );
}
