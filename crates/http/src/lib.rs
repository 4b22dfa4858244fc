//! arbor's HTTP API, served by `arbor serve`.
//!
//! Paths, JSON shapes and envelopes follow orchestrator's API (`/api/instance/HOST/PORT`,
//! `{"Code","Message","Details"}`), so `orchestrator-client` and load balancer checks work
//! unchanged. Mutating routes answer GET, as orchestrator's do, and POST.
//!
//! Every API route is added through one registry (`registry.rs`) with its access class, so the
//! OpenAPI document (`/api/openapi.json`) and authorization (`auth.rs`) cover every route by
//! construction. Handlers read a fresh [`Topology`] snapshot per request; errors map to
//! statuses in [`error`] only. Also served: Prometheus metrics at `/metrics` and the web UI at
//! `/` and `/web/...`.

pub mod api_docs;
mod audit_routes;
pub mod auth;
mod check_routes;
pub mod compat;
pub mod error;
mod ha;
mod info_routes;
mod intent_routes;
mod metrics;
mod openapi;
mod params;
mod pool_routes;
mod recovery_routes;
mod refactor_routes;
mod registry;
mod replication_routes;
mod routes;
pub mod serve;
pub mod tls;
mod ui;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use arbor_discovery::DiscoveryHandle;
use arbor_topology::Topology;

pub use auth::{basic_header_value, AuthMethod, AuthSettings};
pub use error::ApiError;
pub use ha::{forwarding_client, FORWARDED_HEADER};
pub use metrics::Metrics;
pub use registry::{Access, Answer, RouteSpec};
pub use routes::{router, router_with_specs};

/// How instance views are computed; set from the config by `arbor serve`.
pub struct ViewSettings {
    /// `ReasonableReplicationLagSeconds`.
    pub reasonable_lag: Duration,
    /// `InstancePollSeconds + ReasonableInstanceCheckSeconds`.
    pub check_window: Duration,
    /// This node's name in `/api/status`.
    pub hostname: String,
    /// `CandidateInstanceExpireMinutes`: how long a registered promotion rule holds.
    pub candidate_expiry: Duration,
    /// `URLPrefix`, normalized: empty, or `/path` without a trailing slash.
    pub url_prefix: String,
    /// Whether this node serves https (`UseSSL`), for the scheme of forwarded requests.
    pub tls: bool,
    /// `TrustedProxies`: the peers whose `X-Forwarded-Proto`/`-Host` are believed.
    pub trusted_proxies: Vec<arbor_config::IpRange>,
    /// `AuditPageSize`: entries per page of the audit routes.
    pub audit_page_size: usize,
    /// `RequirePostForChanges`: routes that change something refuse GET (405 naming POST).
    pub require_post: bool,
    /// `InstancePoolExpiryMinutes`: how long a pool submission holds.
    pub pool_expiry: Duration,
}

/// `URLPrefix` as the router wants it: empty, or one leading slash and no trailing one.
pub fn normalize_url_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub discovery: DiscoveryHandle,
    pub view: Arc<ViewSettings>,
    pub auth: Arc<AuthSettings>,
    pub metrics: Arc<Metrics>,
    pub recovery: arbor_recovery::RecoveryEngine,
    pub refactor: arbor_refactor::Refactorer,
    /// This node's Raft membership, when `RaftEnabled`: followers forward to the leader.
    pub raft: Option<arbor_raft::RaftNode>,
    /// This node's place in a shared-backend group (`BackendDB: mysql`): followers forward to
    /// the lease holder.
    pub lease: Option<Arc<arbor_recovery::lease::LeaseElection>>,
    /// The client followers forward requests to the leader with.
    pub forwarder: reqwest::Client,
    /// The configuration this node runs on (`reload-configuration` compares its file with it).
    pub config: Arc<arbor_config::Config>,
    /// Publishes each cluster's primary to the key-value stores (none configured: it only
    /// keeps what it is told).
    pub kv: arbor_kv::Publisher,
}

impl AppState {
    /// Downtimes and promotion rules in force now.
    pub async fn annotations(&self) -> Result<arbor_api::Annotations, ApiError> {
        let store = self.discovery.store();
        let now = arbor_topology::Timestamp::now();
        Ok(arbor_api::Annotations {
            downtimes: store
                .active_downtimes(now)
                .await?
                .into_iter()
                .map(|d| (d.key.clone(), d))
                .collect(),
            rules: store.promotion_rules(now).await?.into_iter().collect(),
            maintenance: store
                .active_maintenance(now)
                .await?
                .into_iter()
                .map(|m| (m.key, m.owner))
                .collect(),
        })
    }

    /// Who acts, and where the leader is: the one leadership of this node, shared with
    /// recovery.
    pub fn leadership(&self) -> &dyn arbor_recovery::Leadership {
        self.recovery.leadership()
    }

    /// The topology and its analyses as recently derived, shared with recovery: a moment
    /// behind background polls, never behind an intent or a requested re-read (see
    /// `RecoveryEngine::latest_snapshot`).
    pub async fn snapshot(&self) -> Result<Arc<arbor_recovery::Snapshot>, ApiError> {
        Ok(self.recovery.latest_snapshot().await?)
    }

    /// `HasAutomatedMasterRecovery` and `HasAutomatedIntermediateMasterRecovery` of a cluster.
    pub fn automated_recovery_of(&self, topology: &Topology, cluster: &str) -> (bool, bool) {
        let alias = topology.alias_of(cluster).unwrap_or(cluster);
        self.recovery.automated_recovery_of(cluster, alias)
    }
}
