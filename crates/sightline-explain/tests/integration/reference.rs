//! Predictions and TreeSHAP against each library's own `predict` on the committed fixtures.

use sightline_explain::TreeShap;

use crate::fixtures::{ALL, Library};

/// How closely our numbers must match the library's.
struct Tolerance {
    relative: f64,
    /// Floor for values near zero, which are differences of larger numbers.
    absolute: f64,
}

impl Tolerance {
    fn of(library: Library) -> Self {
        match library {
            // XGBoost sums leaves and computes TreeSHAP in float32; we use f64
            // throughout. The difference is float32 rounding over a few dozen terms.
            Library::XGBoost => Tolerance { relative: 1e-5, absolute: 1e-6 },
            // LightGBM computes in double as we do; only the order of operations differs.
            Library::LightGBM => Tolerance { relative: 1e-9, absolute: 1e-12 },
        }
    }

    fn close(&self, ours: f64, theirs: f64) -> bool {
        (ours - theirs).abs() <= self.absolute + self.relative * theirs.abs()
    }
}

#[derive(Default)]
struct Worst {
    margin: f64,
    contrib: f64,
}

/// Error relative to the value, floored at 1 so tiny values report absolute error.
fn error(ours: f64, theirs: f64) -> f64 {
    (ours - theirs).abs() / theirs.abs().max(1.0)
}

/// Compares margins, predictions, attributions and expected values of the fixture
/// `name` with its library's, row by row, and prints the worst errors seen.
fn check(name: &str) {
    let fixture = ALL.iter().find(|f| f.name == name).expect("fixture exists");
    let library = format!("{:?}", fixture.library).to_lowercase();
    let tolerance = Tolerance::of(fixture.library);
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
        let expected_margin = expected_margin.iter().map(|v| v / case.raw_divisor);
        for (output, (&ours, theirs)) in margin.iter().zip(expected_margin).enumerate() {
            assert!(tolerance.close(ours, theirs), "{at} output {output}: margin {ours} vs {library} {theirs}");
            worst.margin = worst.margin.max(error(ours, theirs));
        }

        let prediction = ensemble.predict(&row).expect("row fits");
        for (output, (&ours, &theirs)) in prediction.iter().zip(&case.prediction[index]).enumerate() {
            assert!(tolerance.close(ours, theirs), "{at} output {output}: prediction {ours} vs {library} {theirs}");
        }

        let attributions = shap.explain(&row).expect("additive");
        assert_eq!(attributions.num_outputs(), case.contribs[index].len(), "{at}");
        for (output, expected) in case.contribs[index].iter().enumerate() {
            let expected: Vec<f64> = expected.iter().map(|v| v / case.raw_divisor).collect();
            let (features, bias) = expected.split_at(case.num_features);
            let values = attributions.values(output);
            for (feature, (&ours, &theirs)) in values.iter().zip(features).enumerate() {
                assert!(
                    tolerance.close(ours, theirs),
                    "{at} output {output} feature {feature}: shap {ours} vs {library} {theirs}"
                );
                worst.contrib = worst.contrib.max(error(ours, theirs));
            }
            let ours = attributions.expected_value(output);
            assert!(
                tolerance.close(ours, bias[0]),
                "{at} output {output}: expected value {ours} vs {library} {}",
                bias[0]
            );
            worst.contrib = worst.contrib.max(error(ours, bias[0]));
        }
    }
    // The batch walk (trees outer, rows inner) gives the same bits as row by row.
    let rows: Vec<Vec<f64>> = (0..case.margin.len()).map(|index| case.row(index)).collect();
    let batch = shap.explain_batch(&rows).expect("additive");
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(batch[index], shap.explain(row).expect("additive"), "{} row {index}", fixture.name);
    }
    eprintln!(
        "{}: worst margin error {:.2e}, worst contribution error {:.2e}",
        fixture.name, worst.margin, worst.contrib
    );
}

#[test]
fn xgboost_binary_logistic() {
    check("binary");
}

#[test]
fn xgboost_multiclass_softprob() {
    check("multiclass");
}

#[test]
fn xgboost_regression_squarederror() {
    check("regression");
}

#[test]
fn xgboost_random_forest() {
    check("forest");
}

#[test]
fn xgboost_count_poisson() {
    check("poisson");
}

/// The same models saved as UBJSON (`save_model("m.ubj")`) against the same cases,
/// which the generator checked xgboost answers identically for both files.
#[test]
fn xgboost_ubj_binary_multiclass_regression_forest() {
    for name in ["binary_ubj", "multiclass_ubj", "regression_ubj", "forest_ubj"] {
        check(name);
    }
}

#[test]
fn lightgbm_binary() {
    check("lightgbm_binary");
}

#[test]
fn lightgbm_multiclass() {
    check("lightgbm_multiclass");
}

/// A sigmoid per class (`Link::Logit` on each output).
#[test]
fn lightgbm_multiclass_one_vs_all() {
    check("lightgbm_multiclassova");
}

#[test]
fn lightgbm_poisson() {
    check("lightgbm_poisson");
}

/// Trained with `zero_as_missing`: splits of missing type Zero.
#[test]
fn lightgbm_regression() {
    check("lightgbm_regression");
}

/// Random-forest mode (`average_output`).
#[test]
fn lightgbm_random_forest() {
    check("lightgbm_forest");
}

/// Bitset splits on two categorical features.
#[test]
fn lightgbm_categorical() {
    check("lightgbm_categorical");
}
