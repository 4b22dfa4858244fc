use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use arbor_store::Intents;
use arbor_store::{CheckOutcome, CheckResult, Store, StoreError};
use arbor_topology::{Instance, InstanceKey, InstanceRecord, Timestamp};
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::filters::{FoundAs, IgnoreFilters};
use crate::{InstanceProber, ProbeFailure, ProbeObserver};

/// How discovery runs. `From` the config in `arbor serve`.
#[derive(Debug, Clone)]
pub struct DiscoverySettings {
    /// `InstancePollSeconds`.
    pub poll_interval: Duration,
    /// `DiscoveryMaxConcurrency`: probes running at once.
    pub max_concurrency: usize,
    /// `DiscoveryQueueCapacity`: probes waiting at most.
    pub queue_capacity: usize,
    /// Outer bound on one probe: the prober's own connect and read timeouts plus a margin.
    pub probe_deadline: Duration,
    /// Most outcomes written in one store transaction.
    pub write_batch_size: usize,
    /// Lateness beyond the poll interval after which a probe counts as a poll overrun
    /// (`ReasonableInstanceCheckSeconds`).
    pub overrun_grace: Duration,
    /// `DiscoveryIgnore*HostnameFilters`.
    pub ignore: IgnoreFilters,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        DiscoverySettings {
            poll_interval: Duration::from_secs(5),
            max_concurrency: 300,
            queue_capacity: 100_000,
            probe_deadline: Duration::from_secs(13),
            write_batch_size: 1_000,
            overrun_grace: Duration::from_secs(1),
            ignore: IgnoreFilters::default(),
        }
    }
}

/// Counters and gauges of the discovery engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryStats {
    /// Instances being polled.
    pub watched: usize,
    /// Probes waiting for a slot.
    pub queued: usize,
    /// Probes in flight.
    pub running: usize,
    pub probes: u64,
    pub probe_failures: u64,
    /// Probes that started later than one poll interval plus the grace after the previous one.
    pub poll_overruns: u64,
    /// Instances that could not be queued because the queue was full.
    pub queue_full_drops: u64,
    pub store_write_errors: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("cannot read {key}: {}", .failure.message)]
    Unreachable {
        key: InstanceKey,
        failure: ProbeFailure,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key} is not discovered: it matches {filter} pattern {pattern:?}")]
    Ignored {
        key: InstanceKey,
        filter: &'static str,
        pattern: String,
    },
    #[error("discovery has stopped")]
    Stopped,
}

/// The running engine. Dropping it stops every task it started.
pub struct Discovery {
    handle: DiscoveryHandle,
    tasks: Vec<JoinHandle<()>>,
}

/// A cheap, cloneable way to ask the engine for things (used by the API).
#[derive(Clone)]
pub struct DiscoveryHandle {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    prober: Arc<dyn InstanceProber>,
    settings: DiscoverySettings,
    state: Mutex<State>,
    wake_dispatcher: Notify,
    writes: mpsc::UnboundedSender<Write>,
    probes: AtomicU64,
    probe_failures: AtomicU64,
    poll_overruns: AtomicU64,
    queue_full_drops: AtomicU64,
    store_write_errors: AtomicU64,
    observer: RwLock<Option<Arc<dyn ProbeObserver>>>,
    /// When set and false, scheduled polls pause (a follower on a shared backend, whose
    /// readings would overwrite the leader's).
    gate: RwLock<Option<PollingGate>>,
    /// When set, scheduled polls are limited to the instances this member owns (work shared
    /// across an HA group), and the watch list follows the store.
    share: RwLock<Option<crate::Share>>,
    /// Told of every outcome this node recorded from its own probes (readings relayed to the
    /// other members of a Raft group).
    sink: RwLock<Option<ReadingSink>>,
    /// When this engine started: a reading from before (restored from disk after a restart)
    /// is not this member's to rely on, whoever polls the instance now.
    started_at: Timestamp,
}

/// Receives the outcomes of this node's probes once recorded.
pub type ReadingSink = Arc<dyn Fn(&[CheckOutcome]) + Send + Sync>;

/// Whether this node's scheduled polls run now.
pub type PollingGate = Arc<dyn Fn() -> bool + Send + Sync>;

/// How often a paused node re-reads the store's instances, to watch what another node found.
const PAUSED_REFRESH: Duration = Duration::from_secs(2);
/// How long after its start a node follows the store every scheduler tick.
const STARTUP_FOLLOW: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    watched: HashMap<InstanceKey, Schedule>,
    queue: VecDeque<InstanceKey>,
    /// Queued or running: the deduplication set.
    busy: HashSet<InstanceKey>,
    /// Instances already warned about (slow failure-detection settings), to warn once.
    warned: HashSet<InstanceKey>,
    running: usize,
}

struct Schedule {
    due: Instant,
    last_started: Option<Instant>,
}

struct Write {
    outcome: CheckOutcome,
    ack: Option<oneshot::Sender<Result<(), String>>>,
}

/// How often due instances are looked for. Polls start at most this late.
const SCHEDULER_TICK: Duration = Duration::from_millis(100);

impl Discovery {
    /// Starts polling every instance the store knows, plus `seeds`.
    pub async fn start(
        store: Arc<dyn Store>,
        prober: Arc<dyn InstanceProber>,
        settings: DiscoverySettings,
        seeds: &[InstanceKey],
    ) -> Result<Discovery, StoreError> {
        let (writes, write_queue) = mpsc::unbounded_channel();
        let max_concurrency = settings.max_concurrency.max(1);
        let inner = Arc::new(Inner {
            store,
            prober,
            settings,
            state: Mutex::new(State::default()),
            wake_dispatcher: Notify::new(),
            writes,
            probes: AtomicU64::new(0),
            probe_failures: AtomicU64::new(0),
            poll_overruns: AtomicU64::new(0),
            queue_full_drops: AtomicU64::new(0),
            store_write_errors: AtomicU64::new(0),
            observer: RwLock::new(None),
            started_at: Timestamp::now(),
            gate: RwLock::new(None),
            share: RwLock::new(None),
            sink: RwLock::new(None),
        });
        let now = Instant::now();
        // Instances the general ignore filter matches are left out; stored ones are dropped
        // (the filter was added after they were discovered) rather than left to go stale and
        // look like failures.
        let mut to_watch: Vec<InstanceKey> = Vec::new();
        for record in inner.store.all_instances().await? {
            if let Some(by) = inner.settings.ignore.ignores(record.key(), FoundAs::Named) {
                tracing::info!(key = %record.key(), filter = by.key, pattern = %by.pattern,
                    "forgetting an instance that discovery now ignores");
                inner.store.forget_instance(record.key()).await?;
            } else {
                to_watch.push(record.key().clone());
            }
        }
        for seed in seeds {
            if let Some(by) = inner.settings.ignore.ignores(seed, FoundAs::Named) {
                tracing::warn!(key = %seed, filter = by.key, pattern = %by.pattern,
                    "DiscoverySeeds entry skipped: it matches a discovery ignore filter");
                continue;
            }
            inner
                .store
                .register_instance(seed, Timestamp::now())
                .await?;
            to_watch.push(seed.clone());
        }
        {
            let mut state = inner.lock_state();
            for key in to_watch {
                state.watched.entry(key).or_insert(Schedule {
                    due: now,
                    last_started: None,
                });
            }
        }
        let slots = Arc::new(Semaphore::new(max_concurrency));
        let tasks = vec![
            tokio::spawn(Arc::clone(&inner).run_scheduler()),
            tokio::spawn(Arc::clone(&inner).run_dispatcher(slots)),
            tokio::spawn(Arc::clone(&inner).run_writer(write_queue)),
        ];
        Ok(Discovery {
            handle: DiscoveryHandle { inner },
            tasks,
        })
    }

    pub fn handle(&self) -> DiscoveryHandle {
        self.handle.clone()
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl DiscoveryHandle {
    /// Probes `key` now and, if it answers, watches it from now on and crawls its neighbours.
    /// Returns the stored record. A server that cannot be read is not added (a typo must not
    /// become a permanently failing instance), but an already watched one records the failure.
    pub async fn discover(&self, key: &InstanceKey) -> Result<InstanceRecord, DiscoveryError> {
        let inner = &self.inner;
        if let Some(by) = inner.settings.ignore.ignores(key, FoundAs::Named) {
            return Err(DiscoveryError::Ignored {
                key: key.clone(),
                filter: by.key,
                pattern: by.pattern,
            });
        }
        let attempted_at = Timestamp::now();
        let result = inner.probe_with_deadline(key).await;
        let checked_at = Timestamp::now();
        let already_watched = inner.lock_state().watched.contains_key(key);
        match result {
            Ok(instance) => {
                inner.watch(key, Instant::now() + inner.settings.poll_interval);
                inner.crawl(&instance);
                let outcome = CheckOutcome {
                    key: key.clone(),
                    attempted_at,
                    checked_at,
                    result: CheckResult::Seen(Box::new(instance)),
                };
                inner.write_and_wait(outcome).await?;
                // Already stored by the write above, so a no-op for a node's own store; a
                // replicated store also tells the other nodes to watch it.
                inner.store.register_instance(key, checked_at).await?;
                inner
                    .store
                    .instance(key)
                    .await?
                    .ok_or(DiscoveryError::Stopped)
            }
            Err(failure) => {
                if already_watched {
                    let outcome = CheckOutcome {
                        key: key.clone(),
                        attempted_at,
                        checked_at,
                        result: CheckResult::Failed {
                            error: failure.message.clone(),
                        },
                    };
                    inner.write_and_wait(outcome).await?;
                }
                Err(DiscoveryError::Unreachable {
                    key: key.clone(),
                    failure,
                })
            }
        }
    }

    /// Probes `keys` now, all at once, and waits until their outcomes are stored: the
    /// "emergent" re-read that confirms a suspected failure without waiting for the next poll.
    /// Keys not watched are probed but not recorded.
    pub async fn probe_now(&self, keys: &[InstanceKey]) {
        let mut probes = tokio::task::JoinSet::new();
        for key in keys.iter().cloned() {
            let inner = Arc::clone(&self.inner);
            probes.spawn(async move {
                let attempted_at = Timestamp::now();
                let result = inner.probe_with_deadline(&key).await;
                let checked_at = Timestamp::now();
                if !inner.lock_state().watched.contains_key(&key) {
                    return;
                }
                let result = match result {
                    Ok(instance) => {
                        inner.crawl(&instance);
                        CheckResult::Seen(Box::new(instance))
                    }
                    Err(failure) => CheckResult::Failed {
                        error: failure.message,
                    },
                };
                let _ = inner
                    .write_and_wait(CheckOutcome {
                        key,
                        attempted_at,
                        checked_at,
                        result,
                    })
                    .await;
            });
        }
        while probes.join_next().await.is_some() {}
    }

    /// Stops watching `key` and removes it from the store. A live instance is found again the
    /// next time one of its neighbours is probed, as in orchestrator: forget is for instances
    /// that are gone.
    pub async fn forget(&self, key: &InstanceKey) -> Result<bool, DiscoveryError> {
        let was_watched = self.unwatch(key);
        let was_stored = self.inner.store.forget_instance(key).await?;
        Ok(was_watched || was_stored)
    }

    /// Stops watching `key` without touching the store (another node's forget, applied here
    /// through Raft). Returns whether it was watched.
    pub fn unwatch(&self, key: &InstanceKey) -> bool {
        let inner = &self.inner;
        let was_watched = {
            let mut state = inner.lock_state();
            let queued_before = state.queue.len();
            state.queue.retain(|queued| queued != key);
            if state.queue.len() != queued_before {
                state.busy.remove(key);
            }
            // A running probe keeps its busy mark until it ends; its outcome is then discarded
            // because the key is no longer watched.
            state.watched.remove(key).is_some()
        };
        inner.prober.forget(key);
        was_watched
    }

    /// Watches `key` from now on, probing it at once (another node's discover, applied here
    /// through Raft). Keys the ignore filters match are left out, as a crawl would.
    pub fn watch_now(&self, key: &InstanceKey) {
        if self
            .inner
            .settings
            .ignore
            .ignores(key, FoundAs::Named)
            .is_none()
        {
            self.inner.watch(key, Instant::now());
        }
    }

    pub fn is_watched(&self, key: &InstanceKey) -> bool {
        self.inner.lock_state().watched.contains_key(key)
    }

    pub fn stats(&self) -> DiscoveryStats {
        let inner = &self.inner;
        let state = inner.lock_state();
        DiscoveryStats {
            watched: state.watched.len(),
            queued: state.queue.len(),
            running: state.running,
            probes: inner.probes.load(Ordering::Relaxed),
            probe_failures: inner.probe_failures.load(Ordering::Relaxed),
            poll_overruns: inner.poll_overruns.load(Ordering::Relaxed),
            queue_full_drops: inner.queue_full_drops.load(Ordering::Relaxed),
            store_write_errors: inner.store_write_errors.load(Ordering::Relaxed),
        }
    }

    /// Pauses scheduled polls while `gate` returns false (explicit discovers and
    /// confirmations still probe). Used by a follower sharing its backend with a leader.
    pub fn set_polling_gate(&self, gate: PollingGate) {
        *self.inner.gate.write().unwrap_or_else(|e| e.into_inner()) = Some(gate);
    }

    /// Polls only the instances `share` assigns to this member from now on; the others are
    /// polled by the other members. The watch list then follows the store, where the other
    /// members register what they discover.
    pub fn set_share(&self, share: crate::Share) {
        *self.inner.share.write().unwrap_or_else(|e| e.into_inner()) = Some(share);
    }

    /// Hands every outcome of this node's own probes to `sink` once recorded.
    pub fn set_reading_sink(&self, sink: ReadingSink) {
        *self.inner.sink.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
    }

    /// Tells `observer` about every probe from now on (metrics).
    pub fn set_probe_observer(&self, observer: Arc<dyn ProbeObserver>) {
        *self
            .inner
            .observer
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(observer);
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn settings(&self) -> &DiscoverySettings {
        &self.inner.settings
    }
}

impl Inner {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        // The state is plain data; a panic while it was held leaves it consistent enough.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts watching `key` (first probe at `due`) and queues it if due now. Returns whether
    /// it was new.
    fn watch(&self, key: &InstanceKey, due: Instant) -> bool {
        let mut state = self.lock_state();
        if state.watched.contains_key(key) {
            return false;
        }
        state.watched.insert(
            key.clone(),
            Schedule {
                due,
                last_started: None,
            },
        );
        if due <= Instant::now() {
            self.enqueue(&mut state, key);
        }
        true
    }

    fn enqueue(&self, state: &mut State, key: &InstanceKey) {
        if state.busy.contains(key) {
            return;
        }
        if state.queue.len() >= self.settings.queue_capacity {
            self.queue_full_drops.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.busy.insert(key.clone());
        state.queue.push_back(key.clone());
        self.wake_dispatcher.notify_one();
    }

    /// Watches the neighbours of a freshly read instance that are not watched yet, probing them
    /// at once: this is how one seed reveals a whole topology. Also warns, once per instance,
    /// about replica settings that would slow failure detection down.
    fn crawl(&self, instance: &Instance) {
        if let Some(advice) = instance.failure_detection_advice() {
            if self.lock_state().warned.insert(instance.key.clone()) {
                tracing::warn!(key = %instance.key, "{advice}");
            }
        }
        let now = Instant::now();
        let source = instance.source().map(|key| (key, FoundAs::Primary));
        // A multi-source replica's other sources are found through it too.
        let other_sources = instance
            .other_links
            .iter()
            .filter(|link| !link.is_detached())
            .map(|link| (&link.source, FoundAs::Primary));
        let replicas = instance.replicas.iter().map(|key| (key, FoundAs::Replica));
        for (neighbour, found) in source.into_iter().chain(other_sources).chain(replicas) {
            if neighbour == &instance.key {
                continue;
            }
            if let Some(by) = self.settings.ignore.ignores(neighbour, found) {
                tracing::debug!(key = %neighbour, filter = by.key, "not crawled: ignore filter");
                continue;
            }
            self.watch(neighbour, now);
        }
    }

    fn polls_open(&self) -> bool {
        self.gate
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(|gate| gate())
    }

    /// Watches what the store holds and forgets what it no longer does: another node polls
    /// and discovers while this one waits.
    async fn follow_store(&self) {
        // Every two seconds while sharing: keys only, not 10,000 readings cloned.
        let Ok(keys) = self.store.instance_keys().await else {
            return;
        };
        let stored: HashSet<InstanceKey> = keys.into_iter().collect();
        let mut state = self.lock_state();
        state.watched.retain(|key, _| stored.contains(key));
        for key in stored {
            state.watched.entry(key).or_insert(Schedule {
                due: Instant::now(),
                last_started: None,
            });
        }
    }

    async fn run_scheduler(self: Arc<Self>) {
        let mut tick = tokio::time::interval(SCHEDULER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let started = Instant::now();
        let mut last_refresh: Option<Instant> = None;
        loop {
            tick.tick().await;
            let share = self.share.read().unwrap_or_else(|e| e.into_inner()).clone();
            let open = self.polls_open();
            // Right after a start the store may still be filling (a Raft member replaying its
            // log registers instances as it goes): follow it every tick for a while, so that a
            // member that just (re)joined watches every instance within a tick, not two seconds.
            let every = if started.elapsed() < STARTUP_FOLLOW {
                SCHEDULER_TICK
            } else {
                PAUSED_REFRESH
            };
            if (!open || share.is_some()) && last_refresh.is_none_or(|at| at.elapsed() >= every) {
                self.follow_store().await;
                last_refresh = Some(Instant::now());
            }
            if !open {
                continue;
            }
            let now = Instant::now();
            let mut others = Vec::new();
            {
                let mut state = self.lock_state();
                let due: Vec<InstanceKey> = state
                    .watched
                    .iter()
                    .filter(|(key, schedule)| schedule.due <= now && !state.busy.contains(*key))
                    .map(|(key, _)| key.clone())
                    .collect();
                for key in due {
                    if share.as_ref().is_some_and(|share| !share.owns(&key)) {
                        // Another member polls it; looked at again in one interval, so that a
                        // member leaving hands its instances over within one.
                        if let Some(schedule) = state.watched.get_mut(&key) {
                            schedule.due = now + self.settings.poll_interval;
                            schedule.last_started = None;
                        }
                        others.push(key);
                        continue;
                    }
                    self.enqueue(&mut state, &key);
                }
            }
            // Whatever the share says, a reading this member holds must not go stale: members
            // that disagree for a moment on who is live could each leave an instance to the
            // other. One whose latest reading is older than three intervals is polled here.
            // (Read from memory; a shared backend, read over the network and the same for
            // every node, is left to its owner.)
            if self.store.version().is_none() {
                continue;
            }
            for key in others {
                if self.is_stale(&key).await {
                    let mut state = self.lock_state();
                    if !state.busy.contains(&key) {
                        self.enqueue(&mut state, &key);
                    }
                }
            }
        }
    }

    /// Whether this member's latest reading of `key` is older than three poll intervals, or
    /// older than this member's start. The second matters after a restart: the relay brings
    /// only new readings, so a member that just (re)joined would otherwise hold, for the
    /// instances others poll, whatever its disk had, or nothing; and should the primary die in
    /// that window, a member that never saw it alive cannot tell that a primary died.
    async fn is_stale(&self, key: &InstanceKey) -> bool {
        let Ok(Some(record)) = self.store.instance(key).await else {
            return true;
        };
        let limit = (self.settings.poll_interval * 3).as_millis() as i64;
        record.last_checked.is_none_or(|checked| {
            checked.millis() < self.started_at.millis()
                || Timestamp::now().millis() - checked.millis() > limit
        })
    }

    async fn run_dispatcher(self: Arc<Self>, slots: Arc<Semaphore>) {
        loop {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let key = loop {
                let next = self.lock_state().queue.pop_front();
                match next {
                    Some(key) => break key,
                    None => self.wake_dispatcher.notified().await,
                }
            };
            tokio::spawn(Arc::clone(&self).run_probe(key, slot));
        }
    }

    async fn run_probe(self: Arc<Self>, key: InstanceKey, _slot: OwnedSemaphorePermit) {
        let started = Instant::now();
        {
            let mut state = self.lock_state();
            state.running += 1;
            if let Some(schedule) = state.watched.get_mut(&key) {
                if let Some(previous) = schedule.last_started {
                    let late_after = self.settings.poll_interval + self.settings.overrun_grace;
                    if started.duration_since(previous) > late_after {
                        self.poll_overruns.fetch_add(1, Ordering::Relaxed);
                    }
                }
                schedule.last_started = Some(started);
                schedule.due = started + self.settings.poll_interval;
            }
        }
        let attempted_at = Timestamp::now();
        let result = self.probe_with_deadline(&key).await;
        let checked_at = Timestamp::now();

        let still_watched = {
            let mut state = self.lock_state();
            state.running -= 1;
            state.busy.remove(&key);
            state.watched.contains_key(&key)
        };
        if !still_watched {
            return; // forgotten while the probe ran
        }
        let result = match result {
            Ok(instance) => {
                self.crawl(&instance);
                CheckResult::Seen(Box::new(instance))
            }
            Err(failure) => CheckResult::Failed {
                error: failure.message,
            },
        };
        let _ = self.writes.send(Write {
            outcome: CheckOutcome {
                key,
                attempted_at,
                checked_at,
                result,
            },
            ack: None,
        });
    }

    async fn probe_with_deadline(&self, key: &InstanceKey) -> Result<Instance, ProbeFailure> {
        self.probes.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let deadline = self.settings.probe_deadline;
        let result = match tokio::time::timeout(deadline, self.prober.probe(key)).await {
            Ok(result) => result,
            Err(_) => Err(ProbeFailure {
                kind: "deadline",
                message: format!("probe of {key} exceeded its {deadline:?} deadline"),
            }),
        };
        if result.is_err() {
            self.probe_failures.fetch_add(1, Ordering::Relaxed);
        }
        let observer = self
            .observer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(observer) = observer {
            observer.probe_finished(started.elapsed(), result.as_ref().err());
        }
        result
    }

    async fn write_and_wait(&self, outcome: CheckOutcome) -> Result<(), DiscoveryError> {
        let (ack, done) = oneshot::channel();
        self.writes
            .send(Write {
                outcome,
                ack: Some(ack),
            })
            .map_err(|_| DiscoveryError::Stopped)?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(DiscoveryError::Store(StoreError::Query(message))),
            Err(_) => Err(DiscoveryError::Stopped),
        }
    }

    /// Writes outcomes in batches: whatever accumulated while the previous transaction ran goes
    /// into the next one, so load batches writes without adding latency when idle.
    async fn run_writer(self: Arc<Self>, mut queue: mpsc::UnboundedReceiver<Write>) {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < self.settings.write_batch_size.max(1) {
                match queue.try_recv() {
                    Ok(write) => batch.push(write),
                    Err(_) => break,
                }
            }
            let (outcomes, acks): (Vec<CheckOutcome>, Vec<_>) =
                batch.into_iter().map(|w| (w.outcome, w.ack)).unzip();
            // Someone waits for an acknowledged reading: readers must see it (see
            // `Store::causal_version`).
            let has_sink = self
                .sink
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .is_some();
            let recorded = if has_sink {
                outcomes.clone()
            } else {
                Vec::new()
            };
            let result = if acks.iter().any(Option::is_some) {
                self.store.record_requested_checks(outcomes).await
            } else {
                self.store.record_checks(outcomes).await
            };
            match &result {
                Err(error) => {
                    self.store_write_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%error, "cannot record probe outcomes");
                }
                Ok(()) => {
                    let sink = self.sink.read().unwrap_or_else(|e| e.into_inner()).clone();
                    if let Some(sink) = sink {
                        sink(&recorded);
                    }
                }
            }
            for ack in acks.into_iter().flatten() {
                let _ = ack.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
            }
        }
    }
}
