//! Consul's KV HTTP API, as documented: `GET /v1/kv/<key>` (a JSON array with the base64
//! `Value` and its `ModifyIndex`, 404 when absent), `PUT /v1/kv/<key>?cas=<index>` (answers
//! `true` or `false`), and for `ConsulKVStoreProvider: consul-txn`, `PUT /v1/txn` with `cas`
//! operations (409 when one fails; none applied). `ConsulAclToken` goes in `X-Consul-Token`.
//! With `ConsulCrossDataCenterDistribution`, every datacenter `/v1/catalog/datacenters` lists
//! gets the pairs (`?dc=`).
//!
//! The tests run this against a stand-in that follows those documents (no Consul server can be
//! installed where they run); see `arbor-testkit`'s `consul` module.

use arbor_topology::KvPair;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::{CasRead, KvError};

/// orchestrator's limit on operations per Consul transaction (Consul's own is 64).
pub const MAX_TXN_OPS: usize = 64;

#[derive(Debug, Clone)]
pub struct ConsulSettings {
    /// `ConsulAddress`: `host:port`.
    pub address: String,
    /// `ConsulScheme`: `http` or `https`.
    pub scheme: String,
    /// `ConsulAclToken`.
    pub acl_token: String,
    /// `ConsulKVStoreProvider` is `consul-txn`.
    pub transactions: bool,
    /// `ConsulMaxKVsPerTransaction` (1..=64).
    pub max_per_transaction: usize,
    /// `ConsulCrossDataCenterDistribution`.
    pub all_datacenters: bool,
}

#[derive(Debug, Clone)]
pub struct Consul {
    base: String,
    settings: ConsulSettings,
    http: reqwest::Client,
}

impl Consul {
    pub fn new(settings: ConsulSettings, http: reqwest::Client) -> Result<Consul, KvError> {
        let scheme = settings.scheme.trim();
        if !matches!(scheme, "http" | "https") {
            return Err(KvError::Config(format!(
                "ConsulScheme {scheme:?} is neither http nor https"
            )));
        }
        if !(1..=MAX_TXN_OPS).contains(&settings.max_per_transaction) {
            return Err(KvError::Config(format!(
                "ConsulMaxKVsPerTransaction {} is outside 1..={MAX_TXN_OPS}",
                settings.max_per_transaction
            )));
        }
        let address = settings.address.trim().trim_end_matches('/');
        let base = if address.contains("://") {
            address.to_string()
        } else if address.contains(':') {
            format!("{scheme}://{address}")
        } else {
            format!("{scheme}://{address}:8500")
        };
        Ok(Consul {
            base,
            settings,
            http,
        })
    }

    pub fn address(&self) -> String {
        self.base.clone()
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        if self.settings.acl_token.is_empty() {
            builder
        } else {
            builder.header("X-Consul-Token", &self.settings.acl_token)
        }
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> Result<(u16, String), KvError> {
        let reply = builder.send().await.map_err(|e| {
            KvError::Unreachable(format!("{}: {}", self.base, crate::http_error(&e)))
        })?;
        let status = reply.status().as_u16();
        let text = reply.text().await.unwrap_or_default();
        match status {
            401 | 403 => Err(KvError::Refused(format!(
                "Consul refused the request ({status}): {} (check ConsulAclToken)",
                text.trim()
            ))),
            500.. => Err(KvError::Unreachable(format!(
                "Consul answered {status}: {}",
                text.trim()
            ))),
            _ => Ok((status, text)),
        }
    }

    /// The datacenters to write to: the agent's own (no `dc`), or every one it knows.
    async fn datacenters(&self) -> Result<Vec<Option<String>>, KvError> {
        if !self.settings.all_datacenters {
            return Ok(vec![None]);
        }
        let (status, text) = self
            .send(self.request(reqwest::Method::GET, "/v1/catalog/datacenters"))
            .await?;
        let names: Vec<String> = serde_json::from_str(&text).map_err(|e| {
            KvError::Protocol(format!(
                "datacenter list ({status}) is not a JSON list: {e}"
            ))
        })?;
        Ok(names.into_iter().map(Some).collect())
    }

    /// One read per datacenter and pair, datacenter by datacenter.
    pub(crate) async fn read(&self, pairs: &[KvPair]) -> Result<Vec<CasRead>, KvError> {
        let mut reads = Vec::new();
        for dc in self.datacenters().await? {
            for pair in pairs {
                let path = kv_path(&pair.key, dc.as_deref(), None);
                let (status, text) = self.send(self.request(reqwest::Method::GET, &path)).await?;
                let mut read = match status {
                    404 => CasRead::of(pair, None, 0),
                    200 => {
                        let entries: Value = serde_json::from_str(&text).map_err(|e| {
                            KvError::Protocol(format!(
                                "Consul's reply for {} is not JSON: {e}",
                                pair.key
                            ))
                        })?;
                        let entry = &entries[0];
                        let value = match entry["Value"].as_str() {
                            Some(text) => B64.decode(text).map_err(|e| {
                                KvError::Protocol(format!("Consul value is not base64: {e}"))
                            })?,
                            None => Vec::new(),
                        };
                        let index = entry["ModifyIndex"].as_i64().unwrap_or(0);
                        CasRead::of(
                            pair,
                            Some(String::from_utf8_lossy(&value).into_owned()),
                            index,
                        )
                    }
                    other => {
                        return Err(KvError::Refused(format!(
                            "Consul answered {other} reading {}: {}",
                            pair.key,
                            text.trim()
                        )))
                    }
                };
                read.place = dc.clone();
                reads.push(read);
            }
        }
        Ok(reads)
    }

    pub(crate) async fn write(&self, pairs: &[KvPair], read: &[CasRead]) -> Result<(), KvError> {
        // `read` holds one entry per datacenter and pair, in the order `read` made them.
        let per_dc = pairs.len().max(1);
        for chunk in read.chunks(per_dc) {
            let dc = chunk.first().and_then(|r| r.place.clone());
            let todo: Vec<(&KvPair, &CasRead)> = pairs
                .iter()
                .zip(chunk)
                .filter(|(_, seen)| !seen.current)
                .collect();
            if self.settings.transactions {
                for ops in todo.chunks(self.settings.max_per_transaction) {
                    self.write_txn(ops, dc.as_deref()).await?;
                }
            } else {
                // The cluster's own key last: whoever watches it finds the others current.
                for (pair, seen) in todo.into_iter().rev() {
                    let path = kv_path(&pair.key, dc.as_deref(), Some(seen.version));
                    let put = self
                        .request(reqwest::Method::PUT, &path)
                        .body(pair.value.clone());
                    let (status, text) = self.send(put).await?;
                    match (status, text.trim()) {
                        (200, "true") => {}
                        (200, "false") => {
                            return Err(KvError::Conflict(format!(
                                "{} changed since it was read",
                                pair.key
                            )))
                        }
                        (status, text) => {
                            return Err(KvError::Refused(format!(
                                "Consul answered {status} writing {}: {text}",
                                pair.key
                            )))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn write_txn(
        &self,
        ops: &[(&KvPair, &CasRead)],
        dc: Option<&str>,
    ) -> Result<(), KvError> {
        let body: Vec<Value> = ops
            .iter()
            .map(|(pair, seen)| {
                json!({ "KV": {
                    "Verb": "cas",
                    "Key": pair.key,
                    "Value": B64.encode(&pair.value),
                    "Index": seen.version,
                }})
            })
            .collect();
        let path = match dc {
            Some(dc) => format!("/v1/txn?dc={}", encode(dc)),
            None => "/v1/txn".to_string(),
        };
        let (status, text) = self
            .send(self.request(reqwest::Method::PUT, &path).json(&body))
            .await?;
        match status {
            200 => Ok(()),
            409 => Err(KvError::Conflict(format!(
                "a key changed since it was read (Consul transaction rolled back: {})",
                text.trim()
            ))),
            other => Err(KvError::Refused(format!(
                "Consul answered {other} to a transaction: {}",
                text.trim()
            ))),
        }
    }
}

/// `/v1/kv/<key>` with its query: each path segment escaped, `/` kept.
fn kv_path(key: &str, dc: Option<&str>, cas: Option<i64>) -> String {
    let key: Vec<String> = key.trim_start_matches('/').split('/').map(encode).collect();
    let mut query = Vec::new();
    if let Some(dc) = dc {
        query.push(format!("dc={}", encode(dc)));
    }
    if let Some(cas) = cas {
        query.push(format!("cas={cas}"));
    }
    let mut path = format!("/v1/kv/{}", key.join("/"));
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    path
}

/// What a key segment or query value keeps unencoded: unreserved characters and `:`.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

/// Percent-encodes everything but unreserved characters (and `:`, harmless in a path).
fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_escaped_per_segment() {
        assert_eq!(
            kv_path("mysql/master/db 1:3306", Some("dc1"), Some(7)),
            "/v1/kv/mysql/master/db%201:3306?dc=dc1&cas=7"
        );
        assert_eq!(kv_path("/a/b", None, None), "/v1/kv/a/b");
    }
}
