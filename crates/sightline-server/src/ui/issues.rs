//! Error groups: a model's issues (exceptions grouped by type and stack) by status, and
//! one issue — how often it happened in the last two weeks and in which versions, its
//! latest sample events with message, stack trace, input snapshot and the prediction
//! that failed — with buttons to resolve, ignore or reopen it, as
//! `PATCH /api/v1/models/{model}/issues/{issue}` does (editors only).

use super::charts::{self, Series};
use super::layout::{self, when};
use super::{Failure, PageResult, Viewer, html, readable_model, segment};
use crate::error::{ApiError, Code};
use crate::routes::errors::{HISTORY_MS, SAMPLES, find, open_detail, set_status};
use crate::state::{AppState, blocking};
use crate::wire::time::now_ms;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde_json::Value;
use sightline_store::{IssueQuery, IssueRecord, IssueStatus, StoredErrorEvent};
use std::collections::HashMap;
use std::sync::Arc;

/// Issues on one page of the list.
const PER_PAGE: usize = 50;
const HOUR_MS: i64 = 3_600_000;

/// The list page of a model's issues.
pub fn issues_link(model: &str) -> String {
    format!("/ui/models/{}/issues", segment(model))
}

/// The page of one issue.
pub fn issue_link(model: &str, id: i64) -> String {
    format!("{}/{id}", issues_link(model))
}

fn status_badge(status: IssueStatus) -> Markup {
    let class = match status {
        IssueStatus::Unresolved => "badge bad",
        IssueStatus::Ignored => "badge",
        IssueStatus::Resolved => "badge ok",
    };
    html! { span class=(class) { (status.as_str()) } }
}

/// The issues table of the model page and the list page, each title linking to its issue.
pub fn table(model: &str, issues: &[IssueRecord]) -> Markup {
    html! {
        table #issues {
            thead { tr { th { "Error" } th { "Type" } th.num { "Occurrences" } th { "First seen" } th { "Last seen" }
                th { "Versions" } th { "Status" } } }
            tbody {
                @for i in issues {
                    tr {
                        td { a href=(issue_link(model, i.id)) { (i.title) } }
                        td { code { (i.kind) } }
                        td.num { (i.count) }
                        td { (when(i.first_seen_ms)) }
                        td { (when(i.last_seen_ms)) }
                        td { (i.versions.iter().map(|v| format!("{} ({})", v.0, v.1)).collect::<Vec<_>>().join(", ")) }
                        td { (status_badge(i.status)) }
                    }
                }
            }
        }
    }
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let model = readable_model(&app, &viewer.principal, &name).await?;
    let status = match q.get("status").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(IssueStatus::parse(s).ok_or_else(|| {
            ApiError::new(Code::InvalidQuery, format!("status: {s:?} is not one of unresolved, resolved, ignored"))
        })?),
    };
    // The cursor is the last row's (last seen, id), as the API's.
    let before = q.get("before").and_then(|b| {
        let (t, id) = b.split_once('.')?;
        Some((t.parse().ok()?, id.parse().ok()?))
    });
    let query = IssueQuery { model_id: model.id, status, version: None, before, limit: PER_PAGE + 1 };
    let store = app.store.clone();
    let issues = blocking(move || store.list_issues(&query)).await??;
    let shown = &issues[..issues.len().min(PER_PAGE)];
    let spec_name = model.record.spec.name.clone();
    let filter = status.map_or("", IssueStatus::as_str);
    let base = issues_link(&spec_name);
    let next = (issues.len() > PER_PAGE).then(|| shown.last()).flatten().map(|last| {
        let cursor = format!("{}.{}", last.last_seen_ms, last.id);
        format!("{base}?{}", super::session::encode(&[("status", filter), ("before", &cursor)]))
    });
    let body = html! {
        h1 { (spec_name) " · error groups" }
        p.muted { "Exceptions reported by the serving code (" code { "POST /api/v1/models/{model}/errors" } " or the Python SDK's "
            code { "@sightline.monitor" } "), grouped by type and stack; most recently seen first." }
        form.toolbar method="get" action=(base) {
            label { "Status "
                select name="status" {
                    option value="" selected[filter.is_empty()] { "any" }
                    @for s in ["unresolved", "resolved", "ignored"] { option value=(s) selected[filter == s] { (s) } }
                }
            }
            button type="submit" { "Show" }
        }
        @if shown.is_empty() { p.muted { "No error groups" @if !filter.is_empty() { " " (filter) } "." } }
        @else { (table(&spec_name, shown)) }
        @if let Some(n) = next { p { a href=(n) { "Older…" } } }
    };
    let crumbs = [(spec_name.as_str(), format!("/ui/models/{}", segment(&spec_name))), ("error groups", base.clone())];
    Ok(html(layout::page(&viewer, &format!("{spec_name} error groups"), &crumbs, body)))
}

/// What an issue page says above its figures after a form.
#[derive(Default)]
struct Notice {
    done: Option<String>,
    problem: Option<String>,
}

pub async fn one(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path((name, issue)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let notice = Notice { done: q.get("done").cloned(), problem: None };
    render(&app, &viewer, &name, &issue, notice, StatusCode::OK).await
}

/// Hourly counts of the last two weeks, an hour without events as zero.
fn hourly_chart(hours: &[(i64, i64)], now: i64) -> Result<charts::Chart, String> {
    let end = now - now.rem_euclid(HOUR_MS) + HOUR_MS;
    let windows: Vec<(i64, i64)> =
        (0..HISTORY_MS / HOUR_MS).rev().map(|k| (end - (k + 1) * HOUR_MS, end - k * HOUR_MS)).collect();
    let counts: HashMap<i64, i64> = hours.iter().copied().collect();
    let values = windows.iter().map(|w| Some(counts.get(&w.0).copied().unwrap_or(0) as f64)).collect();
    charts::lines(&windows, &[Series { name: "occurrences".into(), values }], true)
}

fn frames(detail: &Value) -> Markup {
    let frames = detail["frames"].as_array().map(Vec::as_slice).unwrap_or_default();
    html! {
        @if frames.is_empty() { p.muted { "No stack trace was reported." } } @else {
            ol.frames {
                @for f in frames {
                    li class=(if f["in_app"] == Value::Bool(true) { "in-app" } else { "library" }) {
                        code { (f["function"].as_str().unwrap_or("?")) }
                        " in " code { (f["file"].as_str().unwrap_or("?")) }
                        @if let Some(line) = f["line"].as_i64() { ":" (line) }
                        @if f["in_app"] == Value::Bool(true) { " " span.badge { "app" } }
                    }
                }
            }
            @if let Some(n) = detail["frames_dropped"].as_u64().filter(|n| *n > 0) {
                p.muted { (n) " more frames were cut when reported." }
            }
        }
    }
}

/// One sample event, folded away but for the latest (`open`).
fn sample(model: &str, e: &StoredErrorEvent, detail: Option<&Value>, open: bool) -> Markup {
    html! {
        details.sample open[open] {
            summary {
                (when(e.timestamp_ms)) " · version " (e.version)
                @if let Some(r) = &e.request_id { " · request " code { (r) } }
            }
            @match detail {
                None => p.muted { "No details were kept." },
                Some(d) => {
                    @if let Some(err) = d["error"].as_str() { p.muted { (err) } }
                    @if let Some(m) = d["message"].as_str() { pre.message { (m) } }
                    (frames(d))
                    @if !d["input"].is_null() {
                        p { "Input" }
                        pre { (serde_json::to_string_pretty(&d["input"]).unwrap_or_default()) }
                    }
                }
            }
            @if let Some(r) = &e.request_id {
                p { a href={ "/ui/models/" (segment(model)) "/predictions/" (segment(r)) } { "The prediction of request " (r) "…" } }
            }
        }
    }
}

/// The buttons that move the issue to another status, for those who may.
fn status_forms(viewer: &Viewer, model: &str, issue: &IssueRecord) -> Markup {
    let Some(csrf) = viewer.csrf.as_deref() else {
        return html! {};
    };
    let action = format!("{}/status", issue_link(model, issue.id));
    let moves: &[(&str, &str)] = match issue.status {
        IssueStatus::Unresolved => &[("resolved", "Resolve"), ("ignored", "Ignore")],
        IssueStatus::Resolved => &[("unresolved", "Reopen"), ("ignored", "Ignore")],
        IssueStatus::Ignored => &[("unresolved", "Stop ignoring"), ("resolved", "Resolve")],
    };
    html! {
        div #issue-status {
            @for (to, label) in moves {
                form.inline method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="status" value=(to);
                    button type="submit" { (label) }
                }
                " "
            }
        }
        p.muted { "A resolved issue that happens again is reopened and counted as a regression; an ignored one stays ignored." }
    }
}

async fn render(
    app: &Arc<AppState>,
    viewer: &Viewer,
    name: &str,
    raw_id: &str,
    notice: Notice,
    status: StatusCode,
) -> PageResult {
    let model = readable_model(app, &viewer.principal, name).await?;
    let issue = find(app, model.id, raw_id).await?;
    let (store, id, now) = (app.store.clone(), issue.id, now_ms());
    let (hours, events) = blocking(move || -> sightline_store::Result<_> {
        Ok((store.issue_hours(id, now - HISTORY_MS)?, store.issue_events(id, SAMPLES)?))
    })
    .await??;
    let details: Vec<Option<Value>> = events.iter().map(|e| open_detail(app, model.id, e)).collect();
    let spec_name = model.record.spec.name.clone();
    let body = html! {
        h1 { (issue.title) " " (status_badge(issue.status)) }
        @if let Some(m) = &notice.done { p.notice role="status" { (m) } }
        @if let Some(m) = &notice.problem { div.problem role="alert" { (m) } }
        div.kpis {
            div.kpi { b { (issue.count) } span { "occurrences" } }
            div.kpi { b { (when(issue.first_seen_ms)) } span { "first seen" } }
            div.kpi { b { (when(issue.last_seen_ms)) } span { "last seen" } }
            div.kpi { b { (issue.regressions) } span { "regressions" } }
        }
        p { "Type " code { (issue.kind) } " · status " (issue.status.as_str()) " since " (when(issue.status_changed_ms))
            " · fingerprint " code { (issue.fingerprint) } }
        (status_forms(viewer, &spec_name, &issue))
        h2 { "Occurrences per hour, last 14 days" }
        (super::model::chart_or_note("issue-hourly", "Occurrences per hour", hourly_chart(&hours, now)))
        h2 { "Versions" }
        table #issue-versions {
            thead { tr { th { "Version" } th.num { "Occurrences" } th { "First seen" } th { "Last seen" } } }
            tbody {
                @for (v, n, first, last) in &issue.versions {
                    tr {
                        td { a href={ "/ui/models/" (segment(&spec_name)) "/versions/" (segment(v)) } { (v) } }
                        td.num { (n) } td { (when(*first)) } td { (when(*last)) }
                    }
                }
            }
        }
        h2 { "Latest events" }
        @if events.is_empty() { p.muted { "No sample events are kept." } }
        @for (i, (e, d)) in events.iter().zip(&details).enumerate() { (sample(&spec_name, e, d.as_ref(), i == 0)) }
    };
    let crumbs = [
        (spec_name.as_str(), format!("/ui/models/{}", segment(&spec_name))),
        ("error groups", issues_link(&spec_name)),
        (issue.title.as_str(), issue_link(&spec_name, issue.id)),
    ];
    let mut response = html(layout::page(viewer, &issue.title, &crumbs, body));
    *response.status_mut() = status;
    Ok(response)
}

/// The status form: editors move the issue and come back to it; others see why not.
pub async fn set(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path((name, raw_id)): Path<(String, String)>,
    request: Request,
) -> PageResult {
    let form = viewer.checked_form(request).await?;
    let refused = |e: ApiError| {
        let status = e.code.status();
        (Notice { done: None, problem: Some(e.detail) }, status)
    };
    let model = match super::version_forms::editable(&app, &viewer, &name).await? {
        Ok(m) => m,
        Err(e) => {
            let (notice, status) = refused(e);
            return render(&app, &viewer, &name, &raw_id, notice, status).await;
        }
    };
    let wanted = form.get("status").map(String::as_str).unwrap_or_default();
    let Some(status) = IssueStatus::parse(wanted) else {
        let e = ApiError::new(
            Code::ValidationFailed,
            format!("status: {wanted:?} is not one of unresolved, resolved, ignored"),
        );
        let (notice, status) = refused(e);
        return render(&app, &viewer, &name, &raw_id, notice, status).await;
    };
    let issue = find(&app, model.id, &raw_id).await?;
    let updated = set_status(&app, model.id, issue.id, status).await.map_err(Failure::from)?;
    let link = issue_link(&model.record.spec.name, updated.id);
    let message = format!("The issue is now {}.", updated.status.as_str());
    Ok(Redirect::to(&format!("{link}?{}", super::session::encode(&[("done", &message)]))).into_response())
}
