//! A retraining policy as the API reads and writes it: durations as Prometheus writes
//! them (`1h`, `30m`), defaults filled in, and the checks that need the model.

use crate::alerting::outcome_signals::{METRICS, metric_applies};
use crate::monitors::file::{format_duration, parse_duration};
use crate::wire::time::{format, parse_query};
use serde::Deserialize;
use serde_json::{Value, json};
use sightline_core::retraining::{Condition, Match, Policy};
use sightline_core::{ModelSpec, Problem, Reason, Task};

/// Defaults: measure the last hour, every hour; after a trigger, wait a day.
const DEFAULT_WINDOW: &str = "1h";
const DEFAULT_INTERVAL: &str = "1h";
const DEFAULT_COOLDOWN: &str = "24h";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyIn {
    #[serde(default)]
    pub version: Option<String>,
    /// Read by [`condition`]: timestamps on the wire, epoch milliseconds inside.
    pub conditions: Vec<Value>,
    #[serde(default, rename = "match")]
    pub r#match: Match,
    #[serde(default)]
    pub window: Option<String>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub cooldown: Option<String>,
    /// A webhook channel of the model's project.
    #[serde(default)]
    pub channel: Option<i64>,
}

/// The metrics CBPE estimates (binary classifiers).
const ESTIMATED: [&str; 7] = ["accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "average_precision"];

/// A condition from its wire form: an estimated one's `reference_from` and `reference_to`
/// are timestamps (RFC 3339 or epoch milliseconds).
fn condition(path: &str, mut v: Value) -> Result<Condition, Problem> {
    let bad = |field: &str, m: String| Problem::new(format!("{path}{field}"), Reason::InvalidValue, m);
    if v["kind"] == "estimated_metric_below"
        && let Some(o) = v.as_object_mut()
    {
        for name in ["reference_from", "reference_to"] {
            let ms = match o.remove(name) {
                Some(Value::String(t)) => parse_query(&t),
                Some(Value::Number(n)) => parse_query(&n.to_string()),
                Some(_) => Err("must be an RFC 3339 timestamp or epoch milliseconds".to_owned()),
                None => Err("required".to_owned()),
            }
            .map_err(|m| bad(&format!(".{name}"), m))?;
            o.insert(format!("{name}_ms"), json!(ms));
        }
    }
    serde_json::from_value(v).map_err(|e| bad("", e.to_string()))
}

/// A condition in its wire form (the inverse of [`condition`]).
pub fn condition_json(c: &Condition) -> Value {
    let mut v = json!(c);
    if let Some(o) = v.as_object_mut() {
        for name in ["reference_from", "reference_to"] {
            if let Some(ms) = o.remove(&format!("{name}_ms")).and_then(|m| m.as_i64()) {
                o.insert(name.to_owned(), json!(format(ms)));
            }
        }
    }
    v
}

/// The policy `id` of model `model` from its document; problems name their field.
pub fn policy(id: &str, model: &ModelSpec, d: PolicyIn) -> Result<Policy, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut duration = |field: &str, text: Option<&str>, default: &str| {
        parse_duration(text.unwrap_or(default)).unwrap_or_else(|m| {
            problems.push(Problem::new(field, Reason::InvalidValue, m));
            0
        })
    };
    let window_ms = duration("window", d.window.as_deref(), DEFAULT_WINDOW);
    let interval_ms = duration("interval", d.interval.as_deref(), DEFAULT_INTERVAL);
    let cooldown_ms = duration("cooldown", d.cooldown.as_deref(), DEFAULT_COOLDOWN);
    let mut conditions = Vec::new();
    for (i, v) in d.conditions.into_iter().enumerate() {
        let c = match condition(&format!("conditions[{i}]"), v) {
            Ok(c) => c,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let metric_problem = match &c {
            Condition::MetricBelow { metric, .. } if !metric_applies(model.task, metric) => Some(format!(
                "{metric:?} is not a metric of a {} model (one of {})",
                model.task.as_str(),
                METRICS.join(", ")
            )),
            Condition::EstimatedMetricBelow { .. } if model.task != Task::BinaryClassification => {
                Some(format!("estimated metrics are for binary classifiers, this model is {}", model.task.as_str()))
            }
            Condition::EstimatedMetricBelow { metric, .. } if !ESTIMATED.contains(&metric.as_str()) => {
                Some(format!("{metric:?} is not estimated (one of {})", ESTIMATED.join(", ")))
            }
            _ => None,
        };
        if let Some(m) = metric_problem {
            problems.push(Problem::new(format!("conditions[{i}].metric"), Reason::InvalidValue, m));
        }
        conditions.push(c);
    }
    let policy = Policy {
        id: id.to_owned(),
        model: model.name.clone(),
        version: d.version,
        conditions,
        r#match: d.r#match,
        window_ms,
        interval_ms,
        cooldown_ms,
        channel: d.channel,
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    policy.validate()?;
    Ok(policy)
}

/// The stored (and answered) document of a policy.
pub fn to_doc(p: &Policy) -> Value {
    json!({
        "id": p.id,
        "model": p.model,
        "version": p.version,
        "conditions": p.conditions.iter().map(condition_json).collect::<Vec<_>>(),
        "match": p.r#match,
        "window": format_duration(p.window_ms),
        "interval": format_duration(p.interval_ms),
        "cooldown": format_duration(p.cooldown_ms),
        "channel": p.channel,
    })
}

/// A stored document back into a policy.
pub fn from_doc(doc: &str, model: &ModelSpec) -> Result<Policy, String> {
    let mut v: Value = serde_json::from_str(doc).map_err(|e| e.to_string())?;
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        o.remove("model");
    }
    let d: PolicyIn = serde_json::from_value(v).map_err(|e| e.to_string())?;
    policy(&id, model, d)
        .map_err(|ps| ps.into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>().join("; "))
}
