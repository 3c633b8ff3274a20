//! Key rotation with the real binary: `sightline admin rotate-key` while clients stream
//! batches, then the old key removed from the file and the server restarted; and a
//! SIGKILL in the middle of a re-encryption pass. Every acknowledged event stays
//! readable throughout, and the database holds no plaintext feature value or tag.

use crate::support::{
    PROCESS_TIMEOUT, Server, admin_token, all_request_ids, client, distinct, get_json, post_json, run_to_exit,
    serve_args, sightline_command,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const MODEL: &str = "rotating";
/// A category and a tag value that must never appear in the database files as such.
const SECRET_PLAN: &str = "plan-Quagga-5e8a";
const SECRET_TAG: &str = "owner-Okapi-77c1";

async fn create_model(http: &reqwest::Client, server: &Server) {
    let doc = json!({
        "name": MODEL, "task": "binary_classification", "classes": ["no", "yes"], "positive_class": "yes",
        "features": [{"name": "age", "type": "numeric"}, {"name": "plan", "type": "categorical"}],
    });
    let (status, body) = post_json(http, &server.url("/api/v1/models"), &doc).await.expect("create the model");
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn batch(ids: &[String]) -> Value {
    let events: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({
                "request_id": id, "version": "v1",
                "features": {"age": 20 + i % 50, "plan": SECRET_PLAN},
                "prediction": "yes", "tags": {"owner": SECRET_TAG},
            })
        })
        .collect();
    json!({ "events": events })
}

/// Posts batches of `per_batch` events named `{prefix}-{n}-{i}` until `stop` is set or
/// `max_batches` were sent; returns the acknowledged request ids.
async fn stream(
    http: reqwest::Client,
    url: String,
    prefix: String,
    per_batch: usize,
    max_batches: usize,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let mut acked = Vec::new();
    for n in 0..max_batches {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let ids: Vec<String> = (0..per_batch).map(|i| format!("{prefix}-{n}-{i}")).collect();
        let (status, body) = post_json(&http, &url, &batch(&ids)).await.expect("the server answers");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["accepted"].as_u64(), Some(per_batch as u64), "{body}");
        acked.extend(ids);
    }
    acked
}

fn rotate_key(data_dir: &Path, server: &Server, extra: &[&str]) -> std::process::Output {
    let mut cmd = sightline_command();
    cmd.args(["admin", "rotate-key", "--server", &server.url(""), "--token", admin_token()])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra);
    run_to_exit(cmd, None, PROCESS_TIMEOUT * 4)
}

fn key_status_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "rotate-key printed no status ({e}); stdout: {} stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Keeps only the last key of `<data dir>/master.key`.
fn remove_old_keys(data_dir: &Path) {
    let path = data_dir.join("master.key");
    let text = std::fs::read_to_string(&path).expect("read master.key");
    let last = text.lines().rfind(|l| !l.starts_with('#') && !l.trim().is_empty()).expect("a key line");
    std::fs::write(&path, format!("{last}\n")).expect("rewrite master.key");
}

/// No file of the data directory holds a feature value or tag in the clear.
fn assert_no_plaintext(data_dir: &Path) {
    for entry in std::fs::read_dir(data_dir).expect("list the data dir") {
        let path = entry.expect("an entry").path();
        let bytes = std::fs::read(&path).expect("read a data file");
        for needle in [SECRET_PLAN, SECRET_TAG] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in the clear in {}",
                path.display()
            );
        }
    }
}

/// Every acknowledged id is stored once and reads back with its values.
async fn assert_all_readable(http: &reqwest::Client, server: &Server, acked: &HashSet<String>) {
    let stored = distinct(&all_request_ids(http, server, MODEL).await);
    let lost: Vec<&String> = acked.difference(&stored).take(10).collect();
    assert!(lost.is_empty(), "{} acknowledged events missing: {lost:?}", acked.difference(&stored).count());
    // Listing decrypts every row; spot-check the values of a few.
    for id in acked.iter().take(20) {
        let (status, doc) = get_json(http, &server.url(&format!("/api/v1/models/{MODEL}/predictions/{id}"))).await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        assert_eq!(
            (doc["features"]["plan"].clone(), doc["tags"]["owner"].clone()),
            (json!(SECRET_PLAN), json!(SECRET_TAG))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotate_key_under_concurrent_ingest_then_drop_the_old_key() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("a temporary data dir");
    let server = Server::start(dir.path());
    let http = client();
    create_model(&http, &server).await;
    let url = server.url(&format!("/api/v1/models/{MODEL}/predictions"));
    let history = stream(http.clone(), url.clone(), "old".into(), 500, 20, Arc::new(AtomicBool::new(false))).await;

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|c| tokio::spawn(stream(http.clone(), url.clone(), format!("live{c}"), 20, 2_000, stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let data_dir = dir.path().to_owned();
    let rotated = {
        let server_url = server.url("");
        let data_dir = data_dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut cmd = sightline_command();
            cmd.args(["admin", "rotate-key", "--server", &server_url, "--token", admin_token()])
                .arg("--data-dir")
                .arg(&data_dir);
            run_to_exit(cmd, None, PROCESS_TIMEOUT * 4)
        })
        .await
        .expect("the rotate-key thread")
    };
    // Keep streaming a little after the rotation, then stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let mut acked: HashSet<String> = history.into_iter().collect();
    for c in clients {
        acked.extend(c.await.expect("a client task"));
    }
    assert!(rotated.status.success(), "rotate-key failed: {}", String::from_utf8_lossy(&rotated.stderr));
    let status = key_status_of(&rotated);
    assert_eq!(
        (status["active_key_id"].clone(), status["reencryption"]["state"].clone()),
        (json!(2), json!("finished"))
    );
    assert_eq!(
        (status["removable_key_ids"].clone(), status["reencryption"]["rows_failed"].clone()),
        (json!([1]), json!(0))
    );
    assert_all_readable(&http, &server, &acked).await;

    // Old key out, restart: every event still opens.
    let mut server = server;
    server.terminate();
    assert!(server.wait_exit(PROCESS_TIMEOUT).success());
    remove_old_keys(&data_dir);
    assert_no_plaintext(&data_dir);
    let server = Server::start(&data_dir);
    let http = client();
    assert_all_readable(&http, &server, &acked).await;
    let (_, keys) = get_json(&http, &server.url("/api/v1/admin/keys")).await;
    assert_eq!(keys["key_ids"], json!([2]), "{keys}");
    eprintln!("key rotation: {} events, {:.1?}", acked.len(), started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_reencryption_leaves_everything_readable_and_the_pass_resumes() {
    let dir = tempfile::tempdir().expect("a temporary data dir");
    let server = Server::start(dir.path());
    let http = client();
    create_model(&http, &server).await;
    let url = server.url(&format!("/api/v1/models/{MODEL}/predictions"));
    let acked: HashSet<String> = stream(http.clone(), url, "pre".into(), 1_000, 40, Arc::new(AtomicBool::new(false)))
        .await
        .into_iter()
        .collect();
    let out = rotate_key(dir.path(), &server, &["--no-wait"]);
    assert!(out.status.success(), "rotate-key failed: {}", String::from_utf8_lossy(&out.stderr));
    // Kill while the pass runs (or right after it, if it was quicker).
    server.kill();

    let server = Server::start(dir.path());
    let http = client();
    assert_all_readable(&http, &server, &acked).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, keys) = get_json(&http, &server.url("/api/v1/admin/keys")).await;
        if keys["reencryption"]["state"] == "finished" {
            assert_eq!((keys["reencryption"]["key_id"].clone(), keys["active_key_id"].clone()), (json!(2), json!(2)));
            break;
        }
        assert!(Instant::now() < deadline, "the pass did not finish after the restart: {keys}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
    // The pass finished under key 2: key 1 can go.
    remove_old_keys(dir.path());
    let mut cmd = sightline_command();
    cmd.args(serve_args(dir.path()));
    let server = Server::spawn(cmd);
    assert_all_readable(&client(), &server, &acked).await;
}

#[test]
fn serve_refuses_a_key_file_open_to_others_or_with_a_short_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temporary dir");
    let keys = dir.path().join("keys");
    // 31 bytes of key on line 2.
    std::fs::write(&keys, format!("# keys\n1 {}QQ==\n", "QUFB".repeat(10))).expect("write the key file");
    for (mode, want) in [(0o644, "chmod 600"), (0o600, "line 2: the key is 31 bytes long")] {
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let mut cmd = sightline_command();
        cmd.args(serve_args(&dir.path().join("data"))).arg("--master-key-file").arg(&keys);
        let out = run_to_exit(cmd, None, PROCESS_TIMEOUT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "serve started with a mode {mode:o} key file");
        assert!(stderr.contains(want) && stderr.contains("master key"), "mode {mode:o}: {stderr}");
    }
}
