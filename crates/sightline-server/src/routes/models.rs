//! Models and versions: create, list, get.

use super::support::{decode_cursor, encode_cursor, limit, path, query, read_json};
use crate::auth::Principal;
use crate::auth::gate::check_project;
use crate::error::{ApiError, Code, FieldError};
use crate::state::{AppState, blocking};
use crate::wire::model::{AddFeatures, CreateModel, CreateVersion, FeatureIn, model_json, version_json};
use crate::wire::time::now_ms;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::Need;
use sightline_core::names::check_slug;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    cursor: Option<String>,
    limit: Option<usize>,
}

pub async fn create(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let mut request = read_json::<CreateModel>(&headers, body).await?;
    let project = request.project.take();
    let spec = request.into_spec();
    if let Err(problems) = spec.validate() {
        let errors = crate::wire::json::prefix("$", problems);
        return Err(ApiError::validation("the model is not valid", errors));
    }
    let project = owning_project(&app, &principal, project).await?;
    check_project(&principal, project.id, Need::Edit, || project_not_found(&project.name))?;
    let store = app.store.clone();
    let record = blocking(move || store.create_model(&spec, project.id, now_ms())).await??;
    let body = model_json(&record, &project.name);
    app.remember(record);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(super) fn project_not_found(name: &str) -> ApiError {
    ApiError::new(Code::ProjectNotFound, format!("project {name:?} does not exist"))
}

/// The project a new model goes to: the named one; else the caller's only project (a
/// project-scoped token); else the default project.
pub(crate) async fn owning_project(
    app: &Arc<AppState>,
    principal: &Principal,
    named: Option<String>,
) -> Result<sightline_store::ProjectRecord, ApiError> {
    let store = app.store.clone();
    let only = (principal.server_role.is_none() && principal.projects.len() == 1)
        .then(|| principal.projects.keys().next().copied())
        .flatten();
    let wanted = named.clone();
    let found = blocking(move || match (wanted, only) {
        (Some(name), _) => store.get_project(&name),
        (None, Some(id)) => store.get_project_by_id(id),
        (None, None) => store.get_project(sightline_store::DEFAULT_PROJECT),
    })
    .await??;
    found.ok_or_else(|| project_not_found(named.as_deref().unwrap_or(sightline_store::DEFAULT_PROJECT)))
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    q: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let page = query(q)?;
    let limit = limit(page.limit)?;
    let after = page.cursor.as_deref().map(decode_cursor).transpose()?;
    let store = app.store.clone();
    let readable = principal.projects_allowing(Need::Read);
    let models = blocking(move || store.list_models(after.as_deref(), limit + 1, readable.as_deref())).await??;
    let more = models.len() > limit;
    let mut items = Vec::with_capacity(limit.min(models.len()));
    for m in models.iter().take(limit) {
        items.push(model_json(m, &app.project_name(m.project_id).await?));
    }
    let next = more.then(|| models.get(limit - 1).map(|m| encode_cursor(&m.spec.name))).flatten();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = path(p)?;
    let model = app.model(&name).await?;
    Ok(Json(model_json(&model.record, &app.project_name(model.record.project_id).await?)))
}

/// Appends features to a model's schema. Existing features never change (stored events
/// refer to them by position), so this is the one schema change there is.
pub async fn add_features(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let req: AddFeatures = read_json(&headers, body).await?;
    let expected = model.record.spec.features.len();
    let spec = model
        .record
        .spec
        .with_features_appended(req.features.into_iter().map(FeatureIn::into_spec).collect())
        .map_err(|problems| {
        ApiError::validation("the features cannot be added", crate::wire::json::prefix("$", problems))
    })?;
    let store = app.store.clone();
    let name = spec.name.clone();
    match blocking(move || store.update_model_spec(&spec, expected)).await? {
        Ok(Some(record)) => {
            let body = model_json(&record, &app.project_name(record.project_id).await?);
            app.remember(record);
            Ok(Json(body))
        }
        Ok(None) => Err(ApiError::new(Code::ModelNotFound, format!("model {name:?} does not exist"))),
        Err(e) => {
            // Our cached spec was stale (another replica changed it): refresh it so that
            // the client's retry works against the current schema.
            if matches!(e, sightline_store::StoreError::Changed(_)) {
                app.forget(&name);
            }
            Err(e.into())
        }
    }
}

pub async fn create_version(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let model = app.model(&path(p)?).await?;
    let req: CreateVersion = read_json(&headers, body).await?;
    if let Err(m) = check_slug(&req.name) {
        return Err(ApiError::validation(
            format!("$.name: {m}"),
            vec![FieldError { path: "$.name".into(), message: m }],
        ));
    }
    let store = app.store.clone();
    let id = model.id;
    let v = blocking(move || store.create_version(id, &req.name, &req.description, now_ms())).await??;
    Ok((StatusCode::CREATED, Json(version_json(&v))).into_response())
}

pub async fn list_versions(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let page = query(q)?;
    let limit = limit(page.limit)?;
    let after = page.cursor.as_deref().map(decode_cursor).transpose()?;
    let store = app.store.clone();
    let id = model.id;
    let versions = blocking(move || store.list_versions(id, after.as_deref(), limit + 1)).await??;
    let more = versions.len() > limit;
    let items: Vec<Value> = versions.iter().take(limit).map(version_json).collect();
    let next = more.then(|| versions.get(limit - 1).map(|v| encode_cursor(&v.name))).flatten();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}
