//! Prometheus metrics at `/metrics` (OpenMetrics text, prometheus-client).
//!
//! Probe latency and errors are observed as probes end ([`ProbeObserver`]); everything that is
//! a level (instances known and reachable, queue depth) is read when Prometheus scrapes, so a
//! scrape always shows the present, not the last change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use arbor_discovery::{ProbeFailure, ProbeObserver};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::{ApiError, AppState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    instances_known: Gauge,
    instances_reachable: Gauge,
    queue_depth: Gauge,
    probes_running: Gauge,
    probe_duration: Histogram,
    probe_errors: Family<KindLabels, Counter>,
    poll_overruns: Counter,
    poll_overruns_seen: AtomicU64,
    queue_full_drops: Counter,
    queue_full_drops_seen: AtomicU64,
    analyses: Family<CodeLabels, Gauge>,
    kv_healthy: Family<StoreLabels, Gauge>,
    kv_pending: Family<StoreLabels, Gauge>,
    kv_failures: Family<StoreLabels, Counter>,
    kv_failures_seen: Mutex<std::collections::HashMap<String, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("arbor");
        let metrics = Metrics {
            registry: Mutex::new(Registry::default()),
            instances_known: Gauge::default(),
            instances_reachable: Gauge::default(),
            queue_depth: Gauge::default(),
            probes_running: Gauge::default(),
            // 1 ms to about 16 s: loopback probes take a millisecond, a hung server its timeout.
            probe_duration: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15),
            ),
            probe_errors: Family::default(),
            poll_overruns: Counter::default(),
            poll_overruns_seen: AtomicU64::new(0),
            queue_full_drops: Counter::default(),
            queue_full_drops_seen: AtomicU64::new(0),
            analyses: Family::default(),
            kv_healthy: Family::default(),
            kv_pending: Family::default(),
            kv_failures: Family::default(),
            kv_failures_seen: Mutex::default(),
        };
        registry.register(
            "instances_known",
            "Instances arbor watches",
            metrics.instances_known.clone(),
        );
        registry.register(
            "instances_reachable",
            "Instances whose last check succeeded",
            metrics.instances_reachable.clone(),
        );
        registry.register(
            "discovery_queue_depth",
            "Probes waiting for a slot",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "discovery_probes_running",
            "Probes in flight",
            metrics.probes_running.clone(),
        );
        registry.register(
            "probe_duration_seconds",
            "Time one probe of one server took",
            metrics.probe_duration.clone(),
        );
        registry.register(
            "probe_errors",
            "Failed probes by kind of failure",
            metrics.probe_errors.clone(),
        );
        registry.register(
            "poll_overruns",
            "Probes that started later than one poll interval (plus grace) after the previous one",
            metrics.poll_overruns.clone(),
        );
        registry.register(
            "discovery_queue_full_drops",
            "Instances not queued because the discovery queue was full",
            metrics.queue_full_drops.clone(),
        );
        registry.register(
            "analyses",
            "Current failure analyses by code (0 for codes not seen now)",
            metrics.analyses.clone(),
        );
        registry.register(
            "kv_store_healthy",
            "1 when the last publication to the key-value store succeeded",
            metrics.kv_healthy.clone(),
        );
        registry.register(
            "kv_store_pending_clusters",
            "Clusters whose newest primary the key-value store does not hold yet",
            metrics.kv_pending.clone(),
        );
        registry.register(
            "kv_store_publish_failures",
            "Failed attempts to publish primaries to the key-value store",
            metrics.kv_failures.clone(),
        );
        *metrics.registry.lock().unwrap_or_else(|e| e.into_inner()) = registry;
        metrics
    }

    /// Reads the levels and renders the exposition text.
    async fn render(&self, state: &AppState) -> Result<String, ApiError> {
        let snapshot = state.snapshot().await?;
        let (topology, analyses) = (&snapshot.topology, &snapshot.analyses);
        self.instances_known.set(topology.records().count() as i64);
        self.instances_reachable.set(
            topology
                .records()
                .filter(|r| r.is_last_check_valid())
                .count() as i64,
        );
        // Every code is exported, 0 when absent, so alerts can compare against a series that
        // always exists.
        for code in arbor_analysis::AnalysisCode::ALL {
            let count = analyses.iter().filter(|a| a.code == Some(*code)).count();
            self.analyses
                .get_or_create(&CodeLabels {
                    code: code.name().to_string(),
                })
                .set(count as i64);
        }
        let stats = state.discovery.stats();
        self.queue_depth.set(stats.queued as i64);
        self.probes_running.set(stats.running as i64);
        advance(
            &self.poll_overruns,
            &self.poll_overruns_seen,
            stats.poll_overruns,
        );
        advance(
            &self.queue_full_drops,
            &self.queue_full_drops_seen,
            stats.queue_full_drops,
        );
        for store in state.kv.status() {
            let labels = StoreLabels {
                store: store.store.clone(),
            };
            self.kv_healthy
                .get_or_create(&labels)
                .set(i64::from(store.healthy));
            self.kv_pending
                .get_or_create(&labels)
                .set(store.pending.len() as i64);
            let mut seen = self
                .kv_failures_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let previous = seen
                .insert(labels.store.clone(), store.failures)
                .unwrap_or(0);
            if store.failures > previous {
                self.kv_failures
                    .get_or_create(&labels)
                    .inc_by(store.failures - previous);
            }
        }
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .map_err(|e| ApiError::Internal(format!("cannot encode metrics: {e}")))?;
        Ok(text)
    }
}

/// Brings a counter up to a monotonic total kept elsewhere.
fn advance(counter: &Counter, seen: &AtomicU64, total: u64) {
    let previous = seen.swap(total, Ordering::Relaxed);
    if total > previous {
        counter.inc_by(total - previous);
    }
}

impl ProbeObserver for Metrics {
    fn probe_finished(&self, latency: Duration, failure: Option<&ProbeFailure>) {
        self.probe_duration.observe(latency.as_secs_f64());
        if let Some(failure) = failure {
            self.probe_errors
                .get_or_create(&KindLabels {
                    kind: failure.kind.to_string(),
                })
                .inc();
        }
    }
}

pub(crate) async fn metrics_handler(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state.metrics.render(&state).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
