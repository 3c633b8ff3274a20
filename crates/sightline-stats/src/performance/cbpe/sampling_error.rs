//! NannyML's sampling error of CBPE estimates: how much a metric varies between windows of
//! a given size by chance alone, extrapolated from the labelled reference.
//!
//! For each metric NannyML takes, on the reference, the population standard deviation of a
//! per-record score among the records the metric is about (correctness for accuracy; 1 for
//! a true positive and 0 for a false positive for precision; and so on) and the share of
//! the reference those records are; a window of n records then has the error
//! std / √(n · share), the standard error of a mean over the records it is about.
//! ROC AUC uses, per positive, the share of negatives ranked below it (its Mann–Whitney
//! contribution). NannyML's average-precision error comes from unseeded resampling, so it
//! cannot be reproduced and is not offered; nor are the confusion-matrix errors.

use super::super::{BinaryRecord, count};

/// A metric's standard deviation and the share of records it is about.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Component {
    std: f64,
    share: f64,
}

impl Component {
    /// `None` when the metric concerns no reference record (numpy's std of nothing is NaN).
    fn of(values: &[f64], share: f64) -> Option<Self> {
        population_std(values).map(|std| Self { std, share })
    }

    fn error(self, n: usize) -> f64 {
        self.std / (count(n) * self.share).sqrt()
    }
}

/// The reference's components for every metric with a reproducible sampling error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Components {
    accuracy: Option<Component>,
    precision: Option<Component>,
    recall: Option<Component>,
    specificity: Option<Component>,
    f1: Option<Component>,
    roc_auc: Option<Component>,
}

/// The sampling error of each estimate on one window (`None` where the reference has no
/// record the metric is about, e.g. precision without predicted positives).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingErrors {
    pub accuracy: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub specificity: Option<f64>,
    pub roc_auc: Option<f64>,
}

impl Components {
    /// From the reference records and their predicted classes (read with the estimator's decision).
    pub(super) fn fit(reference: &[BinaryRecord], predicted: &[bool]) -> Self {
        let n = count(reference.len());
        let mut correct = Vec::with_capacity(reference.len());
        let (mut tp, mut fp, mut fn_, mut tn) = (0_usize, 0_usize, 0_usize, 0_usize);
        for (r, &p) in reference.iter().zip(predicted) {
            correct.push(f64::from(u8::from(r.label == p)));
            match (r.label, p) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fn_ += 1,
                (false, false) => tn += 1,
            }
        }
        // Per-record scores as NannyML lays them out: ones for the hits, zeros for the misses.
        let ones_zeros = |ones: usize, zeros: usize| {
            let mut v = vec![1.0; ones];
            v.resize(ones + zeros, 0.0);
            v
        };
        let f1 = {
            let relevant = tp + fp + fn_;
            // Scaled so the mean of the scores is the F1 score itself.
            let factor = count(relevant) / (count(fn_ + fp) * 0.5 + count(tp));
            let scores: Vec<f64> = ones_zeros(tp, fp + fn_).into_iter().map(|v| v * factor).collect();
            Component::of(&scores, count(relevant) / n)
        };
        Self {
            accuracy: Component::of(&correct, 1.0),
            precision: Component::of(&ones_zeros(tp, fp), count(tp + fp) / n),
            recall: Component::of(&ones_zeros(tp, fn_), count(tp + fn_) / n),
            specificity: Component::of(&ones_zeros(tn, fp), count(tn + fp) / n),
            f1,
            roc_auc: auc_component(reference),
        }
    }

    pub(super) fn errors(&self, n: usize) -> SamplingErrors {
        let at = |c: Option<Component>| c.map(|c| c.error(n));
        SamplingErrors {
            accuracy: at(self.accuracy),
            precision: at(self.precision),
            recall: at(self.recall),
            f1: at(self.f1),
            specificity: at(self.specificity),
            roc_auc: at(self.roc_auc),
        }
    }
}

/// Per positive, the share of negatives scored below it; positives are the minority class
/// (NannyML swaps the classes and mirrors the scores when positives are the majority).
///
/// NannyML reads ranks off `unique(label · rank)[1:]`, which also drops a positive that
/// sorts first (its rank 0 looks like a negative's); that is reproduced. Ties are ordered
/// by position, where numpy's unstable sort may order them otherwise: on tied scores the
/// result can differ from NannyML's.
fn auc_component(reference: &[BinaryRecord]) -> Option<Component> {
    let n = reference.len();
    let positives = reference.iter().filter(|r| r.label).count();
    let flip = count(positives) / count(n) > 0.5;
    let mut ranked: Vec<(f64, bool)> =
        reference.iter().map(|r| if flip { (1.0 - r.score, !r.label) } else { (r.score, r.label) }).collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let minority = ranked.iter().filter(|r| r.1).count();
    let negatives = n - minority;
    let below: Vec<f64> = ranked
        .iter()
        .enumerate()
        .filter(|&(rank, r)| r.1 && rank > 0)
        .enumerate()
        .map(|(i, (rank, _))| count(rank - i) / count(negatives))
        .collect();
    Component::of(&below, count(minority) / count(n))
}

/// numpy's `std` (population, ddof = 0); `None` for no values.
fn population_std(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = count(values.len());
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    Some(variance.sqrt())
}

#[cfg(test)]
mod tests {
    use super::population_std;

    #[test]
    fn standard_deviation_is_the_population_one() {
        assert_eq!(population_std(&[1.0, 0.0, 1.0, 0.0]), Some(0.5));
        assert_eq!(population_std(&[]), None);
    }
}
