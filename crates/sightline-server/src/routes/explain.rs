//! Explanations of a version: its explainer (`…/explainer`: a model file or the team's
//! prediction endpoint), per-prediction explanations (`…/explain`), global importance
//! over logged traffic and its drift (`…/importance`), partial dependence and ICE
//! (`…/partial-dependence`) and permutation importance (`…/permutation-importance`).

use super::drift::time;
use super::support::{invalid, path, query, read_json};
use crate::auth::principal::Principal;
use crate::error::{ApiError, Code};
use crate::explain::cache::{ENDPOINT_TTL, KeyBuilder};
use crate::explain::compute::{self, Explanation, Method, Model};
use crate::explain::loaded::{Kind, Loaded, for_version};
use crate::explain::rows::{self, Columns, RowError};
use crate::explain::{endpoint, importance};
use crate::monitors::file::parse_duration;
use crate::routes::ingest_endpoint::read_body;
use crate::state::{AppState, LoadedModel, blocking};
use crate::wire::time::{format, now_ms, parse_json};
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sightline_core::{FeatureType, Target, Task};
use sightline_explain::formats::Format;
use sightline_explain::pdp::{PdpOptions, partial_dependence};
use sightline_explain::permutation::{Shuffles, accuracy, neg_mean_squared_error, permutation_importance, r2};
use sightline_explain::{Ensemble, TreeShap};
use sightline_explain::{PredictError, Predictor};
use sightline_store::{ExplainerRecord, ExplainerSource, PredictionQuery, StoredPrediction, VersionRecord};
use std::collections::HashMap;
use std::sync::Arc;

/// Largest model file accepted (a 5,000-tree XGBoost JSON model is about 100 MB).
pub const MAX_MODEL_FILE_BYTES: usize = 512 * 1024 * 1024;
/// Most rows one explain request names.
pub const MAX_EXPLAIN_ROWS: usize = 1_000;
/// Background rows taken from logged traffic when the request gives none, and the most.
pub const DEFAULT_BACKGROUND_ROWS: usize = 100;
pub const MAX_BACKGROUND_ROWS: usize = 10_000;
/// Rows of logged traffic partial dependence and permutation importance read by default.
pub const DEFAULT_DATA_ROWS: usize = 1_000;
pub const MAX_DATA_ROWS: usize = 10_000;
/// Logged predictions per window global importance explains, by default and at most.
pub const DEFAULT_SAMPLE: usize = 200;
pub const MAX_SAMPLE: usize = 5_000;
/// Most windows of one importance answer.
pub const MAX_IMPORTANCE_WINDOWS: i64 = 200;
/// Most repeats of permutation importance.
pub const MAX_REPEATS: usize = 100;
/// Logged predictions scanned for labelled ones (permutation importance).
const MAX_SCAN: usize = 100_000;

type VersionPath = Result<Path<(String, String)>, PathRejection>;

async fn model_and_version(app: &Arc<AppState>, p: VersionPath) -> Result<(Arc<LoadedModel>, VersionRecord), ApiError> {
    let (model_name, version_name) = path(p)?;
    let model = app.model(&model_name).await?;
    let (store, id, name) = (app.store.clone(), model.id, version_name.clone());
    let version = blocking(move || store.get_version(id, &name)).await??.ok_or_else(|| {
        ApiError::new(Code::VersionNotFound, format!("model {model_name:?} has no version {version_name:?}"))
    })?;
    Ok((model, version))
}

async fn store_explainer(app: &Arc<AppState>, record: ExplainerRecord) -> Result<Arc<Loaded>, ApiError> {
    let version_id = record.version_id;
    let (store, stored) = (app.store.clone(), record.clone());
    blocking(move || store.put_explainer(&stored)).await??;
    app.explainers.forget(version_id);
    let loaded = Arc::new(blocking(move || Loaded::from_record(record)).await?.map_err(ApiError::internal)?);
    app.explainers.insert(version_id, loaded.clone());
    Ok(loaded)
}

/// The model's features a model file reads when the upload does not say: every
/// non-text feature, in the model's order.
fn default_columns(model: &LoadedModel) -> Vec<String> {
    model.index.spec.features.iter().filter(|f| f.kind != FeatureType::Text).map(|f| f.name.clone()).collect()
}

fn columns_param(model: &LoadedModel, given: Option<&String>) -> Result<Vec<String>, ApiError> {
    let names = match given {
        None => default_columns(model),
        Some(list) => list.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
    };
    Columns::new(&model.index, &names).map_err(|m| ApiError::new(Code::InvalidQuery, format!("features: {m}")))?;
    Ok(names)
}

/// `PUT …/explainer/model-file?format=&features=a,b,c`: the body is the model file.
pub async fn put_model_file(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: VersionPath,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (model, version) = model_and_version(&app, p).await?;
    let params = query(q)?;
    if let Some(key) = params.keys().find(|k| !["format", "features"].contains(&k.as_str())) {
        return Err(ApiError::new(Code::InvalidQuery, format!("{key}: unknown query parameter")));
    }
    let given_format = match params.get("format") {
        None => None,
        Some(name) => Some(Format::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
            ApiError::new(
                Code::InvalidQuery,
                format!("format: {name:?} is not xgboost-json, xgboost-ubj, lightgbm or onnx"),
            )
        })?),
    };
    let features = columns_param(&model, params.get("features"))?;
    let bytes = read_body(&headers, body, MAX_MODEL_FILE_BYTES).await?;
    let file = given_format.or_else(|| Format::sniff(&bytes)).ok_or_else(|| {
        invalid(
            "body",
            "cannot tell the model file's format (xgboost-json, xgboost-ubj, lightgbm, onnx): give ?format=",
        )
    })?;
    let checked = bytes.clone();
    let ensemble: Ensemble = blocking(move || file.load(&checked))
        .await?
        .map_err(|e| invalid("body", format!("cannot load the file as {}: {e}", file.name())))?;
    if ensemble.num_features() != features.len() {
        return Err(ApiError::new(
            Code::InvalidQuery,
            format!(
                "features: the model file reads {} features and {} are named ({}); pass ?features= with the \
                 model's columns in order",
                ensemble.num_features(),
                features.len(),
                features.join(",")
            ),
        ));
    }
    let sha256 = hex(&Sha256::digest(&bytes));
    let record = ExplainerRecord {
        version_id: version.id,
        features,
        source: ExplainerSource::ModelFile { format: file.name().to_owned(), sha256, bytes: bytes.to_vec() },
        updated_ms: now_ms(),
        updated_by: principal.actor.clone(),
    };
    let loaded = store_explainer(&app, record).await?;
    Ok(Json(loaded.describe()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointBody {
    url: String,
    features: Option<Vec<String>>,
    timeout_ms: Option<u64>,
    max_calls: Option<u64>,
    batch_rows: Option<u64>,
}

fn bounded(value: Option<u64>, default: u64, max: u64, name: &str) -> Result<u64, ApiError> {
    let v = value.unwrap_or(default);
    if v == 0 || v > max {
        return Err(invalid(&format!("$.{name}"), format!("must be between 1 and {max}")));
    }
    Ok(v)
}

/// `PUT …/explainer/endpoint`: the team's serving URL for the model-agnostic methods.
pub async fn put_endpoint(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
    p: VersionPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (model, version) = model_and_version(&app, p).await?;
    let b: EndpointBody = read_json(&headers, body).await?;
    let url = reqwest::Url::parse(&b.url).map_err(|e| invalid("$.url", format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("$.url", "must be an http or https URL with a host"));
    }
    let features = match b.features {
        None => default_columns(&model),
        Some(names) => names,
    };
    if features.is_empty() {
        return Err(invalid("$.features", "must name at least one feature"));
    }
    Columns::new(&model.index, &features).map_err(|m| invalid("$.features", m))?;
    let record = ExplainerRecord {
        version_id: version.id,
        features,
        source: ExplainerSource::Endpoint {
            url: url.to_string(),
            timeout_ms: bounded(b.timeout_ms, endpoint::DEFAULT_TIMEOUT_MS, endpoint::MAX_TIMEOUT_MS, "timeout_ms")?,
            max_calls: bounded(b.max_calls, endpoint::DEFAULT_MAX_CALLS, endpoint::MAX_MAX_CALLS, "max_calls")?,
            batch_rows: bounded(b.batch_rows, endpoint::DEFAULT_BATCH_ROWS, endpoint::MAX_BATCH_ROWS, "batch_rows")?,
        },
        updated_ms: now_ms(),
        updated_by: principal.actor.clone(),
    };
    let loaded = store_explainer(&app, record).await?;
    Ok(Json(loaded.describe()))
}

pub async fn get_explainer(State(app): State<Arc<AppState>>, p: VersionPath) -> Result<Json<Value>, ApiError> {
    let (_, version) = model_and_version(&app, p).await?;
    Ok(Json(for_version(&app, &version).await?.describe()))
}

pub async fn delete_explainer(State(app): State<Arc<AppState>>, p: VersionPath) -> Result<StatusCode, ApiError> {
    let (_, version) = model_and_version(&app, p).await?;
    let (store, id) = (app.store.clone(), version.id);
    let existed = blocking(move || store.delete_explainer(id)).await??;
    app.explainers.forget(version.id);
    if !existed {
        return Err(ApiError::new(Code::ExplainerNotFound, format!("version {:?} has no explainer", version.name)));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Rows given in the body, or logged predictions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataBody {
    rows: Option<Vec<Map<String, Value>>>,
    from: Option<Value>,
    to: Option<Value>,
    size: Option<usize>,
    /// Summarize the rows into this many weighted rows (KernelSHAP backgrounds only).
    summarize: Option<usize>,
}

fn time_field(value: Option<&Value>, path: &str) -> Result<Option<i64>, ApiError> {
    value.map(|v| parse_json(v).map_err(|m| invalid(path, m))).transpose()
}

fn row_error(e: RowError) -> ApiError {
    invalid(&e.at, e.message)
}

/// The newest `size` logged predictions of `version` in [from, to).
async fn logged(
    app: &Arc<AppState>,
    model: &LoadedModel,
    version: &VersionRecord,
    window: (Option<i64>, Option<i64>),
    size: usize,
) -> Result<Vec<StoredPrediction>, ApiError> {
    let query = PredictionQuery {
        model_id: model.id,
        from_ms: window.0,
        to_ms: window.1,
        version: Some(version.name.clone()),
        before: None,
        limit: size,
    };
    let store = app.store.clone();
    Ok(blocking(move || store.list_predictions(&query)).await??)
}

/// Rows for a method from a data body: its rows, else the newest logged predictions.
#[allow(clippy::too_many_arguments)]
async fn data_rows(
    app: &Arc<AppState>,
    model: &LoadedModel,
    version: &VersionRecord,
    columns: &Columns<'_>,
    data: DataBody,
    path: &str,
    default_size: usize,
    max_size: usize,
    accepts_missing: bool,
) -> Result<Vec<Vec<f64>>, ApiError> {
    if data.summarize.is_some() {
        return Err(invalid(&format!("{path}.summarize"), "only a kernelshap background is summarized"));
    }
    if let Some(rows) = data.rows {
        if data.from.is_some() || data.to.is_some() || data.size.is_some() {
            return Err(invalid(path, "give either rows or a logged range (from, to, size), not both"));
        }
        if rows.is_empty() || rows.len() > max_size {
            return Err(invalid(&format!("{path}.rows"), format!("must hold between 1 and {max_size} rows")));
        }
        return rows::from_objects(&model.index, columns, &rows, &format!("{path}.rows"), accepts_missing)
            .map_err(row_error);
    }
    let size = data.size.unwrap_or(default_size);
    if size == 0 || size > max_size {
        return Err(invalid(&format!("{path}.size"), format!("must be between 1 and {max_size}")));
    }
    let window = (
        time_field(data.from.as_ref(), &format!("{path}.from"))?,
        time_field(data.to.as_ref(), &format!("{path}.to"))?,
    );
    let events = logged(app, model, version, window, size).await?;
    // Logged rows missing a value are left out where the method needs complete rows.
    let mut rows = rows::from_logged(columns, &events, path, true).map_err(row_error)?;
    if !accepts_missing {
        rows.retain(|row| row.iter().all(|v| v.is_finite()));
    }
    if rows.is_empty() {
        let complete = if accepts_missing { "" } else { " complete" };
        return Err(invalid(
            path,
            format!("version {:?} has no{complete} logged predictions in the range; give {path}.rows", version.name),
        ));
    }
    Ok(rows)
}

/// A computed (or cached) result as answered: with the model, the version and whether
/// it came from the cache.
fn stamped(computed: &Value, model: &LoadedModel, version: &VersionRecord, cached: bool) -> Value {
    let mut out = computed.clone();
    out["model"] = json!(model.record.spec.name);
    out["version"] = json!(version.name);
    out["cached"] = json!(cached);
    out
}

/// Names of the explained outputs: the classes, the positive class, or `prediction`.
fn output_names(model: &LoadedModel, count: usize) -> Vec<String> {
    let spec = &model.index.spec;
    match spec.task {
        Task::MulticlassClassification if spec.classes.len() == count => spec.classes.clone(),
        Task::BinaryClassification if count == 1 => {
            vec![spec.positive_class.clone().or_else(|| spec.classes.last().cloned()).unwrap_or_else(|| "1".into())]
        }
        Task::Regression if count == 1 => vec!["prediction".into()],
        _ => (0..count).map(|i| i.to_string()).collect(),
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Runs `work` on a blocking thread with the explainer's model as `compute` takes it
/// (an endpoint becomes a session counting its calls); a failing endpoint answers 502,
/// any other error 422 naming `what`.
async fn with_model<T: Send + 'static>(
    loaded: Arc<Loaded>,
    what: &'static str,
    work: impl FnOnce(Model<'_>) -> anyhow::Result<T> + Send + 'static,
) -> Result<(T, Option<usize>), ApiError> {
    let runtime = tokio::runtime::Handle::current();
    let outcome = blocking(move || match &loaded.kind {
        Kind::Trees { ensemble, format, .. } => {
            let model = Model::Trees { ensemble, needs_covers: *format == Format::Onnx };
            work(model).map(|v| (v, None)).map_err(|e| (format!("{e:#}"), None))
        }
        Kind::Endpoint(endpoint) => {
            let session = endpoint.session(runtime);
            let result = work(Model::Remote(&session));
            match result {
                Ok(v) => Ok((v, Some(session.calls()))),
                Err(e) => Err((format!("{e:#}"), session.failure())),
            }
        }
    })
    .await?;
    outcome.map_err(|(message, failure)| match failure {
        Some(failure) => ApiError::new(Code::ModelEndpointFailed, failure),
        None => invalid(what, message),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainBody {
    method: Option<String>,
    rows: Option<Vec<Map<String, Value>>>,
    request_ids: Option<Vec<String>>,
    background: Option<DataBody>,
    lime_samples: Option<usize>,
    seed: Option<u64>,
}

fn explanation_json(e: &Explanation, output: &str) -> Value {
    match e {
        Explanation::Shap { expected_value, margin, attributions } => json!({
            "output": output,
            "expected_value": expected_value,
            "margin": margin,
            "attributions": attributions,
        }),
        Explanation::Lime { intercept, prediction, local_prediction, score, weights } => json!({
            "output": output,
            "intercept": intercept,
            "prediction": prediction,
            "local_prediction": local_prediction,
            "score": score,
            "weights": weights,
        }),
    }
}

/// `POST …/explain`: attributions of rows given or of logged predictions.
pub async fn explain(
    State(app): State<Arc<AppState>>,
    p: VersionPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (model, version) = model_and_version(&app, p).await?;
    let mut b: ExplainBody = read_json(&headers, body).await?;
    let loaded = for_version(&app, &version).await?;
    let remote = matches!(loaded.kind, Kind::Endpoint(_));
    let method = match &b.method {
        None if remote => Method::Kernelshap,
        None => Method::Treeshap,
        Some(name) => Method::parse(name)
            .ok_or_else(|| invalid("$.method", "must be treeshap, interventional, kernelshap or lime"))?,
    };
    if remote && method.needs_trees() {
        return Err(invalid(
            "$.method",
            format!("{} reads the model's trees: upload the version's model file", method.name()),
        ));
    }
    let lime_samples = b.lime_samples.unwrap_or(5_000);
    if !(2..=100_000).contains(&lime_samples) {
        return Err(invalid("$.lime_samples", "must be between 2 and 100000"));
    }
    let seed = b.seed.unwrap_or(0);
    let columns = Columns::new(&model.index, &loaded.features).map_err(ApiError::internal)?;
    let accepts_missing = method.accepts_missing();
    let (rows, request_ids) = match (b.rows, b.request_ids) {
        (Some(_), Some(_)) => return Err(invalid("$", "give either rows or request_ids, not both")),
        (None, None) => return Err(invalid("$.rows", "give rows (feature objects) or request_ids")),
        (Some(rows), None) => {
            if rows.is_empty() || rows.len() > MAX_EXPLAIN_ROWS {
                return Err(invalid("$.rows", format!("must hold between 1 and {MAX_EXPLAIN_ROWS} rows")));
            }
            (rows::from_objects(&model.index, &columns, &rows, "$.rows", accepts_missing).map_err(row_error)?, None)
        }
        (None, Some(ids)) => {
            if ids.is_empty() || ids.len() > MAX_EXPLAIN_ROWS {
                return Err(invalid("$.request_ids", format!("must hold between 1 and {MAX_EXPLAIN_ROWS} ids")));
            }
            let (store, model_id, wanted) = (app.store.clone(), model.id, ids.clone());
            let found = blocking(move || {
                wanted.iter().map(|id| store.get_prediction(model_id, id)).collect::<Result<Vec<_>, _>>()
            })
            .await??;
            let mut events = Vec::with_capacity(found.len());
            for (i, event) in found.into_iter().enumerate() {
                events.push(event.ok_or_else(|| {
                    ApiError::new(Code::PredictionNotFound, format!("$.request_ids[{i}]: no prediction {:?}", ids[i]))
                })?);
            }
            (rows::from_logged(&columns, &events, "$.request_ids", accepts_missing).map_err(row_error)?, Some(ids))
        }
    };
    let needs_background =
        method != Method::Treeshap || matches!(loaded.kind, Kind::Trees { format: Format::Onnx, .. });
    // A summarized background: k weighted rows for the many it stands for.
    let summarize = b.background.as_mut().and_then(|data| data.summarize.take());
    if summarize.is_some() && method != Method::Kernelshap {
        return Err(invalid("$.background.summarize", "only kernelshap weighs a summarized background"));
    }
    if summarize.is_some_and(|k| !(1..=MAX_BACKGROUND_ROWS).contains(&k)) {
        return Err(invalid("$.background.summarize", format!("must be between 1 and {MAX_BACKGROUND_ROWS}")));
    }
    let background = match (b.background, needs_background) {
        (Some(data), _) => Some(
            data_rows(
                &app,
                &model,
                &version,
                &columns,
                data,
                "$.background",
                DEFAULT_BACKGROUND_ROWS,
                MAX_BACKGROUND_ROWS,
                accepts_missing,
            )
            .await?,
        ),
        (None, true) => Some(
            data_rows(
                &app,
                &model,
                &version,
                &columns,
                DataBody::default(),
                "$.background",
                DEFAULT_BACKGROUND_ROWS,
                MAX_BACKGROUND_ROWS,
                accepts_missing,
            )
            .await?,
        ),
        (None, false) => None,
    };
    let (background, background_weights) = match (background, summarize) {
        (Some(rows), Some(k)) => {
            let summary = sightline_explain::summarize::summarize(&rows, k, b.seed.unwrap_or(0))
                .map_err(|e| invalid("$.background", e.to_string()))?;
            (Some(summary.rows), Some(summary.weights))
        }
        (background, _) => (background, None),
    };
    let key = KeyBuilder::default()
        .text("explain")
        .text(&loaded.fingerprint())
        .text(method.name())
        .text(&format!("{lime_samples}:{seed}"))
        .numbers(&rows)
        .numbers(background.iter().flatten())
        .numbers(background_weights.iter())
        .finish();
    let answer = |computed: &Value, cached: bool| {
        let mut out = stamped(computed, &model, &version, cached);
        if let Some(ids) = &request_ids
            && let Some(items) = out["explanations"].as_array_mut()
        {
            for (item, id) in items.iter_mut().zip(ids) {
                item["request_id"] = json!(id);
            }
        }
        out
    };
    if let Some(hit) = app.explanations.get(&key) {
        return Ok(Json(answer(&hit, true)));
    }
    let explained_rows = rows.clone();
    let background_rows = background.as_ref().map_or(0, Vec::len);
    let weighted = background_weights.is_some();
    let (explanations, calls) = with_model(loaded.clone(), "$", move |model| {
        compute::explain(&compute::Request {
            method,
            model,
            rows: &explained_rows,
            background: background.as_deref(),
            background_weights: background_weights.as_deref(),
            threads: if matches!(model, Model::Remote(_)) { 1 } else { threads() },
            lime_samples,
            seed,
        })
    })
    .await?;
    let outputs = output_names(&model, explanations.first().map_or(0, Vec::len));
    let items: Vec<Value> = rows
        .iter()
        .zip(&explanations)
        .map(|(row, per_output)| {
            let values: Map<String, Value> = loaded
                .features
                .iter()
                .zip(row)
                .map(|(name, v)| (name.clone(), if v.is_finite() { json!(v) } else { Value::Null }))
                .collect();
            json!({
                "values": values,
                "outputs": per_output.iter().zip(&outputs).map(|(e, name)| explanation_json(e, name)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let computed = Arc::new(json!({
        "method": method.name(),
        "features": loaded.features,
        "outputs": outputs,
        "background_rows": background_rows,
        "background_weighted": weighted,
        "endpoint_calls": calls,
        "explanations": items,
    }));
    app.explanations.put(key, computed.clone(), calls.map(|_| ENDPOINT_TTL));
    Ok(Json(answer(&computed, false)))
}

/// Mean |SHAP| per output and feature over `rows`.
fn mean_abs(shap: &TreeShap<'_>, rows: &[Vec<f64>], outputs: usize, features: usize) -> anyhow::Result<Vec<Vec<f64>>> {
    let mut sums = vec![vec![0.0; features]; outputs];
    let explained = compute::in_parallel_batches(rows, threads(), |batch| Ok(shap.explain_batch(batch)?))?;
    for attributions in &explained {
        for (output, sum) in sums.iter_mut().enumerate() {
            for (s, v) in sum.iter_mut().zip(attributions.values(output)) {
                *s += v.abs();
            }
        }
    }
    let n = rows.len().max(1) as f64;
    Ok(sums.into_iter().map(|s| s.into_iter().map(|v| v / n).collect()).collect())
}

/// Each feature's share of the total importance (summed over outputs).
fn shares(mean_abs: &[Vec<f64>]) -> Vec<f64> {
    let features = mean_abs.first().map_or(0, Vec::len);
    let per_feature: Vec<f64> = (0..features).map(|f| mean_abs.iter().map(|o| o[f]).sum()).collect();
    importance::shares(&per_feature)
}

/// `GET …/importance?from=&to=&step=&sample=`: global importance (mean |SHAP| of the
/// newest `sample` logged predictions of each window, path-dependent TreeSHAP) and
/// attribution drift of each window against the first window with traffic.
pub async fn importance(
    State(app): State<Arc<AppState>>,
    p: VersionPath,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (model, version) = model_and_version(&app, p).await?;
    let params = query(q)?;
    if let Some(key) = params.keys().find(|k| !["from", "to", "step", "sample", "source"].contains(&k.as_str())) {
        return Err(ApiError::new(Code::InvalidQuery, format!("{key}: unknown query parameter")));
    }
    let to = time(&params, "to")?.unwrap_or_else(now_ms);
    let from = time(&params, "from")?.unwrap_or(to.saturating_sub(24 * 3_600_000));
    if from >= to {
        return Err(ApiError::new(Code::InvalidQuery, "from: must be before to"));
    }
    let step = match params.get("step") {
        None => to - from,
        Some(text) => {
            let ms = parse_duration(text).map_err(|m| ApiError::new(Code::InvalidQuery, format!("step: {m}")))?;
            if ms < 60_000 {
                return Err(ApiError::new(Code::InvalidQuery, "step: must be at least 1m"));
            }
            if (to - from - 1) / ms + 1 > MAX_IMPORTANCE_WINDOWS {
                return Err(ApiError::new(
                    Code::InvalidQuery,
                    format!("step: would make more than {MAX_IMPORTANCE_WINDOWS} windows"),
                ));
            }
            ms
        }
    };
    let sample =
        match params.get("sample") {
            None => DEFAULT_SAMPLE,
            Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_SAMPLE).contains(n)).ok_or_else(|| {
                ApiError::new(Code::InvalidQuery, format!("sample: must be between 1 and {MAX_SAMPLE}"))
            })?,
        };
    let source = params.get("source").map(String::as_str);
    if !matches!(source, None | Some("model_file" | "logged")) {
        return Err(ApiError::new(Code::InvalidQuery, "source: must be model_file or logged"));
    }
    let loaded = match (source, for_version(&app, &version).await) {
        (Some("logged"), _) => None,
        (_, Ok(loaded)) if matches!(loaded.kind, Kind::Trees { .. }) => Some(loaded),
        // Without a model file, the attributions clients logged are the only source.
        (None, Err(e)) if e.code == Code::ExplainerNotFound => None,
        (_, Err(e)) => return Err(e),
        (_, Ok(_)) => {
            return Err(ApiError::new(
                Code::InvalidQuery,
                "global importance explains every sampled prediction with TreeSHAP: upload the version's model \
                 file (explaining windows of traffic through an endpoint would cost thousands of calls), or log \
                 attributions with the predictions and ask for source=logged",
            ));
        }
    };
    let Some(loaded) = loaded else {
        return logged_importance(&app, &model, &version, (from, to, step), sample).await.map(Json);
    };
    let columns = Columns::new(&model.index, &loaded.features).map_err(ApiError::internal)?;
    let mut windows = Vec::new();
    let mut start = from;
    while start < to {
        let end = (start + step).min(to);
        let events = logged(&app, &model, &version, (Some(start), Some(end)), sample).await?;
        let rows = rows::from_logged(&columns, &events, "$", true).map_err(row_error)?;
        windows.push((start, end, rows));
        start = end;
    }
    let key = KeyBuilder::default()
        .text("importance")
        .text(&loaded.fingerprint())
        .text(&format!("{from}:{to}:{step}:{sample}"))
        .numbers(windows.iter().flat_map(|(_, _, rows)| rows))
        .finish();
    let answer = |computed: &Value, cached: bool| stamped(computed, &model, &version, cached);
    if let Some(hit) = app.explanations.get(&key) {
        return Ok(Json(answer(&hit, true)));
    }
    let (per_window, _) = with_model(loaded.clone(), "$", move |m| {
        let Model::Trees { ensemble, needs_covers } = m else { anyhow::bail!("not a tree model") };
        let all: Vec<Vec<f64>> = windows.iter().flat_map(|(_, _, rows)| rows.iter().cloned()).collect();
        // An ONNX file has no covers: they are counted on the traffic explained.
        let counted;
        let model = if needs_covers {
            if all.is_empty() {
                anyhow::bail!("no logged predictions in the range to count the onnx model's covers on");
            }
            counted = ensemble.with_covers_from(&all)?;
            &counted
        } else {
            ensemble
        };
        let shap = TreeShap::new(model)?;
        let (outputs, features) = (model.num_outputs(), model.num_features());
        let per_window = windows
            .iter()
            .map(|(start, end, rows)| {
                let means = if rows.is_empty() { None } else { Some(mean_abs(&shap, rows, outputs, features)?) };
                Ok((*start, *end, rows.len(), means))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok((per_window, mean_abs(&shap, &all, outputs, features)?, all.len(), outputs))
    })
    .await?;
    let (per_window, overall, total_rows, outputs) = per_window;
    let names = output_names(&model, outputs);
    let baseline = per_window.iter().find_map(|(_, _, _, m)| m.as_ref().map(|m| shares(m)));
    let as_outputs = |means: &[Vec<f64>]| -> Vec<Value> {
        means.iter().zip(&names).map(|(m, name)| json!({"output": name, "mean_abs_shap": m})).collect()
    };
    let window_json: Vec<Value> = per_window
        .iter()
        .map(|(start, end, n, means)| match means {
            None => json!({"from": format(*start), "to": format(*end), "rows": 0, "outputs": null, "drift": null}),
            Some(means) => json!({
                "from": format(*start),
                "to": format(*end),
                "rows": n,
                "outputs": as_outputs(means),
                "drift": baseline.as_ref().map(|b| importance::attribution_drift(b, &shares(means))),
            }),
        })
        .collect();
    let computed = Arc::new(json!({
        "source": "model_file",
        "method": "treeshap",
        "features": loaded.features,
        "from": format(from),
        "to": format(to),
        "sample": sample,
        "overall": {"rows": total_rows, "outputs": if total_rows == 0 { Value::Null } else { json!(as_outputs(&overall)) }},
        "windows": window_json,
    }));
    app.explanations.put(key, computed.clone(), None);
    Ok(Json(answer(&computed, false)))
}

/// Global importance from the attributions clients logged with their predictions (the
/// newest `sample` of each window that carry some; a feature without one counts 0).
async fn logged_importance(
    app: &Arc<AppState>,
    model: &LoadedModel,
    version: &VersionRecord,
    (from, to, step): (i64, i64, i64),
    sample: usize,
) -> Result<Value, ApiError> {
    let features: Vec<String> = model.index.spec.features.iter().map(|f| f.name.clone()).collect();
    let mut windows = Vec::new();
    let mut start = from;
    while start < to {
        let end = (start + step).min(to);
        // Read past predictions without attributions, up to a bound.
        let events = logged(app, model, version, (Some(start), Some(end)), sample.saturating_mul(10)).await?;
        let rows: Vec<Vec<f64>> = events
            .iter()
            .filter(|e| !e.attributions.is_empty())
            .take(sample)
            .map(|e| {
                let mut row = vec![0.0; features.len()];
                for &(ordinal, v) in &e.attributions {
                    if let Some(slot) = row.get_mut(ordinal as usize) {
                        *slot = v;
                    }
                }
                row
            })
            .collect();
        windows.push((start, end, rows));
        start = end;
    }
    let total: Vec<&Vec<f64>> = windows.iter().flat_map(|(_, _, rows)| rows).collect();
    if total.is_empty() {
        return Err(ApiError::new(
            Code::ExplainerNotFound,
            format!(
                "version {:?} has no model file and no predictions in the range carry attributions: upload the \
                 model file, or log attributions with the predictions",
                version.name
            ),
        ));
    }
    let overall = importance::mean_abs(total.iter().copied(), features.len());
    let window_means: Vec<Option<Vec<f64>>> = windows
        .iter()
        .map(|(_, _, rows)| (!rows.is_empty()).then(|| importance::mean_abs(rows, features.len())))
        .collect();
    let baseline = window_means.iter().flatten().next().map(|m| importance::shares(m));
    let window_json: Vec<Value> = windows
        .iter()
        .zip(&window_means)
        .map(|((start, end, rows), means)| match means {
            None => json!({"from": format(*start), "to": format(*end), "rows": 0, "outputs": null, "drift": null}),
            Some(m) => json!({
                "from": format(*start),
                "to": format(*end),
                "rows": rows.len(),
                "outputs": [{"output": "logged", "mean_abs_shap": m}],
                "drift": baseline.as_ref().map(|b| importance::attribution_drift(b, &importance::shares(m))),
            }),
        })
        .collect();
    Ok(json!({
        "model": model.record.spec.name,
        "version": version.name,
        "source": "logged",
        "method": "logged",
        "features": features,
        "from": format(from),
        "to": format(to),
        "sample": sample,
        "overall": {"rows": total.len(), "outputs": [{"output": "logged", "mean_abs_shap": overall}]},
        "windows": window_json,
        "cached": false,
    }))
}

/// A model as the inspection methods call it: after the link, as scikit-learn's wrappers.
struct Inspected<'a>(Model<'a>);

impl Predictor for Inspected<'_> {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
        match self.0 {
            Model::Trees { ensemble, .. } => Predictor::predict(ensemble, rows),
            Model::Remote(remote) => remote.predict(rows),
        }
    }

    fn num_features(&self) -> Option<usize> {
        match self.0 {
            Model::Trees { ensemble, .. } => Some(ensemble.num_features()),
            Model::Remote(_) => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdpBody {
    feature: String,
    data: Option<DataBody>,
    grid_resolution: Option<usize>,
    percentiles: Option<(f64, f64)>,
    categorical: Option<bool>,
    values: Option<Vec<f64>>,
    /// Include the ICE curves (one per row).
    individual: Option<bool>,
}

/// `POST …/partial-dependence`: PD and ICE of one feature, as scikit-learn's.
pub async fn pdp(
    State(app): State<Arc<AppState>>,
    p: VersionPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (model, version) = model_and_version(&app, p).await?;
    let b: PdpBody = read_json(&headers, body).await?;
    let loaded = for_version(&app, &version).await?;
    let columns = Columns::new(&model.index, &loaded.features).map_err(ApiError::internal)?;
    let feature = columns
        .column_of(&b.feature)
        .ok_or_else(|| invalid("$.feature", format!("the explainer reads no feature {:?}", b.feature)))?;
    let mut rows = data_rows(
        &app,
        &model,
        &version,
        &columns,
        b.data.unwrap_or_default(),
        "$.data",
        DEFAULT_DATA_ROWS,
        MAX_DATA_ROWS,
        true,
    )
    .await?;
    // The grid comes from the feature's values: rows missing it cannot take part.
    rows.retain(|r| r[feature].is_finite());
    if rows.is_empty() {
        return Err(invalid("$.feature", "no row has a value of the feature"));
    }
    let options = PdpOptions {
        grid_resolution: b.grid_resolution.unwrap_or(100),
        percentiles: b.percentiles.unwrap_or((0.05, 0.95)),
        categorical: b.categorical.unwrap_or(false),
        custom_values: b.values,
        sample_weight: None,
    };
    if !(2..=1_000).contains(&options.grid_resolution) {
        return Err(invalid("$.grid_resolution", "must be between 2 and 1000"));
    }
    let individual = b.individual.unwrap_or(false);
    let key = KeyBuilder::default()
        .text("pdp")
        .text(&loaded.fingerprint())
        .text(&format!("{feature}:{options:?}:{individual}"))
        .numbers(&rows)
        .finish();
    let answer = |computed: &Value, cached: bool| stamped(computed, &model, &version, cached);
    if let Some(hit) = app.explanations.get(&key) {
        return Ok(Json(answer(&hit, true)));
    }
    let row_count = rows.len();
    let (pd, calls) =
        with_model(loaded.clone(), "$", move |m| Ok(partial_dependence(&Inspected(m), &rows, feature, &options)?))
            .await?;
    let names = output_names(&model, pd.num_outputs());
    let outputs: Vec<Value> = (0..pd.num_outputs())
        .map(|o| {
            let mut out = json!({"output": names[o], "average": pd.average(o)});
            if individual {
                out["individual"] = json!(pd.individual(o));
            }
            out
        })
        .collect();
    let computed = Arc::new(json!({
        "feature": b.feature,
        "rows": row_count,
        "grid": pd.grid(),
        "outputs": outputs,
        "endpoint_calls": calls,
    }));
    app.explanations.put(key, computed.clone(), calls.map(|_| ENDPOINT_TTL));
    Ok(Json(answer(&computed, false)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermutationBody {
    from: Option<Value>,
    to: Option<Value>,
    size: Option<usize>,
    n_repeats: Option<usize>,
    seed: Option<u64>,
    scoring: Option<String>,
}

/// The label as the model's target: the value for regression, 1 for the positive class
/// and 0 otherwise for binary classification, the class's position for multiclass.
fn target(model: &LoadedModel, label: &Target) -> Option<f64> {
    let spec = &model.index.spec;
    match (spec.task, label) {
        (Task::Regression, Target::Number(v)) => Some(*v),
        (Task::BinaryClassification, Target::Class(c)) => {
            let positive = spec.positive_class.as_ref().or(spec.classes.last())?;
            Some(if c == positive { 1.0 } else { 0.0 })
        }
        (Task::MulticlassClassification, Target::Class(c)) => model.index.class_index(c).map(|i| i as f64),
        _ => None,
    }
}

/// `POST …/permutation-importance`: scikit-learn's permutation importance over labelled
/// logged predictions.
pub async fn permutation(
    State(app): State<Arc<AppState>>,
    p: VersionPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (model, version) = model_and_version(&app, p).await?;
    let b: PermutationBody = read_json(&headers, body).await?;
    let loaded = for_version(&app, &version).await?;
    let columns = Columns::new(&model.index, &loaded.features).map_err(ApiError::internal)?;
    let task = model.index.spec.task;
    let scoring = match b.scoring.as_deref() {
        None => if task == Task::Regression { "r2" } else { "accuracy" }.to_owned(),
        Some(s @ ("r2" | "neg_mean_squared_error")) if task == Task::Regression => s.to_owned(),
        Some("accuracy") if task != Task::Regression => "accuracy".to_owned(),
        Some(other) => {
            return Err(invalid(
                "$.scoring",
                format!(
                    "{other:?} does not apply: use accuracy for classifiers, r2 or neg_mean_squared_error for regressors"
                ),
            ));
        }
    };
    let size = b.size.unwrap_or(DEFAULT_DATA_ROWS);
    if !(2..=MAX_DATA_ROWS).contains(&size) {
        return Err(invalid("$.size", format!("must be between 2 and {MAX_DATA_ROWS}")));
    }
    let n_repeats = b.n_repeats.unwrap_or(5);
    if n_repeats == 0 || n_repeats > MAX_REPEATS {
        return Err(invalid("$.n_repeats", format!("must be between 1 and {MAX_REPEATS}")));
    }
    let seed = b.seed.unwrap_or(0);
    let window = (time_field(b.from.as_ref(), "$.from")?, time_field(b.to.as_ref(), "$.to")?);
    let events = logged(&app, &model, &version, window, MAX_SCAN).await?;
    let labelled: Vec<StoredPrediction> = events
        .into_iter()
        .filter(|e| e.label.as_ref().is_some_and(|l| target(&model, &l.label).is_some()))
        .take(size)
        .collect();
    if labelled.len() < 2 {
        return Err(invalid(
            "$",
            format!("version {:?} has fewer than 2 labelled predictions in the range", version.name),
        ));
    }
    let targets: Vec<f64> =
        labelled.iter().filter_map(|e| e.label.as_ref().and_then(|l| target(&model, &l.label))).collect();
    let rows = rows::from_logged(&columns, &labelled, "$", true).map_err(row_error)?;
    let key = KeyBuilder::default()
        .text("permutation")
        .text(&loaded.fingerprint())
        .text(&format!("{scoring}:{n_repeats}:{seed}"))
        .numbers(&rows)
        .numbers(std::iter::once(&targets))
        .finish();
    let answer = |computed: &Value, cached: bool| stamped(computed, &model, &version, cached);
    if let Some(hit) = app.explanations.get(&key) {
        return Ok(Json(answer(&hit, true)));
    }
    let row_count = rows.len();
    let score_name = scoring.clone();
    let (result, calls) = with_model(loaded.clone(), "$", move |m| {
        let score = |outputs: &[Vec<f64>], targets: &[f64]| match score_name.as_str() {
            "r2" => r2(outputs, targets),
            "neg_mean_squared_error" => neg_mean_squared_error(outputs, targets),
            _ => accuracy(outputs, targets),
        };
        Ok(permutation_importance(&Inspected(m), &rows, &targets, score, &Shuffles::Seeded { seed, n_repeats })?)
    })
    .await?;
    let computed = Arc::new(json!({
        "scoring": scoring,
        "rows": row_count,
        "n_repeats": n_repeats,
        "seed": seed,
        "baseline": result.baseline(),
        "features": loaded.features,
        "importances_mean": result.mean(),
        "importances_std": result.std(),
        "importances": result.importances(),
        "endpoint_calls": calls,
    }));
    app.explanations.put(key, computed.clone(), calls.map(|_| ENDPOINT_TTL));
    Ok(Json(answer(&computed, false)))
}
