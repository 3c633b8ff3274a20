//! Drift methods on raw values: what they return and how they fail.
//!
//! Each method family lives in its own module under `drift/`; every method returns a
//! [`DriftResult`] so callers can compare scores and p-values uniformly.

mod binning;
mod divergence;
mod kolmogorov;
mod ks;
mod proportion;
mod wasserstein;

pub use binning::{
    CategoryCounts, HistogramCounts, QuantileBins, category_counts, histogram, quantile_bins, sturges_edges,
    sturges_edges_over, sturges_histogram, weighted_histogram,
};
pub use divergence::{PSI_FLOOR, fill_empty, hellinger, jensen_shannon, kl_divergence, psi};
pub use kolmogorov::kolmogorov_sf;
pub(crate) use ks::asymptotic_two_sided;
pub use ks::{KS_EXACT_MAX_N, ks_2samp};
pub use proportion::{chi_square, z_test};
pub use wasserstein::{WASSERSTEIN_NORM_FLOOR, wasserstein, wasserstein_normed};

/// The outcome of one drift method on one column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftResult {
    /// The method's statistic or distance (KS statistic, chi-square statistic, z, PSI…).
    pub score: f64,
    /// The p-value, for methods that are hypothesis tests.
    pub p_value: Option<f64>,
}

impl DriftResult {
    fn distance(score: f64) -> Self {
        Self { score, p_value: None }
    }

    fn test(score: f64, p_value: f64) -> Self {
        Self { score, p_value: Some(p_value) }
    }
}

/// Why a drift method could not run on its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DriftError {
    /// A sample (or a count vector's total) is empty.
    #[error("{which} sample is empty")]
    Empty { which: Side },
    /// NaN or ±inf in a sample: missing values are filtered before drift, so this is a caller bug.
    #[error("{which} sample has a non-finite value at index {index}")]
    NonFinite { which: Side, index: usize },
    /// A count or proportion is negative or not finite.
    #[error("{which} counts have an invalid entry at index {index}")]
    InvalidCount { which: Side, index: usize },
    /// Reference and current count vectors must describe the same bins.
    #[error("count vectors differ in length: reference {reference}, current {current}")]
    LengthMismatch { reference: usize, current: usize },
    /// A success count exceeds its total.
    #[error("{which} has more successes ({successes}) than observations ({total})")]
    SuccessesExceedTotal { which: Side, successes: u64, total: u64 },
    /// The method does not compare columns of this kind (Evidently refuses it too).
    #[error("method {method} does not apply to a {kind} column")]
    NotApplicable { method: &'static str, kind: &'static str },
}

/// Which of the two compared inputs an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Reference,
    Current,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Reference => "reference",
            Side::Current => "current",
        })
    }
}

/// Checks a raw sample: non-empty and finite.
fn check_sample(values: &[f64], which: Side) -> Result<(), DriftError> {
    if values.is_empty() {
        return Err(DriftError::Empty { which });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(DriftError::NonFinite { which, index }),
        None => Ok(()),
    }
}

/// The values in increasing order: borrowed when they already are (a caller that owns
/// large samples sorts them in place and spares a copy), else a sorted copy.
/// `total_cmp` is a total order, and the values are already known finite.
fn sorted(values: &[f64]) -> std::borrow::Cow<'_, [f64]> {
    if values.is_sorted_by(|a, b| a.total_cmp(b).is_le()) {
        return std::borrow::Cow::Borrowed(values);
    }
    let mut v = values.to_vec();
    sort_values(&mut v, &mut Vec::new());
    std::borrow::Cow::Owned(v)
}

/// Sorts `values` into `total_cmp` order through integer keys that sort the same way:
/// about a third faster than comparing floats on million-value columns. `scratch` holds
/// the keys; a caller sorting many columns passes the same one to reuse its memory.
pub fn sort_values(values: &mut [f64], scratch: &mut Vec<u64>) {
    // Flipping every bit of a negative number and the sign bit of a positive one maps
    // `total_cmp` order onto unsigned order (the key `total_cmp` itself compares).
    let key = |v: f64| {
        let bits = v.to_bits();
        if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
    };
    let value = |k: u64| f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k });
    scratch.clear();
    scratch.extend(values.iter().map(|v| key(*v)));
    scratch.sort_unstable();
    for (v, k) in values.iter_mut().zip(scratch.iter()) {
        *v = value(*k);
    }
}

/// Checks a pair of count (or probability) vectors and returns them normalised to sum 1.
fn normalise_pair(reference: &[f64], current: &[f64]) -> Result<(Vec<f64>, Vec<f64>), DriftError> {
    if reference.len() != current.len() {
        return Err(DriftError::LengthMismatch { reference: reference.len(), current: current.len() });
    }
    Ok((normalise(reference, Side::Reference)?, normalise(current, Side::Current)?))
}

fn normalise(counts: &[f64], which: Side) -> Result<Vec<f64>, DriftError> {
    if let Some(index) = counts.iter().position(|c| !c.is_finite() || *c < 0.0) {
        return Err(DriftError::InvalidCount { which, index });
    }
    let total: f64 = counts.iter().sum();
    if total <= 0.0 {
        return Err(DriftError::Empty { which });
    }
    Ok(counts.iter().map(|c| c / total).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_by_keys_is_total_cmp_order() {
        let mut values = vec![3.5, -0.0, f64::NEG_INFINITY, 0.0, -2.25, f64::MIN_POSITIVE, -f64::MIN_POSITIVE, 1e300];
        values.extend((0..1000).map(|i| f64::from(i * 7919 % 1000) - 500.5));
        let mut expected = values.clone();
        expected.sort_by(f64::total_cmp);
        sort_values(&mut values, &mut Vec::new());
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&values), bits(&expected));
    }
}
