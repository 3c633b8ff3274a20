//! Delivering a retraining trigger to its policy's webhook: the first attempt while the
//! evaluation waits (so `…/evaluate` answers with the outcome), further ones in the
//! background with the notifiers' backoff. Every attempt goes into the channel's delivery
//! log and the latest outcome onto the trigger; triggers still being retried when the
//! server stopped are taken up again at the next start, so a pipeline that was down for
//! a while still hears of them.

use crate::notify::channel::ChannelConfig;
use crate::notify::dispatcher::http_client;
use crate::notify::webhook::post_signed;
use crate::notify::worker::{self, Attempt};
use crate::state::{AppState, blocking};
use crate::wire::time::{format, now_ms};
use serde_json::{Value, json};
use sightline_store::{DeliveryRecord, RETRYING_PREFIX, TriggerRecord};
use std::sync::Arc;

/// The delivery text of a trigger its receiver accepted.
pub const DELIVERED: &str = "delivered";

/// A policy's webhook, opened.
struct Target {
    channel_id: i64,
    url: String,
    secret: String,
}

/// The body of a trigger's webhook. `export_url` is the export link made absolute with
/// the server's public URL, when one is configured.
pub fn trigger_json(t: &TriggerRecord, model: &str, public_url: Option<&str>) -> Value {
    let reasons: Value = serde_json::from_str(&t.reasons).unwrap_or(Value::Null);
    json!({
        "version": "1",
        "kind": "retraining_trigger",
        "id": t.seq,
        "policy": t.policy_id,
        "model": model,
        "model_version": t.version,
        "window": {"from": format(t.from_ms), "to": format(t.to_ms)},
        "reasons": reasons,
        "export_path": t.export_path,
        "export_url": public_url.map(|base| format!("{base}{}", t.export_path)),
        "fired_at": format(t.fired_ms),
    })
}

/// The channel `channel_id` if it is a webhook of project `project_id`.
async fn target(app: &Arc<AppState>, project_id: i64, channel_id: i64) -> Result<Target, String> {
    let store = app.store.clone();
    let channel = match blocking(move || store.get_channel(channel_id)).await {
        Ok(Ok(Some(c))) if c.project_id == project_id => c,
        Ok(Ok(_)) => return Err(format!("channel {channel_id} does not exist in the model's project")),
        Ok(Err(e)) => return Err(e.to_string()),
        Err(e) => return Err(e.detail),
    };
    match ChannelConfig::open(&app.keys.current(), &channel.kind, channel.project_id, &channel.name, &channel.config) {
        Ok(ChannelConfig::Webhook { url, secret }) => Ok(Target { channel_id, url, secret }),
        Ok(_) => Err(format!("channel {channel_id} is not a webhook")),
        Err(e) => Err(e.to_string()),
    }
}

/// The trigger's delivery text after attempt `number`.
fn describe(outcome: &Attempt, number: u32, max_attempts: u32) -> String {
    match (&outcome.error, outcome.last()) {
        (None, _) => DELIVERED.to_owned(),
        (Some(e), false) => format!("{RETRYING_PREFIX}attempt {number} of {max_attempts} failed: {e}"),
        (Some(e), true) => {
            let s = if number == 1 { "" } else { "s" };
            format!("failed: gave up after {number} attempt{s}: {e}")
        }
    }
}

async fn set_delivery(app: &Arc<AppState>, seq: i64, text: String) {
    let store = app.store.clone();
    match blocking(move || store.set_trigger_delivery(seq, &text)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(trigger = seq, error = %e, "cannot record a trigger's delivery"),
        Err(e) => tracing::warn!(trigger = seq, error = %e.detail, "cannot record a trigger's delivery"),
    }
}

/// Attempt `number`: signed afresh (receivers refuse stale timestamps), logged in the
/// channel's deliveries, and its outcome set on the trigger.
async fn send(app: &Arc<AppState>, to: &Target, t: &TriggerRecord, body: &str, number: u32) -> Attempt {
    let retry = &app.outbound_retry;
    let sent = async {
        let client = http_client(retry.timeout)?;
        post_signed(&client, &to.url, &to.secret, body.to_owned(), now_ms() / 1000).await
    };
    let outcome = worker::attempt(retry, to.channel_id, number, sent, "retraining trigger").await;
    worker::record(
        &app.store,
        &app.metrics,
        "webhook",
        DeliveryRecord {
            seq: 0,
            channel_id: to.channel_id,
            notification: format!("retraining-trigger-{}", t.seq),
            fingerprint: t.policy_id.clone(),
            kind: "retraining_trigger".into(),
            attempt: i64::from(number),
            status: outcome.status.into(),
            error: outcome.error.clone(),
            ts_ms: now_ms(),
        },
    )
    .await;
    set_delivery(app, t.seq, describe(&outcome, number, retry.max_attempts.max(1))).await;
    outcome
}

/// Attempts `first` and on, each after the backoff of the one before, until one is
/// delivered or the attempts run out.
async fn retry_from(app: Arc<AppState>, to: Target, t: TriggerRecord, body: String, first: u32) {
    for number in first..=app.outbound_retry.max_attempts.max(1) {
        tokio::time::sleep(app.outbound_retry.delay(number.saturating_sub(1))).await;
        if send(&app, &to, &t, &body, number).await.last() {
            return;
        }
    }
}

/// Sends trigger `t` of `model` (in `project_id`) to webhook channel `channel_id`; the
/// delivery text after the first attempt. Failed attempts continue in the background.
pub async fn deliver(app: &Arc<AppState>, t: &TriggerRecord, model: &str, project_id: i64, channel_id: i64) -> String {
    let to = match target(app, project_id, channel_id).await {
        Ok(to) => to,
        Err(e) => {
            let text = format!("failed: {e}");
            set_delivery(app, t.seq, text.clone()).await;
            return text;
        }
    };
    let body = trigger_json(t, model, app.public_url.as_deref()).to_string();
    let outcome = send(app, &to, t, &body, 1).await;
    if !outcome.last() {
        app.spawn_retries(retry_from(app.clone(), to, t.clone(), body, 2));
    }
    describe(&outcome, 1, app.outbound_retry.max_attempts.max(1))
}

/// Takes up the triggers whose delivery was still being retried when the server last
/// stopped: from the second attempt, to the channel their policy names now.
pub async fn resume(app: &Arc<AppState>) {
    let store = app.store.clone();
    let pending = match blocking(move || store.triggers_being_retried()).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return tracing::warn!(error = %e, "triggers being retried not read"),
        Err(e) => return tracing::warn!(error = %e.detail, "triggers being retried not read"),
    };
    for t in pending {
        let (store, model_id, policy_id) = (app.store.clone(), t.model_id, t.policy_id.clone());
        let found = blocking(move || -> Result<_, sightline_store::StoreError> {
            Ok((store.model_by_id(model_id)?, store.get_policy(&policy_id)?))
        })
        .await;
        let (model, policy) = match found {
            Ok(Ok((Some(model), Some(policy)))) => (model, policy),
            Ok(Ok(_)) => {
                set_delivery(app, t.seq, "failed: its model or policy was deleted before it was delivered".into())
                    .await;
                continue;
            }
            Ok(Err(e)) => {
                tracing::warn!(trigger = t.seq, error = %e, "a trigger's delivery not resumed");
                continue;
            }
            Err(e) => {
                tracing::warn!(trigger = t.seq, error = %e.detail, "a trigger's delivery not resumed");
                continue;
            }
        };
        let channel = serde_json::from_str::<Value>(&policy.spec).ok().and_then(|d| d["channel"].as_i64());
        let Some(channel_id) = channel else {
            set_delivery(app, t.seq, "failed: its policy no longer names a channel".into()).await;
            continue;
        };
        match target(app, model.project_id, channel_id).await {
            Ok(to) => {
                let body = trigger_json(&t, &model.spec.name, app.public_url.as_deref());
                let body = body.to_string();
                // The first attempt was made before the stop; with a single attempt
                // configured now, that one is made again.
                let next = app.outbound_retry.max_attempts.clamp(1, 2);
                app.spawn_retries(retry_from(app.clone(), to, t, body, next));
            }
            Err(e) => set_delivery(app, t.seq, format!("failed: {e}")).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delivery_text_says_what_happened_and_what_follows() {
        let failed = |status| Attempt { status, error: Some("HTTP 503".into()) };
        assert_eq!(describe(&Attempt { status: "delivered", error: None }, 3, 5), "delivered");
        assert_eq!(describe(&failed("failed"), 1, 5), "retrying: attempt 1 of 5 failed: HTTP 503");
        assert!(describe(&failed("failed"), 1, 5).starts_with(RETRYING_PREFIX), "found again after a restart");
        assert_eq!(describe(&failed("gave_up"), 5, 5), "failed: gave up after 5 attempts: HTTP 503");
        assert_eq!(describe(&failed("gave_up"), 1, 1), "failed: gave up after 1 attempt: HTTP 503");
    }
}
