//! `GET /models/{model}/performance`: realized metrics from labels, label coverage and
//! delay, and for binary classifiers given a labelled reference window the metrics CBPE
//! estimates without labels, over a window or a series of windows.

use super::drift::{check_known, finish, head, merge_into, span, time, version_named};
use super::support::path;
use crate::error::{ApiError, Code};
use crate::performance::estimate::{Estimator, Fitted};
use crate::performance::segment::{self, SegmentBy};
use crate::performance::{Counted, Metrics, WindowPerformance, tallied, window_counted};
use crate::state::{AppState, blocking};
use crate::wire::time::format;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use sightline_core::ModelSpec;
use sightline_stats::performance::CbpeEstimate;
use sightline_store::{OutcomeQuery, OutcomeRow, OutcomeStore, PredictionQuery};
use std::collections::HashMap;
use std::sync::Arc;

/// Most predictions one answer reads: metrics like ROC AUC need every labelled score,
/// so the cost grows with the events; past this, ask for a shorter range.
pub const MAX_ROWS: usize = 5_000_000;

fn metrics_json(m: &Metrics) -> Value {
    match m {
        Metrics::Binary(b) => json!({
            "count": b.count, "accuracy": b.accuracy, "precision": b.precision, "recall": b.recall, "f1": b.f1,
            "specificity": b.specificity, "roc_auc": b.roc_auc, "average_precision": b.average_precision,
            "log_loss": b.log_loss, "brier": b.brier, "expected_calibration_error": b.expected_calibration_error,
            "confusion_matrix": {"true_negatives": b.confusion.true_negatives, "false_positives": b.confusion.false_positives,
                "false_negatives": b.confusion.false_negatives, "true_positives": b.confusion.true_positives},
        }),
        Metrics::Multiclass(m) => json!({
            "count": m.count, "accuracy": m.accuracy, "macro_precision": m.macro_precision, "macro_recall": m.macro_recall,
            "macro_f1": m.macro_f1, "weighted_precision": m.weighted_precision, "weighted_recall": m.weighted_recall,
            "weighted_f1": m.weighted_f1, "log_loss": m.log_loss, "confusion_matrix": m.confusion,
        }),
        Metrics::Regression(r) => json!({
            "count": r.count, "mae": r.mae, "mse": r.mse, "rmse": r.rmse, "mape": r.mape, "r2": r.r2,
            "mean_error": r.mean_error,
        }),
    }
}

fn estimate_json(e: &CbpeEstimate) -> Value {
    let c = &e.confusion;
    let s = &e.sampling_error;
    json!({
        "count": e.count, "accuracy": e.accuracy, "precision": e.precision, "recall": e.recall, "f1": e.f1,
        "specificity": e.specificity, "roc_auc": e.roc_auc, "average_precision": e.average_precision,
        "confusion_matrix": {"true_negatives": c.true_negatives, "false_positives": c.false_positives,
            "false_negatives": c.false_negatives, "true_positives": c.true_positives},
        "sampling_error": {"accuracy": s.accuracy, "precision": s.precision, "recall": s.recall, "f1": s.f1,
            "specificity": s.specificity, "roc_auc": s.roc_auc},
    })
}

fn window_json(w: &WindowPerformance) -> Value {
    let mut v = json!({
        "predictions": w.predictions, "labelled": w.labelled,
        "label_coverage": (w.predictions > 0).then(|| w.labelled as f64 / w.predictions as f64),
        "label_delay_ms": {"median": w.delay_median_ms, "p90": w.delay_p90_ms},
        "metrics": Value::Null,
    });
    match &w.metrics {
        Some(Ok(m)) => v["metrics"] = metrics_json(m),
        Some(Err(e)) => v["error"] = json!(e),
        None => {}
    }
    v
}

/// The figures of some predictions: realized, and estimated when an estimator is given.
fn figures(spec: &ModelSpec, rows: &[&OutcomeRow], threshold: Option<f64>, estimator: Option<&Estimator>) -> Value {
    let delays = crate::performance::delays_of(rows.iter().copied());
    counted_figures(spec, &crate::performance::once(rows.iter().copied()), &delays, threshold, estimator)
}

/// The same of counted rows and their (sorted, counted) label delays.
fn counted_figures(
    spec: &ModelSpec,
    rows: &[Counted<'_>],
    delays: &[(i64, usize)],
    threshold: Option<f64>,
    estimator: Option<&Estimator>,
) -> Value {
    let mut v = window_json(&window_counted(spec, rows, delays, threshold));
    if let Some(e) = estimator {
        match e.estimate(spec, rows) {
            None => v["estimated"] = Value::Null,
            Some(Ok(estimate)) => v["estimated"] = estimate_json(&estimate),
            Some(Err(m)) => {
                v["estimated"] = Value::Null;
                v["estimation_error"] = json!(m);
            }
        }
    }
    v
}

/// Predictions sliced by a feature or tag: each one's value, and the values kept apart.
struct Segments {
    values: Vec<Option<String>>,
    top: Vec<String>,
}

impl Segments {
    /// The figures of each kept value among the predictions `start..stop`, then of the others.
    fn figures(
        &self,
        rows: &[OutcomeRow],
        (start, stop): (usize, usize),
        spec: &ModelSpec,
        threshold: Option<f64>,
        estimator: Option<&Estimator>,
    ) -> Value {
        let mut slices: Vec<Vec<&OutcomeRow>> = vec![Vec::new(); self.top.len() + 1];
        for (row, value) in rows[start..stop].iter().zip(&self.values[start..stop]) {
            let slot = value.as_ref().and_then(|v| self.top.iter().position(|t| t == v)).unwrap_or(self.top.len());
            slices[slot].push(row);
        }
        let out: Vec<Value> = slices
            .iter()
            .enumerate()
            .map(|(k, slice)| {
                let mut v = figures(spec, slice, threshold, estimator);
                match self.top.get(k) {
                    Some(value) => v["value"] = json!(value),
                    None => {
                        v["value"] = Value::Null;
                        v["other"] = json!(true);
                    }
                }
                v
            })
            .collect();
        Value::Array(out)
    }
}

/// The labelled window CBPE is fitted on, when the query asks for estimates.
struct ReferenceWindow {
    version: Option<(i64, String)>,
    from: i64,
    to: i64,
}

async fn reference_window(
    app: &Arc<AppState>,
    model: &crate::state::LoadedModel,
    params: &HashMap<String, String>,
    version: Option<&(i64, String)>,
) -> Result<Option<ReferenceWindow>, ApiError> {
    let (from, to) = (time(params, "reference_from")?, time(params, "reference_to")?);
    let (from, to) = match (from, to) {
        (None, None) if !params.contains_key("reference_version") => return Ok(None),
        (Some(f), Some(t)) => (f, t),
        (None, _) => return Err(ApiError::new(Code::InvalidQuery, "reference_from: required to estimate performance")),
        (_, None) => return Err(ApiError::new(Code::InvalidQuery, "reference_to: required to estimate performance")),
    };
    if from >= to {
        return Err(ApiError::new(Code::InvalidQuery, "reference_from: must be before reference_to"));
    }
    let version = match params.get("reference_version") {
        Some(name) => Some(version_named(app, model, "reference_version", name).await?),
        None => version.cloned(),
    };
    Ok(Some(ReferenceWindow { version, from, to }))
}

/// Reads the outcomes of a query, refusing more than [`MAX_ROWS`] with a message naming `param`.
pub(super) fn outcomes(
    store: &dyn OutcomeStore,
    query: &OutcomeQuery,
    param: &str,
) -> Result<Vec<OutcomeRow>, ApiError> {
    let rows = store.outcomes(query)?;
    if rows.len() > MAX_ROWS {
        return Err(too_many(param));
    }
    Ok(rows)
}

fn too_many(param: &str) -> ApiError {
    ApiError::new(
        Code::InvalidQuery,
        format!("{param}: the range holds more than {MAX_ROWS} predictions; ask for a shorter one"),
    )
}

pub(super) fn parse_threshold(params: &HashMap<String, String>) -> Result<Option<f64>, ApiError> {
    match params.get("threshold") {
        None => Ok(None),
        Some(t) => match t.parse::<f64>() {
            Ok(x) if (0.0..=1.0).contains(&x) => Ok(Some(x)),
            _ => Err(ApiError::new(Code::InvalidQuery, "threshold: must be a number between 0 and 1")),
        },
    }
}

pub async fn performance(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let params = super::support::query(q)?;
    check_known(
        &params,
        &[
            "version",
            "from",
            "to",
            "step",
            "threshold",
            "reference_from",
            "reference_to",
            "reference_version",
            "segment",
            "segment_top",
        ],
        false,
    )?;
    let threshold = parse_threshold(&params)?;
    let span = span(&app, &model, &params).await?;
    let reference = reference_window(&app, &model, &params, span.version.as_ref()).await?;
    let query = OutcomeQuery {
        model_id: model.id,
        version_id: span.version.as_ref().map(|v| v.0),
        from_ms: span.from,
        to_ms: span.to,
        limit: MAX_ROWS + 1,
    };
    let reference_query = reference.as_ref().map(|r| OutcomeQuery {
        model_id: model.id,
        version_id: r.version.as_ref().map(|v| v.0),
        from_ms: r.from,
        to_ms: r.to,
        limit: MAX_ROWS + 1,
    });
    let segment = match params.get("segment") {
        None => None,
        Some(text) => Some(
            SegmentBy::parse(&model.record.spec, text)
                .map_err(|m| ApiError::new(Code::InvalidQuery, format!("segment: {m}")))?,
        ),
    };
    let top = match params.get("segment_top") {
        None => segment::DEFAULT_TOP,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=segment::MAX_TOP).contains(&n) => n,
            _ => {
                return Err(ApiError::new(
                    Code::InvalidQuery,
                    format!("segment_top: must be a whole number from 1 to {}", segment::MAX_TOP),
                ));
            }
        },
    };
    let listing = PredictionQuery {
        model_id: model.id,
        from_ms: Some(span.from),
        to_ms: Some(span.to),
        version: span.version.as_ref().map(|v| v.1.clone()),
        before: None,
        limit: 0,
    };
    let (store, spec) = (app.store.clone(), model.record.spec.clone());
    let (from, to, step) = (span.from, span.to, span.step);
    let (now, retention) = (crate::wire::time::now_ms(), app.analysis.retention());
    let fits = app.clone();
    let (results, fitted) = blocking(move || -> Result<(Vec<Value>, Option<Fitted>), ApiError> {
        let fitted = match &reference_query {
            None => None,
            Some(q) => {
                let reference =
                    tallied::read(store.as_ref(), q.model_id, q.version_id, (q.from_ms, q.to_ms), now, retention)?;
                let fitted = fits.estimators.fit(q.model_id, &spec, &reference.counted(), threshold);
                if let Err(m) = fitted.as_ref() {
                    return Err(ApiError::new(
                        Code::InvalidQuery,
                        format!("reference_from: the reference window cannot be used: {m}"),
                    ));
                }
                Some(fitted)
            }
        };
        let estimator = fitted.as_deref().and_then(|f| f.as_ref().ok());
        let step = step.unwrap_or(to - from);
        let (rows, segments) = match &segment {
            None => {
                // Without segments every window is read from the outcome tallies.
                let mut out = Vec::new();
                let mut t = from;
                while t < to {
                    let end = t.saturating_add(step).min(to);
                    let w = tallied::read(store.as_ref(), query.model_id, query.version_id, (t, end), now, retention)?;
                    let mut v = json!({"from": format(t), "to": format(end)});
                    merge_into(&mut v, counted_figures(&spec, &w.counted(), &w.delays, threshold, estimator));
                    out.push(v);
                    t = end;
                }
                return Ok((out, fitted));
            }
            Some(by) => {
                let read = segment::read(store.as_ref(), listing, by, MAX_ROWS + 1)?;
                if read.len() > MAX_ROWS {
                    return Err(too_many("from"));
                }
                let (values, rows): (Vec<Option<String>>, Vec<OutcomeRow>) = read.into_iter().unzip();
                let top = segment::top_values(values.iter().cloned(), top);
                (rows, Some(Segments { values, top }))
            }
        };
        let mut out = Vec::new();
        let mut start = 0;
        let mut t = from;
        while t < to {
            let end = t.saturating_add(step).min(to);
            let stop = rows[start..].iter().position(|r| r.timestamp_ms >= end).map_or(rows.len(), |n| start + n);
            let slice: Vec<&OutcomeRow> = rows[start..stop].iter().collect();
            let mut v = json!({"from": format(t), "to": format(end)});
            merge_into(&mut v, figures(&spec, &slice, threshold, estimator));
            if let Some(s) = &segments {
                v["segments"] = s.figures(&rows, (start, stop), &spec, threshold, estimator);
            }
            out.push(v);
            start = stop;
            t = end;
        }
        Ok((out, fitted))
    })
    .await??;
    let estimator = fitted.as_deref().and_then(|f| f.as_ref().ok());
    let mut out = head(&model, &span);
    out["task"] = json!(model.record.spec.task.as_str());
    if let (Some(r), Some(e)) = (&reference, estimator) {
        out["reference"] = json!({
            "version": r.version.as_ref().map(|v| &v.1), "from": format(r.from), "to": format(r.to),
            "labelled": e.reference_labelled, "calibrated": e.is_calibrated(),
        });
    }
    finish(out, span.step.is_some(), results)
}
