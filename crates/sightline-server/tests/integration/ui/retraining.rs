//! The retraining page on a model of its own beside the demo's: its policy in words,
//! the trigger it recorded with its reasons and delivery, and the training-data link,
//! which downloads the window's predictions with the browser's session.

use super::Demo;
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

impl Demo {
    /// A JSON call with the demo's editor token; the answer's status and document.
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .request(method, self.url(path))
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("an answer");
        let status = r.status();
        (status, serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retraining_page_shows_policies_triggers_and_their_training_data() {
    let d = Demo::start().await;
    let (cookies, _) = d.sign_in().await;
    let model = json!({"name": "churn", "task": "binary_classification", "classes": ["no", "yes"],
        "positive_class": "yes", "features": [{"name": "age", "type": "numeric"}]});
    assert_eq!(d.call(reqwest::Method::POST, "/api/v1/models", model).await.0, StatusCode::CREATED);

    // Before any policy: the page says how to make one.
    let (status, page, _) = d.get("/ui/models/churn/retraining", &cookies).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("No retraining policies") && page.contains("No triggers yet."), "{page}");

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock").as_millis() as i64;
    let events: Vec<Value> = (0..10)
        .map(|i| {
            json!({"request_id": format!("c{i}"), "timestamp": now - 20_000 + i, "version": "v1",
                        "features": {"age": 30 + i}, "prediction": "no", "scores": {"yes": 0.2}})
        })
        .collect();
    let (status, body) =
        d.call(reqwest::Method::POST, "/api/v1/models/churn/predictions", json!({ "events": events })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let labels: Vec<Value> = (0..4).map(|i| json!({"request_id": format!("c{i}"), "label": "yes"})).collect();
    let (status, body) =
        d.call(reqwest::Method::POST, "/api/v1/models/churn/feedback", json!({ "labels": labels })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let policy = json!({"conditions": [{"kind": "label_coverage_below", "threshold": 0.5},
                                       {"kind": "metric_below", "metric": "accuracy", "threshold": 0.9}],
                        "window": "10m", "interval": "2h", "cooldown": "1d"});
    let path = "/api/v1/models/churn/retraining-policies/coverage";
    assert_eq!(d.call(reqwest::Method::PUT, path, policy).await.0, StatusCode::CREATED);
    let (status, evaluation) = d.call(reqwest::Method::POST, &format!("{path}/evaluate"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{evaluation}");
    assert_eq!(evaluation["fired"], true, "{evaluation}");

    let (status, page, _) = d.get("/ui/models/churn/retraining", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    // The policy in words, with its schedule.
    assert!(page.contains("any of: label coverage below 0.5; accuracy below 0.9"), "{page}");
    assert!(page.contains("<td>10m</td><td>2h</td><td>1d</td>"), "{page}");
    // The trigger: why, recorded without a channel, and its training data.
    assert!(page.contains("label coverage 0.4 is below 0.5"), "{page}");
    assert!(page.contains("accuracy 0 is below 0.9"), "{page}");
    assert!(page.contains("no channel: recorded only"), "{page}");
    let start = page.find("href=\"/api/v1/models/churn/export?").expect("the training-data link");
    let link = page[start + 6..].split('"').next().expect("a quoted link").replace("&amp;", "&");
    let (status, csv, _) = d.get(&link, &cookies).await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert_eq!(csv.lines().count(), 5, "a header and the 4 labelled predictions: {csv}");

    // Another model's page is not this one's; an unknown model is a 404 page.
    let (status, page, _) = d.get("/ui/models/credit-risk/retraining", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("coverage"), "{page}");
    assert_eq!(d.get("/ui/models/nope/retraining", &cookies).await.0, StatusCode::NOT_FOUND);
    d.stop().await;
}
