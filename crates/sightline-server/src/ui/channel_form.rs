//! The settings page's form that makes a notification channel (webhook, Slack,
//! Alertmanager, email): its fields, and the handler that turns them into the API's
//! request and runs `routes/channels.rs`'s `create_for`, so the checks and the messages
//! naming a field are the API's.

use super::settings::{Notice, done, refused_with};
use super::{PageResult, Viewer};
use crate::notify::channel::KINDS;
use crate::routes::channels;
use crate::state::AppState;
use axum::extract::{Request, State};
use maud::{Markup, html};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

/// Form fields shown again after a refusal; secrets are never sent back to the browser.
const KEPT: [&str; 11] =
    ["name", "project", "kind", "min_severity", "url", "host", "port", "tls", "username", "from", "to"];

/// The form; `projects` are the names of the projects the viewer administers, `kept`
/// the values of a refused submission.
pub fn form(csrf: &str, projects: &[String], kept: &HashMap<String, String>) -> Markup {
    let value = |k: &str| kept.get(k).map(String::as_str).unwrap_or_default();
    let kind = Some(value("kind")).filter(|k| !k.is_empty()).unwrap_or("webhook");
    let severity = Some(value("min_severity")).filter(|k| !k.is_empty()).unwrap_or("info");
    html! {
        form.stack #new-channel method="post" action="/ui/settings/channels" {
            input type="hidden" name="csrf" value=(csrf);
            label { "Name" input name="name" required placeholder="oncall-webhook" value=(value("name")); }
            label { "Project" select name="project" {
                @for p in projects { option value=(p) selected[p == value("project")] { (p) } }
            } }
            label { "Kind" select name="kind" {
                @for k in KINDS { option value=(k) selected[k == kind] { (k) } }
            } }
            label { "At least" select name="min_severity" {
                @for s in SEVERITIES { option value=(s) selected[s == severity] { (s) } }
            } }
            label { "URL (webhook, Slack, Alertmanager)" input name="url" type="url" placeholder="https://hooks.example.com/…" value=(value("url")); }
            label { "Signing secret (webhook, 16+ characters)" input name="secret" type="password" autocomplete="new-password"; }
            label { "SMTP host (email)" input name="host" placeholder="smtp.example.com" value=(value("host")); }
            label { "SMTP port (email; 587 or 465 by default)" input name="port" inputmode="numeric" value=(value("port")); }
            label { "TLS (email)" select name="tls" {
                option value="starttls" selected[value("tls") != "tls"] { "STARTTLS" }
                option value="tls" selected[value("tls") == "tls"] { "TLS from the start" }
            } }
            label { "SMTP user (email, optional)" input name="username" autocomplete="off" value=(value("username")); }
            label { "SMTP password (email, optional)" input name="password" type="password" autocomplete="new-password"; }
            label { "From (email)" input name="from" placeholder="sightline@example.com" value=(value("from")); }
            label { "To (email; commas between addresses)" input name="to" placeholder="oncall@example.com" value=(value("to")); }
            button type="submit" { "Make channel" }
        }
        p.muted { "Only the fields of the chosen kind are read; secrets are sealed at rest and never shown again." }
    }
}

/// The API's `config` object of a `kind` from the form: the kind's fields, empty ones
/// left out (so that the API names a missing one), the port as a number when it is one.
fn config(kind: &str, form: &HashMap<String, String>) -> Value {
    let mut config = Map::new();
    let mut put = |k: &str| {
        if let Some(v) = form.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            config.insert(k.to_owned(), json!(v));
        }
    };
    match kind {
        "webhook" => {
            put("url");
            put("secret");
        }
        "slack" | "alertmanager" => put("url"),
        "email" => {
            for k in ["host", "port", "tls", "username", "password", "from"] {
                put(k);
            }
            if let Some(port) = config.get("port").and_then(Value::as_str).and_then(|p| p.parse::<u64>().ok()) {
                config.insert("port".into(), json!(port));
            }
            let to: Vec<&str> = form
                .get("to")
                .map(|t| t.split([',', ';', '\n']).map(str::trim).filter(|a| !a.is_empty()).collect())
                .unwrap_or_default();
            if !to.is_empty() {
                config.insert("to".into(), json!(to));
            }
        }
        _ => {}
    }
    Value::Object(config)
}

pub async fn create(State(app): State<Arc<AppState>>, viewer: Viewer, request: Request) -> PageResult {
    let form = viewer.checked_form(request).await?;
    let field = |k: &str| form.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
    let kind = field("kind");
    let request = channels::CreateChannel {
        project: Some(field("project")).filter(|p| !p.is_empty()),
        name: field("name"),
        config: config(&kind, &form),
        kind,
        min_severity: Some(field("min_severity")).filter(|s| !s.is_empty()),
    };
    match channels::create_for(&app, &viewer.principal, request).await {
        Ok((record, project)) => Ok(done(&format!("Channel {} ({}) made in {project}.", record.name, record.kind))),
        Err(e) => {
            let kept = KEPT.iter().filter_map(|k| form.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect();
            refused_with(&app, &viewer, e, Notice::keeping_channel_form(kept)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::config;
    use serde_json::json;
    use std::collections::HashMap;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn only_the_kinds_fields_go_into_the_config() {
        let f = form(&[("url", " https://h.example/x "), ("secret", "s"), ("host", "smtp.example.com"), ("to", "")]);
        assert_eq!(config("webhook", &f), json!({"url": "https://h.example/x", "secret": "s"}));
        assert_eq!(config("slack", &f), json!({"url": "https://h.example/x"}));
        assert_eq!(config("nothing", &f), json!({}));
    }

    #[test]
    fn email_fields_become_the_apis_types() {
        let f = form(&[
            ("host", "smtp.example.com"),
            ("port", "2525"),
            ("from", "a@example.com"),
            ("to", "b@example.com, c@example.com;"),
        ]);
        assert_eq!(
            config("email", &f),
            json!({"host": "smtp.example.com", "port": 2525, "from": "a@example.com", "to": ["b@example.com", "c@example.com"]})
        );
        // A port that is no number goes as it is, for the API to name the field.
        assert_eq!(config("email", &form(&[("port", "twenty")]))["port"], json!("twenty"));
    }
}
