//! The primary watchers: one held connection per primary, so that its death is news at once
//! rather than at the next poll.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use arbor_topology::InstanceKey;
use tokio::task::JoinHandle;

use crate::engine::RecoveryEngine;

impl RecoveryEngine {
    /// Keeps one idle connection to every primary, whose breaking is news of the primary's
    /// death without waiting for the next poll; a watched primary's connection breaking starts
    /// a confirmation at once.
    pub(crate) async fn watch_primaries(self) {
        let mut watchers: HashMap<InstanceKey, JoinHandle<()>> = HashMap::new();
        loop {
            if let Ok((topology, _)) = self.snapshot().await {
                let primaries: HashSet<InstanceKey> = topology
                    .cluster_names()
                    .iter()
                    .filter_map(|name| topology.cluster_root(name))
                    .filter(|root| root.is_last_check_valid())
                    .map(|root| root.key().clone())
                    .collect();
                watchers.retain(|key, task| {
                    let keep = primaries.contains(key) && !task.is_finished();
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for key in primaries {
                    if let std::collections::hash_map::Entry::Vacant(slot) = watchers.entry(key) {
                        let engine = self.clone();
                        let watched = slot.key().clone();
                        slot.insert(tokio::spawn(async move { engine.watch(watched).await }));
                    }
                }
            }
            tokio::time::sleep(self.inner.settings.tick).await;
        }
    }

    pub(crate) async fn watch(self, key: InstanceKey) {
        loop {
            let Ok(mut session) = self.inner.operator.session(&key).await else {
                // Unreachable now: the polls and the loop deal with it.
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            let error = session.hold_until_closed().await;
            tracing::debug!(%key, %error, "connection to a primary broke");
            if self.inner.leadership.is_leader() {
                let cluster = self
                    .snapshot()
                    .await
                    .ok()
                    .and_then(|(topology, _)| topology.cluster_of(&key).map(str::to_string))
                    .unwrap_or_else(|| key.to_string());
                // In a task of its own: this watcher is aborted as soon as the primary stops
                // answering polls, which must not cancel the recovery it started.
                if let Some(mark) = self.try_mark_busy(&cluster) {
                    let engine = self.clone();
                    let key = key.clone();
                    tokio::spawn(async move {
                        let _mark = mark;
                        if let Err(error) = engine.confirm_and_recover(&key).await {
                            tracing::warn!(%error, %key, "failure handling failed");
                        }
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
