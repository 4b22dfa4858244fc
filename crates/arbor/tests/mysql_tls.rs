//! TLS to the managed servers, end to end: real MariaDB servers that refuse plain text
//! (`require_secure_transport=ON`) and replicate over TLS, certificates made by `arbor tls
//! init`, and `arbor serve` with orchestrator's `MySQLTopology*TLS` / `MySQLTopologySSL*` keys.
//! Since the servers refuse plain text, every probe, move and failover step that succeeds went
//! over TLS.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use arbor_testkit::{MariaDbSandbox, SandboxOptions, REPL_PASSWORD, REPL_USER};
use common::{run, test_config, Service};

/// `arbor tls init DIR --host 127.0.0.1`: DIR/ca.pem, DIR/127.0.0.1.pem and .key.
fn certificates(dir: &Path) {
    let (ok, _, stderr) = run(
        &["tls", "init", dir.to_str().unwrap(), "--host", "127.0.0.1"],
        &[],
    );
    assert!(ok, "{stderr}");
}

fn file(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// Servers with `dir`'s certificate that accept TLS connections only, and replicas that
/// replicate over TLS, checking the source's certificate against `dir`'s CA.
fn tls_sandbox(sources: &[Option<usize>], dir: &Path) -> MariaDbSandbox {
    let options = SandboxOptions::tls_only(
        &dir.join("ca.pem"),
        &dir.join("127.0.0.1.pem"),
        &dir.join("127.0.0.1.key"),
    );
    MariaDbSandbox::start_with(sources, options).unwrap()
}

/// `Master_SSL_Allowed` and the IO thread's state of server `index`.
fn replication_tls(sandbox: &MariaDbSandbox, index: usize) -> (String, String) {
    (
        sandbox
            .replica_status_value(index, "Master_SSL_Allowed")
            .unwrap(),
        sandbox
            .replica_status_value(index, "Slave_IO_Running")
            .unwrap(),
    )
}

fn wait_until(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<String>) {
    let started = Instant::now();
    let mut last;
    loop {
        last = check();
        if last.is_none() {
            return;
        }
        assert!(
            started.elapsed() < deadline,
            "{what}: not after {deadline:?}: {}",
            last.unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn probing_moves_takeover_and_failover_work_over_tls_and_links_keep_their_tls() {
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let mut sandbox = tls_sandbox(&[None, Some(0), Some(0), Some(0)], certs.path());
    let [p, r1, r2, r3] = [0, 1, 2, 3].map(|i| sandbox.key(i));

    // Plain text is refused: what follows can only have gone over TLS.
    let plain = std::process::Command::new("mariadb")
        .args([
            "--protocol=TCP",
            "-h127.0.0.1",
            &format!("-P{}", sandbox.port(0)),
            &format!("-u{}", arbor_testkit::ADMIN_USER),
            &format!("-p{}", arbor_testkit::ADMIN_PASSWORD),
            "--skip-ssl",
            "-e",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert!(
        !plain.status.success(),
        "the sandbox accepts plain text, so this test would prove nothing"
    );

    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        r#""MySQLTopologyUseMutualTLS": true,
        "MySQLTopologySSLCAFile": "{ca}",
        "RecoverMasterClusterFilters": ["*"],
        "MySQLReplicaUser": "{REPL_USER}",
        "MySQLReplicaPassword": "{REPL_PASSWORD}",
        "MySQLReplicaSSL": true,
        "MySQLReplicaSSLCAFile": "{ca}""#,
        ca = file(certs.path(), "ca.pem"),
    );
    let service = Service::start(dir.path(), &test_config(dir.path(), 1, &extra));
    service.stdout_of(&["discover", &p]);
    service.wait_for_tree(&p, Duration::from_secs(20), |tree| {
        tree.lines().count() == 4 && !tree.contains("unreachable")
    });

    // A move over TLS; the moved replica's link keeps its TLS settings.
    assert_eq!(
        service.stdout_of(&["relocate", &r3, &r1]).trim(),
        format!("{r3}<{r1}")
    );
    service.wait_for_tree(&p, Duration::from_secs(20), |tree| {
        tree.contains(&format!("+ {r1}")) && tree.contains(&format!("  + {r3}"))
    });
    assert_eq!(
        replication_tls(&sandbox, 3),
        ("Yes".to_string(), "Yes".to_string()),
        "a repointed replica keeps MASTER_SSL"
    );

    // A graceful takeover: the demoted primary gets a new link, with MySQLReplicaSSL's TLS
    // (without it, the new primary would refuse its replication connection).
    let successor = service.stdout_of(&["graceful-master-takeover", &p, &r2, "--auto"]);
    assert_eq!(successor.trim(), r2);
    wait_until(
        "the demoted primary replicates over TLS",
        Duration::from_secs(30),
        || {
            let state = replication_tls(&sandbox, 0);
            (state != ("Yes".to_string(), "Yes".to_string())).then(|| format!("{state:?}"))
        },
    );

    // The new primary dies: an automated failover over TLS; everyone left replicates over TLS.
    sandbox.kill(2).unwrap();
    let started = Instant::now();
    let recovery = loop {
        let text = service.stdout_of(&["--json", "audit-recovery"]);
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        if let Some(done) = list.as_array().and_then(|list| {
            list.iter()
                .find(|r| r["IsActive"] == false && r["AnalysisEntry"]["Analysis"] == "DeadMaster")
                .cloned()
        }) {
            break done;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no recovery: {}",
            service.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(recovery["IsSuccessful"], true, "{recovery:#}");
    let successor_port = recovery["SuccessorKey"]["Port"].as_u64().unwrap() as u16;
    let successor = (0..4).find(|i| sandbox.port(*i) == successor_port).unwrap();
    // Every survivor replicates over TLS within the new primary's tree: from the successor,
    // or (R3, moved below R1 earlier) from a survivor that does.
    let survivors: Vec<usize> = [0, 1, 3].into_iter().filter(|i| *i != successor).collect();
    let live_ports: Vec<String> = [0, 1, 3]
        .into_iter()
        .map(|i| sandbox.port(i).to_string())
        .collect();
    for index in survivors {
        wait_until(
            "a survivor replicates over TLS in the new primary's tree",
            Duration::from_secs(30),
            || {
                let source_port = sandbox
                    .replica_status_value(index, "Master_Port")
                    .unwrap_or_default();
                let state = replication_tls(&sandbox, index);
                let done = state == ("Yes".to_string(), "Yes".to_string())
                    && live_ports.contains(&source_port);
                (!done).then(|| format!("server {index}: {state:?} from port {source_port}"))
            },
        );
    }
    assert!(
        sandbox.replica_status(successor).unwrap().is_empty(),
        "the successor replicates from no one"
    );
    drop(service);
}

#[test]
fn a_wrong_ca_is_named_on_its_instance_mixed_mode_finds_tls_and_skip_verify_accepts_any() {
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let strangers = tempfile::tempdir().unwrap();
    certificates(strangers.path());
    let trusted = tls_sandbox(&[None, Some(0)], certs.path());
    let stranger = tls_sandbox(&[None], strangers.path());
    let ca = file(certs.path(), "ca.pem");

    // orchestrator's default, mixed TLS: plain text first, TLS where the server refuses it.
    let dir = tempfile::tempdir().unwrap();
    let mixed = Service::start(
        dir.path(),
        &test_config(
            dir.path(),
            1,
            &format!(r#""MySQLTopologySSLCAFile": "{ca}""#),
        ),
    );
    mixed.stdout_of(&["discover", &trusted.key(0)]);
    mixed.wait_for_tree(&trusted.key(0), Duration::from_secs(20), |tree| {
        tree.lines().count() == 2 && !tree.contains("unreachable")
    });

    // A server whose certificate no configured CA signed: a clear error on it, not
    // "unreachable" ...
    let refused = mixed.cli(&["discover", &stranger.key(0)]);
    let said = String::from_utf8_lossy(&refused.stderr).into_owned()
        + &String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("not trusted") && said.contains(&stranger.key(0)),
        "the error names the certificate problem and the instance: {said}"
    );
    // ... and the others are still probed: a change on them shows.
    trusted
        .sql(1, "STOP SLAVE IO_THREAD")
        .expect("stop a replica's IO thread");
    mixed.wait_for_tree(&trusted.key(0), Duration::from_secs(20), |tree| {
        tree.lines()
            .any(|line| line.contains(&trusted.key(1)) && !line.contains(",ok,"))
    });
    trusted.sql(1, "START SLAVE IO_THREAD").unwrap();

    // SSLSkipVerify: any certificate is accepted.
    let dir = tempfile::tempdir().unwrap();
    let lenient = Service::start(
        dir.path(),
        &test_config(
            dir.path(),
            1,
            r#""MySQLTopologyUseMutualTLS": true, "MySQLTopologySSLSkipVerify": true"#,
        ),
    );
    lenient.stdout_of(&["discover", &stranger.key(0)]);
    lenient.wait_for_tree(&stranger.key(0), Duration::from_secs(20), |tree| {
        tree.lines().count() == 1 && !tree.contains("unreachable")
    });
}
