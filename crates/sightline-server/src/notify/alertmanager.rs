//! Prometheus Alertmanager through its v2 API: `POST /api/v2/alerts` with the alert's
//! labels (plus `alertname`, the monitor id), annotations, `startsAt` and, once
//! resolved, `endsAt`. Alertmanager ends an alert it has not heard of for its
//! `resolve_timeout`, so firing alerts are sent again while they fire (repeats).

use super::{Notification, Status};
use crate::wire::time::format;
use serde_json::{Value, json};

pub fn body(n: &Notification) -> Value {
    let mut labels = n.labels.clone();
    let name = labels.get("monitor").cloned().unwrap_or_else(|| "sightline".into());
    labels.insert("alertname".into(), name);
    let mut alert = json!({
        "labels": labels,
        "annotations": n.annotations,
        "startsAt": format(n.starts_at_ms),
    });
    if let (Status::Resolved, Some(end), Some(o)) = (n.status, n.ends_at_ms, alert.as_object_mut()) {
        o.insert("endsAt".into(), json!(format(end)));
    }
    json!([alert])
}

pub async fn send(client: &reqwest::Client, base: &str, n: &Notification) -> Result<(), String> {
    let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body(n).to_string())
        .send()
        .await
        .map_err(super::worker::describe)?;
    super::worker::check_status(response).await
}
