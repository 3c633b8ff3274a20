//! The performance gauges on /metrics: label coverage and the realized metrics of each
//! version over the trailing drift window, recomputed with the drift gauges. Read from
//! the outcome tallies, so a busy model costs its buckets, not its predictions.

use super::{by_version, window_counted};
use crate::alerting::outcome_signals::{METRICS, metric};
use crate::state::AppState;
use crate::wire::time::now_ms;

/// Recomputes every model's performance gauges over `[now − drift_window, now)`; a
/// version without traffic in it keeps its gauges as they were.
pub fn update(app: &AppState) -> Result<(), String> {
    let store = app.store.as_ref();
    let to = now_ms();
    let from = to.saturating_sub(app.analysis.drift_window.as_millis() as i64);
    let mut after: Option<String> = None;
    loop {
        let models = store.list_models(after.as_deref(), 200, None).map_err(|e| e.to_string())?;
        let Some(last) = models.last() else { return Ok(()) };
        after = Some(last.spec.name.clone());
        for model in &models {
            let windows = by_version::windows(store, model.id, (from, to), to, app.analysis.retention())
                .map_err(|e| e.to_string())?;
            for (version, w) in windows {
                let figures = window_counted(&model.spec, &w.counted(), &w.delays, None);
                let coverage = (figures.predictions > 0).then(|| figures.labelled as f64 / figures.predictions as f64);
                let values: Vec<(&str, Option<f64>)> = match &figures.metrics {
                    Some(Ok(m)) => METRICS.iter().map(|name| (*name, metric(m, name))).collect(),
                    _ => METRICS.iter().map(|name| (*name, None)).collect(),
                };
                app.metrics.set_performance(&model.spec.name, &version.name, coverage, &values);
            }
        }
    }
}
