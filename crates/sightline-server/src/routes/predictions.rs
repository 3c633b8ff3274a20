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
use sightline_store::{PredictionQuery, PreparedPrediction, Store, StoreError, StoredPrediction, WriteBatch};
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
    tag: Option<String>,
}

/// A tag condition of a listing: `name=value`, or `name` alone for any value.
#[derive(Debug, Clone, PartialEq)]
pub struct TagFilter {
    name: String,
    value: Option<String>,
}

impl TagFilter {
    /// Parses `name=value` or `name`; the message names the `tag` parameter.
    pub fn parse(text: &str) -> Result<TagFilter, ApiError> {
        let (name, value) = match text.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().to_owned())),
            None => (text.trim(), None),
        };
        if name.is_empty() {
            return Err(ApiError::new(Code::InvalidQuery, "tag: write name=value, or name for any value"));
        }
        Ok(TagFilter { name: name.to_owned(), value })
    }

    fn matches(&self, p: &StoredPrediction) -> bool {
        p.tags.iter().any(|(k, v)| *k == self.name && self.value.as_ref().is_none_or(|want| want == v))
    }
}

/// Most predictions one page of a tag search reads: tags are inside the sealed payloads,
/// so the search reads newest first and filters; past this it stops and says where to go on.
pub const MAX_TAG_SCAN: usize = 100_000;
/// Predictions read at a time by a tag search.
const TAG_SCAN_PAGE: usize = 1_000;

/// A page of predictions and where the next one starts, `(timestamp, seq)`, if any.
pub type Page = (Vec<StoredPrediction>, Option<(i64, i64)>);

/// Up to `limit` predictions of `query` (newest first) with the tag, if one is given,
/// and the position after which the next page starts when there may be more: after
/// the last one returned, or after the last one read when the search stopped at
/// [`MAX_TAG_SCAN`] (the page may then hold fewer than `limit`).
pub fn list_matching(
    store: &dyn Store,
    mut query: PredictionQuery,
    tag: Option<&TagFilter>,
    limit: usize,
) -> Result<Page, StoreError> {
    let position = |p: &StoredPrediction| (p.timestamp_ms, p.seq);
    let Some(tag) = tag else {
        query.limit = limit + 1;
        let mut rows = store.list_predictions(&query)?;
        let next = (rows.len() > limit).then(|| rows.get(limit.wrapping_sub(1)).map(position)).flatten();
        rows.truncate(limit);
        return Ok((rows, next));
    };
    let mut found = Vec::new();
    let mut scanned = 0;
    query.limit = TAG_SCAN_PAGE;
    loop {
        let rows = store.list_predictions(&query)?;
        let exhausted = rows.len() < TAG_SCAN_PAGE;
        scanned += rows.len();
        let last = rows.last().map(position);
        for p in rows {
            if tag.matches(&p) {
                found.push(p);
                if found.len() > limit {
                    found.truncate(limit);
                    let next = found.last().map(position);
                    return Ok((found, next));
                }
            }
        }
        if exhausted {
            return Ok((found, None));
        }
        if scanned >= MAX_TAG_SCAN {
            return Ok((found, last));
        }
        query.before = last;
    }
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
    let tag = params.tag.as_deref().map(TagFilter::parse).transpose()?;
    let query = PredictionQuery {
        model_id: model.id,
        from_ms: time_param("from", params.from.as_deref())?,
        to_ms: time_param("to", params.to.as_deref())?,
        version: params.version,
        before,
        limit: limit + 1,
    };
    let store = app.store.clone();
    let (rows, next) = blocking(move || list_matching(store.as_ref(), query, tag.as_ref(), limit)).await??;
    let items: Vec<Value> = rows.iter().map(|p| to_json(p, &model.index)).collect();
    let next = next.map(|(t, seq)| encode_cursor(&format!("{t}:{seq}")));
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
