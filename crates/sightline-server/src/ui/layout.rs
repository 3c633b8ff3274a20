//! The page shell every UI page shares (head, navigation, sign-out), the error page,
//! and small pieces pages repeat: a chart figure, a time, a number.

use super::Viewer;
use super::charts::Chart;
use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Head and body without navigation (the sign-in and error pages).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Sightline" }
                link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/ui/assets/ui.css";
                script src="/ui/assets/ui.js" defer {}
            }
            body { (body) }
        }
    }
}

/// A page with the navigation bar; `crumbs` are (label, link) pairs after "Overview".
pub fn page(viewer: &Viewer, title: &str, crumbs: &[(&str, String)], body: Markup) -> Markup {
    bare(
        title,
        html! {
            header.top {
                nav {
                    a.brand href="/ui/" { "Sightline" }
                    a href="/ui/" { "Overview" }
                    a href="/ui/alerts" { "Alerts & monitors" }
                    a href="/ui/incidents" { "Incidents" }
                    a href="/ui/settings" { "Settings" }
                }
                div.user {
                    span { (viewer.name()) }
                    @if let Some(csrf) = &viewer.csrf {
                        form method="post" action="/ui/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button.link type="submit" { "Sign out" }
                        }
                    } @else {
                        a href="/ui/sign-in" { "Sign in again" }
                    }
                }
            }
            @if !crumbs.is_empty() {
                p.crumbs {
                    a href="/ui/" { "Overview" }
                    @for (label, link) in crumbs { " / " a href=(link) { (label) } }
                }
            }
            main { (body) }
        },
    )
}

pub fn error_page(status: StatusCode, detail: &str) -> Markup {
    bare(
        status.canonical_reason().unwrap_or("Error"),
        html! {
            main.signin {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p { (detail) }
                p { a href="/ui/" { "Back to the overview" } }
            }
        },
    )
}

/// A chart with its caption; the script reads `data-plot` and `data-hover` to show the
/// values under the pointer.
pub fn figure(id: &str, caption: &str, chart: &Chart) -> Markup {
    let plot = chart.plot.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    html! {
        figure.chart id=(id) data-plot=(plot) data-hover=(chart.hover.to_string()) {
            figcaption { (caption) }
            // plotters' SVG: drawn by the server from numbers, no input text inside
            // but labels, which plotters escapes.
            (PreEscaped(&chart.svg))
            p.readout aria-live="polite" {}
        }
    }
}

/// RFC 3339 time of epoch milliseconds.
pub fn when(ms: i64) -> String {
    crate::wire::time::format(ms)
}

pub fn opt_number(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), super::charts::number)
}

pub fn percent(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map_or_else(|| "–".to_owned(), |x| format!("{:.2} %", x * 100.0))
}
