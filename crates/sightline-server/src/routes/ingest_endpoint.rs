//! What every batch ingest endpoint does: read and decode the body, validate items on a
//! blocking thread, write the valid ones durably, count, and answer partial success.

use crate::batch::{self, BatchResult, Parsed};
use crate::body::{batch_format, decode, encoding};
use crate::error::{ApiError, Code};
use crate::state::{AppState, LoadedModel, blocking};
use crate::wire::loose::Loose;
use crate::wire::time::now_ms;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use sightline_core::{ModelIndex, Problem};
use sightline_store::{BatchOutcome, KeyRing, LabelInsert, WriteBatch};
use std::sync::Arc;

/// Reads the raw body (at most `limit` bytes on the wire) and decompresses it (at most
/// `limit` bytes decoded).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    let enc = encoding(headers)?;
    let too_large =
        || ApiError::new(Code::PayloadTooLarge, format!("the body is larger than the limit of {limit} bytes"));
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let raw = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.downcast_ref::<http_body_util::LengthLimitError>().is_some());
            return Err(if over {
                too_large()
            } else {
                ApiError::new(Code::InvalidJson, format!("could not read the request body: {e}"))
            });
        }
    };
    if enc == crate::body::Encoding::Identity {
        return Ok(raw);
    }
    blocking(move || decode(raw, enc, limit)).await?
}

/// What parsing one item may need besides the item.
pub struct ParseContext<'c> {
    pub index: &'c ModelIndex,
    pub model_id: i64,
    pub received_ms: i64,
    /// The key ring payloads are sealed with (see `PreparedPrediction::new`).
    pub keys: &'c KeyRing,
}

/// An ingest endpoint's specifics.
pub struct Endpoint<T> {
    /// Metric label and envelope member: `predictions`/`events`, `feedback`/`labels`.
    pub name: &'static str,
    pub key: &'static str,
    pub parse_one: for<'a> fn(Loose<'a>, &ParseContext<'_>) -> Result<T, Vec<Problem>>,
    pub request_id_of: fn(&T) -> &str,
    pub into_batch: fn(i64, i64, Vec<T>) -> WriteBatch,
}

/// Tells the aggregator which features had values of the wrong type in rejected
/// events, for the data-quality report.
fn count_type_mismatches(app: &AppState, model: &LoadedModel, received_ms: i64, rejected: &[crate::batch::Rejected]) {
    if rejected.iter().all(|r| r.wrong_types.is_empty()) {
        return;
    }
    let paths: std::collections::HashMap<String, &str> = model
        .record
        .spec
        .features
        .iter()
        .map(|f| (sightline_core::problem::field_path("features", &f.name), f.name.as_str()))
        .collect();
    let features: Vec<&str> =
        rejected.iter().flat_map(|r| &r.wrong_types).filter_map(|p| paths.get(p.as_str()).copied()).collect();
    app.aggregator.count_type_mismatches(model.id, received_ms, &features);
}

pub async fn run<T: Send + 'static>(
    app: &Arc<AppState>,
    model: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
    endpoint: Endpoint<T>,
) -> Response {
    let result = match super::support::path(model) {
        Ok(name) => handle(app, &name, headers, body, &endpoint).await,
        Err(e) => Err(e),
    };
    let response = match result {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    app.metrics.requests.with_label_values(&[endpoint.name, response.status().as_str()]).inc();
    response
}

async fn handle<T: Send + 'static>(
    app: &Arc<AppState>,
    model_name: &str,
    headers: HeaderMap,
    body: Body,
    endpoint: &Endpoint<T>,
) -> Result<BatchResult, ApiError> {
    let model: Arc<LoadedModel> = app.model(model_name).await?;
    let format = batch_format(&headers)?;
    let bytes = read_body(&headers, body, app.limits.max_body_bytes).await?;
    let received_ms = now_ms();
    let max = app.limits.max_batch_events;
    let (key, parse_one, request_id_of) = (endpoint.key, endpoint.parse_one, endpoint.request_id_of);
    let m = model.clone();
    // Travels with the batch to the writer, which releases it after the commit: a key
    // rotation waits for every ring it replaced to be released before its re-encryption
    // pass starts, so no row sealed under an old key can land behind the pass.
    let ring = app.keys.current();
    let sealing = ring.clone();
    let Parsed { valid, rejected } = blocking(move || {
        let cx = ParseContext { index: &m.index, model_id: m.id, received_ms, keys: &sealing };
        batch::parse(&bytes, format, key, max, |v| parse_one(v, &cx), request_id_of)
    })
    .await??;
    for r in &rejected {
        app.metrics.rejected.with_label_values(&[endpoint.name, r.reason.as_str()]).inc();
    }
    if endpoint.name == "predictions" {
        count_type_mismatches(app, &model, received_ms, &rejected);
    }
    if valid.is_empty() {
        return Ok(BatchResult { accepted: 0, duplicates: 0, unmatched: None, rejected });
    }
    let outcome = app.write(&model, (endpoint.into_batch)(model.id, received_ms, valid), ring).await?;
    let (accepted, duplicates, unmatched) = match outcome {
        BatchOutcome::Predictions(stored) => {
            let new = stored.iter().filter(|s| **s).count();
            (new, stored.len() - new, None)
        }
        BatchOutcome::Labels(inserts) => {
            let dup = inserts.iter().filter(|i| **i == LabelInsert::Duplicate).count();
            let unmatched = inserts.iter().filter(|i| **i == LabelInsert::Stored { version: None }).count();
            (inserts.len() - dup, dup, Some(unmatched))
        }
        BatchOutcome::Errors(stored) => {
            let new = stored.iter().filter(|s| **s).count();
            (new, stored.len() - new, None)
        }
        BatchOutcome::Resealed(_) | BatchOutcome::Profiles { .. } => {
            return Err(ApiError::internal("the writer answered an ingest batch as another kind of write"));
        }
    };
    Ok(BatchResult { accepted, duplicates, unmatched, rejected })
}

impl IntoResponse for BatchResult {
    fn into_response(self) -> Response {
        BatchResult::into_response(self)
    }
}
