//! Model performance over a window from predictions and the labels joined to them:
//! label coverage and delay, and the task's metrics (`sightline_stats::performance`,
//! equal to scikit-learn's). Labels update the window of their prediction, whenever
//! they arrive, because the join happens at query time.

pub mod compare;
pub mod estimate;
pub mod gauges;
pub mod segment;

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

/// numpy's linear quantile of sorted values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    let pos = q * (n.checked_sub(1)?) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// The figures of `rows`, predicted classes by the logged prediction or `threshold`.
pub fn window(spec: &ModelSpec, rows: &[&OutcomeRow], threshold: Option<f64>) -> WindowPerformance {
    let labelled: Vec<&&OutcomeRow> = rows.iter().filter(|r| r.label.is_some()).collect();
    let mut delays: Vec<f64> =
        labelled.iter().filter_map(|r| r.label_timestamp_ms.map(|t| (t - r.timestamp_ms) as f64)).collect();
    delays.sort_by(f64::total_cmp);
    let metrics = (!labelled.is_empty()).then(|| metrics(spec, &labelled, threshold));
    WindowPerformance {
        predictions: rows.len(),
        labelled: labelled.len(),
        delay_median_ms: quantile(&delays, 0.5),
        delay_p90_ms: quantile(&delays, 0.9),
        metrics,
    }
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

fn metrics(spec: &ModelSpec, rows: &[&&OutcomeRow], threshold: Option<f64>) -> Result<Metrics, String> {
    match spec.task {
        Task::Regression => {
            let records: Vec<RegressionRecord> = rows.iter().filter_map(|r| regression_record(r)).collect();
            performance::regression(&records).map(Metrics::Regression).map_err(|e| e.to_string())
        }
        Task::BinaryClassification => {
            let records: Vec<BinaryRecord> = rows.iter().filter_map(|r| binary_record(spec, r)).collect();
            let decision = threshold.map_or(Decision::Logged, Decision::Threshold);
            performance::binary(&records, decision).map(Metrics::Binary).map_err(|e| e.to_string())
        }
        Task::MulticlassClassification => {
            let n = spec.classes.len();
            let rows: Vec<(usize, usize, Vec<f64>)> = rows.iter().filter_map(|r| multiclass_row(spec, r)).collect();
            let records = multiclass_records(&rows);
            performance::multiclass(&records, n).map(Metrics::Multiclass).map_err(|e| e.to_string())
        }
    }
}
