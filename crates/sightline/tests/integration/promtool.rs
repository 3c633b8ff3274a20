//! `promtool check metrics` finds nothing to criticise in /metrics once every metric
//! family has data (histograms, per-model counters, rejections, labels).

use crate::support::{Server, batch, client, create_model, external_tool, get_text, post_json, run_to_exit};
use reqwest::StatusCode;
use serde_json::json;
use std::process::Command;
use std::time::Duration;

const MODEL: &str = "scored";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_finds_no_problem_in_metrics() {
    let Some(promtool) = external_tool("promtool") else {
        return;
    };
    let dir = tempfile::tempdir().expect("creating a temporary data dir");
    let server = Server::start(dir.path());
    let http = client();
    create_model(&http, &server, MODEL).await;
    let url = server.url(&format!("/api/v1/models/{MODEL}/predictions"));

    // 60 predictions over two versions, every one with a latency (event() spreads them
    // from 0.2 to 83.5 ms), so the latency histograms have data in many buckets.
    for version in ["v1", "v2"] {
        let ids: Vec<String> = (0..30).map(|i| format!("{version}-{i}")).collect();
        let (status, body) = post_json(&http, &url, &batch(&ids, version)).await.expect("ingesting predictions");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["accepted"], 30, "{body}");
    }
    // One failed prediction, and one invalid event, so error and rejection counters
    // have series too.
    let mixed = json!({"events": [
        {"request_id": "failed-1", "version": "v1", "latency_ms": 1500.0,
         "features": {"age": 40, "plan": "pro"},
         "error": {"type": "TimeoutError", "message": "upstream timed out"}},
        {"request_id": "bad-1", "version": "v1", "features": {"age": "old"}, "prediction": "yes"},
    ]});
    let (status, body) = post_json(&http, &url, &mixed).await.expect("ingesting a mixed batch");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["accepted"].as_u64(), body["rejected"].as_array().map(Vec::len)), (Some(1), Some(1)), "{body}");
    let labels = json!({"labels": [
        {"request_id": "v1-0", "label": "yes"},
        {"request_id": "v2-0", "label": "no"},
    ]});
    let (status, body) = post_json(&http, &server.url(&format!("/api/v1/models/{MODEL}/feedback")), &labels)
        .await
        .expect("ingesting labels");
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, metrics) = get_text(&http, &server.url("/metrics")).await;
    assert_eq!(status, StatusCode::OK, "{metrics}");
    for line in [
        r#"sightline_prediction_latency_seconds_count{model="scored",version="v1"} 31"#,
        r#"sightline_prediction_latency_seconds_count{model="scored",version="v2"} 30"#,
        r#"sightline_prediction_errors_total{model="scored",version="v1"} 1"#,
        r#"sightline_labels_total{model="scored",version="v1"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "/metrics lacks {line:?}:\n{metrics}");
    }

    let mut cmd = Command::new(promtool);
    cmd.args(["check", "metrics"]);
    let out = run_to_exit(cmd, Some(metrics.clone().into_bytes()), Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "promtool check metrics: {}\nstdout:\n{stdout}\nstderr:\n{stderr}\nmetrics:\n{metrics}",
        out.status
    );
}

/// `sightline monitors export-prometheus-rules` writes rules that `promtool check rules`
/// accepts, for thresholds and anomalies on every signal /metrics has; the others are
/// named on stderr.
#[test]
fn exported_prometheus_rules_pass_promtool() {
    let Some(promtool) = external_tool("promtool") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let monitors = dir.path().join("monitors.toml");
    std::fs::write(
        &monitors,
        r#"
[[monitor]]
id = "credit-throughput-low"
model = "credit"
signal = "throughput"
condition = { op = "<", value = 0.5 }
window = "5m"
interval = "1m"
for = "10m"
severity = "critical"
runbook_url = "https://wiki.example/runbooks/credit"
labels = { team = "risk" }

[[monitor]]
id = "credit-errors"
model = "credit"
version = "v3"
signal = "error_rate"
condition = { op = ">=", value = 0.05 }
window = "10m"
interval = "1m"
severity = "high"

[[monitor]]
id = "credit-p99-anomaly"
model = "credit"
signal = { kind = "latency_quantile", quantile = 0.99 }
condition = { anomaly = { k = 3.0, window_points = 60, min_points = 10, direction = "both" } }
window = "5m"
interval = "30s"
for = "2m"
severity = "medium"

[[monitor]]
id = "credit-drift"
model = "credit"
signal = { kind = "drift_score", feature = "age", method = "psi" }
condition = { op = ">", value = 0.2 }
window = "1d"
interval = "1h"
severity = "low"

[[monitor]]
id = "credit-auc"
model = "credit"
signal = { kind = "performance_metric", metric = "roc_auc" }
condition = { anomaly = { k = 3.0, window_points = 24, min_points = 6, direction = "below" } }
window = "1h"
interval = "1h"
severity = "high"

[[monitor]]
id = "credit-coverage"
model = "credit"
version = "v3"
signal = "label_coverage"
condition = { op = "<", value = 0.5 }
window = "1h"
interval = "5m"
severity = "low"

[[monitor]]
id = "credit-ks"
model = "credit"
signal = { kind = "drift_score", feature = "*", method = "ks" }
condition = { op = ">", value = 0.1 }
window = "1h"
interval = "5m"
severity = "low"
"#,
    )
    .expect("write monitors");
    let rules = dir.path().join("rules.yml");
    let mut cmd = crate::support::sightline_command();
    cmd.args(["monitors", "export-prometheus-rules", "--file"]).arg(&monitors).arg("--out").arg(&rules);
    let out = run_to_exit(cmd, None, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("not exported: credit-ks: drift_score with the ks test"), "{stderr}");
    let text = std::fs::read_to_string(&rules).expect("rules written");
    assert_eq!(text.matches("- alert:").count(), 6, "{text}");
    assert!(
        text.contains(r#"sightline_feature_drift_score{model=\"credit\",feature=\"age\",method=\"psi\"}"#),
        "{text}"
    );
    assert!(text.contains("interval: 30s") && text.contains("interval: 1m"), "{text}");

    let mut check = Command::new(&promtool);
    check.args(["check", "rules"]).arg(&rules);
    let checked = run_to_exit(check, None, Duration::from_secs(60));
    assert!(
        checked.status.success(),
        "promtool check rules failed:\n{}\n{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // A broken file is refused with every problem named.
    std::fs::write(&monitors, "[[monitor]]\nid = \"x\"\nmodel = \"m\"\nsignal = \"qps\"\ncondition = { op = \">\", value = 1.0 }\nwindow = \"5m\"\ninterval = \"1m\"\nseverity = \"loud\"\n").expect("write");
    let mut cmd = crate::support::sightline_command();
    cmd.args(["monitors", "check", "--file"]).arg(&monitors);
    let out = run_to_exit(cmd, None, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("signal: unknown signal \"qps\"") && stderr.contains("severity:"), "{stderr}");
}
