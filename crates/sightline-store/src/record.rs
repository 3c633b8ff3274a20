//! Plain records that cross the store boundary, in and out.

use crate::crypto::{CryptoError, KeyRing};
use crate::issues::PreparedError;
use crate::profiles::{ProfileWrite, Resolution};
use crate::sealed::{self, Column, ResealProgress, Resealed};
use sightline_core::{ErrorInfo, FeatureValue, LabelEvent, ModelSpec, PredictionEvent, Target};
use std::sync::Arc;
use zeroize::Zeroizing;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelRecord {
    pub id: i64,
    pub project_id: i64,
    pub spec: ModelSpec,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub id: i64,
    pub model_id: i64,
    pub name: String,
    pub description: String,
    pub created_ms: i64,
}

/// A validated prediction in its stored form: features and scores encoded, features
/// and tags sealed (see [`crate::sealed`]), so that this work runs on the request's
/// thread and not on the single writer. The writer stores only the sealed form; the
/// validated values ride along in memory for the committed tail, from which the
/// aggregator folds them without reading them back (see `sqlite::tail`).
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPrediction {
    pub request_id: String,
    pub timestamp_ms: i64,
    pub version: String,
    pub prediction: Option<Target>,
    /// `codec::encode_scores`, absent when the event had no scores.
    pub scores: Option<Vec<u8>>,
    pub latency_ms: Option<f64>,
    /// `codec::encode_features`, sealed.
    pub features: Vec<u8>,
    /// Tags as a JSON array of `[key, value]` pairs, sealed; absent when there are none.
    pub tags: Option<Vec<u8>>,
    pub error: Option<ErrorInfo>,
    /// `codec::encode_scores` of the attributions by feature ordinal, absent when none.
    pub attributions: Option<Vec<u8>>,
    /// The validated features (what `features` seals), shared with the committed tail.
    pub feature_values: Arc<[(u32, FeatureValue)]>,
    /// The validated scores (what `scores` encodes).
    pub score_values: Vec<(u32, f64)>,
}

impl PreparedPrediction {
    /// Encodes `e` and seals its payload under `keys`' active key, bound to the row
    /// (`model_id`, `e.request_id`). Fails only for a value past AES-GCM's size limit.
    pub fn new(e: PredictionEvent, model_id: i64, keys: &KeyRing) -> Result<PreparedPrediction, CryptoError> {
        // Zeroizing: the encoded plaintext is freed wiped, not left in the allocator.
        let mut features = Zeroizing::new(Vec::with_capacity(16 + e.features.len() * 10));
        sightline_core::codec::encode_features(&e.features, &mut features);
        let features = keys.seal(&features, &sealed::aad(Column::Features, model_id, &e.request_id))?;
        let scores = (!e.scores.is_empty()).then(|| {
            let mut buf = Vec::with_capacity(4 + e.scores.len() * 10);
            sightline_core::codec::encode_scores(&e.scores, &mut buf);
            buf
        });
        let attributions = (!e.attributions.is_empty()).then(|| {
            let mut buf = Vec::with_capacity(4 + e.attributions.len() * 10);
            sightline_core::codec::encode_scores(&e.attributions, &mut buf);
            buf
        });
        let tags = if e.tags.is_empty() {
            None
        } else {
            // Serializing a Vec of string pairs cannot fail.
            let json = Zeroizing::new(serde_json::to_vec(&e.tags).unwrap_or_default());
            Some(keys.seal(&json, &sealed::aad(Column::Tags, model_id, &e.request_id))?)
        };
        Ok(PreparedPrediction {
            request_id: e.request_id,
            timestamp_ms: e.timestamp_ms,
            version: e.version,
            prediction: e.prediction,
            scores,
            latency_ms: e.latency_ms,
            features,
            tags,
            error: e.error,
            attributions,
            feature_values: e.features.into(),
            score_values: e.scores,
        })
    }
}

/// One request's worth of validated events for one model.
#[derive(Debug, Clone)]
pub enum WriteBatch {
    Predictions {
        model_id: i64,
        received_ms: i64,
        events: Vec<PreparedPrediction>,
    },
    Labels {
        model_id: i64,
        received_ms: i64,
        events: Vec<LabelEvent>,
    },
    /// Exceptions reported by serving code, already fingerprinted and sealed.
    Errors {
        model_id: i64,
        received_ms: i64,
        events: Vec<PreparedError>,
    },
    /// Predictions' payloads sealed again under a new key (key rotation), with the
    /// pass's progress, committed together so a restart resumes where it stopped.
    Reseal {
        rows: Vec<Resealed>,
        progress: ResealProgress,
    },
    /// The aggregator's flush: the bucket profiles it changed, the watermark they hold
    /// events up to, and the retention cut per resolution (profiles of buckets before
    /// it are deleted).
    Profiles {
        writes: Vec<ProfileWrite>,
        watermark: i64,
        prune: Vec<(Resolution, i64)>,
    },
    /// The outcome tallies' flush: the bucket tallies it changed (encoded), the event-log
    /// watermark they hold, the last late label folded (queued labels up to it are
    /// deleted), and the retention cut per resolution.
    Tallies {
        writes: Vec<(crate::ProfileKey, Vec<u8>)>,
        watermark: i64,
        late_labels_through: i64,
        prune: Vec<(Resolution, i64)>,
    },
}

impl WriteBatch {
    pub fn len(&self) -> usize {
        match self {
            WriteBatch::Predictions { events, .. } => events.len(),
            WriteBatch::Labels { events, .. } => events.len(),
            WriteBatch::Errors { events, .. } => events.len(),
            WriteBatch::Reseal { rows, .. } => rows.len(),
            WriteBatch::Profiles { writes, .. } => writes.len(),
            WriteBatch::Tallies { writes, .. } => writes.len().max(1),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What happened to each event of a [`WriteBatch`], in order.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    /// `true` where the prediction was stored, `false` where it was a duplicate.
    Predictions(Vec<bool>),
    Labels(Vec<LabelInsert>),
    /// `true` where the error event was stored, `false` where its id was seen before.
    Errors(Vec<bool>),
    /// How many rows were re-encrypted (a row that changed since it was read is left).
    Resealed(usize),
    /// How many stored profiles were deleted by retention.
    Profiles {
        pruned: usize,
    },
}

/// The fate of one label.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelInsert {
    /// A label for this request id was already stored.
    Duplicate,
    /// Stored; `version` is the version of its prediction if that has arrived.
    Stored { version: Option<String> },
}

/// A page of predictions: newest first, optionally bounded in time and by version,
/// continuing strictly before `before` (a `(timestamp_ms, seq)` position).
#[derive(Debug, Clone, Default)]
pub struct PredictionQuery {
    pub model_id: i64,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub version: Option<String>,
    pub before: Option<(i64, i64)>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredPrediction {
    /// Position in the model's event log; increases with every stored event.
    pub seq: i64,
    pub request_id: String,
    pub timestamp_ms: i64,
    pub received_ms: i64,
    pub version: String,
    /// The version's id (as [`crate::OutcomeRow::version_id`]).
    pub version_id: i64,
    pub features: Vec<(u32, FeatureValue)>,
    pub prediction: Option<Target>,
    pub scores: Vec<(u32, f64)>,
    pub latency_ms: Option<f64>,
    pub tags: Vec<(String, String)>,
    pub error: Option<ErrorInfo>,
    pub label: Option<StoredLabel>,
    /// Attributions logged with the prediction, by feature ordinal.
    pub attributions: Vec<(u32, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredLabel {
    pub label: Target,
    pub timestamp_ms: i64,
    pub received_ms: i64,
}
