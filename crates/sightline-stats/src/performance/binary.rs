//! Binary classification metrics from (label, prediction, score) records.

use super::calibration::{CalibrationBins, log_loss_term};
use super::{PerformanceError, check_probability, count, ratio_or_zero};

/// One labelled binary prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinaryRecord {
    /// The ground truth: `true` is the positive class.
    pub label: bool,
    /// The class the model reported; used only with [`Decision::Logged`].
    pub prediction: bool,
    /// The model's probability of the positive class, in [0, 1].
    pub score: f64,
}

/// Which predicted class the threshold metrics and the confusion matrix count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// The prediction the model logged, whatever rule it used.
    Logged,
    /// Positive when `score >= threshold`, to see the model at another operating point.
    Threshold(f64),
}

/// Counts of a binary confusion matrix (scikit-learn's `[[tn, fp], [fn, tp]]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BinaryConfusion {
    pub true_negatives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub true_positives: u64,
}

impl BinaryConfusion {
    /// Number of records counted.
    pub fn total(&self) -> u64 {
        self.true_negatives + self.false_positives + self.false_negatives + self.true_positives
    }
}

/// Every binary metric of one window; see the module docs for when a value is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryMetrics {
    /// Number of records in the window.
    pub count: usize,
    pub confusion: BinaryConfusion,
    pub accuracy: Option<f64>,
    /// `tp / (tp + fp)`, 0 without predicted positives.
    pub precision: Option<f64>,
    /// `tp / (tp + fn)`, 0 without actual positives.
    pub recall: Option<f64>,
    /// `2·tp / (2·tp + fp + fn)`, 0 when that denominator is 0.
    pub f1: Option<f64>,
    /// `tn / (tn + fp)` (recall of the negative class), 0 without actual negatives.
    pub specificity: Option<f64>,
    pub roc_auc: Option<f64>,
    pub average_precision: Option<f64>,
    /// Mean negative log-likelihood with scikit-learn's clipping to `[eps, 1 - eps]`.
    pub log_loss: Option<f64>,
    /// Mean squared difference between score and label.
    pub brier: Option<f64>,
    /// Expected calibration error over [`super::ECE_BINS`] equal-width bins.
    pub expected_calibration_error: Option<f64>,
}

/// Computes every binary metric of `records`, predicted classes chosen by `decision`.
///
/// Scores must be probabilities: log loss, Brier and calibration are meaningless on raw
/// margins, so a score outside [0, 1] is an error rather than a quietly wrong number.
pub fn binary(records: &[BinaryRecord], decision: Decision) -> Result<BinaryMetrics, PerformanceError> {
    binary_counted(records.iter().map(|r| (*r, 1)), decision)
}

/// [`binary`] of distinct records, each standing for `count` equal ones: the same bits as
/// the records repeated (every sum still adds once per record, in the same order), at the
/// cost of the distinct ones for what is expensive (logarithms, the ranking sort). Error
/// indices count distinct records.
pub fn binary_counted(
    records: impl IntoIterator<Item = (BinaryRecord, usize)>,
    decision: Decision,
) -> Result<BinaryMetrics, PerformanceError> {
    if let Decision::Threshold(threshold) = decision
        && !threshold.is_finite()
    {
        return Err(PerformanceError::InvalidThreshold { threshold });
    }
    let mut confusion = BinaryConfusion::default();
    let mut bins = CalibrationBins::default();
    let (mut log_loss, mut brier) = (0.0, 0.0);
    let mut pairs = Vec::new();
    let mut n = 0;
    for (index, (r, times)) in records.into_iter().enumerate() {
        check_probability(index, r.score)?;
        if times == 0 {
            continue;
        }
        let predicted = match decision {
            Decision::Logged => r.prediction,
            Decision::Threshold(threshold) => r.score >= threshold,
        };
        let cell = match (r.label, predicted) {
            (false, false) => &mut confusion.true_negatives,
            (false, true) => &mut confusion.false_positives,
            (true, false) => &mut confusion.false_negatives,
            (true, true) => &mut confusion.true_positives,
        };
        *cell += times as u64;
        let truth = f64::from(u8::from(r.label));
        let loss = log_loss_term(if r.label { r.score } else { 1.0 - r.score });
        let squared = (r.score - truth) * (r.score - truth);
        for _ in 0..times {
            log_loss += loss;
            brier += squared;
            bins.add(r.label, r.score);
        }
        pairs.push((r.score, r.label, times));
        n += times;
    }
    if n == 0 {
        return Ok(BinaryMetrics {
            count: 0,
            confusion,
            accuracy: None,
            precision: None,
            recall: None,
            f1: None,
            specificity: None,
            roc_auc: None,
            average_precision: None,
            log_loss: None,
            brier: None,
            expected_calibration_error: None,
        });
    }
    let (roc_auc, average_precision) = super::ranking::auc_and_average_precision(&mut pairs);
    let c = &confusion;
    // u64 counts of one window are far below 2^53, so the f64 conversions are exact.
    let [tn, fp, fn_, tp] =
        [c.true_negatives, c.false_positives, c.false_negatives, c.true_positives].map(|v| v as f64);
    let total = count(n);
    Ok(BinaryMetrics {
        count: n,
        confusion,
        accuracy: Some((tp + tn) / total),
        precision: Some(ratio_or_zero(tp, tp + fp)),
        recall: Some(ratio_or_zero(tp, tp + fn_)),
        f1: Some(ratio_or_zero(2.0 * tp, 2.0 * tp + fp + fn_)),
        specificity: Some(ratio_or_zero(tn, tn + fp)),
        roc_auc,
        average_precision,
        log_loss: Some(log_loss / total),
        brier: Some(brier / total),
        expected_calibration_error: bins.expected_calibration_error(n),
    })
}
