//! Extractor plumbing shared by handlers: path and query errors as problem documents,
//! opaque cursors, page limits.

use crate::body::require_json;
use crate::error::{ApiError, Code, FieldError};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use sightline_store::Page;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

pub fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(t)| t).map_err(|e| ApiError::new(Code::InvalidQuery, format!("invalid path: {}", e.body_text())))
}

pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| ApiError::new(Code::InvalidQuery, e.body_text()))
}

pub fn limit(requested: Option<usize>) -> Result<usize, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::new(Code::InvalidQuery, format!("limit: must be between 1 and {MAX_LIMIT}"))),
    }
}

pub fn encode_cursor(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

pub fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::new(Code::InvalidQuery, "cursor: not a cursor this server issued"))
}

/// `?cursor=&limit=` of the list endpoints whose only parameters are the page's.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// The page a list request asks for: `cursor` (from the previous answer's
/// `next_cursor`) decoded by `key`, and one item more than `limit` so that the answer
/// knows whether another page follows.
pub fn page_request<K>(
    cursor: Option<&str>,
    requested: Option<usize>,
    key: impl FnOnce(&str) -> Option<K>,
) -> Result<(Page<K>, usize), ApiError> {
    let limit = limit(requested)?;
    let after = match cursor {
        None => None,
        Some(c) => Some(
            key(&decode_cursor(c)?)
                .ok_or_else(|| ApiError::new(Code::InvalidQuery, "cursor: not a cursor this server issued"))?,
        ),
    };
    Ok((Page { after, limit: limit + 1 }, limit))
}

/// Cuts a page fetched with `page_request` to `limit` items and returns the cursor of
/// the next page (the last item's key), if there is one.
pub fn page_answer<T>(items: &mut Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Option<String> {
    if items.len() <= limit {
        return None;
    }
    items.truncate(limit);
    items.last().map(|last| encode_cursor(&key(last)))
}

/// Parses a JSON body into `T`, reporting the failing field by its JSON path.
pub fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    require_json(headers)?;
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(Code::InvalidJson, format!("the body is not valid JSON: {inner}"))
        } else {
            let path = if path == "." { "$".to_owned() } else { format!("$.{path}") };
            ApiError::validation(format!("{path}: {inner}"), vec![FieldError { path, message: inner.to_string() }])
        }
    })
}

/// Most bytes of a document body (a model, a user, a token request...).
const MAX_DOC_BYTES: usize = 4 * 1024 * 1024;

/// Reads a document body (decompressed, bounded).
pub async fn read_small(headers: &HeaderMap, body: axum::body::Body) -> Result<bytes::Bytes, ApiError> {
    crate::routes::ingest_endpoint::read_body(headers, body, MAX_DOC_BYTES).await
}

/// Reads a document body and parses it into `T` (the two steps every JSON handler takes).
pub async fn read_json<T: DeserializeOwned>(headers: &HeaderMap, body: axum::body::Body) -> Result<T, ApiError> {
    let bytes = read_small(headers, body).await?;
    json_body(headers, &bytes)
}

/// A validation error on one field.
pub fn invalid(path: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::validation(format!("{path}: {message}"), vec![FieldError { path: path.to_owned(), message }])
}
