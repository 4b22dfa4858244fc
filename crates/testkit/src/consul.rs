//! A stand-in for Consul's KV HTTP API, **not Consul**: no Consul server can be installed where
//! arbor's tests run, so this follows Consul's documented HTTP API for the calls arbor makes,
//! and nothing more:
//!
//! - `GET /v1/kv/<key>`: `[{"Key", "Value" (base64), "Flags", "CreateIndex", "ModifyIndex",
//!   "LockIndex"}]`, or 404 with an empty body;
//! - `PUT /v1/kv/<key>[?cas=<index>]` with the raw value as body: `true`, or `false` when the
//!   `cas` index does not match (`cas=0`: only if absent);
//! - `PUT /v1/txn`: `[{"KV": {"Verb": "set"|"cas"|"get", "Key", "Value", "Index"}}]`, all or
//!   nothing: 200 `{"Results": [...], "Errors": null}` or 409 `{"Results": null, "Errors":
//!   [{"OpIndex", "What"}]}`;
//! - `GET /v1/catalog/datacenters`;
//! - `?dc=<name>` on the KV calls (one store per datacenter; an unknown one is a 500 "No path
//!   to datacenter", as Consul answers);
//! - an ACL token (`X-Consul-Token` header or `?token=`), when one is set: 403 "Permission
//!   denied" without it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
struct Entry {
    value: Vec<u8>,
    create_index: u64,
    modify_index: u64,
}

#[derive(Default)]
struct Data {
    /// Per datacenter, per key.
    kv: HashMap<String, BTreeMap<String, Entry>>,
    index: u64,
    writes: u64,
}

struct Shared {
    datacenters: Vec<String>,
    token: Option<String>,
    data: Mutex<Data>,
}

/// A running stand-in; it stops on drop, and can be stopped and started again on its port
/// with its data.
pub struct ConsulStandIn {
    shared: Arc<Shared>,
    port: u16,
    server: Option<(
        std::thread::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    )>,
}

type Params = Query<HashMap<String, String>>;

impl ConsulStandIn {
    /// One datacenter (`dc1`), no ACL.
    pub fn start() -> Result<ConsulStandIn, String> {
        ConsulStandIn::start_with(&["dc1"], None)
    }

    /// The first datacenter is the agent's own.
    pub fn start_with(datacenters: &[&str], token: Option<&str>) -> Result<ConsulStandIn, String> {
        let mut stand_in = ConsulStandIn {
            shared: Arc::new(Shared {
                datacenters: datacenters.iter().map(|s| s.to_string()).collect(),
                token: token.map(str::to_string),
                data: Mutex::new(Data::default()),
            }),
            port: crate::reserve_port()?,
            server: None,
        };
        stand_in.resume()?;
        Ok(stand_in)
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops answering (the port is closed); the data stays.
    pub fn stop(&mut self) {
        if let Some((thread, stop)) = self.server.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }

    /// Answers again on the same port.
    pub fn resume(&mut self) -> Result<(), String> {
        self.stop();
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port))
            .map_err(|e| format!("consul stand-in cannot bind {}: {e}", self.port))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let app = Router::new()
            .route("/v1/kv/{*key}", get(kv_get).put(kv_put))
            .route("/v1/txn", axum::routing::put(txn))
            .route("/v1/catalog/datacenters", get(datacenters))
            .with_state(Arc::clone(&self.shared));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the stand-in");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        self.server = Some((thread, stop));
        Ok(())
    }

    /// The value of `key` in datacenter `dc` (the first when `None`).
    pub fn value(&self, key: &str, dc: Option<&str>) -> Option<String> {
        let dc = dc.unwrap_or(&self.shared.datacenters[0]);
        let data = self.shared.data.lock().unwrap();
        data.kv
            .get(dc)
            .and_then(|kv| kv.get(key))
            .map(|e| String::from_utf8_lossy(&e.value).into_owned())
    }

    /// Sets `key` in the first datacenter, as another client of Consul would.
    pub fn set(&self, key: &str, value: &str) {
        let dc = self.shared.datacenters[0].clone();
        let mut data = self.shared.data.lock().unwrap();
        put(&mut data, &dc, key, value.as_bytes().to_vec(), None);
    }

    /// Writes that changed the store since it started.
    pub fn writes(&self) -> u64 {
        self.shared.data.lock().unwrap().writes
    }
}

impl Drop for ConsulStandIn {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Why a request is refused: Consul's status and text.
type Refusal = (StatusCode, &'static str);

/// Checks the ACL token, and returns the datacenter the request names (Consul answers "No path
/// to datacenter" for an unknown one).
fn admit(
    shared: &Shared,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<String, Refusal> {
    if let Some(token) = &shared.token {
        let given = headers
            .get("x-consul-token")
            .and_then(|v| v.to_str().ok())
            .or(params.get("token").map(String::as_str));
        if given != Some(token.as_str()) {
            return Err((StatusCode::FORBIDDEN, "Permission denied"));
        }
    }
    let dc = params
        .get("dc")
        .cloned()
        .unwrap_or_else(|| shared.datacenters[0].clone());
    if shared.datacenters.contains(&dc) {
        Ok(dc)
    } else {
        Err((StatusCode::INTERNAL_SERVER_ERROR, "No path to datacenter"))
    }
}

fn entry_json(key: &str, entry: &Entry) -> Value {
    json!({
        "LockIndex": 0,
        "Key": key,
        "Flags": 0,
        "Value": B64.encode(&entry.value),
        "CreateIndex": entry.create_index,
        "ModifyIndex": entry.modify_index,
    })
}

async fn kv_get(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    let dc = match admit(&shared, &headers, &params) {
        Ok(dc) => dc,
        Err(refused) => return refused.into_response(),
    };
    let data = shared.data.lock().unwrap();
    match data.kv.get(&dc).and_then(|kv| kv.get(&key)) {
        Some(entry) => Json(json!([entry_json(&key, entry)])).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Applies a write when `cas` (if given) matches; whether it did.
fn put(data: &mut Data, dc: &str, key: &str, value: Vec<u8>, cas: Option<u64>) -> bool {
    let current = data.kv.get(dc).and_then(|kv| kv.get(key)).cloned();
    let matches = match (cas, &current) {
        (None, _) => true,
        (Some(0), None) => true,
        (Some(index), Some(entry)) => entry.modify_index == index,
        (Some(_), None) => false,
    };
    if !matches {
        return false;
    }
    data.index += 1;
    data.writes += 1;
    let index = data.index;
    data.kv.entry(dc.to_string()).or_default().insert(
        key.to_string(),
        Entry {
            value,
            create_index: current.map_or(index, |c| c.create_index),
            modify_index: index,
        },
    );
    true
}

async fn kv_put(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let dc = match admit(&shared, &headers, &params) {
        Ok(dc) => dc,
        Err(refused) => return refused.into_response(),
    };
    let cas = match params.get("cas").map(|c| c.parse::<u64>()) {
        None => None,
        Some(Ok(index)) => Some(index),
        Some(Err(_)) => {
            return (StatusCode::BAD_REQUEST, "Invalid cas index").into_response();
        }
    };
    let mut data = shared.data.lock().unwrap();
    Json(put(&mut data, &dc, &key, body.to_vec(), cas)).into_response()
}

async fn txn(
    State(shared): State<Arc<Shared>>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let dc = match admit(&shared, &headers, &params) {
        Ok(dc) => dc,
        Err(refused) => return refused.into_response(),
    };
    let ops: Vec<Value> = match serde_json::from_slice(&body) {
        Ok(ops) => ops,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Failed to parse body: {e}"),
            )
                .into_response()
        }
    };
    if ops.len() > 64 {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Transaction contains too many operations",
        )
            .into_response();
    }
    let mut data = shared.data.lock().unwrap();
    // All or nothing: check every operation before applying any.
    let mut errors = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        let kv = &op["KV"];
        let key = kv["Key"].as_str().unwrap_or("");
        if kv["Verb"] == "cas" {
            let want = kv["Index"].as_u64().unwrap_or(0);
            let have = data
                .kv
                .get(&dc)
                .and_then(|m| m.get(key))
                .map(|e| e.modify_index);
            if have.unwrap_or(0) != want {
                errors.push(json!({
                    "OpIndex": index,
                    "What": format!("failed to set key \"{key}\", index is stale"),
                }));
            }
        }
    }
    if !errors.is_empty() {
        return (
            StatusCode::CONFLICT,
            Json(json!({ "Results": null, "Errors": errors })),
        )
            .into_response();
    }
    let mut results = Vec::new();
    for op in &ops {
        let kv = &op["KV"];
        let key = kv["Key"].as_str().unwrap_or("").to_string();
        match kv["Verb"].as_str() {
            Some("set") | Some("cas") => {
                let value = B64
                    .decode(kv["Value"].as_str().unwrap_or(""))
                    .unwrap_or_default();
                put(&mut data, &dc, &key, value, None);
            }
            Some("get") => {}
            other => {
                return (StatusCode::BAD_REQUEST, format!("unknown verb {other:?}"))
                    .into_response();
            }
        }
        if let Some(entry) = data.kv.get(&dc).and_then(|m| m.get(&key)) {
            results.push(json!({ "KV": entry_json(&key, entry) }));
        }
    }
    Json(json!({ "Results": results, "Errors": null })).into_response()
}

async fn datacenters(State(shared): State<Arc<Shared>>) -> Json<Vec<String>> {
    Json(shared.datacenters.clone())
}
