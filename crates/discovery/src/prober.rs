use std::time::Duration;

use arbor_topology::{Instance, InstanceKey};
use async_trait::async_trait;

/// Why a probe failed, as discovery records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure {
    /// A short class for metrics: `connect`, `connect_timeout`, `read_timeout`, `query`, ...
    pub kind: &'static str,
    pub message: String,
}

/// Reads one server. Implementations must bound their own time (connect and read timeouts);
/// discovery adds an outer deadline only as a guard against a prober that forgets to.
#[async_trait]
pub trait InstanceProber: Send + Sync + 'static {
    async fn probe(&self, key: &InstanceKey) -> Result<Instance, ProbeFailure>;

    /// Drops whatever the prober keeps for `key` (e.g. an open connection).
    fn forget(&self, _key: &InstanceKey) {}
}

#[async_trait]
impl InstanceProber for arbor_mysql::Prober {
    async fn probe(&self, key: &InstanceKey) -> Result<Instance, ProbeFailure> {
        arbor_mysql::Prober::probe(self, key)
            .await
            .map_err(|error| ProbeFailure {
                kind: error.kind().as_str(),
                message: error.to_string(),
            })
    }

    fn forget(&self, key: &InstanceKey) {
        arbor_mysql::Prober::forget(self, key)
    }
}

/// Told about every probe as it ends (metrics hang here).
pub trait ProbeObserver: Send + Sync + 'static {
    fn probe_finished(&self, latency: Duration, failure: Option<&ProbeFailure>);
}
