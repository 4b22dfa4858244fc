//! etcd v3 through its JSON gateway (`/v3/kv/range`, `/v3/kv/txn`), which every etcd 3.4+
//! serves on the client port: no gRPC stack for two calls. Keys and values travel base64;
//! 64-bit numbers travel as strings; a `false` is left out of a reply (proto3 JSON).
//!
//! All of a cluster's keys are written in one transaction that holds only if none of them was
//! modified since it was read (`mod_revision` unchanged, 0 for a key not there).

use arbor_topology::KvPair;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::{CasRead, KvError};

/// `EtcdAddress`: one or more client URLs (`http://host:2379`, `https://...`, or `host:port`).
#[derive(Debug, Clone)]
pub struct Etcd {
    endpoints: Vec<String>,
    http: reqwest::Client,
}

impl Etcd {
    pub fn new(address: &str, http: reqwest::Client) -> Result<Etcd, KvError> {
        let endpoints: Vec<String> = address
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let s = s.trim_end_matches('/');
                if s.contains("://") {
                    s.to_string()
                } else {
                    format!("http://{s}")
                }
            })
            .collect();
        if endpoints.is_empty() {
            return Err(KvError::Config(format!(
                "EtcdAddress {address:?} names no endpoint (http://host:2379[,...])"
            )));
        }
        Ok(Etcd { endpoints, http })
    }

    pub fn address(&self) -> String {
        self.endpoints.join(",")
    }

    /// POSTs `body` to the first endpoint that answers.
    async fn call(&self, path: &str, body: &Value) -> Result<Value, KvError> {
        let mut errors = Vec::new();
        for endpoint in &self.endpoints {
            let url = format!("{endpoint}{path}");
            match self.http.post(&url).json(body).send().await {
                Ok(reply) => {
                    let status = reply.status();
                    let text = reply.text().await.unwrap_or_default();
                    if !status.is_success() {
                        return Err(KvError::Refused(format!(
                            "{url} answered {status}: {}",
                            text.trim()
                        )));
                    }
                    return serde_json::from_str(&text).map_err(|e| {
                        KvError::Protocol(format!("{url} answered something not JSON: {e}"))
                    });
                }
                Err(error) => errors.push(format!("{url}: {}", crate::http_error(&error))),
            }
        }
        Err(KvError::Unreachable(errors.join("; ")))
    }

    pub(crate) async fn read(&self, pairs: &[KvPair]) -> Result<Vec<CasRead>, KvError> {
        let mut reads = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let reply = self
                .call("/v3/kv/range", &json!({ "key": B64.encode(&pair.key) }))
                .await?;
            let kv = reply["kvs"].as_array().and_then(|kvs| kvs.first());
            reads.push(match kv {
                Some(kv) => CasRead::of(
                    pair,
                    Some(decode(&kv["value"])?),
                    number(&kv["mod_revision"]),
                ),
                None => CasRead::of(pair, None, 0),
            });
        }
        Ok(reads)
    }

    pub(crate) async fn write(&self, pairs: &[KvPair], read: &[CasRead]) -> Result<(), KvError> {
        let compare: Vec<Value> = pairs
            .iter()
            .zip(read)
            .map(|(pair, seen)| {
                json!({
                    "key": B64.encode(&pair.key),
                    "target": "MOD",
                    "result": "EQUAL",
                    "mod_revision": seen.version.to_string(),
                })
            })
            .collect();
        let puts: Vec<Value> = pairs
            .iter()
            .map(|pair| {
                json!({ "request_put": {
                    "key": B64.encode(&pair.key),
                    "value": B64.encode(&pair.value),
                }})
            })
            .collect();
        let reply = self
            .call(
                "/v3/kv/txn",
                &json!({ "compare": compare, "success": puts }),
            )
            .await?;
        if reply["succeeded"].as_bool() == Some(true) {
            Ok(())
        } else {
            Err(KvError::Conflict(
                "a key changed since it was read (etcd transaction not applied)".into(),
            ))
        }
    }
}

/// An int64 the gateway wrote as a string (or, from other gateways, a number).
fn number(value: &Value) -> i64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    }
}

fn decode(value: &Value) -> Result<String, KvError> {
    let text = value.as_str().unwrap_or("");
    let bytes = B64
        .decode(text)
        .map_err(|e| KvError::Protocol(format!("etcd value is not base64: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
