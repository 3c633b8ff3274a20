//! Alerts and monitors: the alerts the viewer may see with their state, the monitors,
//! a form that creates a monitor through the same checks as `POST /api/v1/monitors`,
//! and a monitor's page, where one made through the API or here is changed (`PUT`'s
//! checks) or deleted.

use super::layout::{self, opt_number};
use super::{Failure, PageResult, Viewer, html};
use crate::error::{ApiError, Code};
use crate::monitors::file::MonitorIn;
use crate::routes::monitors::{create_declared, delete_declared, find, replace_declared};
use crate::state::{AppState, blocking};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use maud::{Markup, html};
use serde_json::{Map, Value, json};
use sightline_core::Need;
use sightline_store::{AlertQuery, AlertRecord, ModelRecord, MonitorRecord, Page};
use std::collections::HashMap;
use std::sync::Arc;

struct Lists {
    alerts: Vec<AlertRecord>,
    monitors: Vec<MonitorRecord>,
    /// Models the viewer may add monitors to.
    models: Vec<ModelRecord>,
}

async fn lists(app: &Arc<AppState>, viewer: &Viewer) -> Result<Lists, Failure> {
    let readable = viewer.principal.projects_allowing(Need::Read);
    let p = viewer.principal.clone();
    let store = app.store.clone();
    Ok(blocking(move || -> Result<Lists, ApiError> {
        let mut alerts = store.list_alerts(&AlertQuery { projects: readable.clone(), ..AlertQuery::default() })?;
        // Firing first, then pending, then the rest; newest evaluation first within.
        let rank = |s: &str| match s {
            "firing" => 0,
            "pending" => 1,
            "resolved" => 2,
            _ => 3,
        };
        alerts.sort_by(|a, b| rank(&a.state).cmp(&rank(&b.state)).then(b.last_eval_ms.cmp(&a.last_eval_ms)));
        let monitors = store.list_monitors(readable.as_deref(), &Page::all())?;
        let models = store
            .list_models(None, 1000, readable.as_deref())?
            .into_iter()
            .filter(|m| p.allows(m.project_id, Need::Edit))
            .collect();
        Ok(Lists { alerts, monitors, models })
    })
    .await??)
}

fn state_badge(state: &str) -> Markup {
    let class = match state {
        "firing" => "badge bad",
        "pending" => "badge warn",
        "resolved" | "inactive" => "badge ok",
        _ => "badge",
    };
    html! { span class=(class) { (state) } }
}

/// A monitor's signal and condition in a line, from its stored document.
fn summary(spec: &Value) -> String {
    let signal = match &spec["signal"] {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let extra: Vec<String> = o
                .iter()
                .filter(|(k, _)| *k != "kind")
                .map(|(k, v)| format!("{k}={}", v.to_string().trim_matches('"')))
                .collect();
            format!("{}({})", o.get("kind").and_then(Value::as_str).unwrap_or("?"), extra.join(", "))
        }
        _ => "?".into(),
    };
    let condition = match &spec["condition"] {
        Value::Object(o) if o.contains_key("anomaly") => "anomaly".to_owned(),
        Value::Object(o) => {
            format!("{} {}", o.get("op").and_then(Value::as_str).unwrap_or("?"), o.get("value").unwrap_or(&Value::Null))
        }
        _ => "?".into(),
    };
    format!("{signal} {condition} over {}", spec["window"].as_str().unwrap_or("?"))
}

fn page_body(
    viewer: &Viewer,
    l: &Lists,
    notice: Option<String>,
    problems: &[String],
    form: &HashMap<String, String>,
) -> Markup {
    html! {
        div data-refresh="30" {
            div.toolbar { h1 { "Alerts" } label.refresh { input #auto-refresh type="checkbox"; " refresh every 30 s" } }
            @if l.alerts.is_empty() { p.muted { "No alerts yet: monitors create one per series when they first evaluate." } } @else {
                table #alerts {
                    thead { tr { th { "Monitor" } th { "Labels" } th { "State" } th { "Since" } th.num { "Last value" } th { "Silenced" } th { "Acknowledged" } } }
                    tbody {
                        @for a in &l.alerts {
                            tr {
                                td { (a.monitor_id) }
                                td.muted { (a.labels) }
                                td { (state_badge(&a.state)) }
                                td { (a.since_ms.map(layout::when).unwrap_or_default()) }
                                td.num { (opt_number(a.value)) }
                                td { (if a.silenced { "yes" } else { "" }) }
                                td { (a.acknowledged_by.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
            h2 { "Monitors" }
            @if let Some(notice) = &notice { p.notice role="status" { (notice) } }
            @if l.monitors.is_empty() { p.muted { "No monitors yet." } } @else {
                table #monitors {
                    thead { tr { th { "Id" } th { "Model" } th { "Watches" } th { "Severity" } th { "Every" } th { "Source" } th {} } }
                    tbody {
                        @for m in &l.monitors {
                            @let spec: Value = serde_json::from_str(&m.spec).unwrap_or_default();
                            tr {
                                td { code { (m.id) } }
                                td { a href={ "/ui/models/" (spec["model"].as_str().unwrap_or("")) } { (spec["model"].as_str().unwrap_or("")) } }
                                td { (summary(&spec)) }
                                td { (spec["severity"].as_str().unwrap_or("")) }
                                td { (spec["interval"].as_str().unwrap_or("")) }
                                td { (if m.from_file { "monitors file" } else { "API / UI" }) }
                                td { a href={ "/ui/monitors/" (super::segment(&m.id)) } { (if m.from_file { "view" } else { "edit" }) } }
                            }
                        }
                    }
                }
            }
            h2 { "New monitor" }
            @if l.models.is_empty() { p.muted { "You need the editor role on a model's project to add monitors." } }
            @else if let Some(csrf) = &viewer.csrf {
                @if !problems.is_empty() {
                    div.problem role="alert" { "The monitor was not created:" ul { @for p in problems { li { (p) } } } }
                }
                (monitor_form(&MonitorForm { id: "new-monitor", action: "/ui/monitors", submit: "Create monitor", csrf, models: &l.models, values: form, fixed_id: false }))
            } @else {
                p.muted { "Your session was opened outside this page; " a href="/ui/sign-in?next=/ui/alerts" { "sign in again" } " to use forms." }
            }
        }
    }
}

/// Where a monitor form posts and what it starts with.
pub struct MonitorForm<'a> {
    pub id: &'a str,
    pub action: &'a str,
    pub submit: &'a str,
    pub csrf: &'a str,
    pub models: &'a [ModelRecord],
    pub values: &'a HashMap<String, String>,
    /// Editing: the id is the monitor's and cannot change.
    pub fixed_id: bool,
}

/// The monitor form: the fields of the monitors API's document the UI covers.
pub fn monitor_form(m: &MonitorForm<'_>) -> Markup {
    let f = |k: &str, default: &str| m.values.get(k).cloned().unwrap_or_else(|| default.to_owned());
    html! {
        form.stack id=(m.id) method="post" action=(m.action) {
            input type="hidden" name="csrf" value=(m.csrf);
            @if m.fixed_id {
                input type="hidden" name="id" value=(f("id", ""));
            } @else {
                label { "Id" input name="id" required value=(f("id", "")) placeholder="credit-risk-throughput"; }
            }
            label { "Model" select name="model" {
                @for model in m.models { option value=(model.spec.name) selected[f("model", "") == model.spec.name] { (model.spec.name) } }
            } }
            label { "Version (empty: every version)" input name="version" value=(f("version", "")); }
            label { "Signal" select name="signal" {
                @for (v, label) in SIGNALS { option value=(v) selected[f("signal", "error_rate") == *v] { (label) } }
            } }
            label { "Quantile (latency)" input name="quantile" value=(f("quantile", "0.99")); }
            label { "Feature (drift; * for all)" input name="feature" value=(f("feature", "*")); }
            label { "Method (drift, optional)" input name="method" value=(f("method", "")); }
            label { "Condition" select name="op" {
                @for op in [">", ">=", "<", "<="] { option value=(op) selected[f("op", ">") == op] { (op) } }
            } }
            label { "Threshold" input name="value" required value=(f("value", "")) inputmode="decimal"; }
            label { "Window" input name="window" required value=(f("window", "5m")); }
            label { "Every" input name="interval" required value=(f("interval", "1m")); }
            label { "For" input name="for" value=(f("for", "0s")); }
            label { "Severity" select name="severity" {
                @for s in ["info", "low", "medium", "high", "critical"] { option value=(s) selected[f("severity", "medium") == s] { (s) } }
            } }
            button type="submit" { (m.submit) }
        }
    }
}

/// The form's fields of a stored monitor document, when the form can express all of
/// it (checked by building the document again from them); `None` for monitors using
/// options the form lacks (estimated metrics, anomaly conditions, labels, runbooks…).
pub fn form_values(spec: &Value) -> Option<HashMap<String, String>> {
    let mut v = HashMap::new();
    let text = |x: &Value| x.as_str().map(str::to_owned);
    v.insert("id".into(), text(&spec["id"])?);
    v.insert("model".into(), text(&spec["model"])?);
    if let Some(version) = text(&spec["version"]) {
        v.insert("version".into(), version);
    }
    match &spec["signal"] {
        Value::String(s) => {
            v.insert("signal".into(), s.clone());
        }
        Value::Object(o) => {
            let kind = o.get("kind").and_then(Value::as_str)?;
            v.insert("signal".into(), kind.to_owned());
            if let Some(q) = o.get("quantile").and_then(Value::as_f64) {
                v.insert("quantile".into(), q.to_string());
            }
            if let Some(feature) = o.get("feature").and_then(Value::as_str) {
                v.insert("feature".into(), feature.to_owned());
            }
            if let Some(method) = o.get("method").and_then(Value::as_str) {
                v.insert("method".into(), method.to_owned());
            }
        }
        _ => return None,
    }
    v.insert("op".into(), text(&spec["condition"]["op"])?);
    v.insert("value".into(), spec["condition"]["value"].as_f64()?.to_string());
    for key in ["window", "interval", "for", "severity"] {
        if let Some(x) = text(&spec[key]) {
            v.insert(key.into(), x);
        }
    }
    let rebuilt = crate::monitors::file::monitor(declared(&v).ok()?).ok()?;
    (crate::monitors::doc::to_doc(&rebuilt) == *spec).then_some(v)
}

/// Signals the form offers: (value, label).
const SIGNALS: &[(&str, &str)] = &[
    ("error_rate", "error rate"),
    ("throughput", "throughput (per second)"),
    ("label_coverage", "label coverage"),
    ("latency_quantile", "latency quantile (ms)"),
    ("drift_score", "drift score"),
];

pub async fn page(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let l = lists(&app, &viewer).await?;
    let notice = [("created", "created"), ("updated", "saved"), ("deleted", "deleted")]
        .iter()
        .find_map(|(key, done)| q.get(*key).map(|id| format!("Monitor {id} {done}.")));
    let body = page_body(&viewer, &l, notice, &[], &HashMap::new());
    Ok(html(layout::page(&viewer, "Alerts & monitors", &[], body)))
}

/// The form's fields as the monitors API's document.
fn declared(form: &HashMap<String, String>) -> Result<MonitorIn, Vec<String>> {
    let text = |k: &str| form.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
    let number = |k: &str| -> Result<f64, String> {
        text(k).parse::<f64>().map_err(|_| format!("{k}: {:?} is not a number", text(k)))
    };
    let mut problems = Vec::new();
    let signal = match text("signal").as_str() {
        "latency_quantile" => match number("quantile") {
            Ok(q) => json!({ "kind": "latency_quantile", "quantile": q }),
            Err(e) => {
                problems.push(e);
                Value::Null
            }
        },
        "drift_score" => {
            let mut o = Map::new();
            o.insert("kind".into(), json!("drift_score"));
            o.insert("feature".into(), json!(if text("feature").is_empty() { "*".into() } else { text("feature") }));
            if !text("method").is_empty() {
                o.insert("method".into(), json!(text("method")));
            }
            Value::Object(o)
        }
        other => json!(other),
    };
    let value = number("value").map_err(|e| problems.push(e)).unwrap_or(0.0);
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut doc = json!({
        "id": text("id"), "model": text("model"), "signal": signal,
        "condition": { "op": text("op"), "value": value },
        "window": text("window"), "interval": text("interval"), "severity": text("severity"),
    });
    if !text("version").is_empty() {
        doc["version"] = json!(text("version"));
    }
    if !text("for").is_empty() {
        doc["for"] = json!(text("for"));
    }
    serde_json::from_value(doc).map_err(|e| vec![e.to_string()])
}

pub async fn create(State(app): State<Arc<AppState>>, viewer: Viewer, request: Request) -> PageResult {
    let form = viewer.checked_form(request).await?;
    let problems = match declared(&form) {
        Err(problems) => problems,
        Ok(monitor) => match create_declared(&app, &viewer.principal, monitor).await {
            Ok(record) => {
                let to = format!("/ui/alerts?{}", super::session::encode(&[("created", &record.id)]));
                return Ok(Redirect::to(&to).into_response());
            }
            Err(e) if e.code == Code::ValidationFailed => {
                e.errors.iter().map(|x| format!("{}: {}", x.path.trim_start_matches("$."), x.message)).collect()
            }
            Err(e) if matches!(e.code, Code::Conflict | Code::ModelNotFound | Code::Forbidden) => vec![e.detail],
            Err(e) => return Err(e.into()),
        },
    };
    let l = lists(&app, &viewer).await?;
    let body = page_body(&viewer, &l, None, &problems, &form);
    let page = layout::page(&viewer, "Alerts & monitors", &[], body);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.into_string())).into_response())
}

/// A monitor's page: its document, and for one the API made, the form to change it
/// (when the form covers its options) and a delete button.
async fn monitor_page(
    app: &Arc<AppState>,
    viewer: &Viewer,
    id: &str,
    problems: &[String],
    typed: Option<&HashMap<String, String>>,
) -> Result<Markup, Failure> {
    let record = find(app, &viewer.principal, id, Need::Read).await?;
    let spec: Value = serde_json::from_str(&record.spec).map_err(ApiError::internal)?;
    let models = lists(app, viewer).await?.models;
    let can_edit = viewer.principal.allows(record.project_id, Need::Edit) && !record.from_file;
    let action = format!("/ui/monitors/{}", super::segment(id));
    let values = typed.cloned().or_else(|| form_values(&spec));
    let body = html! {
        h1 { "Monitor " code { (id) } }
        p { (summary(&spec)) " · severity " (spec["severity"].as_str().unwrap_or("")) " · updated " (layout::when(record.updated_ms)) }
        pre #monitor-document { (serde_json::to_string_pretty(&spec).unwrap_or_default()) }
        @if record.from_file {
            p.muted { "Declared in the monitors file: change it there and restart the server." }
        } @else if !can_edit {
            p.muted { "You need the editor role on the model's project to change this monitor." }
        } @else if let Some(csrf) = &viewer.csrf {
            @if !problems.is_empty() {
                div.problem role="alert" { "The monitor was not saved:" ul { @for p in problems { li { (p) } } } }
            }
            @if let Some(values) = &values {
                h2 { "Change" }
                (monitor_form(&MonitorForm { id: "edit-monitor", action: &action, submit: "Save monitor", csrf, models: &models, values, fixed_id: true }))
            } @else {
                p.muted { "This monitor uses options the form does not offer; change it with " code { "PUT /api/v1/monitors/" (id) } "." }
            }
            form #delete-monitor method="post" action={ (action) "/delete" } {
                input type="hidden" name="csrf" value=(csrf);
                button.danger type="submit" { "Delete monitor" }
            }
        } @else {
            p.muted { "Your session was opened outside this page; " a href="/ui/sign-in?next=/ui/alerts" { "sign in again" } " to use forms." }
        }
    };
    Ok(layout::page(
        viewer,
        &format!("Monitor {id}"),
        &[("alerts", "/ui/alerts".to_owned()), (id, action.clone())],
        body,
    ))
}

pub async fn view(State(app): State<Arc<AppState>>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    Ok(html(monitor_page(&app, &viewer, &id, &[], None).await?))
}

pub async fn update(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    request: Request,
) -> PageResult {
    let form = viewer.checked_form(request).await?;
    let problems = match declared(&form) {
        Err(problems) => problems,
        Ok(monitor) => match replace_declared(&app, &viewer.principal, &id, monitor).await {
            Ok(record) => {
                let to = format!("/ui/alerts?{}", super::session::encode(&[("updated", &record.id)]));
                return Ok(Redirect::to(&to).into_response());
            }
            Err(e) if e.code == Code::ValidationFailed => {
                e.errors.iter().map(|x| format!("{}: {}", x.path.trim_start_matches("$."), x.message)).collect()
            }
            Err(e) if matches!(e.code, Code::ModelNotFound | Code::Conflict) => vec![e.detail],
            Err(e) => return Err(e.into()),
        },
    };
    let page = monitor_page(&app, &viewer, &id, &problems, Some(&form)).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.into_string())).into_response())
}

pub async fn remove(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    request: Request,
) -> PageResult {
    // The body is only the CSRF token.
    viewer.checked_form(request).await?;
    delete_declared(&app, &viewer.principal, &id).await?;
    let to = format!("/ui/alerts?{}", super::session::encode(&[("deleted", &id)]));
    Ok(Redirect::to(&to).into_response())
}
