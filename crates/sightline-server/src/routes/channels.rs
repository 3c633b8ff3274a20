//! Notification channels: create, list, get (with the recent delivery log), delete.
//! Configurations are sealed at rest and only ever shown masked.

use super::models::{owning_project, project_not_found};
use super::support::{PageQuery, invalid, page_answer, page_request, path, query, read_json};
use crate::auth::Principal;
use crate::auth::gate::check_project;
use crate::error::{ApiError, Code};
use crate::notify::channel::ChannelConfig;
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
use sightline_core::names::check_slug;
use sightline_store::ChannelRecord;
use std::sync::Arc;

/// Delivery attempts shown with a channel.
const DELIVERIES_SHOWN: usize = 50;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateChannel {
    pub project: Option<String>,
    pub name: String,
    pub kind: String,
    pub min_severity: Option<String>,
    pub config: Value,
}

fn channel_json(app: &AppState, c: &ChannelRecord, project: &str) -> Value {
    let config = ChannelConfig::open(&app.keys.current(), &c.kind, c.project_id, &c.name, &c.config)
        .map(|c| c.masked())
        .unwrap_or_else(|_| json!({ "error": "the configuration cannot be decrypted" }));
    json!({
        "id": c.id,
        "project": project,
        "name": c.name,
        "kind": c.kind,
        "min_severity": c.min_severity,
        "config": config,
        "created_at": format(c.created_ms),
    })
}

pub async fn create(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let req: CreateChannel = read_json(&headers, body).await?;
    let (saved, project) = create_for(&app, &principal, req).await?;
    Ok((StatusCode::CREATED, Json(channel_json(&app, &saved, &project))).into_response())
}

/// Creates a channel as `POST /channels` does (the web UI's settings too): the name,
/// severity and configuration checked (errors name the field), admin access to the
/// project, the configuration sealed. Answers the record and its project's name.
pub(crate) async fn create_for(
    app: &Arc<AppState>,
    principal: &Principal,
    req: CreateChannel,
) -> Result<(ChannelRecord, String), ApiError> {
    check_slug(&req.name).map_err(|m| invalid("$.name", m))?;
    let min = req.min_severity.as_deref().unwrap_or("info");
    let min_severity = Severity::parse(min)
        .ok_or_else(|| invalid("$.min_severity", format!("{min:?} is not one of info, low, medium, high, critical")))?;
    let config = ChannelConfig::parse(&req.kind, &req.config)
        .map_err(|errors| ApiError::validation("the channel is not valid", errors))?;
    let project = owning_project(app, principal, req.project).await?;
    check_project(principal, project.id, Need::Admin, || project_not_found(&project.name))?;
    let sealed = config.seal(&app.keys.current(), project.id, &req.name).map_err(ApiError::internal)?;
    let record = ChannelRecord {
        id: 0,
        project_id: project.id,
        name: req.name,
        kind: req.kind,
        min_severity: min_severity.as_str().into(),
        config: sealed,
        created_ms: now_ms(),
    };
    let store = app.store.clone();
    let saved = blocking(move || store.create_channel(&record)).await??;
    Ok((saved, project.name))
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (page, limit) = page_request(q.cursor.as_deref(), q.limit, |k| k.parse::<i64>().ok())?;
    let allowed = principal.projects_allowing(Need::Admin);
    let store = app.store.clone();
    let mut channels = blocking(move || store.list_channels(allowed.as_deref(), &page)).await??;
    let next = page_answer(&mut channels, limit, |c| c.id.to_string());
    let mut items = Vec::with_capacity(channels.len());
    for c in &channels {
        items.push(channel_json(&app, c, &app.project_name(c.project_id).await?));
    }
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

async fn find(app: &Arc<AppState>, principal: &Principal, raw: &str) -> Result<ChannelRecord, ApiError> {
    let not_found = || ApiError::new(Code::ChannelNotFound, format!("channel {raw:?} does not exist"));
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    let store = app.store.clone();
    let channel = blocking(move || store.get_channel(id)).await??.ok_or_else(not_found)?;
    check_project(principal, channel.project_id, Need::Admin, not_found)?;
    Ok(channel)
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let channel = find(&app, &principal, &path(p)?).await?;
    let (store, id) = (app.store.clone(), channel.id);
    let deliveries = blocking(move || store.deliveries(id, DELIVERIES_SHOWN)).await??;
    let mut doc = channel_json(&app, &channel, &app.project_name(channel.project_id).await?);
    doc["deliveries"] = deliveries
        .iter()
        .map(|d| {
            json!({
                "notification": d.notification, "fingerprint": d.fingerprint, "kind": d.kind,
                "attempt": d.attempt, "status": d.status, "error": d.error, "at": format(d.ts_ms),
            })
        })
        .collect();
    Ok(Json(doc))
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    delete_for(&app, &principal, &path(p)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes a channel as `DELETE /channels/{id}` does (the web UI's settings too).
pub(crate) async fn delete_for(app: &Arc<AppState>, principal: &Principal, raw: &str) -> Result<(), ApiError> {
    let channel = find(app, principal, raw).await?;
    let store = app.store.clone();
    blocking(move || store.delete_channel(channel.id)).await??;
    Ok(())
}

/// Longest a test notification may take.
const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sends one test notification now, once, and says whether it was delivered (an
/// unreachable receiver or a refused certificate shows here at once). The attempt is
/// in the delivery log like any other.
pub async fn test(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(test_for(&app, &principal, &path(p)?).await?))
}

/// Sends a test notification as `POST /channels/{id}/test` does (the web UI's settings
/// too); the answer's document.
pub(crate) async fn test_for(app: &Arc<AppState>, principal: &Principal, raw: &str) -> Result<Value, ApiError> {
    use crate::notify::{Notification, Status, dispatcher, worker};
    let channel = find(app, principal, raw).await?;
    let config =
        ChannelConfig::open(&app.keys.current(), &channel.kind, channel.project_id, &channel.name, &channel.config)
            .map_err(ApiError::internal)?;
    let now = now_ms();
    let labels = sightline_core::alerting::Labels::from([
        ("monitor".to_owned(), "sightline-test".to_owned()),
        ("model".to_owned(), "sightline-test".to_owned()),
        ("severity".to_owned(), "info".to_owned()),
    ]);
    let n = Notification {
        id: uuid::Uuid::new_v4().to_string(),
        status: Status::Firing,
        repeat: false,
        fingerprint: "0000000000000000".into(),
        severity: Severity::Info,
        labels,
        annotations: std::collections::BTreeMap::from([(
            "summary".to_owned(),
            format!("test notification of channel {:?}, sent by {}", channel.name, principal.actor),
        )]),
        value: None,
        starts_at_ms: now,
        ends_at_ms: None,
    };
    let client = dispatcher::http_client(TEST_TIMEOUT).map_err(ApiError::internal)?;
    let outcome = match tokio::time::timeout(TEST_TIMEOUT, worker::send_once(&client, &config, &n)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} s", TEST_TIMEOUT.as_secs())),
    };
    let record = sightline_store::DeliveryRecord {
        seq: 0,
        channel_id: channel.id,
        notification: n.id.clone(),
        fingerprint: n.fingerprint.clone(),
        kind: "test".into(),
        attempt: 1,
        status: if outcome.is_ok() { "delivered" } else { "gave_up" }.into(),
        error: outcome.as_ref().err().cloned(),
        ts_ms: now_ms(),
    };
    // Logged and counted as every other attempt is.
    worker::record(&app.store, &app.metrics, config.kind(), record).await;
    Ok(json!({ "delivered": outcome.is_ok(), "error": outcome.err() }))
}
