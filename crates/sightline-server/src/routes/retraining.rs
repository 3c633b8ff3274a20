//! Retraining policies of a model (create or replace, list, get, delete, evaluate now)
//! and the triggers they recorded.

use super::support::{invalid, limit, path, query, read_json};
use crate::error::{ApiError, Code};
use crate::retraining::delivery::trigger_json;
use crate::retraining::doc::{self, PolicyIn};
use crate::retraining::evaluate::{Evaluation, evaluate};
use crate::state::{AppState, LoadedModel, blocking};
use crate::wire::time::{format, now_ms};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::retraining::Observation;
use sightline_store::PolicyRecord;
use std::sync::Arc;

fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::NotFound, format!("policy: retraining policy {id:?} does not exist for this model"))
}

fn policy_json(r: &PolicyRecord) -> Result<Value, ApiError> {
    let mut v: Value = serde_json::from_str(&r.spec).map_err(ApiError::internal)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("created_at".into(), json!(format(r.created_ms)));
        o.insert("updated_at".into(), json!(format(r.updated_ms)));
        o.insert("last_evaluated_at".into(), json!(r.last_evaluated_ms.map(format)));
        o.insert("last_fired_at".into(), json!(r.last_fired_ms.map(format)));
    }
    Ok(v)
}

/// The model's policy `id`, or 404.
async fn stored(app: &Arc<AppState>, model: &LoadedModel, id: String) -> Result<PolicyRecord, ApiError> {
    let store = app.store.clone();
    let lookup = id.clone();
    match blocking(move || store.get_policy(&lookup)).await?? {
        Some(r) if r.model_id == model.id => Ok(r),
        _ => Err(not_found(&id)),
    }
}

/// The channel must be a webhook of the model's project.
async fn check_channel(app: &Arc<AppState>, model: &LoadedModel, channel: Option<i64>) -> Result<(), ApiError> {
    let Some(id) = channel else { return Ok(()) };
    let store = app.store.clone();
    match blocking(move || store.get_channel(id)).await?? {
        Some(c) if c.project_id == model.record.project_id && c.kind == "webhook" => Ok(()),
        Some(c) if c.project_id == model.record.project_id => {
            Err(invalid("$.channel", format!("channel {id} is a {} channel; triggers go to webhooks", c.kind)))
        }
        _ => Err(invalid("$.channel", format!("no webhook channel {id} in the model's project"))),
    }
}

pub async fn put(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let (model_name, id) = path(p)?;
    let model = app.model(&model_name).await?;
    let declared: PolicyIn = read_json(&headers, body).await?;
    let policy = doc::policy(&id, &model.record.spec, declared).map_err(|problems| {
        ApiError::validation("the retraining policy is not valid", crate::wire::json::prefix("$", problems))
    })?;
    check_channel(&app, &model, policy.channel).await?;
    let store = app.store.clone();
    let lookup = id.clone();
    if let Some(other) = blocking(move || store.get_policy(&lookup)).await??
        && other.model_id != model.id
    {
        return Err(ApiError::new(Code::Conflict, format!("policy: {id:?} is the id of another model's policy")));
    }
    let now = now_ms();
    let record = PolicyRecord {
        id: id.clone(),
        model_id: model.id,
        spec: doc::to_doc(&policy).to_string(),
        created_ms: now,
        updated_ms: now,
        last_evaluated_ms: None,
        last_fired_ms: None,
    };
    let store = app.store.clone();
    let created = blocking(move || store.put_policy(&record)).await??;
    let saved = stored(&app, &model, id).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(policy_json(&saved)?)).into_response())
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let (store, id) = (app.store.clone(), model.id);
    let records = blocking(move || store.list_policies(Some(id))).await??;
    let items = records.iter().map(policy_json).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let (model_name, id) = path(p)?;
    let model = app.model(&model_name).await?;
    Ok(Json(policy_json(&stored(&app, &model, id).await?)?))
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let (model_name, id) = path(p)?;
    let model = app.model(&model_name).await?;
    let record = stored(&app, &model, id).await?;
    let store = app.store.clone();
    blocking(move || store.delete_policy(&record.id)).await??;
    Ok(StatusCode::NO_CONTENT)
}

fn observation_json(o: &Observation) -> Value {
    match o {
        Observation::Drift(counts) => json!({ "drifted_features": counts }),
        Observation::Value(v) => json!({ "value": v }),
    }
}

fn evaluation_json(e: &Evaluation, public_url: Option<&str>) -> Value {
    let conditions: Vec<Value> = e
        .policy
        .conditions
        .iter()
        .zip(&e.observations)
        .map(|(c, o)| {
            let mut v = observation_json(o);
            v["condition"] = crate::retraining::doc::condition_json(c);
            v["holds"] = json!(c.holds(o).is_some());
            v
        })
        .collect();
    json!({
        "policy": e.policy.id,
        "fired": e.trigger.is_some(),
        "conditions": conditions,
        "trigger": e.trigger.as_ref().map(|t| trigger_out(t, &e.policy.model, public_url)),
    })
}

fn trigger_out(t: &sightline_store::TriggerRecord, model: &str, public_url: Option<&str>) -> Value {
    let mut v = trigger_json(t, model, public_url);
    v["delivery"] = json!(t.delivery);
    v
}

/// Evaluates the policy now, whether or not it is due (its cooldown still applies).
pub async fn evaluate_now(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let (model_name, id) = path(p)?;
    let model = app.model(&model_name).await?;
    let record = stored(&app, &model, id).await?;
    let evaluation = evaluate(&app, record, now_ms()).await?;
    Ok(Json(evaluation_json(&evaluation, app.public_url.as_deref())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerParams {
    limit: Option<usize>,
}

pub async fn triggers(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<TriggerParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let limit = limit(query(q)?.limit)?;
    let (store, id) = (app.store.clone(), model.id);
    let records = blocking(move || store.list_triggers(id, limit)).await??;
    let items: Vec<Value> =
        records.iter().map(|t| trigger_out(t, &model.record.spec.name, app.public_url.as_deref())).collect();
    Ok(Json(json!({ "items": items })))
}
