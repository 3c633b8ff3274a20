//! `sightline export`: downloads a model's training data (labelled predictions) from a
//! running server's export endpoint into a file or standard output, chunk by chunk, so
//! memory stays small whatever the size.

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The model whose predictions to export.
    model: String,
    /// One version (default: every version).
    #[arg(long)]
    version: Option<String>,
    /// Earliest prediction timestamp, RFC 3339 or epoch milliseconds (default: no bound).
    #[arg(long)]
    from: Option<String>,
    /// End of the range, exclusive (default: no bound).
    #[arg(long)]
    to: Option<String>,
    /// File format.
    #[arg(long, value_parser = ["csv", "ndjson", "parquet"], default_value = "csv")]
    format: String,
    /// Include predictions without a label (their label columns empty).
    #[arg(long)]
    unlabelled: bool,
    /// Write here instead of standard output (removed again if the download fails).
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    conn: crate::server_conn::ServerArgs,
}

/// The export endpoint's URL with the arguments as query parameters.
fn url(args: &ExportArgs) -> anyhow::Result<reqwest::Url> {
    let base = args.conn.base();
    let mut url = reqwest::Url::parse(&format!("{base}/api/v1/models/export"))
        .with_context(|| format!("--server {:?} is not a URL", args.conn.server))?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("--server {:?} cannot have a path", args.conn.server))?
        .pop()
        .push(&args.model)
        .push("export");
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("format", &args.format);
        for (name, value) in [("version", &args.version), ("from", &args.from), ("to", &args.to)] {
            if let Some(v) = value {
                q.append_pair(name, v);
            }
        }
        if args.unlabelled {
            q.append_pair("unlabelled", "true");
        }
    }
    Ok(url)
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let url = url(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    let result = runtime.block_on(async {
        // No overall timeout: an export may take long; a stalled connection still ends.
        let client = args.conn.client(reqwest::Client::builder().connect_timeout(Duration::from_secs(30)))?;
        let request = args.conn.authorize(client.get(url.clone()));
        let mut response = request.send().await.with_context(|| format!("cannot reach {}", args.conn.server))?;
        let status = response.status().as_u16();
        if status != 200 {
            let bytes = response.bytes().await.unwrap_or_default();
            let body = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
            anyhow::bail!("the server refused the export (HTTP {status}): {}", crate::rotate_key::detail(&body));
        }
        let mut out: Box<dyn Write> = match &args.output {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        let mut written: u64 = 0;
        while let Some(chunk) =
            response.chunk().await.context("the download broke off (the server logs why); the output is incomplete")?
        {
            out.write_all(&chunk).context("writing the output")?;
            written += chunk.len() as u64;
        }
        out.flush().context("writing the output")?;
        anyhow::Ok(written)
    });
    match result {
        Ok(written) => {
            if let Some(path) = &args.output {
                eprintln!("wrote {written} bytes to {}", path.display());
            }
            Ok(())
        }
        Err(e) => {
            if let Some(path) = &args.output {
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ExportArgs,
    }

    #[test]
    fn the_url_carries_the_model_and_every_given_argument() {
        let cli = Cli::parse_from([
            "x",
            "credit risk",
            "--version",
            "v1",
            "--from",
            "2026-01-01T00:00:00Z",
            "--format",
            "parquet",
            "--unlabelled",
            "--server",
            "http://127.0.0.1:9/",
        ]);
        let url = url(&cli.args).expect("a URL");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/api/v1/models/credit%20risk/export?format=parquet&version=v1&from=2026-01-01T00%3A00%3A00Z&unlabelled=true"
        );
    }
}
