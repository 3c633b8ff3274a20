//! The performance gauges on /metrics: label coverage and the realized metrics of each
//! version over the trailing drift window, recomputed with the drift gauges.

use super::window;
use crate::alerting::outcome_signals::{METRICS, metric};
use crate::routes::performance::MAX_ROWS;
use crate::state::AppState;
use crate::wire::time::now_ms;
use sightline_store::{OutcomeQuery, OutcomeRow};
use std::collections::BTreeMap;

/// Recomputes every model's performance gauges over `[now − drift_window, now)`.
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
            let query =
                OutcomeQuery { model_id: model.id, version_id: None, from_ms: from, to_ms: to, limit: MAX_ROWS + 1 };
            let rows = store.outcomes(&query).map_err(|e| e.to_string())?;
            if rows.len() > MAX_ROWS {
                tracing::warn!(model = %model.spec.name, "performance gauges skipped: the drift window holds too many predictions");
                continue;
            }
            let mut by_version: BTreeMap<i64, Vec<&OutcomeRow>> = BTreeMap::new();
            for r in &rows {
                by_version.entry(r.version_id).or_default().push(r);
            }
            for (version_id, rows) in by_version {
                let Some(version) = store.version_by_id(version_id).map_err(|e| e.to_string())? else { continue };
                let w = window(&model.spec, &rows, None);
                let coverage = (w.predictions > 0).then(|| w.labelled as f64 / w.predictions as f64);
                let values: Vec<(&str, Option<f64>)> = match &w.metrics {
                    Some(Ok(m)) => METRICS.iter().map(|name| (*name, metric(m, name))).collect(),
                    _ => METRICS.iter().map(|name| (*name, None)).collect(),
                };
                app.metrics.set_performance(&model.spec.name, &version.name, coverage, &values);
            }
        }
    }
}
