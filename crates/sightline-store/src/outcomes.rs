//! Predictions with their labels over a time window, as performance metrics read them:
//! no payloads (features and tags stay sealed), only what the model said and what
//! turned out to be true.

use crate::Result;
use sightline_core::Target;

/// Predictions of one model whose timestamps fall in `[from_ms, to_ms)`, of one version
/// or all, oldest first, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutcomeQuery {
    pub model_id: i64,
    pub version_id: Option<i64>,
    pub from_ms: i64,
    pub to_ms: i64,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRow {
    pub version_id: i64,
    pub timestamp_ms: i64,
    pub prediction: Option<Target>,
    /// `codec::decode_scores` of the stored scores (class index, probability).
    pub scores: Vec<(u32, f64)>,
    pub label: Option<Target>,
    /// The label's own timestamp.
    pub label_timestamp_ms: Option<i64>,
}

pub trait OutcomeStore {
    fn outcomes(&self, query: &OutcomeQuery) -> Result<Vec<OutcomeRow>>;
}

impl From<&crate::StoredPrediction> for OutcomeRow {
    /// What performance metrics read of a prediction read with its payload (for slicing by
    /// a feature or tag, which the outcome query leaves sealed).
    fn from(p: &crate::StoredPrediction) -> Self {
        OutcomeRow {
            version_id: p.version_id,
            timestamp_ms: p.timestamp_ms,
            prediction: p.prediction.clone(),
            scores: p.scores.clone(),
            label: p.label.as_ref().map(|l| l.label.clone()),
            label_timestamp_ms: p.label.as_ref().map(|l| l.timestamp_ms),
        }
    }
}

/// A prediction as the outcome tallies fold it: what it said, whether the call failed, and
/// its label when that was stored first (an `early` label, see migration 13).
#[derive(Debug, Clone, PartialEq)]
pub struct TallyEvent {
    pub seq: i64,
    pub model_id: i64,
    pub version_id: i64,
    pub timestamp_ms: i64,
    pub prediction: Option<Target>,
    pub scores: Vec<(u32, f64)>,
    pub failed: bool,
    pub latency_ms: Option<f64>,
    /// The early label and its timestamp.
    pub label: Option<(Target, i64)>,
}

/// A label stored after its prediction, with what that prediction said: it moves the
/// prediction in its bucket's tally from unlabelled to labelled.
#[derive(Debug, Clone, PartialEq)]
pub struct LateLabel {
    pub seq: i64,
    pub model_id: i64,
    pub version_id: i64,
    /// The prediction's timestamp (the bucket it counts in).
    pub timestamp_ms: i64,
    pub prediction: Option<Target>,
    pub scores: Vec<(u32, f64)>,
    pub label: Target,
    pub label_timestamp_ms: i64,
}

/// A window's outcomes read from tallies: `buckets` (from [`crate::Resolution`] covers of
/// the window's inner part) hold what the tallies hold, plus what is committed but not yet
/// tallied there; the rest of `[from_ms, to_ms)` (its edges) is read from the events.
#[derive(Debug, Clone, PartialEq)]
pub struct TallyWindowQuery {
    pub model_id: i64,
    pub version_id: Option<i64>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// `[start, end)` of the part the buckets cover, within the window.
    pub inner: (i64, i64),
    /// The buckets covering `inner` exactly: (resolution, first bucket, end).
    pub buckets: Vec<(crate::Resolution, i64, i64)>,
    /// Read only the stored tallies' counts and latencies (the answer's summary is
    /// right; its outcomes and delays are not).
    pub summary_only: bool,
}

/// The outcome tallies' side of the store; their flushes go through the one writer
/// ([`crate::WriteBatch::Tallies`]).
pub trait TallyStore {
    /// The highest `seq` of the event log folded into stored tallies.
    fn tally_watermark(&self) -> Result<i64>;
    /// Predictions with `seq > after_seq`, in `seq` order, with their early labels.
    fn tally_events(&self, after_seq: i64, limit: usize) -> Result<Vec<TallyEvent>>;
    /// Queued late labels with `seq > after_seq`, in `seq` order (flushes delete the
    /// ones folded).
    fn late_labels(&self, after_seq: i64, limit: usize) -> Result<Vec<LateLabel>>;
    /// A stored tally (its encoding), when the bucket has one.
    fn load_tally(&self, key: &crate::ProfileKey) -> Result<Option<Vec<u8>>>;
    /// A window's tallies, read in one snapshot so that nothing is counted twice or
    /// missed while the aggregator flushes, and answered as their sum (merged in key
    /// order as their outcomes are read).
    fn window_tally(&self, query: &TallyWindowQuery) -> Result<sightline_core::outcome_tally::TallyRuns>;
}
