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
        assert_close(m[name].as_f64(), value, name);
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
        assert_close(r.json["metrics"][name].as_f64(), value, name);
    }
}

/// The server reads a window from its outcome tallies, which hand the metrics the same
/// records in another order (by what was predicted rather than by time): sums may then
/// differ in the last bits from a computation over the records in time order.
fn assert_close(got: Option<f64>, want: Option<f64>, name: &str) {
    match (got, want) {
        (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-12 * w.abs().max(1e-300), "{name}: {g} vs {w}"),
        _ => assert_eq!(got, want, "{name}"),
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

/// SplitMix64: a few lines of seeded randomness, so the synthetic data is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal value (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (1.0 - self.next(), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `n` predictions from `start`, one a second, of inputs drawn from N(`mean`, `sd`): the
/// truth follows P(bad | x) = σ(2x − 0.5) in every window (no concept shift), the model's
/// score is overconfident (σ(2.6x − 0.65)), so CBPE has to calibrate it.
fn shifted_traffic(rng: &mut Rng, prefix: &str, start: i64, n: i64, mean: f64, sd: f64) -> (Vec<Value>, Vec<Value>) {
    let mut events = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let x = mean + sd * rng.normal();
        let truth_bad = rng.next() < sigmoid(2.0 * x - 0.5);
        let score = sigmoid(1.3 * (2.0 * x - 0.5));
        let id = format!("{prefix}{i}");
        events.push(json!({"request_id": id, "timestamp": start + i * 500, "version": "v1",
            "features": {"age": x}, "prediction": if score >= 0.5 { "bad" } else { "good" }, "scores": {"bad": score}}));
        labels.push(json!({"request_id": id, "label": if truth_bad { "bad" } else { "good" }}));
    }
    (events, labels)
}

#[tokio::test]
async fn estimated_performance_tracks_realized_under_covariate_shift() {
    let server = TestServer::start().await;
    server.create_model(&classifier()).await;
    let mut rng = Rng(20_260_101);
    let hour = 3_600_000;
    // Reference hour: x ~ N(0, 1), labelled. Next hour: x ~ N(0.7, 1.2), labels not yet in.
    let (reference, reference_labels) = shifted_traffic(&mut rng, "ref", T0, 6_000, 0.0, 1.0);
    let (analysis, analysis_labels) = shifted_traffic(&mut rng, "new", T0 + hour, 6_000, 0.7, 1.2);
    for chunk in reference.chunks(2_000).chain(analysis.chunks(2_000)) {
        server.ingest("credit", chunk).await.expect_status(200);
    }
    for chunk in reference_labels.chunks(2_000) {
        server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": chunk })).await.expect_status(200);
    }
    let query = format!(
        "/api/v1/models/credit/performance?from={}&to={}&reference_from={T0}&reference_to={}",
        T0 + hour,
        T0 + 2 * hour,
        T0 + hour
    );
    let before = server.get(&query).await;
    before.expect_status(200);
    assert_eq!(before.json["labelled"], json!(0));
    assert_eq!(before.json["metrics"], Value::Null);
    assert_eq!(before.json["reference"]["labelled"], json!(6_000));
    assert_eq!(before.json["reference"]["calibrated"], json!(true), "{}", before.json["reference"]);
    assert_eq!(before.json["estimated"]["count"], json!(6_000));

    for chunk in analysis_labels.chunks(2_000) {
        server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": chunk })).await.expect_status(200);
    }
    let after = server.get(&query).await;
    after.expect_status(200);
    // Estimates do not depend on labels: the same before and after they arrive.
    assert_eq!(after.json["estimated"], before.json["estimated"]);
    let (realized, estimated) = (&after.json["metrics"], &after.json["estimated"]);
    for name in ["accuracy", "precision", "recall", "f1", "roc_auc"] {
        let (r, e) = (realized[name].as_f64().expect("realized"), estimated[name].as_f64().expect("estimated"));
        assert!((r - e).abs() <= 0.02, "{name}: estimated {e}, realized {r}");
    }
    // The expected confusion matrix adds up to the window and tracks the realized one.
    let cells = ["true_negatives", "false_positives", "false_negatives", "true_positives"];
    let total: f64 = cells.iter().map(|c| estimated["confusion_matrix"][c].as_f64().expect("cell")).sum();
    assert!((total - 6_000.0).abs() < 1e-6, "{total}");
    for c in cells {
        let (r, e) = (
            realized["confusion_matrix"][c].as_f64().expect("r"),
            estimated["confusion_matrix"][c].as_f64().expect("e"),
        );
        assert!((r - e).abs() <= 0.02 * 6_000.0, "{c}: estimated {e}, realized {r}");
    }
    // The shift is real: realized accuracy moved between the windows.
    let reference_window = server.get(&format!("/api/v1/models/credit/performance?from={T0}&to={}", T0 + hour)).await;
    let moved =
        reference_window.json["metrics"]["accuracy"].as_f64().expect("a") - realized["accuracy"].as_f64().expect("a");
    assert!(moved.abs() > 0.02, "accuracy moved by {moved}");

    // A series carries an estimate per window.
    let series = server.get(&format!("{query}&step=30m")).await;
    let windows = series.json["windows"].as_array().expect("windows");
    assert_eq!(windows.len(), 2);
    assert_eq!(windows[0]["estimated"]["count"], json!(3_600));

    let base = format!("/api/v1/models/credit/performance?from={}&to={}", T0 + hour, T0 + 2 * hour);
    for (extra, status, field) in [
        (format!("reference_from={T0}"), 400, "reference_to"),
        (format!("reference_to={T0}"), 400, "reference_from"),
        (format!("reference_from={}&reference_to={T0}", T0 + hour), 400, "reference_from"),
        // A window without labels cannot calibrate.
        (format!("reference_from={}&reference_to={}", T0 - hour, T0), 400, "reference_from"),
        (format!("reference_from={T0}&reference_to={}&reference_version=v9", T0 + hour), 404, "reference_version"),
    ] {
        let r = server.get(&format!("{base}&{extra}")).await;
        let detail = r.expect_problem(status).to_owned();
        assert!(detail.starts_with(field), "{extra}: {detail}");
    }
}

#[tokio::test]
async fn estimated_performance_is_for_binary_classifiers() {
    let server = TestServer::start().await;
    let spec = json!({"name": "price", "task": "regression", "features": [{"name": "size", "type": "numeric"}]});
    server.create_model(&spec).await;
    let r = server
        .get(&format!(
            "/api/v1/models/price/performance?from={T0}&to={}&reference_from={T0}&reference_to={}",
            T0 + 1,
            T0 + 1
        ))
        .await;
    let detail = r.expect_problem(400);
    assert!(detail.contains("binary classifiers"), "{detail}");
}

#[tokio::test]
async fn champion_challenger_comparison() {
    use sightline_stats::performance::{
        BinaryMetric, BootstrapOptions, Pairing, RegressionMetric, Resamples, compare_binary, compare_regression,
    };
    let server = TestServer::start().await;
    server.create_model(&classifier()).await;
    let mut rng = Rng(7_777);
    // The same hour of traffic split between two versions; v2 ranks better than v1.
    let mut events = Vec::new();
    let mut labels = Vec::new();
    let mut records: [Vec<BinaryRecord>; 2] = [Vec::new(), Vec::new()];
    for i in 0..1_600i64 {
        let x = rng.normal();
        let truth_bad = rng.next() < sigmoid(2.0 * x);
        let (version, noise) = if i % 2 == 0 { (0, 2.5) } else { (1, 0.3) };
        let score = sigmoid(2.0 * x + noise * rng.normal());
        records[version].push(BinaryRecord { label: truth_bad, prediction: score >= 0.5, score });
        let id = format!("c{i}");
        events.push(json!({"request_id": id, "timestamp": T0 + i * 2_000, "version": format!("v{}", version + 1),
            "features": {"age": x}, "prediction": if score >= 0.5 { "bad" } else { "good" }, "scores": {"bad": score}}));
        labels.push(json!({"request_id": id, "label": if truth_bad { "bad" } else { "good" }}));
    }
    server.ingest("credit", &events).await.expect_status(200);
    server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": labels })).await.expect_status(200);
    let range = format!("from={T0}&to={}", T0 + 3_600_000);
    let r = server.get(&format!("/api/v1/models/credit/compare?a=v1&b=v2&{range}")).await;
    r.expect_status(200);
    // The server's answer is the stats engine's, with its fixed seed and 1,000 resamples.
    let options = BootstrapOptions { confidence: 0.95, resamples: Resamples::Seeded { seed: 7, count: 1_000 } };
    let expected =
        compare_binary(&records[0], &records[1], Pairing::Unpaired, BinaryMetric::RocAuc, Decision::Logged, &options)
            .expect("comparison");
    assert_eq!(r.json["metric"], "roc_auc");
    assert_eq!(r.json["champion"]["version"], "v1");
    assert_eq!(r.json["champion"]["labelled"], json!(800));
    assert_eq!(r.json["champion"]["value"].as_f64(), Some(expected.champion));
    assert_eq!(r.json["challenger"]["value"].as_f64(), Some(expected.challenger));
    assert_eq!(r.json["delta"].as_f64(), Some(expected.delta));
    assert_eq!(r.json["interval"]["lower"].as_f64(), Some(expected.lower));
    assert_eq!(r.json["interval"]["upper"].as_f64(), Some(expected.upper));
    assert_eq!(r.json["resamples"]["used"], json!(1_000));
    assert!(expected.lower > 0.0, "v2 is clearly better: {expected:?}");
    assert_eq!(r.json["verdict"], "challenger better");
    // The other way round, on a loss: lower is better, and the champion now wins.
    let r = server.get(&format!("/api/v1/models/credit/compare?a=v2&b=v1&{range}&metric=log_loss")).await;
    assert_eq!(r.json["higher_is_better"], json!(false));
    assert_eq!(r.json["verdict"], "challenger worse", "{}", r.json);
    // A version against itself differs by nothing.
    let r = server.get(&format!("/api/v1/models/credit/compare?a=v1&b=v1&{range}&resamples=200&confidence=0.9")).await;
    assert_eq!(r.json["delta"].as_f64(), Some(0.0));
    assert_eq!(r.json["verdict"], "no significant difference");
    assert_eq!(r.json["resamples"]["used"], json!(200));

    for (query, status, field) in [
        ("b=v2".to_owned(), 400, "a"),
        ("a=v1&b=v9".to_owned(), 404, "b"),
        ("a=v1&b=v2&metric=rmse".to_owned(), 400, "metric"),
        ("a=v1&b=v2&confidence=1".to_owned(), 400, "confidence"),
        ("a=v1&b=v2&resamples=0".to_owned(), 400, "resamples"),
        ("a=v1&b=v2&step=1h".to_owned(), 400, "step"),
    ] {
        let r = server.get(&format!("/api/v1/models/credit/compare?{range}&{query}")).await;
        let detail = r.expect_problem(status).to_owned();
        assert!(detail.starts_with(field), "{query}: {detail}");
    }
    // A period where a version has no labelled predictions.
    let r = server.get(&format!("/api/v1/models/credit/compare?a=v1&b=v2&from={}&to={T0}", T0 - 60_000)).await;
    assert!(r.expect_problem(400).starts_with("a: "), "{}", r.text);

    // Regression: errors are better low.
    let spec = json!({"name": "price", "task": "regression", "features": [{"name": "size", "type": "numeric"}]});
    server.create_model(&spec).await;
    let mut events = Vec::new();
    let mut labels = Vec::new();
    let mut records: [Vec<RegressionRecord>; 2] = [Vec::new(), Vec::new()];
    for i in 0..400i64 {
        let y = 100.0 + 10.0 * rng.normal();
        let version = (i % 2) as usize;
        let p = y + if version == 0 { 1.0 } else { 8.0 } * rng.normal();
        records[version].push(RegressionRecord { label: y, prediction: p });
        events.push(
            json!({"request_id": format!("p{i}"), "timestamp": T0 + i * 1_000, "version": format!("v{}", version + 1),
            "features": {"size": i}, "prediction": p}),
        );
        labels.push(json!({"request_id": format!("p{i}"), "label": y}));
    }
    server.ingest("price", &events).await.expect_status(200);
    server.post_json("/api/v1/models/price/feedback", &json!({ "labels": labels })).await.expect_status(200);
    let r = server.get(&format!("/api/v1/models/price/compare?a=v1&b=v2&{range}")).await;
    r.expect_status(200);
    let expected =
        compare_regression(&records[0], &records[1], Pairing::Unpaired, RegressionMetric::Rmse, &options).expect("cmp");
    assert_eq!(r.json["metric"], "rmse");
    assert_eq!(r.json["delta"].as_f64(), Some(expected.delta));
    assert_eq!(r.json["interval"]["lower"].as_f64(), Some(expected.lower));
    assert_eq!(r.json["verdict"], "challenger worse");
}

#[tokio::test]
async fn metrics_sliced_by_a_feature_or_a_tag() {
    let server = TestServer::start().await;
    server.create_model(&crate::support::credit_model("credit")).await;
    let cities = ["Paris", "Lyon", "Nice", "Lille", "Brest"];
    let mut rng = Rng(4_242);
    let mut events = Vec::new();
    let mut labels = Vec::new();
    // Records per city, and per region tag (eu for the even requests, us for the odd ones).
    let mut by_city: Vec<Vec<BinaryRecord>> = vec![Vec::new(); cities.len()];
    let mut by_region: [Vec<BinaryRecord>; 2] = [Vec::new(), Vec::new()];
    let mut missing_city = Vec::new();
    for i in 0..600i64 {
        // Paris most frequent, then Lyon, Nice, Lille, Brest; every 50th without a city.
        let c = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 4][(i % 11) as usize];
        let score = rng.next();
        let truth_bad = rng.next() < score;
        let record = BinaryRecord { label: truth_bad, prediction: score >= 0.5, score };
        let mut features = json!({"age": 30, "member": i % 3 == 0, "note": "x"});
        if i % 50 == 0 {
            missing_city.push(record);
        } else {
            features["city"] = json!(cities[c]);
            by_city[c].push(record);
        }
        by_region[(i % 2) as usize].push(record);
        events.push(json!({"request_id": format!("s{i}"), "timestamp": T0 + i * 1_000, "version": "v1",
            "features": features, "prediction": if score >= 0.5 { "bad" } else { "good" }, "scores": {"bad": score},
            "tags": {"region": if i % 2 == 0 { "eu" } else { "us" }}}));
        labels.push(json!({"request_id": format!("s{i}"), "label": if truth_bad { "bad" } else { "good" }}));
    }
    server.ingest("credit", &events).await.expect_status(200);
    server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": labels })).await.expect_status(200);
    let range = format!("from={T0}&to={}", T0 + 3_600_000);

    // Top three cities on their own; Lille, Brest and the missing ones as "other".
    let r = server.get(&format!("/api/v1/models/credit/performance?{range}&segment=city&segment_top=3")).await;
    r.expect_status(200);
    assert_eq!(r.json["predictions"], json!(600));
    let segments = r.json["segments"].as_array().expect("segments");
    let values: Vec<&Value> = segments.iter().map(|s| &s["value"]).collect();
    assert_eq!(values, [&json!("Paris"), &json!("Lyon"), &json!("Nice"), &Value::Null]);
    assert_eq!(segments[3]["other"], json!(true));
    let other: Vec<BinaryRecord> = by_city[3].iter().chain(&by_city[4]).chain(&missing_city).copied().collect();
    for (segment, records) in segments.iter().zip([&by_city[0], &by_city[1], &by_city[2], &other]) {
        let expected = binary(records, Decision::Logged).expect("metrics");
        assert_eq!(segment["predictions"], json!(records.len()), "{segment}");
        for (name, value) in [("accuracy", expected.accuracy), ("roc_auc", expected.roc_auc), ("f1", expected.f1)] {
            assert_eq!(segment["metrics"][name].as_f64(), value, "{name} of {}", segment["value"]);
        }
    }

    // By tag, in a series: every window is sliced by the same values.
    let r = server.get(&format!("/api/v1/models/credit/performance?{range}&segment=tag:region&step=30m")).await;
    r.expect_status(200);
    let windows = r.json["windows"].as_array().expect("windows");
    let first = windows[0]["segments"].as_array().expect("segments");
    assert_eq!(first[0]["value"], "eu");
    assert_eq!(first[1]["value"], "us");
    assert_eq!(first[2]["predictions"], json!(0), "nothing else: {}", first[2]);
    let eu = binary(&by_region[0], Decision::Logged).expect("metrics");
    assert_eq!(first[0]["metrics"]["roc_auc"].as_f64(), eu.roc_auc);
    assert_eq!(windows[1]["segments"][0]["predictions"], json!(0));

    for (query, field) in [
        ("segment=age", "segment"),
        ("segment=colour", "segment"),
        ("segment=tag:", "segment"),
        ("segment=city&segment_top=0", "segment_top"),
    ] {
        let r = server.get(&format!("/api/v1/models/credit/performance?{range}&{query}")).await;
        let detail = r.expect_problem(400).to_owned();
        assert!(detail.starts_with(field), "{query}: {detail}");
    }
}

#[tokio::test]
async fn performance_gauges_show_the_latest_window() {
    let server =
        TestServer::start_with(|c| c.analysis.drift_gauge_interval = std::time::Duration::from_millis(100)).await;
    server.create_model(&classifier()).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let mut events = Vec::new();
    let mut labels = Vec::new();
    let mut records = Vec::new();
    for i in 0..40i64 {
        let score = (i % 10) as f64 / 10.0;
        let truth_bad = i % 3 == 0;
        events.push(json!({"request_id": format!("g{i}"), "timestamp": now - 60_000 + i, "version": "v1",
            "features": {"age": 30}, "prediction": if score >= 0.5 { "bad" } else { "good" }, "scores": {"bad": score}}));
        // Three in four labelled.
        if i % 4 != 0 {
            labels.push(json!({"request_id": format!("g{i}"), "label": if truth_bad { "bad" } else { "good" }}));
            records.push(BinaryRecord { label: truth_bad, prediction: score >= 0.5, score });
        }
    }
    server.ingest("credit", &events).await.expect_status(200);
    server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": labels })).await.expect_status(200);
    let expected = binary(&records, Decision::Logged).expect("metrics");
    let series = r#"sightline_performance_metric{metric="roc_auc",model="credit",version="v1"}"#;
    let mut gauge = None;
    for _ in 0..100 {
        gauge = server.metric(series).await;
        if gauge == expected.roc_auc {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(gauge, expected.roc_auc);
    let text = server.metrics().await;
    let accuracy = crate::support::metric_value(
        &text,
        r#"sightline_performance_metric{metric="accuracy",model="credit",version="v1"}"#,
    );
    assert_eq!(accuracy, expected.accuracy);
    assert_eq!(
        crate::support::metric_value(&text, r#"sightline_label_coverage{model="credit",version="v1"}"#),
        Some(0.75)
    );
    // Metrics of other tasks have no series.
    assert!(!text.contains(r#"metric="rmse""#), "{text}");
}

#[tokio::test]
async fn a_comparison_too_large_to_bootstrap_is_refused() {
    let server = TestServer::start().await;
    let spec = json!({"name": "price", "task": "regression", "features": [{"name": "size", "type": "numeric"}]});
    server.create_model(&spec).await;
    // 20,002 labelled predictions: times 10,000 resamples is past the 200,000,000 bound.
    for part in 0..2i64 {
        let events: Vec<Value> = (0..10_001i64)
            .map(|i| {
                json!({"request_id": format!("p{part}-{i}"), "timestamp": T0 + i, "version": format!("v{}", part + 1),
                       "features": {"size": i}, "prediction": i as f64})
            })
            .collect();
        for chunk in events.chunks(5_000) {
            server.ingest("price", chunk).await.expect_status(200);
        }
        let labels: Vec<Value> =
            (0..10_001i64).map(|i| json!({"request_id": format!("p{part}-{i}"), "label": i as f64 + 1.0})).collect();
        for chunk in labels.chunks(5_000) {
            server.post_json("/api/v1/models/price/feedback", &json!({ "labels": chunk })).await.expect_status(200);
        }
    }
    let base = format!("/api/v1/models/price/compare?a=v1&b=v2&from={T0}&to={}", T0 + 60_000);
    let r = server.get(&format!("{base}&resamples=10000")).await;
    assert!(r.expect_problem(400).starts_with("resamples: 20002 labelled predictions"), "{}", r.text);
    // Within the bound the same comparison is made: equal errors, no difference.
    let r = server.get(&format!("{base}&resamples=50")).await;
    r.expect_status(200);
    assert_eq!(r.json["delta"].as_f64(), Some(0.0));
    assert_eq!(r.json["verdict"], "no significant difference");
}

#[tokio::test]
async fn multiclass_comparison_equals_the_stats_engine() {
    use sightline_stats::performance::{
        BootstrapOptions, MulticlassRecord, Pairing, Resamples, compare_with, multiclass,
    };
    let server = TestServer::start().await;
    let spec = json!({"name": "iris", "task": "multiclass_classification", "classes": ["a", "b", "c"],
                      "features": [{"name": "x", "type": "numeric"}]});
    server.create_model(&spec).await;
    let mut rng = Rng(99);
    let mut events = Vec::new();
    let mut labels = Vec::new();
    // (label, prediction, probabilities) per version; v2 is right more often.
    let mut rows: [Vec<(usize, usize, Vec<f64>)>; 2] = [Vec::new(), Vec::new()];
    for i in 0..600i64 {
        let version = (i % 2) as usize;
        let truth = (rng.next() * 3.0) as usize % 3;
        let right = rng.next() < if version == 0 { 0.6 } else { 0.8 };
        let predicted = if right { truth } else { (truth + 1 + (rng.next() * 2.0) as usize % 2) % 3 };
        let mut p = vec![0.1, 0.1, 0.1];
        p[predicted] = 0.8;
        let classes = ["a", "b", "c"];
        events.push(json!({"request_id": format!("m{i}"), "timestamp": T0 + i, "version": format!("v{}", version + 1),
            "features": {"x": 1.0}, "prediction": classes[predicted],
            "scores": {"a": p[0], "b": p[1], "c": p[2]}}));
        labels.push(json!({"request_id": format!("m{i}"), "label": classes[truth]}));
        rows[version].push((truth, predicted, p));
    }
    server.ingest("iris", &events).await.expect_status(200);
    server.post_json("/api/v1/models/iris/feedback", &json!({ "labels": labels })).await.expect_status(200);
    let r = server
        .get(&format!(
            "/api/v1/models/iris/compare?a=v1&b=v2&from={T0}&to={}&metric=macro_f1&resamples=300",
            T0 + 1_000
        ))
        .await;
    r.expect_status(200);
    fn records(rows: &[(usize, usize, Vec<f64>)]) -> Vec<MulticlassRecord<'_>> {
        rows.iter().map(|(l, p, probs)| MulticlassRecord { label: *l, prediction: *p, probabilities: probs }).collect()
    }
    let options = BootstrapOptions { confidence: 0.95, resamples: Resamples::Seeded { seed: 7, count: 300 } };
    let expected = compare_with(
        &records(&rows[0]),
        &records(&rows[1]),
        Pairing::Unpaired,
        |r: &[MulticlassRecord<'_>]| multiclass(r, 3).map(|m| m.macro_f1),
        true,
        &options,
    )
    .expect("comparison");
    assert_eq!(r.json["delta"].as_f64(), Some(expected.delta));
    assert_eq!(r.json["interval"]["lower"].as_f64(), Some(expected.lower));
    assert_eq!(r.json["interval"]["upper"].as_f64(), Some(expected.upper));
    assert_eq!(r.json["verdict"], expected.verdict.to_string());
    assert_eq!(r.json["verdict"], "challenger better");
}

#[tokio::test]
async fn an_estimated_metric_monitor_reads_cbpe_before_any_label() {
    let server = TestServer::start_with(|c| c.alerting.tick = std::time::Duration::from_millis(50)).await;
    server.create_model(&classifier()).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let hour = 3_600_000;
    let mut rng = Rng(7);
    // A labelled reference three hours ago; shifted traffic in the last half hour, no labels.
    let (reference, labels) = shifted_traffic(&mut rng, "ref", now - 3 * hour, 3_000, 0.0, 1.0);
    let (current, _) = shifted_traffic(&mut rng, "new", now - hour / 2, 3_000, 0.7, 1.2);
    for chunk in reference.chunks(1_500).chain(current.chunks(1_500)) {
        server.ingest("credit", chunk).await.expect_status(200);
    }
    for chunk in labels.chunks(1_500) {
        server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": chunk })).await.expect_status(200);
    }
    let (ref_from, ref_to) = (now - 3 * hour, now - 2 * hour);
    let monitor = json!({"id": "est", "model": "credit", "version": "v1",
        "signal": {"kind": "performance_metric", "metric": "accuracy", "estimated": true,
                   "reference_from": ref_from, "reference_to": ref_to},
        "condition": {"op": "<", "value": 0.95}, "window": "1h", "interval": "1s", "severity": "low"});
    let r = server.post_json("/api/v1/monitors", &monitor).await;
    r.expect_status(201);
    assert!(r.json["signal"]["reference_from"].is_string(), "{}", r.text);
    let mut alert = Value::Null;
    for _ in 0..100 {
        alert = server.get("/api/v1/alerts?monitor=est").await.json["items"][0].clone();
        if alert["state"] == "firing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(alert["state"], "firing", "{alert}");
    // The sample is the endpoint's estimate for the same window and reference.
    let answer = server
        .get(&format!(
            "/api/v1/models/credit/performance?version=v1&from={}&to={}&reference_from={ref_from}&reference_to={ref_to}",
            now - hour,
            now + 60_000
        ))
        .await;
    let estimated = answer.json["estimated"]["accuracy"].as_f64().expect("an estimate");
    let sampled = alert["value"].as_f64().expect("a value");
    assert!((sampled - estimated).abs() < 1e-9, "monitor {sampled}, endpoint {estimated}");

    // Without a reference, or for a metric CBPE does not estimate: refused, naming the field.
    for (signal, path) in [
        (json!({"kind": "performance_metric", "metric": "accuracy", "estimated": true}), "$.signal.reference_from"),
        (
            json!({"kind": "performance_metric", "metric": "log_loss", "estimated": true,
                   "reference_from": ref_from, "reference_to": ref_to}),
            "$.signal.metric",
        ),
        (
            json!({"kind": "performance_metric", "metric": "accuracy", "estimated": true,
                   "reference_from": "last week", "reference_to": ref_to}),
            "$.signal.reference_from",
        ),
    ] {
        let bad = json!({"id": "bad", "model": "credit", "signal": signal,
            "condition": {"op": "<", "value": 0.5}, "window": "1h", "interval": "1s", "severity": "low"});
        let r = server.post_json("/api/v1/monitors", &bad).await;
        r.expect_problem(422);
        assert!(r.error_paths().contains(&path.to_owned()), "{path}: {}", r.text);
    }
}

/// Three days of traffic up to now, so that a window is read from hour and minute
/// tallies with edges from the events: the answer is the join's, whether the aggregator
/// has flushed the tallies (late labels folded in) or not (everything still pending).
#[tokio::test]
async fn outcome_tallies_answer_as_the_join_flushed_or_not() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let start = now - 3 * 86_400_000;
    for flush in [std::time::Duration::from_millis(50), std::time::Duration::from_secs(3_600)] {
        let server = TestServer::start_with(|c| {
            c.analysis.aggregator.flush_interval = flush;
            c.analysis.aggregator.poll_interval = std::time::Duration::from_millis(20);
        })
        .await;
        server.create_model(&classifier()).await;
        let (mut events, mut early, mut late, mut records, mut delays) = (vec![], vec![], vec![], vec![], vec![]);
        for i in 0..300i64 {
            let ts = start + i * 860_000 + 7_123;
            let score = ((i * 37) % 20) as f64 / 20.0;
            let (predicted_bad, truth_bad) = (score >= 0.5, (i * 11) % 7 < 3);
            events.push(json!({"request_id": format!("r{i}"), "timestamp": ts, "version": "v1",
                "features": {"age": 30}, "prediction": if predicted_bad { "bad" } else { "good" },
                "scores": {"bad": score}}));
            if i % 5 != 0 {
                let delay = 60_000 * (1 + i % 7);
                let label = json!({"request_id": format!("r{i}"), "label": if truth_bad { "bad" } else { "good" },
                    "timestamp": ts + delay});
                if i % 2 == 0 {
                    early.push(label)
                } else {
                    late.push(label)
                }
                records.push(BinaryRecord { label: truth_bad, prediction: predicted_bad, score });
                delays.push(delay);
            }
        }
        events.push(json!({"request_id": "failed", "timestamp": start + 100_000, "version": "v1",
            "features": {"age": 30}, "error": {"type": "Timeout", "message": "too slow"}}));
        server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": early })).await.expect_status(200);
        server.ingest("credit", &events).await;
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": late })).await.expect_status(200);
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;

        let range = format!("from={}&to={}", start + 1, now);
        let r = server.get(&format!("/api/v1/models/credit/performance?{range}&version=v1")).await;
        r.expect_status(200);
        assert_eq!(r.json["predictions"], json!(301), "{}", r.json);
        assert_eq!(r.json["labelled"], json!(records.len()));
        let expected = binary(&records, Decision::Logged).expect("metrics");
        for (name, value) in [
            ("accuracy", expected.accuracy),
            ("roc_auc", expected.roc_auc),
            ("average_precision", expected.average_precision),
            ("log_loss", expected.log_loss),
            ("brier", expected.brier),
            ("expected_calibration_error", expected.expected_calibration_error),
        ] {
            assert_close(r.json["metrics"][name].as_f64(), value, name);
        }
        delays.sort_unstable();
        let median = (delays[(delays.len() - 1) / 2] + delays[delays.len() / 2]) as f64 / 2.0;
        assert_eq!(r.json["label_delay_ms"]["median"].as_f64(), Some(median));
        // Hourly windows add up to the whole, each split by its own timestamps.
        let r = server.get(&format!("/api/v1/models/credit/performance?{range}&step=1h")).await;
        let windows = r.json["windows"].as_array().expect("windows");
        let total: u64 = windows.iter().filter_map(|w| w["predictions"].as_u64()).sum();
        let labelled: u64 = windows.iter().filter_map(|w| w["labelled"].as_u64()).sum();
        assert_eq!((total, labelled), (301, records.len() as u64));
        // One prediction every 860 s: four or five an hour, and the failed call.
        let counts: Vec<u64> = windows.iter().filter_map(|w| w["predictions"].as_u64()).collect();
        assert!(counts.iter().all(|n| *n <= 6), "{counts:?}");
    }
}
