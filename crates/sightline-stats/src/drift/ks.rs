//! Two-sample Kolmogorov–Smirnov test, as `scipy.stats.ks_2samp(method="auto")`.
//!
//! scipy picks the exact null distribution when both samples have at most 10,000
//! values and the Kolmogorov distribution at the effective sample size otherwise;
//! this module makes the same choice so its p-values are scipy's.

use super::kolmogorov::kolmogorov_sf;
use super::{DriftError, DriftResult, Side, check_sample, sorted};

/// The largest sample size for which scipy's `auto` mode uses the exact distribution;
/// above it the p-value is asymptotic.
pub const KS_EXACT_MAX_N: usize = 10_000;

/// KS statistic and two-sided p-value of `reference` against `current`.
///
/// Ties are handled as scipy does: the empirical CDFs are compared after all equal
/// values of both samples have been taken in. The statistic is then rounded to the
/// nearest multiple of `1 / lcm(n1, n2)` (as scipy's exact path does) so that the
/// p-value and the statistic describe the same lattice point.
pub fn ks_2samp(reference: &[f64], current: &[f64]) -> Result<DriftResult, DriftError> {
    check_sample(reference, Side::Reference)?;
    check_sample(current, Side::Current)?;
    let (n1, n2) = (reference.len(), current.len());
    let d = statistic(&sorted(reference), &sorted(current));
    let (d, p) = if n1.max(n2) <= KS_EXACT_MAX_N {
        exact_two_sided(n1 as u64, n2 as u64, d)
    } else {
        (d, asymptotic_two_sided(n1 as f64, n2 as f64, d))
    };
    Ok(DriftResult::test(d, p.clamp(0.0, 1.0)))
}

/// scipy's large-sample p-value: the one-sample Kolmogorov distribution at the
/// effective size `n1 n2 / (n1 + n2)`, rounded half to even as `numpy.round` does.
pub(crate) fn asymptotic_two_sided(n1: f64, n2: f64, d: f64) -> f64 {
    let en = n1 * n2 / (n1 + n2);
    // At least one observation: with more than 10,000 in one sample, `en` is near 1 or above.
    let n = en.round_ties_even().max(1.0) as u64;
    kolmogorov_sf(n, d)
}

/// The largest absolute difference of the two empirical CDFs.
fn statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let (mut max_diff, mut min_diff) = (0.0_f64, 0.0_f64);
    while i < a.len() || j < b.len() {
        // Step past every copy of the next smallest value in both samples, so ties
        // move both CDFs at once (scipy's `searchsorted(side="right")`).
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) => *x,
            (None, Some(y)) => *y,
            (None, None) => break,
        };
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        // Divide before subtracting, as scipy does, so the floats agree bit for bit.
        let diff = i as f64 / n1 - j as f64 / n2;
        max_diff = max_diff.max(diff);
        min_diff = min_diff.min(diff);
    }
    let min_s = (-min_diff).clamp(0.0, 1.0);
    if min_s > max_diff { min_s } else { max_diff }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Rounds `d` to the lattice of attainable values and returns it with `P(D >= d)`.
fn exact_two_sided(n1: u64, n2: u64, d: f64) -> (f64, f64) {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even() as u64;
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return (d, 1.0);
    }
    let p = if n1 == n2 { outside_square(n1, h) } else { outside_band(n1, n2, g, h) };
    (d, p)
}

/// `P(D_{n,n} >= h/n)` for equal sample sizes.
///
/// The closed form is an alternating sum of binomial ratios; evaluating it term by
/// term cancels badly, so it is nested Horner-style, each factor a product of `h`
/// ratios that stay below one (Hodges 1958; the form scipy uses).
fn outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as f64, h as f64);
    let mut p = 0.0;
    let mut k = (n / h).floor();
    while k >= 0.0 {
        let mut factor = 1.0;
        let mut j = 0.0;
        while j < h {
            factor = (n - k * h - j) * factor / (n + k * h + j + 1.0);
            j += 1.0;
        }
        p = factor * (1.0 - p);
        k -= 1.0;
    }
    2.0 * p
}

/// `P(D_{m,n} >= h/lcm)` for unequal sizes: the share of monotone lattice paths from
/// (0, 0) to (m, n) that leave the band `|x/m - y/n| < h/lcm`.
///
/// Each cell holds the probability that a uniformly random path to it has already
/// left the band, `P(i, j) = (i P(i-1, j) + j P(i, j-1)) / (i + j)`; cells outside
/// the band are 1. Working with probabilities instead of path counts keeps every
/// value in [0, 1], so nothing overflows (Viehmann 2021, as scipy does). Only the
/// band of each column is stored.
fn outside_band(n1: u64, n2: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if n1 >= n2 { (n1, n2) } else { (n2, n1) };
    let (mg, ng) = ((m / g) as i64, (n / g) as i64);
    let (m, n, h) = (m as i64, n as i64, h as i64);
    // Column x = i covers rows j with |ng*i - mg*j| < h, clipped to [0, n].
    let lo = |i: i64| ((ng * i - h).div_euclid(mg) + 1).clamp(0, n);
    let hi = |i: i64| (ng * i + h + mg - 1).div_euclid(mg).min(n + 1); // exclusive
    let mut lo_prev = 0;
    let mut hi_prev = hi(0);
    // Column 0: inside rows have not left the band; everything above already has.
    let mut col: Vec<f64> = vec![0.0; (hi_prev - lo_prev) as usize];
    let mut next = Vec::with_capacity(col.len() + 2);
    for i in 1..=m {
        let (lo_i, hi_i) = (lo(i), hi(i));
        if hi_i <= lo_i {
            return 1.0;
        }
        next.clear();
        // Below the band every path has left it.
        let mut below = if lo_i == 0 { 0.0 } else { 1.0 };
        for j in lo_i..hi_i {
            let left = if j >= lo_prev && j < hi_prev { col[(j - lo_prev) as usize] } else { 1.0 };
            let (fi, fj) = (i as f64, j as f64);
            below = (left * fi + below * fj) / (fi + fj);
            next.push(below);
        }
        std::mem::swap(&mut col, &mut next);
        (lo_prev, hi_prev) = (lo_i, hi_i);
    }
    col.last().copied().unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_have_no_drift() {
        let r = ks_2samp(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).expect("valid input");
        assert_eq!(r.score, 0.0);
        assert_eq!(r.p_value, Some(1.0));
    }
}
