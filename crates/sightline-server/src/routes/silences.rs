//! Silences: create (label matchers and a time range), list, expire. A silence belongs
//! to a project and mutes only that project's alerts.

use super::models::owning_project;
use super::support::{invalid, page_answer, page_request, path, query, read_json};
use crate::auth::Principal;
use crate::auth::gate::check_project;
use crate::error::{ApiError, Code, FieldError};
use crate::monitors::file::parse_duration;
use crate::state::{AppState, blocking};
use crate::wire::time::{format, now_ms, parse_json};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::Need;
use sightline_core::alerting::{MatchOp, Matcher, Silence};
use sightline_store::SilenceRecord;
use std::sync::Arc;

/// Longest silence: 90 days. A longer one is a monitor that should be deleted.
const MAX_SILENCE_MS: i64 = 90 * 24 * 3_600_000;
const MAX_COMMENT: usize = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatcherIn {
    name: String,
    #[serde(default = "equal")]
    op: String,
    value: String,
}

fn equal() -> String {
    "=".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSilence {
    project: Option<String>,
    matchers: Vec<MatcherIn>,
    /// RFC 3339 or epoch ms; default now.
    starts_at: Option<Value>,
    /// RFC 3339 or epoch ms; or give `duration`.
    ends_at: Option<Value>,
    /// e.g. `2h`.
    duration: Option<String>,
    #[serde(default)]
    comment: String,
}

fn time(value: &Value, at: &str) -> Result<i64, ApiError> {
    parse_json(value).map_err(|m| invalid(at, m))
}

fn silence_json(s: &SilenceRecord, project: &str, now: i64) -> Value {
    json!({
        "id": s.id,
        "project": project,
        "matchers": serde_json::from_str::<Value>(&s.matchers).unwrap_or(Value::Null),
        "starts_at": format(s.starts_ms),
        "ends_at": format(s.ends_ms),
        "active": s.starts_ms <= now && now < s.ends_ms,
        "comment": s.comment,
        "created_by": s.created_by,
        "created_at": format(s.created_ms),
    })
}

pub async fn create(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let req: CreateSilence = read_json(&headers, body).await?;
    let now = now_ms();
    let starts = req.starts_at.as_ref().map(|v| time(v, "$.starts_at")).transpose()?.unwrap_or(now);
    let ends = match (&req.ends_at, &req.duration) {
        (Some(v), None) => time(v, "$.ends_at")?,
        (None, Some(d)) => starts.saturating_add(parse_duration(d).map_err(|m| invalid("$.duration", m))?),
        _ => return Err(invalid("$.ends_at", "give either ends_at or duration")),
    };
    if ends.saturating_sub(starts) > MAX_SILENCE_MS {
        return Err(invalid("$.ends_at", "a silence may last at most 90 days"));
    }
    if ends <= now {
        return Err(invalid("$.ends_at", "must be in the future"));
    }
    if let Err(m) = sightline_core::names::check_text(&req.comment, MAX_COMMENT) {
        return Err(invalid("$.comment", m));
    }
    let mut matchers = Vec::with_capacity(req.matchers.len());
    let mut errors = Vec::new();
    for (i, m) in req.matchers.iter().enumerate() {
        let op = match m.op.as_str() {
            "=" => MatchOp::Equal,
            "!=" => MatchOp::NotEqual,
            other => {
                errors.push(FieldError {
                    path: format!("$.matchers[{i}].op"),
                    message: format!("{other:?} is not one of =, !="),
                });
                continue;
            }
        };
        matchers.push(Matcher { name: m.name.clone(), op, value: m.value.clone() });
    }
    let silence = Silence { matchers, starts_at_ms: starts, ends_at_ms: ends, comment: req.comment.clone() };
    if let Err(problems) = silence.validate() {
        errors.extend(problems.into_iter().map(|p| {
            let path = match p.path.as_str() {
                "ends_at_ms" => "ends_at".to_owned(),
                other => other.to_owned(),
            };
            FieldError { path: format!("$.{path}"), message: p.message }
        }));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation("the silence is not valid", errors));
    }
    let project = owning_project(&app, &principal, req.project).await?;
    check_project(&principal, project.id, Need::Edit, || super::models::project_not_found(&project.name))?;
    let stored_matchers: Vec<Value> =
        req.matchers.iter().map(|m| json!({ "name": m.name, "op": m.op, "value": m.value })).collect();
    let record = SilenceRecord {
        id: 0,
        project_id: project.id,
        matchers: Value::Array(stored_matchers).to_string(),
        starts_ms: starts,
        ends_ms: ends,
        comment: req.comment,
        created_by: principal.actor.clone(),
        created_ms: now,
    };
    let store = app.store.clone();
    let saved = blocking(move || store.create_silence(&record)).await??;
    Ok((StatusCode::CREATED, Json(silence_json(&saved, &project.name, now))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Include silences that have ended.
    #[serde(default)]
    expired: bool,
    cursor: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let now = now_ms();
    let readable = principal.projects_allowing(Need::Read);
    let store = app.store.clone();
    let after = if q.expired { i64::MIN } else { now };
    let (page, limit) = page_request(q.cursor.as_deref(), q.limit, |k| k.parse::<i64>().ok())?;
    let mut silences = blocking(move || store.list_silences(readable.as_deref(), after, &page)).await??;
    let next = page_answer(&mut silences, limit, |s| s.id.to_string());
    let mut items = Vec::with_capacity(silences.len());
    for s in &silences {
        items.push(silence_json(s, &app.project_name(s.project_id).await?, now));
    }
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

pub async fn expire(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let raw = path(p)?;
    let not_found = || ApiError::new(Code::SilenceNotFound, format!("silence {raw:?} does not exist"));
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    let store = app.store.clone();
    let silence = blocking(move || store.get_silence(id)).await??.ok_or_else(not_found)?;
    check_project(&principal, silence.project_id, Need::Edit, not_found)?;
    let (store, now) = (app.store.clone(), now_ms());
    let updated = blocking(move || store.expire_silence(id, now)).await??.ok_or_else(not_found)?;
    Ok(Json(silence_json(&updated, &app.project_name(updated.project_id).await?, now)))
}
