//! The predictions explorer: recent predictions of a model filtered by version, time
//! and tag, a search by request id, and one prediction with its features, scores, label
//! and error.

use super::layout::{self};
use super::{Failure, PageResult, Viewer, html, readable_model};
use crate::error::{ApiError, Code};
use crate::routes::predictions::{MAX_TAG_SCAN, TagFilter, list_matching};
use crate::state::{AppState, blocking};
use crate::wire::prediction::to_json;
use crate::wire::time::parse_query;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde_json::Value;
use sightline_store::PredictionQuery;
use std::collections::HashMap;
use std::sync::Arc;

const PAGE: usize = 50;

/// A time field: RFC 3339, epoch milliseconds, or a `datetime-local` value read as UTC.
fn time_field(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, Failure> {
    let Some(text) = q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) else { return Ok(None) };
    let full = match text.len() {
        16 => format!("{text}:00Z"),
        19 => format!("{text}Z"),
        _ => text.to_owned(),
    };
    parse_query(&full).map(Some).map_err(|m| ApiError::new(Code::InvalidQuery, format!("{name}: {m}")).into())
}

/// A JSON value as the table shows it.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), super::charts::number),
        other => other.to_string(),
    }
}

fn error_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Object(o) => format!("{}: {}", cell(&o["type"]), cell(&o["message"])),
        other => cell(other),
    }
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let model = readable_model(&app, &viewer.principal, &name).await?;
    let base = format!("/ui/models/{name}/predictions");
    if let Some(id) = q.get("request_id").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let target = format!("{base}/{}", super::segment(id));
        return Ok(Redirect::to(&target).into_response());
    }
    let version = q.get("version").filter(|v| !v.is_empty()).cloned();
    let (from, to) = (time_field(&q, "from")?, time_field(&q, "to")?);
    let before = match q.get("before").and_then(|b| b.split_once(':')) {
        Some((t, s)) => match (t.parse(), s.parse()) {
            (Ok(t), Ok(s)) => Some((t, s)),
            _ => return Err(ApiError::new(Code::InvalidQuery, "before: not a position this page gave").into()),
        },
        None => None,
    };
    let tag_text = q.get("tag").map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let tag = tag_text.as_deref().map(TagFilter::parse).transpose()?;
    let query =
        PredictionQuery { model_id: model.id, from_ms: from, to_ms: to, version: version.clone(), before, limit: 0 };
    let (store, id) = (app.store.clone(), model.id);
    let ((rows, next), versions) = blocking(move || -> Result<_, ApiError> {
        Ok((list_matching(store.as_ref(), query, tag.as_ref(), PAGE)?, store.list_versions(id, None, 100)?))
    })
    .await??;
    let shown: Vec<(&sightline_store::StoredPrediction, Value)> =
        rows.iter().map(|p| (p, to_json(p, &model.index))).collect();
    let older = next.map(|(t, seq)| format!("{t}:{seq}"));
    // A tag search that stopped at its scan limit before filling the page says so.
    let cut_short = tag_text.is_some() && older.is_some() && shown.len() < PAGE;
    let keep = |k: &str| q.get(k).cloned().unwrap_or_default();
    let body = html! {
        h1 { "Predictions of " (name) }
        form.stack method="get" action=(base) {
            label { "Request id" input name="request_id" placeholder="exact request id"; }
            label { "Version"
                select name="version" {
                    option value="" { "all versions" }
                    @for v in &versions {
                        option value=(v.name) selected[version.as_deref() == Some(v.name.as_str())] { (v.name) }
                    }
                }
            }
            label { "From (UTC)" input name="from" type="datetime-local" value=(keep("from")); }
            label { "To (UTC)" input name="to" type="datetime-local" value=(keep("to")); }
            label { "Tag" input name="tag" placeholder="name=value, or name" value=(keep("tag")); }
            button type="submit" { "Search" }
        }
        @if cut_short {
            p.muted { "The search read " (MAX_TAG_SCAN) " predictions and stopped; older ones may match too: follow “Older predictions”, or narrow the time range." }
        }
        @if shown.is_empty() { p.muted { "No predictions match." } }
        @if !shown.is_empty() {
            table #predictions {
                thead { tr { th { "Time" } th { "Request id" } th { "Version" } th { "Prediction" } th.num { "Latency (ms)" }
                    th { "Label" } th { "Error" } } }
                tbody {
                    @for (p, v) in &shown {
                        tr {
                            td { (layout::when(p.timestamp_ms)) }
                            td { a href={ (base) "/" (super::segment(&p.request_id)) } { (p.request_id) } }
                            td { (p.version) }
                            td { (cell(&v["prediction"])) }
                            td.num { (cell(&v["latency_ms"])) }
                            td { (cell(&v["label"]["label"])) }
                            td { (error_text(&v["error"])) }
                        }
                    }
                }
            }
            @if let Some(before) = &older {
                p { a href={ (base) "?" (super::session::encode(&[("version", version.as_deref().unwrap_or("")), ("from", &keep("from")), ("to", &keep("to")), ("tag", &keep("tag")), ("before", before)])) } { "Older predictions" } }
            }
        }
        @if shown.is_empty() && older.is_some() {
            p { a href={ (base) "?" (super::session::encode(&[("version", version.as_deref().unwrap_or("")), ("from", &keep("from")), ("to", &keep("to")), ("tag", &keep("tag")), ("before", older.as_deref().unwrap_or_default())])) } { "Older predictions" } }
        }
    };
    let crumbs = [(name.as_str(), format!("/ui/models/{name}")), ("predictions", base.clone())];
    Ok(html(layout::page(&viewer, "Predictions", &crumbs, body)))
}

fn object_table(v: &Value) -> Markup {
    html! {
        table {
            tbody {
                @if let Some(o) = v.as_object() {
                    @for (k, x) in o { tr { th { (k) } td { (cell(x)) } } }
                }
            }
        }
    }
}

pub async fn one(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path((name, request_id)): Path<(String, String)>,
) -> PageResult {
    let model = readable_model(&app, &viewer.principal, &name).await?;
    let (store, id, rid) = (app.store.clone(), model.id, request_id.clone());
    let Some(p) = blocking(move || store.get_prediction(id, &rid)).await?? else {
        return Err(ApiError::new(
            Code::PredictionNotFound,
            format!("model {name:?} has no prediction with request id {request_id:?}"),
        )
        .into());
    };
    let v = to_json(&p, &model.index);
    let why = super::explain::waterfall(&app, &model, &p).await;
    let list = format!("/ui/models/{name}/predictions");
    let body = html! {
        h1 { "Prediction " code #request-id { (p.request_id) } }
        table {
            tbody {
                tr { th { "Time" } td { (cell(&v["timestamp"])) } th { "Received" } td { (cell(&v["received_at"])) } }
                tr { th { "Version" } td { (p.version) } th { "Latency (ms)" } td { (cell(&v["latency_ms"])) } }
                tr { th { "Prediction" } td { (cell(&v["prediction"])) }
                     th { "Label" } td { (cell(&v["label"]["label"]))
                        @if !v["label"].is_null() { span.muted { " at " (cell(&v["label"]["timestamp"])) } } } }
                @if !v["error"].is_null() { tr { th { "Error" } td.problem colspan="3" { (error_text(&v["error"])) } } }
            }
        }
        div.grid2 {
            div { h2 { "Features" } (object_table(&v["features"])) }
            div {
                h2 { "Scores" } (object_table(&v["scores"]))
                h2 { "Tags" } (object_table(&v["tags"]))
            }
        }
        @if let Some(why) = &why { (why) }
    };
    let here = format!("{list}/{}", super::segment(&request_id));
    let crumbs = [(name.as_str(), format!("/ui/models/{name}")), ("predictions", list), (request_id.as_str(), here)];
    Ok(html(layout::page(&viewer, "Prediction", &crumbs, body)))
}
