//! A version's explanation page: what it is explained with, global importance (mean
//! |SHAP|) and a beeswarm of the sampled attributions, attribution drift over the range,
//! partial dependence with ICE curves of a chosen feature, and a tree of the ensemble.
//! Also the waterfall of one prediction, which the prediction page shows.
//!
//! Everything is computed from a sample of the version's logged predictions with
//! path-dependent TreeSHAP on the version's model file; a version explained through an
//! endpoint shows its settings only (a page view must not spend the team's endpoint).

use super::explain_charts::{self as charts, TREE_LEVELS};
use super::layout::{self, figure};
use super::range::{RANGES, Range};
use super::{Failure, PageResult, Viewer, html, readable_model};
use crate::error::{ApiError, Code};
use crate::explain::compute::{self, Explanation, Method, Model};
use crate::explain::importance;
use crate::explain::loaded::{Kind, Loaded, for_version};
use crate::explain::rows::{self, Columns};
use crate::state::{AppState, LoadedModel, blocking};
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use sightline_explain::formats::Format;
use sightline_explain::pdp::{PdpOptions, partial_dependence};
use sightline_store::{PredictionQuery, StoredPrediction, VersionRecord};
use std::collections::HashMap;
use std::sync::Arc;

/// Windows of the attribution drift chart, and logged predictions explained per window.
const WINDOWS: i64 = 12;
const PER_WINDOW: usize = 25;
/// Features the beeswarm and the importance bars show.
const TOP: usize = 15;
/// ICE curves drawn (of the sampled rows) and grid points of the partial dependence.
const ICE_SHOWN: usize = 40;
const GRID: usize = 30;

async fn version_of(app: &Arc<AppState>, model: &LoadedModel, name: &str) -> Result<VersionRecord, Failure> {
    let (store, id, owned) = (app.store.clone(), model.id, name.to_owned());
    blocking(move || store.get_version(id, &owned))
        .await??
        .ok_or_else(|| ApiError::new(Code::VersionNotFound, format!("the model has no version {name:?}")).into())
}

/// The sampled traffic, explained: rows, their times and output 0's attributions.
struct Sample {
    rows: Vec<Vec<f64>>,
    times: Vec<i64>,
    shap: Vec<Vec<f64>>,
}

fn explain_rows(loaded: &Loaded, rows: &[Vec<f64>]) -> Result<Vec<Vec<Explanation>>, String> {
    let Kind::Trees { ensemble, format, .. } = &loaded.kind else { return Err("not a model file".into()) };
    let needs_covers = *format == Format::Onnx;
    compute::explain(&compute::Request {
        method: Method::Treeshap,
        model: Model::Trees { ensemble, needs_covers },
        rows,
        // An ONNX file has no covers: they are counted on the traffic explained.
        background: needs_covers.then_some(rows),
        background_weights: None,
        threads: std::thread::available_parallelism().map_or(1, usize::from),
        lime_samples: 0,
        seed: 0,
    })
    .map_err(|e| format!("{e:#}"))
}

fn sample(
    app: &Arc<AppState>,
    model: &LoadedModel,
    version: &VersionRecord,
    loaded: &Loaded,
    windows: &[(i64, i64)],
) -> Result<Sample, Failure> {
    let mut events: Vec<StoredPrediction> = Vec::new();
    for &(from, to) in windows {
        events.extend(app.store.list_predictions(&PredictionQuery {
            model_id: model.id,
            from_ms: Some(from),
            to_ms: Some(to),
            version: Some(version.name.clone()),
            before: None,
            limit: PER_WINDOW,
        })?);
    }
    let columns = Columns::new(&model.index, &loaded.features).map_err(ApiError::internal)?;
    let rows = rows::from_logged(&columns, &events, "logged predictions", true)
        .map_err(|e| ApiError::new(Code::ValidationFailed, e.message))?;
    let shap = if rows.is_empty() {
        Vec::new()
    } else {
        explain_rows(loaded, &rows)
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|outputs| match outputs.into_iter().next() {
                Some(Explanation::Shap { attributions, .. }) => attributions,
                _ => Vec::new(),
            })
            .collect()
    };
    Ok(Sample { rows, times: events.iter().map(|e| e.timestamp_ms).collect(), shap })
}

/// Each value's rank in its column among the sample, in [0, 1] (missing: `None`).
fn ranks(column: &[f64]) -> Vec<Option<f64>> {
    let mut sorted: Vec<f64> = column.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let top = sorted.len().saturating_sub(1).max(1) as f64;
    column.iter().map(|v| v.is_finite().then(|| sorted.partition_point(|x| x < v) as f64 / top)).collect()
}

fn describe(loaded: &Loaded) -> Markup {
    html! {
        table #explainer {
            tbody {
                @match &loaded.kind {
                    Kind::Trees { ensemble, format, sha256, bytes } => {
                        tr { th { "Model file" } td { (format.name()) " · " (bytes) " bytes · " code { (sha256.get(..12).unwrap_or(sha256)) } } }
                        tr { th { "Objective" } td { (ensemble.objective()) " · " (ensemble.trees().len()) " trees · " (ensemble.num_outputs()) " output(s)" } }
                    }
                    Kind::Endpoint(e) => {
                        tr { th { "Prediction endpoint" } td { code { (e.url) } } }
                        tr { th { "Calls" } td { (e.batch_rows) " rows per call · at most " (e.max_calls) " calls per request · " (e.timeout_ms) " ms timeout" } }
                    }
                }
                tr { th { "Features" } td { (loaded.features.join(", ")) } }
                tr { th { "Set" } td { (layout::when(loaded.updated_ms)) " by " (loaded.updated_by) } }
            }
        }
    }
}

pub async fn page(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path((name, version_name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let model = readable_model(&app, &viewer.principal, &name).await?;
    let version = version_of(&app, &model, &version_name).await?;
    let base = format!("/ui/models/{}/versions/{}/explain", super::segment(&name), super::segment(&version_name));
    let crumbs =
        [(name.as_str(), format!("/ui/models/{}", super::segment(&name))), (version_name.as_str(), base.clone())];
    let title = format!("Explanations of {name} {version_name}");
    let loaded = match for_version(&app, &version).await {
        Ok(loaded) => loaded,
        Err(e) if e.code == Code::ExplainerNotFound => {
            let body = html! {
                h1 { (title) }
                p.muted #no-explainer {
                    "This version has no explainer yet. Upload its model file (XGBoost JSON or UBJSON, LightGBM text, \
                     ONNX tree ensemble) with " code { "PUT /api/v1/models/" (name) "/versions/" (version_name) "/explainer/model-file" }
                    ", or set its prediction endpoint with " code { "PUT …/explainer/endpoint" } "."
                }
            };
            return Ok(html(layout::page(&viewer, &title, &crumbs, body)));
        }
        Err(e) => return Err(e.into()),
    };
    let range = Range::parse(q.get("range").map(String::as_str));
    let tree_index: usize = q.get("tree").and_then(|t| t.parse().ok()).unwrap_or(0);
    let chosen_feature = q.get("feature").cloned();
    let windows = range.windows(WINDOWS);
    let (app2, model2, version2, loaded2, windows2) =
        (app.clone(), model.clone(), version.clone(), loaded.clone(), windows.clone());
    let trees = matches!(loaded.kind, Kind::Trees { .. });
    let computed = if trees {
        Some(blocking(move || sample(&app2, &model2, &version2, &loaded2, &windows2)).await??)
    } else {
        None
    };
    let features = &loaded.features;
    let mut sections = Vec::new();
    if let Some(s) = &computed {
        if s.rows.is_empty() {
            sections
                .push(html! { p.muted { "No logged predictions of this version in the last " (range.label()) "." } });
        } else {
            let all: Vec<&Vec<f64>> = s.shap.iter().collect();
            let importance = importance::mean_abs(all.iter().copied(), features.len());
            let mut order: Vec<usize> = (0..features.len()).collect();
            order.sort_by(|&a, &b| importance[b].total_cmp(&importance[a]));
            order.truncate(TOP);
            let names: Vec<String> = order.iter().map(|&f| features[f].clone()).collect();
            let bars = charts::hbars(&names, &order.iter().map(|&f| importance[f]).collect::<Vec<_>>())
                .map_err(ApiError::internal)?;
            let points: Vec<Vec<(f64, Option<f64>)>> = order
                .iter()
                .map(|&f| {
                    let column: Vec<f64> = s.rows.iter().map(|r| r[f]).collect();
                    s.shap.iter().map(|r| r[f]).zip(ranks(&column)).collect()
                })
                .collect();
            let swarm = charts::beeswarm(&names, &points).map_err(ApiError::internal)?;
            // Attribution drift of each window against the first with traffic.
            let per_window: Vec<Option<Vec<f64>>> = windows
                .iter()
                .map(|&(from, to)| {
                    let inside: Vec<&Vec<f64>> =
                        s.shap.iter().zip(&s.times).filter(|(_, t)| **t >= from && **t < to).map(|(r, _)| r).collect();
                    (!inside.is_empty()).then(|| importance::shares(&importance::mean_abs(inside, features.len())))
                })
                .collect();
            let baseline = per_window.iter().flatten().next().cloned();
            let drift: Vec<Option<f64>> = per_window
                .iter()
                .map(|w| w.as_ref().zip(baseline.as_ref()).map(|(w, b)| importance::attribution_drift(b, w)))
                .collect();
            let drift_chart = super::charts::lines(
                &windows,
                &[super::charts::Series { name: "attribution drift".into(), values: drift }],
                true,
            )
            .map_err(ApiError::internal)?;
            sections.push(html! {
                h2 { "Global importance" }
                p.muted { "Mean |SHAP| of " (s.rows.len()) " logged predictions of the last " (range.label()) " (up to " (PER_WINDOW) " per " (WINDOWS) "th of the range), on the margin." }
                (figure("importance", "mean |SHAP| per feature", &bars))
                (figure("beeswarm", "SHAP value of every sampled prediction (blue: low feature value, red: high)", &swarm))
                (figure("attribution-drift", "attribution drift against the first window with traffic (0: same reasons, 1: entirely different)", &drift_chart))
            });
            // Partial dependence of the chosen (else the most important) feature.
            let feature =
                chosen_feature.as_deref().and_then(|n| features.iter().position(|f| f == n)).unwrap_or(order[0]);
            let data: Vec<Vec<f64>> = s.rows.iter().filter(|r| r[feature].is_finite()).cloned().collect();
            if !data.is_empty() {
                let loaded3 = loaded.clone();
                let pd = blocking(move || {
                    let Kind::Trees { ensemble, .. } = &loaded3.kind else { return Err("not a model file".to_owned()) };
                    let options = PdpOptions { grid_resolution: GRID, ..PdpOptions::default() };
                    partial_dependence(ensemble, &data, feature, &options).map_err(|e| e.to_string())
                })
                .await?
                .map_err(ApiError::internal)?;
                let ice: Vec<Vec<f64>> = pd.individual(0).iter().take(ICE_SHOWN).cloned().collect();
                let chart = charts::curves(pd.grid(), pd.average(0), &ice).map_err(ApiError::internal)?;
                sections.push(html! {
                    h2 { "Partial dependence" }
                    form.stack method="get" action=(base) {
                        input type="hidden" name="range" value=(range.key);
                        label { "Feature"
                            select name="feature" {
                                @for (i, f) in features.iter().enumerate() { option value=(f) selected[i == feature] { (f) } }
                            }
                        }
                        button type="submit" { "Show" }
                    }
                    (figure("pdp", &format!("prediction as {} varies (bold: average; grey: individual predictions)", features[feature]), &chart))
                });
            }
        }
    }
    if let Kind::Trees { ensemble, .. } = &loaded.kind {
        let count = ensemble.trees().len();
        let index = tree_index.min(count.saturating_sub(1));
        if let Some(tree) = ensemble.trees().get(index) {
            let chart = charts::tree(tree, features, ensemble.split_rule()).map_err(ApiError::internal)?;
            sections.push(html! {
                h2 { "Tree " (index) " of " (count) }
                form.stack method="get" action=(base) {
                    input type="hidden" name="range" value=(range.key);
                    label { "Tree" input name="tree" type="number" min="0" max=(count.saturating_sub(1)) value=(index); }
                    button type="submit" { "Draw" }
                }
                p.muted { "Left branch: the test holds. Levels below " (TREE_LEVELS) " end in …" }
                div.scroll { (figure("tree", "the tree's splits, covers and leaf values", &chart)) }
            });
        }
    } else {
        sections.push(html! {
            p.muted { "Explained through the team's prediction endpoint: per-prediction explanations (KernelSHAP, LIME), \
                       partial dependence and permutation importance are in the API; the global views need the model file." }
        });
    }
    let body = html! {
        h1 { (title) }
        nav.toolbar {
            @for (key, label, _) in RANGES {
                a.on[key == range.key] href={ (base) "?range=" (key) } title=(label) { (key) }
            }
        }
        (describe(&loaded))
        @for s in &sections { (s) }
    };
    Ok(html(layout::page(&viewer, &title, &crumbs, body)))
}

/// The waterfall of one logged prediction, when its version has a model file.
pub async fn waterfall(app: &Arc<AppState>, model: &LoadedModel, event: &StoredPrediction) -> Option<Markup> {
    let (store, id, name) = (app.store.clone(), model.id, event.version.clone());
    let version = blocking(move || store.get_version(id, &name)).await.ok()?.ok()??;
    let loaded = for_version(app, &version).await.ok()?;
    if !matches!(loaded.kind, Kind::Trees { .. }) {
        return None;
    }
    let columns = Columns::new(&model.index, &loaded.features).ok()?;
    let row = rows::from_logged(&columns, std::slice::from_ref(event), "", true).ok()?;
    let for_chart = loaded.clone();
    let explained = blocking(move || explain_rows(&for_chart, &row)).await.ok()?.ok()?;
    let Some(Explanation::Shap { expected_value, margin, attributions }) =
        explained.into_iter().next()?.into_iter().next()
    else {
        return None;
    };
    let mut steps: Vec<(String, f64)> = loaded.features.iter().cloned().zip(attributions).collect();
    steps.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let shown = steps.len().min(TOP);
    let rest: f64 = steps[shown..].iter().map(|s| s.1).sum();
    steps.truncate(shown);
    if rest != 0.0 {
        steps.push(("other features".into(), rest));
    }
    let chart = charts::waterfall(expected_value, &steps, margin).ok()?;
    let link = format!(
        "/ui/models/{}/versions/{}/explain",
        super::segment(&model.record.spec.name),
        super::segment(&version.name)
    );
    Some(html! {
        h2 { "Why this prediction" }
        p.muted { "Path-dependent TreeSHAP on the version's model file, on the margin (" a href=(link) { "the version's explanations" } ")." }
        (figure("waterfall", "from the expected value, each feature's contribution to this prediction's margin", &chart))
    })
}
