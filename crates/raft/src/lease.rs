//! Who acts: leadership confirmed by a quorum, held as a lease (see `DESIGN.md`).

use super::*;

/// Leadership confirmed by a quorum, as a lease: valid for one minimum election timeout from
/// the moment the confirming heartbeats were sent, which is before any follower that answered
/// could start an election.
pub struct RaftLeadership {
    confirmed_until: Mutex<Option<Instant>>,
    /// When this node could act, in wall-clock milliseconds: (from, until), `None` while it
    /// still can. An audit that two nodes' periods never overlap.
    periods: Mutex<Vec<(i64, Option<i64>)>>,
}

/// Keeps the last this many acting periods.
const KEPT_PERIODS: usize = 50;

impl RaftLeadership {
    pub(crate) fn new() -> RaftLeadership {
        RaftLeadership {
            confirmed_until: Mutex::new(None),
            periods: Mutex::new(Vec::new()),
        }
    }

    /// This node's acting periods, oldest first.
    pub fn acting_periods(&self) -> Vec<(i64, Option<i64>)> {
        self.periods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl RaftLeadership {
    /// May this node act? Only while a quorum confirmed its leadership within the last
    /// minimum election timeout.
    pub fn is_leader(&self) -> bool {
        self.confirmed_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|until| Instant::now() < until)
    }
}

/// Renews the leadership lease while this node leads (see [`RaftLeadership`]).
pub(crate) async fn keep_lease(
    raft: ArborRaft,
    leadership: Arc<RaftLeadership>,
    yielding: Arc<std::sync::atomic::AtomicU64>,
    every: Duration,
    lease: Duration,
) {
    // A margin for clock-rate differences between nodes.
    let lease = lease.mul_f64(0.9);
    // Tracked across rounds: a lease can run out while a round waits for its quorum.
    let mut was_acting = false;
    loop {
        let leading = raft.metrics().borrow().state == ServerState::Leader
            && yielding.load(std::sync::atomic::Ordering::Relaxed) == 0;
        let sent = Instant::now();
        let confirmed = if leading {
            match tokio::time::timeout(lease, raft.ensure_linearizable()).await {
                Ok(Ok(_)) => Some(sent + lease),
                _ => None,
            }
        } else {
            None
        };
        let now = Instant::now();
        let now_ms = Timestamp::now().millis();
        let previous = {
            let mut until = leadership
                .confirmed_until
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let previous = *until;
            *until = match confirmed {
                Some(new) => Some(new),
                // Another node leads: stop at once.
                None if !leading => None,
                // Not confirmed this round: the previous lease runs out on its own time.
                None => previous,
            };
            previous
        };
        let acting = leadership.is_leader();
        // A lease that ran out before this round's heartbeats left is a gap, even when the
        // round confirmed the lead again: the audit shows two periods, not one.
        let continuous = previous.is_some_and(|until| until > sent);
        let wall =
            |instant: Instant| now_ms - now.saturating_duration_since(instant).as_millis() as i64;
        let term = || raft.metrics().borrow().current_term;
        if was_acting && (!acting || !continuous) {
            let ended = match previous {
                Some(until) if until <= now => wall(until),
                _ => now_ms,
            };
            if let Some(last) = leadership
                .periods
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last_mut()
            {
                last.1 = Some(ended);
            }
            tracing::warn!(
                term = term(),
                "this node no longer acts as leader (no quorum confirmed it in time)"
            );
        }
        if acting && (!was_acting || !continuous) {
            let mut periods = leadership.periods.lock().unwrap_or_else(|e| e.into_inner());
            periods.push((now_ms, None));
            if periods.len() > KEPT_PERIODS {
                periods.remove(0);
            }
            tracing::info!(term = term(), "this node leads the Raft group and acts");
        }
        was_acting = acting;
        tokio::time::sleep(every).await;
    }
}
