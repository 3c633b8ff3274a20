//! Categorical and boolean column profile: counts, category summary, distinct count.
//!
//! Booleans are profiled as the categories `"true"` and `"false"`, so every count-based
//! drift method treats them like any other two-category column.
//!
//! Every kept category is also in the distinct-count sketch (updates and merges keep it
//! so, decoding checks it), so a value already kept skips the sketch: inserting it again
//! could change no register, and a low-cardinality column costs one hash per value.

use super::ProfileError;
use super::codec::{Reader, put_varint};
use super::frequent::FrequentItems;
use super::hll::HyperLogLog;

/// A mergeable summary of one categorical (or boolean) column over some window.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoricalProfile {
    count: u64,
    missing: u64,
    items: FrequentItems,
    distinct: HyperLogLog,
}

impl CategoricalProfile {
    /// An empty profile: exact counts up to `capacity` distinct values (see
    /// [`FrequentItems`]) and a distinct-count sketch with `2^precision` registers.
    pub fn new(capacity: usize, precision: u8) -> Result<Self, ProfileError> {
        Ok(Self { count: 0, missing: 0, items: FrequentItems::new(capacity)?, distinct: HyperLogLog::new(precision)? })
    }

    /// Adds one observation; `None` is a missing value.
    pub fn update(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.update_weighted(v, 1),
            None => self.update_missing(1),
        }
    }

    /// Adds present observations in order, exactly as `update(Some(v))` for each would:
    /// the aggregator's path for a run of events, one column at a time.
    pub fn update_many(&mut self, values: &[&str]) {
        for v in values {
            self.update_weighted(v, 1);
        }
    }

    /// Counts `count` missing observations at once.
    pub fn update_missing(&mut self, count: u64) {
        // Saturating: a decoded profile may start from any count.
        self.missing = self.missing.saturating_add(count);
    }

    /// Adds `weight` observations of one value at once (tallies made elsewhere).
    #[inline]
    pub fn update_weighted(&mut self, value: &str, weight: u64) {
        if weight == 0 {
            return;
        }
        self.count = self.count.saturating_add(weight);
        // A kept category went into the distinct sketch when it was first counted (every
        // way in keeps that true, and decoding checks it), and inserting it again would
        // change no register: a repeated category costs one hash, not two.
        if !self.items.add(value, weight) {
            self.distinct.insert(value.as_bytes());
        }
    }

    /// Adds one boolean observation as the category `"true"` or `"false"`.
    pub fn update_bool(&mut self, value: Option<bool>) {
        self.update(value.map(|b| if b { "true" } else { "false" }));
    }

    /// Folds `other` into `self`. On error `self` is unchanged.
    pub fn merge(&mut self, other: &Self) -> Result<(), ProfileError> {
        self.check_mergeable(other)?;
        self.count = self.count.saturating_add(other.count);
        self.missing = self.missing.saturating_add(other.missing);
        self.items.merge(&other.items)?;
        self.distinct.merge(&other.distinct)?;
        Ok(())
    }

    pub(crate) fn check_mergeable(&self, other: &Self) -> Result<(), ProfileError> {
        self.items.check_mergeable(&other.items)?;
        self.distinct.check_mergeable(&other.distinct)
    }

    /// Non-missing values seen.
    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn missing(&self) -> u64 {
        self.missing
    }
    /// Per-category counts: exact while [`FrequentItems::is_exact`], else lower bounds.
    pub fn items(&self) -> &FrequentItems {
        &self.items
    }
    pub fn distinct_sketch(&self) -> &HyperLogLog {
        &self.distinct
    }
    /// The number of distinct values: exact while the counts are, else the HyperLogLog
    /// estimate (relative standard error [`HyperLogLog::standard_error`]).
    pub fn distinct(&self) -> f64 {
        if self.items.is_exact() { self.items.len() as f64 } else { self.distinct.estimate() }
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        put_varint(out, self.count);
        put_varint(out, self.missing);
        self.items.encode_into(out);
        self.distinct.encode_into(out);
    }

    pub(crate) fn decode_from(r: &mut Reader<'_>) -> Result<Self, ProfileError> {
        let count = r.varint()?;
        let missing = r.varint()?;
        let items = FrequentItems::decode_from(r)?;
        let distinct = HyperLogLog::decode_from(r)?;
        let kept = items.items().iter().try_fold(0u64, |acc, (_, c)| acc.checked_add(*c));
        if kept.is_none_or(|kept| kept > count) {
            return Err(ProfileError::Invalid("category counts exceed the count"));
        }
        // Updates skip the distinct sketch for kept categories, which is exact only if
        // each of them is in it already, as in every profile this code builds.
        if items.values().any(|value| !distinct.covers(value.as_bytes())) {
            return Err(ProfileError::Invalid("a kept category is missing from the distinct-count sketch"));
        }
        Ok(Self { count, missing, items, distinct })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_category_absent_from_the_distinct_sketch_is_refused() {
        let mut p = CategoricalProfile::new(10, 4).expect("valid parameters");
        for v in ["a", "b", "a"] {
            p.update(Some(v));
        }
        let bytes = p.encode();
        assert_eq!(CategoricalProfile::decode(&bytes).as_ref(), Ok(&p));
        // The 16 registers end the encoding; cleared, they no longer hold "a" and "b".
        let mut cleared = bytes.clone();
        let registers = cleared.len() - 16;
        cleared[registers..].fill(0);
        assert!(matches!(CategoricalProfile::decode(&cleared), Err(ProfileError::Invalid(_))));
    }

    #[test]
    fn repeated_categories_leave_the_distinct_sketch_as_inserting_them_would() {
        let mut p = CategoricalProfile::new(3, 4).expect("valid parameters");
        let mut every = HyperLogLog::new(4).expect("valid precision");
        // Past the capacity, so categories are dropped and come back.
        for i in 0..200u32 {
            let v = format!("v{}", (i * 7) % 11);
            p.update(Some(&v));
            every.insert(v.as_bytes());
        }
        assert_eq!(p.distinct_sketch(), &every);
    }
}
