//! The HTTP router: every route of the server, its middleware and fallbacks.

mod admin_keys;
mod alerts;
mod audit;
pub(crate) mod auth_api;
pub(crate) mod channels;
mod compare;
pub mod drift;
pub mod drift_settings;
pub(crate) mod errors;
mod explain;
mod export;
mod feedback;
mod health;
pub(crate) mod incidents;
mod ingest_endpoint;
mod lineage;
pub(crate) mod models;
pub(crate) mod monitors;
pub mod performance;
pub(crate) mod predictions;
pub(crate) mod projects;
mod reference;
pub(crate) mod registry;
mod retraining;
mod silences;
pub(crate) mod support;
pub(crate) mod tokens;
mod users;

use crate::auth::Access;
use crate::auth::gate::gate;
use crate::error::{ApiError, Code};
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::Method;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use sightline_core::Need;
use std::sync::Arc;

type Handler = MethodRouter<Arc<AppState>>;
type Route = (Method, &'static str, Access, Handler);

/// Every API route (under `/api/v1`) with the access it needs: the one table the router
/// is built from, the OpenAPI document is checked against, and the role matrix test
/// walks — so no route can exist without a declared access check.
fn api_routes() -> Vec<Route> {
    use Access::{Authenticated, Handler as InHandler, Model, Project, Public, Server};
    use Need::{Admin, Edit, Ingest, Read};
    vec![
        (Method::POST, "/auth/login", Public, post(auth_api::login)),
        (Method::POST, "/auth/logout", Authenticated, post(auth_api::logout)),
        (Method::GET, "/auth/me", Authenticated, get(auth_api::me)),
        (Method::POST, "/auth/password", Authenticated, post(auth_api::change_password)),
        (Method::POST, "/auth/totp/setup", Authenticated, post(auth_api::totp_setup)),
        (Method::POST, "/auth/totp/enable", Authenticated, post(auth_api::totp_enable)),
        (Method::POST, "/auth/totp/disable", Authenticated, post(auth_api::totp_disable)),
        (Method::GET, "/projects", InHandler(Read), get(projects::list)),
        (Method::POST, "/projects", Server(Admin), post(projects::create)),
        (Method::GET, "/projects/{project}", Project(Read), get(projects::get)),
        (Method::GET, "/projects/{project}/members", Project(Admin), get(projects::members)),
        (Method::PUT, "/projects/{project}/members/{user}", Project(Admin), put(projects::set_member)),
        (Method::DELETE, "/projects/{project}/members/{user}", Project(Admin), delete(projects::remove_member)),
        (Method::GET, "/users", Server(Admin), get(users::list)),
        (Method::POST, "/users", Server(Admin), post(users::create)),
        (Method::GET, "/users/{user}", Server(Admin), get(users::get)),
        (Method::PATCH, "/users/{user}", Server(Admin), patch(users::update)),
        (Method::GET, "/tokens", InHandler(Admin), get(tokens::list)),
        (Method::POST, "/tokens", InHandler(Read), post(tokens::create)),
        (Method::DELETE, "/tokens/{token}", InHandler(Admin), delete(tokens::revoke)),
        (Method::GET, "/audit", Server(Admin), get(audit::list)),
        (Method::GET, "/audit/export", Server(Admin), get(audit::export)),
        (Method::GET, "/models", InHandler(Read), get(models::list)),
        (Method::POST, "/models", InHandler(Edit), post(models::create)),
        (Method::GET, "/models/{model}", Model(Read), get(models::get)),
        (Method::POST, "/models/{model}/features", Model(Edit), post(models::add_features)),
        (Method::GET, "/models/{model}/versions", Model(Read), get(models::list_versions)),
        (Method::POST, "/models/{model}/versions", Model(Edit), post(models::create_version)),
        (Method::GET, "/models/{model}/versions/{version}/explainer", Model(Read), get(explain::get_explainer)),
        (
            Method::DELETE,
            "/models/{model}/versions/{version}/explainer",
            Model(Edit),
            delete(explain::delete_explainer),
        ),
        (
            Method::PUT,
            "/models/{model}/versions/{version}/explainer/model-file",
            Model(Edit),
            put(explain::put_model_file),
        ),
        (Method::PUT, "/models/{model}/versions/{version}/explainer/endpoint", Model(Edit), put(explain::put_endpoint)),
        (Method::POST, "/models/{model}/versions/{version}/explain", Model(Read), post(explain::explain)),
        (Method::GET, "/models/{model}/versions/{version}/importance", Model(Read), get(explain::importance)),
        (Method::POST, "/models/{model}/versions/{version}/partial-dependence", Model(Read), post(explain::pdp)),
        (
            Method::POST,
            "/models/{model}/versions/{version}/permutation-importance",
            Model(Read),
            post(explain::permutation),
        ),
        (Method::GET, "/models/{model}/versions/{version}", Model(Read), get(registry::get_version)),
        (Method::PATCH, "/models/{model}/versions/{version}", Model(Edit), patch(registry::patch_version)),
        (Method::PUT, "/models/{model}/versions/{version}/stage", Model(Edit), put(registry::set_stage)),
        (Method::GET, "/models/{model}/versions/{version}/artifacts", Model(Read), get(registry::list_artifacts)),
        (
            Method::GET,
            "/models/{model}/versions/{version}/artifacts/{*path}",
            Model(Read),
            get(registry::download_artifact),
        ),
        (
            Method::PUT,
            "/models/{model}/versions/{version}/artifacts/{*path}",
            Model(Edit),
            put(registry::upload_artifact),
        ),
        (Method::GET, "/models/{model}/aliases", Model(Read), get(registry::list_aliases)),
        (Method::PUT, "/models/{model}/aliases/{alias}", Model(Edit), put(registry::set_alias)),
        (Method::DELETE, "/models/{model}/aliases/{alias}", Model(Edit), delete(registry::delete_alias)),
        (Method::GET, "/models/{model}/registry-history", Model(Read), get(registry::history)),
        (Method::GET, "/models/{model}/promotion-gate", Model(Read), get(registry::get_gate)),
        (Method::PUT, "/models/{model}/promotion-gate", Model(Edit), put(registry::put_gate)),
        (
            Method::GET,
            "/models/{model}/versions/{version}/promotion-reports",
            Model(Read),
            get(registry::promotion_reports),
        ),
        (Method::GET, "/models/{model}/predictions", Model(Read), get(predictions::list)),
        (Method::POST, "/models/{model}/predictions", Model(Ingest), post(predictions::ingest)),
        (Method::GET, "/models/{model}/predictions/{request_id}", Model(Read), get(predictions::get)),
        (Method::POST, "/models/{model}/feedback", Model(Ingest), post(feedback::ingest)),
        (Method::POST, "/models/{model}/errors", Model(Ingest), post(errors::ingest)),
        (Method::GET, "/models/{model}/issues", Model(Read), get(errors::list)),
        (Method::GET, "/models/{model}/issues/{issue}", Model(Read), get(errors::get)),
        (Method::PATCH, "/models/{model}/issues/{issue}", Model(Edit), patch(errors::update)),
        (Method::GET, "/models/{model}/reference", Model(Read), get(reference::list)),
        (Method::PUT, "/models/{model}/reference", Model(Edit), put(reference::upload)),
        (Method::DELETE, "/models/{model}/reference", Model(Edit), delete(reference::delete)),
        (Method::POST, "/models/{model}/reference/from-logs", Model(Edit), post(reference::from_logs)),
        (Method::GET, "/models/{model}/drift", Model(Read), get(drift::drift)),
        (Method::GET, "/models/{model}/drift-settings", Model(Read), get(drift_settings::get)),
        (Method::PUT, "/models/{model}/drift-settings", Model(Edit), put(drift_settings::put)),
        (Method::GET, "/models/{model}/data-quality", Model(Read), get(drift::data_quality)),
        (Method::GET, "/models/{model}/performance", Model(Read), get(performance::performance)),
        (Method::GET, "/models/{model}/compare", Model(Read), get(compare::compare_versions)),
        (Method::GET, "/models/{model}/export", Model(Read), get(export::export)),
        (Method::GET, "/models/{model}/export/schema", Model(Read), get(export::schema)),
        (Method::GET, "/models/{model}/retraining-policies", Model(Read), get(retraining::list)),
        (Method::GET, "/models/{model}/retraining-policies/{policy}", Model(Read), get(retraining::get)),
        (Method::PUT, "/models/{model}/retraining-policies/{policy}", Model(Edit), put(retraining::put)),
        (Method::DELETE, "/models/{model}/retraining-policies/{policy}", Model(Edit), delete(retraining::delete)),
        (
            Method::POST,
            "/models/{model}/retraining-policies/{policy}/evaluate",
            Model(Edit),
            post(retraining::evaluate_now),
        ),
        (Method::GET, "/models/{model}/retraining-triggers", Model(Read), get(retraining::triggers)),
        (Method::GET, "/monitors", InHandler(Read), get(monitors::list)),
        (Method::POST, "/monitors", InHandler(Edit), post(monitors::create)),
        (Method::GET, "/monitors/{monitor}", InHandler(Read), get(monitors::get)),
        (Method::PUT, "/monitors/{monitor}", InHandler(Edit), put(monitors::replace)),
        (Method::DELETE, "/monitors/{monitor}", InHandler(Edit), delete(monitors::delete)),
        (Method::GET, "/alerts", InHandler(Read), get(alerts::list)),
        (Method::GET, "/alerts/{alert}", InHandler(Read), get(alerts::get)),
        (Method::POST, "/alerts/{alert}/acknowledge", InHandler(Edit), post(alerts::acknowledge)),
        (Method::GET, "/silences", InHandler(Read), get(silences::list)),
        (Method::POST, "/silences", InHandler(Edit), post(silences::create)),
        (Method::DELETE, "/silences/{silence}", InHandler(Edit), delete(silences::expire)),
        (Method::GET, "/channels", InHandler(Admin), get(channels::list)),
        (Method::POST, "/channels", InHandler(Admin), post(channels::create)),
        (Method::GET, "/channels/{channel}", InHandler(Admin), get(channels::get)),
        (Method::DELETE, "/channels/{channel}", InHandler(Admin), delete(channels::delete)),
        (Method::POST, "/channels/{channel}/test", InHandler(Admin), post(channels::test)),
        (Method::GET, "/incidents", InHandler(Read), get(incidents::list)),
        (Method::POST, "/incidents", InHandler(Edit), post(incidents::create)),
        (Method::GET, "/incidents/stats", InHandler(Read), get(incidents::stats)),
        (Method::GET, "/incidents/{incident}", InHandler(Read), get(incidents::get)),
        (Method::PATCH, "/incidents/{incident}", InHandler(Edit), patch(incidents::update)),
        (Method::POST, "/incidents/{incident}/notes", InHandler(Edit), post(incidents::add_note)),
        (Method::POST, "/lineage", InHandler(Ingest), post(lineage::ingest)),
        (Method::GET, "/lineage", InHandler(Read), get(lineage::graph)),
        (Method::GET, "/lineage/columns", InHandler(Read), get(lineage::columns)),
        (Method::GET, "/lineage/impact", InHandler(Read), get(lineage::impact)),
        (Method::GET, "/admin/keys", Server(Admin), get(admin_keys::status)),
        (Method::POST, "/admin/keys/rotate", Server(Admin), post(admin_keys::rotate)),
    ]
}

/// MLflow's REST API, at the paths the MLflow client calls. Each handler checks the
/// need against the project of the experiment, run or model it acts on.
fn mlflow_routes() -> Vec<Route> {
    use crate::mlflow::{artifacts as a, registry as r, tracking as t};
    use Access::Handler as InHandler;
    use Need::{Edit, Read};
    vec![
        (Method::POST, "/api/2.0/mlflow/experiments/create", InHandler(Edit), post(t::create_experiment)),
        (Method::GET, "/api/2.0/mlflow/experiments/get", InHandler(Read), get(t::get_experiment)),
        (Method::GET, "/api/2.0/mlflow/experiments/get-by-name", InHandler(Read), get(t::get_experiment_by_name)),
        (Method::POST, "/api/2.0/mlflow/experiments/search", InHandler(Read), post(t::search_experiments)),
        (Method::GET, "/api/2.0/mlflow/experiments/search", InHandler(Read), get(t::search_experiments)),
        (Method::POST, "/api/2.0/mlflow/experiments/update", InHandler(Edit), post(t::update_experiment)),
        (Method::POST, "/api/2.0/mlflow/experiments/delete", InHandler(Edit), post(t::delete_experiment)),
        (Method::POST, "/api/2.0/mlflow/experiments/restore", InHandler(Edit), post(t::restore_experiment)),
        (Method::POST, "/api/2.0/mlflow/experiments/set-experiment-tag", InHandler(Edit), post(t::set_experiment_tag)),
        (Method::POST, "/api/2.0/mlflow/runs/create", InHandler(Edit), post(t::create_run)),
        (Method::GET, "/api/2.0/mlflow/runs/get", InHandler(Read), get(t::get_run)),
        (Method::POST, "/api/2.0/mlflow/runs/update", InHandler(Edit), post(t::update_run)),
        (Method::POST, "/api/2.0/mlflow/runs/delete", InHandler(Edit), post(t::delete_run)),
        (Method::POST, "/api/2.0/mlflow/runs/restore", InHandler(Edit), post(t::restore_run)),
        (Method::POST, "/api/2.0/mlflow/runs/search", InHandler(Read), post(t::search_runs)),
        (Method::POST, "/api/2.0/mlflow/runs/log-parameter", InHandler(Edit), post(t::log_param)),
        (Method::POST, "/api/2.0/mlflow/runs/log-metric", InHandler(Edit), post(t::log_metric)),
        (Method::POST, "/api/2.0/mlflow/runs/log-batch", InHandler(Edit), post(t::log_batch)),
        (Method::POST, "/api/2.0/mlflow/runs/set-tag", InHandler(Edit), post(t::set_tag)),
        (Method::POST, "/api/2.0/mlflow/runs/delete-tag", InHandler(Edit), post(t::delete_tag)),
        (Method::POST, "/api/2.0/mlflow/runs/log-inputs", InHandler(Edit), post(t::log_inputs)),
        (Method::GET, "/api/2.0/mlflow/metrics/get-history", InHandler(Read), get(t::metric_history)),
        (Method::POST, "/api/2.0/mlflow/logged-models/search", InHandler(Read), post(t::search_logged_models)),
        (Method::POST, "/api/2.0/mlflow/registered-models/create", InHandler(Edit), post(r::create_model)),
        (Method::GET, "/api/2.0/mlflow/registered-models/get", InHandler(Read), get(r::get_model)),
        (Method::GET, "/api/2.0/mlflow/registered-models/search", InHandler(Read), get(r::search_models)),
        (Method::PATCH, "/api/2.0/mlflow/registered-models/update", InHandler(Edit), patch(r::update_model)),
        (Method::POST, "/api/2.0/mlflow/registered-models/rename", InHandler(Edit), post(r::rename_model)),
        (Method::DELETE, "/api/2.0/mlflow/registered-models/delete", InHandler(Edit), delete(r::delete_model)),
        (Method::POST, "/api/2.0/mlflow/registered-models/set-tag", InHandler(Edit), post(r::set_model_tag)),
        (Method::DELETE, "/api/2.0/mlflow/registered-models/delete-tag", InHandler(Edit), delete(r::delete_model_tag)),
        (
            Method::POST,
            "/api/2.0/mlflow/registered-models/get-latest-versions",
            InHandler(Read),
            post(r::latest_versions),
        ),
        (
            Method::GET,
            "/api/2.0/mlflow/registered-models/get-latest-versions",
            InHandler(Read),
            get(r::latest_versions),
        ),
        (Method::POST, "/api/2.0/mlflow/registered-models/alias", InHandler(Edit), post(r::set_alias)),
        (Method::DELETE, "/api/2.0/mlflow/registered-models/alias", InHandler(Edit), delete(r::delete_alias)),
        (Method::GET, "/api/2.0/mlflow/registered-models/alias", InHandler(Read), get(r::get_by_alias)),
        (Method::POST, "/api/2.0/mlflow/model-versions/create", InHandler(Edit), post(r::create_version)),
        (Method::GET, "/api/2.0/mlflow/model-versions/get", InHandler(Read), get(r::get_version)),
        (Method::GET, "/api/2.0/mlflow/model-versions/search", InHandler(Read), get(r::search_versions)),
        (Method::PATCH, "/api/2.0/mlflow/model-versions/update", InHandler(Edit), patch(r::update_version)),
        (Method::DELETE, "/api/2.0/mlflow/model-versions/delete", InHandler(Edit), delete(r::delete_version)),
        (Method::POST, "/api/2.0/mlflow/model-versions/set-tag", InHandler(Edit), post(r::set_version_tag)),
        (Method::DELETE, "/api/2.0/mlflow/model-versions/delete-tag", InHandler(Edit), delete(r::delete_version_tag)),
        (Method::POST, "/api/2.0/mlflow/model-versions/transition-stage", InHandler(Edit), post(r::transition_stage)),
        (Method::GET, "/api/2.0/mlflow/model-versions/get-download-uri", InHandler(Read), get(r::download_uri)),
        (Method::GET, "/api/2.0/mlflow-artifacts/artifacts", InHandler(Read), get(a::list)),
        (Method::GET, "/api/2.0/mlflow-artifacts/artifacts/{*path}", InHandler(Read), get(a::download)),
        (Method::PUT, "/api/2.0/mlflow-artifacts/artifacts/{*path}", InHandler(Edit), put(a::upload)),
    ]
}

/// Routes outside `/api/v1`: probes, metrics, the API description.
fn service_routes() -> Vec<Route> {
    vec![
        (Method::GET, "/healthz", Access::Public, get(health::healthz)),
        (Method::GET, "/readyz", Access::Public, get(health::readyz)),
        (Method::GET, "/metrics", Access::Server(Need::Read), get(health::metrics)),
        (Method::GET, "/api/v1/openapi.json", Access::Public, get(health::openapi)),
    ]
}

/// Every (method, full path, access) the server answers, for tests and documentation.
pub fn route_list() -> Vec<(Method, String, Access)> {
    let api = api_routes().into_iter().map(|(m, p, a, _)| (m, format!("/api/v1{p}"), a));
    let outside = service_routes().into_iter().chain(mlflow_routes());
    api.chain(outside.map(|(m, p, a, _)| (m, p.to_owned(), a))).collect()
}

fn build(state: &Arc<AppState>, routes: Vec<Route>) -> Router<Arc<AppState>> {
    // Each route gets the gate with its own access; routes sharing a path are merged
    // into one method router by axum.
    routes.into_iter().fold(Router::new(), |router, (_, path, access, handler)| {
        router.route(path, handler.route_layer(middleware::from_fn_with_state((state.clone(), access), gate)))
    })
}

pub fn router(state: Arc<AppState>) -> Router {
    let api = build(&state, api_routes()).route_layer(middleware::from_fn_with_state(state.clone(), require_ready));
    // MLflow's routes answer errors in MLflow's shape, the gate's refusals included.
    let mlflow = build(&state, mlflow_routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), require_ready))
        .layer(middleware::from_fn(crate::mlflow::error_layer));
    build(&state, service_routes())
        .nest("/api/v1", api)
        .merge(mlflow)
        .merge(crate::ui::router(&state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(close_after_refusal))
        // Bodies are read with explicit limits that count decompressed bytes.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(crate::request_log::layer))
        .layer(middleware::from_fn(crate::security_headers::layer))
        .with_state(state)
}

/// A request refused before its body was read in full (413 on the declared length,
/// 415, 404, 503...) leaves the rest of the body on the connection, and the HTTP layer
/// then closes the connection after answering — without saying so. A client that pools
/// connections (every SDK) would send its next request on that connection and see it
/// fail. So an error answer to a request with a body says `Connection: close`; the
/// cost is one new connection after an error.
async fn close_after_refusal(request: Request, next: Next) -> Response {
    let has_body = request.version() <= Version::HTTP_11
        && (request.headers().contains_key(header::TRANSFER_ENCODING)
            || request.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0"));
    let mut response = next.run(request).await;
    let status = response.status();
    if has_body && (status.is_client_error() || status.is_server_error()) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// API routes answer 503 until start-up (migrations, recovery) is done and again while
/// shutting down; /healthz, /readyz and /metrics always answer.
async fn require_ready(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if state.is_ready() {
        next.run(request).await
    } else {
        ApiError::new(Code::NotReady, "the server is starting up or shutting down").retry_after(1).into_response()
    }
}

async fn not_found(request: Request) -> Response {
    let message = format!("no route for {} {}", request.method(), request.uri().path());
    if request.uri().path().starts_with("/api/2.0/") {
        // The MLflow client reads `error_code` (and probes endpoints it may lack).
        let body = serde_json::json!({"error_code": "ENDPOINT_NOT_FOUND", "message": message});
        return (axum::http::StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    ApiError::new(Code::NotFound, message).into_response()
}

/// The router adds the `Allow` header to this answer.
async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(Code::MethodNotAllowed, format!("{} is not allowed on {}", request.method(), request.uri().path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_openapi_document_describes_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(health::OPENAPI).expect("openapi.json is JSON");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        // OpenAPI writes a catch-all `{*path}` as `{path}`.
        let served: BTreeSet<_> =
            route_list().into_iter().map(|(m, p, _)| (m.to_string(), p.replace("{*", "{"))).collect();
        assert_eq!(documented, served, "openapi.json and the route table differ");
    }
}
