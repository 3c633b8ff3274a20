//! Tests on category counts: chi-square goodness of fit and the two-proportion z-test.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

use super::{DriftError, DriftResult, Side, normalise};

/// `scipy.stats.chisquare(current, f_exp)` where the expected counts are the reference
/// proportions scaled to the current total (Evidently's `chisquare` method).
///
/// Returns the statistic and `P(chi2_{k-1} >= statistic)`. Conventions where scipy
/// would answer NaN, documented rather than propagated:
/// - a category empty on both sides carries no information and is left out
///   (it does not count towards the degrees of freedom);
/// - a category the reference never saw but the current has makes the statistic
///   infinite and the p-value 0: the current data is impossible under the reference;
/// - with a single remaining category there is nothing to test: statistic 0, p-value 1.
pub fn chi_square(reference: &[f64], current: &[f64]) -> Result<DriftResult, DriftError> {
    if reference.len() != current.len() {
        return Err(DriftError::LengthMismatch { reference: reference.len(), current: current.len() });
    }
    let expected_share = normalise(reference, Side::Reference)?;
    // Validates `current` too; the shares themselves are not needed.
    normalise(current, Side::Current)?;
    let total: f64 = current.iter().sum();
    let mut statistic = 0.0;
    let mut categories = 0_u32;
    for (&share, &observed) in expected_share.iter().zip(current) {
        let expected = share * total;
        if expected == 0.0 && observed == 0.0 {
            continue;
        }
        categories += 1;
        statistic += (observed - expected).powi(2) / expected;
    }
    if categories < 2 {
        return Ok(DriftResult::test(0.0, 1.0));
    }
    if statistic.is_infinite() {
        return Ok(DriftResult::test(statistic, 0.0));
    }
    let p = match ChiSquared::new(f64::from(categories - 1)) {
        Ok(dist) => dist.sf(statistic),
        // Degrees of freedom are a positive integer here, which `ChiSquared` always accepts.
        Err(_) => f64::NAN,
    };
    Ok(DriftResult::test(statistic, p))
}

/// Evidently's two-proportion z-test (`z` method) for a binary column.
///
/// `successes` are the observations equal to the target category. The score is
/// `z = (p_ref - p_cur) / sqrt(P (1 - P) (1/n_ref + 1/n_cur))` with the pooled share
/// `P`, and the p-value `2 (1 - Phi(|z|))`, evaluated in that form (not with the
/// survival function) to agree with Evidently, which makes very small p-values 0.
/// When both samples are all one category (`P` is 0 or 1) there is no variance and
/// no drift: z = 0, p-value 1, as Evidently reports.
pub fn z_test(
    reference_successes: u64,
    reference_total: u64,
    current_successes: u64,
    current_total: u64,
) -> Result<DriftResult, DriftError> {
    for (which, successes, total) in
        [(Side::Reference, reference_successes, reference_total), (Side::Current, current_successes, current_total)]
    {
        if total == 0 {
            return Err(DriftError::Empty { which });
        }
        if successes > total {
            return Err(DriftError::SuccessesExceedTotal { which, successes, total });
        }
    }
    let (n1, n2) = (reference_total as f64, current_total as f64);
    let (p1, p2) = (reference_successes as f64 / n1, current_successes as f64 / n2);
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2);
    if variance <= 0.0 {
        return Ok(DriftResult::test(0.0, 1.0));
    }
    let z = (p1 - p2) / variance.sqrt();
    // statrs 0.19's erfc carries ~1e-10 relative error (interval constants truncated
    // to 10 digits; fixed upstream in statrs-dev/statrs#412, not yet released), so
    // these p-values agree with scipy to about 1e-10 rather than to the last ulp.
    let p = match Normal::new(0.0, 1.0) {
        Ok(normal) => 2.0 * (1.0 - normal.cdf(z.abs())),
        // The standard normal's parameters are always valid.
        Err(_) => f64::NAN,
    };
    Ok(DriftResult::test(z, p))
}
