//! User accounts, managed by server administrators.

use super::support::{decode_cursor, encode_cursor, invalid, limit, path, query, read_json};
use crate::auth::{Principal, secret};
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use crate::wire::time::{format, now_ms};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::names::check_slug;
use sightline_store::{NewUser, UserChange, UserRecord};
use std::sync::Arc;

/// A user as the API shows it: never the password hash or the second-factor secret.
fn user_json(u: &UserRecord) -> Value {
    json!({
        "name": u.name,
        "admin": u.is_admin,
        "disabled": u.disabled,
        "totp": u.totp_secret.is_some(),
        "created_at": format(u.created_ms),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    cursor: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    q: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let page = query(q)?;
    let limit = limit(page.limit)?;
    let after = page.cursor.as_deref().map(decode_cursor).transpose()?;
    let store = app.store.clone();
    let users = blocking(move || store.list_users(after.as_deref(), limit + 1)).await??;
    let more = users.len() > limit;
    let items: Vec<Value> = users.iter().take(limit).map(user_json).collect();
    let next = more.then(|| users.get(limit - 1).map(|u| encode_cursor(&u.name))).flatten();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

pub async fn create(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let CreateUser { name, password, admin } = read_json(&headers, body).await?;
    check_slug(&name).map_err(|m| invalid("$.name", m))?;
    secret::check_password(&password).map_err(|m| invalid("$.password", m))?;
    let store = app.store.clone();
    let user = blocking(move || -> Result<UserRecord, ApiError> {
        let password_hash = secret::hash_password(&password).map_err(ApiError::internal)?;
        Ok(store.create_user(&NewUser { name, password_hash, is_admin: admin }, now_ms())?)
    })
    .await??;
    Ok((StatusCode::CREATED, Json(user_json(&user))).into_response())
}

async fn find(app: &Arc<AppState>, name: String) -> Result<UserRecord, ApiError> {
    let store = app.store.clone();
    let lookup = name.clone();
    blocking(move || store.get_user(&lookup))
        .await??
        .ok_or_else(|| ApiError::new(Code::UserNotFound, format!("user {name:?} does not exist")))
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let user = find(&app, path(p)?).await?;
    let store = app.store.clone();
    let id = user.id;
    let memberships = blocking(move || store.memberships_of_user(id)).await??;
    let mut doc = user_json(&user);
    doc["projects"] =
        memberships.iter().map(|m| json!({ "project": m.project, "role": m.role.as_str() })).collect::<Value>();
    Ok(Json(doc))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    password: Option<String>,
    admin: Option<bool>,
    disabled: Option<bool>,
    /// `false` removes the user's second factor (when they lost the device).
    totp: Option<bool>,
}

/// Changes a user. Administrators cannot demote or disable themselves: another
/// administrator must, so the server is never left without one by a slip.
pub async fn update(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let user = find(&app, path(p)?).await?;
    let req: UpdateUser = read_json(&headers, body).await?;
    if principal.user_id == Some(user.id) && (req.admin == Some(false) || req.disabled == Some(true)) {
        return Err(ApiError::new(Code::Conflict, "you cannot demote or disable yourself; ask another administrator"));
    }
    if req.totp == Some(true) {
        return Err(invalid("$.totp", "a second factor is enrolled by the user, not set by an administrator"));
    }
    if let Some(pw) = &req.password {
        secret::check_password(pw).map_err(|m| invalid("$.password", m))?;
    }
    let store = app.store.clone();
    let id = user.id;
    let updated = blocking(move || -> Result<Option<UserRecord>, ApiError> {
        let password_hash =
            req.password.as_deref().map(secret::hash_password).transpose().map_err(ApiError::internal)?;
        let change = UserChange {
            password_hash,
            is_admin: req.admin,
            disabled: req.disabled,
            totp_secret: (req.totp == Some(false)).then_some(None),
        };
        Ok(store.update_user(id, &change)?)
    })
    .await??;
    app.auth.invalidate();
    let updated = updated.ok_or_else(|| ApiError::new(Code::UserNotFound, "the user was deleted meanwhile"))?;
    Ok(Json(user_json(&updated)))
}
