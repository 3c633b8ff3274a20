//! Isotonic regression against scikit-learn on the committed fixtures from `tests/reference/isotonic.py`.

use serde::Deserialize;
use sightline_stats::performance::IsotonicRegression;

const FIXTURES: &str = include_str!("../fixtures/isotonic.json");

#[derive(Debug, Deserialize)]
struct Fixtures {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    weights: Option<Vec<f64>>,
    x_thresholds: Vec<f64>,
    y_thresholds: Vec<f64>,
    queries: Vec<f64>,
    predictions: Vec<f64>,
}

/// Agreement to 1e-12, absolute or relative: the fit is a ratio of sums, so only the
/// summation order may differ from scipy's.
#[track_caller]
fn check(case: &str, what: &str, actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{case}: {what} length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let diff = (a - e).abs();
        assert!(diff <= 1e-12 || diff <= 1e-12 * e.abs(), "{case}: {what}[{i}] = {a:e}, reference {e:e}");
    }
}

#[test]
fn isotonic_regression_matches_sklearn() {
    let cases: Fixtures = serde_json::from_str(FIXTURES).expect("fixtures parse");
    assert!(cases.cases.len() >= 10, "isotonic fixtures went missing");
    for case in cases.cases {
        let fit = IsotonicRegression::fit(&case.x, &case.y, case.weights.as_deref()).expect("valid fixture");
        check(&case.name, "x_thresholds", fit.x_thresholds(), &case.x_thresholds);
        check(&case.name, "y_thresholds", fit.y_thresholds(), &case.y_thresholds);
        let predicted: Vec<f64> = case.queries.iter().map(|&q| fit.predict(q).expect("finite query")).collect();
        check(&case.name, "predictions", &predicted, &case.predictions);
    }
}
