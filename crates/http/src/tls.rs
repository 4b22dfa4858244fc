//! HTTPS for the API and UI (`UseSSL`, `SSLCertFile`, `SSLPrivateKeyFile`), and mutual TLS
//! (`UseMutualTLS` with `SSLCAFile`: clients must present a certificate signed by that CA).
//!
//! rustls with the `ring` provider, the one crypto provider of the whole build. Connections
//! are accepted and served in [`crate::serve`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key} {path}: {message}")]
    File {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

/// What `arbor serve` needs to speak HTTPS.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// `SSLCertFile`: PEM, the server certificate first, then its chain.
    pub cert_file: PathBuf,
    /// `SSLPrivateKeyFile`: PEM, unencrypted.
    pub key_file: PathBuf,
    /// `SSLCAFile` when `UseMutualTLS`: clients must present a certificate it signed.
    pub client_ca_file: Option<PathBuf>,
}

/// Makes sure rustls uses `ring` in this process. Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads every certificate of a PEM file.
pub fn read_certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |message: String| TlsError::File {
        key,
        path: path.to_path_buf(),
        message,
    };
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(format!("cannot read: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| error(format!("not a PEM certificate file: {e}")))?;
    if certificates.is_empty() {
        return Err(error("holds no certificate".into()));
    }
    Ok(certificates)
}

pub fn read_private_key(
    key: &'static str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        key,
        path: path.to_path_buf(),
        message: format!("no usable private key: {e}"),
    })
}

pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    install_crypto_provider();
    let certificates = read_certificates("SSLCertFile", &settings.cert_file)?;
    let key = read_private_key("SSLPrivateKeyFile", &settings.key_file)?;
    let builder = ServerConfig::builder();
    let builder = match &settings.client_ca_file {
        Some(ca_file) => {
            let mut roots = RootCertStore::empty();
            for certificate in read_certificates("SSLCAFile", ca_file)? {
                roots.add(certificate).map_err(|e| TlsError::File {
                    key: "SSLCAFile",
                    path: ca_file.clone(),
                    message: e.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| TlsError::Setup(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certificates, key).map_err(|e| {
        TlsError::Setup(format!("SSLCertFile and SSLPrivateKeyFile do not fit: {e}"))
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
