//! `sightline export` with the real binary: a model's labelled predictions downloaded
//! from a running server into a file, a refused export leaving no file behind, and an
//! export over HTTPS from a server whose certificate a private CA signed.

use crate::pki::Pki;
use crate::support::{
    PROCESS_TIMEOUT, Server, admin_token, client, post_json, run_to_exit, serve_args, sightline_command,
};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_reaches_an_https_server_through_a_private_ca() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("a temporary dir");
    let mut cmd = sightline_command();
    cmd.args(serve_args(&dir.path().join("data"))).arg("--tls-cert").arg(&pki.cert).arg("--tls-key").arg(&pki.key);
    let server = Server::spawn(cmd);
    server.log.wait_for_json(Duration::ZERO, |v| v["message"] == "listening").expect("a \"listening\" line");
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    let https = pki.client();
    let post = |path: &str, body: serde_json::Value| {
        https
            .post(format!("{base}{path}"))
            .bearer_auth(admin_token())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let model = json!({"name": "credit", "task": "regression", "features": [{"name": "age", "type": "numeric"}]});
    assert_eq!(post("/api/v1/models", model).await.expect("create").status(), StatusCode::CREATED);
    let events: Vec<_> = (0..5)
        .map(|i| {
            json!({"request_id": format!("r{i}"), "timestamp": 1_767_225_600_000_i64 + i, "version": "v1",
                        "features": {"age": 20 + i}, "prediction": 1.5})
        })
        .collect();
    let r = post("/api/v1/models/credit/predictions", json!({ "events": events })).await.expect("ingest");
    assert_eq!(r.status(), StatusCode::OK);
    let labels: Vec<_> = (0..5).map(|i| json!({"request_id": format!("r{i}"), "label": 2.0})).collect();
    let r = post("/api/v1/models/credit/feedback", json!({ "labels": labels })).await.expect("labels");
    assert_eq!(r.status(), StatusCode::OK);

    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("writing the CA");
    let export = |extra: &[&std::ffi::OsStr]| {
        let mut cmd = sightline_command();
        cmd.args(["export", "credit", "--format", "ndjson", "--server", &base, "--token", admin_token()]).args(extra);
        run_to_exit(cmd, None, PROCESS_TIMEOUT)
    };
    let out = export(&["--ca-cert".as_ref(), ca.as_os_str()]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("an NDJSON row")).collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(rows.iter().all(|r| r["label"] == 2.0), "{rows:?}");

    // Without the CA the certificate is not trusted, and the error says where it went wrong.
    let out = export(&[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach") && stderr.contains("certificate"), "{stderr}");
    // A file that is not a certificate is named.
    let out = export(&["--ca-cert".as_ref(), pki.key.as_os_str()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca-cert"), "{}", String::from_utf8_lossy(&out.stderr));
}
