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

mod properties {
    use proptest::prelude::*;
    use sightline_stats::performance::IsotonicRegression;

    /// Points on a coarse grid, so equal x values (merged runs) are common.
    fn points() -> impl Strategy<Value = Vec<(f64, f64, f64)>> {
        prop::collection::vec(
            (0_u32..40, -50_i32..50, 1_u32..5).prop_map(|(x, y, w)| (f64::from(x) / 4.0, f64::from(y), f64::from(w))),
            1..60,
        )
    }

    proptest! {
        #[test]
        fn the_fit_is_monotone_bounded_and_keeps_the_weighted_mean(points in points(), queries in prop::collection::vec(-2.0..12.0_f64, 1..20)) {
            let x: Vec<f64> = points.iter().map(|p| p.0).collect();
            let y: Vec<f64> = points.iter().map(|p| p.1).collect();
            let w: Vec<f64> = points.iter().map(|p| p.2).collect();
            let fit = IsotonicRegression::fit(&x, &y, Some(&w)).expect("valid input");
            let (lo, hi) = y.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let mut sorted = queries.clone();
            sorted.sort_by(f64::total_cmp);
            let predicted: Vec<f64> = sorted.iter().map(|&q| fit.predict(q).expect("finite")).collect();
            for pair in predicted.windows(2) {
                prop_assert!(pair[0] <= pair[1] + 1e-9, "{predicted:?}");
            }
            for v in &predicted {
                prop_assert!(lo - 1e-9 <= *v && *v <= hi + 1e-9);
            }
            // Pooling keeps every block's weighted mean, so the overall one is kept too.
            let total: f64 = w.iter().sum();
            let mean = x.iter().zip(&y).zip(&w).map(|((_, y), w)| y * w).sum::<f64>() / total;
            let fitted = x.iter().zip(&w).map(|(&x, w)| fit.predict(x).expect("finite") * w).sum::<f64>() / total;
            prop_assert!((mean - fitted).abs() <= 1e-9 * (1.0 + mean.abs()), "{mean} vs {fitted}");
        }
    }
}
