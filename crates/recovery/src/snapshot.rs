//! The topology and its analyses, as every part of a node reads them.
//!
//! A snapshot is derived from the store's readings and intents (successions, aliases), and
//! kept until the store's version changes: the recovery loop, the primary watcher, the API and
//! the web UI share one instead of each deriving its own. A store that cannot tell its version
//! (a shared backend other nodes write) gets a fresh one every time.
//!
//! Readers that only look (the API, the web UI, metrics, the loop noticing failures) take
//! [`RecoveryEngine::latest_snapshot`], kept current by a refresher (every 250 ms, or less
//! often when deriving is costly) and never wait for a derivation; what a recovery decides on is derived after a
//! re-read of the servers concerned ([`RecoveryEngine::snapshot`], `fresh_snapshot_of`).
//!
//! One derivation runs at a time, and a caller takes the newest snapshot whose reading of the
//! store began after the caller asked: as fresh as deriving its own, at the cost of one
//! derivation for any number of concurrent callers. Memory and CPU stay bounded under a storm
//! of suspicions (thousands of primaries unreachable at once).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_analysis::analyze;
use arbor_store::StoreError;
use arbor_topology::{InstanceKey, Timestamp, Topology, TopologyOptions};

use crate::engine::{RecoveryEngine, Snapshot};

/// How often, at most, the refresher derives a new snapshot when the store changed.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);
/// The refresher spends at most one part in this many of its time deriving: a derivation that
/// took 150 ms is repeated after 1.2 s, not 250 ms.
const REFRESH_DUTY: u32 = 8;

/// How long the refresher waits after a derivation that took `cost`.
fn refresh_pause(cost: Duration) -> Duration {
    (cost * REFRESH_DUTY).max(REFRESH_EVERY)
}

impl RecoveryEngine {
    /// The current topology and its analyses: derived from a reading of the store made after
    /// this call began, or unchanged since (by the store's version).
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        let asked = Instant::now();
        let version = self.inner.store.version();
        if version.is_some() {
            if let Some(cached) = self.cached().filter(|s| s.version == version) {
                return Ok(cached);
            }
        }
        let _deriving = self.inner.deriving.lock().await;
        // Whoever held the lock may have read the store after this call began.
        if let Some(cached) = self.cached().filter(|s| s.read_at >= asked) {
            return Ok(cached);
        }
        let version = self.inner.store.version();
        let snapshot = Arc::new(self.derive(None, version).await?);
        *self
            .inner
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// A snapshot for reading, not for deciding: the cached one while the store's version is
    /// unchanged, or while only background polls changed it and it is younger than twice the
    /// refresher's pause (the refresher keeps it so); else a fresh one. Whatever arbor did or
    /// was asked (an intent, a confirmation's or an operation's re-read) is always seen. The
    /// API, the web UI, the metrics and the automated loop's noticing read this; what a
    /// recovery decides on comes from [`Self::snapshot`] after a re-read.
    pub async fn latest_snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        let store = &self.inner.store;
        let (version, causal) = (store.version(), store.causal_version());
        if let Some(cached) = self.cached().filter(|s| {
            version.is_some()
                && (s.version == version
                    || (s.causal == causal
                        && s.read_at.elapsed() <= 2 * refresh_pause(s.cost) + s.cost))
        }) {
            return Ok(cached);
        }
        self.snapshot().await
    }

    /// Keeps the shared snapshot current: derives a new one whenever the store changed, at
    /// most every [`REFRESH_EVERY`] and at most an eighth of the time, so that readers of
    /// [`Self::latest_snapshot`] never wait for a derivation. A store without a version (a
    /// shared backend) is left to readers.
    pub(crate) async fn refresh_snapshots(self) {
        loop {
            let pause = self
                .cached()
                .map_or(REFRESH_EVERY, |s| refresh_pause(s.cost));
            tokio::time::sleep(pause).await;
            let version = self.inner.store.version();
            if version.is_none() || self.cached().is_some_and(|s| s.version == version) {
                continue;
            }
            if let Err(error) = self.snapshot().await {
                tracing::warn!(%error, "cannot derive the topology");
            }
        }
    }

    fn cached(&self) -> Option<Arc<Snapshot>> {
        self.inner
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// [`Self::snapshot`] after reading every member of `cluster` again but `skip` (a server
    /// known dead or hung, whose probe would only wait for its timeout): what a recovery
    /// chooses from, since a poll's reading may predate a server's death or return.
    pub(crate) async fn fresh_snapshot_of(
        &self,
        cluster: &str,
        skip: Option<&InstanceKey>,
    ) -> Result<Arc<Snapshot>, StoreError> {
        let members: Vec<InstanceKey> = self
            .snapshot()
            .await?
            .topology
            .cluster_members(cluster)
            .iter()
            .map(|r| r.key().clone())
            .filter(|k| Some(k) != skip)
            .collect();
        self.inner.discovery.probe_now(&members).await;
        self.snapshot().await
    }

    /// [`Self::snapshot`], with `unanswered`'s primary taken as unreachable unless it was
    /// read after `since` (its stored reading may predate a hang its probes are still
    /// waiting on). Never shared: it says more than the store does.
    pub(crate) async fn snapshot_with(
        &self,
        unanswered: (&InstanceKey, Timestamp),
    ) -> Result<Snapshot, StoreError> {
        let _deriving = self.inner.deriving.lock().await;
        self.derive(Some(unanswered), None).await
    }

    async fn derive(
        &self,
        unanswered: Option<(&InstanceKey, Timestamp)>,
        version: Option<u64>,
    ) -> Result<Snapshot, StoreError> {
        let store = &self.inner.store;
        let read_at = Instant::now();
        let causal = store.causal_version();
        let mut records = store.all_instances().await?;
        if let Some((key, since)) = unanswered {
            if let Some(record) = records.iter_mut().find(|r| r.key() == key) {
                if record.last_seen.is_none_or(|seen| seen <= since) {
                    record.last_checked = Some(Timestamp::now());
                    record.last_error = "no answer to arbor's liveness check".into();
                }
            }
        }
        let successions = store.successions().await?;
        let promotion_rules = store.promotion_rules(Timestamp::now()).await?;
        let overrides: HashMap<String, String> =
            store.cluster_aliases().await?.into_iter().collect();
        let settings = &self.inner.settings;
        let lookup = Arc::clone(&settings.alias_for_cluster_name);
        let alias = move |name: &str| lookup(name);
        let alias_override = |name: &str| overrides.get(name).cloned();
        let topology = Topology::new(
            records,
            &TopologyOptions {
                reasonable_lag: settings.analysis.reasonable_lag,
                default_port: settings.default_port,
                alias_for_cluster_name: &alias,
                alias_override: &alias_override,
                successions: &successions,
                promotion_rules: &promotion_rules,
            },
        );
        self.remember_lags(&topology);
        let analyses = analyze(&topology, &settings.analysis);
        Ok(Snapshot {
            topology,
            analyses,
            version,
            causal,
            read_at,
            cost: read_at.elapsed(),
        })
    }

    fn remember_lags(&self, topology: &Topology) {
        const NOTABLE: u64 = 60;
        let now = Timestamp::now();
        let mut lags = self.inner.lags.lock().unwrap_or_else(|e| e.into_inner());
        for record in topology.records() {
            let lag = record
                .instance
                .replication
                .as_ref()
                .and_then(|r| r.seconds_behind_source);
            match lag {
                Some(lag) if lag >= NOTABLE => {
                    lags.insert(record.key().clone(), (lag, now));
                }
                Some(_) => {
                    lags.remove(record.key());
                }
                None => {}
            }
        }
    }
}
