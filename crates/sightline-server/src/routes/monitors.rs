//! Monitors: create, list, get, replace, delete. The body is the monitors file's
//! format as JSON; monitors declared in the monitors file are read-only here.

use super::support::{PageQuery, page_answer, page_request, path, query, read_json};
use crate::auth::Principal;
use crate::auth::gate::check_project;
use crate::error::{ApiError, Code, FieldError};
use crate::monitors::{doc, file};
use crate::state::{AppState, blocking};
use crate::wire::time::{format, now_ms};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sightline_core::Need;
use sightline_core::alerting::Monitor;
use sightline_store::MonitorRecord;
use std::sync::Arc;

pub fn monitor_not_found(id: &str) -> ApiError {
    ApiError::new(Code::MonitorNotFound, format!("monitor {id:?} does not exist"))
}

async fn monitor_json(app: &Arc<AppState>, r: &MonitorRecord) -> Result<Value, ApiError> {
    let mut body = serde_json::from_str::<Value>(&r.spec).map_err(ApiError::internal)?;
    if let Some(o) = body.as_object_mut() {
        o.insert("project".into(), json!(&*app.project_name(r.project_id).await?));
        o.insert("from_file".into(), json!(r.from_file));
        o.insert("created_at".into(), json!(format(r.created_ms)));
        o.insert("updated_at".into(), json!(format(r.updated_ms)));
    }
    Ok(body)
}

/// Reads and checks a monitor document, against its model's schema too; the model
/// must be one the caller may edit.
async fn parse_monitor(
    app: &Arc<AppState>,
    principal: &Principal,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<(Monitor, Arc<crate::state::LoadedModel>), ApiError> {
    let declared: file::MonitorIn = read_json(headers, body).await?;
    check_monitor(app, principal, declared).await
}

/// Checks a declared monitor, against its model's schema too; the model must be one
/// the caller may edit.
async fn check_monitor(
    app: &Arc<AppState>,
    principal: &Principal,
    declared: file::MonitorIn,
) -> Result<(Monitor, Arc<crate::state::LoadedModel>), ApiError> {
    let monitor = file::monitor(declared).map_err(|problems| {
        let errors: Vec<FieldError> =
            problems.into_iter().map(|(p, message)| FieldError { path: format!("$.{p}"), message }).collect();
        ApiError::validation("the monitor is not valid", errors)
    })?;
    let model = app.model(&monitor.model).await?;
    check_project(principal, model.record.project_id, Need::Edit, || {
        ApiError::new(Code::ModelNotFound, format!("model {:?} does not exist", monitor.model))
    })?;
    monitor
        .check_against(&model.record.spec)
        .map_err(|ps| ApiError::validation("the monitor is not valid", crate::wire::json::prefix("$", ps)))?;
    Ok((monitor, model))
}

pub async fn create(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let (monitor, model) = parse_monitor(&app, &principal, &headers, body).await?;
    let record = store_new(&app, monitor, &model).await?;
    Ok((StatusCode::CREATED, Json(monitor_json(&app, &record).await?)).into_response())
}

async fn store_new(
    app: &Arc<AppState>,
    monitor: Monitor,
    model: &crate::state::LoadedModel,
) -> Result<MonitorRecord, ApiError> {
    let (store, spec, model_id) = (app.store.clone(), doc::to_doc(&monitor).to_string(), model.id);
    Ok(blocking(move || store.create_monitor(&monitor.id, model_id, &spec, false, now_ms())).await??)
}

/// Creates a monitor from its declaration as the API does (the web UI's form).
pub(crate) async fn create_declared(
    app: &Arc<AppState>,
    principal: &Principal,
    declared: file::MonitorIn,
) -> Result<MonitorRecord, ApiError> {
    let (monitor, model) = check_monitor(app, principal, declared).await?;
    store_new(app, monitor, &model).await
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (page, limit) = page_request(q.cursor.as_deref(), q.limit, |k| Some(k.to_owned()))?;
    let readable = principal.projects_allowing(Need::Read);
    let store = app.store.clone();
    let mut records = blocking(move || store.list_monitors(readable.as_deref(), &page)).await??;
    let next = page_answer(&mut records, limit, |r| r.id.clone());
    let mut items = Vec::with_capacity(records.len());
    for r in &records {
        items.push(monitor_json(&app, r).await?);
    }
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

/// The monitor of the path, if the caller has `need` in its project (404 for callers
/// with no role there).
pub async fn find(app: &Arc<AppState>, principal: &Principal, id: &str, need: Need) -> Result<MonitorRecord, ApiError> {
    let (store, owned) = (app.store.clone(), id.to_owned());
    let record = blocking(move || store.get_monitor(&owned)).await??.ok_or_else(|| monitor_not_found(id))?;
    check_project(principal, record.project_id, need, || monitor_not_found(id))?;
    Ok(record)
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let record = find(&app, &principal, &path(p)?, Need::Read).await?;
    Ok(Json(monitor_json(&app, &record).await?))
}

fn read_only(id: &str) -> ApiError {
    ApiError::new(
        Code::Conflict,
        format!("monitor {id:?} is declared in the monitors file; change it there and restart the server"),
    )
}

pub async fn replace(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let id = path(p)?;
    editable(&app, &principal, &id).await?;
    let declared: file::MonitorIn = read_json(&headers, body).await?;
    let record = replace_declared(&app, &principal, &id, declared).await?;
    Ok(Json(monitor_json(&app, &record).await?))
}

/// The monitor of the path if the caller may change it: one of the API's, not the
/// monitors file's.
async fn editable(app: &Arc<AppState>, principal: &Principal, id: &str) -> Result<MonitorRecord, ApiError> {
    let current = find(app, principal, id, Need::Edit).await?;
    if current.from_file {
        return Err(read_only(id));
    }
    Ok(current)
}

/// Replaces a monitor with a declaration, as `PUT /monitors/{id}` does (the web UI's
/// edit form too).
pub(crate) async fn replace_declared(
    app: &Arc<AppState>,
    principal: &Principal,
    id: &str,
    declared: file::MonitorIn,
) -> Result<MonitorRecord, ApiError> {
    editable(app, principal, id).await?;
    let (monitor, model) = check_monitor(app, principal, declared).await?;
    if monitor.id != id {
        return Err(super::support::invalid("$.id", format!("must be {id:?}, the monitor of the path")));
    }
    let (store, spec, model_id) = (app.store.clone(), doc::to_doc(&monitor).to_string(), model.id);
    blocking(move || store.update_monitor(&monitor.id, model_id, &spec, now_ms()))
        .await??
        .ok_or_else(|| monitor_not_found(id))
}

/// Deletes a monitor, as `DELETE /monitors/{id}` does (the web UI's delete button too).
pub(crate) async fn delete_declared(app: &Arc<AppState>, principal: &Principal, id: &str) -> Result<(), ApiError> {
    let current = editable(app, principal, id).await?;
    let store = app.store.clone();
    blocking(move || store.delete_monitor(&current.id)).await??;
    Ok(())
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    delete_declared(&app, &principal, &path(p)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
