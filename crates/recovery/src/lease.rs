//! The shared-backend leader election: several nodes on one MySQL backend, one lease row.
//!
//! Every node renews every second; the database's clock decides when a lease (5 s) has run
//! out, so nodes' clocks do not matter. A node acts only while its last successful renewal was
//! sent less than 3 s ago: a leader that cannot reach the backend stops acting 2 s before its
//! lease can expire and another node take it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor_store::{LeaseHolder, MySqlStore, NodeSeen, StoreError};

use crate::Leadership;

/// orchestrator's `ActiveNodeExpireSeconds`.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the lease is renewed (orchestrator's `HealthPollSeconds`).
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How long after a renewal was sent this node still acts on it.
pub const ACT_FOR: Duration = Duration::from_secs(3);

pub struct LeaseElection {
    store: Arc<MySqlStore>,
    node: String,
    api: String,
    state: Mutex<LeaseState>,
}

#[derive(Default)]
struct LeaseState {
    /// Until when this node may act (its renewal sent + `ACT_FOR`).
    acting_until: Option<Instant>,
    holder: Option<LeaseHolder>,
    last_error: Option<String>,
}

impl LeaseElection {
    pub fn new(store: Arc<MySqlStore>, node: String, api: String) -> Arc<LeaseElection> {
        Arc::new(LeaseElection {
            store,
            node,
            api,
            state: Mutex::new(LeaseState::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LeaseState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Renews (or tries to take) the lease once.
    pub async fn renew(&self) {
        let sent = Instant::now();
        let result = tokio::time::timeout(
            ACT_FOR,
            self.store.renew_lease(&self.node, &self.api, LEASE),
        )
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("the backend did not answer".into())));
        let was_leader = self.is_leader();
        {
            let mut state = self.state();
            match result {
                Ok(holder) => {
                    state.acting_until =
                        (holder.node == self.node && holder.valid).then_some(sent + ACT_FOR);
                    state.holder = Some(holder);
                    state.last_error = None;
                }
                // The previous renewal's time still runs out on its own.
                Err(error) => state.last_error = Some(error.to_string()),
            }
        }
        let leader = self.is_leader();
        if leader != was_leader {
            if leader {
                tracing::info!(node = %self.node, "this node holds the backend lease and acts");
            } else {
                tracing::warn!(node = %self.node, error = self.state().last_error.as_deref().unwrap_or(""),
                    "this node no longer acts as leader");
            }
        }
    }

    /// Renews every second, for as long as the task runs.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.renew().await;
            tokio::time::sleep(RENEW_EVERY).await;
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The holder as last read (`None` before the first renewal or when none holds it).
    pub fn holder(&self) -> Option<LeaseHolder> {
        self.state().holder.clone().filter(|h| h.valid)
    }

    /// The leader's API base URL, when another node holds the lease.
    pub fn leader_api(&self) -> Option<String> {
        self.holder().filter(|h| h.node != self.node).map(|h| h.api)
    }

    pub fn last_error(&self) -> Option<String> {
        self.state().last_error.clone()
    }

    /// `grab-election`: take the lease now.
    pub async fn grab(&self) -> Result<(), StoreError> {
        self.store.grab_lease(&self.node, &self.api, LEASE).await?;
        self.renew().await;
        Ok(())
    }

    /// `reelect`: give the lease up; whichever node renews first takes it.
    pub async fn reelect(&self) -> Result<(), StoreError> {
        self.state().acting_until = None;
        self.store.release_lease().await
    }

    pub async fn nodes(&self) -> Result<Vec<NodeSeen>, StoreError> {
        self.store.nodes().await
    }
}

/// No fencing token yet: the lease row carries no generation (see recovery's `DESIGN.md`).
impl Leadership for LeaseElection {
    fn is_leader(&self) -> bool {
        self.state()
            .acting_until
            .is_some_and(|until| Instant::now() < until)
    }

    fn leader_api(&self) -> Option<String> {
        LeaseElection::leader_api(self)
    }

    fn is_member_of_group(&self) -> bool {
        true
    }
}
