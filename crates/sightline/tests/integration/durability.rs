//! Reliability under a crash: the server is SIGKILLed while several clients stream
//! batches. After a restart on the same data dir every acknowledged event is stored,
//! none twice, and re-sending the batches whose fate was unknown at the crash reports
//! the stored events as duplicates instead of storing second copies.

use crate::support::{Server, all_request_ids, batch, client, create_model, distinct, get_json, post_json};
use rand::Rng;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const MODEL: &str = "durable";
const CLIENTS: usize = 4;
const EVENTS_PER_BATCH: usize = 10;
/// Bounds the run in count: the kill comes long before any client gets here.
const MAX_BATCHES_PER_CLIENT: usize = 5_000;
/// Longest wait for the acknowledged batches that trigger the kill.
const STREAM_TIMEOUT: Duration = Duration::from_secs(90);

/// What one client saw.
#[derive(Default)]
struct ClientRun {
    /// Batches answered 200 with every event accepted, in order.
    acked: Vec<Vec<String>>,
    /// The batch sent when the connection failed: stored or not, the client cannot know.
    in_flight: Option<Vec<String>>,
    /// Anything else: a non-200 status or an unexpected answer (each fails the test).
    unexpected: Vec<String>,
}

fn batch_ids(client: usize, batch: usize) -> Vec<String> {
    (0..EVENTS_PER_BATCH).map(|e| format!("c{client}-b{batch:05}-e{e}")).collect()
}

/// Streams batches until the connection fails (the server died) or the count bound.
async fn stream(http: reqwest::Client, url: String, c: usize, acked: Arc<AtomicUsize>) -> ClientRun {
    let mut run = ClientRun::default();
    for b in 0..MAX_BATCHES_PER_CLIENT {
        let ids = batch_ids(c, b);
        match post_json(&http, &url, &batch(&ids, "v1")).await {
            Ok((StatusCode::OK, body)) => {
                let expected = serde_json::json!({
                    "accepted": EVENTS_PER_BATCH, "duplicates": 0, "rejected": [],
                });
                if body != expected {
                    run.unexpected.push(format!("batch {b}: 200 with {body}, expected {expected}"));
                    break;
                }
                run.acked.push(ids);
                acked.fetch_add(1, Ordering::SeqCst);
            }
            Ok((status, body)) => {
                run.unexpected.push(format!("batch {b}: {status} {body}"));
                break;
            }
            Err(_) => {
                run.in_flight = Some(ids);
                break;
            }
        }
    }
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_stream_loses_no_acknowledged_event_and_stores_none_twice() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("creating a temporary data dir");
    let server = Server::start(dir.path());
    let http = client();
    create_model(&http, &server, MODEL).await;

    // Kill at a random-ish moment, after a few hundred acknowledged batches.
    let kill_after = rand::rng().random_range(300..=700);
    let acked = Arc::new(AtomicUsize::new(0));
    let url = url_of(&server);
    let clients: Vec<_> =
        (0..CLIENTS).map(|c| tokio::spawn(stream(http.clone(), url.clone(), c, acked.clone()))).collect();
    let deadline = Instant::now() + STREAM_TIMEOUT;
    while acked.load(Ordering::SeqCst) < kill_after {
        assert!(
            Instant::now() < deadline,
            "only {} of {kill_after} batches acknowledged within {STREAM_TIMEOUT:?}",
            acked.load(Ordering::SeqCst)
        );
        assert!(!clients.iter().any(tokio::task::JoinHandle::is_finished), "a client stopped before the kill");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill();

    let mut runs = Vec::new();
    for c in clients {
        let run = tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("a client finished after the kill")
            .expect("a client task panicked");
        runs.push(run);
    }
    let unexpected: Vec<&String> = runs.iter().flat_map(|r| &r.unexpected).collect();
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
    assert!(runs.iter().all(|r| r.in_flight.is_some()), "every client saw its connection fail at the kill");
    let acked_ids: HashSet<String> = runs.iter().flat_map(|r| r.acked.concat()).collect();
    let in_flight: Vec<Vec<String>> = runs.iter().filter_map(|r| r.in_flight.clone()).collect();
    let sent: HashSet<String> = acked_ids.iter().chain(in_flight.iter().flatten()).cloned().collect();
    let acked_batches: usize = runs.iter().map(|r| r.acked.len()).sum();

    // Restart on the same data dir, with a fresh client (pooled connections are dead).
    let server = Server::start(dir.path());
    let http = client();
    let rows = all_request_ids(&http, &server, MODEL).await;
    let stored = distinct(&rows);
    let lost: Vec<&String> = acked_ids.difference(&stored).take(20).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events are missing after the crash (first 20): {lost:?}",
        acked_ids.difference(&stored).count()
    );
    let phantom: Vec<&String> = stored.difference(&sent).take(20).collect();
    assert!(phantom.is_empty(), "stored events nobody sent: {phantom:?}");

    // The most recently acknowledged batches, right before the kill, one by one.
    for run in &runs {
        for ids in run.acked.iter().rev().take(3) {
            for id in ids {
                let (status, doc) =
                    get_json(&http, &server.url(&format!("/api/v1/models/{MODEL}/predictions/{id}"))).await;
                assert_eq!(status, StatusCode::OK, "GET acknowledged {id}: {doc}");
                assert_eq!(doc["request_id"], Value::from(id.as_str()));
                assert_eq!(doc["version"], "v1");
            }
        }
    }

    // Re-send what was in flight: what got stored is a duplicate, the rest is new.
    let mut newly_accepted = 0;
    for ids in &in_flight {
        let already = ids.iter().filter(|id| stored.contains(*id)).count();
        let (status, body) =
            post_json(&http, &url_of(&server), &batch(ids, "v1")).await.expect("re-sending an in-flight batch");
        assert_eq!(status, StatusCode::OK, "re-sending {ids:?}: {body}");
        assert_eq!(
            (body["accepted"].as_u64(), body["duplicates"].as_u64()),
            (Some((EVENTS_PER_BATCH - already) as u64), Some(already as u64)),
            "re-sending a batch of which {already} events were stored: {body}"
        );
        assert_eq!(body["rejected"], serde_json::json!([]), "{body}");
        newly_accepted += EVENTS_PER_BATCH - already;
    }
    // Re-send acknowledged batches too (the first and the last of each client).
    for run in &runs {
        let (Some(first), Some(last)) = (run.acked.first(), run.acked.last()) else {
            continue;
        };
        for ids in [first, last] {
            let (status, body) =
                post_json(&http, &url_of(&server), &batch(ids, "v1")).await.expect("re-sending an acknowledged batch");
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(
                body,
                serde_json::json!({
                    "accepted": 0, "duplicates": EVENTS_PER_BATCH, "rejected": [],
                }),
                "re-sending an acknowledged batch"
            );
        }
    }

    let rows_after = all_request_ids(&http, &server, MODEL).await;
    let stored_after = distinct(&rows_after);
    assert_eq!(rows_after.len(), rows.len() + newly_accepted);
    assert_eq!(stored_after, sent, "after re-sending, exactly every sent event is stored");

    // The profiles, folded before the kill and refolded past their watermark after it,
    // hold every stored event exactly once.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    let quality =
        server.url(&format!("/api/v1/models/{MODEL}/data-quality?from={}&to={}", now - 3_600_000, now + 3_600_000));
    let expected = rows_after.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, doc) = get_json(&http, &quality).await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        let profiled = doc["rows"].as_u64().expect("rows");
        assert!(profiled <= expected, "profiles hold {profiled} events but {expected} are stored: some twice");
        if profiled == expected {
            break;
        }
        assert!(Instant::now() < deadline, "profiles hold {profiled} of {expected} stored events");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    eprintln!(
        "durability: killed after {acked_batches} acknowledged batches ({} events), {} events stored before the kill, {} in-flight events of which {} were stored; {:.1?} in all",
        acked_ids.len(),
        stored.len(),
        in_flight.len() * EVENTS_PER_BATCH,
        in_flight.len() * EVENTS_PER_BATCH - newly_accepted,
        started.elapsed()
    );
}

fn url_of(server: &Server) -> String {
    server.url(&format!("/api/v1/models/{MODEL}/predictions"))
}
