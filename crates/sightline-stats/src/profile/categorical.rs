//! Categorical and boolean column profile: counts, category summary, distinct count.
//!
//! Booleans are profiled as the categories `"true"` and `"false"`, so every count-based
//! drift method treats them like any other two-category column.

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
            // Saturating: a decoded profile may start from any count.
            None => self.missing = self.missing.saturating_add(1),
            Some(v) => {
                self.count = self.count.saturating_add(1);
                self.items.update(v, 1);
                self.distinct.insert(v.as_bytes());
            }
        }
    }

    /// Adds `weight` observations of one value at once (tallies made elsewhere).
    pub fn update_weighted(&mut self, value: &str, weight: u64) {
        if weight == 0 {
            return;
        }
        self.count = self.count.saturating_add(weight);
        self.items.update(value, weight);
        self.distinct.insert(value.as_bytes());
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
        Ok(Self { count, missing, items, distinct })
    }
}
