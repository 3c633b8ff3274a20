//! Monitors as Prometheus alerting rules, for the signals `/metrics` exposes
//! (throughput, error rate, latency quantiles, drift distances, realized performance,
//! label coverage), so a team that alerts
//! with Prometheus and Alertmanager gets the same rules without Sightline evaluating them.
//!
//! Drift scores come from the `sightline_feature_drift_score` gauge, which the server
//! recomputes every minute over its `drift_window` (an hour by default) with the model's
//! drift settings: the rule reads the gauge of the monitor's method, so it has data only
//! where the settings use that method, and it looks at the server's window rather than
//! the monitor's. Drift tests (ks, chisquare, z) are not exported: their gauge holds
//! the p-value, while the monitor's signal is the test statistic. Realized performance
//! metrics and label coverage read their gauges the same way (over the drift window);
//! estimated metrics and data-quality rates are not in `/metrics`.
//!
//! Anomaly conditions become subqueries over the monitor's own evaluation grid. One
//! difference from Sightline's evaluator: Prometheus's baseline window includes the
//! current sample, Sightline's excludes it (so a spike cannot hide itself); with a
//! baseline of many points the two agree closely.

use super::file::format_duration;
use sightline_core::alerting::{Condition, Direction, FeatureSelector, Monitor, Signal};
use sightline_stats::default_method::Method;
use std::collections::BTreeMap;

/// A monitor that cannot be exported, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub id: String,
    pub reason: String,
}

/// A PromQL string literal (Go string syntax: backslash and double quote escaped).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The label matchers of a monitor's series, and `extra` ones.
fn selector(m: &Monitor, extra: &[(&str, &str)]) -> String {
    let mut matchers = vec![format!("model={}", quote(&m.model))];
    if let Some(v) = &m.version {
        matchers.push(format!("version={}", quote(v)));
    }
    matchers.extend(extra.iter().map(|(name, value)| format!("{name}={}", quote(value))));
    format!("{{{}}}", matchers.join(","))
}

/// The largest drift score of the monitor's features (Sightline's evaluator also takes
/// the largest), from the gauge of its method.
fn drift_expr(m: &Monitor, feature: &FeatureSelector, method: &str) -> Result<String, String> {
    let parsed = Method::from_name(method).ok_or_else(|| format!("{method:?} is not a drift method"))?;
    if parsed.is_test() {
        return Err(format!(
            "drift_score with the {method} test: /metrics has its p-value, the monitor watches its statistic"
        ));
    }
    let sel = match feature {
        FeatureSelector::One(name) => selector(m, &[("feature", name), ("method", method)]),
        FeatureSelector::Any => selector(m, &[("method", method)]),
    };
    Ok(format!("max{} (sightline_feature_drift_score{sel})", by_version(m)))
}

/// A monitor without a version watches each version on its own (one alert per
/// version), so its aggregations keep the version label.
fn by_version(m: &Monitor) -> &'static str {
    if m.version.is_some() { "" } else { " by (version)" }
}

/// The PromQL of a monitor's signal over its window, if `/metrics` has what it needs.
pub fn signal_expr(m: &Monitor) -> Result<String, String> {
    let sel = selector(m, &[]);
    let w = format_duration(m.window_ms);
    let by = by_version(m);
    let le = if m.version.is_some() { "le" } else { "le, version" };
    match &m.signal {
        Signal::Throughput => Ok(format!("sum{by} (rate(sightline_predictions_total{sel}[{w}]))")),
        Signal::ErrorRate => Ok(format!(
            "sum{by} (rate(sightline_prediction_errors_total{sel}[{w}])) / sum{by} (rate(sightline_predictions_total{sel}[{w}]))"
        )),
        // The histogram is in seconds; monitors speak milliseconds.
        Signal::LatencyQuantile { quantile } => Ok(format!(
            "histogram_quantile({quantile}, sum by ({le}) (rate(sightline_prediction_latency_seconds_bucket{sel}[{w}]))) * 1000"
        )),
        Signal::DriftScore { feature, method } => drift_expr(m, feature, method),
        // Realized metrics and label coverage: the gauges over the server's drift
        // window, per version (as the drift gauges).
        Signal::PerformanceMetric { metric, estimated: false, .. } => {
            Ok(format!("max{by} (sightline_performance_metric{})", selector(m, &[("metric", metric)])))
        }
        Signal::LabelCoverage => Ok(format!("max{by} (sightline_label_coverage{sel})")),
        other => Err(format!("the {} signal is not in /metrics; Sightline evaluates it itself", other.kind())),
    }
}

/// The alert expression: the signal compared with its threshold or its baseline.
pub fn alert_expr(m: &Monitor) -> Result<String, String> {
    let x = signal_expr(m)?;
    Ok(match &m.condition {
        Condition::Threshold { op, value } => format!("({x}) {} {value}", op.as_str()),
        Condition::Anomaly { k, window_points, min_points, direction } => {
            let step = format_duration(m.interval_ms);
            let range = format_duration(m.interval_ms * *window_points as i64);
            let avg = format!("avg_over_time(({x})[{range}:{step}])");
            let sd = format!("stddev_over_time(({x})[{range}:{step}])");
            let enough = format!("count_over_time(({x})[{range}:{step}]) >= {min_points}");
            let compare = match direction {
                Direction::Above => format!("({x}) > ({avg} + {k} * {sd})"),
                Direction::Below => format!("({x}) < ({avg} - {k} * {sd})"),
                Direction::Both => format!("abs(({x}) - {avg}) > ({k} * {sd})"),
            };
            format!("({compare}) and ({enough})")
        }
    })
}

/// A YAML double-quoted scalar: JSON string syntax is valid YAML.
fn yaml(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The rules file (Prometheus's YAML format), one group per evaluation interval, and
/// the monitors left out.
pub fn rules_file(monitors: &[Monitor]) -> (String, Vec<Skipped>) {
    let mut groups: BTreeMap<i64, Vec<(&Monitor, String)>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for m in monitors {
        match alert_expr(m) {
            Ok(expr) => groups.entry(m.interval_ms).or_default().push((m, expr)),
            Err(reason) => skipped.push(Skipped { id: m.id.clone(), reason }),
        }
    }
    let mut out = String::from(
        "# Made by `sightline monitors export-prometheus-rules`; edit the monitors file instead.\ngroups:\n",
    );
    if groups.is_empty() {
        out = String::from(
            "# Made by `sightline monitors export-prometheus-rules`: no monitor can be exported.\ngroups: []\n",
        );
    }
    for (interval, rules) in &groups {
        let every = format_duration(*interval);
        out.push_str(&format!(
            "  - name: {}\n    interval: {every}\n    rules:\n",
            yaml(&format!("sightline-every-{every}"))
        ));
        for (m, expr) in rules {
            out.push_str(&format!("      - alert: {}\n        expr: {}\n", yaml(&m.id), yaml(expr)));
            if m.for_ms > 0 {
                out.push_str(&format!("        for: {}\n", format_duration(m.for_ms)));
            }
            out.push_str("        labels:\n");
            let mut labels = m.alert_labels(&Default::default());
            if let Some(v) = &m.version {
                labels.insert("version".into(), v.clone());
            }
            for (name, value) in &labels {
                out.push_str(&format!("          {name}: {}\n", yaml(value)));
            }
            out.push_str("        annotations:\n");
            let summary = format!("{} of model {} ({})", m.signal.kind(), m.model, m.id);
            out.push_str(&format!("          summary: {}\n", yaml(&summary)));
            if let Some(url) = &m.runbook_url {
                out.push_str(&format!("          runbook_url: {}\n", yaml(url)));
            }
        }
    }
    (out, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_become_promql_over_the_window() {
        let text = r#"
            [[monitor]]
            id = "p99"
            model = "credit"
            version = "v3"
            signal = { kind = "latency_quantile", quantile = 0.99 }
            condition = { op = ">", value = 250.0 }
            window = "5m"
            interval = "1m"
            severity = "high"

            [[monitor]]
            id = "drift"
            model = "credit"
            signal = { kind = "drift_score", feature = "*", method = "psi" }
            condition = { op = ">", value = 0.2 }
            window = "1d"
            interval = "1h"
            severity = "low"

            [[monitor]]
            id = "traffic"
            model = "credit"
            signal = "throughput"
            condition = { op = "<", value = 1.0 }
            window = "10m"
            interval = "1m"
            severity = "high"

            [[monitor]]
            id = "ks"
            model = "credit"
            version = "v3"
            signal = { kind = "drift_score", feature = "age", method = "ks" }
            condition = { op = ">", value = 0.1 }
            window = "1h"
            interval = "5m"
            severity = "low"

            [[monitor]]
            id = "auc"
            model = "credit"
            version = "v3"
            signal = { kind = "performance_metric", metric = "roc_auc" }
            condition = { op = "<", value = 0.7 }
            window = "1h"
            interval = "5m"
            severity = "high"

            [[monitor]]
            id = "coverage"
            model = "credit"
            signal = "label_coverage"
            condition = { op = "<", value = 0.5 }
            window = "1h"
            interval = "5m"
            severity = "low"
        "#;
        let monitors = super::super::file::parse(text).expect("parses");
        assert_eq!(
            alert_expr(&monitors[0]).expect("exportable"),
            "(histogram_quantile(0.99, sum by (le) (rate(sightline_prediction_latency_seconds_bucket\
             {model=\"credit\",version=\"v3\"}[5m]))) * 1000) > 250"
        );
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(
            alert_expr(&monitors[1]).expect("exportable"),
            "(max by (version) (sightline_feature_drift_score{model=\"credit\",method=\"psi\"})) > 0.2"
        );
        assert_eq!(
            alert_expr(&monitors[2]).expect("exportable"),
            "(sum by (version) (rate(sightline_predictions_total{model=\"credit\"}[10m]))) < 1"
        );
        assert_eq!(
            alert_expr(&monitors[4]).expect("exportable"),
            "(max (sightline_performance_metric{model=\"credit\",version=\"v3\",metric=\"roc_auc\"})) < 0.7"
        );
        assert_eq!(
            alert_expr(&monitors[5]).expect("exportable"),
            "(max by (version) (sightline_label_coverage{model=\"credit\"})) < 0.5"
        );
        let (file, skipped) = rules_file(&monitors);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].id, "ks");
        assert!(skipped[0].reason.contains("p-value"), "{}", skipped[0].reason);
        assert!(file.contains("- alert: \"p99\""), "{file}");
        assert!(file.contains("- alert: \"drift\""), "{file}");
        assert!(file.contains("severity: \"high\""), "{file}");
    }
}
