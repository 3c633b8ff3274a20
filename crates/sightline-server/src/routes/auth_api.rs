//! Logging in and out with a password, the caller's own identity, changing one's
//! password.

use super::support::{invalid, read_json};
use crate::auth::gate::{audit, client_address, session_cookie};
use crate::auth::session::SESSION_COOKIE;
use crate::auth::{Principal, secret, totp};
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use crate::wire::time::{format, now_ms};
use axum::Json;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_store::{SessionRecord, UserChange, UserRecord};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
    /// The current one-time code, for accounts with a second factor.
    totp_code: Option<String>,
}

/// Longest user name written to the audit log for a failed login (the name is
/// whatever the client sent).
const MAX_LOGGED_NAME: usize = 128;

pub async fn login(State(app): State<Arc<AppState>>, request: Request) -> Result<Response, ApiError> {
    let address = client_address(&request);
    let (parts, body) = request.into_parts();
    let Login { username, password, totp_code } = read_json(&parts.headers, body).await?;
    let old = session_cookie(&parts.headers).map(str::to_owned);
    let signed = sign_in(&app, &address, old.as_deref(), &username, &password, totp_code.as_deref()).await?;
    let body = json!({
        "user": signed.user.name,
        "admin": signed.user.is_admin,
        "csrf_token": signed.csrf,
        "expires_at": format(signed.expires_ms),
        "idle_timeout_seconds": app.auth.settings.idle.as_secs(),
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::SET_COOKIE, signed.cookie);
    Ok(response)
}

/// A new session: its user, its CSRF token (in clear, for the client only) and the
/// `Set-Cookie` value carrying its id.
pub(crate) struct SignedIn {
    pub user: UserRecord,
    pub csrf: String,
    pub cookie: HeaderValue,
    pub expires_ms: i64,
}

/// Checks a password (and second factor) with throttling and audit, and opens a
/// session, ending the one `old_cookie` names: the login API and the web UI's
/// sign-in form both sign in here.
pub(crate) async fn sign_in(
    app: &Arc<AppState>,
    address: &str,
    old_cookie: Option<&str>,
    username: &str,
    password: &str,
    totp_code: Option<&str>,
) -> Result<SignedIn, ApiError> {
    let now = now_ms();
    if !app.auth.admin_exists(now).await? {
        return Err(ApiError::new(Code::NoAdmin, "no administrator exists yet: create one with the CLI"));
    }
    if let Some(wait) = app.login_limiter.check(username, address, Instant::now()) {
        let logged: String = username.chars().take(MAX_LOGGED_NAME).collect();
        audit(app, &format!("user:{logged}"), address, "auth.login", &logged, "refused: throttled", now).await;
        return Err(ApiError::new(Code::TooManyAttempts, "too many failed logins; retry after the Retry-After delay")
            .retry_after(u32::try_from(wait).unwrap_or(u32::MAX)));
    }
    let store = app.store.clone();
    let (name, password) = (username.to_owned(), password.to_owned());
    let user = blocking(move || -> Result<Option<UserRecord>, ApiError> {
        let user = store.get_user(&name)?;
        // Verify against a dummy hash for unknown names, so that timing does not tell
        // which names exist.
        let hash = user.as_ref().map_or(secret::dummy_hash(), |u| u.password_hash.as_str());
        let password_ok = secret::verify_password(&password, hash);
        Ok(user.filter(|u| password_ok && !u.disabled))
    })
    .await??;
    let logged: String = username.chars().take(MAX_LOGGED_NAME).collect();
    let Some(user) = user else {
        app.login_limiter.record_failure(username, address, Instant::now());
        audit(app, &format!("user:{logged}"), address, "auth.login", &logged, "failure: bad credentials", now).await;
        return Err(ApiError::new(Code::Unauthenticated, "wrong user name or password, or the account is disabled"));
    };
    if let Some(sealed) = &user.totp_secret {
        let Some(code) = totp_code.filter(|c| !c.is_empty()) else {
            // The password was right; the client asks for the code and tries again.
            // Not a failure: it does not count against the limits.
            return Err(ApiError::new(
                Code::SecondFactorRequired,
                "this account has a second factor: send the current code as totp_code",
            ));
        };
        if !second_factor_ok(app, user.id, sealed, code)? {
            app.login_limiter.record_failure(username, address, Instant::now());
            audit(app, &format!("user:{logged}"), address, "auth.login", &logged, "failure: bad second factor", now)
                .await;
            return Err(ApiError::new(Code::Unauthenticated, "wrong or already used second-factor code"));
        }
    }
    app.login_limiter.record_success(username);

    // A new session id at every login: a session id planted before login is useless.
    let old = old_cookie.map(secret::digest);
    let id = secret::random_secret();
    let csrf = secret::random_secret();
    let record =
        SessionRecord { user_id: user.id, csrf_hash: secret::digest(&csrf), created_ms: now, last_seen_ms: now };
    let store = app.store.clone();
    let hash = secret::digest(&id);
    blocking(move || -> sightline_store::Result<()> {
        if let Some(old) = old {
            store.delete_session(&old)?;
        }
        store.create_session(&hash, &record)
    })
    .await??;
    audit(app, &format!("user:{}", user.name), address, "auth.login", &user.name, "success", now).await;
    let absolute = app.auth.settings.absolute;
    let cookie =
        format!("{SESSION_COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}", absolute.as_secs());
    let cookie = HeaderValue::from_str(&cookie).map_err(ApiError::internal)?;
    Ok(SignedIn { user, csrf, cookie, expires_ms: now + absolute.as_millis() as i64 })
}

pub async fn logout(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
) -> Result<Response, ApiError> {
    if let Some(hash) = principal.session {
        let store = app.store.clone();
        blocking(move || store.delete_session(&hash)).await??;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let clear = format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&clear).map_err(ApiError::internal)?);
    Ok(response)
}

pub async fn me(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
) -> Result<Json<Value>, ApiError> {
    let mut projects = Vec::new();
    for (&id, role) in &principal.projects {
        projects.push(json!({ "project": &*app.project_name(id).await?, "role": role.as_str() }));
    }
    projects.sort_by(|a, b| a["project"].as_str().cmp(&b["project"].as_str()));
    Ok(Json(json!({
        "actor": principal.actor,
        "token_id": principal.token_id,
        "server_role": principal.server_role.map(|r| r.as_str()),
        "projects": projects,
        "session": principal.session.is_some(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Changes the logged-in user's own password; every session of the user ends,
/// including this one.
pub async fn change_password(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    request: Request,
) -> Result<Response, ApiError> {
    let user_id = session_user(&principal)?;
    let (parts, body) = request.into_parts();
    let ChangePassword { current_password, new_password } = read_json(&parts.headers, body).await?;
    secret::check_password(&new_password).map_err(|m| invalid("$.new_password", m))?;
    let store = app.store.clone();
    blocking(move || -> Result<(), ApiError> {
        let user = store.get_user_by_id(user_id)?.ok_or_else(|| ApiError::new(Code::UserNotFound, "no such user"))?;
        if !secret::verify_password(&current_password, &user.password_hash) {
            return Err(invalid("$.current_password", "is not the current password"));
        }
        let hash = secret::hash_password(&new_password).map_err(ApiError::internal)?;
        store.update_user(user_id, &UserChange { password_hash: Some(hash), ..UserChange::default() })?;
        Ok(())
    })
    .await??;
    app.auth.invalidate();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Checks a one-time code against a user's sealed secret.
fn second_factor_ok(app: &AppState, user_id: i64, sealed: &[u8], code: &str) -> Result<bool, ApiError> {
    let secret = totp::open(&app.keys.current(), user_id, sealed).map_err(ApiError::internal)?;
    Ok(app.auth.totp.verify(user_id, &secret, code, unix_seconds()))
}

fn unix_seconds() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

/// The logged-in user: passwords and second factors are managed from a session,
/// never with a token.
fn session_user(principal: &Principal) -> Result<i64, ApiError> {
    match (principal.user_id, principal.session) {
        (Some(id), Some(_)) => Ok(id),
        _ => Err(ApiError::new(Code::Forbidden, "only a logged-in user can change their password or second factor")),
    }
}

/// A new secret to enroll in an authenticator app. Nothing is stored until the user
/// proves the app has it (`/auth/totp/enable`).
pub async fn totp_setup(Extension(principal): Extension<Arc<Principal>>) -> Result<Json<Value>, ApiError> {
    session_user(&principal)?;
    let name = principal.actor.strip_prefix("user:").unwrap_or(&principal.actor).to_owned();
    let secret = totp::new_secret();
    Ok(Json(json!({ "secret": totp::to_base32(&secret), "otpauth_uri": totp::otpauth_uri(&secret, &name) })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableTotp {
    secret: String,
    code: String,
    password: String,
}

/// Turns the second factor on: the password again, the secret from `setup`, and a
/// current code from the app.
pub async fn totp_enable(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    request: Request,
) -> Result<Response, ApiError> {
    let user_id = session_user(&principal)?;
    let (parts, body) = request.into_parts();
    let EnableTotp { secret, code, password } = read_json(&parts.headers, body).await?;
    let secret =
        totp::from_base32(&secret).ok_or_else(|| invalid("$.secret", "is not a base32 secret of at least 128 bits"))?;
    check_password_again(&app, user_id, password).await?;
    if !app.auth.totp.verify(user_id, &secret, &code, unix_seconds()) {
        return Err(invalid("$.code", "is not the current code for this secret"));
    }
    let sealed = totp::seal(&app.keys.current(), user_id, &secret).map_err(ApiError::internal)?;
    let store = app.store.clone();
    blocking(move || {
        store.update_user(user_id, &UserChange { totp_secret: Some(Some(sealed)), ..UserChange::default() })
    })
    .await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisableTotp {
    code: String,
    password: String,
}

/// Turns the second factor off: the password and a current code. (An administrator
/// removes a lost one with `PATCH /users/{user} {"totp": false}`.)
pub async fn totp_disable(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    request: Request,
) -> Result<Response, ApiError> {
    let user_id = session_user(&principal)?;
    let (parts, body) = request.into_parts();
    let DisableTotp { code, password } = read_json(&parts.headers, body).await?;
    let user = check_password_again(&app, user_id, password).await?;
    let Some(sealed) = user.totp_secret else {
        return Err(ApiError::new(Code::Conflict, "this account has no second factor"));
    };
    if !second_factor_ok(&app, user_id, &sealed, &code)? {
        return Err(invalid("$.code", "is not the current code"));
    }
    let store = app.store.clone();
    blocking(move || store.update_user(user_id, &UserChange { totp_secret: Some(None), ..UserChange::default() }))
        .await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sensitive changes ask for the password again, so that a session left open is not
/// enough to change how the account is protected.
async fn check_password_again(app: &Arc<AppState>, user_id: i64, password: String) -> Result<UserRecord, ApiError> {
    let store = app.store.clone();
    blocking(move || -> Result<UserRecord, ApiError> {
        let user = store.get_user_by_id(user_id)?.ok_or_else(|| ApiError::new(Code::UserNotFound, "no such user"))?;
        if !secret::verify_password(&password, &user.password_hash) {
            return Err(invalid("$.password", "is not the current password"));
        }
        Ok(user)
    })
    .await?
}
