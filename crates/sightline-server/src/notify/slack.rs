//! Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat): one message
//! with the alert's state, labels, value and runbook link.

use super::{Notification, Status};
use serde_json::json;

pub fn text(n: &Notification) -> String {
    let icon = match n.status {
        Status::Firing => ":rotating_light:",
        Status::Resolved => ":white_check_mark:",
    };
    let monitor = n.labels.get("monitor").map_or("", String::as_str);
    let model = n.labels.get("model").map_or("", String::as_str);
    let mut text = format!(
        "{icon} *{}* [{}] monitor `{monitor}` on model `{model}`",
        n.status.as_str().to_uppercase(),
        n.severity.as_str()
    );
    if let Some(summary) = n.annotations.get("summary") {
        text.push_str(&format!("\n{summary}"));
    }
    let labels: Vec<String> = n
        .labels
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "monitor" | "model" | "severity"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !labels.is_empty() {
        text.push_str(&format!("\nlabels: {}", labels.join(", ")));
    }
    if let Some(url) = n.annotations.get("runbook_url") {
        text.push_str(&format!("\nrunbook: {url}"));
    }
    text
}

pub async fn send(client: &reqwest::Client, url: &str, n: &Notification) -> Result<(), String> {
    let body = json!({ "text": text(n) }).to_string();
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(super::worker::describe)?;
    super::worker::check_status(response).await
}
