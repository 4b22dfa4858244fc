//! orchestrator's smaller views and checks: the tabulated and tagged trees, bulk listings,
//! the replicas fit for online schema change throttling, re-reading and resolving one server,
//! and the load balancer's and debugging checks.

use std::collections::HashMap;
use std::time::Duration;

use arbor_api::{ApiResponse, InstanceJson, InstanceKeyJson};
use arbor_topology::{render_tree_as, InstanceKey, InstanceRecord, Timestamp, TreeStyle};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;

use crate::params::{HintPath, KeyPath};
use crate::registry::{spec, Access, Answer, Api};
use crate::{ApiError, AppState};

pub(crate) fn routes(api: Api) -> Api {
    use Access::{Read, Write};
    use Answer::*;
    api.route(spec("/api/topology-tabulated/{hint}", Read, Envelope("Text"), "a cluster's tree with the fields in aligned columns"), |State(state): State<AppState>, HintPath(hint): HintPath| async move { tree(&state, &hint, TreeKind::Tabulated).await })
        .route(spec("/api/topology-tabulated/{host}/{port}", Read, Envelope("Text"), "the tree of an instance's cluster, fields in aligned columns"), |State(state): State<AppState>, KeyPath(key): KeyPath| async move { tree(&state, &key.to_string(), TreeKind::Tabulated).await })
        .route(spec("/api/topology-tags/{hint}", Read, Envelope("Text"), "a cluster's tree with each instance's tags"), |State(state): State<AppState>, HintPath(hint): HintPath| async move { tree(&state, &hint, TreeKind::Tags).await })
        .route(spec("/api/topology-tags/{host}/{port}", Read, Envelope("Text"), "the tree of an instance's cluster with each instance's tags"), |State(state): State<AppState>, KeyPath(key): KeyPath| async move { tree(&state, &key.to_string(), TreeKind::Tags).await })
        .route(spec("/api/cluster-osc-replicas/{hint}", Read, Instances, "replicas to watch when throttling an online schema change: intermediate primaries, some of their replicas, some leaves"), cluster_osc_replicas)
        .route(spec("/api/bulk-instances", Read, List("InstanceKey"), "the key of every known instance"), bulk_instances)
        .route(spec("/api/bulk-promotion-rules", Read, List("PromotionRuleEntry"), "every promotion rule in force"), bulk_promotion_rules)
        .route(spec("/api/refresh/{host}/{port}", Write, Envelope("InstanceKey"), "read a known server again now"), refresh)
        .route(spec("/api/resolve/{host}/{port}", Read, Envelope("InstanceKey"), "whether a server's port accepts TCP connections from arbor"), resolve)
        .route(spec("/api/lb-check", Read, Text, "200 \"OK\" from any running node (a constant, for load balancers)"), || async { Json("OK") })
        .route(spec("/api/_ping", Read, Text, "200 \"OK\" from any running node"), || async { Json("OK") })
        .route(spec("/api/headers", Read, Object, "the request's headers as this node received them (names to lists of values)"), headers)
        .route(spec("/api/submit-masters-to-kv-stores", Write, Envelope("KvPairs"), "the key-value pairs naming every cluster's primary (written to the configured stores)"), submit_masters)
        .route(spec("/api/submit-masters-to-kv-stores/{hint}", Write, Envelope("KvPairs"), "the key-value pairs naming one cluster's primary"), submit_masters)
        .route(spec("/api/reload-configuration", Write, Envelope("ConfigReload"), "read the configuration file again: its problems, or the keys that changed (applied at restart)"), reload_configuration)
        .route(spec("/api/hostname-resolve-cache", Read, Envelope("Object"), "arbor does not resolve host names: always empty"), hostname_resolve_cache)
        .route(spec("/api/reset-hostname-resolve-cache", Write, Envelope("Text"), "arbor does not resolve host names: nothing to clear"), reset_hostname_resolve_cache)
}

/// orchestrator's three trees: `topology`, `topology-tabulated`, `topology-tags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeKind {
    Plain,
    Tabulated,
    Tags,
}

/// A cluster's tree, answered as orchestrator's `topology*` routes answer it.
pub(crate) async fn tree(
    state: &AppState,
    hint: &str,
    kind: TreeKind,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    let with_tags = kind == TreeKind::Tags;
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let name = topology.resolve_cluster_hint(hint)?;
    let mut tags: HashMap<InstanceKey, Vec<String>> = HashMap::new();
    if with_tags {
        let store = state.discovery.store();
        for record in topology.cluster_members(&name) {
            let pairs = store.tags(record.key()).await?;
            let shown = pairs
                .into_iter()
                .map(|(n, v)| if v.is_empty() { n } else { format!("{n}={v}") })
                .collect();
            tags.insert(record.key().clone(), shown);
        }
    }
    let style = TreeStyle {
        tabulated: kind == TreeKind::Tabulated,
        tags: with_tags.then_some(&tags),
    };
    Ok(Json(ApiResponse::ok(
        format!("Topology for cluster {name}"),
        render_tree_as(topology, &name, &style),
    )))
}

/// How many of each kind `cluster-osc-replicas` lists.
const OSC_PER_KIND: usize = 2;

/// orchestrator's heuristic: the replicas whose lag an online schema change tool should
/// watch. Up to two intermediate primaries (direct replicas of the primary that have replicas
/// of their own), up to two replicas of each, and up to two direct replicas of the primary that
/// have none; each reachable and replicating.
async fn cluster_osc_replicas(
    State(state): State<AppState>,
    HintPath(hint): HintPath,
) -> Result<Json<Vec<InstanceJson>>, ApiError> {
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let name = topology.resolve_cluster_hint(&hint)?;
    let primary = topology
        .cluster_root(&name)
        .ok_or_else(|| ApiError::Unprocessable(format!("the primary of {name} was never read")))?;
    let healthy = |r: &&InstanceRecord| {
        r.is_last_check_valid()
            && r.instance
                .replication
                .as_ref()
                .is_some_and(|s| s.sql_thread_running && !s.is_detached())
    };
    let direct: Vec<&InstanceRecord> = topology
        .replicas_of(primary.key())
        .into_iter()
        .filter(healthy)
        .collect();
    let (intermediate, leaves): (Vec<&InstanceRecord>, Vec<&InstanceRecord>) = direct
        .into_iter()
        .partition(|r| !topology.replicas_of(r.key()).is_empty());
    let mut chosen: Vec<&InstanceRecord> = Vec::new();
    for parent in intermediate.into_iter().take(OSC_PER_KIND) {
        chosen.push(parent);
        chosen.extend(
            topology
                .replicas_of(parent.key())
                .into_iter()
                .filter(healthy)
                .take(OSC_PER_KIND),
        );
    }
    chosen.extend(leaves.into_iter().take(OSC_PER_KIND));
    let view = crate::wire::view(&state, topology).await?;
    Ok(Json(
        chosen
            .into_iter()
            .map(|r| InstanceJson::from_record(r, &view))
            .collect(),
    ))
}

async fn bulk_instances(
    State(state): State<AppState>,
) -> Result<Json<Vec<InstanceKeyJson>>, ApiError> {
    let keys = state.discovery.store().instance_keys().await?;
    Ok(Json(keys.iter().map(Into::into).collect()))
}

/// orchestrator's `CandidateDatabaseInstance`. arbor does not keep when a rule was suggested
/// apart from when it expires, so `LastSuggestedString` is empty.
#[derive(Serialize)]
pub(crate) struct PromotionRuleEntry {
    #[serde(rename = "Hostname")]
    pub hostname: String,
    #[serde(rename = "Port")]
    pub port: u16,
    #[serde(rename = "PromotionRule")]
    pub promotion_rule: String,
    #[serde(rename = "LastSuggestedString")]
    pub last_suggested: String,
    #[serde(rename = "PromotionRuleExpiry")]
    pub expiry: String,
}

async fn bulk_promotion_rules(
    State(state): State<AppState>,
) -> Result<Json<Vec<PromotionRuleEntry>>, ApiError> {
    let rules = state
        .discovery
        .store()
        .promotion_rules(Timestamp::now())
        .await?;
    Ok(Json(
        rules
            .into_iter()
            .map(|(key, rule)| PromotionRuleEntry {
                hostname: key.hostname.clone(),
                port: key.port,
                promotion_rule: rule.to_string(),
                last_suggested: String::new(),
                expiry: String::new(),
            })
            .collect(),
    ))
}

/// orchestrator's `refresh`: a synchronous read of a known server. An unknown one is a 404
/// (`discover` adds servers); one that cannot be read is a 422 with why.
async fn refresh(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    if state.snapshot().await?.topology.record(&key).is_none() {
        return Err(ApiError::NotFound(format!(
            "unknown instance {key}: discover it first"
        )));
    }
    state.discovery.probe_now(std::slice::from_ref(&key)).await;
    let snapshot = state.snapshot().await?;
    let record = snapshot
        .topology
        .record(&key)
        .ok_or_else(|| ApiError::NotFound(format!("unknown instance {key}")))?;
    if !record.is_last_check_valid() {
        return Err(ApiError::Unreachable(format!(
            "cannot read {key}: {}",
            record.last_error
        )));
    }
    Ok(Json(ApiResponse::ok(
        format!("Instance refreshed: {key}"),
        (&key).into(),
    )))
}

/// orchestrator's `resolve`: arbor uses host names as given, so this checks that the port
/// accepts a TCP connection (within 2 s).
async fn resolve(KeyPath(key): KeyPath) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    let address = if key.hostname.contains(':') {
        format!("[{}]:{}", key.hostname, key.port)
    } else {
        format!("{}:{}", key.hostname, key.port)
    };
    match tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(&address),
    )
    .await
    {
        Ok(Ok(_)) => Ok(Json(ApiResponse::ok("Instance resolved", (&key).into()))),
        Ok(Err(error)) => Err(ApiError::Unreachable(format!(
            "cannot connect to {key}: {error}"
        ))),
        Err(_) => Err(ApiError::Unreachable(format!(
            "cannot connect to {key}: no answer within 2 s"
        ))),
    }
}

async fn headers(headers: HeaderMap) -> Json<serde_json::Value> {
    let mut map: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
    for (name, value) in &headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if let Some(values) = map
            .entry(name.as_str().to_string())
            .or_insert_with(|| serde_json::json!([]))
            .as_array_mut()
        {
            values.push(value.into());
        }
    }
    Json(serde_json::Value::Object(map))
}

async fn hostname_resolve_cache() -> Json<ApiResponse<serde_json::Value>> {
    Json(ApiResponse::ok(
        "arbor uses host names as configured and as servers report them, without resolving: the cache is empty",
        serde_json::json!({}),
    ))
}

async fn reset_hostname_resolve_cache() -> Json<ApiResponse<String>> {
    Json(ApiResponse::ok(
        "arbor does not resolve host names: there is no cache to clear",
        "OK".to_string(),
    ))
}

/// orchestrator's `KVPair`.
#[derive(Serialize)]
pub(crate) struct KvPairJson {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

/// orchestrator's `submit-masters-to-kv-stores`: each cluster's primary (or the named
/// cluster's) written to every configured store now, waiting up to 5 s for them. Only a
/// primary that passes the primary check is written (a stale or failed reading never replaces
/// what the stores hold); a store that fails is retried in the background and named in a 503.
async fn submit_masters(
    State(state): State<AppState>,
    crate::params::PathParams(params): crate::params::PathParams,
) -> Result<Json<ApiResponse<Vec<KvPairJson>>>, ApiError> {
    const WAIT: Duration = Duration::from_secs(5);
    let snapshot = state.snapshot().await?;
    let topology = &snapshot.topology;
    let only = match params.get("hint") {
        Some(hint) => Some(topology.resolve_cluster_hint(hint)?),
        None => None,
    };
    let limits = arbor_analysis::RouteLimits {
        fresh_within: state.view.check_window,
        max_lag: Duration::ZERO,
    };
    let now = Timestamp::now();
    let (primaries, ambiguous) =
        arbor_analysis::writable_primaries(topology, &limits, now, |key| {
            state.recovery.demoted_at(key)
        });
    let wanted_alias = only
        .as_deref()
        .map(|name| topology.alias_of(name).unwrap_or(name).to_string());
    let primaries: Vec<(String, InstanceKey)> = primaries
        .into_iter()
        .filter(|(alias, _)| wanted_alias.as_ref().is_none_or(|wanted| wanted == alias))
        .collect();
    if let (Some(name), Some(alias)) = (&only, &wanted_alias) {
        if primaries.is_empty() {
            let why = if ambiguous.contains(alias) {
                format!("two clusters named {alias} each have a writable primary")
            } else {
                match topology.cluster_root(name) {
                    Some(root) => match arbor_analysis::primary_verdict(
                        topology,
                        root.key(),
                        &limits,
                        now,
                        state.recovery.demoted_at(root.key()),
                    ) {
                        arbor_analysis::RouteVerdict::Refuse(why)
                        | arbor_analysis::RouteVerdict::Unknown(why) => why,
                        arbor_analysis::RouteVerdict::Serve(why) => why,
                    },
                    None => format!("{name} has no primary"),
                }
            };
            return Err(ApiError::Unprocessable(format!(
                "submit-masters-to-kv-stores: nothing to publish for {alias}: {why}"
            )));
        }
    }
    let prefix = state.kv.prefix().to_string();
    let mut pairs = Vec::new();
    let mut waits = Vec::new();
    for (alias, primary) in &primaries {
        pairs.extend(arbor_topology::cluster_kv_pairs(&prefix, alias, primary));
        waits.push((alias.clone(), state.kv.resubmit(alias, primary)));
    }
    let mut failures = Vec::new();
    for (alias, generation) in waits {
        for report in state.kv.wait(&alias, generation, WAIT).await {
            if let Err(why) = report.result {
                failures.push(format!("{} ({alias}): {why}", report.store));
            }
        }
    }
    if !failures.is_empty() {
        return Err(ApiError::Unavailable(format!(
            "submit-masters-to-kv-stores: {}",
            failures.join("; ")
        )));
    }
    let pairs = pairs
        .into_iter()
        .map(|p| KvPairJson {
            key: p.key,
            value: p.value,
        })
        .collect();
    let message = if state.kv.has_stores() {
        format!(
            "Submitted {} masters to {}",
            primaries.len(),
            state.kv.store_names().join(", ")
        )
    } else {
        format!(
            "Submitted {} masters (no key-value store is configured: nothing was written)",
            primaries.len()
        )
    };
    Ok(Json(ApiResponse::ok(message, pairs)))
}

/// What `reload-configuration` found.
#[derive(Serialize)]
pub(crate) struct ConfigReload {
    /// The file read.
    #[serde(rename = "File")]
    pub file: String,
    /// Keys whose values differ from the running configuration's.
    #[serde(rename = "ChangedKeys")]
    pub changed_keys: Vec<String>,
    /// The file's warnings (keys accepted but not implemented, ...).
    #[serde(rename = "Warnings")]
    pub warnings: Vec<String>,
}

/// orchestrator re-reads its file and applies what it can live. arbor assembles a node from
/// its configuration at start and changes nothing live: it reads the file again, reports its
/// problems (a 422 naming each key) or the keys that changed, which take effect at the next
/// restart; so a restart is never a surprise.
async fn reload_configuration(
    State(state): State<AppState>,
) -> Result<Json<ApiResponse<ConfigReload>>, ApiError> {
    let Some((path, _)) = &state.config.source else {
        return Err(ApiError::Unprocessable(
            "this node runs on built-in defaults (no --config file): there is nothing to re-read"
                .into(),
        ));
    };
    let (fresh, warnings) = arbor_config::Config::load(path).map_err(|error| {
        ApiError::Unprocessable(format!("the file would not start arbor: {error}"))
    })?;
    let changed_keys = state.config.changed_keys(&fresh);
    let message = if changed_keys.is_empty() {
        format!("{} re-read: nothing changed", path.display())
    } else {
        format!(
            "{} re-read: {} changed; arbor applies its configuration at start: restart this \
             node to apply them",
            path.display(),
            changed_keys.join(", ")
        )
    };
    Ok(Json(ApiResponse::ok(
        message,
        ConfigReload {
            file: path.display().to_string(),
            changed_keys,
            warnings: warnings.iter().map(|w| w.to_string()).collect(),
        },
    )))
}
