//! Isotonic regression as scikit-learn's `IsotonicRegression(increasing=True, out_of_bounds="clip")`.
//!
//! Fitting sorts the points by x (then y), merges points whose x values are within
//! numpy's float64 resolution (1e-15) of the first of their group into one point carrying
//! the weighted mean of their targets and the sum of their weights, solves the weighted
//! isotonic problem by pooling adjacent violators, and keeps the breakpoints of the
//! resulting step function. Prediction clips to the fitted x range and interpolates
//! linearly between breakpoints, with the arithmetic of scipy's `interp1d`, so values
//! agree with scikit-learn to rounding (checked to 1e-12 on the fixtures from
//! `tests/reference/isotonic.py`).
//!
//! Differences from scikit-learn, all on input it accepts but Sightline refuses: negative
//! weights are an error (scikit-learn silently drops them with the zero weights), and so
//! is a NaN or infinite value anywhere (scikit-learn raises too, with another message).

/// Why isotonic regression cannot be fitted or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IsotonicError {
    /// No point with a positive weight.
    #[error("isotonic regression needs at least one point with a positive weight")]
    Empty,
    /// `x`, `y` and the weights must have one entry per point.
    #[error("input lengths differ: {x} x values, {y} y values, {weights} weights")]
    LengthMismatch { x: usize, y: usize, weights: usize },
    /// A NaN or infinite value.
    #[error("point {index} has a non-finite {field}")]
    NonFinite { index: usize, field: &'static str },
    /// Weights are frequencies or importances; a negative one is a caller bug.
    #[error("point {index} has a negative weight: {weight}")]
    NegativeWeight { index: usize, weight: f64 },
}

/// x values closer than this to the first x of a run count as the same x: numpy's
/// `finfo(float64).resolution`, the tolerance scikit-learn's `_make_unique` uses.
const SAME_X: f64 = 1e-15;

/// A fitted non-decreasing step function with linear interpolation between its breakpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct IsotonicRegression {
    /// Breakpoint x values, strictly increasing (scikit-learn's `X_thresholds_`).
    x: Vec<f64>,
    /// Fitted values at the breakpoints, non-decreasing (scikit-learn's `y_thresholds_`).
    y: Vec<f64>,
}

/// One run of pooled points while adjacent violators are merged.
#[derive(Debug, Clone, Copy)]
struct Block {
    weighted_sum: f64,
    weight: f64,
    /// Number of (merged-x) points in the block.
    len: usize,
}

impl Block {
    fn mean(&self) -> f64 {
        self.weighted_sum / self.weight
    }
}

impl IsotonicRegression {
    /// Fits targets `y` at points `x` with optional non-negative `weights` (1 each by default).
    ///
    /// Points with weight 0 are ignored, as scikit-learn does.
    pub fn fit(x: &[f64], y: &[f64], weights: Option<&[f64]>) -> Result<Self, IsotonicError> {
        let weights_len = weights.map_or(x.len(), <[f64]>::len);
        if x.len() != y.len() || weights_len != x.len() {
            return Err(IsotonicError::LengthMismatch { x: x.len(), y: y.len(), weights: weights_len });
        }
        let mut points = Vec::with_capacity(x.len());
        for index in 0..x.len() {
            let w = weights.map_or(1.0, |w| w[index]);
            for (field, value) in [("x", x[index]), ("y", y[index]), ("weight", w)] {
                if !value.is_finite() {
                    return Err(IsotonicError::NonFinite { index, field });
                }
            }
            if w < 0.0 {
                return Err(IsotonicError::NegativeWeight { index, weight: w });
            }
            if w > 0.0 {
                points.push((x[index], y[index], w));
            }
        }
        // np.lexsort((y, X)): by x, then by y; stable, though equal pairs are interchangeable.
        points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let (unique_x, unique_y, unique_w) = merge_equal_x(&points).ok_or(IsotonicError::Empty)?;
        let fitted = pool_adjacent_violators(&unique_y, &unique_w);
        Ok(Self::trimmed(unique_x, fitted))
    }

    /// Keeps the first and last point and every point whose value differs from a
    /// neighbour's: the interior of a flat run adds nothing to the interpolation.
    fn trimmed(x: Vec<f64>, y: Vec<f64>) -> Self {
        let n = y.len();
        let keep: Vec<bool> = (0..n).map(|i| i == 0 || i + 1 == n || y[i] != y[i - 1] || y[i] != y[i + 1]).collect();
        let pick = |v: &[f64]| v.iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| *v).collect();
        Self { x: pick(&x), y: pick(&y) }
    }

    /// The breakpoints' x values (scikit-learn's `X_thresholds_`).
    pub fn x_thresholds(&self) -> &[f64] {
        &self.x
    }

    /// The fitted values at the breakpoints (scikit-learn's `y_thresholds_`).
    pub fn y_thresholds(&self) -> &[f64] {
        &self.y
    }

    /// The fitted function at `value`: clipped to the fitted x range, linear in between.
    pub fn predict(&self, value: f64) -> Result<f64, IsotonicError> {
        if !value.is_finite() {
            return Err(IsotonicError::NonFinite { index: 0, field: "value to predict" });
        }
        Ok(self.predict_finite(value))
    }

    /// [`Self::predict`] for a value already known to be finite.
    pub(crate) fn predict_finite(&self, value: f64) -> f64 {
        let (x, y) = (&self.x, &self.y);
        // Non-empty by construction: fit refuses an input without a positive weight.
        let (Some(&first), Some(&last)) = (x.first(), x.last()) else { return f64::NAN };
        if x.len() == 1 {
            return y[0];
        }
        let t = value.clamp(first, last);
        // interp1d: i = searchsorted(x, t, side="left") clipped to [1, n - 1]; then the
        // segment (i - 1, i) and slope · (t − x_lo) + y_lo, in that order of operations.
        let hi = x.partition_point(|&v| v < t).clamp(1, x.len() - 1);
        let lo = hi - 1;
        let slope = (y[hi] - y[lo]) / (x[hi] - x[lo]);
        slope * (t - x[lo]) + y[lo]
    }
}

/// Collapses runs of (nearly) equal x in sorted points into one point each: the run's first
/// x, the weighted mean of its y, the sum of its weights. `None` without points.
#[allow(clippy::type_complexity)]
fn merge_equal_x(points: &[(f64, f64, f64)]) -> Option<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let &(first_x, _, _) = points.first()?;
    let (mut xs, mut ys, mut ws) = (Vec::new(), Vec::new(), Vec::new());
    let (mut current_x, mut sum, mut weight) = (first_x, 0.0, 0.0);
    for &(x, y, w) in points {
        // The distance is to the run's first x, not the previous one, as scikit-learn.
        if x - current_x >= SAME_X {
            xs.push(current_x);
            ys.push(sum / weight);
            ws.push(weight);
            current_x = x;
            sum = y * w;
            weight = w;
        } else {
            sum += y * w;
            weight += w;
        }
    }
    xs.push(current_x);
    ys.push(sum / weight);
    ws.push(weight);
    Some((xs, ys, ws))
}

/// Weighted least-squares non-decreasing fit of `y` (pool adjacent violators, O(n)).
fn pool_adjacent_violators(y: &[f64], w: &[f64]) -> Vec<f64> {
    let mut blocks: Vec<Block> = Vec::with_capacity(y.len());
    for (&value, &weight) in y.iter().zip(w) {
        blocks.push(Block { weighted_sum: value * weight, weight, len: 1 });
        // Merge backwards while the newest block breaks monotonicity with its predecessor.
        while let [.., previous, last] = blocks.as_slice() {
            if previous.mean() <= last.mean() {
                break;
            }
            let merged = Block {
                weighted_sum: previous.weighted_sum + last.weighted_sum,
                weight: previous.weight + last.weight,
                len: previous.len + last.len,
            };
            blocks.pop();
            if let Some(top) = blocks.last_mut() {
                *top = merged;
            }
        }
    }
    blocks.iter().flat_map(|b| std::iter::repeat_n(b.mean(), b.len)).collect()
}

#[cfg(test)]
mod tests {
    use super::{IsotonicError, IsotonicRegression};

    #[test]
    fn violators_are_pooled_into_their_weighted_mean() {
        // sklearn's docstring example of isotonic_regression.
        let y = [5.0, 3.0, 1.0, 2.0, 8.0, 10.0, 7.0, 9.0, 6.0, 4.0];
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let fit = IsotonicRegression::fit(&x, &y, None).expect("valid input");
        let at: Vec<f64> = x.iter().map(|&v| fit.predict(v).expect("finite")).collect();
        for (i, v) in at.iter().enumerate() {
            let expected = if i < 4 { 2.75 } else { 44.0 / 6.0 };
            assert!((v - expected).abs() < 1e-12, "{i}: {v}");
        }
        // Flat runs keep only their ends.
        assert_eq!(fit.x_thresholds(), &[0.0, 3.0, 4.0, 9.0]);
    }

    #[test]
    fn out_of_range_values_are_clipped_and_weights_of_zero_ignored() {
        let fit =
            IsotonicRegression::fit(&[0.0, 1.0, 2.0], &[0.0, 1.0, 5.0], Some(&[1.0, 1.0, 0.0])).expect("valid input");
        assert_eq!(fit.predict(-3.0), Ok(0.0));
        assert_eq!(fit.predict(7.0), Ok(1.0));
        assert_eq!(fit.predict(0.25), Ok(0.25));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(IsotonicRegression::fit(&[], &[], None), Err(IsotonicError::Empty));
        assert_eq!(IsotonicRegression::fit(&[1.0], &[1.0], Some(&[0.0])), Err(IsotonicError::Empty));
        assert!(matches!(
            IsotonicRegression::fit(&[1.0, f64::NAN], &[1.0, 2.0], None),
            Err(IsotonicError::NonFinite { index: 1, field: "x" })
        ));
        assert!(matches!(
            IsotonicRegression::fit(&[1.0], &[1.0], Some(&[-1.0])),
            Err(IsotonicError::NegativeWeight { index: 0, .. })
        ));
        assert!(matches!(IsotonicRegression::fit(&[1.0], &[], None), Err(IsotonicError::LengthMismatch { .. })));
        let fit = IsotonicRegression::fit(&[1.0], &[0.5], None).expect("one point");
        assert_eq!(fit.predict(9.0), Ok(0.5));
        assert!(fit.predict(f64::NAN).is_err());
    }
}
