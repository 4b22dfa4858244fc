//! A typed client of arbor's HTTP API, used by the `arbor` CLI and by tests.
//!
//! It speaks the same envelope `orchestrator-client` does: an object with `Code` is an
//! envelope whose `Details` is the answer, and `Code: "ERROR"` is an error with `Message`.
//! Given several API URLs it talks to the leader, found as `orchestrator-client` finds it: the
//! first URL answering 200 on `/api/leader-check`, else on `/api/routed-leader-check`.

use std::time::Duration;

use arbor_api::{
    ApiResponse, ClusterInfo, InstanceJson, InstanceKeyJson, ReplicationAnalysisJson, ResponseCode,
};
use arbor_topology::InstanceKey;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach arbor at {url}: {message}")]
    Unreachable { url: String, message: String },
    /// arbor answered with an error envelope.
    #[error("{message}")]
    Api { status: u16, message: String },
    #[error("no arbor node answered as leader (tried {tried})")]
    NoLeader { tried: String },
    #[error("unexpected answer from {url} (HTTP {status}): {message}")]
    Decode {
        url: String,
        status: u16,
        message: String,
    },
}

/// How the client authenticates and trusts servers.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Basic-auth user and password (`ARBOR_AUTH_USER`, `ARBOR_AUTH_PASSWORD`).
    pub basic_auth: Option<(String, String)>,
    /// A PEM file of CA certificates to trust for https, besides the system's
    /// (`ARBOR_TLS_CA_FILE`).
    pub ca_file: Option<std::path::PathBuf>,
    /// A client certificate and key (PEM) for servers that require mutual TLS
    /// (`ARBOR_TLS_CERT_FILE`, `ARBOR_TLS_KEY_FILE`).
    pub client_identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// The system's CA bundle on Debian and most Linux distributions.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// rustls settings for https: the system's CAs plus `ca_file`, and a client certificate when
/// given. Built here (not left to reqwest) so that exactly these roots are trusted.
pub fn tls_config(options: &ClientOptions) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    if let Ok(system) = CertificateDer::pem_file_iter(SYSTEM_CA_BUNDLE) {
        roots.add_parsable_certificates(system.flatten());
    }
    if let Some(ca_file) = &options.ca_file {
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
            .and_then(|certs| certs.collect())
            .map_err(|e| format!("cannot read CA file {}: {e}", ca_file.display()))?;
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|e| format!("bad CA certificate in {}: {e}", ca_file.display()))?;
        }
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    match &options.client_identity {
        Some((cert_file, key_file)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
                .and_then(|certs| certs.collect())
                .map_err(|e| format!("cannot read {}: {e}", cert_file.display()))?;
            let key = PrivateKeyDer::from_pem_file(key_file)
                .map_err(|e| format!("cannot read {}: {e}", key_file.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate and key do not fit: {e}"))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

pub struct Client {
    base: String,
    http: reqwest::Client,
    options: ClientOptions,
}

/// `http://host:3000/api/` → `http://host:3000`.
fn normalize(base: &str) -> String {
    let trimmed = base.trim().trim_end_matches('/');
    trimmed.strip_suffix("/api").unwrap_or(trimmed).to_string()
}

impl Client {
    /// A client of the one service at `base` (e.g. `http://127.0.0.1:3000`; a trailing `/api`
    /// is accepted).
    pub fn new(base: &str) -> Result<Client, ClientError> {
        Client::with_options(base, ClientOptions::default())
    }

    pub fn with_options(base: &str, options: ClientOptions) -> Result<Client, ClientError> {
        let base = normalize(base);
        let setup_error = |message: String| ClientError::Unreachable {
            url: base.clone(),
            message,
        };
        let tls = tls_config(&options).map_err(setup_error)?;
        let http = reqwest::Client::builder()
            // Probes of unreachable servers take up to the connect plus read timeouts.
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|e| setup_error(e.to_string()))?;
        Ok(Client {
            base,
            http,
            options,
        })
    }

    /// A client of the leader among `bases`. One URL is used as it is, as orchestrator-client
    /// does; among several, the first answering 200 on `/api/leader-check` wins, then the first
    /// answering 200 on `/api/routed-leader-check`.
    pub async fn connect(bases: &[String], options: ClientOptions) -> Result<Client, ClientError> {
        let candidates: Vec<Client> = bases
            .iter()
            .filter(|b| !b.trim().is_empty())
            .map(|b| Client::with_options(b, options.clone()))
            .collect::<Result<_, _>>()?;
        if candidates.len() <= 1 {
            return candidates.into_iter().next().ok_or(ClientError::NoLeader {
                tried: String::new(),
            });
        }
        for check in ["leader-check", "routed-leader-check"] {
            for candidate in &candidates {
                if candidate.answers_ok(check).await {
                    return Client::with_options(&candidate.base, options);
                }
            }
        }
        Err(ClientError::NoLeader {
            tried: candidates
                .iter()
                .map(|c| c.base.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match &self.options.basic_auth {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    async fn answers_ok(&self, path: &str) -> bool {
        let url = format!("{}/api/{path}", self.base);
        self.request(reqwest::Method::GET, &url)
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn key_path(key: &InstanceKey) -> String {
        format!("{}/{}", encode(&key.hostname), key.port)
    }

    /// GETs `/api/{path}`: its URL, status and body. A route that changes something on a
    /// service with `RequirePostForChanges` refuses GET (405, `Allow: POST`) without acting:
    /// the request is then sent again as POST.
    async fn get_text(&self, path: &str) -> Result<(String, u16, String), ClientError> {
        let url = format!("{}/api/{}", self.base, path);
        let send = |method: reqwest::Method| {
            let url = url.clone();
            async move {
                self.request(method, &url)
                    .send()
                    .await
                    .map_err(|e| ClientError::Unreachable {
                        url: url.clone(),
                        message: error_chain(&e),
                    })
            }
        };
        let mut response = send(reqwest::Method::GET).await?;
        let post_only = response.status() == reqwest::StatusCode::METHOD_NOT_ALLOWED
            && response
                .headers()
                .get(reqwest::header::ALLOW)
                .and_then(|allow| allow.to_str().ok())
                .is_some_and(|allow| allow.split(',').any(|m| m.trim() == "POST"));
        if post_only {
            response = send(reqwest::Method::POST).await?;
        }
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                message: e.to_string(),
            })?;
        Ok((url, status, body))
    }

    /// GETs `/api/{path}` and decodes the answer, unwrapping an envelope when there is one.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let (url, status, body) = self.get_text(path).await?;
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

    /// GETs `/api/{path}` and answers its JSON as it came (an envelope is not unwrapped); a
    /// 4xx/5xx answer is an error with its message.
    pub async fn get_raw(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        let (url, status, body) = self.get_text(path).await?;
        let value: serde_json::Value =
            serde_json::from_str(&body).map_err(|_| ClientError::Decode {
                url,
                status,
                message: format!("not JSON: {}", body.chars().take(200).collect::<String>()),
            })?;
        if status >= 400 {
            return Err(ClientError::Api {
                status,
                message: value["Message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| value.to_string()),
            });
        }
        Ok(value)
    }

    /// The `Message` of an envelope (where orchestrator answers a verdict, e.g. can-replicate-from).
    pub async fn verdict(&self, path: &str) -> Result<String, ClientError> {
        let (url, status, body) = self.get_text(path).await?;
        let envelope: ApiResponse<serde_json::Value> =
            serde_json::from_str(&body).map_err(|e| ClientError::Decode {
                url,
                status,
                message: e.to_string(),
            })?;
        if envelope.code == ResponseCode::Error {
            return Err(ClientError::Api {
                status,
                message: envelope.message,
            });
        }
        Ok(envelope.message)
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

    /// Current failure analyses (`/api/replication-analysis`).
    pub async fn replication_analysis(&self) -> Result<Vec<ReplicationAnalysisJson>, ClientError> {
        self.get("replication-analysis").await
    }

    /// The ASCII tree of the cluster `hint` names (a cluster name, alias, or member key).
    pub async fn topology(&self, hint: &str) -> Result<String, ClientError> {
        self.get(&format!("topology/{}", encode(hint))).await
    }

    /// Whether this node answers 200 on `/api/leader-check`.
    pub async fn is_leader(&self) -> bool {
        self.answers_ok("leader-check").await
    }
}

/// An error with its causes: reqwest's own message ("error sending request") hides the reason
/// (refused, certificate unknown, ...) in its sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// What a path segment or query value keeps unencoded: unreserved characters, and `:`
/// (harmless in a path, and `host:port` stays readable in logs).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

/// Percent-encodes a path segment or query value (hosts and hints may hold `:` or `/` in
/// aliases).
pub fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
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
