//! One worker per channel: a bounded queue, sends one notification at a time with
//! retries (exponential backoff with jitter), and logs every attempt.

use super::channel::ChannelConfig;
use super::{Notification, alertmanager, slack, webhook};
use crate::metrics::Metrics;
use crate::wire::time::now_ms;
use rand::Rng;
use sightline_store::{DeliveryRecord, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How a worker retries.
#[derive(Debug, Clone)]
pub struct RetrySettings {
    /// Attempts per notification, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further one.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest one attempt may take.
    pub timeout: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

impl RetrySettings {
    /// The delay after failed attempt `attempt` (1-based): base × 2^(attempt−1), capped,
    /// with up to a quarter of it added at random so that many alerts failing together
    /// do not retry in lockstep.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max_delay);
        let jitter_ms = rand::rng().random_range(0..=(capped.as_millis() / 4).max(1) as u64);
        capped + Duration::from_millis(jitter_ms)
    }
}

/// Notifications waiting per channel; past it new ones are dropped (and logged as
/// such) rather than growing memory behind a dead receiver.
pub const QUEUE_CAPACITY: usize = 256;

/// A running worker's handle.
pub struct Worker {
    pub project_id: i64,
    pub tx: mpsc::Sender<Notification>,
}

/// An HTTP error as one line, without the URL (it may hold a token).
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Any 2xx is delivered; otherwise the status and the start of the body.
pub async fn check_status(response: reqwest::Response) -> Result<(), String> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let short: String = body.chars().take(200).collect();
    Err(format!("HTTP {status}: {short}"))
}

/// One attempt to send `n` on a channel.
pub async fn send_once(client: &reqwest::Client, config: &ChannelConfig, n: &Notification) -> Result<(), String> {
    match config {
        ChannelConfig::Webhook { url, secret } => webhook::send(client, url, secret, n, now_ms() / 1000).await,
        ChannelConfig::Slack { url } => slack::send(client, url, n).await,
        ChannelConfig::Alertmanager { url } => alertmanager::send(client, url, n).await,
        ChannelConfig::Email { .. } => super::email::send(config, n).await,
    }
}

/// What one attempt came to: its status in the delivery log (`delivered`, `failed` —
/// another attempt follows — or `gave_up`) and the error when it failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub status: &'static str,
    pub error: Option<String>,
}

impl Attempt {
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }

    /// Whether no attempt follows this one.
    pub fn last(&self) -> bool {
        self.status != "failed"
    }
}

/// Runs attempt number `attempt` (1-based) of `send` under the retry settings' timeout,
/// logs a failure, and says whether another attempt follows.
pub async fn attempt(
    retry: &RetrySettings,
    channel_id: i64,
    attempt: u32,
    send: impl std::future::Future<Output = Result<(), String>>,
    what: &str,
) -> Attempt {
    let outcome = match tokio::time::timeout(retry.timeout, send).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", retry.timeout.as_millis())),
    };
    match outcome {
        Ok(()) => Attempt { status: "delivered", error: None },
        Err(e) => {
            tracing::warn!(channel_id, attempt, error = %e, "{what} not delivered");
            let status = if attempt >= retry.max_attempts.max(1) { "gave_up" } else { "failed" };
            Attempt { status, error: Some(e) }
        }
    }
}

/// Records one attempt in the channel's delivery log and counts it on /metrics.
pub async fn record(store: &Arc<dyn Store>, metrics: &Metrics, channel_kind: &str, record: DeliveryRecord) {
    metrics.notification_attempt(channel_kind, &record.kind, &record.status);
    let store = store.clone();
    match tokio::task::spawn_blocking(move || store.record_delivery(&record)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot record a delivery"),
        Err(e) => tracing::warn!(error = %e, "cannot record a delivery"),
    }
}

/// Starts the worker of channel `channel_id`.
pub fn spawn(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    channel_id: i64,
    project_id: i64,
    config: ChannelConfig,
    retry: RetrySettings,
) -> Worker {
    let (tx, mut rx) = mpsc::channel::<Notification>(QUEUE_CAPACITY);
    tokio::spawn(async move {
        while let Some(n) = rx.recv().await {
            for number in 1..=retry.max_attempts.max(1) {
                let outcome =
                    attempt(&retry, channel_id, number, send_once(&client, &config, &n), "notification").await;
                record(
                    &store,
                    &metrics,
                    config.kind(),
                    DeliveryRecord {
                        seq: 0,
                        channel_id,
                        notification: n.id.clone(),
                        fingerprint: n.fingerprint.clone(),
                        kind: n.status.as_str().into(),
                        attempt: i64::from(number),
                        status: outcome.status.into(),
                        error: outcome.error.clone(),
                        ts_ms: now_ms(),
                    },
                )
                .await;
                if outcome.last() {
                    break;
                }
                tokio::time::sleep(retry.delay(number)).await;
            }
        }
    });
    Worker { project_id, tx }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_stop_at_the_cap_with_bounded_jitter() {
        let r = RetrySettings {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1_000),
            ..RetrySettings::default()
        };
        for (attempt, base) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1_000), (30, 1_000)] {
            for _ in 0..50 {
                let d = r.delay(attempt).as_millis() as u64;
                assert!((base..=base + base / 4).contains(&d), "attempt {attempt}: {d} ms");
            }
        }
    }
}
