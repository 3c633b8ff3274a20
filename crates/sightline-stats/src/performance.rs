//! Model performance from ground truth: classification and regression metrics on raw outcomes.
//!
//! Callers hand in one record per labelled prediction (the label that arrived, what the
//! model predicted, and its score or probabilities) and get every metric of the task at
//! once, so one pass over a window serves the API, the monitors and the offline report.
//! Every number equals `sklearn.metrics` (scikit-learn 1.9.1) to 1e-9 relative on the
//! fixtures from `tests/reference/performance.py`; the two metrics scikit-learn lacks
//! (expected calibration error, mean error) are checked against numpy formulas there.
//!
//! Beside them: isotonic calibration ([`IsotonicRegression`]), performance estimated
//! without labels ([`Cbpe`], as NannyML's CBPE) and champion/challenger deltas with
//! bootstrap intervals ([`compare_binary`], [`compare_regression`]), each in its own module.
//!
//! # Undefined values
//!
//! A metric that has no value on a window is `None`, never NaN, so a missing number cannot
//! leak into an average or a Prometheus gauge:
//!
//! - an **empty window** gives `None` for every metric (scikit-learn raises) and an
//!   all-zero confusion matrix;
//! - **ROC AUC** on a window with only one label class is `None` (scikit-learn warns and
//!   returns NaN); so is **average precision** on a window without positives
//!   (scikit-learn warns and returns 0, a fallback rather than a value);
//! - **R²** on fewer than two values is `None` (scikit-learn warns and returns NaN);
//!   a constant target gives 1 when predictions are exact and 0 otherwise, as scikit-learn's
//!   `force_finite=True`;
//! - a **zero division** in precision, recall, specificity or F1 (no predicted positives,
//!   no actual positives…) is 0, scikit-learn's `zero_division` default: it is a definition
//!   there, and macro averages need a number for every class.
//!
//! Bad input (NaN or infinite values, probabilities outside [0, 1], unknown classes) is a
//! [`PerformanceError`] naming the record, never a panic and never a silently skipped row.

mod binary;
mod calibration;
mod cbpe;
mod compare;
mod isotonic;
mod multiclass;
mod ranking;
mod regression;

pub use binary::{BinaryConfusion, BinaryMetrics, BinaryRecord, Decision, binary, binary_counted};
pub use calibration::ECE_BINS;
pub use cbpe::{
    CALIBRATION_BINS, CALIBRATION_SKIP_AUC, CALIBRATION_SPLITS, CALIBRATION_TEST_SHARE, Calibration, CalibrationCheck,
    CalibrationSplits, Cbpe, CbpeError, CbpeEstimate, ExpectedConfusion, SamplingErrors, ScoredRecord,
};
pub use compare::{
    BinaryMetric, BootstrapOptions, CompareError, Comparison, Pairing, RegressionMetric, Resamples, Verdict, Version,
    compare_binary, compare_regression, compare_with,
};
pub use isotonic::{IsotonicError, IsotonicRegression};
pub use multiclass::{MulticlassMetrics, MulticlassRecord, multiclass};
pub use regression::{RegressionMetrics, RegressionRecord, regression};

/// Why a window's records cannot be scored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PerformanceError {
    /// A label, prediction or score is NaN or infinite.
    #[error("record {index} has a non-finite {field}")]
    NonFinite { index: usize, field: &'static str },
    /// A score or class probability is outside [0, 1]: it is not a probability.
    #[error("record {index} has a probability outside [0, 1]: {value}")]
    ProbabilityOutOfRange { index: usize, value: f64 },
    /// A label or prediction names a class the task does not have.
    #[error("record {index} has class {class}, but the task has {n_classes} classes")]
    UnknownClass { index: usize, class: usize, n_classes: usize },
    /// A record's probability vector does not have one entry per class.
    #[error("record {index} has {actual} probabilities, expected {expected}")]
    ProbabilityCount { index: usize, expected: usize, actual: usize },
    /// Classification needs at least two classes.
    #[error("a classification task needs at least 2 classes, got {n_classes}")]
    TooFewClasses { n_classes: usize },
    /// The decision threshold is NaN or infinite.
    #[error("decision threshold must be finite, got {threshold}")]
    InvalidThreshold { threshold: f64 },
}

/// `numerator / denominator`, or 0 when the denominator is 0 (scikit-learn's `zero_division` default).
fn ratio_or_zero(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 { 0.0 } else { numerator / denominator }
}

/// Checks that a probability is finite and inside [0, 1], naming the record otherwise.
fn check_probability(index: usize, value: f64) -> Result<(), PerformanceError> {
    if !value.is_finite() {
        return Err(PerformanceError::NonFinite { index, field: "probability" });
    }
    if !(0.0..=1.0).contains(&value) {
        return Err(PerformanceError::ProbabilityOutOfRange { index, value });
    }
    Ok(())
}

/// Counts as f64 for ratios: window sizes are far below 2^53, so the conversion is exact.
fn count(n: usize) -> f64 {
    n as f64
}
