//! Readings relayed among the members of a group, outside the Raft log.
//!
//! When probing is shared (`ShareProbingAcrossNodes`), each member polls only its share of the
//! instances and sends what it read to every other member every 200 ms, over the Raft port
//! (`/raft/readings`), so every member, the leader first, holds the whole topology. Readings
//! are observations re-made every poll: a batch that does not arrive is not retried, and they
//! never enter the log, which would make it the bottleneck. What waits to be sent holds the
//! newest successful reading of each instance (and every failure), so a member that falls behind
//! catches up in one batch instead of sending a growing backlog. A batch, even an empty one, is also
//! the sign that its sender lives: a member not heard from for two seconds is left out of the
//! share, and the others take its instances over.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor_store::{CheckOutcome, CheckResult};
use arbor_topology::InstanceKey;
use serde::{Deserialize, Serialize};

use crate::{ArborRaft, NodeId};

/// Delivers one batch to a member's Raft port (the transport, given by the node: this module
/// knows nothing of how).
pub(crate) type SendBatch = Arc<
    dyn Fn(String, Arc<Batch>) -> futures_util::future::BoxFuture<'static, Result<(), String>>
        + Send
        + Sync,
>;

/// How often readings (or a sign of life) are sent.
pub const SEND_EVERY: Duration = Duration::from_millis(200);
/// A member not heard from for this long is not live.
pub const LIVE_WINDOW: Duration = Duration::from_secs(2);
/// Readings per request at most (a reading is one to two kilobytes of JSON).
const BATCH_LIMIT: usize = 1_000;

/// A batch of one member's readings.
#[derive(Debug, Serialize, Deserialize)]
pub struct Batch {
    pub from: NodeId,
    pub outcomes: Vec<CheckOutcome>,
}

/// This member's side of the relay.
#[derive(Default)]
pub struct Relay {
    enabled: AtomicBool,
    /// Readings waiting to be sent, per instance in the order they were made.
    outbox: Mutex<HashMap<InstanceKey, Vec<CheckOutcome>>>,
    heard: Mutex<HashMap<NodeId, Instant>>,
}

impl Relay {
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Queues this member's own readings for the others. A successful reading replaces a
    /// successful one of the same instance still waiting: the others want the newest state,
    /// and a member that falls behind then sends each instance once, not its backlog (which
    /// would grow with every poll while it is behind). Failures are all kept: when and how
    /// often a server failed matters to the others' analysis.
    pub fn queue(&self, outcomes: &[CheckOutcome]) {
        if !self.is_enabled() || outcomes.is_empty() {
            return;
        }
        let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        for outcome in outcomes {
            let waiting = outbox.entry(outcome.key.clone()).or_default();
            match waiting.last_mut() {
                Some(last) if seen(last) && seen(outcome) => *last = outcome.clone(),
                _ => waiting.push(outcome.clone()),
            }
        }
    }

    /// A batch arrived from `from`.
    pub fn heard_from(&self, from: NodeId) {
        self.heard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(from, Instant::now());
    }

    /// Members heard from within [`LIVE_WINDOW`].
    pub fn heard_lately(&self) -> Vec<NodeId> {
        self.heard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, at)| at.elapsed() <= LIVE_WINDOW)
            .map(|(id, _)| *id)
            .collect()
    }

    fn take(&self) -> Vec<CheckOutcome> {
        let waiting = std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|e| e.into_inner()));
        waiting.into_values().flatten().collect()
    }
}

fn seen(outcome: &CheckOutcome) -> bool {
    matches!(outcome.result, CheckResult::Seen(_))
}

/// Sends the queued readings (or a sign of life) to every other member, every [`SEND_EVERY`],
/// for as long as the relay is enabled.
pub(crate) async fn send_loop(raft: ArborRaft, me: NodeId, send: SendBatch, relay: Arc<Relay>) {
    loop {
        tokio::time::sleep(SEND_EVERY).await;
        if !relay.is_enabled() {
            continue;
        }
        let others: Vec<String> = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            metrics
                .membership_config
                .membership()
                .nodes()
                .filter(|(id, _)| **id != me)
                .map(|(_, node)| node.addr.clone())
                .collect()
        };
        let outcomes = relay.take();
        // An empty batch still goes: it is the sign that this member lives.
        let mut batches: Vec<Arc<Batch>> = outcomes
            .chunks(BATCH_LIMIT)
            .map(|chunk| {
                Arc::new(Batch {
                    from: me,
                    outcomes: chunk.to_vec(),
                })
            })
            .collect();
        if batches.is_empty() {
            batches.push(Arc::new(Batch {
                from: me,
                outcomes: Vec::new(),
            }));
        }
        let sends = others.into_iter().map(|addr| {
            let send = Arc::clone(&send);
            let batches = batches.clone();
            async move {
                for batch in batches {
                    if let Err(error) = send(addr.clone(), batch).await {
                        tracing::debug!(%addr, %error, "readings not delivered");
                        return;
                    }
                }
            }
        });
        futures_util::future::join_all(sends).await;
    }
}
