//! `sightline admin rotate-key`: adds a fresh key to the master key file (it becomes the active key),
//! asks the running server to reload the file and re-encrypt stored payloads under the
//! new key, and follows the progress until the pass finishes. See docs/operations.md.

use anyhow::Context;
use sightline_store::crypto;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The master key file the server uses [default: <data dir>/master.key].
    #[arg(long, env = "SIGHTLINE_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// The server's data directory, to find the default key file [default: ./sightline-data].
    #[arg(long, env = "SIGHTLINE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    conn: crate::server_conn::ServerArgs,
    /// Return once the server uses the new key, without waiting for re-encryption.
    #[arg(long)]
    no_wait: bool,
    /// Longest wait for re-encryption to finish, in seconds.
    #[arg(long, default_value_t = 3_600)]
    timeout_seconds: u64,
}

pub fn run(args: RotateArgs) -> anyhow::Result<()> {
    let path = match &args.master_key_file {
        Some(p) => p.clone(),
        None => args.data_dir.clone().unwrap_or_else(|| PathBuf::from("sightline-data")).join("master.key"),
    };
    let id = crypto::add_key_to_file(&path).with_context(|| format!("adding a key to {}", path.display()))?;
    eprintln!("added key {id} to {}; it is now the active key", path.display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let client = args.conn.client(reqwest::Client::builder().timeout(Duration::from_secs(30)))?;
        let base = args.conn.base().to_owned();
        let with_token = |r: reqwest::RequestBuilder| args.conn.authorize(r);
        let (status, body) =
            call(with_token(client.post(format!("{base}/api/v1/admin/keys/rotate")))).await.with_context(|| {
                format!(
                    "key {id} is in the key file, but the server at {base} did not take it; \
                 a server started later uses it and re-encrypts by itself"
                )
            })?;
        anyhow::ensure!(status == 202, "the server refused the rotation (HTTP {status}): {}", detail(&body));
        eprintln!("the server now encrypts under key {id}; re-encrypting stored payloads");
        if args.no_wait {
            println!("{body}");
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(args.timeout_seconds);
        let mut last_report = Instant::now();
        loop {
            let (status, body) = call(with_token(client.get(format!("{base}/api/v1/admin/keys")))).await?;
            anyhow::ensure!(status == 200, "reading the key status (HTTP {status}): {}", detail(&body));
            let pass = &body["reencryption"];
            let state = pass["state"].as_str().unwrap_or_default();
            if pass["key_id"] == id && state == "finished" {
                println!("{body}");
                let failed = pass["rows_failed"].as_u64().unwrap_or_default();
                anyhow::ensure!(
                    failed == 0,
                    "{failed} stored rows could not be decrypted and were left as they were; see the server log"
                );
                eprintln!(
                    "done: every stored payload is encrypted under key {id}; keys {} may now be removed from {}",
                    body["removable_key_ids"],
                    path.display()
                );
                return Ok(());
            }
            if state == "failed" {
                anyhow::bail!("re-encryption failed: {}", pass["error"]);
            }
            if pass["key_id"] != id && state == "finished" {
                anyhow::bail!("the server moved on to key {} meanwhile (another rotation?)", pass["key_id"]);
            }
            if last_report.elapsed() >= Duration::from_secs(5) {
                eprintln!("re-encrypting: position {} of {}", pass["cursor"], pass["max_seq"]);
                last_report = Instant::now();
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "re-encryption did not finish within {} s",
                args.timeout_seconds
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

async fn call(request: reqwest::RequestBuilder) -> anyhow::Result<(u16, serde_json::Value)> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await?;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    Ok((status, body))
}

pub(crate) fn detail(body: &serde_json::Value) -> String {
    body["detail"].as_str().map_or_else(|| body.to_string(), str::to_owned)
}
