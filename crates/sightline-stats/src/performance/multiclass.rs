//! Multiclass classification metrics from (label, prediction, probabilities) records.

use super::calibration::log_loss_term;
use super::{PerformanceError, check_probability, count, ratio_or_zero};

/// One labelled multiclass prediction; classes are indices `0..n_classes`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MulticlassRecord<'a> {
    pub label: usize,
    pub prediction: usize,
    /// The model's probability for each class, indexed by class.
    pub probabilities: &'a [f64],
}

/// Every multiclass metric of one window; see the module docs for when a value is `None`.
///
/// Averages run over all `n_classes` classes, present in the window or not, as
/// scikit-learn with `labels=range(n_classes)`: a class never seen nor predicted counts
/// as 0 in the macro averages (zero division) and weighs nothing in the weighted ones.
#[derive(Debug, Clone, PartialEq)]
pub struct MulticlassMetrics {
    pub count: usize,
    /// `confusion[true][predicted]`, scikit-learn's orientation.
    pub confusion: Vec<Vec<u64>>,
    pub accuracy: Option<f64>,
    pub macro_precision: Option<f64>,
    pub macro_recall: Option<f64>,
    pub macro_f1: Option<f64>,
    /// Per-class values weighted by the class's support (true count).
    pub weighted_precision: Option<f64>,
    pub weighted_recall: Option<f64>,
    pub weighted_f1: Option<f64>,
    /// Mean of `-ln p(true class)`, clipped as scikit-learn.
    pub log_loss: Option<f64>,
}

/// Computes every multiclass metric of `records` over classes `0..n_classes`.
///
/// Probability rows are used as given: like scikit-learn, rows that do not sum to 1 are
/// not renormalised (scikit-learn only warns), but each entry must be in [0, 1].
pub fn multiclass(records: &[MulticlassRecord<'_>], n_classes: usize) -> Result<MulticlassMetrics, PerformanceError> {
    if n_classes < 2 {
        return Err(PerformanceError::TooFewClasses { n_classes });
    }
    let mut confusion = vec![vec![0_u64; n_classes]; n_classes];
    let mut log_loss = 0.0;
    for (index, r) in records.iter().enumerate() {
        for class in [r.label, r.prediction] {
            if class >= n_classes {
                return Err(PerformanceError::UnknownClass { index, class, n_classes });
            }
        }
        if r.probabilities.len() != n_classes {
            return Err(PerformanceError::ProbabilityCount {
                index,
                expected: n_classes,
                actual: r.probabilities.len(),
            });
        }
        for &p in r.probabilities {
            check_probability(index, p)?;
        }
        confusion[r.label][r.prediction] += 1;
        // Only the true class's term survives scikit-learn's one-hot sum of xlogy terms.
        log_loss += log_loss_term(r.probabilities[r.label]);
    }
    let n = records.len();
    if n == 0 {
        return Ok(MulticlassMetrics {
            count: 0,
            confusion,
            accuracy: None,
            macro_precision: None,
            macro_recall: None,
            macro_f1: None,
            weighted_precision: None,
            weighted_recall: None,
            weighted_f1: None,
            log_loss: None,
        });
    }
    let total = count(n);
    let (mut correct, mut macro_p, mut macro_r, mut macro_f) = (0.0, 0.0, 0.0, 0.0);
    let (mut weighted_p, mut weighted_r, mut weighted_f) = (0.0, 0.0, 0.0);
    for class in 0..n_classes {
        // Window counts are far below 2^53, so the f64 conversions are exact.
        let tp = confusion[class][class] as f64;
        let support = confusion[class].iter().sum::<u64>() as f64;
        let predicted = confusion.iter().map(|row| row[class]).sum::<u64>() as f64;
        let precision = ratio_or_zero(tp, predicted);
        let recall = ratio_or_zero(tp, support);
        // scikit-learn computes F1 from counts, not from the rounded precision and recall.
        let f1 = ratio_or_zero(2.0 * tp, support + predicted);
        correct += tp;
        macro_p += precision;
        macro_r += recall;
        macro_f += f1;
        weighted_p += support * precision;
        weighted_r += support * recall;
        weighted_f += support * f1;
    }
    let k = count(n_classes);
    Ok(MulticlassMetrics {
        count: n,
        confusion,
        accuracy: Some(correct / total),
        macro_precision: Some(macro_p / k),
        macro_recall: Some(macro_r / k),
        macro_f1: Some(macro_f / k),
        weighted_precision: Some(weighted_p / total),
        weighted_recall: Some(weighted_r / total),
        weighted_f1: Some(weighted_f / total),
        log_loss: Some(log_loss / total),
    })
}
