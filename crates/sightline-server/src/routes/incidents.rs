//! Incidents: open by hand, list, get with the timeline, change status / assignee /
//! postmortem / links, add notes, and mean time to acknowledge and to resolve.

use super::models::{owning_project, project_not_found};
use super::support::{invalid, limit, path, query, read_json};
use crate::auth::Principal;
use crate::auth::gate::check_project;
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use crate::wire::time::{format, now_ms};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::Need;
use sightline_core::alerting::Severity;
use sightline_core::names::check_text;
use sightline_store::{IncidentChange, IncidentRecord, IncidentStatus, NewIncident};
use std::sync::Arc;

const MAX_TITLE: usize = 200;
const MAX_NAME: usize = 200;
const MAX_NOTE: usize = 10_000;
const MAX_POSTMORTEM: usize = 100_000;
const MAX_LINKS: usize = 100;

fn incident_json(i: &IncidentRecord, project: &str) -> Value {
    let links = |kind: &str| i.links.iter().filter(|(k, _)| k == kind).map(|(_, t)| t.clone()).collect::<Vec<_>>();
    json!({
        "id": i.id,
        "project": project,
        "title": i.title,
        "severity": i.severity,
        "status": i.status.as_str(),
        "assignee": i.assignee,
        "monitor": i.monitor_id,
        "runbook_url": i.runbook_url,
        "postmortem": i.postmortem,
        "opened_at": format(i.opened_ms),
        "acknowledged_at": i.acknowledged_ms.map(format),
        "resolved_at": i.resolved_ms.map(format),
        "time_to_acknowledge_ms": i.acknowledged_ms.map(|a| a - i.opened_ms),
        "time_to_resolve_ms": i.resolved_ms.map(|r| r - i.opened_ms),
        "links": { "alerts": links("alert"), "issues": links("issue"), "versions": links("version") },
    })
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LinksIn {
    #[serde(default)]
    alerts: Vec<String>,
    #[serde(default)]
    issues: Vec<String>,
    #[serde(default)]
    versions: Vec<String>,
}

fn links(l: LinksIn) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for (kind, items) in [("alert", l.alerts), ("issue", l.issues), ("version", l.versions)] {
        for (i, t) in items.into_iter().enumerate() {
            check_text(&t, MAX_NAME).map_err(|m| invalid(&format!("$.links.{kind}s[{i}]"), m))?;
            if t.is_empty() {
                return Err(invalid(&format!("$.links.{kind}s[{i}]"), "must not be empty"));
            }
            out.push((kind.to_owned(), t));
        }
    }
    if out.len() > MAX_LINKS {
        return Err(invalid("$.links", format!("at most {MAX_LINKS} links")));
    }
    Ok(out)
}

fn text(value: &str, max: usize, at: &str) -> Result<(), ApiError> {
    check_text(value, max).map_err(|m| invalid(at, m))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateIncident {
    project: Option<String>,
    title: String,
    severity: String,
    assignee: Option<String>,
    runbook_url: Option<String>,
    #[serde(default)]
    links: LinksIn,
}

pub async fn create(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let req: CreateIncident = read_json(&headers, body).await?;
    if req.title.trim().is_empty() {
        return Err(invalid("$.title", "must not be empty"));
    }
    text(&req.title, MAX_TITLE, "$.title")?;
    let severity = Severity::parse(&req.severity).ok_or_else(|| {
        invalid("$.severity", format!("{:?} is not one of info, low, medium, high, critical", req.severity))
    })?;
    if let Some(a) = &req.assignee {
        text(a, MAX_NAME, "$.assignee")?;
    }
    if let Some(u) = &req.runbook_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(invalid("$.runbook_url", "must be an http:// or https:// URL"));
    }
    let links = links(req.links)?;
    let project = owning_project(&app, &principal, req.project).await?;
    check_project(&principal, project.id, Need::Edit, || project_not_found(&project.name))?;
    let new = NewIncident {
        project_id: project.id,
        title: req.title,
        severity: severity.as_str().into(),
        assignee: req.assignee,
        monitor_id: None,
        runbook_url: req.runbook_url,
        links,
        opened_ms: now_ms(),
        actor: principal.actor.clone(),
    };
    let store = app.store.clone();
    let record = blocking(move || store.create_incident(&new)).await??;
    Ok((StatusCode::CREATED, Json(incident_json(&record, &project.name))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn status_of(s: &str, at: &str) -> Result<IncidentStatus, String> {
    IncidentStatus::parse(s)
        .ok_or_else(|| format!("{at}: {s:?} is not one of open, investigating, mitigated, resolved"))
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let limit = limit(q.limit)?;
    let status = q
        .status
        .as_deref()
        .map(|s| status_of(s, "status"))
        .transpose()
        .map_err(|m| ApiError::new(Code::InvalidQuery, m))?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| ApiError::new(Code::InvalidQuery, "cursor: not a cursor this server issued"))
        })
        .transpose()?;
    let readable = principal.projects_allowing(Need::Read);
    let store = app.store.clone();
    let incidents = blocking(move || store.list_incidents(readable.as_deref(), status, before, limit + 1)).await??;
    let more = incidents.len() > limit;
    let mut items = Vec::new();
    for i in incidents.iter().take(limit) {
        items.push(incident_json(i, &app.project_name(i.project_id).await?));
    }
    let next = more.then(|| incidents.get(limit - 1).map(|i| i.id.to_string())).flatten();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

pub async fn stats(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
) -> Result<Json<Value>, ApiError> {
    let readable = principal.projects_allowing(Need::Read);
    let store = app.store.clone();
    let s = blocking(move || store.incident_stats(readable.as_deref())).await??;
    Ok(Json(json!({
        "incidents": s.count,
        "unresolved": s.open,
        "acknowledged": s.acknowledged,
        "resolved": s.resolved,
        "mean_time_to_acknowledge_ms": s.mean_ack_ms,
        "mean_time_to_resolve_ms": s.mean_resolve_ms,
    })))
}

pub(crate) async fn find(
    app: &Arc<AppState>,
    principal: &Principal,
    raw: &str,
    need: Need,
) -> Result<IncidentRecord, ApiError> {
    let not_found = || ApiError::new(Code::IncidentNotFound, format!("incident {raw:?} does not exist"));
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    let store = app.store.clone();
    let incident = blocking(move || store.get_incident(id)).await??.ok_or_else(not_found)?;
    check_project(principal, incident.project_id, need, not_found)?;
    Ok(incident)
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let incident = find(&app, &principal, &path(p)?, Need::Read).await?;
    let (store, id) = (app.store.clone(), incident.id);
    let timeline = blocking(move || store.timeline(id)).await??;
    let mut doc = incident_json(&incident, &app.project_name(incident.project_id).await?);
    doc["timeline"] = timeline
        .iter()
        .map(|t| json!({ "at": format(t.ts_ms), "kind": t.kind, "actor": t.actor, "text": t.text }))
        .collect();
    Ok(Json(doc))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    status: Option<String>,
    /// `null` unassigns; absent leaves it.
    #[serde(default, with = "serde_with_double_option")]
    assignee: Option<Option<String>>,
    postmortem: Option<String>,
    #[serde(default)]
    links: LinksIn,
}

/// Tells an absent field (leave it) from an explicit `null` (clear it).
mod serde_with_double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

pub async fn update(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let incident = find(&app, &principal, &path(p)?, Need::Edit).await?;
    let req: Patch = read_json(&headers, body).await?;
    let status = req.status.as_deref().map(|s| status_of(s, "$.status")).transpose().map_err(|m| {
        let message = m.trim_start_matches("$.status: ").to_owned();
        invalid("$.status", message)
    })?;
    if let Some(Some(a)) = &req.assignee {
        text(a, MAX_NAME, "$.assignee")?;
    }
    if let Some(pm) = &req.postmortem {
        text(pm, MAX_POSTMORTEM, "$.postmortem")?;
    }
    let change =
        IncidentChange { status, assignee: req.assignee, postmortem: req.postmortem, links: links(req.links)? };
    let (store, actor, id) = (app.store.clone(), principal.actor.clone(), incident.id);
    let updated = blocking(move || store.update_incident(id, &change, &actor, now_ms()))
        .await??
        .ok_or_else(|| ApiError::internal("an incident vanished while it changed"))?;
    Ok(Json(incident_json(&updated, &app.project_name(updated.project_id).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    text: String,
}

pub async fn add_note(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let incident = find(&app, &principal, &path(p)?, Need::Edit).await?;
    let note: Note = read_json(&headers, body).await?;
    if note.text.trim().is_empty() {
        return Err(invalid("$.text", "must not be empty"));
    }
    text(&note.text, MAX_NOTE, "$.text")?;
    let (store, actor, id) = (app.store.clone(), principal.actor.clone(), incident.id);
    blocking(move || store.add_timeline(id, "note", &actor, &note.text, now_ms())).await??;
    Ok(StatusCode::CREATED.into_response())
}
