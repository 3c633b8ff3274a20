//! Retraining policies end to end: a policy over a realized metric fires when accuracy
//! drops, records a trigger, and a local receiver gets the signed webhook with the export
//! path, which serves the window's training data; the cooldown holds the next one back.
//! A receiver that is down gets the trigger again with backoff, across a restart.

use crate::alerting::{SECRET, receiver, receiver_answering, wait_until};
use crate::support::{TestServer, credit_model};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock after 1970").as_millis() as i64
}

/// 40 labelled predictions of the last minute; `right` of them correct.
async fn traffic(server: &TestServer, prefix: &str, right: usize) {
    let now = now_ms();
    let events: Vec<Value> = (0..40)
        .map(|i| {
            json!({"request_id": format!("{prefix}{i}"), "timestamp": now - 30_000 + i, "version": "v1",
                "features": {"age": 30, "city": "Paris", "member": true, "note": "x"},
                "prediction": "good", "scores": {"bad": 0.2}})
        })
        .collect();
    server.ingest("credit", &events).await.expect_status(200);
    let labels: Vec<Value> = (0..40)
        .map(|i| json!({"request_id": format!("{prefix}{i}"), "label": if i < right { "good" } else { "bad" }}))
        .collect();
    server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": labels })).await.expect_status(200);
}

async fn put(server: &TestServer, path: &str, body: &Value) -> crate::support::Reply {
    let bytes = serde_json::to_vec(body).expect("JSON");
    server.request(Method::PUT, path, &[("content-type", "application/json")], Some(bytes)).await
}

#[tokio::test]
async fn a_policy_fires_a_signed_trigger_with_the_export_path() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;
    let (url, got) = receiver().await;
    let channel = json!({ "name": "pipeline", "kind": "webhook", "config": { "url": url, "secret": SECRET } });
    let r = server.post_json("/api/v1/channels", &channel).await;
    r.expect_status(201);
    let channel_id = r.json["id"].as_i64().expect("channel id");

    let policy = json!({"conditions": [{"kind": "metric_below", "metric": "accuracy", "threshold": 0.8},
                                        {"kind": "label_coverage_below", "threshold": 0.5}],
                        "window": "10m", "interval": "1h", "cooldown": "1d", "channel": channel_id});
    let path = "/api/v1/models/credit/retraining-policies/accuracy-drop";
    let r = put(&server, path, &policy).await;
    r.expect_status(201);
    assert_eq!(r.json["window"], "10m");
    assert_eq!(r.json["match"], "any");
    assert_eq!(r.json["last_fired_at"], Value::Null);
    assert_eq!(put(&server, path, &policy).await.status, 200, "a second PUT replaces");

    // Healthy traffic: nothing fires.
    traffic(&server, "ok", 38).await;
    let r = server.post_json(&format!("{path}/evaluate"), &json!({})).await;
    r.expect_status(200);
    assert_eq!(r.json["fired"], json!(false), "{}", r.json);
    assert_eq!(r.json["conditions"][0]["value"].as_f64(), Some(0.95));
    assert_eq!(r.json["conditions"][1]["value"].as_f64(), Some(1.0));

    // Accuracy drops to (38 + 10) / 80 = 0.6 over the window: the policy fires.
    traffic(&server, "bad", 10).await;
    let r = server.post_json(&format!("{path}/evaluate"), &json!({})).await;
    r.expect_status(200);
    assert_eq!(r.json["fired"], json!(true), "{}", r.json);
    assert_eq!(r.json["conditions"][0]["holds"], json!(true));
    assert_eq!(r.json["conditions"][1]["holds"], json!(false));
    let trigger = &r.json["trigger"];
    assert_eq!(trigger["delivery"], "delivered", "{trigger}");
    assert_eq!(trigger["reasons"], json!(["accuracy 0.6 is below 0.8"]));
    let export_path = trigger["export_path"].as_str().expect("export path").to_owned();
    assert!(export_path.starts_with("/api/v1/models/credit/export?from="), "{export_path}");
    assert_eq!(trigger["export_url"], Value::Null, "no public URL configured");

    // The receiver got the same trigger, signed.
    let received = got.lock().expect("lock").clone();
    assert_eq!(received.len(), 1);
    let (body, signature) = &received[0];
    assert_eq!(signature, &Ok(()), "the signature checks out");
    assert_eq!(body["kind"], "retraining_trigger");
    assert_eq!(body["policy"], "accuracy-drop");
    assert_eq!(body["export_path"], json!(export_path));
    // The export path serves the window's labelled predictions.
    let export = server.get(&export_path).await;
    export.expect_status(200);
    assert_eq!(export.text.lines().count(), 81, "a header and 80 labelled predictions");

    // Within the cooldown nothing fires again; the trigger is listed.
    let r = server.post_json(&format!("{path}/evaluate"), &json!({})).await;
    assert_eq!(r.json["fired"], json!(false));
    let triggers = server.get("/api/v1/models/credit/retraining-triggers").await;
    triggers.expect_status(200);
    assert_eq!(triggers.json["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(triggers.json["items"][0]["export_path"], json!(export_path));
    let listed = server.get("/api/v1/models/credit/retraining-policies").await;
    assert!(listed.json["items"][0]["last_fired_at"].is_string(), "{}", listed.json);

    // Bad policies name the field.
    for (body, field) in [
        (json!({"conditions": []}), "$.conditions"),
        (json!({"conditions": [{"kind": "metric_below", "metric": "rmse", "threshold": 1}]}), "$.conditions[0].metric"),
        (json!({"conditions": [{"kind": "drift", "features": 1, "windows": 3}], "interval": "10s"}), "$.interval"),
        (json!({"conditions": [{"kind": "label_coverage_below", "threshold": 0.5}], "channel": 9999}), "$.channel"),
    ] {
        let r = put(&server, "/api/v1/models/credit/retraining-policies/bad", &body).await;
        r.expect_problem(422);
        assert_eq!(r.error_paths(), [field], "{body}");
    }
    let r = server.request(Method::DELETE, path, &[], None).await;
    assert_eq!(r.status, 204);
    server.get(path).await.expect_problem(404);
}

#[tokio::test]
async fn an_estimated_metric_policy_fires_before_labels_arrive() {
    let server = TestServer::start().await;
    server.create_model(&credit_model("credit")).await;
    let now = now_ms();
    let reference_start = now - 7_200_000;
    // Two hours ago: confident scores, labelled, all right. Now: hesitant scores, no labels.
    let mut events = Vec::new();
    let mut labels = Vec::new();
    for i in 0..200i64 {
        let bad = i % 2 == 0;
        events.push(json!({"request_id": format!("ref{i}"), "timestamp": reference_start + i, "version": "v1",
            "features": {"age": 30, "city": "Paris", "member": true, "note": "x"},
            "prediction": if bad { "bad" } else { "good" }, "scores": {"bad": if bad { 0.9 } else { 0.1 }}}));
        labels.push(json!({"request_id": format!("ref{i}"), "label": if bad { "bad" } else { "good" }}));
        events.push(json!({"request_id": format!("new{i}"), "timestamp": now - 60_000 + i, "version": "v1",
            "features": {"age": 30, "city": "Paris", "member": true, "note": "x"},
            "prediction": if bad { "bad" } else { "good" }, "scores": {"bad": if bad { 0.55 } else { 0.45 }}}));
    }
    server.ingest("credit", &events).await.expect_status(200);
    server.post_json("/api/v1/models/credit/feedback", &json!({ "labels": labels })).await.expect_status(200);

    let policy = json!({"conditions": [{"kind": "estimated_metric_below", "metric": "accuracy", "threshold": 0.8,
        "reference_from": reference_start, "reference_to": reference_start + 60_000}], "window": "10m"});
    let path = "/api/v1/models/credit/retraining-policies/estimated";
    let r = put(&server, path, &policy).await;
    r.expect_status(201);
    // Timestamps come back in RFC 3339.
    assert!(r.json["conditions"][0]["reference_from"].as_str().is_some_and(|t| t.ends_with('Z')), "{}", r.json);
    let r = server.post_json(&format!("{path}/evaluate"), &json!({})).await;
    r.expect_status(200);
    // An uncalibrated reference (its AUC is 1): each score is its own probability, 0.55 right.
    let estimated = r.json["conditions"][0]["value"].as_f64().expect("an estimate");
    assert!((estimated - 0.55).abs() < 1e-12, "{estimated}");
    assert_eq!(r.json["fired"], json!(true), "{}", r.json);
    assert_eq!(r.json["trigger"]["reasons"], json!([format!("estimated accuracy {estimated} is below 0.8")]));

    for (body, field) in [
        (
            json!({"conditions": [{"kind": "estimated_metric_below", "metric": "log_loss", "threshold": 1,
            "reference_from": 0, "reference_to": 1}]}),
            "$.conditions[0].metric",
        ),
        (
            json!({"conditions": [{"kind": "estimated_metric_below", "metric": "f1", "threshold": 1,
            "reference_from": 0}]}),
            "$.conditions[0].reference_to",
        ),
        (
            json!({"conditions": [{"kind": "estimated_metric_below", "metric": "f1", "threshold": 1,
            "reference_from": 5, "reference_to": 1}]}),
            "$.conditions[0].reference_from",
        ),
    ] {
        let r = put(&server, "/api/v1/models/credit/retraining-policies/bad", &body).await;
        r.expect_problem(422);
        assert_eq!(r.error_paths(), [field], "{body}");
    }
}

/// Retries of `max_attempts` attempts, `base_ms` apart at first.
fn retries(config: &mut sightline_server::ServerConfig, max_attempts: u32, base_ms: u64) {
    config.alerting.retry.max_attempts = max_attempts;
    config.alerting.retry.base_delay = Duration::from_millis(base_ms);
    config.alerting.retry.max_delay = Duration::from_millis(base_ms * 4);
    config.public_url = Some("https://sightline.example.com/ml/".into());
}

/// The trigger of policy `policy`'s latest firing, as listed.
async fn listed_trigger(server: &TestServer, policy: &str) -> Value {
    let r = server.get("/api/v1/models/credit/retraining-triggers").await;
    r.expect_status(200);
    r.json["items"]
        .as_array()
        .and_then(|items| items.iter().find(|t| t["policy"] == policy).cloned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_trigger_is_retried_with_backoff_until_delivered_even_across_a_restart() {
    let server = TestServer::start_with(|c| retries(c, 3, 50)).await;
    server.create_model(&credit_model("credit")).await;
    let answer = Arc::new(AtomicU16::new(503));
    let (url, got) = receiver_answering(answer.clone()).await;
    let channel = json!({ "name": "pipeline", "kind": "webhook", "config": { "url": url, "secret": SECRET } });
    let r = server.post_json("/api/v1/channels", &channel).await;
    r.expect_status(201);
    let channel_id = r.json["id"].as_i64().expect("channel id");
    traffic(&server, "bad", 10).await;
    let policy = |id: &str| {
        (
            format!("/api/v1/models/credit/retraining-policies/{id}"),
            json!({"conditions": [{"kind": "metric_below", "metric": "accuracy", "threshold": 0.8}],
                   "window": "10m", "cooldown": "1d", "channel": channel_id}),
        )
    };

    // A receiver that answers 503: three attempts, then the trigger says it gave up.
    let (path, body) = policy("down");
    put(&server, &path, &body).await.expect_status(201);
    let r = server.post_json(&format!("{path}/evaluate"), &json!({})).await;
    r.expect_status(200);
    let delivery = r.json["trigger"]["delivery"].as_str().unwrap_or_default().to_owned();
    assert!(delivery.starts_with("retrying: attempt 1 of 3 failed: HTTP 503"), "{delivery}");
    wait_until("the trigger to be given up", Duration::from_secs(10), || async {
        listed_trigger(&server, "down").await["delivery"].as_str().is_some_and(|d| d.starts_with("failed:"))
    })
    .await;
    let trigger = listed_trigger(&server, "down").await;
    assert!(trigger["delivery"].as_str().is_some_and(|d| d.starts_with("failed: gave up after 3 attempts: HTTP 503")));
    assert_eq!(got.lock().expect("lock").len(), 3, "three attempts");
    assert!(got.lock().expect("lock").iter().all(|(_, signed)| signed.is_ok()), "each attempt signed afresh");
    // Every attempt is in the channel's delivery log.
    let r = server.get(&format!("/api/v1/channels/{channel_id}")).await;
    let attempts: Vec<(i64, String, String)> = r.json["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            let text = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            (d["attempt"].as_i64().unwrap_or(0), text("status"), text("kind"))
        })
        .collect();
    for (attempt, status) in [(1, "failed"), (2, "failed"), (3, "gave_up")] {
        assert!(attempts.contains(&(attempt, status.into(), "retraining_trigger".into())), "{attempts:?}");
    }
    // ...and counted on /metrics.
    let series = |status: &str| {
        format!(
            r#"sightline_notification_attempts_total{{channel_kind="webhook",purpose="retraining_trigger",status="{status}"}}"#
        )
    };
    assert_eq!(server.metric(&series("failed")).await, Some(2.0));
    assert_eq!(server.metric(&series("gave_up")).await, Some(1.0));

    // Slow retries: the server stops while the trigger still waits for its second attempt...
    let server = server.restart_with(|c| retries(c, 5, 60_000)).await;
    let (path, body) = policy("later");
    put(&server, &path, &body).await.expect_status(201);
    let r = server.post_json(&format!("{path}/evaluate"), &json!({})).await;
    assert!(
        r.json["trigger"]["delivery"].as_str().is_some_and(|d| d.starts_with("retrying: attempt 1 of 5")),
        "{}",
        r.json
    );
    let export_path = r.json["trigger"]["export_path"].as_str().expect("export path").to_owned();
    assert_eq!(r.json["trigger"]["export_url"], json!(format!("https://sightline.example.com/ml{export_path}")));
    // ...and once it is back, with the receiver up again, the next start delivers it.
    answer.store(200, Ordering::SeqCst);
    let server = server.restart_with(|c| retries(c, 5, 50)).await;
    wait_until("the trigger to be delivered after the restart", Duration::from_secs(10), || async {
        listed_trigger(&server, "later").await["delivery"] == "delivered"
    })
    .await;
    let received = got.lock().expect("lock").clone();
    let (last, signed) = received.last().expect("a delivery");
    assert_eq!(signed, &Ok(()));
    assert_eq!(last["policy"], "later");
    assert_eq!(last["export_url"], json!(format!("https://sightline.example.com/ml{export_path}")));
    assert_eq!(received.iter().filter(|(b, _)| b["policy"] == "later").count(), 2, "one failed, one delivered");
}
