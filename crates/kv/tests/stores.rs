//! Publishing to real ZooKeeper and etcd servers (Debian's), and to the Consul stand-in (no
//! Consul server can be installed here; see arbor-testkit's `consul` module): the same
//! promises for each store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor_kv::{stores, ConsulSettings, Fence, KvError, Outcome, Publisher, Store, StoreSettings};
use arbor_testkit::{start_etcd, start_zookeeper, wait_for, ConsulStandIn};
use arbor_topology::{cluster_kv_pairs, InstanceKey};

const TIMEOUT: Duration = Duration::from_secs(2);

fn key(text: &str) -> InstanceKey {
    text.parse().unwrap()
}

fn consul(address: String, transactions: bool) -> ConsulSettings {
    ConsulSettings {
        address,
        scheme: "http".into(),
        acl_token: String::new(),
        transactions,
        max_per_transaction: 2,
        all_datacenters: false,
    }
}

fn one(settings: StoreSettings) -> Store {
    let mut built = stores(StoreSettings {
        timeout: TIMEOUT,
        ..settings
    })
    .unwrap();
    assert_eq!(built.len(), 1);
    built.remove(0)
}

/// The promises every store keeps, checked on `store`; `interfere` writes `KEY` as another
/// client would (synchronously).
async fn publishes_with_compare_and_set(store: &Store, interfere: &(dyn Fn(&str) + Sync)) {
    let always = || true;
    let first = cluster_kv_pairs("mysql/master", "shop", &key("10.0.0.1:3306"));
    assert_eq!(
        store.publish(&first, &always).await.unwrap(),
        Outcome::Written
    );
    let keys = [
        "mysql/master/shop",
        "mysql/master/shop/hostname",
        "mysql/master/shop/port",
        "mysql/master/shop/ipv4",
        "mysql/master/shop/ipv6",
    ];
    assert_eq!(
        store.get(&keys).await.unwrap(),
        [
            Some("10.0.0.1:3306".to_string()),
            Some("10.0.0.1".to_string()),
            Some("3306".to_string()),
            Some("10.0.0.1".to_string()),
            None
        ],
        "{}",
        store.name()
    );
    // The same pairs again change nothing.
    assert_eq!(
        store.publish(&first, &always).await.unwrap(),
        Outcome::Unchanged
    );

    // A node that no longer leads reads, sees a difference, and writes nothing.
    let second = cluster_kv_pairs("mysql/master", "shop", &key("db2.example:3307"));
    let never = || false;
    assert!(matches!(
        store.publish(&second, &never).await,
        Err(KvError::NotLeader)
    ));
    assert_eq!(
        store.get(&["mysql/master/shop"]).await.unwrap(),
        [Some("10.0.0.1:3306".to_string())]
    );

    // Another client writes between arbor's read and its write: the compare fails, arbor
    // reads again (a second leadership check) and writes over the newer value it now knows.
    let checks = std::sync::atomic::AtomicUsize::new(0);
    let racing = || {
        if checks.fetch_add(1, Ordering::SeqCst) == 0 {
            interfere("someone-else:1");
        }
        true
    };
    assert_eq!(
        store.publish(&second, &racing).await.unwrap(),
        Outcome::Written
    );
    assert_eq!(
        checks.load(Ordering::SeqCst),
        2,
        "{}: the racing write was noticed",
        store.name()
    );
    assert_eq!(
        store
            .get(&[
                "mysql/master/shop",
                "mysql/master/shop/hostname",
                "mysql/master/shop/port"
            ])
            .await
            .unwrap(),
        [
            Some("db2.example:3307".to_string()),
            Some("db2.example".to_string()),
            Some("3307".to_string())
        ]
    );
}

#[tokio::test]
async fn zookeeper_holds_the_primary() {
    let zk = start_zookeeper().unwrap();
    let store = one(StoreSettings {
        zk_address: zk.address(),
        ..Default::default()
    });
    let address = zk.address();
    let interfere = |value: &str| {
        let status = std::process::Command::new("/usr/share/zookeeper/bin/zkCli.sh")
            .args(["-server", &address, "set", "/mysql/master/shop", value])
            .output()
            .expect("zkCli.sh");
        assert!(status.status.success(), "{status:?}");
    };
    publishes_with_compare_and_set(&store, &interfere).await;
    // ZooKeeper's own client reads the same.
    let output = std::process::Command::new("/usr/share/zookeeper/bin/zkCli.sh")
        .args(["-server", &zk.address(), "get", "/mysql/master/shop"])
        .output()
        .expect("zkCli.sh from the zookeeper package");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.lines().any(|l| l.trim() == "db2.example:3307"),
        "zkCli.sh get printed:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn etcd_holds_the_primary() {
    let etcd = start_etcd().unwrap();
    let store = one(StoreSettings {
        etcd_address: format!("http://{}", etcd.address()),
        ..Default::default()
    });
    let interfere = |value: &str| {
        let status = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &etcd.address(),
                "put",
                "mysql/master/shop",
                value,
            ])
            .output()
            .expect("etcdctl");
        assert!(status.status.success(), "{status:?}");
    };
    publishes_with_compare_and_set(&store, &interfere).await;
    // etcd's own client reads the same.
    let output = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &etcd.address(),
            "get",
            "mysql/master/shop",
            "--print-value-only",
        ])
        .output()
        .expect("etcdctl from the etcd-client package");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "db2.example:3307",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn consul_stand_in_holds_the_primary_with_either_provider() {
    for transactions in [false, true] {
        let server = ConsulStandIn::start().unwrap();
        let store = one(StoreSettings {
            consul: Some(consul(server.address(), transactions)),
            ..Default::default()
        });
        publishes_with_compare_and_set(&store, &|value| server.set("mysql/master/shop", value))
            .await;
        assert_eq!(
            server.value("mysql/master/shop", None).as_deref(),
            Some("db2.example:3307")
        );
    }
}

#[tokio::test]
async fn consul_token_and_every_datacenter() {
    let server = ConsulStandIn::start_with(&["dc1", "dc2"], Some("s3cret")).unwrap();
    let pairs = cluster_kv_pairs("mysql/master", "shop", &key("10.0.0.9:3306"));
    let always = || true;
    // Without the token: refused, and the message says which key to check.
    let anonymous = one(StoreSettings {
        consul: Some(consul(server.address(), false)),
        ..Default::default()
    });
    let refused = anonymous.publish(&pairs, &always).await.unwrap_err();
    assert!(refused.to_string().contains("ConsulAclToken"), "{refused}");
    let store = one(StoreSettings {
        consul: Some(ConsulSettings {
            acl_token: "s3cret".into(),
            all_datacenters: true,
            ..consul(server.address(), true)
        }),
        ..Default::default()
    });
    store.publish(&pairs, &always).await.unwrap();
    for dc in ["dc1", "dc2"] {
        assert_eq!(
            server.value("mysql/master/shop", Some(dc)).as_deref(),
            Some("10.0.0.9:3306"),
            "{dc}"
        );
    }
}

/// Leadership a test sets: `u64::MAX` means "does not lead".
struct TestFence(AtomicU64);

impl Fence for TestFence {
    fn token(&self) -> Option<u64> {
        match self.0.load(Ordering::SeqCst) {
            u64::MAX => None,
            token => Some(token),
        }
    }
}

#[tokio::test]
async fn a_store_that_is_down_is_caught_up_with_the_newest_primary_when_it_returns() {
    let mut etcd = start_etcd().unwrap();
    let mut consul_server = ConsulStandIn::start().unwrap();
    let built = stores(StoreSettings {
        etcd_address: etcd.address(),
        consul: Some(consul(consul_server.address(), false)),
        timeout: Duration::from_millis(500),
        ..Default::default()
    })
    .unwrap();
    let fence = Arc::new(TestFence(AtomicU64::new(1)));
    let publisher = Publisher::start(built, "mysql/master", fence.clone());
    let generation = publisher.announce("shop", &key("10.0.0.1:3306"));
    let reports = publisher
        .wait("shop", generation, Duration::from_secs(10))
        .await;
    assert!(reports.iter().all(|r| r.result.is_ok()), "{reports:?}");

    // Both stores go down; two failovers happen meanwhile. Offers return at once, and a
    // bounded wait says what is missing.
    etcd.stop();
    consul_server.stop();
    let started = std::time::Instant::now();
    publisher.announce("shop", &key("10.0.0.2:3306"));
    let newest = publisher.announce("shop", &key("10.0.0.3:3306"));
    assert!(started.elapsed() < Duration::from_millis(100));
    let reports = publisher.wait("shop", newest, Duration::from_secs(5)).await;
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.result.is_err()), "{reports:?}");
    let status = publisher.status();
    assert!(
        status
            .iter()
            .all(|s| !s.healthy && s.pending == ["shop"] && !s.last_error.is_empty()),
        "{status:?}"
    );

    // Back up: each gets the newest primary, not the one in between.
    etcd.start().unwrap();
    consul_server.resume().unwrap();
    let caught_up = wait_for(Duration::from_secs(30), || async {
        publisher
            .status()
            .iter()
            .all(|s| s.healthy && s.pending.is_empty())
            .then_some(())
    })
    .await;
    assert!(caught_up.is_some(), "{:?}", publisher.status());
    for store in stores(StoreSettings {
        etcd_address: etcd.address(),
        consul: Some(consul(consul_server.address(), false)),
        timeout: TIMEOUT,
        ..Default::default()
    })
    .unwrap()
    {
        assert_eq!(
            store.get(&["mysql/master/shop"]).await.unwrap(),
            [Some("10.0.0.3:3306".to_string())],
            "{}",
            store.name()
        );
    }
}

#[tokio::test]
async fn only_the_leader_publishes() {
    let server = ConsulStandIn::start().unwrap();
    let built = stores(StoreSettings {
        consul: Some(consul(server.address(), false)),
        timeout: TIMEOUT,
        ..Default::default()
    })
    .unwrap();
    let fence = Arc::new(TestFence(AtomicU64::new(u64::MAX)));
    let publisher = Publisher::start(built, "mysql/master", fence.clone());
    let generation = publisher.announce("shop", &key("10.0.0.1:3306"));
    let reports = publisher
        .wait("shop", generation, Duration::from_secs(1))
        .await;
    assert!(
        reports[0]
            .result
            .as_ref()
            .unwrap_err()
            .contains("does not lead"),
        "{reports:?}"
    );
    assert_eq!(server.writes(), 0);
    assert_eq!(server.value("mysql/master/shop", None), None);
    // Once it leads, what it holds is published.
    fence.0.store(7, Ordering::SeqCst);
    let published = wait_for(Duration::from_secs(10), || async {
        server.value("mysql/master/shop", None)
    })
    .await;
    assert_eq!(published.as_deref(), Some("10.0.0.1:3306"));
}
