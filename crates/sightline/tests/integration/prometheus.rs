//! A real Prometheus scrapes the server's /metrics and its query API reports exactly
//! the predictions and labels that were ingested.

use crate::support::{ChildGuard, Server, batch, client, create_model, external_tool, free_port, get_json, post_json};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MODEL: &str = "churn";
/// Predictions per version, and labels for the first so many predictions of each.
const PREDICTIONS: [(&str, usize, usize); 2] = [("v1", 120, 40), ("v2", 75, 10)];
/// Longest wait for Prometheus to start and to have scraped the counts.
const PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(60);

fn prediction_ids(version: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{version}-{i:04}")).collect()
}

/// `(model, version) → value` of an instant-vector query result; a series without a
/// `version` label (Prometheus drops empty label values) is keyed by "".
fn by_model_version(doc: &Value) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    let Some(result) = doc["data"]["result"].as_array() else {
        return out;
    };
    for series in result {
        let label = |name: &str| series["metric"][name].as_str().unwrap_or("").to_owned();
        let value = series["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
        out.insert((label("model"), label("version")), value);
    }
    out
}

async fn query(http: &reqwest::Client, base: &str, promql: &str) -> Value {
    let url =
        reqwest::Url::parse_with_params(&format!("{base}/api/v1/query"), [("query", promql)]).expect("a query URL");
    let (status, doc) = get_json(http, url.as_str()).await;
    assert_eq!(status, StatusCode::OK, "query {promql}: {doc}");
    assert_eq!(doc["status"], "success", "query {promql}: {doc}");
    doc
}

/// Polls `promql` until its result equals `expected` or the deadline passes, then
/// asserts equality (so a failure shows the last result).
async fn wait_for(
    http: &reqwest::Client,
    base: &str,
    promql: &str,
    expected: &BTreeMap<(String, String), f64>,
    deadline: Instant,
) {
    loop {
        let got = by_model_version(&query(http, base, promql).await);
        if &got == expected || Instant::now() >= deadline {
            assert_eq!(&got, expected, "Prometheus query {promql}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A Prometheus child process on a loopback port, scraping one target every second,
/// with a temporary TSDB; killed when dropped, also on panic.
struct Prometheus {
    _child: ChildGuard,
    base: String,
}

impl Prometheus {
    /// Starts `binary` scraping `target`'s /metrics and waits until it is ready.
    async fn start(binary: &Path, dir: &Path, target: SocketAddr, http: &reqwest::Client) -> Prometheus {
        // Prometheus scrapes as operators would set it up: a server-wide read-only token.
        let (status, made) = post_json(
            http,
            &format!("http://{target}/api/v1/tokens"),
            &json!({ "name": "prometheus", "role": "viewer" }),
        )
        .await
        .expect("creating the scrape token");
        assert_eq!(status, StatusCode::CREATED, "{made}");
        let token = made["token"].as_str().expect("a token");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: sightline
    scrape_interval: 1s
    scrape_timeout: 1s
    authorization:
      credentials: '{token}'
    static_configs:
      - targets: ['{target}']
"
            ),
        )
        .expect("writing prometheus.yml");
        let log_path = dir.join("prometheus.log");
        let log = std::fs::File::create(&log_path).expect("creating the prometheus log");
        let port = free_port();
        let mut child = ChildGuard(
            Command::new(binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("cloning the log file handle"))
                .stderr(log)
                .spawn()
                .expect("starting prometheus"),
        );
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PROMETHEUS_TIMEOUT;
        let prometheus_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        loop {
            if let Some(status) = child.0.try_wait().expect("polling prometheus") {
                panic!("prometheus exited with {status}; its log:\n{}", prometheus_log());
            }
            let ready = http.get(format!("{base}/-/ready")).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return Prometheus { _child: child, base };
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within {PROMETHEUS_TIMEOUT:?}; its log:\n{}",
                prometheus_log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn series(pairs: &[(&str, &str, usize)]) -> BTreeMap<(String, String), f64> {
    pairs.iter().map(|(m, v, n)| (((*m).to_owned(), (*v).to_owned()), *n as f64)).collect()
}

async fn ingest_predictions(http: &reqwest::Client, server: &Server, version: &str, ids: &[String]) {
    let url = server.url(&format!("/api/v1/models/{MODEL}/predictions"));
    for chunk in ids.chunks(50) {
        let (status, body) = post_json(http, &url, &batch(chunk, version)).await.expect("ingesting predictions");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["accepted"].as_u64(), Some(chunk.len() as u64), "{body}");
    }
}

async fn ingest_labels(http: &reqwest::Client, server: &Server, ids: &[String]) {
    let labels: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let label = ["no", "yes"][i % 2];
            json!({"request_id": id, "label": label})
        })
        .collect();
    let url = server.url(&format!("/api/v1/models/{MODEL}/feedback"));
    let (status, body) = post_json(http, &url, &json!({ "labels": labels })).await.expect("ingesting labels");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"].as_u64(), Some(ids.len() as u64), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_exact_prediction_and_label_counts() {
    let Some(prometheus) = external_tool("prometheus") else {
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("creating a temporary dir");
    let server = Server::start(&dir.path().join("sightline"));
    let http = client();
    create_model(&http, &server, MODEL).await;
    for (version, n, labelled) in PREDICTIONS {
        let ids = prediction_ids(version, n);
        ingest_predictions(&http, &server, version, &ids).await;
        ingest_labels(&http, &server, &ids[..labelled]).await;
    }

    let prom = Prometheus::start(&prometheus, dir.path(), server.addr, &http).await;
    let deadline = Instant::now() + PROMETHEUS_TIMEOUT;
    let expected: Vec<_> = PREDICTIONS.iter().map(|(v, n, _)| (MODEL, *v, *n)).collect();
    wait_for(&http, &prom.base, "sightline_predictions_total", &series(&expected), deadline).await;
    let expected: Vec<_> = PREDICTIONS.iter().map(|(v, _, l)| (MODEL, *v, *l)).collect();
    wait_for(&http, &prom.base, "sightline_labels_total", &series(&expected), deadline).await;
    let total_labels = PREDICTIONS.iter().map(|(_, _, l)| l).sum();
    wait_for(&http, &prom.base, "sum(sightline_labels_total)", &series(&[("", "", total_labels)]), deadline).await;
    // The scrape itself was healthy.
    wait_for(&http, &prom.base, "up{job=\"sightline\"}", &series(&[("", "", 1)]), deadline).await;
    drop(prom);
    eprintln!("prometheus: exact counts scraped; {:.1?} in all", started.elapsed());
}

/// Labels may arrive before their predictions; they are counted under version "" (in
/// Prometheus: no version label). That must not make a prediction series for version
/// "" appear: no such version served anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_labels_make_no_phantom_prediction_series() {
    let Some(prometheus) = external_tool("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("creating a temporary dir");
    let server = Server::start(&dir.path().join("sightline"));
    let http = client();
    create_model(&http, &server, MODEL).await;
    let early: Vec<String> = (0..5).map(|i| format!("early-{i}")).collect();
    ingest_labels(&http, &server, &early).await;
    ingest_predictions(&http, &server, "v1", &prediction_ids("v1", 3)).await;

    let prom = Prometheus::start(&prometheus, dir.path(), server.addr, &http).await;
    let deadline = Instant::now() + PROMETHEUS_TIMEOUT;
    wait_for(&http, &prom.base, "sightline_labels_total{version=\"\"}", &series(&[(MODEL, "", 5)]), deadline).await;
    // Scraped: the predictions are there, and only the version that served them.
    let got = by_model_version(&query(&http, &prom.base, "sightline_predictions_total").await);
    assert_eq!(got, series(&[(MODEL, "v1", 3)]), "sightline_predictions_total");
    let got = by_model_version(&query(&http, &prom.base, "sightline_prediction_latency_seconds_count").await);
    assert_eq!(got, series(&[(MODEL, "v1", 3)]), "sightline_prediction_latency_seconds_count");
}
