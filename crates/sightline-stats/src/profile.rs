//! Mergeable column profiles: what the server keeps per (model, version, time bucket).
//!
//! A profile summarises the values of one window so that windows can be combined
//! later without the values: [`NumericProfile`] (counts by kind, moments, a KLL
//! quantile sketch, optional reference-bin counts) and [`CategoricalProfile`]
//! (exact-then-heavy-hitter category counts, a HyperLogLog distinct count). Every
//! `merge` is associative and commutative — exactly for counts, bins, min/max and
//! distinct-count registers; within rounding for moments; within the documented
//! bounds for the quantile sketch and the category summary once it has reduced.
//! `merge(a, b)` and `merge(b, a)` are always bit-identical.
//!
//! `encode` writes a compact binary form that starts with a format byte, so stored
//! profiles stay readable when the layout changes; `decode` checks every field and
//! invariant and returns an error, never panics, on bytes it did not write.
//!
//! Why the sketches are written here: `datasketches` (Apache) has KLL and HLL, but its
//! KLL draws compaction bits from a thread-local generator seeded from `RandomState`,
//! so the same events never rebuild the same profile and no seed can be passed in;
//! `sketches-ddsketch` bounds relative value error, not rank error, which KS needs.
//! A register-array HyperLogLog is a few dozen lines whose merge is exactly
//! associative, and owning all three structures lets one strict decoder check every
//! byte of a stored profile.

mod categorical;
mod codec;
mod frequent;
mod hll;
mod kll;
mod numeric;

use std::collections::BTreeMap;

pub use categorical::CategoricalProfile;
pub use frequent::{DEFAULT_CAPACITY, FrequentItems, MAX_CAPACITY};
pub use hll::{DEFAULT_PRECISION, HyperLogLog};
pub use kll::{DEFAULT_K, KllSketch, MIN_K};
pub use numeric::{BinCounts, NumericProfile};

use codec::{Reader, put_str, put_varint};

/// The layout version written as the first byte of every encoding.
const FORMAT: u8 = 1;
const TAG_NUMERIC: u8 = 1;
const TAG_CATEGORICAL: u8 = 2;
const TAG_PROFILE: u8 = 3;

/// Why a profile could not be built, merged or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// A constructor parameter is out of range.
    #[error("invalid profile configuration: {0}")]
    Config(&'static str),
    /// The two profiles were built with different parameters or bins.
    #[error("profiles cannot be merged: {0}")]
    Incompatible(&'static str),
    /// The bytes end before the encoding does.
    #[error("truncated profile encoding")]
    Truncated,
    /// The first byte names a layout this build does not know.
    #[error("unknown profile format {0}")]
    Format(u8),
    /// A tag byte names no kind of profile, or not the one asked for.
    #[error("unexpected profile kind {0}")]
    Kind(u8),
    /// A field is out of range or breaks an invariant.
    #[error("invalid profile encoding: {0}")]
    Invalid(&'static str),
}

/// One column's profile, numeric or categorical (booleans are categorical).
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnProfile {
    Numeric(NumericProfile),
    Categorical(CategoricalProfile),
}

impl ColumnProfile {
    /// Folds `other` into `self`; both must be of the same kind and parameters.
    pub fn merge(&mut self, other: &Self) -> Result<(), ProfileError> {
        match (self, other) {
            (Self::Numeric(a), Self::Numeric(b)) => a.merge(b),
            (Self::Categorical(a), Self::Categorical(b)) => a.merge(b),
            _ => Err(ProfileError::Incompatible("a numeric and a categorical profile")),
        }
    }

    fn check_mergeable(&self, other: &Self) -> Result<(), ProfileError> {
        match (self, other) {
            (Self::Numeric(a), Self::Numeric(b)) => a.check_mergeable(b),
            (Self::Categorical(a), Self::Categorical(b)) => a.check_mergeable(b),
            _ => Err(ProfileError::Incompatible("a numeric and a categorical profile")),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT];
        self.encode_into(&mut out);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ProfileError> {
        let mut r = Reader::new(bytes);
        check_format(&mut r)?;
        let column = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(column)
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Self::Numeric(p) => {
                out.push(TAG_NUMERIC);
                p.encode_into(out);
            }
            Self::Categorical(p) => {
                out.push(TAG_CATEGORICAL);
                p.encode_into(out);
            }
        }
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, ProfileError> {
        match r.byte()? {
            TAG_NUMERIC => Ok(Self::Numeric(NumericProfile::decode_from(r)?)),
            TAG_CATEGORICAL => Ok(Self::Categorical(CategoricalProfile::decode_from(r)?)),
            tag => Err(ProfileError::Kind(tag)),
        }
    }
}

impl NumericProfile {
    /// The versioned binary form (the same bytes as the [`ColumnProfile`] holding it).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT, TAG_NUMERIC];
        self.encode_into(&mut out);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ProfileError> {
        match ColumnProfile::decode(bytes)? {
            ColumnProfile::Numeric(p) => Ok(p),
            ColumnProfile::Categorical(_) => Err(ProfileError::Kind(TAG_CATEGORICAL)),
        }
    }
}

impl CategoricalProfile {
    /// The versioned binary form (the same bytes as the [`ColumnProfile`] holding it).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT, TAG_CATEGORICAL];
        self.encode_into(&mut out);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ProfileError> {
        match ColumnProfile::decode(bytes)? {
            ColumnProfile::Categorical(p) => Ok(p),
            ColumnProfile::Numeric(_) => Err(ProfileError::Kind(TAG_NUMERIC)),
        }
    }
}

/// Profiles of named columns (features, predictions, scores) for one window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Profile {
    columns: BTreeMap<String, ColumnProfile>,
}

impl Profile {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or replaces) a column's profile.
    pub fn insert(&mut self, name: impl Into<String>, column: ColumnProfile) {
        self.columns.insert(name.into(), column);
    }

    pub fn get(&self, name: &str) -> Option<&ColumnProfile> {
        self.columns.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut ColumnProfile> {
        self.columns.get_mut(name)
    }

    /// Columns in name order.
    pub fn columns(&self) -> impl Iterator<Item = (&str, &ColumnProfile)> {
        self.columns.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Merges column by column; a column only one side has is taken as it is.
    /// On error (a column of different kind or parameters) `self` is unchanged.
    pub fn merge(&mut self, other: &Self) -> Result<(), ProfileError> {
        for (name, theirs) in &other.columns {
            if let Some(mine) = self.columns.get(name) {
                mine.check_mergeable(theirs)?;
            }
        }
        for (name, theirs) in &other.columns {
            match self.columns.get_mut(name) {
                Some(mine) => mine.merge(theirs)?,
                None => {
                    self.columns.insert(name.clone(), theirs.clone());
                }
            }
        }
        Ok(())
    }

    /// Like [`Profile::merge`], except that a numeric column counted on other reference
    /// bins (the reference changed between the two windows) loses its bins on both sides
    /// instead of failing the merge; binned drift then falls back to the sketches.
    pub fn merge_dropping_bins(&mut self, other: &Self) -> Result<(), ProfileError> {
        let mut theirs_adjusted: Option<Profile> = None;
        for (name, theirs) in &other.columns {
            if let (Some(ColumnProfile::Numeric(mine)), ColumnProfile::Numeric(t)) =
                (self.columns.get_mut(name), theirs)
                && mine.check_mergeable(t).is_err()
            {
                mine.drop_bins();
                let adjusted = theirs_adjusted.get_or_insert_with(|| other.clone());
                if let Some(ColumnProfile::Numeric(t)) = adjusted.columns.get_mut(name) {
                    t.drop_bins();
                }
            }
        }
        self.merge(theirs_adjusted.as_ref().unwrap_or(other))
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT, TAG_PROFILE];
        put_varint(&mut out, self.columns.len() as u64);
        for (name, column) in &self.columns {
            put_str(&mut out, name);
            column.encode_into(&mut out);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ProfileError> {
        let mut r = Reader::new(bytes);
        check_format(&mut r)?;
        let tag = r.byte()?;
        if tag != TAG_PROFILE {
            return Err(ProfileError::Kind(tag));
        }
        let n = r.len(3)?;
        let mut profile = Self::new();
        for _ in 0..n {
            let name = r.string()?;
            let column = ColumnProfile::decode_from(&mut r)?;
            if profile.columns.insert(name, column).is_some() {
                return Err(ProfileError::Invalid("repeated column name"));
            }
        }
        r.finish()?;
        Ok(profile)
    }
}

fn check_format(r: &mut Reader<'_>) -> Result<(), ProfileError> {
    match r.byte()? {
        FORMAT => Ok(()),
        other => Err(ProfileError::Format(other)),
    }
}
