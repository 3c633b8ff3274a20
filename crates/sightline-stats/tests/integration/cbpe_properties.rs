//! CBPE's promise on data where it should hold: covariate shift without concept shift.
//!
//! Two features move (mean and spread) between the reference and the analysis windows,
//! while the probability of the positive class given the features stays the same and the
//! model's score is a fixed, miscalibrated function of them. Calibrated on the reference,
//! the estimates must then track the realized metrics of each shifted window.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sightline_stats::performance::{
    self, BinaryMetrics, BinaryRecord, Calibration, CalibrationSplits, Cbpe, CbpeEstimate, Decision, ScoredRecord,
};

/// The acceptance bound on |estimated − realized|.
const TOLERANCE: f64 = 0.02;
const WINDOW: usize = 20_000;

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// A standard normal draw (Box–Muller), so the test needs no distribution crate.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 − u is in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `n` labelled records with features drawn around `mean` with spread `scale`.
///
/// The label depends on the features only through z = x1 − 0.7·x2, with a fixed link (no
/// concept shift); the model scores sigmoid(2z + 0.4), overconfident and biased, so
/// calibration is needed and P(label | score) is the same in every window.
fn population(rng: &mut ChaCha8Rng, n: usize, mean: f64, scale: f64) -> Vec<BinaryRecord> {
    (0..n)
        .map(|_| {
            let x1 = mean + scale * normal(rng);
            let x2 = -0.5 * mean + scale * normal(rng);
            let z = x1 - 0.7 * x2;
            let label = rng.random::<f64>() < sigmoid(1.1 * z - 0.3);
            let score = sigmoid(2.0 * z + 0.4);
            BinaryRecord { label, prediction: score >= 0.5, score }
        })
        .collect()
}

fn unlabelled(records: &[BinaryRecord]) -> Vec<ScoredRecord> {
    records.iter().map(|r| ScoredRecord { prediction: r.prediction, score: r.score }).collect()
}

/// (name, estimated, realized) for every metric the issue names.
fn pairs(e: &CbpeEstimate, m: &BinaryMetrics) -> Vec<(&'static str, f64, f64)> {
    let realized = |v: Option<f64>| v.unwrap_or(f64::NAN);
    vec![
        ("accuracy", e.accuracy, realized(m.accuracy)),
        ("precision", e.precision, realized(m.precision)),
        ("recall", e.recall, realized(m.recall)),
        ("f1", e.f1, realized(m.f1)),
        ("specificity", e.specificity, realized(m.specificity)),
        ("roc_auc", e.roc_auc.unwrap_or(f64::NAN), realized(m.roc_auc)),
    ]
}

#[test]
fn estimates_track_realized_metrics_under_covariate_shift() {
    let mut rng = ChaCha8Rng::seed_from_u64(20_261_127);
    let reference = population(&mut rng, WINDOW, 0.0, 1.0);
    let calibration = Calibration::Auto(CalibrationSplits::Seeded { seed: 42 });
    let cbpe = Cbpe::fit(&reference, Decision::Logged, calibration).expect("valid reference");
    assert!(cbpe.is_calibrated(), "the overconfident model must be calibrated");
    let uncalibrated = Cbpe::fit(&reference, Decision::Logged, Calibration::Never).expect("valid reference");

    let mut realized_accuracy = Vec::new();
    let mut worst_uncalibrated: f64 = 0.0;
    for (mean, scale) in [(0.0, 1.0), (0.5, 1.0), (1.0, 1.3), (-0.8, 0.7)] {
        let window = population(&mut rng, WINDOW, mean, scale);
        let realized = performance::binary(&window, Decision::Logged).expect("valid window");
        let estimated = cbpe.estimate(&unlabelled(&window)).expect("valid window");
        for (metric, e, r) in pairs(&estimated, &realized) {
            assert!((e - r).abs() <= TOLERANCE, "shift ({mean}, {scale}): {metric} estimated {e}, realized {r}");
        }
        let raw = uncalibrated.estimate(&unlabelled(&window)).expect("valid window");
        for (_, e, r) in pairs(&raw, &realized) {
            worst_uncalibrated = worst_uncalibrated.max((e - r).abs());
        }
        realized_accuracy.push(realized.accuracy.unwrap_or(f64::NAN));
    }
    // The shift must matter, or tracking it would prove nothing; and calibration must be
    // what makes the estimates right.
    let spread = realized_accuracy.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - realized_accuracy.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(spread > 3.0 * TOLERANCE, "realized accuracy barely moved: {realized_accuracy:?}");
    assert!(worst_uncalibrated > 2.0 * TOLERANCE, "raw scores were already good: {worst_uncalibrated}");
}

#[test]
fn seeded_calibration_check_is_deterministic() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let reference = population(&mut rng, 2_000, 0.0, 1.0);
    let fit = |seed| {
        Cbpe::fit(&reference, Decision::Logged, Calibration::Auto(CalibrationSplits::Seeded { seed }))
            .expect("valid reference")
            .calibration_check()
    };
    assert_eq!(fit(3), fit(3));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn estimates_are_probabilities_and_the_matrix_adds_up(
        seed in any::<u64>(),
        scores in prop::collection::vec((0_u32..=100, any::<bool>()), 1..80),
        threshold in 0_u32..=100,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let reference = population(&mut rng, 400, 0.0, 1.0);
        let decision = Decision::Threshold(f64::from(threshold) / 100.0);
        let cbpe = Cbpe::fit(&reference, decision, Calibration::Always).expect("valid reference");
        let window: Vec<ScoredRecord> =
            scores.iter().map(|&(s, prediction)| ScoredRecord { prediction, score: f64::from(s) / 100.0 }).collect();
        let e = cbpe.estimate(&window).expect("valid window");
        let c = e.confusion;
        let total = c.true_positives + c.false_positives + c.false_negatives + c.true_negatives;
        prop_assert!((total - window.len() as f64).abs() < 1e-9, "{c:?}");
        for v in [e.accuracy, e.precision, e.recall, e.f1, e.specificity] {
            prop_assert!((0.0..=1.0).contains(&v), "{v} in {e:?}");
        }
        for v in [e.roc_auc, e.average_precision].into_iter().flatten() {
            prop_assert!((-1e-12..=1.0 + 1e-12).contains(&v), "{v} in {e:?}");
        }
    }
    #[test]
    fn counted_records_estimate_the_same_bits_as_repeated_ones(
        seed in any::<u64>(),
        rows in prop::collection::vec((0_u32..=20, any::<bool>(), 0_usize..6), 1..40),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let reference = population(&mut rng, 400, 0.0, 1.0);
        let cbpe = Cbpe::fit(&reference, Decision::Logged, Calibration::Always).expect("valid reference");
        // Coarse scores, so distinct rows tie on score with other predictions.
        let counted: Vec<(ScoredRecord, usize)> = rows
            .iter()
            .map(|&(s, prediction, n)| (ScoredRecord { prediction, score: f64::from(s) / 20.0 }, n))
            .collect();
        let repeated: Vec<ScoredRecord> =
            counted.iter().flat_map(|&(r, n)| std::iter::repeat_n(r, n)).collect();
        let one_by_one = cbpe.estimate(&repeated);
        let at_once = cbpe.estimate_counted(counted.iter().copied());
        // Exact equality of every figure (or of the error for an empty window).
        prop_assert_eq!(&one_by_one, &at_once);
        prop_assert_eq!(one_by_one.is_ok(), !repeated.is_empty());
    }
}
