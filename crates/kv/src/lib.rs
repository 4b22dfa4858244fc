//! Publishing each cluster's primary to key-value stores (ZooKeeper, etcd v3, Consul), in
//! orchestrator's layout (`KVClusterMasterPrefix/<alias>` = `host:port`, with `/hostname`,
//! `/port`, `/ipv4`, `/ipv6`), so that applications and proxies that watch a KV store follow a
//! failover.
//!
//! [`Publisher`] keeps the newest pairs per cluster and one background worker per store; a
//! store that is down never delays anyone: its worker retries with the newest value and its
//! state shows in [`Publisher::status`]. Every write is a compare-and-set against what was
//! read, made only while the [`Fence`] says this node may act: see `DESIGN.md`.

mod consul;
mod etcd;
mod publisher;
mod zk;

use std::time::Duration;

use arbor_topology::KvPair;

/// Every store's state, as `/api/status` and the metrics show it.
pub use arbor_api::KvStoreHealth;
pub use consul::{Consul, ConsulSettings, MAX_TXN_OPS};
pub use etcd::Etcd;
pub use publisher::{Fence, Publisher, StoreReport};
pub use zk::ZooKeeper;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The configuration of a store is wrong; names the key.
    #[error("{0}")]
    Config(String),
    /// The store could not be reached or did not answer in time.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The store answered and refused (authorization, a bad request).
    #[error("refused: {0}")]
    Refused(String),
    /// A key changed between reading and writing it (another writer).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store answered something this client does not understand.
    #[error("protocol: {0}")]
    Protocol(String),
    /// This node may not publish (it does not lead, or its leadership changed).
    #[error("not the leader: another node publishes")]
    NotLeader,
}

/// One key as a store holds it now: its value, and the version a compare-and-set must match
/// (ZooKeeper's data version, etcd's `mod_revision`, Consul's `ModifyIndex`).
#[derive(Debug, Clone)]
pub(crate) struct CasRead {
    pub value: Option<String>,
    pub version: i64,
    /// The value already is the one wanted.
    pub current: bool,
    /// Where in the store (a Consul datacenter), when it has several.
    pub place: Option<String>,
}

impl CasRead {
    pub(crate) fn of(pair: &KvPair, value: Option<String>, version: i64) -> CasRead {
        CasRead {
            current: value.as_deref() == Some(pair.value.as_str()),
            value,
            version,
            place: None,
        }
    }
}

/// One configured store.
#[derive(Debug, Clone)]
pub enum Store {
    ZooKeeper(ZooKeeper),
    Etcd(Etcd),
    Consul(Consul),
}

/// What a publication did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The store already held these values.
    Unchanged,
    Written,
}

impl Store {
    pub fn name(&self) -> &'static str {
        match self {
            Store::ZooKeeper(_) => "zookeeper",
            Store::Etcd(_) => "etcd",
            Store::Consul(_) => "consul",
        }
    }

    pub fn address(&self) -> String {
        match self {
            Store::ZooKeeper(zk) => zk.address(),
            Store::Etcd(etcd) => etcd.address(),
            Store::Consul(consul) => consul.address(),
        }
    }

    async fn read(&self, pairs: &[KvPair]) -> Result<Vec<CasRead>, KvError> {
        match self {
            Store::ZooKeeper(zk) => zk.read(pairs).await,
            Store::Etcd(etcd) => etcd.read(pairs).await,
            Store::Consul(consul) => consul.read(pairs).await,
        }
    }

    async fn write(&self, pairs: &[KvPair], read: &[CasRead]) -> Result<(), KvError> {
        match self {
            Store::ZooKeeper(zk) => zk.write(pairs, read).await,
            Store::Etcd(etcd) => etcd.write(pairs, read).await,
            Store::Consul(consul) => consul.write(pairs, read).await,
        }
    }

    /// Makes the store hold `pairs`: reads them, and when any differs, writes them all with a
    /// compare-and-set against that reading, after asking `may_write` (the leadership check
    /// sits between the read and the write, so a deposed leader's write fails the compare or
    /// is never sent). A conflict is read again, a few times.
    pub async fn publish(
        &self,
        pairs: &[KvPair],
        may_write: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Outcome, KvError> {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let read = self.read(pairs).await?;
            if read.iter().all(|r| r.current) {
                return Ok(Outcome::Unchanged);
            }
            if !may_write() {
                return Err(KvError::NotLeader);
            }
            match self.write(pairs, &read).await {
                Ok(()) => return Ok(Outcome::Written),
                Err(KvError::Conflict(_)) if attempt < ATTEMPTS => continue,
                Err(error) => return Err(error),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Reads `keys` as the store holds them now (`None`: absent); for tests and tools.
    pub async fn get(&self, keys: &[&str]) -> Result<Vec<Option<String>>, KvError> {
        let pairs: Vec<KvPair> = keys
            .iter()
            .map(|key| KvPair {
                key: key.to_string(),
                value: String::new(),
            })
            .collect();
        Ok(self
            .read(&pairs)
            .await?
            .into_iter()
            .map(|r| r.value)
            .collect())
    }
}

/// The configured stores, built from the configuration's values.
#[derive(Debug, Clone, Default)]
pub struct StoreSettings {
    /// `ZkAddress`.
    pub zk_address: String,
    /// `EtcdAddress`.
    pub etcd_address: String,
    /// `ConsulAddress` and the other `Consul*` keys (used when the address is set).
    pub consul: Option<ConsulSettings>,
    /// How long one call to a store may take (connect and answer).
    pub timeout: Duration,
    /// rustls settings for https stores (etcd, Consul): the CAs and client certificate.
    pub tls: Option<rustls::ClientConfig>,
}

/// Builds every store `settings` configure.
pub fn stores(settings: StoreSettings) -> Result<Vec<Store>, KvError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(settings.timeout)
        .timeout(settings.timeout);
    if let Some(tls) = settings.tls {
        builder = builder.use_preconfigured_tls(tls);
    }
    let http = builder
        .build()
        .map_err(|e| KvError::Config(format!("cannot build the HTTP client for KV stores: {e}")))?;
    let mut stores = Vec::new();
    if !settings.zk_address.trim().is_empty() {
        stores.push(Store::ZooKeeper(ZooKeeper::new(
            &settings.zk_address,
            settings.timeout,
        )?));
    }
    if !settings.etcd_address.trim().is_empty() {
        stores.push(Store::Etcd(Etcd::new(
            &settings.etcd_address,
            http.clone(),
        )?));
    }
    if let Some(consul) = settings.consul.filter(|c| !c.address.trim().is_empty()) {
        stores.push(Store::Consul(Consul::new(consul, http)?));
    }
    Ok(stores)
}

/// A reqwest error with its causes (reqwest's own message omits "connection refused").
pub(crate) fn http_error(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
