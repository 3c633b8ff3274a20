//! Predictions and TreeSHAP against xgboost's own `predict` on the committed fixtures.

use sightline_explain::TreeShap;

use crate::fixtures::ALL;

/// XGBoost sums leaves and computes TreeSHAP in float32; we use f64 throughout. The
/// difference is float32 rounding over a few dozen terms, so values agree to this
/// relative tolerance, with an absolute floor for values near zero that are differences
/// of larger float32 numbers.
const RELATIVE: f64 = 1e-5;
const ABSOLUTE: f64 = 1e-6;

#[derive(Default)]
struct Worst {
    margin: f64,
    contrib: f64,
}

fn close(ours: f64, theirs: f64) -> bool {
    (ours - theirs).abs() <= ABSOLUTE + RELATIVE * theirs.abs()
}

/// Error relative to the value, floored at 1 so tiny values report absolute error.
fn error(ours: f64, theirs: f64) -> f64 {
    (ours - theirs).abs() / theirs.abs().max(1.0)
}

/// Compares margins, predictions, attributions and expected values of the fixture
/// `name` with xgboost's, row by row, and prints the worst errors seen.
fn check(name: &str) {
    let fixture = ALL.iter().find(|f| f.name == name).expect("fixture exists");
    let ensemble = fixture.ensemble();
    let case = fixture.case();
    assert_eq!(ensemble.objective(), case.objective, "{}", fixture.name);
    assert_eq!(ensemble.num_features(), case.num_features, "{}", fixture.name);
    let shap = TreeShap::new(&ensemble).expect("covers are positive");
    let mut worst = Worst::default();
    for (index, expected_margin) in case.margin.iter().enumerate() {
        let row = case.row(index);
        let at = format!("{} row {index} {row:?}", fixture.name);

        let margin = ensemble.predict_margin(&row).expect("row fits");
        assert_eq!(margin.len(), expected_margin.len(), "{at}");
        for (output, (&ours, &theirs)) in margin.iter().zip(expected_margin).enumerate() {
            assert!(close(ours, theirs), "{at} output {output}: margin {ours} vs xgboost {theirs}");
            worst.margin = worst.margin.max(error(ours, theirs));
        }

        let prediction = ensemble.predict(&row).expect("row fits");
        for (output, (&ours, &theirs)) in prediction.iter().zip(&case.prediction[index]).enumerate() {
            assert!(close(ours, theirs), "{at} output {output}: prediction {ours} vs xgboost {theirs}");
        }

        let attributions = shap.explain(&row).expect("additive");
        assert_eq!(attributions.num_outputs(), case.contribs[index].len(), "{at}");
        for (output, expected) in case.contribs[index].iter().enumerate() {
            let (features, bias) = expected.split_at(case.num_features);
            let values = attributions.values(output);
            for (feature, (&ours, &theirs)) in values.iter().zip(features).enumerate() {
                assert!(close(ours, theirs), "{at} output {output} feature {feature}: shap {ours} vs xgboost {theirs}");
                worst.contrib = worst.contrib.max(error(ours, theirs));
            }
            let ours = attributions.expected_value(output);
            assert!(close(ours, bias[0]), "{at} output {output}: expected value {ours} vs xgboost {}", bias[0]);
            worst.contrib = worst.contrib.max(error(ours, bias[0]));
        }
    }
    eprintln!(
        "{}: worst margin error {:.2e}, worst contribution error {:.2e}",
        fixture.name, worst.margin, worst.contrib
    );
}

#[test]
fn binary_logistic() {
    check("binary");
}

#[test]
fn multiclass_softprob() {
    check("multiclass");
}

#[test]
fn regression_squarederror() {
    check("regression");
}

#[test]
fn random_forest() {
    check("forest");
}

#[test]
fn count_poisson() {
    check("poisson");
}
