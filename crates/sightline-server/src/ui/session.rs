//! Signing in and out of the web UI, and who is looking at a page ([`Viewer`]).
//!
//! Sign-in goes through the same code as `POST /api/v1/auth/login` (throttling, audit,
//! second factor, a new session id each time). The session's CSRF token, which the
//! JSON client keeps from the login answer, is kept here in a second HttpOnly cookie:
//! pages copy it into their forms, and a form is accepted only when the field matches
//! the session's token — which another site can neither read nor guess.

use super::{Failure, html, layout};
use crate::auth::gate::{client_address, cookie, session_cookie};
use crate::auth::session::SESSION_COOKIE;
use crate::auth::{Principal, secret};
use crate::error::{ApiError, Code};
use crate::routes::auth_api::sign_in as open_session;
use crate::state::{AppState, blocking};
use crate::wire::time::now_ms;
use axum::extract::{FromRequestParts, OriginalUri, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use std::collections::HashMap;
use std::sync::Arc;

/// The cookie holding the session's CSRF token for the UI's forms.
pub const CSRF_COOKIE: &str = "__Host-sightline_csrf";
/// Largest form body read (sign-in and monitor forms are far smaller).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The signed-in user looking at a page.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub principal: Arc<Principal>,
    /// The session's CSRF token, when the UI's cookie holds the right one (a session
    /// opened by the JSON API has none: its forms ask to sign in again).
    pub csrf: Option<String>,
    csrf_hash: [u8; 32],
}

impl Viewer {
    pub fn name(&self) -> &str {
        self.principal.actor.strip_prefix("user:").unwrap_or(&self.principal.actor)
    }

    /// Accepts a form only with the session's CSRF token.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), ApiError> {
        match sent {
            Some(t) if secret::digest(t) == self.csrf_hash => Ok(()),
            _ => Err(ApiError::new(
                Code::Forbidden,
                "this form is not from your current session; reload the page (or sign in again) and resend it",
            )),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Self, Failure> {
        let uri = parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.clone(), |u| u.0.clone());
        let next = uri.path_and_query().map_or("/ui/", |p| p.as_str()).to_owned();
        // Only pages come back here after sign-in; a form's target is not a page.
        let next = if parts.method == axum::http::Method::GET { next } else { "/ui/".to_owned() };
        let Some(id) = session_cookie(&parts.headers) else { return Err(Failure::SignIn { next }) };
        let (principal, csrf_hash) = match app.auth.from_session(id, now_ms()).await {
            Ok(found) => found,
            Err(e) if e.code == Code::Unauthenticated => return Err(Failure::SignIn { next }),
            Err(e) => return Err(e.into()),
        };
        let csrf = cookie(&parts.headers, CSRF_COOKIE).filter(|t| secret::digest(t) == csrf_hash).map(str::to_owned);
        Ok(Viewer { principal, csrf, csrf_hash })
    }
}

/// `application/x-www-form-urlencoded` text of `pairs`.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// Reads a form body (bounded) into its fields.
impl Viewer {
    /// A form posted from one of this session's pages: read, then its CSRF token checked.
    pub async fn checked_form(&self, request: axum::extract::Request) -> Result<HashMap<String, String>, ApiError> {
        let form = read_form(request.into_body()).await?;
        self.check_csrf(form.get("csrf").map(String::as_str))?;
        Ok(form)
    }
}

pub async fn read_form(body: axum::body::Body) -> Result<HashMap<String, String>, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| ApiError::new(Code::PayloadTooLarge, "the form is too large"))?;
    serde_urlencoded::from_bytes(&bytes).map_err(|e| ApiError::new(Code::InvalidJson, format!("unreadable form: {e}")))
}

/// Where to go after signing in: a page of the UI, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.contains("//") && !n.contains('\\') => n.to_owned(),
        _ => "/ui/".to_owned(),
    }
}

fn sign_in_page(next: &str, problem: Option<&str>) -> maud::Markup {
    layout::bare(
        "Sign in",
        html! {
            main.signin {
                h1 { "Sightline" }
                form method="post" action="/ui/sign-in" {
                    @if let Some(p) = problem { p.problem role="alert" { (p) } }
                    input type="hidden" name="next" value=(next);
                    label { "User name" input name="username" autocomplete="username" required autofocus; }
                    label { "Password" input name="password" type="password" autocomplete="current-password" required; }
                    label { "One-time code (if your account has one)"
                        input name="totp_code" inputmode="numeric" autocomplete="one-time-code"; }
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

pub async fn form(Query(q): Query<HashMap<String, String>>) -> Response {
    html(sign_in_page(&safe_next(q.get("next").map(String::as_str)), None))
}

pub async fn sign_in(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let address = client_address(&request);
    let (parts, body) = request.into_parts();
    let fields = match read_form(body).await {
        Ok(f) => f,
        Err(e) => return Failure::Error(e).into_response(),
    };
    let next = safe_next(fields.get("next").map(String::as_str));
    let field = |name: &str| fields.get(name).map_or("", String::as_str);
    let old = session_cookie(&parts.headers);
    let code = Some(field("totp_code")).filter(|c| !c.is_empty());
    match open_session(&app, &address, old, field("username"), field("password"), code).await {
        Ok(signed) => {
            let max_age = app.auth.settings.absolute.as_secs();
            let csrf =
                format!("{CSRF_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}", signed.csrf);
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().append(header::SET_COOKIE, signed.cookie);
            match HeaderValue::from_str(&csrf) {
                Ok(v) => {
                    response.headers_mut().append(header::SET_COOKIE, v);
                }
                Err(e) => return Failure::Error(ApiError::internal(e)).into_response(),
            }
            response
        }
        Err(e) => {
            let status = e.code.status();
            let message = match e.code {
                Code::Unauthenticated => "Wrong user name or password, or the account is disabled.".to_owned(),
                Code::SecondFactorRequired => "This account needs its one-time code.".to_owned(),
                Code::TooManyAttempts => "Too many failed sign-ins; wait a few minutes and try again.".to_owned(),
                Code::NoAdmin => e.detail.clone(),
                _ => return Failure::Error(e).into_response(),
            };
            (status, Html(sign_in_page(&next, Some(&message)).into_string())).into_response()
        }
    }
}

pub async fn sign_out(State(app): State<Arc<AppState>>, viewer: Viewer, request: Request) -> Response {
    let fields = match read_form(request.into_body()).await {
        Ok(f) => f,
        Err(e) => return Failure::Error(e).into_response(),
    };
    if let Err(e) = viewer.check_csrf(fields.get("csrf").map(String::as_str)) {
        return Failure::Error(e).into_response();
    }
    if let Some(hash) = viewer.principal.session {
        let store = app.store.clone();
        match blocking(move || store.delete_session(&hash)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Failure::Error(e.into()).into_response(),
            Err(e) => return Failure::Error(e).into_response(),
        }
    }
    let mut response = Redirect::to("/ui/sign-in").into_response();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        let clear = format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
        if let Ok(v) = HeaderValue::from_str(&clear) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn sign_in_returns_only_to_pages_of_the_ui() {
        assert_eq!(safe_next(Some("/ui/models/m?range=6h")), "/ui/models/m?range=6h");
        for bad in
            ["https://evil.example/", "//evil.example/ui/", "/ui//evil.example", "/ui/\\evil", "/api/v1/models", ""]
        {
            assert_eq!(safe_next(Some(bad)), "/ui/", "{bad}");
        }
        assert_eq!(safe_next(None), "/ui/");
    }
}
