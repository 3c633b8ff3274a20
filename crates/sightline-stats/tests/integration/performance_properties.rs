//! Invariants of the performance metrics on any window, whatever scikit-learn says.

use proptest::prelude::*;
use sightline_stats::performance::{
    self, BinaryRecord, Decision, MulticlassRecord, PerformanceError, RegressionRecord,
};

/// Tolerance for identities that hold exactly in real numbers but are computed in floats.
const ROUNDING: f64 = 1e-12;

/// The largest log loss a record can cost: `-ln(eps)` after scikit-learn's clipping.
const MAX_LOG_LOSS: f64 = 36.05;

/// Binary records with scores on a 1/100 grid, so ties are common and `1 - s` is exact
/// enough to keep distinct scores distinct.
fn binary_records() -> impl Strategy<Value = Vec<BinaryRecord>> {
    prop::collection::vec(
        (any::<bool>(), any::<bool>(), 0_u32..=100).prop_map(|(label, prediction, s)| BinaryRecord {
            label,
            prediction,
            score: f64::from(s) / 100.0,
        }),
        0..60,
    )
}

fn in_unit_interval(value: Option<f64>) -> bool {
    value.is_none_or(|v| (0.0..=1.0).contains(&v))
}

proptest! {
    #[test]
    fn binary_metrics_stay_in_range(records in binary_records(), threshold in 0_u32..=100) {
        let decision = Decision::Threshold(f64::from(threshold) / 100.0);
        let m = performance::binary(&records, decision).expect("valid input");
        prop_assert_eq!(m.confusion.total(), records.len() as u64);
        for v in [m.accuracy, m.precision, m.recall, m.f1, m.specificity, m.roc_auc, m.average_precision, m.brier,
                  m.expected_calibration_error] {
            prop_assert!(in_unit_interval(v), "{v:?} outside [0, 1] in {m:?}");
        }
        prop_assert!(m.log_loss.is_none_or(|v| (0.0..=MAX_LOG_LOSS).contains(&v)));
        let both_classes = records.iter().any(|r| r.label) && records.iter().any(|r| !r.label);
        prop_assert_eq!(m.roc_auc.is_some(), both_classes);
        prop_assert_eq!(m.accuracy.is_some(), !records.is_empty());
    }

    #[test]
    fn counted_records_give_the_same_bits_as_repeated_ones(
        records in binary_records(),
        counts in prop::collection::vec(0_usize..5, 60),
        threshold in 0_u32..=100,
    ) {
        let decision = Decision::Threshold(f64::from(threshold) / 100.0);
        let counted: Vec<(BinaryRecord, usize)> = records.iter().copied().zip(counts.iter().copied()).collect();
        let repeated: Vec<BinaryRecord> = counted.iter().flat_map(|&(r, n)| std::iter::repeat_n(r, n)).collect();
        let one_by_one = performance::binary(&repeated, decision).expect("valid input");
        let at_once = performance::binary_counted(counted, decision).expect("valid input");
        prop_assert_eq!(one_by_one, at_once);
    }

    #[test]
    fn reversing_the_scores_mirrors_the_auc(records in binary_records()) {
        let reversed: Vec<BinaryRecord> =
            records.iter().map(|r| BinaryRecord { score: 1.0 - r.score, ..*r }).collect();
        let auc = performance::binary(&records, Decision::Logged).expect("valid input").roc_auc;
        let mirrored = performance::binary(&reversed, Decision::Logged).expect("valid input").roc_auc;
        match (auc, mirrored) {
            (Some(a), Some(b)) => prop_assert!((a + b - 1.0).abs() <= ROUNDING, "{a} + {b} != 1"),
            (a, b) => prop_assert!(a.is_none() && b.is_none()),
        }
    }

    #[test]
    fn logged_decision_counts_the_logged_predictions(records in binary_records()) {
        let m = performance::binary(&records, Decision::Logged).expect("valid input");
        let predicted_positive = records.iter().filter(|r| r.prediction).count() as u64;
        prop_assert_eq!(m.confusion.true_positives + m.confusion.false_positives, predicted_positive);
    }

    #[test]
    fn multiclass_confusion_counts_every_record_and_metrics_stay_in_range(
        k in 2_usize..6,
        rows in prop::collection::vec((0_usize..64, 0_usize..64, prop::collection::vec(0_u32..=10, 6)), 0..60),
    ) {
        let probabilities: Vec<Vec<f64>> =
            rows.iter().map(|(_, _, p)| p[..k].iter().map(|&v| f64::from(v) / 10.0).collect()).collect();
        let records: Vec<MulticlassRecord<'_>> = rows
            .iter()
            .zip(&probabilities)
            .map(|((label, prediction, _), p)| MulticlassRecord {
                label: label % k,
                prediction: prediction % k,
                probabilities: p,
            })
            .collect();
        let m = performance::multiclass(&records, k).expect("valid input");
        prop_assert_eq!(m.confusion.iter().flatten().sum::<u64>(), records.len() as u64);
        for v in [m.accuracy, m.macro_precision, m.macro_recall, m.macro_f1, m.weighted_precision, m.weighted_recall,
                  m.weighted_f1] {
            prop_assert!(in_unit_interval(v), "{v:?} outside [0, 1]");
        }
        prop_assert!(m.log_loss.is_none_or(|v| (0.0..=MAX_LOG_LOSS).contains(&v)));
        // Weighted recall is accuracy: each class's recall weighted by its support is its hits.
        if let (Some(a), Some(r)) = (m.accuracy, m.weighted_recall) {
            prop_assert!((a - r).abs() <= ROUNDING);
        }
    }

    #[test]
    fn regression_metrics_are_consistent(
        pairs in prop::collection::vec((-1000_i32..1000, -1000_i32..1000), 0..60),
    ) {
        let records: Vec<RegressionRecord> = pairs
            .iter()
            .map(|&(y, p)| RegressionRecord { label: f64::from(y) / 8.0, prediction: f64::from(p) / 8.0 })
            .collect();
        let m = performance::regression(&records).expect("valid input");
        if let (Some(mae), Some(mse), Some(rmse), Some(bias)) = (m.mae, m.mse, m.rmse, m.mean_error) {
            prop_assert!(mae >= 0.0 && mse >= 0.0);
            prop_assert!((rmse * rmse - mse).abs() <= ROUNDING * mse.max(1.0));
            // Jensen: the root mean square is at least the mean absolute error, which bounds the bias.
            prop_assert!(rmse + ROUNDING * rmse.max(1.0) >= mae);
            prop_assert!(bias.abs() <= mae + ROUNDING * mae.max(1.0));
        } else {
            prop_assert!(records.is_empty());
        }
        prop_assert!(m.r2.is_none_or(|r2| r2 <= 1.0 + ROUNDING));
        prop_assert_eq!(m.r2.is_some(), records.len() >= 2);
    }
}

#[test]
fn bad_input_is_an_error_naming_the_record() {
    let record = |score| BinaryRecord { label: true, prediction: true, score };
    assert_eq!(
        performance::binary(&[record(0.5), record(f64::NAN)], Decision::Logged),
        Err(PerformanceError::NonFinite { index: 1, field: "probability" })
    );
    assert_eq!(
        performance::binary(&[record(1.5)], Decision::Logged),
        Err(PerformanceError::ProbabilityOutOfRange { index: 0, value: 1.5 })
    );
    assert!(matches!(
        performance::binary(&[record(0.5)], Decision::Threshold(f64::NAN)),
        Err(PerformanceError::InvalidThreshold { .. })
    ));
    let p = [0.5, 0.5];
    assert_eq!(
        performance::multiclass(&[MulticlassRecord { label: 2, prediction: 0, probabilities: &p }], 2),
        Err(PerformanceError::UnknownClass { index: 0, class: 2, n_classes: 2 })
    );
    assert_eq!(
        performance::multiclass(&[MulticlassRecord { label: 0, prediction: 0, probabilities: &p }], 3),
        Err(PerformanceError::ProbabilityCount { index: 0, expected: 3, actual: 2 })
    );
    assert_eq!(performance::multiclass(&[], 1), Err(PerformanceError::TooFewClasses { n_classes: 1 }));
    assert_eq!(
        performance::regression(&[RegressionRecord { label: 1.0, prediction: f64::INFINITY }]),
        Err(PerformanceError::NonFinite { index: 0, field: "prediction" })
    );
}
