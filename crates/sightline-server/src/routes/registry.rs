//! The model registry, native API: a version's registry facts (source, run, git commit,
//! params, training metrics, tags, data versions), its artifacts, its stage, the
//! model's aliases and the history of every stage change and alias move.

use super::support::{invalid, read_json};
use crate::artifacts::check_path;
use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::mlflow::registry::{alias_problem, metrics_json, stage_name};
use crate::state::{AppState, LoadedModel, blocking};
use crate::wire::time::{format, now_ms};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_store::{ArtifactRecord, DataVersion, Transition, VersionChange, VersionDetails};
use std::collections::BTreeMap;
use std::sync::Arc;

fn path_of<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(v)| v).map_err(|e| ApiError::new(Code::InvalidQuery, format!("invalid path: {}", e.body_text())))
}

fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

pub fn details_json(d: &VersionDetails) -> Value {
    json!({
        "name": d.version.name,
        "description": d.version.description,
        "created_at": format(d.version.created_ms),
        "updated_at": format(d.updated_ms),
        "stage": d.stage,
        "aliases": d.aliases,
        "source": d.source,
        "run_id": d.run_id,
        "git_commit": d.git_commit,
        "created_by": d.user_id,
        "params": pairs_json(&d.params),
        "metrics": metrics_json(&d.metrics),
        "tags": pairs_json(&d.tags),
        "data": d.data.iter().map(|x| json!({"kind": x.kind, "name": x.name, "version": x.version})).collect::<Vec<_>>(),
    })
}

/// A version's registry facts; 404 `version_not_found` when the model has no such version.
pub(crate) async fn version(app: &Arc<AppState>, model: &LoadedModel, name: &str) -> Result<VersionDetails, ApiError> {
    let store = app.store.clone();
    let (id, lookup) = (model.id, name.to_owned());
    let found = blocking(move || -> sightline_store::Result<_> {
        match store.get_version(id, &lookup)? {
            Some(v) => store.version_details(v.id),
            None => Ok(None),
        }
    })
    .await??;
    found.ok_or_else(|| ApiError::new(Code::VersionNotFound, format!("version {name:?} does not exist")))
}

/// Data versions the lineage graph knows for a version: the inputs, with their dataset
/// versions, of the latest run of each job that outputs the dataset
/// `sightline:<model>/<version>` (how OpenLineage emitters name a model version).
pub(crate) async fn lineage_data(
    app: &Arc<AppState>,
    model: &LoadedModel,
    version: &str,
) -> Result<Vec<Value>, ApiError> {
    use sightline_store::NodeKind;
    use sightline_store::lineage::Direction;
    let store = app.store.clone();
    let (project, name) = (model.record.project_id, format!("{}/{}", model.record.spec.name, version));
    let found = blocking(move || -> sightline_store::Result<Vec<Value>> {
        let Some(node) = store.lineage_node(project, NodeKind::Dataset, "sightline", &name)? else {
            return Ok(Vec::new());
        };
        let graph = store.lineage_graph(node.id, 1, Direction::Upstream, None, 1_000)?;
        let jobs: Vec<i64> = graph.nodes.iter().filter(|n| n.kind == NodeKind::Job).map(|n| n.id).collect();
        let runs = store.latest_runs(&jobs)?;
        let inputs: Vec<(i64, String)> = runs
            .iter()
            .flat_map(|r| r.io.iter())
            .filter(|(_, direction, _)| direction == "input")
            .filter_map(|(id, _, v)| v.clone().map(|v| (*id, v)))
            .collect();
        let ids: Vec<i64> = inputs.iter().map(|(id, _)| *id).collect();
        let nodes = store.lineage_nodes(&ids)?;
        Ok(inputs
            .into_iter()
            .filter_map(|(id, v)| {
                let n = nodes.iter().find(|n| n.id == id)?;
                Some(json!({"kind": "openlineage", "name": format!("{}:{}", n.namespace, n.name), "version": v}))
            })
            .collect())
    })
    .await??;
    Ok(found)
}

pub async fn get_version(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let (model, name) = path_of(p)?;
    let model = app.model(&model).await?;
    let mut doc = details_json(&version(&app, &model, &name).await?);
    let from_lineage = lineage_data(&app, &model, &name).await?;
    if let Some(data) = doc["data"].as_array_mut() {
        data.extend(from_lineage);
    }
    Ok(Json(doc))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataIn {
    kind: String,
    name: String,
    version: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionPatch {
    description: Option<String>,
    source: Option<String>,
    run_id: Option<String>,
    git_commit: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    metrics: BTreeMap<String, f64>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    data: Vec<DataIn>,
}

fn check_keys<'a>(field: &str, keys: impl Iterator<Item = &'a String>) -> Result<(), ApiError> {
    for k in keys {
        crate::mlflow::check_key(&format!("$.{field}"), k).map_err(|e| invalid(&format!("$.{field}"), e.detail))?;
    }
    Ok(())
}

/// Sets registry facts of a version; given params, metrics and tags are set key by key.
pub async fn patch_version(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (model, name) = path_of(p)?;
    let model = app.model(&model).await?;
    let req: VersionPatch = read_json(&headers, body).await?;
    if let Some(source) = &req.source {
        crate::mlflow::registry::check_source(source).map_err(|e| invalid("$.source", e.detail))?;
    }
    check_keys("params", req.params.keys())?;
    check_keys("metrics", req.metrics.keys())?;
    check_keys("tags", req.tags.keys())?;
    for (i, d) in req.data.iter().enumerate() {
        if d.kind.is_empty() || d.name.is_empty() || d.version.is_empty() {
            return Err(invalid(&format!("$.data[{i}]"), "kind, name and version must not be empty"));
        }
    }
    let d = version(&app, &model, &name).await?;
    let change = VersionChange {
        description: req.description,
        source: req.source,
        run_id: req.run_id,
        git_commit: req.git_commit,
        user_id: d.user_id.is_empty().then(|| principal.actor.clone()),
        params: req.params.into_iter().collect(),
        metrics: req.metrics.into_iter().collect(),
        tags: req.tags.into_iter().collect(),
        data: req.data.into_iter().map(|x| DataVersion { kind: x.kind, name: x.name, version: x.version }).collect(),
    };
    let store = app.store.clone();
    let id = d.version.id;
    let updated = blocking(move || {
        store.update_version(id, &change, now_ms())?;
        store.version_details(id)
    })
    .await??;
    let d = updated.ok_or_else(|| ApiError::new(Code::VersionNotFound, format!("version {name:?} does not exist")))?;
    Ok(Json(details_json(&d)))
}

fn native_prefix(d: &VersionDetails) -> String {
    format!("models/{}/versions/{}", d.version.model_id, d.version.id)
}

/// The artifact directory a version's MLflow source points at, if it is one we keep.
async fn source_prefix(app: &Arc<AppState>, d: &VersionDetails) -> Result<Option<String>, ApiError> {
    if let Some(rest) = d.source.strip_prefix("mlflow-artifacts:/") {
        return Ok(Some(rest.trim_end_matches('/').to_owned()));
    }
    if let Some(rest) = d.source.strip_prefix("runs:/") {
        let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
        let store = app.store.clone();
        let id = run_id.to_owned();
        if let Some(r) = blocking(move || store.get_run(&id)).await?? {
            let root = crate::mlflow::tracking::artifact_root(&r);
            return Ok(Some(if path.is_empty() { root } else { format!("{root}/{path}") }));
        }
    }
    Ok(None)
}

fn artifact_json(relative: &str, a: &ArtifactRecord) -> Value {
    json!({"path": relative, "sha256": a.sha256, "size": a.size, "created_at": format(a.created_ms)})
}

/// Every file of the version: uploaded here, and those under its MLflow source.
pub async fn list_artifacts(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let (model, name) = path_of(p)?;
    let model = app.model(&model).await?;
    let d = version(&app, &model, &name).await?;
    let items = artifacts_of(&app, &d).await?;
    Ok(Json(json!({"items": items.iter().map(|(relative, a)| artifact_json(relative, a)).collect::<Vec<_>>()})))
}

/// A version's files as `GET …/artifacts` lists them (the web UI's version page too):
/// (path relative to the version, record), by path; a file uploaded here hides one of
/// the same path under the MLflow source.
pub(crate) async fn artifacts_of(
    app: &Arc<AppState>,
    d: &VersionDetails,
) -> Result<Vec<(String, ArtifactRecord)>, ApiError> {
    let mut prefixes = vec![native_prefix(d)];
    prefixes.extend(source_prefix(app, d).await?);
    let mut items = BTreeMap::new();
    for prefix in prefixes {
        let store = app.store.clone();
        let dir = format!("{prefix}/");
        let scan = dir.clone();
        let found = blocking(move || store.list_artifacts(&scan)).await??;
        for a in found {
            let Some(relative) = a.path.strip_prefix(&dir) else { continue };
            items.entry(relative.to_owned()).or_insert(a);
        }
    }
    Ok(items.into_iter().collect())
}

async fn find_artifact(
    app: &Arc<AppState>,
    d: &VersionDetails,
    path: &str,
) -> Result<Option<ArtifactRecord>, ApiError> {
    let mut prefixes = vec![native_prefix(d)];
    prefixes.extend(source_prefix(app, d).await?);
    for prefix in prefixes {
        let store = app.store.clone();
        let full = format!("{prefix}/{path}");
        if let Some(a) = blocking(move || store.get_artifact(&full)).await?? {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

pub async fn upload_artifact(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String, String)>, PathRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let (model, name, path) = path_of(p)?;
    check_path("path", &path, false)?;
    let model = app.model(&model).await?;
    let d = version(&app, &model, &name).await?;
    let stored = app.blobs.put(body).await?;
    let record = ArtifactRecord {
        path: format!("{}/{path}", native_prefix(&d)),
        sha256: stored.sha256,
        size: i64::try_from(stored.size).unwrap_or(i64::MAX),
        created_ms: now_ms(),
    };
    let body = artifact_json(&path, &record);
    let store = app.store.clone();
    blocking(move || store.put_artifact(&record)).await??;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn download_artifact(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (model, name, path) = path_of(p)?;
    check_path("path", &path, false)?;
    let model = app.model(&model).await?;
    let d = version(&app, &model, &name).await?;
    let a = find_artifact(&app, &d, &path)
        .await?
        .ok_or_else(|| ApiError::new(Code::NotFound, format!("artifact {path:?} does not exist")))?;
    let mut response = app.blobs.open(&a.sha256).await?.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(a.size));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", a.sha256)) {
        headers.insert(header::ETAG, v);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageIn {
    stage: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    archive_others: bool,
}

pub async fn set_stage(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (model, name) = path_of(p)?;
    let model = app.model(&model).await?;
    let req: StageIn = read_json(&headers, body).await?;
    let d = set_stage_for(&app, &principal, &model, &name, &req).await?;
    Ok(Json(details_json(&d)))
}

impl StageIn {
    pub(crate) fn new(stage: String, reason: String, archive_others: bool) -> StageIn {
        StageIn { stage, reason, archive_others }
    }
}

/// Moves a version to a stage as `PUT …/versions/{version}/stage` does (the web UI's
/// version page too): the stage name checked, the promotion gate enforced on a move to
/// production, the move recorded with its actor and reason. The caller has checked
/// edit access to the model.
pub(crate) async fn set_stage_for(
    app: &Arc<AppState>,
    principal: &Principal,
    model: &LoadedModel,
    name: &str,
    req: &StageIn,
) -> Result<VersionDetails, ApiError> {
    let stage = stage_name("$.stage", &req.stage).map_err(|e| invalid("$.stage", e.detail))?;
    let d = version(app, model, name).await?;
    if crate::gate::is_production(stage) {
        crate::gate::enforce(app, model, &d, &principal.actor).await?;
    }
    let store = app.store.clone();
    let (model_id, id, actor) = (model.id, d.version.id, principal.actor.clone());
    let (reason, archive_others) = (req.reason.clone(), req.archive_others);
    let updated = blocking(move || {
        let t = Transition { actor: &actor, reason: &reason, ts_ms: now_ms() };
        store.set_stage(model_id, id, stage, archive_others, &t)?;
        store.version_details(id)
    })
    .await??;
    updated.ok_or_else(|| ApiError::new(Code::VersionNotFound, format!("version {name:?} does not exist")))
}

pub async fn list_aliases(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path_of(p)?).await?;
    let store = app.store.clone();
    let id = model.id;
    let aliases = blocking(move || store.aliases(id)).await??;
    let items: Vec<Value> = aliases
        .iter()
        .map(|a| json!({"alias": a.alias, "version": a.version, "updated_at": format(a.updated_ms)}))
        .collect();
    Ok(Json(json!({"items": items})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasIn {
    version: String,
    #[serde(default)]
    reason: String,
}

/// Points an alias at a version; rollback is pointing it back.
pub async fn set_alias(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (model, alias) = path_of(p)?;
    let model = app.model(&model).await?;
    let req: AliasIn = read_json(&headers, body).await?;
    let version = set_alias_for(&app, &principal, &model, &alias, &req).await?;
    Ok(Json(json!({"alias": alias, "version": version})))
}

impl AliasIn {
    pub(crate) fn new(version: String, reason: String) -> AliasIn {
        AliasIn { version, reason }
    }
}

/// Points an alias at a version as `PUT …/aliases/{alias}` does (the web UI's version
/// page too): the alias name checked, the promotion gate enforced for `production`, the
/// move recorded. Answers the version's name. The caller has checked edit access.
pub(crate) async fn set_alias_for(
    app: &Arc<AppState>,
    principal: &Principal,
    model: &LoadedModel,
    alias: &str,
    req: &AliasIn,
) -> Result<String, ApiError> {
    if let Some(problem) = alias_problem(alias) {
        return Err(invalid("alias", problem));
    }
    let d = version(app, model, &req.version).await.map_err(|e| invalid("$.version", e.detail))?;
    if crate::gate::is_production(alias) {
        crate::gate::enforce(app, model, &d, &principal.actor).await?;
    }
    let store = app.store.clone();
    let (model_id, id, actor) = (model.id, d.version.id, principal.actor.clone());
    let (alias, reason) = (alias.to_owned(), req.reason.clone());
    blocking(move || {
        let t = Transition { actor: &actor, reason: &reason, ts_ms: now_ms() };
        store.set_alias(model_id, &alias, Some(id), &t)
    })
    .await??;
    Ok(d.version.name)
}

pub async fn delete_alias(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let (model, alias) = path_of(p)?;
    let model = app.model(&model).await?;
    delete_alias_for(&app, &principal, &model, &alias).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes an alias as `DELETE …/aliases/{alias}` does (the web UI's version page too),
/// recorded; 404 when the model has no such alias. The caller has checked edit access.
pub(crate) async fn delete_alias_for(
    app: &Arc<AppState>,
    principal: &Principal,
    model: &LoadedModel,
    alias: &str,
) -> Result<(), ApiError> {
    let store = app.store.clone();
    let (model_id, actor, alias) = (model.id, principal.actor.clone(), alias.to_owned());
    let existed = blocking(move || -> sightline_store::Result<bool> {
        let existed = store.aliases(model_id)?.iter().any(|a| a.alias == alias);
        if existed {
            let t = Transition { actor: &actor, reason: "", ts_ms: now_ms() };
            store.set_alias(model_id, &alias, None, &t)?;
        }
        Ok(existed)
    })
    .await??;
    if existed { Ok(()) } else { Err(ApiError::new(Code::NotFound, "no such alias")) }
}

pub async fn history(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path_of(p)?).await?;
    let store = app.store.clone();
    let id = model.id;
    let transitions = blocking(move || store.transitions(id)).await??;
    let items: Vec<Value> = transitions
        .iter()
        .map(|t| {
            json!({
                "kind": t.kind, "name": t.name, "from": t.from, "to": t.to,
                "actor": t.actor, "reason": t.reason, "at": format(t.ts_ms),
            })
        })
        .collect();
    Ok(Json(json!({"items": items})))
}

pub async fn get_gate(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path_of(p)?).await?;
    let store = app.store.clone();
    let id = model.id;
    let text = blocking(move || store.promotion_gate(id)).await??;
    let text = text.ok_or_else(|| ApiError::new(Code::NotFound, "the model has no promotion gate"))?;
    let spec: Value = serde_json::from_str(&text).map_err(|e| ApiError::internal(format!("stored gate: {e}")))?;
    Ok(Json(spec))
}

/// Sets the model's promotion gate (see `crate::gate`); `{}` keeps no checks.
pub async fn put_gate(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path_of(p)?).await?;
    let spec: crate::gate::GateSpec = read_json(&headers, body).await?;
    let problems = spec.validate();
    if !problems.is_empty() {
        let errors =
            problems.into_iter().map(|(path, message)| crate::error::FieldError { path, message }).collect::<Vec<_>>();
        return Err(ApiError::validation("the promotion gate is not valid", errors));
    }
    let doc = serde_json::to_value(&spec).map_err(ApiError::internal)?;
    let text = doc.to_string();
    let store = app.store.clone();
    let id = model.id;
    blocking(move || store.set_promotion_gate(id, Some(&text), now_ms())).await??;
    Ok(Json(doc))
}

/// Every evaluation of the gate for this version, oldest first.
pub async fn promotion_reports(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let (model, name) = path_of(p)?;
    let model = app.model(&model).await?;
    let d = version(&app, &model, &name).await?;
    let store = app.store.clone();
    let id = d.version.id;
    let reports = blocking(move || store.promotion_reports(id)).await??;
    let items: Vec<Value> = reports
        .iter()
        .map(|r| {
            let report: Value = serde_json::from_str(&r.report).unwrap_or(Value::Null);
            json!({"seq": r.seq, "passed": r.passed, "actor": r.actor, "at": format(r.ts_ms), "report": report})
        })
        .collect();
    Ok(Json(json!({"items": items})))
}
