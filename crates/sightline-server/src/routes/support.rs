//! Extractor plumbing shared by handlers: path and query errors as problem documents,
//! opaque cursors, page limits.

use crate::error::{ApiError, Code};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
