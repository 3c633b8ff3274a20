//! What the aggregator reads and keeps: committed predictions in log order, the
//! profiles it folds them into per (model, version, time bucket), the watermark that
//! says which events those profiles hold, and reference profiles per model version.
//!
//! Profiles are derived data: the event log is the source of truth. A flush writes the
//! profiles it changed and the watermark in one transaction (through the one writer),
//! so after a crash the server refolds exactly the events past the watermark.
//! Profile bytes are sealed like payloads (see [`crate::sealed`]): sketches keep
//! sampled values and category counts keep the categories themselves.

use crate::Result;
use sightline_core::{FeatureValue, Target};

/// The width of a profile's time bucket. Minutes roll up into hours and days; each
/// level has its own retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    Minute,
    Hour,
    Day,
}

impl Resolution {
    pub const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    /// The bucket width in milliseconds.
    pub const fn ms(self) -> i64 {
        match self {
            Resolution::Minute => 60_000,
            Resolution::Hour => 3_600_000,
            Resolution::Day => 86_400_000,
        }
    }

    /// The start of the bucket holding `ts_ms` (floor, also before 1970).
    pub const fn bucket_of(self, ts_ms: i64) -> i64 {
        ts_ms.div_euclid(self.ms()) * self.ms()
    }

    pub fn from_ms(ms: i64) -> Option<Resolution> {
        Self::ALL.into_iter().find(|r| r.ms() == ms)
    }

    pub const fn name(self) -> &'static str {
        match self {
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
            Resolution::Day => "day",
        }
    }
}

/// One committed prediction as the aggregator folds it (payload opened).
#[derive(Debug, Clone, PartialEq)]
pub struct FoldEvent {
    pub seq: i64,
    pub model_id: i64,
    pub version_id: i64,
    pub timestamp_ms: i64,
    /// Shared with the committed tail when read from it.
    pub features: std::sync::Arc<[(u32, FeatureValue)]>,
    pub prediction: Option<Target>,
    pub scores: Vec<(u32, f64)>,
    pub latency_ms: Option<f64>,
    pub has_error: bool,
}

/// Where a profile lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileKey {
    pub model_id: i64,
    pub version_id: i64,
    pub resolution: Resolution,
    pub bucket_ms: i64,
}

/// A profile on its way to storage, sealed by the aggregator (see
/// [`crate::sealed::seal_profile`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileWrite {
    pub key: ProfileKey,
    /// Events folded into it.
    pub rows: u64,
    pub data: Vec<u8>,
}

/// A stored profile, opened: `data` is the encoded `sightline_stats::profile::Profile`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProfile {
    pub key: ProfileKey,
    pub rows: u64,
    pub data: Vec<u8>,
}

/// Profiles of one model at one resolution whose buckets start in `[from_ms, to_ms)`,
/// of one version or all; ordered by bucket, then version.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileQuery {
    pub model_id: i64,
    pub version_id: Option<i64>,
    pub resolution: Resolution,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// A model version's reference (training data) profile. `version` is empty for the
/// model's default reference, used by versions without their own.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceRecord {
    pub model_id: i64,
    pub version: String,
    pub created_ms: i64,
    pub rows: u64,
    /// How it was made, as a JSON document (upload or logged range).
    pub source: String,
    /// The encoded profile, opened.
    pub data: Vec<u8>,
}

/// The aggregator's side of the store. Writes of bucket profiles go through the one
/// writer ([`crate::WriteBatch::Profiles`]); references are written directly, being
/// neither events nor derived from them.
pub trait ProfileStore {
    /// The highest `seq` whose event is folded into stored profiles (0: none).
    fn aggregator_watermark(&self) -> Result<i64>;
    /// The highest `seq` in the event log (0 when empty).
    fn max_seq(&self) -> Result<i64>;
    /// Committed predictions with `seq > after_seq`, in `seq` order, payloads opened.
    fn fold_events(&self, after_seq: i64, limit: usize) -> Result<Vec<FoldEvent>>;
    fn load_profiles(&self, query: &ProfileQuery) -> Result<Vec<StoredProfile>>;
    fn load_profile(&self, key: &ProfileKey) -> Result<Option<StoredProfile>>;

    /// Stores (or replaces) a reference profile, sealing it.
    fn put_reference(&self, reference: &ReferenceRecord) -> Result<()>;
    fn get_reference(&self, model_id: i64, version: &str) -> Result<Option<ReferenceRecord>>;
    /// A model's references, ordered by version (the default, `""`, first).
    fn list_references(&self, model_id: i64) -> Result<Vec<ReferenceRecord>>;
    /// `false` if there was none.
    fn delete_reference(&self, model_id: i64, version: &str) -> Result<bool>;

    /// Seals every stored profile, reference and model file that is under another key
    /// again under the active one (part of a key rotation's pass). A value changed meanwhile is left
    /// to its writer, which seals under the active key. Returns how many were resealed.
    fn reseal_profiles(&self) -> Result<usize>;

    /// A model's stored drift settings (a JSON document the server defines).
    fn drift_settings(&self, model_id: i64) -> Result<Option<String>>;
    fn put_drift_settings(&self, model_id: i64, settings: &str, now_ms: i64) -> Result<()>;
}
