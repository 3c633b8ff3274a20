//! Monitors, alerts and silences as stored: what the scheduler persists after each
//! evaluation and what the API lists. Definitions are opaque JSON documents to the
//! store (the server owns their format), keyed by the monitor id.

use crate::{Page, Result};

/// A stored monitor definition.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorRecord {
    pub id: String,
    pub model_id: i64,
    /// The project of the watched model (joined in, for access checks).
    pub project_id: i64,
    /// The definition as the server's JSON document.
    pub spec: String,
    /// Declared in the monitors file: the file owns it, the API may not change it.
    pub from_file: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The persisted view of one alert (one monitor on one series).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    /// 16 hex digits, [`sightline_core::alerting::Fingerprint`].
    pub fingerprint: String,
    pub monitor_id: String,
    /// The full alert labels as a JSON object.
    pub labels: String,
    /// `inactive`, `pending`, `firing` or `resolved`.
    pub state: String,
    /// When the condition started to hold (pending and firing).
    pub since_ms: Option<i64>,
    pub fired_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    pub last_eval_ms: i64,
    /// The last sample; `None` for no data.
    pub value: Option<f64>,
    pub silenced: bool,
    pub acknowledged_ms: Option<i64>,
    pub acknowledged_by: Option<String>,
}

/// One transition of an alert, for its history.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEventRecord {
    pub seq: i64,
    pub fingerprint: String,
    pub monitor_id: String,
    /// `pending`, `firing`, `resolved` or `acknowledged`.
    pub kind: String,
    pub ts_ms: i64,
    pub value: Option<f64>,
    pub silenced: bool,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Only alerts of monitors of models in these projects; `None`: all.
    pub projects: Option<Vec<i64>>,
    pub monitor_id: Option<String>,
    pub state: Option<String>,
    /// Keyed by (monitor id, fingerprint), the list's order.
    pub page: Page<(String, String)>,
}

/// A stored silence; matchers are a JSON array of `{name, op, value}`.
#[derive(Debug, Clone, PartialEq)]
pub struct SilenceRecord {
    pub id: i64,
    pub project_id: i64,
    pub matchers: String,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub comment: String,
    pub created_by: String,
    pub created_ms: i64,
}

pub trait AlertingStore {
    /// Creates a monitor; `Conflict` if the id is taken.
    fn create_monitor(
        &self,
        id: &str,
        model_id: i64,
        spec: &str,
        from_file: bool,
        now_ms: i64,
    ) -> Result<MonitorRecord>;
    /// Creates or replaces a monitor declared in the monitors file (it becomes read-only).
    fn upsert_file_monitor(&self, id: &str, model_id: i64, spec: &str, now_ms: i64) -> Result<MonitorRecord>;
    /// Replaces a monitor's definition; `None` if it does not exist.
    fn update_monitor(&self, id: &str, model_id: i64, spec: &str, now_ms: i64) -> Result<Option<MonitorRecord>>;
    fn get_monitor(&self, id: &str) -> Result<Option<MonitorRecord>>;
    /// Monitors ordered by id; only those of models in `projects` when given.
    /// Monitors by id.
    fn list_monitors(&self, projects: Option<&[i64]>, page: &Page<String>) -> Result<Vec<MonitorRecord>>;
    /// Deletes a monitor with its alerts; whether it existed.
    fn delete_monitor(&self, id: &str) -> Result<bool>;

    /// Writes the alert's current state. A new episode (a different `since_ms` while
    /// pending or firing) clears the acknowledgement: it belonged to the last episode.
    fn save_alert(&self, alert: &AlertRecord) -> Result<()>;
    fn get_alert(&self, fingerprint: &str) -> Result<Option<AlertRecord>>;
    fn list_alerts(&self, query: &AlertQuery) -> Result<Vec<AlertRecord>>;
    /// Acknowledges a pending or firing alert (once per episode); the updated alert, or
    /// `None` if it does not exist.
    fn acknowledge_alert(&self, fingerprint: &str, by: &str, now_ms: i64) -> Result<Option<AlertRecord>>;
    fn append_alert_event(&self, event: &AlertEventRecord) -> Result<()>;
    /// The newest `limit` events of an alert, newest first.
    fn alert_events(&self, fingerprint: &str, limit: usize) -> Result<Vec<AlertEventRecord>>;

    fn create_silence(&self, silence: &SilenceRecord) -> Result<SilenceRecord>;
    fn get_silence(&self, id: i64) -> Result<Option<SilenceRecord>>;
    /// Silences whose end is after `ends_after_ms` (pass 0 for all), newest first.
    fn list_silences(
        &self,
        projects: Option<&[i64]>,
        ends_after_ms: i64,
        page: &Page<i64>,
    ) -> Result<Vec<SilenceRecord>>;
    /// Ends a silence now (if it ends later); the updated silence.
    fn expire_silence(&self, id: i64, now_ms: i64) -> Result<Option<SilenceRecord>>;
}
