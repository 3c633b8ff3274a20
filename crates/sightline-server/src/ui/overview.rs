//! The overview: every model the viewer may read, with its last hour at a glance.

use super::data::{self, Traffic};
use super::layout::{self, percent};
use super::{PageResult, Viewer, html};
use crate::routes::drift_settings;
use crate::state::{AppState, blocking};
use crate::wire::time::now_ms;
use axum::extract::State;
use maud::html;
use sightline_core::Need;
use sightline_store::{AlertQuery, ModelRecord, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// Most models listed (the overview is one page).
const MAX_MODELS: usize = 200;
const HOUR_MS: i64 = 3_600_000;

struct Row {
    model: ModelRecord,
    project: String,
    traffic: Traffic,
    /// Drifted features of the last hour and how many were judged; `None` without a
    /// reference or traffic.
    drift: Option<(usize, usize)>,
    open_alerts: usize,
}

pub async fn page(State(app): State<Arc<AppState>>, viewer: Viewer) -> PageResult {
    let readable = viewer.principal.projects_allowing(Need::Read);
    let (store, state) = (app.store.clone(), app.clone());
    let now = now_ms();
    let rows = blocking(move || -> Result<Vec<Row>, crate::error::ApiError> {
        let models = store.list_models(None, MAX_MODELS, readable.as_deref())?;
        let alerts = store.list_alerts(&AlertQuery { projects: readable.clone(), ..AlertQuery::default() })?;
        let mut open: HashMap<String, usize> = HashMap::new();
        for a in alerts.iter().filter(|a| a.state == "firing" || a.state == "pending") {
            let labels: serde_json::Value = serde_json::from_str(&a.labels).unwrap_or_default();
            if let Some(m) = labels["model"].as_str() {
                *open.entry(m.to_owned()).or_default() += 1;
            }
        }
        let mut projects: HashMap<i64, String> = HashMap::new();
        let mut rows = Vec::with_capacity(models.len());
        for model in models {
            let window = [(now - HOUR_MS, now)];
            let retention = state.analysis.retention();
            let traffic =
                data::traffic(store.as_ref(), model.id, None, &window, retention, now)?.pop().unwrap_or_default();
            let drift = hour_drift(store.as_ref(), &state, &model, now)?;
            let project = match projects.get(&model.project_id) {
                Some(p) => p.clone(),
                None => {
                    let name = store.get_project_by_id(model.project_id)?.map(|p| p.name).unwrap_or_default();
                    projects.insert(model.project_id, name.clone());
                    name
                }
            };
            let open_alerts = open.get(&model.spec.name).copied().unwrap_or(0);
            rows.push(Row { model, project, traffic, drift, open_alerts });
        }
        Ok(rows)
    })
    .await??;
    let body = html! {
        div data-refresh="30" {
            div.toolbar {
                h1 { "Models" }
                label.refresh { input #auto-refresh type="checkbox"; " refresh every 30 s" }
            }
            p.muted { "The last hour of every model you can see." }
            @if rows.is_empty() {
                p { "No models yet. Create one through the API (see the README), or start the server with "
                    code { "--demo" } "." }
            } @else {
                table {
                    thead { tr {
                        th { "Model" } th { "Project" } th { "Task" } th.num { "Predictions / s" }
                        th.num { "Error rate" } th.num { "p99 latency (ms)" } th { "Drift" } th { "Open alerts" }
                    } }
                    tbody {
                        @for r in &rows {
                            tr {
                                td { a href={ "/ui/models/" (r.model.spec.name) } { (r.model.spec.name) } }
                                td { (r.project) }
                                td { (r.model.spec.task.as_str()) }
                                td.num { (format!("{:.2}", r.traffic.predictions as f64 / 3600.0)) }
                                td.num { (percent(r.traffic.error_rate())) }
                                td.num { (layout::opt_number(r.traffic.latency.map(|l| l[2]))) }
                                td {
                                    @match r.drift {
                                        None => { span.badge { "no reference or data" } }
                                        Some((0, n)) => { span.badge.ok { "none of " (n) } }
                                        Some((d, n)) => { span.badge.bad { (d) " of " (n) " features" } }
                                    }
                                }
                                td {
                                    @if r.open_alerts > 0 {
                                        a.badge.bad href="/ui/alerts" { (r.open_alerts) " open" }
                                    } @else { span.badge.ok { "none" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html(layout::page(&viewer, "Overview", &[], body)))
}

/// Drifted and judged features over the last hour, all versions against the default
/// reference, with the model's drift settings.
fn hour_drift(
    store: &dyn Store,
    app: &AppState,
    model: &ModelRecord,
    now: i64,
) -> Result<Option<(usize, usize)>, crate::error::ApiError> {
    let internal = |e: crate::analysis::AnalysisError| crate::error::ApiError::internal(e);
    let Some((_, reference)) = data::reference(store, model.id, None).map_err(internal)? else { return Ok(None) };
    let loaded = app.remember(model.clone());
    let settings = drift_settings::stored(store, &loaded)?;
    let features: Vec<String> = model.spec.features.iter().map(|f| f.name.clone()).collect();
    let (current, rows) =
        data::window_profile(store, model.id, None, (now - HOUR_MS, now), app.analysis.retention(), now)
            .map_err(internal)?;
    if rows == 0 {
        return Ok(None);
    }
    let report = crate::analysis::drift(&reference, &current, &features, &settings);
    let judged: Vec<bool> = report.features.iter().filter_map(|c| c.outcome.as_ref().ok().map(|d| d.drifted)).collect();
    Ok(Some((judged.iter().filter(|d| **d).count(), judged.len())))
}
