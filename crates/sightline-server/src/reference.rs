//! Building a reference profile: from uploaded training data (CSV, NDJSON or Parquet,
//! streamed once, memory bounded by the sketches) or from a logged time range.
//!
//! Columns are matched to the model's features by name; a column named by the
//! `prediction` option is the prediction. Values are read as text, as `sightline report`
//! reads them (`sightline_tabular::is_missing` marks missing values). Numeric columns
//! keep a KLL sketch with `REFERENCE_K` (rank error about 0.17 %), and get
//! `REFERENCE_BINS` reference-quantile bins (`sightline_stats::drift::quantile_bins`'s
//! rule) whose edges are stored with the reference: every bucket profile built after it
//! counts its values in them, so binned drift methods are exact online (see
//! `sightline_stats::sketch_drift`). The edges are the quantiles of the column's first
//! `EDGE_SAMPLE` values (all of them in a smaller upload); every value, those included,
//! is counted in them exactly, so the reference's bin counts are exact too. (Data sorted
//! by a column gives that column uneven bins, still exact.) A logged range has no values
//! left to count: its bins come from its sketch, within the sketch's rank error.

use crate::aggregate::layout::{PREDICTION, feature_column};
use sightline_core::{FeatureType, ModelSpec, Task};
use sightline_stats::profile::{
    BinCounts, CategoricalProfile, ColumnProfile, DEFAULT_CAPACITY, DEFAULT_PRECISION, NumericProfile, Profile,
    ProfileError,
};
use std::io::Read;

/// The reference sketches' accuracy parameter: ten times a bucket's, since one reference
/// is compared with every window.
pub const REFERENCE_K: u16 = 2_000;
/// Equal-frequency bins stored with a numeric reference column (deciles).
pub const REFERENCE_BINS: usize = 10;
/// Values per numeric column whose quantiles make the bin edges (800 KB per column).
pub const EDGE_SAMPLE: usize = 100_000;

/// An input format of a reference upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
    Parquet,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
        }
    }

    /// The format [`Format::name`] calls `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Format::Csv, Format::Ndjson, Format::Parquet].into_iter().find(|f| f.name() == name)
    }

    /// The content type Sightline answers a file of this format with (training-data export).
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Ndjson => "application/x-ndjson",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// What went into a reference, for the answer and the stored source document.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub rows: u64,
    /// Feature columns used, in the model's order.
    pub features: Vec<String>,
    pub prediction: bool,
    /// Columns that name no feature (and are not the prediction).
    pub ignored: Vec<String>,
    /// Profiled features the data has no column for.
    pub missing: Vec<String>,
}

/// Reference bins of one numeric column: the first values until the edges are known,
/// then exact counts.
#[derive(Default)]
struct Binner {
    sample: Vec<f64>,
    bins: Option<BinCounts>,
}

impl Binner {
    fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        match &mut self.bins {
            Some(b) => b.add(v),
            None => {
                self.sample.push(v);
                if self.sample.len() >= EDGE_SAMPLE {
                    self.bins = self.edges();
                }
            }
        }
    }

    /// Edges from the sample, with the sample counted in them.
    fn edges(&mut self) -> Option<BinCounts> {
        let bins = std::num::NonZeroUsize::new(REFERENCE_BINS)?;
        let edges = sightline_stats::drift::quantile_bins(&self.sample, &self.sample, bins).ok()?.edges;
        let mut counts = BinCounts::new(edges).ok()?;
        for v in std::mem::take(&mut self.sample) {
            counts.add(v);
        }
        Some(counts)
    }

    fn finish(mut self) -> Option<BinCounts> {
        match self.bins.take() {
            Some(b) => Some(b),
            None if self.sample.is_empty() => None,
            None => self.edges(),
        }
    }
}

enum Slot {
    Numeric(NumericProfile, Binner),
    Categorical(CategoricalProfile),
    Boolean(CategoricalProfile),
}

struct Target {
    column: usize,
    name: String,
    /// The profile column's name.
    key: String,
    slot: Slot,
}

/// Reads rows of text fields and folds them into a reference profile.
pub struct Builder {
    targets: Vec<Target>,
    summary: Summary,
}

impl Builder {
    /// Matches `header` against `spec`; `prediction` names the prediction column.
    pub fn new(spec: &ModelSpec, header: &[String], prediction: &str) -> Result<Builder, String> {
        let mut targets = Vec::new();
        let mut summary = Summary::default();
        let position = |name: &str| header.iter().position(|h| h == name);
        for (i, f) in spec.features.iter().enumerate() {
            let slot = match f.kind {
                FeatureType::Numeric => Slot::Numeric(numeric(i as u64)?, Binner::default()),
                FeatureType::Categorical => Slot::Categorical(categorical()?),
                FeatureType::Boolean => Slot::Boolean(categorical()?),
                FeatureType::Text => continue,
            };
            match position(&f.name) {
                Some(column) => {
                    summary.features.push(f.name.clone());
                    targets.push(Target { column, name: f.name.clone(), key: feature_column(&f.name), slot });
                }
                None => summary.missing.push(f.name.clone()),
            }
        }
        if let Some(column) = position(prediction) {
            let slot = if spec.task == Task::Regression {
                Slot::Numeric(numeric(u64::MAX)?, Binner::default())
            } else {
                Slot::Categorical(categorical()?)
            };
            summary.prediction = true;
            targets.push(Target { column, name: prediction.to_owned(), key: PREDICTION.to_owned(), slot });
        }
        let used: std::collections::HashSet<usize> = targets.iter().map(|t| t.column).collect();
        summary.ignored =
            header.iter().enumerate().filter(|(i, _)| !used.contains(i)).map(|(_, h)| h.clone()).collect();
        if summary.features.is_empty() {
            return Err(format!(
                "no column names a feature of the model (columns: {}; features: {})",
                list(header),
                list(&spec.features.iter().map(|f| f.name.clone()).collect::<Vec<_>>())
            ));
        }
        Ok(Builder { targets, summary })
    }

    /// Adds one row; `row` counts from 1 for messages.
    pub fn add(&mut self, record: &csv::StringRecord, row: u64) -> Result<(), String> {
        for t in &mut self.targets {
            let field = record.get(t.column).unwrap_or("");
            let value = (!sightline_tabular::is_missing(field)).then_some(field);
            match &mut t.slot {
                Slot::Numeric(p, binner) => match value {
                    None => p.update(None),
                    Some(v) => match v.trim().parse::<f64>() {
                        Ok(x) => {
                            p.update(Some(x));
                            binner.add(x);
                        }
                        Err(_) => return Err(format!("row {row}, column {:?}: {v:?} is not a number", t.name)),
                    },
                },
                Slot::Categorical(p) => p.update(value),
                Slot::Boolean(p) => match value.map(|v| v.trim().to_ascii_lowercase()) {
                    None => p.update(None),
                    Some(v) if v == "true" || v == "1" => p.update_bool(Some(true)),
                    Some(v) if v == "false" || v == "0" => p.update_bool(Some(false)),
                    Some(v) => {
                        return Err(format!("row {row}, column {:?}: {v:?} is not a boolean (true/false/1/0)", t.name));
                    }
                },
            }
        }
        self.summary.rows += 1;
        Ok(())
    }

    /// The finished profile (numeric columns with their reference bins) and summary.
    pub fn finish(self) -> Result<(Profile, Summary), String> {
        if self.summary.rows == 0 {
            return Err("the data has no rows".into());
        }
        let mut profile = Profile::new();
        for t in self.targets {
            let column = match t.slot {
                Slot::Numeric(p, binner) => ColumnProfile::Numeric(match binner.finish() {
                    Some(bins) => p.with_counted_bins(bins).map_err(|e| e.to_string())?,
                    None => p,
                }),
                Slot::Categorical(p) | Slot::Boolean(p) => ColumnProfile::Categorical(p),
            };
            profile.insert(t.key, column);
        }
        Ok((profile, self.summary))
    }
}

/// Attaches reference bins from the column's own sketch quantiles (none without finite
/// values), counted from the sketch; bins a profile already counted are replaced.
pub fn with_reference_bins(mut p: NumericProfile) -> Result<NumericProfile, ProfileError> {
    p.drop_bins();
    match p.quantile_edges(REFERENCE_BINS) {
        Some(edges) => p.with_bins_from_sketch(edges),
        None => Ok(p),
    }
}

/// A reference from a logged range: the merged bucket profile, re-binned.
pub fn from_logged(window: Profile) -> Result<Profile, ProfileError> {
    let mut out = Profile::new();
    for (name, column) in window.columns() {
        let column = match column {
            ColumnProfile::Numeric(p) => ColumnProfile::Numeric(with_reference_bins(p.clone())?),
            other => other.clone(),
        };
        out.insert(name, column);
    }
    Ok(out)
}

fn numeric(seed: u64) -> Result<NumericProfile, String> {
    NumericProfile::new(REFERENCE_K, seed).map_err(|e| e.to_string())
}

fn categorical() -> Result<CategoricalProfile, String> {
    CategoricalProfile::new(DEFAULT_CAPACITY, DEFAULT_PRECISION).map_err(|e| e.to_string())
}

fn list(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(20).map(|n| format!("{n:?}")).collect();
    let more = names.len().saturating_sub(20);
    if more > 0 { format!("{}, … {more} more", shown.join(", ")) } else { shown.join(", ") }
}

/// Reads a whole upload: CSV or NDJSON streamed from `input`, Parquet from `bytes`
/// (its footer comes last, so it is read whole).
pub fn read(
    spec: &ModelSpec,
    format: Format,
    input: Box<dyn Read + Send>,
    prediction: &str,
) -> Result<(Profile, Summary), String> {
    let mut record = csv::StringRecord::new();
    match format {
        Format::Csv => {
            let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(input);
            let header: Vec<String> =
                rdr.headers().map_err(|e| format!("malformed CSV header: {e}"))?.iter().map(str::to_owned).collect();
            let mut builder = Builder::new(spec, &header, prediction)?;
            let mut row = 0;
            while rdr.read_record(&mut record).map_err(|e| format!("malformed CSV: {e}"))? {
                row += 1;
                builder.add(&record, row)?;
            }
            builder.finish()
        }
        Format::Ndjson => {
            let mut rows = sightline_tabular::NdjsonRows::new("the upload".into(), std::io::BufReader::new(input))
                .map_err(|e| e.to_string())?;
            let mut builder = Builder::new(spec, rows.names(), prediction)?;
            let mut row = 0;
            while rows.read_record(&mut record).map_err(|e| e.to_string())? {
                row += 1;
                builder.add(&record, row)?;
            }
            builder.finish()
        }
        Format::Parquet => {
            let mut bytes = Vec::new();
            let mut input = input;
            input.read_to_end(&mut bytes).map_err(|e| format!("the upload cannot be read: {e}"))?;
            let mut rows = sightline_tabular::ParquetRows::new("the upload".into(), bytes::Bytes::from(bytes))
                .map_err(|e| e.to_string())?;
            let header = rows.names().to_vec();
            let mut builder = Builder::new(spec, &header, prediction)?;
            let mut row = 0;
            while rows.read_record(&mut record).map_err(|e| e.to_string())? {
                row += 1;
                builder.add(&record, row)?;
            }
            builder.finish()
        }
    }
}
