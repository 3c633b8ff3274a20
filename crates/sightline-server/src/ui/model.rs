//! A model's page: traffic, latency and errors over the chosen range, the drift
//! heatmap, the prediction distribution, realized performance, features and versions.

use super::charts::{self, Series};
use super::data::{self, DriftGrid, Traffic};
use super::layout::{self, figure, opt_number, percent};
use super::range::{RANGES, Range};
use super::{Failure, PageResult, Viewer, html, readable_model};
use crate::aggregate::layout::PREDICTION;
use crate::error::{ApiError, Code};
use crate::performance::{Metrics, WindowPerformance, estimate};
use crate::routes::drift_settings;
use crate::state::{AppState, LoadedModel, blocking};
use crate::wire::time::now_ms;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use sightline_core::Task;
use sightline_store::VersionRecord;
use std::collections::HashMap;
use std::sync::Arc;

/// Windows of the traffic charts, of the drift heatmap, of the performance chart.
const TRAFFIC_WINDOWS: i64 = 60;
const DRIFT_WINDOWS: i64 = 30;
const PERFORMANCE_WINDOWS: i64 = 20;
/// read too many, so the chart is left out.
/// Error groups listed.
const MAX_ISSUES: usize = 20;

/// The range and version a model page (and its feature pages) show.
#[derive(Debug, Clone)]
pub struct Choice {
    pub range: Range,
    pub version: Option<String>,
}

impl Choice {
    pub fn from_query(q: &HashMap<String, String>) -> Choice {
        Choice {
            range: Range::parse(q.get("range").map(String::as_str)),
            version: q.get("version").filter(|v| !v.is_empty()).cloned(),
        }
    }

    /// The query string for this choice with `range` / `version` replaced.
    pub fn query(&self, range: &str, version: Option<&str>) -> String {
        let mut pairs = vec![("range", range)];
        if let Some(v) = version {
            pairs.push(("version", v));
        }
        super::session::encode(&pairs)
    }
}

/// The range and version pickers.
pub fn toolbar(base: &str, choice: &Choice, versions: &[VersionRecord]) -> Markup {
    let version = choice.version.as_deref();
    html! {
        div.toolbar {
            span.choices {
                @for (key, label, _) in RANGES {
                    a.on[choice.range.key == key]
                      href={ (base) "?" (choice.query(key, version)) } title=(label) { (key) }
                }
            }
            span.choices {
                a.on[version.is_none()]
                  href={ (base) "?" (choice.query(choice.range.key, None)) } { "all versions" }
                @for v in versions {
                    a.on[version == Some(v.name.as_str())]
                      href={ (base) "?" (choice.query(choice.range.key, Some(&v.name))) } { (v.name) }
                }
            }
            label.refresh { input #auto-refresh type="checkbox"; " refresh every minute" }
        }
    }
}

/// Everything the page draws, read in one blocking task.
struct Figures {
    versions: Vec<VersionRecord>,
    /// Each version's registry stage and the aliases pointing at it, by version id.
    registry: std::collections::HashMap<i64, (String, Vec<String>)>,
    /// Versions that are nodes of the lineage graph (a training job named them).
    in_lineage: std::collections::HashSet<String>,
    /// The model's project, for links into its lineage.
    project: String,
    traffic_windows: Vec<(i64, i64)>,
    traffic: Vec<Traffic>,
    reference: Option<sightline_store::ReferenceRecord>,
    grid: Option<DriftGrid>,
    /// Drift of the whole range (the feature table) and its row count.
    whole: Option<(crate::analysis::DriftReport, u64)>,
    prediction: Option<data::Distribution>,
    performance_windows: Vec<(i64, i64)>,
    performance: data::PagePerformance,
    /// Error groups (issues), most recently seen first.
    issues: Vec<sightline_store::IssueRecord>,
}

/// The version named in the query, as (id, name); 404 when the model has none such.
pub async fn version_of(
    app: &Arc<AppState>,
    model: &LoadedModel,
    name: Option<&str>,
) -> Result<Option<(i64, String)>, Failure> {
    let Some(name) = name else { return Ok(None) };
    let (store, id, owned) = (app.store.clone(), model.id, name.to_owned());
    match blocking(move || store.get_version(id, &owned)).await?? {
        Some(v) => Ok(Some((v.id, v.name))),
        None => Err(ApiError::new(Code::VersionNotFound, format!("the model has no version {name:?}")).into()),
    }
}

fn gather(
    app: &AppState,
    model: &LoadedModel,
    choice: &Choice,
    version: Option<(i64, String)>,
) -> Result<Figures, Failure> {
    let store = app.store.as_ref();
    let (now, retention) = (now_ms(), app.analysis.retention());
    let version_id = version.as_ref().map(|v| v.0);
    let version_name = version.as_ref().map(|v| v.1.as_str());
    let versions = store.list_versions(model.id, None, 100)?;
    let registry =
        store.model_version_details(model.id)?.into_iter().map(|d| (d.version.id, (d.stage, d.aliases))).collect();
    let mut in_lineage = std::collections::HashSet::new();
    for v in &versions {
        let name = format!("{}/{}", model.record.spec.name, v.name);
        let node = store.lineage_node(
            model.record.project_id,
            sightline_store::NodeKind::Dataset,
            crate::lineage::MODEL_NAMESPACE,
            &name,
        )?;
        if node.is_some() {
            in_lineage.insert(v.name.clone());
        }
    }
    let project = store.get_project_by_id(model.record.project_id)?.map(|p| p.name).unwrap_or_default();
    let traffic_windows = choice.range.windows(TRAFFIC_WINDOWS);
    let performance_windows = choice.range.windows(PERFORMANCE_WINDOWS);
    // The two heaviest parts run side by side: traffic and performance from the outcome
    // tallies on a second thread, drift from the profiles on this one.
    let (outcomes, drift) = std::thread::scope(|s| {
        let outcomes = s.spawn(|| -> Result<_, sightline_store::StoreError> {
            let traffic = data::traffic(store, model.id, version_id, &traffic_windows, retention, now)?;
            let spec = &model.record.spec;
            let performance = data::performance(
                store,
                &app.estimators,
                spec,
                model.id,
                version_id,
                &performance_windows,
                retention,
                now,
            )?;
            Ok((traffic, performance))
        });
        let drift = drift_figures(app, model, choice, version_id, version_name, retention, now);
        (outcomes.join(), drift)
    });
    let (traffic, performance) =
        outcomes.map_err(|_| ApiError::internal("the model page's outcome figures panicked"))??;
    let (reference, grid, whole, prediction) = drift?;
    let issues = store.list_issues(&sightline_store::IssueQuery {
        model_id: model.id,
        status: None,
        version: version_name.map(str::to_owned),
        before: None,
        limit: MAX_ISSUES,
    })?;
    Ok(Figures {
        versions,
        registry,
        in_lineage,
        project,
        traffic_windows,
        traffic,
        reference: reference.map(|r| r.0),
        grid,
        whole,
        prediction,
        performance_windows,
        performance,
        issues,
    })
}

type DriftFigures = (
    Option<(sightline_store::ReferenceRecord, sightline_stats::profile::Profile)>,
    Option<DriftGrid>,
    Option<(crate::analysis::DriftReport, u64)>,
    Option<data::Distribution>,
);

/// The reference, the drift heatmap, the whole range's drift and the prediction
/// distribution (nothing of them without a reference).
#[allow(clippy::too_many_arguments)]
fn drift_figures(
    app: &AppState,
    model: &LoadedModel,
    choice: &Choice,
    version_id: Option<i64>,
    version_name: Option<&str>,
    retention: crate::analysis::Retention,
    now: i64,
) -> Result<DriftFigures, Failure> {
    let store = app.store.as_ref();
    let features: Vec<String> = model.record.spec.features.iter().map(|f| f.name.clone()).collect();
    let reference = data::reference(store, model.id, version_name)?;
    let (mut grid, mut whole, mut prediction) = (None, None, None);
    if let Some((_, profile)) = &reference {
        let settings = drift_settings::stored(store, model)?;
        let windows = choice.range.windows(DRIFT_WINDOWS);
        grid = Some(data::drift_grid(
            store, model.id, version_id, profile, &features, &settings, windows, retention, now,
        )?);
        let span = (choice.range.from, choice.range.to);
        let (current, rows) = data::window_profile(store, model.id, version_id, span, retention, now)?;
        whole = Some((crate::analysis::drift(profile, &current, &features, &settings), rows));
        prediction = data::distribution(profile.get(PREDICTION), current.get(PREDICTION));
    }
    Ok((reference, grid, whole, prediction))
}

pub async fn page(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let model = readable_model(&app, &viewer.principal, &name).await?;
    let choice = Choice::from_query(&q);
    let version = version_of(&app, &model, choice.version.as_deref()).await?;
    let (state, loaded, c) = (app.clone(), model.clone(), choice.clone());
    let f = blocking(move || gather(&state, &loaded, &c, version)).await??;
    let base = format!("/ui/models/{name}");
    let spec = &model.record.spec;
    let total: i64 = f.traffic.iter().map(|t| t.predictions).sum();
    let errors: i64 = f.traffic.iter().map(|t| t.errors).sum();
    let labelled: i64 = f.traffic.iter().map(|t| t.labelled).sum();
    let seconds = ((choice.range.to - choice.range.from) / 1000).max(1) as f64;
    let body = html! {
        div data-refresh="60" {
            h1 { (spec.name) " " span.badge { (spec.task.as_str()) } }
            @if !spec.description.is_empty() { p.muted { (spec.description) } }
            (toolbar(&base, &choice, &f.versions))
            div.kpis {
                div.kpi { b { (total) } span { "predictions in " (choice.range.label()) } }
                div.kpi { b { (format!("{:.2}", total as f64 / seconds)) } span { "predictions / s" } }
                div.kpi { b { (percent((total > 0).then(|| errors as f64 / total as f64))) } span { "error rate" } }
                div.kpi { b { (percent((total > 0).then(|| labelled as f64 / total as f64))) } span { "labelled so far" } }
                div.kpi { b { a href={ (base) "/predictions" } { "explore" } } span { "predictions" } }
            }
            (traffic_charts(&f))
            h2 { "Drift" }
            (drift_section(&f, spec.features.iter().map(|x| x.name.clone()).collect(), &base, &choice))
            h2 { "Performance" }
            (performance_section(&f, spec.task))
            h2 { "Error groups" }
            (issues(&spec.name, &f.issues))
            h2 { "Versions" } p {
                a href={ (base) "/registry" } { "Registry: stages, aliases, promotion gate and history…" }
                " · " a href={ (base) "/retraining" } { "Retraining: policies and their triggers…" }
            }
            table {
                thead { tr { th { "Version" } th { "Stage" } th { "Aliases" } th { "Description" } th { "Registered" } th { "Lineage" } th { "Explanations" } } }
                tbody {
                    @for v in &f.versions {
                        tr {
                            td { a href={ (base) "?" (choice.query(choice.range.key, Some(&v.name))) } { (v.name) } }
                            @let (stage, aliases) = f.registry.get(&v.id).cloned().unwrap_or_default();
                            td { a href={ (base) "/versions/" (super::segment(&v.name)) } { (if stage.is_empty() { "None" } else { stage.as_str() }) } }
                            td.aliases { @for a in &aliases { code { "@" (a) } " " } }
                            td { (v.description) }
                            td { (layout::when(v.created_ms)) }
                            td { @if f.in_lineage.contains(&v.name) {
                                a href={ "/ui/lineage?" (super::session::encode(&[("nodeId", &format!("dataset:{}:{}/{}", crate::lineage::MODEL_NAMESPACE, spec.name, v.name)), ("project", &f.project)])) } { "trained from…" }
                            } }
                            td { a href={ "/ui/models/" (super::segment(&spec.name)) "/versions/" (super::segment(&v.name)) "/explain" } { "explain…" } }
                        }
                    }
                }
            }
        }
    };
    Ok(html(layout::page(&viewer, &spec.name, &[(&spec.name, base.clone())], body)))
}

pub(super) fn chart_or_note(id: &str, caption: &str, chart: Result<charts::Chart, String>) -> Markup {
    match chart {
        Ok(c) => figure(id, caption, &c),
        Err(e) => {
            tracing::warn!(error = %e, chart = id, "a chart could not be drawn");
            html! { p.muted { (caption) ": could not be drawn." } }
        }
    }
}

fn traffic_charts(f: &Figures) -> Markup {
    let w = &f.traffic_windows;
    let per_second: Vec<Option<f64>> = f
        .traffic
        .iter()
        .zip(w)
        .map(|(t, (a, b))| Some(t.predictions as f64 * 1000.0 / (b - a).max(1) as f64))
        .collect();
    let throughput = charts::lines(w, &[Series { name: "predictions/s".into(), values: per_second }], true);
    let rate: Vec<Option<f64>> = f.traffic.iter().map(Traffic::error_rate).collect();
    let errors = charts::lines(w, &[Series { name: "error rate".into(), values: rate }], true);
    let q = |i: usize| f.traffic.iter().map(|t| t.latency.map(|l| l[i])).collect::<Vec<_>>();
    html! {
        (chart_or_note("throughput", "Throughput (predictions per second)", throughput))
        (chart_or_note("latency", "Latency quantiles (ms)", charts::lines(w, &[
            Series { name: "p50".into(), values: q(0) },
            Series { name: "p90".into(), values: q(1) },
            Series { name: "p99".into(), values: q(2) },
        ], true)))
        (chart_or_note("errors", "Error rate", errors))
    }
}

fn drift_section(f: &Figures, features: Vec<String>, base: &str, choice: &Choice) -> Markup {
    let Some(reference) = &f.reference else {
        return html! { p.muted { "No reference yet: upload training data with "
        code { "PUT /api/v1/models/{model}/reference" } " to see drift." } };
    };
    let heat = f.grid.as_ref().map(|g| charts::heatmap(&features, &g.windows, &g.cells(&features)));
    let prediction = f.prediction.as_ref().map(|d| {
        charts::bars(
            &d.labels,
            &[
                Series { name: "reference".into(), values: d.reference.clone() },
                Series { name: "current".into(), values: d.current.clone() },
            ],
        )
    });
    let query = choice.query(choice.range.key, choice.version.as_deref());
    html! {
        p.muted { "Against the reference of " (if reference.version.is_empty() { "the model" } else { &reference.version })
            " (" (reference.rows) " rows). Darker is further past the threshold; a dot marks a drifted cell." }
        @if let Some(h) = heat { (chart_or_note("drift-heatmap", "Drift by feature over time", h)) }
        @if let Some(p) = prediction { (chart_or_note("prediction-distribution", "Prediction distribution (share of rows)", p)) }
        @if let Some((report, rows)) = &f.whole {
            table {
                thead { tr { th { "Feature" } th { "Type" } th { "Method" } th.num { "Score" } th.num { "p-value" }
                    th.num { "Threshold" } th { "Drift" } } }
                tbody {
                    @for c in &report.features {
                        tr {
                            td { a href={ (base) "/features/" (super::segment(&c.name)) "?" (query) } { (c.name) } }
                            td { (c.kind) }
                            @match &c.outcome {
                                Ok(d) => {
                                    td { (d.method.name()) }
                                    td.num { (charts::number(d.score)) }
                                    td.num { (opt_number(d.p_value)) }
                                    td.num { (charts::number(d.threshold)) }
                                    td { @if d.drifted { span.badge.bad { "drifted" } } @else { span.badge.ok { "stable" } } }
                                }
                                Err(e) => { td.muted colspan="5" { (e) } }
                            }
                        }
                    }
                }
            }
            p.muted { (rows) " rows in the range." }
        }
    }
}

/// The headline metrics of a task, with how to read them from [`Metrics`].
fn metric_series(task: Task, perf: &[WindowPerformance]) -> Vec<Series> {
    let pick = |name: &str, f: &dyn Fn(&Metrics) -> Option<f64>| Series {
        name: name.into(),
        values: perf.iter().map(|w| w.metrics.as_ref().and_then(|m| m.as_ref().ok()).and_then(f)).collect(),
    };
    match task {
        Task::BinaryClassification => vec![
            pick("accuracy", &|m| if let Metrics::Binary(b) = m { b.accuracy } else { None }),
            pick("roc_auc", &|m| if let Metrics::Binary(b) = m { b.roc_auc } else { None }),
            pick("f1", &|m| if let Metrics::Binary(b) = m { b.f1 } else { None }),
        ],
        Task::MulticlassClassification => vec![
            pick("accuracy", &|m| if let Metrics::Multiclass(x) = m { x.accuracy } else { None }),
            pick("macro_f1", &|m| if let Metrics::Multiclass(x) = m { x.macro_f1 } else { None }),
        ],
        Task::Regression => vec![
            pick("mae", &|m| if let Metrics::Regression(r) = m { r.mae } else { None }),
            pick("rmse", &|m| if let Metrics::Regression(r) = m { r.rmse } else { None }),
        ],
    }
}

fn performance_section(f: &Figures, task: Task) -> Markup {
    let perf = &f.performance.windows;
    let labelled: usize = perf.iter().map(|w| w.labelled).sum();
    if labelled == 0 {
        return html! { p.muted { "No labels yet in this range: performance appears as ground truth arrives." } };
    }
    let w = &f.performance_windows;
    let coverage = Series {
        name: "label coverage".into(),
        values: perf.iter().map(|p| (p.predictions > 0).then(|| p.labelled as f64 / p.predictions as f64)).collect(),
    };
    let estimated = match &f.performance.estimated {
        Ok(e) => {
            let pick = |name: &str, metric: &str| Series {
                name: name.into(),
                values: e.iter().map(|x| x.as_ref().and_then(|x| estimate::estimated_metric(x, metric))).collect(),
            };
            let series = [pick("accuracy", "accuracy"), pick("roc_auc", "roc_auc"), pick("f1", "f1")];
            html! {
                (chart_or_note("estimated-performance", "Estimated performance (CBPE, calibrated on the range's earliest labelled predictions; needs no labels)",
                    charts::lines(w, &series, false)))
            }
        }
        Err(why) if task == Task::BinaryClassification => html! { p.muted { "No estimate: " (why) } },
        Err(_) => html! {},
    };
    html! {
        (chart_or_note("performance", "Realized performance (by prediction time)", charts::lines(w, &metric_series(task, perf), false)))
        (estimated)
        (chart_or_note("label-coverage", "Share of predictions with a label", charts::lines(w, &[coverage], true)))
    }
}

fn issues(model: &str, issues: &[sightline_store::IssueRecord]) -> Markup {
    html! {
        @if issues.is_empty() { p.muted { "No errors reported." } } @else { (super::issues::table(model, issues)) }
        p { a href=(super::issues::issues_link(model)) { "All error groups, by status…" } }
    }
}
