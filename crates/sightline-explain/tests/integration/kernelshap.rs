//! KernelSHAP against exact Shapley values computed by brute force here, and against
//! shap's `KernelExplainer` on the fixture from tests/reference/explain_kernelshap.py.

use proptest::prelude::*;
use serde::Deserialize;
use sightline_explain::kernelshap::{Budget, KernelShap};

const FIXTURE: &str = include_str!("../fixtures/kernelshap.cases.json");

const BUDGET: Budget = Budget { batch_rows: 256, max_calls: usize::MAX };

/// Agreement with exact Shapley values, relative (floored at 1). Both are f64 sums of the
/// same model outputs; only the least-squares solve differs from the direct sum, and the
/// errors seen are about 1e-14, so this leaves two orders of margin.
const EXACT_TOLERANCE: f64 = 1e-12;

/// Agreement with shap, relative (floored at 1). shap solves the same system in f64 by LU
/// (`np.linalg.solve`), we by Cholesky, and numpy's `sin`/`exp`/`tanh` may differ from
/// Rust's by an ulp; the errors seen are about 1e-14.
const SHAP_TOLERANCE: f64 = 1e-12;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    num_features: usize,
    background: Vec<Vec<f64>>,
    rows: Vec<Vec<f64>>,
    prediction: Vec<f64>,
    expected_value: f64,
    /// `[row][feature]`
    shap_values: Vec<Vec<f64>>,
}

/// The generator's closed-form models, by the name it gives them.
fn model(name: &str) -> fn(&[f64]) -> f64 {
    match name {
        "linear" => |x| {
            let beta = [1.5, -2.0, 0.25, 3.0, -0.75, 0.5];
            x.iter().zip(beta).map(|(x, b)| x * b).sum::<f64>() + 0.7
        },
        "product_sine" => |x| x[0] * x[1] + x[2].sin() + x[3] * x[3],
        "interactions" => |x| x[0] * x[1] * x[2] + (0.5 * x[3]).exp() + (x[4] - x[5]).tanh() + x[6] * x[7] * x[7],
        other => panic!("fixture names an unknown model {other}"),
    }
}

fn batch(f: fn(&[f64]) -> f64) -> impl Fn(&[Vec<f64>]) -> Vec<f64> {
    move |rows| rows.iter().map(|row| f(row)).collect()
}

/// Shapley values of the game `v(S) = mean over background of f(x_S, b_rest)` by their
/// definition: `φ_i = Σ_{S ∌ i} |S|! (M - |S| - 1)! / M! · (v(S ∪ {i}) - v(S))`.
fn exact_shapley(f: impl Fn(&[f64]) -> f64, background: &[Vec<f64>], row: &[f64]) -> Vec<f64> {
    let m = row.len();
    let value = |mask: usize| {
        let total: f64 = background
            .iter()
            .map(|b| {
                let mixed: Vec<f64> = (0..m).map(|i| if mask & (1 << i) != 0 { row[i] } else { b[i] }).collect();
                f(&mixed)
            })
            .sum();
        total / background.len() as f64
    };
    let values: Vec<f64> = (0..1usize << m).map(value).collect();
    let factorial = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
    (0..m)
        .map(|i| {
            (0..1usize << m)
                .filter(|mask| mask & (1 << i) == 0)
                .map(|mask| {
                    let size = mask.count_ones() as usize;
                    let weight = factorial(size) * factorial(m - size - 1) / factorial(m);
                    weight * (values[mask | (1 << i)] - values[mask])
                })
                .sum()
        })
        .collect()
}

/// Error relative to the value, floored at 1 so tiny values report absolute error.
fn error(ours: f64, theirs: f64) -> f64 {
    (ours - theirs).abs() / theirs.abs().max(1.0)
}

/// Explains every row of the fixture case `name` and compares with exact Shapley values
/// and with shap, printing the worst errors seen.
fn check(name: &str) {
    let fixture: Fixture = serde_json::from_str(FIXTURE).expect("fixture parses");
    let case = fixture.cases.iter().find(|case| case.name == name).expect("case exists");
    let f = model(&case.name);
    let shap = KernelShap::new(&case.background, BUDGET).expect("valid background");
    let (mut worst_exact, mut worst_shap) = (0.0f64, 0.0f64);
    for (index, row) in case.rows.iter().enumerate() {
        let at = format!("{name} row {index}");
        assert_eq!(row.len(), case.num_features, "{at}");
        let got = shap.explain(batch(f), row).expect("explains");
        let exact = exact_shapley(f, &case.background, row);
        let theirs = &case.shap_values[index];
        for feature in 0..case.num_features {
            let ours = got.values()[feature];
            let e = error(ours, exact[feature]);
            assert!(e <= EXACT_TOLERANCE, "{at} feature {feature}: {ours} vs exact {}", exact[feature]);
            worst_exact = worst_exact.max(e);
            let e = error(ours, theirs[feature]);
            assert!(e <= SHAP_TOLERANCE, "{at} feature {feature}: {ours} vs shap {}", theirs[feature]);
            worst_shap = worst_shap.max(e);
        }
        let e = error(got.expected_value(), case.expected_value);
        assert!(e <= SHAP_TOLERANCE, "{at}: expected value {} vs shap {}", got.expected_value(), case.expected_value);
        worst_shap = worst_shap.max(e);
        let e = error(got.prediction(), case.prediction[index]);
        assert!(e <= SHAP_TOLERANCE, "{at}: prediction {} vs numpy {}", got.prediction(), case.prediction[index]);
    }
    eprintln!("kernelshap {name}: worst error vs exact Shapley {worst_exact:.2e}, vs shap {worst_shap:.2e}");
}

#[test]
fn kernelshap_linear() {
    check("linear");
}

#[test]
fn kernelshap_product_sine() {
    check("product_sine");
}

#[test]
fn kernelshap_interactions() {
    check("interactions");
}

/// A model with products, a sine, a square and a threshold, so the game is far from
/// additive; `coefficients` vary it.
fn random_model(x: &[f64], coefficients: &[f64]) -> f64 {
    let n = x.len();
    let mut total = 0.0;
    for i in 0..n {
        let c = coefficients[i % coefficients.len()];
        total += c * x[i] * x[(i + 1) % n] + (c * x[i]).sin();
        if x[i] > c {
            total += x[(i + 2) % n] * x[(i + 2) % n];
        }
    }
    total
}

/// The most features exact enumeration allows, on a model far from additive.
#[test]
fn kernelshap_at_the_feature_limit_equals_exact_shapley() {
    let m = sightline_explain::kernelshap::MAX_EXACT_FEATURES;
    let background: Vec<Vec<f64>> =
        (0..3).map(|b| (0..m).map(|i| ((i * 7 + b * 3) % 5) as f64 * 0.6 - 1.2).collect()).collect();
    let row: Vec<f64> = (0..m).map(|i| 1.7 - 0.31 * i as f64).collect();
    let coefficients = [0.8, -1.3, 0.45];
    let shap = KernelShap::new(&background, BUDGET).expect("valid background");
    let model = |rows: &[Vec<f64>]| rows.iter().map(|r| random_model(r, &coefficients)).collect();
    let got = shap.explain(model, &row).expect("explains");
    let exact = exact_shapley(|x| random_model(x, &coefficients), &background, &row);
    let worst = got.values().iter().zip(&exact).map(|(&ours, &want)| error(ours, want)).fold(0.0, f64::max);
    assert!(worst <= EXACT_TOLERANCE, "{:?} vs exact {exact:?}", got.values());
    // The row, then 2^11 - 1 coalitions of the three background rows.
    assert_eq!(got.rows(), 1 + ((1 << m) - 1) * 3);
    eprintln!("kernelshap {m} features: worst error vs exact Shapley {worst:.2e}");
}

fn game() -> impl Strategy<Value = (Vec<Vec<f64>>, Vec<f64>, Vec<f64>)> {
    (1usize..=7, 1usize..=5).prop_flat_map(|(m, n)| {
        (
            prop::collection::vec(prop::collection::vec(-3.0f64..3.0, m), n),
            prop::collection::vec(-3.0f64..3.0, m),
            prop::collection::vec(-2.0f64..2.0, 1..4),
        )
    })
}

proptest! {
    #[test]
    fn kernelshap_equals_exact_shapley((background, row, coefficients) in game(), batch_rows in 1usize..50) {
        let shap = KernelShap::new(&background, Budget { batch_rows, max_calls: usize::MAX }).expect("valid background");
        let model = |rows: &[Vec<f64>]| rows.iter().map(|r| random_model(r, &coefficients)).collect();
        let got = shap.explain(model, &row).expect("explains");
        let exact = exact_shapley(|x| random_model(x, &coefficients), &background, &row);
        for (feature, (&ours, &want)) in got.values().iter().zip(&exact).enumerate() {
            prop_assert!(error(ours, want) <= EXACT_TOLERANCE, "feature {feature}: {ours} vs exact {want}");
        }
        let total = got.expected_value() + got.values().iter().sum::<f64>();
        prop_assert!((total - random_model(&row, &coefficients)).abs() <= 1e-9 * total.abs().max(1.0));
    }
}
