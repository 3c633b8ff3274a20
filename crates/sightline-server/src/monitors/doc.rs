//! A monitor as a JSON document in the shape the monitors file and the API accept, so
//! that what is stored and what is shown read back through the same parser.

use super::file::{MonitorIn, format_duration, monitor};
use serde_json::{Value, json};
use sightline_core::alerting::{Comparator, Condition, Direction, FeatureSelector, Monitor, Signal};

fn selector(s: &FeatureSelector) -> &str {
    match s {
        FeatureSelector::One(name) => name,
        FeatureSelector::Any => "*",
    }
}

fn signal(s: &Signal) -> Value {
    match s {
        Signal::Throughput | Signal::ErrorRate | Signal::LabelCoverage => json!(s.kind()),
        Signal::LatencyQuantile { quantile } => json!({ "kind": s.kind(), "quantile": quantile }),
        Signal::DriftScore { feature, method } => {
            json!({ "kind": s.kind(), "feature": selector(feature), "method": method })
        }
        Signal::DataQualityRate { feature, check } => {
            json!({ "kind": s.kind(), "feature": selector(feature), "check": check })
        }
        Signal::PerformanceMetric { metric, estimated, reference } => {
            let mut doc = json!({ "kind": s.kind(), "metric": metric, "estimated": estimated });
            if let Some((from, to)) = reference {
                doc["reference_from"] = json!(crate::wire::time::format(*from));
                doc["reference_to"] = json!(crate::wire::time::format(*to));
            }
            doc
        }
    }
}

fn condition(c: &Condition) -> Value {
    match c {
        Condition::Threshold { op, value } => json!({ "op": Comparator::as_str(*op), "value": value }),
        Condition::Anomaly { k, window_points, min_points, direction } => json!({ "anomaly": {
            "k": k,
            "window_points": window_points,
            "min_points": min_points,
            "direction": match direction { Direction::Above => "above", Direction::Below => "below", Direction::Both => "both" },
        }}),
    }
}

/// The document of a monitor.
pub fn to_doc(m: &Monitor) -> Value {
    let mut doc = json!({
        "id": m.id,
        "model": m.model,
        "signal": signal(&m.signal),
        "condition": condition(&m.condition),
        "window": format_duration(m.window_ms),
        "interval": format_duration(m.interval_ms),
        "for": format_duration(m.for_ms),
        "severity": m.severity.as_str(),
        "labels": m.labels,
        "no_data": m.no_data.as_str(),
    });
    if let Some(o) = doc.as_object_mut() {
        if let Some(v) = &m.version {
            o.insert("version".into(), json!(v));
        }
        if let Some(u) = &m.runbook_url {
            o.insert("runbook_url".into(), json!(u));
        }
    }
    doc
}

/// Reads a stored document back; an error means the stored text was damaged.
pub fn from_stored(text: &str) -> Result<Monitor, String> {
    let declared: MonitorIn = serde_json::from_str(text).map_err(|e| e.to_string())?;
    monitor(declared).map_err(|problems| {
        problems.into_iter().map(|(path, message)| format!("{path}: {message}")).collect::<Vec<_>>().join("; ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_monitor_round_trips_through_its_document() {
        let text = r#"
            [[monitor]]
            id = "a"
            model = "credit"
            version = "v1"
            signal = { kind = "latency_quantile", quantile = 0.99 }
            condition = { anomaly = { k = 3.0, window_points = 60, min_points = 10, direction = "above" } }
            window = "5m"
            interval = "1m"
            for = "90s"
            severity = "high"
            labels = { team = "risk" }
            runbook_url = "https://wiki.example/r"
            no_data = "alerting"

            [[monitor]]
            id = "b"
            model = "credit"
            signal = { kind = "drift_score", feature = "*", method = "psi" }
            condition = { op = ">=", value = 0.2 }
            window = "1d"
            interval = "1500ms"
            severity = "low"

            [[monitor]]
            id = "c"
            model = "credit"
            signal = { kind = "performance_metric", metric = "roc_auc", estimated = true, reference_from = "2026-11-01T00:00:00Z", reference_to = "2026-11-08T00:00:00Z" }
            condition = { op = "<", value = 0.7 }
            window = "1h"
            interval = "1m"
            severity = "info"
        "#;
        for m in super::super::file::parse(text).expect("parses") {
            let back = from_stored(&to_doc(&m).to_string()).expect("reads back");
            assert_eq!(back, m);
        }
    }
}
