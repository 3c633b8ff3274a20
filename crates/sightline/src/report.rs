//! `sightline report`: offline reports computed from files, without a server.
//!
//! `report drift` reads a reference and a current CSV file, picks Evidently's default
//! drift method for each column (see `sightline_stats::default_method`), computes it on
//! the raw values and writes JSON (`--json`) or a table on stdout.

mod compute;
pub(crate) mod input;
mod output;

use std::path::PathBuf;

use anyhow::Context;
use sightline_stats::column_drift::Options;
use sightline_stats::default_method::Method;

#[derive(Debug, clap::Subcommand)]
pub enum Which {
    /// Data drift between a reference and a current CSV file, per column and for the dataset.
    Drift(DriftArgs),
}

#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// The reference data (for example the training data): CSV with a header row, NDJSON
    /// (one object per line) or Parquet.
    #[arg(long)]
    reference: PathBuf,
    /// The data to compare with the reference, with the same columns (any of the formats).
    #[arg(long)]
    current: PathBuf,
    /// The format of both files, when their extensions do not tell it
    /// (.csv; .ndjson, .jsonl or .json; .parquet).
    #[arg(long, value_enum)]
    format: Option<input::Format>,
    /// Write the report as JSON to this file instead of printing a table.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write a self-contained HTML page: the summary table and, per column, the
    /// reference and current distributions as inline SVG charts.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Columns to compare as categories even if every value is a number.
    #[arg(long, value_delimiter = ',')]
    categorical: Vec<String>,
    /// Columns that must be numeric; a value that is not a number is an error.
    #[arg(long, value_delimiter = ',')]
    numeric: Vec<String>,
    /// One method for every column instead of Evidently's default choice: ks, chisquare, z,
    /// wasserstein_normed (or wasserstein), jensenshannon, psi, kl_div or hellinger.
    #[arg(long, value_parser = parse_method)]
    method: Option<Method>,
    /// The drift threshold for every column instead of the method's default.
    #[arg(long)]
    threshold: Option<f64>,
}

fn parse_method(name: &str) -> Result<Method, String> {
    Method::from_name(name).ok_or_else(|| {
        format!("unknown method {name:?}: ks, chisquare, z, wasserstein_normed, jensenshannon, psi, kl_div, hellinger")
    })
}

pub fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::Drift(args) => drift(args),
    }
}

fn drift(args: DriftArgs) -> anyhow::Result<()> {
    let overrides = input::Overrides { categorical: &args.categorical, numeric: &args.numeric };
    let inputs = input::Inputs {
        reference: &args.reference,
        reference_format: input::Format::of(&args.reference, args.format)?,
        current: &args.current,
        current_format: input::Format::of(&args.current, args.format)?,
    };
    let columns = input::read(&inputs, &overrides)?;
    if let Some(t) = args.threshold.filter(|t| !t.is_finite() || *t < 0.0) {
        anyhow::bail!("--threshold must be a finite number >= 0, not {t}");
    }
    let options = Options { method: args.method, threshold: args.threshold };
    let report = compute::report(&columns, options, args.html.is_some())?;
    // A column with nothing to compare is not an error, but JSON readers would not see
    // it (the document lists compared columns only), so it is said on stderr as well.
    for s in &report.skipped {
        eprintln!("warning: column {:?} not compared: {}", s.name, s.reason);
    }
    if let Some(path) = &args.html {
        let page = output::html(&report, &args.reference.display().to_string(), &args.current.display().to_string());
        std::fs::write(path, page).with_context(|| format!("cannot write {}", path.display()))?;
    }
    match &args.json {
        Some(path) => {
            let text = output::json(&report)?;
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => print!("{}", output::table(&report)),
    }
    Ok(())
}
