//! `GET /models/{model}/performance`: realized metrics from labels, label coverage and
//! delay, over a window or a series of windows.

use super::drift::{check_known, finish, head, span};
use super::support::path;
use crate::error::{ApiError, Code};
use crate::performance::{Metrics, WindowPerformance, window};
use crate::state::{AppState, blocking};
use crate::wire::time::format;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use sightline_store::OutcomeQuery;
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

fn window_json(from: i64, to: i64, w: &WindowPerformance) -> Value {
    let mut v = json!({
        "from": format(from), "to": format(to), "predictions": w.predictions, "labelled": w.labelled,
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

pub async fn performance(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let params = super::support::query(q)?;
    check_known(&params, &["version", "from", "to", "step", "threshold"], false)?;
    let threshold = match params.get("threshold") {
        None => None,
        Some(t) => match t.parse::<f64>() {
            Ok(x) if (0.0..=1.0).contains(&x) => Some(x),
            _ => return Err(ApiError::new(Code::InvalidQuery, "threshold: must be a number between 0 and 1")),
        },
    };
    let span = span(&app, &model, &params).await?;
    let query = OutcomeQuery {
        model_id: model.id,
        version_id: span.version.as_ref().map(|v| v.0),
        from_ms: span.from,
        to_ms: span.to,
        limit: MAX_ROWS + 1,
    };
    let (store, spec) = (app.store.clone(), model.record.spec.clone());
    let (from, to, step) = (span.from, span.to, span.step);
    let results = blocking(move || -> Result<Vec<Value>, ApiError> {
        let rows = store.outcomes(&query)?;
        if rows.len() > MAX_ROWS {
            return Err(ApiError::new(
                Code::InvalidQuery,
                format!("from: the range holds more than {MAX_ROWS} predictions; ask for a shorter one"),
            ));
        }
        let step = step.unwrap_or(to - from);
        let mut out = Vec::new();
        let mut start = 0;
        let mut t = from;
        while t < to {
            let end = t.saturating_add(step).min(to);
            let stop = rows[start..].iter().position(|r| r.timestamp_ms >= end).map_or(rows.len(), |n| start + n);
            let slice: Vec<&sightline_store::OutcomeRow> = rows[start..stop].iter().collect();
            out.push(window_json(t, end, &window(&spec, &slice, threshold)));
            start = stop;
            t = end;
        }
        Ok(out)
    })
    .await??;
    let mut out = head(&model, &span);
    out["task"] = json!(model.record.spec.task.as_str());
    finish(out, span.step.is_some(), results)
}
