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
        let r = server
            .post_raw(
                "/api/v1/models/conc/predictions",
                Some("application/json"),
                None,
                body.clone(),
            )
            .await;
        if r.status == 429 || r.status == 503 {
            let secs: u64 = r
                .header("retry-after")
                .and_then(|s| s.parse().ok())
                .expect("an overloaded answer says when to retry");
            tokio::time::sleep(Duration::from_secs(secs)).await;
            continue;
        }
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["rejected"], json!([]), "{}", r.text);
        return (
            r.json["accepted"].as_u64().expect("accepted"),
            r.json["duplicates"].as_u64().expect("duplicates"),
        );
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
    assert_eq!(
        duplicates,
        sent - distinct,
        "every other copy reported as a duplicate"
    );

    let check_store = |items: Vec<Value>| {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for p in &items {
            let id = p["request_id"].as_str().expect("a request id").to_owned();
            *seen.entry(id).or_default() += 1;
        }
        let twice: Vec<&String> = seen
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| id)
            .collect();
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
        assert_eq!(
            crate::support::metric_value(&text, &series),
            Some(per_version),
            "{series}"
        );
    }

    // Every acknowledged event survives a restart.
    let server = Arc::try_unwrap(server)
        .ok()
        .expect("no client holds the server any more");
    let server = server.restart().await;
    check_store(server.all_predictions("conc", "", 1000).await);
}
