//! KernelSHAP (Lundberg and Lee 2017) for any model given as a batch prediction function,
//! with every coalition enumerated, computed as shap's `KernelExplainer` computes it.
//!
//! The value of a coalition S is the model's output averaged over the background rows
//! with the features in S taken from the explained row. The attributions are the
//! weighted least-squares fit of those values with the Shapley kernel as weights,
//! constrained to add up to `f(x) - E[f]`. With all coalitions enumerated this fit is
//! the exact Shapley value of the game (the kernel was derived for that), which is why
//! only exact enumeration is offered: a sampled estimate would need its own error bound.

use thiserror::Error;

/// Most features a row may differ from the background in. Enumeration costs
/// `2^M · background` model rows; at 11 features and a 100-row background that is about
/// 200 000 rows, already a lot for a remote prediction endpoint.
pub const MAX_EXACT_FEATURES: usize = 11;

/// Relative tolerance of the additivity check. The constraint is built in (the last
/// attribution is what the others leave), so only rounding of a dozen terms remains.
const ADDITIVITY_TOLERANCE: f64 = 1e-9;

/// How the model may be called: the caller's model is often a remote endpoint, so both
/// the batch size and the number of calls are bounded, and an explanation that would
/// exceed the budget is refused before the first call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most rows passed to one model call.
    pub batch_rows: usize,
    /// Most model calls one explanation may make.
    pub max_calls: usize,
}

/// Why KernelSHAP could not explain a row.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum KernelShapError {
    #[error("background is empty; kernelshap needs at least one background row")]
    EmptyBackground,
    #[error("background row {index} has {got} features, the first background row has {expected}")]
    BackgroundRowLength { index: usize, expected: usize, got: usize },
    #[error("row has {got} features, the background has {expected}")]
    RowLength { expected: usize, got: usize },
    #[error("batch size is zero; the model must be given at least one row per call")]
    ZeroBatch,
    #[error("background weights must be {rows} finite non-negative numbers with a positive sum")]
    Weights { rows: usize },
    #[error("the row differs from the background in {varying} features; exact enumeration supports at most {limit}")]
    TooManyFeatures { varying: usize, limit: usize },
    #[error("explaining this row takes {needed} model calls of at most {batch_rows} rows; the budget is {budget}")]
    BudgetExceeded { needed: usize, batch_rows: usize, budget: usize },
    #[error("model returned {got} outputs for {expected} rows")]
    OutputCount { expected: usize, got: usize },
    #[error("model returned the non-finite output {value} for row {row} of call {call}")]
    NonFinite { call: usize, row: usize, value: f64 },
    #[error("kernelshap normal equations are singular for {features} features")]
    Singular { features: usize },
    #[error("attributions do not add up to the prediction: {sum} + {expected} != {prediction}")]
    Additivity { sum: f64, expected: f64, prediction: f64 },
}

/// Attributions of one row for a single-output model.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelAttributions {
    values: Vec<f64>,
    expected_value: f64,
    prediction: f64,
    calls: usize,
    rows: usize,
}

impl KernelAttributions {
    /// One attribution per feature; zero for features equal in the row and in every
    /// background row, which no coalition can change.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Mean model output over the background rows.
    pub fn expected_value(&self) -> f64 {
        self.expected_value
    }

    /// The model's output for the row; equals `expected_value + sum(values)`.
    pub fn prediction(&self) -> f64 {
        self.prediction
    }

    /// Model calls the explanation made.
    pub fn calls(&self) -> usize {
        self.calls
    }

    /// Rows the model evaluated over all calls.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// KernelSHAP against one background set, validated once for the rows it explains.
#[derive(Debug, Clone)]
pub struct KernelShap<'a> {
    background: &'a [Vec<f64>],
    /// Each background row's share of the expectation, summing to 1; `None`: equal.
    weights: Option<Vec<f64>>,
    num_features: usize,
    budget: Budget,
}

impl<'a> KernelShap<'a> {
    /// The background rows stand in for "feature unknown", each with equal weight, as
    /// shap does with a background passed as data (summarizing a large set, e.g. by
    /// k-means, is the caller's choice).
    pub fn new(background: &'a [Vec<f64>], budget: Budget) -> Result<Self, KernelShapError> {
        let first = background.first().ok_or(KernelShapError::EmptyBackground)?;
        let num_features = first.len();
        if let Some((index, row)) = background.iter().enumerate().find(|(_, row)| row.len() != num_features) {
            return Err(KernelShapError::BackgroundRowLength { index, expected: num_features, got: row.len() });
        }
        if budget.batch_rows == 0 {
            return Err(KernelShapError::ZeroBatch);
        }
        Ok(KernelShap { background, weights: None, num_features, budget })
    }

    /// As [`KernelShap::new`], with a weight per background row (a summarized
    /// background: k-means centroids weighted by their cluster sizes, as shap's
    /// `kmeans` gives them). Weights must be finite, non-negative and sum above 0;
    /// they are normalized to sum to 1.
    pub fn weighted(background: &'a [Vec<f64>], weights: &[f64], budget: Budget) -> Result<Self, KernelShapError> {
        let mut shap = KernelShap::new(background, budget)?;
        let total: f64 = weights.iter().sum();
        let valid = weights.len() == background.len()
            && weights.iter().all(|w| w.is_finite() && *w >= 0.0)
            && total.is_finite()
            && total > 0.0;
        if !valid {
            return Err(KernelShapError::Weights { rows: background.len() });
        }
        shap.weights = Some(weights.iter().map(|w| w / total).collect());
        Ok(shap)
    }

    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// The model calls (and rows) explaining a row that differs from the background in
    /// `varying` (at most [`MAX_EXACT_FEATURES`]) features takes: the row itself, then
    /// the background with each coalition but the full one (the empty coalition is the
    /// background as is).
    fn cost(&self, varying: usize) -> (usize, usize) {
        // With nothing varying the empty coalition is still needed, for E[f].
        let coalitions = ((1usize << varying) - 1).max(1);
        let rows = 1 + coalitions * self.background.len();
        (rows.div_ceil(self.budget.batch_rows), rows)
    }

    /// Attributions for `row` under `model`, which maps a batch of rows to one output
    /// per row. Checked for additivity: `expected_value + sum(values) == f(row)`.
    pub fn explain<F>(&self, model: F, row: &[f64]) -> Result<KernelAttributions, KernelShapError>
    where
        F: Fn(&[Vec<f64>]) -> Vec<f64>,
    {
        if row.len() != self.num_features {
            return Err(KernelShapError::RowLength { expected: self.num_features, got: row.len() });
        }
        // Like shap, enumerate only the features some background row differs in: the
        // others are dummy players (their Shapley value is 0) and would only double the
        // model rows per feature. Unlike shap, "differs" is exact inequality (NaN equal
        // to NaN), not `np.allclose`, so a tiny real difference still gets its share.
        let varying: Vec<usize> = (0..self.num_features)
            .filter(|&feature| self.background.iter().any(|b| !same(b[feature], row[feature])))
            .collect();
        let m = varying.len();
        if m > MAX_EXACT_FEATURES {
            return Err(KernelShapError::TooManyFeatures { varying: m, limit: MAX_EXACT_FEATURES });
        }
        let (needed, total_rows) = self.cost(m);
        if needed > self.budget.max_calls {
            return Err(KernelShapError::BudgetExceeded {
                needed,
                batch_rows: self.budget.batch_rows,
                budget: self.budget.max_calls,
            });
        }

        // Coalition masks over `varying`: bit j set means feature varying[j] comes from
        // the row. Mask 0 is the background as is; the full mask is the row alone, summed
        // in a slot of its own (`1 << m`) because with no feature varying the full mask
        // is also the empty one.
        let full = (1usize << m) - 1;
        let row_slot = 1usize << m;
        // A batch never needs more room than the whole explanation (the budget may allow
        // "any size", i.e. usize::MAX rows, which could not be allocated up front).
        let batch_rows = self.budget.batch_rows.min(total_rows);
        let mut evaluator = Evaluator::new(&model, batch_rows, row_slot + 1);
        evaluator.push(row.to_vec(), row_slot, 1.0)?;
        for mask in 0..full.max(1) {
            for (index, background) in self.background.iter().enumerate() {
                let mut synthetic = background.clone();
                for (bit, &feature) in varying.iter().enumerate() {
                    if mask & (1 << bit) != 0 {
                        synthetic[feature] = row[feature];
                    }
                }
                // Unweighted rows count 1 and the sums are divided by their number below,
                // which keeps the equal-weight arithmetic exactly shap's.
                let weight = self.weights.as_ref().map_or(1.0, |w| w[index]);
                evaluator.push(synthetic, mask, weight)?;
            }
        }
        let (sums, calls, rows) = evaluator.finish()?;
        let count = if self.weights.is_some() { 1.0 } else { self.background.len() as f64 };
        let prediction = sums[row_slot];
        let expected_value = sums[0] / count;
        let means: Vec<f64> = sums[..full].iter().map(|sum| sum / count).collect();

        let phi = solve(&means, expected_value, prediction, m)?;
        let mut values = vec![0.0; self.num_features];
        for (&feature, &value) in varying.iter().zip(&phi) {
            values[feature] = value;
        }

        let sum: f64 = values.iter().sum();
        let scale = prediction.abs().max(expected_value.abs()).max(1.0);
        let additive = (sum + expected_value - prediction).abs() <= ADDITIVITY_TOLERANCE * scale;
        if !additive || values.iter().any(|v| !v.is_finite()) {
            return Err(KernelShapError::Additivity { sum, expected: expected_value, prediction });
        }
        Ok(KernelAttributions { values, expected_value, prediction, calls, rows })
    }
}

/// Whether two inputs are the same value for the model: NaN (missing) equals NaN.
fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Streams synthetic rows to the model in batches and sums its outputs per coalition,
/// so memory stays one batch however many rows the enumeration makes.
struct Evaluator<'m, F> {
    model: &'m F,
    batch_rows: usize,
    batch: Vec<Vec<f64>>,
    /// Coalition (accumulator index) of each row in `batch`, and the row's weight.
    targets: Vec<(usize, f64)>,
    sums: Vec<f64>,
    calls: usize,
    rows: usize,
}

impl<'m, F> Evaluator<'m, F>
where
    F: Fn(&[Vec<f64>]) -> Vec<f64>,
{
    fn new(model: &'m F, batch_rows: usize, targets: usize) -> Self {
        Evaluator {
            model,
            batch_rows,
            batch: Vec::with_capacity(batch_rows),
            targets: Vec::with_capacity(batch_rows),
            sums: vec![0.0; targets],
            calls: 0,
            rows: 0,
        }
    }

    fn push(&mut self, row: Vec<f64>, target: usize, weight: f64) -> Result<(), KernelShapError> {
        self.batch.push(row);
        self.targets.push((target, weight));
        if self.batch.len() == self.batch_rows { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> Result<(), KernelShapError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let call = self.calls;
        let outputs = (self.model)(&self.batch);
        self.calls += 1;
        self.rows += self.batch.len();
        if outputs.len() != self.batch.len() {
            return Err(KernelShapError::OutputCount { expected: self.batch.len(), got: outputs.len() });
        }
        for (row, (&value, &(target, weight))) in outputs.iter().zip(&self.targets).enumerate() {
            if !value.is_finite() {
                return Err(KernelShapError::NonFinite { call, row, value });
            }
            self.sums[target] += if weight == 1.0 { value } else { weight * value };
        }
        self.batch.clear();
        self.targets.clear();
        Ok(())
    }

    /// Per-coalition sums of outputs, calls made, rows evaluated.
    fn finish(mut self) -> Result<(Vec<f64>, usize, usize), KernelShapError> {
        self.flush()?;
        Ok((self.sums, self.calls, self.rows))
    }
}

/// The Shapley kernel weight of one coalition of `size` of `m` features:
/// `(m - 1) / (C(m, size) · size · (m - size))`. The empty and full coalitions have
/// infinite weight; they enter as the constraint instead.
fn kernel_weight(m: usize, size: usize) -> f64 {
    (m - 1) as f64 / (binomial(m, size) * size as f64 * (m - size) as f64)
}

fn binomial(n: usize, k: usize) -> f64 {
    // Exact in f64: the largest, C(11, 5) = 462, is far below 2^53, and each partial
    // product is an integer.
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// shap's `KernelExplainer.solve` without regularization: the weighted least squares
/// `v(S) - E[f] ≈ Σ_{i ∈ S} φ_i` over every coalition but the empty and full ones, with
/// the efficiency constraint `Σ φ_i = f(x) - E[f]` used to eliminate the last feature's
/// attribution. The normal equations `(XᵀWX) w = XᵀWy` are then solved by Cholesky, as
/// `XᵀWX` is symmetric positive definite (the singletons alone give it full rank).
///
/// `means[mask]` is `v(S)` for every mask below the full one.
fn solve(means: &[f64], expected: f64, prediction: f64, m: usize) -> Result<Vec<f64>, KernelShapError> {
    let total = prediction - expected;
    match m {
        0 => return Ok(Vec::new()),
        // One player takes everything; shap special-cases this too, as the system
        // below would have no unknowns.
        1 => return Ok(vec![total]),
        _ => {}
    }
    let n = m - 1;
    let last = 1usize << n;
    // shap normalizes the weights to sum to 1; the solution does not depend on it, but
    // the same scale keeps the rounding alike.
    let norm: f64 = (1..m).map(|size| binomial(m, size) * kernel_weight(m, size)).sum();
    let mut gram = vec![0.0; n * n];
    let mut rhs = vec![0.0; n];
    let mut x = vec![0.0; n];
    for (mask, &mean) in means.iter().enumerate().skip(1) {
        let size = mask.count_ones() as usize;
        let weight = kernel_weight(m, size) / norm;
        let in_last = if mask & last != 0 { 1.0 } else { 0.0 };
        let y = mean - expected - in_last * total;
        for (j, xj) in x.iter_mut().enumerate() {
            *xj = if mask & (1 << j) != 0 { 1.0 } else { 0.0 } - in_last;
        }
        for j in 0..n {
            if x[j] == 0.0 {
                continue;
            }
            rhs[j] += weight * x[j] * y;
            for k in 0..=j {
                gram[j * n + k] += weight * x[j] * x[k];
            }
        }
    }
    let w = cholesky_solve(&mut gram, &mut rhs, n).ok_or(KernelShapError::Singular { features: m })?;
    let mut phi = w.to_vec();
    phi.push(total - w.iter().sum::<f64>());
    Ok(phi)
}

/// Solves `a · x = b` for symmetric positive definite `a` (lower triangle filled, row
/// major, `n × n`), in place; `None` if a pivot is not positive.
fn cholesky_solve<'b>(a: &mut [f64], b: &'b mut [f64], n: usize) -> Option<&'b [f64]> {
    for j in 0..n {
        let mut diagonal = a[j * n + j];
        for k in 0..j {
            diagonal -= a[j * n + k] * a[j * n + k];
        }
        if diagonal.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        let diagonal = diagonal.sqrt();
        a[j * n + j] = diagonal;
        for i in j + 1..n {
            let mut value = a[i * n + j];
            for k in 0..j {
                value -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = value / diagonal;
        }
    }
    // Forward substitution with L, then back substitution with Lᵀ.
    for i in 0..n {
        let mut value = b[i];
        for k in 0..i {
            value -= a[i * n + k] * b[k];
        }
        b[i] = value / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut value = b[i];
        for k in i + 1..n {
            value -= a[k * n + i] * b[k];
        }
        b[i] = value / a[i * n + i];
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Budget = Budget { batch_rows: 64, max_calls: usize::MAX };

    #[test]
    fn the_normal_equations_are_positive_definite_for_every_enumerable_size() {
        // The Gram matrix depends only on the number of features, so checking every
        // size up to the limit shows `Singular` cannot happen.
        for m in 2..=MAX_EXACT_FEATURES {
            let means = vec![0.5; (1 << m) - 1];
            let phi = solve(&means, 0.5, 0.5, m).expect("positive definite");
            assert_eq!(phi.len(), m);
        }
    }

    #[test]
    fn kernel_weights_match_the_closed_form() {
        // m = 4: sizes 1 and 3 weigh 3 / (4 · 3) = 1/4, size 2 weighs 3 / (6 · 4) = 1/8.
        assert_eq!(kernel_weight(4, 1), 0.25);
        assert_eq!(kernel_weight(4, 2), 0.125);
        assert_eq!(kernel_weight(4, 3), 0.25);
        assert_eq!(binomial(11, 5), 462.0);
    }

    #[test]
    fn weights_act_as_repeated_background_rows() {
        // A model with interactions, so the background's weighting matters everywhere.
        let model = |rows: &[Vec<f64>]| rows.iter().map(|r| r[0] * r[1] + (r[2] - r[0]).powi(2) + r[1]).collect();
        let rows = vec![vec![0.0, 1.0, 2.0], vec![2.0, 3.0, 0.0], vec![-1.0, 0.5, 1.0]];
        let weights = [3.0, 1.0, 2.0];
        let repeated: Vec<Vec<f64>> =
            rows.iter().zip(weights).flat_map(|(r, w)| std::iter::repeat_n(r.clone(), w as usize)).collect();
        let row = [1.5, -2.0, 0.25];
        let weighted = KernelShap::weighted(&rows, &weights, BUDGET).expect("valid weights").explain(model, &row);
        let plain = KernelShap::new(&repeated, BUDGET).expect("valid background").explain(model, &row);
        let (weighted, plain) = (weighted.expect("explains"), plain.expect("explains"));
        for (a, b) in weighted.values().iter().zip(plain.values()) {
            assert!((a - b).abs() < 1e-12 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert!((weighted.expected_value() - plain.expected_value()).abs() < 1e-12);
        assert_eq!(weighted.rows(), 1 + 7 * rows.len(), "three rows evaluated per coalition, not six");
        for bad in [vec![1.0, 1.0], vec![1.0, -1.0, 1.0], vec![0.0, 0.0, 0.0], vec![f64::NAN, 1.0, 1.0]] {
            assert_eq!(
                KernelShap::weighted(&rows, &bad, BUDGET).expect_err("refused"),
                KernelShapError::Weights { rows: 3 }
            );
        }
    }

    #[test]
    fn a_linear_model_gets_its_terms() {
        let background = vec![vec![0.0, 1.0, 2.0], vec![2.0, 3.0, 0.0]];
        let shap = KernelShap::new(&background, BUDGET).expect("valid background");
        let model = |rows: &[Vec<f64>]| rows.iter().map(|r| 2.0 * r[0] - r[1] + 0.5 * r[2] + 1.0).collect();
        let got = shap.explain(model, &[3.0, -1.0, 4.0]).expect("explains");
        // φ_i = β_i (x_i - mean_i): means are 1, 2, 1.
        let want = [4.0, 3.0, 1.5];
        for (g, w) in got.values().iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{g} vs {w}");
        }
        assert!((got.expected_value() - 1.5).abs() < 1e-12);
        assert!((got.prediction() - 10.0).abs() < 1e-12);
    }

    #[test]
    fn features_equal_everywhere_get_zero_and_cost_nothing() {
        let background = vec![vec![1.0, 5.0, f64::NAN], vec![2.0, 5.0, f64::NAN]];
        let shap = KernelShap::new(&background, BUDGET).expect("valid background");
        let model =
            |rows: &[Vec<f64>]| rows.iter().map(|r| r[0] * r[1] + if r[2].is_nan() { 1.0 } else { 0.0 }).collect();
        let got = shap.explain(model, &[4.0, 5.0, f64::NAN]).expect("explains");
        assert_eq!(got.values()[1], 0.0);
        assert_eq!(got.values()[2], 0.0);
        assert!((got.values()[0] - 12.5).abs() < 1e-12);
        // One varying feature: the row, then the background once.
        assert_eq!(got.rows(), 3);
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let empty: Vec<Vec<f64>> = Vec::new();
        assert_eq!(KernelShap::new(&empty, BUDGET).expect_err("refused"), KernelShapError::EmptyBackground);
        let ragged = vec![vec![0.0, 1.0], vec![0.0]];
        assert_eq!(
            KernelShap::new(&ragged, BUDGET).expect_err("refused"),
            KernelShapError::BackgroundRowLength { index: 1, expected: 2, got: 1 }
        );
        let background = vec![vec![0.0; 12]];
        let zero = Budget { batch_rows: 0, max_calls: 1 };
        assert_eq!(KernelShap::new(&background, zero).expect_err("refused"), KernelShapError::ZeroBatch);
        let shap = KernelShap::new(&background, BUDGET).expect("valid background");
        let sum = |rows: &[Vec<f64>]| rows.iter().map(|r| r.iter().sum()).collect();
        assert_eq!(
            shap.explain(sum, &[1.0; 3]).expect_err("refused"),
            KernelShapError::RowLength { expected: 12, got: 3 }
        );
        assert_eq!(
            shap.explain(sum, &[1.0; 12]).expect_err("refused"),
            KernelShapError::TooManyFeatures { varying: 12, limit: MAX_EXACT_FEATURES }
        );
        // Eleven varying features is the limit and is explained.
        let mut row = [1.0; 12];
        row[11] = 0.0;
        assert!(shap.explain(sum, &row).is_ok());
    }

    #[test]
    fn a_model_that_misbehaves_is_reported() {
        let background = vec![vec![0.0, 0.0], vec![1.0, 1.0]];
        let shap = KernelShap::new(&background, Budget { batch_rows: 4, max_calls: 10 }).expect("valid background");
        let short = |rows: &[Vec<f64>]| vec![0.0; rows.len() - 1];
        assert_eq!(
            shap.explain(short, &[2.0, 2.0]).expect_err("refused"),
            KernelShapError::OutputCount { expected: 4, got: 3 }
        );
        let nan = |rows: &[Vec<f64>]| rows.iter().map(|r| if r[0] == 1.0 { f64::NAN } else { r[1] }).collect();
        match shap.explain(nan, &[2.0, 2.0]) {
            Err(KernelShapError::NonFinite { call: 0, row: 2, value }) => assert!(value.is_nan()),
            other => panic!("{other:?}"),
        }
        // 1 + 3 coalitions × 2 background rows = 7 rows: 2 calls of 4 rows.
        let tight = KernelShap::new(&background, Budget { batch_rows: 4, max_calls: 1 }).expect("valid background");
        let sum = |rows: &[Vec<f64>]| rows.iter().map(|r| r.iter().sum()).collect();
        assert_eq!(
            tight.explain(sum, &[2.0, 2.0]).expect_err("refused"),
            KernelShapError::BudgetExceeded { needed: 2, batch_rows: 4, budget: 1 }
        );
        let got = shap.explain(sum, &[2.0, 2.0]).expect("explains");
        assert_eq!((got.calls(), got.rows()), (2, 7));
    }

    #[test]
    fn an_unbounded_batch_is_one_call() {
        let background = vec![vec![0.0, 1.0], vec![1.0, 0.0]];
        let unbounded = Budget { batch_rows: usize::MAX, max_calls: 1 };
        let shap = KernelShap::new(&background, unbounded).expect("valid background");
        let sum = |rows: &[Vec<f64>]| rows.iter().map(|r| r.iter().sum()).collect();
        let got = shap.explain(sum, &[2.0, 3.0]).expect("explains");
        assert_eq!((got.calls(), got.rows()), (1, 7));
    }

    #[test]
    fn a_nondeterministic_model_fails_the_additivity_check() {
        use std::cell::Cell;
        let background = vec![vec![0.0]];
        let shap = KernelShap::new(&background, BUDGET).expect("valid background");
        // With no feature varying there is nothing to attribute, so f(x) must be E[f].
        let calls = Cell::new(0.0);
        let drifting = |rows: &[Vec<f64>]| {
            calls.set(calls.get() + 1.0);
            vec![calls.get(); rows.len()]
        };
        let tiny = KernelShap::new(&background, Budget { batch_rows: 1, max_calls: 10 }).expect("valid background");
        assert!(matches!(tiny.explain(drifting, &[0.0]), Err(KernelShapError::Additivity { .. })));
        let constant = |rows: &[Vec<f64>]| vec![3.0; rows.len()];
        let got = shap.explain(constant, &[0.0]).expect("explains");
        assert_eq!(got.values(), &[0.0]);
    }
}
