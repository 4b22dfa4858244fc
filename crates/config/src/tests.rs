use std::path::Path;

use super::*;

fn load(text: &str) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    Config::from_json_str(text, Path::new("test.conf.json"))
}

fn problem_for(text: &str, key: &str) -> String {
    let err = load(text).expect_err("config should be rejected");
    match &err {
        ConfigError::Invalid { problems, .. } => problems
            .iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("no problem for {key} in {err}"))
            .problem
            .clone(),
        other => panic!("expected an invalid-key error, got {other}"),
    }
}

#[test]
fn empty_config_gives_orchestrators_defaults() {
    let (config, warnings) = load("{}").unwrap();
    assert!(warnings.is_empty());
    assert_eq!(config, Config::default());
    assert_eq!(config.instance_poll_seconds, 5);
    assert_eq!(config.mysql_connect_timeout_seconds, 2);
    assert_eq!(config.mysql_discovery_read_timeout_seconds, 10);
    assert_eq!(config.discovery_max_concurrency, 300);
    assert_eq!(config.recovery_period_block_seconds, 3600);
    assert_eq!(config.default_raft_port, 10008);
    assert_eq!(config.raft_bind, "127.0.0.1:10008");
    assert!(config.apply_mysql_promotion_after_master_failover);
    assert_eq!(config.power_auth_users, vec!["*".to_string()]);
    assert_eq!(
        config.backend(),
        Ok(Backend::Sqlite {
            path: "arbor.sqlite3".into()
        })
    );
    assert_eq!(config.listen_socket_addr().port(), 3000);
}

#[test]
fn typical_orchestrator_config_loads() {
    let text = r#"{
        "Debug": true,
        "ListenAddress": "127.0.0.1:3001",
        "MySQLTopologyUser": "orc",
        "MySQLTopologyPassword": "secret",
        "BackendDB": "sqlite",
        "SQLite3DataFile": "/var/lib/orchestrator/orchestrator.db",
        "InstancePollSeconds": 1,
        "DiscoverySeeds": ["db1:3306", "db2"],
        "RecoverMasterClusterFilters": ["*"],
        "ClusterNameToAlias": {"127.0.0.1": "test suite"},
        "RaftEnabled": true,
        "RaftDataDir": "/var/lib/orchestrator",
        "RaftBind": "10.0.0.2",
        "DefaultRaftPort": 10008,
        "RaftNodes": ["10.0.0.1", "10.0.0.2", "10.0.0.3:10009"],
        "HTTPAdvertise": "http://10.0.0.2:3000",
        "SlaveLagQuery": "select lag from meta.heartbeat"
    }"#;
    let (config, warnings) = load(text).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.instance_poll_seconds, 1);
    assert_eq!(config.discovery_seed_keys().len(), 2);
    assert_eq!(config.discovery_seed_keys()[1].port, 3306);
    assert_eq!(
        config.replication_lag_query,
        "select lag from meta.heartbeat"
    );
    assert_eq!(
        config.cluster_alias_matcher().alias_for("127.0.0.1:3306"),
        Some("test suite".to_string())
    );
    assert_eq!(config.listen_socket_addr().to_string(), "127.0.0.1:3001");
}

#[test]
fn unknown_keys_warn_by_name_and_never_fail() {
    let (config, warnings) =
        load(r#"{"StatusSimpleHealth": true, "NoSuchKey": 1, "InstancePollSeconds": 2}"#).unwrap();
    assert_eq!(config.instance_poll_seconds, 2);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].0.contains("NoSuchKey"), "{}", warnings[0]);
    assert!(
        warnings[0].0.contains("StatusSimpleHealth"),
        "{}",
        warnings[0]
    );
}

#[test]
fn keys_that_do_nothing_are_named_as_accepted_not_implemented() {
    let (config, warnings) = load(
        r#"{"GraphiteAddr": "graphite:2003", "PostTakeMasterProcesses": ["x"], "InstancePollSeconds": 2}"#,
    )
    .unwrap();
    assert_eq!(config.instance_poll_seconds, 2);
    let text: Vec<String> = warnings.iter().map(|w| w.0.clone()).collect();
    assert_eq!(text.len(), 2, "{text:?}");
    assert!(
        text.iter().any(
            |w| w.starts_with("GraphiteAddr is accepted, not implemented: ")
                && w.contains("/metrics")
        ),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|w| w.starts_with("PostTakeMasterProcesses is accepted, not implemented")),
        "{text:?}"
    );
    // Keys that take effect say nothing.
    let (_, warnings) = load(r#"{"DetachLostReplicasAfterMasterFailover": false}"#).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn the_legacy_spelling_of_detach_lost_replicas_counts_when_the_new_one_is_absent() {
    let (config, _) = load(r#"{"DetachLostSlavesAfterMasterFailover": false}"#).unwrap();
    assert!(!config.detach_lost_replicas_after_master_failover);
    let (config, _) = load(
        r#"{"DetachLostSlavesAfterMasterFailover": false, "DetachLostReplicasAfterMasterFailover": true}"#,
    )
    .unwrap();
    assert!(config.detach_lost_replicas_after_master_failover);
}

#[test]
fn location_patterns_need_a_group() {
    let error = load(r#"{"DataCenterPattern": "db-dc[0-9]"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("DataCenterPattern") && error.contains("group"),
        "{error}"
    );
    assert!(load(r#"{"RegionPattern": "^[a-z]+-([a-z]+)-"}"#).is_ok());
}

#[test]
fn keys_in_other_letter_case_are_accepted_with_a_warning() {
    let (config, warnings) = load(r#"{"instancepollseconds": 7}"#).unwrap();
    assert_eq!(config.instance_poll_seconds, 7);
    assert!(warnings[0].0.contains("InstancePollSeconds"));
}

#[test]
fn wrong_types_name_the_key_and_what_was_expected() {
    let cases = [
        (
            r#"{"InstancePollSeconds": "5"}"#,
            "InstancePollSeconds",
            "expected a whole number",
        ),
        (
            r#"{"RaftEnabled": "yes"}"#,
            "RaftEnabled",
            "expected true or false",
        ),
        (
            r#"{"DiscoverySeeds": "db1:3306"}"#,
            "DiscoverySeeds",
            "expected an array of strings",
        ),
        (
            r#"{"DiscoverySeeds": ["db1", 2]}"#,
            "DiscoverySeeds",
            "entry 1",
        ),
        (
            r#"{"ClusterNameToAlias": ["x"]}"#,
            "ClusterNameToAlias",
            "expected an object",
        ),
        (
            r#"{"MySQLTopologyUser": 12}"#,
            "MySQLTopologyUser",
            "expected a string",
        ),
        (
            r#"{"InstancePollSeconds": -1}"#,
            "InstancePollSeconds",
            "expected a whole number",
        ),
    ];
    for (text, key, expected) in cases {
        let problem = problem_for(text, key);
        assert!(problem.contains(expected), "{text}: {problem}");
    }
}

#[test]
fn impossible_values_name_the_key_and_the_problem() {
    let cases = [
        (
            r#"{"DefaultInstancePort": 70000}"#,
            "DefaultInstancePort",
            "out of range",
        ),
        (
            r#"{"DefaultInstancePort": 0}"#,
            "DefaultInstancePort",
            "out of range",
        ),
        (
            r#"{"InstancePollSeconds": 0}"#,
            "InstancePollSeconds",
            "at least 1",
        ),
        (
            r#"{"ListenAddress": "3000"}"#,
            "ListenAddress",
            "not an address",
        ),
        (
            r#"{"RaftEnabled": true}"#,
            "RaftDataDir",
            "required when RaftEnabled",
        ),
        (
            r#"{"HTTPAdvertise": "10.0.0.1:3000"}"#,
            "HTTPAdvertise",
            "no scheme",
        ),
        (
            r#"{"HTTPAdvertise": "http://10.0.0.1"}"#,
            "HTTPAdvertise",
            "no port",
        ),
        (
            r#"{"HTTPAdvertise": "http://10.0.0.1:3000/api"}"#,
            "HTTPAdvertise",
            "must not have a path",
        ),
        (
            r#"{"HTTPAdvertise": "ftp://10.0.0.1:3000"}"#,
            "HTTPAdvertise",
            "scheme must be http",
        ),
        (
            r#"{"DiscoverySeeds": ["db1:notaport"]}"#,
            "DiscoverySeeds",
            "invalid port",
        ),
        (
            r#"{"BackendDB": "postgres"}"#,
            "BackendDB",
            "unknown backend",
        ),
        (
            r#"{"AuthenticationMethod": "ldap"}"#,
            "AuthenticationMethod",
            "unknown method",
        ),
        (
            r#"{"ClusterNameToAlias": {"(": "x"}}"#,
            "ClusterNameToAlias",
            "not a valid regex",
        ),
        (
            r#"{"RaftEnabled": true, "RaftDataDir": "/tmp/x", "RaftNodes": ["a:b"]}"#,
            "RaftNodes",
            "entry 0",
        ),
        (
            r#"{"RaftEnabled": true, "RaftDataDir": "/tmp/x", "RaftUseMutualTLS": true, "SSLCertFile": "c", "SSLPrivateKeyFile": "k"}"#,
            "SSLCAFile",
            "required when RaftUseMutualTLS",
        ),
        (
            r#"{"RaftEnabled": true, "RaftDataDir": "/tmp/x", "RaftElectionTimeoutMillis": 50, "RaftHeartbeatIntervalMillis": 50}"#,
            "RaftElectionTimeoutMillis",
            "must be greater than RaftHeartbeatIntervalMillis",
        ),
        (r#"{"UseSSL": true}"#, "SSLCertFile", "required when UseSSL"),
        (
            r#"{"UseSSL": true, "SSLCertFile": "c.pem"}"#,
            "SSLPrivateKeyFile",
            "required when UseSSL",
        ),
        (r#"{"UseMutualTLS": true}"#, "UseMutualTLS", "needs UseSSL"),
        (
            r#"{"UseSSL": true, "SSLCertFile": "c", "SSLPrivateKeyFile": "k", "UseMutualTLS": true}"#,
            "SSLCAFile",
            "signs client certificates",
        ),
        (
            r#"{"FailMasterPromotionIfSQLThreadNotUpToDate": true, "DelayMasterPromotionIfSQLThreadNotUpToDate": true}"#,
            "DelayMasterPromotionIfSQLThreadNotUpToDate",
            "choose one",
        ),
        (
            r#"{"ConsulKVStoreProvider": "vault"}"#,
            "ConsulKVStoreProvider",
            "consul-txn",
        ),
        (r#"{"ConsulScheme": "ftp"}"#, "ConsulScheme", "https"),
        (
            r#"{"ConsulMaxKVsPerTransaction": 65}"#,
            "ConsulMaxKVsPerTransaction",
            "1 to 64",
        ),
        (
            r#"{"ZkAddress": "zk1:2181,zk2:notaport"}"#,
            "ZkAddress",
            "zk2:notaport",
        ),
        (
            r#"{"EtcdAddress": "https://e:2379", "EtcdSSLCertFile": "/no/such.pem"}"#,
            "EtcdSSLPrivateKeyFile",
            "required with EtcdSSLCertFile",
        ),
        (
            r#"{"EtcdAddress": "http://e:2379", "KVClusterMasterPrefix": "/"}"#,
            "KVClusterMasterPrefix",
            "root of the store",
        ),
    ];
    for (text, key, expected) in cases {
        let problem = problem_for(text, key);
        assert!(problem.contains(expected), "{text}: {problem}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = load(r#"{"InstancePollSeconds": "x", "RaftEnabled": 1, "DefaultRaftPort": -3}"#)
        .unwrap_err();
    let mut keys = err.keys();
    keys.sort();
    assert_eq!(
        keys,
        vec!["DefaultRaftPort", "InstancePollSeconds", "RaftEnabled"]
    );
    let message = err.to_string();
    assert!(message.contains("test.conf.json"), "{message}");
}

#[test]
fn syntax_errors_and_non_objects_are_reported() {
    assert!(matches!(load("{\"A\": "), Err(ConfigError::Syntax { .. })));
    assert!(matches!(
        load("[1,2]"),
        Err(ConfigError::NotAnObject { .. })
    ));
}

#[test]
fn passwords_expand_environment_variables() {
    assert_eq!(
        value::expand_env("${ARBOR_PW}", |n| (n == "ARBOR_PW")
            .then(|| "s3cret".into())),
        Ok("s3cret".into())
    );
    assert_eq!(
        value::expand_env("pre-${A}-${B}", |n| Some(n.to_lowercase())),
        Ok("pre-a-b".into())
    );
    assert_eq!(
        value::expand_env("plain$text", |_| None),
        Ok("plain$text".into())
    );
    assert!(value::expand_env("${MISSING}", |_| None)
        .unwrap_err()
        .contains("MISSING is not set"));

    // Through the loader, with a variable of this test's own.
    std::env::set_var("ARBOR_CONFIG_TEST_PASSWORD", "from-env");
    let (config, _) =
        load(r#"{"MySQLTopologyPassword": "${ARBOR_CONFIG_TEST_PASSWORD}"}"#).unwrap();
    assert_eq!(config.mysql_topology_password, "from-env");
    let problem = problem_for(
        r#"{"MySQLTopologyPassword": "${ARBOR_CONFIG_TEST_UNSET_VARIABLE}"}"#,
        "MySQLTopologyPassword",
    );
    assert!(problem.contains("ARBOR_CONFIG_TEST_UNSET_VARIABLE"));
}

#[test]
fn legacy_block_minutes_apply_only_without_seconds() {
    let (config, _) = load(r#"{"RecoveryPeriodBlockMinutes": 2}"#).unwrap();
    assert_eq!(config.recovery_period_block_seconds, 120);
    let (config, _) =
        load(r#"{"RecoveryPeriodBlockMinutes": 2, "RecoveryPeriodBlockSeconds": 30}"#).unwrap();
    assert_eq!(config.recovery_period_block_seconds, 30);
}

#[test]
fn backend_defaults_follow_what_the_config_names() {
    let (config, _) = load(r#"{"MySQLOrchestratorHost": "backend.db"}"#).unwrap();
    assert_eq!(config.backend(), Ok(Backend::MySql));
    let (config, _) = load(r#"{"BackendDB": "sqlite3", "SQLite3DataFile": "/x/y.db"}"#).unwrap();
    assert_eq!(
        config.backend(),
        Ok(Backend::Sqlite {
            path: "/x/y.db".into()
        })
    );
}

#[test]
fn load_reads_files_and_names_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arbor.conf.json");
    std::fs::write(&path, r#"{"InstancePollSeconds": 3}"#).unwrap();
    assert_eq!(Config::load(&path).unwrap().0.instance_poll_seconds, 3);
    let missing = dir.path().join("missing.json");
    let err = Config::load(&missing).unwrap_err();
    assert!(err.to_string().contains("missing.json"), "{err}");
}

#[test]
fn proxy_auth_open_to_every_named_user_is_warned_about() {
    let (_, warnings) = load(r#"{"AuthenticationMethod": "proxy"}"#).unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.0.contains("PowerAuthUsers") && w.0.contains("every user")),
        "{warnings:?}"
    );
    let (_, warnings) =
        load(r#"{"AuthenticationMethod": "proxy", "PowerAuthUsers": ["dba"]}"#).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn tls_files_to_mysql_servers_are_checked_with_the_key_named() {
    let problem = problem_for(
        r#"{"MySQLTopologyUseMutualTLS": true, "MySQLTopologySSLCertFile": "/etc/hosts"}"#,
        "MySQLTopologySSLPrivateKeyFile",
    );
    assert!(problem.contains("MySQLTopologySSLCertFile"), "{problem}");
    let problem = problem_for(
        r#"{"MySQLTopologySSLCAFile": "/nonexistent/ca.pem"}"#,
        "MySQLTopologySSLCAFile",
    );
    assert!(problem.contains("/nonexistent/ca.pem"), "{problem}");
    let problem = problem_for(
        r#"{"MySQLOrchestratorUseMutualTLS": true, "MySQLOrchestratorSSLCAFile": "/nonexistent/ca.pem"}"#,
        "MySQLOrchestratorSSLCAFile",
    );
    assert!(problem.contains("cannot read"), "{problem}");
    // TLS to the backend off: its files are not looked at (an orchestrator config may keep
    // stale ones).
    load(r#"{"MySQLOrchestratorSSLCAFile": "/nonexistent/ca.pem"}"#).unwrap();
}

/// A file written for orchestrator never meets "unknown key": each of its keys either takes
/// effect or is reported as accepted and not implemented, with why.
#[test]
fn every_orchestrator_key_takes_effect_or_says_why_not() {
    assert_eq!(crate::orchestrator_keys::ORCHESTRATOR_KEYS.len(), 198);
    let mut silent = Vec::new();
    for key in crate::orchestrator_keys::ORCHESTRATOR_KEYS {
        let known = Config::canonical_key(key).is_some();
        if !known && crate::orchestrator_only(key).is_none() {
            silent.push(*key);
        }
    }
    assert!(
        silent.is_empty(),
        "keys neither read nor reported: {silent:?}"
    );
    // Keys arbor has no field for are reported, not called unknown.
    let (_, warnings) =
        load(r#"{"WebMessage": "hello", "AzureClientID": "x", "MaxOutdatedKeysToShow": 5}"#)
            .unwrap();
    let text: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        text.iter()
            .any(|w| w.starts_with("WebMessage is accepted, not implemented")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|w| w.starts_with("AzureClientID is accepted, not implemented")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|w| w.contains("MaxOutdatedKeysToShow") && w.contains("deprecated")),
        "{text:?}"
    );
    assert!(!text.iter().any(|w| w.contains("unknown")), "{text:?}");
    // orchestrator's older spellings fill the newer keys.
    let (config, _) = load(
        r#"{"MasterFailoverDetachSlaveMasterHost": true, "PostponeSlaveRecoveryOnLagMinutes": 3}"#,
    )
    .unwrap();
    assert!(config.master_failover_detach_replica_master_host);
    assert_eq!(config.postpone_replica_recovery_on_lag_minutes, 3);
}

/// The migration guide lists every key arbor accepts without acting on it.
#[test]
fn the_migration_guide_lists_every_inert_key() {
    let guide = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/migrating-from-orchestrator.md"),
    )
    .unwrap();
    for (key, _) in crate::NOT_IMPLEMENTED
        .iter()
        .chain(crate::ORCHESTRATOR_ONLY)
    {
        assert!(
            guide.contains(&format!("| `{key}` |")),
            "{key} is not in the migration guide"
        );
    }
}

/// docs/configuration.md is what the key table says (ARBOR_BLESS=1 writes it).
#[test]
fn configuration_reference_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let written = crate::reference_markdown();
    if std::env::var_os("ARBOR_BLESS").is_some() {
        std::fs::write(&path, &written).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == written,
        "docs/configuration.md is out of date: run ARBOR_BLESS=1 cargo test -p arbor-config configuration_reference"
    );
    // Every key is in it once, with its status and what it does.
    for key in Config::KEYS {
        assert_eq!(written.matches(&format!("| `{key}` |")).count(), 1, "{key}");
    }
    let undescribed: Vec<&str> = written.lines().filter(|l| l.ends_with("|  |")).collect();
    assert!(
        undescribed.is_empty(),
        "keys without a description: {undescribed:#?}"
    );
}
