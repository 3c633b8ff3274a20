//! The audit log: filtered pages, and a streamed export (NDJSON) whose entries carry
//! their chain hashes, so an exported copy can be verified on its own.

use super::support::{limit, query};
use crate::auth::Principal;
use crate::auth::gate::{audit, client_address};
use crate::error::{ApiError, Code};
use crate::state::{AppState, blocking};
use crate::wire::audit::record_json;
use crate::wire::time::{now_ms, parse_query};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{OriginalUri, Query, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_store::AuditQuery;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    from: Option<String>,
    to: Option<String>,
    actor: Option<String>,
    /// Entries whose action starts with this, e.g. `auth.` or `POST /api/v1/tokens`.
    action: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn audit_query(f: &Filter, limit: usize) -> Result<AuditQuery, ApiError> {
    let time = |name: &str, v: &Option<String>| {
        v.as_deref().map(parse_query).transpose().map_err(|m| ApiError::new(Code::InvalidQuery, format!("{name}: {m}")))
    };
    let after_seq = f
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| ApiError::new(Code::InvalidQuery, "cursor: not a cursor this server issued"))
        })
        .transpose()?;
    Ok(AuditQuery {
        from_ms: time("from", &f.from)?,
        to_ms: time("to", &f.to)?,
        actor: f.actor.clone(),
        action_prefix: f.action.clone(),
        after_seq,
        limit,
    })
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    q: Result<Query<Filter>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let f = query(q)?;
    let limit = limit(f.limit)?;
    let q = audit_query(&f, limit + 1)?;
    let store = app.store.clone();
    let records = blocking(move || store.list_audit(&q)).await??;
    let more = records.len() > limit;
    let items: Vec<Value> = records.iter().take(limit).map(record_json).collect();
    let next = more.then(|| records.get(limit - 1).map(|r| r.seq.to_string())).flatten();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

const EXPORT_PAGE: usize = 1_000;

/// Every matching entry as NDJSON, read a page at a time (constant memory). The
/// export itself is an audited event.
pub async fn export(State(app): State<Arc<AppState>>, request: Request) -> Result<Response, ApiError> {
    let source = client_address(&request);
    let actor = request.extensions().get::<Arc<Principal>>().map(|p| p.actor.clone()).unwrap_or_default();
    let (mut parts, _) = request.into_parts();
    let f: Filter = query(Query::try_from_uri(&parts.uri))?;
    let first = audit_query(&f, EXPORT_PAGE)?;
    let target = parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.path(), |u| u.0.path()).to_owned();
    audit(&app, &actor, &source, "audit.export", &target, "success", now_ms()).await;
    parts.extensions.clear();
    let store = app.store.clone();
    let pages = futures_util::stream::unfold(Some(first), move |next| {
        let store = store.clone();
        async move {
            let q = next?;
            let page = blocking(move || store.list_audit(&q).map(|rows| (rows, q))).await;
            let (rows, q) = match page {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => return Some((Err(std::io::Error::other(e.to_string())), None)),
                Err(e) => return Some((Err(std::io::Error::other(e.detail)), None)),
            };
            let mut chunk = Vec::with_capacity(rows.len() * 256);
            for r in &rows {
                // Serializing a JSON value to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut chunk, &record_json(r));
                chunk.push(b'\n');
            }
            let following = (rows.len() == q.limit).then(|| AuditQuery { after_seq: rows.last().map(|r| r.seq), ..q });
            if rows.is_empty() { None } else { Some((Ok::<_, std::io::Error>(chunk), following)) }
        }
    });
    let mut response = Body::from_stream(pages).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    Ok(response)
}
