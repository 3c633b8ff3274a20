//! LIME for tabular data (Ribeiro et al. 2016), as the `lime` package's
//! `LimeTabularExplainer` computes it with its defaults.
//!
//! Every feature is discretized into the quartile bins of the training data; the
//! explanation is a weighted ridge regression (alpha 1) of the model's output on the
//! binary "sample is in the instance's bin" representation of perturbed samples,
//! weighted by an exponential kernel of width 0.75·√(features) on the Euclidean distance
//! between binary rows (lime scales them by a mean of 0 and a scale of 1, i.e. not at
//! all, once every feature is discretized).
//!
//! The samples are an input ([`Neighborhood`]): lime draws them from numpy's
//! RandomState, which this crate does not reproduce, so given lime's samples the
//! coefficients, intercept and score are lime's. [`LimeTabular::sample`] draws them the
//! way lime does (a bin per feature by its training frequency, then a value from a
//! normal with the bin's mean and standard deviation truncated to the bin) from a
//! ChaCha8 stream seeded by the caller. Where a bin holds a single value, lime returns
//! the bin's z-score (0) instead of a value; the sampler returns the value.

use thiserror::Error;

use crate::model::{DataError, ModelCallError, Predictor, call, check_model_features, check_rows};
use crate::rng::Rng;

/// lime adds this to every bin's standard deviation so none is zero.
const STD_FLOOR: f64 = 0.00000000001;

/// How lime picks the features of the explanation when asked for fewer than there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeatureSelection {
    /// lime's `auto`: forward selection for at most 6 features, else highest weights.
    #[default]
    Auto,
    /// Every feature, whatever `num_features` says.
    None,
    /// Greedily add the feature that most improves the weighted R² of an unregularized
    /// fit.
    ForwardSelection,
    /// The features with the largest coefficients of a ridge fit (alpha 0.01) on all.
    HighestWeights,
}

/// Options of one explanation; the defaults are lime's.
#[derive(Debug, Clone, PartialEq)]
pub struct LimeOptions {
    /// Kernel width; `None` is 0.75·√(features).
    pub kernel_width: Option<f64>,
    /// Most features in the explanation (lime's `num_features`, default 10).
    pub num_features: usize,
    pub feature_selection: FeatureSelection,
}

impl Default for LimeOptions {
    fn default() -> Self {
        LimeOptions { kernel_width: None, num_features: 10, feature_selection: FeatureSelection::Auto }
    }
}

/// Why LIME could not explain an instance.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LimeError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Model(#[from] ModelCallError),
    #[error("{what} row {row} has the non-finite value {value} for feature {feature}; lime needs finite values")]
    NonFinite { what: &'static str, row: usize, feature: usize, value: f64 },
    #[error("instance has {got} features, the training data has {expected}")]
    InstanceLength { expected: usize, got: usize },
    #[error("a neighborhood needs the instance and at least one sample, got {0} rows")]
    TooFewSamples(usize),
    #[error("output {output} does not exist; the model returns {outputs}")]
    Output { output: usize, outputs: usize },
    #[error("num_features must be at least 1")]
    NoFeatures,
    #[error("kernel width must be finite and positive, got {0}")]
    KernelWidth(f64),
    #[error("the weighted ridge regression has no solution")]
    Singular,
}

/// One feature's quartile bins and what lime keeps about them.
#[derive(Debug, Clone, PartialEq)]
struct Bins {
    /// Distinct quartiles (numpy's linear percentiles 25, 50, 75, deduplicated), so
    /// there are `edges.len() + 1` bins; bin `b` holds `edges[b-1] < v <= edges[b]`.
    edges: Vec<f64>,
    /// The bins training values fall in, ascending, and their shares of the rows.
    seen: Vec<usize>,
    shares: Vec<f64>,
    /// Per bin: mean and standard deviation (plus [`STD_FLOOR`]) of the training values
    /// in it (0 for an empty bin), and the bounds samples are truncated to.
    means: Vec<f64>,
    stds: Vec<f64>,
    mins: Vec<f64>,
    maxs: Vec<f64>,
}

impl Bins {
    fn new(column: &[f64]) -> Self {
        let mut sorted = column.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = [0.25, 0.5, 0.75].iter().map(|&q| percentile(&sorted, q)).collect();
        edges.dedup();
        let count = edges.len() + 1;
        let mut members: Vec<Vec<f64>> = vec![Vec::new(); count];
        for &value in column {
            members[bin_of(&edges, value)].push(value);
        }
        let (mut seen, mut shares, mut means, mut stds) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (bin, values) in members.iter().enumerate() {
            if values.is_empty() {
                means.push(0.0);
                stds.push(STD_FLOOR);
                continue;
            }
            seen.push(bin);
            shares.push(values.len() as f64 / column.len() as f64);
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / values.len() as f64;
            means.push(mean);
            stds.push(variance.sqrt() + STD_FLOOR);
        }
        let (low, high) = (sorted[0], sorted[sorted.len() - 1]);
        let mins = std::iter::once(low).chain(edges.iter().copied()).collect();
        let maxs = edges.iter().copied().chain(std::iter::once(high)).collect();
        Bins { edges, seen, shares, means, stds, mins, maxs }
    }

    fn bin(&self, value: f64) -> usize {
        bin_of(&self.edges, value)
    }

    /// A bin drawn by training share, then a value in it.
    fn draw(&self, rng: &mut Rng) -> (usize, f64) {
        let u = rng.uniform();
        let mut cumulative = 0.0;
        let mut bin = self.seen.last().copied().unwrap_or(0);
        for (&candidate, &share) in self.seen.iter().zip(&self.shares) {
            cumulative += share;
            if u < cumulative {
                bin = candidate;
                break;
            }
        }
        (bin, self.value_in(bin, rng))
    }

    /// A normal deviate with the bin's mean and deviation, truncated to the bin by
    /// rejection. The lower bound is excluded above the first bin, so the value falls in
    /// the same bin again when discretized.
    fn value_in(&self, bin: usize, rng: &mut Rng) -> f64 {
        let (low, high) = (self.mins[bin], self.maxs[bin]);
        if low >= high {
            return high;
        }
        let inside = |v: f64| (v > low || (bin == 0 && v == low)) && v <= high;
        // The mean lies inside the bin, so at least about a third of the draws are
        // accepted; the cap only guards against pathological bounds.
        for _ in 0..1000 {
            let value = self.means[bin] + self.stds[bin] * rng.normal();
            if inside(value) {
                return value;
            }
        }
        self.means[bin].clamp(low, high)
    }
}

/// numpy's `searchsorted(edges, value)` (side left): the number of edges below `value`.
fn bin_of(edges: &[f64], value: f64) -> usize {
    edges.partition_point(|&edge| edge < value)
}

/// numpy's default (linear) percentile of sorted finite data, with its interpolation
/// written as numpy writes it so the bin edges are the same doubles.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    // numpy's virtual index for the linear method: n·q + (1 − q) − 1 = q·(n − 1).
    let index = n as f64 * q + (1.0 - q) - 1.0;
    let below = index.floor().clamp(0.0, (n - 1) as f64);
    let t = index - below;
    let below = below as usize;
    let above = (below + 1).min(n - 1);
    let (a, b) = (sorted[below], sorted[above]);
    let difference = b - a;
    // numpy's `_lerp`: from the nearer end, so t = 1 gives b exactly.
    if t >= 0.5 { b - difference * (1.0 - t) } else { a + difference * t }
}

/// The perturbed samples around one instance: `rows[0]` is the instance, `binary[i][j]`
/// is 1.0 when sample `i` has feature `j` in the instance's bin (always for row 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Neighborhood {
    rows: Vec<Vec<f64>>,
    binary: Vec<Vec<f64>>,
}

impl Neighborhood {
    pub fn rows(&self) -> &[Vec<f64>] {
        &self.rows
    }

    pub fn binary(&self) -> &[Vec<f64>] {
        &self.binary
    }
}

/// An explanation of one output for one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct LimeExplanation {
    /// `(feature, coefficient)` of the features used, by decreasing |coefficient| (ties
    /// in selection order), as lime's `local_exp`.
    pub weights: Vec<(usize, f64)>,
    pub intercept: f64,
    /// Weighted R² of the fit on the neighborhood (lime's `score`).
    pub score: f64,
    /// The fit's prediction for the instance (lime's `local_pred`).
    pub local_prediction: f64,
    /// The model's output for the instance.
    pub prediction: f64,
}

/// The quartile discretization of a training set, built once and used for every
/// explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct LimeTabular {
    bins: Vec<Bins>,
}

impl LimeTabular {
    /// Training rows must be finite: their quartiles are the bin edges.
    pub fn new(training: &[Vec<f64>]) -> Result<Self, LimeError> {
        let num_features = check_rows("training data", training)?;
        check_finite("training data", training)?;
        let bins = (0..num_features)
            .map(|feature| Bins::new(&training.iter().map(|row| row[feature]).collect::<Vec<_>>()))
            .collect();
        Ok(LimeTabular { bins })
    }

    pub fn num_features(&self) -> usize {
        self.bins.len()
    }

    /// The bin edges of `feature` (empty if it does not exist).
    pub fn edges(&self, feature: usize) -> &[f64] {
        self.bins.get(feature).map_or(&[], |bins| &bins.edges)
    }

    fn check_instance(&self, instance: &[f64]) -> Result<(), LimeError> {
        if instance.len() != self.num_features() {
            return Err(LimeError::InstanceLength { expected: self.num_features(), got: instance.len() });
        }
        check_finite("instance", std::slice::from_ref(&instance.to_vec()))
    }

    /// The neighborhood made of the instance and the caller's `samples` (for instance
    /// lime's own, to reproduce its numbers), discretized here.
    pub fn neighborhood(&self, instance: &[f64], samples: &[Vec<f64>]) -> Result<Neighborhood, LimeError> {
        self.check_instance(instance)?;
        if samples.is_empty() {
            return Err(LimeError::TooFewSamples(1));
        }
        for (row, sample) in samples.iter().enumerate() {
            if sample.len() != self.num_features() {
                let expected = self.num_features();
                return Err(DataError::RowLength { what: "samples", row, expected, got: sample.len() }.into());
            }
        }
        check_finite("samples", samples)?;
        let home: Vec<usize> = self.bins.iter().zip(instance).map(|(bins, &v)| bins.bin(v)).collect();
        let mut rows = Vec::with_capacity(samples.len() + 1);
        let mut binary = Vec::with_capacity(samples.len() + 1);
        rows.push(instance.to_vec());
        binary.push(vec![1.0; instance.len()]);
        for sample in samples {
            let same = self.bins.iter().zip(sample).zip(&home).map(|((bins, &v), &h)| f64::from(bins.bin(v) == h));
            binary.push(same.collect());
            rows.push(sample.clone());
        }
        Ok(Neighborhood { rows, binary })
    }

    /// `num_samples` rows (the instance first, as lime counts them) drawn as lime draws
    /// them, from a ChaCha8 stream seeded with `seed`.
    pub fn sample(&self, instance: &[f64], num_samples: usize, seed: u64) -> Result<Neighborhood, LimeError> {
        self.check_instance(instance)?;
        if num_samples < 2 {
            return Err(LimeError::TooFewSamples(num_samples));
        }
        let home: Vec<usize> = self.bins.iter().zip(instance).map(|(bins, &v)| bins.bin(v)).collect();
        let mut rng = Rng::new(seed);
        let mut rows = vec![instance.to_vec()];
        let mut binary = vec![vec![1.0; instance.len()]];
        for _ in 1..num_samples {
            let (mut row, mut same) = (Vec::with_capacity(instance.len()), Vec::with_capacity(instance.len()));
            for (bins, &h) in self.bins.iter().zip(&home) {
                let (bin, value) = bins.draw(&mut rng);
                row.push(value);
                same.push(f64::from(bin == h));
            }
            rows.push(row);
            binary.push(same);
        }
        Ok(Neighborhood { rows, binary })
    }

    /// Explains `output` of `model` (an index into its outputs: for a classifier
    /// returning class probabilities, the class) on `neighborhood`, calling the model
    /// once on its rows. For a regressor (output 0) this is the fit lime's regression
    /// mode reports under label 1 (it lists the negated weights under label 0).
    pub fn explain<P: Predictor + ?Sized>(
        &self,
        model: &P,
        neighborhood: &Neighborhood,
        output: usize,
        options: &LimeOptions,
    ) -> Result<LimeExplanation, LimeError> {
        if options.num_features == 0 {
            return Err(LimeError::NoFeatures);
        }
        let num_features = self.num_features();
        let kernel_width = options.kernel_width.unwrap_or((num_features as f64).sqrt() * 0.75);
        if !(kernel_width.is_finite() && kernel_width > 0.0) {
            return Err(LimeError::KernelWidth(kernel_width));
        }
        if neighborhood.binary.first().is_none_or(|row| row.len() != num_features) {
            return Err(LimeError::InstanceLength {
                expected: num_features,
                got: neighborhood.binary.first().map_or(0, Vec::len),
            });
        }
        check_model_features("training data", model, num_features)?;
        let outputs = call(model, &neighborhood.rows, None)?;
        let width = outputs[0].len();
        if output >= width {
            return Err(LimeError::Output { output, outputs: width });
        }
        let labels: Vec<f64> = outputs.iter().map(|values| values[output]).collect();
        let data = &neighborhood.binary;
        // Row 0 is all ones, so the squared distance is the count of zeros; taken through
        // the square root and squared again as lime does, so the weights round alike.
        let weights: Vec<f64> = data
            .iter()
            .map(|row| {
                let distance = (row.iter().filter(|&&v| v == 0.0).count() as f64).sqrt();
                (-(distance * distance) / (kernel_width * kernel_width)).exp().sqrt()
            })
            .collect();
        let used = select_features(data, &labels, &weights, options)?;
        let fit = ridge(data, &used, &labels, &weights, 1.0).ok_or(LimeError::Singular)?;
        let score = fit.score(data, &used, &labels, &weights);
        let local_prediction = fit.predict(&data[0], &used);
        let mut ranked: Vec<(usize, f64)> = used.iter().copied().zip(fit.coefficients.iter().copied()).collect();
        // Stable, like Python's `sorted`: equal magnitudes keep selection order.
        ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        Ok(LimeExplanation {
            weights: ranked,
            intercept: fit.intercept,
            score,
            local_prediction,
            prediction: labels[0],
        })
    }
}

fn check_finite(what: &'static str, rows: &[Vec<f64>]) -> Result<(), LimeError> {
    for (row, values) in rows.iter().enumerate() {
        if let Some((feature, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(LimeError::NonFinite { what, row, feature, value });
        }
    }
    Ok(())
}

/// lime's `feature_selection`. Asked for at least as many features as there are, every
/// method ends with all of them (forward selection adds each in turn, highest weights
/// keeps every one), and the fit does not depend on their order, so that case skips
/// the selection fits.
fn select_features(
    data: &[Vec<f64>],
    labels: &[f64],
    weights: &[f64],
    options: &LimeOptions,
) -> Result<Vec<usize>, LimeError> {
    let num_features = data[0].len();
    let all: Vec<usize> = (0..num_features).collect();
    let wanted = options.num_features;
    let method = match options.feature_selection {
        FeatureSelection::Auto if wanted <= 6 => FeatureSelection::ForwardSelection,
        FeatureSelection::Auto => FeatureSelection::HighestWeights,
        other => other,
    };
    if method == FeatureSelection::None || wanted >= num_features {
        return Ok(all);
    }
    match method {
        FeatureSelection::HighestWeights => {
            let fit = ridge(data, &all, labels, weights, 0.01).ok_or(LimeError::Singular)?;
            // lime ranks coefficient times the instance's value, which is 1 for every
            // binary feature.
            let mut ranked: Vec<(usize, f64)> = all.iter().map(|&f| (f, fit.coefficients[f] * data[0][f])).collect();
            ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            Ok(ranked.into_iter().take(wanted).map(|(f, _)| f).collect())
        }
        _ => {
            let mut used: Vec<usize> = Vec::with_capacity(wanted);
            for _ in 0..wanted {
                let (mut best, mut best_score) = (0, -100000000.0);
                for feature in all.iter().copied().filter(|f| !used.contains(f)) {
                    let mut candidate = used.clone();
                    candidate.push(feature);
                    let Some(fit) = ridge(data, &candidate, labels, weights, 0.0) else { continue };
                    let score = fit.score(data, &candidate, labels, weights);
                    if score > best_score {
                        best = feature;
                        best_score = score;
                    }
                }
                used.push(best);
            }
            Ok(used)
        }
    }
}

/// A fitted linear model on the columns it was fitted on.
struct Fit {
    coefficients: Vec<f64>,
    intercept: f64,
}

impl Fit {
    fn predict(&self, row: &[f64], columns: &[usize]) -> f64 {
        self.intercept + columns.iter().zip(&self.coefficients).map(|(&c, w)| w * row[c]).sum::<f64>()
    }

    /// scikit-learn's weighted `r2_score` of the fit (1 for a constant target fitted
    /// exactly, 0 if not, as its `force_finite`).
    fn score(&self, data: &[Vec<f64>], columns: &[usize], labels: &[f64], weights: &[f64]) -> f64 {
        let total_weight: f64 = weights.iter().sum();
        let mean = labels.iter().zip(weights).map(|(y, w)| y * w).sum::<f64>() / total_weight;
        let (mut residual, mut total) = (0.0, 0.0);
        for ((row, &y), &w) in data.iter().zip(labels).zip(weights) {
            let error = y - self.predict(row, columns);
            residual += w * error * error;
            total += w * (y - mean) * (y - mean);
        }
        if total == 0.0 {
            return if residual == 0.0 { 1.0 } else { 0.0 };
        }
        1.0 - residual / total
    }
}

/// scikit-learn's `Ridge(alpha, fit_intercept=True).fit(X, y, sample_weight)`: minimizes
/// `Σ wᵢ (yᵢ − b − xᵢ·β)² + α‖β‖²` by centering on the weighted means and solving the
/// normal equations. With α = 0 (lime's forward selection) a column that depends on
/// earlier ones gets coefficient 0, which leaves the fitted values (and so the score)
/// those of the least-squares solution scikit-learn falls back to.
fn ridge(data: &[Vec<f64>], columns: &[usize], labels: &[f64], weights: &[f64], alpha: f64) -> Option<Fit> {
    let k = columns.len();
    let total_weight: f64 = weights.iter().sum();
    if total_weight <= 0.0 || !total_weight.is_finite() {
        return None;
    }
    let x_mean: Vec<f64> = columns
        .iter()
        .map(|&c| data.iter().zip(weights).map(|(row, w)| row[c] * w).sum::<f64>() / total_weight)
        .collect();
    let y_mean = labels.iter().zip(weights).map(|(y, w)| y * w).sum::<f64>() / total_weight;
    let mut gram = vec![0.0; k * k];
    let mut rhs = vec![0.0; k];
    let mut centered = vec![0.0; k];
    for ((row, &y), &w) in data.iter().zip(labels).zip(weights) {
        for (j, &c) in columns.iter().enumerate() {
            centered[j] = row[c] - x_mean[j];
        }
        let y = y - y_mean;
        for j in 0..k {
            rhs[j] += w * centered[j] * y;
            for l in 0..=j {
                gram[j * k + l] += w * centered[j] * centered[l];
            }
        }
    }
    for j in 0..k {
        gram[j * k + j] += alpha;
    }
    let coefficients = solve_spd(&mut gram, &rhs, k)?;
    let intercept = y_mean - x_mean.iter().zip(&coefficients).map(|(m, b)| m * b).sum::<f64>();
    Some(Fit { coefficients, intercept })
}

/// Solves `a · x = b` for symmetric positive semi-definite `a` (lower triangle, row
/// major) by Cholesky. A pivot that vanishes relative to its diagonal marks a column
/// dependent on earlier ones; its unknown is set to 0 and its row and column dropped.
/// `None` on non-finite numbers.
fn solve_spd(a: &mut [f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    let original_diagonal: Vec<f64> = (0..n).map(|j| a[j * n + j]).collect();
    let mut dropped = vec![false; n];
    for j in 0..n {
        let mut diagonal = a[j * n + j];
        for m in 0..j {
            if !dropped[m] {
                diagonal -= a[j * n + m] * a[j * n + m];
            }
        }
        if !diagonal.is_finite() {
            return None;
        }
        if diagonal <= 1e-12 * original_diagonal[j].abs().max(f64::MIN_POSITIVE) {
            dropped[j] = true;
            continue;
        }
        let diagonal = diagonal.sqrt();
        a[j * n + j] = diagonal;
        for i in j + 1..n {
            let mut value = a[i * n + j];
            for m in 0..j {
                if !dropped[m] {
                    value -= a[i * n + m] * a[j * n + m];
                }
            }
            a[i * n + j] = value / diagonal;
        }
    }
    // Forward substitution L y = b, then back substitution Lᵀ x = y, skipping dropped.
    let mut y = vec![0.0; n];
    for i in 0..n {
        if dropped[i] {
            continue;
        }
        let mut value = b[i];
        for m in 0..i {
            if !dropped[m] {
                value -= a[i * n + m] * y[m];
            }
        }
        y[i] = value / a[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        if dropped[i] {
            continue;
        }
        let mut value = y[i];
        for m in i + 1..n {
            if !dropped[m] {
                value -= a[m * n + i] * x[m];
            }
        }
        x[i] = value / a[i * n + i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PredictError;

    #[test]
    fn percentiles_match_numpy() {
        // np.percentile([1, 2, 3, 4], [25, 50, 75]) == [1.75, 2.5, 3.25]
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!([0.25, 0.5, 0.75].map(|q| percentile(&sorted, q)), [1.75, 2.5, 3.25]);
        assert_eq!(percentile(&[7.0], 0.75), 7.0);
    }

    #[test]
    fn bins_follow_lime() {
        // Quartiles of 0..8 are 2, 4, 6; values equal to an edge fall in the bin below.
        let column: Vec<f64> = (0..9).map(f64::from).collect();
        let bins = Bins::new(&column);
        assert_eq!(bins.edges, vec![2.0, 4.0, 6.0]);
        assert_eq!([2.0, 2.5, 6.0, 6.5].map(|v| bins.bin(v)), [0, 1, 2, 3]);
        assert_eq!(bins.seen, vec![0, 1, 2, 3]);
        assert_eq!(bins.mins, vec![0.0, 2.0, 4.0, 6.0]);
        assert_eq!(bins.maxs, vec![2.0, 4.0, 6.0, 8.0]);
        assert_eq!(bins.means[0], 1.0);
        // Ties collapse edges: a mostly-zero column has fewer bins.
        let ties = Bins::new(&[0.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(ties.edges, vec![0.0]);
        assert_eq!(ties.seen, vec![0, 1]);
        assert_eq!(ties.shares, vec![0.8, 0.2]);
    }

    #[test]
    fn ridge_matches_the_closed_form() {
        // One column: β = Σw(x−x̄)(y−ȳ) / (Σw(x−x̄)² + α) with weighted means.
        let data = vec![vec![0.0], vec![1.0], vec![1.0]];
        let (labels, weights) = ([1.0, 3.0, 5.0], [1.0, 1.0, 2.0]);
        let fit = ridge(&data, &[0], &labels, &weights, 1.0).expect("solves");
        let x_mean = 3.0 / 4.0;
        let y_mean = (1.0 + 3.0 + 10.0) / 4.0;
        let sxy =
            (0.0 - x_mean) * (1.0 - y_mean) + (1.0 - x_mean) * (3.0 - y_mean) + 2.0 * (1.0 - x_mean) * (5.0 - y_mean);
        let sxx = x_mean * x_mean + (1.0 - x_mean) * (1.0 - x_mean) * 3.0;
        let beta = sxy / (sxx + 1.0);
        assert!((fit.coefficients[0] - beta).abs() < 1e-14);
        assert!((fit.intercept - (y_mean - x_mean * beta)).abs() < 1e-14);
    }

    #[test]
    fn dependent_columns_keep_the_least_squares_fit() {
        let data = vec![vec![0.0, 0.0], vec![1.0, 1.0], vec![1.0, 1.0], vec![0.0, 0.0]];
        let (labels, weights) = ([1.0, 2.0, 2.0, 1.0], [1.0; 4]);
        let fit = ridge(&data, &[0, 1], &labels, &weights, 0.0).expect("solves");
        assert_eq!(fit.coefficients[1], 0.0);
        assert!((fit.score(&data, &[0, 1], &labels, &weights) - 1.0).abs() < 1e-12);
    }

    fn training() -> Vec<Vec<f64>> {
        (0..40).map(|i| vec![f64::from(i) * 0.1, f64::from(i % 7), (f64::from(i) * 0.37).sin()]).collect()
    }

    fn model(rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
        Ok(rows.iter().map(|r| vec![r[0] + 2.0 * r[1], -r[2]]).collect())
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(LimeTabular::new(&[]), Err(LimeError::Data(_))));
        assert!(matches!(LimeTabular::new(&[vec![f64::NAN]]), Err(LimeError::NonFinite { .. })));
        let lime = LimeTabular::new(&training()).expect("valid");
        assert_eq!(lime.sample(&[1.0], 10, 0), Err(LimeError::InstanceLength { expected: 3, got: 1 }));
        assert_eq!(lime.sample(&[1.0, 2.0, 3.0], 1, 0), Err(LimeError::TooFewSamples(1)));
        assert!(matches!(lime.neighborhood(&[1.0, f64::NAN, 3.0], &[vec![0.0; 3]]), Err(LimeError::NonFinite { .. })));
        assert!(matches!(lime.neighborhood(&[1.0, 2.0, 3.0], &[vec![0.0; 2]]), Err(LimeError::Data(_))));
        let hood = lime.sample(&[1.0, 2.0, 0.5], 50, 3).expect("samples");
        let options = LimeOptions::default();
        assert_eq!(lime.explain(&model, &hood, 2, &options), Err(LimeError::Output { output: 2, outputs: 2 }));
        let zero = LimeOptions { num_features: 0, ..LimeOptions::default() };
        assert_eq!(lime.explain(&model, &hood, 0, &zero), Err(LimeError::NoFeatures));
        let width = LimeOptions { kernel_width: Some(-1.0), ..LimeOptions::default() };
        assert_eq!(lime.explain(&model, &hood, 0, &width), Err(LimeError::KernelWidth(-1.0)));
    }

    #[test]
    fn sampled_rows_fall_in_the_bins_their_binary_says() {
        let lime = LimeTabular::new(&training()).expect("valid");
        let instance = [1.0, 2.0, 0.5];
        let hood = lime.sample(&instance, 300, 11).expect("samples");
        let rows: Vec<Vec<f64>> = hood.rows()[1..].to_vec();
        let again = lime.neighborhood(&instance, &rows).expect("discretizes");
        assert_eq!(again.binary(), hood.binary());
        assert_eq!(lime.sample(&instance, 300, 11), Ok(hood));
    }
}
