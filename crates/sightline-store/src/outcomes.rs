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
