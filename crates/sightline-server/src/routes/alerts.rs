//! Alerts: list (filtered by monitor and state), one alert with its history, and
//! acknowledgement.

use super::support::{page_answer, page_request, path, query};
use crate::auth::Principal;
use crate::auth::gate::check_project;
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use crate::wire::time::{format, now_ms};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::Need;
use sightline_store::{AlertEventRecord, AlertQuery, AlertRecord};
use std::sync::Arc;

/// History entries shown with an alert.
const HISTORY: usize = 100;
const STATES: [&str; 4] = ["inactive", "pending", "firing", "resolved"];

fn alert_json(a: &AlertRecord) -> Value {
    json!({
        "fingerprint": a.fingerprint,
        "monitor": a.monitor_id,
        "labels": serde_json::from_str::<Value>(&a.labels).unwrap_or(Value::Null),
        "state": a.state,
        "active_since": a.since_ms.map(format),
        "fired_at": a.fired_ms.map(format),
        "resolved_at": a.resolved_ms.map(format),
        "evaluated_at": format(a.last_eval_ms),
        "value": a.value,
        "silenced": a.silenced,
        "acknowledged_at": a.acknowledged_ms.map(format),
        "acknowledged_by": a.acknowledged_by,
    })
}

fn event_json(e: &AlertEventRecord) -> Value {
    json!({ "kind": e.kind, "at": format(e.ts_ms), "value": e.value, "silenced": e.silenced })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    monitor: Option<String>,
    state: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    if let Some(s) = &q.state
        && !STATES.contains(&s.as_str())
    {
        return Err(ApiError::new(Code::InvalidQuery, format!("state: {s:?} is not one of {}", STATES.join(", "))));
    }
    // The cursor is the last alert's monitor id and fingerprint (fingerprints are hex).
    let (page, limit) = page_request(q.cursor.as_deref(), q.limit, |k| {
        k.rsplit_once(' ').map(|(monitor, fingerprint)| (monitor.to_owned(), fingerprint.to_owned()))
    })?;
    let query =
        AlertQuery { projects: principal.projects_allowing(Need::Read), monitor_id: q.monitor, state: q.state, page };
    let store = app.store.clone();
    let mut alerts = blocking(move || store.list_alerts(&query)).await??;
    let next = page_answer(&mut alerts, limit, |a| format!("{} {}", a.monitor_id, a.fingerprint));
    Ok(Json(json!({ "items": alerts.iter().map(alert_json).collect::<Vec<_>>(), "next_cursor": next })))
}

fn alert_not_found(fp: &str) -> ApiError {
    ApiError::new(Code::AlertNotFound, format!("alert {fp:?} does not exist"))
}

/// The alert of the path, if the caller has `need` in its monitor's project.
async fn find(app: &Arc<AppState>, principal: &Principal, fp: &str, need: Need) -> Result<AlertRecord, ApiError> {
    let (store, owned) = (app.store.clone(), fp.to_owned());
    let alert = blocking(move || store.get_alert(&owned)).await??.ok_or_else(|| alert_not_found(fp))?;
    let (store, monitor_id) = (app.store.clone(), alert.monitor_id.clone());
    let monitor = blocking(move || store.get_monitor(&monitor_id)).await??.ok_or_else(|| alert_not_found(fp))?;
    check_project(principal, monitor.project_id, need, || alert_not_found(fp))?;
    Ok(alert)
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let alert = find(&app, &principal, &path(p)?, Need::Read).await?;
    let (store, fp) = (app.store.clone(), alert.fingerprint.clone());
    let events = blocking(move || store.alert_events(&fp, HISTORY)).await??;
    let mut doc = alert_json(&alert);
    doc["history"] = events.iter().map(event_json).collect();
    Ok(Json(doc))
}

pub async fn acknowledge(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let alert = find(&app, &principal, &path(p)?, Need::Edit).await?;
    if !matches!(alert.state.as_str(), "pending" | "firing") {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "alert {:?} is {}; only pending or firing alerts can be acknowledged",
                alert.fingerprint, alert.state
            ),
        ));
    }
    let (store, actor) = (app.store.clone(), principal.actor.clone());
    let updated = blocking(move || -> sightline_store::Result<Option<AlertRecord>> {
        let now = now_ms();
        let before = alert.acknowledged_ms;
        let updated = store.acknowledge_alert(&alert.fingerprint, &actor, now)?;
        if before.is_none() && updated.as_ref().is_some_and(|a| a.acknowledged_ms.is_some()) {
            store.append_alert_event(&AlertEventRecord {
                seq: 0,
                fingerprint: alert.fingerprint.clone(),
                monitor_id: alert.monitor_id.clone(),
                kind: "acknowledged".into(),
                ts_ms: now,
                value: alert.value,
                silenced: alert.silenced,
            })?;
            if let Some(incident) = store.open_incident_of_monitor(&alert.monitor_id)? {
                let text = format!("alert {} acknowledged", alert.fingerprint);
                store.add_timeline(incident.id, "alert_acknowledged", &actor, &text, now)?;
            }
        }
        Ok(updated)
    })
    .await??;
    let updated = updated.ok_or_else(|| ApiError::internal("an alert vanished while acknowledged"))?;
    Ok(Json(alert_json(&updated)))
}
