//! Permutation importance against scikit-learn's `permutation_importance` on the fixture
//! from tests/reference/explain_permutation.py (given scikit-learn's own permutations),
//! and its laws with seeded permutations.

use proptest::prelude::*;
use serde::Deserialize;
use sightline_explain::PredictError;
use sightline_explain::permutation::{self, Shuffles, permutation_importance};

use crate::fixtures;

const FIXTURE: &str = include_str!("../fixtures/permutation.cases.json");

/// Agreement with scikit-learn, relative (floored at 1). The model outputs agree to about
/// 1e-16 and each score is a sum over 80 rows; importances are differences of scores.
const TOLERANCE: f64 = 1e-12;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    model: String,
    scoring: String,
    rows: Vec<Vec<Option<f64>>>,
    targets: Vec<f64>,
    sample_weight: Option<Vec<f64>>,
    permutations: Vec<Vec<usize>>,
    baseline: f64,
    /// `[feature][repeat]`
    importances: Vec<Vec<f64>>,
    importances_mean: Vec<f64>,
    importances_std: Vec<f64>,
}

fn error(ours: f64, theirs: f64) -> f64 {
    (ours - theirs).abs() / theirs.abs().max(1.0)
}

/// scikit-learn's weighted `r2_score`: weighted sums of squares about the weighted mean.
fn weighted_r2(outputs: &[Vec<f64>], targets: &[f64], weights: &[f64]) -> f64 {
    let total_weight: f64 = weights.iter().sum();
    let mean = targets.iter().zip(weights).map(|(y, w)| y * w).sum::<f64>() / total_weight;
    let (mut residual, mut total) = (0.0, 0.0);
    for ((values, &y), &w) in outputs.iter().zip(targets).zip(weights) {
        residual += w * (y - values[0]) * (y - values[0]);
        total += w * (y - mean) * (y - mean);
    }
    1.0 - residual / total
}

/// scikit-learn's `neg_log_loss` of a binary classifier's positive-class probability,
/// clipped to `[eps, 1 - eps]` with float64's epsilon.
fn neg_log_loss(outputs: &[Vec<f64>], targets: &[f64]) -> f64 {
    let eps = f64::EPSILON;
    let total: f64 = outputs
        .iter()
        .zip(targets)
        .map(|(values, &y)| {
            let p = values[0].clamp(eps, 1.0 - eps);
            if y == 1.0 { p.ln() } else { (1.0 - p).ln() }
        })
        .sum();
    total / targets.len() as f64
}

fn neg_mean_absolute_error(outputs: &[Vec<f64>], targets: &[f64]) -> f64 {
    -outputs.iter().zip(targets).map(|(values, &y)| (y - values[0]).abs()).sum::<f64>() / targets.len() as f64
}

fn check(name: &str) {
    let fixture: Fixture = serde_json::from_str(FIXTURE).expect("fixture parses");
    let case = fixture.cases.iter().find(|case| case.name == name).expect("case exists");
    let ensemble = fixtures::model(&case.model);
    let rows = fixtures::rows(&case.rows);
    let shuffles = Shuffles::Given(case.permutations.clone());
    let weights = case.sample_weight.clone();
    let score = |outputs: &[Vec<f64>], targets: &[f64]| match (case.scoring.as_str(), &weights) {
        ("r2", Some(w)) => weighted_r2(outputs, targets, w),
        ("r2", None) => permutation::r2(outputs, targets),
        ("accuracy", None) => permutation::accuracy(outputs, targets),
        ("neg_mean_squared_error", None) => permutation::neg_mean_squared_error(outputs, targets),
        ("neg_mean_absolute_error", None) => neg_mean_absolute_error(outputs, targets),
        ("neg_log_loss", None) => neg_log_loss(outputs, targets),
        (other, _) => panic!("fixture names an unknown scoring {other}"),
    };
    let result = permutation_importance(&ensemble, &rows, &case.targets, score, &shuffles).expect("computes");
    let mut worst = error(result.baseline(), case.baseline);
    assert!(worst <= TOLERANCE, "{name}: baseline {} vs sklearn {}", result.baseline(), case.baseline);
    for (feature, expected) in case.importances.iter().enumerate() {
        for (repeat, (&ours, &theirs)) in result.importances()[feature].iter().zip(expected).enumerate() {
            let e = error(ours, theirs);
            assert!(e <= TOLERANCE, "{name} feature {feature} repeat {repeat}: {ours} vs sklearn {theirs}");
            worst = worst.max(e);
        }
        let pairs = [
            ("mean", result.mean()[feature], case.importances_mean[feature]),
            ("std", result.std()[feature], case.importances_std[feature]),
        ];
        for (what, ours, theirs) in pairs {
            let e = error(ours, theirs);
            assert!(e <= TOLERANCE, "{name} feature {feature}: {what} {ours} vs sklearn {theirs}");
            worst = worst.max(e);
        }
    }
    eprintln!("permutation {name}: worst error vs sklearn {worst:.2e}");
}

#[test]
fn permutation_regression_r2() {
    check("regression_r2");
}

#[test]
fn permutation_regression_weighted_r2() {
    check("regression_r2_weighted");
}

#[test]
fn permutation_regression_neg_mse() {
    check("regression_neg_mse");
}

#[test]
fn permutation_poisson_neg_mae() {
    check("poisson_neg_mae");
}

#[test]
fn permutation_binary_accuracy() {
    check("binary_accuracy");
}

#[test]
fn permutation_binary_neg_log_loss() {
    check("binary_neg_log_loss");
}

#[test]
fn permutation_multiclass_accuracy() {
    check("multiclass_accuracy");
}

/// Uses features 0 and 1 only; feature 2 is ignored.
fn model(rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
    Ok(rows.iter().map(|r| vec![2.0 * r[0] + r[1] * r[1]]).collect())
}

proptest! {
    #[test]
    fn seeded_permutation_laws(
        rows in prop::collection::vec(prop::collection::vec(-3.0f64..3.0, 3), 2..30),
        seed in any::<u64>(),
        n_repeats in 1usize..6,
    ) {
        let targets: Vec<f64> = model(&rows).expect("predicts").iter().map(|v| v[0]).collect();
        let shuffles = Shuffles::Seeded { seed, n_repeats };
        let result = permutation_importance(&model, &rows, &targets, permutation::neg_mean_squared_error, &shuffles)
            .expect("computes");
        // A feature the model ignores: shuffling it changes no prediction.
        prop_assert!(result.importances()[2].iter().all(|&v| v == 0.0));
        prop_assert_eq!(result.mean()[2], 0.0);
        prop_assert_eq!(result.std()[2], 0.0);
        // The model is exact on its own outputs, so no shuffle can score better.
        prop_assert_eq!(result.baseline(), 0.0);
        prop_assert!(result.importances().iter().flatten().all(|&v| v >= 0.0));
        // One seed, one answer.
        let again = permutation_importance(&model, &rows, &targets, permutation::neg_mean_squared_error, &shuffles)
            .expect("computes");
        prop_assert_eq!(&again, &result);
        // The identity permutation changes nothing.
        let identity = Shuffles::Given(vec![(0..rows.len()).collect()]);
        let none = permutation_importance(&model, &rows, &targets, permutation::neg_mean_squared_error, &identity)
            .expect("computes");
        prop_assert!(none.mean().iter().all(|&v| v == 0.0));
    }
}
