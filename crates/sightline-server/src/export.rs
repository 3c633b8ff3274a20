//! Training-data export: a model's predictions with their labels as rows of typed cells
//! (the columns follow the model's schema), and the encoders that turn pages of rows
//! into CSV, NDJSON or Parquet bytes as they are read, so memory stays one page.

mod parquet;
mod text;

use crate::wire::time::format;
use sightline_core::{FeatureType, FeatureValue, ModelSpec, Target, Task};
use sightline_store::StoredPrediction;

pub use crate::reference::Format;

/// A column's type in every format: text (UTF-8), a 64-bit float, a boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Bool,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "string",
            Self::Number => "number",
            Self::Bool => "boolean",
        }
    }
}

/// Where a column's values come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    RequestId,
    Timestamp,
    Version,
    /// A feature, by its index in stored events.
    Feature(u32, FeatureType),
    Prediction,
    /// The score of a class, by its index.
    Score(u32),
    Label,
    LabelTimestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    pub source: Source,
}

/// One cell of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Number(f64),
    Bool(bool),
}

/// The columns of a model's export: `request_id`, `timestamp`, `version`, each feature
/// under its name (`feature:<name>` if that name is one of these fixed columns), then
/// `prediction`, `score:<class>` for classifiers, `label`, `label_timestamp`.
pub fn columns(spec: &ModelSpec) -> Vec<Column> {
    let target = if spec.task == Task::Regression { Kind::Number } else { Kind::Text };
    let fixed = |name: &str, kind, source| Column { name: name.to_owned(), kind, source };
    let mut out = vec![
        fixed("request_id", Kind::Text, Source::RequestId),
        fixed("timestamp", Kind::Text, Source::Timestamp),
        fixed("version", Kind::Text, Source::Version),
    ];
    let tail_names: Vec<String> = ["prediction", "label", "label_timestamp"]
        .into_iter()
        .map(str::to_owned)
        .chain(spec.classes.iter().map(|c| format!("score:{c}")))
        .collect();
    for (index, f) in spec.features.iter().enumerate() {
        let taken = ["request_id", "timestamp", "version"].contains(&f.name.as_str()) || tail_names.contains(&f.name);
        let name = if taken { format!("feature:{}", f.name) } else { f.name.clone() };
        let kind = match f.kind {
            FeatureType::Numeric => Kind::Number,
            FeatureType::Boolean => Kind::Bool,
            FeatureType::Categorical | FeatureType::Text => Kind::Text,
        };
        // Feature indexes are bounded by the model's feature limit, far below u32::MAX.
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        out.push(Column { name, kind, source: Source::Feature(index, f.kind) });
    }
    out.push(fixed("prediction", target, Source::Prediction));
    for (index, class) in spec.classes.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        out.push(Column { name: format!("score:{class}"), kind: Kind::Number, source: Source::Score(index) });
    }
    out.push(fixed("label", target, Source::Label));
    out.push(fixed("label_timestamp", Kind::Text, Source::LabelTimestamp));
    out
}

fn target(t: Option<&Target>) -> Cell {
    match t {
        Some(Target::Class(c)) => Cell::Text(c.clone()),
        Some(Target::Number(x)) => Cell::Number(*x),
        None => Cell::Null,
    }
}

/// A prediction's row, one cell per column.
pub fn row(columns: &[Column], p: &StoredPrediction) -> Vec<Cell> {
    columns
        .iter()
        .map(|c| match &c.source {
            Source::RequestId => Cell::Text(p.request_id.clone()),
            Source::Timestamp => Cell::Text(format(p.timestamp_ms)),
            Source::Version => Cell::Text(p.version.clone()),
            Source::Feature(index, _) => match p.features.iter().find(|(i, _)| i == index).map(|(_, v)| v) {
                Some(FeatureValue::Number(x)) => Cell::Number(*x),
                Some(FeatureValue::Bool(b)) => Cell::Bool(*b),
                Some(FeatureValue::Category(s) | FeatureValue::Text(s)) => Cell::Text(s.clone()),
                Some(FeatureValue::Null) | None => Cell::Null,
            },
            Source::Prediction => target(p.prediction.as_ref()),
            Source::Score(index) => {
                p.scores.iter().find(|(i, _)| i == index).map_or(Cell::Null, |(_, s)| Cell::Number(*s))
            }
            Source::Label => target(p.label.as_ref().map(|l| &l.label)),
            Source::LabelTimestamp => p.label.as_ref().map_or(Cell::Null, |l| Cell::Text(format(l.timestamp_ms))),
        })
        .collect()
}

/// Turns pages of rows into a format's bytes; the concatenation of every page's bytes
/// and then [`Encoder::finish`]'s is the whole file.
pub enum Encoder {
    Csv(text::Csv),
    Ndjson(text::Ndjson),
    Parquet(Box<parquet::Parquet>),
}

impl Encoder {
    pub fn new(format: Format, columns: Vec<Column>) -> Result<Self, String> {
        Ok(match format {
            Format::Csv => Self::Csv(text::Csv::new(columns)),
            Format::Ndjson => Self::Ndjson(text::Ndjson::new(columns)),
            Format::Parquet => Self::Parquet(Box::new(parquet::Parquet::new(&columns)?)),
        })
    }

    /// The bytes of one page of rows (CSV: the header before the first).
    pub fn page(&mut self, rows: &[Vec<Cell>]) -> Result<Vec<u8>, String> {
        match self {
            Self::Csv(e) => e.page(rows),
            Self::Ndjson(e) => Ok(e.page(rows)),
            Self::Parquet(e) => e.page(rows),
        }
    }

    /// The bytes that close the file (CSV: the header if no page came; Parquet: the footer).
    pub fn finish(self) -> Result<Vec<u8>, String> {
        match self {
            Self::Csv(mut e) => e.page(&[]),
            Self::Ndjson(_) => Ok(Vec::new()),
            Self::Parquet(e) => e.finish(),
        }
    }
}
