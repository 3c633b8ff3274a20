//! Graceful shutdown: SIGTERM while clients stream. The server finishes the requests it
//! took, exits with status 0, and after a restart holds exactly the acknowledged events.

use crate::support::{
    PROCESS_TIMEOUT, Server, all_request_ids, batch, client, create_model, distinct, get_text, post_json,
};
use reqwest::StatusCode;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const MODEL: &str = "graceful";
const CLIENTS: usize = 4;
const EVENTS_PER_BATCH: usize = 10;
const MAX_BATCHES_PER_CLIENT: usize = 5_000;
/// Acknowledged batches before the SIGTERM.
const TERM_AFTER: usize = 200;
const STREAM_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Default)]
struct ClientRun {
    acked: Vec<String>,
    /// How the client stopped: a 503 from the draining server or a closed connection.
    stopped_by: Option<String>,
    unexpected: Vec<String>,
}

async fn stream(http: reqwest::Client, url: String, c: usize, acked: Arc<AtomicUsize>) -> ClientRun {
    let mut run = ClientRun::default();
    for b in 0..MAX_BATCHES_PER_CLIENT {
        let ids: Vec<String> = (0..EVENTS_PER_BATCH).map(|e| format!("c{c}-b{b:05}-e{e}")).collect();
        match post_json(&http, &url, &batch(&ids, "v1")).await {
            Ok((StatusCode::OK, body)) => {
                if body["accepted"].as_u64() != Some(EVENTS_PER_BATCH as u64) || body["duplicates"] != 0 {
                    run.unexpected.push(format!("batch {b}: 200 with {body}"));
                    break;
                }
                run.acked.extend(ids);
                acked.fetch_add(1, Ordering::SeqCst);
            }
            // Refused while draining: not stored, the client retries elsewhere.
            Ok((StatusCode::SERVICE_UNAVAILABLE, body)) => {
                run.stopped_by = Some(format!("503 {body}"));
                break;
            }
            Ok((status, body)) => {
                run.unexpected.push(format!("batch {b}: {status} {body}"));
                break;
            }
            Err(e) => {
                run.stopped_by = Some(format!("connection: {e}"));
                break;
            }
        }
    }
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_while_streaming_exits_cleanly_and_keeps_every_acknowledged_event() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("creating a temporary data dir");
    let mut server = Server::start(dir.path());
    let http = client();
    let (status, body) = get_text(&http, &server.url("/readyz")).await;
    assert_eq!(status, StatusCode::OK, "/readyz before any traffic: {body}");
    create_model(&http, &server, MODEL).await;

    let acked = Arc::new(AtomicUsize::new(0));
    let url = server.url(&format!("/api/v1/models/{MODEL}/predictions"));
    let clients: Vec<_> =
        (0..CLIENTS).map(|c| tokio::spawn(stream(http.clone(), url.clone(), c, acked.clone()))).collect();
    let deadline = Instant::now() + STREAM_TIMEOUT;
    let mut ready_checks = 0;
    while acked.load(Ordering::SeqCst) < TERM_AFTER {
        assert!(
            Instant::now() < deadline,
            "only {} of {TERM_AFTER} batches acknowledged within {STREAM_TIMEOUT:?}",
            acked.load(Ordering::SeqCst)
        );
        assert!(!clients.iter().any(tokio::task::JoinHandle::is_finished), "a client stopped before the SIGTERM");
        // Ready all along while the clients stream.
        let (status, body) = get_text(&http, &server.url("/readyz")).await;
        assert_eq!(status, StatusCode::OK, "/readyz while streaming: {body}");
        ready_checks += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(ready_checks > 0);

    server.terminate();
    let exit = tokio::task::block_in_place(|| server.wait_exit(PROCESS_TIMEOUT));
    assert_eq!(exit.code(), Some(0), "the server's exit status after SIGTERM: {exit}");

    let mut runs = Vec::new();
    for c in clients {
        runs.push(
            tokio::time::timeout(Duration::from_secs(60), c)
                .await
                .expect("a client finished after the shutdown")
                .expect("a client task panicked"),
        );
    }
    let unexpected: Vec<&String> = runs.iter().flat_map(|r| &r.unexpected).collect();
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
    assert!(runs.iter().all(|r| r.stopped_by.is_some()), "every client was stopped by the shutdown");
    let acked_ids: HashSet<String> = runs.iter().flat_map(|r| r.acked.clone()).collect();

    drop(server);
    let server = Server::start(dir.path());
    let http = client();
    let rows = all_request_ids(&http, &server, MODEL).await;
    let stored = distinct(&rows);
    let lost: Vec<&String> = acked_ids.difference(&stored).take(20).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events are missing after a graceful shutdown (first 20): {lost:?}",
        acked_ids.difference(&stored).count()
    );
    // A graceful shutdown answers every request it took: nothing is stored that its
    // client was not told about.
    let unanswered: Vec<&String> = stored.difference(&acked_ids).take(20).collect();
    assert!(
        unanswered.is_empty(),
        "{} events were stored but never acknowledged (first 20): {unanswered:?}",
        stored.difference(&acked_ids).count()
    );

    let stops: Vec<&str> = runs
        .iter()
        .filter_map(|r| r.stopped_by.as_deref())
        .map(|s| if s.starts_with("503") { "503" } else { "closed" })
        .collect();
    eprintln!(
        "shutdown: SIGTERM after {} acknowledged events, clients stopped by {stops:?}; {:.1?} in all",
        acked_ids.len(),
        started.elapsed()
    );
}
