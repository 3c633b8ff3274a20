//! Monitors, alerts, silences, channels and incidents through the API, and the
//! scheduler end to end in process: a latency spike makes a monitor pending then
//! firing, a local receiver checks the webhook's signature, an incident opens, and
//! when traffic recovers the alert resolves and the incident's timeline shows it all.

use crate::support::{Reply, TestServer, credit_model, event, with};
use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SECRET: &str = "test-webhook-secret-0123456789";

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock after 1970").as_millis() as i64
}

/// What the receiver got: the body and whether its signature checked out.
pub type Received = Arc<Mutex<Vec<(Value, Result<(), String>)>>>;

/// Checks `X-Sightline-Signature` as a receiver would: HMAC-SHA256 under the shared
/// secret of `<timestamp>.<body>`, and a timestamp at most five minutes old.
fn verify(headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).ok_or(format!("no {name}"));
    let ts: i64 = header("x-sightline-timestamp")?.parse().map_err(|_| "bad timestamp".to_owned())?;
    if (now_ms() / 1000 - ts).abs() > 300 {
        return Err("stale timestamp".into());
    }
    let sent = header("x-sightline-signature")?;
    let hex = sent.strip_prefix("sha256=").ok_or("no sha256= prefix")?;
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| "signature is not hex".to_owned())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("an HMAC key");
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&bytes).map_err(|_| "signature mismatch".to_owned())
}

/// A webhook receiver on loopback; answers 200 to every POST /hook.
pub async fn receiver() -> (String, Received) {
    receiver_answering(Arc::new(AtomicU16::new(200))).await
}

/// A webhook receiver on loopback that answers every POST /hook with the status in
/// `status` at the time (and keeps what it got whatever it answers).
pub async fn receiver_answering(status: Arc<AtomicU16>) -> (String, Received) {
    let got: Received = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (sink, status) = (sink.clone(), status.clone());
            async move {
                let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                sink.lock().expect("lock").push((doc, verify(&headers, &body)));
                let code = axum::http::StatusCode::from_u16(status.load(Ordering::SeqCst))
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                (code, "ok")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// A Slack-compatible incoming webhook on loopback: keeps each message's `text`.
async fn slack_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/services/T0/B0/XYZ",
        axum::routing::post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                sink.lock().expect("lock").push(doc["text"].as_str().unwrap_or("").to_owned());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/services/T0/B0/XYZ"), got)
}

pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn fast(config: &mut sightline_server::ServerConfig) {
    config.alerting.tick = Duration::from_millis(50);
    config.alerting.retry.base_delay = Duration::from_millis(50);
    config.alerting.retry.max_delay = Duration::from_millis(200);
    config.alerting.retry.max_attempts = 3;
}

fn latency_monitor() -> Value {
    json!({
        "id": "credit-p90", "model": "credit", "version": "v1",
        "signal": { "kind": "latency_quantile", "quantile": 0.9 },
        "condition": { "op": ">", "value": 100.0 },
        "window": "2s", "interval": "1s", "for": "1s", "severity": "high",
        "labels": { "team": "risk" }, "runbook_url": "https://wiki.example/runbooks/credit-latency",
    })
}

async fn alert_state(s: &TestServer, monitor: &str) -> Option<String> {
    let r = s.get(&format!("/api/v1/alerts?monitor={monitor}")).await;
    r.json["items"][0]["state"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn latency_spike_fires_a_signed_webhook_opens_an_incident_and_resolves() {
    let s = TestServer::start_with(fast).await;
    s.create_model(&credit_model("credit")).await;
    let (url, got) = receiver().await;
    let channel = json!({ "name": "hook", "kind": "webhook", "config": { "url": url, "secret": SECRET } });
    let r = s.post_json("/api/v1/channels", &channel).await;
    r.expect_status(201);
    assert!(!r.text.contains(SECRET), "the secret is never shown: {}", r.text);
    let channel_id = r.json["id"].clone();
    let (slack_url, slack) = slack_receiver().await;
    let chat = json!({ "name": "chat", "kind": "slack", "min_severity": "high", "config": { "url": slack_url } });
    let r = s.post_json("/api/v1/channels", &chat).await;
    r.expect_status(201);
    assert!(!r.text.contains("XYZ"), "the URL's secret path is never shown: {}", r.text);
    s.post_json("/api/v1/monitors", &latency_monitor()).await.expect_status(201);

    // Traffic every 50 ms at the latency the test sets.
    let latency = Arc::new(AtomicU64::new(10));
    let (client, base, lat) = (s.client(), s.url("/api/v1/models/credit/predictions"), latency.clone());
    let traffic = tokio::spawn(async move {
        for i in 0.. {
            let e = with(event(&format!("t{i}")), "/timestamp", json!(now_ms()));
            let e = with(e, "/latency_ms", json!(lat.load(Ordering::Relaxed) as f64));
            let _ = client
                .post(&base)
                .header("content-type", "application/json")
                .body(json!({ "events": [e] }).to_string())
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(alert_state(&s, "credit-p90").await.as_deref(), Some("inactive"));

    latency.store(500, Ordering::Relaxed);
    let mut seen: Vec<Option<String>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let state = alert_state(&s, "credit-p90").await;
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state.as_deref() == Some("firing") {
            break;
        }
        assert!(Instant::now() < deadline, "timed out waiting for the alert to fire: {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.contains(&Some("pending".into())), "pending before firing: {seen:?}");
    wait_until("the firing webhook", Duration::from_secs(10), || async {
        got.lock().expect("lock").iter().any(|(d, _)| d["status"] == "firing")
    })
    .await;
    {
        let received = got.lock().expect("lock");
        let (doc, signature) = received.iter().find(|(d, _)| d["status"] == "firing").expect("firing");
        assert_eq!(signature, &Ok(()), "the signature checks out");
        assert_eq!(doc["labels"]["monitor"], "credit-p90");
        assert_eq!(doc["labels"]["version"], "v1");
        assert_eq!(doc["labels"]["team"], "risk");
        assert_eq!(doc["severity"], "high");
        assert_eq!(doc["annotations"]["runbook_url"], "https://wiki.example/runbooks/credit-latency");
        assert!(doc["value"].as_f64().is_some_and(|v| v > 100.0), "{doc}");
    }
    let incidents = s.get("/api/v1/incidents").await;
    assert_eq!(incidents.json["items"].as_array().map(Vec::len), Some(1), "{}", incidents.text);
    let incident = &incidents.json["items"][0];
    assert_eq!(incident["monitor"], "credit-p90");
    assert_eq!(incident["status"], "open");
    assert_eq!(incident["runbook_url"], "https://wiki.example/runbooks/credit-latency");
    let incident_id = incident["id"].clone();

    // Someone takes it on; then traffic recovers.
    let alert = s.get("/api/v1/alerts?monitor=credit-p90").await.json["items"][0]["fingerprint"].clone();
    let fp = alert.as_str().expect("fingerprint");
    let r = s.post_json(&format!("/api/v1/alerts/{fp}/acknowledge"), &json!({})).await;
    r.expect_status(200);
    assert!(r.json["acknowledged_at"].is_string());
    let r = s
        .request_as(
            Some(&s.token),
            reqwest::Method::PATCH,
            &format!("/api/v1/incidents/{incident_id}"),
            Some(&json!({ "status": "investigating", "assignee": "carol" })),
        )
        .await;
    r.expect_status(200);
    assert!(r.json["time_to_acknowledge_ms"].as_i64().is_some_and(|ms| ms >= 0));
    latency.store(10, Ordering::Relaxed);
    wait_until("the resolved webhook", Duration::from_secs(15), || async {
        got.lock().expect("lock").iter().any(|(d, _)| d["status"] == "resolved")
    })
    .await;
    traffic.abort();
    wait_until("both Slack messages", Duration::from_secs(10), || async { slack.lock().expect("lock").len() >= 2 })
        .await;
    let texts = slack.lock().expect("lock").clone();
    assert!(texts[0].contains("*FIRING* [high] monitor `credit-p90` on model `credit`"), "{texts:?}");
    assert!(texts[0].contains("runbook: https://wiki.example/runbooks/credit-latency"), "{texts:?}");
    assert!(texts[1].contains("*RESOLVED*"), "{texts:?}");
    let received = got.lock().expect("lock").clone();
    assert!(received.iter().all(|(_, sig)| sig.is_ok()), "every notification is signed: {received:?}");
    let resolved = received.iter().find(|(d, _)| d["status"] == "resolved").expect("resolved");
    assert!(resolved.0["ends_at"].is_string());

    let r = s.get(&format!("/api/v1/incidents/{incident_id}")).await;
    let kinds: Vec<&str> =
        r.json["timeline"].as_array().expect("timeline").iter().filter_map(|t| t["kind"].as_str()).collect();
    for expected in ["opened", "alert_firing", "alert_acknowledged", "status", "assignee", "alert_resolved"] {
        assert!(kinds.contains(&expected), "{expected} missing from the timeline {kinds:?}");
    }
    let r = s
        .request_as(
            Some(&s.token),
            reqwest::Method::PATCH,
            &format!("/api/v1/incidents/{incident_id}"),
            Some(&json!({ "status": "resolved", "postmortem": "a slow dependency" })),
        )
        .await;
    r.expect_status(200);
    let stats = s.get("/api/v1/incidents/stats").await;
    assert_eq!(stats.json["resolved"], 1);
    assert!(stats.json["mean_time_to_resolve_ms"].as_f64().is_some_and(|ms| ms > 0.0));

    // The delivery log shows each notification delivered.
    let ch = s.get(&format!("/api/v1/channels/{channel_id}")).await;
    let statuses: Vec<&str> =
        ch.json["deliveries"].as_array().expect("deliveries").iter().filter_map(|d| d["status"].as_str()).collect();
    assert!(statuses.len() >= 2 && statuses.iter().all(|s| *s == "delivered"), "{statuses:?}");
    let history = s.get(&format!("/api/v1/alerts/{fp}")).await;
    let kinds: Vec<&str> =
        history.json["history"].as_array().expect("history").iter().filter_map(|h| h["kind"].as_str()).collect();
    assert_eq!(kinds, ["resolved", "acknowledged", "firing", "pending"]);
}

#[tokio::test]
async fn silences_hold_back_notifications_and_failing_channels_retry_then_give_up() {
    let s = TestServer::start_with(fast).await;
    s.create_model(&credit_model("credit")).await;
    let (url, got) = receiver().await;
    let hook = json!({ "name": "hook", "kind": "webhook", "config": { "url": url, "secret": SECRET } });
    let hook_id = s.post_json("/api/v1/channels", &hook).await.json["id"].clone();
    // Nothing listens on port 9 of loopback: every attempt fails.
    let dead = json!({ "name": "dead", "kind": "slack", "config": { "url": "http://127.0.0.1:9/x" } });
    let dead_id = s.post_json("/api/v1/channels", &dead).await.json["id"].clone();
    // Testing a channel says at once whether it works.
    let r = s.post_json(&format!("/api/v1/channels/{dead_id}/test"), &json!({})).await;
    r.expect_status(200);
    assert_eq!(r.json["delivered"], false, "{}", r.text);
    assert!(r.json["error"].as_str().is_some_and(|e| !e.contains("127.0.0.1:9")), "no URL in errors: {}", r.text);
    let r = s.post_json(&format!("/api/v1/channels/{hook_id}/test"), &json!({})).await;
    assert_eq!(r.json["delivered"], true, "{}", r.text);
    assert!(
        got.lock().expect("lock").iter().any(|(d, sig)| d["labels"]["monitor"] == "sightline-test" && sig.is_ok()),
        "the test notification arrived signed"
    );
    let silence = json!({ "matchers": [{ "name": "team", "value": "quiet" }], "duration": "1h", "comment": "deploy" });
    let r = s.post_json("/api/v1/silences", &silence).await;
    r.expect_status(201);
    assert_eq!(r.json["active"], true);
    let always = |id: &str, team: &str| {
        json!({
            "id": id, "model": "credit", "signal": "throughput", "condition": { "op": ">=", "value": 0.0 },
            "window": "1m", "interval": "1s", "severity": "low", "labels": { "team": team }, "version": "v1",
        })
    };
    s.post_json("/api/v1/monitors", &always("quiet", "quiet")).await.expect_status(201);
    s.post_json("/api/v1/monitors", &always("loud", "loud")).await.expect_status(201);
    wait_until("the loud alert's webhook", Duration::from_secs(10), || async {
        got.lock().expect("lock").iter().any(|(d, _)| d["labels"]["monitor"] == "loud")
    })
    .await;
    // The two monitors evaluate independently: the quiet one may fire a moment after the
    // loud one's webhook arrived.
    wait_until("the quiet alert fires", Duration::from_secs(10), || async {
        s.get("/api/v1/alerts?monitor=quiet").await.json["items"][0]["state"] == "firing"
    })
    .await;
    let r = s.get("/api/v1/alerts?monitor=quiet").await;
    assert_eq!(r.json["items"][0]["state"], "firing");
    assert_eq!(r.json["items"][0]["silenced"], true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !got.lock().expect("lock").iter().any(|(d, _)| d["labels"]["monitor"] == "quiet"),
        "a silenced alert is not notified"
    );
    // Severity low opens no incident under the default policy (high and above).
    assert_eq!(s.get("/api/v1/incidents").await.json["items"].as_array().map(Vec::len), Some(0));
    // The dead channel: three attempts per notification, then it gives up.
    wait_until("the dead channel to give up", Duration::from_secs(10), || async {
        let r = s.get(&format!("/api/v1/channels/{dead_id}")).await;
        r.json["deliveries"].as_array().is_some_and(|d| d.iter().any(|x| x["status"] == "gave_up"))
    })
    .await;
    let r = s.get(&format!("/api/v1/channels/{dead_id}")).await;
    let attempts: Vec<(i64, String)> = r.json["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| (d["attempt"].as_i64().unwrap_or(0), d["status"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert!(attempts.contains(&(1, "failed".into())) && attempts.contains(&(3, "gave_up".into())), "{attempts:?}");
    // Expiring the silence lists it as inactive.
    let id = s.get("/api/v1/silences").await.json["items"][0]["id"].clone();
    let r = s.request_as(Some(&s.token), reqwest::Method::DELETE, &format!("/api/v1/silences/{id}"), None).await;
    r.expect_status(200);
    assert_eq!(r.json["active"], false);
    assert_eq!(s.get("/api/v1/silences").await.json["items"].as_array().map(Vec::len), Some(0));
}

fn paths(r: &Reply) -> Vec<String> {
    r.error_paths()
}

#[tokio::test]
async fn bad_monitors_silences_channels_and_incidents_name_the_field() {
    let s = TestServer::start().await;
    s.create_model(&credit_model("credit")).await;
    let base = json!({
        "id": "m", "model": "credit", "signal": "error_rate", "condition": { "op": ">", "value": 0.1 },
        "window": "5m", "interval": "1m", "severity": "high",
    });
    for (pointer, value, path) in [
        ("/signal", json!("errors_per_second"), "$.signal"),
        ("/signal", json!({ "kind": "drift_score", "feature": "height", "method": "psi" }), "$.signal.feature"),
        ("/for", json!("-5m"), "$.for"),
        ("/interval", json!("0s"), "$.interval"),
        ("/condition", json!({ "op": "=>", "value": 1.0 }), "$.condition.op"),
        ("/severity", json!("urgent"), "$.severity"),
        ("/runbook_url", json!("javascript:alert(1)"), "$.runbook_url"),
    ] {
        let r = s.post_json("/api/v1/monitors", &with(base.clone(), pointer, value.clone())).await;
        r.expect_problem(422);
        assert!(paths(&r).contains(&path.to_owned()), "{pointer}={value}: {:?} {}", paths(&r), r.text);
    }
    let r = s.post_json("/api/v1/monitors", &with(base.clone(), "/model", json!("nope"))).await;
    r.expect_problem(404);
    s.post_json("/api/v1/monitors", &base).await.expect_status(201);
    s.post_json("/api/v1/monitors", &base).await.expect_problem(409);
    let r = s
        .request_as(
            Some(&s.token),
            reqwest::Method::PUT,
            "/api/v1/monitors/m",
            Some(&with(base.clone(), "/id", json!("other"))),
        )
        .await;
    r.expect_problem(422);
    assert_eq!(paths(&r), ["$.id"]);

    for (body, path) in [
        (json!({ "name": "c", "kind": "webhook", "config": { "url": "ftp://x", "secret": SECRET } }), "$.config.url"),
        (
            json!({ "name": "c", "kind": "webhook", "config": { "url": "http://x", "secret": "short" } }),
            "$.config.secret",
        ),
        (json!({ "name": "c", "kind": "pager", "config": {} }), "$.kind"),
        (
            json!({ "name": "c", "kind": "slack", "min_severity": "loud", "config": { "url": "https://h/x" } }),
            "$.min_severity",
        ),
        (
            json!({ "name": "c", "kind": "email", "config": { "host": "smtp.example", "tls": "none", "from": "a@b.example", "to": ["c@d.example"] } }),
            "$.config.tls",
        ),
    ] {
        let r = s.post_json("/api/v1/channels", &body).await;
        r.expect_problem(422);
        assert_eq!(paths(&r), [path], "{}", r.text);
    }
    for (body, path) in [
        (json!({ "matchers": [], "duration": "1h" }), "$.matchers"),
        (json!({ "matchers": [{ "name": "a", "value": "b" }], "duration": "-1h" }), "$.duration"),
        (json!({ "matchers": [{ "name": "a b", "value": "b" }], "duration": "1h" }), "$.matchers[0].name"),
        (json!({ "matchers": [{ "name": "a", "op": "~", "value": "b" }], "duration": "1h" }), "$.matchers[0].op"),
        (json!({ "matchers": [{ "name": "a", "value": "b" }], "ends_at": "2001-01-01T00:00:00Z" }), "$.ends_at"),
    ] {
        let r = s.post_json("/api/v1/silences", &body).await;
        r.expect_problem(422);
        assert!(paths(&r).contains(&path.to_owned()), "{path}: {}", r.text);
    }
    for (body, path) in [
        (json!({ "title": "", "severity": "high" }), "$.title"),
        (json!({ "title": "x", "severity": "urgent" }), "$.severity"),
        (json!({ "title": "x".repeat(201), "severity": "high" }), "$.title"),
    ] {
        let r = s.post_json("/api/v1/incidents", &body).await;
        r.expect_problem(422);
        assert_eq!(paths(&r), [path]);
    }
    let id = s.post_json("/api/v1/incidents", &json!({ "title": "x", "severity": "high" })).await.json["id"].clone();
    let r = s
        .request_as(
            Some(&s.token),
            reqwest::Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(&json!({ "status": "done" })),
        )
        .await;
    r.expect_problem(422);
    assert_eq!(paths(&r), ["$.status"]);
    let r = s.post_json(&format!("/api/v1/incidents/{id}/notes"), &json!({ "text": "x".repeat(10_001) })).await;
    r.expect_problem(422);
    s.get("/api/v1/incidents/999").await.expect_problem(404);
    s.get("/api/v1/alerts/0000000000000000").await.expect_problem(404);
}

#[tokio::test]
async fn the_monitors_file_is_loaded_at_start_and_read_only() {
    let s = TestServer::start().await;
    s.create_model(&credit_model("credit")).await;
    let file = s.data_dir().join("monitors.toml");
    std::fs::write(
        &file,
        r#"
        [[monitor]]
        id = "credit-errors"
        model = "credit"
        signal = "error_rate"
        condition = { op = ">", value = 0.05 }
        window = "5m"
        interval = "1m"
        for = "10m"
        severity = "high"
        "#,
    )
    .expect("write the monitors file");
    let s = s.restart_with(|c| c.alerting.monitors_file = Some(file)).await;
    let r = s.get("/api/v1/monitors/credit-errors").await;
    r.expect_status(200);
    assert_eq!(r.json["from_file"], true);
    assert_eq!(r.json["for"], "10m");
    let mut body = r.json.clone();
    for k in ["project", "from_file", "created_at", "updated_at"] {
        body.as_object_mut().expect("object").remove(k);
    }
    let r = s.request_as(Some(&s.token), reqwest::Method::PUT, "/api/v1/monitors/credit-errors", Some(&body)).await;
    r.expect_problem(409);
    let r = s.request_as(Some(&s.token), reqwest::Method::DELETE, "/api/v1/monitors/credit-errors", None).await;
    r.expect_problem(409);
}

/// A minimal SMTP server behind implicit TLS with the test CA's certificate: greets,
/// accepts any envelope, and keeps each message's data.
async fn smtp_receiver(pki: &crate::pki::Pki) -> (u16, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let files = sightline_server::TlsFiles { cert: pki.cert.clone(), key: pki.key.clone() };
    let acceptor = tokio_rustls::TlsAcceptor::from(sightline_server::tls::server_config(&files).expect("TLS config"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = got.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, sink) = (acceptor.clone(), sink.clone());
            tokio::spawn(async move {
                // A client that does not trust the certificate ends here.
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let (r, mut w) = tokio::io::split(tls);
                let mut lines = BufReader::new(r);
                let _ = w.write_all(b"220 localhost ESMTP test\r\n").await;
                let (mut in_data, mut message) = (false, String::new());
                loop {
                    let mut line = String::new();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        break;
                    }
                    if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            sink.lock().expect("lock").push(std::mem::take(&mut message));
                            let _ = w.write_all(b"250 queued\r\n").await;
                        } else {
                            message.push_str(&line);
                        }
                        continue;
                    }
                    let command = line.to_ascii_uppercase();
                    let reply: &[u8] = if command.starts_with("EHLO") {
                        b"250-localhost\r\n250 8BITMIME\r\n"
                    } else if command.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if command.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = w.write_all(reply).await;
                    let _ = w.flush().await;
                }
            });
        }
    });
    (port, got)
}

#[tokio::test]
async fn email_goes_over_verified_tls_and_an_untrusted_certificate_is_refused() {
    let pki = crate::pki::Pki::new();
    let (port, got) = smtp_receiver(&pki).await;
    let s = TestServer::start_with(fast).await;
    s.create_model(&credit_model("credit")).await;
    let mail = |name: &str, ca: Option<&str>| {
        json!({
            "name": name, "kind": "email",
            "config": {
                "host": "localhost", "port": port, "tls": "tls", "from": "sightline@example.com",
                "to": ["oncall@example.com"], "ca_pem": ca,
            },
        })
    };
    let r = s.post_json("/api/v1/channels", &mail("mail", Some(&pki.ca_pem))).await;
    r.expect_status(201);
    assert_eq!(r.json["config"]["ca_pem"], true, "the CA is not echoed back: {}", r.text);
    let untrusted = s.post_json("/api/v1/channels", &mail("untrusted", None)).await.json["id"].clone();
    let monitor = json!({
        "id": "always", "model": "credit", "version": "v1", "signal": "throughput",
        "condition": { "op": ">=", "value": 0.0 }, "window": "1m", "interval": "1s", "severity": "low",
    });
    s.post_json("/api/v1/monitors", &monitor).await.expect_status(201);
    wait_until("the email", Duration::from_secs(10), || async { !got.lock().expect("lock").is_empty() }).await;
    let message = got.lock().expect("lock")[0].clone();
    assert!(message.contains("Subject: [FIRING] [low] always on credit"), "{message}");
    assert!(message.contains("To: oncall@example.com"), "{message}");
    assert!(message.contains("throughput of model credit version v1"), "{message}");
    // Without the private CA the certificate is not trusted: the attempts fail.
    wait_until("the untrusted channel to give up", Duration::from_secs(10), || async {
        let r = s.get(&format!("/api/v1/channels/{untrusted}")).await;
        r.json["deliveries"].as_array().is_some_and(|d| d.iter().any(|x| x["status"] == "gave_up"))
    })
    .await;
    let r = s.get(&format!("/api/v1/channels/{untrusted}")).await;
    let error = r.json["deliveries"][0]["error"].as_str().unwrap_or("").to_lowercase();
    assert!(error.contains("certificate") || error.contains("issuer"), "{error}");
}

#[tokio::test]
async fn channel_secrets_are_sealed_at_rest_and_never_shown() {
    let s = TestServer::start().await;
    let password = "smtp-password-5f1e9c";
    let token_path = "T0123/B0456/slack-token-77aa";
    for body in [
        json!({ "name": "hook", "kind": "webhook", "config": { "url": "https://hooks.example/in", "secret": SECRET } }),
        json!({ "name": "chat", "kind": "slack", "config": { "url": format!("https://hooks.slack.example/services/{token_path}") } }),
        json!({ "name": "mail", "kind": "email", "config": {
            "host": "smtp.example", "username": "u", "password": password,
            "from": "a@example.com", "to": ["b@example.com"] } }),
    ] {
        s.post_json("/api/v1/channels", &body).await.expect_status(201);
    }
    let listed = s.get("/api/v1/channels").await;
    for secret in [SECRET, password, token_path] {
        assert!(!listed.text.contains(secret), "{secret} shown: {}", listed.text);
    }
    let (_config, dir) = s.stop().await;
    let dir = dir.expect("the data dir");
    for entry in std::fs::read_dir(dir.path()).expect("the data dir") {
        let path = entry.expect("an entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("a file");
            for secret in [SECRET, password, token_path] {
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "{secret} in clear in {}", path.display());
            }
        }
    }
}

#[tokio::test]
async fn a_firing_alert_survives_a_restart_without_firing_twice_and_resolves() {
    let s = TestServer::start_with(fast).await;
    s.create_model(&credit_model("credit")).await;
    let (url, got) = receiver().await;
    let hook = json!({ "name": "hook", "kind": "webhook", "config": { "url": url, "secret": SECRET } });
    s.post_json("/api/v1/channels", &hook).await.expect_status(201);
    let monitor = |threshold: f64| {
        json!({
            "id": "steady", "model": "credit", "version": "v1", "signal": "throughput",
            "condition": { "op": ">=", "value": threshold }, "window": "1m", "interval": "1s", "severity": "low",
        })
    };
    s.post_json("/api/v1/monitors", &monitor(0.0)).await.expect_status(201);
    let count = |status: &str| got.lock().expect("lock").iter().filter(|(d, _)| d["status"] == status).count();
    wait_until("the firing webhook", Duration::from_secs(10), || async { count("firing") == 1 }).await;

    let s = s.restart().await;
    // Several evaluations after the restart: still firing, announced once.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(alert_state(&s, "steady").await.as_deref(), Some("firing"));
    assert_eq!(count("firing"), 1, "no second firing notification after the restart");

    // A definition that no longer holds resolves the restored alert, announced.
    let r = s.request_as(Some(&s.token), reqwest::Method::PUT, "/api/v1/monitors/steady", Some(&monitor(1e9))).await;
    r.expect_status(200);
    wait_until("the resolved webhook", Duration::from_secs(10), || async { count("resolved") == 1 }).await;
    assert_eq!(count("firing"), 1);
}

/// Follows `next_cursor` from `first` to the end; the ids of every page, page by page.
async fn pages(s: &TestServer, first: &str, id: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut url = first.to_owned();
    loop {
        let r = s.get(&url).await;
        r.expect_status(200);
        let ids = r.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i[id].as_str().map_or_else(|| i[id].to_string(), str::to_owned))
            .collect();
        out.push(ids);
        match r.json["next_cursor"].as_str() {
            Some(c) => url = format!("{first}&cursor={c}"),
            None => return out,
        }
    }
}

#[tokio::test]
async fn monitors_alerts_silences_and_channels_are_listed_page_by_page() {
    let s = TestServer::start_with(fast).await;
    s.create_model(&credit_model("credit")).await;
    for i in 0..5 {
        let monitor = json!({
            "id": format!("m{i}"), "model": "credit", "version": "v1", "signal": "throughput",
            "condition": { "op": ">", "value": 1e12 }, "window": "1m", "interval": "1s", "severity": "low",
        });
        s.post_json("/api/v1/monitors", &monitor).await.expect_status(201);
        let silence = json!({ "matchers": [{ "name": "team", "value": format!("t{i}") }], "duration": "1h" });
        s.post_json("/api/v1/silences", &silence).await.expect_status(201);
        let channel = json!({ "name": format!("c{i}"), "kind": "slack", "config": { "url": "http://127.0.0.1:9/x" } });
        s.post_json("/api/v1/channels", &channel).await.expect_status(201);
    }
    let monitors = pages(&s, "/api/v1/monitors?limit=2", "id").await;
    assert_eq!(monitors, [vec!["m0", "m1"], vec!["m2", "m3"], vec!["m4"]]);
    let silences = pages(&s, "/api/v1/silences?limit=3", "id").await;
    assert_eq!(silences.iter().map(Vec::len).collect::<Vec<_>>(), [3, 2]);
    let all: Vec<i64> = silences.concat().iter().map(|i| i.parse().expect("id")).collect();
    assert!(all.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats: {all:?}");
    let channels = pages(&s, "/api/v1/channels?limit=4", "name").await;
    assert_eq!(channels, [vec!["c0", "c1", "c2", "c3"], vec!["c4"]]);
    // Each monitor's first evaluation writes its (inactive) alert.
    wait_until("five alerts", Duration::from_secs(10), || async {
        s.get("/api/v1/alerts").await.json["items"].as_array().map(Vec::len) == Some(5)
    })
    .await;
    let alerts = pages(&s, "/api/v1/alerts?state=inactive&limit=2", "monitor").await;
    assert_eq!(alerts, [vec!["m0", "m1"], vec!["m2", "m3"], vec!["m4"]]);
    // A page size out of range or a cursor this server did not issue: 400 naming it.
    for bad in ["/api/v1/monitors?limit=0", "/api/v1/channels?limit=5000", "/api/v1/silences?cursor=%%%"] {
        let r = s.get(bad).await;
        r.expect_problem(400);
        assert!(r.text.contains("limit") || r.text.contains("cursor"), "{bad}: {}", r.text);
    }
    let r = s.get("/api/v1/alerts?cursor=bm9zcGFjZQ").await; // "nospace": not an alert key
    r.expect_problem(400);
    assert!(r.text.contains("cursor"), "{}", r.text);
}

#[tokio::test]
async fn an_open_incident_gets_new_versions_and_error_groups_of_its_model_linked() {
    let s = TestServer::start_with(|c| {
        fast(c);
        c.alerting.context_interval = Duration::from_millis(100);
    })
    .await;
    s.create_model(&credit_model("credit")).await;
    let busy = json!({
        "id": "credit-busy", "model": "credit", "version": "v1", "signal": "throughput",
        "condition": { "op": ">", "value": 0.0 }, "window": "5s", "interval": "1s", "severity": "critical",
    });
    s.post_json("/api/v1/monitors", &busy).await.expect_status(201);
    let now_event =
        |id: &str, version: &str| with(with(event(id), "/timestamp", json!(now_ms())), "/version", json!(version));
    s.ingest("credit", &[now_event("a1", "v1"), now_event("a2", "v1")]).await.expect_status(200);
    wait_until("an incident", Duration::from_secs(10), || async {
        s.get("/api/v1/incidents").await.json["items"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    let id = s.get("/api/v1/incidents").await.json["items"][0]["id"].clone();

    // A new version starts serving and a new kind of error appears during the incident.
    s.ingest("credit", &[now_event("b1", "v2")]).await.expect_status(200);
    let errors = json!({ "events": [{ "type": "KeyError", "message": "income", "version": "v2" }] });
    s.post_json("/api/v1/models/credit/errors", &errors).await.expect_status(200);
    let issue_id = s.get("/api/v1/models/credit/issues").await.json["items"][0]["id"].clone();

    let timeline = |doc: &Value, kind: &str| -> Vec<String> {
        doc["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let path = format!("/api/v1/incidents/{id}");
    wait_until("the version and the error group in the timeline", Duration::from_secs(10), || async {
        let doc = s.get(&path).await.json;
        timeline(&doc, "version").iter().any(|t| t.contains("version v2")) && !timeline(&doc, "issue").is_empty()
    })
    .await;
    // Several more passes add nothing twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let doc = s.get(&path).await.json;
    let versions = timeline(&doc, "version");
    assert_eq!(versions.iter().filter(|t| t.contains("version v2 of model credit appeared")).count(), 1, "{doc}");
    let issues = timeline(&doc, "issue");
    assert_eq!(issues.len(), 1, "{doc}");
    assert!(issues[0].contains(&format!("error group #{issue_id} began")) && issues[0].contains("KeyError"), "{doc}");
    let links = &doc["links"];
    assert!(links["versions"].as_array().expect("versions").contains(&json!("credit/v2")), "{doc}");
    assert!(links["issues"].as_array().expect("issues").contains(&json!(issue_id.to_string())), "{doc}");
}
