//! One recovery's audit trail ([`Audit`]) and what a recovery did ([`Done`]): what every
//! recovery action writes to and returns, below the code that runs recoveries (`run.rs`) and the
//! actions themselves (`failover.rs`, `takeover.rs`, `semi_sync.rs`, `actions.rs`).

use std::sync::Arc;

use arbor_store::{Intents, RecoveryStep, Store};
use arbor_topology::{InstanceKey, Timestamp};

use crate::audit_log::AuditLog;
use crate::hooks::HookResult;

/// One recovery's audit trail: steps are stored as they happen and logged.
#[derive(Clone)]
pub(crate) struct Audit {
    pub id: i64,
    pub uid: String,
    /// What failed, and in which cluster: the audit file's host, port and cluster fields.
    pub failed: InstanceKey,
    pub cluster: String,
    pub store: Arc<dyn Store>,
    pub log: Option<Arc<AuditLog>>,
}

impl Audit {
    pub async fn step(&self, message: impl Into<String>) {
        let message = message.into();
        tracing::info!(recovery = self.id, "{message}");
        if let Some(log) = &self.log {
            log.append(
                &format!("recovery {}", self.id),
                Some(&self.failed),
                &self.cluster,
                &message,
            );
        }
        if self.id == 0 {
            // Not a recovery's (aftercare with no recovery on record): log and file only.
            return;
        }
        let step = RecoveryStep {
            at: Timestamp::now(),
            message,
        };
        if let Err(error) = self.store.add_recovery_step(self.id, step).await {
            tracing::error!(%error, "cannot record a recovery step");
        }
    }

    /// Records the instance about to be promoted; an error means this node must not go on
    /// (in Raft mode: it can no longer write through a quorum, so it may not be the leader).
    pub async fn commit_successor(&self, successor: &InstanceKey) -> Result<(), String> {
        self.store
            .record_recovery_successor(self.id, successor)
            .await
            .map_err(|e| {
                format!("cannot record the chosen successor {successor}, not promoting: {e}")
            })
    }

    pub async fn hooks(&self, stage: &str, results: &[HookResult]) {
        for result in results {
            self.step(format!("{stage}: {}", result.summary())).await;
        }
    }
}

/// What a recovery did, before it is recorded.
#[derive(Debug, Default)]
pub(crate) struct Done {
    pub successor: Option<InstanceKey>,
    pub lost: Vec<InstanceKey>,
    pub participating: Vec<InstanceKey>,
    pub errors: Vec<String>,
    /// Lagging replicas to repoint under the successor after the hooks.
    pub postponed: Vec<InstanceKey>,
}
