//! The key-value stores in a node: the publisher built from the configuration, fenced by the
//! node's leadership; told of every promotion by the recovery engine (before the post-failover
//! hooks); and kept in step with discovery by a loop that offers each cluster's writable
//! primary (at start, and whenever a new primary is discovered).

use std::sync::Arc;
use std::time::Duration;

use arbor_analysis::{writable_primaries, RouteLimits};
use arbor_config::Config;
use arbor_kv::{ConsulSettings, Fence, Publisher, StoreSettings};
use arbor_recovery::{Leadership, PrimaryAnnouncer, RecoveryEngine};
use arbor_topology::{InstanceKey, Timestamp};
use tokio::task::JoinHandle;

use crate::NodeError;

/// How long one call to a store may take.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a failover waits for the stores before its post-failover hooks run (the new
/// primary is already writable; a store that is slower is brought up to date afterwards).
const ANNOUNCE_WAIT: Duration = Duration::from_secs(1);
/// How often the discovered primaries are compared with what was offered.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// Publishing is the leader's: the fence is the node's leadership.
struct LeaderFence(Arc<dyn Leadership>);

impl Fence for LeaderFence {
    fn token(&self) -> Option<u64> {
        self.0
            .is_leader()
            .then(|| self.0.fencing_token().unwrap_or(0))
    }
}

/// The stores the configuration names (none: a publisher that only keeps what it is told).
pub(crate) fn publisher(
    config: &Config,
    leadership: Arc<dyn Leadership>,
) -> Result<Publisher, NodeError> {
    let https_etcd = config.etcd_address.contains("https://");
    let tls = if https_etcd || config.consul_scheme.trim() == "https" {
        let file = |path: &str| {
            let path = path.trim();
            (!path.is_empty()).then(|| std::path::PathBuf::from(path))
        };
        let options = arbor_client::ClientOptions {
            ca_file: file(&config.etcd_ssl_ca_file),
            client_identity: file(&config.etcd_ssl_cert_file)
                .zip(file(&config.etcd_ssl_private_key_file)),
            ..Default::default()
        };
        Some(
            arbor_client::tls_config(&options).map_err(|message| NodeError::Tls {
                key: "EtcdSSLCAFile",
                message,
            })?,
        )
    } else {
        None
    };
    let consul = (!config.consul_address.trim().is_empty()).then(|| ConsulSettings {
        address: config.consul_address.clone(),
        scheme: config.consul_scheme.clone(),
        acl_token: config.consul_acl_token.clone(),
        transactions: config.consul_kv_store_provider.trim() == "consul-txn",
        max_per_transaction: config.consul_max_kvs_per_transaction.clamp(1, 64) as usize,
        all_datacenters: config.consul_cross_data_center_distribution,
    });
    let stores = arbor_kv::stores(StoreSettings {
        zk_address: config.zk_address.clone(),
        etcd_address: config.etcd_address.clone(),
        consul,
        timeout: STORE_TIMEOUT,
        tls,
    })
    .map_err(|e| NodeError::Config(e.to_string()))?;
    for store in &stores {
        tracing::info!(store = store.name(), address = %store.address(), prefix = %config.kv_cluster_master_prefix, "publishing primaries to a key-value store");
    }
    Ok(Publisher::start(
        stores,
        &config.kv_cluster_master_prefix,
        Arc::new(LeaderFence(leadership)),
    ))
}

/// Tells the stores of each promotion, waiting at most [`ANNOUNCE_WAIT`].
struct Announcer(Publisher);

impl PrimaryAnnouncer for Announcer {
    fn announce<'a>(
        &'a self,
        alias: &'a str,
        primary: &'a InstanceKey,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<String>> + Send + 'a>> {
        Box::pin(async move {
            let generation = self.0.announce(alias, primary);
            self.0
                .wait(alias, generation, ANNOUNCE_WAIT)
                .await
                .into_iter()
                .map(|report| match report.result {
                    Ok(_) => format!("{} names {primary} the primary of {alias}", report.store),
                    Err(why) => format!(
                        "{} does not name {primary} the primary of {alias} yet: {why}",
                        report.store
                    ),
                })
                .collect()
        })
    }
}

/// Wires `publisher` into the node: recovery announces through it, and a loop offers each
/// cluster's writable primary as discovery sees it. `None` when no store is configured.
pub(crate) fn follow(
    publisher: &Publisher,
    recovery: &RecoveryEngine,
    check_window: Duration,
) -> Option<JoinHandle<()>> {
    if !publisher.has_stores() {
        return None;
    }
    recovery.set_primary_announcer(Arc::new(Announcer(publisher.clone())));
    let (publisher, recovery) = (publisher.clone(), recovery.clone());
    Some(tokio::spawn(async move {
        let mut said_ambiguous = std::collections::BTreeSet::new();
        loop {
            tokio::time::sleep(FOLLOW_INTERVAL).await;
            if !recovery.leadership().is_leader() {
                continue;
            }
            let Ok(snapshot) = recovery.latest_snapshot().await else {
                continue;
            };
            let limits = RouteLimits {
                fresh_within: check_window,
                max_lag: Duration::ZERO,
            };
            let (primaries, ambiguous) =
                writable_primaries(&snapshot.topology, &limits, Timestamp::now(), |key| {
                    recovery.demoted_at(key)
                });
            for (alias, primary) in primaries {
                publisher.announce(&alias, &primary);
            }
            for alias in ambiguous {
                if said_ambiguous.insert(alias.clone()) {
                    tracing::warn!(%alias, "two clusters share this alias, each with a writable primary: not publishing either");
                }
            }
        }
    }))
}
