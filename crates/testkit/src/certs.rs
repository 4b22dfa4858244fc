//! Certificates for TLS tests: a CA, and a certificate for 127.0.0.1 signed by it, valid as
//! server and client, in PEM files (the layout of `arbor tls init DIR --host 127.0.0.1`).

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};

/// The files [`write_certificates`] made.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Writes `ca.pem`, `127.0.0.1.pem` and `127.0.0.1.key` into `dir`, under a new CA.
pub fn write_certificates(dir: &Path) -> CertificateFiles {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "arbor test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    params.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().expect("an IP"))];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, &issuer).expect("certificate");
    let files = CertificateFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("127.0.0.1.pem"),
        key: dir.join("127.0.0.1.key"),
    };
    fs::write(&files.ca, ca_cert.pem()).expect("write ca.pem");
    fs::write(&files.cert, cert.pem()).expect("write the certificate");
    fs::write(&files.key, key.serialize_pem()).expect("write the key");
    files
}
