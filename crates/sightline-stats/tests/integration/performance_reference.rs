//! Every performance metric against scikit-learn on the committed fixtures from
//! `tests/reference/performance.py`.

use std::collections::BTreeMap;

use serde::Deserialize;
use sightline_stats::performance::{
    self, BinaryMetrics, BinaryRecord, Decision, MulticlassMetrics, MulticlassRecord, RegressionMetrics,
    RegressionRecord,
};

const FIXTURES: &str = include_str!("../fixtures/performance.json");

/// Expected metric values by name; `null` in the file is an undefined metric (`None`).
type Expected = BTreeMap<String, Option<f64>>;

#[derive(Debug, Deserialize)]
struct Fixtures {
    binary: Vec<BinaryCase>,
    multiclass: Vec<MulticlassCase>,
    regression: Vec<RegressionCase>,
}

#[derive(Debug, Deserialize)]
struct BinaryCase {
    name: String,
    labels: Vec<u8>,
    predictions: Vec<u8>,
    scores: Vec<f64>,
    threshold: Option<f64>,
    confusion: [[u64; 2]; 2],
    metrics: Expected,
}

#[derive(Debug, Deserialize)]
struct MulticlassCase {
    name: String,
    n_classes: usize,
    labels: Vec<usize>,
    predictions: Vec<usize>,
    probabilities: Vec<Vec<f64>>,
    confusion: Vec<Vec<u64>>,
    metrics: Expected,
}

#[derive(Debug, Deserialize)]
struct RegressionCase {
    name: String,
    labels: Vec<f64>,
    predictions: Vec<f64>,
    metrics: Expected,
}

fn fixtures() -> Fixtures {
    serde_json::from_str(FIXTURES).expect("fixtures parse")
}

/// Agreement to 1e-9 relative, or 1e-12 absolute near zero.
fn close(actual: f64, expected: f64) -> bool {
    let diff = (actual - expected).abs();
    diff <= 1e-12 || diff <= 1e-9 * expected.abs()
}

/// The one assertion every fixture goes through: the computed metrics, by name, must be
/// exactly the names the reference wrote, each defined (or undefined) as the reference
/// says and close to its value.
#[track_caller]
fn check(case: &str, actual: &[(&str, Option<f64>)], expected: &Expected) {
    let names: Vec<&str> = actual.iter().map(|(name, _)| *name).collect();
    let reference: Vec<&str> = expected.keys().map(String::as_str).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, reference, "{case}: metric names");
    for (name, value) in actual {
        match (value, expected[*name]) {
            (Some(a), Some(e)) => assert!(close(*a, e), "{case}: {name} = {a:e}, reference {e:e}"),
            (None, None) => {}
            (a, e) => panic!("{case}: {name} = {a:?}, reference {e:?}"),
        }
    }
}

fn binary_values(m: &BinaryMetrics) -> Vec<(&'static str, Option<f64>)> {
    vec![
        ("accuracy", m.accuracy),
        ("precision", m.precision),
        ("recall", m.recall),
        ("f1", m.f1),
        ("specificity", m.specificity),
        ("roc_auc", m.roc_auc),
        ("average_precision", m.average_precision),
        ("log_loss", m.log_loss),
        ("brier", m.brier),
        ("expected_calibration_error", m.expected_calibration_error),
    ]
}

fn multiclass_values(m: &MulticlassMetrics) -> Vec<(&'static str, Option<f64>)> {
    vec![
        ("accuracy", m.accuracy),
        ("macro_precision", m.macro_precision),
        ("macro_recall", m.macro_recall),
        ("macro_f1", m.macro_f1),
        ("weighted_precision", m.weighted_precision),
        ("weighted_recall", m.weighted_recall),
        ("weighted_f1", m.weighted_f1),
        ("log_loss", m.log_loss),
    ]
}

fn regression_values(m: &RegressionMetrics) -> Vec<(&'static str, Option<f64>)> {
    vec![("mae", m.mae), ("mse", m.mse), ("rmse", m.rmse), ("mape", m.mape), ("r2", m.r2), ("mean_error", m.mean_error)]
}

#[test]
fn binary_metrics_match_sklearn() {
    let cases = fixtures().binary;
    assert!(cases.len() >= 20, "binary fixtures went missing");
    for case in cases {
        let records: Vec<BinaryRecord> = (case.labels.iter().zip(&case.predictions).zip(&case.scores))
            .map(|((&label, &prediction), &score)| BinaryRecord {
                label: label == 1,
                prediction: prediction == 1,
                score,
            })
            .collect();
        let decision = case.threshold.map_or(Decision::Logged, Decision::Threshold);
        let m = performance::binary(&records, decision).expect("valid fixture");
        assert_eq!(m.count, records.len(), "{}: count", case.name);
        let c = m.confusion;
        let confusion = [[c.true_negatives, c.false_positives], [c.false_negatives, c.true_positives]];
        assert_eq!(confusion, case.confusion, "{}: confusion matrix", case.name);
        check(&case.name, &binary_values(&m), &case.metrics);
    }
}

#[test]
fn multiclass_metrics_match_sklearn() {
    let cases = fixtures().multiclass;
    assert!(cases.len() >= 10, "multiclass fixtures went missing");
    for case in cases {
        let records: Vec<MulticlassRecord<'_>> = (case.labels.iter().zip(&case.predictions).zip(&case.probabilities))
            .map(|((&label, &prediction), probabilities)| MulticlassRecord { label, prediction, probabilities })
            .collect();
        let m = performance::multiclass(&records, case.n_classes).expect("valid fixture");
        assert_eq!(m.confusion, case.confusion, "{}: confusion matrix", case.name);
        check(&case.name, &multiclass_values(&m), &case.metrics);
    }
}

#[test]
fn regression_metrics_match_sklearn() {
    let cases = fixtures().regression;
    assert!(cases.len() >= 10, "regression fixtures went missing");
    for case in cases {
        let records: Vec<RegressionRecord> = (case.labels.iter().zip(&case.predictions))
            .map(|(&label, &prediction)| RegressionRecord { label, prediction })
            .collect();
        let m = performance::regression(&records).expect("valid fixture");
        check(&case.name, &regression_values(&m), &case.metrics);
    }
}
