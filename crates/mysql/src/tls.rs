//! TLS to MySQL servers, with orchestrator's keys and meaning.
//!
//! - `Always` (`MySQLTopologyUseMutualTLS`, `MySQLOrchestratorUseMutualTLS`): every connection
//!   is TLS; a server that offers none is an error.
//! - `WhenRequired` (`MySQLTopologyUseMixedTLS`, orchestrator's default): plain text, unless
//!   the server refuses plain text (`require_secure_transport`, or an account that `REQUIRE`s
//!   SSL); then TLS, remembered for that server for `TLSCacheTTLFactor` × `InstancePollSeconds`.
//!   Not "TLS whenever offered": MySQL 5.7+ offers TLS with a self-signed certificate by
//!   default, so that reading would turn orchestrator's default configuration into a
//!   certificate error on every such server.
//!
//! Verification: the CA file, when given, is the only root trusted (else the built-in web
//! roots); `SkipVerify` accepts any certificate. The certificate and key, when given, are the
//! client's identity. The crypto is rustls on ring, the tree's one provider.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor_topology::InstanceKey;
use mysql_async::{ClientIdentity, SslOpts};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text.
    #[default]
    Off,
    /// TLS to the servers that refuse plain text.
    WhenRequired,
    /// TLS to every server.
    Always,
}

/// What the configuration says about TLS to one set of servers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: TlsMode,
    /// `...SSLCAFile`: the CA that signs the servers' certificates.
    pub ca_file: Option<PathBuf>,
    /// `...SSLCertFile` and `...SSLPrivateKeyFile`: the client's identity, both or neither.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// `...SSLSkipVerify`: accept any server certificate.
    pub skip_verify: bool,
    /// How long a server found to require TLS is remembered as such (`WhenRequired`).
    pub remember: Duration,
}

impl TlsSettings {
    /// The `mysql_async` options for a TLS connection with these settings.
    pub fn ssl_opts(&self) -> SslOpts {
        let mut opts = SslOpts::default()
            .with_danger_accept_invalid_certs(self.skip_verify)
            .with_danger_skip_domain_validation(self.skip_verify);
        if let Some(ca) = &self.ca_file {
            opts = opts
                .with_root_certs(vec![ca.clone().into()])
                .with_disable_built_in_roots(true);
        }
        if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
            opts = opts.with_client_identity(Some(ClientIdentity::new(
                cert.clone().into(),
                key.clone().into(),
            )));
        }
        opts
    }
}

/// The TLS policy of a prober or an operator: its settings, and (in `WhenRequired` mode) the
/// servers found to require TLS. Cheap to clone; clones share what they learnt.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    settings: Arc<TlsSettings>,
    required: Arc<Mutex<HashMap<InstanceKey, Instant>>>,
}

/// Server errors that mean "not in plain text": MySQL's `ER_SECURE_TRANSPORT_REQUIRED`
/// (3159), MariaDB's (4151), and access denied (1045), which is what an account that
/// `REQUIRE`s SSL gets. A wrong password also gets 1045: the TLS attempt then fails the same
/// way and that error is reported.
const TLS_REQUIRED_ERRORS: [u16; 3] = [3159, 4151, 1045];

impl Tls {
    pub fn new(settings: TlsSettings) -> Tls {
        Tls {
            settings: Arc::new(settings),
            required: Arc::default(),
        }
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// The TLS options of the first attempt to connect to `key`, if it is to be TLS.
    pub(crate) fn first_attempt(&self, key: &InstanceKey) -> Option<SslOpts> {
        match self.settings.mode {
            TlsMode::Off => None,
            TlsMode::Always => Some(self.settings.ssl_opts()),
            TlsMode::WhenRequired => {
                let mut required = self.required.lock().unwrap_or_else(|e| e.into_inner());
                match required.get(key) {
                    Some(until) if *until > Instant::now() => Some(self.settings.ssl_opts()),
                    Some(_) => {
                        required.remove(key);
                        None
                    }
                    None => None,
                }
            }
        }
    }

    /// After a plain-text attempt that the server refused with `code`: the TLS options to try
    /// again with, if the refusal means that TLS is required and the mode allows it.
    pub(crate) fn retry_after_refusal(&self, code: u16) -> Option<SslOpts> {
        (self.settings.mode == TlsMode::WhenRequired && TLS_REQUIRED_ERRORS.contains(&code))
            .then(|| self.settings.ssl_opts())
    }

    /// `key` accepted a TLS connection after refusing plain text.
    pub(crate) fn remember_required(&self, key: &InstanceKey) {
        let until = Instant::now() + self.settings.remember;
        self.required
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), until);
    }
}

/// A readable account of a failed TLS handshake, if `error` is one: the certificate problem
/// named in words, not only rustls' variant.
pub(crate) fn describe_tls_failure(error: &mysql_async::Error) -> Option<String> {
    let mysql_async::Error::Io(io) = error else {
        return None;
    };
    let rustls_error = match io {
        mysql_async::IoError::Tls(_) => return Some(format!("TLS failed: {io}")),
        mysql_async::IoError::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())?,
    };
    let what = match rustls_error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature => {
                "the server's certificate is not trusted: no configured CA signed it".to_string()
            }
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. } => {
                "the server's certificate is not valid for this host name".to_string()
            }
            rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".to_string()
            }
            other => format!("the server's certificate is not accepted: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => {
            format!(
                "the server refused the TLS handshake ({alert:?}): check the client certificate"
            )
        }
        other => format!("TLS failed: {other}"),
    };
    Some(what)
}
