//! Category counts: exact up to a capacity, then Misra–Gries heavy hitters.
//!
//! Counters are exact while a column has at most `capacity` distinct values. When one
//! more arrives, the summary is reduced (Misra–Gries, in the mergeable form of Agarwal
//! et al., "Mergeable summaries", 2012): with `k = capacity / 2`, the `(k+1)`-th largest
//! counter value `c` is subtracted from every counter and those at zero are dropped.
//! Each reduction removes at least `(k+1) c` of weight, so the accumulated `max_error`
//! (the sum of all `c`, plus both sides' on merge) satisfies
//! `max_error <= (count - kept weight) / (k + 1) <= count / (k + 1)`, and for every value
//! `true - max_error <= reported <= true` (a value not kept was seen at most `max_error`
//! times). Halving to `k` rather than reducing by one keeps updates amortised O(1): a
//! linear-time selection at most once per `capacity / 2` new values.
//!
//! Merge adds counters then reduces the same way; the result depends only on the two
//! multisets of counters, so it is exactly commutative. It is exactly associative while
//! no reduction happens; otherwise groupings agree within their error bounds.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use super::ProfileError;
use super::codec::{Reader, put_str, put_varint};

/// The default capacity: exact counts for up to 1,000 distinct values.
pub const DEFAULT_CAPACITY: usize = 1000;
/// Larger capacities would make a bucket profile large; the encoding refuses them too.
pub const MAX_CAPACITY: usize = 1 << 20;

/// Counts per value, exact until the capacity is exceeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequentItems {
    capacity: usize,
    counts: HashMap<String, u64, CategoryHash>,
    max_error: u64,
}

/// The category map's hasher: XXH3 under a random per-process seed. Category values
/// are short strings hashed once per update, where SipHash (the standard map's) costs
/// several times more; the secret seed keeps crafted collisions as hard to aim as with
/// the standard map's random keys. Nothing depends on the map's order (encoding sorts).
#[derive(Debug, Clone, Copy)]
pub struct CategoryHash {
    seed: u64,
}

impl Default for CategoryHash {
    fn default() -> Self {
        static SEED: OnceLock<u64> = OnceLock::new();
        let seed = *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64));
        CategoryHash { seed }
    }
}

impl BuildHasher for CategoryHash {
    type Hasher = CategoryHasher;

    fn build_hasher(&self) -> CategoryHasher {
        CategoryHasher { state: self.seed }
    }
}

/// A string hashes as one `write` of its bytes and a `write_u8(0xff)` terminator.
pub struct CategoryHasher {
    state: u64,
}

impl Hasher for CategoryHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.state = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.state);
    }

    fn write_u8(&mut self, byte: u8) {
        // The terminator after a string: a cheap step that keeps the bits mixed.
        self.state = (self.state ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

impl FrequentItems {
    /// An empty summary keeping exact counts for up to `capacity` (2 to 2^20) values.
    pub fn new(capacity: usize) -> Result<Self, ProfileError> {
        if !(2..=MAX_CAPACITY).contains(&capacity) {
            return Err(ProfileError::Config("category capacity must be 2 to 1048576"));
        }
        Ok(Self { capacity, counts: HashMap::default(), max_error: 0 })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// True while every count is exact (no reduction has happened).
    pub fn is_exact(&self) -> bool {
        self.max_error == 0
    }

    /// How much any reported count may fall short of the true count.
    pub fn max_error(&self) -> u64 {
        self.max_error
    }

    /// Kept values with their (lower-bound) counts, most frequent first, ties by value.
    pub fn items(&self) -> Vec<(&str, u64)> {
        let mut items: Vec<(&str, u64)> = self.counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        items.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        items
    }

    /// Kept values in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &str> {
        self.counts.keys().map(String::as_str)
    }

    /// The reported count of `value`: a lower bound, at most `max_error` below the truth.
    pub fn count(&self, value: &str) -> u64 {
        self.counts.get(value).copied().unwrap_or(0)
    }

    /// Number of kept values: the exact distinct count while [`Self::is_exact`].
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn update(&mut self, value: &str, weight: u64) {
        self.add(value, weight);
    }

    /// [`Self::update`], telling whether `value` was already kept (then nothing but its
    /// count changed).
    pub(crate) fn add(&mut self, value: &str, weight: u64) -> bool {
        if weight == 0 {
            return false;
        }
        // Look up by &str first so repeated values allocate nothing.
        if let Some(c) = self.counts.get_mut(value) {
            *c = c.saturating_add(weight);
            return true;
        }
        self.counts.insert(value.to_owned(), weight);
        self.reduce();
        false
    }

    pub fn merge(&mut self, other: &Self) -> Result<(), ProfileError> {
        self.check_mergeable(other)?;
        for (value, c) in &other.counts {
            // Saturating: decoded counts are untrusted, and a pinned maximum is still a bound.
            let slot = self.counts.entry(value.clone()).or_insert(0);
            *slot = slot.saturating_add(*c);
        }
        self.max_error = self.max_error.saturating_add(other.max_error);
        self.reduce();
        Ok(())
    }

    pub(crate) fn check_mergeable(&self, other: &Self) -> Result<(), ProfileError> {
        if self.capacity == other.capacity {
            Ok(())
        } else {
            Err(ProfileError::Incompatible("category summaries have different capacities"))
        }
    }

    fn reduce(&mut self) {
        if self.counts.len() <= self.capacity {
            return;
        }
        let k = self.capacity / 2;
        let mut values: Vec<u64> = self.counts.values().copied().collect();
        // More than capacity >= k + 1 counters, so index k exists.
        let (_, &mut c, _) = values.select_nth_unstable_by(k, |a, b| b.cmp(a));
        self.counts.retain(|_, v| {
            *v -= c.min(*v);
            *v > 0
        });
        self.max_error = self.max_error.saturating_add(c);
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        put_varint(out, self.capacity as u64);
        put_varint(out, self.max_error);
        // Sorted so equal summaries encode to equal bytes.
        let mut items: Vec<(&String, &u64)> = self.counts.iter().collect();
        items.sort_unstable();
        put_varint(out, items.len() as u64);
        for (value, c) in items {
            put_str(out, value);
            put_varint(out, *c);
        }
    }

    pub(crate) fn decode_from(r: &mut Reader<'_>) -> Result<Self, ProfileError> {
        let capacity = usize::try_from(r.varint()?).unwrap_or(usize::MAX);
        let mut summary = Self::new(capacity).map_err(|_| ProfileError::Invalid("category capacity out of range"))?;
        summary.max_error = r.varint()?;
        let n = r.len(2)?;
        if n > capacity {
            return Err(ProfileError::Invalid("more categories than the capacity"));
        }
        summary.counts.reserve(n);
        for _ in 0..n {
            let value = r.string()?;
            let c = r.varint()?;
            if c == 0 {
                return Err(ProfileError::Invalid("zero category count"));
            }
            if summary.counts.insert(value, c).is_some() {
                return Err(ProfileError::Invalid("repeated category"));
            }
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_until_the_capacity_then_bounded() {
        let mut f = FrequentItems::new(4).expect("valid capacity");
        for v in ["a", "a", "a", "b", "c", "d"] {
            f.update(v, 1);
        }
        assert!(f.is_exact());
        assert_eq!(f.count("a"), 3);
        f.update("e", 1);
        assert!(!f.is_exact());
        assert_eq!(f.max_error(), 1);
        assert_eq!(f.count("a"), 2);
        assert_eq!(f.count("e"), 0);
    }
}
