//! Partial dependence and ICE against scikit-learn's `partial_dependence` on the fixture
//! from tests/reference/explain_pdp.py, and the law that ICE curves average to the
//! partial dependence.

use proptest::prelude::*;
use serde::Deserialize;
use sightline_explain::pdp::{PdpError, PdpOptions, partial_dependence};
use sightline_explain::{PredictError, Predictor};

use crate::fixtures;

const FIXTURE: &str = include_str!("../fixtures/pdp.cases.json");

/// Agreement with scikit-learn, relative (floored at 1). The grid is built with the same
/// operations and must be the same doubles; LightGBM predicts in double as we do, and the
/// averages differ only in summation order (numpy sums pairwise).
const TOLERANCE: f64 = 1e-12;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    model: String,
    feature: usize,
    grid_resolution: usize,
    percentiles: (f64, f64),
    categorical: bool,
    custom_values: Option<Vec<f64>>,
    sample_weight: Option<Vec<f64>>,
    rows: Vec<Vec<Option<f64>>>,
    grid: Vec<f64>,
    /// `[output][grid point]`
    average: Vec<Vec<f64>>,
    /// `[output][row][grid point]`, for the first rows only.
    individual: Vec<Vec<Vec<f64>>>,
}

fn error(ours: f64, theirs: f64) -> f64 {
    (ours - theirs).abs() / theirs.abs().max(1.0)
}

fn check(name: &str) {
    let fixture: Fixture = serde_json::from_str(FIXTURE).expect("fixture parses");
    let case = fixture.cases.iter().find(|case| case.name == name).expect("case exists");
    let ensemble = fixtures::model(&case.model);
    let options = PdpOptions {
        grid_resolution: case.grid_resolution,
        percentiles: case.percentiles,
        categorical: case.categorical,
        custom_values: case.custom_values.clone(),
        sample_weight: case.sample_weight.clone(),
    };
    let rows = fixtures::rows(&case.rows);
    let pd = partial_dependence(&ensemble, &rows, case.feature, &options).expect("computes");
    // The grid is built operation for operation as scikit-learn and scipy build it.
    assert_eq!(pd.grid(), case.grid.as_slice(), "{name}: grid");
    assert_eq!(pd.num_outputs(), case.average.len(), "{name}");
    let mut worst = 0.0f64;
    for (output, expected) in case.average.iter().enumerate() {
        for (point, (&ours, &theirs)) in pd.average(output).iter().zip(expected).enumerate() {
            let e = error(ours, theirs);
            assert!(e <= TOLERANCE, "{name} output {output} point {point}: average {ours} vs sklearn {theirs}");
            worst = worst.max(e);
        }
        for (row, curve) in case.individual[output].iter().enumerate() {
            for (point, (&ours, &theirs)) in pd.individual(output)[row].iter().zip(curve).enumerate() {
                let e = error(ours, theirs);
                assert!(
                    e <= TOLERANCE,
                    "{name} output {output} row {row} point {point}: ice {ours} vs sklearn {theirs}"
                );
                worst = worst.max(e);
            }
        }
    }
    eprintln!("pdp {name}: {} grid points, worst error vs sklearn {worst:.2e}", pd.grid().len());
}

#[test]
fn pdp_regression_default_grid() {
    check("regression_default");
}

#[test]
fn pdp_regression_coarse_feature_uses_unique_values() {
    check("regression_coarse");
}

#[test]
fn pdp_regression_narrow_percentiles() {
    check("regression_narrow");
}

#[test]
fn pdp_regression_weighted() {
    check("regression_weighted");
}

#[test]
fn pdp_poisson() {
    check("poisson");
}

#[test]
fn pdp_binary_positive_class() {
    check("binary");
}

#[test]
fn pdp_binary_categorical() {
    check("binary_categorical");
}

#[test]
fn pdp_multiclass() {
    check("multiclass");
}

#[test]
fn pdp_multiclass_custom_grid() {
    check("multiclass_custom");
}

fn model(rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
    Ok(rows.iter().map(|r| vec![r[0] * r[1] + r[2].sin(), (r[0] - r[2]).max(0.0)]).collect())
}

fn data() -> impl Strategy<Value = Vec<Vec<f64>>> {
    prop::collection::vec(prop::collection::vec(-5.0f64..5.0, 3), 1..40)
}

proptest! {
    /// The partial dependence is the mean of the ICE curves, at every grid point.
    #[test]
    fn ice_averages_to_partial_dependence(rows in data(), feature in 0usize..3, resolution in 2usize..30) {
        let options = PdpOptions { grid_resolution: resolution, ..PdpOptions::default() };
        // Columns of few distinct values may not make a percentile grid; that is an error, not a law.
        let pd = match partial_dependence(&model, &rows, feature, &options) {
            Ok(pd) => pd,
            Err(PdpError::PercentilesTooClose { .. }) => return Ok(()),
            Err(other) => return Err(TestCaseError::fail(other.to_string())),
        };
        for output in 0..pd.num_outputs() {
            for point in 0..pd.grid().len() {
                let mean = pd.individual(output).iter().map(|curve| curve[point]).sum::<f64>() / rows.len() as f64;
                prop_assert!((mean - pd.average(output)[point]).abs() <= 1e-12 * mean.abs().max(1.0));
            }
        }
        // An ICE curve at the row's own value is the model's prediction for the row.
        let outputs = model.predict(&rows).expect("predicts");
        for (index, (row, values)) in rows.iter().zip(&outputs).enumerate() {
            if let Some(point) = pd.grid().iter().position(|&g| g == row[feature]) {
                for (output, &value) in values.iter().enumerate() {
                    prop_assert_eq!(pd.individual(output)[index][point], value);
                }
            }
        }
    }

    /// A feature the model ignores has a flat partial dependence.
    #[test]
    fn ignored_feature_is_flat(rows in data()) {
        let ignores_last = |rows: &[Vec<f64>]| -> Result<Vec<Vec<f64>>, PredictError> {
            Ok(rows.iter().map(|r| vec![r[0] * r[1]]).collect())
        };
        let pd = match partial_dependence(&ignores_last, &rows, 2, &PdpOptions::default()) {
            Ok(pd) => pd,
            Err(PdpError::PercentilesTooClose { .. }) => return Ok(()),
            Err(other) => return Err(TestCaseError::fail(other.to_string())),
        };
        let first = pd.average(0)[0];
        prop_assert!(pd.average(0).iter().all(|&v| v == first));
    }
}

/// A tree ensemble knows its feature count: data of another width is refused up front,
/// by every model-agnostic method.
#[test]
fn data_of_the_wrong_width_is_refused_for_an_ensemble() {
    use sightline_explain::DataError;
    use sightline_explain::lime::{LimeError, LimeOptions, LimeTabular};
    use sightline_explain::permutation::{self, PermutationError, Shuffles};

    let ensemble = fixtures::model("lightgbm_regression.model.txt");
    let narrow = vec![vec![0.5, 1.0, -1.0], vec![1.5, 0.0, 2.0], vec![-0.5, 2.0, 1.0]];
    let wrong = DataError::ModelFeatures { what: "data", expected: 6, got: 3 };
    assert_eq!(partial_dependence(&ensemble, &narrow, 0, &PdpOptions::default()), Err(PdpError::Data(wrong.clone())));
    let shuffles = Shuffles::Seeded { seed: 1, n_repeats: 2 };
    assert_eq!(
        sightline_explain::permutation::permutation_importance(
            &ensemble,
            &narrow,
            &[1.0; 3],
            permutation::r2,
            &shuffles
        ),
        Err(PermutationError::Data(wrong))
    );
    let lime = LimeTabular::new(&narrow).expect("valid training data");
    let hood = lime.sample(&narrow[0], 20, 1).expect("samples");
    assert_eq!(
        lime.explain(&ensemble, &hood, 0, &LimeOptions::default()),
        Err(LimeError::Data(DataError::ModelFeatures { what: "training data", expected: 6, got: 3 }))
    );
}

/// Partial dependence in margin space: a binary model's curve through [`Margins`] is the
/// logit of its curve in probability space, row by row.
#[test]
fn margins_give_ice_curves_before_the_link() {
    use sightline_explain::Margins;

    let ensemble = fixtures::model("lightgbm_binary.model.txt");
    let rows: Vec<Vec<f64>> =
        (0..12).map(|i| (0..6).map(|f| ((i * 7 + f * 3) % 11) as f64 / 5.0 - 1.0).collect()).collect();
    let options = PdpOptions { grid_resolution: 5, ..PdpOptions::default() };
    let margins = partial_dependence(&Margins(&ensemble), &rows, 0, &options).expect("computes");
    let probabilities = partial_dependence(&ensemble, &rows, 0, &options).expect("computes");
    assert_eq!(margins.grid(), probabilities.grid());
    for (margin_curve, probability_curve) in margins.individual(0).iter().zip(probabilities.individual(0)) {
        for (&m, &p) in margin_curve.iter().zip(probability_curve) {
            assert!((1.0 / (1.0 + (-m).exp()) - p).abs() < 1e-15, "{m} vs {p}");
        }
    }
}
