//! Readings held in memory, decoded, in front of a persistent store.
//!
//! Every reader of the topology (analysis, recovery, the API, the web UI) reads every
//! instance's latest reading, many times a second at scale. Decoding them from the database
//! each time cost half a second at 10,000 instances. [`MemoryStore`] keeps them in memory, as
//! decoded records, and persists them in the background: the latest outcomes of each instance
//! every [`FLUSH_INTERVAL`], in one batch. Everything else (intents, recoveries, locks) is
//! written through at once, as before.
//!
//! What a restart costs: the store may hold readings up to one interval old; the first poll
//! after the restart replaces them. A reading is an observation, re-made every poll; an intent
//! is not, which is why only readings wait.
//!
//! [`Store::version`] changes with every write, so that readers can keep what they derived
//! from the state (a topology, its analyses) until it changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use arbor_topology::{
    Downtime, Instance, InstanceKey, InstanceRecord, PromotionRule, Succession, Timestamp,
};
use async_trait::async_trait;

use crate::{
    CheckOutcome, CheckResult, Command, FailureDetection, Maintenance, RecoveryRecord,
    ReplicatedDump, Reply, Store, StoreError,
};

/// How often readings are persisted.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// A [`Store`] that serves instance readings from memory and persists them in batches to the
/// store it wraps; every other call goes to that store.
pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Arc<dyn Store>,
    readings: RwLock<BTreeMap<InstanceKey, InstanceRecord>>,
    /// Outcomes not yet persisted, reduced per instance.
    pending: std::sync::Mutex<HashMap<InstanceKey, Pending>>,
    /// Held while persisting, and by whatever must not interleave with it (forgetting an
    /// instance must not be undone by a batch that still carries it).
    flushing: tokio::sync::Mutex<()>,
    version: AtomicU64,
    /// Moved by intents and requested readings only (see [`Store::causal_version`]).
    causal: AtomicU64,
}

/// The outcomes of one instance since the last flush, reduced to those that decide the stored
/// row: the first (it creates the row of a new instance), the last successful one (its
/// reading), and the last failed one after it (the latest check's time and error). Applying
/// them in that order gives the row that applying every outcome would.
struct Pending {
    first: CheckOutcome,
    last_seen: Option<CheckOutcome>,
    failed_after: Option<CheckOutcome>,
}

impl Pending {
    fn add(&mut self, outcome: CheckOutcome) {
        match outcome.result {
            CheckResult::Seen(_) => {
                self.last_seen = Some(outcome);
                self.failed_after = None;
            }
            CheckResult::Failed { .. } => self.failed_after = Some(outcome),
        }
    }

    fn into_outcomes(self) -> impl Iterator<Item = CheckOutcome> {
        [Some(self.first), self.last_seen, self.failed_after]
            .into_iter()
            .flatten()
    }
}

impl MemoryStore {
    /// Loads every stored reading of `inner` and starts persisting new ones in the background
    /// (needs a tokio runtime).
    pub async fn open(inner: Arc<dyn Store>) -> Result<MemoryStore, StoreError> {
        let readings = inner
            .all_instances()
            .await?
            .into_iter()
            .map(|record| (record.key().clone(), record))
            .collect();
        let shared = Arc::new(Shared {
            inner,
            readings: RwLock::new(readings),
            pending: std::sync::Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
            version: AtomicU64::new(1),
            causal: AtomicU64::new(1),
        });
        tokio::spawn(flush_periodically(Arc::downgrade(&shared)));
        Ok(MemoryStore { shared })
    }

    /// Persists the readings not yet persisted (at shutdown, or in a test).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.shared.flush().await
    }
}

async fn flush_periodically(shared: Weak<Shared>) {
    let mut tick = tokio::time::interval(FLUSH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(error) = shared.flush().await {
            // The readings stay in memory and the next poll makes new ones; only a restart
            // before the next successful flush would start from older ones.
            tracing::warn!(%error, "cannot persist instance readings");
        }
    }
}

impl Shared {
    async fn flush(&self) -> Result<(), StoreError> {
        let _flushing = self.flushing.lock().await;
        let pending = std::mem::take(&mut *self.lock_pending());
        if pending.is_empty() {
            return Ok(());
        }
        let outcomes: Vec<CheckOutcome> = pending
            .into_values()
            .flat_map(Pending::into_outcomes)
            .collect();
        self.inner.record_checks(outcomes).await
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<InstanceKey, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    fn changed_causally(&self) {
        self.causal.fetch_add(1, Ordering::SeqCst);
        self.changed();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<InstanceKey, InstanceRecord>> {
        self.readings.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<InstanceKey, InstanceRecord>> {
        self.readings.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes in the instances `inner` has and memory lacks (a Raft snapshot installed).
    async fn load_missing(&self) -> Result<(), StoreError> {
        let stored = self.inner.all_instances().await?;
        let mut readings = self.write();
        for record in stored {
            readings.entry(record.key().clone()).or_insert(record);
        }
        drop(readings);
        self.changed();
        Ok(())
    }
}

/// What recording `outcome` does to an instance's record (the same as the backends' SQL), and
/// whether it did anything: not when the record holds a newer reading. With polling shared,
/// readings of one instance can come from two members (its owner, and one whose copy went
/// stale) through relays that deliver them late, and the one taken last must not undo a newer
/// one (a dead primary would read as alive again). A held reading stamped later than `now`
/// means this machine's clock went back: then the outcome is taken, or no reading would be
/// until the clock caught up.
fn apply(
    readings: &mut BTreeMap<InstanceKey, InstanceRecord>,
    outcome: &CheckOutcome,
    now: Timestamp,
) -> bool {
    let record = readings
        .entry(outcome.key.clone())
        .or_insert_with(|| InstanceRecord::new_unseen(outcome.key.clone(), outcome.attempted_at));
    if record.last_checked.is_some_and(|newest| {
        newest.millis() > outcome.checked_at.millis() && newest.millis() <= now.millis()
    }) {
        return false;
    }
    record.last_attempted_check = Some(outcome.attempted_at);
    record.last_checked = Some(outcome.checked_at);
    match &outcome.result {
        CheckResult::Seen(instance) => {
            record.instance = Instance::clone(instance);
            record.last_seen = Some(outcome.checked_at);
            record.last_error.clear();
        }
        CheckResult::Failed { error } => record.last_error = error.clone(),
    }
    true
}

#[async_trait]
impl Store for MemoryStore {
    /// Instances are added to and removed from memory too; every other command goes to the
    /// wrapped store.
    async fn apply(&self, command: Command) -> Result<Reply, StoreError> {
        let shared = &self.shared;
        let reply = match command {
            Command::RegisterInstance { key, at } => {
                let command = Command::RegisterInstance {
                    key: key.clone(),
                    at,
                };
                shared.inner.apply(command).await?;
                let mut readings = shared.write();
                let added = !readings.contains_key(&key);
                readings
                    .entry(key.clone())
                    .or_insert_with(|| InstanceRecord::new_unseen(key, at));
                Ok(Reply::Flag(added))
            }
            Command::ForgetInstance { key } => {
                let _flushing = shared.flushing.lock().await;
                shared.lock_pending().remove(&key);
                let in_memory = shared.write().remove(&key).is_some();
                let stored = shared
                    .inner
                    .apply(Command::ForgetInstance { key })
                    .await?
                    .flag()?;
                Ok(Reply::Flag(in_memory || stored))
            }
            other => shared.inner.apply(other).await,
        };
        shared.changed_causally();
        reply
    }

    async fn record_checks(&self, outcomes: Vec<CheckOutcome>) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        let outcomes: Vec<CheckOutcome> = {
            let mut readings = self.shared.write();
            outcomes
                .into_iter()
                .filter(|outcome| apply(&mut readings, outcome, now))
                .collect()
        };
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut pending = self.shared.lock_pending();
        for outcome in outcomes {
            match pending.get_mut(&outcome.key) {
                Some(reduced) => reduced.add(outcome),
                None => {
                    let key = outcome.key.clone();
                    pending.insert(
                        key,
                        Pending {
                            first: outcome,
                            last_seen: None,
                            failed_after: None,
                        },
                    );
                }
            }
        }
        drop(pending);
        self.shared.changed();
        Ok(())
    }

    async fn instance(&self, key: &InstanceKey) -> Result<Option<InstanceRecord>, StoreError> {
        Ok(self.shared.read().get(key).cloned())
    }

    async fn all_instances(&self) -> Result<Vec<InstanceRecord>, StoreError> {
        Ok(self.shared.read().values().cloned().collect())
    }

    async fn instance_keys(&self) -> Result<Vec<InstanceKey>, StoreError> {
        Ok(self.shared.read().keys().cloned().collect())
    }

    fn version(&self) -> Option<u64> {
        Some(self.shared.version.load(Ordering::SeqCst))
    }

    fn causal_version(&self) -> Option<u64> {
        Some(self.shared.causal.load(Ordering::SeqCst))
    }

    async fn record_requested_checks(&self, outcomes: Vec<CheckOutcome>) -> Result<(), StoreError> {
        self.record_checks(outcomes).await?;
        self.shared.changed_causally();
        Ok(())
    }

    async fn active_downtimes(&self, now: Timestamp) -> Result<Vec<Downtime>, StoreError> {
        self.shared.inner.active_downtimes(now).await
    }

    async fn promotion_rules(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(InstanceKey, PromotionRule)>, StoreError> {
        self.shared.inner.promotion_rules(now).await
    }

    async fn detections(&self, limit: usize) -> Result<Vec<FailureDetection>, StoreError> {
        self.shared.inner.detections(limit).await
    }

    async fn recoveries(
        &self,
        cluster: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecoveryRecord>, StoreError> {
        self.shared.inner.recoveries(cluster, limit).await
    }

    async fn successions(&self) -> Result<Vec<Succession>, StoreError> {
        self.shared.inner.successions().await
    }

    async fn active_maintenance(&self, now: Timestamp) -> Result<Vec<Maintenance>, StoreError> {
        self.shared.inner.active_maintenance(now).await
    }

    async fn tags(&self, key: &InstanceKey) -> Result<Vec<(String, String)>, StoreError> {
        self.shared.inner.tags(key).await
    }

    async fn tagged(
        &self,
        name: &str,
        value: Option<&str>,
    ) -> Result<Vec<InstanceKey>, StoreError> {
        self.shared.inner.tagged(name, value).await
    }

    async fn cluster_aliases(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.shared.inner.cluster_aliases().await
    }

    async fn pool_instances(
        &self,
        pool: Option<&str>,
        since: Timestamp,
    ) -> Result<Vec<(String, InstanceKey)>, StoreError> {
        self.shared.inner.pool_instances(pool, since).await
    }

    async fn global_recoveries_disabled(&self) -> Result<bool, StoreError> {
        self.shared.inner.global_recoveries_disabled().await
    }

    async fn reset_replicated_state(&self) -> Result<(), StoreError> {
        let result = self.shared.inner.reset_replicated_state().await;
        self.shared.changed();
        result
    }

    async fn export_replicated(&self) -> Result<ReplicatedDump, StoreError> {
        self.shared.inner.export_replicated().await
    }

    async fn import_replicated(&self, dump: ReplicatedDump) -> Result<(), StoreError> {
        self.shared.inner.import_replicated(dump).await?;
        self.shared.load_missing().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Intents, SqliteStore};

    async fn memory() -> MemoryStore {
        MemoryStore::open(Arc::new(SqliteStore::open_in_memory().unwrap()))
            .await
            .unwrap()
    }

    crate::store_conformance_suite!(memory().await);

    /// A memory store over an SQLite store, and that store (to see what was persisted).
    async fn over_sqlite() -> (Arc<SqliteStore>, MemoryStore) {
        let inner = Arc::new(SqliteStore::open_in_memory().unwrap());
        let memory = MemoryStore::open(Arc::clone(&inner) as Arc<dyn Store>)
            .await
            .unwrap();
        (inner, memory)
    }

    fn outcome(key: &InstanceKey, at: i64, seen: Option<u64>) -> CheckOutcome {
        let result = match seen {
            Some(server_id) => {
                let mut instance = Instance::unseen(key.clone());
                instance.server_id = server_id;
                CheckResult::Seen(Box::new(instance))
            }
            None => CheckResult::Failed {
                error: format!("failed at {at}"),
            },
        };
        CheckOutcome {
            key: key.clone(),
            attempted_at: Timestamp(at),
            checked_at: Timestamp(at + 1),
            result,
        }
    }

    #[tokio::test]
    async fn persisted_readings_are_what_recording_every_outcome_would_store() {
        let sequences: [&[Option<u64>]; 5] = [
            &[Some(1), Some(2), None, None],
            &[None, Some(3), None, Some(4)],
            &[None, None],
            &[Some(5)],
            &[Some(6), None, Some(7), None],
        ];
        let direct = SqliteStore::open_in_memory().unwrap();
        let (inner, memory) = over_sqlite().await;
        for (n, sequence) in sequences.iter().enumerate() {
            let key: InstanceKey = format!("db{n}:3306").parse().unwrap();
            for (i, seen) in sequence.iter().enumerate() {
                let outcome = outcome(&key, 10 * i as i64 + 1, *seen);
                direct.record_checks(vec![outcome.clone()]).await.unwrap();
                memory.record_checks(vec![outcome]).await.unwrap();
            }
        }
        let expected = direct.all_instances().await.unwrap();
        assert_eq!(memory.all_instances().await.unwrap(), expected, "in memory");
        assert!(inner.all_instances().await.unwrap().is_empty(), "not yet");
        memory.flush().await.unwrap();
        assert_eq!(inner.all_instances().await.unwrap(), expected, "persisted");
        // A node restarted on that store starts from them.
        let restarted = MemoryStore::open(inner as Arc<dyn Store>).await.unwrap();
        assert_eq!(restarted.all_instances().await.unwrap(), expected);
    }

    /// Shared polling: a member's relayed reading may arrive after a newer one of the same
    /// instance (made by another member). The newer stays, in memory and on disk.
    #[tokio::test]
    async fn a_reading_older_than_the_one_held_changes_nothing() {
        let (inner, memory) = over_sqlite().await;
        let key: InstanceKey = "db1:3306".parse().unwrap();
        // Failed at 20 (its owner saw it die), then a late "seen at 10" from another member.
        memory
            .record_checks(vec![outcome(&key, 20, None)])
            .await
            .unwrap();
        let version = memory.version();
        memory
            .record_checks(vec![outcome(&key, 10, Some(7))])
            .await
            .unwrap();
        let held = memory.instance(&key).await.unwrap().unwrap();
        assert_eq!(held.last_checked, Some(Timestamp(21)));
        assert_eq!(held.last_error, "failed at 20");
        assert_eq!(memory.version(), version, "nothing changed");
        memory.flush().await.unwrap();
        let stored = inner.instance(&key).await.unwrap().unwrap();
        assert_eq!(stored.last_error, "failed at 20", "the disk agrees");
        // A newer one is taken as ever.
        memory
            .record_checks(vec![outcome(&key, 30, Some(7))])
            .await
            .unwrap();
        let held = memory.instance(&key).await.unwrap().unwrap();
        assert!(held.is_last_check_valid(), "{held:?}");

        // A held reading from the future: the clock went back. Readings are taken, not
        // ignored until the clock gets there again.
        let far = Timestamp::now().millis() + 3_600_000;
        memory
            .record_checks(vec![outcome(&key, far, Some(7))])
            .await
            .unwrap();
        memory
            .record_checks(vec![outcome(&key, 40, None)])
            .await
            .unwrap();
        let held = memory.instance(&key).await.unwrap().unwrap();
        assert_eq!(held.last_error, "failed at 40", "{held:?}");
    }

    /// What lets readers serve a snapshot a moment behind the polls but never behind an
    /// intent or a reading someone asked for.
    #[tokio::test]
    async fn only_intents_and_requested_readings_move_the_causal_version() {
        let memory = memory().await;
        let key: InstanceKey = "db1:3306".parse().unwrap();
        let (version, causal) = (memory.version(), memory.causal_version());
        memory
            .record_checks(vec![outcome(&key, 1, Some(7))])
            .await
            .unwrap();
        assert_ne!(memory.version(), version, "a poll's reading is a change");
        assert_eq!(memory.causal_version(), causal, "but not a causal one");

        let causal = memory.causal_version();
        memory
            .record_requested_checks(vec![outcome(&key, 3, Some(7))])
            .await
            .unwrap();
        assert_ne!(memory.causal_version(), causal, "a requested reading");

        let causal = memory.causal_version();
        memory.tag(&key, "role", "olap").await.unwrap();
        assert_ne!(memory.causal_version(), causal, "an intent");
    }

    #[tokio::test]
    async fn a_forgotten_instance_is_not_persisted_again() {
        let (inner, memory) = over_sqlite().await;
        let key: InstanceKey = "db1:3306".parse().unwrap();
        memory
            .record_checks(vec![outcome(&key, 1, Some(1))])
            .await
            .unwrap();
        memory.flush().await.unwrap();
        memory
            .record_checks(vec![outcome(&key, 11, Some(1))])
            .await
            .unwrap();
        assert!(memory.forget_instance(&key).await.unwrap());
        memory.flush().await.unwrap();
        assert!(inner.all_instances().await.unwrap().is_empty());
        assert!(memory.instance(&key).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn every_write_changes_the_version_and_reads_do_not() {
        let memory = memory().await;
        let key: InstanceKey = "db1:3306".parse().unwrap();
        let before = memory.version().unwrap();
        memory.all_instances().await.unwrap();
        memory.cluster_aliases().await.unwrap();
        assert_eq!(memory.version(), Some(before));
        memory
            .record_checks(vec![outcome(&key, 1, Some(1))])
            .await
            .unwrap();
        let after_reading = memory.version().unwrap();
        assert!(after_reading > before);
        memory.set_cluster_alias("db1:3306", "main").await.unwrap();
        assert!(memory.version().unwrap() > after_reading);
    }
}
