//! Probability quality: log loss, Brier score and expected calibration error.

/// Number of equal-width bins over [0, 1] for the expected calibration error.
pub const ECE_BINS: usize = 10;

/// The clipping bound of log loss: scikit-learn (since 1.5, still in 1.9) clips every
/// probability to `[eps, 1 - eps]` with eps the float64 machine epsilon, so a confident
/// wrong answer costs about 36.04 instead of infinity.
const LOG_LOSS_EPS: f64 = f64::EPSILON;

/// One record's log loss given the probability it gave to the class that happened.
///
/// Clipping happens after the complement is taken (`1 - p` for a negative), as
/// scikit-learn does, so the result matches it bit for bit on the clipped extremes.
pub(super) fn log_loss_term(probability_of_truth: f64) -> f64 {
    -probability_of_truth.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS).ln()
}

/// Accumulates the expected calibration error of binary scores.
///
/// Definition (scikit-learn has none): scores fall in [`ECE_BINS`] equal-width bins,
/// bin `b` holding the scores with `b <= 10·s < b + 1` and the last bin also holding
/// `s = 1`; then `ECE = Σ_b (n_b / n) · |mean label in b − mean score in b|`, empty bins
/// contributing nothing. This is the positive-class calibration error a reliability
/// diagram shows, not the top-label variant.
#[derive(Debug, Default)]
pub(super) struct CalibrationBins {
    count: [usize; ECE_BINS],
    positives: [f64; ECE_BINS],
    scores: [f64; ECE_BINS],
}

impl CalibrationBins {
    /// Adds one record; `score` is already checked to be in [0, 1].
    pub(super) fn add(&mut self, label: bool, score: f64) {
        // Truncation is the binning rule itself; the clamp puts s = 1 in the last bin.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bin = ((score * ECE_BINS as f64).floor() as usize).min(ECE_BINS - 1);
        self.count[bin] += 1;
        self.positives[bin] += f64::from(u8::from(label));
        self.scores[bin] += score;
    }

    /// The error over `n` records, `None` for an empty window.
    pub(super) fn expected_calibration_error(&self, n: usize) -> Option<f64> {
        if n == 0 {
            return None;
        }
        let n = super::count(n);
        let mut total = 0.0;
        for b in 0..ECE_BINS {
            if self.count[b] > 0 {
                let in_bin = super::count(self.count[b]);
                let gap = (self.positives[b] / in_bin - self.scores[b] / in_bin).abs();
                total += in_bin / n * gap;
            }
        }
        Some(total)
    }
}
