//! API tokens: made by users and admin tokens, listed and revoked by administrators
//! and by their owner. The token text is shown once, in the answer that creates it.

use super::support::{invalid, limit, path, query, read_json};
use crate::auth::gate::check_project;
use crate::auth::{Principal, secret};
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use crate::wire::time::{format, now_ms, parse_query};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::{Need, Role};
use sightline_store::{NewToken, ProjectRecord, TokenFilter, TokenRecord};
use std::sync::Arc;

pub(crate) async fn token_json(app: &Arc<AppState>, t: &TokenRecord) -> Result<Value, ApiError> {
    let project = match t.project_id {
        Some(id) => Some(app.project_name(id).await?.to_string()),
        None => None,
    };
    Ok(json!({
        "id": t.id,
        "name": t.name,
        "display_prefix": t.display_prefix,
        "project": project,
        "role": t.role.as_str(),
        "created_at": format(t.created_ms),
        "expires_at": t.expires_ms.map(format),
        "revoked_at": t.revoked_ms.map(format),
    }))
}

async fn project_by_name(
    app: &Arc<AppState>,
    p: &Principal,
    name: &str,
    need: Need,
) -> Result<ProjectRecord, ApiError> {
    let store = app.store.clone();
    let lookup = name.to_owned();
    let not_found = || ApiError::new(Code::ProjectNotFound, format!("project {name:?} does not exist"));
    let project = blocking(move || store.get_project(&lookup)).await??.ok_or_else(not_found)?;
    check_project(p, project.id, need, not_found)?;
    Ok(project)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    project: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// A project's tokens (its administrators), all tokens (server administrators), or the
/// caller's own.
pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let limit = limit(q.limit)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| ApiError::new(Code::InvalidQuery, "cursor: not a cursor this server issued"))
        })
        .transpose()?;
    let filter = match (&q.project, principal.user_id) {
        (Some(name), _) => TokenFilter::Project(project_by_name(&app, &principal, name, Need::Admin).await?.id),
        (None, _) if principal.allows_server(Need::Admin) => TokenFilter::All,
        (None, Some(user)) => TokenFilter::Owner(user),
        (None, None) => {
            return Err(ApiError::new(Code::Forbidden, "a token without a user lists tokens by ?project="));
        }
    };
    let store = app.store.clone();
    let tokens = blocking(move || store.list_tokens(filter, before, limit + 1)).await??;
    let more = tokens.len() > limit;
    let mut items = Vec::new();
    for t in tokens.iter().take(limit) {
        items.push(token_json(&app, t).await?);
    }
    let next = more.then(|| tokens.get(limit - 1).map(|t| t.id.to_string())).flatten();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    pub name: String,
    /// `None`: a server-wide token (server administrators only).
    pub project: Option<String>,
    pub role: Role,
    /// RFC 3339 or epoch milliseconds.
    pub expires_at: Option<String>,
}

pub async fn create(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let req: CreateToken = read_json(&headers, body).await?;
    let (record, token) = create_for(&app, &principal, req).await?;
    let mut doc = token_json(&app, &record).await?;
    doc["token"] = Value::String(token);
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

/// Makes a token as `POST /tokens` does (the web UI's settings too): the record and
/// the secret, which exists only in this answer.
pub(crate) async fn create_for(
    app: &Arc<AppState>,
    principal: &Principal,
    req: CreateToken,
) -> Result<(TokenRecord, String), ApiError> {
    let now = now_ms();
    if req.name.trim().is_empty() || req.name.len() > 128 {
        return Err(invalid("$.name", "must be 1 to 128 characters"));
    }
    let expires_ms = req.expires_at.as_deref().map(parse_query).transpose().map_err(|m| invalid("$.expires_at", m))?;
    if expires_ms.is_some_and(|e| e <= now) {
        return Err(invalid("$.expires_at", "must be in the future"));
    }
    let project = match &req.project {
        Some(name) => Some(project_by_name(app, principal, name, Need::Read).await?),
        None => None,
    };
    let project_id = project.as_ref().map(|p| p.id);
    if !principal.can_grant(project_id, req.role) {
        let scope = req.project.as_deref().map_or_else(|| "server-wide".to_owned(), |p| format!("in project {p:?}"));
        return Err(ApiError::new(Code::Forbidden, format!("you cannot make a {} token {scope}", req.role)));
    }
    let token = secret::generate_token();
    let new = NewToken {
        hash: secret::digest(&token),
        display_prefix: secret::display_prefix(&token),
        name: req.name,
        owner_user_id: principal.user_id,
        project_id,
        role: req.role,
        created_ms: now,
        expires_ms,
    };
    let store = app.store.clone();
    let record = blocking(move || store.create_token(&new)).await??;
    Ok((record, token))
}

/// Revokes a token: its owner, an administrator of its project, or a server
/// administrator may. Revoking twice is not an error.
pub async fn revoke(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    revoke_for(&app, &principal, &path(p)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revokes a token as `DELETE /tokens/{id}` does (the web UI's settings too).
pub(crate) async fn revoke_for(app: &Arc<AppState>, principal: &Principal, raw: &str) -> Result<(), ApiError> {
    let not_found = || ApiError::new(Code::TokenNotFound, format!("token {raw:?} does not exist"));
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    let store = app.store.clone();
    let token = blocking(move || store.get_token(id)).await??.ok_or_else(not_found)?;
    let owner = token.owner_user_id.is_some() && token.owner_user_id == principal.user_id;
    let itself = principal.token_id == Some(token.id);
    let admin = match token.project_id {
        Some(project) => principal.allows(project, Need::Admin),
        None => principal.allows_server(Need::Admin),
    };
    if !(owner || itself || admin) {
        let visible = token.project_id.is_some_and(|p| principal.knows(p)) || principal.server_role.is_some();
        return Err(if visible {
            ApiError::new(Code::Forbidden, "only the token's owner or an administrator can revoke it")
        } else {
            not_found()
        });
    }
    let store = app.store.clone();
    blocking(move || store.revoke_token(id, now_ms())).await??;
    app.auth.invalidate();
    Ok(())
}
