//! Concurrent ingest with overlapping retries: every event is stored exactly once, the
//! answers account for every event sent, and the counters agree with the store.

use crate::support::{TestServer, batch, credit_model, event};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const CLIENTS: usize = 8;
const BATCHES: usize = 20;
const EVENTS: usize = 100;
const BASE_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// Batch `b` of client `c`: its events' timestamps overlap other clients' on purpose
/// (pagination must break ties), and clients alternate between two versions.
fn make_batch(c: usize, b: usize) -> Vec<u8> {
    let events: Vec<Value> = (0..EVENTS)
        .map(|e| {
            let mut ev = event(&format!("c{c}-b{b:02}-e{e:03}"));
            ev["timestamp"] = json!(BASE_MS + (b * EVENTS + e) as i64);
            ev["version"] = json!(format!("v{}", c % 2 + 1));
            ev
        })
        .collect();
    batch(&events)
}

/// Posts a batch until it is answered with anything but 429/503 (a well-behaved client
/// honours Retry-After); returns (accepted, duplicates).
async fn send(server: &TestServer, body: Vec<u8>) -> (u64, u64) {
    loop {
        let r = server.post_raw("/api/v1/models/conc/predictions", Some("application/json"), None, body.clone()).await;
        if r.status == 429 || r.status == 503 {
            let secs: u64 =
                r.header("retry-after").and_then(|s| s.parse().ok()).expect("an overloaded answer says when to retry");
            tokio::time::sleep(Duration::from_secs(secs)).await;
            continue;
        }
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["rejected"], json!([]), "{}", r.text);
        return (r.json["accepted"].as_u64().expect("accepted"), r.json["duplicates"].as_u64().expect("duplicates"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_with_retries_store_each_event_once() {
    let server = Arc::new(TestServer::start().await);
    server.create_model(&credit_model("conc")).await;

    // Each client sends its own batches and, at the same time, a retry of the batch
    // its neighbour is sending; every fourth batch it also retries its own at once.
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let server = server.clone();
        tasks.spawn(async move {
            let (mut accepted, mut duplicates, mut sent) = (0, 0, 0);
            for b in 0..BATCHES {
                let own = send(&server, make_batch(c, b));
                let neighbour = send(&server, make_batch((c + 1) % CLIENTS, b));
                let ((a1, d1), (a2, d2)) = tokio::join!(own, neighbour);
                accepted += a1 + a2;
                duplicates += d1 + d2;
                sent += 2 * EVENTS as u64;
                if b % 4 == 0 {
                    let (a3, d3) = send(&server, make_batch(c, b)).await;
                    accepted += a3;
                    duplicates += d3;
                    sent += EVENTS as u64;
                }
            }
            (accepted, duplicates, sent)
        });
    }
    let (mut accepted, mut duplicates, mut sent) = (0, 0, 0);
    while let Some(result) = tasks.join_next().await {
        let (a, d, s) = result.expect("a client task finished");
        accepted += a;
        duplicates += d;
        sent += s;
    }
    let distinct = (CLIENTS * BATCHES * EVENTS) as u64;
    assert_eq!(accepted, distinct, "each event accepted exactly once");
    assert_eq!(duplicates, sent - distinct, "every other copy reported as a duplicate");

    let check_store = |items: Vec<Value>| {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for p in &items {
            let id = p["request_id"].as_str().expect("a request id").to_owned();
            *seen.entry(id).or_default() += 1;
        }
        let twice: Vec<&String> = seen.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id).collect();
        assert!(twice.is_empty(), "listed more than once: {twice:?}");
        for c in 0..CLIENTS {
            for b in 0..BATCHES {
                for e in 0..EVENTS {
                    let id = format!("c{c}-b{b:02}-e{e:03}");
                    assert!(seen.contains_key(&id), "{id} missing");
                }
            }
        }
        assert_eq!(items.len() as u64, distinct);
    };
    check_store(server.all_predictions("conc", "", 1000).await);

    let text = server.metrics().await;
    let per_version = (CLIENTS / 2 * BATCHES * EVENTS) as f64;
    for v in ["v1", "v2"] {
        let series = format!(r#"sightline_predictions_total{{model="conc",version="{v}"}}"#);
        assert_eq!(crate::support::metric_value(&text, &series), Some(per_version), "{series}");
    }

    // Every acknowledged event survives a restart.
    let server = Arc::try_unwrap(server).ok().expect("no client holds the server any more");
    let server = server.restart().await;
    check_store(server.all_predictions("conc", "", 1000).await);
    // The restarted server still knows every id: a retry stores nothing.
    let (accepted, duplicates) = send(&server, make_batch(3, 7)).await;
    assert_eq!((accepted, duplicates), (0, EVENTS as u64));
}

/// Posts from a spawned task: (status, Retry-After, body).
async fn post(client: reqwest::Client, url: String, body: Vec<u8>) -> (u16, Option<String>, Value) {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = r.bytes().await.expect("a body");
    (status, retry, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn tagged_batch(tag: &str) -> Vec<u8> {
    let events: Vec<Value> = (0..EVENTS).map(|e| event(&format!("{tag}-e{e:03}"))).collect();
    batch(&events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_and_shutdown_drains_in_flight_batches() {
    // Room for one batch in the queue (plus the one the writer holds).
    let mut server = TestServer::start_with(|c| c.queue_capacity_events = EVENTS).await;
    server.create_model(&credit_model("conc")).await;
    let url = server.url("/api/v1/models/conc/predictions");

    // Stall the writer by holding the database's write lock (its busy timeout is 10 s;
    // the lock is released well before).
    let db = rusqlite::Connection::open(server.data_dir().join("sightline.db")).expect("the database opens");
    db.busy_timeout(Duration::from_secs(5)).expect("a busy timeout");
    db.execute_batch("BEGIN IMMEDIATE").expect("the write lock");

    // Batches pile up until one is refused: the first is held by the writer, the next
    // waits in the queue, the one after does not fit.
    let mut pending = Vec::new();
    let mut refused = None;
    for k in 0..6 {
        let tag = format!("q{k}");
        let mut task = tokio::spawn(post(server.client(), url.clone(), tagged_batch(&tag)));
        match tokio::time::timeout(Duration::from_secs(1), &mut task).await {
            Ok(answer) => {
                let (status, retry, body) = answer.expect("the request task");
                assert_eq!(status, 429, "nothing can be committed yet: {body}");
                refused = Some((tag, retry, body));
                break;
            }
            Err(_) => pending.push((tag, task)),
        }
    }
    let (refused_tag, retry, body) = refused.expect("a full queue refuses a batch");
    assert_eq!(retry.as_deref(), Some("1"), "429 says when to retry");
    assert_eq!(body["code"], "overloaded", "{body}");
    assert_eq!(body["status"], 429, "{body}");
    assert!(!pending.is_empty());

    // Shut down while batches are in flight: they are still committed and answered.
    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    db.execute_batch("ROLLBACK").expect("the lock is released");
    drop(db);
    for (tag, task) in &mut pending {
        let (status, _, body) = task.await.expect("the request task");
        assert_eq!(status, 200, "{tag}: {body}");
        assert_eq!(body["accepted"], EVENTS, "{tag}: {body}");
    }

    let server = server.restart().await;
    let stored = server.all_predictions("conc", "", 1000).await;
    assert_eq!(stored.len(), pending.len() * EVENTS);
    for (tag, _) in &pending {
        let r = server.get(&format!("/api/v1/models/conc/predictions/{tag}-e000")).await;
        assert_eq!(r.status, 200, "{tag} survived the shutdown: {}", r.text);
    }
    let r = server.get(&format!("/api/v1/models/conc/predictions/{refused_tag}-e000")).await;
    assert_eq!(r.status, 404, "a refused batch stores nothing: {}", r.text);
    // Retried after the delay, the refused batch goes through.
    let (accepted, duplicates) = send(&server, tagged_batch(&refused_tag)).await;
    assert_eq!((accepted, duplicates), (EVENTS as u64, 0));
}
