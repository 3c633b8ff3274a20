//! `sightline bench treeshap`: path-dependent TreeSHAP throughput on a model file and
//! rows, timed apart from loading and parsing, for a side-by-side run against
//! xgboost's `pred_contribs` (`scripts/bench/treeshap.py`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use sightline_explain::TreeShap;

use crate::explain::{compute, data};
use crate::report::input::Format;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (any format `sightline explain` reads but ONNX, which has no covers).
    #[arg(long)]
    model: PathBuf,
    /// Rows to explain (CSV, NDJSON or Parquet), one column per feature.
    #[arg(long)]
    data: PathBuf,
    /// Threads explaining rows.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Timed passes over all rows; the fastest is reported, as for the reference.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.model).with_context(|| format!("cannot read {}", args.model.display()))?;
    let extension = args.model.extension().and_then(|e| e.to_str()).unwrap_or_default();
    let file = sightline_explain::formats::Format::from_extension(extension)
        .or_else(|| sightline_explain::formats::Format::sniff(&bytes))
        .context("cannot tell the model's format")?;
    let ensemble = file.load(&bytes)?;
    let rows = data::read(&args.data, Format::of(&args.data, None)?, ensemble.num_features(), true)?.rows;
    let shap = TreeShap::new(&ensemble)?;
    let mut best = f64::INFINITY;
    let mut checksum = 0.0;
    for _ in 0..args.repeat.max(1) {
        let start = Instant::now();
        let explained =
            compute::in_parallel_batches(&rows, args.threads.max(1), |batch| Ok(shap.explain_batch(batch)?))?;
        best = best.min(start.elapsed().as_secs_f64());
        // Read the results, so the work cannot be skipped, and print a sum to compare runs.
        checksum =
            explained.iter().map(|a| (0..a.num_outputs()).map(|o| a.values(o).iter().sum::<f64>()).sum::<f64>()).sum();
    }
    let result = serde_json::json!({
        "rows": rows.len(),
        "trees": ensemble.trees().len(),
        "threads": args.threads,
        "seconds": best,
        "rows_per_second": rows.len() as f64 / best,
        "checksum": checksum,
        "peak_rss_bytes": peak_rss(),
    });
    println!("{result}");
    Ok(())
}

/// This process's peak resident set size (Linux `VmHWM`), if known.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}
