//! `sightline export` with the real binary: a model's labelled predictions downloaded
//! from a running server into a file, and a refused export leaving no file behind.

use crate::support::{PROCESS_TIMEOUT, Server, admin_token, client, post_json, run_to_exit, sightline_command};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn export_writes_the_labelled_predictions_to_a_file() {
    let dir = tempfile::tempdir().expect("a temporary dir");
    let server = Server::start(&dir.path().join("data"));
    let http = client();
    let model = json!({"name": "credit", "task": "binary_classification", "classes": ["good", "bad"], "positive_class": "bad",
        "features": [{"name": "age", "type": "numeric"}, {"name": "city", "type": "categorical"}]});
    let (status, body) = post_json(&http, &server.url("/api/v1/models"), &model).await.expect("create");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let events: Vec<_> = (0..30)
        .map(|i| {
            json!({"request_id": format!("r{i}"), "timestamp": 1_767_225_600_000_i64 + i, "version": "v1",
            "features": {"age": 20 + i, "city": "Paris"}, "prediction": "good"})
        })
        .collect();
    let (status, body) =
        post_json(&http, &server.url("/api/v1/models/credit/predictions"), &json!({ "events": events }))
            .await
            .expect("ingest");
    assert_eq!(status, StatusCode::OK, "{body}");
    let labels: Vec<_> = (0..20).map(|i| json!({"request_id": format!("r{i}"), "label": "bad"})).collect();
    let (status, body) = post_json(&http, &server.url("/api/v1/models/credit/feedback"), &json!({ "labels": labels }))
        .await
        .expect("labels");
    assert_eq!(status, StatusCode::OK, "{body}");

    let out_file = dir.path().join("train.csv");
    let mut cmd = sightline_command();
    cmd.args(["export", "credit", "--server", &server.url(""), "--token", admin_token(), "--output"]).arg(&out_file);
    let out = run_to_exit(cmd, None, PROCESS_TIMEOUT);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&out_file).expect("the export file");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("request_id,timestamp,version,age,city,prediction,score:good,score:bad,label,label_timestamp")
    );
    assert_eq!(lines.count(), 20, "the labelled predictions only");

    // A refused export says why and leaves no file.
    let refused = dir.path().join("none.csv");
    let mut cmd = sightline_command();
    cmd.args([
        "export",
        "credit",
        "--version",
        "v9",
        "--server",
        &server.url(""),
        "--token",
        admin_token(),
        "--output",
    ])
    .arg(&refused);
    let out = run_to_exit(cmd, None, PROCESS_TIMEOUT);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HTTP 404") && stderr.contains("version"), "{stderr}");
    assert!(!refused.exists());
}
