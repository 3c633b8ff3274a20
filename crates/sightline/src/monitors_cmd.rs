//! `sightline monitors`: check a monitors file, and export it as Prometheus alerting
//! rules for the signals `/metrics` exposes.

use anyhow::Context;
use sightline_server::monitors::{file, promql};
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum Which {
    /// Read and validate a monitors file (TOML); print what it declares.
    Check {
        /// The monitors file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Write Prometheus alerting rules for the file's monitors on throughput, error
    /// rate and latency (the signals in /metrics); the others are listed on stderr.
    ExportPrometheusRules {
        /// The monitors file.
        #[arg(long)]
        file: PathBuf,
        /// Where to write the rules [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<sightline_core::alerting::Monitor>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    file::parse(&text).map_err(|e| anyhow::anyhow!("{} is not a valid monitors file:\n{e}", path.display()))
}

pub fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::Check { file } => {
            let monitors = read(&file)?;
            for m in &monitors {
                println!("{}\t{}\t{}\t{}", m.id, m.model, m.signal.kind(), m.severity.as_str());
            }
            eprintln!("{} monitors, all valid", monitors.len());
            Ok(())
        }
        Which::ExportPrometheusRules { file, out } => {
            let monitors = read(&file)?;
            let (rules, skipped) = promql::rules_file(&monitors);
            match out {
                Some(path) => std::fs::write(&path, rules).with_context(|| format!("writing {}", path.display()))?,
                None => print!("{rules}"),
            }
            for s in &skipped {
                eprintln!("not exported: {}: {}", s.id, s.reason);
            }
            Ok(())
        }
    }
}
