//! Monitor samples of realized performance: the task's metric over the monitor's window
//! per version, from predictions joined with their labels (as the performance endpoint
//! computes it). Estimated performance has no source yet: such monitors read no data.

use super::signals::{Samples, SignalSource};
use crate::performance::{Metrics, window};
use sightline_core::alerting::{Labels, Monitor, Signal};
use sightline_store::{OutcomeQuery, Store};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The metric names a `performance_metric` monitor can watch (each applies to the tasks
/// that have it; on another task the monitor reads no data).
pub const METRICS: [&str; 19] = [
    "accuracy",
    "precision",
    "recall",
    "f1",
    "specificity",
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier",
    "expected_calibration_error",
    "macro_f1",
    "weighted_f1",
    "macro_precision",
    "macro_recall",
    "mae",
    "mse",
    "rmse",
    "mape",
    "r2",
];

/// Most predictions one sample reads (as the endpoint).
const MAX_ROWS: usize = crate::routes::performance::MAX_ROWS;

pub struct OutcomeSignals {
    pub store: Arc<dyn Store>,
}

/// Whether `metric()` can give `name` for a model of `task`.
pub fn metric_applies(task: sightline_core::Task, name: &str) -> bool {
    use sightline_core::Task;
    match task {
        Task::BinaryClassification => METRICS[..10].contains(&name),
        Task::MulticlassClassification => {
            ["accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall", "log_loss"].contains(&name)
        }
        Task::Regression => METRICS[14..].contains(&name),
    }
}

/// The named metric of a window's metrics.
pub fn metric(m: &Metrics, name: &str) -> Option<f64> {
    match m {
        Metrics::Binary(b) => match name {
            "accuracy" => b.accuracy,
            "precision" => b.precision,
            "recall" => b.recall,
            "f1" => b.f1,
            "specificity" => b.specificity,
            "roc_auc" => b.roc_auc,
            "average_precision" => b.average_precision,
            "log_loss" => b.log_loss,
            "brier" => b.brier,
            "expected_calibration_error" => b.expected_calibration_error,
            _ => None,
        },
        Metrics::Multiclass(c) => match name {
            "accuracy" => c.accuracy,
            "macro_f1" => c.macro_f1,
            "weighted_f1" => c.weighted_f1,
            "macro_precision" => c.macro_precision,
            "macro_recall" => c.macro_recall,
            "log_loss" => c.log_loss,
            _ => None,
        },
        Metrics::Regression(r) => match name {
            "mae" => r.mae,
            "mse" => r.mse,
            "rmse" => r.rmse,
            "mape" => r.mape,
            "r2" => r.r2,
            _ => None,
        },
    }
}

impl SignalSource for OutcomeSignals {
    fn serves(&self, signal: &Signal) -> bool {
        matches!(signal, Signal::PerformanceMetric { .. })
    }

    fn sample(&self, m: &Monitor, model_id: i64, now_ms: i64) -> Result<Samples, String> {
        let Signal::PerformanceMetric { metric: name, estimated } = &m.signal else { return Ok(Samples::new()) };
        let series = |v: &str| Labels::from([("version".to_owned(), v.to_owned())]);
        let mut out = Samples::new();
        if *estimated {
            if let Some(v) = m.version.as_deref() {
                out.insert(series(v), None);
            }
            return Ok(out);
        }
        let model = self.store.model_by_id(model_id).map_err(|e| e.to_string())?.ok_or("the model is gone")?;
        let version_id = match m.version.as_deref() {
            Some(v) => match self.store.get_version(model_id, v).map_err(|e| e.to_string())? {
                Some(found) => Some(found.id),
                None => {
                    out.insert(series(v), None);
                    return Ok(out);
                }
            },
            None => None,
        };
        let query = OutcomeQuery {
            model_id,
            version_id,
            from_ms: now_ms.saturating_sub(m.window_ms),
            to_ms: now_ms.saturating_add(1),
            limit: MAX_ROWS,
        };
        let rows = self.store.outcomes(&query).map_err(|e| e.to_string())?;
        let mut by_version: BTreeMap<i64, Vec<&sightline_store::OutcomeRow>> = BTreeMap::new();
        for r in &rows {
            by_version.entry(r.version_id).or_default().push(r);
        }
        for (version_id, rows) in by_version {
            let Some(version) = self.store.version_by_id(version_id).map_err(|e| e.to_string())? else { continue };
            let value = match window(&model.spec, &rows, None).metrics {
                Some(Ok(metrics)) => metric(&metrics, name),
                _ => None,
            };
            out.insert(series(&version.name), value);
        }
        if let Some(v) = m.version.as_deref() {
            out.entry(series(v)).or_insert(None);
        }
        Ok(out)
    }
}
