//! MLflow experiments and runs: create, get, update, search, and logging params,
//! metrics, tags and input datasets. An experiment belongs to a project (the default
//! one, or the caller's only project); runs are reached through their experiment.

use super::{Params, check_key, invalid, not_found, number, tags_json};
use crate::auth::Principal;
use crate::auth::gate::check_project;
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use crate::wire::time::now_ms;
use axum::Json;
use axum::extract::{Extension, State};
use serde_json::{Value, json};
use sightline_core::Need;
use sightline_store::{ExperimentRecord, MetricPoint, NewRun, RunInput, RunLog, RunRecord};
use std::sync::Arc;

type Answer = Result<Json<Value>, ApiError>;

/// Most runs one search answers.
const MAX_RUNS: usize = 50_000;

pub fn experiment_json(e: &ExperimentRecord) -> Value {
    json!({
        "experiment_id": e.id.to_string(),
        "name": e.name,
        "artifact_location": format!("mlflow-artifacts:/{}", e.id),
        "lifecycle_stage": e.lifecycle,
        "creation_time": e.created_ms,
        "last_update_time": e.updated_ms,
        "tags": tags_json(&e.tags),
    })
}

pub fn artifact_root(run: &RunRecord) -> String {
    format!("{}/{}/artifacts", run.experiment_id, run.run_id)
}

fn run_info(r: &RunRecord) -> Value {
    json!({
        "run_id": r.run_id,
        "run_uuid": r.run_id,
        "run_name": r.name,
        "experiment_id": r.experiment_id.to_string(),
        "user_id": r.user_id,
        "status": r.status,
        "start_time": r.start_ms,
        "end_time": r.end_ms,
        "artifact_uri": format!("mlflow-artifacts:/{}", artifact_root(r)),
        "lifecycle_stage": r.lifecycle,
    })
}

pub fn run_json(r: &RunRecord) -> Value {
    let metrics: Vec<Value> = r
        .metrics
        .iter()
        .map(|m| json!({"key": m.key, "value": number(m.value), "timestamp": m.ts_ms, "step": m.step}))
        .collect();
    let inputs: Vec<Value> = r
        .inputs
        .iter()
        .map(|i| {
            let tags = if i.context.is_empty() {
                json!([])
            } else {
                json!([{"key": "mlflow.data.context", "value": i.context}])
            };
            json!({"tags": tags, "dataset": {
                "name": i.name, "digest": i.digest, "source_type": i.source_type, "source": i.source,
                "schema": i.schema, "profile": i.profile,
            }})
        })
        .collect();
    json!({
        "info": run_info(r),
        "data": {"metrics": metrics, "params": tags_json(&r.params), "tags": tags_json(&r.tags)},
        "inputs": {"dataset_inputs": inputs},
    })
}

fn parse_experiment_id(field: &str, s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>().ok().filter(|id| *id >= 0).ok_or_else(|| invalid(field, "must be an experiment id (an integer)"))
}

/// The experiment, if the caller may `need` it (404 when they know nothing of its project).
pub async fn experiment(app: &Arc<AppState>, p: &Principal, id: i64, need: Need) -> Result<ExperimentRecord, ApiError> {
    let store = app.store.clone();
    let found = blocking(move || store.get_experiment(id)).await??;
    let missing = || not_found(format!("experiment {id} does not exist"));
    let e = found.ok_or_else(missing)?;
    check_project(p, e.project_id, need, missing)?;
    Ok(e)
}

/// The run, if the caller may `need` its experiment.
pub async fn run(app: &Arc<AppState>, p: &Principal, run_id: &str, need: Need) -> Result<RunRecord, ApiError> {
    let store = app.store.clone();
    let id = run_id.to_owned();
    let found = blocking(move || store.get_run(&id)).await??;
    let missing = || not_found(format!("run {run_id:?} does not exist"));
    let r = found.ok_or_else(missing)?;
    check_project(p, r.project_id, need, missing)?;
    Ok(r)
}

pub async fn create_experiment(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let name = params.req("name")?;
    if name.len() > 500 || name.chars().any(char::is_control) {
        return Err(invalid("name", "must have at most 500 characters and no control characters"));
    }
    if let Some(location) = params.opt("artifact_location")?.filter(|l| !l.is_empty()) {
        return Err(invalid(
            "artifact_location",
            &format!("{location:?} is not supported: Sightline keeps artifacts itself (mlflow-artifacts:/)"),
        ));
    }
    let tags = params.key_values("tags")?;
    let project = crate::routes::models::owning_project(&app, &p, None).await?;
    check_project(&p, project.id, Need::Edit, || not_found(format!("project {:?} does not exist", project.name)))?;
    let store = app.store.clone();
    let id = blocking(move || store.create_experiment(project.id, &name, &tags, now_ms())).await??;
    Ok(Json(json!({"experiment_id": id.to_string()})))
}

pub async fn get_experiment(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let id = parse_experiment_id("experiment_id", &params.req("experiment_id")?)?;
    let e = experiment(&app, &p, id, Need::Read).await?;
    Ok(Json(json!({"experiment": experiment_json(&e)})))
}

pub async fn get_experiment_by_name(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let name = params.req("experiment_name")?;
    let store = app.store.clone();
    let lookup = name.clone();
    let found = blocking(move || store.experiment_by_name(&lookup)).await??;
    let missing = || not_found(format!("experiment {name:?} does not exist"));
    let e = found.ok_or_else(missing)?;
    check_project(&p, e.project_id, Need::Read, missing)?;
    Ok(Json(json!({"experiment": experiment_json(&e)})))
}

pub async fn search_experiments(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let view = params.opt("view_type")?.unwrap_or_else(|| "ACTIVE_ONLY".into());
    let filter = params.opt("filter")?.unwrap_or_default();
    let filter = super::filter::parse(&filter)?;
    let readable = p.projects_allowing(Need::Read);
    let store = app.store.clone();
    let all = blocking(move || store.list_experiments(readable.as_deref())).await??;
    let items: Vec<Value> = all
        .iter()
        .filter(|e| lifecycle_matches(&view, &e.lifecycle))
        .filter(|e| filter.matches(&|field| (field == "name").then(|| e.name.clone())))
        .map(experiment_json)
        .collect();
    Ok(Json(json!({"experiments": items})))
}

fn lifecycle_matches(view: &str, lifecycle: &str) -> bool {
    match view {
        "ALL" | "3" => true,
        "DELETED_ONLY" | "2" => lifecycle == "deleted",
        _ => lifecycle == "active",
    }
}

async fn experiment_change(
    app: Arc<AppState>,
    p: &Principal,
    params: &Params,
    lifecycle: Option<&'static str>,
) -> Answer {
    let id = parse_experiment_id("experiment_id", &params.req("experiment_id")?)?;
    experiment(&app, p, id, Need::Edit).await?;
    if id == 0 && lifecycle == Some("deleted") {
        return Err(invalid("experiment_id", "the default experiment cannot be deleted"));
    }
    let name = params.opt("new_name")?;
    let store = app.store.clone();
    blocking(move || store.update_experiment(id, name.as_deref(), lifecycle, now_ms())).await??;
    Ok(Json(json!({})))
}

pub async fn update_experiment(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    experiment_change(app, &p, &params, None).await
}

pub async fn delete_experiment(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    experiment_change(app, &p, &params, Some("deleted")).await
}

pub async fn restore_experiment(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    experiment_change(app, &p, &params, Some("active")).await
}

pub async fn set_experiment_tag(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let id = parse_experiment_id("experiment_id", &params.req("experiment_id")?)?;
    experiment(&app, &p, id, Need::Edit).await?;
    let key = params.req("key")?;
    check_key("key", &key)?;
    let value = params.opt("value")?.unwrap_or_default();
    let store = app.store.clone();
    blocking(move || store.set_experiment_tag(id, &key, &value)).await??;
    Ok(Json(json!({})))
}

pub async fn create_run(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let experiment_id =
        parse_experiment_id("experiment_id", &params.opt("experiment_id")?.unwrap_or_else(|| "0".into()))?;
    let e = experiment(&app, &p, experiment_id, Need::Edit).await?;
    if e.lifecycle != "active" {
        return Err(invalid("experiment_id", "names a deleted experiment"));
    }
    let tags = params.key_values("tags")?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let name = params
        .opt("run_name")?
        .or_else(|| tags.iter().find(|(k, _)| k == "mlflow.runName").map(|(_, v)| v.clone()))
        .unwrap_or_else(|| format!("run-{}", &run_id[..8]));
    let new = NewRun {
        run_id: run_id.clone(),
        experiment_id,
        name,
        user_id: params.opt("user_id")?.filter(|u| !u.is_empty()).unwrap_or_else(|| p.actor.clone()),
        start_ms: params.opt_i64("start_time")?.unwrap_or_else(now_ms),
        tags,
    };
    let store = app.store.clone();
    let created = blocking(move || {
        store.create_run(&new)?;
        store.get_run(&new.run_id)
    })
    .await??;
    let r = created.ok_or_else(|| ApiError::internal("a created run cannot be read back"))?;
    Ok(Json(json!({"run": run_json(&r)})))
}

pub async fn get_run(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let id = params.opt("run_id")?.or(params.opt("run_uuid")?).ok_or_else(|| invalid("run_id", "is missing"))?;
    let r = run(&app, &p, &id, Need::Read).await?;
    Ok(Json(json!({"run": run_json(&r)})))
}

const STATUSES: [&str; 5] = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];

pub async fn update_run(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let id = params.opt("run_id")?.or(params.opt("run_uuid")?).ok_or_else(|| invalid("run_id", "is missing"))?;
    run(&app, &p, &id, Need::Edit).await?;
    let status = params.opt("status")?;
    if let Some(s) = &status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(invalid("status", &format!("must be one of {}", STATUSES.join(", "))));
    }
    let end = params.opt_i64("end_time")?;
    let name = params.opt("run_name")?;
    let store = app.store.clone();
    let key = id.clone();
    let updated = blocking(move || {
        store.update_run(&key, status.as_deref(), end, name.as_deref(), None)?;
        store.get_run(&key)
    })
    .await??;
    let r = updated.ok_or_else(|| not_found(format!("run {id:?} does not exist")))?;
    Ok(Json(json!({"run_info": run_info(&r)})))
}

async fn set_run_lifecycle(app: Arc<AppState>, p: &Principal, params: &Params, lifecycle: &'static str) -> Answer {
    let id = params.req("run_id")?;
    run(&app, p, &id, Need::Edit).await?;
    let store = app.store.clone();
    blocking(move || store.update_run(&id, None, None, None, Some(lifecycle))).await??;
    Ok(Json(json!({})))
}

pub async fn delete_run(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    set_run_lifecycle(app, &p, &params, "deleted").await
}

pub async fn restore_run(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    set_run_lifecycle(app, &p, &params, "active").await
}

pub async fn search_runs(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let mut ids = Vec::new();
    for s in params.list("experiment_ids")? {
        let id = parse_experiment_id("experiment_ids", &s)?;
        experiment(&app, &p, id, Need::Read).await?;
        ids.push(id);
    }
    let view = params.opt("run_view_type")?.unwrap_or_else(|| "ACTIVE_ONLY".into());
    let filter = super::filter::parse(&params.opt("filter")?.unwrap_or_default())?;
    let max = params.max_results(1000, MAX_RUNS)?;
    let store = app.store.clone();
    let runs = blocking(move || store.list_runs(&ids, MAX_RUNS)).await??;
    let items: Vec<Value> = runs
        .iter()
        .filter(|r| lifecycle_matches(&view, &r.lifecycle))
        .filter(|r| filter.matches(&|field| run_field(r, field)))
        .take(max)
        .map(run_json)
        .collect();
    Ok(Json(json!({"runs": items})))
}

/// A run's value for a filter field: `params.x`, `metrics.x`, `tags.x`, `attributes.x`.
fn run_field(r: &RunRecord, field: &str) -> Option<String> {
    let find = |list: &[(String, String)], key: &str| list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    if let Some(k) = field.strip_prefix("params.") {
        return find(&r.params, k);
    }
    if let Some(k) = field.strip_prefix("tags.") {
        return find(&r.tags, k);
    }
    if let Some(k) = field.strip_prefix("metrics.") {
        return r.metrics.iter().find(|m| m.key == k).map(|m| m.value.to_string());
    }
    match field.strip_prefix("attributes.").unwrap_or(field) {
        "run_id" | "run_uuid" => Some(r.run_id.clone()),
        "run_name" => Some(r.name.clone()),
        "status" => Some(r.status.clone()),
        "user_id" => Some(r.user_id.clone()),
        "start_time" => Some(r.start_ms.to_string()),
        _ => None,
    }
}

fn metric(field: &str, m: &serde_json::Map<String, Value>, now: i64) -> Result<MetricPoint, ApiError> {
    let p = Params::sub(m.clone());
    let key = p.req("key").map_err(|_| invalid(&format!("{field}.key"), "is missing"))?;
    check_key(&format!("{field}.key"), &key)?;
    let value = p.opt_f64("value")?.ok_or_else(|| invalid(&format!("{field}.value"), "is missing"))?;
    Ok(MetricPoint { key, value, ts_ms: p.opt_i64("timestamp")?.unwrap_or(now), step: p.opt_i64("step")?.unwrap_or(0) })
}

async fn log(app: &Arc<AppState>, p: &Principal, run_id: String, log: RunLog) -> Answer {
    let r = run(app, p, &run_id, Need::Edit).await?;
    if r.lifecycle != "active" {
        return Err(invalid("run_id", "names a deleted run"));
    }
    let store = app.store.clone();
    match blocking(move || store.log_run(&run_id, &log)).await? {
        Ok(()) => Ok(Json(json!({}))),
        // A param logged twice with different values: MLflow answers 400.
        Err(sightline_store::StoreError::Conflict(what)) => {
            Err(ApiError::new(Code::InvalidQuery, format!("the run already has {what}")))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn log_param(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let id = params.opt("run_id")?.or(params.opt("run_uuid")?).ok_or_else(|| invalid("run_id", "is missing"))?;
    let key = params.req("key")?;
    check_key("key", &key)?;
    let value = params.opt("value")?.unwrap_or_default();
    log(&app, &p, id, RunLog { params: vec![(key, value)], ..RunLog::default() }).await
}

pub async fn log_metric(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let id = params.opt("run_id")?.or(params.opt("run_uuid")?).ok_or_else(|| invalid("run_id", "is missing"))?;
    let m = metric("metric", &params.0, now_ms())?;
    log(&app, &p, id, RunLog { metrics: vec![m], ..RunLog::default() }).await
}

pub async fn log_batch(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let id = params.req("run_id")?;
    let now = now_ms();
    let metrics = params
        .objects("metrics")?
        .iter()
        .enumerate()
        .map(|(i, m)| metric(&format!("metrics[{i}]"), m, now))
        .collect::<Result<Vec<_>, _>>()?;
    let batch = RunLog { params: params.key_values("params")?, metrics, tags: params.key_values("tags")? };
    if batch.params.len() + batch.metrics.len() + batch.tags.len() > 2_000 {
        return Err(invalid("metrics", "a batch has at most 1000 metrics, 100 params and 100 tags"));
    }
    log(&app, &p, id, batch).await
}

pub async fn set_tag(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let id = params.opt("run_id")?.or(params.opt("run_uuid")?).ok_or_else(|| invalid("run_id", "is missing"))?;
    let key = params.req("key")?;
    check_key("key", &key)?;
    let value = params.opt("value")?.unwrap_or_default();
    // The client renames a run by setting this tag.
    if key == "mlflow.runName" {
        let store = app.store.clone();
        let (rid, name) = (id.clone(), value.clone());
        run(&app, &p, &id, Need::Edit).await?;
        blocking(move || store.update_run(&rid, None, None, Some(&name), None)).await??;
    }
    log(&app, &p, id, RunLog { tags: vec![(key, value)], ..RunLog::default() }).await
}

pub async fn delete_tag(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let id = params.req("run_id")?;
    let key = params.req("key")?;
    run(&app, &p, &id, Need::Edit).await?;
    let store = app.store.clone();
    blocking(move || store.delete_run_tag(&id, &key)).await??;
    Ok(Json(json!({})))
}

pub async fn log_inputs(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let id = params.req("run_id")?;
    run(&app, &p, &id, Need::Edit).await?;
    let mut inputs = Vec::new();
    for (i, d) in params.objects("datasets")?.into_iter().enumerate() {
        let item = Params::sub(d.clone());
        let context = item
            .key_values("tags")?
            .into_iter()
            .find(|(k, _)| k == "mlflow.data.context")
            .map(|(_, v)| v)
            .unwrap_or_default();
        let ds = match d.get("dataset") {
            Some(Value::Object(m)) => Params::sub(m.clone()),
            _ => return Err(invalid(&format!("datasets[{i}].dataset"), "is missing")),
        };
        let field = |name: &str| ds.opt(name).map(Option::unwrap_or_default);
        inputs.push(RunInput {
            name: ds.req("name").map_err(|_| invalid(&format!("datasets[{i}].dataset.name"), "is missing"))?,
            digest: ds.req("digest").map_err(|_| invalid(&format!("datasets[{i}].dataset.digest"), "is missing"))?,
            source_type: field("source_type")?,
            source: field("source")?,
            schema: field("schema")?,
            profile: field("profile")?,
            context,
        });
    }
    let store = app.store.clone();
    blocking(move || store.log_run_inputs(&id, &inputs)).await??;
    Ok(Json(json!({})))
}

pub async fn metric_history(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let id = params.opt("run_id")?.or(params.opt("run_uuid")?).ok_or_else(|| invalid("run_id", "is missing"))?;
    let key = params.req("metric_key")?;
    run(&app, &p, &id, Need::Read).await?;
    let store = app.store.clone();
    let points = blocking(move || store.metric_history(&id, &key)).await??;
    let items: Vec<Value> = points
        .iter()
        .map(|m| json!({"key": m.key, "value": number(m.value), "timestamp": m.ts_ms, "step": m.step}))
        .collect();
    Ok(Json(json!({"metrics": items})))
}

/// MLflow 3's logged models are not kept (models are logged as run artifacts); the
/// client searches them while listing a run's artifacts, so the search answers empty.
pub async fn search_logged_models(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    for s in params.list("experiment_ids")? {
        experiment(&app, &p, parse_experiment_id("experiment_ids", &s)?, Need::Read).await?;
    }
    Ok(Json(json!({"models": []})))
}
