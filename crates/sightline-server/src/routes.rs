//! The HTTP router: every route of the server, its middleware and fallbacks.

mod feedback;
mod health;
mod ingest_endpoint;
mod models;
mod predictions;
mod support;

use crate::error::{ApiError, Code};
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/models", get(models::list).post(models::create))
        .route("/models/{model}", get(models::get))
        .route("/models/{model}/versions", get(models::list_versions).post(models::create_version))
        .route("/models/{model}/predictions", get(predictions::list).post(predictions::ingest))
        .route("/models/{model}/predictions/{request_id}", get(predictions::get))
        .route("/models/{model}/feedback", axum::routing::post(feedback::ingest))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_ready));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/api/v1", api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(close_after_refusal))
        // Bodies are read with explicit limits that count decompressed bytes.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(crate::request_log::layer))
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

async fn not_found(request: Request) -> ApiError {
    ApiError::new(Code::NotFound, format!("no route for {} {}", request.method(), request.uri().path()))
}

/// The router adds the `Allow` header to this answer.
async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(Code::MethodNotAllowed, format!("{} is not allowed on {}", request.method(), request.uri().path()))
}
