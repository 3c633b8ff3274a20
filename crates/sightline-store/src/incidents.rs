//! Incidents: what went wrong, who works on it, what is linked to it, what happened
//! when (the timeline), and how long acknowledging and resolving took.

use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentStatus {
    Open,
    Investigating,
    Mitigated,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Mitigated => "mitigated",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentStatus> {
        [IncidentStatus::Open, IncidentStatus::Investigating, IncidentStatus::Mitigated, IncidentStatus::Resolved]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    pub id: i64,
    pub project_id: i64,
    pub title: String,
    pub severity: String,
    pub status: IncidentStatus,
    pub assignee: Option<String>,
    /// The monitor whose alert opened it (automatic incidents).
    pub monitor_id: Option<String>,
    pub runbook_url: Option<String>,
    pub postmortem: String,
    pub opened_ms: i64,
    /// The first time it left `open` (someone took it on).
    pub acknowledged_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    /// `(kind, target)`: `alert` fingerprints, `issue` ids, `version` names.
    pub links: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub seq: i64,
    pub ts_ms: i64,
    /// `opened`, `alert_firing`, `alert_resolved`, `status`, `assignee`, `note`,
    /// `postmortem`, `link`, `version` (one appeared), `issue` (an error group began or
    /// came back).
    pub kind: String,
    pub actor: String,
    pub text: String,
}

/// A new incident.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    pub project_id: i64,
    pub title: String,
    pub severity: String,
    pub assignee: Option<String>,
    pub monitor_id: Option<String>,
    pub runbook_url: Option<String>,
    pub links: Vec<(String, String)>,
    pub opened_ms: i64,
    pub actor: String,
}

/// What a patch changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentChange {
    pub status: Option<IncidentStatus>,
    /// `Some(None)` unassigns.
    pub assignee: Option<Option<String>>,
    pub postmortem: Option<String>,
    pub links: Vec<(String, String)>,
}

/// Mean time to acknowledge and to resolve, over the incidents that were.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IncidentStats {
    pub count: i64,
    pub open: i64,
    pub acknowledged: i64,
    pub resolved: i64,
    pub mean_ack_ms: Option<f64>,
    pub mean_resolve_ms: Option<f64>,
}

/// Timeline entries kept per incident: an alert that flaps for days must not grow one
/// without bound.
pub const TIMELINE_KEPT_PER_INCIDENT: i64 = 1_000;

pub trait IncidentStore {
    /// Opens an incident with an `opened` timeline entry.
    fn create_incident(&self, incident: &NewIncident) -> Result<IncidentRecord>;
    fn get_incident(&self, id: i64) -> Result<Option<IncidentRecord>>;
    /// Incidents newest first, before id `before`; only those of `projects` when given.
    fn list_incidents(
        &self,
        projects: Option<&[i64]>,
        status: Option<IncidentStatus>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<IncidentRecord>>;
    /// The newest incident of a monitor that is not resolved.
    fn open_incident_of_monitor(&self, monitor_id: &str) -> Result<Option<IncidentRecord>>;
    /// Applies a change, writing a timeline entry for each field that changed; the
    /// first move away from `open` sets the acknowledgement time, `resolved` the
    /// resolution time (and leaving `resolved` clears it).
    fn update_incident(
        &self,
        id: i64,
        change: &IncidentChange,
        actor: &str,
        now_ms: i64,
    ) -> Result<Option<IncidentRecord>>;
    fn add_timeline(&self, id: i64, kind: &str, actor: &str, text: &str, now_ms: i64) -> Result<()>;
    /// The timeline, oldest first.
    fn timeline(&self, id: i64) -> Result<Vec<TimelineEntry>>;
    fn incident_stats(&self, projects: Option<&[i64]>) -> Result<IncidentStats>;
}
