//! ONNX tree ensembles against onnxruntime's outputs and, for scikit-learn models, shap's
//! path-dependent TreeExplainer on the original model (fixtures from
//! tests/reference/explain_onnx.py).
//!
//! Tolerances: onnxruntime sums float32 weights in float32, so predictions agree to
//! float32 rounding (1e-5 relative). shap explains the scikit-learn model, whose leaves
//! are float64 where the ONNX file keeps float32, so attributions agree to the rounding
//! of the leaf values (1e-6 relative to the largest attribution of the row); the covers
//! are our counts of the training rows, which are scikit-learn's `n_node_samples`.

use serde::Deserialize;
use sightline_explain::{TreeShap, formats::onnx};

use crate::fixtures;

#[derive(Deserialize)]
struct Case {
    num_features: usize,
    background: Vec<Vec<Option<f64>>>,
    rows: Vec<Vec<Option<f64>>>,
    /// `[row][output]`: onnxruntime's probabilities (of the second class only for the
    /// binary case) or regression values.
    onnx_output: Vec<Vec<f64>>,
    /// The training library's margin, where it has one.
    reference_margin: Option<Vec<Vec<f64>>>,
    /// `[row][output][feature]` from shap, where it explains the model.
    contribs: Option<Vec<Vec<Vec<f64>>>>,
    expected_value: Option<Vec<f64>>,
}

fn close(ours: f64, theirs: f64, relative: f64, scale: f64) -> bool {
    (ours - theirs).abs() <= relative * scale.max(theirs.abs()).max(1e-1)
}

/// Loads `<name>.onnx` and checks it against its case; returns the worst relative
/// errors of predictions and attributions seen.
fn check(name: &str, model: &[u8], case: &str) {
    let case: Case = serde_json::from_str(case).expect("case parses");
    let ensemble = onnx::load(model).expect("model loads");
    assert_eq!(ensemble.num_features(), case.num_features, "{name}");
    let rows = fixtures::rows(&case.rows);
    let (mut worst_prediction, mut worst_contrib) = (0.0f64, 0.0f64);
    for (index, row) in rows.iter().enumerate() {
        let prediction = ensemble.predict(row).expect("row fits");
        assert_eq!(prediction.len(), case.onnx_output[index].len(), "{name} row {index}");
        for (&ours, &theirs) in prediction.iter().zip(&case.onnx_output[index]) {
            assert!(close(ours, theirs, 1e-5, 0.0), "{name} row {index} {row:?}: {ours} vs onnxruntime {theirs}");
            worst_prediction = worst_prediction.max((ours - theirs).abs() / theirs.abs().max(1e-1));
        }
        if let Some(margins) = &case.reference_margin {
            let margin = ensemble.predict_margin(row).expect("row fits");
            for (&ours, &theirs) in margin.iter().zip(&margins[index]) {
                assert!(close(ours, theirs, 1e-5, 0.0), "{name} row {index}: margin {ours} vs {theirs}");
            }
        }
    }

    // TreeSHAP with covers counted on the background; additivity is checked on every row.
    let counted = ensemble.with_covers_from(&fixtures::rows(&case.background)).expect("background fits");
    let shap = TreeShap::new(&counted).expect("every split is reached by the background");
    for (index, row) in rows.iter().enumerate() {
        let attributions = shap.explain(row).expect("additive");
        let (Some(contribs), Some(expected)) = (&case.contribs, &case.expected_value) else { continue };
        for (output, theirs) in contribs[index].iter().enumerate() {
            let scale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (feature, (&ours, &theirs)) in attributions.values(output).iter().zip(theirs).enumerate() {
                assert!(
                    close(ours, theirs, 1e-6, scale),
                    "{name} row {index} output {output} feature {feature}: {ours} vs shap {theirs}"
                );
                worst_contrib = worst_contrib.max((ours - theirs).abs() / scale.max(1e-1));
            }
            let ours = attributions.expected_value(output);
            assert!(close(ours, expected[output], 1e-6, 0.0), "{name} output {output}: expected {ours} vs shap");
        }
    }
    eprintln!("{name}: worst prediction error {worst_prediction:.1e}, worst attribution error {worst_contrib:.1e}");
}

macro_rules! onnx_case {
    ($test:ident, $name:literal) => {
        #[test]
        fn $test() {
            check(
                $name,
                include_bytes!(concat!("../fixtures/", $name, ".onnx")),
                include_str!(concat!("../fixtures/", $name, ".case.json")),
            );
        }
    };
}

onnx_case!(sklearn_gradient_boosting_regression, "onnx_gb_regression");
onnx_case!(sklearn_gradient_boosting_binary, "onnx_gb_binary");
onnx_case!(sklearn_gradient_boosting_multiclass, "onnx_gb_multiclass");
onnx_case!(sklearn_random_forest_regression, "onnx_rf_regression");
onnx_case!(sklearn_random_forest_multiclass, "onnx_rf_multiclass");
onnx_case!(sklearn_decision_tree_binary_with_zipmap, "onnx_tree_binary");
onnx_case!(xgboost_binary_with_missing_values, "onnx_xgboost_binary");
onnx_case!(modes_leq_gt_eq_sum, "onnx_modes_leq");
onnx_case!(modes_lt_gte_neq_average_double_input, "onnx_modes_lt");

/// Every prefix of a real model file is an error or a model, never a panic.
#[test]
fn truncated_files_do_not_panic() {
    let bytes = include_bytes!("../fixtures/onnx_gb_binary.onnx");
    for cut in (0..bytes.len()).step_by(7) {
        let _ = onnx::load(&bytes[..cut]);
    }
    assert!(onnx::load(b"not a protobuf at all").is_err());
}
