//! One column's drift as Evidently 0.7.23 computes it: the method (its default choice or
//! the caller's), the binning each method does first, the threshold and the verdict.
//!
//! The drift methods in [`crate::drift`] take samples or aligned counts; Evidently wraps
//! each in its own preparation, and the numbers only agree when that is reproduced too.
//! This module does it, from the non-missing values of each side (missing values,
//! NaN and ±inf are dropped before, as Evidently's `get_one_column_drift` drops them):
//!
//! | method               | numeric column                                           | categorical column |
//! |----------------------|----------------------------------------------------------|--------------------|
//! | `ks`                 | raw values                                               | not applicable     |
//! | `wasserstein_normed` | raw values                                               | not applicable     |
//! | `chisquare`, `z`     | value counts (default rule only; not applicable if chosen) | category counts  |
//! | `jensenshannon`      | Sturges bins over both samples if the reference has more than 20 distinct values, else value counts | category counts |
//! | `psi`, `kl_div`      | as `jensenshannon`, then empty bins filled ([`drift::fill_empty`]) | as `jensenshannon`, filled |
//! | `hellinger`          | densities on Sturges bins drawn over the *distinct* values of both samples | category shares |
//!
//! The shares are counts divided by the sample size (Evidently's `get_binned_data`);
//! `jensenshannon` does not fill empty bins, `psi` and `kl_div` do (`feel_zeroes`).
//! Value counts treat -0.0 and 0.0 as one value, as pandas does. The z-test compares
//! the smallest value (or category, by code point) against all others, as Evidently's
//! sorted keys do. Hellinger is computed in Evidently's form `sqrt(1 - Σ sqrt(p q))`
//! (Bhattacharyya coefficient clipped to `[0, 1]`), not in the cancellation-free form of
//! [`drift::hellinger`], because that is the number Evidently reports; near 0 the two
//! differ by rounding (about 1e-8).
//!
//! Deliberate differences from Evidently (also in the README's drift report section):
//! - for the tests (`ks`, `chisquare`, `z`) Evidently's `drift_score` is the p-value;
//!   here [`ColumnDrift::score`] is the statistic and the p-value is beside it (the
//!   verdict is judged on the p-value, as there);
//! - KS statistic for `ks` and z for `z` are reported although Evidently computes only
//!   the p-value; the chi-square statistic with a category the reference never had is
//!   infinite (p-value 0, as in scipy);
//! - `chisquare` on a column with a single category (only when chosen: the default
//!   rule gives it the z-test) has no degrees of freedom; scipy answers NaN, here the
//!   statistic is 0 and the p-value 1 (no drift either way);
//! - a chosen method that does not accept the column's kind is an error
//!   ([`DriftError::NotApplicable`]), as Evidently raises one.
//!
//! `tests/integration/evidently.rs` checks every column of the fixtures written by
//! `tests/reference/drift_evidently.py` (Evidently's `DataDriftPreset`, default and each
//! method): method, score within 1e-9 relative, threshold, verdict and dataset share.

use std::cmp::Ordering;

use crate::default_method::{self, ColumnKind, Method};
use crate::drift::{self, DriftError, DriftResult};

/// Category counts of both samples, aligned by index.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
    /// The index of the smallest category (by value, or by code point for text): the one
    /// Evidently's z-test counts against all others.
    pub smallest: usize,
}

impl Tally {
    /// Aligned counts from `(category, reference count, current count)` triples; `cmp`
    /// orders categories for [`Tally::smallest`].
    pub fn new<T>(entries: &[(T, f64, f64)], cmp: impl Fn(&T, &T) -> Ordering) -> Tally {
        let smallest = entries.iter().enumerate().min_by(|(_, a), (_, b)| cmp(&a.0, &b.0)).map(|(i, _)| i).unwrap_or(0);
        Tally {
            reference: entries.iter().map(|e| e.1).collect(),
            current: entries.iter().map(|e| e.2).collect(),
            smallest,
        }
    }

    /// Counts of numbers, keyed by value; -0.0 and 0.0 are one value, as pandas counts them.
    pub fn of_numbers(reference: &[f64], current: &[f64]) -> Tally {
        let key = |v: f64| if v == 0.0 { 0.0_f64.to_bits() } else { v.to_bits() };
        let r: Vec<u64> = reference.iter().map(|v| key(*v)).collect();
        let c: Vec<u64> = current.iter().map(|v| key(*v)).collect();
        let counts = drift::category_counts(&r, &c);
        let entries: Vec<(f64, f64, f64)> = counts
            .categories
            .iter()
            .zip(counts.reference.iter().zip(&counts.current))
            .map(|(k, (r, c))| (f64::from_bits(*k), *r, *c))
            .collect();
        Tally::new(&entries, |a, b| a.total_cmp(b))
    }

    /// Distinct categories over both samples.
    pub fn distinct(&self) -> usize {
        self.reference.len()
    }

    fn totals(&self) -> (f64, f64) {
        (self.reference.iter().sum(), self.current.iter().sum())
    }
}

/// One column's values from both sides, missing values already dropped.
#[derive(Debug, Clone, Copy)]
pub enum ColumnData<'a> {
    /// Finite numbers.
    Numeric { reference: &'a [f64], current: &'a [f64] },
    /// Category counts.
    Categorical(&'a Tally),
}

impl ColumnData<'_> {
    pub fn kind(&self) -> ColumnKind {
        match self {
            ColumnData::Numeric { .. } => ColumnKind::Numeric,
            ColumnData::Categorical(_) => ColumnKind::Categorical,
        }
    }

    /// Non-missing reference values, the count Evidently's default rule looks at.
    fn reference_count(&self) -> usize {
        match self {
            ColumnData::Numeric { reference, .. } => reference.len(),
            ColumnData::Categorical(t) => t.totals().0 as usize,
        }
    }
}

/// The caller's choice of method and threshold; `None` takes Evidently's default.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Options {
    pub method: Option<Method>,
    pub threshold: Option<f64>,
}

/// One column's drift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnDrift {
    pub method: Method,
    /// The statistic for the tests (KS D, chi-square, z), the distance otherwise.
    pub score: f64,
    /// The p-value, for the tests.
    pub p_value: Option<f64>,
    pub threshold: f64,
    pub drifted: bool,
}

impl ColumnDrift {
    /// What Evidently calls the drift score: the p-value for a test, the score otherwise.
    pub fn evidently_score(&self) -> f64 {
        self.p_value.unwrap_or(self.score)
    }
}

/// Evidently's reference size above which `jensenshannon`, `psi` and `kl_div` bin a
/// numeric column instead of counting its values.
pub const BINNED_DISTINCT_MIN: usize = 21;

/// Drift of one column with the chosen (or default) method and threshold.
pub fn column_drift(data: ColumnData<'_>, options: Options) -> Result<ColumnDrift, DriftError> {
    let kind = data.kind();
    let (reference_count, current_count) = match data {
        ColumnData::Numeric { reference, current } => (reference.len(), current.len()),
        ColumnData::Categorical(t) => {
            let (r, c) = t.totals();
            (r as usize, c as usize)
        }
    };
    if reference_count == 0 {
        return Err(DriftError::Empty { which: drift::Side::Reference });
    }
    if current_count == 0 {
        return Err(DriftError::Empty { which: drift::Side::Current });
    }
    let method = match options.method {
        Some(m) if !m.accepts(kind) => {
            return Err(DriftError::NotApplicable { method: m.name(), kind: kind_name(kind) });
        }
        Some(m) => m,
        None => {
            let distinct = match data {
                // Only whether there are more than five distinct values matters here.
                ColumnData::Numeric { reference, current } => {
                    distinct_up_to(reference, current, default_method::FEW_DISTINCT_MAX + 1)
                }
                ColumnData::Categorical(t) => t.distinct(),
            };
            default_method::default_method(kind, data.reference_count(), distinct)
        }
    };
    let result = run(method, data)?;
    let threshold = options.threshold.unwrap_or_else(|| method.default_threshold());
    let judged = if method.is_test() { result.p_value.unwrap_or(f64::NAN) } else { result.score };
    Ok(ColumnDrift {
        method,
        score: result.score,
        p_value: result.p_value,
        threshold,
        drifted: method.is_drifted(judged, threshold),
    })
}

fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Numeric => "numeric",
        ColumnKind::Categorical => "categorical",
    }
}

/// The number of distinct values in both samples, or `cap` if there are at least that many.
fn distinct_up_to(reference: &[f64], current: &[f64], cap: usize) -> usize {
    let mut seen: Vec<f64> = Vec::with_capacity(cap);
    for &v in reference.iter().chain(current) {
        // `==` makes -0.0 and 0.0 one value, as pandas counts them.
        if !seen.contains(&v) {
            seen.push(v);
            if seen.len() >= cap {
                break;
            }
        }
    }
    seen.len()
}

/// Runs `method` (already checked against the column's kind, or chosen by the default
/// rule) with Evidently's preparation of the data.
pub fn run(method: Method, data: ColumnData<'_>) -> Result<DriftResult, DriftError> {
    match (method, data) {
        (Method::Ks, ColumnData::Numeric { reference, current }) => drift::ks_2samp(reference, current),
        (Method::WassersteinNormed, ColumnData::Numeric { reference, current }) => {
            drift::wasserstein_normed(reference, current)
        }
        (Method::Ks | Method::WassersteinNormed, ColumnData::Categorical(_)) => {
            Err(DriftError::NotApplicable { method: method.name(), kind: "categorical" })
        }
        (Method::ChiSquare | Method::Z, ColumnData::Numeric { reference, current }) => {
            on_tally(method, &Tally::of_numbers(reference, current))
        }
        (Method::Hellinger, ColumnData::Numeric { reference, current }) => hellinger_numeric(reference, current),
        (Method::JensenShannon | Method::Psi | Method::KlDiv, ColumnData::Numeric { reference, current }) => {
            let (r, c) = numeric_shares(reference, current);
            on_shares(method, r, c)
        }
        (_, ColumnData::Categorical(t)) => on_tally(method, t),
    }
}

/// Evidently's `get_binned_data` for a numeric column, before any filling: Sturges
/// bins over both samples when the reference has more than 20 distinct values, else
/// the counts of each value; counts divided by the sample sizes.
fn numeric_shares(reference: &[f64], current: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (nr, nc) = (reference.len() as f64, current.len() as f64);
    if distinct_up_to(reference, &[], BINNED_DISTINCT_MIN) >= BINNED_DISTINCT_MIN {
        let edges = drift::sturges_edges(reference.iter().chain(current).copied());
        let r = drift::histogram(reference, &edges).into_iter().map(|c| c / nr).collect();
        let c = drift::histogram(current, &edges).into_iter().map(|c| c / nc).collect();
        (r, c)
    } else {
        let t = Tally::of_numbers(reference, current);
        (t.reference.iter().map(|c| c / nr).collect(), t.current.iter().map(|c| c / nc).collect())
    }
}

fn on_tally(method: Method, t: &Tally) -> Result<DriftResult, DriftError> {
    let (nr, nc) = t.totals();
    // `run` is public: a caller's tally may be empty on one side (or hold a bad count,
    // which the methods below reject by index).
    if nr.is_nan() || nr <= 0.0 {
        return Err(DriftError::Empty { which: drift::Side::Reference });
    }
    if nc.is_nan() || nc <= 0.0 {
        return Err(DriftError::Empty { which: drift::Side::Current });
    }
    match method {
        Method::ChiSquare => drift::chi_square(&t.reference, &t.current),
        Method::Z => {
            // A caller-built tally may name no valid category; that is an empty sample.
            let (Some(&rf), Some(&cf)) = (t.reference.get(t.smallest), t.current.get(t.smallest)) else {
                return Err(DriftError::Empty { which: drift::Side::Reference });
            };
            // Counts are whole numbers held as f64; the casts are exact below 2^53.
            drift::z_test((nr - rf) as u64, nr as u64, (nc - cf) as u64, nc as u64)
        }
        Method::Hellinger => {
            let bc: f64 = t.reference.iter().zip(&t.current).map(|(r, c)| ((r / nr) * (c / nc)).sqrt()).sum();
            Ok(DriftResult { score: (1.0 - bc.clamp(0.0, 1.0)).sqrt(), p_value: None })
        }
        _ => {
            on_shares(method, t.reference.iter().map(|c| c / nr).collect(), t.current.iter().map(|c| c / nc).collect())
        }
    }
}

/// `jensenshannon`, `psi` and `kl_div` on Evidently's shares.
fn on_shares(method: Method, mut r: Vec<f64>, mut c: Vec<f64>) -> Result<DriftResult, DriftError> {
    match method {
        Method::JensenShannon => drift::jensen_shannon(&r, &c),
        Method::Psi => {
            drift::fill_empty(&mut r);
            drift::fill_empty(&mut c);
            // Evidently's form, `(r - c) ln(r / c)`, so the terms round as its do.
            let psi = r.iter().zip(&c).map(|(r, c)| (r - c) * (r / c).ln()).sum();
            Ok(DriftResult { score: psi, p_value: None })
        }
        Method::KlDiv => {
            drift::fill_empty(&mut r);
            drift::fill_empty(&mut c);
            drift::kl_divergence(&r, &c)
        }
        _ => Err(DriftError::NotApplicable { method: method.name(), kind: "binned shares" }),
    }
}

/// Evidently's Hellinger distance for a numeric column: Sturges edges drawn over the
/// distinct values of both samples, `numpy.histogram(density=True)` of each sample on
/// them, and the Bhattacharyya sum weighted by the mean bin width.
fn hellinger_numeric(reference: &[f64], current: &[f64]) -> Result<DriftResult, DriftError> {
    let mut keys: Vec<f64> = reference.iter().chain(current).map(|v| if *v == 0.0 { 0.0 } else { *v }).collect();
    drift::sort_values(&mut keys, &mut Vec::new());
    keys.dedup();
    let edges = drift::sturges_edges(keys.iter().copied());
    let density = |values: &[f64]| {
        let counts = drift::histogram(values, &edges);
        let total: f64 = counts.iter().sum();
        // numpy's `n / db / n.sum()`, in that order.
        counts.iter().zip(edges.windows(2)).map(|(n, w)| n / (w[1] - w[0]) / total).collect::<Vec<f64>>()
    };
    let (h1, h2) = (density(reference), density(current));
    let (lo, hi) = (edges[0], edges[edges.len() - 1]);
    let width = (hi - lo) / (edges.len() - 1) as f64;
    let bc: f64 = h1.iter().zip(&h2).map(|(p, q)| (p * q).sqrt() * width).sum();
    Ok(DriftResult { score: (1.0 - bc.clamp(0.0, 1.0)).sqrt(), p_value: None })
}

/// Dataset drift over the compared columns: the share of drifted ones and whether it
/// reaches Evidently's default `drift_share`.
pub fn dataset_share(columns: &[ColumnDrift]) -> (f64, bool) {
    let drifted = columns.iter().filter(|c| c.drifted).count();
    let share = if columns.is_empty() { 0.0 } else { drifted as f64 / columns.len() as f64 };
    (share, default_method::dataset_drifted(drifted, columns.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_method_must_accept_the_kind() {
        let t = Tally { reference: vec![1.0, 2.0], current: vec![2.0, 1.0], smallest: 0 };
        let err = column_drift(ColumnData::Categorical(&t), Options { method: Some(Method::Ks), threshold: None });
        assert!(matches!(err, Err(DriftError::NotApplicable { .. })));
        let data = ColumnData::Numeric { reference: &[1.0, 2.0], current: &[1.0] };
        let err = column_drift(data, Options { method: Some(Method::ChiSquare), threshold: None });
        assert!(matches!(err, Err(DriftError::NotApplicable { .. })));
    }

    #[test]
    fn empty_sides_are_errors_not_nan() {
        let data = ColumnData::Numeric { reference: &[], current: &[1.0] };
        assert!(matches!(column_drift(data, Options::default()), Err(DriftError::Empty { .. })));
        let t = Tally { reference: vec![3.0], current: vec![0.0], smallest: 0 };
        assert!(matches!(column_drift(ColumnData::Categorical(&t), Options::default()), Err(DriftError::Empty { .. })));
    }

    #[test]
    fn a_tally_without_its_smallest_category_is_an_error_not_a_panic() {
        let t = Tally { reference: vec![], current: vec![], smallest: 0 };
        assert!(run(Method::Z, ColumnData::Categorical(&t)).is_err());
        let t = Tally { reference: vec![1.0], current: vec![1.0], smallest: 5 };
        assert!(run(Method::Z, ColumnData::Categorical(&t)).is_err());
    }

    #[test]
    fn negative_zero_is_zero_in_value_counts() {
        let t = Tally::of_numbers(&[-0.0, 0.0, 1.0], &[0.0]);
        assert_eq!(t.distinct(), 2);
        assert_eq!(t.reference[t.smallest], 2.0);
    }
}
