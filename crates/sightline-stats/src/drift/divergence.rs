//! Distances between two distributions given as count (or probability) vectors:
//! Jensen–Shannon, Kullback–Leibler, Hellinger and the population stability index.
//!
//! Both vectors describe the same bins or categories, in the same order (see
//! [`super::sturges_histogram`] and [`super::category_counts`]); each is normalised
//! to sum 1 first, so raw counts and proportions give the same answer.

use super::{DriftError, DriftResult, normalise_pair};

/// `x ln(x / y)` with the conventions of `scipy.special.rel_entr`.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// `scipy.spatial.distance.jensenshannon(reference, current)`: natural log, so the
/// distance lies in `[0, sqrt(ln 2)]`.
pub fn jensen_shannon(reference: &[f64], current: &[f64]) -> Result<DriftResult, DriftError> {
    let (p, q) = normalise_pair(reference, current)?;
    let js: f64 = p
        .iter()
        .zip(&q)
        .map(|(&a, &b)| {
            let m = (a + b) / 2.0;
            rel_entr(a, m) + rel_entr(b, m)
        })
        .sum();
    // Rounding can leave a tiny negative sum for identical inputs; the distance is 0 then.
    Ok(DriftResult::distance((js / 2.0).max(0.0).sqrt()))
}

/// `scipy.stats.entropy(reference, current)`: KL(reference ‖ current), natural log.
///
/// Infinite when the current distribution has an empty bin that the reference uses.
pub fn kl_divergence(reference: &[f64], current: &[f64]) -> Result<DriftResult, DriftError> {
    let (p, q) = normalise_pair(reference, current)?;
    Ok(DriftResult::distance(p.iter().zip(&q).map(|(&a, &b)| rel_entr(a, b)).sum()))
}

/// Hellinger distance `sqrt(sum((sqrt p - sqrt q)^2)) / sqrt 2`, in `[0, 1]`.
///
/// Evidently computes the same quantity as `sqrt(1 - sum(sqrt(p q)))`; that form
/// cancels when the distributions are close (an error of one ulp in the sum becomes
/// about 1e-8 in the distance), so the sum of squared differences is used instead.
pub fn hellinger(reference: &[f64], current: &[f64]) -> Result<DriftResult, DriftError> {
    let (p, q) = normalise_pair(reference, current)?;
    let s: f64 = p.iter().zip(&q).map(|(&a, &b)| (a.sqrt() - b.sqrt()).powi(2)).sum();
    Ok(DriftResult::distance((s.sqrt() / std::f64::consts::SQRT_2).min(1.0)))
}

/// The share that replaces an empty bin in [`psi`] when no bin is smaller than it.
pub const PSI_FLOOR: f64 = 0.0001;

/// Population stability index `sum((c - r) ln(c / r))` over bin proportions.
///
/// An empty bin would make the logarithm infinite, so, as Evidently does, empty bins
/// of each side are replaced by [`PSI_FLOOR`], or by a millionth of that side's
/// smallest non-empty share when that share is itself at most the floor (so the
/// replacement stays below every real share). Every term is non-negative, so PSI ≥ 0.
pub fn psi(reference: &[f64], current: &[f64]) -> Result<DriftResult, DriftError> {
    let (mut r, mut c) = normalise_pair(reference, current)?;
    fill_empty(&mut r);
    fill_empty(&mut c);
    Ok(DriftResult::distance(r.iter().zip(&c).map(|(&r, &c)| (c - r) * (c / r).ln()).sum()))
}

/// Replaces the empty entries of a share vector as Evidently's `get_binned_data` does:
/// by [`PSI_FLOOR`], or by a millionth of the smallest non-empty share when that is at
/// most the floor. A vector with no positive entry is left as it is.
pub fn fill_empty(shares: &mut [f64]) {
    let smallest = shares.iter().copied().filter(|s| *s > 0.0).fold(f64::INFINITY, f64::min);
    if smallest.is_infinite() {
        return;
    }
    let fill = if smallest <= PSI_FLOOR { smallest / 1e6 } else { PSI_FLOOR };
    for s in shares.iter_mut().filter(|s| **s == 0.0) {
        *s = fill;
    }
}
