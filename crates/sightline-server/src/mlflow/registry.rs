//! MLflow's model registry on Sightline's models and versions: registered models and
//! versions (create, get, search, update, delete, rename), tags, stages,
//! `get-latest-versions`, aliases and `get-download-uri`.
//!
//! A model first created through MLflow has no schema: it is a `regression` model with
//! no features unless the tags `sightline.task` (and for classifiers
//! `sightline.classes`, comma-separated, and `sightline.positive_class`) say otherwise;
//! features are appended later with `POST /api/v1/models/{model}/features`.

use super::tracking::{artifact_root, run};
use super::{Params, check_key, invalid, not_found, number, tags_json};
use crate::auth::Principal;
use crate::auth::gate::check_project;
use crate::error::{ApiError, Code};
use crate::state::{AppState, LoadedModel, blocking};
use crate::wire::time::now_ms;
use axum::Json;
use axum::extract::{Extension, State};
use serde_json::{Value, json};
use sightline_core::names::check_slug;
use sightline_core::{ModelSpec, Need, Task};
use sightline_store::{DataVersion, Transition, VersionChange, VersionDetails};
use std::sync::Arc;

type Answer = Result<Json<Value>, ApiError>;

pub const STAGES: [&str; 4] = ["None", "Staging", "Production", "Archived"];

pub fn version_json(model: &str, d: &VersionDetails) -> Value {
    json!({
        "name": model,
        "version": d.version.name,
        "creation_timestamp": d.version.created_ms,
        "last_updated_timestamp": d.updated_ms,
        "user_id": d.user_id,
        "current_stage": d.stage,
        "description": d.version.description,
        "source": d.source,
        "run_id": d.run_id,
        "status": "READY",
        "tags": tags_json(&d.tags),
        "aliases": d.aliases,
        "run_link": "",
    })
}

/// The latest version in each stage (MLflow's `latest_versions`).
fn latest_per_stage<'a>(versions: &'a [VersionDetails], stages: &[String]) -> Vec<&'a VersionDetails> {
    let mut latest: Vec<&VersionDetails> = Vec::new();
    for v in versions {
        if !stages.is_empty() && !stages.iter().any(|s| s.eq_ignore_ascii_case(&v.stage)) {
            continue;
        }
        match latest.iter_mut().find(|l| l.stage == v.stage) {
            Some(l) if l.version.created_ms <= v.version.created_ms => *l = v,
            Some(_) => {}
            None => latest.push(v),
        }
    }
    latest
}

async fn model_json(app: &Arc<AppState>, m: &LoadedModel) -> Result<Value, ApiError> {
    let store = app.store.clone();
    let id = m.record.id;
    let (tags, aliases, versions) = blocking(move || -> sightline_store::Result<_> {
        Ok((store.model_tags(id)?, store.aliases(id)?, store.model_version_details(id)?))
    })
    .await??;
    let name = &m.record.spec.name;
    let updated = versions.iter().map(|v| v.updated_ms).chain([m.record.created_ms]).max().unwrap_or(0);
    let latest: Vec<Value> = latest_per_stage(&versions, &[]).into_iter().map(|v| version_json(name, v)).collect();
    Ok(json!({
        "name": name,
        "creation_timestamp": m.record.created_ms,
        "last_updated_timestamp": updated,
        "description": m.record.spec.description,
        "latest_versions": latest,
        "tags": tags_json(&tags),
        "aliases": aliases.iter().map(|a| json!({"alias": a.alias, "version": a.version})).collect::<Vec<_>>(),
    }))
}

/// The model, if the caller may `need` it; RESOURCE_DOES_NOT_EXIST otherwise.
async fn model(app: &Arc<AppState>, p: &Principal, name: &str, need: Need) -> Result<Arc<LoadedModel>, ApiError> {
    let missing = || not_found(format!("registered model {name:?} does not exist"));
    let m = match app.model(name).await {
        Ok(m) => m,
        Err(e) if e.code == Code::ModelNotFound => return Err(missing()),
        Err(e) => return Err(e),
    };
    check_project(p, m.record.project_id, need, missing)?;
    Ok(m)
}

async fn version(app: &Arc<AppState>, m: &LoadedModel, name: &str) -> Result<VersionDetails, ApiError> {
    let store = app.store.clone();
    let (model_id, lookup) = (m.record.id, name.to_owned());
    let found = blocking(move || -> sightline_store::Result<_> {
        match store.get_version(model_id, &lookup)? {
            Some(v) => store.version_details(v.id),
            None => Ok(None),
        }
    })
    .await??;
    found.ok_or_else(|| not_found(format!("model version {name:?} of {:?} does not exist", m.record.spec.name)))
}

/// The spec of a model first created through MLflow (see the module docs).
fn spec_from_tags(name: &str, description: String, tags: &[(String, String)]) -> Result<ModelSpec, ApiError> {
    let tag = |k: &str| tags.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_owned());
    let task = match tag("sightline.task") {
        None => Task::Regression,
        Some(t) => Task::parse(&t).ok_or_else(|| {
            invalid("tags.sightline.task", "must be regression, binary_classification or multiclass_classification")
        })?,
    };
    let classes: Vec<String> = tag("sightline.classes")
        .map(|c| c.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let positive_class = match task {
        Task::BinaryClassification => tag("sightline.positive_class").or_else(|| classes.get(1).cloned()),
        _ => None,
    };
    let spec = ModelSpec { name: name.to_owned(), task, features: Vec::new(), classes, positive_class, description };
    spec.validate().map_err(|problems| {
        let text: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        ApiError::new(Code::InvalidQuery, format!("the model cannot be created: {}", text.join("; ")))
    })?;
    Ok(spec)
}

pub async fn create_model(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let name = params.req("name")?;
    check_slug(&name).map_err(|m| invalid("name", &format!("{name:?}: {m}")))?;
    let tags = params.key_values("tags")?;
    let spec = spec_from_tags(&name, params.opt("description")?.unwrap_or_default(), &tags)?;
    let project = crate::routes::models::owning_project(&app, &p, None).await?;
    check_project(&p, project.id, Need::Edit, || not_found(format!("project {:?} does not exist", project.name)))?;
    let store = app.store.clone();
    let record = blocking(move || -> sightline_store::Result<_> {
        let record = store.create_model(&spec, project.id, now_ms())?;
        for (k, v) in &tags {
            store.set_model_tag(record.id, k, Some(v))?;
        }
        Ok(record)
    })
    .await??;
    let loaded = app.remember(record);
    Ok(Json(json!({"registered_model": model_json(&app, &loaded).await?})))
}

pub async fn get_model(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Read).await?;
    Ok(Json(json!({"registered_model": model_json(&app, &m).await?})))
}

pub async fn search_models(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let filter = super::filter::parse(&params.opt("filter")?.unwrap_or_default())?;
    let max = params.max_results(100, 1000)?;
    let readable = p.projects_allowing(Need::Read);
    let store = app.store.clone();
    let all = blocking(move || store.list_models(None, 100_000, readable.as_deref())).await??;
    let mut items = Vec::new();
    for record in all {
        let name = record.spec.name.clone();
        let store = app.store.clone();
        let id = record.id;
        let tags = blocking(move || store.model_tags(id)).await??;
        let field = |f: &str| match f {
            "name" => Some(name.clone()),
            t => t.strip_prefix("tags.").and_then(|k| tags.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())),
        };
        if filter.matches(&field) {
            items.push(model_json(&app, &app.remember(record)).await?);
            if items.len() == max {
                break;
            }
        }
    }
    Ok(Json(json!({"registered_models": items})))
}

pub async fn update_model(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Edit).await?;
    if let Some(description) = params.opt("description")? {
        let mut spec = m.record.spec.clone();
        spec.description = description;
        let expected = m.record.spec.features.len();
        let store = app.store.clone();
        let updated = blocking(move || store.update_model_spec(&spec, expected)).await??;
        if let Some(record) = updated {
            app.remember(record);
        }
    }
    let m = model(&app, &p, &m.record.spec.name, Need::Read).await?;
    Ok(Json(json!({"registered_model": model_json(&app, &m).await?})))
}

pub async fn rename_model(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Edit).await?;
    let new_name = params.req("new_name")?;
    check_slug(&new_name).map_err(|e| invalid("new_name", &format!("{new_name:?}: {e}")))?;
    let store = app.store.clone();
    let (id, target) = (m.record.id, new_name.clone());
    match blocking(move || store.rename_model(id, &target)).await? {
        Err(sightline_store::StoreError::InUse(why)) => {
            return Err(ApiError::new(Code::InvalidQuery, format!("cannot rename: {why}")));
        }
        other => other?,
    }
    app.forget(&m.record.spec.name);
    let renamed = model(&app, &p, &new_name, Need::Read).await?;
    Ok(Json(json!({"registered_model": model_json(&app, &renamed).await?})))
}

pub async fn delete_model(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Edit).await?;
    let store = app.store.clone();
    let id = m.record.id;
    in_use(blocking(move || store.delete_model(id)).await?)?;
    app.forget(&m.record.spec.name);
    Ok(Json(json!({})))
}

/// A refused delete is MLflow's INVALID_PARAMETER_VALUE (400), not a conflict.
fn in_use(r: sightline_store::Result<()>) -> Result<(), ApiError> {
    match r {
        Err(sightline_store::StoreError::InUse(why)) => {
            Err(ApiError::new(Code::InvalidQuery, format!("cannot delete: {why}; Sightline keeps monitored data")))
        }
        other => Ok(other?),
    }
}

async fn model_tag(app: Arc<AppState>, p: &Principal, params: &Params, set: bool) -> Answer {
    let m = model(&app, p, &params.req("name")?, Need::Edit).await?;
    let key = params.req("key")?;
    check_key("key", &key)?;
    let value = if set { Some(params.opt("value")?.unwrap_or_default()) } else { None };
    let store = app.store.clone();
    let id = m.record.id;
    blocking(move || store.set_model_tag(id, &key, value.as_deref())).await??;
    Ok(Json(json!({})))
}

pub async fn set_model_tag(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    model_tag(app, &p, &params, true).await
}

pub async fn delete_model_tag(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    model_tag(app, &p, &params, false).await
}

/// Checks a version's source URI: `runs:/<run>/<path>`, `mlflow-artifacts:/<path>`, or
/// a remote store URL (`s3://`, `gs://`, `https://`...). Local paths and `file:` are
/// refused (a server must not be pointed at its own files), as are traversal segments.
pub fn check_source(source: &str) -> Result<(), ApiError> {
    if let Some(rest) = source.strip_prefix("runs:/") {
        let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
        if run_id.is_empty() {
            return Err(invalid("source", "runs:/ needs a run id"));
        }
        return crate::artifacts::check_path("source", path, true);
    }
    if let Some(rest) = source.strip_prefix("mlflow-artifacts:/") {
        return crate::artifacts::check_path("source", rest, false);
    }
    let Some((scheme, rest)) = source.split_once("://") else {
        return Err(invalid("source", &format!("{source:?} is not a runs:/, mlflow-artifacts:/ or remote URI")));
    };
    if !["s3", "gs", "wasbs", "abfss", "https", "http", "hdfs"].contains(&scheme) {
        return Err(invalid("source", &format!("the scheme {scheme:?} is not accepted")));
    }
    let decoded = percent_encoding::percent_decode_str(rest).decode_utf8_lossy();
    if rest.chars().chain(decoded.chars()).any(|c| c.is_control() || c == '\\')
        || rest.split('/').chain(decoded.split('/')).any(|s| s == ".." || s == ".")
    {
        return Err(invalid("source", "must not contain '.'/'..' segments, backslashes or control characters"));
    }
    Ok(())
}

pub async fn create_version(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Edit).await?;
    let source = params.req("source")?;
    check_source(&source)?;
    let mut run_id = params.opt("run_id")?.unwrap_or_default();
    if run_id.is_empty()
        && let Some(rest) = source.strip_prefix("runs:/")
    {
        run_id = rest.split('/').next().unwrap_or_default().to_owned();
    }
    let mut change = VersionChange {
        description: params.opt("description")?,
        source: Some(source),
        user_id: Some(p.actor.clone()),
        tags: params.key_values("tags")?,
        ..VersionChange::default()
    };
    if !run_id.is_empty() {
        // The version keeps what its training run logged: params, final metrics, the
        // git commit and the datasets it read.
        let r = run(&app, &p, &run_id, Need::Read).await?;
        change.params = r.params.clone();
        change.metrics = r.metrics.iter().map(|m| (m.key.clone(), m.value)).collect();
        change.git_commit = r.tags.iter().find(|(k, _)| k == "mlflow.source.git.commit").map(|(_, v)| v.clone());
        change.data = r
            .inputs
            .iter()
            .map(|i| DataVersion { kind: "mlflow".into(), name: i.name.clone(), version: i.digest.clone() })
            .collect();
        change.run_id = Some(run_id);
    }
    let store = app.store.clone();
    let model_id = m.record.id;
    let created = blocking(move || -> sightline_store::Result<_> {
        let v = store.create_registry_version(model_id, None, &change, now_ms())?;
        store.version_details(v.id)
    })
    .await??;
    let d = created.ok_or_else(|| ApiError::internal("a created version cannot be read back"))?;
    Ok(Json(json!({"model_version": version_json(&m.record.spec.name, &d)})))
}

pub async fn get_version(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Read).await?;
    let d = version(&app, &m, &params.req("version")?).await?;
    Ok(Json(json!({"model_version": version_json(&m.record.spec.name, &d)})))
}

pub async fn search_versions(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let filter = super::filter::parse(&params.opt("filter")?.unwrap_or_default())?;
    let max = params.max_results(10_000, 200_000)?;
    let readable = p.projects_allowing(Need::Read);
    let store = app.store.clone();
    let found = blocking(move || -> sightline_store::Result<Vec<(String, Vec<VersionDetails>)>> {
        let mut out = Vec::new();
        for m in store.list_models(None, 100_000, readable.as_deref())? {
            out.push((m.spec.name.clone(), store.model_version_details(m.id)?));
        }
        Ok(out)
    })
    .await??;
    let mut items = Vec::new();
    for (name, versions) in &found {
        for d in versions.iter().rev() {
            let field = |f: &str| match f {
                "name" => Some(name.clone()),
                "run_id" => Some(d.run_id.clone()),
                "source" | "source_path" => Some(d.source.clone()),
                "version" | "version_number" => Some(d.version.name.clone()),
                "current_stage" => Some(d.stage.clone()),
                t => t.strip_prefix("tags.").and_then(|k| d.tags.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())),
            };
            if filter.matches(&field) && items.len() < max {
                items.push(version_json(name, d));
            }
        }
    }
    Ok(Json(json!({"model_versions": items})))
}

pub async fn update_version(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Edit).await?;
    let d = version(&app, &m, &params.req("version")?).await?;
    let change = VersionChange { description: params.opt("description")?, ..VersionChange::default() };
    let store = app.store.clone();
    let id = d.version.id;
    let updated = blocking(move || {
        store.update_version(id, &change, now_ms())?;
        store.version_details(id)
    })
    .await??;
    let d = updated.ok_or_else(|| not_found("the version was deleted meanwhile".into()))?;
    Ok(Json(json!({"model_version": version_json(&m.record.spec.name, &d)})))
}

pub async fn delete_version(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Edit).await?;
    let d = version(&app, &m, &params.req("version")?).await?;
    let store = app.store.clone();
    let id = d.version.id;
    in_use(blocking(move || store.delete_version(id)).await?)?;
    Ok(Json(json!({})))
}

async fn version_tag(app: Arc<AppState>, p: &Principal, params: &Params, set: bool) -> Answer {
    let m = model(&app, p, &params.req("name")?, Need::Edit).await?;
    let d = version(&app, &m, &params.req("version")?).await?;
    let key = params.req("key")?;
    check_key("key", &key)?;
    let store = app.store.clone();
    let id = d.version.id;
    if set {
        let change =
            VersionChange { tags: vec![(key, params.opt("value")?.unwrap_or_default())], ..Default::default() };
        blocking(move || store.update_version(id, &change, now_ms())).await??;
    } else {
        blocking(move || store.delete_version_tag(id, &key)).await??;
    }
    Ok(Json(json!({})))
}

pub async fn set_version_tag(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    version_tag(app, &p, &params, true).await
}

pub async fn delete_version_tag(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    version_tag(app, &p, &params, false).await
}

/// MLflow's stage name for any capitalization, or 400.
pub fn stage_name(field: &str, s: &str) -> Result<&'static str, ApiError> {
    STAGES
        .iter()
        .find(|st| st.eq_ignore_ascii_case(s))
        .copied()
        .ok_or_else(|| invalid(field, &format!("{s:?} is not a stage ({})", STAGES.join(", "))))
}

pub async fn transition_stage(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Edit).await?;
    let d = version(&app, &m, &params.req("version")?).await?;
    let stage = stage_name("stage", &params.req("stage")?)?;
    if crate::gate::is_production(stage) {
        crate::gate::enforce(&app, &m, &d, &p.actor).await?;
    }
    let archive = params.opt_bool("archive_existing_versions")?.unwrap_or(false);
    let reason = params.opt("comment")?.unwrap_or_default();
    let store = app.store.clone();
    let (model_id, id, actor) = (m.record.id, d.version.id, p.actor.clone());
    let updated = blocking(move || {
        let t = Transition { actor: &actor, reason: &reason, ts_ms: now_ms() };
        store.set_stage(model_id, id, stage, archive, &t)?;
        store.version_details(id)
    })
    .await??;
    let d = updated.ok_or_else(|| not_found("the version was deleted meanwhile".into()))?;
    Ok(Json(json!({"model_version": version_json(&m.record.spec.name, &d)})))
}

pub async fn latest_versions(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Read).await?;
    let stages = params
        .list("stages")?
        .iter()
        .map(|s| stage_name("stages", s).map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()?;
    let store = app.store.clone();
    let id = m.record.id;
    let versions = blocking(move || store.model_version_details(id)).await??;
    let items: Vec<Value> =
        latest_per_stage(&versions, &stages).into_iter().map(|v| version_json(&m.record.spec.name, v)).collect();
    Ok(Json(json!({"model_versions": items})))
}

/// Aliases: letters, digits, `_` and `-`, not a version number (`v1` and `1` would be
/// ambiguous in `models:/name@alias`), not `latest`.
pub fn check_alias(alias: &str) -> Result<(), ApiError> {
    alias_problem(alias).map_or(Ok(()), |m| Err(invalid("alias", &m)))
}

/// What is wrong with `alias` as an alias name, if anything (the message names the
/// value, not the field: each API puts it in its own form).
pub fn alias_problem(alias: &str) -> Option<String> {
    if let Err(m) = check_slug(alias) {
        return Some(format!("{alias:?}: {m}"));
    }
    (alias.eq_ignore_ascii_case("latest") || alias.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{alias:?} is reserved"))
}

pub async fn set_alias(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Edit).await?;
    let alias = params.req("alias")?;
    check_alias(&alias)?;
    let d = version(&app, &m, &params.req("version")?).await?;
    if crate::gate::is_production(&alias) {
        crate::gate::enforce(&app, &m, &d, &p.actor).await?;
    }
    let store = app.store.clone();
    let (model_id, id, actor) = (m.record.id, d.version.id, p.actor.clone());
    blocking(move || {
        let t = Transition { actor: &actor, reason: "set through the MLflow API", ts_ms: now_ms() };
        store.set_alias(model_id, &alias, Some(id), &t)
    })
    .await??;
    Ok(Json(json!({})))
}

pub async fn delete_alias(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Edit).await?;
    let alias = params.req("alias")?;
    let store = app.store.clone();
    let (model_id, actor) = (m.record.id, p.actor.clone());
    blocking(move || {
        let t = Transition { actor: &actor, reason: "deleted through the MLflow API", ts_ms: now_ms() };
        store.set_alias(model_id, &alias, None, &t)
    })
    .await??;
    Ok(Json(json!({})))
}

pub async fn get_by_alias(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Read).await?;
    let alias = params.req("alias")?;
    let store = app.store.clone();
    let id = m.record.id;
    let aliases = blocking(move || store.aliases(id)).await??;
    let a = aliases.into_iter().find(|a| a.alias == alias).ok_or_else(|| {
        not_found(format!("registered model alias {alias:?} of {:?} does not exist", m.record.spec.name))
    })?;
    let store = app.store.clone();
    let d = blocking(move || store.version_details(a.version_id))
        .await??
        .ok_or_else(|| not_found("the version is gone".into()))?;
    Ok(Json(json!({"model_version": version_json(&m.record.spec.name, &d)})))
}

/// Where the client downloads a version's files from: run sources become the run's
/// proxied artifact location.
pub async fn download_uri(
    State(app): State<Arc<AppState>>,
    Extension(p): Extension<Arc<Principal>>,
    params: Params,
) -> Answer {
    let m = model(&app, &p, &params.req("name")?, Need::Read).await?;
    let d = version(&app, &m, &params.req("version")?).await?;
    let resolved = match d.source.strip_prefix("runs:/") {
        Some(rest) => {
            let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
            let r = run(&app, &p, run_id, Need::Read).await?;
            let root = artifact_root(&r);
            if path.is_empty() {
                format!("mlflow-artifacts:/{root}")
            } else {
                format!("mlflow-artifacts:/{root}/{path}")
            }
        }
        None => d.source.clone(),
    };
    Ok(Json(json!({"artifact_uri": resolved})))
}

/// Training metrics as the native API shows them.
pub fn metrics_json(metrics: &[(String, f64)]) -> Value {
    Value::Object(metrics.iter().map(|(k, v)| (k.clone(), number(*v))).collect())
}

#[cfg(test)]
mod tests {
    use super::{check_alias, check_source};

    #[test]
    fn sources_are_checked() {
        for good in ["runs:/abc/model", "runs:/abc", "mlflow-artifacts:/0/abc/artifacts/model", "s3://bucket/m/1"] {
            assert!(check_source(good).is_ok(), "{good} refused");
        }
        for bad in [
            "/etc/passwd",
            "file:///etc/passwd",
            "runs:/abc/../../x",
            "mlflow-artifacts:/../x",
            "mlflow-artifacts:/0/%2e%2e/x",
            "s3://bucket/../x",
            "s3://bucket/%2E%2E/x",
            "model",
            "runs:/abc/a\0b",
            "ftp://x/y",
        ] {
            assert!(check_source(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn aliases_are_checked() {
        assert!(check_alias("champion").is_ok());
        assert!(check_alias("production").is_ok());
        for bad in ["", "latest", "12", "a b", "a/b"] {
            assert!(check_alias(bad).is_err(), "{bad} accepted");
        }
    }
}
