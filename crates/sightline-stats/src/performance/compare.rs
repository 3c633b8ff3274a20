//! Champion/challenger: the difference of one metric between two model versions, with a
//! percentile bootstrap confidence interval and a plain verdict.
//!
//! The delta is always challenger − champion. Each bootstrap resample draws, with
//! replacement, as many records as the window has and computes the metric of both
//! versions on it:
//!
//! - **paired** (both versions scored the same rows, as in shadow traffic): one draw of row
//!   indices serves both, so the interval reflects only how the versions differ on a row,
//!   and is narrower than unpaired for the same data;
//! - **unpaired** (different rows of the same period, as in a traffic split): each
//!   version's rows are drawn independently.
//!
//! The interval is the (α/2, 1 − α/2) quantiles of the resampled deltas, with numpy's
//! default ("linear") quantile; α = 1 − confidence. The verdict says the challenger is
//! better or worse only when the interval excludes 0, in the direction that is better for
//! the metric (lower for losses and errors).
//!
//! A resample on which the metric is undefined for either version (ROC AUC on a draw with
//! one class, say) is skipped and counted; the interval is over the others. That is the
//! usual convention, but it leans the interval toward draws with both classes, so a
//! comparison with many skipped resamples deserves a bigger window rather than trust.
//!
//! Randomness comes only from the caller's seed (ChaCha8), or the caller hands the
//! resample indices in, which is how the fixture test replays numpy's bootstrap.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    BinaryMetrics, BinaryRecord, Decision, PerformanceError, RegressionMetrics, RegressionRecord, binary, regression,
};

/// Which version an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Champion,
    Challenger,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Version::Champion => "champion",
            Version::Challenger => "challenger",
        })
    }
}

/// How the two versions' records relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// Record `i` of both versions is the same row (same label).
    Paired,
    /// The versions scored different rows.
    Unpaired,
}

/// Where the bootstrap's resample indices come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Resamples {
    /// `count` resamples drawn from ChaCha8 seeded with `seed`.
    Seeded { seed: u64, count: usize },
    /// Given row indices per resample, used for both versions ([`Pairing::Paired`] only).
    Paired(Vec<Vec<usize>>),
    /// Given (champion, challenger) row indices per resample ([`Pairing::Unpaired`] only).
    Unpaired(Vec<(Vec<usize>, Vec<usize>)>),
}

/// Bootstrap settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapOptions {
    /// Coverage of the interval, in (0, 1); 0.95 gives the 2.5th and 97.5th percentiles.
    pub confidence: f64,
    pub resamples: Resamples,
}

/// What the interval says about the challenger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    ChallengerBetter,
    ChallengerWorse,
    NoSignificantDifference,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::ChallengerBetter => "challenger better",
            Verdict::ChallengerWorse => "challenger worse",
            Verdict::NoSignificantDifference => "no significant difference",
        })
    }
}

/// The comparison of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The metric on each version's whole window.
    pub champion: f64,
    pub challenger: f64,
    /// `challenger − champion` on the whole windows.
    pub delta: f64,
    /// Percentile bootstrap interval of the delta.
    pub lower: f64,
    pub upper: f64,
    pub confidence: f64,
    /// Resamples the interval is computed from, and those skipped as undefined.
    pub resamples_used: usize,
    pub resamples_skipped: usize,
    pub verdict: Verdict,
}

/// Why two versions cannot be compared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompareError {
    /// A version has no records in the window.
    #[error("the {which} window is empty")]
    EmptyWindow { which: Version },
    /// Paired windows must hold the same rows.
    #[error("paired windows differ in length: champion {champion}, challenger {challenger}")]
    LengthMismatch { champion: usize, challenger: usize },
    /// Paired records must carry the same label.
    #[error("paired record {index} has different labels for the two versions")]
    LabelMismatch { index: usize },
    /// The confidence must be strictly between 0 and 1.
    #[error("confidence must be in (0, 1), got {confidence}")]
    InvalidConfidence { confidence: f64 },
    /// No resamples were asked for.
    #[error("the bootstrap needs at least one resample")]
    NoResamples,
    /// Given indices of the wrong kind for the pairing.
    #[error("given resamples are {given:?}, but the windows are {pairing:?}")]
    ResamplesDoNotMatchPairing { given: Pairing, pairing: Pairing },
    /// A given resample does not draw as many rows as the window has.
    #[error("resample {resample} of the {which} draws {actual} rows, the window has {expected}")]
    ResampleLength { resample: usize, which: Version, expected: usize, actual: usize },
    /// A given resample names a row the window does not have.
    #[error("resample {resample} of the {which} draws row {index}, the window has {len}")]
    ResampleIndexOutOfRange { resample: usize, which: Version, index: usize, len: usize },
    /// The metric has no value on a whole window (AUC with one class…).
    #[error("the metric is undefined on the {which} window")]
    Undefined { which: Version },
    /// The metric was undefined on every resample.
    #[error("the metric is undefined on all {resamples} resamples")]
    NoDefinedResample { resamples: usize },
    /// A record is invalid (NaN, probability outside [0, 1]…).
    #[error("{which}: {source}")]
    Invalid { which: Version, source: PerformanceError },
}

/// A binary classification metric to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryMetric {
    Accuracy,
    Precision,
    Recall,
    F1,
    Specificity,
    RocAuc,
    AveragePrecision,
    LogLoss,
    Brier,
    ExpectedCalibrationError,
}

impl BinaryMetric {
    /// Whether a larger value is a better model (false for losses and errors).
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Self::LogLoss | Self::Brier | Self::ExpectedCalibrationError)
    }

    /// The metric's value in a set of computed metrics.
    pub fn of(self, m: &BinaryMetrics) -> Option<f64> {
        match self {
            Self::Accuracy => m.accuracy,
            Self::Precision => m.precision,
            Self::Recall => m.recall,
            Self::F1 => m.f1,
            Self::Specificity => m.specificity,
            Self::RocAuc => m.roc_auc,
            Self::AveragePrecision => m.average_precision,
            Self::LogLoss => m.log_loss,
            Self::Brier => m.brier,
            Self::ExpectedCalibrationError => m.expected_calibration_error,
        }
    }
}

/// A regression metric to compare (mean error is a bias, neither better high nor low, so
/// it is not offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegressionMetric {
    Mae,
    Mse,
    Rmse,
    Mape,
    R2,
}

impl RegressionMetric {
    /// Whether a larger value is a better model (only R²).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Self::R2)
    }

    /// The metric's value in a set of computed metrics.
    pub fn of(self, m: &RegressionMetrics) -> Option<f64> {
        match self {
            Self::Mae => m.mae,
            Self::Mse => m.mse,
            Self::Rmse => m.rmse,
            Self::Mape => m.mape,
            Self::R2 => m.r2,
        }
    }
}

/// Compares a binary metric of two versions; `decision` reads predicted classes for both.
pub fn compare_binary(
    champion: &[BinaryRecord],
    challenger: &[BinaryRecord],
    pairing: Pairing,
    metric: BinaryMetric,
    decision: Decision,
    options: &BootstrapOptions,
) -> Result<Comparison, CompareError> {
    if pairing == Pairing::Paired {
        check_paired(champion, challenger, |a, b| a.label == b.label)?;
    }
    let value = |records: &[BinaryRecord]| binary(records, decision).map(|m| metric.of(&m));
    compare_with(champion, challenger, pairing, value, metric.higher_is_better(), options)
}

/// Compares a regression metric of two versions.
pub fn compare_regression(
    champion: &[RegressionRecord],
    challenger: &[RegressionRecord],
    pairing: Pairing,
    metric: RegressionMetric,
    options: &BootstrapOptions,
) -> Result<Comparison, CompareError> {
    if pairing == Pairing::Paired {
        // Labels are compared bit for bit: the same row carries the same stored value.
        check_paired(champion, challenger, |a, b| a.label.to_bits() == b.label.to_bits())?;
    }
    let value = |records: &[RegressionRecord]| regression(records).map(|m| metric.of(&m));
    compare_with(champion, challenger, pairing, value, metric.higher_is_better(), options)
}

fn check_paired<R>(champion: &[R], challenger: &[R], same_row: impl Fn(&R, &R) -> bool) -> Result<(), CompareError> {
    if champion.len() != challenger.len() {
        return Err(CompareError::LengthMismatch { champion: champion.len(), challenger: challenger.len() });
    }
    match champion.iter().zip(challenger).position(|(a, b)| !same_row(a, b)) {
        Some(index) => Err(CompareError::LabelMismatch { index }),
        None => Ok(()),
    }
}

/// The bootstrap comparison of any metric: `metric` computes it on a window (`None` where
/// it is undefined), `higher_is_better` orients the verdict.
pub fn compare_with<R: Copy>(
    champion: &[R],
    challenger: &[R],
    pairing: Pairing,
    metric: impl Fn(&[R]) -> Result<Option<f64>, PerformanceError>,
    higher_is_better: bool,
    options: &BootstrapOptions,
) -> Result<Comparison, CompareError> {
    let confidence = options.confidence;
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(CompareError::InvalidConfidence { confidence });
    }
    for (which, records) in [(Version::Champion, champion), (Version::Challenger, challenger)] {
        if records.is_empty() {
            return Err(CompareError::EmptyWindow { which });
        }
    }
    if pairing == Pairing::Paired && champion.len() != challenger.len() {
        return Err(CompareError::LengthMismatch { champion: champion.len(), challenger: challenger.len() });
    }
    // The whole windows first: this also validates every record once.
    let whole = |which, records: &[R]| match metric(records) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(CompareError::Undefined { which }),
        Err(source) => Err(CompareError::Invalid { which, source }),
    };
    let champion_value = whole(Version::Champion, champion)?;
    let challenger_value = whole(Version::Challenger, challenger)?;

    let mut draws = Draws::new(&options.resamples, pairing, champion.len(), challenger.len())?;
    let total = draws.len();
    let mut deltas = Vec::with_capacity(total);
    let (mut a, mut b) = (Vec::with_capacity(champion.len()), Vec::with_capacity(challenger.len()));
    for k in 0..total {
        let (champion_rows, challenger_rows) = draws.get(k);
        a.clear();
        a.extend(champion_rows.iter().map(|&i| champion[i]));
        b.clear();
        b.extend(challenger_rows.iter().map(|&i| challenger[i]));
        // Records were validated on the whole windows, so an error here cannot happen;
        // it would still be reported rather than hidden.
        let va = metric(&a).map_err(|source| CompareError::Invalid { which: Version::Champion, source })?;
        let vb = metric(&b).map_err(|source| CompareError::Invalid { which: Version::Challenger, source })?;
        if let (Some(va), Some(vb)) = (va, vb) {
            deltas.push(vb - va);
        }
    }
    if deltas.is_empty() {
        return Err(CompareError::NoDefinedResample { resamples: total });
    }
    deltas.sort_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    let lower = quantile_linear(&deltas, alpha / 2.0);
    let upper = quantile_linear(&deltas, 1.0 - alpha / 2.0);
    let verdict = if lower > 0.0 {
        if higher_is_better { Verdict::ChallengerBetter } else { Verdict::ChallengerWorse }
    } else if upper < 0.0 {
        if higher_is_better { Verdict::ChallengerWorse } else { Verdict::ChallengerBetter }
    } else {
        Verdict::NoSignificantDifference
    };
    Ok(Comparison {
        champion: champion_value,
        challenger: challenger_value,
        delta: challenger_value - champion_value,
        lower,
        upper,
        confidence,
        resamples_used: deltas.len(),
        resamples_skipped: total - deltas.len(),
        verdict,
    })
}

/// The resample indices, one resample at a time: seeded draws are made as they are needed
/// (a million resamples of a million rows never sit in memory together); given ones are
/// checked against the window sizes up front.
struct Draws<'a> {
    source: DrawSource<'a>,
    count: usize,
    champion: Vec<usize>,
    challenger: Vec<usize>,
}

enum DrawSource<'a> {
    Seeded { rng: Box<ChaCha8Rng>, pairing: Pairing, n_champion: usize, n_challenger: usize },
    Paired(&'a [Vec<usize>]),
    Unpaired(&'a [(Vec<usize>, Vec<usize>)]),
}

impl<'a> Draws<'a> {
    fn new(
        resamples: &'a Resamples,
        pairing: Pairing,
        n_champion: usize,
        n_challenger: usize,
    ) -> Result<Self, CompareError> {
        let (source, count) = match (resamples, pairing) {
            (Resamples::Seeded { seed, count }, _) => {
                let rng = Box::new(ChaCha8Rng::seed_from_u64(*seed));
                (DrawSource::Seeded { rng, pairing, n_champion, n_challenger }, *count)
            }
            (Resamples::Paired(given), Pairing::Paired) => {
                for (resample, rows) in given.iter().enumerate() {
                    check_rows(resample, Version::Champion, rows, n_champion)?;
                }
                (DrawSource::Paired(given), given.len())
            }
            (Resamples::Unpaired(given), Pairing::Unpaired) => {
                for (resample, (a, b)) in given.iter().enumerate() {
                    check_rows(resample, Version::Champion, a, n_champion)?;
                    check_rows(resample, Version::Challenger, b, n_challenger)?;
                }
                (DrawSource::Unpaired(given), given.len())
            }
            (Resamples::Paired(_), Pairing::Unpaired) => {
                return Err(CompareError::ResamplesDoNotMatchPairing { given: Pairing::Paired, pairing });
            }
            (Resamples::Unpaired(_), Pairing::Paired) => {
                return Err(CompareError::ResamplesDoNotMatchPairing { given: Pairing::Unpaired, pairing });
            }
        };
        if count == 0 {
            return Err(CompareError::NoResamples);
        }
        Ok(Self { source, count, champion: Vec::new(), challenger: Vec::new() })
    }

    fn len(&self) -> usize {
        self.count
    }

    /// The rows of resample `k`; seeded draws must be asked for in order 0, 1, 2…
    fn get(&mut self, k: usize) -> (&[usize], &[usize]) {
        match &mut self.source {
            DrawSource::Seeded { rng, pairing, n_champion, n_challenger } => {
                self.champion.clear();
                self.champion.extend((0..*n_champion).map(|_| rng.random_range(0..*n_champion)));
                if *pairing == Pairing::Paired {
                    return (&self.champion, &self.champion);
                }
                self.challenger.clear();
                self.challenger.extend((0..*n_challenger).map(|_| rng.random_range(0..*n_challenger)));
                (&self.champion, &self.challenger)
            }
            DrawSource::Paired(given) => (&given[k], &given[k]),
            DrawSource::Unpaired(given) => (&given[k].0, &given[k].1),
        }
    }
}

/// A given resample draws as many rows as the window has, each one it has.
fn check_rows(resample: usize, which: Version, rows: &[usize], len: usize) -> Result<(), CompareError> {
    if rows.len() != len {
        return Err(CompareError::ResampleLength { resample, which, expected: len, actual: rows.len() });
    }
    match rows.iter().find(|&&i| i >= len) {
        Some(&index) => Err(CompareError::ResampleIndexOutOfRange { resample, which, index, len }),
        None => Ok(()),
    }
}

/// numpy's default `quantile(sorted, q)` ("linear", Hyndman–Fan type 7), including its
/// two-sided interpolation that keeps the result between neighbours exactly.
fn quantile_linear(sorted: &[f64], q: f64) -> f64 {
    let last = sorted.len() - 1;
    let position = super::count(last) * q;
    // position is in [0, last], so the floor is a valid index.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let below = (position.floor() as usize).min(last);
    let above = (below + 1).min(last);
    let gamma = position - position.floor();
    let (a, b) = (sorted[below], sorted[above]);
    let diff = b - a;
    if gamma >= 0.5 { b - diff * (1.0 - gamma) } else { a + diff * gamma }
}

#[cfg(test)]
mod tests {
    use super::quantile_linear;

    #[test]
    fn quantiles_interpolate_as_numpy() {
        let v = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile_linear(&v, 0.0), 1.0);
        assert_eq!(quantile_linear(&v, 1.0), 8.0);
        assert_eq!(quantile_linear(&v, 0.5), 3.0);
        assert_eq!(quantile_linear(&v, 0.25), 1.75);
        assert_eq!(quantile_linear(&[5.0], 0.975), 5.0);
    }
}
