//! `arbor tls init DIR`: a CA and node certificates for users who have none, so that the API
//! (`UseSSL`, `UseMutualTLS`) can be turned on without another tool.

use std::fs;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Writes `ca.pem`/`ca.key` (created only when missing, so that more nodes can be added later
/// under the CA this command made before) and, per host, `HOST.pem`/`HOST.key` valid for that host name or IP, as
/// server and client (one certificate serves the API and its mutual-TLS clients). Returns the
/// files written.
pub fn init(dir: &Path, hosts: &[String]) -> anyhow::Result<Vec<String>> {
    if hosts.is_empty() {
        bail!("name at least one host (--host NAME_OR_IP) to issue a certificate for");
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let ca_cert_path = dir.join("ca.pem");
    let ca_key_path = dir.join("ca.key");
    let ca_params = || -> anyhow::Result<CertificateParams> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "arbor CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ok(params)
    };
    let issuer = if ca_key_path.exists() && ca_cert_path.exists() {
        let pem = fs::read_to_string(&ca_key_path)
            .with_context(|| format!("cannot read {}", ca_key_path.display()))?;
        let key = KeyPair::from_pem(&pem)
            .with_context(|| format!("{} is not a PEM private key", ca_key_path.display()))?;
        // The CA is one this command made: same name, same key, so the new certificates chain
        // to the `ca.pem` already handed out.
        Issuer::new(ca_params()?, key)
    } else {
        let key = KeyPair::generate()?;
        let params = ca_params()?;
        let cert = params.self_signed(&key)?;
        write_private(&ca_key_path, &key.serialize_pem())?;
        fs::write(&ca_cert_path, cert.pem())?;
        written.push(ca_cert_path.display().to_string());
        written.push(ca_key_path.display().to_string());
        Issuer::new(params, key)
    };
    for host in hosts {
        let host = host.trim();
        if host.is_empty() || host.contains('/') || host.contains(' ') {
            bail!("--host {host:?}: expected a host name or an IP address");
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, host);
        params.subject_alt_names = vec![match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                host.to_string()
                    .try_into()
                    .with_context(|| format!("--host {host:?} is not a valid DNS name"))?,
            ),
        }];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &issuer)?;
        let cert_path = dir.join(format!("{host}.pem"));
        let key_path = dir.join(format!("{host}.key"));
        fs::write(&cert_path, cert.pem())?;
        write_private(&key_path, &key.serialize_pem())?;
        written.push(cert_path.display().to_string());
        written.push(key_path.display().to_string());
    }
    Ok(written)
}

/// A private key readable by its owner only.
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}
