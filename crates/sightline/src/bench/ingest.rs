//! The ingest benchmark: 20 numeric and 5 categorical features, batches over several
//! connections, durable commits (synchronous=FULL), optionally paced to a target rate.

use super::server_process::ServerProcess;
use anyhow::Context;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events to send in all.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Events per request.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Target rate in events/s (paced); unlimited when absent.
    #[arg(long)]
    rate: Option<u64>,
    /// Extra arguments for `sightline serve` (e.g. `--synchronous=normal`).
    #[arg(long, allow_hyphen_values = true)]
    server_arg: Vec<String>,
}

const NUMERIC: usize = 20;
const CATEGORICAL: usize = 5;
const CITIES: [&str; 8] = ["paris", "lyon", "berlin", "madrid", "rome", "oslo", "lisbon", "vienna"];

fn model_document() -> serde_json::Value {
    let mut features = Vec::new();
    for i in 0..NUMERIC {
        features.push(serde_json::json!({"name": format!("num_{i}"), "type": "numeric"}));
    }
    for i in 0..CATEGORICAL {
        features.push(serde_json::json!({"name": format!("cat_{i}"), "type": "categorical"}));
    }
    serde_json::json!({
        "name": "bench", "task": "binary_classification",
        "classes": ["no", "yes"], "positive_class": "yes", "features": features,
    })
}

/// Width of the numeric part of request ids, so templates can be patched in place.
const ID_DIGITS: usize = 10;

/// A rendered batch body with the byte offsets of its request ids' digits. Bodies are
/// rendered once, before the clock starts, and then only their ids are rewritten, so
/// the load generator spends its CPU on sending, not on formatting floats.
struct Template {
    body: Vec<u8>,
    id_offsets: Vec<usize>,
}

impl Template {
    fn new(n: usize, rng: &mut impl Rng) -> Template {
        let body = render_batch(0, n, rng).into_bytes();
        let needle = b"\"request_id\":\"req-";
        let id_offsets = body
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i + needle.len())
            .collect();
        Template { body, id_offsets }
    }

    /// The body with request ids `first..first+n`.
    fn render(&self, first: usize) -> Vec<u8> {
        let mut body = self.body.clone();
        for (i, offset) in self.id_offsets.iter().enumerate() {
            let mut id = first + i;
            for pos in (0..ID_DIGITS).rev() {
                body[offset + pos] = b'0' + (id % 10) as u8;
                id /= 10;
            }
        }
        body
    }
}

/// Renders one batch body; request ids are unique across the whole run.
fn render_batch(first: usize, n: usize, rng: &mut impl Rng) -> String {
    let mut s = String::with_capacity(n * 760);
    s.push_str("{\"events\":[");
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        let id = first + i;
        let _ = write!(s, "{{\"request_id\":\"req-{id:0w$}\",\"version\":\"v1\",\"features\":{{", w = ID_DIGITS);
        for f in 0..NUMERIC {
            let _ = write!(s, "\"num_{f}\":{:.6},", rng.random::<f64>() * 100.0);
        }
        for f in 0..CATEGORICAL {
            let _ = write!(s, "\"cat_{f}\":\"{}\"", CITIES[rng.random_range(0..CITIES.len())]);
            s.push(if f + 1 < CATEGORICAL { ',' } else { '}' });
        }
        let p: f64 = rng.random();
        let _ = write!(
            s,
            ",\"prediction\":\"{}\",\"scores\":{{\"yes\":{p:.4}}},\"latency_ms\":{:.3}}}",
            if p > 0.5 { "yes" } else { "no" },
            rng.random::<f64>() * 20.0
        );
    }
    s.push_str("]}");
    s
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch > 0 && args.connections > 0 && args.events > 0,
        "events, batch and connections must be positive"
    );
    let extra: Vec<&str> = args.server_arg.iter().map(String::as_str).collect();
    let server = ServerProcess::start(&extra)?;
    let base = format!("http://{}", server.addr);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let cpu_before = server.cpu_seconds();
    let own_before = super::server_process::own_cpu_seconds();
    let threads_before = server.cpu_seconds_by_thread();
    let (elapsed, mut latencies, throttled) = runtime.block_on(drive(&base, &server.token, &args))?;
    let cpu = server.cpu_seconds().zip(cpu_before).map(|(after, before)| after - before);
    let own = super::server_process::own_cpu_seconds().zip(own_before).map(|(after, before)| after - before);
    // The aggregator folds behind the acknowledgements: its work on the last events
    // counts too, so the per-thread split is taken once it has caught up.
    let caught_up = runtime.block_on(aggregator_caught_up(&base, &server.token))?;
    let slow = runtime.block_on(slow_steps(&base, &server.token))?;
    let threads_after = server.cpu_seconds_by_thread();
    let peak = server.peak_rss_bytes();
    server.stop()?;

    latencies.sort_by(f64::total_cmp);
    let rate = args.events as f64 / elapsed.as_secs_f64();
    println!("## sightline bench ingest");
    println!();
    println!("| setting | value |");
    println!("|---|---|");
    println!("| events | {} ({} per batch, {} connections) |", args.events, args.batch, args.connections);
    println!("| target rate | {} |", args.rate.map_or("unlimited".to_string(), |r| format!("{r} events/s")));
    println!(
        "| server args | {} |",
        if extra.is_empty() { "(defaults: synchronous=full)".into() } else { extra.join(" ") }
    );
    println!();
    println!("| result | value |");
    println!("|---|---|");
    println!("| elapsed | {:.2} s |", elapsed.as_secs_f64());
    println!("| throughput | {rate:.0} events/s |");
    println!("| batch ack latency p50 | {:.1} ms |", percentile(&latencies, 0.50));
    println!("| batch ack latency p99 | {:.1} ms |", percentile(&latencies, 0.99));
    println!("| batch ack latency max | {:.1} ms |", percentile(&latencies, 1.0));
    println!("| 429 answers (retried) | {throttled} |");
    println!(
        "| server CPU time | {} |",
        cpu.map_or("unknown".into(), |c| format!("{c:.2} s ({:.1} µs per event)", c * 1e6 / args.events as f64))
    );
    println!(
        "| load generator CPU time (this process, on the same cores) | {} |",
        own.map_or("unknown".into(), |c| format!("{c:.2} s ({:.1} µs per event)", c * 1e6 / args.events as f64))
    );
    println!("| server peak RSS | {} |", peak.map_or("unknown".into(), |b| format!("{:.0} MB", b as f64 / 1e6)));
    println!(
        "| aggregator caught up | {} |",
        caught_up.map_or("not within 60 s".into(), |d| format!("{:.2} s after the last answer", d.as_secs_f64()))
    );
    let per_event = |s: f64| s * 1e6 / args.events as f64;
    let mut split: Vec<(String, f64)> = threads_after
        .iter()
        .map(|(name, after)| (name.clone(), after - threads_before.get(name).copied().unwrap_or(0.0)))
        .filter(|(_, s)| *s >= 0.01)
        .collect();
    split.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = split.iter().map(|(_, s)| s).sum();
    let parts: Vec<String> = split.iter().map(|(name, s)| format!("{name} {:.2}", per_event(*s))).collect();
    println!("| server steps over 25 ms (of all) | {slow} |");
    println!("| server CPU by thread, to catch-up | {:.1} µs per event: {} |", per_event(total), parts.join(", "));
    Ok(())
}

/// How many group commits and aggregator flushes took longer than 25 ms, from the
/// server's histograms: where slow acknowledgements may come from.
async fn slow_steps(base: &str, token: &str) -> anyhow::Result<String> {
    let text = reqwest::Client::new().get(format!("{base}/metrics")).bearer_auth(token).send().await?.text().await?;
    let value = |series: &str| {
        text.lines().find_map(|l| l.strip_prefix(series)).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0)
    };
    let slow = |histogram: &str| {
        let all = value(&format!("{histogram}_count "));
        let fast = value(&format!("{histogram}_bucket{{le=\"0.025\"}} "));
        format!("{:.0} of {all:.0}", all - fast)
    };
    Ok(format!(
        "commits {}, aggregator flushes {}",
        slow("sightline_store_commit_duration_seconds"),
        slow("sightline_aggregator_flush_duration_seconds")
    ))
}

/// Waits until the aggregator's two passes have read every committed event (their lag
/// gauges on `/metrics` are 0), at most 60 s; how long that took after the last answer.
async fn aggregator_caught_up(base: &str, token: &str) -> anyhow::Result<Option<Duration>> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let text = client.get(format!("{base}/metrics")).bearer_auth(token).send().await?.text().await?;
        let lag =
            |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse::<f64>().ok());
        if lag("sightline_aggregator_lag_events ") == Some(0.0)
            && lag("sightline_outcome_tally_lag_events ") == Some(0.0)
        {
            return Ok(Some(started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(None)
}

async fn drive(base: &str, token: &str, args: &Args) -> anyhow::Result<(Duration, Vec<f64>, usize)> {
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections).default_headers(auth).build()?;
    let created = client
        .post(format!("{base}/api/v1/models"))
        .header("content-type", "application/json")
        .body(model_document().to_string())
        .send()
        .await?;
    anyhow::ensure!(created.status().as_u16() == 201, "creating the model: {}", created.status());

    let batches = args.events.div_ceil(args.batch);
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let templates: Arc<Vec<Template>> = Arc::new((0..16).map(|_| Template::new(args.batch, &mut rng)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for conn in 0..args.connections {
        let (client, next, throttled, templates) = (client.clone(), next.clone(), throttled.clone(), templates.clone());
        let url = format!("{base}/api/v1/models/bench/predictions");
        let (batch, events, rate, connections) = (args.batch, args.events, args.rate, args.connections);
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(conn as u64);
            let mut latencies = Vec::new();
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    break;
                }
                let first = b * batch;
                let n = batch.min(events - first);
                if let Some(rate) = rate {
                    // Pace: batch b is due when the run has sent b*batch events at `rate`.
                    let due = started + Duration::from_secs_f64(first as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let body = if n == batch {
                    templates[b % templates.len()].render(first)
                } else {
                    render_batch(first, n, &mut rng).into_bytes()
                };
                loop {
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .context("sending a batch")?;
                    let status = response.status().as_u16();
                    let text = response.text().await.context("reading the answer")?;
                    if status == 429 || status == 503 {
                        throttled.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    anyhow::ensure!(status == 200, "batch {b}: HTTP {status}: {text}");
                    let answer: serde_json::Value = serde_json::from_str(&text)?;
                    anyhow::ensure!(answer["accepted"] == n, "batch {b}: not all accepted: {text}");
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
                let _ = connections;
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((started.elapsed(), all, throttled.load(Ordering::Relaxed)))
}
