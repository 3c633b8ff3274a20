//! Champion/challenger bootstrap against the numpy bootstrap of `tests/reference/compare.py`,
//! replaying the same resample indices.

use serde::Deserialize;
use sightline_stats::performance::{
    BinaryMetric, BinaryRecord, BootstrapOptions, Comparison, Decision, Pairing, RegressionMetric, RegressionRecord,
    Resamples, Verdict, compare_binary, compare_regression,
};

const FIXTURES: &str = include_str!("../fixtures/compare.json");

#[derive(Debug, Deserialize)]
struct Fixtures {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    task: String,
    metric: String,
    pairing: String,
    confidence: f64,
    champion: Window,
    challenger: Window,
    resamples: serde_json::Value,
    expected: Expected,
}

#[derive(Debug, Deserialize)]
struct Window {
    labels: Vec<f64>,
    #[serde(alias = "predictions")]
    scores: Vec<f64>,
}

#[derive(Debug, Deserialize)]
struct Expected {
    champion: f64,
    challenger: f64,
    delta: f64,
    lower: f64,
    upper: f64,
    used: usize,
    skipped: usize,
    verdict: String,
}

fn binary_records(w: &Window) -> Vec<BinaryRecord> {
    (w.labels.iter().zip(&w.scores))
        .map(|(&label, &score)| BinaryRecord { label: label == 1.0, prediction: false, score })
        .collect()
}

fn regression_records(w: &Window) -> Vec<RegressionRecord> {
    (w.labels.iter().zip(&w.scores)).map(|(&label, &prediction)| RegressionRecord { label, prediction }).collect()
}

/// 1e-12 relative (or absolute near zero): each resample's metric is a ratio of sums.
#[track_caller]
fn check(case: &str, what: &str, actual: f64, expected: f64) {
    let diff = (actual - expected).abs();
    assert!(diff <= 1e-12 || diff <= 1e-12 * expected.abs(), "{case}: {what} = {actual:e}, numpy {expected:e}");
}

fn run(case: &Case) -> Comparison {
    let (pairing, resamples) = match case.pairing.as_str() {
        "paired" => (Pairing::Paired, Resamples::Paired(serde_json::from_value(case.resamples.clone()).expect("rows"))),
        _ => (Pairing::Unpaired, Resamples::Unpaired(serde_json::from_value(case.resamples.clone()).expect("pairs"))),
    };
    let options = BootstrapOptions { confidence: case.confidence, resamples };
    let result = if case.task == "binary" {
        let metric = match case.metric.as_str() {
            "accuracy" => BinaryMetric::Accuracy,
            "f1" => BinaryMetric::F1,
            "roc_auc" => BinaryMetric::RocAuc,
            "log_loss" => BinaryMetric::LogLoss,
            other => panic!("unknown metric {other}"),
        };
        let (a, b) = (binary_records(&case.champion), binary_records(&case.challenger));
        compare_binary(&a, &b, pairing, metric, Decision::Threshold(0.5), &options)
    } else {
        let metric = match case.metric.as_str() {
            "mae" => RegressionMetric::Mae,
            "r2" => RegressionMetric::R2,
            other => panic!("unknown metric {other}"),
        };
        compare_regression(
            &regression_records(&case.champion),
            &regression_records(&case.challenger),
            pairing,
            metric,
            &options,
        )
    };
    result.expect("valid fixture")
}

#[test]
fn bootstrap_matches_numpy_on_the_same_resamples() {
    let fixtures: Fixtures = serde_json::from_str(FIXTURES).expect("fixtures parse");
    assert!(fixtures.cases.len() >= 7, "compare fixtures went missing");
    for case in &fixtures.cases {
        let name = case.name.as_str();
        let c = run(case);
        let e = &case.expected;
        check(name, "champion", c.champion, e.champion);
        check(name, "challenger", c.challenger, e.challenger);
        check(name, "delta", c.delta, e.delta);
        check(name, "lower", c.lower, e.lower);
        check(name, "upper", c.upper, e.upper);
        assert_eq!((c.resamples_used, c.resamples_skipped), (e.used, e.skipped), "{name}: resamples");
        let verdict = match e.verdict.as_str() {
            "better" => Verdict::ChallengerBetter,
            "worse" => Verdict::ChallengerWorse,
            _ => Verdict::NoSignificantDifference,
        };
        assert_eq!(c.verdict, verdict, "{name}: verdict");
    }
}
