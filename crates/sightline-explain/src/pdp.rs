//! Partial dependence and individual conditional expectation (ICE) of one feature, as
//! scikit-learn's `partial_dependence(method="brute", kind="both")` computes them.
//!
//! For each value on a grid the feature is set to that value in every row of the data,
//! the model is called on the modified rows, and its outputs are kept per row (the ICE
//! curves) and averaged (the partial dependence). The grid is scikit-learn's: the unique
//! values of the column when there are fewer than the resolution (or the feature is
//! categorical), else evenly spaced points between two empirical percentiles computed
//! as `scipy.stats.mstats.mquantiles` does (plotting positions with α = β = 0.4, not
//! numpy's linear interpolation).

use thiserror::Error;

use crate::model::{DataError, ModelCallError, Predictor, call, check_model_features, check_rows};

/// How the grid is built and the average weighted; the defaults are scikit-learn's.
#[derive(Debug, Clone, PartialEq)]
pub struct PdpOptions {
    /// Points between the percentiles (at least 2).
    pub grid_resolution: usize,
    /// Lower and upper percentile as fractions in [0, 1], lower strictly below upper.
    pub percentiles: (f64, f64),
    /// Use the column's unique values whatever their number.
    pub categorical: bool,
    /// Use exactly these values as the grid, in this order.
    pub custom_values: Option<Vec<f64>>,
    /// One weight per row for the average (ICE curves are not weighted).
    pub sample_weight: Option<Vec<f64>>,
}

impl Default for PdpOptions {
    fn default() -> Self {
        PdpOptions {
            grid_resolution: 100,
            percentiles: (0.05, 0.95),
            categorical: false,
            custom_values: None,
            sample_weight: None,
        }
    }
}

/// Why partial dependence could not be computed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PdpError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Model(#[from] ModelCallError),
    #[error("feature {feature} is out of range for {num_features} features")]
    Feature { feature: usize, num_features: usize },
    #[error("grid resolution must be at least 2, got {0}")]
    GridResolution(usize),
    #[error("percentiles must satisfy 0 <= lower < upper <= 1, got ({lower}, {upper})")]
    Percentiles { lower: f64, upper: f64 },
    #[error("percentiles are too close to each other to build a grid: both are {value}")]
    PercentilesTooClose { value: f64 },
    #[error("feature {feature} has the non-finite value {value} in row {row}; its grid needs finite values")]
    NonFinite { feature: usize, row: usize, value: f64 },
    #[error("custom grid values must be finite and non-empty")]
    CustomValues,
    #[error("sample weights must be {rows} finite non-negative numbers with a positive sum")]
    Weights { rows: usize },
}

/// Partial dependence and ICE curves of one feature.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialDependence {
    grid: Vec<f64>,
    /// `[output][grid point]`
    average: Vec<Vec<f64>>,
    /// `[output][row][grid point]`
    individual: Vec<Vec<Vec<f64>>>,
}

impl PartialDependence {
    /// The feature values the curves are evaluated at (scikit-learn's `grid_values`).
    pub fn grid(&self) -> &[f64] {
        &self.grid
    }

    pub fn num_outputs(&self) -> usize {
        self.average.len()
    }

    /// The partial dependence of `output`, one value per grid point.
    pub fn average(&self, output: usize) -> &[f64] {
        &self.average[output]
    }

    /// The ICE curves of `output`: one curve per data row, one value per grid point.
    pub fn individual(&self, output: usize) -> &[Vec<f64>] {
        &self.individual[output]
    }
}

/// The grid for a column, as scikit-learn's `_grid_from_X` builds it.
pub fn grid(column: &[f64], options: &PdpOptions) -> Result<Vec<f64>, PdpError> {
    let (lower, upper) = options.percentiles;
    // Written so that NaN fails too.
    if !(0.0 <= lower && lower < upper && upper <= 1.0) {
        return Err(PdpError::Percentiles { lower, upper });
    }
    if options.grid_resolution < 2 {
        return Err(PdpError::GridResolution(options.grid_resolution));
    }
    if let Some(values) = &options.custom_values {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return Err(PdpError::CustomValues);
        }
        return Ok(values.clone());
    }
    let mut sorted = column.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut unique = sorted.clone();
    // `==` keeps 0.0 and -0.0 together, as `np.unique` does.
    unique.dedup_by(|a, b| a == b);
    if options.categorical || unique.len() < options.grid_resolution {
        return Ok(unique);
    }
    let low = mquantile(&sorted, lower);
    let high = mquantile(&sorted, upper);
    // `np.allclose` with its default tolerances, as scikit-learn checks.
    if (low - high).abs() <= 1e-8 + 1e-5 * high.abs() {
        return Err(PdpError::PercentilesTooClose { value: low });
    }
    Ok(linspace(low, high, options.grid_resolution))
}

/// One quantile of sorted, non-empty, finite data as `scipy.stats.mstats.mquantiles`
/// computes it with its defaults (α = β = 0.4), operation for operation so the grid
/// ends are the same doubles.
fn mquantile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let (alpha, beta) = (0.4, 0.4);
    let m = alpha + p * (1.0 - alpha - beta);
    let aleph = n as f64 * p + m;
    // `aleph` is clipped to [1, n - 1] first, so `k` indexes `sorted` in range.
    let k = aleph.clamp(1.0, (n - 1) as f64).floor();
    let gamma = (aleph - k).clamp(0.0, 1.0);
    let k = k as usize;
    (1.0 - gamma) * sorted[k - 1] + gamma * sorted[k]
}

/// `np.linspace(start, stop, num)` with its endpoint: `i · step + start`, the last point
/// exactly `stop`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    let mut values: Vec<f64> =
        (0..num).map(|i| if step == 0.0 { i as f64 / div * delta + start } else { i as f64 * step + start }).collect();
    if let Some(last) = values.last_mut() {
        *last = stop;
    }
    values
}

/// Partial dependence and ICE of `feature` for `model` over `data`: one model call per
/// grid point, each on every row with the feature replaced. The feature's column must be
/// finite (its grid is built from it); other columns may hold NaN, passed to the model as
/// missing values.
pub fn partial_dependence<P: Predictor + ?Sized>(
    model: &P,
    data: &[Vec<f64>],
    feature: usize,
    options: &PdpOptions,
) -> Result<PartialDependence, PdpError> {
    let num_features = check_rows("data", data)?;
    check_model_features("data", model, num_features)?;
    if feature >= num_features {
        return Err(PdpError::Feature { feature, num_features });
    }
    let column: Vec<f64> = data.iter().map(|row| row[feature]).collect();
    if let Some((row, &value)) = column.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(PdpError::NonFinite { feature, row, value });
    }
    let weights = match &options.sample_weight {
        None => None,
        Some(w) => {
            let total: f64 = w.iter().sum();
            let valid = w.len() == data.len() && w.iter().all(|v| v.is_finite() && *v >= 0.0) && total > 0.0;
            if !valid {
                return Err(PdpError::Weights { rows: data.len() });
            }
            Some((w, total))
        }
    };
    let grid = grid(&column, options)?;

    let mut modified = data.to_vec();
    let mut individual: Vec<Vec<Vec<f64>>> = Vec::new();
    let mut average: Vec<Vec<f64>> = Vec::new();
    let mut width = None;
    for (point, &value) in grid.iter().enumerate() {
        for row in &mut modified {
            row[feature] = value;
        }
        let outputs = call(model, &modified, width)?;
        let outputs_per_row = outputs[0].len();
        if width.is_none() {
            width = Some(outputs_per_row);
            individual = vec![vec![vec![0.0; grid.len()]; data.len()]; outputs_per_row];
            average = vec![vec![0.0; grid.len()]; outputs_per_row];
        }
        for output in 0..outputs_per_row {
            let mut sum = 0.0;
            for (row, values) in outputs.iter().enumerate() {
                individual[output][row][point] = values[output];
                sum += match weights {
                    Some((w, _)) => w[row] * values[output],
                    None => values[output],
                };
            }
            average[output][point] = match weights {
                Some((_, total)) => sum / total,
                None => sum / data.len() as f64,
            };
        }
    }
    Ok(PartialDependence { grid, average, individual })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mquantiles_matches_scipy() {
        // scipy.stats.mstats.mquantiles([1, 2, 3, 4, 10], prob=[0.05, 0.95]) -> [1., 10.];
        // on 0..20 -> [0.41, 18.59] (aleph = 20p + 0.4 + 0.2p, interpolated from index aleph - 1).
        assert_eq!(mquantile(&[1.0, 2.0, 3.0, 4.0, 10.0], 0.05), 1.0);
        assert_eq!(mquantile(&[1.0, 2.0, 3.0, 4.0, 10.0], 0.95), 10.0);
        let data: Vec<f64> = (0..20).map(f64::from).collect();
        assert!((mquantile(&data, 0.05) - 0.41).abs() < 1e-12);
        assert!((mquantile(&data, 0.95) - 18.59).abs() < 1e-12);
        assert_eq!(mquantile(&[3.5], 0.3), 3.5);
    }

    #[test]
    fn linspace_ends_exactly() {
        let values = linspace(0.1, 0.7, 4);
        assert_eq!(values.len(), 4);
        assert_eq!(values[0], 0.1);
        assert_eq!(values[3], 0.7);
        assert!((values[1] - 0.3).abs() < 1e-15);
    }

    #[test]
    fn grid_uses_unique_values_below_the_resolution() {
        let options = PdpOptions { grid_resolution: 4, ..PdpOptions::default() };
        assert_eq!(grid(&[2.0, 1.0, 2.0, -0.0, 0.0], &options), Ok(vec![-0.0, 1.0, 2.0]));
        let categorical = PdpOptions { categorical: true, ..PdpOptions::default() };
        assert_eq!(grid(&[3.0, 1.0], &categorical), Ok(vec![1.0, 3.0]));
        let data: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(grid(&data, &options).map(|g| g.len()), Ok(4));
    }

    #[test]
    fn bad_options_are_errors() {
        let column = [1.0, 2.0];
        let with = |percentiles, grid_resolution| PdpOptions { percentiles, grid_resolution, ..PdpOptions::default() };
        assert!(matches!(grid(&column, &with((0.5, 0.5), 10)), Err(PdpError::Percentiles { .. })));
        assert!(matches!(grid(&column, &with((f64::NAN, 0.5), 10)), Err(PdpError::Percentiles { .. })));
        assert!(matches!(grid(&column, &with((0.0, 1.1), 10)), Err(PdpError::Percentiles { .. })));
        assert_eq!(grid(&column, &with((0.05, 0.95), 1)), Err(PdpError::GridResolution(1)));
        // Many ties: more unique values than the resolution, but the percentiles meet.
        let mut ties = vec![5.0; 100];
        ties.extend([1.0, 2.0, 3.0, 4.0]);
        assert!(matches!(grid(&ties, &with((0.05, 0.95), 3)), Err(PdpError::PercentilesTooClose { .. })));
        let custom = PdpOptions { custom_values: Some(vec![f64::NAN]), ..PdpOptions::default() };
        assert_eq!(grid(&column, &custom), Err(PdpError::CustomValues));
    }

    fn linear(rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, crate::model::PredictError> {
        Ok(rows.iter().map(|r| vec![2.0 * r[0] + r[1], r[0] * r[1]]).collect())
    }

    #[test]
    fn bad_input_is_an_error() {
        let options = PdpOptions::default();
        let data = vec![vec![1.0, 2.0], vec![f64::NAN, 1.0]];
        assert!(matches!(partial_dependence(&linear, &data, 0, &options), Err(PdpError::NonFinite { row: 1, .. })));
        let missing_aware = |rows: &[Vec<f64>]| -> Result<Vec<Vec<f64>>, crate::model::PredictError> {
            Ok(rows.iter().map(|r| vec![if r[0].is_nan() { -1.0 } else { r[0] } + r[1]]).collect())
        };
        let pd = partial_dependence(&missing_aware, &data, 1, &options).expect("NaN elsewhere reaches the model");
        assert_eq!(pd.individual(0)[1], vec![0.0, 1.0]);
        assert!(matches!(partial_dependence(&linear, &data, 2, &options), Err(PdpError::Feature { .. })));
        assert!(matches!(partial_dependence(&linear, &[], 0, &options), Err(PdpError::Data(_))));
        let weights = PdpOptions { sample_weight: Some(vec![1.0]), ..PdpOptions::default() };
        assert_eq!(partial_dependence(&linear, &data, 1, &weights), Err(PdpError::Weights { rows: 2 }));
    }

    #[test]
    fn weighted_average_weighs_rows() {
        let data = vec![vec![1.0, 0.0], vec![3.0, 1.0]];
        let options = PdpOptions { sample_weight: Some(vec![3.0, 1.0]), ..PdpOptions::default() };
        let pd = partial_dependence(&linear, &data, 1, &options).expect("computes");
        assert_eq!(pd.grid(), &[0.0, 1.0]);
        // Output 0 at x1 = 0: rows give 2 and 6, weighted (3 · 2 + 6) / 4 = 3.
        assert_eq!(pd.average(0), &[3.0, 4.0]);
        assert_eq!(pd.individual(1), &[vec![0.0, 1.0], vec![0.0, 3.0]]);
    }
}
