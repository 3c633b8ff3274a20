//! Drift and data quality of a model over a window (or a series of windows), and the
//! drift gauges on /metrics.

use super::drift_settings::{parse_method, parse_threshold};
use super::support::path;
use crate::analysis::{self, ColumnQuality, ColumnResult, DriftReport, DriftSettings};
use crate::error::{ApiError, Code};
use crate::metrics::FeatureDrift;
use crate::monitors::file::{format_duration, parse_duration};
use crate::state::{AppState, LoadedModel, blocking};
use crate::wire::time::{format, now_ms, parse_query};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use sightline_stats::profile::Profile;
use sightline_store::{ReferenceRecord, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// Most windows one series answer holds.
pub const MAX_WINDOWS: i64 = 2_000;

/// The window (or windows) a query asks for.
pub(super) struct Span {
    pub version: Option<(i64, String)>,
    pub from: i64,
    pub to: i64,
    pub step: Option<i64>,
}

pub(super) fn time(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| parse_query(v).map_err(|m| ApiError::new(Code::InvalidQuery, format!("{name}: {m}"))))
        .transpose()
}

pub(super) async fn span(
    app: &Arc<AppState>,
    model: &LoadedModel,
    params: &HashMap<String, String>,
) -> Result<Span, ApiError> {
    let to = time(params, "to")?.unwrap_or_else(now_ms);
    let from = match time(params, "from")? {
        Some(f) => f,
        None => to.saturating_sub(app.analysis.drift_window.as_millis() as i64),
    };
    if from >= to {
        return Err(ApiError::new(Code::InvalidQuery, "from: must be before to"));
    }
    let step = match params.get("step") {
        None => None,
        Some(text) => {
            let ms = parse_duration(text).map_err(|m| ApiError::new(Code::InvalidQuery, format!("step: {m}")))?;
            if ms < 60_000 || ms % 60_000 != 0 {
                return Err(ApiError::new(Code::InvalidQuery, "step: must be a whole number of minutes, at least 1m"));
            }
            if (to - from - 1) / ms + 1 > MAX_WINDOWS {
                return Err(ApiError::new(
                    Code::InvalidQuery,
                    format!("step: would make more than {MAX_WINDOWS} windows; use a longer step or a shorter range"),
                ));
            }
            Some(ms)
        }
    };
    let version = match params.get("version") {
        None => None,
        Some(name) => Some(version_named(app, model, "version", name).await?),
    };
    Ok(Span { version, from, to, step })
}

/// The id and name of the model's version `name`, asked for by the query parameter `param`.
pub(super) async fn version_named(
    app: &Arc<AppState>,
    model: &LoadedModel,
    param: &str,
    name: &str,
) -> Result<(i64, String), ApiError> {
    let (store, id, owned) = (app.store.clone(), model.id, name.to_owned());
    match blocking(move || store.get_version(id, &owned)).await?? {
        Some(v) => Ok((v.id, v.name)),
        None => Err(ApiError::new(
            Code::VersionNotFound,
            format!("{param}: model {:?} has no version {name:?}", model.record.spec.name),
        )),
    }
}

pub(super) fn check_known(params: &HashMap<String, String>, known: &[&str], per_feature: bool) -> Result<(), ApiError> {
    for key in params.keys() {
        let feature_key = per_feature && (key.starts_with("method:") || key.starts_with("threshold:"));
        if !known.contains(&key.as_str()) && !feature_key {
            return Err(ApiError::new(Code::InvalidQuery, format!("{key}: unknown query parameter")));
        }
    }
    Ok(())
}

/// Query overrides: `method`, `threshold`, and per feature `method:<feature>` /
/// `threshold:<feature>`, over the model's stored settings.
fn settings(
    params: &HashMap<String, String>,
    model: &LoadedModel,
    stored: DriftSettings,
) -> Result<DriftSettings, ApiError> {
    let bad = |key: &str, m: String| ApiError::new(Code::InvalidQuery, format!("{key}: {m}"));
    let mut s = DriftSettings { base: Some(Box::new(stored)), ..DriftSettings::default() };
    for (key, value) in params {
        let (what, feature) = match key.split_once(':') {
            Some((w, f)) => (w, Some(f)),
            None => (key.as_str(), None),
        };
        let target = match feature {
            None => &mut s.all,
            Some(f) => {
                if !model.record.spec.features.iter().any(|x| x.name == f) {
                    return Err(bad(key, format!("the model has no feature {f:?}")));
                }
                s.per_feature.entry(f.to_owned()).or_default()
            }
        };
        match what {
            "method" => target.method = Some(parse_method(value).map_err(|m| bad(key, m))?),
            "threshold" => {
                let t = value.parse::<f64>().map_err(|_| bad(key, "must be a non-negative number".into()))?;
                target.threshold = Some(parse_threshold(t).map_err(|m| bad(key, m))?);
            }
            _ => {}
        }
    }
    Ok(s)
}

fn decode_reference(r: &ReferenceRecord) -> Result<Profile, ApiError> {
    Profile::decode(&r.data).map_err(|e| ApiError::internal(format!("the stored reference cannot be decoded: {e}")))
}

fn reference_json(r: &ReferenceRecord) -> Value {
    json!({ "version": r.version, "rows": r.rows, "created": format(r.created_ms) })
}

fn column_json(c: &ColumnResult) -> Value {
    match &c.outcome {
        Ok(d) => {
            let mut v = json!({
                "name": c.name, "type": c.kind, "method": d.method.name(), "score": finite(d.score),
                "threshold": d.threshold, "drifted": d.drifted,
            });
            if let Some(p) = d.p_value {
                v["p_value"] = finite(p);
            }
            v
        }
        Err(e) => json!({ "name": c.name, "type": c.kind, "error": e }),
    }
}

/// JSON has no NaN or infinity: such a value is `null`.
fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

fn report_json(r: &DriftReport) -> Value {
    json!({
        "columns": r.features.iter().map(column_json).collect::<Vec<_>>(),
        "prediction": r.prediction.as_ref().map(column_json),
        "scores": r.scores.iter().map(column_json).collect::<Vec<_>>(),
        "share_drifted": r.share_drifted,
        "dataset_drifted": r.dataset_drifted,
    })
}

/// The windows of a span, widened as the stored profiles allow. A series starts at the
/// span's start widened to a minute; a step window that would need widening itself
/// (its minutes expired under retention) is refused rather than overlapping the next.
fn windows(app: &AppState, s: &Span) -> Result<Vec<(i64, i64)>, ApiError> {
    let retention = app.analysis.retention();
    let now = now_ms();
    let (from, to) = analysis::widen(s.from, s.to, now, retention);
    let Some(step) = s.step else { return Ok(vec![(from, to)]) };
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        let end = t.saturating_add(step).min(to);
        if analysis::widen(t, end, now, retention) != (t, end) {
            return Err(ApiError::new(
                Code::InvalidQuery,
                format!(
                    "step: the profiles of {} are kept at a coarser resolution than {} (minute profiles expire \
                     first); use a step of whole hours or days there",
                    format(t),
                    format_duration(step)
                ),
            ));
        }
        out.push((t, end));
        t = end;
    }
    Ok(out)
}

fn feature_names(model: &LoadedModel) -> Vec<String> {
    model.record.spec.features.iter().map(|f| f.name.clone()).collect()
}

pub(super) fn head(model: &LoadedModel, s: &Span) -> Value {
    let mut v = json!({
        "model": model.record.spec.name,
        "version": s.version.as_ref().map(|(_, n)| n),
        "from": format(s.from),
        "to": format(s.to),
    });
    if let Some(step) = s.step {
        v["step"] = json!(format_duration(step));
    }
    v
}

pub(super) fn merge_into(out: &mut Value, body: Value) {
    if let (Some(o), Value::Object(b)) = (out.as_object_mut(), body) {
        o.extend(b);
    }
}

pub async fn drift(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let params = super::support::query(q)?;
    check_known(&params, &["version", "from", "to", "step", "method", "threshold"], true)?;
    let (store, loaded) = (app.store.clone(), model.clone());
    let stored = blocking(move || super::drift_settings::stored(store.as_ref(), &loaded)).await??;
    let settings = settings(&params, &model, stored)?;
    let span = span(&app, &model, &params).await?;
    let store = app.store.clone();
    let (id, version) = (model.id, span.version.clone());
    let reference = blocking(move || analysis::reference_named(store.as_ref(), id, version.map(|v| v.1).as_deref()))
        .await??
        .ok_or_else(|| {
            ApiError::new(
                Code::ReferenceNotFound,
                format!(
                    "model {:?} has no reference to compare with; upload one with PUT /api/v1/models/{}/reference",
                    model.record.spec.name, model.record.spec.name
                ),
            )
        })?;
    let reference_profile = decode_reference(&reference)?;
    let windows = windows(&app, &span)?;
    let (store, names, version_id) = (app.store.clone(), feature_names(&model), span.version.as_ref().map(|v| v.0));
    let results = blocking(move || -> Result<Vec<Value>, ApiError> {
        let prepared = analysis::PreparedReference::new(&reference_profile);
        windows
            .into_iter()
            .map(|(from, to)| {
                let (current, rows) = window(store.as_ref(), id, version_id, from, to)?;
                let report = analysis::drift_against(&prepared, &current, &names, &settings);
                let mut v = json!({ "from": format(from), "to": format(to), "rows": rows });
                merge_into(&mut v, report_json(&report));
                Ok(v)
            })
            .collect()
    })
    .await??;
    let mut out = head(&model, &span);
    out["reference"] = reference_json(&reference);
    finish(out, span.step.is_some(), results)
}

fn window(
    store: &dyn Store,
    model_id: i64,
    version_id: Option<i64>,
    from: i64,
    to: i64,
) -> Result<(Profile, u64), ApiError> {
    analysis::window_profile(store, model_id, version_id, from, to)
        .map_err(|e| ApiError::internal(format!("profiles cannot be read: {e}")))
}

/// One window: its fields at the top level; a series: under `windows`.
pub(super) fn finish(mut out: Value, series: bool, mut results: Vec<Value>) -> Result<Json<Value>, ApiError> {
    if series {
        out["windows"] = Value::Array(results);
    } else if let Some(one) = results.pop() {
        merge_into(&mut out, one);
    }
    Ok(Json(out))
}

fn quality_json(name: &str, q: &ColumnQuality, type_mismatches: u64) -> Value {
    let mut v = match q {
        ColumnQuality::Numeric(n) => json!({
            "name": name, "type": "numeric", "rows": n.rows, "missing": n.missing, "nan": n.nan,
            "infinite": n.infinite, "missing_share": n.missing_share, "min": n.min, "max": n.max, "mean": n.mean,
            "std": n.std, "p05": n.quantiles.map(|q| q[0]), "p50": n.quantiles.map(|q| q[1]),
            "p95": n.quantiles.map(|q| q[2]), "out_of_range": n.out_of_range,
            "out_of_range_share": n.out_of_range_share, "constant": n.constant,
        }),
        ColumnQuality::Categorical(c) => json!({
            "name": name, "type": "categorical", "rows": c.rows, "missing": c.missing,
            "missing_share": c.missing_share, "distinct": c.distinct,
            "top": c.top.iter().map(|(v, n)| json!({"value": v, "count": n})).collect::<Vec<_>>(),
            "unseen": c.unseen, "unseen_share": c.unseen_share, "unseen_values": c.unseen_values,
            "unseen_exact": c.unseen_exact, "constant": c.constant,
        }),
    };
    if name != crate::aggregate::layout::PREDICTION {
        v["type_mismatches"] = json!(type_mismatches);
    }
    v
}

pub async fn data_quality(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let params = super::support::query(q)?;
    check_known(&params, &["version", "from", "to", "step"], false)?;
    let span = span(&app, &model, &params).await?;
    let store = app.store.clone();
    let (id, version) = (model.id, span.version.clone());
    let reference =
        blocking(move || analysis::reference_named(store.as_ref(), id, version.map(|v| v.1).as_deref())).await??;
    let reference_profile = reference.as_ref().map(decode_reference).transpose()?;
    let windows = windows(&app, &span)?;
    let (store, names, version_id) = (app.store.clone(), feature_names(&model), span.version.as_ref().map(|v| v.0));
    let results = blocking(move || -> Result<Vec<Value>, ApiError> {
        windows
            .into_iter()
            .map(|(from, to)| {
                let (current, rows) = window(store.as_ref(), id, version_id, from, to)?;
                // Rejected events' type mismatches are counted per model (version id 0),
                // already merged in when all versions are asked for.
                let per_model = match version_id {
                    Some(_) => Some(window(store.as_ref(), id, Some(0), from, to)?.0),
                    None => None,
                };
                let mismatches = per_model.as_ref().unwrap_or(&current).get(crate::aggregate::TYPE_MISMATCHES);
                let columns = analysis::quality(reference_profile.as_ref(), &current, mismatches, &names);
                Ok(json!({
                    "from": format(from), "to": format(to), "rows": rows,
                    "columns": columns.iter().map(|(n, q, w)| quality_json(n, q, *w)).collect::<Vec<_>>(),
                }))
            })
            .collect()
    })
    .await??;
    let mut out = head(&model, &span);
    out["reference"] = reference.as_ref().map_or(Value::Null, reference_json);
    finish(out, span.step.is_some(), results)
}

/// Recomputes the drift gauges every `drift_gauge_interval`: for each model with a
/// reference, each version seen in the trailing `drift_window`; then the performance
/// gauges (`crate::performance::gauges`) over the same window.
pub async fn update_gauges_periodically(app: Arc<AppState>) {
    let mut tick = tokio::time::interval(app.analysis.drift_gauge_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let state = app.clone();
        match tokio::task::spawn_blocking(move || update_gauges(&state)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "drift gauges not updated"),
            Err(e) => tracing::error!(error = %e, "drift gauge task failed"),
        }
        let state = app.clone();
        match tokio::task::spawn_blocking(move || crate::performance::gauges::update(&state)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "performance gauges not updated"),
            Err(e) => tracing::error!(error = %e, "performance gauge task failed"),
        }
    }
}

fn update_gauges(app: &AppState) -> Result<(), String> {
    let store = app.store.as_ref();
    let to = now_ms();
    let (from, to) = analysis::widen(
        to.saturating_sub(app.analysis.drift_window.as_millis() as i64),
        to,
        to,
        app.analysis.retention(),
    );
    let mut after: Option<String> = None;
    loop {
        let models = store.list_models(after.as_deref(), 200, None).map_err(|e| e.to_string())?;
        let Some(last) = models.last() else { return Ok(()) };
        after = Some(last.spec.name.clone());
        for model in &models {
            if store.list_references(model.id).map_err(|e| e.to_string())?.is_empty() {
                continue;
            }
            let names: Vec<String> = model.spec.features.iter().map(|f| f.name.clone()).collect();
            let loaded = LoadedModel {
                id: model.id,
                name: Arc::from(model.spec.name.as_str()),
                index: sightline_core::ModelIndex::new(model.spec.clone()),
                record: model.clone(),
            };
            let settings = super::drift_settings::stored(store, &loaded).map_err(|e| e.to_string())?;
            let by_version =
                analysis::window_profiles_by_version(store, model.id, from, to).map_err(|e| e.to_string())?;
            for (version_id, current) in by_version {
                let Some(reference) =
                    analysis::reference_for(store, model.id, version_id).map_err(|e| e.to_string())?
                else {
                    continue;
                };
                let Ok(reference) = Profile::decode(&reference.data) else { continue };
                let Some(version) = store.version_by_id(version_id).map_err(|e| e.to_string())? else { continue };
                let report = analysis::drift(&reference, &current, &names, &settings);
                let features: Vec<FeatureDrift> = report
                    .features
                    .iter()
                    .filter_map(|c| {
                        c.outcome.as_ref().ok().map(|d| FeatureDrift {
                            feature: c.name.clone(),
                            method: d.method.name(),
                            score: d.evidently_score(),
                            drifted: d.drifted,
                        })
                    })
                    .collect();
                app.metrics.set_drift(&model.spec.name, &version.name, report.share_drifted, &features);
            }
        }
    }
}
