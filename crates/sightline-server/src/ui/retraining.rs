//! A model's retraining page: its policies (conditions in words, window, schedule,
//! cooldown, channel, when last evaluated and fired) and the triggers they recorded —
//! why, which window, whether the webhook got them, and a download of the window's
//! training data. Policies are written through the API (`PUT …/retraining-policies`).

use super::layout;
use super::{PageResult, Viewer, html, readable_model, segment};
use crate::monitors::file::format_duration;
use crate::retraining::doc;
use crate::state::{AppState, blocking};
use axum::extract::{Path, State};
use maud::{Markup, html};
use sightline_core::retraining::{Condition, Match, Policy};
use sightline_store::{PolicyRecord, RETRYING_PREFIX, TriggerRecord};
use std::sync::Arc;

/// Newest triggers shown; the API's `retraining-triggers` lists up to 10,000.
const TRIGGERS_SHOWN: usize = 100;

/// The retraining page's link of a model.
pub fn retraining_link(model: &str) -> String {
    format!("/ui/models/{}/retraining", segment(model))
}

/// A condition as a sentence.
fn condition_text(c: &Condition) -> String {
    let number = super::charts::number;
    match c {
        Condition::Drift { features, windows } => {
            let f = if *features == 1 { "feature" } else { "features" };
            let w = if *windows == 1 { "window" } else { "windows in a row" };
            format!("at least {features} {f} drifted in {windows} {w}")
        }
        Condition::MetricBelow { metric, threshold } => format!("{metric} below {}", number(*threshold)),
        Condition::LabelCoverageBelow { threshold } => format!("label coverage below {}", number(*threshold)),
        Condition::EstimatedMetricBelow { metric, threshold, reference_from_ms, reference_to_ms } => format!(
            "estimated {metric} below {} (CBPE calibrated on {} – {})",
            number(*threshold),
            layout::when(*reference_from_ms),
            layout::when(*reference_to_ms)
        ),
    }
}

/// The delivery cell: what happened to the trigger's webhook.
fn delivery(t: &TriggerRecord) -> Markup {
    html! {
        @match t.delivery.as_deref() {
            None => span.muted { "no channel: recorded only" },
            Some("delivered") => span.badge.ok { "delivered" },
            Some(d) if d.starts_with(RETRYING_PREFIX) => { span.badge.warn { "retrying" } " " span.muted { (d) } },
            Some(d) => { span.badge.bad { "failed" } " " span.muted { (d) } },
        }
    }
}

fn policies_table(records: &[(PolicyRecord, Result<Policy, String>)]) -> Markup {
    html! {
        @if records.is_empty() {
            p.muted { "No retraining policies: create one with PUT /api/v1/models/{model}/retraining-policies/{policy} (docs/API.md)." }
        } @else {
            table #retraining-policies {
                thead { tr { th { "Policy" } th { "Fires when" } th { "Window" } th { "Every" } th { "Cooldown" } th { "Channel" } th { "Last evaluated" } th { "Last fired" } } }
                tbody {
                    @for (record, policy) in records {
                        tr {
                            td { code { (record.id) } }
                            @match policy {
                                Ok(p) => {
                                    td {
                                        @if p.conditions.len() > 1 {
                                            (if p.r#match == Match::All { "all of: " } else { "any of: " })
                                        }
                                        @for (i, c) in p.conditions.iter().enumerate() {
                                            @if i > 0 { "; " }
                                            (condition_text(c))
                                        }
                                        @if let Some(v) = &p.version { " " span.muted { "(version " (v) ")" } }
                                    }
                                    td { (format_duration(p.window_ms)) }
                                    td { (format_duration(p.interval_ms)) }
                                    td { (format_duration(p.cooldown_ms)) }
                                    td { @match p.channel { Some(id) => { "#" (id) }, None => span.muted { "none" } } }
                                }
                                Err(e) => td colspan="5" { span.badge.bad { "unreadable" } " " span.muted { (e) } }
                            }
                            td { @match record.last_evaluated_ms { Some(t) => (layout::when(t)), None => span.muted { "not yet" } } }
                            td { @match record.last_fired_ms { Some(t) => (layout::when(t)), None => span.muted { "never" } } }
                        }
                    }
                }
            }
        }
    }
}

fn triggers_table(triggers: &[TriggerRecord]) -> Markup {
    html! {
        @if triggers.is_empty() { p.muted { "No triggers yet." } } @else {
            table #retraining-triggers {
                thead { tr { th { "Fired" } th { "Policy" } th { "Version" } th { "Window" } th { "Why" } th { "Webhook" } th { "Training data" } } }
                tbody {
                    @for t in triggers {
                        tr {
                            td { (layout::when(t.fired_ms)) }
                            td { code { (t.policy_id) } }
                            td { (t.version.as_deref().unwrap_or("all")) }
                            td { (layout::when(t.from_ms)) " – " (layout::when(t.to_ms)) }
                            td {
                                @for reason in serde_json::from_str::<Vec<String>>(&t.reasons).unwrap_or_default() {
                                    div { (reason) }
                                }
                            }
                            td { (delivery(t)) }
                            td { a href={ (t.export_path) "&format=csv" } download { "CSV" } }
                        }
                    }
                }
            }
        }
    }
}

pub async fn page(State(app): State<Arc<AppState>>, viewer: Viewer, Path(name): Path<String>) -> PageResult {
    let model = readable_model(&app, &viewer.principal, &name).await?;
    let (store, id) = (app.store.clone(), model.id);
    let (records, triggers) = blocking(move || -> sightline_store::Result<_> {
        Ok((store.list_policies(Some(id))?, store.list_triggers(id, TRIGGERS_SHOWN)?))
    })
    .await??;
    let spec = &model.record.spec;
    let policies: Vec<(PolicyRecord, Result<Policy, String>)> = records
        .into_iter()
        .map(|r| {
            let parsed = doc::from_doc(&r.spec, spec);
            (r, parsed)
        })
        .collect();
    let spec_name = spec.name.clone();
    let model_link = format!("/ui/models/{}", segment(&spec_name));
    let body = html! {
        h1 { (spec_name) " · retraining" }
        p.muted { "Policies say when this model should be retrained; when one fires, a trigger is recorded and sent, signed, to its webhook channel with the window's training data." }
        h2 { "Policies" }
        (policies_table(&policies))
        h2 { "Triggers" }
        (triggers_table(&triggers))
    };
    let crumbs = [(spec_name.as_str(), model_link), ("retraining", retraining_link(&spec_name))];
    Ok(html(layout::page(&viewer, &format!("{spec_name} retraining"), &crumbs, body)))
}
