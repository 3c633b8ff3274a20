//! Realized performance from labels: metrics equal to `sightline_stats::performance`
//! (itself equal to scikit-learn's on fixtures) on the same records, label coverage and
//! delay, late labels counted in their prediction's window, series, and bad queries.

use crate::support::TestServer;
use serde_json::{Value, json};
use sightline_stats::performance::{BinaryRecord, Decision, RegressionRecord, binary, regression};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn classifier() -> Value {
    json!({"name": "credit", "task": "binary_classification", "classes": ["good", "bad"], "positive_class": "bad",
           "features": [{"name": "age", "type": "numeric"}]})
}

#[tokio::test]
async fn binary_metrics_coverage_delay_and_late_labels() {
    let server = TestServer::start().await;
    server.create_model(&classifier()).await;
    // 200 predictions over two hours; scores with ties; labels for three in four of them.
    let mut records = Vec::new();
    let mut events = Vec::new();
    let mut labels = Vec::new();
    for i in 0..200i64 {
        let score = ((i * 37) % 20) as f64 / 20.0;
        let predicted_bad = score >= 0.5;
        let truth_bad = (i * 11) % 7 < 3;
        events.push(json!({"request_id": format!("r{i}"), "timestamp": T0 + i * 36_000, "version": "v1",
            "features": {"age": 30}, "prediction": if predicted_bad { "bad" } else { "good" },
            "scores": {"bad": score}}));
        if i % 4 != 0 {
            // Labels arrive 1 to 10 minutes after their prediction.
            labels.push(json!({"request_id": format!("r{i}"), "label": if truth_bad { "bad" } else { "good" },
                "timestamp": T0 + i * 36_000 + 60_000 * (1 + i % 10)}));
            records.push((i, BinaryRecord { label: truth_bad, prediction: predicted_bad, score }));
        }
    }
    // Half the labels come before their predictions: either order joins.
    let (early, late) = labels.split_at(70);
    server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": early })).await.expect_status(200);
    server.ingest("credit", &events).await;
    let range = format!("from={T0}&to={}", T0 + 7_200_000);
    let r = server.get(&format!("/api/v1/models/credit/performance?{range}")).await;
    r.expect_status(200);
    assert_eq!(r.json["predictions"], json!(200));
    assert_eq!(r.json["labelled"], json!(70));
    server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": late })).await.expect_status(200);

    let r = server.get(&format!("/api/v1/models/credit/performance?{range}")).await;
    r.expect_status(200);
    assert_eq!(r.json["task"], "binary_classification");
    assert_eq!(r.json["labelled"], json!(150));
    assert_eq!(r.json["label_coverage"], json!(0.75));
    let all: Vec<BinaryRecord> = records.iter().map(|(_, b)| *b).collect();
    let expected = binary(&all, Decision::Logged).expect("metrics");
    let m = &r.json["metrics"];
    for (name, value) in [
        ("accuracy", expected.accuracy),
        ("precision", expected.precision),
        ("recall", expected.recall),
        ("f1", expected.f1),
        ("roc_auc", expected.roc_auc),
        ("average_precision", expected.average_precision),
        ("log_loss", expected.log_loss),
        ("brier", expected.brier),
        ("expected_calibration_error", expected.expected_calibration_error),
    ] {
        assert_eq!(m[name].as_f64(), value, "{name}: {m}");
    }
    assert_eq!(m["confusion_matrix"]["true_positives"], json!(expected.confusion.true_positives));
    // Delays are 1..10 minutes: the median and p90 of those actually labelled.
    let mut delays: Vec<f64> = records.iter().map(|(i, _)| (60_000 * (1 + i % 10)) as f64).collect();
    delays.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (delays.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        delays[lo] + (delays[hi] - delays[lo]) * (pos - lo as f64)
    };
    assert_eq!(r.json["label_delay_ms"]["median"].as_f64(), Some(q(0.5)));
    assert_eq!(r.json["label_delay_ms"]["p90"].as_f64(), Some(q(0.9)));

    // Another operating point.
    let r = server.get(&format!("/api/v1/models/credit/performance?{range}&threshold=0.3")).await;
    let expected = binary(&all, Decision::Threshold(0.3)).expect("metrics");
    assert_eq!(r.json["metrics"]["recall"].as_f64(), expected.recall);

    // Hourly series: the two windows split the predictions by their own timestamps.
    let r = server.get(&format!("/api/v1/models/credit/performance?{range}&step=1h")).await;
    let windows = r.json["windows"].as_array().expect("windows");
    assert_eq!(windows.len(), 2);
    assert_eq!(windows[0]["predictions"], json!(100));
    assert_eq!(windows[1]["predictions"], json!(100));
    let first: Vec<BinaryRecord> = records.iter().filter(|(i, _)| *i < 100).map(|(_, b)| *b).collect();
    assert_eq!(windows[0]["metrics"]["roc_auc"].as_f64(), binary(&first, Decision::Logged).expect("m").roc_auc);

    // An empty window has no metrics, and says so without an error.
    let r = server.get(&format!("/api/v1/models/credit/performance?from={}&to={}", T0 - 7_200_000, T0)).await;
    assert_eq!(r.json["predictions"], json!(0));
    assert_eq!(r.json["metrics"], Value::Null);
    assert_eq!(r.json["label_coverage"], Value::Null);

    for (query, status) in [("threshold=2", 400), ("version=v9", 404), ("colour=red", 400), ("step=10s", 400)] {
        let r = server.get(&format!("/api/v1/models/credit/performance?{range}&{query}")).await;
        r.expect_problem(status);
    }
}

#[tokio::test]
async fn regression_metrics() {
    let server = TestServer::start().await;
    let spec = json!({"name": "price", "task": "regression", "features": [{"name": "size", "type": "numeric"}]});
    server.create_model(&spec).await;
    let mut events = Vec::new();
    let mut labels = Vec::new();
    let mut records = Vec::new();
    for i in 0..50i64 {
        let (y, p) = (100.0 + i as f64 * 3.5, 98.0 + i as f64 * 3.7);
        events.push(json!({"request_id": format!("p{i}"), "timestamp": T0 + i * 1_000, "version": "v1",
            "features": {"size": i}, "prediction": p}));
        labels.push(json!({"request_id": format!("p{i}"), "label": y}));
        records.push(RegressionRecord { label: y, prediction: p });
    }
    server.ingest("price", &events).await;
    server.post_json("/api/v1/models/price/feedback", &json!({ "labels": labels })).await.expect_status(200);
    let r = server.get(&format!("/api/v1/models/price/performance?from={T0}&to={}", T0 + 60_000)).await;
    r.expect_status(200);
    let expected = regression(&records).expect("metrics");
    for (name, value) in [("mae", expected.mae), ("rmse", expected.rmse), ("mape", expected.mape), ("r2", expected.r2)]
    {
        assert_eq!(r.json["metrics"][name].as_f64(), value, "{name}");
    }
}

#[tokio::test]
async fn a_realized_metric_monitor_fires() {
    let server = TestServer::start_with(|c| c.alerting.tick = std::time::Duration::from_millis(50)).await;
    server.create_model(&classifier()).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let events: Vec<Value> = (0..20)
        .map(|i| {
            json!({"request_id": format!("r{i}"), "timestamp": now - 1_000, "version": "v1",
                        "features": {"age": 30}, "prediction": "good", "scores": {"bad": 0.1}})
        })
        .collect();
    server.ingest("credit", &events).await;
    let labels: Vec<Value> = (0..20).map(|i| json!({"request_id": format!("r{i}"), "label": "bad"})).collect();
    server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": labels })).await.expect_status(200);
    let monitor = json!({"id": "acc", "model": "credit", "signal": {"kind": "performance_metric", "metric": "accuracy"},
        "condition": {"op": "<", "value": 0.5}, "window": "1h", "interval": "1s", "severity": "low"});
    server.post_json("/api/v1/monitors", &monitor).await.expect_status(201);
    let mut state = None;
    for _ in 0..100 {
        let r = server.get("/api/v1/alerts?monitor=acc").await;
        state = r.json["items"][0]["state"].as_str().map(str::to_owned);
        if state.as_deref() == Some("firing") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state.as_deref(), Some("firing"));
    let bad = json!({"id": "bad", "model": "credit", "signal": {"kind": "performance_metric", "metric": "vibes"},
        "condition": {"op": "<", "value": 0.5}, "window": "1h", "interval": "1s", "severity": "low"});
    let r = server.post_json("/api/v1/monitors", &bad).await;
    r.expect_problem(422);
    assert!(r.error_paths().contains(&"$.signal.metric".to_owned()), "{}", r.text);
}
