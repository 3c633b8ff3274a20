//! Wasserstein-1 (earth mover's) distance between two samples, and Evidently's normed variant.

use super::{DriftError, DriftResult, Side, check_sample, sorted};

/// The smallest divisor [`wasserstein_normed`] uses, as Evidently does.
///
/// A constant reference has standard deviation 0; dividing by it would turn any
/// shift into infinity (or 0/0 into NaN). Evidently divides by
/// `max(std(reference), 0.001)` instead, so a constant reference gives the plain
/// distance scaled by 1000: large, finite, and comparable with the threshold.
pub const WASSERSTEIN_NORM_FLOOR: f64 = 0.001;

/// `scipy.stats.wasserstein_distance(reference, current)` with unit weights.
pub fn wasserstein(reference: &[f64], current: &[f64]) -> Result<DriftResult, DriftError> {
    check_sample(reference, Side::Reference)?;
    check_sample(current, Side::Current)?;
    Ok(DriftResult::distance(distance(&sorted(reference), &sorted(current))))
}

/// Evidently's `wasserstein_distance_norm`: the distance divided by the population
/// standard deviation (ddof 0) of the reference, floored at [`WASSERSTEIN_NORM_FLOOR`].
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> Result<DriftResult, DriftError> {
    let d = wasserstein(reference, current)?.score;
    Ok(DriftResult::distance(d / std_dev(reference).max(WASSERSTEIN_NORM_FLOOR)))
}

/// Integral of `|F_a - F_b|` over the merged sorted values.
fn distance(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let mut total = 0.0;
    let mut prev: Option<f64> = None;
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) => *x,
            (None, Some(y)) => *y,
            (None, None) => break,
        };
        // Between the previous value and this one both CDFs are flat at their
        // values after `prev`, which is what `i` and `j` count now.
        if let Some(p) = prev {
            total += (i as f64 / na - j as f64 / nb).abs() * (v - p);
        }
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        prev = Some(v);
    }
    total
}

/// Population standard deviation (numpy's `np.std` default), two-pass for accuracy.
///
/// Both sums are compensated (Neumaier), so the result hardly depends on the order of
/// the values: the report sorts its columns in place, and a plain sum over a million
/// sorted values drifts from numpy's pairwise sum by about 1e-12 relative.
fn std_dev(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = compensated_sum(values.iter().copied()) / n;
    (compensated_sum(values.iter().map(|v| (v - mean) * (v - mean))) / n).sqrt()
}

/// Neumaier's compensated sum: the rounding error of each addition is carried along.
fn compensated_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut carry) = (0.0_f64, 0.0_f64);
    for v in values {
        let t = sum + v;
        carry += if sum.abs() >= v.abs() { (sum - t) + v } else { (v - t) + sum };
        sum = t;
    }
    sum + carry
}
