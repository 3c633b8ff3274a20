//! Regression metrics from (label, prediction) records.

use super::{PerformanceError, count};

/// One labelled numeric prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegressionRecord {
    /// The observed value.
    pub label: f64,
    pub prediction: f64,
}

/// Every regression metric of one window; see the module docs for when a value is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionMetrics {
    pub count: usize,
    pub mae: Option<f64>,
    pub mse: Option<f64>,
    /// `sqrt(mse)`, as scikit-learn's `root_mean_squared_error`.
    pub rmse: Option<f64>,
    /// Mean of `|y − ŷ| / max(|y|, eps)` with eps the float64 machine epsilon, as
    /// scikit-learn: a zero label gives a huge but finite term, not infinity.
    pub mape: Option<f64>,
    /// Coefficient of determination; `None` below two records, 1 or 0 on a constant target.
    pub r2: Option<f64>,
    /// Mean of `prediction − label`: positive when the model overestimates.
    pub mean_error: Option<f64>,
}

/// Computes every regression metric of `records`.
pub fn regression(records: &[RegressionRecord]) -> Result<RegressionMetrics, PerformanceError> {
    for (index, r) in records.iter().enumerate() {
        if !r.label.is_finite() {
            return Err(PerformanceError::NonFinite { index, field: "label" });
        }
        if !r.prediction.is_finite() {
            return Err(PerformanceError::NonFinite { index, field: "prediction" });
        }
    }
    let n = records.len();
    if n == 0 {
        return Ok(RegressionMetrics {
            count: 0,
            mae: None,
            mse: None,
            rmse: None,
            mape: None,
            r2: None,
            mean_error: None,
        });
    }
    let total = count(n);
    let (mut abs, mut sq, mut pct, mut err, mut label_sum) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for r in records {
        let e = r.prediction - r.label;
        abs += e.abs();
        sq += e * e;
        pct += e.abs() / r.label.abs().max(f64::EPSILON);
        err += e;
        label_sum += r.label;
    }
    let mse = sq / total;
    Ok(RegressionMetrics {
        count: n,
        mae: Some(abs / total),
        mse: Some(mse),
        rmse: Some(mse.sqrt()),
        mape: Some(pct / total),
        r2: r2(records, sq, label_sum / total),
        mean_error: Some(err / total),
    })
}

/// R² with scikit-learn's conventions (`force_finite=True`).
///
/// A constant target is detected exactly (every label equal) rather than by the spread
/// rounding to 0: scikit-learn subtracts a rounded mean, so for labels like `[0.1; 3]` it
/// sees a spread of ~1e-33 and returns a meaningless huge negative number. Sightline gives
/// what scikit-learn means for a constant target: 1 for exact predictions, else 0.
fn r2(records: &[RegressionRecord], residual_sq: f64, mean: f64) -> Option<f64> {
    let first = records.first()?.label;
    if records.len() < 2 {
        return None;
    }
    if records.iter().all(|r| r.label == first) {
        return Some(if residual_sq == 0.0 { 1.0 } else { 0.0 });
    }
    let spread: f64 = records.iter().map(|r| (r.label - mean) * (r.label - mean)).sum();
    Some(1.0 - residual_sq / spread)
}
