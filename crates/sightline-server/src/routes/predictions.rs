//! Prediction events: batch ingest, listing, and one prediction with its label.

use super::ingest_endpoint::{Endpoint, run};
use super::support::{decode_cursor, encode_cursor, limit, path, query};
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use crate::wire::prediction::{parse, to_json};
use crate::wire::time::parse_query;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::{Problem, Reason};
use sightline_store::{PredictionQuery, PreparedPrediction, WriteBatch};
use std::sync::Arc;

pub async fn ingest(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let endpoint = Endpoint {
        name: "predictions",
        key: "events",
        // Encoding and sealing happen here, on the request's blocking thread, not on the writer.
        parse_one: |v, cx| {
            let event = parse(v, cx.index, cx.received_ms)?;
            PreparedPrediction::new(event, cx.model_id, cx.keys)
                .map_err(|e| vec![Problem::new("", Reason::TooLong, format!("cannot be stored: {e}"))])
        },
        request_id_of: |e: &PreparedPrediction| e.request_id.as_str(),
        into_batch: |model_id, received_ms, events| WriteBatch::Predictions { model_id, received_ms, events },
    };
    run(&app, p, headers, body, endpoint).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    from: Option<String>,
    to: Option<String>,
    version: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

fn time_param(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value.map(|v| parse_query(v).map_err(|m| ApiError::new(Code::InvalidQuery, format!("{name}: {m}")))).transpose()
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let params = query(q)?;
    let limit = limit(params.limit)?;
    let before = match params.cursor.as_deref().map(decode_cursor).transpose()? {
        None => None,
        Some(raw) => {
            let parsed = raw.split_once(':').and_then(|(t, s)| Some((t.parse().ok()?, s.parse().ok()?)));
            Some(parsed.ok_or_else(|| ApiError::new(Code::InvalidQuery, "cursor: not a cursor this server issued"))?)
        }
    };
    let query = PredictionQuery {
        model_id: model.id,
        from_ms: time_param("from", params.from.as_deref())?,
        to_ms: time_param("to", params.to.as_deref())?,
        version: params.version,
        before,
        limit: limit + 1,
    };
    let store = app.store.clone();
    let rows = blocking(move || store.list_predictions(&query)).await??;
    let more = rows.len() > limit;
    let items: Vec<Value> = rows.iter().take(limit).map(|p| to_json(p, &model.index)).collect();
    let next =
        if more { rows.get(limit - 1).map(|p| encode_cursor(&format!("{}:{}", p.timestamp_ms, p.seq))) } else { None };
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let (name, request_id) = path(p)?;
    let model = app.model(&name).await?;
    let store = app.store.clone();
    let id = model.id;
    let rid = request_id.clone();
    match blocking(move || store.get_prediction(id, &rid)).await?? {
        Some(p) => Ok(Json(to_json(&p, &model.index))),
        None => Err(ApiError::new(
            Code::PredictionNotFound,
            format!("model {name:?} has no prediction with request_id {request_id:?}"),
        )),
    }
}
