//! The gate every route passes: authenticate the caller, check the route's [`Access`],
//! apply CSRF rules to cookie sessions, and append state-changing requests to the
//! audit log once they are answered.

use super::session::{CSRF_HEADER, SESSION_COOKIE};
use super::{Access, Principal, secret};
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use crate::wire::time::now_ms;
use axum::RequestExt;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{MatchedPath, OriginalUri, RawPathParams, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sightline_core::Need;
use sightline_store::AuditEntry;
use std::net::SocketAddr;
use std::sync::Arc;

/// The client address as the audit log and the login limiter see it. Forwarded-for
/// headers are not trusted: anyone can send them.
pub fn client_address(req: &Request) -> String {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn gate(State((app, access)): State<(Arc<AppState>, Access)>, mut req: Request, next: Next) -> Response {
    let now = now_ms();
    let changes_state = !is_safe(req.method());
    let audited = changes_state && access.is_audited();
    let source = client_address(&req);
    let action = format!(
        "{} {}",
        req.method(),
        req.extensions().get::<MatchedPath>().map_or_else(|| req.uri().path().to_owned(), |m| m.as_str().to_owned())
    );
    // Inside the nested /api/v1 router the URI has lost its prefix; the audit log
    // records the path the client asked for.
    let target = req.extensions().get::<OriginalUri>().map_or_else(|| req.uri().path(), |u| u.0.path()).to_owned();
    if access != Access::Public {
        let principal = match authenticate(&app, req.method().clone(), req.headers(), now).await {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(source = %source, action = %action, "unauthenticated request refused");
                return e.into_response();
            }
        };
        if let Err(e) = authorize(&app, access, &principal, &mut req).await {
            if audited {
                let outcome = format!("refused: {}", e.code.status().as_u16());
                audit(&app, &principal.actor, &source, &action, &target, &outcome, now).await;
            } else if access.is_ingest() {
                tally_ingest(&app, &principal.actor, &source, &action, &target, e.code.status().as_u16(), now).await;
            }
            return e.into_response();
        }
        let actor = principal.actor.clone();
        req.extensions_mut().insert(principal);
        let response = next.run(req).await;
        if audited {
            let outcome = response.status().as_u16().to_string();
            audit(&app, &actor, &source, &action, &target, &outcome, now).await;
        } else if access.is_ingest() {
            tally_ingest(&app, &actor, &source, &action, &target, response.status().as_u16(), now).await;
        }
        return response;
    }
    next.run(req).await
}

/// Appends one audit entry; a failure is logged loudly (the request already happened).
pub async fn audit(
    app: &Arc<AppState>,
    actor: &str,
    source: &str,
    action: &str,
    target: &str,
    outcome: &str,
    ts_ms: i64,
) {
    let entry = AuditEntry {
        ts_ms,
        actor: actor.to_owned(),
        source: source.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        outcome: outcome.to_owned(),
    };
    let store = app.store.clone();
    match blocking(move || store.append_audit(&entry)).await {
        Ok(Ok(record)) => {
            // The head in the server log lets an operator notice a rewritten chain.
            tracing::info!(seq = record.seq, head = %sightline_store::audit::hex(&record.hash), "audit entry appended");
        }
        Ok(Err(e)) => tracing::error!(error = %e, action, target, "cannot append to the audit log"),
        Err(e) => tracing::error!(error = ?e.detail, "cannot append to the audit log"),
    }
}

async fn tally_ingest(
    app: &Arc<AppState>,
    actor: &str,
    source: &str,
    action: &str,
    target: &str,
    status: u16,
    now: i64,
) {
    if app.ingest_audit.record(actor, source, action, target, status, now) {
        flush_ingest_audit(app).await;
    }
}

/// Appends the ingest tallies to the audit log (every minute, when they are full, and
/// at shutdown).
pub async fn flush_ingest_audit(app: &Arc<AppState>) {
    let entries = app.ingest_audit.drain();
    if entries.is_empty() {
        return;
    }
    let store = app.store.clone();
    let appended = blocking(move || entries.iter().try_for_each(|e| store.append_audit(e).map(drop))).await;
    match appended {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "cannot append the ingest summaries to the audit log"),
        Err(e) => tracing::error!(error = ?e.detail, "cannot append the ingest summaries to the audit log"),
    }
}

fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let text = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    match text {
        Some(token) => Ok(Some(token.trim())),
        None => Err(ApiError::new(Code::Unauthenticated, "the Authorization header must be `Bearer <token>`")),
    }
}

pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// The value of the cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// Finds the caller: a bearer token first (it cannot be sent by a browser on its own,
/// so it needs no CSRF check), else a session cookie.
async fn authenticate(
    app: &Arc<AppState>,
    method: Method,
    headers: &HeaderMap,
    now: i64,
) -> Result<Arc<Principal>, ApiError> {
    if !app.auth.admin_exists(now).await? {
        return Err(ApiError::new(
            Code::NoAdmin,
            "no administrator exists yet: create one with `sightline admin create-user --name NAME --role admin`, \
             or start the server with SIGHTLINE_BOOTSTRAP_TOKEN",
        ));
    }
    if let Some(token) = bearer(headers)? {
        return app.auth.from_token(token, now).await;
    }
    let Some(cookie) = session_cookie(headers) else {
        return Err(ApiError::new(
            Code::Unauthenticated,
            "authentication required: send `Authorization: Bearer <token>` or log in",
        ));
    };
    let (principal, csrf_hash) = app.auth.from_session(cookie, now).await?;
    if !is_safe(&method) {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if sent.is_none_or(|t| secret::digest(t) != csrf_hash) {
            return Err(ApiError::new(
                Code::Forbidden,
                format!(
                    "a request authenticated by the session cookie must carry the {CSRF_HEADER} header of its session"
                ),
            ));
        }
    }
    Ok(principal)
}

fn forbidden(need: Need, what: &str) -> ApiError {
    ApiError::new(Code::Forbidden, format!("this needs {} access to {what}", need.as_str()))
}

async fn authorize(app: &Arc<AppState>, access: Access, p: &Principal, req: &mut Request) -> Result<(), ApiError> {
    match access {
        Access::Public | Access::Authenticated | Access::Handler(_) => Ok(()),
        Access::Server(need) => {
            if p.allows_server(need) {
                Ok(())
            } else {
                Err(forbidden(need, "the whole server"))
            }
        }
        Access::Model(need) => {
            let name = path_param(req, "model").await?;
            let model = app.model(&name).await?;
            check_project(p, model.record.project_id, need, || {
                ApiError::new(Code::ModelNotFound, format!("model {name:?} does not exist"))
            })
        }
        Access::Project(need) => {
            let name = path_param(req, "project").await?;
            let store = app.store.clone();
            let lookup = name.clone();
            let project = blocking(move || store.get_project(&lookup)).await??;
            let not_found = || ApiError::new(Code::ProjectNotFound, format!("project {name:?} does not exist"));
            let project = project.ok_or_else(not_found)?;
            check_project(p, project.id, need, not_found)
        }
    }
}

/// Callers with no role in the project see 404, as if the object did not exist;
/// callers with a role that is not enough see 403.
pub fn check_project(
    p: &Principal,
    project_id: i64,
    need: Need,
    not_found: impl FnOnce() -> ApiError,
) -> Result<(), ApiError> {
    if !p.knows(project_id) {
        return Err(not_found());
    }
    if !p.allows(project_id, need) {
        return Err(forbidden(need, "this project"));
    }
    Ok(())
}

async fn path_param(req: &mut Request, name: &str) -> Result<String, ApiError> {
    let params = req
        .extract_parts::<RawPathParams>()
        .await
        .map_err(|e| ApiError::new(Code::InvalidQuery, format!("invalid path: {}", e.body_text())))?;
    params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .ok_or_else(|| ApiError::internal(format!("route without a {{{name}}} parameter declares access by it")))
}
