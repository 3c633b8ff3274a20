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

#[cfg(test)]
mod tests {
    use super::{CalibrationBins, log_loss_term};

    #[test]
    fn a_score_of_one_lands_in_the_last_bin_and_bin_edges_open_their_bin() {
        let mut bins = CalibrationBins::default();
        for s in [0.0, 0.3, 0.9, 1.0] {
            bins.add(true, s);
        }
        assert_eq!(bins.count, [1, 0, 0, 1, 0, 0, 0, 0, 0, 2]);
    }

    #[test]
    fn calibration_error_weighs_each_bin_by_its_share() {
        let mut bins = CalibrationBins::default();
        // Bin 2: mean score 0.25, one positive in two (gap 0.25); bin 9: score 1, positive (gap 0).
        bins.add(true, 0.2);
        bins.add(false, 0.3 - 0.01);
        bins.add(true, 1.0);
        let ece = bins.expected_calibration_error(3).unwrap_or(f64::NAN);
        let expected = 2.0 / 3.0 * (0.5 - (0.2 + 0.29) / 2.0);
        assert!((ece - expected).abs() < 1e-15, "{ece} vs {expected}");
        assert_eq!(CalibrationBins::default().expected_calibration_error(0), None);
    }

    #[test]
    fn log_loss_is_clipped_not_infinite() {
        assert_eq!(log_loss_term(0.0), -f64::EPSILON.ln());
        assert_eq!(log_loss_term(1.0), -(1.0 - f64::EPSILON).ln());
    }
}
