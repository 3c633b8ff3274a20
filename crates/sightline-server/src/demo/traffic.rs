//! The demo's setup (model, versions, the challenger's model file, reference, monitors,
//! registry entries through `registry.rs`) and its endless traffic:
//! predictions at the configured rate with a latency spike every ten minutes, a burst
//! of errors every seven, and each label sent two to six minutes after its prediction.

use super::client::Client;
use super::population::{Applicant, MODEL, Population, VERSIONS, class_of, drift_amount, model_spec};
use crate::wire::time::parse_query;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use reqwest::Method;
use serde_json::{Value, json};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// History generated when the model is new, so that charts have an hour behind them.
const BACKFILL_MS: i64 = 60 * 60_000;
/// Most events per second of history: an hour of it stays a few seconds of start-up.
const BACKFILL_MAX_RATE: f64 = 20.0;
const REFERENCE_ROWS: usize = 5_000;
const SPIKE_EVERY_MS: i64 = 10 * 60_000;
const SPIKE_MS: i64 = 60_000;
const BURST_EVERY_MS: i64 = 7 * 60_000;
const BURST_MS: i64 = 30_000;
/// Most labels waiting to be sent; past it the oldest are dropped (the demo never
/// needs more than rate × six minutes).
const MAX_PENDING_LABELS: usize = 500_000;
const MAX_BATCH: usize = 5_000;
/// The challenger's model file and the features it reads, in its column order.
pub const V2_MODEL: &[u8] = include_bytes!("credit_risk_v2.json");
const EXPLAINED_FEATURES: &str =
    "age,income,loan_amount,credit_score,debt_to_income,employment_years,open_accounts,has_cosigner";

/// A label to send once its time has come: (due time, request id, label).
type Pending = Reverse<(i64, String, &'static str)>;

pub struct Traffic {
    client: Client,
    population: Population,
    rng: StdRng,
    latency: [LogNormal<f64>; 2],
    /// The demo's time zero: drift grows from here, spikes and bursts repeat from here.
    origin_ms: i64,
    labels: BinaryHeap<Pending>,
    counter: u64,
}

fn now_ms() -> i64 {
    crate::wire::time::now_ms()
}

impl Traffic {
    pub fn new(client: Client, seed: u64) -> Result<Traffic, String> {
        let latency = |median: f64| LogNormal::new(median.ln(), 0.35).map_err(|e| format!("latency: {e}"));
        Ok(Traffic {
            client,
            population: Population::new()?,
            rng: StdRng::seed_from_u64(seed),
            latency: [latency(12.0)?, latency(17.0)?],
            origin_ms: now_ms(),
            labels: BinaryHeap::new(),
            counter: 0,
        })
    }

    /// Creates what is missing (an earlier demo run on the same data directory leaves
    /// it all in place) and, for a new model, an hour of history.
    pub async fn setup(&mut self, seed: u64, rate: f64) -> Result<(), String> {
        let (status, created) = self.client.json(Method::POST, "/models", &model_spec()).await?;
        let model = if status.is_success() {
            created
        } else if status == reqwest::StatusCode::CONFLICT {
            self.client.ensure(Method::GET, &format!("/models/{MODEL}"), &Value::Null).await?
        } else {
            return Err(format!("cannot create the demo model: {status} {created}"));
        };
        let created_ms = model["created_at"].as_str().and_then(|t| parse_query(t).ok()).unwrap_or_else(now_ms);
        let is_new = status.is_success();
        self.origin_ms = created_ms - BACKFILL_MS;
        for (name, description) in VERSIONS {
            let body = json!({ "name": name, "description": description });
            self.client.ensure(Method::POST, &format!("/models/{MODEL}/versions"), &body).await?;
        }
        // The challenger is a real XGBoost model (`scripts/demo/train_explainer.py`): its
        // file lets every explanation page show something.
        let path = format!("/models/{MODEL}/versions/v2/explainer/model-file?features={EXPLAINED_FEATURES}");
        let (status, answer) =
            self.client.send(Method::PUT, &path, "application/octet-stream", V2_MODEL.to_vec()).await?;
        if !status.is_success() {
            return Err(format!("cannot upload the demo's v2 model file: {status} {answer}"));
        }
        let references = self.client.ensure(Method::GET, &format!("/models/{MODEL}/reference"), &Value::Null).await?;
        if references["items"].as_array().is_none_or(|items| items.is_empty()) {
            self.upload_reference(seed).await?;
        }
        for monitor in monitors() {
            self.client.ensure(Method::POST, "/monitors", &monitor).await?;
        }
        if is_new {
            super::registry::record(&self.client, &self.population, seed, V2_MODEL).await?;
            self.backfill(rate).await?;
            super::registry::check_gate(&self.client).await?;
        }
        Ok(())
    }

    /// Training data: the undrifted population with v1's predictions.
    async fn upload_reference(&mut self, seed: u64) -> Result<(), String> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_f7ef);
        let mut csv = String::with_capacity(REFERENCE_ROWS * 96);
        csv.push_str(Applicant::csv_header());
        csv.push('\n');
        for _ in 0..REFERENCE_ROWS {
            let a = self.population.draw(&mut rng, 0.0);
            let score = self.population.score(&mut rng, &a, "v1");
            csv.push_str(&a.csv_row(class_of(score)));
            csv.push('\n');
        }
        let path = format!("/models/{MODEL}/reference");
        let (status, body) = self.client.send(Method::PUT, &path, "text/csv", csv.into_bytes()).await?;
        if !status.is_success() {
            return Err(format!("cannot upload the demo reference: {status} {body}"));
        }
        Ok(())
    }

    /// `[origin, now)` of traffic at the live rate, at most [`BACKFILL_MAX_RATE`].
    async fn backfill(&mut self, rate: f64) -> Result<(), String> {
        let now = now_ms();
        let step = 1000.0 / rate.min(BACKFILL_MAX_RATE);
        let mut batch = Vec::with_capacity(MAX_BATCH);
        for i in 0_u32.. {
            let t = self.origin_ms + (i as f64 * step) as i64;
            if t >= now {
                break;
            }
            batch.push(self.event(t));
            if batch.len() == MAX_BATCH {
                self.post_predictions(std::mem::take(&mut batch)).await?;
            }
        }
        self.post_predictions(batch).await?;
        self.send_due_labels(now).await
    }

    /// One prediction event at `t`, queueing its label.
    fn event(&mut self, t: i64) -> Value {
        let since = t - self.origin_ms;
        let drift = drift_amount(since as f64 / 60_000.0);
        let applicant = self.population.draw(&mut self.rng, drift);
        let v2 = self.rng.random::<f64>() < 0.3;
        let version = if v2 { "v2" } else { "v1" };
        let spike = since.rem_euclid(SPIKE_EVERY_MS) < SPIKE_MS;
        let mut latency = self.latency[usize::from(v2)].sample(&mut self.rng);
        if spike {
            latency *= 6.0;
        }
        let burst = (200_000..200_000 + BURST_MS).contains(&since.rem_euclid(BURST_EVERY_MS));
        let fails = self.rng.random::<f64>() < if burst { 0.2 } else { 0.003 };
        self.counter += 1;
        let request_id = format!("demo-{t}-{}", self.counter);
        let mut event = json!({
            "request_id": request_id,
            "version": version,
            "timestamp": t,
            "features": applicant.features(),
            "latency_ms": (latency * 100.0).round() / 100.0,
            "tags": { "channel": if self.rng.random::<f64>() < 0.65 { "web" } else { "branch" } },
        });
        if fails {
            let (kind, message) = if self.rng.random::<f64>() < 0.7 {
                ("TimeoutError", "feature store did not answer within 250 ms")
            } else {
                ("KeyError", "credit bureau response has no field 'score'")
            };
            event["error"] = json!({ "type": kind, "message": message });
            return event;
        }
        let score = self.population.score(&mut self.rng, &applicant, version);
        event["prediction"] = json!(class_of(score));
        event["scores"] = json!({ "bad": score, "good": ((1.0 - score) * 1e4).round() / 1e4 });
        let label = if self.population.defaults(&mut self.rng, &applicant) { "bad" } else { "good" };
        let due = t + self.rng.random_range(120_000..360_000);
        if self.labels.len() >= MAX_PENDING_LABELS {
            self.labels.pop();
        }
        self.labels.push(Reverse((due, request_id, label)));
        event
    }

    /// Sends the exceptions of the failed predictions, as serving code wrapped in the
    /// SDK's `@sightline.monitor` would (so error groups fill too), then the predictions.
    /// Exceptions first: each then stands for its failed prediction from the start,
    /// rather than taking its place in the issues a moment later.
    async fn post_predictions(&self, events: Vec<Value>) -> Result<(), String> {
        if events.is_empty() {
            return Ok(());
        }
        let exceptions: Vec<Value> = events.iter().filter_map(exception_of).collect();
        if !exceptions.is_empty() {
            let path = format!("/models/{MODEL}/errors");
            let (status, body) = self.client.json(Method::POST, &path, &json!({ "events": exceptions })).await?;
            if !status.is_success() {
                return Err(format!("exceptions refused: {status} {body}"));
            }
        }
        let path = format!("/models/{MODEL}/predictions");
        let (status, body) = self.client.json(Method::POST, &path, &json!({ "events": events })).await?;
        if !status.is_success() {
            return Err(format!("predictions refused: {status} {body}"));
        }
        Ok(())
    }

    /// Sends every label due by `now`, timestamped when it became due.
    async fn send_due_labels(&mut self, now: i64) -> Result<(), String> {
        let mut due = Vec::new();
        while let Some(Reverse((at, _, _))) = self.labels.peek()
            && *at <= now
        {
            let Some(Reverse((at, request_id, label))) = self.labels.pop() else { break };
            due.push(json!({ "request_id": request_id, "label": label, "timestamp": at }));
        }
        for chunk in due.chunks(MAX_BATCH) {
            let path = format!("/models/{MODEL}/feedback");
            let (status, body) = self.client.json(Method::POST, &path, &json!({ "labels": chunk })).await?;
            if !status.is_success() {
                return Err(format!("labels refused: {status} {body}"));
            }
        }
        Ok(())
    }

    /// Live traffic until the task is dropped: every second, `rate` events (the
    /// fraction carried over) spread over that second, then the labels that are due.
    pub async fn run(mut self, rate: f64) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut carry = 0.0;
        let mut last = now_ms();
        loop {
            tick.tick().await;
            let now = now_ms();
            let span = (now - last).clamp(1, 10_000);
            carry += rate * span as f64 / 1000.0;
            let n = carry.floor() as usize;
            carry -= n as f64;
            let events: Vec<Value> = (0..n).map(|i| self.event(last + (span * i as i64) / n.max(1) as i64)).collect();
            last = now;
            for chunk in events.chunks(MAX_BATCH) {
                if let Err(e) = self.post_predictions(chunk.to_vec()).await {
                    tracing::warn!(error = %e, "demo traffic: predictions not sent");
                }
            }
            if let Err(e) = self.send_due_labels(now).await {
                tracing::warn!(error = %e, "demo traffic: labels not sent");
            }
        }
    }
}

/// The exception report of a failed prediction event: its error with the stack a
/// small serving app would show (outermost frame first), its version, request, time and
/// input. `None` for an event that did not fail.
fn exception_of(event: &Value) -> Option<Value> {
    let error = event.get("error")?;
    let frame = |file: &str, function: &str, line: u32, in_app: bool| json!({ "file": file, "function": function, "line": line, "in_app": in_app });
    let mut frames = vec![
        frame("starlette/routing.py", "handle", 297, false),
        frame("serving/app.py", "predict", 48, true),
        frame("serving/features.py", "assemble", 112, true),
    ];
    frames.extend(match error["type"].as_str() {
        Some("TimeoutError") => vec![
            frame("serving/feature_store.py", "fetch_online", 71, true),
            frame("httpx/_client.py", "send", 1014, false),
        ],
        _ => vec![frame("serving/bureau.py", "bureau_score", 39, true)],
    });
    Some(json!({
        "type": error["type"], "message": error["message"], "frames": frames,
        "version": event["version"], "request_id": event["request_id"], "timestamp": event["timestamp"],
        "input": event["features"],
    }))
}

/// Monitors that the demo's spikes, bursts and drift trip now and then.
fn monitors() -> Vec<Value> {
    vec![
        json!({"id": "credit-risk-p99-latency", "model": MODEL,
               "signal": {"kind": "latency_quantile", "quantile": 0.99},
               "condition": {"op": ">", "value": 60.0},
               "window": "1m", "interval": "15s", "for": "30s", "severity": "medium",
               "labels": {"team": "risk"}}),
        json!({"id": "credit-risk-errors", "model": MODEL, "signal": "error_rate",
               "condition": {"op": ">", "value": 0.05},
               "window": "1m", "interval": "15s", "for": "15s", "severity": "high",
               "labels": {"team": "risk"}}),
        json!({"id": "credit-risk-income-drift", "model": MODEL,
               "signal": {"kind": "drift_score", "feature": "income", "method": "psi"},
               "condition": {"op": ">", "value": 0.2},
               "window": "15m", "interval": "1m", "severity": "low"}),
    ]
}
