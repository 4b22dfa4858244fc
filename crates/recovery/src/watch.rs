//! The primary watchers: one held connection per primary, so that its death is news at once
//! rather than at the next poll, and a primary that stops answering is suspected within
//! about a second (see `DESIGN.md`, "Gray failures").

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use arbor_mysql::{Liveness, ProbeError};
use arbor_topology::{InstanceKey, Timestamp};
use tokio::task::JoinHandle;

use crate::detect::Suspicion;
use crate::engine::RecoveryEngine;

impl RecoveryEngine {
    /// Keeps one idle connection to every primary, whose breaking is news of the primary's
    /// death without waiting for the next poll; a watched primary's connection breaking starts
    /// a confirmation at once. Only the leader watches: it is the one that acts, and followers
    /// of a large group would otherwise hold a connection and run a check a second per
    /// primary for nothing.
    pub(crate) async fn watch_primaries(self) {
        let mut watchers: HashMap<InstanceKey, JoinHandle<()>> = HashMap::new();
        loop {
            if !self.inner.leadership.is_leader() {
                for (_, task) in watchers.drain() {
                    task.abort();
                }
            } else if let Ok(snapshot) = self.latest_snapshot().await {
                let topology = &snapshot.topology;
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

    /// Watches one primary over a held connection: every second the server sleeps a second on
    /// it and must answer within `PrimaryLivenessTimeoutMillis` more. A connection that breaks
    /// (a killed or restarted primary) is a suspicion confirmed within milliseconds by its
    /// replicas; one left unanswered (a frozen primary, whose replicas notice only after their
    /// `slave_net_timeout`) starts a confirmation that watches the replicas until they do. A
    /// server that refuses the connection with an error (too many connections) is alive.
    pub(crate) async fn watch(self, key: InstanceKey) {
        let pause = Duration::from_secs(1);
        let timeout = self.inner.settings.liveness_timeout;
        loop {
            let due = Timestamp::now();
            let session = self.inner.operator.session_within(&key, timeout).await;
            let suspicion = match session {
                Ok(mut session) => loop {
                    let due = Timestamp::now().plus(pause);
                    match session.liveness_check(pause, timeout).await {
                        Liveness::Alive => continue,
                        Liveness::Closed(error) => {
                            tracing::debug!(%key, %error, "connection to a primary broke");
                            break Suspicion::Seen;
                        }
                        Liveness::Unanswered => {
                            tracing::info!(%key, ?timeout, "a primary left arbor's liveness check unanswered");
                            break Suspicion::Unanswered { since: due };
                        }
                    }
                },
                Err(ProbeError::Refused { .. } | ProbeError::Tls { .. }) => {
                    // It answered, if with an error or a certificate arbor does not accept:
                    // alive. Polls show what it says.
                    tokio::time::sleep(pause).await;
                    continue;
                }
                Err(ProbeError::ConnectTimeout { .. }) => Suspicion::Unanswered { since: due },
                Err(_) => Suspicion::Seen,
            };
            self.suspect(&key, suspicion).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Starts a confirmation of `key`'s failure unless its cluster is already being looked at.
    /// In a task of its own: the watcher is aborted once the primary stops answering polls,
    /// which must not cancel the recovery it started.
    async fn suspect(&self, key: &InstanceKey, suspicion: Suspicion) {
        if !self.inner.leadership.is_leader() {
            return;
        }
        let cluster = self
            .latest_snapshot()
            .await
            .ok()
            .and_then(|snapshot| snapshot.topology.cluster_of(key).map(str::to_string))
            .unwrap_or_else(|| key.to_string());
        if let Some(mark) = self.try_mark_busy(&cluster) {
            let engine = self.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let _mark = mark;
                if let Err(error) = engine.confirm_and_recover_with(&key, suspicion).await {
                    tracing::warn!(%error, %key, "failure handling failed");
                }
            });
        }
    }
}
