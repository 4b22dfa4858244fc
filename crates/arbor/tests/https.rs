//! The API over TLS (`UseSSL`) and mutual TLS (`UseMutualTLS`), driven by the CLI.

mod common;

use std::fs;
use std::path::Path;

use common::{run, test_config, Service};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};

/// Writes a CA, a server certificate for 127.0.0.1 and a client certificate, all PEM, into
/// `dir` as ca.pem, server.pem/server.key and client.pem/client.key; and a second, unrelated
/// CA as other-ca.pem.
fn write_certificates(dir: &Path) {
    let ca = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        (cert, Issuer::new(params, key))
    };
    let (ca_cert, issuer) = ca("arbor test CA");
    fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    let (other_ca_cert, _) = ca("someone else's CA");
    fs::write(dir.join("other-ca.pem"), other_ca_cert.pem()).unwrap();

    let leaf = |name: &str, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.subject_alt_names = vec![
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
            SanType::DnsName("localhost".try_into().unwrap()),
        ];
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &issuer).unwrap();
        fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    };
    leaf("server", ExtendedKeyUsagePurpose::ServerAuth);
    leaf("client", ExtendedKeyUsagePurpose::ClientAuth);
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[test]
fn the_cli_talks_https_and_presents_a_client_certificate_for_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path();
    write_certificates(certs);
    let tls_keys = format!(
        r#""UseSSL": true, "SSLCertFile": "{}", "SSLPrivateKeyFile": "{}""#,
        path(certs, "server.pem"),
        path(certs, "server.key")
    );

    // HTTPS.
    let service = Service::start(certs, &test_config(certs, 1, &tls_keys));
    let https = service.api.replace("http://", "https://");
    let trust_ca = [("ARBOR_TLS_CA_FILE", path(certs, "ca.pem"))];
    let run_with = |args: &[&str], pairs: &[(&str, String)]| {
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(args, &borrowed)
    };

    let (ok, stdout, stderr) = run_with(&["--api", &https, "--json", "clusters"], &trust_ca);
    assert!(ok, "https with the CA trusted: {stderr}");
    assert_eq!(stdout.trim(), "[]");
    let (ok, _, stderr) = run_with(&["--api", &https, "clusters"], &[]);
    assert!(!ok, "a server certificate from an unknown CA is refused");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    let untrusted = [("ARBOR_TLS_CA_FILE", path(certs, "other-ca.pem"))];
    let (ok, _, _) = run_with(&["--api", &https, "clusters"], &untrusted);
    assert!(!ok, "trusting another CA does not help");
    let (ok, _, _) = run_with(&["--api", &service.api, "clusters"], &trust_ca);
    assert!(!ok, "plain http to the https port fails");
    drop(service);

    // Mutual TLS: the server also wants a client certificate signed by SSLCAFile.
    let mutual = format!(
        r#"{tls_keys}, "UseMutualTLS": true, "SSLCAFile": "{}""#,
        path(certs, "ca.pem")
    );
    let service = Service::start(certs, &test_config(certs, 1, &mutual));
    let https = service.api.replace("http://", "https://");
    let (ok, _, stderr) = run_with(&["--api", &https, "clusters"], &trust_ca);
    assert!(!ok, "no client certificate: refused");
    assert!(!stderr.is_empty());
    let identity = [
        ("ARBOR_TLS_CA_FILE", path(certs, "ca.pem")),
        ("ARBOR_TLS_CERT_FILE", path(certs, "client.pem")),
        ("ARBOR_TLS_KEY_FILE", path(certs, "client.key")),
    ];
    let (ok, stdout, stderr) = run_with(&["--api", &https, "--json", "clusters"], &identity);
    assert!(ok, "client certificate presented: {stderr}");
    assert_eq!(stdout.trim(), "[]");
}

#[test]
fn tls_settings_that_cannot_work_stop_serve_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (r#""UseSSL": true"#, "SSLCertFile"),
        (
            r#""UseSSL": true, "SSLCertFile": "/nonexistent/cert.pem", "SSLPrivateKeyFile": "/nonexistent/key.pem""#,
            "SSLCertFile",
        ),
        (r#""UseMutualTLS": true"#, "UseMutualTLS: needs UseSSL"),
    ];
    for (extra, expected) in cases {
        let config = dir.path().join("tls.json");
        fs::write(&config, test_config(dir.path(), 1, extra)).unwrap();
        let (ok, _, stderr) = run(
            &["--config", config.to_str().unwrap(), "serve"],
            &[("ARBOR_E2E_TOPOLOGY_PASSWORD", "unused")],
        );
        assert!(!ok, "{extra}");
        assert!(stderr.contains(expected), "{extra}: {stderr}");
    }
}

#[test]
fn tls_init_makes_certificates_that_serve_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let certs_arg = certs.display().to_string();
    let (ok, stdout, stderr) = run(&["tls", "init", &certs_arg, "--host", "127.0.0.1"], &[]);
    assert!(ok, "{stderr}");
    for file in ["ca.pem", "ca.key", "127.0.0.1.pem", "127.0.0.1.key"] {
        assert!(stdout.contains(file), "{file} listed: {stdout}");
    }
    let ca_before = fs::read_to_string(certs.join("ca.pem")).unwrap();
    // A second node later: the CA is kept, so certificates already handed out stay valid.
    let (ok, stdout, stderr) = run(&["tls", "init", &certs_arg, "--host", "localhost"], &[]);
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("ca.pem"), "{stdout}");
    assert_eq!(fs::read_to_string(certs.join("ca.pem")).unwrap(), ca_before);
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(certs.join("127.0.0.1.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "private keys are the owner's only");

    let keys = format!(
        r#""UseSSL": true, "SSLCertFile": "{}", "SSLPrivateKeyFile": "{}",
        "UseMutualTLS": true, "SSLCAFile": "{}""#,
        path(&certs, "127.0.0.1.pem"),
        path(&certs, "127.0.0.1.key"),
        path(&certs, "ca.pem")
    );
    let service = Service::start(dir.path(), &test_config(dir.path(), 1, &keys));
    let https = service.api.replace("http://", "https://");
    // The node certificate doubles as the client's (issued for server and client use).
    let identity = [
        ("ARBOR_TLS_CA_FILE", path(&certs, "ca.pem")),
        ("ARBOR_TLS_CERT_FILE", path(&certs, "localhost.pem")),
        ("ARBOR_TLS_KEY_FILE", path(&certs, "localhost.key")),
    ];
    let borrowed: Vec<(&str, &str)> = identity.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (ok, stdout, stderr) = run(&["--api", &https, "--json", "clusters"], &borrowed);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "[]");

    let (ok, _, stderr) = run(&["tls", "init", &certs_arg], &[]);
    assert!(!ok, "a host is required");
    assert!(stderr.contains("--host"), "{stderr}");
}
