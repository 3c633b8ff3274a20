//! Liveness, readiness, the Prometheus scrape endpoint and the API description.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Alive: the process answers HTTP.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready: migrations and recovery are done and the server is not shutting down.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let (content_type, text) = state.metrics.render().map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

/// The OpenAPI document of the API, kept beside the code and checked against the
/// router's route table by the test suite.
pub const OPENAPI: &str = include_str!("../../openapi.json");

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
