//! `sightline serve` configuration as a user meets it: a strict config file, the
//! `SIGHTLINE_*` environment variables, flags over variables, and JSON logs that carry
//! the request id.

use crate::support::{PROCESS_TIMEOUT, Server, batch, client, free_port, get_text, run_to_exit, sightline_command};
use reqwest::StatusCode;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn an_unknown_config_file_key_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("creating a temporary dir");
    let data = dir.path().join("data");
    let file = dir.path().join("sightline.toml");
    std::fs::write(
        &file,
        format!("listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nlissten = \"127.0.0.1:0\"\n", data.display().to_string()),
    )
    .expect("writing the config file");
    let mut cmd = sightline_command();
    cmd.args(["serve", "--log-format", "json", "--config"]).arg(&file);
    let out = run_to_exit(cmd, None, PROCESS_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "serve with an unknown key exited with {}; stdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stderr.contains("lissten"), "the error does not name the unknown key; stderr:\n{stderr}");
    assert!(!stdout.contains("listening"), "the server started anyway:\n{stdout}");
    assert!(!data.exists(), "the data dir was created despite the error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sightline_environment_variables_are_honoured() {
    let dir = tempfile::tempdir().expect("creating a temporary dir");
    let data = dir.path().join("from-env");
    let port = free_port();
    let mut cmd = sightline_command();
    cmd.arg("serve")
        .env("SIGHTLINE_LISTEN", format!("127.0.0.1:{port}"))
        .env("SIGHTLINE_DATA_DIR", &data)
        // Server::spawn finds the address in the JSON "listening" line, so this is
        // honoured too or the start fails.
        .env("SIGHTLINE_LOG_FORMAT", "json");
    let server = Server::spawn(cmd);
    assert_eq!(server.addr, SocketAddr::from(([127, 0, 0, 1], port)));
    let (status, body) = get_text(&client(), &server.url("/healthz")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
    assert!(data.join("sightline.db").is_file(), "no database in the SIGHTLINE_DATA_DIR");
    let starting =
        server.log.wait_for_json(Duration::ZERO, |v| v["message"] == "starting").expect("a \"starting\" log line");
    assert_eq!(starting["data_dir"], Value::from(data.display().to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_beats_its_environment_variable() {
    let dir = tempfile::tempdir().expect("creating a temporary dir");
    let env_data = dir.path().join("from-env");
    let flag_data = dir.path().join("from-flag");
    // The variable names a port that is taken: a server that obeyed it could not start.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    let taken_addr = taken.local_addr().expect("the bound address");
    let mut cmd = sightline_command();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--data-dir"])
        .arg(&flag_data)
        .env("SIGHTLINE_LISTEN", taken_addr.to_string())
        .env("SIGHTLINE_DATA_DIR", &env_data)
        .env("SIGHTLINE_LOG_FORMAT", "pretty");
    let server = Server::spawn(cmd);
    assert_ne!(server.addr, taken_addr);
    assert!(server.addr.ip().is_loopback());
    let (status, _) = get_text(&client(), &server.url("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(flag_data.join("sightline.db").is_file(), "no database in the --data-dir");
    assert!(!env_data.exists(), "SIGHTLINE_DATA_DIR was used despite --data-dir");
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_of_a_refused_request() {
    let dir = tempfile::tempdir().expect("creating a temporary data dir");
    let server = Server::start(dir.path());
    let ids = vec!["p-1".to_owned()];
    let response = client()
        .post(server.url("/api/v1/models/no-such-model/predictions"))
        .header("content-type", "application/json")
        .header("x-request-id", "abc123")
        .body(serde_json::to_vec(&batch(&ids, "v1")).expect("serialising a batch"))
        .send()
        .await
        .expect("posting to an unknown model");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers().get("x-request-id").and_then(|v| v.to_str().ok()),
        Some("abc123"),
        "the response echoes the request id"
    );
    let problem: Value =
        serde_json::from_slice(&response.bytes().await.expect("reading the body")).expect("a JSON problem document");
    assert_eq!(problem["code"], "model_not_found", "{problem}");

    // tracing's JSON layout: the request span's fields (request_id, method, path) are
    // in the line's "span" object, the event's own fields at the top level.
    let refused = server
        .log
        .wait_for_json(Duration::from_secs(10), |v| {
            v["message"] == "request refused" && v["span"]["request_id"] == "abc123"
        })
        .unwrap_or_else(|| {
            panic!(
                "no \"request refused\" log line with request_id abc123; the log:\n{}",
                server.log.lines().join("\n")
            )
        });
    assert_eq!(refused["level"], "INFO", "{refused}");
    assert_eq!(refused["status"], 404, "{refused}");
    assert_eq!(refused["code"], "model_not_found", "{refused}");
    for line in server.log.lines() {
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        assert!(
            v.is_object() && v["timestamp"].is_string() && v["level"].is_string(),
            "a log line without timestamp and level: {line}"
        );
    }
}
