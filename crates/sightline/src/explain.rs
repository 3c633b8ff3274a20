//! `sightline explain`: explanations of a tree-ensemble model's predictions for the rows
//! of a file, without a server.
//!
//! The model file is loaded by `sightline-explain` (format from `--model-format`, else
//! the extension, else the file's first bytes); rows are read with the drift report's
//! readers (CSV, NDJSON, Parquet), one column per model feature in the model's order.
//! Tree methods explain the margin (what the link turns into a prediction) and accept
//! missing values; KernelSHAP explains the margin too, LIME the prediction (as `lime`
//! explains `predict_proba`), and both need complete rows and a background.

pub(crate) mod data;
mod output;

use std::path::PathBuf;

use anyhow::{Context, bail};
use sightline_explain::formats::Format as ModelFile;

use crate::report::input::Format;
pub(crate) use sightline_server::explain::compute;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Path-dependent TreeSHAP (the training covers; an ONNX model's from --background).
    Treeshap,
    /// Interventional TreeSHAP against the --background rows.
    Interventional,
    /// KernelSHAP with every coalition enumerated (at most 11 features differing from
    /// the background), against the --background rows.
    Kernelshap,
    /// LIME for tabular data with lime's defaults, discretized on the --background rows.
    Lime,
}

impl From<Method> for compute::Method {
    fn from(method: Method) -> Self {
        match method {
            Method::Treeshap => compute::Method::Treeshap,
            Method::Interventional => compute::Method::Interventional,
            Method::Kernelshap => compute::Method::Kernelshap,
            Method::Lime => compute::Method::Lime,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelFormat {
    XgboostJson,
    XgboostUbj,
    Lightgbm,
    Onnx,
}

impl From<ModelFormat> for ModelFile {
    fn from(format: ModelFormat) -> Self {
        match format {
            ModelFormat::XgboostJson => ModelFile::XgboostJson,
            ModelFormat::XgboostUbj => ModelFile::XgboostUbj,
            ModelFormat::Lightgbm => ModelFile::LightgbmText,
            ModelFormat::Onnx => ModelFile::Onnx,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model: XGBoost JSON (.json) or UBJSON (.ubj), LightGBM text (.txt) or an ONNX
    /// tree ensemble (.onnx); other extensions are recognized from the content.
    #[arg(long)]
    model: PathBuf,
    /// The model's format, when neither its extension nor its content tells it.
    #[arg(long, value_enum)]
    model_format: Option<ModelFormat>,
    /// The rows to explain: one column per model feature, in the model's order, with a
    /// header row (CSV), one object per line (NDJSON) or Parquet. Empty, NA, NaN or null
    /// is a missing value.
    #[arg(long)]
    data: PathBuf,
    /// The format of --data and --background, when their extensions do not tell it.
    #[arg(long, value_enum)]
    format: Option<Format>,
    #[arg(long, value_enum, default_value = "treeshap")]
    method: Method,
    /// Rows standing for the training data, with the same columns as --data: required by
    /// interventional, kernelshap and lime, and by treeshap on ONNX models (whose files
    /// carry no covers; they are counted on these rows).
    #[arg(long)]
    background: Option<PathBuf>,
    /// Write the explanations as JSON to this file instead of printing a table.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Threads explaining rows (default: the machine's cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// LIME: neighborhood samples per row (lime's default 5000).
    #[arg(long, default_value_t = 5000)]
    lime_samples: usize,
    /// LIME: the seed of the neighborhood sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.model).with_context(|| format!("cannot read {}", args.model.display()))?;
    let file = model_format(&args, &bytes)?;
    let ensemble =
        file.load(&bytes).with_context(|| format!("cannot load {} as {}", args.model.display(), file.name()))?;

    let method = compute::Method::from(args.method);
    let accepts_missing = method.accepts_missing();
    let data = data::read(&args.data, Format::of(&args.data, args.format)?, ensemble.num_features(), accepts_missing)?;
    let background = match &args.background {
        Some(path) => {
            let background =
                data::read(path, Format::of(path, args.format)?, ensemble.num_features(), accepts_missing)?;
            if background.names != data.names {
                bail!("{} and {} have different columns", path.display(), args.data.display());
            }
            Some(background.rows)
        }
        None => None,
    };
    // Said in the command line's terms before the shared engine says it in general ones.
    if background.is_none() {
        if file == ModelFile::Onnx && method == compute::Method::Treeshap {
            bail!(
                "an onnx model carries no covers: give --background (the training data or a sample of it) to count \
                 them on, or use --method interventional"
            );
        }
        if method != compute::Method::Treeshap {
            bail!("--method {} needs --background", method.name());
        }
    }
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let request = compute::Request {
        method,
        model: compute::Model::Trees { ensemble: &ensemble, needs_covers: file == ModelFile::Onnx },
        rows: &data.rows,
        background: background.as_deref(),
        background_weights: None,
        threads,
        lime_samples: args.lime_samples,
        seed: args.seed,
    };
    let explanations = compute::explain(&request)?;
    let report = output::Report {
        file,
        ensemble: &ensemble,
        method,
        names: &data.names,
        rows: &data.rows,
        explanations: &explanations,
    };
    match &args.json {
        Some(path) => {
            let text = output::json(&report)?;
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => print!("{}", output::table(&report)),
    }
    Ok(())
}

/// `--model-format`, else the extension, else the content.
fn model_format(args: &Args, bytes: &[u8]) -> anyhow::Result<ModelFile> {
    if let Some(format) = args.model_format {
        return Ok(format.into());
    }
    let extension = args.model.extension().and_then(|e| e.to_str()).unwrap_or_default();
    ModelFile::from_extension(extension).or_else(|| ModelFile::sniff(bytes)).with_context(|| {
        format!(
            "cannot tell the format of {} (xgboost-json, xgboost-ubj, lightgbm, onnx): give --model-format",
            args.model.display()
        )
    })
}
