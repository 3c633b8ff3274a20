//! Exceptions grouped into issues: what the writer stores for each reported error, and
//! what comes back out (issues with their counts, and sample events).

use crate::Result;

/// A reported exception ready to store: grouped (fingerprint) and sealed on the
/// request thread.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedError {
    /// The client's id of this occurrence (or one the server made up): a retried batch
    /// is not counted twice.
    pub event_id: String,
    pub request_id: Option<String>,
    pub timestamp_ms: i64,
    pub version: String,
    pub fingerprint: String,
    /// The exception type.
    pub kind: String,
    /// The normalized message: what the issue is called.
    pub title: String,
    /// The sealed details (message, frames, input snapshot); `None` for errors that
    /// came with a prediction, whose message is stored with it.
    pub detail: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueStatus {
    Unresolved,
    Resolved,
    Ignored,
}

impl IssueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Ignored => "ignored",
        }
    }

    pub fn parse(s: &str) -> Option<IssueStatus> {
        [IssueStatus::Unresolved, IssueStatus::Resolved, IssueStatus::Ignored].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IssueRecord {
    pub id: i64,
    pub model_id: i64,
    pub fingerprint: String,
    pub kind: String,
    pub title: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub count: i64,
    pub status: IssueStatus,
    pub status_changed_ms: i64,
    /// How often a resolved issue came back.
    pub regressions: i64,
    /// Per version: (name, count, first seen, last seen).
    pub versions: Vec<(String, i64, i64, i64)>,
}

/// Issues of a model, most recently seen first, continuing before `before`
/// (a `(last_seen_ms, id)` position).
#[derive(Debug, Clone, Default)]
pub struct IssueQuery {
    pub model_id: i64,
    pub status: Option<IssueStatus>,
    pub version: Option<String>,
    pub before: Option<(i64, i64)>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredErrorEvent {
    pub event_id: String,
    pub request_id: Option<String>,
    pub version: String,
    pub timestamp_ms: i64,
    pub received_ms: i64,
    pub detail: Option<Vec<u8>>,
}

/// Sample events kept per issue; older ones are pruned as new ones arrive, so a
/// crash loop cannot fill the disk.
pub const EVENTS_KEPT_PER_ISSUE: i64 = 100;

pub trait IssueStore {
    fn list_issues(&self, query: &IssueQuery) -> Result<Vec<IssueRecord>>;
    fn get_issue(&self, model_id: i64, id: i64) -> Result<Option<IssueRecord>>;
    /// The model an issue belongs to (issue ids are unique across models), if it exists.
    fn issue_model(&self, id: i64) -> Result<Option<i64>>;
    /// Counts per hour from `from_ms` on, oldest first.
    fn issue_hours(&self, id: i64, from_ms: i64) -> Result<Vec<(i64, i64)>>;
    /// The most recent sample events, newest first.
    fn issue_events(&self, id: i64, limit: usize) -> Result<Vec<StoredErrorEvent>>;
    /// Sets the status; `None` if the issue does not exist.
    fn set_issue_status(&self, model_id: i64, id: i64, status: IssueStatus, now_ms: i64)
    -> Result<Option<IssueRecord>>;
}
