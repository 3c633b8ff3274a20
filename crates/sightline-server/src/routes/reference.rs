//! Reference data of a model (or of one version): upload, designate a logged range,
//! list, delete.

use super::support::{invalid, path, query, read_json};
use crate::analysis;
use crate::body::{Encoding, encoding};
use crate::error::{ApiError, Code};
use crate::reference::{self, Format, Summary};
use crate::state::{AppState, LoadedModel, blocking};
use crate::wire::time::{format, now_ms, parse_json};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_stats::profile::{ColumnProfile, Profile};
use sightline_store::ReferenceRecord;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Largest upload after decompression. CSV and NDJSON are streamed, so this bounds
/// time, not memory.
pub const MAX_UPLOAD_BYTES: u64 = 16 * 1024 * 1024 * 1024;
/// Largest Parquet upload: Parquet's footer comes last, so the file is held in memory.
pub const MAX_PARQUET_BYTES: u64 = 1024 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    version: Option<String>,
    prediction: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionParam {
    version: Option<String>,
}

fn version_name(v: Option<String>) -> Result<String, ApiError> {
    match v {
        None => Ok(String::new()),
        Some(v) => {
            sightline_core::names::check_slug(&v)
                .map_err(|m| ApiError::new(Code::InvalidQuery, format!("version: {m}")))?;
            Ok(v)
        }
    }
}

fn upload_format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let value = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "text/csv" | "application/csv" => Ok(Format::Csv),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/jsonlines" => {
            Ok(Format::Ndjson)
        }
        "application/vnd.apache.parquet" | "application/x-parquet" | "application/parquet" => Ok(Format::Parquet),
        _ => Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!(
                "content-type {value:?} is not a reference format; send text/csv, application/x-ndjson or \
                 application/vnd.apache.parquet"
            ),
        )),
    }
}

/// The request body as a blocking reader, fed chunk by chunk from the async side.
struct ChannelReader {
    chunks: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, String>>,
    current: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Fails reads past `left` bytes, noting it, so that a truncated stream is never taken
/// for a complete one.
struct Limited<R> {
    inner: R,
    left: u64,
    exceeded: Arc<AtomicBool>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.exceeded.store(true, Ordering::Release);
            return Err(std::io::Error::other("the upload is larger than the limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn summary_json(s: &Summary) -> Value {
    json!({
        "rows": s.rows, "features": s.features, "prediction": s.prediction,
        "ignored_columns": s.ignored, "missing_features": s.missing,
    })
}

pub async fn upload(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<UploadParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let model = app.model(&path(p)?).await?;
    let params = query(q)?;
    let version = version_name(params.version)?;
    let prediction = params.prediction.unwrap_or_else(|| "prediction".to_owned());
    let format = upload_format(&headers)?;
    let compression = encoding(&headers)?;
    let limit = if format == Format::Parquet { MAX_PARQUET_BYTES } else { MAX_UPLOAD_BYTES };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, String>>(16);
    let exceeded = Arc::new(AtomicBool::new(false));
    let (spec, flag) = (model.record.spec.clone(), exceeded.clone());
    let parsing = tokio::task::spawn_blocking(move || {
        let raw = ChannelReader { chunks: rx, current: bytes::Bytes::new() };
        let decoded: Box<dyn Read + Send> = match compression {
            Encoding::Identity => Box::new(raw),
            Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Encoding::Zstd => match zstd::stream::read::Decoder::new(raw) {
                Ok(d) => Box::new(d),
                Err(e) => return Err(format!("the body is not valid zstd: {e}")),
            },
        };
        let input = Box::new(Limited { inner: decoded, left: limit, exceeded: flag });
        reference::read(&spec, format, input, &prediction)
    });
    // Feed the body; if the parser stops early (bad data), the rest is not read.
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let chunk = match frame {
            Ok(f) => match f.into_data() {
                Ok(data) => Ok(data),
                Err(_) => continue,
            },
            Err(e) => Err(format!("the request body could not be read: {e}")),
        };
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    let built = parsing.await.map_err(|e| ApiError::internal(format!("reference parsing stopped: {e}")))?;
    let (profile, summary) = match built {
        Ok(b) => b,
        Err(_) if exceeded.load(Ordering::Acquire) => {
            return Err(ApiError::new(
                Code::PayloadTooLarge,
                format!("the upload is larger than the limit of {limit} bytes (after decompression)"),
            ));
        }
        Err(message) => return Err(invalid("$", message)),
    };
    let source = json!({ "kind": "upload", "format": format.name(), "summary": summary_json(&summary) });
    let record = store_reference(&app, &model, version, summary.rows, source, &profile).await?;
    let mut answer = reference_json(&model, &record, Some(&profile));
    answer["upload"] = summary_json(&summary);
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn store_reference(
    app: &Arc<AppState>,
    model: &LoadedModel,
    version: String,
    rows: u64,
    source: Value,
    profile: &Profile,
) -> Result<ReferenceRecord, ApiError> {
    let record = ReferenceRecord {
        model_id: model.id,
        version,
        created_ms: now_ms(),
        rows,
        source: source.to_string(),
        data: profile.encode(),
    };
    let (store, stored) = (app.store.clone(), record.clone());
    blocking(move || store.put_reference(&stored)).await??;
    // Buckets from now on count values in the new reference's bins.
    app.aggregator.layouts_changed();
    Ok(record)
}

fn columns_json(profile: &Profile) -> Vec<Value> {
    profile
        .columns()
        .map(|(key, column)| {
            let name = crate::aggregate::layout::feature_of(key).unwrap_or(key);
            match column {
                ColumnProfile::Numeric(p) => json!({
                    "name": name, "type": "numeric", "count": p.count(), "missing": p.total() - p.count(),
                    "min": p.min(), "max": p.max(), "mean": p.mean(),
                    "bin_edges": p.bins().map(|b| b.edges().to_vec()),
                }),
                ColumnProfile::Categorical(p) => json!({
                    "name": name, "type": "categorical", "count": p.count(), "missing": p.missing(),
                    "distinct": p.distinct(),
                }),
            }
        })
        .collect()
}

fn reference_json(model: &LoadedModel, r: &ReferenceRecord, profile: Option<&Profile>) -> Value {
    let source: Value = serde_json::from_str(&r.source).unwrap_or(Value::Null);
    let mut v = json!({
        "model": model.record.spec.name,
        "version": if r.version.is_empty() { Value::Null } else { json!(r.version) },
        "rows": r.rows,
        "created": format(r.created_ms),
        "source": source,
    });
    if let Some(p) = profile {
        v["columns"] = Value::Array(columns_json(p));
    }
    v
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let (store, id) = (app.store.clone(), model.id);
    let references = blocking(move || store.list_references(id)).await??;
    let items: Vec<Value> =
        references.iter().map(|r| reference_json(&model, r, Profile::decode(&r.data).ok().as_ref())).collect();
    Ok(Json(json!({ "items": items })))
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<VersionParam>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let model = app.model(&path(p)?).await?;
    let version = version_name(query(q)?.version)?;
    let (store, id, v) = (app.store.clone(), model.id, version.clone());
    if blocking(move || store.delete_reference(id, &v)).await?? {
        app.aggregator.layouts_changed();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&model, &version))
    }
}

fn not_found(model: &LoadedModel, version: &str) -> ApiError {
    let whose = if version.is_empty() {
        "a default reference".to_owned()
    } else {
        format!("a reference for version {version:?}")
    };
    ApiError::new(Code::ReferenceNotFound, format!("model {:?} has no {whose}", model.record.spec.name))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FromLogs {
    /// The version the reference is for (absent: the model's default reference).
    version: Option<String>,
    /// RFC 3339 or epoch milliseconds, as everywhere.
    from: Value,
    to: Value,
    /// Whose traffic to take (absent: every version's).
    source_version: Option<String>,
}

/// Designates a logged time range as the reference.
pub async fn from_logs(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let model = app.model(&path(p)?).await?;
    let request: FromLogs = read_json(&headers, body).await?;
    let version = version_name(request.version).map_err(|_| invalid("$.version", "not a valid version name"))?;
    let from = parse_json(&request.from).map_err(|m| invalid("$.from", m))?;
    let to = parse_json(&request.to).map_err(|m| invalid("$.to", m))?;
    if from >= to {
        return Err(invalid("$.from", "must be before to"));
    }
    let source_version = match &request.source_version {
        None => None,
        Some(name) => {
            let (store, id, n) = (app.store.clone(), model.id, name.clone());
            let found = blocking(move || store.get_version(id, &n)).await??;
            Some(found.ok_or_else(|| invalid("$.source_version", format!("the model has no version {name:?}")))?.id)
        }
    };
    let (lo, hi) = analysis::widen(from, to, now_ms(), app.analysis.retention());
    let (store, id) = (app.store.clone(), model.id);
    let (window, rows) = blocking(move || analysis::window_profile(store.as_ref(), id, source_version, lo, hi))
        .await?
        .map_err(|e| ApiError::internal(format!("profiles cannot be read: {e}")))?;
    if rows == 0 {
        return Err(invalid("$.from", "no predictions were logged in this range (or they are not profiled yet)"));
    }
    let profile = reference::from_logged(window).map_err(|e| ApiError::internal(e.to_string()))?;
    let source = json!({
        "kind": "logged_range", "from": format(lo), "to": format(hi),
        "source_version": request.source_version,
    });
    let record = store_reference(&app, &model, version, rows, source, &profile).await?;
    Ok((StatusCode::CREATED, Json(reference_json(&model, &record, Some(&profile)))))
}
