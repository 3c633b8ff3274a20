//! Numeric column profile: counts by kind, moments, a quantile sketch, reference bins.
//!
//! Moments merge with Chan, Golub and LeVeque's pairwise formulas (1979): the merged
//! mean is the count-weighted mean and `M2 = M2_a + M2_b + δ² n_a n_b / n`, written
//! symmetrically so that `merge(a, b)` and `merge(b, a)` give the same bits. Floating
//! point addition is not associative, so groupings of three agree to rounding (about
//! 1e-12 relative), not bit for bit. Single values fold in with Welford's update, one at a
//! time and in order also through [`NumericProfile::update_many`], so a profile's bits
//! never depend on how its values were batched.

use super::ProfileError;
use super::codec::{Reader, put_f64, put_varint};
use super::kll::{KllSketch, from_order_key, order_key};

/// Counts of finite values in bins fixed by a reference.
///
/// The layout is [`crate::drift::quantile_bins`]'s: `edges.len() + 1` counts, for
/// `(-inf, e_0)`, `[e_0, e_1)`, …, `[e_{k-1}, e_k]` (the last inner bin closed), then
/// `(e_k, +inf)`; the edges that function returns can be passed here unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct BinCounts {
    edges: Vec<f64>,
    counts: Vec<u64>,
}

impl BinCounts {
    /// Empty counts on `edges`: at least two, finite, non-decreasing.
    pub fn new(edges: Vec<f64>) -> Result<Self, ProfileError> {
        if edges.len() < 2 || edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[0] > w[1]) {
            return Err(ProfileError::Config("bin edges must be at least two finite, non-decreasing values"));
        }
        let counts = vec![0; edges.len() + 1];
        Ok(Self { edges, counts })
    }

    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Counts one finite value (callers counting outside a profile, such as a
    /// reference read in one pass whose edges come from its first rows).
    pub fn add(&mut self, v: f64) {
        if v.is_finite() {
            let b = self.bin(v);
            self.counts[b] = self.counts[b].saturating_add(1);
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, c| a.saturating_add(*c))
    }

    fn bin(&self, v: f64) -> usize {
        let inner = self.edges.len() - 1;
        if v < self.edges[0] {
            0
        } else if v > self.edges[inner] {
            inner + 1
        } else {
            // At least e_0 is <= v here; the top edge belongs to the last inner bin.
            1 + (self.edges.partition_point(|e| *e <= v) - 1).min(inner - 1)
        }
    }

    fn same_edges(&self, other: &Self) -> bool {
        self.edges.len() == other.edges.len()
            && self.edges.iter().zip(&other.edges).all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

/// A mergeable summary of one numeric column over some window.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericProfile {
    /// Finite values: the ones in the moments, the sketch and the bins.
    count: u64,
    missing: u64,
    nan: u64,
    pos_inf: u64,
    neg_inf: u64,
    min: f64,
    max: f64,
    mean: f64,
    /// Sum of squared deviations from the mean.
    m2: f64,
    sketch: KllSketch,
    bins: Option<BinCounts>,
}

impl NumericProfile {
    /// An empty profile whose quantile sketch has accuracy `k` and random seed `seed`
    /// (see [`KllSketch::new`]).
    pub fn new(k: u16, seed: u64) -> Result<Self, ProfileError> {
        Ok(Self {
            count: 0,
            missing: 0,
            nan: 0,
            pos_inf: 0,
            neg_inf: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mean: 0.0,
            m2: 0.0,
            sketch: KllSketch::new(k, seed)?,
            bins: None,
        })
    }

    /// Also count values in reference bins (see [`BinCounts`]); profiles merge only
    /// with profiles on the same edges.
    pub fn with_bins(mut self, edges: Vec<f64>) -> Result<Self, ProfileError> {
        if self.count > 0 {
            return Err(ProfileError::Config("bins must be attached before values are added"));
        }
        self.bins = Some(BinCounts::new(edges)?);
        Ok(self)
    }

    /// Attaches bins to a profile that already holds values (a reference built in one
    /// pass, whose edges come from its own sketch), counting the sketch's kept items by
    /// weight: exact when the sketch holds every value, otherwise each edge's count is off
    /// by at most the sketch's rank error times the count.
    pub fn with_bins_from_sketch(mut self, edges: Vec<f64>) -> Result<Self, ProfileError> {
        let mut bins = BinCounts::new(edges)?;
        for (v, w) in self.sketch.sorted_view() {
            let b = bins.bin(v);
            bins.counts[b] = bins.counts[b].saturating_add(w);
        }
        self.bins = Some(bins);
        Ok(self)
    }

    /// Attaches bins counted outside the profile over the same values: exact counts, as
    /// long as they cover exactly the profile's finite values (checked by their total).
    pub fn with_counted_bins(mut self, bins: BinCounts) -> Result<Self, ProfileError> {
        if bins.total() != self.count {
            return Err(ProfileError::Config("bin counts must cover exactly the profile's finite values"));
        }
        self.bins = Some(bins);
        Ok(self)
    }

    /// Reference bin edges for `bins` equal-frequency bins: the exact minimum and maximum
    /// and the sketch's quantiles between them. `None` without finite values.
    pub fn quantile_edges(&self, bins: usize) -> Option<Vec<f64>> {
        if self.count == 0 || bins == 0 {
            return None;
        }
        let mut edges: Vec<f64> = (0..=bins).filter_map(|i| self.quantile(i as f64 / bins as f64)).collect();
        // Rounding in a sketch's quantiles can never make edges decrease, but keep the
        // invariant `BinCounts` checks whatever the sketch answers.
        for i in 1..edges.len() {
            if edges[i] < edges[i - 1] {
                edges[i] = edges[i - 1];
            }
        }
        (edges.len() == bins + 1).then_some(edges)
    }

    /// Forgets the bin counts (to merge with a profile counted on other edges).
    pub fn drop_bins(&mut self) {
        self.bins = None;
    }

    /// Adds one observation; `None` is a missing value.
    pub fn update(&mut self, value: Option<f64>) {
        match value {
            Some(v) => self.update_present(v),
            None => self.update_missing(1),
        }
    }

    /// Adds present observations in order, exactly as `update(Some(v))` for each would
    /// (NaN and infinities are counted by kind): the aggregator's path for a run of
    /// events, one column at a time.
    pub fn update_many(&mut self, values: &[f64]) {
        // The loop keeps the moments in locals (registers) rather than in `self`: the
        // mean's update is a chain through a division from one value to the next, and a
        // store and reload on that chain made every value wait longer. The arithmetic
        // is `update_present`'s, operation for operation, so the bits are the same.
        let Self { count, nan, pos_inf, neg_inf, min, max, mean, m2, sketch, bins, .. } = self;
        let (mut n, mut mu, mut sq) = (*count, *mean, *m2);
        // Extremes as order keys: integer minimum and maximum in `total_cmp`'s order.
        let (mut lo, mut hi) = (order_key(*min), order_key(*max));
        for &v in values {
            if v.is_finite() {
                n += 1;
                let key = order_key(v);
                lo = lo.min(key);
                hi = hi.max(key);
                let delta = v - mu;
                mu += delta / n as f64;
                sq += delta * (v - mu);
                sketch.update_key(key);
                if let Some(bins) = bins {
                    let b = bins.bin(v);
                    bins.counts[b] += 1;
                }
            } else if v.is_nan() {
                *nan = nan.saturating_add(1);
            } else if v > 0.0 {
                *pos_inf = pos_inf.saturating_add(1);
            } else {
                *neg_inf = neg_inf.saturating_add(1);
            }
        }
        (*count, *mean, *m2) = (n, mu, sq);
        (*min, *max) = (from_order_key(lo), from_order_key(hi));
    }

    /// Counts `count` missing observations at once.
    pub fn update_missing(&mut self, count: u64) {
        self.missing = self.missing.saturating_add(count);
    }

    #[inline]
    fn update_present(&mut self, v: f64) {
        if v.is_nan() {
            self.nan = self.nan.saturating_add(1);
        } else if v == f64::INFINITY {
            self.pos_inf = self.pos_inf.saturating_add(1);
        } else if v == f64::NEG_INFINITY {
            self.neg_inf = self.neg_inf.saturating_add(1);
        } else {
            self.count += 1;
            self.min = min_total(self.min, v);
            self.max = max_total(self.max, v);
            let delta = v - self.mean;
            self.mean += delta / self.count as f64;
            self.m2 += delta * (v - self.mean);
            self.sketch.update_finite(v);
            if let Some(bins) = &mut self.bins {
                let b = bins.bin(v);
                bins.counts[b] += 1;
            }
        }
    }

    /// Folds `other` into `self`. On error `self` is unchanged.
    pub fn merge(&mut self, other: &Self) -> Result<(), ProfileError> {
        self.check_mergeable(other)?;
        let (na, nb) = (self.count as f64, other.count as f64);
        if other.count > 0 {
            if self.count == 0 {
                self.mean = other.mean;
                self.m2 = other.m2;
            } else {
                let n = na + nb;
                let delta = other.mean - self.mean;
                self.mean = (na * self.mean + nb * other.mean) / n;
                self.m2 = self.m2 + other.m2 + delta * delta * (na * nb / n);
            }
        }
        self.count += other.count;
        self.missing = self.missing.saturating_add(other.missing);
        self.nan = self.nan.saturating_add(other.nan);
        self.pos_inf = self.pos_inf.saturating_add(other.pos_inf);
        self.neg_inf = self.neg_inf.saturating_add(other.neg_inf);
        self.min = min_total(self.min, other.min);
        self.max = max_total(self.max, other.max);
        self.sketch.merge(&other.sketch)?;
        if let (Some(mine), Some(theirs)) = (&mut self.bins, &other.bins) {
            for (a, b) in mine.counts.iter_mut().zip(&theirs.counts) {
                *a += b;
            }
        }
        Ok(())
    }

    pub(crate) fn check_mergeable(&self, other: &Self) -> Result<(), ProfileError> {
        // The sketch's count is the finite count, so its overflow check covers `count`
        // and every bin count.
        self.sketch.check_mergeable(&other.sketch)?;
        match (&self.bins, &other.bins) {
            (None, None) => Ok(()),
            (Some(a), Some(b)) if a.same_edges(b) => Ok(()),
            _ => Err(ProfileError::Incompatible("profiles count different reference bins")),
        }
    }

    /// Finite values seen.
    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn missing(&self) -> u64 {
        self.missing
    }
    pub fn nan(&self) -> u64 {
        self.nan
    }
    pub fn pos_inf(&self) -> u64 {
        self.pos_inf
    }
    pub fn neg_inf(&self) -> u64 {
        self.neg_inf
    }
    /// All observations, including missing and non-finite ones.
    pub fn total(&self) -> u64 {
        self.count
            .saturating_add(self.missing)
            .saturating_add(self.nan)
            .saturating_add(self.pos_inf)
            .saturating_add(self.neg_inf)
    }
    /// Smallest finite value, `None` when there is none.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then_some(self.mean)
    }
    /// Population variance (`ddof = 0`, numpy's default).
    pub fn variance(&self) -> Option<f64> {
        (self.count > 0).then(|| self.m2 / self.count as f64)
    }
    /// Sample variance (`ddof = 1`, pandas' default); needs two values.
    pub fn sample_variance(&self) -> Option<f64> {
        (self.count > 1).then(|| self.m2 / (self.count - 1) as f64)
    }
    /// The quantile sketch of the finite values.
    pub fn sketch(&self) -> &KllSketch {
        &self.sketch
    }
    /// Estimated `q`-quantile; the extremes are exact (the tracked min and max).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        match q {
            _ if self.count == 0 || q.is_nan() => None,
            q if q <= 0.0 => Some(self.min),
            q if q >= 1.0 => Some(self.max),
            q => self.sketch.quantile(q),
        }
    }
    pub fn bins(&self) -> Option<&BinCounts> {
        self.bins.as_ref()
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        for c in [self.count, self.missing, self.nan, self.pos_inf, self.neg_inf] {
            put_varint(out, c);
        }
        for v in [self.min, self.max, self.mean, self.m2] {
            put_f64(out, v);
        }
        self.sketch.encode_into(out);
        match &self.bins {
            None => out.push(0),
            Some(bins) => {
                out.push(1);
                put_varint(out, bins.edges.len() as u64);
                for e in &bins.edges {
                    put_f64(out, *e);
                }
                for c in &bins.counts {
                    put_varint(out, *c);
                }
            }
        }
    }

    pub(crate) fn decode_from(r: &mut Reader<'_>) -> Result<Self, ProfileError> {
        let [count, missing, nan, pos_inf, neg_inf] = [r.varint()?, r.varint()?, r.varint()?, r.varint()?, r.varint()?];
        let [min, max, mean, m2] = [r.f64()?, r.f64()?, r.f64()?, r.f64()?];
        let sketch = KllSketch::decode_from(r)?;
        let bins = match r.byte()? {
            0 => None,
            1 => {
                let n = r.len(9)?;
                let edges = (0..n).map(|_| r.f64()).collect::<Result<Vec<_>, _>>()?;
                let mut bins = BinCounts::new(edges).map_err(|_| ProfileError::Invalid("bin edges"))?;
                let mut total: u128 = 0;
                for c in &mut bins.counts {
                    *c = r.varint()?;
                    total += u128::from(*c);
                }
                if total != u128::from(count) {
                    return Err(ProfileError::Invalid("bin counts do not add up to the count"));
                }
                Some(bins)
            }
            _ => return Err(ProfileError::Invalid("bins flag")),
        };
        if sketch.n() != count {
            return Err(ProfileError::Invalid("quantile sketch count differs from the profile's"));
        }
        let moments_ok = if count == 0 {
            min == f64::INFINITY && max == f64::NEG_INFINITY && mean == 0.0 && m2 == 0.0
        } else {
            min.is_finite() && max.is_finite() && min <= max && mean.is_finite() && m2.is_finite() && m2 >= 0.0
        };
        if !moments_ok {
            return Err(ProfileError::Invalid("moments are inconsistent with the count"));
        }
        Ok(Self { count, missing, nan, pos_inf, neg_inf, min, max, mean, m2, sketch, bins })
    }
}

// `f64::min` may return either zero for `min(0.0, -0.0)`; the total order picks one
// sign whatever the argument order, which keeps merges exactly commutative.
fn min_total(a: f64, b: f64) -> f64 {
    if b.total_cmp(&a).is_lt() { b } else { a }
}

fn max_total(a: f64, b: f64) -> f64 {
    if b.total_cmp(&a).is_gt() { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_kind_and_bins_like_quantile_bins() {
        let mut p = NumericProfile::new(200, 0).expect("valid k").with_bins(vec![0.0, 1.0, 2.0]).expect("edges");
        for v in [Some(-1.0), Some(0.0), Some(1.0), Some(2.0), Some(3.0), None, Some(f64::NAN), Some(f64::INFINITY)] {
            p.update(v);
        }
        assert_eq!((p.count(), p.missing(), p.nan(), p.pos_inf(), p.neg_inf()), (5, 1, 1, 1, 0));
        assert_eq!(p.bins().map(BinCounts::counts), Some(&[1, 1, 2, 1][..]));
        assert_eq!(p.mean(), Some(1.0));
        assert_eq!(p.variance(), Some(2.0));
        assert_eq!((p.min(), p.max()), (Some(-1.0), Some(3.0)));
    }

    #[test]
    fn runs_of_values_build_what_single_updates_build_bit_for_bit() {
        let mut state = 9u64;
        let values: Vec<f64> = (0..5_000)
            .map(|i| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                match (state >> 40) % 41 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    3 => -0.0,
                    4 => 0.0,
                    r => (r as f64 - 20.0) * 1e3 / f64::from(i + 1),
                }
            })
            .collect();
        for edges in [None, Some(vec![-5.0, 0.0, 5.0])] {
            let empty = || {
                let p = NumericProfile::new(8, 3).expect("valid k");
                match &edges {
                    Some(e) => p.with_bins(e.clone()).expect("valid edges"),
                    None => p,
                }
            };
            let mut one_by_one = empty();
            for v in &values {
                one_by_one.update(Some(*v));
            }
            for run in [1, 7, 512, values.len()] {
                let mut batched = empty();
                for chunk in values.chunks(run) {
                    batched.update_many(chunk);
                }
                assert_eq!(batched.encode(), one_by_one.encode(), "runs of {run}");
            }
        }
    }
}
