//! Performance without labels: confidence-based performance estimation (CBPE) for binary
//! classifiers, as NannyML's `CBPE` (nannyml 0.13.1) computes it.
//!
//! If a model's scores are calibrated probabilities, a record predicted positive with
//! score p is a true positive with probability p and a false positive with probability
//! 1 − p. Summing those over a window gives the *expected* confusion matrix, and every
//! threshold metric follows from it, before any label has arrived. Scores are made
//! calibrated on a labelled reference window with isotonic regression, when that helps.
//!
//! What NannyML does, and so what [`Cbpe`] does:
//!
//! - **Whether to calibrate** ([`Calibration::Auto`]): never on a reference whose ROC AUC
//!   exceeds 0.999; otherwise ten times hold out a stratified 10 % of the reference, fit
//!   isotonic regression on the rest and calibrate the held-out scores; concatenate the ten
//!   held-out sets and compare the expected calibration error of raw and calibrated scores
//!   over ten *equal-count* bins of the sorted scores; calibrate when the calibrated error
//!   is strictly lower. The final calibrator is then fitted on the whole reference.
//! - **Predicted class**: the class the model logged ([`Decision::Logged`], NannyML's `y_pred`),
//!   or the *uncalibrated* score against a threshold, which is what the model itself does.
//! - **Expected confusion matrix** with p the calibrated score: TP = Σ p and FP = Σ (1 − p)
//!   over predicted positives, FN = Σ p and TN = Σ (1 − p) over predicted negatives.
//!   Accuracy (TP + TN) / n, precision TP / (TP + FP), recall TP / (TP + FN), specificity
//!   TN / (TN + FP), F1 TP / (TP + (FP + FN) / 2), each 0 when its denominator is 0.
//! - **ROC AUC and average precision**: records sorted by uncalibrated score, highest first;
//!   cumulative Σ p as expected true positives and (k − Σ p) as expected false positives,
//!   both rounded to 5 decimals as NannyML does; then the trapezoid area under that expected
//!   ROC curve and the step sum Σ ΔRecall · Precision. Records with equal raw scores have equal
//!   calibrated scores, so the order inside a tie cannot change the result.
//!
//! Where Sightline differs, on purpose:
//!
//! - The ten hold-out splits: NannyML draws them with scikit-learn's
//!   `StratifiedShuffleSplit(random_state=42)`, numpy's Mersenne Twister. Sightline draws its
//!   own stratified splits from a caller's seed ([`CalibrationSplits::Seeded`]), so the
//!   decision can differ on a reference where raw and calibrated errors are close; to
//!   reproduce NannyML exactly, pass its splits ([`CalibrationSplits::Given`]), as the
//!   fixture test does.
//! - Ties in the equal-count calibration bins are ordered by position (a stable sort); numpy's
//!   `argsort` is unstable, so on tied scores NannyML's bins can hold other labels and its
//!   error differ slightly. Only the calibrate-or-not decision depends on it.
//! - Bad input is an error rather than NaN or a warning: an empty window or reference, a
//!   reference with one class only (NannyML skips calibration and estimates on raw scores),
//!   a NaN score (NannyML drops the row), a score outside [0, 1].
//! - NannyML's sampling error is given for accuracy, precision, recall, F1, specificity and
//!   ROC AUC (module `sampling_error`), not for average precision (NannyML resamples without a
//!   seed) nor the confusion matrix; alert thresholds are the monitors' business, not this one's.

mod sampling_error;

pub use sampling_error::SamplingErrors;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::isotonic::{IsotonicError, IsotonicRegression};
use super::{BinaryRecord, Decision, count, ratio_or_zero};

/// Number of hold-out splits in the calibration check (NannyML's `split_count`).
pub const CALIBRATION_SPLITS: usize = 10;
/// Share of the reference held out in each split (scikit-learn's `test_size` in NannyML).
pub const CALIBRATION_TEST_SHARE: f64 = 0.1;
/// Number of equal-count bins of the calibration check's error (NannyML's `bin_count`).
pub const CALIBRATION_BINS: usize = 10;
/// A reference ROC AUC above this is taken as already separable: no calibration.
pub const CALIBRATION_SKIP_AUC: f64 = 0.999;
/// Decimals NannyML rounds expected cumulative counts to before ROC AUC and average precision.
const CURVE_DECIMALS_SCALE: f64 = 1e5;

/// One scored prediction of a window without labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredRecord {
    /// The class the model reported; used only with [`Decision::Logged`].
    pub prediction: bool,
    /// The model's score for the positive class, in [0, 1].
    pub score: f64,
}

/// How [`Cbpe::fit`] decides whether to calibrate scores.
#[derive(Debug, Clone, PartialEq)]
pub enum Calibration {
    /// NannyML's rule (see the module docs), over the given hold-out splits.
    Auto(CalibrationSplits),
    /// Always fit isotonic regression on the reference.
    Always,
    /// Take scores as calibrated probabilities.
    Never,
}

/// The hold-out sets of the calibration check.
#[derive(Debug, Clone, PartialEq)]
pub enum CalibrationSplits {
    /// [`CALIBRATION_SPLITS`] stratified hold-outs of [`CALIBRATION_TEST_SHARE`] of each class
    /// (rounded up), drawn from ChaCha8 seeded with `seed`.
    Seeded { seed: u64 },
    /// Held-out reference indices per split; each split trains on every other record.
    Given(Vec<Vec<usize>>),
}

/// What the calibration check saw, for display and debugging.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationCheck {
    /// ROC AUC of the raw reference scores.
    pub reference_roc_auc: f64,
    /// Equal-count-bin calibration error of the held-out raw and calibrated scores; `None`
    /// when the AUC rule skipped the check.
    pub error_before: Option<f64>,
    pub error_after: Option<f64>,
}

/// Why CBPE cannot be fitted or cannot estimate a window.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CbpeError {
    /// The reference has no records.
    #[error("the reference window is empty")]
    EmptyReference,
    /// A window to estimate has no records: there is nothing to estimate.
    #[error("the window to estimate is empty")]
    EmptyWindow,
    /// Calibration needs both classes in the reference.
    #[error("the reference has only {class} labels; calibration needs both classes")]
    SingleClassReference { class: &'static str },
    /// A score is NaN or infinite.
    #[error("record {index} has a non-finite score")]
    NonFinite { index: usize },
    /// A score is not a probability.
    #[error("record {index} has a score outside [0, 1]: {value}")]
    ScoreOutOfRange { index: usize, value: f64 },
    /// The decision threshold is NaN or infinite.
    #[error("decision threshold must be finite, got {threshold}")]
    InvalidThreshold { threshold: f64 },
    /// A given hold-out split names a record the reference does not have.
    #[error("calibration split {split} holds out index {index}, but the reference has {len} records")]
    SplitIndexOutOfRange { split: usize, index: usize, len: usize },
    /// A given hold-out split holds out nothing, everything, or a record twice.
    #[error("calibration split {split} must hold out distinct records and leave some to train on")]
    InvalidSplit { split: usize },
    /// Too few held-out scores for two equal-count bins (NannyML refuses too).
    #[error("the calibration check needs at least 4 held-out scores, got {held_out}")]
    ReferenceTooSmall { held_out: usize },
    /// The calibrator could not be fitted.
    #[error("calibration: {0}")]
    Isotonic(#[from] IsotonicError),
}

/// Expected confusion-matrix counts of a window (sums of probabilities, so fractional).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpectedConfusion {
    pub true_positives: f64,
    pub false_positives: f64,
    pub false_negatives: f64,
    pub true_negatives: f64,
}

/// The estimated metrics of one window.
#[derive(Debug, Clone, PartialEq)]
pub struct CbpeEstimate {
    /// Number of records in the window.
    pub count: usize,
    pub confusion: ExpectedConfusion,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub specificity: f64,
    /// `None` when the window's expected positives or negatives round to zero.
    pub roc_auc: Option<f64>,
    /// `None` when the window's expected positives round to zero.
    pub average_precision: Option<f64>,
    /// NannyML's sampling error of each estimate for a window of this size.
    pub sampling_error: SamplingErrors,
}

/// A CBPE estimator fitted on a labelled reference.
#[derive(Debug, Clone)]
pub struct Cbpe {
    decision: Decision,
    calibrator: Option<IsotonicRegression>,
    check: Option<CalibrationCheck>,
    sampling: sampling_error::Components,
}

impl Cbpe {
    /// Fits on a labelled `reference`: checks its scores, decides on calibration and fits
    /// the calibrator. `decision` is how predicted classes are read in every window.
    pub fn fit(reference: &[BinaryRecord], decision: Decision, calibration: Calibration) -> Result<Self, CbpeError> {
        check_decision(decision)?;
        if reference.is_empty() {
            return Err(CbpeError::EmptyReference);
        }
        for (index, r) in reference.iter().enumerate() {
            check_score(index, r.score)?;
        }
        let positives = reference.iter().filter(|r| r.label).count();
        if positives == 0 || positives == reference.len() {
            let class = if positives == 0 { "negative" } else { "positive" };
            return Err(CbpeError::SingleClassReference { class });
        }
        let scores: Vec<f64> = reference.iter().map(|r| r.score).collect();
        let labels: Vec<f64> = reference.iter().map(|r| f64::from(u8::from(r.label))).collect();
        let (calibrate, check) = match calibration {
            Calibration::Never => (false, None),
            Calibration::Always => (true, None),
            Calibration::Auto(splits) => {
                let check = needs_calibration(reference, &scores, &labels, &splits)?;
                let calibrate =
                    matches!(check, CalibrationCheck { error_before: Some(b), error_after: Some(a), .. } if b > a);
                (calibrate, Some(check))
            }
        };
        let calibrator = if calibrate { Some(IsotonicRegression::fit(&scores, &labels, None)?) } else { None };
        let predicted: Vec<bool> = reference.iter().map(|r| predicted_class(decision, r.prediction, r.score)).collect();
        let sampling = sampling_error::Components::fit(reference, &predicted);
        Ok(Self { decision, calibrator, check, sampling })
    }

    /// Whether scores are calibrated before estimating.
    pub fn is_calibrated(&self) -> bool {
        self.calibrator.is_some()
    }

    /// What the calibration check saw, for [`Calibration::Auto`].
    pub fn calibration_check(&self) -> Option<CalibrationCheck> {
        self.check
    }

    /// The calibrated probability of a raw score (the score itself without calibration).
    pub fn calibrate(&self, score: f64) -> Result<f64, CbpeError> {
        check_score(0, score)?;
        Ok(self.calibrated(score))
    }

    fn calibrated(&self, score: f64) -> f64 {
        self.calibrator.as_ref().map_or(score, |c| c.predict_finite(score))
    }

    /// Estimates every metric of one window from its scores.
    pub fn estimate(&self, window: &[ScoredRecord]) -> Result<CbpeEstimate, CbpeError> {
        self.estimate_counted(window.iter().map(|r| (*r, 1)))
    }

    /// Estimates one window given as distinct records, each standing for `count` equal
    /// ones: the same bits as [`Cbpe::estimate`] of the records repeated, at the cost of
    /// the distinct ones (sorting is the expensive part). Error indices count distinct records.
    pub fn estimate_counted(
        &self,
        window: impl IntoIterator<Item = (ScoredRecord, usize)>,
    ) -> Result<CbpeEstimate, CbpeError> {
        let mut tp = 0.0;
        let mut fp = 0.0;
        let mut fn_ = 0.0;
        let mut tn = 0.0;
        let mut total = 0;
        // (raw score, calibrated probability, count) for the ranking metrics.
        let mut ranked = Vec::new();
        for (index, (r, n)) in window.into_iter().enumerate() {
            check_score(index, r.score)?;
            let p = self.calibrated(r.score);
            // One addition per record, as the repeated records would get, so the sums
            // carry the same rounding.
            let predicted = predicted_class(self.decision, r.prediction, r.score);
            for _ in 0..n {
                if predicted {
                    tp += p;
                    fp += 1.0 - p;
                } else {
                    fn_ += p;
                    tn += 1.0 - p;
                }
            }
            total += n;
            ranked.push((r.score, p, n));
        }
        if total == 0 {
            return Err(CbpeError::EmptyWindow);
        }
        let (roc_auc, average_precision) = expected_ranking(&mut ranked);
        let n = count(total);
        Ok(CbpeEstimate {
            count: total,
            confusion: ExpectedConfusion {
                true_positives: tp,
                false_positives: fp,
                false_negatives: fn_,
                true_negatives: tn,
            },
            accuracy: (tp + tn) / n,
            precision: ratio_or_zero(tp, tp + fp),
            recall: ratio_or_zero(tp, tp + fn_),
            f1: ratio_or_zero(tp, tp + 0.5 * (fp + fn_)),
            specificity: ratio_or_zero(tn, tn + fp),
            roc_auc,
            average_precision,
            sampling_error: self.sampling.errors(total),
        })
    }
}

/// The class a record counts as predicted: the logged one, or the raw score against the threshold.
fn predicted_class(decision: Decision, logged: bool, score: f64) -> bool {
    match decision {
        Decision::Logged => logged,
        Decision::Threshold(threshold) => score >= threshold,
    }
}

fn check_decision(decision: Decision) -> Result<(), CbpeError> {
    match decision {
        Decision::Threshold(threshold) if !threshold.is_finite() => Err(CbpeError::InvalidThreshold { threshold }),
        _ => Ok(()),
    }
}

fn check_score(index: usize, value: f64) -> Result<(), CbpeError> {
    if !value.is_finite() {
        return Err(CbpeError::NonFinite { index });
    }
    if !(0.0..=1.0).contains(&value) {
        return Err(CbpeError::ScoreOutOfRange { index, value });
    }
    Ok(())
}

/// numpy's `round(x, 5)`: scale, round half to even, unscale.
fn round5(x: f64) -> f64 {
    round_ties_even(x * CURVE_DECIMALS_SCALE) / CURVE_DECIMALS_SCALE
}

/// `f64::round_ties_even`, bit for bit, without the library call it becomes on CPUs
/// without SSE4.1 (this crate's baseline): it runs twice per record of every window.
/// Adding 2^52 to a magnitude below it leaves no bits for a fraction, so the addition
/// itself rounds to the nearest integer, ties to even, in the default rounding mode.
fn round_ties_even(y: f64) -> f64 {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    if y.abs() < TWO_52 { ((y.abs() + TWO_52) - TWO_52).copysign(y) } else { y }
}

/// Expected ROC AUC and average precision of `(raw score, calibrated probability, count)`
/// triples, each standing for `count` records.
fn expected_ranking(ranked: &mut [(f64, f64, usize)]) -> (Option<f64>, Option<f64>) {
    // Highest raw score first; scores are finite, and ties carry equal probabilities, so
    // the order inside a tie (and whether its records come counted or one by one) cannot
    // change the curve.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    // Cumulative expected true and false positives after each record, rounded as NannyML.
    let mut curve = Vec::with_capacity(ranked.iter().map(|r| r.2).sum());
    let mut tps = 0.0;
    for &(_, p, n) in ranked.iter() {
        for _ in 0..n {
            // np.cumsum adds in order, as this loop does; (k + 1) − tps is NannyML's fps.
            tps += p;
            curve.push((round5(tps), round5(count(curve.len() + 1) - tps)));
        }
    }
    let Some(&(total_tp, total_fp)) = curve.last() else { return (None, None) };
    let roc_auc = (total_tp > 0.0 && total_fp > 0.0).then(|| {
        let (mut area, mut prev_fpr, mut prev_tpr) = (0.0, 0.0, 0.0);
        for &(tp, fp) in &curve {
            let (tpr, fpr) = (tp / total_tp, fp / total_fp);
            area += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0;
            (prev_fpr, prev_tpr) = (fpr, tpr);
        }
        area
    });
    let average_precision = (total_tp > 0.0).then(|| {
        let (mut ap, mut prev_recall) = (0.0, 0.0);
        for (k, &(tp, _)) in curve.iter().enumerate() {
            let recall = tp / total_tp;
            ap += (recall - prev_recall) * (tp / count(k + 1));
            prev_recall = recall;
        }
        ap
    });
    (roc_auc, average_precision)
}

/// NannyML's calibration check (see the module docs).
fn needs_calibration(
    reference: &[BinaryRecord],
    scores: &[f64],
    labels: &[f64],
    splits: &CalibrationSplits,
) -> Result<CalibrationCheck, CbpeError> {
    let mut pairs: Vec<(f64, bool, usize)> = reference.iter().map(|r| (r.score, r.label, 1)).collect();
    // Both classes are present (checked by the caller), so the AUC exists.
    let reference_roc_auc = super::ranking::auc_and_average_precision(&mut pairs).0.unwrap_or(0.5);
    if reference_roc_auc > CALIBRATION_SKIP_AUC {
        return Ok(CalibrationCheck { reference_roc_auc, error_before: None, error_after: None });
    }
    let test_sets = match splits {
        CalibrationSplits::Seeded { seed } => stratified_holdouts(reference, *seed),
        CalibrationSplits::Given(sets) => sets.clone(),
    };
    let n = reference.len();
    // (raw, calibrated, label) of every held-out record, split after split.
    let mut held_out = Vec::new();
    for (split, test) in test_sets.iter().enumerate() {
        let mut in_test = vec![false; n];
        for &index in test {
            let slot = in_test.get_mut(index).ok_or(CbpeError::SplitIndexOutOfRange { split, index, len: n })?;
            if *slot {
                return Err(CbpeError::InvalidSplit { split });
            }
            *slot = true;
        }
        if test.is_empty() || test.len() == n {
            return Err(CbpeError::InvalidSplit { split });
        }
        let train: Vec<usize> = (0..n).filter(|&i| !in_test[i]).collect();
        let train_scores: Vec<f64> = train.iter().map(|&i| scores[i]).collect();
        let train_labels: Vec<f64> = train.iter().map(|&i| labels[i]).collect();
        let calibrator = IsotonicRegression::fit(&train_scores, &train_labels, None)?;
        held_out.extend(test.iter().map(|&i| (scores[i], calibrator.predict_finite(scores[i]), labels[i])));
    }
    let bins = equal_count_bins(held_out.len())?;
    let raw: Vec<(f64, f64)> = held_out.iter().map(|&(s, _, y)| (s, y)).collect();
    let calibrated: Vec<(f64, f64)> = held_out.iter().map(|&(_, c, y)| (c, y)).collect();
    Ok(CalibrationCheck {
        reference_roc_auc,
        error_before: Some(equal_count_calibration_error(raw, &bins)),
        error_after: Some(equal_count_calibration_error(calibrated, &bins)),
    })
}

/// NannyML's `_get_bin_index_edges`: [`CALIBRATION_BINS`] runs of `len / bins` sorted
/// positions (fewer bins below 2 per bin), the last run taking the remainder.
fn equal_count_bins(len: usize) -> Result<Vec<(usize, usize)>, CbpeError> {
    let mut bins = CALIBRATION_BINS;
    if len <= 2 * bins {
        bins = len / 2;
        if bins < 2 {
            return Err(CbpeError::ReferenceTooSmall { held_out: len });
        }
    }
    let width = len / bins;
    let mut edges: Vec<usize> = (0..=len).step_by(width).collect();
    if let Some(last) = edges.last_mut() {
        *last = len;
    }
    Ok(edges.windows(2).map(|w| (w[0], w[1])).collect())
}

/// Σ over bins of (bin size / n) · |mean probability − mean label|, bins over the records
/// sorted by probability (stably: ties keep their order).
fn equal_count_calibration_error(mut records: Vec<(f64, f64)>, bins: &[(usize, usize)]) -> f64 {
    records.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = count(records.len());
    bins.iter()
        .map(|&(lo, hi)| {
            let bin = &records[lo..hi];
            let size = count(bin.len());
            let mean_p = bin.iter().map(|r| r.0).sum::<f64>() / size;
            let mean_y = bin.iter().map(|r| r.1).sum::<f64>() / size;
            size / n * (mean_p - mean_y).abs()
        })
        .sum()
}

/// Sightline's own stratified hold-outs: per split and class, a ChaCha8 shuffle of the
/// class's indices of which the first ⌈share · class size⌉ are held out.
fn stratified_holdouts(reference: &[BinaryRecord], seed: u64) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let by_class: [Vec<usize>; 2] =
        [false, true].map(|class| (0..reference.len()).filter(|&i| reference[i].label == class).collect());
    (0..CALIBRATION_SPLITS)
        .map(|_| {
            let mut test = Vec::new();
            for members in &by_class {
                let mut shuffled = members.clone();
                shuffled.shuffle(&mut rng);
                // Class sizes are far below 2^52, so the product and ceiling are exact enough.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let take = (count(members.len()) * CALIBRATION_TEST_SHARE).ceil() as usize;
                // Keep at least one record of the class to train on.
                test.extend_from_slice(&shuffled[..take.min(members.len().saturating_sub(1))]);
            }
            test
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_ties_to_even_is_the_standard_one() {
        let mut values = vec![0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -2.5, 0.49999999999999994, 4_503_599_627_370_495.5];
        values.extend([1e300, -1e300, f64::MIN_POSITIVE, 4_503_599_627_370_496.0, 9_007_199_254_740_993.0]);
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..10_000 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            // Halves and quarters (ties and near-ties) and arbitrary magnitudes.
            values.push((state >> 40) as f64 / 4.0 - 1e6);
            values.push(f64::from_bits(state >> 2) * if state & 1 == 0 { 1.0 } else { -1.0 });
        }
        for v in values {
            assert_eq!(round_ties_even(v).to_bits(), v.round_ties_even().to_bits(), "{v}");
        }
        assert!(round_ties_even(f64::NAN).is_nan());
    }

    fn record(label: bool, score: f64) -> BinaryRecord {
        BinaryRecord { label, prediction: score >= 0.5, score }
    }

    #[test]
    fn equal_count_bins_follow_nannyml() {
        // 20 scores: at most two per bin, so ten bins of two.
        assert_eq!(equal_count_bins(20).expect("20"), (0..10).map(|b| (2 * b, 2 * b + 2)).collect::<Vec<_>>());
        // 7 scores: three bins of two, the last taking the remainder.
        assert_eq!(equal_count_bins(7).expect("7"), vec![(0, 2), (2, 4), (4, 7)]);
        // 25 scores: width 2, twelve runs, the last one three long.
        let bins = equal_count_bins(25).expect("25");
        assert_eq!(bins.len(), 12);
        assert_eq!(bins.last(), Some(&(22, 25)));
        assert_eq!(equal_count_bins(3), Err(CbpeError::ReferenceTooSmall { held_out: 3 }));
    }

    #[test]
    fn calibrated_scores_give_the_expected_confusion_matrix() {
        let reference = [record(false, 0.2), record(true, 0.8), record(true, 0.6), record(false, 0.4)];
        let cbpe = Cbpe::fit(&reference, Decision::Threshold(0.5), Calibration::Never).expect("valid");
        assert!(!cbpe.is_calibrated());
        let window = [ScoredRecord { prediction: true, score: 0.9 }, ScoredRecord { prediction: false, score: 0.3 }];
        let e = cbpe.estimate(&window).expect("valid");
        assert!((e.confusion.true_positives - 0.9).abs() < 1e-15);
        assert!((e.confusion.false_positives - 0.1).abs() < 1e-15);
        assert!((e.confusion.false_negatives - 0.3).abs() < 1e-15);
        assert!((e.confusion.true_negatives - 0.7).abs() < 1e-15);
        assert!((e.accuracy - 0.8).abs() < 1e-15);
        assert!((e.f1 - 0.9 / (0.9 + 0.2)).abs() < 1e-15);
    }

    #[test]
    fn bad_input_is_an_error() {
        let ok = [record(false, 0.2), record(true, 0.8)];
        assert_eq!(Cbpe::fit(&[], Decision::Logged, Calibration::Never).err(), Some(CbpeError::EmptyReference));
        assert_eq!(
            Cbpe::fit(&[record(true, 0.3)], Decision::Logged, Calibration::Always).err(),
            Some(CbpeError::SingleClassReference { class: "positive" })
        );
        assert_eq!(
            Cbpe::fit(&[record(true, f64::NAN)], Decision::Logged, Calibration::Never).err(),
            Some(CbpeError::NonFinite { index: 0 })
        );
        assert_eq!(
            Cbpe::fit(&[record(true, 1.5)], Decision::Logged, Calibration::Never).err(),
            Some(CbpeError::ScoreOutOfRange { index: 0, value: 1.5 })
        );
        assert_eq!(
            Cbpe::fit(&ok, Decision::Threshold(f64::NAN), Calibration::Never).err().map(|e| e.to_string()),
            Some("decision threshold must be finite, got NaN".to_owned())
        );
        let splits = CalibrationSplits::Given(vec![vec![5]]);
        let reference: Vec<BinaryRecord> = (0..4).map(|i| record(i % 2 == 0, 0.5)).collect();
        assert_eq!(
            Cbpe::fit(&reference, Decision::Logged, Calibration::Auto(splits)).err(),
            Some(CbpeError::SplitIndexOutOfRange { split: 0, index: 5, len: 4 })
        );
        let cbpe = Cbpe::fit(&ok, Decision::Logged, Calibration::Always).expect("valid");
        assert_eq!(cbpe.estimate(&[]), Err(CbpeError::EmptyWindow));
        assert_eq!(
            cbpe.estimate(&[ScoredRecord { prediction: true, score: -0.1 }]),
            Err(CbpeError::ScoreOutOfRange { index: 0, value: -0.1 })
        );
    }

    #[test]
    fn separable_references_are_not_calibrated_and_seeded_splits_are_stratified() {
        let reference: Vec<BinaryRecord> = (0..100).map(|i| record(i >= 50, f64::from(i) / 100.0)).collect();
        let cbpe = Cbpe::fit(&reference, Decision::Logged, Calibration::Auto(CalibrationSplits::Seeded { seed: 7 }))
            .expect("valid");
        assert!(!cbpe.is_calibrated());
        assert_eq!(cbpe.calibration_check().map(|c| c.error_before), Some(None));
        let holdouts = stratified_holdouts(&reference, 7);
        assert_eq!(holdouts.len(), CALIBRATION_SPLITS);
        for test in &holdouts {
            assert_eq!(test.iter().filter(|&&i| reference[i].label).count(), 5);
            assert_eq!(test.len(), 10);
        }
        assert_eq!(holdouts, stratified_holdouts(&reference, 7));
        assert_ne!(holdouts, stratified_holdouts(&reference, 8));
    }
}
