//! What Sightline explains a model version with: the version's model file (a tree
//! ensemble it evaluates itself) or the team's own prediction endpoint, and the model's
//! input columns in order.

use crate::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct ExplainerRecord {
    pub version_id: i64,
    /// The Sightline features the model reads, in the model's column order.
    pub features: Vec<String>,
    pub source: ExplainerSource,
    pub updated_ms: i64,
    /// Who set it (a user or token name), for the version's history.
    pub updated_by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExplainerSource {
    /// A model file as uploaded (opened: the store seals it at rest).
    ModelFile { format: String, sha256: String, bytes: Vec<u8> },
    /// The team's serving endpoint, called in batches for the model-agnostic methods.
    Endpoint { url: String, timeout_ms: u64, max_calls: u64, batch_rows: u64 },
}

pub trait ExplainerStore {
    /// Sets (or replaces) a version's explainer.
    fn put_explainer(&self, explainer: &ExplainerRecord) -> Result<()>;
    fn get_explainer(&self, version_id: i64) -> Result<Option<ExplainerRecord>>;
    /// Removes a version's explainer; whether it had one.
    fn delete_explainer(&self, version_id: i64) -> Result<bool>;
}
