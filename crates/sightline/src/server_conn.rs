//! How the commands that talk to a running server (`export`, `admin rotate-key`) reach
//! it: its base URL, the API token, and for `https://` a private CA to trust.

use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// The running server's base URL (`https://…` when it serves TLS).
    #[arg(long, env = "SIGHTLINE_SERVER", default_value = "http://127.0.0.1:7878")]
    pub server: String,
    /// API token, sent as `Authorization: Bearer`.
    #[arg(long, env = "SIGHTLINE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of CA certificates to trust besides the system's: for a server whose
    /// certificate a private CA signed.
    #[arg(long, env = "SIGHTLINE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

impl ServerArgs {
    /// The base URL without a trailing `/`.
    pub fn base(&self) -> &str {
        self.server.trim_end_matches('/')
    }

    /// `builder` finished with the extra trusted CAs (the system's roots stay trusted).
    pub fn client(&self, builder: reqwest::ClientBuilder) -> anyhow::Result<reqwest::Client> {
        let mut builder = builder;
        if let Some(path) = &self.ca_cert {
            let pem = std::fs::read(path).with_context(|| format!("reading --ca-cert {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("--ca-cert {} is not a PEM certificate file", path.display()))?;
            anyhow::ensure!(!certs.is_empty(), "--ca-cert {} holds no certificate", path.display());
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().context("setting up the HTTP client")
    }

    /// `request` with the token, if one was given.
    pub fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    }
}
