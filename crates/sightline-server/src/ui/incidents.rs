//! Incidents: the list (newest first, by status) with time to acknowledge and resolve,
//! and one incident with its links, runbook, postmortem and timeline — what the
//! incidents API answers, for people.

use super::layout::{self, when};
use super::{Failure, PageResult, Viewer, html, segment};
use crate::routes::incidents::find;
use crate::state::{AppState, blocking};
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use sightline_core::Need;
use sightline_store::{IncidentRecord, IncidentStatus, Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// Incidents on one page of the list.
const PER_PAGE: usize = 50;

/// A duration in words: `3 min`, `2 h 5 min`, `4 d 1 h`.
fn took(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} d {} h", m / (24 * 60), m % (24 * 60) / 60),
    }
}

fn status_badge(status: IncidentStatus) -> Markup {
    let class = match status {
        IncidentStatus::Open => "badge bad",
        IncidentStatus::Investigating | IncidentStatus::Mitigated => "badge warn",
        IncidentStatus::Resolved => "badge ok",
    };
    html! { span class=(class) { (status.as_str()) } }
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let status = match q.get("status").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(IncidentStatus::parse(s).ok_or_else(|| {
            crate::error::ApiError::new(crate::error::Code::InvalidQuery, format!("status: {s:?} is not a status"))
        })?),
    };
    let before = q.get("before").and_then(|b| b.parse::<i64>().ok());
    let readable = viewer.principal.projects_allowing(Need::Read);
    let store = app.store.clone();
    let (incidents, stats) = blocking(move || {
        let incidents = store.list_incidents(readable.as_deref(), status, before, PER_PAGE + 1)?;
        let stats = store.incident_stats(readable.as_deref())?;
        Ok::<_, sightline_store::StoreError>((incidents, stats))
    })
    .await??;
    let more = incidents.len() > PER_PAGE;
    let shown = &incidents[..incidents.len().min(PER_PAGE)];
    let filter = status.map_or("", IncidentStatus::as_str);
    let body = html! {
        h1 { "Incidents" }
        p.muted {
            (stats.count) " in all, " (stats.count - stats.resolved) " unresolved. Mean time to acknowledge: "
            (stats.mean_ack_ms.map_or("–".to_owned(), |m| took(m as i64)))
            "; to resolve: " (stats.mean_resolve_ms.map_or("–".to_owned(), |m| took(m as i64))) "."
        }
        form.toolbar method="get" action="/ui/incidents" {
            label { "Status "
                select name="status" {
                    option value="" selected[filter.is_empty()] { "any" }
                    @for s in ["open", "investigating", "mitigated", "resolved"] {
                        option value=(s) selected[filter == s] { (s) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        @if shown.is_empty() { p.muted { "No incidents: firing alerts at or above the incident severity open one." } } @else {
            table #incidents {
                thead { tr { th { "#" } th { "Title" } th { "Severity" } th { "Status" } th { "Opened" }
                    th { "Acknowledged after" } th { "Resolved after" } th { "Assignee" } } }
                tbody {
                    @for i in shown {
                        tr {
                            td { a href={ "/ui/incidents/" (i.id) } { (i.id) } }
                            td { a href={ "/ui/incidents/" (i.id) } { (i.title) } }
                            td { (i.severity) }
                            td { (status_badge(i.status)) }
                            td { (when(i.opened_ms)) }
                            td { (i.acknowledged_ms.map(|a| took(a - i.opened_ms)).unwrap_or_default()) }
                            td { (i.resolved_ms.map(|r| took(r - i.opened_ms)).unwrap_or_default()) }
                            td { (i.assignee.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
            @if more {
                @if let Some(last) = shown.last() {
                    p { a href={ "/ui/incidents?status=" (filter) "&before=" (last.id) } { "Older incidents" } }
                }
            }
        }
    };
    Ok(html(layout::page(&viewer, "Incidents", &[], body)))
}

/// Where a link of an incident leads in the UI, if anywhere; `issues` are the linked
/// error groups' pages by id (a group merged away or deleted has none).
fn link_target(kind: &str, target: &str, issues: &HashMap<String, String>) -> Option<String> {
    match kind {
        "issue" => issues.get(target).cloned(),
        // Versions are linked as `<model>/<version>`.
        "version" => target.split_once('/').map(|(model, version)| {
            format!("/ui/models/{}?{}", segment(model), super::session::encode(&[("version", version)]))
        }),
        "alert" => Some("/ui/alerts".to_owned()),
        _ => None,
    }
}

/// The pages of the error groups an incident links to, by the id it links them with.
/// Issue ids are unique across models; a group whose model is in another project than
/// the incident's gets no link.
fn issue_pages(store: &dyn Store, incident: &IncidentRecord) -> Result<HashMap<String, String>, StoreError> {
    let mut pages = HashMap::new();
    for (_, target) in incident.links.iter().filter(|(kind, _)| kind == "issue") {
        let Ok(id) = target.parse::<i64>() else { continue };
        let Some(model_id) = store.issue_model(id)? else { continue };
        if let Some(model) = store.model_by_id(model_id)?.filter(|m| m.project_id == incident.project_id) {
            pages.insert(target.clone(), format!("/ui/models/{}/issues/{id}", segment(&model.spec.name)));
        }
    }
    Ok(pages)
}

fn links(i: &IncidentRecord, issues: &HashMap<String, String>) -> Markup {
    html! {
        @if i.links.is_empty() { p.muted { "Nothing linked yet." } } @else {
            ul #links {
                @for (kind, target) in &i.links {
                    li { (kind) " "
                        @match link_target(kind, target, issues) {
                            Some(href) => { a href=(href) { code { (target) } } }
                            None if kind == "issue" => { code { (target) } span.muted { " (error group not found)" } }
                            None => { code { (target) } }
                        }
                    }
                }
            }
        }
    }
}

pub async fn one(State(app): State<Arc<AppState>>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let incident = find(&app, &viewer.principal, &id, Need::Read).await.map_err(Failure::from)?;
    let (store, key) = (app.store.clone(), incident.id);
    let timeline = blocking(move || store.timeline(key)).await??;
    let (store, linked) = (app.store.clone(), incident.clone());
    let issues = blocking(move || issue_pages(store.as_ref(), &linked)).await??;
    let title = format!("Incident #{}", incident.id);
    let i = &incident;
    let body = html! {
        h1 { (title) ": " (i.title) }
        p { (status_badge(i.status)) " severity " strong { (i.severity) } " · opened " (when(i.opened_ms))
            @if let Some(a) = i.acknowledged_ms { " · acknowledged after " (took(a - i.opened_ms)) }
            @if let Some(r) = i.resolved_ms { " · resolved after " (took(r - i.opened_ms)) }
            @if let Some(who) = &i.assignee { " · assigned to " strong { (who) } }
        }
        @if let Some(m) = &i.monitor_id { p { "Opened by monitor " code { (m) } "." } }
        @if let Some(url) = &i.runbook_url { p { "Runbook: " a href=(url) rel="noopener noreferrer" { (url) } } }
        h2 { "Linked" }
        (links(i, &issues))
        h2 { "Timeline" }
        table #timeline {
            thead { tr { th { "When" } th { "What" } th { "Who" } th { "Details" } } }
            tbody {
                @for t in &timeline {
                    tr { td { (when(t.ts_ms)) } td { (t.kind) } td { (t.actor) } td { (t.text) } }
                }
            }
        }
        h2 { "Postmortem" }
        @if i.postmortem.is_empty() { p.muted { "None written yet (PATCH /api/v1/incidents/" (i.id) " with a postmortem)." } }
        @else { pre.postmortem { (i.postmortem) } }
    };
    let crumbs = [("Incidents", "/ui/incidents".to_owned())];
    Ok(html(layout::page(&viewer, &title, &crumbs, body)))
}

#[cfg(test)]
mod tests {
    use super::took;

    #[test]
    fn durations_read_in_words() {
        assert_eq!(took(59_000), "0 min");
        assert_eq!(took(3 * 60_000), "3 min");
        assert_eq!(took(125 * 60_000), "2 h 5 min");
        assert_eq!(took((4 * 24 * 60 + 61) * 60_000), "4 d 1 h");
    }
}
