//! What happened around an open incident, gathered without anyone asking: versions of
//! the incident's model that appeared (registered, or first seen in traffic) and error
//! groups that began or came back are linked to the incident and written to its
//! timeline. The links are the memory: whatever is already linked is not noted again,
//! so the pass can run as often as wanted and after a restart.

use super::policy::ACTOR;
use crate::wire::time::format;
use sightline_store::{IncidentChange, IncidentRecord, IncidentStatus, IssueQuery, IssueStatus, Store};

/// Changes shortly before an incident opened are often its cause: they count too.
pub const LEAD_MS: i64 = 15 * 60_000;

/// Unresolved incidents looked at per pass (newest first).
const INCIDENTS_PER_PASS: usize = 500;

/// Error groups looked at per incident: the most recently seen.
const ISSUES_PER_INCIDENT: usize = 200;

/// Links and notes what is new around every unresolved incident opened by a monitor.
/// Blocking (store calls).
pub fn link_context(store: &dyn Store, now_ms: i64) -> sightline_store::Result<()> {
    for status in [IncidentStatus::Open, IncidentStatus::Investigating, IncidentStatus::Mitigated] {
        for incident in store.list_incidents(None, Some(status), None, INCIDENTS_PER_PASS)? {
            link_incident(store, &incident, now_ms)?;
        }
    }
    Ok(())
}

fn linked(incident: &IncidentRecord, kind: &str, target: &str) -> bool {
    incident.links.iter().any(|(k, t)| k == kind && t == target)
}

fn link_incident(store: &dyn Store, incident: &IncidentRecord, now_ms: i64) -> sightline_store::Result<()> {
    let Some(monitor_id) = &incident.monitor_id else { return Ok(()) };
    let Some(monitor) = store.get_monitor(monitor_id)? else { return Ok(()) };
    let Some(model) = store.model_by_id(monitor.model_id)? else { return Ok(()) };
    let since = incident.opened_ms.saturating_sub(LEAD_MS);
    let mut notes: Vec<(String, String, String)> = Vec::new();

    let mut after: Option<String> = None;
    loop {
        let versions = store.list_versions(model.id, after.as_deref(), 1000)?;
        let Some(last) = versions.last() else { break };
        after = Some(last.name.clone());
        for v in versions.iter().filter(|v| v.created_ms >= since) {
            let target = format!("{}/{}", model.spec.name, v.name);
            if !linked(incident, "version", &target) {
                let text =
                    format!("version {} of model {} appeared at {}", v.name, model.spec.name, format(v.created_ms));
                notes.push(("version".into(), target, text));
            }
        }
    }

    let query = IssueQuery {
        model_id: model.id,
        status: Some(IssueStatus::Unresolved),
        version: None,
        before: None,
        limit: ISSUES_PER_INCIDENT,
    };
    for issue in store.list_issues(&query)?.into_iter().filter(|i| i.last_seen_ms >= since) {
        let began = issue.first_seen_ms >= since;
        let came_back = issue.regressions > 0 && issue.status_changed_ms >= since;
        let target = issue.id.to_string();
        if (began || came_back) && !linked(incident, "issue", &target) {
            let what = if began { "began" } else { "came back" };
            let at = if began { issue.first_seen_ms } else { issue.status_changed_ms };
            let text = format!("error group #{} {what} at {}: {}: {}", issue.id, format(at), issue.kind, issue.title);
            notes.push(("issue".into(), target, text));
        }
    }

    if notes.is_empty() {
        return Ok(());
    }
    let links = notes.iter().map(|(kind, target, _)| (kind.clone(), target.clone())).collect();
    store.update_incident(incident.id, &IncidentChange { links, ..Default::default() }, ACTOR, now_ms)?;
    for (kind, _, text) in &notes {
        store.add_timeline(incident.id, kind, ACTOR, text, now_ms)?;
    }
    Ok(())
}
