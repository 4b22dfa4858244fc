//! A typed client of arbor's HTTP API, used by the `arbor` CLI and by tests.
//!
//! It speaks the same envelope `orchestrator-client` does: an object with `Code` is an
//! envelope whose `Details` is the answer, and `Code: "ERROR"` is an error with `Message`.
//! Choosing among several API URLs by leader-check comes with the HA release.

use std::time::Duration;

use arbor_api::{ApiResponse, ClusterInfo, InstanceJson, InstanceKeyJson, ResponseCode};
use arbor_topology::InstanceKey;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach arbor at {url}: {message}")]
    Unreachable { url: String, message: String },
    /// arbor answered with an error envelope.
    #[error("{message}")]
    Api { status: u16, message: String },
    #[error("unexpected answer from {url} (HTTP {status}): {message}")]
    Decode {
        url: String,
        status: u16,
        message: String,
    },
}

pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// `base` is the service URL, e.g. `http://127.0.0.1:3000`; a trailing `/api` is accepted.
    pub fn new(base: &str) -> Result<Client, ClientError> {
        let trimmed = base.trim().trim_end_matches('/');
        let base = trimmed.strip_suffix("/api").unwrap_or(trimmed).to_string();
        let http = reqwest::Client::builder()
            // Probes of unreachable servers take up to the connect plus read timeouts.
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: base.clone(),
                message: e.to_string(),
            })?;
        Ok(Client { base, http })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn key_path(key: &InstanceKey) -> String {
        format!("{}/{}", encode(&key.hostname), key.port)
    }

    /// GETs `/api/{path}` and decodes the answer, unwrapping an envelope when there is one.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = format!("{}/api/{}", self.base, path);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let decode_error = |message: String| ClientError::Decode {
            url: url.clone(),
            status,
            message,
        };
        let value: serde_json::Value = serde_json::from_str(&body).map_err(|_| {
            decode_error(format!(
                "not JSON: {}",
                body.chars().take(200).collect::<String>()
            ))
        })?;
        let is_envelope = value.as_object().is_some_and(|o| o.contains_key("Code"));
        if is_envelope {
            let envelope: ApiResponse<serde_json::Value> =
                serde_json::from_value(value).map_err(|e| decode_error(e.to_string()))?;
            if envelope.code == ResponseCode::Error {
                return Err(ClientError::Api {
                    status,
                    message: envelope.message,
                });
            }
            return serde_json::from_value(envelope.details)
                .map_err(|e| decode_error(e.to_string()));
        }
        serde_json::from_value(value).map_err(|e| decode_error(e.to_string()))
    }

    pub async fn discover(&self, key: &InstanceKey) -> Result<InstanceJson, ClientError> {
        self.get(&format!("discover/{}", Client::key_path(key)))
            .await
    }

    pub async fn forget(&self, key: &InstanceKey) -> Result<InstanceKeyJson, ClientError> {
        self.get(&format!("forget/{}", Client::key_path(key))).await
    }

    pub async fn instance(&self, key: &InstanceKey) -> Result<InstanceJson, ClientError> {
        self.get(&format!("instance/{}", Client::key_path(key)))
            .await
    }

    pub async fn clusters_info(&self) -> Result<Vec<ClusterInfo>, ClientError> {
        self.get("clusters-info").await
    }

    pub async fn cluster_instances(&self, hint: &str) -> Result<Vec<InstanceJson>, ClientError> {
        self.get(&format!("cluster/{}", encode(hint))).await
    }

    /// The ASCII tree of the cluster `hint` names (a cluster name, alias, or member key).
    pub async fn topology(&self, hint: &str) -> Result<String, ClientError> {
        self.get(&format!("topology/{}", encode(hint))).await
    }

    /// Whether this node answers 200 on `/api/leader-check`.
    pub async fn is_leader(&self) -> Result<bool, ClientError> {
        let url = format!("{}/api/leader-check", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable {
                url,
                message: e.to_string(),
            })?;
        Ok(response.status().is_success())
    }
}

/// Percent-encodes a path segment (hosts and hints may hold `:` or `/` in aliases).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised_and_segments_encoded() {
        assert_eq!(
            Client::new("http://h:3000/").unwrap().base_url(),
            "http://h:3000"
        );
        assert_eq!(
            Client::new("http://h:3000/api").unwrap().base_url(),
            "http://h:3000"
        );
        assert_eq!(encode("127.0.0.1:3306"), "127.0.0.1:3306");
        assert_eq!(encode("my cluster/a"), "my%20cluster%2Fa");
    }
}
