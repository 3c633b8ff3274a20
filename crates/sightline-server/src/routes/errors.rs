//! Exceptions from serving code: batch ingest, and the issues they are grouped into
//! (list, one issue with its history and sample events, status changes).

use super::ingest_endpoint::{Endpoint, run};
use super::support::{invalid, limit, path, query, read_json};
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use crate::wire::error_event::{detail_aad, parse};
use crate::wire::time::{format, now_ms};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_store::{IssueQuery, IssueRecord, IssueStatus, PreparedError, StoredErrorEvent, WriteBatch};
use std::sync::Arc;

pub async fn ingest(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let endpoint = Endpoint {
        name: "errors",
        key: "events",
        parse_one: |v, cx| parse(v, cx.model_id, cx.received_ms, cx.keys),
        request_id_of: |e: &PreparedError| e.event_id.as_str(),
        into_batch: |model_id, received_ms, events| WriteBatch::Errors { model_id, received_ms, events },
    };
    run(&app, p, headers, body, endpoint).await
}

fn issue_json(i: &IssueRecord) -> Value {
    json!({
        "id": i.id,
        "fingerprint": i.fingerprint,
        "type": i.kind,
        "title": i.title,
        "status": i.status.as_str(),
        "count": i.count,
        "first_seen": format(i.first_seen_ms),
        "last_seen": format(i.last_seen_ms),
        "status_changed_at": format(i.status_changed_ms),
        "regressions": i.regressions,
        "versions": i.versions.iter().map(|(name, count, first, last)| json!({
            "version": name, "count": count, "first_seen": format(*first), "last_seen": format(*last),
        })).collect::<Vec<_>>(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    version: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn status_param(s: &str) -> Result<IssueStatus, ApiError> {
    IssueStatus::parse(s).ok_or_else(|| {
        ApiError::new(Code::InvalidQuery, format!("status: {s:?} is not one of unresolved, resolved, ignored"))
    })
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let q = query(q)?;
    let limit = limit(q.limit)?;
    let bad_cursor = || ApiError::new(Code::InvalidQuery, "cursor: not a cursor this server issued");
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => {
            let (ts, id) = c.split_once('.').ok_or_else(bad_cursor)?;
            Some((ts.parse().map_err(|_| bad_cursor())?, id.parse().map_err(|_| bad_cursor())?))
        }
    };
    let query = IssueQuery {
        model_id: model.id,
        status: q.status.as_deref().map(status_param).transpose()?,
        version: q.version,
        before,
        limit: limit + 1,
    };
    let store = app.store.clone();
    let issues = blocking(move || store.list_issues(&query)).await??;
    let more = issues.len() > limit;
    let items: Vec<Value> = issues.iter().take(limit).map(issue_json).collect();
    let next = more.then(|| issues.get(limit - 1).map(|i| format!("{}.{}", i.last_seen_ms, i.id))).flatten();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

/// Hourly counts shown with an issue: the last 14 days.
pub const HISTORY_MS: i64 = 14 * 24 * 3_600_000;
/// Sample events shown with an issue.
pub const SAMPLES: usize = 20;

/// The issue of a model named by its id in a path; 404 for anything else.
pub async fn find(app: &Arc<AppState>, model_id: i64, raw: &str) -> Result<IssueRecord, ApiError> {
    let not_found = || ApiError::new(Code::NotFound, format!("issue {raw:?} does not exist"));
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    let store = app.store.clone();
    blocking(move || store.get_issue(model_id, id)).await??.ok_or_else(not_found)
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let (model, issue) = path(p)?;
    let model = app.model(&model).await?;
    let issue = find(&app, model.id, &issue).await?;
    let (store, id) = (app.store.clone(), issue.id);
    let (hours, events) = blocking(move || -> sightline_store::Result<_> {
        Ok((store.issue_hours(id, now_ms() - HISTORY_MS)?, store.issue_events(id, SAMPLES)?))
    })
    .await??;
    let samples: Vec<Value> = events
        .iter()
        .map(|e| {
            let detail = open_detail(&app, model.id, e);
            let mut doc = json!({
                "event_id": e.event_id,
                "request_id": e.request_id,
                "version": e.version,
                "timestamp": format(e.timestamp_ms),
                "received_at": format(e.received_ms),
            });
            if let (Some(Value::Object(d)), Some(o)) = (detail, doc.as_object_mut()) {
                o.extend(d);
            }
            doc
        })
        .collect();
    let mut doc = issue_json(&issue);
    doc["hourly"] = hours.iter().map(|(h, n)| json!({ "hour": format(*h), "count": n })).collect();
    doc["events"] = Value::Array(samples);
    Ok(Json(doc))
}

/// A sample event's details (message, frames, input snapshot), opened. One whose details
/// cannot be opened (tampered, key removed) says so instead, rather than failing the
/// whole answer.
pub fn open_detail(app: &AppState, model_id: i64, e: &StoredErrorEvent) -> Option<Value> {
    let sealed = e.detail.as_ref()?;
    Some(
        app.keys
            .current()
            .open(sealed, &detail_aad(model_id, &e.event_id))
            .ok()
            .and_then(|plain| serde_json::from_slice::<Value>(&plain).ok())
            .unwrap_or_else(|| json!({ "error": "the details cannot be decrypted" })),
    )
}

/// Sets an issue's status (the API's `PATCH` and the issue page's form).
pub async fn set_status(app: &AppState, model_id: i64, id: i64, status: IssueStatus) -> Result<IssueRecord, ApiError> {
    let store = app.store.clone();
    let updated = blocking(move || store.set_issue_status(model_id, id, status, now_ms())).await??;
    updated.ok_or_else(|| ApiError::internal("an issue vanished while its status changed"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    status: String,
}

pub async fn update(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (model, issue) = path(p)?;
    let model = app.model(&model).await?;
    let Update { status } = read_json(&headers, body).await?;
    let status = IssueStatus::parse(&status)
        .ok_or_else(|| invalid("$.status", format!("{status:?} is not one of unresolved, resolved, ignored")))?;
    let issue = find(&app, model.id, &issue).await?;
    Ok(Json(issue_json(&set_status(&app, model.id, issue.id, status).await?)))
}
