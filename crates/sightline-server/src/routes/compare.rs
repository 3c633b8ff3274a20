//! `GET /models/{model}/compare`: champion/challenger — one metric of two versions over
//! the same period, the difference with a bootstrap interval and a plain verdict.

use super::drift::{check_known, span, version_named};
use super::performance::{MAX_ROWS, outcomes, parse_threshold};
use super::support::path;
use crate::error::{ApiError, Code};
use crate::performance::compare::{Metric, compare, default_metric};
use crate::state::{AppState, blocking};
use crate::wire::time::format;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use sightline_stats::performance::{BootstrapOptions, CompareError, Resamples, Version};
use sightline_store::OutcomeQuery;
use std::collections::HashMap;
use std::sync::Arc;

/// Bootstrap resamples when the query asks for no number, and the most it may ask for.
pub const DEFAULT_RESAMPLES: usize = 1_000;
pub const MAX_RESAMPLES: usize = 10_000;
/// Most labelled predictions (both versions) times resamples one answer computes over:
/// every resample recomputes the metric over every row, so this bounds the work (about a
/// minute of one core for ranking metrics).
pub const MAX_WORK: usize = 200_000_000;
/// Seed of the resample draws: fixed, so the same data always gives the same interval.
const BOOTSTRAP_SEED: u64 = 7;

fn number<T: std::str::FromStr>(params: &HashMap<String, String>, name: &str) -> Result<Option<T>, ApiError> {
    params
        .get(name)
        .map(|v| v.parse::<T>().map_err(|_| ApiError::new(Code::InvalidQuery, format!("{name}: not a number"))))
        .transpose()
}

fn options(params: &HashMap<String, String>) -> Result<BootstrapOptions, ApiError> {
    let confidence = number::<f64>(params, "confidence")?.unwrap_or(0.95);
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(ApiError::new(Code::InvalidQuery, "confidence: must be between 0 and 1, exclusive"));
    }
    let count = number::<usize>(params, "resamples")?.unwrap_or(DEFAULT_RESAMPLES);
    if !(1..=MAX_RESAMPLES).contains(&count) {
        return Err(ApiError::new(Code::InvalidQuery, format!("resamples: must be between 1 and {MAX_RESAMPLES}")));
    }
    Ok(BootstrapOptions { confidence, resamples: Resamples::Seeded { seed: BOOTSTRAP_SEED, count } })
}

/// A comparison that cannot be made, as an answer naming the query parameter at fault.
fn refused(e: CompareError, names: [&str; 2], metric: &str) -> ApiError {
    let param = |which: Version| if which == Version::Champion { "a" } else { "b" };
    let name = |which: Version| if which == Version::Champion { names[0] } else { names[1] };
    let message = match e {
        CompareError::EmptyWindow { which } => {
            format!("{}: version {:?} has no labelled predictions in the window", param(which), name(which))
        }
        CompareError::Undefined { which } => {
            format!("metric: {metric} is undefined on version {:?}'s window (one class only?)", name(which))
        }
        CompareError::NoDefinedResample { resamples } => {
            format!("metric: {metric} is undefined on all {resamples} resamples; ask for a longer window")
        }
        CompareError::Invalid { which, source } => format!("{}: {source}", param(which)),
        other => return ApiError::internal(format!("comparison failed: {other}")),
    };
    ApiError::new(Code::InvalidQuery, message)
}

pub async fn compare_versions(
    State(app): State<Arc<AppState>>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = app.model(&path(p)?).await?;
    let params = super::support::query(q)?;
    check_known(&params, &["a", "b", "from", "to", "metric", "threshold", "confidence", "resamples"], false)?;
    let task = model.record.spec.task;
    let metric_name = params.get("metric").map_or(default_metric(task), String::as_str).to_owned();
    let metric = Metric::parse(task, &metric_name).ok_or_else(|| {
        ApiError::new(
            Code::InvalidQuery,
            format!("metric: {metric_name:?} is not a metric of a {} model", task.as_str()),
        )
    })?;
    let threshold = parse_threshold(&params)?;
    let options = options(&params)?;
    let resamples = match options.resamples {
        Resamples::Seeded { count, .. } => count,
        _ => DEFAULT_RESAMPLES,
    };
    let mut versions = Vec::new();
    for param in ["a", "b"] {
        let name = params
            .get(param)
            .ok_or_else(|| ApiError::new(Code::InvalidQuery, format!("{param}: required (a version name)")))?;
        versions.push(version_named(&app, &model, param, name).await?);
    }
    let span = span(&app, &model, &params).await?;
    let queries: Vec<OutcomeQuery> = versions
        .iter()
        .map(|(id, _)| OutcomeQuery {
            model_id: model.id,
            version_id: Some(*id),
            from_ms: span.from,
            to_ms: span.to,
            limit: MAX_ROWS + 1,
        })
        .collect();
    let (store, spec) = (app.store.clone(), model.record.spec.clone());
    let names = [versions[0].1.clone(), versions[1].1.clone()];
    let (labels, owned_metric) = (names.clone(), metric_name.clone());
    let (comparison, labelled) = blocking(move || -> Result<_, ApiError> {
        let champion = outcomes(store.as_ref(), &queries[0], "from")?;
        let challenger = outcomes(store.as_ref(), &queries[1], "from")?;
        let labelled = [&champion, &challenger].map(|rows| rows.iter().filter(|r| r.label.is_some()).count());
        if (labelled[0] + labelled[1]).saturating_mul(resamples) > MAX_WORK {
            return Err(ApiError::new(
                Code::InvalidQuery,
                format!(
                    "resamples: {} labelled predictions times {resamples} resamples is more than {MAX_WORK}; \
                     ask for fewer resamples or a shorter range",
                    labelled[0] + labelled[1]
                ),
            ));
        }
        let c = compare(&spec, &champion, &challenger, metric, threshold, &options)
            .map_err(|e| refused(e, [&labels[0], &labels[1]], &owned_metric))?;
        Ok((c, labelled))
    })
    .await??;
    Ok(Json(json!({
        "model": model.record.spec.name,
        "from": format(span.from),
        "to": format(span.to),
        "metric": metric_name,
        "higher_is_better": metric.higher_is_better(),
        "champion": {"version": names[0], "labelled": labelled[0], "value": comparison.champion},
        "challenger": {"version": names[1], "labelled": labelled[1], "value": comparison.challenger},
        "delta": comparison.delta,
        "interval": {"lower": comparison.lower, "upper": comparison.upper, "confidence": comparison.confidence},
        "resamples": {"used": comparison.resamples_used, "skipped": comparison.resamples_skipped},
        "verdict": comparison.verdict.to_string(),
    })))
}
