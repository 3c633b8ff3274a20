//! A model's registry page: every version with its stage and aliases (each linking to
//! its version page), the promotion gate, and the history of stage changes and alias
//! moves; plus the gate and history tables the version page shows too.

use super::layout;
use super::{PageResult, Viewer, html, readable_model, segment};
use crate::gate::GateSpec;
use crate::state::{AppState, blocking};
use axum::extract::{Path, State};
use maud::{Markup, html};
use sightline_store::{AliasRecord, TransitionRecord, VersionDetails};
use std::sync::Arc;

/// Most history entries shown (newest first); the API's `registry-history` has them all.
const HISTORY_SHOWN: usize = 200;

/// The registry page's link of a model.
pub fn registry_link(model: &str) -> String {
    format!("/ui/models/{}/registry", segment(model))
}

/// A version page's link.
pub fn version_link(model: &str, version: &str) -> String {
    format!("/ui/models/{}/versions/{}", segment(model), segment(version))
}

/// A model's promotion gate, parsed; `Err` keeps a stored text that no longer parses,
/// shown as it is.
pub fn parse_gate(text: Option<String>) -> Option<Result<GateSpec, String>> {
    text.map(|t| serde_json::from_str::<GateSpec>(&t).map_err(|_| t))
}

/// The gate's checks as a table (or a note that the model has none).
pub fn gate_section(gate: &Option<Result<GateSpec, String>>) -> Markup {
    html! {
        @match gate {
            None => p.muted { "No promotion gate: moves to production are not checked (set one with PUT /api/v1/models/{model}/promotion-gate)." },
            Some(Err(raw)) => pre { (raw) },
            Some(Ok(spec)) => {
                p { "Checked before every move to " code { "Production" } " or " code { "@production" }
                    ", over the " (spec.lookback_hours) @if spec.lookback_hours == 1 { " hour" } @else { " hours" } " before it." }
                table #gate {
                    thead { tr { th { "Check" } th { "Passes when" } } }
                    tbody {
                        @for (metric, bound) in &spec.performance {
                            tr { td { "performance." (metric) } td { (bounds(bound.min, bound.max)) } }
                        }
                        @if let Some(max) = spec.max_share_drifted {
                            tr { td { "share_drifted" } td { (bounds(None, Some(max))) } }
                        }
                        @if let Some(max) = spec.max_missing_share {
                            tr { td { "max_missing_share" } td { (bounds(None, Some(max))) } }
                        }
                        @if spec.performance.is_empty() && spec.max_share_drifted.is_none() && spec.max_missing_share.is_none() {
                            tr { td colspan="2" { span.muted { "no checks: every move passes" } } }
                        }
                    }
                }
            }
        }
    }
}

/// "≥ min and ≤ max" of a check's bounds.
pub fn bounds(min: Option<f64>, max: Option<f64>) -> String {
    let number = super::charts::number;
    match (min, max) {
        (Some(lo), Some(hi)) => format!("≥ {} and ≤ {}", number(lo), number(hi)),
        (Some(lo), None) => format!("≥ {}", number(lo)),
        (None, Some(hi)) => format!("≤ {}", number(hi)),
        (None, None) => "–".to_owned(),
    }
}

/// Stage changes and alias moves, newest first; versions link to their pages.
pub fn history_table(model: &str, rows: &[&TransitionRecord]) -> Markup {
    let version = |v: &Option<String>| -> Markup {
        html! { @match v { Some(v) => a href=(version_link(model, v)) { (v) }, None => span.muted { "–" } } }
    };
    let stage = |v: &Option<String>| -> Markup {
        html! { (v.as_deref().unwrap_or("None")) }
    };
    html! {
        @if rows.is_empty() { p.muted { "No stage changes or alias moves yet." } } @else {
            table.history {
                thead { tr { th { "When" } th { "What" } th { "From" } th { "To" } th { "Who" } th { "Why" } } }
                tbody {
                    @for t in rows {
                        tr {
                            td { (layout::when(t.ts_ms)) }
                            @if t.kind == "alias" {
                                td { "alias " code { "@" (t.name) } }
                                td { (version(&t.from)) }
                                td { (version(&t.to)) }
                            } @else {
                                td { "stage of " a href=(version_link(model, &t.name)) { (t.name) } }
                                td { (stage(&t.from)) }
                                td { (stage(&t.to)) }
                            }
                            td { (t.actor) }
                            td { (t.reason) }
                        }
                    }
                }
            }
        }
    }
}

struct Data {
    versions: Vec<VersionDetails>,
    aliases: Vec<AliasRecord>,
    history: Vec<TransitionRecord>,
    gate: Option<Result<GateSpec, String>>,
}

pub async fn page(State(app): State<Arc<AppState>>, viewer: Viewer, Path(name): Path<String>) -> PageResult {
    let model = readable_model(&app, &viewer.principal, &name).await?;
    let (store, id) = (app.store.clone(), model.id);
    let d = blocking(move || -> sightline_store::Result<Data> {
        let mut versions = store.model_version_details(id)?;
        versions.sort_by_key(|v| std::cmp::Reverse(v.version.created_ms));
        let mut history = store.transitions(id)?;
        history.reverse();
        history.truncate(HISTORY_SHOWN);
        Ok(Data { versions, aliases: store.aliases(id)?, history, gate: parse_gate(store.promotion_gate(id)?) })
    })
    .await??;
    let spec_name = model.record.spec.name.clone();
    let model_link = format!("/ui/models/{}", segment(&spec_name));
    let body = html! {
        h1 { (spec_name) " · registry" }
        p.muted { "Stages and aliases of every version; open a version to see its facts, files and gate reports, and to move it." }
        h2 { "Versions" }
        @if d.versions.is_empty() { p.muted { "No versions registered (POST /api/v1/models/{model}/versions)." } } @else {
            table #registry-versions {
                thead { tr { th { "Version" } th { "Stage" } th { "Aliases" } th { "Description" } th { "Registered" } th { "Updated" } th { "Traffic" } } }
                tbody {
                    @for v in &d.versions {
                        tr {
                            td { a href=(version_link(&spec_name, &v.version.name)) { (v.version.name) } }
                            td { (v.stage) }
                            td.aliases { @for a in &v.aliases { code { "@" (a) } " " } }
                            td { (v.version.description) }
                            td { (layout::when(v.version.created_ms)) }
                            td { (layout::when(v.updated_ms)) }
                            td { a href={ (model_link) "?" (super::session::encode(&[("version", &v.version.name)])) } { "monitoring…" } }
                        }
                    }
                }
            }
        }
        h2 { "Aliases" }
        @if d.aliases.is_empty() { p.muted { "No aliases." } } @else {
            table #aliases {
                thead { tr { th { "Alias" } th { "Version" } th { "Since" } } }
                tbody {
                    @for a in &d.aliases {
                        tr {
                            td { code { "@" (a.alias) } }
                            td { a href=(version_link(&spec_name, &a.version)) { (a.version) } }
                            td { (layout::when(a.updated_ms)) }
                        }
                    }
                }
            }
        }
        h2 { "Promotion gate" }
        (gate_section(&d.gate))
        h2 { "History" }
        (history_table(&spec_name, &d.history.iter().collect::<Vec<_>>()))
    };
    let crumbs = [(spec_name.as_str(), model_link.clone()), ("registry", registry_link(&spec_name))];
    Ok(html(layout::page(&viewer, &format!("{spec_name} registry"), &crumbs, body)))
}
