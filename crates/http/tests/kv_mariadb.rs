//! The primary published to key-value stores, on real MariaDB: real ZooKeeper and etcd servers
//! (Debian's) and the Consul stand-in (no Consul server can be installed here). The stores name
//! the primary after discovery, after a graceful takeover and after an automated failover,
//! before the post-failover hooks run; a store that is down during a failover delays nothing
//! and is brought up to date when it returns; `submit-masters-to-kv-stores` rewrites them.

mod common;

use std::time::Duration;

use arbor_kv::{stores, ConsulSettings, Store, StoreSettings};
use arbor_testkit::{start_etcd, start_zookeeper, wait_for, ConsulStandIn, MariaDbSandbox};
use common::{automated_recovery, start_node_with, with, Served};
use serde_json::json;

const KEY: &str = "mysql/master/shop";

/// Reads `KEY` from every store; `(store, value)`.
async fn published(readers: &[Store]) -> Vec<(&'static str, Option<String>)> {
    let mut values = Vec::new();
    for store in readers {
        let value = store.get(&[KEY]).await.ok().and_then(|mut v| v.remove(0));
        values.push((store.name(), value));
    }
    values
}

/// Waits until every store names `primary`.
async fn all_name(readers: &[Store], primary: &str) -> Result<(), String> {
    let done = wait_for(Duration::from_secs(30), || async {
        published(readers)
            .await
            .iter()
            .all(|(_, value)| value.as_deref() == Some(primary))
            .then_some(())
    })
    .await;
    done.ok_or(format!(
        "the stores do not all name {primary}: {:?}",
        published(readers).await
    ))
}

/// Waits until `/api/status` shows the three stores healthy with nothing pending.
async fn all_healthy(served: &Served) -> bool {
    wait_for(Duration::from_secs(30), || async {
        let status = served.read("status").await;
        let kv = status["Details"]["ArborKVStores"].as_array()?.clone();
        (kv.len() == 3
            && kv
                .iter()
                .all(|s| s["Healthy"] == true && s["Pending"] == json!([])))
        .then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn the_stores_follow_discovery_takeover_and_failover() {
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0)]).unwrap();
    let mut etcd = start_etcd().unwrap();
    let zookeeper = start_zookeeper().unwrap();
    let consul = ConsulStandIn::start().unwrap();
    let hooks = tempfile::tempdir().unwrap();
    let etcd_value = format!(
        "$(ETCDCTL_API=3 etcdctl --endpoints={} get {KEY} --print-value-only)",
        etcd.address()
    );
    let hook = |file: &str| {
        format!(
            "echo \"{{successorHost}}:{{successorPort}} {etcd_value}\" >> {}",
            hooks.path().join(file).display()
        )
    };
    let node = start_node_with(with(
        automated_recovery(),
        json!({
            "RecoveryPeriodBlockSeconds": 1,
            "ClusterNameToAlias": { "127\\.0\\.0\\.1": "shop" },
            "ZkAddress": zookeeper.address(),
            "EtcdAddress": format!("http://{}", etcd.address()),
            "ConsulAddress": consul.address(),
            "ConsulKVStoreProvider": "consul-txn",
            "PostGracefulTakeoverProcesses": [hook("takeover")],
            "PostFailoverProcesses": [hook("failover")],
        }),
    ))
    .await;
    let served = Served::watch(sandbox, node, &[0]).await;
    let readers = stores(StoreSettings {
        zk_address: zookeeper.address(),
        etcd_address: etcd.address(),
        consul: Some(ConsulSettings {
            address: consul.address(),
            scheme: "http".into(),
            acl_token: String::new(),
            transactions: false,
            max_per_transaction: 5,
            all_datacenters: false,
        }),
        timeout: Duration::from_secs(2),
        tls: None,
    })
    .unwrap();

    // Discovery: every store names the primary, with its host and port beside it.
    all_name(&readers, &served.key(0)).await.unwrap();
    let port_key = format!("{KEY}/port");
    for store in &readers {
        assert_eq!(
            store.get(&[&port_key]).await.unwrap(),
            [Some(served.sandbox.port(0).to_string())],
            "{}",
            store.name()
        );
    }
    // The status says so (each worker records its success just after the store took it).
    assert!(
        all_healthy(&served).await,
        "{}",
        served.read("status").await
    );

    // A graceful takeover: when the post-takeover hook runs, etcd already names R1.
    served
        .ok(&format!(
            "graceful-master-takeover-auto/{}/{}",
            served.key(0),
            served.path(1)
        ))
        .await;
    let takeover = std::fs::read_to_string(hooks.path().join("takeover")).unwrap();
    assert_eq!(
        takeover.trim(),
        format!("{} {}", served.key(1), served.key(1)),
        "the hook saw etcd's value"
    );
    all_name(&readers, &served.key(1)).await.unwrap();

    // etcd is down when R1 dies: the failover goes on without it (its audit says etcd is
    // behind), ZooKeeper and Consul name the new primary, and etcd catches up when it returns.
    etcd.stop();
    let mut served = served;
    served.sandbox.kill(1).unwrap();
    let recovery = served.finished_recovery_of(1).await;
    assert_eq!(
        recovery["IsSuccessful"], true,
        "R1's failure is recovered: {recovery}"
    );
    let successor = format!(
        "{}:{}",
        recovery["SuccessorKey"]["Hostname"].as_str().unwrap(),
        recovery["SuccessorKey"]["Port"]
    );
    let steps = served
        .read(&format!(
            "audit-recovery-steps/{}",
            recovery["UID"].as_str().unwrap()
        ))
        .await;
    let steps = steps.to_string();
    assert!(
        steps.contains(&format!(
            "etcd does not name {successor} the primary of shop yet"
        )),
        "{steps}"
    );
    assert!(
        steps.contains(&format!("zookeeper names {successor} the primary of shop")),
        "{steps}"
    );
    let failover_hook = std::fs::read_to_string(hooks.path().join("failover")).unwrap();
    assert!(
        failover_hook.starts_with(&successor),
        "the hook ran: {failover_hook}"
    );
    let up = &readers[..];
    for store in up.iter().filter(|s| s.name() != "etcd") {
        assert_eq!(
            store.get(&[KEY]).await.unwrap(),
            [Some(successor.clone())],
            "{} names the new primary once the failover is over",
            store.name()
        );
    }
    let status = served.read("status").await;
    let etcd_status = status["Details"]["ArborKVStores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Store"] == "etcd")
        .cloned()
        .unwrap();
    assert_eq!(etcd_status["Healthy"], false, "{etcd_status}");
    assert_eq!(etcd_status["Pending"], json!(["shop"]), "{etcd_status}");
    etcd.start().unwrap();
    all_name(&readers, &successor).await.unwrap();
    assert!(
        all_healthy(&served).await,
        "{}",
        served.read("status").await
    );
    let metrics = served
        .client
        .get(format!("{}/metrics", served.node.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("arbor_kv_store_publish_failures_total{store=\"etcd\"}"),
        "{metrics}"
    );

    // Someone overwrites ZooKeeper; submit-masters-to-kv-stores puts the primary back.
    let zk = readers.iter().find(|s| s.name() == "zookeeper").unwrap();
    let wrong =
        arbor_topology::cluster_kv_pairs("mysql/master", "shop", &"10.9.9.9:3306".parse().unwrap());
    zk.publish(&wrong, &|| true).await.unwrap();
    // (Only a primary that passes the primary check is written: on a busy machine a reading
    // can be a moment past its freshness window, and the answer is then a 422 saying so.)
    let body = wait_for(Duration::from_secs(30), || async {
        let (status, body) = served.call("submit-masters-to-kv-stores/shop").await;
        (status == 200).then_some(body)
    })
    .await
    .expect("submit-masters-to-kv-stores/shop succeeds");
    assert_eq!(body["Details"][0]["Key"], KEY, "{body}");
    assert_eq!(body["Details"][0]["Value"], successor, "{body}");
    assert_eq!(zk.get(&[KEY]).await.unwrap(), [Some(successor.clone())]);
    let (status, body) = served
        .call("submit-masters-to-kv-stores/no-such-cluster")
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn etcd_over_mutual_tls_with_the_etcd_keys() {
    let certs_dir = tempfile::tempdir().unwrap();
    let certs = arbor_testkit::write_certificates(certs_dir.path());
    let etcd = arbor_testkit::start_etcd_tls(&certs).unwrap();
    let sandbox = MariaDbSandbox::start(&[None, Some(0)]).unwrap();
    let node = start_node_with(with(
        common::config(),
        json!({
            "ClusterNameToAlias": { "127\\.0\\.0\\.1": "shop" },
            "EtcdAddress": format!("https://{}", etcd.address()),
            "EtcdSSLCAFile": certs.ca.display().to_string(),
            "EtcdSSLCertFile": certs.cert.display().to_string(),
            "EtcdSSLPrivateKeyFile": certs.key.display().to_string(),
        }),
    ))
    .await;
    let served = Served::watch(sandbox, node, &[0]).await;
    // etcdctl, with the same files, reads what arbor wrote.
    let read = || {
        let output = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                &format!("--endpoints=https://{}", etcd.address()),
                &format!("--cacert={}", certs.ca.display()),
                &format!("--cert={}", certs.cert.display()),
                &format!("--key={}", certs.key.display()),
                "get",
                KEY,
                "--print-value-only",
            ])
            .output()
            .expect("etcdctl");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    let named = wait_for(Duration::from_secs(30), || async {
        (read() == served.key(0)).then_some(())
    })
    .await;
    assert!(
        named.is_some(),
        "etcd holds {:?}; status {}",
        read(),
        served.read("status").await
    );
}

#[tokio::test]
async fn a_store_that_refuses_is_named_in_the_status() {
    // etcd over TLS, but arbor is given no client certificate: every attempt is refused, the
    // status says why, and nothing else is held up.
    let certs_dir = tempfile::tempdir().unwrap();
    let certs = arbor_testkit::write_certificates(certs_dir.path());
    let etcd = arbor_testkit::start_etcd_tls(&certs).unwrap();
    let sandbox = MariaDbSandbox::start(&[None]).unwrap();
    let node = start_node_with(with(
        common::config(),
        json!({
            "EtcdAddress": format!("https://{}", etcd.address()),
            "EtcdSSLCAFile": certs.ca.display().to_string(),
        }),
    ))
    .await;
    let served = Served::watch(sandbox, node, &[0]).await;
    let failing = wait_for(Duration::from_secs(30), || async {
        let status = served.read("status").await;
        let etcd = status["Details"]["ArborKVStores"][0].clone();
        (etcd["Healthy"] == false && etcd["Failures"].as_u64() > Some(0)).then_some(etcd)
    })
    .await
    .expect("the refusal shows in the status");
    assert!(
        failing["LastError"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{failing}"
    );
    assert_eq!(failing["Pending"].as_array().unwrap().len(), 1, "{failing}");
    let (status, body) = served.call("submit-masters-to-kv-stores").await;
    assert_eq!(status, 503, "{body}");
    assert!(body["Message"].as_str().unwrap().contains("etcd"), "{body}");
}
