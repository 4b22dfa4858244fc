//! Client commands against a node that requires authentication, and with several API URLs.

mod common;

use common::{free_port, run, test_config, Service};

#[test]
fn clients_find_the_leader_among_urls_and_authenticate_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(
        dir.path(),
        1,
        r#""AuthenticationMethod": "multi", "HTTPAuthUser": "admin", "HTTPAuthPassword": "admin-pass""#,
    );
    let service = Service::start(dir.path(), &config);
    let dead = format!("http://127.0.0.1:{}", free_port());
    let both = format!("{dead},{}", service.api);
    let admin = [
        ("ARBOR_AUTH_USER", "admin"),
        ("ARBOR_AUTH_PASSWORD", "admin-pass"),
    ];

    // Without credentials: refused, and the message says why.
    let (ok, _, stderr) = run(&["--api", &service.api, "clusters"], &[]);
    assert!(!ok);
    assert!(stderr.contains("credentials required"), "{stderr}");

    // With credentials, through a list whose first node is down.
    let (ok, stdout, stderr) = run(&["--api", &both, "--json", "clusters"], &admin);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "[]");

    // ARBOR_API may list the nodes separated by spaces.
    let spaced = format!("{dead} {}", service.api);
    let mut env = admin.to_vec();
    env.push(("ARBOR_API", &spaced));
    let (ok, _, stderr) = run(&["clusters"], &env);
    assert!(ok, "{stderr}");

    // The readonly user reads, and is refused changes with a reason.
    let readonly = [
        ("ARBOR_AUTH_USER", "readonly"),
        ("ARBOR_AUTH_PASSWORD", "x"),
    ];
    let (ok, _, stderr) = run(&["--api", &both, "clusters"], &readonly);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(&["--api", &both, "forget", "db1:3306"], &readonly);
    assert!(!ok);
    assert!(stderr.contains("readonly may not change"), "{stderr}");

    // No node answering: the error lists what was tried.
    let other_dead = format!("http://127.0.0.1:{}", free_port());
    let (ok, _, stderr) = run(
        &["--api", &format!("{dead},{other_dead}"), "clusters"],
        &admin,
    );
    assert!(!ok);
    assert!(
        stderr.contains("no arbor node answered as leader"),
        "{stderr}"
    );
    assert!(stderr.contains(&other_dead), "{stderr}");
}

/// orchestrator-client users keep their `ORCHESTRATOR_API` ("http://host:3000/api"): the
/// arbor CLI uses it when neither `--api` nor `ARBOR_API` is given.
#[test]
fn the_cli_honours_orchestrator_api() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), &test_config(dir.path(), 1, ""));
    let orchestrator_api = format!("{}/api", service.api);
    let (ok, stdout, stderr) = run(
        &["check-global-recoveries"],
        &[("ORCHESTRATOR_API", orchestrator_api.as_str())],
    );
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "enabled");
    // ARBOR_API wins over it.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (ok, _, _) = run(
        &["check-global-recoveries"],
        &[
            ("ORCHESTRATOR_API", orchestrator_api.as_str()),
            ("ARBOR_API", dead.as_str()),
        ],
    );
    assert!(!ok, "ARBOR_API names where arbor is");
}
