//! The conformance suite against the MySQL store, on a real `mariadbd` started per test.

use arbor_sandbox::MariaDbSandbox;
use arbor_store::{MySqlBackend, MySqlStore};

pub const BACKEND_USER: &str = "arbor_backend";
pub const BACKEND_PASSWORD: &str = "backend-secret";

/// The backend at `port` as arbor's test account, with `tls`.
fn backend(port: u16, tls: Option<mysql_async::SslOpts>) -> MySqlBackend {
    MySqlBackend {
        host: "127.0.0.1".into(),
        port,
        database: "arbor".into(),
        user: BACKEND_USER.into(),
        password: BACKEND_PASSWORD.into(),
        max_connections: 4,
        tls,
    }
}

/// A fresh server with an account that may create arbor's database, and a store on it.
async fn mysql_store() -> (MariaDbSandbox, MySqlStore) {
    let sandbox = MariaDbSandbox::start(&[None]).expect("a MariaDB server");
    sandbox
        .sql(
            0,
            &format!(
                "CREATE USER '{BACKEND_USER}'@'%' IDENTIFIED BY '{BACKEND_PASSWORD}'; \
                 GRANT ALL ON `arbor`.* TO '{BACKEND_USER}'@'%';"
            ),
        )
        .expect("backend account");
    let store = MySqlStore::open(&backend(sandbox.port(0), None))
        .await
        .expect("MySQL store opens");
    (sandbox, store)
}

arbor_store::store_conformance_suite!(guarded mysql_store().await);

#[tokio::test]
async fn the_lease_has_one_holder_until_it_expires_or_is_released() {
    use std::time::Duration;
    let (_sandbox, store) = mysql_store().await;
    let lease = Duration::from_millis(800);
    let a = store
        .renew_lease("a", "http://a:3000", lease)
        .await
        .unwrap();
    assert_eq!((a.node.as_str(), a.valid), ("a", true));
    // While a renews, b cannot take it.
    let b = store
        .renew_lease("b", "http://b:3000", lease)
        .await
        .unwrap();
    assert_eq!(b.node, "a");
    assert_eq!(b.api, "http://a:3000");
    // Once a stops renewing and the lease runs out (by the database's clock), b takes it.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let b = store
        .renew_lease("b", "http://b:3000", lease)
        .await
        .unwrap();
    assert_eq!((b.node.as_str(), b.valid), ("b", true));
    let a = store
        .renew_lease("a", "http://a:3000", lease)
        .await
        .unwrap();
    assert_eq!(a.node, "b", "a does not take back a valid lease");
    // grab-election and reelect.
    store.grab_lease("a", "http://a:3000", lease).await.unwrap();
    assert_eq!(store.lease_holder().await.unwrap().unwrap().node, "a");
    store.release_lease().await.unwrap();
    assert_eq!(store.lease_holder().await.unwrap(), None);
    let nodes = store.nodes().await.unwrap();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert!(nodes.iter().all(|n| n.active));
}

/// `MySQLOrchestratorUseMutualTLS`: a backend that accepts TLS connections only is used over
/// TLS, its certificate checked against `MySQLOrchestratorSSLCAFile`.
#[tokio::test]
async fn a_backend_that_requires_tls_is_reached_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let files = arbor_testkit::write_certificates(dir.path());
    let sandbox = MariaDbSandbox::start_with(
        &[None],
        arbor_sandbox::SandboxOptions::tls_only(&files.ca, &files.cert, &files.key),
    )
    .expect("a MariaDB server that requires TLS");
    sandbox
        .sql(
            0,
            &format!(
                "CREATE USER '{BACKEND_USER}'@'%' IDENTIFIED BY '{BACKEND_PASSWORD}'; \
                 GRANT ALL ON `arbor`.* TO '{BACKEND_USER}'@'%';"
            ),
        )
        .unwrap();
    let plain = MySqlStore::open(&backend(sandbox.port(0), None)).await;
    assert!(plain.is_err(), "the server refuses plain text");
    let ssl = mysql_async::SslOpts::default()
        .with_root_certs(vec![files.ca.clone().into()])
        .with_disable_built_in_roots(true);
    let store = MySqlStore::open(&backend(sandbox.port(0), Some(ssl)))
        .await
        .expect("the store opens over TLS");
    use arbor_store::Store;
    assert!(
        !store
            .global_recoveries_disabled()
            .await
            .expect("and answers over TLS"),
        "a new store has recoveries enabled"
    );
}

#[tokio::test]
async fn a_bad_backend_is_a_clear_error() {
    let error = MySqlStore::open(&MySqlBackend {
        host: "127.0.0.1".into(),
        port: 1,
        database: "arbor".into(),
        user: "x".into(),
        password: "y".into(),
        max_connections: 4,
        tls: None,
    })
    .await
    .err()
    .expect("no server on port 1");
    assert!(
        error.to_string().contains("mysql://x@127.0.0.1:1/arbor"),
        "{error}"
    );
    let error = MySqlStore::open(&MySqlBackend {
        host: "127.0.0.1".into(),
        port: 1,
        database: "arbor; DROP".into(),
        user: "x".into(),
        password: "y".into(),
        max_connections: 4,
        tls: None,
    })
    .await
    .err()
    .expect("a bad database name");
    assert!(
        error.to_string().contains("MySQLOrchestratorDatabase"),
        "{error}"
    );
}

/// The MySQL schema is versioned like SQLite's: opening twice is a no-op, a backend made
/// before versioning (tables, no `schema_migrations`) is taken as it is, and one written by a
/// newer arbor is refused.
#[tokio::test]
async fn the_mysql_schema_is_versioned() {
    let (sandbox, store) = mysql_store().await;
    drop(store);
    let count = || {
        sandbox
            .sql(
                0,
                "SELECT COUNT(*), MAX(version) FROM arbor.schema_migrations",
            )
            .unwrap()
            .trim()
            .to_string()
    };
    let versions = count();
    let schema = arbor_store::SCHEMA_VERSION;
    assert_eq!(
        versions,
        format!("{schema}\t{schema}"),
        "every migration recorded once"
    );
    let backend = backend(sandbox.port(0), None);
    MySqlStore::open(&backend).await.expect("opens again");
    assert_eq!(count(), versions, "nothing migrated twice");
    // A backend from before versioning.
    sandbox
        .sql(0, "DROP TABLE arbor.schema_migrations")
        .unwrap();
    MySqlStore::open(&backend)
        .await
        .expect("an unversioned backend opens");
    assert_eq!(count(), versions);
    // One from a newer arbor.
    sandbox
        .sql(
            0,
            "INSERT INTO arbor.schema_migrations VALUES (99, 'from the future', 0)",
        )
        .unwrap();
    let error = MySqlStore::open(&backend).await.err().expect("refused");
    assert!(error.to_string().contains("99"), "{error}");
}
