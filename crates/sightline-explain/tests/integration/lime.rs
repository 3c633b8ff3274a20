//! LIME against the `lime` package on the fixture from tests/reference/explain_lime.py:
//! given lime's own samples, the same bins, binary representation, coefficients,
//! intercept, score and local prediction.

use serde::Deserialize;
use sightline_explain::PredictError;
use sightline_explain::lime::{LimeOptions, LimeTabular};
use sightline_explain::{Ensemble, Predictor};

use crate::fixtures;

const FIXTURE: &str = include_str!("../fixtures/lime.cases.json");

/// Agreement with lime, relative (floored at 1). The weighted ridge solves a small
/// well-conditioned system (scikit-learn by its own Cholesky route, we by ours) on the
/// same numbers; the model outputs agree to about 1e-16.
const TOLERANCE: f64 = 1e-10;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    model: String,
    mode: String,
    num_features: usize,
    training: Vec<Vec<Option<f64>>>,
    edges: Vec<Vec<f64>>,
    instances: Vec<Instance>,
}

#[derive(Deserialize)]
struct Instance {
    instance: Vec<f64>,
    samples: Vec<Vec<f64>>,
    binary: Vec<String>,
    label: usize,
    intercept: f64,
    weights: Vec<(usize, f64)>,
    score: f64,
    local_prediction: f64,
    prediction: f64,
}

/// The generator's closed-form model.
fn closed_form(rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
    Ok(rows
        .iter()
        .map(|x| vec![x[0] * x[1] + x[2].sin() + x[3] * x[3] - x[4] + 0.5 * x[5] * x[6] + 2.0 * x[7]])
        .collect())
}

/// A binary classifier as lime sees it through `predict_proba`: `[1 − p, p]`.
struct Proba(Ensemble);

impl Predictor for Proba {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
        let outputs = Predictor::predict(&self.0, rows)?;
        Ok(outputs.into_iter().map(|p| if p.len() == 1 { vec![1.0 - p[0], p[0]] } else { p }).collect())
    }
}

fn error(ours: f64, theirs: f64) -> f64 {
    (ours - theirs).abs() / theirs.abs().max(1.0)
}

fn check(name: &str) {
    let fixture: Fixture = serde_json::from_str(FIXTURE).expect("fixture parses");
    let case = fixture.cases.iter().find(|case| case.name == name).expect("case exists");
    let model: Box<dyn Predictor> = match (case.model.as_str(), case.mode.as_str()) {
        ("closed_form", _) => Box::new(closed_form),
        (file, "classification") => Box::new(Proba(fixtures::model(file))),
        (file, _) => Box::new(fixtures::model(file)),
    };
    let lime = LimeTabular::new(&fixtures::rows(&case.training)).expect("valid training data");
    for (feature, edges) in case.edges.iter().enumerate() {
        assert_eq!(lime.edges(feature), edges.as_slice(), "{name} feature {feature}: quartile edges");
    }
    let options = LimeOptions { num_features: case.num_features, ..LimeOptions::default() };
    let mut worst = 0.0f64;
    for (index, expected) in case.instances.iter().enumerate() {
        let at = format!("{name} instance {index}");
        let hood = lime.neighborhood(&expected.instance, &expected.samples).expect("discretizes");
        for (row, (ours, theirs)) in hood.binary().iter().zip(&expected.binary).enumerate() {
            let ours: String = ours.iter().map(|&v| if v == 1.0 { '1' } else { '0' }).collect();
            assert_eq!(&ours, theirs, "{at} sample {row}: binary representation");
        }
        // lime's regression mode explains its one output; classification the label's class.
        let output = if case.mode == "regression" { 0 } else { expected.label };
        let got = lime.explain(model.as_ref(), &hood, output, &options).expect("explains");
        let features: Vec<usize> = got.weights.iter().map(|w| w.0).collect();
        let theirs: Vec<usize> = expected.weights.iter().map(|w| w.0).collect();
        assert_eq!(features, theirs, "{at}: selected features by weight");
        for (&(feature, ours), &(_, theirs)) in got.weights.iter().zip(&expected.weights) {
            let e = error(ours, theirs);
            assert!(e <= TOLERANCE, "{at} feature {feature}: coefficient {ours} vs lime {theirs}");
            worst = worst.max(e);
        }
        let pairs = [
            ("intercept", got.intercept, expected.intercept),
            ("score", got.score, expected.score),
            ("local prediction", got.local_prediction, expected.local_prediction),
            ("prediction", got.prediction, expected.prediction),
        ];
        for (what, ours, theirs) in pairs {
            let e = error(ours, theirs);
            assert!(e <= TOLERANCE, "{at}: {what} {ours} vs lime {theirs}");
            worst = worst.max(e);
        }
    }
    eprintln!("lime {name}: worst error vs lime {worst:.2e}");
}

#[test]
fn lime_binary_classifier() {
    check("binary");
}

#[test]
fn lime_regression() {
    check("regression");
}

/// Three features of six: lime's `auto` picks forward selection.
#[test]
fn lime_multiclass_forward_selection() {
    check("multiclass_forward");
}

#[test]
fn lime_closed_form_forward_selection() {
    check("closed_form_forward");
}

/// Seven features of eight: lime's `auto` picks the highest weights.
#[test]
fn lime_closed_form_highest_weights() {
    check("closed_form_highest");
}

#[test]
fn lime_closed_form_all_features() {
    check("closed_form_all");
}

mod laws {
    use proptest::prelude::*;
    use sightline_explain::PredictError;
    use sightline_explain::lime::{LimeOptions, LimeTabular};

    fn training() -> impl Strategy<Value = Vec<Vec<f64>>> {
        prop::collection::vec(prop::collection::vec(-3.0f64..3.0, 4), 8..60)
    }

    proptest! {
        /// A constant model has nothing to explain: every coefficient is 0 and the
        /// intercept is the constant.
        #[test]
        fn constant_model_gets_zero_weights(training in training(), seed in any::<u64>(), constant in -5.0f64..5.0) {
            let lime = LimeTabular::new(&training).expect("valid");
            let hood = lime.sample(&training[0], 80, seed).expect("samples");
            let model = |rows: &[Vec<f64>]| -> Result<Vec<Vec<f64>>, PredictError> {
                Ok(vec![vec![constant]; rows.len()])
            };
            let got = lime.explain(&model, &hood, 0, &LimeOptions::default()).expect("explains");
            prop_assert!(got.weights.iter().all(|&(_, w)| w.abs() <= 1e-12));
            prop_assert!((got.intercept - constant).abs() <= 1e-12);
            prop_assert!((got.local_prediction - constant).abs() <= 1e-12);
        }

        /// The seeded sampler is reproducible, and its rows land in the bins its binary
        /// representation claims.
        #[test]
        fn sampler_is_consistent(training in training(), seed in any::<u64>()) {
            let lime = LimeTabular::new(&training).expect("valid");
            let instance = &training[training.len() / 2];
            let hood = lime.sample(instance, 60, seed).expect("samples");
            prop_assert_eq!(&lime.sample(instance, 60, seed).expect("samples"), &hood);
            let again = lime.neighborhood(instance, &hood.rows()[1..]).expect("discretizes");
            prop_assert_eq!(again.binary(), hood.binary());
        }
    }
}
