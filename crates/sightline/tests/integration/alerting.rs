//! The alerting end to end with the real binary and Debian's `prometheus-alertmanager`:
//! simulated traffic with a latency spike makes a monitor pending, then firing after
//! its `for`; a local receiver gets a correctly signed webhook; Alertmanager's own API
//! shows the alert; an incident opens; traffic recovers; the alert resolves, the
//! resolved notification arrives, Alertmanager ends the alert, and the incident's
//! timeline shows all of it.

use crate::support::{ChildGuard, Server, client, create_model, external_tool, free_port, get_json, post_json};
use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "e2e-webhook-secret-0123456789";
const MONITOR: &str = "credit-p90";

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock after 1970").as_secs() as i64
}

type Received = Arc<Mutex<Vec<(Value, bool)>>>;

/// HMAC-SHA256 under the secret of `<timestamp>.<body>`, timestamp fresh.
fn signed(headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (Some(ts), Some(sig)) = (header("x-sightline-timestamp"), header("x-sightline-signature")) else {
        return false;
    };
    let Ok(t) = ts.parse::<i64>() else { return false };
    if (now_s() - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("an HMAC key");
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    sig == format!("sha256={expected}")
}

async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let ok = signed(&headers, &body);
                sink.lock().expect("lock").push((serde_json::from_slice(&body).unwrap_or(Value::Null), ok));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// Starts Alertmanager on a loopback port with clustering off; waits until ready.
async fn alertmanager(bin: &std::path::Path, dir: &std::path::Path) -> (ChildGuard, String) {
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n")
        .expect("writing the Alertmanager configuration");
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting prometheus-alertmanager");
    let guard = ChildGuard(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http.get(format!("{base}/-/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            return (guard, base);
        }
        assert!(Instant::now() < deadline, "Alertmanager did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Alertmanager's alerts for our monitor, from its own API.
async fn am_alerts(base: &str) -> Vec<Value> {
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let (status, doc) = get_json(&http, &format!("{base}/api/v2/alerts")).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc.as_array().into_iter().flatten().filter(|a| a["labels"]["alertname"] == MONITOR).cloned().collect()
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_latency_spike_goes_through_webhook_alertmanager_and_an_incident() {
    let Some(bin) = external_tool("prometheus-alertmanager") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_am, am_base) = alertmanager(&bin, dir.path()).await;
    let (hook_url, got) = receiver().await;

    let mut cmd = crate::support::sightline_command();
    cmd.args(crate::support::serve_args(&dir.path().join("data")));
    cmd.args(["--alertmanager-resend-seconds", "1"]);
    let server = Server::spawn(cmd);
    let http = client();
    create_model(&http, &server, "credit").await;
    for channel in [
        json!({ "name": "hook", "kind": "webhook", "config": { "url": hook_url, "secret": SECRET } }),
        json!({ "name": "am", "kind": "alertmanager", "config": { "url": am_base } }),
    ] {
        let (status, doc) = post_json(&http, &server.url("/api/v1/channels"), &channel).await.expect("channel");
        assert_eq!(status, StatusCode::CREATED, "{doc}");
    }
    let monitor = json!({
        "id": MONITOR, "model": "credit", "version": "v1",
        "signal": { "kind": "latency_quantile", "quantile": 0.9 },
        "condition": { "op": ">", "value": 100.0 },
        "window": "2s", "interval": "1s", "for": "1s", "severity": "high",
        "runbook_url": "https://wiki.example/runbooks/credit-latency",
    });
    let (status, doc) = post_json(&http, &server.url("/api/v1/monitors"), &monitor).await.expect("monitor");
    assert_eq!(status, StatusCode::CREATED, "{doc}");

    let latency = Arc::new(AtomicU64::new(10));
    let (traffic_http, url, lat) = (http.clone(), server.url("/api/v1/models/credit/predictions"), latency.clone());
    let traffic = tokio::spawn(async move {
        for i in 0usize.. {
            let mut e = crate::support::event(&format!("t{i}"), "v1", i);
            e["latency_ms"] = json!(lat.load(Ordering::Relaxed) as f64);
            let _ = traffic_http
                .post(&url)
                .header("content-type", "application/json")
                .body(json!({ "events": [e] }).to_string())
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let state = |http: reqwest::Client, url: String| async move {
        let (_, doc) = get_json(&http, &url).await;
        doc["items"][0]["state"].as_str().map(str::to_owned)
    };
    let alerts_url = server.url(&format!("/api/v1/alerts?monitor={MONITOR}"));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(state(http.clone(), alerts_url.clone()).await.as_deref(), Some("inactive"));

    latency.store(400, Ordering::Relaxed);
    let mut seen: Vec<Option<String>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = state(http.clone(), alerts_url.clone()).await;
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s.as_deref() == Some("firing") {
            break;
        }
        assert!(Instant::now() < deadline, "timed out waiting for firing: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.contains(&Some("pending".into())), "pending came before firing: {seen:?}");
    wait_for("the signed firing webhook", Duration::from_secs(10), || async {
        got.lock().expect("lock").iter().any(|(d, ok)| *ok && d["status"] == "firing")
    })
    .await;
    wait_for("the alert in Alertmanager", Duration::from_secs(20), || async {
        am_alerts(&am_base).await.iter().any(|a| a["status"]["state"] == "active")
    })
    .await;
    let in_am = am_alerts(&am_base).await;
    assert_eq!(in_am[0]["labels"]["model"], "credit");
    assert_eq!(in_am[0]["labels"]["severity"], "high");
    assert_eq!(in_am[0]["labels"]["version"], "v1");
    assert_eq!(in_am[0]["annotations"]["runbook_url"], "https://wiki.example/runbooks/credit-latency");
    let (_, incidents) = get_json(&http, &server.url("/api/v1/incidents")).await;
    assert_eq!(incidents["items"][0]["monitor"], MONITOR, "{incidents}");
    let incident_id = incidents["items"][0]["id"].clone();

    latency.store(10, Ordering::Relaxed);
    wait_for("the resolved webhook", Duration::from_secs(20), || async {
        got.lock().expect("lock").iter().any(|(d, ok)| *ok && d["status"] == "resolved")
    })
    .await;
    traffic.abort();
    assert!(got.lock().expect("lock").iter().all(|(_, ok)| *ok), "every notification is correctly signed");
    wait_for("Alertmanager to end the alert", Duration::from_secs(20), || async {
        am_alerts(&am_base).await.iter().all(|a| a["status"]["state"] != "active")
    })
    .await;
    let (_, incident) = get_json(&http, &server.url(&format!("/api/v1/incidents/{incident_id}"))).await;
    let kinds: Vec<&str> =
        incident["timeline"].as_array().expect("a timeline").iter().filter_map(|t| t["kind"].as_str()).collect();
    assert_eq!(kinds, ["opened", "alert_firing", "alert_resolved"], "{incident}");
    let (_, alerts) = get_json(&http, &alerts_url).await;
    let fingerprint = alerts["items"][0]["fingerprint"].as_str().expect("a fingerprint").to_owned();
    let (_, alert) = get_json(&http, &server.url(&format!("/api/v1/alerts/{fingerprint}"))).await;
    let history: Vec<&str> =
        alert["history"].as_array().expect("a history").iter().filter_map(|h| h["kind"].as_str()).collect();
    assert_eq!(history, ["resolved", "firing", "pending"], "{alert}");
}
