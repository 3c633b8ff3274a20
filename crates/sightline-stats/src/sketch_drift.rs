//! Drift from profiles (sketch mode): the same methods as [`crate::column_drift`], computed
//! from mergeable summaries instead of raw values, with a documented error.
//!
//! A server keeps profiles per time bucket and merges them over a query window, so the
//! cost of a drift query grows with the number of buckets, not of events. What each
//! method reads, and how far it can be from exact mode (the raw values):
//!
//! | method                          | from                                   | error against exact mode |
//! |---------------------------------|----------------------------------------|--------------------------|
//! | `ks`                            | both KLL sketches (weighted CDFs)      | statistic within `ε_r + ε_c` |
//! | `wasserstein_normed`            | both KLL sketches, reference variance  | within `(ε_r + ε_c)(max − min) / max(σ_r, 0.001)` |
//! | `jensenshannon`, `psi`, `kl_div`, `hellinger` | Sturges edges from the exact min, max and count; bin counts from the sketches' kept items | an estimate: measured, see below |
//! | any of the four, on reference bins | [`BinCounts`] of both profiles      | none: exact on those bins |
//! | `chisquare`, `z`, categorical   | category counts                        | exact while the counts are |
//!
//! `ε` is a sketch's normalized rank error: every estimated CDF value `F̂(x)` is within
//! `ε` of the true `F(x)`. For KLL with `k = 200` the published bound is 1.65 % at 99 %
//! confidence; the tests in `tests/integration/profile.rs` measure about 0.5 % at the
//! 99th percentile. When a sketch has kept every value (fewer values than it holds,
//! about `3k`), it is exact and sketch mode *is* exact mode: the kept values are the sample.
//!
//! Derivations:
//! - KS: `D = sup |F_r − F_c|`; moving each CDF by at most its `ε` moves the supremum by
//!   at most `ε_r + ε_c`.
//! - Wasserstein-1 is `∫ |F_r − F_c| dx` over the values' range; the integrand moves by
//!   at most `ε_r + ε_c` at every `x`, and only on `[min, max]` of both samples (both CDFs
//!   are 0 below and 1 above), so the distance moves by at most `(ε_r + ε_c)(max − min)`;
//!   Evidently divides by the reference's population standard deviation, which a profile
//!   holds exactly (to rounding), floored at 0.001 as Evidently floors it.
//!   This bound is loose for long tails (the range grows, the mass there does not);
//!   the measured errors in `tests/integration/sketch.rs` are far smaller.
//! - Measured there (k = 200, 100,000 values per side, six distribution pairs, profiles
//!   merged from 10 partial profiles): KS statistic at most 0.0062 off (the test demands
//!   0.01), normed Wasserstein at most 0.006 off where the bound with ε = 1.65 % allows
//!   0.19 to 0.68.
//! - Binned methods: Evidently's Sturges edges depend only on the joint minimum, maximum
//!   and count, which profiles hold exactly, so the edges are Evidently's. Each bin's
//!   share is then off by at most `2ε` (two CDF values), but PSI and KL weigh a share by
//!   the log of a ratio, which has no useful bound for nearly empty tail bins; the error
//!   is therefore measured, not bounded. With `k = 200` and 100,000 values per side
//!   (seeded, six distribution pairs, profiles merged from 10 partial profiles,
//!   `tests/integration/sketch.rs`), spreading each once-kept item's weight between its
//!   neighbours (see `spread_histogram`), Jensen–Shannon is at most 0.012 off and PSI at
//!   most 0.008 off in absolute terms, which is up to 15 % of a small PSI: the tail bins'
//!   shares are below the sketch's rank error. These estimates are good for display and
//!   trends; for verdicts that must agree with exact mode use the reference bins below,
//!   which are exact (the "PSI within 5 %" holds there with no error at all).
//!   A reference whose sketch keeps at most 20 distinct values is counted per value, as
//!   Evidently counts a numeric column with at most 20 distinct reference values.
//!   For bounded, exact online numbers, count the current window in the reference's
//!   bins ([`on_reference_bins`]): the DESIGN's "PSI / JS / chi-square on the reference
//!   bins are exact online".
//!
//! Hellinger in sketch mode uses the same Sturges bins as the other binned methods:
//! Evidently draws its Hellinger edges over the distinct values, which a profile does not
//! keep.
//!
//! Default method choice needs the reference size (exact in a profile) and the number of
//! distinct values (exact from the category counts while they are exact, and from an
//! exact sketch; otherwise the distinct kept values of the sketches, a lower bound).

use crate::column_drift::{self, ColumnDrift, Options, Tally};
use crate::default_method::{self, ColumnKind, Method};
use crate::drift::{self, DriftError, DriftResult, Side};
use crate::profile::{BinCounts, CategoricalProfile, KllSketch, NumericProfile};

/// A sketch's kept values with their weights, in increasing order.
fn view(sketch: &KllSketch) -> Vec<(f64, f64)> {
    sketch.sorted_view().into_iter().map(|(v, w)| (v, w as f64)).collect()
}

/// The sample itself when the sketch has kept every value with weight 1.
fn exact_values(view: &[(f64, f64)]) -> Option<Vec<f64>> {
    view.iter().all(|(_, w)| *w == 1.0).then(|| view.iter().map(|(v, _)| *v).collect())
}

fn check(profile: &NumericProfile, which: Side) -> Result<(), DriftError> {
    if profile.count() == 0 { Err(DriftError::Empty { which }) } else { Ok(()) }
}

/// Walks the merged kept values of both sketches and calls `step(gap, F_r, F_c)` for each
/// interval between consecutive distinct values, with the CDFs' values on it.
fn walk(a: &[(f64, f64)], b: &[(f64, f64)], mut step: impl FnMut(f64, f64, f64)) {
    let (na, nb) = (a.iter().map(|x| x.1).sum::<f64>(), b.iter().map(|x| x.1).sum::<f64>());
    let (mut i, mut j) = (0, 0);
    let (mut wa, mut wb) = (0.0, 0.0);
    let mut prev: Option<f64> = None;
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.min(y.0),
            (Some(x), None) => x.0,
            (None, Some(y)) => y.0,
            (None, None) => break,
        };
        if let Some(p) = prev {
            step(v - p, wa / na, wb / nb);
        }
        while i < a.len() && a[i].0 == v {
            wa += a[i].1;
            i += 1;
        }
        while j < b.len() && b[j].0 == v {
            wb += b[j].1;
            j += 1;
        }
        step(0.0, wa / na, wb / nb);
        prev = Some(v);
    }
}

/// Two-sample KS from two profiles: the largest difference of the sketches' CDFs, and
/// the asymptotic p-value at the profiles' exact counts (scipy's large-sample rule). Exact
/// mode when both sketches hold every value.
pub fn ks(reference: &NumericProfile, current: &NumericProfile) -> Result<DriftResult, DriftError> {
    check(reference, Side::Reference)?;
    check(current, Side::Current)?;
    ks_of_views(reference, current, &view(reference.sketch()), &view(current.sketch()))
}

fn ks_of_views(
    reference: &NumericProfile,
    current: &NumericProfile,
    r: &[(f64, f64)],
    c: &[(f64, f64)],
) -> Result<DriftResult, DriftError> {
    if let (Some(r), Some(c)) = (exact_values(r), exact_values(c)) {
        return drift::ks_2samp(&r, &c);
    }
    let mut d = 0.0_f64;
    walk(r, c, |_, fr, fc| d = d.max((fr - fc).abs()));
    let p = drift::asymptotic_two_sided(reference.count() as f64, current.count() as f64, d);
    Ok(DriftResult { score: d, p_value: Some(p.clamp(0.0, 1.0)) })
}

/// Evidently's normed Wasserstein distance from two profiles: the distance between the
/// sketches' CDFs over the reference's population standard deviation (floored at
/// [`drift::WASSERSTEIN_NORM_FLOOR`]). Exact mode when both sketches hold every value.
pub fn wasserstein_normed(reference: &NumericProfile, current: &NumericProfile) -> Result<DriftResult, DriftError> {
    check(reference, Side::Reference)?;
    check(current, Side::Current)?;
    wasserstein_of_views(reference, &view(reference.sketch()), &view(current.sketch()))
}

fn wasserstein_of_views(
    reference: &NumericProfile,
    r: &[(f64, f64)],
    c: &[(f64, f64)],
) -> Result<DriftResult, DriftError> {
    if let (Some(r), Some(c)) = (exact_values(r), exact_values(c)) {
        return drift::wasserstein_normed(&r, &c);
    }
    let mut w = 0.0;
    walk(r, c, |gap, fr, fc| w += (fr - fc).abs() * gap);
    let sd = reference.variance().unwrap_or(0.0).max(0.0).sqrt();
    Ok(DriftResult { score: w / sd.max(drift::WASSERSTEIN_NORM_FLOOR), p_value: None })
}

/// The error bound of [`wasserstein_normed`] given each sketch's rank error (see the
/// module documentation for the derivation).
pub fn wasserstein_normed_bound(
    reference: &NumericProfile,
    current: &NumericProfile,
    reference_rank_error: f64,
    current_rank_error: f64,
) -> Option<f64> {
    let lo = reference.min()?.min(current.min()?);
    let hi = reference.max()?.max(current.max()?);
    let sd = reference.variance()?.max(0.0).sqrt();
    Some((reference_rank_error + current_rank_error) * (hi - lo) / sd.max(drift::WASSERSTEIN_NORM_FLOOR))
}

/// Evidently's shares for the binned methods, from two profiles: Sturges edges from the
/// exact joint minimum, maximum and count, and the sketches' kept items counted in them;
/// or per value, when the reference sketch keeps at most 20 distinct values.
pub fn binned_shares(reference: &NumericProfile, current: &NumericProfile) -> Result<(Vec<f64>, Vec<f64>), DriftError> {
    check(reference, Side::Reference)?;
    check(current, Side::Current)?;
    let (r, c) = (view(reference.sketch()), view(current.sketch()));
    let (nr, nc) = (reference.count() as f64, current.count() as f64);
    let reference_distinct = distinct(&r);
    if reference_distinct < column_drift::BINNED_DISTINCT_MIN {
        let t = tally_of_views(&r, &c);
        return Ok((t.reference.iter().map(|x| x / nr).collect(), t.current.iter().map(|x| x / nc).collect()));
    }
    // Both profiles hold at least one finite value here (checked above).
    let lo = reference.min().unwrap_or(0.0).min(current.min().unwrap_or(0.0));
    let hi = reference.max().unwrap_or(0.0).max(current.max().unwrap_or(0.0));
    let edges = drift::sturges_edges_over(lo, hi, reference.count() + current.count());
    let share = |v: &[(f64, f64)], n: f64, lo: f64, hi: f64| -> Vec<f64> {
        spread_histogram(v, &edges, lo, hi).into_iter().map(|x| x / n).collect()
    };
    // Each side's own exact range bounds where its mass can be.
    let (r_lo, r_hi) = (reference.min().unwrap_or(lo), reference.max().unwrap_or(hi));
    let (c_lo, c_hi) = (current.min().unwrap_or(lo), current.max().unwrap_or(hi));
    Ok((share(&r, nr, r_lo, r_hi), share(&c, nc, c_lo, c_hi)))
}

/// Bin masses from a sketch's kept items. A value kept more than once is a point mass
/// (ties in the data: its whole weight lands in its bin); a value kept once stands for
/// the values around it, so its weight is spread evenly from the midpoint with its left
/// neighbour to the midpoint with its right one (`lo` and `hi`, the side's exact range,
/// at the ends). Dropping a compacted item's weight of 2^h whole into one bin is what
/// makes plain counting lumpy; spreading it follows the density instead. When most of the
/// kept weight sits on repeated values the data is discrete and every value is a point.
fn spread_histogram(view: &[(f64, f64)], edges: &[f64], lo: f64, hi: f64) -> Vec<f64> {
    // Atoms: distinct values with their total weight and number of kept copies.
    let mut atoms: Vec<(f64, f64, usize)> = Vec::new();
    for &(v, w) in view {
        match atoms.last_mut() {
            Some(last) if last.0 == v => {
                last.1 += w;
                last.2 += 1;
            }
            _ => atoms.push((v, w, 1)),
        }
    }
    // Mostly repeated values mean discrete data (counts, rounded numbers): there a value
    // kept once is a value too, not a stand-in for its neighbourhood.
    let total: f64 = atoms.iter().map(|a| a.1).sum();
    let repeated: f64 = atoms.iter().filter(|a| a.2 > 1).map(|a| a.1).sum();
    let discrete = repeated > total / 2.0;
    let mut point = Vec::new();
    let mut counts = vec![0.0; edges.len().saturating_sub(1)];
    for (i, &(v, w, copies)) in atoms.iter().enumerate() {
        let left = if i == 0 { lo } else { (atoms[i - 1].0 + v) / 2.0 };
        let right = if i + 1 == atoms.len() { hi } else { (v + atoms[i + 1].0) / 2.0 };
        if discrete || copies > 1 || right <= left {
            point.push((v, w));
            continue;
        }
        // The share of [left, right] in each bin; bins are few, so a scan is enough.
        for (b, pair) in edges.windows(2).enumerate() {
            let overlap = right.min(pair[1]) - left.max(pair[0]);
            if overlap > 0.0 {
                counts[b] += w * overlap / (right - left);
            }
        }
    }
    for (c, p) in counts.iter_mut().zip(drift::weighted_histogram(point.into_iter(), edges)) {
        *c += p;
    }
    counts
}

fn distinct(view: &[(f64, f64)]) -> usize {
    // The view is sorted, so equal values are adjacent.
    view.windows(2).filter(|w| w[0].0 != w[1].0).count() + usize::from(!view.is_empty())
}

/// Per-value counts from two sketch views (sums of the kept copies' weights).
fn tally_of_views(r: &[(f64, f64)], c: &[(f64, f64)]) -> Tally {
    let mut entries: Vec<(f64, f64, f64)> = Vec::new();
    walk_values(r, c, |v, wr, wc| entries.push((v, wr, wc)));
    Tally::new(&entries, |a, b| a.total_cmp(b))
}

fn walk_values(a: &[(f64, f64)], b: &[(f64, f64)], mut each: impl FnMut(f64, f64, f64)) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.min(y.0),
            (Some(x), None) => x.0,
            (None, Some(y)) => y.0,
            (None, None) => break,
        };
        let (mut wa, mut wb) = (0.0, 0.0);
        // -0.0 == 0.0, so both land in one entry, as pandas counts them.
        while i < a.len() && a[i].0 == v {
            wa += a[i].1;
            i += 1;
        }
        while j < b.len() && b[j].0 == v {
            wb += b[j].1;
            j += 1;
        }
        each(v, wa, wb);
    }
}

/// A binned method (`jensenshannon`, `psi`, `kl_div`) on Evidently's bins from two profiles.
pub fn binned(method: Method, reference: &NumericProfile, current: &NumericProfile) -> Result<DriftResult, DriftError> {
    let (r, c) = binned_shares(reference, current)?;
    on_shares(method, r, c)
}

/// A binned method on the counts of both profiles in the reference's own bins
/// ([`crate::drift::quantile_bins`] edges attached with `NumericProfile::with_bins`):
/// exact on those bins, with Evidently's conventions (shares of each side's count; empty
/// bins filled for `psi` and `kl_div`). `chisquare` is accepted too.
pub fn on_reference_bins(
    method: Method,
    reference: &BinCounts,
    current: &BinCounts,
) -> Result<DriftResult, DriftError> {
    if !same_edges(reference, current) {
        return Err(DriftError::LengthMismatch {
            reference: reference.counts().len(),
            current: current.counts().len(),
        });
    }
    let as_f64 = |b: &BinCounts| b.counts().iter().map(|c| *c as f64).collect::<Vec<f64>>();
    let (r, c) = (as_f64(reference), as_f64(current));
    if method == Method::ChiSquare {
        return drift::chi_square(&r, &c);
    }
    let (nr, nc) = (r.iter().sum::<f64>(), c.iter().sum::<f64>());
    if nr == 0.0 {
        return Err(DriftError::Empty { which: Side::Reference });
    }
    if nc == 0.0 {
        return Err(DriftError::Empty { which: Side::Current });
    }
    // The counts themselves, as exact mode takes them: every method normalises them in
    // the same operations, so online and offline agree to the last bit.
    on_shares(method, r, c)
}

fn same_edges(a: &BinCounts, b: &BinCounts) -> bool {
    a.edges().len() == b.edges().len() && a.edges().iter().zip(b.edges()).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn on_shares(method: Method, r: Vec<f64>, c: Vec<f64>) -> Result<DriftResult, DriftError> {
    // The shares stand for counts of `1 / share` units; any positive scale gives the same
    // result for these methods, so the tally carries the shares themselves.
    let smallest = 0;
    let tally = Tally { reference: r, current: c, smallest };
    match method {
        Method::JensenShannon | Method::Psi | Method::KlDiv | Method::Hellinger => {
            column_drift::run(method, column_drift::ColumnData::Categorical(&tally))
        }
        _ => Err(DriftError::NotApplicable { method: method.name(), kind: "binned shares" }),
    }
}

/// Category counts from two categorical profiles, aligned. While both profiles' counts are
/// exact this is exact mode's tally; past their capacity, the mass not listed (the values
/// Misra–Gries dropped, and its undercount of the listed ones) is one extra category, so
/// the totals stay the profiles' counts.
pub fn category_tally(reference: &CategoricalProfile, current: &CategoricalProfile) -> Tally {
    let r = reference.items().items();
    let c = current.items().items();
    let mut entries: Vec<(&str, f64, f64)> = r.iter().map(|(k, n)| (*k, *n as f64, 0.0)).collect();
    let position: std::collections::HashMap<&str, usize> = entries.iter().enumerate().map(|(i, e)| (e.0, i)).collect();
    for (k, n) in &c {
        match position.get(k) {
            Some(&i) => entries[i].2 = *n as f64,
            None => entries.push((k, 0.0, *n as f64)),
        }
    }
    let listed = |items: &[(&str, u64)]| items.iter().map(|x| x.1).sum::<u64>();
    let (rest_r, rest_c) = (reference.count().saturating_sub(listed(&r)), current.count().saturating_sub(listed(&c)));
    if rest_r > 0 || rest_c > 0 {
        // An empty label sorts first; it never is a real category of a profile (empty
        // values are missing), so it cannot collide with one.
        entries.push(("", rest_r as f64, rest_c as f64));
    }
    Tally::new(&entries, |a, b| a.cmp(b))
}

/// One numeric column's drift from profiles: Evidently's default method (or the chosen
/// one), computed as this module's table says, with the threshold and verdict. A binned
/// method uses the reference's own bins when both profiles count them (exact on those
/// bins), Evidently's Sturges bins estimated from the sketches otherwise.
pub fn numeric_column(
    reference: &NumericProfile,
    current: &NumericProfile,
    options: Options,
) -> Result<ColumnDrift, DriftError> {
    numeric_column_against(&NumericReference::new(reference), current, options)
}

/// A reference column with its sketch's sorted view, made once for comparing many
/// current windows with it.
#[derive(Debug, Clone)]
pub struct NumericReference<'a> {
    profile: &'a NumericProfile,
    view: Vec<(f64, f64)>,
}

impl<'a> NumericReference<'a> {
    pub fn new(profile: &'a NumericProfile) -> Self {
        NumericReference { profile, view: view(profile.sketch()) }
    }
}

/// [`numeric_column`] against a prepared reference.
pub fn numeric_column_against(
    prepared: &NumericReference<'_>,
    current: &NumericProfile,
    options: Options,
) -> Result<ColumnDrift, DriftError> {
    let reference = prepared.profile;
    check(reference, Side::Reference)?;
    check(current, Side::Current)?;
    // Each sketch's sorted view once, for the default method and the method itself.
    let (r, c) = (&prepared.view, view(current.sketch()));
    let r = r.as_slice();
    let method = match options.method {
        Some(m) if !m.accepts(ColumnKind::Numeric) => {
            return Err(DriftError::NotApplicable { method: m.name(), kind: "numeric" });
        }
        Some(m) => m,
        None => {
            let mut all = 0;
            walk_values(r, &c, |_, _, _| all += 1);
            default_method::default_method(ColumnKind::Numeric, reference.count() as usize, all)
        }
    };
    let result = match method {
        Method::Ks => ks_of_views(reference, current, r, &c)?,
        Method::WassersteinNormed => wasserstein_of_views(reference, r, &c)?,
        Method::ChiSquare | Method::Z => {
            column_drift::run(method, column_drift::ColumnData::Categorical(&tally_of_views(r, &c)))?
        }
        _ => match (reference.bins(), current.bins()) {
            (Some(r), Some(c)) if same_edges(r, c) => on_reference_bins(method, r, c)?,
            _ => binned(method, reference, current)?,
        },
    };
    Ok(verdict(method, result, options.threshold))
}

/// One categorical column's drift from profiles (see [`category_tally`]).
pub fn categorical_column(
    reference: &CategoricalProfile,
    current: &CategoricalProfile,
    options: Options,
) -> Result<ColumnDrift, DriftError> {
    let tally = category_tally(reference, current);
    column_drift::column_drift(column_drift::ColumnData::Categorical(&tally), options)
}

fn verdict(method: Method, result: DriftResult, threshold: Option<f64>) -> ColumnDrift {
    let threshold = threshold.unwrap_or_else(|| method.default_threshold());
    let judged = if method.is_test() { result.p_value.unwrap_or(f64::NAN) } else { result.score };
    ColumnDrift {
        method,
        score: result.score,
        p_value: result.p_value,
        threshold,
        drifted: method.is_drifted(judged, threshold),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(values: &[f64]) -> NumericProfile {
        let mut p = NumericProfile::new(200, 7).expect("valid k");
        for v in values {
            p.update(Some(*v));
        }
        p
    }

    #[test]
    fn small_profiles_are_exact_mode() {
        let r: Vec<f64> = (0..150).map(|i| f64::from(i) * 0.37 % 11.0).collect();
        let c: Vec<f64> = (0..120).map(|i| f64::from(i) * 0.41 % 12.0).collect();
        let (pr, pc) = (profile(&r), profile(&c));
        assert_eq!(ks(&pr, &pc), drift::ks_2samp(&r, &c));
        // The standard deviation sums the values in sorted order here: equal to rounding.
        let (a, b) = (
            wasserstein_normed(&pr, &pc).expect("values").score,
            drift::wasserstein_normed(&r, &c).expect("values").score,
        );
        assert!((a - b).abs() <= 1e-12 * b, "{a} vs {b}");
    }

    #[test]
    fn empty_profiles_are_errors() {
        let (e, p) = (profile(&[]), profile(&[1.0]));
        assert!(matches!(ks(&e, &p), Err(DriftError::Empty { .. })));
        assert!(matches!(binned(Method::Psi, &p, &e), Err(DriftError::Empty { .. })));
    }
}
