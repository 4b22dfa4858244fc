//! Probes of real MariaDB servers started by the test kit, and of servers that fail in the
//! ways real ones do (refusing connections, hanging after accept).

use std::time::{Duration, Instant};

use arbor_mysql::{ProbeErrorKind, ProbeSettings, Prober};
use arbor_testkit::{HungServer, MariaDbSandbox, ADMIN_PASSWORD, ADMIN_USER};
use arbor_topology::{Flavor, GtidKind, InstanceKey, IoThreadState};

fn settings(connect_timeout: Duration) -> ProbeSettings {
    ProbeSettings {
        user: ADMIN_USER.into(),
        password: ADMIN_PASSWORD.into(),
        connect_timeout,
        read_timeout: Duration::from_secs(10),
        default_port: 3306,
        cluster_alias_query: String::new(),
        ..Default::default()
    }
}

fn key(text: &str) -> InstanceKey {
    text.parse().unwrap()
}

#[tokio::test]
async fn reads_primary_and_replica_of_a_real_topology() {
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0)]).unwrap();
    let prober = Prober::new(ProbeSettings {
        cluster_alias_query: "SELECT 'orders-cluster'".into(),
        ..settings(Duration::from_secs(5))
    });

    let primary = prober.probe(&key(&sandbox.key(0))).await.unwrap();
    assert_eq!(primary.flavor, Flavor::MariaDb);
    assert!(primary.version.contains("MariaDB"), "{}", primary.version);
    assert_eq!(primary.server_id, 1);
    assert!(!primary.read_only);
    assert!(primary.log_bin && primary.log_replica_updates);
    assert_eq!(primary.binlog_format, "ROW");
    assert!(primary.replication.is_none());
    assert!(primary
        .self_coordinates
        .as_ref()
        .is_some_and(|c| c.log_pos > 0));
    assert_eq!(primary.gtid_kind(), GtidKind::MariaDb);
    assert!(primary.gtid_strict_mode);
    assert_eq!(primary.suggested_cluster_alias, "orders-cluster");
    let mut expected_replicas = vec![key(&sandbox.key(1)), key(&sandbox.key(2))];
    expected_replicas.sort();
    assert_eq!(primary.replicas, expected_replicas);

    let replica = prober.probe(&key(&sandbox.key(2))).await.unwrap();
    assert_eq!(replica.server_id, 3);
    assert!(replica.read_only);
    let replication = replica.replication.as_ref().expect("replica has a source");
    assert_eq!(replication.source, key(&sandbox.key(0)));
    assert_eq!(replication.io_thread, IoThreadState::Running);
    assert!(replication.sql_thread_running);
    assert_eq!(replication.gtid_kind, GtidKind::MariaDb);
    assert_eq!(replication.using_gtid, "Slave_Pos");
    assert_eq!(replication.source_server_id, 1);
    assert_eq!(
        replication.connect_retry, 1,
        "MASTER_CONNECT_RETRY as the sandbox set it"
    );
    assert_eq!(
        replica.replica_net_timeout, 4,
        "slave_net_timeout as the sandbox set it"
    );
    assert_eq!(replica.failure_detection_advice(), None);
    assert!(
        replica.suggested_cluster_alias.is_empty(),
        "alias query runs on primaries only"
    );

    // Default-like settings are pointed out.
    sandbox.sql(2, "SET GLOBAL slave_net_timeout = 60").unwrap();
    let slow = prober.probe(&key(&sandbox.key(2))).await.unwrap();
    assert!(slow
        .failure_detection_advice()
        .unwrap()
        .contains("slave_net_timeout=60"));

    // A second probe reuses the open connection and reads fresh state.
    sandbox.sql(2, "STOP SLAVE").unwrap();
    let stopped = prober.probe(&key(&sandbox.key(2))).await.unwrap();
    let replication = stopped.replication.unwrap();
    assert_eq!(replication.io_thread, IoThreadState::Stopped);
    assert!(!replication.sql_thread_running);
}

#[tokio::test]
async fn a_cached_connection_to_a_restarted_server_is_replaced() {
    let mut sandbox = MariaDbSandbox::start(&[None]).unwrap();
    let prober = Prober::new(settings(Duration::from_secs(5)));
    let primary = key(&sandbox.key(0));
    prober.probe(&primary).await.unwrap();
    // Kill the server's side of the cached connection; the next probe must still succeed.
    // SHOW PROCESSLIST, not a GROUP_CONCAT over information_schema.PROCESSLIST: MariaDB
    // 10.11.19 once crashed (signal 11 in ha_maria::drop_table, freeing that query's
    // temporary table) under this test in CI.
    let processes = sandbox.sql(0, "SHOW PROCESSLIST").unwrap();
    let kills: Vec<String> = processes
        .lines()
        .filter_map(|line| {
            let mut columns = line.split('\t');
            let id = columns.next()?;
            (columns.next()? == "arbor").then(|| format!("KILL {id}"))
        })
        .collect();
    assert!(
        !kills.is_empty(),
        "the prober's connection is open: {processes}"
    );
    sandbox.sql(0, &kills.join("; ")).unwrap();
    prober.probe(&primary).await.unwrap();
    sandbox.kill(0).unwrap();
    let error = prober.probe(&primary).await.unwrap_err();
    assert_eq!(error.kind(), ProbeErrorKind::Connect, "{error}");
}

#[tokio::test]
async fn a_server_that_never_answers_costs_only_the_connect_timeout() {
    let hung = HungServer::start().unwrap();
    let prober = Prober::new(settings(Duration::from_millis(800)));
    let started = Instant::now();
    let error = prober.probe(&key(&hung.key())).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.kind(), ProbeErrorKind::ConnectTimeout, "{error}");
    assert!(hung.connections_accepted() >= 1);
    assert!(
        elapsed < Duration::from_secs(5),
        "probe of a hung server took {elapsed:?}, far beyond its 800ms connect timeout"
    );
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    // Bind then drop a listener: the port is now closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let prober = Prober::new(settings(Duration::from_secs(2)));
    let error = prober
        .probe(&InstanceKey::new("127.0.0.1", port))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProbeErrorKind::Connect, "{error}");
}

#[tokio::test]
async fn data_centre_region_and_environment_come_from_queries_or_the_host_name() {
    use arbor_mysql::{LocationRule, LocationRules};
    let sandbox = MariaDbSandbox::start(&[None, Some(0)]).unwrap();
    // Each server says where it is in a table of its own (not replicated).
    for (index, dc) in [(0, "dc-east"), (1, "dc-west")] {
        sandbox
            .sql(
                index,
                &format!(
                    "SET sql_log_bin = 0; CREATE DATABASE meta; \
                     CREATE TABLE meta.location (dc VARCHAR(20)); \
                     INSERT INTO meta.location VALUES ('{dc}'); \
                     GRANT SELECT ON meta.* TO '{ADMIN_USER}'@'%'"
                ),
            )
            .unwrap();
    }
    let prober = Prober::new(ProbeSettings {
        location: LocationRules {
            data_center: LocationRule::new(r"^(\d+)\.", "SELECT dc FROM meta.location").unwrap(),
            region: LocationRule::new(r"^\d+\.(\d+)\.", "").unwrap(),
            physical_environment: LocationRule::new("", "SELECT no_such_column FROM meta.location")
                .unwrap(),
        },
        ..settings(Duration::from_secs(5))
    });
    let primary = prober.probe(&key(&sandbox.key(0))).await.unwrap();
    let replica = prober.probe(&key(&sandbox.key(1))).await.unwrap();
    // The query wins over the pattern; a pattern alone takes its group from 127.0.0.1; a
    // failing query leaves the part unknown and the server read.
    assert_eq!(primary.data_center, "dc-east");
    assert_eq!(replica.data_center, "dc-west");
    assert_eq!(primary.region, "0");
    assert_eq!(primary.physical_environment, "");
    // Later probes over the same connection keep the answers.
    assert_eq!(
        prober
            .probe(&key(&sandbox.key(1)))
            .await
            .unwrap()
            .data_center,
        "dc-west"
    );
}

/// TLS: required of a server that offers none, it is a TLS error (the server is alive), not
/// "cannot connect"; with a wrong CA the error says the certificate is not trusted; mixed TLS
/// reaches a server that refuses plain text, and remembers that it does.
#[tokio::test]
async fn tls_failures_are_named_and_mixed_mode_finds_the_servers_that_require_it() {
    use arbor_mysql::{Tls, TlsMode, TlsSettings};
    use arbor_testkit::{write_certificates, SandboxOptions};
    let dir = tempfile::tempdir().unwrap();
    let files = write_certificates(dir.path());
    let other = tempfile::tempdir().unwrap();
    let other_ca = write_certificates(other.path()).ca;
    let with_tls = |mode, ca: &std::path::Path| ProbeSettings {
        tls: Tls::new(TlsSettings {
            mode,
            ca_file: Some(ca.to_path_buf()),
            remember: Duration::from_secs(60),
            ..TlsSettings::default()
        }),
        ..settings(Duration::from_secs(5))
    };

    let plain = MariaDbSandbox::start(&[None]).unwrap();
    let error = Prober::new(with_tls(TlsMode::Always, &files.ca))
        .probe(&key(&plain.key(0)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProbeErrorKind::Tls, "{error}");
    assert!(error.to_string().contains("offers no TLS"), "{error}");
    // Mixed mode talks plain text to a server that allows it.
    Prober::new(with_tls(TlsMode::WhenRequired, &files.ca))
        .probe(&key(&plain.key(0)))
        .await
        .unwrap();

    let secure = MariaDbSandbox::start_with(
        &[None],
        SandboxOptions::tls_only(&files.ca, &files.cert, &files.key),
    )
    .unwrap();
    let secure_key = key(&secure.key(0));
    let error = Prober::new(with_tls(TlsMode::Always, &other_ca))
        .probe(&secure_key)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProbeErrorKind::Tls, "{error}");
    assert!(error.to_string().contains("not trusted"), "{error}");
    let off = Prober::new(settings(Duration::from_secs(5)))
        .probe(&secure_key)
        .await
        .unwrap_err();
    assert_eq!(
        off.kind(),
        ProbeErrorKind::Refused,
        "plain text is refused: {off}"
    );

    let denied = || {
        secure
            .sql(0, "SHOW GLOBAL STATUS LIKE 'Access_denied_errors'")
            .unwrap()
    };
    let mixed = Prober::new(with_tls(TlsMode::WhenRequired, &files.ca));
    let before = denied();
    let instance = mixed.probe(&secure_key).await.unwrap();
    assert_eq!(instance.key, secure_key);
    let after_first = denied();
    assert_ne!(
        before, after_first,
        "the first attempt was plain text, refused"
    );
    // Remembered: on a new connection TLS is the first attempt, no plain text refused.
    mixed.forget(&secure_key);
    mixed.probe(&secure_key).await.unwrap();
    assert_eq!(after_first, denied());
}
