//! Monitors as code: the TOML file format, read into validated [`Monitor`]s. The same
//! file drives `sightline monitors export-prometheus-rules` (and, with the scheduler,
//! the server's own evaluation).
//!
//! ```toml
//! [[monitor]]
//! id = "credit-errors"
//! model = "credit"
//! version = "v3"                               # optional: all versions
//! signal = "error_rate"                        # or a table, see below
//! condition = { op = ">", value = 0.05 }       # or { anomaly = { k = 3.0, ... } }
//! window = "5m"
//! interval = "1m"
//! for = "10m"
//! severity = "high"
//! runbook_url = "https://wiki.example/runbooks/credit"
//! labels = { team = "risk" }
//! ```
//!
//! Signals: `"throughput"`, `"error_rate"`, `"label_coverage"`, or tables
//! `{ kind = "latency_quantile", quantile = 0.99 }`, `{ kind = "drift_score", feature =
//! "age" | "*", method = "psi" }`, `{ kind = "data_quality_rate", feature, check }`,
//! `{ kind = "performance_metric", metric = "roc_auc", estimated = false }`.

use serde::Deserialize;
use sightline_core::alerting::{
    Comparator, Condition, Direction, FeatureSelector, Labels, Monitor, NoDataPolicy, Severity, Signal,
};
use std::collections::HashSet;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn {
    #[serde(default)]
    monitor: Vec<MonitorIn>,
}

/// One monitor as declared: a `[[monitor]]` table of the file, or the JSON document of
/// the monitors API (the same fields).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorIn {
    id: String,
    model: String,
    version: Option<String>,
    signal: SignalIn,
    condition: ConditionIn,
    window: String,
    interval: String,
    #[serde(rename = "for", default)]
    for_: Option<String>,
    severity: String,
    #[serde(default)]
    labels: Labels,
    runbook_url: Option<String>,
    no_data: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SignalIn {
    Name(String),
    Table(SignalTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalTable {
    kind: String,
    quantile: Option<f64>,
    feature: Option<String>,
    method: Option<String>,
    check: Option<String>,
    metric: Option<String>,
    #[serde(default)]
    estimated: bool,
    reference_from: Option<TimeIn>,
    reference_to: Option<TimeIn>,
}

/// A time in the file (an RFC 3339 string) or in the API's JSON (also epoch ms).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TimeIn {
    Millis(i64),
    Text(String),
}

fn time_in(t: Option<TimeIn>, field: &str) -> Result<Option<i64>, (String, String)> {
    match t {
        None => Ok(None),
        Some(TimeIn::Millis(ms)) => crate::wire::time::parse_json(&serde_json::Value::from(ms)).map(Some),
        Some(TimeIn::Text(s)) => crate::wire::time::parse_query(&s).map(Some),
    }
    .map_err(|m| (format!("signal.{field}"), m))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionIn {
    op: Option<String>,
    value: Option<f64>,
    anomaly: Option<AnomalyIn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnomalyIn {
    k: f64,
    window_points: usize,
    min_points: usize,
    #[serde(default = "default_direction")]
    direction: String,
}

fn default_direction() -> String {
    "both".into()
}

/// A duration as Prometheus writes them: `500ms`, `30s`, `5m`, `2h`, `1d`, `1w`, or
/// combinations such as `1h30m`.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration such as 30s, 5m, 1h30m or 2d");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.bytes().next() {
                Some(b's') => (1_000, 1),
                Some(b'm') => (60_000, 1),
                Some(b'h') => (3_600_000, 1),
                Some(b'd') => (86_400_000, 1),
                Some(b'w') => (604_800_000, 1),
                _ => return Err(bad()),
            }
        };
        rest = &rest[len..];
        total = n.checked_mul(unit_ms).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
    }
    Ok(total)
}

/// Milliseconds in Prometheus's duration syntax (`90s`, `5m`, `1500ms`).
pub fn format_duration(ms: i64) -> String {
    for (unit, name) in [(604_800_000, "w"), (86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")] {
        if ms > 0 && ms % unit == 0 {
            return format!("{}{name}", ms / unit);
        }
    }
    format!("{ms}ms")
}

fn signal(s: SignalIn) -> Result<Signal, (String, String)> {
    let err = |field: &str, m: String| (format!("signal.{field}"), m);
    let selector = |f: Option<String>| -> Result<FeatureSelector, (String, String)> {
        match f.as_deref() {
            None => Err(err("feature", "required: a feature name, or \"*\" for any feature".into())),
            Some("*") => Ok(FeatureSelector::Any),
            Some(name) => Ok(FeatureSelector::One(name.to_owned())),
        }
    };
    let t = match s {
        SignalIn::Name(name) => SignalTable {
            kind: name,
            quantile: None,
            feature: None,
            method: None,
            check: None,
            metric: None,
            estimated: false,
            reference_from: None,
            reference_to: None,
        },
        SignalIn::Table(t) => t,
    };
    Ok(match t.kind.as_str() {
        "throughput" => Signal::Throughput,
        "error_rate" => Signal::ErrorRate,
        "label_coverage" => Signal::LabelCoverage,
        "latency_quantile" => Signal::LatencyQuantile {
            quantile: t.quantile.ok_or_else(|| err("quantile", "required for latency_quantile, e.g. 0.99".into()))?,
        },
        "drift_score" => Signal::DriftScore {
            feature: selector(t.feature)?,
            method: t.method.ok_or_else(|| err("method", "required for drift_score, e.g. \"psi\"".into()))?,
        },
        "data_quality_rate" => Signal::DataQualityRate {
            feature: selector(t.feature)?,
            check: t.check.ok_or_else(|| err("check", "required for data_quality_rate, e.g. \"missing\"".into()))?,
        },
        "performance_metric" => Signal::PerformanceMetric {
            metric: t
                .metric
                .ok_or_else(|| err("metric", "required for performance_metric, e.g. \"roc_auc\"".into()))?,
            estimated: t.estimated,
            reference: match (time_in(t.reference_from, "reference_from")?, time_in(t.reference_to, "reference_to")?) {
                (Some(from), Some(to)) => Some((from, to)),
                (None, None) => None,
                (Some(_), None) => return Err(err("reference_to", "required with reference_from".into())),
                (None, Some(_)) => return Err(err("reference_from", "required with reference_to".into())),
            },
        },
        other => {
            return Err((
                "signal".into(),
                format!(
                    "unknown signal {other:?}: use throughput, error_rate, latency_quantile, drift_score, \
                     data_quality_rate, performance_metric or label_coverage"
                ),
            ));
        }
    })
}

fn condition(c: ConditionIn) -> Result<Condition, (String, String)> {
    match (c.op, c.value, c.anomaly) {
        (Some(op), Some(value), None) => {
            let op = Comparator::parse(&op)
                .ok_or_else(|| ("condition.op".to_owned(), format!("{op:?} is not one of >, >=, <, <=")))?;
            Ok(Condition::Threshold { op, value })
        }
        (None, None, Some(a)) => {
            let direction = match a.direction.as_str() {
                "above" => Direction::Above,
                "below" => Direction::Below,
                "both" => Direction::Both,
                other => {
                    return Err((
                        "condition.anomaly.direction".into(),
                        format!("{other:?} is not one of above, below, both"),
                    ));
                }
            };
            Ok(Condition::Anomaly { k: a.k, window_points: a.window_points, min_points: a.min_points, direction })
        }
        _ => Err((
            "condition".into(),
            "give either op and value (a threshold) or anomaly = { k, window_points, min_points }".into(),
        )),
    }
}

/// Checks a declared monitor and builds it; every problem as (field path, message).
pub fn monitor(m: MonitorIn) -> Result<Monitor, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let mut duration = |field: &str, text: &str| {
        parse_duration(text).unwrap_or_else(|e| {
            problems.push((field.to_owned(), e));
            0
        })
    };
    let window_ms = duration("window", &m.window);
    let interval_ms = duration("interval", &m.interval);
    let for_ms = m.for_.as_deref().map_or(0, |f| duration("for", f));
    let signal = signal(m.signal).map_err(|e| problems.push(e)).ok();
    let condition = condition(m.condition).map_err(|e| problems.push(e)).ok();
    let severity = Severity::parse(&m.severity);
    if severity.is_none() {
        problems.push(("severity".into(), format!("{:?} is not one of info, low, medium, high, critical", m.severity)));
    }
    let no_data = match m.no_data.as_deref() {
        None | Some("keep") => NoDataPolicy::Keep,
        Some("ok") => NoDataPolicy::Ok,
        Some("alerting") => NoDataPolicy::Alerting,
        Some(other) => {
            problems.push(("no_data".into(), format!("{other:?} is not one of keep, ok, alerting")));
            NoDataPolicy::Keep
        }
    };
    if let Some(s) = &signal {
        problems.extend(crate::alerting::profile_signals::check_keys(s));
    }
    let (Some(signal), Some(condition), Some(severity)) = (signal, condition, severity) else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let monitor = Monitor {
        id: m.id,
        model: m.model,
        version: m.version,
        signal,
        condition,
        window_ms,
        interval_ms,
        for_ms,
        severity,
        labels: m.labels,
        runbook_url: m.runbook_url,
        no_data,
    };
    // The core names durations in milliseconds; here they are the declared fields.
    let declared = |path: String| match path.as_str() {
        "window_ms" => "window".to_owned(),
        "interval_ms" => "interval".to_owned(),
        "for_ms" => "for".to_owned(),
        _ => path,
    };
    monitor.validate().map_err(|ps| ps.into_iter().map(|p| (declared(p.path), p.message)).collect::<Vec<_>>())?;
    Ok(monitor)
}

/// Reads a monitors file. Every problem is reported, each naming the monitor (by
/// position and id) and the field.
pub fn parse(text: &str) -> Result<Vec<Monitor>, String> {
    let file: FileIn = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut monitors = Vec::with_capacity(file.monitor.len());
    let mut errors = Vec::new();
    let mut ids = HashSet::new();
    for (i, m) in file.monitor.into_iter().enumerate() {
        let id = m.id.clone();
        if !ids.insert(id.clone()) {
            errors.push(format!("monitor[{i}] ({id:?}): id: another monitor has this id"));
        }
        match monitor(m) {
            Ok(m) => monitors.push(m),
            Err(problems) => errors.extend(
                problems.into_iter().map(|(path, message)| format!("monitor[{i}] ({id:?}): {path}: {message}")),
            ),
        }
    }
    if errors.is_empty() { Ok(monitors) } else { Err(errors.join("\n")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write_like_prometheus() {
        for (text, ms) in [("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000), ("2d", 172_800_000)]
        {
            assert_eq!(parse_duration(text), Ok(ms), "{text}");
        }
        for bad in ["", "5", "m", "-5m", "5x", "1.5h", "99999999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(5_400_000), "90m");
        assert_eq!(format_duration(1_500), "1500ms");
        assert_eq!(format_duration(604_800_000), "1w");
    }

    #[test]
    fn a_file_of_every_signal_parses() {
        let text = r#"
            [[monitor]]
            id = "errors"
            model = "credit"
            signal = "error_rate"
            condition = { op = ">", value = 0.05 }
            window = "5m"
            interval = "1m"
            for = "10m"
            severity = "high"
            labels = { team = "risk" }
            runbook_url = "https://wiki.example/runbooks/credit"

            [[monitor]]
            id = "p99"
            model = "credit"
            version = "v3"
            signal = { kind = "latency_quantile", quantile = 0.99 }
            condition = { anomaly = { k = 3.0, window_points = 60, min_points = 10, direction = "above" } }
            window = "5m"
            interval = "1m"
            severity = "medium"

            [[monitor]]
            id = "drift"
            model = "credit"
            signal = { kind = "drift_score", feature = "*", method = "psi" }
            condition = { op = ">=", value = 0.2 }
            window = "1d"
            interval = "1h"
            severity = "low"
            no_data = "ok"
        "#;
        let monitors = parse(text).expect("parses");
        assert_eq!(monitors.len(), 3);
        assert_eq!(monitors[0].for_ms, 600_000);
        assert_eq!(monitors[1].signal, Signal::LatencyQuantile { quantile: 0.99 });
        assert_eq!(monitors[2].signal, Signal::DriftScore { feature: FeatureSelector::Any, method: "psi".into() });
        assert_eq!(monitors[2].no_data, NoDataPolicy::Ok);
    }

    #[test]
    fn every_problem_names_its_monitor_and_field() {
        let text = r#"
            [[monitor]]
            id = "a"
            model = "credit"
            signal = "errors_per_second"
            condition = { op = "=>", value = 1.0 }
            window = "5 minutes"
            interval = "1m"
            severity = "urgent"

            [[monitor]]
            id = "a"
            model = "credit"
            signal = { kind = "latency_quantile", quantile = 1.5 }
            condition = { op = ">", value = 1.0, anomaly = { k = 3.0, window_points = 60, min_points = 10 } }
            window = "5m"
            interval = "1m"
            severity = "low"
        "#;
        let err = parse(text).expect_err("invalid");
        for expected in [
            "monitor[0] (\"a\"): window:",
            "monitor[0] (\"a\"): signal: unknown signal \"errors_per_second\"",
            "monitor[0] (\"a\"): condition.op:",
            "monitor[0] (\"a\"): severity:",
            "monitor[1] (\"a\"): id: another monitor has this id",
            "monitor[1] (\"a\"): condition: give either",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
        }
        let unknown_key = parse("[[monitor]]\nid = \"x\"\nmodle = \"m\"\n").expect_err("unknown key");
        assert!(unknown_key.contains("modle"), "{unknown_key}");
        let negative = parse(
            "[[monitor]]\nid = \"x\"\nmodel = \"m\"\nsignal = \"throughput\"\ncondition = { op = \">\", value = 1.0 }\n\
             window = \"5m\"\ninterval = \"0s\"\nseverity = \"low\"\n",
        )
        .expect_err("interval too short");
        assert!(negative.contains("interval"), "{negative}");
    }
}
