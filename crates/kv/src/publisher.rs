//! The newest primary of each cluster, and one worker per store that makes the store hold it.
//!
//! Callers never wait on a store unless they ask to ([`Publisher::wait`], bounded): a failover
//! records its new primary and goes on. A store that fails is retried in the background with
//! whatever is newest by then (an older primary is never re-sent after a newer one was
//! offered), with a backoff of 0.2 s doubling to 5 s, and a new offer wakes it at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arbor_api::KvStoreHealth;
use arbor_topology::{cluster_kv_pairs, InstanceKey, KvPair};
use tokio::sync::Notify;

use crate::{KvError, Outcome, Store};

const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How often a node that does not lead looks whether it leads now.
const LEADERSHIP_POLL: Duration = Duration::from_millis(500);

/// Whether this node may publish now. The crate that acts declares it; the node gives it the
/// group's leadership.
pub trait Fence: Send + Sync + 'static {
    /// `Some(token)` while this node leads (the token grows with every change of leader;
    /// a single node's is constant), `None` when it does not.
    fn token(&self) -> Option<u64>;
}

/// A store's answer to one offer, for whoever waited on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreReport {
    /// `zookeeper`, `etcd` or `consul`.
    pub store: &'static str,
    /// Done (`Ok`, with what it did) or why not yet (it keeps trying in the background).
    pub result: Result<String, String>,
}

struct Wanted {
    pairs: Vec<KvPair>,
    generation: u64,
}

#[derive(Default)]
struct SlotState {
    /// The generation each cluster's pairs were last made to hold here, under `token`.
    published: HashMap<String, u64>,
    /// The failure of the last attempt per cluster, with the generation it tried.
    failed: HashMap<String, (u64, String)>,
    token: Option<u64>,
    last_error: String,
    last_success_at: Option<SystemTime>,
    writes: u64,
    failures: u64,
}

struct Slot {
    store: Store,
    wake: Notify,
    attempted: Notify,
    state: Mutex<SlotState>,
}

struct Inner {
    prefix: String,
    fence: Arc<dyn Fence>,
    wanted: Mutex<BTreeMap<String, Wanted>>,
    generation: AtomicU64,
    slots: Vec<Arc<Slot>>,
}

/// Aborts the workers when the last handle goes.
struct Workers(Vec<tokio::task::AbortHandle>);

impl Drop for Workers {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Publishes clusters' primaries to the configured stores. Cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
    _workers: Arc<Workers>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Publisher {
    /// Starts one worker per store (none when `stores` is empty: offers are then only kept).
    pub fn start(stores: Vec<Store>, prefix: &str, fence: Arc<dyn Fence>) -> Publisher {
        let inner = Arc::new(Inner {
            prefix: prefix.to_string(),
            fence,
            wanted: Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
            slots: stores
                .into_iter()
                .map(|store| {
                    Arc::new(Slot {
                        store,
                        wake: Notify::new(),
                        attempted: Notify::new(),
                        state: Mutex::new(SlotState::default()),
                    })
                })
                .collect(),
        });
        let workers = (0..inner.slots.len())
            .map(|index| tokio::spawn(work(Arc::clone(&inner), index)).abort_handle())
            .collect();
        Publisher {
            inner,
            _workers: Arc::new(Workers(workers)),
        }
    }

    /// Whether any store is configured.
    pub fn has_stores(&self) -> bool {
        !self.inner.slots.is_empty()
    }

    /// The stores, by name.
    pub fn store_names(&self) -> Vec<&'static str> {
        self.inner.slots.iter().map(|s| s.store.name()).collect()
    }

    /// `KVClusterMasterPrefix`.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Records that `primary` is the primary of the cluster known as `alias`, and returns the
    /// generation to [`wait`](Self::wait) on.
    pub fn announce(&self, alias: &str, primary: &InstanceKey) -> u64 {
        self.offer(alias, cluster_kv_pairs(&self.inner.prefix, alias, primary))
    }

    /// Like [`announce`](Self::announce), but every store is made to hold the pairs again
    /// even when it was already told them (someone may have changed the store since).
    pub fn resubmit(&self, alias: &str, primary: &InstanceKey) -> u64 {
        self.put(
            alias,
            cluster_kv_pairs(&self.inner.prefix, alias, primary),
            true,
        )
    }

    /// Records `pairs` as the newest of the cluster `alias` (unchanged pairs keep their
    /// generation) and wakes the workers.
    pub fn offer(&self, alias: &str, pairs: Vec<KvPair>) -> u64 {
        self.put(alias, pairs, false)
    }

    fn put(&self, alias: &str, pairs: Vec<KvPair>, again: bool) -> u64 {
        let generation = {
            let mut wanted = lock(&self.inner.wanted);
            match wanted.get(alias) {
                Some(current) if current.pairs == pairs && !again => return current.generation,
                _ => {
                    let generation = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
                    wanted.insert(alias.to_string(), Wanted { pairs, generation });
                    generation
                }
            }
        };
        for slot in &self.inner.slots {
            slot.wake.notify_one();
        }
        generation
    }

    /// Waits until every store holds `generation` of `alias` (or newer), has failed it, or
    /// `timeout` passes; says which. Stores keep trying in the background either way.
    pub async fn wait(&self, alias: &str, generation: u64, timeout: Duration) -> Vec<StoreReport> {
        let deadline = Instant::now() + timeout;
        let mut reports = Vec::new();
        for slot in &self.inner.slots {
            let result = loop {
                let attempted = slot.attempted.notified();
                tokio::pin!(attempted);
                attempted.as_mut().enable();
                if let Some(result) = settled(slot, alias, generation) {
                    break result;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || tokio::time::timeout(left, attempted).await.is_err() {
                    let why = if self.inner.fence.token().is_none() {
                        "this node does not lead: the leader publishes".to_string()
                    } else {
                        format!(
                            "not done within {} ms; retrying in the background",
                            timeout.as_millis()
                        )
                    };
                    break Err(why);
                }
            };
            reports.push(StoreReport {
                store: slot.store.name(),
                result,
            });
        }
        reports
    }

    /// Every store's state.
    pub fn status(&self) -> Vec<KvStoreHealth> {
        let wanted = lock(&self.inner.wanted);
        self.inner
            .slots
            .iter()
            .map(|slot| {
                let state = lock(&slot.state);
                let pending = wanted
                    .iter()
                    .filter(|(alias, w)| state.published.get(*alias) < Some(&w.generation))
                    .map(|(alias, _)| alias.clone())
                    .collect();
                KvStoreHealth {
                    store: slot.store.name().to_string(),
                    address: slot.store.address(),
                    healthy: state.last_error.is_empty(),
                    pending,
                    last_error: state.last_error.clone(),
                    last_success_at: state
                        .last_success_at
                        .and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_millis() as u64),
                    writes: state.writes,
                    failures: state.failures,
                }
            })
            .collect()
    }
}

/// Whether `slot` is done with `generation` of `alias`: held, or failed at it (or later).
fn settled(slot: &Slot, alias: &str, generation: u64) -> Option<Result<String, String>> {
    let state = lock(&slot.state);
    if state.published.get(alias).is_some_and(|g| *g >= generation) {
        return Some(Ok("published".into()));
    }
    match state.failed.get(alias) {
        Some((tried, why)) if *tried >= generation => Some(Err(why.clone())),
        _ => None,
    }
}

/// The clusters `slot` does not hold the newest of, with their pairs.
fn pending(inner: &Inner, slot: &Slot) -> Vec<(String, Vec<KvPair>, u64)> {
    let wanted = lock(&inner.wanted);
    let state = lock(&slot.state);
    wanted
        .iter()
        .filter(|(alias, w)| state.published.get(*alias) < Some(&w.generation))
        .map(|(alias, w)| (alias.clone(), w.pairs.clone(), w.generation))
        .collect()
}

async fn work(inner: Arc<Inner>, index: usize) {
    let slot = Arc::clone(&inner.slots[index]);
    let mut backoff = RETRY_MIN;
    loop {
        let woken = slot.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let Some(token) = inner.fence.token() else {
            let _ = tokio::time::timeout(LEADERSHIP_POLL, woken).await;
            continue;
        };
        {
            let mut state = lock(&slot.state);
            if state.token != Some(token) {
                // A new term: what this node published before may have been overwritten.
                state.published.clear();
                state.token = Some(token);
            }
        }
        let todo = pending(&inner, &slot);
        if todo.is_empty() {
            woken.await;
            continue;
        }
        let mut failed = false;
        for (alias, pairs, generation) in todo {
            let may_write = || inner.fence.token() == Some(token);
            let result = slot.store.publish(&pairs, &may_write).await;
            {
                let mut state = lock(&slot.state);
                match result {
                    Ok(outcome) => {
                        state.published.insert(alias.clone(), generation);
                        state.failed.remove(&alias);
                        state.last_error.clear();
                        state.last_success_at = Some(SystemTime::now());
                        if outcome == Outcome::Written {
                            state.writes += 1;
                            tracing::info!(store = slot.store.name(), cluster = %alias, "published the primary");
                        }
                    }
                    Err(KvError::NotLeader) => {}
                    Err(error) => {
                        failed = true;
                        state.failures += 1;
                        state.last_error = error.to_string();
                        state
                            .failed
                            .insert(alias.clone(), (generation, error.to_string()));
                        tracing::warn!(store = slot.store.name(), cluster = %alias, %error, "cannot publish the primary; retrying");
                    }
                }
            }
            slot.attempted.notify_waiters();
        }
        if failed {
            // Retry after the backoff, or at once when a newer value is offered.
            let _ = tokio::time::timeout(backoff, woken).await;
            backoff = (backoff * 2).min(RETRY_MAX);
        } else {
            backoff = RETRY_MIN;
        }
    }
}
