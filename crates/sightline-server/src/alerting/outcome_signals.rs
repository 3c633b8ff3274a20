//! Monitor samples of performance: the task's metric over the monitor's window per
//! version, realized from predictions joined with their labels (as the performance
//! endpoint computes it, from the outcome tallies), or estimated without labels by CBPE
//! fitted on the labelled predictions of the monitor's reference range (fitted once per
//! monitor and version, then kept: the range is in the past and does not change).

use super::signals::{Samples, SignalSource};
use crate::analysis::Retention;
use crate::performance::estimate::{Estimator, estimated_metric};
use crate::performance::{Metrics, by_version, tallied, window_counted};
use sightline_core::alerting::{Labels, Monitor, Signal};
use sightline_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// Fitted estimators kept at most (past it, the cache starts over).
const MAX_ESTIMATORS: usize = 1000;

/// (monitor id, reference from, reference to, version id).
type EstimatorKey = (String, i64, i64, i64);

pub struct OutcomeSignals {
    pub store: Arc<dyn Store>,
    /// Which buckets of the tallies are still kept.
    retention: Retention,
    /// CBPE fitted per monitor and version; `Err` remembers why it cannot be fitted.
    estimators: Mutex<HashMap<EstimatorKey, Arc<Result<Estimator, String>>>>,
}

impl OutcomeSignals {
    pub fn new(store: Arc<dyn Store>, retention: Retention) -> Self {
        OutcomeSignals { store, retention, estimators: Mutex::new(HashMap::new()) }
    }

    /// The estimator of a monitor's version, fitted on its reference range.
    fn estimator(
        &self,
        m: &Monitor,
        spec: &sightline_core::ModelSpec,
        model_id: i64,
        version_id: i64,
        (from_ms, to_ms): (i64, i64),
        now_ms: i64,
    ) -> Result<Arc<Result<Estimator, String>>, String> {
        let key = (m.id.clone(), from_ms, to_ms, version_id);
        if let Some(found) = self.estimators.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(found.clone());
        }
        let reference =
            tallied::read(self.store.as_ref(), model_id, Some(version_id), (from_ms, to_ms), now_ms, self.retention)
                .map_err(|e| e.to_string())?;
        let fitted = Arc::new(Estimator::fit(spec, &reference.counted(), None));
        let mut cache = self.estimators.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_ESTIMATORS {
            cache.clear();
        }
        cache.insert(key, fitted.clone());
        Ok(fitted)
    }
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
        let Signal::PerformanceMetric { metric: name, estimated, reference } = &m.signal else {
            return Ok(Samples::new());
        };
        let series = |v: &str| Labels::from([("version".to_owned(), v.to_owned())]);
        let mut out = Samples::new();
        let reference = match (estimated, reference) {
            (true, Some(range)) => Some(*range),
            (true, None) => {
                // Refused at creation; a stored one from before reads no data.
                if let Some(v) = m.version.as_deref() {
                    out.insert(series(v), None);
                }
                return Ok(out);
            }
            (false, _) => None,
        };
        let model = self.store.model_by_id(model_id).map_err(|e| e.to_string())?.ok_or("the model is gone")?;
        let store = self.store.as_ref();
        let window = (now_ms.saturating_sub(m.window_ms), now_ms.saturating_add(1));
        let windows = match m.version.as_deref() {
            Some(v) => match store.get_version(model_id, v).map_err(|e| e.to_string())? {
                Some(found) => {
                    let w = tallied::read(store, model_id, Some(found.id), window, now_ms, self.retention)
                        .map_err(|e| e.to_string())?;
                    if w.predictions() > 0 { vec![(found, w)] } else { Vec::new() }
                }
                None => {
                    out.insert(series(v), None);
                    return Ok(out);
                }
            },
            None => by_version::windows(store, model_id, window, now_ms, self.retention).map_err(|e| e.to_string())?,
        };
        for (version, w) in windows {
            let value = match reference {
                Some(range) => match self.estimator(m, &model.spec, model_id, version.id, range, now_ms)?.as_ref() {
                    Ok(estimator) => match estimator.estimate(&model.spec, &w.counted()) {
                        Some(Ok(e)) => estimated_metric(&e, name),
                        _ => None,
                    },
                    Err(_) => None,
                },
                None => match window_counted(&model.spec, &w.counted(), &w.delays, None).metrics {
                    Some(Ok(metrics)) => metric(&metrics, name),
                    _ => None,
                },
            };
            out.insert(series(&version.name), value);
        }
        if let Some(v) = m.version.as_deref() {
            out.entry(series(v)).or_insert(None);
        }
        Ok(out)
    }
}
