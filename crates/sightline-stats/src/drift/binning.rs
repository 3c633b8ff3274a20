//! Turning raw samples into aligned counts for the count-based methods.
//!
//! Numeric columns are binned the way Evidently bins them for PSI, Jensen–Shannon
//! and KL: equal-width edges over reference and current together, with Sturges' bin
//! count (`numpy.histogram_bin_edges(concat, bins="sturges")`), then `numpy.histogram`
//! counts of each sample on those edges. (Evidently's Hellinger draws Sturges edges
//! over the distinct values instead: see `crate::column_drift`.)
//! Categorical columns are counted per category, with categories only the current
//! sample has included.
//!
//! [`quantile_bins`] draws edges from the reference alone, so they can be stored with
//! a reference and every later window counted on the same bins without the reference
//! values at hand (the server's online PSI / Jensen–Shannon / chi-square).

use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroUsize;

use super::{DriftError, Side, check_sample, sorted};

/// Bin edges and the counts of each sample in them.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramCounts {
    /// `bins + 1` increasing edges. Bins are `[e_i, e_{i+1})`, the last one closed.
    pub edges: Vec<f64>,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// Sturges equal-width bins over both samples, and each sample's counts in them.
///
/// The rule, exactly as numpy implements it: with `N` values in total spanning
/// `[lo, hi]`, the bin width is `(hi - lo) / (log2(N) + 1)` and the bin count
/// `ceil((hi - lo) / width)`; edges are `lo + i * (hi - lo) / bins`, the last set to
/// `hi`. When all values are equal the single bin is `[lo - 0.5, hi + 0.5]`.
/// Evidently uses these bins when the reference has more than 20 distinct values
/// and counts categories otherwise; that choice is the caller's.
pub fn sturges_histogram(reference: &[f64], current: &[f64]) -> Result<HistogramCounts, DriftError> {
    check_sample(reference, Side::Reference)?;
    check_sample(current, Side::Current)?;
    let edges = sturges_edges(reference.iter().chain(current).copied());
    let reference = histogram(reference, &edges);
    let current = histogram(current, &edges);
    Ok(HistogramCounts { edges, reference, current })
}

/// `numpy.histogram_bin_edges(values, bins="sturges")` for finite values (see
/// [`sturges_histogram`] for the rule). No values give the single bin `[-0.5, 0.5]`,
/// as numpy gives for an empty array.
pub fn sturges_edges(values: impl Iterator<Item = f64> + Clone) -> Vec<f64> {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.clone().fold(f64::NEG_INFINITY, f64::max);
    sturges_edges_over(lo, hi, values.count() as u64)
}

/// [`sturges_edges`] from what it depends on: the smallest and largest of `n` values.
/// Profiles know all three exactly, so sketch mode draws Evidently's edges from them.
pub fn sturges_edges_over(lo: f64, hi: f64, n: u64) -> Vec<f64> {
    if n == 0 || !lo.is_finite() || !hi.is_finite() {
        return vec![-0.5, 0.5];
    }
    let n = n as f64;
    let span = hi - lo;
    let width = span / (n.log2() + 1.0);
    let (first, last) = if span == 0.0 { (lo - 0.5, hi + 0.5) } else { (lo, hi) };
    let bins = if width > 0.0 { ((last - first) / width).ceil().max(1.0) as usize } else { 1 };
    // numpy.linspace: `i * step + start`, then the last edge set to `stop` exactly.
    let step = (last - first) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + first).collect();
    if let Some(e) = edges.last_mut() {
        *e = last;
    }
    edges
}

/// Counts of `values` in the bins `edges` describes, as `numpy.histogram(values, edges)`:
/// left-closed bins, the last also right-closed, values outside ignored.
pub fn histogram(values: &[f64], edges: &[f64]) -> Vec<f64> {
    weighted_histogram(values.iter().map(|v| (*v, 1.0)), edges)
}

/// [`histogram`] of values with weights (a quantile sketch's kept items).
pub fn weighted_histogram(values: impl Iterator<Item = (f64, f64)>, edges: &[f64]) -> Vec<f64> {
    let bins = edges.len().saturating_sub(1);
    let mut counts = vec![0.0; bins];
    let (Some(&first), Some(&last)) = (edges.first(), edges.last()) else { return counts };
    for (v, w) in values {
        if v < first || v > last {
            continue;
        }
        // Number of edges <= v, minus one, is the bin; v == last belongs to the last bin.
        let bin = edges.partition_point(|e| *e <= v).saturating_sub(1).min(bins.saturating_sub(1));
        counts[bin] += w;
    }
    counts
}

/// Edges from reference quantiles and the counts of each sample around them.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileBins {
    /// Increasing edges `e_0 < … < e_k`, at least two and at most `bins + 1`; only a
    /// constant reference gives two equal edges `[v, v]`.
    pub edges: Vec<f64>,
    /// `edges.len() + 1` counts: `(-inf, e_0)`, then `[e_0, e_1)`, …, `[e_{k-1}, e_k]`
    /// (the last inner bin closed), then `(e_k, +inf)`.
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// Reference-quantile bins: edges at the reference's `i / bins` quantiles.
///
/// The rule, exactly: sort the reference (`n` values); for `q_i = i / bins`
/// (`numpy.linspace(0, 1, bins + 1)`), the edge is numpy's default (`linear`)
/// quantile, the interpolation at position `(n - 1) q_i` between its neighbours;
/// repeated edges (ties) are merged, except that a constant reference keeps `[v, v]`.
/// Inner bins are left-closed, the last one closed on both sides, so the reference
/// fills exactly the inner bins.
///
/// The two open-ended outer bins are what make these bins usable for drift: the
/// reference never falls in them, so current values outside the reference's range
/// are counted where they show instead of being clipped into the end bins or
/// dropped; a shift away from a constant reference is visible too.
pub fn quantile_bins(reference: &[f64], current: &[f64], bins: NonZeroUsize) -> Result<QuantileBins, DriftError> {
    check_sample(reference, Side::Reference)?;
    check_sample(current, Side::Current)?;
    let sorted_ref = sorted(reference);
    let n = sorted_ref.len();
    let k = bins.get();
    let step = 1.0 / k as f64;
    let mut edges: Vec<f64> = (0..=k)
        .map(|i| {
            let q = if i == k { 1.0 } else { i as f64 * step };
            linear_quantile(&sorted_ref, n, q)
        })
        .collect();
    edges.sort_unstable_by(f64::total_cmp);
    edges.dedup();
    if let [v] = edges[..] {
        edges.push(v);
    }
    let (first, last, inner) = (edges[0], edges[edges.len() - 1], edges.len() - 1);
    let count = |values: &[f64]| {
        let mut counts = vec![0.0; inner + 2];
        for &v in values {
            let bin = if v < first {
                0
            } else if v > last {
                inner + 1
            } else {
                // At least one edge (e_0) is <= v here; the top edge belongs to the last inner bin.
                1 + (edges.partition_point(|e| *e <= v) - 1).min(inner - 1)
            };
            counts[bin] += 1.0;
        }
        counts
    };
    let (reference, current) = (count(reference), count(current));
    Ok(QuantileBins { edges, reference, current })
}

/// numpy's `linear` quantile of sorted, non-empty `x`, including its interpolation
/// form (from the nearer neighbour), so edges agree bit for bit and values equal to
/// an edge land in the same bin as numpy puts them.
fn linear_quantile(x: &[f64], n: usize, q: f64) -> f64 {
    let virtual_index = (n - 1) as f64 * q;
    let last = x[n - 1];
    if virtual_index >= (n - 1) as f64 {
        return last;
    }
    let previous = virtual_index.floor();
    // `previous` is in [0, n - 2] here, so both reads are in bounds.
    let i = previous as usize;
    let (a, b) = (x[i], x[i + 1]);
    let t = virtual_index - previous;
    let diff = b - a;
    if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t }
}

/// Category labels and each sample's count for them, aligned by index.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryCounts<T> {
    /// Reference categories in order of first appearance, then categories only the
    /// current sample has, in order of first appearance.
    pub categories: Vec<T>,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// Counts each category in both samples over the union of their categories.
///
/// A category seen only in the current sample gets reference count 0, which the
/// count-based methods then treat as their documented conventions say.
pub fn category_counts<T: Eq + Hash + Clone>(reference: &[T], current: &[T]) -> CategoryCounts<T> {
    let mut index: HashMap<&T, usize> = HashMap::new();
    let mut categories = Vec::new();
    let mut ref_counts: Vec<f64> = Vec::new();
    let mut cur_counts: Vec<f64> = Vec::new();
    for (sample, is_reference) in [(reference, true), (current, false)] {
        for value in sample {
            let slot = *index.entry(value).or_insert_with(|| {
                categories.push(value.clone());
                ref_counts.push(0.0);
                cur_counts.push(0.0);
                categories.len() - 1
            });
            if is_reference {
                ref_counts[slot] += 1.0;
            } else {
                cur_counts[slot] += 1.0;
            }
        }
    }
    CategoryCounts { categories, reference: ref_counts, current: cur_counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unseen_current_categories_come_last_with_zero_reference_count() {
        let c = category_counts(&["a", "b", "a"], &["c", "a"]);
        assert_eq!(c.categories, vec!["a", "b", "c"]);
        assert_eq!(c.reference, vec![2.0, 1.0, 0.0]);
        assert_eq!(c.current, vec![1.0, 0.0, 1.0]);
    }

    #[test]
    fn quantile_bins_count_current_values_outside_the_reference_range() {
        let bins = NonZeroUsize::new(4).expect("non-zero");
        let q = quantile_bins(&[0.0, 1.0, 2.0, 3.0, 4.0], &[-1.0, 2.0, 9.0], bins).expect("valid input");
        assert_eq!(q.edges, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(q.reference, vec![0.0, 1.0, 1.0, 1.0, 2.0, 0.0]);
        assert_eq!(q.current, vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn a_shift_from_a_constant_reference_shows_in_quantile_bins() {
        let bins = NonZeroUsize::new(10).expect("non-zero");
        let q = quantile_bins(&[3.0; 4], &[2.0, 3.0, 4.0, 4.0], bins).expect("valid input");
        assert_eq!(q.edges, vec![3.0, 3.0]);
        assert_eq!(q.reference, vec![0.0, 4.0, 0.0]);
        assert_eq!(q.current, vec![1.0, 1.0, 2.0]);
    }

    #[test]
    fn constant_samples_get_one_bin_around_the_value() {
        let h = sturges_histogram(&[2.0, 2.0], &[2.0]).expect("valid input");
        assert_eq!(h.edges, vec![1.5, 2.5]);
        assert_eq!(h.reference, vec![2.0]);
        assert_eq!(h.current, vec![1.0]);
    }
}
