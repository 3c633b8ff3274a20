//! A feature's page: reference and current distributions, data-quality figures for the
//! range, and the feature's drift score over time against its threshold.

use super::charts::{self, Series};
use super::data;
use super::layout::{self, figure, opt_number, percent};
use super::model::{Choice, toolbar, version_of};
use super::{Failure, PageResult, Viewer, html, readable_model};
use crate::aggregate::layout::feature_column;
use crate::analysis::ColumnQuality;
use crate::error::{ApiError, Code};
use crate::routes::drift_settings;
use crate::state::{AppState, LoadedModel, blocking};
use crate::wire::time::now_ms;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use std::collections::HashMap;
use std::sync::Arc;

const DRIFT_WINDOWS: i64 = 30;

struct Figures {
    versions: Vec<sightline_store::VersionRecord>,
    distribution: Option<data::Distribution>,
    quality: Option<ColumnQuality>,
    rows: u64,
    history: Option<data::DriftGrid>,
}

fn gather(
    app: &AppState,
    model: &LoadedModel,
    feature: &str,
    choice: &Choice,
    version: Option<(i64, String)>,
) -> Result<Figures, Failure> {
    let store = app.store.as_ref();
    let (now, retention) = (now_ms(), app.analysis.retention());
    let version_id = version.as_ref().map(|v| v.0);
    let versions = store.list_versions(model.id, None, 100)?;
    let reference = data::reference(store, model.id, version.as_ref().map(|v| v.1.as_str()))?.map(|r| r.1);
    let span = (choice.range.from, choice.range.to);
    let (current, rows) = data::window_profile(store, model.id, version_id, span, retention, now)?;
    let column = feature_column(feature);
    let distribution = reference.as_ref().and_then(|r| data::distribution(r.get(&column), current.get(&column)));
    let names = [feature.to_owned()];
    let quality = crate::analysis::quality(reference.as_ref(), &current, None, &names)
        .into_iter()
        .find(|(n, _, _)| n == feature)
        .map(|(_, q, _)| q);
    let history = match &reference {
        Some(r) => {
            let settings = drift_settings::stored(store, model)?;
            let windows = choice.range.windows(DRIFT_WINDOWS);
            Some(data::drift_grid(store, model.id, version_id, r, &names, &settings, windows, retention, now)?)
        }
        None => None,
    };
    Ok(Figures { versions, distribution, quality, rows, history })
}

pub async fn page(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path((name, feature)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let model = readable_model(&app, &viewer.principal, &name).await?;
    if !model.record.spec.features.iter().any(|f| f.name == feature) {
        return Err(ApiError::new(Code::NotFound, format!("model {name:?} has no feature {feature:?}")).into());
    }
    let choice = Choice::from_query(&q);
    let version = version_of(&app, &model, choice.version.as_deref()).await?;
    let (state, loaded, c, f) = (app.clone(), model.clone(), choice.clone(), feature.clone());
    let figures = blocking(move || gather(&state, &loaded, &f, &c, version)).await??;
    let model_link = format!("/ui/models/{name}");
    let base = format!("{model_link}/features/{}", super::segment(&feature));
    let body = html! {
        div data-refresh="60" {
            h1 { (feature) " " span.muted { "of " (name) } }
            (toolbar(&base, &choice, &figures.versions))
            (distribution(&figures))
            h2 { "Data quality" }
            (quality(&figures))
            h2 { "Drift over time" }
            (history(&figures, &feature))
        }
    };
    let crumbs = [(name.as_str(), model_link.clone()), (feature.as_str(), base.clone())];
    Ok(html(layout::page(&viewer, &feature, &crumbs, body)))
}

fn distribution(f: &Figures) -> Markup {
    let Some(d) = &f.distribution else {
        return html! { p.muted { "No distribution to compare: the model has no reference, or no rows in the range." } };
    };
    let chart = charts::bars(
        &d.labels,
        &[
            Series { name: "reference".into(), values: d.reference.clone() },
            Series { name: "current".into(), values: d.current.clone() },
        ],
    );
    match chart {
        Ok(c) => figure("distribution", "Share of rows: reference and current", &c),
        Err(e) => html! { p.muted { "The distribution could not be drawn: " (e) } },
    }
}

fn quality(f: &Figures) -> Markup {
    match &f.quality {
        None => html! { p.muted { "No rows in the range." } },
        Some(ColumnQuality::Numeric(q)) => html! {
            table {
                tbody {
                    tr { th { "Rows" } td.num { (q.rows) } th { "Missing share" } td.num { (percent(q.missing_share)) } }
                    tr { th { "Mean" } td.num { (opt_number(q.mean)) } th { "Standard deviation" } td.num { (opt_number(q.std)) } }
                    tr { th { "Min" } td.num { (opt_number(q.min)) } th { "Max" } td.num { (opt_number(q.max)) } }
                    tr { th { "p05 / p50 / p95" }
                         td.num { (q.quantiles.map_or("–".to_owned(), |x| format!("{} / {} / {}", charts::number(x[0]), charts::number(x[1]), charts::number(x[2])))) }
                         th { "Outside the reference's range" } td.num { (percent(q.out_of_range_share)) } }
                    tr { th { "NaN / infinite" } td.num { (q.nan) " / " (q.infinite) } th { "Constant" } td { (if q.constant { "yes" } else { "no" }) } }
                }
            }
        },
        Some(ColumnQuality::Categorical(q)) => html! {
            table {
                tbody {
                    tr { th { "Rows" } td.num { (q.rows) } th { "Missing share" } td.num { (percent(q.missing_share)) } }
                    tr { th { "Distinct (estimate)" } td.num { (charts::number(q.distinct.round())) }
                         th { "Unseen in the reference" } td.num { (percent(q.unseen_share)) } }
                    tr { th { "Most frequent" }
                         td colspan="3" { (q.top.iter().map(|(k, n)| format!("{k} ({n})")).collect::<Vec<_>>().join(", ")) } }
                    @if !q.unseen_values.is_empty() {
                        tr { th { "Unseen values" } td colspan="3" { (q.unseen_values.join(", ")) } }
                    }
                }
            }
        },
    }
}

fn history(f: &Figures, feature: &str) -> Markup {
    let Some(grid) = &f.history else {
        return html! { p.muted { "No reference: drift cannot be measured." } };
    };
    let outcome = |i: usize| grid.reports.get(i).and_then(|r| r.features.iter().find(|c| c.name == feature));
    let drift = |i: usize| outcome(i).and_then(|c| c.outcome.as_ref().ok());
    let n = grid.windows.len();
    let score = Series { name: "score".into(), values: (0..n).map(|i| drift(i).map(|d| d.score)).collect() };
    let threshold =
        Series { name: "threshold".into(), values: (0..n).map(|i| drift(i).map(|d| d.threshold)).collect() };
    let method = (0..n).find_map(drift).map(|d| d.method.name());
    let caption = format!("Drift score ({}) per window; {} rows in the range", method.unwrap_or("no data yet"), f.rows);
    match charts::lines(&grid.windows, &[score, threshold], true) {
        Ok(c) => figure("drift-history", &caption, &c),
        Err(e) => html! { p.muted { "The drift history could not be drawn: " (e) } },
    }
}
