//! `GET /models/{model}/export`: labelled predictions as training data (CSV, NDJSON or
//! Parquet), streamed page by page; `GET /models/{model}/export/schema`: its columns.

use super::drift::{check_known, time, version_named};
use super::support::{path, query};
use crate::error::{ApiError, Code};
use crate::export::{self, Column, Encoder, Format, Source};
use crate::state::{AppState, blocking};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sightline_store::{PredictionQuery, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// Predictions read (decrypted and encoded) per step of the stream.
pub const PAGE: usize = 1_000;

/// Where the stream stands.
enum Step {
    Page(PredictionQuery, Box<Encoder>),
    Finish(Box<Encoder>),
    Done,
}

fn source_json(c: &Column) -> Value {
    match &c.source {
        Source::RequestId => json!("request_id"),
        Source::Timestamp => json!("timestamp"),
        Source::Version => json!("version"),
        Source::Feature(_, kind) => json!({"feature": kind.as_str()}),
        Source::Prediction => json!("prediction"),
        Source::Score(_) => json!("score"),
        Source::Label => json!("label"),
        Source::LabelTimestamp => json!("label_timestamp"),
    }
}

pub async fn schema(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let columns: Vec<Value> = export::columns(&model.record.spec)
        .iter()
        .map(|c| json!({"name": c.name, "type": c.kind.as_str(), "source": source_json(c)}))
        .collect();
    Ok(Json(json!({"model": model.record.spec.name, "task": model.record.spec.task.as_str(), "columns": columns})))
}

/// One step of the stream on a blocking thread: a page's bytes and what comes next.
fn step(store: &dyn Store, columns: &[Column], labelled_only: bool, state: Step) -> Result<(Vec<u8>, Step), String> {
    match state {
        Step::Done => Ok((Vec::new(), Step::Done)),
        Step::Finish(encoder) => Ok((encoder.finish()?, Step::Done)),
        Step::Page(q, mut encoder) => {
            let page = store.list_predictions(&q).map_err(|e| e.to_string())?;
            let rows: Vec<Vec<export::Cell>> =
                page.iter().filter(|p| !labelled_only || p.label.is_some()).map(|p| export::row(columns, p)).collect();
            let bytes = encoder.page(&rows)?;
            let next = match page.last() {
                Some(last) if page.len() == q.limit => {
                    Step::Page(PredictionQuery { before: Some((last.timestamp_ms, last.seq)), ..q }, encoder)
                }
                _ => Step::Finish(encoder),
            };
            Ok((bytes, next))
        }
    }
}

pub async fn export(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let model = app.model(&path(p)?).await?;
    let params = query(q)?;
    check_known(&params, &["version", "from", "to", "format", "unlabelled"], false)?;
    let format = match params.get("format") {
        None => Format::Csv,
        Some(f) => Format::parse(f)
            .ok_or_else(|| ApiError::new(Code::InvalidQuery, "format: must be csv, ndjson or parquet"))?,
    };
    let labelled_only = match params.get("unlabelled").map(String::as_str) {
        None | Some("false") => true,
        Some("true") => false,
        Some(_) => return Err(ApiError::new(Code::InvalidQuery, "unlabelled: must be true or false")),
    };
    let (from, to) = (time(&params, "from")?, time(&params, "to")?);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::new(Code::InvalidQuery, "from: must be before to"));
    }
    let version = match params.get("version") {
        Some(name) => Some(version_named(&app, &model, "version", name).await?.1),
        None => None,
    };
    let columns = export::columns(&model.record.spec);
    let encoder = Encoder::new(format, columns.clone()).map_err(ApiError::internal)?;
    let first = PredictionQuery { model_id: model.id, from_ms: from, to_ms: to, version, before: None, limit: PAGE };
    let (store, columns) = (app.store.clone(), Arc::new(columns));
    let pages = futures_util::stream::unfold(Step::Page(first, Box::new(encoder)), move |state| {
        let (store, columns) = (store.clone(), columns.clone());
        async move {
            if matches!(state, Step::Done) {
                return None;
            }
            let done = blocking(move || step(store.as_ref(), &columns, labelled_only, state)).await;
            match done {
                Ok(Ok((bytes, next))) => Some((Ok::<_, std::io::Error>(bytes), next)),
                // The status is sent already: a failure ends the body early, which the client sees.
                Ok(Err(e)) => Some((Err(std::io::Error::other(e)), Step::Done)),
                Err(e) => Some((Err(std::io::Error::other(e.detail)), Step::Done)),
            }
        }
    });
    let mut response = Body::from_stream(pages).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    let disposition = format!("attachment; filename=\"{}.{}\"", model.record.spec.name, format.name());
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
