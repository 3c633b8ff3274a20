//! Ground-truth labels: batch ingest. Labels are returned with their predictions.

use super::ingest_endpoint::{Endpoint, run};
use crate::state::AppState;
use crate::wire::label::parse;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use sightline_core::LabelEvent;
use sightline_store::WriteBatch;
use std::sync::Arc;

pub async fn ingest(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let endpoint = Endpoint {
        name: "feedback",
        key: "labels",
        parse_one: |v, cx| parse(v, cx.index, cx.received_ms),
        request_id_of: |e: &LabelEvent| e.request_id.as_str(),
        into_batch: |model_id, received_ms, events| WriteBatch::Labels { model_id, received_ms, events },
    };
    run(&app, p, headers, body, endpoint).await
}
