//! The audit log for the UI's forms: every POST under `/ui/` by a signed-in viewer (all
//! but sign-in, which `auth_api::sign_in` audits as `auth.login`) is appended as the
//! API's gate appends a state-changing request — actor, client address, method and
//! route, path, answer status — so that a change made through a page is as traceable
//! as the same change made through the API.

use super::Viewer;
use crate::auth::gate::{audit, client_address};
use crate::state::AppState;
use crate::wire::time::now_ms;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

pub async fn layer(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || request.uri().path() == "/ui/sign-in" {
        return next.run(request).await;
    }
    let now = now_ms();
    let source = client_address(&request);
    let target = request.uri().path().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| target.clone(), |m| m.as_str().to_owned());
    let (mut parts, body) = request.into_parts();
    // Without a session the handler sends the browser to sign in; nothing happened.
    let actor = Viewer::from_request_parts(&mut parts, &app).await.ok().map(|v| v.principal.actor.clone());
    let response = next.run(Request::from_parts(parts, body)).await;
    if let Some(actor) = actor {
        let outcome = response.status().as_u16().to_string();
        audit(&app, &actor, &source, &format!("POST {route}"), &target, &outcome, now).await;
    }
    response
}
