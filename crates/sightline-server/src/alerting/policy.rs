//! The incident policy: a firing alert at or above the configured severity opens an
//! incident for its monitor (or joins the one already open), and its resolution is
//! written to that incident's timeline. Silenced alerts open nothing: a silence says
//! the team already knows.

use crate::wire::time::format;
use sightline_core::alerting::{Monitor, Severity};
use sightline_store::{NewIncident, Store};

/// Who the timeline says did it.
pub const ACTOR: &str = "sightline";

/// One firing alert, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Firing<'a> {
    pub project_id: i64,
    pub fingerprint: &'a str,
    pub version: Option<&'a str>,
    pub value: Option<f64>,
    pub now_ms: i64,
}

/// A firing alert: opens or updates the monitor's incident. Blocking (store calls).
pub fn on_firing(
    store: &dyn Store,
    min: Option<Severity>,
    monitor: &Monitor,
    alert: Firing<'_>,
) -> sightline_store::Result<()> {
    let Firing { project_id, fingerprint, version, value, now_ms } = alert;
    if min.is_none_or(|min| monitor.severity < min) {
        return Ok(());
    }
    let text = format!(
        "alert {fingerprint} firing{}{} at {}",
        version.map(|v| format!(" on version {v}")).unwrap_or_default(),
        value.map(|v| format!(", value {v}")).unwrap_or_default(),
        format(now_ms)
    );
    let mut links = vec![("alert".to_owned(), fingerprint.to_owned())];
    if let Some(v) = version {
        links.push(("version".to_owned(), format!("{}/{v}", monitor.model)));
    }
    match store.open_incident_of_monitor(&monitor.id)? {
        Some(incident) => {
            let change = sightline_store::IncidentChange { links, ..Default::default() };
            store.update_incident(incident.id, &change, ACTOR, now_ms)?;
            store.add_timeline(incident.id, "alert_firing", ACTOR, &text, now_ms)
        }
        None => {
            let incident = store.create_incident(&NewIncident {
                project_id,
                title: format!("{} ({}) on model {}", monitor.id, monitor.signal.kind(), monitor.model),
                severity: monitor.severity.as_str().into(),
                assignee: None,
                monitor_id: Some(monitor.id.clone()),
                runbook_url: monitor.runbook_url.clone(),
                links,
                opened_ms: now_ms,
                actor: ACTOR.into(),
            })?;
            store.add_timeline(incident.id, "alert_firing", ACTOR, &text, now_ms)
        }
    }
}

/// A resolved alert: noted on the monitor's open incident, if any. People resolve
/// incidents; an alert that stops firing is evidence, not a conclusion.
pub fn on_resolved(
    store: &dyn Store,
    monitor: &Monitor,
    fingerprint: &str,
    duration_ms: i64,
    now_ms: i64,
) -> sightline_store::Result<()> {
    if let Some(incident) = store.open_incident_of_monitor(&monitor.id)? {
        let text = format!("alert {fingerprint} resolved after {} s at {}", duration_ms / 1000, format(now_ms));
        store.add_timeline(incident.id, "alert_resolved", ACTOR, &text, now_ms)?;
    }
    Ok(())
}
