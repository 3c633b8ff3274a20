//! Projects and their members.

use super::support::{invalid, path, read_json};
use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use crate::wire::time::{format, now_ms};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::names::check_slug;
use sightline_core::{Need, Role};
use sightline_store::ProjectRecord;
use std::sync::Arc;

fn project_json(p: &ProjectRecord) -> Value {
    json!({ "name": p.name, "created_at": format(p.created_ms) })
}

/// Most projects one list answer holds; projects are few (teams, not objects).
const MAX_PROJECTS: usize = 10_000;

/// The projects the caller can read.
pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
) -> Result<Json<Value>, ApiError> {
    let store = app.store.clone();
    let all = blocking(move || store.list_projects(None, MAX_PROJECTS)).await??;
    let readable = principal.projects_allowing(Need::Read);
    let items: Vec<Value> = all
        .iter()
        .filter(|p| readable.as_ref().is_none_or(|ids| ids.binary_search(&p.id).is_ok()))
        .map(project_json)
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProject {
    name: String,
}

pub async fn create(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let CreateProject { name } = read_json(&headers, body).await?;
    check_slug(&name).map_err(|m| invalid("$.name", m))?;
    let store = app.store.clone();
    let project = blocking(move || store.create_project(&name, now_ms())).await??;
    Ok((StatusCode::CREATED, Json(project_json(&project))).into_response())
}

async fn project(app: &Arc<AppState>, name: String) -> Result<ProjectRecord, ApiError> {
    let store = app.store.clone();
    let lookup = name.clone();
    blocking(move || store.get_project(&lookup))
        .await??
        .ok_or_else(|| ApiError::new(Code::ProjectNotFound, format!("project {name:?} does not exist")))
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(project_json(&project(&app, path(p)?).await?)))
}

pub async fn members(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let project = project(&app, path(p)?).await?;
    let store = app.store.clone();
    let members = blocking(move || store.members_of_project(project.id)).await??;
    let items: Vec<Value> = members.iter().map(|m| json!({ "user": m.user, "role": m.role.as_str() })).collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetMember {
    role: Role,
}

pub async fn set_member(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let (project_name, user_name) = path(p)?;
    let SetMember { role } = read_json(&headers, body).await?;
    set_membership_for(&app, &principal, &project_name, &user_name, Some(role)).await?;
    Ok(Json(json!({ "user": user_name, "role": role.as_str() })))
}

pub async fn remove_member(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (project_name, user_name) = path(p)?;
    set_membership_for(&app, &principal, &project_name, &user_name, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Gives a user a role in a project, or removes them (`None`), as the members routes do
/// (the web UI's settings too): project administrators only, granting no more than the
/// caller may.
pub(crate) async fn set_membership_for(
    app: &Arc<AppState>,
    principal: &Principal,
    project_name: &str,
    user_name: &str,
    role: Option<Role>,
) -> Result<(), ApiError> {
    let project = project(app, project_name.to_owned()).await?;
    crate::auth::gate::check_project(principal, project.id, sightline_core::Need::Admin, || {
        ApiError::new(Code::ProjectNotFound, format!("project {project_name:?} does not exist"))
    })?;
    if let Some(role) = role
        && !principal.can_grant(Some(project.id), role)
    {
        return Err(ApiError::new(Code::Forbidden, format!("you cannot grant the {role} role")));
    }
    let user = user_id(app, user_name).await?;
    let store = app.store.clone();
    blocking(move || store.set_membership(project.id, user, role)).await??;
    app.auth.invalidate();
    Ok(())
}

pub async fn user_id(app: &Arc<AppState>, name: &str) -> Result<i64, ApiError> {
    let store = app.store.clone();
    let lookup = name.to_owned();
    blocking(move || store.get_user(&lookup))
        .await??
        .map(|u| u.id)
        .ok_or_else(|| ApiError::new(Code::UserNotFound, format!("user {name:?} does not exist")))
}
