//! Retraining policies (their definition as the API's JSON document, and when each was
//! last evaluated and last fired) and the triggers they recorded.

use crate::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    pub id: String,
    pub model_id: i64,
    /// The policy document as JSON.
    pub spec: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub last_evaluated_ms: Option<i64>,
    pub last_fired_ms: Option<i64>,
}

/// One time a policy fired.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerRecord {
    pub seq: i64,
    pub policy_id: String,
    pub model_id: i64,
    pub version: Option<String>,
    /// The window the conditions were measured over.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Why, as a JSON array of sentences.
    pub reasons: String,
    /// Where the training data of the window is exported (an API path with its query).
    pub export_path: String,
    pub fired_ms: i64,
    /// The webhook's outcome: `delivered`, `retrying: …` (an attempt failed, another
    /// follows), `failed: …` (given up), or `None` without a channel.
    pub delivery: Option<String>,
}

/// How the delivery text of a trigger whose webhook is still being retried starts.
pub const RETRYING_PREFIX: &str = "retrying: ";

/// Triggers kept per model; older ones are pruned.
pub const TRIGGERS_KEPT_PER_MODEL: i64 = 10_000;

pub trait RetrainingStore {
    /// Creates or replaces a policy (keeping its creation time and evaluation times);
    /// whether it was created.
    fn put_policy(&self, policy: &PolicyRecord) -> Result<bool>;
    fn get_policy(&self, id: &str) -> Result<Option<PolicyRecord>>;
    /// Policies ordered by id; only those of `model_id` when given.
    fn list_policies(&self, model_id: Option<i64>) -> Result<Vec<PolicyRecord>>;
    /// Deletes a policy; whether it existed. Its triggers stay.
    fn delete_policy(&self, id: &str) -> Result<bool>;
    fn mark_policy_evaluated(&self, id: &str, at_ms: i64) -> Result<()>;
    /// Records a trigger (its seq is ignored) and the policy's last firing; the new seq.
    fn record_trigger(&self, trigger: &TriggerRecord) -> Result<i64>;
    fn set_trigger_delivery(&self, seq: i64, delivery: &str) -> Result<()>;
    /// Triggers whose delivery is still being retried (it starts with
    /// [`RETRYING_PREFIX`]), oldest first: a restart takes them up again.
    fn triggers_being_retried(&self) -> Result<Vec<TriggerRecord>>;
    /// A model's newest `limit` triggers, newest first.
    fn list_triggers(&self, model_id: i64, limit: usize) -> Result<Vec<TriggerRecord>>;
}
