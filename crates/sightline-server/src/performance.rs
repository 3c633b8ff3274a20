//! Model performance over a window from predictions and the labels joined to them:
//! label coverage and delay, and the task's metrics (`sightline_stats::performance`,
//! equal to scikit-learn's). Labels update the window of their prediction, whenever
//! they arrive, because the join happens at query time.

pub mod by_version;
pub mod compare;
pub mod estimate;
pub mod gauges;
pub mod segment;
pub mod tallied;

use sightline_core::{ModelSpec, Target, Task};
use sightline_stats::performance::ScoredRecord;
use sightline_stats::performance::{
    self, BinaryMetrics, BinaryRecord, Decision, MulticlassMetrics, MulticlassRecord, RegressionMetrics,
    RegressionRecord,
};
use sightline_store::OutcomeRow;

/// One window's figures.
#[derive(Debug, Clone)]
pub struct WindowPerformance {
    pub predictions: usize,
    pub labelled: usize,
    /// Label timestamp minus prediction timestamp, in milliseconds.
    pub delay_median_ms: Option<f64>,
    pub delay_p90_ms: Option<f64>,
    pub metrics: Option<Result<Metrics, String>>,
}

#[derive(Debug, Clone)]
pub enum Metrics {
    Binary(BinaryMetrics),
    Multiclass(MulticlassMetrics),
    Regression(RegressionMetrics),
}

/// numpy's linear quantile of a sorted multiset given as (value, count), counts positive.
pub(crate) fn counted_quantile(sorted: &[(i64, usize)], q: f64) -> Option<f64> {
    let n: usize = sorted.iter().map(|(_, c)| c).sum();
    let pos = q * (n.checked_sub(1)?) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let at = |k: usize| {
        let mut seen = 0;
        sorted.iter().find(|(_, c)| {
            seen += c;
            seen > k
        })
    };
    let (a, b) = (at(lo)?.0 as f64, at(hi)?.0 as f64);
    Some(a + (b - a) * (pos - lo as f64))
}

/// Rows, each standing for `count` predictions that said and turned out the same.
pub type Counted<'a> = (&'a OutcomeRow, usize);

/// The label delays (ms) of joined rows, sorted, each counted once.
pub fn delays_of<'a>(rows: impl IntoIterator<Item = &'a OutcomeRow>) -> Vec<(i64, usize)> {
    let mut delays: Vec<(i64, usize)> = rows
        .into_iter()
        .filter(|r| r.label.is_some())
        .filter_map(|r| r.label_timestamp_ms.map(|t| (t - r.timestamp_ms, 1)))
        .collect();
    delays.sort_unstable();
    delays
}

/// The figures of `rows`, predicted classes by the logged prediction or `threshold`.
pub fn window(spec: &ModelSpec, rows: &[&OutcomeRow], threshold: Option<f64>) -> WindowPerformance {
    window_counted(spec, &once(rows.iter().copied()), &delays_of(rows.iter().copied()), threshold)
}

/// The figures of counted rows and their label delays (sorted, counted).
pub fn window_counted(
    spec: &ModelSpec,
    rows: &[Counted<'_>],
    delays: &[(i64, usize)],
    threshold: Option<f64>,
) -> WindowPerformance {
    let labelled: Vec<Counted<'_>> = rows.iter().filter(|(r, _)| r.label.is_some()).copied().collect();
    let labelled_count = labelled.iter().map(|(_, n)| n).sum();
    let metrics = (labelled_count > 0).then(|| metrics(spec, &labelled, threshold));
    WindowPerformance {
        predictions: rows.iter().map(|(_, n)| n).sum(),
        labelled: labelled_count,
        delay_median_ms: counted_quantile(delays, 0.5),
        delay_p90_ms: counted_quantile(delays, 0.9),
        metrics,
    }
}

/// Rows each counted once.
pub fn once<'a>(rows: impl IntoIterator<Item = &'a OutcomeRow>) -> Vec<Counted<'a>> {
    rows.into_iter().map(|r| (r, 1)).collect()
}

/// Each item of `rows` that `f` reads, repeated as many times as it is counted.
pub fn expand<T: Clone>(rows: &[Counted<'_>], f: impl Fn(&OutcomeRow) -> Option<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(rows.iter().map(|(_, n)| n).sum());
    for (r, n) in rows {
        if let Some(x) = f(r) {
            out.extend(std::iter::repeat_n(x, *n));
        }
    }
    out
}

fn class_of(spec: &ModelSpec, t: Option<&Target>) -> Option<usize> {
    match t {
        Some(Target::Class(c)) => spec.classes.iter().position(|k| k == c),
        _ => None,
    }
}

/// The index of a binary classifier's positive class: the declared one, else the second.
fn positive_class(spec: &ModelSpec) -> usize {
    spec.positive_class.as_ref().and_then(|p| spec.classes.iter().position(|c| c == p)).unwrap_or(1)
}

/// A binary classifier's prediction of one row, labelled or not: whether it predicted the
/// positive class and the positive class's score — that score, else the other class's
/// complement, else the hard prediction as 0 or 1. `None` without any of them.
pub fn scored(spec: &ModelSpec, r: &OutcomeRow) -> Option<ScoredRecord> {
    let positive = positive_class(spec);
    let predicted = class_of(spec, r.prediction.as_ref()).map(|c| c == positive);
    let score = r
        .scores
        .iter()
        .find(|(c, _)| *c as usize == positive)
        .map(|(_, s)| *s)
        .or_else(|| r.scores.iter().find(|(c, _)| *c as usize != positive).map(|(_, s)| 1.0 - s))
        .or_else(|| predicted.map(|p| if p { 1.0 } else { 0.0 }))?;
    Some(ScoredRecord { prediction: predicted.unwrap_or(score >= 0.5), score })
}

/// A labelled row of a binary classifier as the metrics read it; `None` without a label
/// of a known class or without a prediction.
pub fn binary_record(spec: &ModelSpec, r: &OutcomeRow) -> Option<BinaryRecord> {
    let label = class_of(spec, r.label.as_ref())? == positive_class(spec);
    let ScoredRecord { prediction, score } = scored(spec, r)?;
    Some(BinaryRecord { label, prediction, score })
}

/// A labelled row of a regression model; `None` without a numeric label and prediction.
pub fn regression_record(r: &OutcomeRow) -> Option<RegressionRecord> {
    match (&r.label, &r.prediction) {
        (Some(Target::Number(y)), Some(Target::Number(p))) => Some(RegressionRecord { label: *y, prediction: *p }),
        _ => None,
    }
}

/// A labelled row of a multiclass model: label, prediction and one probability per class
/// (classes without a score 0; without any score, the prediction is certain).
pub fn multiclass_row(spec: &ModelSpec, r: &OutcomeRow) -> Option<(usize, usize, Vec<f64>)> {
    let label = class_of(spec, r.label.as_ref())?;
    let prediction = class_of(spec, r.prediction.as_ref())?;
    let mut p = vec![0.0; spec.classes.len()];
    for (c, s) in &r.scores {
        if let Some(slot) = p.get_mut(*c as usize) {
            *slot = *s;
        }
    }
    if r.scores.is_empty() {
        p[prediction] = 1.0;
    }
    Some((label, prediction, p))
}

/// The records `sightline_stats` reads, borrowing the rows of [`multiclass_row`].
pub fn multiclass_records(rows: &[(usize, usize, Vec<f64>)]) -> Vec<MulticlassRecord<'_>> {
    rows.iter()
        .map(|(label, prediction, p)| MulticlassRecord { label: *label, prediction: *prediction, probabilities: p })
        .collect()
}

fn metrics(spec: &ModelSpec, rows: &[Counted<'_>], threshold: Option<f64>) -> Result<Metrics, String> {
    match spec.task {
        Task::Regression => {
            let records: Vec<RegressionRecord> = expand(rows, regression_record);
            performance::regression(&records).map(Metrics::Regression).map_err(|e| e.to_string())
        }
        Task::BinaryClassification => {
            // Counted, not repeated: the same metrics for the cost of the distinct outcomes.
            let records = rows.iter().filter_map(|(r, n)| Some((binary_record(spec, r)?, *n)));
            let decision = threshold.map_or(Decision::Logged, Decision::Threshold);
            performance::binary_counted(records, decision).map(Metrics::Binary).map_err(|e| e.to_string())
        }
        Task::MulticlassClassification => {
            let n = spec.classes.len();
            let rows: Vec<(usize, usize, Vec<f64>)> = expand(rows, |r| multiclass_row(spec, r));
            let records = multiclass_records(&rows);
            performance::multiclass(&records, n).map(Metrics::Multiclass).map_err(|e| e.to_string())
        }
    }
}
