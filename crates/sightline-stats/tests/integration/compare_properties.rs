//! Properties of the champion/challenger comparison that hold for any data.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sightline_stats::performance::{
    BinaryMetric, BinaryRecord, BootstrapOptions, CompareError, Decision, Pairing, PerformanceError, RegressionMetric,
    RegressionRecord, Resamples, Verdict, Version, compare_binary, compare_regression,
};

fn options(seed: u64, count: usize) -> BootstrapOptions {
    BootstrapOptions { confidence: 0.95, resamples: Resamples::Seeded { seed, count } }
}

/// Labels and scores of a model whose positives score higher by `separation` on the logit scale.
fn model(rng: &mut ChaCha8Rng, labels: &[bool], separation: f64) -> Vec<BinaryRecord> {
    labels
        .iter()
        .map(|&label| {
            let noise: f64 = rng.random::<f64>() * 4.0 - 2.0;
            let logit = noise + if label { separation } else { -separation };
            let score = 1.0 / (1.0 + (-logit).exp());
            BinaryRecord { label, prediction: score >= 0.5, score }
        })
        .collect()
}

fn labels(rng: &mut ChaCha8Rng, n: usize) -> Vec<bool> {
    (0..n).map(|_| rng.random::<bool>()).collect()
}

const METRICS: [BinaryMetric; 10] = [
    BinaryMetric::Accuracy,
    BinaryMetric::Precision,
    BinaryMetric::Recall,
    BinaryMetric::F1,
    BinaryMetric::Specificity,
    BinaryMetric::RocAuc,
    BinaryMetric::AveragePrecision,
    BinaryMetric::LogLoss,
    BinaryMetric::Brier,
    BinaryMetric::ExpectedCalibrationError,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn identical_models_show_no_difference(seed in any::<u64>(), n in 20_usize..120, metric in 0_usize..10) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let y = labels(&mut rng, n);
        prop_assume!(y.iter().any(|&l| l) && y.iter().any(|&l| !l));
        let records = model(&mut rng, &y, 1.0);
        let c = compare_binary(&records, &records, Pairing::Paired, METRICS[metric], Decision::Logged, &options(seed, 60))
            .expect("valid input");
        prop_assert_eq!(c.delta, 0.0);
        prop_assert!(c.lower <= 0.0 && 0.0 <= c.upper, "{c:?}");
        prop_assert_eq!(c.verdict, Verdict::NoSignificantDifference);
    }

    #[test]
    fn the_same_seed_gives_the_same_interval(seed in any::<u64>(), paired in any::<bool>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let y = labels(&mut rng, 80);
        let (a, b) = (model(&mut rng, &y, 0.5), model(&mut rng, &y, 1.0));
        let pairing = if paired { Pairing::Paired } else { Pairing::Unpaired };
        let run = |s| compare_binary(&a, &b, pairing, BinaryMetric::Accuracy, Decision::Logged, &options(s, 50));
        prop_assert_eq!(run(seed), run(seed));
    }

    #[test]
    fn the_interval_is_ordered_and_every_resample_is_counted(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let y = labels(&mut rng, 60);
        let (a, b) = (model(&mut rng, &y, 0.3), model(&mut rng, &y, 0.6));
        let c = compare_binary(&a, &b, Pairing::Unpaired, BinaryMetric::Brier, Decision::Logged, &options(seed, 40))
            .expect("valid input");
        prop_assert!(c.lower <= c.upper);
        prop_assert_eq!(c.resamples_used + c.resamples_skipped, 40);
    }
}

#[test]
fn a_clearly_better_challenger_is_better_in_both_directions_of_metric() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let y = labels(&mut rng, 400);
    let (weak, strong) = (model(&mut rng, &y, 0.2), model(&mut rng, &y, 2.0));
    for pairing in [Pairing::Paired, Pairing::Unpaired] {
        for metric in [BinaryMetric::Accuracy, BinaryMetric::RocAuc, BinaryMetric::LogLoss, BinaryMetric::Brier] {
            let better = compare_binary(&weak, &strong, pairing, metric, Decision::Logged, &options(5, 200))
                .expect("valid input");
            assert_eq!(better.verdict, Verdict::ChallengerBetter, "{pairing:?} {metric:?}: {better:?}");
            let worse = compare_binary(&strong, &weak, pairing, metric, Decision::Logged, &options(5, 200))
                .expect("valid input");
            assert_eq!(worse.verdict, Verdict::ChallengerWorse, "{pairing:?} {metric:?}: {worse:?}");
        }
    }
}

#[test]
fn pairing_narrows_the_interval_of_correlated_models() {
    // Two models that share most of their noise: pairing cancels it, unpaired cannot.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let rows: Vec<(f64, f64)> = (0..300).map(|_| (rng.random::<f64>() * 10.0, rng.random::<f64>())).collect();
    let champion: Vec<RegressionRecord> =
        rows.iter().map(|&(t, e)| RegressionRecord { label: t, prediction: t + 3.0 * e }).collect();
    let challenger: Vec<RegressionRecord> =
        rows.iter().map(|&(t, e)| RegressionRecord { label: t, prediction: t + 3.0 * e - 0.05 }).collect();
    let width = |pairing| {
        let c = compare_regression(&champion, &challenger, pairing, RegressionMetric::Mae, &options(9, 200))
            .expect("valid input");
        c.upper - c.lower
    };
    assert!(width(Pairing::Paired) * 5.0 < width(Pairing::Unpaired));
}

#[test]
fn bad_input_is_an_error() {
    let r = |label, score| BinaryRecord { label, prediction: score >= 0.5, score };
    let ok = [r(true, 0.9), r(false, 0.2)];
    let metric = BinaryMetric::Accuracy;
    let compare = |a: &[BinaryRecord], b: &[BinaryRecord], pairing, opts: &BootstrapOptions| {
        compare_binary(a, b, pairing, metric, Decision::Logged, opts)
    };
    assert_eq!(
        compare(&[], &ok, Pairing::Unpaired, &options(1, 10)),
        Err(CompareError::EmptyWindow { which: Version::Champion })
    );
    assert_eq!(
        compare(&ok, &ok[..1], Pairing::Paired, &options(1, 10)),
        Err(CompareError::LengthMismatch { champion: 2, challenger: 1 })
    );
    assert_eq!(
        compare(&ok, &[r(false, 0.9), r(false, 0.2)], Pairing::Paired, &options(1, 10)),
        Err(CompareError::LabelMismatch { index: 0 })
    );
    assert_eq!(compare(&ok, &ok, Pairing::Paired, &options(1, 0)), Err(CompareError::NoResamples));
    let bad_confidence = BootstrapOptions { confidence: 1.0, ..options(1, 10) };
    assert_eq!(
        compare(&ok, &ok, Pairing::Paired, &bad_confidence),
        Err(CompareError::InvalidConfidence { confidence: 1.0 })
    );
    assert_eq!(
        compare(&[r(true, f64::NAN)], &ok, Pairing::Unpaired, &options(1, 10)),
        Err(CompareError::Invalid {
            which: Version::Champion,
            source: PerformanceError::NonFinite { index: 0, field: "probability" }
        })
    );
    let out_of_range = BootstrapOptions { confidence: 0.95, resamples: Resamples::Paired(vec![vec![0, 2]]) };
    assert_eq!(
        compare(&ok, &ok, Pairing::Paired, &out_of_range),
        Err(CompareError::ResampleIndexOutOfRange { resample: 0, which: Version::Champion, index: 2, len: 2 })
    );
    let short = BootstrapOptions { confidence: 0.95, resamples: Resamples::Paired(vec![vec![0]]) };
    assert!(matches!(compare(&ok, &ok, Pairing::Paired, &short), Err(CompareError::ResampleLength { .. })));
    assert!(matches!(
        compare(&ok, &ok, Pairing::Unpaired, &short),
        Err(CompareError::ResamplesDoNotMatchPairing { .. })
    ));
    // One class in the whole window: AUC has no value to compare.
    let one_class = [r(true, 0.9), r(true, 0.2)];
    assert_eq!(
        compare_binary(&one_class, &ok, Pairing::Unpaired, BinaryMetric::RocAuc, Decision::Logged, &options(1, 10)),
        Err(CompareError::Undefined { which: Version::Champion })
    );
    let message = CompareError::EmptyWindow { which: Version::Challenger }.to_string();
    assert_eq!(message, "the challenger window is empty");
}
