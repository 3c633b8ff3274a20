//! The web UI: server-rendered pages under `/ui/` (maud templates, SVG charts drawn by
//! plotters, one small script for refresh, time ranges and hover details).
//!
//! Pages read the same code the JSON API does (profiles through `analysis`, realized
//! performance through `performance`, the signal queries monitors use) and need a
//! browser session: without one they redirect to the sign-in page. Access to a model is
//! checked as the API checks it (no role in its project: 404). Forms carry the
//! session's CSRF token, which the sign-in form keeps in a second HttpOnly cookie.

mod alerts;
mod assets;
mod audit;
mod channel_form;
pub mod charts;
mod data;
mod explain;
mod explain_charts;
mod feature;
mod incidents;
mod issues;
mod layout;
mod lineage;
mod model;
mod overview;
mod predictions;
mod range;
mod registry;
mod retraining;
mod session;
mod settings;
mod version;
mod version_forms;

use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::state::{AppState, LoadedModel};
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;
use sightline_core::Need;
use std::sync::Arc;

pub use session::Viewer;

/// The UI's routes; their form posts are audited (`audit.rs`).
pub fn router(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(overview::page))
        .route("/ui/sign-in", get(session::form).post(session::sign_in))
        .route("/ui/sign-out", post(session::sign_out))
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/ui/models/{model}", get(model::page))
        .route("/ui/models/{model}/features/{feature}", get(feature::page))
        .route("/ui/models/{model}/registry", get(registry::page))
        .route("/ui/models/{model}/retraining", get(retraining::page))
        .route("/ui/models/{model}/versions/{version}", get(version::page))
        .route("/ui/models/{model}/versions/{version}/stage", post(version_forms::set_stage))
        .route("/ui/models/{model}/versions/{version}/aliases", post(version_forms::set_alias))
        .route("/ui/models/{model}/versions/{version}/aliases/{alias}/delete", post(version_forms::remove_alias))
        .route("/ui/models/{model}/versions/{version}/explain", get(explain::page))
        .route("/ui/models/{model}/issues", get(issues::list))
        .route("/ui/models/{model}/issues/{issue}", get(issues::one))
        .route("/ui/models/{model}/issues/{issue}/status", post(issues::set))
        .route("/ui/models/{model}/predictions", get(predictions::list))
        .route("/ui/models/{model}/predictions/{request_id}", get(predictions::one))
        .route("/ui/alerts", get(alerts::page))
        .route("/ui/monitors", post(alerts::create))
        .route("/ui/monitors/{monitor}", get(alerts::view).post(alerts::update))
        .route("/ui/monitors/{monitor}/delete", post(alerts::remove))
        .route("/ui/incidents", get(incidents::list))
        .route("/ui/lineage", get(lineage::page))
        .route("/ui/incidents/{incident}", get(incidents::one))
        .route("/ui/settings", get(settings::page))
        .route("/ui/settings/members", post(settings::set_member))
        .route("/ui/settings/tokens", post(settings::make_token))
        .route("/ui/settings/tokens/{token}/revoke", post(settings::revoke_token))
        .route("/ui/settings/channels", post(channel_form::create))
        .route("/ui/settings/channels/{channel}/test", post(settings::test_channel))
        .route("/ui/settings/channels/{channel}/delete", post(settings::delete_channel))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), audit::layer))
}

/// What a page handler answers when it cannot render its page.
#[derive(Debug)]
pub enum Failure {
    /// Not signed in (or the session ended): to the sign-in page, then back.
    SignIn {
        next: String,
    },
    Error(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Error(e)
    }
}

impl From<sightline_store::StoreError> for Failure {
    fn from(e: sightline_store::StoreError) -> Self {
        Failure::Error(e.into())
    }
}

impl From<crate::analysis::AnalysisError> for Failure {
    fn from(e: crate::analysis::AnalysisError) -> Self {
        Failure::Error(ApiError::internal(format!("profiles cannot be read: {e}")))
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::SignIn { next } => {
                Redirect::to(&format!("/ui/sign-in?{}", session::encode(&[("next", &next)]))).into_response()
            }
            Failure::Error(e) => {
                let status = e.code.status();
                if status.is_server_error() {
                    tracing::error!(detail = %e.detail, "a page failed");
                }
                // Internal details are logged, not shown.
                let detail = if status.is_server_error() { "the server could not build this page" } else { &e.detail };
                (status, Html(layout::error_page(status, detail).into_string())).into_response()
            }
        }
    }
}

pub type PageResult = Result<Response, Failure>;

/// A rendered page as a response.
pub fn html(markup: Markup) -> Response {
    (StatusCode::OK, Html(markup.into_string())).into_response()
}

/// What a path segment keeps as it is: letters, digits, `-`, `_`, `~`. Dots are
/// encoded too, so that an id such as `..` cannot become a relative path step.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// `s` as one segment of a URL path (request ids and feature names may hold anything).
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// The model named in a page's path, if the viewer may read it; otherwise 404 as the
/// API answers.
pub async fn readable_model(app: &Arc<AppState>, p: &Principal, name: &str) -> Result<Arc<LoadedModel>, Failure> {
    let not_found = || ApiError::new(Code::ModelNotFound, format!("model {name:?} does not exist"));
    let model = app.model(name).await.map_err(|_| not_found())?;
    crate::auth::gate::check_project(p, model.record.project_id, Need::Read, not_found)?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_keep_only_safe_characters() {
        assert_eq!(super::segment("demo-1_a~"), "demo-1_a~");
        assert_eq!(super::segment("../a b/é?#"), "%2E%2E%2Fa%20b%2F%C3%A9%3F%23");
    }
}
