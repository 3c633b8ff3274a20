//! Routes notifications to the channels of the alert's project: a channel gets what is
//! at or above its minimum severity; repeats go only to Alertmanager channels. Workers
//! are started on first use with the channel's opened configuration.

use super::Notification;
use super::channel::ChannelConfig;
use super::worker::{self, RetrySettings, Worker};
use crate::metrics::Metrics;
use crate::wire::time::now_ms;
use sightline_core::alerting::Severity;
use sightline_store::{DeliveryRecord, Keys, Page, Store};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::error::TrySendError;

pub struct Dispatcher {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    keys: Arc<Keys>,
    client: reqwest::Client,
    retry: RetrySettings,
    workers: Mutex<HashMap<i64, Worker>>,
}

/// The HTTP client notifications are sent with.
pub fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // A receiver's redirect could point a signed notification anywhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sightline/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        keys: Arc<Keys>,
        retry: RetrySettings,
    ) -> Result<Dispatcher, String> {
        let client = http_client(retry.timeout)?;
        Ok(Dispatcher { store, metrics, keys, client, retry, workers: Mutex::new(HashMap::new()) })
    }

    /// Hands `n` to every matching channel of `project_id`; never waits for a send.
    pub async fn dispatch(&self, project_id: i64, n: &Notification) {
        let store = self.store.clone();
        let channels =
            match tokio::task::spawn_blocking(move || store.list_channels(Some(&[project_id]), &Page::all())).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return tracing::warn!(error = %e, "cannot list notification channels"),
                Err(e) => return tracing::warn!(error = %e, "cannot list notification channels"),
            };
        let ring = self.keys.current();
        let mut dropped = Vec::new();
        {
            let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
            // Channels deleted since: their workers end once their queue is dropped.
            workers.retain(|id, w| w.project_id != project_id || channels.iter().any(|c| c.id == *id));
            for ch in &channels {
                let min = Severity::parse(&ch.min_severity).unwrap_or(Severity::Info);
                if n.severity < min || (n.repeat && ch.kind != "alertmanager") {
                    continue;
                }
                if let Entry::Vacant(slot) = workers.entry(ch.id) {
                    match ChannelConfig::open(&ring, &ch.kind, ch.project_id, &ch.name, &ch.config) {
                        Ok(config) => {
                            slot.insert(worker::spawn(
                                self.store.clone(),
                                self.metrics.clone(),
                                self.client.clone(),
                                ch.id,
                                ch.project_id,
                                config,
                                self.retry.clone(),
                            ));
                        }
                        Err(e) => {
                            tracing::error!(channel_id = ch.id, error = %e, "cannot open a channel's configuration");
                            dropped.push((
                                ch.id,
                                ch.kind.clone(),
                                format!("cannot open the channel configuration: {e}"),
                            ));
                            continue;
                        }
                    }
                }
                if let Some(w) = workers.get(&ch.id) {
                    match w.tx.try_send(n.clone()) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            dropped.push((ch.id, ch.kind.clone(), "the channel's queue is full".into()));
                        }
                        Err(TrySendError::Closed(_)) => {
                            workers.remove(&ch.id);
                            dropped.push((ch.id, ch.kind.clone(), "the channel's worker stopped".into()));
                        }
                    }
                }
            }
        }
        for (channel_id, channel_kind, error) in dropped {
            tracing::warn!(channel_id, error = %error, "notification dropped");
            let record = DeliveryRecord {
                seq: 0,
                channel_id,
                notification: n.id.clone(),
                fingerprint: n.fingerprint.clone(),
                kind: n.status.as_str().into(),
                attempt: 0,
                status: "dropped".into(),
                error: Some(error),
                ts_ms: now_ms(),
            };
            worker::record(&self.store, &self.metrics, &channel_kind, record).await;
        }
    }
}
