//! The month benchmark: a server holding 30 days of minute-level traffic for a model of
//! 20 numeric and 5 categorical features (profiles rolled up as retention leaves them:
//! minutes for the last two days, hours, days), half of it labelled, with latencies and
//! a few errors; then the time of drift, data-quality and performance queries over all
//! 30 days, as one window and as a daily series, and of the web UI's pages.

use super::server_process::ServerProcess;
use anyhow::Context;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Days of traffic.
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// Events per minute.
    #[arg(long, default_value_t = 10)]
    per_minute: usize,
    /// Timed repetitions of each query.
    #[arg(long, default_value_t = 20)]
    repeat: usize,
}

const NUMERIC: usize = 20;
const CATEGORICAL: usize = 5;
const CITIES: [&str; 8] = ["paris", "lyon", "berlin", "madrid", "rome", "oslo", "lisbon", "vienna"];

fn model() -> Value {
    let mut features: Vec<Value> =
        (0..NUMERIC).map(|i| json!({"name": format!("num_{i}"), "type": "numeric"})).collect();
    features.extend((0..CATEGORICAL).map(|i| json!({"name": format!("cat_{i}"), "type": "categorical"})));
    json!({"name": "bench", "task": "binary_classification", "classes": ["no", "yes"],
           "positive_class": "yes", "features": features})
}

fn features(rng: &mut rand::rngs::StdRng, shift: f64) -> Value {
    let mut f = serde_json::Map::new();
    for i in 0..NUMERIC {
        f.insert(format!("num_{i}"), json!(rng.random::<f64>() * 100.0 + shift));
    }
    for i in 0..CATEGORICAL {
        f.insert(format!("cat_{i}"), json!(CITIES[rng.random_range(0..CITIES.len())]));
    }
    Value::Object(f)
}

fn reference_csv(rng: &mut rand::rngs::StdRng, rows: usize) -> String {
    let header: Vec<String> =
        (0..NUMERIC).map(|i| format!("num_{i}")).chain((0..CATEGORICAL).map(|i| format!("cat_{i}"))).collect();
    let mut out = header.join(",");
    out.push('\n');
    for _ in 0..rows {
        let mut row: Vec<String> = (0..NUMERIC).map(|_| format!("{:.4}", rng.random::<f64>() * 100.0)).collect();
        row.extend((0..CATEGORICAL).map(|_| CITIES[rng.random_range(0..CITIES.len())].to_owned()));
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

async fn send(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    ct: &str,
    body: Vec<u8>,
) -> anyhow::Result<Value> {
    let r = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", ct)
        .body(body)
        .send()
        .await?;
    let status = r.status();
    let doc: Value = serde_json::from_slice(&r.bytes().await?).unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{path}: {status} {doc}");
    Ok(doc)
}

async fn timed(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    repeat: usize,
) -> anyhow::Result<(Timing, Value)> {
    let mut times = Vec::with_capacity(repeat);
    let mut last = Value::Null;
    for _ in 0..repeat {
        let started = Instant::now();
        let r = http.get(format!("{base}{path}")).bearer_auth(token).send().await?;
        let status = r.status();
        last = serde_json::from_slice(&r.bytes().await?)?;
        times.push(started.elapsed());
        anyhow::ensure!(status.is_success(), "{path}: {status} {last}");
    }
    Ok((Timing::of(times), last))
}

/// The first of a query's repetitions (cold: caches of fits, explanations and the
/// like are empty) and their median.
#[derive(Clone, Copy)]
struct Timing {
    first: Duration,
    median: Duration,
}

impl Timing {
    fn of(mut times: Vec<Duration>) -> Timing {
        let first = times.first().copied().unwrap_or_default();
        times.sort();
        Timing { first, median: times.get(times.len() / 2).copied().unwrap_or_default() }
    }
}

/// Creates an administrator and signs in as them; the session cookie.
async fn sign_in(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<String> {
    let user = json!({"name": "bench", "password": "bench-password-1234", "admin": true}).to_string().into_bytes();
    send(http, base, token, reqwest::Method::POST, "/api/v1/users", "application/json", user).await?;
    let login = json!({"username": "bench", "password": "bench-password-1234"});
    let r = http
        .post(format!("{base}/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(login.to_string())
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "sign-in: {}", r.status());
    let cookie = r.headers().get(reqwest::header::SET_COOKIE).context("sign-in without a session cookie")?;
    let pair = cookie.to_str()?.split(';').next().unwrap_or_default().to_owned();
    Ok(pair)
}

/// Waits for the outcome pass to catch up with the profiles. Every label here arrives
/// after its prediction, so it is queued as a late label, and the outcome pass folds
/// that queue after the profiles are done; until it has, window reads add the queued
/// labels themselves and take longer. Nothing in the API says how far the pass is, so
/// the 30-day performance query is repeated until its time settles: three reads in a
/// row within 20 % of the fastest one, or a minute at most (on a busy machine reads
/// vary more than that; the run then goes on, and says so).
async fn settle(http: &reqwest::Client, base: &str, token: &str, path: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut times: Vec<Duration> = Vec::new();
    loop {
        times.push(timed(http, base, token, path, 1).await?.0.median);
        let fastest = times.iter().min().copied().unwrap_or_default();
        if times.len() >= 3 && times[times.len() - 3..].iter().all(|t| t.as_secs_f64() <= fastest.as_secs_f64() * 1.2) {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            eprintln!("performance reads did not settle within a minute ({} reads); timing anyway", times.len());
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// What [`furnish`] made that pages are named by.
struct Furnished {
    monitor: String,
    incident: String,
    /// An error group (the timeouts).
    issue: i64,
}

/// Gives every page something to show: registry facts, a stage and an alias for v1, a
/// model file to explain it with (the demo's XGBoost model, reading eight numeric
/// features), monitors with a firing alert, error groups, an incident with a note.
async fn furnish(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<Furnished> {
    use reqwest::Method;
    let json_ct = "application/json";
    let send_json = |method: Method, path: String, body: Value| async move {
        send(http, base, token, method, &path, json_ct, body.to_string().into_bytes()).await
    };
    let facts = json!({"description": "the month's model", "source": "s3://models/bench/v1", "git_commit": "0123abc",
                       "params": {"max_depth": "4", "eta": "0.15"}, "metrics": {"roc_auc": 0.81, "accuracy": 0.74},
                       "tags": {"team": "bench"}});
    send_json(Method::PATCH, "/api/v1/models/bench/versions/v1".into(), facts).await?;
    let stage = json!({"stage": "Production", "reason": "serving the month"});
    send_json(Method::PUT, "/api/v1/models/bench/versions/v1/stage".into(), stage).await?;
    let alias = json!({"version": "v1", "reason": "the champion"});
    send_json(Method::PUT, "/api/v1/models/bench/aliases/champion".into(), alias).await?;
    let features: Vec<String> = (0..8).map(|i| format!("num_{i}")).collect();
    let path = format!("/api/v1/models/bench/versions/v1/explainer/model-file?features={}", features.join(","));
    let model = sightline_server::demo::EXPLAINER_MODEL.to_vec();
    send(http, base, token, Method::PUT, &path, "application/octet-stream", model).await?;
    let monitors = [
        json!({"id": "bench-traffic", "model": "bench", "signal": "throughput", "condition": {"op": ">=", "value": 0.0},
               "window": "1h", "interval": "1m", "severity": "low", "labels": {"team": "bench"}}),
        json!({"id": "bench-errors", "model": "bench", "signal": "error_rate", "condition": {"op": ">", "value": 0.05},
               "window": "15m", "interval": "1m", "severity": "high"}),
        json!({"id": "bench-drift", "model": "bench", "signal": {"kind": "drift_score", "feature": "num_0", "method": "psi"},
               "condition": {"op": ">", "value": 0.2}, "window": "1h", "interval": "5m", "severity": "medium"}),
    ];
    for monitor in monitors {
        send_json(Method::POST, "/api/v1/monitors".into(), monitor).await?;
    }
    let errors: Vec<Value> = (0..60)
        .map(|i| {
            let (kind, message) = match i % 3 {
                0 => ("TimeoutError", format!("upstream feature store timed out after {} ms", 100 + i)),
                1 => ("KeyError", format!("missing feature 'num_{}'", i % 20)),
                _ => ("ValueError", "could not convert string to float: 'n/a'".to_owned()),
            };
            json!({"type": kind, "message": message, "version": "v1"})
        })
        .collect();
    send_json(Method::POST, "/api/v1/models/bench/errors".into(), json!({ "events": errors })).await?;
    let issues = send(http, base, token, Method::GET, "/api/v1/models/bench/issues", json_ct, Vec::new()).await?;
    let issue = issues["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["type"] == "TimeoutError"))
        .and_then(|i| i["id"].as_i64())
        .context("the reported timeouts are not an issue")?;
    let incident =
        json!({"title": "latency over budget", "severity": "high", "runbook_url": "https://example.com/runbook"});
    let incident = send_json(Method::POST, "/api/v1/incidents".into(), incident).await?;
    let id = incident["id"].as_str().map_or_else(|| incident["id"].to_string(), str::to_owned);
    let note = json!({"text": "the feature store was slow; retried"});
    send_json(Method::POST, format!("/api/v1/incidents/{id}/notes"), note).await?;
    // Lineage: loans → features (an ETL job) → the model version (a training job).
    let steps = [
        ("0193a0c0-0000-7000-8000-000000000001", "etl", "features", ("db", "loans"), ("lake", "features")),
        ("0193a0c0-0000-7000-8000-000000000002", "ml", "train_bench", ("lake", "features"), ("sightline", "bench/v1")),
    ];
    for (run, job_namespace, job, input, output) in steps {
        let event = json!({"eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z",
            "producer": "https://example.com/bench", "run": {"runId": run},
            "job": {"namespace": job_namespace, "name": job},
            "inputs": [{"namespace": input.0, "name": input.1}], "outputs": [{"namespace": output.0, "name": output.1}]});
        send_json(Method::POST, "/api/v1/lineage".into(), event).await?;
    }
    // The scheduler evaluates a new monitor at once; its alert fires with `for` 0.
    let started = Instant::now();
    loop {
        let (_, alerts) = timed(http, base, token, "/api/v1/alerts?monitor=bench-traffic", 1).await?;
        if alerts["items"].as_array().is_some_and(|items| !items.is_empty()) {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "the always-firing monitor never fired");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(Furnished { monitor: "bench-traffic".into(), incident: id, issue })
}

/// The time to fetch a page whole, first and median.
async fn timed_page(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    path: &str,
    repeat: usize,
) -> anyhow::Result<Timing> {
    let mut times = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let started = Instant::now();
        let r = http.get(format!("{base}{path}")).header(reqwest::header::COOKIE, cookie).send().await?;
        let (status, landed) = (r.status(), r.url().path().to_owned());
        let body = r.bytes().await?;
        times.push(started.elapsed());
        anyhow::ensure!(status.is_success(), "{path}: {status} {}", String::from_utf8_lossy(&body));
        // A lost session redirects to the sign-in page, which must not be what is timed.
        anyhow::ensure!(path.starts_with(&landed), "{path} landed on {landed}");
    }
    Ok(Timing::of(times))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.days > 0 && args.per_minute > 0 && args.repeat > 0,
        "days, per_minute and repeat must be positive"
    );
    let server = ServerProcess::start(&[])?;
    let base = format!("http://{}", server.addr);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let result = runtime.block_on(drive(&base, &server.token, &args));
    server.stop()?;
    let (events, fold_time, results) = result?;
    println!("## sightline bench queries");
    println!();
    println!(
        "{} days of traffic, {} events per minute ({events} events, half of them labelled), 25 features; profiles folded in {:.1} s.",
        args.days,
        args.per_minute,
        fold_time.as_secs_f64()
    );
    println!();
    println!("| query | first | median of {} | windows | events |", args.repeat);
    println!("|---|---|---|---|---|");
    for (name, time, windows, rows) in results {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("| {name} | {:.1} ms | {:.1} ms | {windows} | {rows} |", ms(time.first), ms(time.median));
    }
    Ok(())
}

type Results = (usize, Duration, Vec<(&'static str, Timing, usize, u64)>);

async fn drive(base: &str, token: &str, args: &Args) -> anyhow::Result<Results> {
    let http = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    send(
        &http,
        base,
        token,
        reqwest::Method::POST,
        "/api/v1/models",
        "application/json",
        model().to_string().into_bytes(),
    )
    .await?;
    let csv = reference_csv(&mut rng, 50_000);
    send(&http, base, token, reqwest::Method::PUT, "/api/v1/models/bench/reference", "text/csv", csv.into_bytes())
        .await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    let end = now - now % 60_000;
    let start = end - args.days * 86_400_000;
    let minutes = (end - start) / 60_000;
    let mut events = Vec::with_capacity(5_000);
    let mut labels = Vec::with_capacity(5_000);
    let started = Instant::now();
    for m in 0..minutes {
        // A slow drift on every numeric feature over the month.
        let shift = 20.0 * m as f64 / minutes as f64;
        for i in 0..args.per_minute {
            let request_id = format!("m{m}-{i}");
            let timestamp = start + m * 60_000 + (i as i64 * 60_000 / args.per_minute as i64);
            let score: f64 = rng.random();
            // Mostly fast, a long tail; one failed call in a hundred.
            let latency = 4.0 + 40.0 * rng.random::<f64>().powi(4);
            let mut event = json!({
                "request_id": request_id,
                "timestamp": timestamp,
                "version": "v1",
                "features": features(&mut rng, shift),
                "latency_ms": latency,
            });
            if rng.random_range(0..100) == 0 {
                event["error"] = json!({"type": "TimeoutError", "message": "upstream feature store timed out"});
            } else {
                event["prediction"] = json!(if score >= 0.5 { "yes" } else { "no" });
                event["scores"] = json!({"yes": (score * 1e4).round() / 1e4});
                // Half the predictions get their label five minutes later, true with the
                // score's probability (a calibrated model).
                if i % 2 == 0 {
                    let label = if rng.random::<f64>() < score { "yes" } else { "no" };
                    labels.push(json!({"request_id": request_id, "label": label, "timestamp": timestamp + 300_000}));
                }
            }
            events.push(event);
        }
        if events.len() >= 5_000 || m + 1 == minutes {
            let body = json!({ "events": std::mem::take(&mut events) }).to_string().into_bytes();
            let path = "/api/v1/models/bench/predictions";
            send(&http, base, token, reqwest::Method::POST, path, "application/json", body).await?;
            let body = json!({ "labels": std::mem::take(&mut labels) }).to_string().into_bytes();
            let path = "/api/v1/models/bench/feedback";
            send(&http, base, token, reqwest::Method::POST, path, "application/json", body).await?;
        }
    }
    let total = (minutes as usize) * args.per_minute;
    // Wait until the profiles hold every event.
    let all = format!("/api/v1/models/bench/data-quality?from={start}&to={end}");
    loop {
        let (_, doc) = timed(&http, base, token, &all, 1).await?;
        if doc["rows"].as_u64() == Some(total as u64) {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(1_800), "profiles never caught up: {doc}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let fold_time = started.elapsed();
    settle(&http, base, token, &format!("/api/v1/models/bench/performance?from={start}&to={end}")).await?;
    let day_ago = end - 86_400_000;
    let queries: Vec<(&'static str, String)> = vec![
        ("drift, one 30-day window", format!("/api/v1/models/bench/drift?from={start}&to={end}")),
        ("drift, daily series (30 windows)", format!("/api/v1/models/bench/drift?from={start}&to={end}&step=1d")),
        ("data quality, one 30-day window", all.clone()),
        ("drift, last hour (minute profiles)", format!("/api/v1/models/bench/drift?from={}&to={end}", end - 3_600_000)),
        ("performance, one 30-day window", format!("/api/v1/models/bench/performance?from={start}&to={end}")),
        (
            "performance, daily series (30 windows)",
            format!("/api/v1/models/bench/performance?from={start}&to={end}&step=1d"),
        ),
        (
            "performance, 30 days with CBPE estimates (reference: the first day)",
            format!(
                "/api/v1/models/bench/performance?from={start}&to={end}&step=1d&reference_from={start}&reference_to={}",
                start + 86_400_000
            ),
        ),
        ("performance, last 24 hours", format!("/api/v1/models/bench/performance?from={day_ago}&to={end}")),
    ];
    let mut results = Vec::new();
    for (name, path) in queries {
        let (time, doc) = timed(&http, base, token, &path, args.repeat).await.with_context(|| name.to_owned())?;
        let windows = doc["windows"].as_array().map_or(1, Vec::len);
        let rows = match doc["windows"].as_array() {
            Some(w) => w.iter().filter_map(|x| x["rows"].as_u64().or(x["predictions"].as_u64())).sum(),
            None => doc["rows"].as_u64().or(doc["predictions"].as_u64()).unwrap_or(0),
        };
        results.push((name, time, windows, rows));
    }
    // The web UI's pages, signed in as an administrator, with something on each.
    let ids = furnish(&http, base, token).await?;
    let cookie = sign_in(&http, base, token).await?;
    let newest = format!("/ui/models/bench/predictions/m{}-0", minutes - 1);
    let monitor = format!("/ui/monitors/{}", ids.monitor);
    let incident = format!("/ui/incidents/{}", ids.incident);
    let issue = format!("/ui/models/bench/issues/{}", ids.issue);
    let pages: Vec<(&'static str, &str)> = vec![
        ("UI: overview", "/ui/"),
        ("UI: model page, last 30 days", "/ui/models/bench?range=30d"),
        ("UI: model page, last 7 days", "/ui/models/bench?range=7d"),
        ("UI: model page, last 24 hours", "/ui/models/bench?range=24h"),
        ("UI: model page, last hour (default)", "/ui/models/bench"),
        ("UI: feature page, last 30 days", "/ui/models/bench/features/num_3?range=30d"),
        ("UI: predictions explorer", "/ui/models/bench/predictions"),
        ("UI: one prediction (with its TreeSHAP waterfall)", &newest),
        ("UI: explanations, last 30 days", "/ui/models/bench/versions/v1/explain?range=30d"),
        ("UI: explanations, last hour (default)", "/ui/models/bench/versions/v1/explain"),
        ("UI: registry", "/ui/models/bench/registry"),
        ("UI: version page", "/ui/models/bench/versions/v1"),
        ("UI: alerts and monitors", "/ui/alerts"),
        ("UI: a monitor", &monitor),
        ("UI: incidents", "/ui/incidents"),
        ("UI: an incident", &incident),
        ("UI: error groups", "/ui/models/bench/issues"),
        ("UI: an error group", &issue),
        ("UI: lineage (around the version)", "/ui/lineage?nodeId=dataset%3Asightline%3Abench%2Fv1"),
        ("UI: settings", "/ui/settings"),
    ];
    for (name, path) in pages {
        let time = timed_page(&http, base, &cookie, path, args.repeat).await.with_context(|| name.to_owned())?;
        results.push((name, time, 1, 0));
    }
    Ok((total, fold_time, results))
}
