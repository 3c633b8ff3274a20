//! Promotion gates: the checks a version must pass before it moves to production (stage
//! `Production` or the alias `production`, through either API). Each check reads the
//! same documents the API serves for the version over the gate's look-back window —
//! realized performance on its labelled predictions (an evaluation set logged as the
//! version's predictions and labels counts), drift against the reference, data quality
//! — so a gate's numbers are the ones a user can look up. Every evaluation's report is
//! kept with the version, passed or not.

use crate::error::{ApiError, Code};
use crate::routes::{drift, performance};
use crate::state::{AppState, LoadedModel, blocking};
use crate::wire::time::{format, now_ms};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sightline_store::{PromotionReport, VersionDetails};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

fn default_lookback() -> u32 {
    168
}

/// A threshold on one realized metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bound {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    /// Hours before the promotion that the checks read.
    #[serde(default = "default_lookback")]
    pub lookback_hours: u32,
    /// Realized metrics by name (`roc_auc`, `accuracy`, `rmse`...) with their bounds.
    #[serde(default)]
    pub performance: BTreeMap<String, Bound>,
    /// Most share of features drifted against the reference.
    pub max_share_drifted: Option<f64>,
    /// Most share of missing values in any feature.
    pub max_missing_share: Option<f64>,
}

impl GateSpec {
    /// Problems as (JSON path, message).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !(1..=8_760).contains(&self.lookback_hours) {
            problems.push(("$.lookback_hours".into(), "must be between 1 and 8760".into()));
        }
        for (name, b) in &self.performance {
            let path = format!("$.performance.{name}");
            if name.is_empty() || name.len() > 64 {
                problems.push((path.clone(), "a metric name has 1 to 64 characters".into()));
            }
            if b.min.is_none() && b.max.is_none() {
                problems.push((path.clone(), "needs min or max".into()));
            }
            if b.min.iter().chain(&b.max).any(|v| !v.is_finite()) {
                problems.push((path, "bounds must be finite numbers".into()));
            }
        }
        for (field, v) in [("max_share_drifted", self.max_share_drifted), ("max_missing_share", self.max_missing_share)]
        {
            if v.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                problems.push((format!("$.{field}"), "must be between 0 and 1".into()));
            }
        }
        problems
    }
}

fn query(version: &str, from: i64, to: i64) -> HashMap<String, String> {
    HashMap::from([
        ("version".to_owned(), version.to_owned()),
        ("from".to_owned(), from.to_string()),
        ("to".to_owned(), to.to_string()),
    ])
}

fn check(name: &str, value: Option<f64>, bound: &Bound, detail: Option<String>) -> Value {
    let passed = value.is_some_and(|v| bound.min.is_none_or(|m| v >= m) && bound.max.is_none_or(|m| v <= m));
    let detail = detail.or_else(|| value.is_none().then(|| "no value in the window".to_owned()));
    json!({"check": name, "value": value, "min": bound.min, "max": bound.max, "passed": passed, "detail": detail})
}

/// Evaluates a gate for a version: the report, with `passed`.
pub async fn evaluate(app: &Arc<AppState>, model: &LoadedModel, version: &str, spec: &GateSpec) -> Value {
    let to = now_ms();
    let from = to - i64::from(spec.lookback_hours) * 3_600_000;
    let name = model.record.spec.name.clone();
    let mut checks = Vec::new();
    if !spec.performance.is_empty() {
        let doc =
            performance::performance(State(app.clone()), Ok(Path(name.clone())), Ok(Query(query(version, from, to))))
                .await;
        for (metric, bound) in &spec.performance {
            let (value, detail) = match &doc {
                Ok(d) => (d.0["metrics"][metric].as_f64(), None),
                Err(e) => (None, Some(e.detail.clone())),
            };
            checks.push(check(&format!("performance.{metric}"), value, bound, detail));
        }
    }
    if let Some(max) = spec.max_share_drifted {
        let doc = drift::drift(State(app.clone()), Ok(Path(name.clone())), Ok(Query(query(version, from, to)))).await;
        let (value, detail) = match &doc {
            Ok(d) => (d.0["share_drifted"].as_f64(), None),
            Err(e) => (None, Some(e.detail.clone())),
        };
        checks.push(check("share_drifted", value, &Bound { min: None, max: Some(max) }, detail));
    }
    if let Some(max) = spec.max_missing_share {
        let doc =
            drift::data_quality(State(app.clone()), Ok(Path(name.clone())), Ok(Query(query(version, from, to)))).await;
        let (value, detail) = match &doc {
            Ok(d) => {
                let shares =
                    d.0["columns"].as_array().into_iter().flatten().filter_map(|c| c["missing_share"].as_f64());
                (shares.fold(None, |acc: Option<f64>, v| Some(acc.map_or(v, |a| a.max(v)))), None)
            }
            Err(e) => (None, Some(e.detail.clone())),
        };
        checks.push(check("max_missing_share", value, &Bound { min: None, max: Some(max) }, detail));
    }
    let passed = checks.iter().all(|c| c["passed"] == json!(true));
    json!({
        "version": version, "passed": passed, "from": format(from), "to": format(to),
        "evaluated_at": format(to), "checks": checks,
    })
}

/// Before a move to production: evaluates the model's gate (if it has one), keeps the
/// report with the version, and refuses the move (409 `promotion_blocked`, the report
/// in the answer) when a check failed.
pub async fn enforce(
    app: &Arc<AppState>,
    model: &LoadedModel,
    version: &VersionDetails,
    actor: &str,
) -> Result<(), ApiError> {
    let store = app.store.clone();
    let id = model.id;
    let Some(text) = blocking(move || store.promotion_gate(id)).await?? else { return Ok(()) };
    let spec: GateSpec = serde_json::from_str(&text).map_err(|e| ApiError::internal(format!("stored gate: {e}")))?;
    let report = evaluate(app, model, &version.version.name, &spec).await;
    let passed = report["passed"] == json!(true);
    let record = PromotionReport {
        seq: 0,
        version_id: version.version.id,
        passed,
        report: report.to_string(),
        actor: actor.to_owned(),
        ts_ms: now_ms(),
    };
    let store = app.store.clone();
    blocking(move || store.add_promotion_report(id, &record)).await??;
    if passed {
        return Ok(());
    }
    let failed: Vec<String> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["passed"] != json!(true))
        .map(|c| c["check"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut e = ApiError::new(
        Code::PromotionBlocked,
        format!("version {:?} failed its promotion gate: {}", version.version.name, failed.join(", ")),
    );
    e.extra = Some(serde_json::Map::from_iter([("report".to_owned(), report)]));
    Err(e)
}

/// Whether a stage or alias is a move to production.
pub fn is_production(stage_or_alias: &str) -> bool {
    stage_or_alias.eq_ignore_ascii_case("production")
}

#[cfg(test)]
mod tests {
    use super::{Bound, GateSpec, check};

    #[test]
    fn specs_are_validated() {
        let ok: GateSpec =
            serde_json::from_str(r#"{"performance": {"roc_auc": {"min": 0.8}}, "max_share_drifted": 0.5}"#)
                .expect("parses");
        assert!(ok.validate().is_empty());
        assert_eq!(ok.lookback_hours, 168);
        let bad: GateSpec =
            serde_json::from_str(r#"{"lookback_hours": 0, "performance": {"auc": {}}, "max_missing_share": 2}"#)
                .expect("parses");
        let paths: Vec<String> = bad.validate().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["$.lookback_hours", "$.performance.auc", "$.max_missing_share"]);
        assert!(serde_json::from_str::<GateSpec>(r#"{"unknown": 1}"#).is_err());
    }

    #[test]
    fn bounds_and_missing_values() {
        let b = Bound { min: Some(0.8), max: None };
        assert_eq!(check("x", Some(0.9), &b, None)["passed"], true);
        assert_eq!(check("x", Some(0.7), &b, None)["passed"], false);
        assert_eq!(check("x", None, &b, None)["passed"], false, "no value fails");
    }
}
