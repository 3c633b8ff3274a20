//! Test certificates: a throwaway CA and a server certificate it signed for localhost
//! and 127.0.0.1, written as PEM files the way an operator would hand them to the
//! server. Also used by the `sightline` binary's end-to-end tests.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::path::PathBuf;

pub struct Pki {
    /// The CA certificate clients trust.
    pub ca_pem: String,
    /// The same in DER, for rustls clients (the binary's tests use reqwest only).
    #[allow(dead_code)]
    pub ca_der: Vec<u8>,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
    /// A private key of another certificate, for mismatch tests.
    pub other_key: PathBuf,
    /// Owns the files.
    _dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "Sightline test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().expect("a server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("server parameters");
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &issuer).expect("the server certificate");
        let other = KeyPair::generate().expect("another key");

        let dir = tempfile::tempdir().expect("a temporary dir for certificates");
        let write = |name: &str, text: &str| {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("writing a PEM file");
            // As an operator should keep a key (the server warns otherwise).
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
            path
        };
        let cert_path = write("server.crt", &cert.pem());
        let key_path = write("server.key", &key.serialize_pem());
        let other_key = write("other.key", &other.serialize_pem());
        Pki { ca_pem: ca.pem(), ca_der: ca.der().to_vec(), cert: cert_path, key: key_path, other_key, _dir: dir }
    }

    /// A client that trusts only the test CA, over rustls (the binary's tests; the
    /// server's harness builds its own, with credentials).
    #[allow(dead_code)]
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("the CA as PEM"))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("an HTTPS client")
    }
}
