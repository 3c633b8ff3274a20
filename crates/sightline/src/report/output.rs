//! The report as JSON (the shape) and as a table for a terminal.

use serde::Serialize;
use sightline_stats::default_method::ColumnKind;

use super::compute::{Chart, Report};
use sightline_server::ui::charts::{Series, bars};

#[derive(Serialize)]
struct JsonReport<'a> {
    columns: Vec<JsonColumn<'a>>,
    share_drifted: f64,
    dataset_drifted: bool,
}

#[derive(Serialize)]
struct JsonColumn<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    method: &'static str,
    /// serde_json writes a non-finite number as `null`: an infinite chi-square statistic
    /// (a category the reference never had) comes out as `null`, with p-value 0.
    score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    p_value: Option<f64>,
    threshold: f64,
    drifted: bool,
}

fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Numeric => "numeric",
        ColumnKind::Categorical => "categorical",
    }
}

/// The JSON document, pretty-printed.
pub fn json(report: &Report) -> anyhow::Result<String> {
    let doc = JsonReport {
        columns: report
            .columns
            .iter()
            .map(|c| JsonColumn {
                name: &c.name,
                kind: kind_name(c.kind),
                method: c.method.name(),
                score: c.score,
                p_value: c.p_value,
                threshold: c.threshold,
                drifted: c.drifted,
            })
            .collect(),
        share_drifted: report.share_drifted,
        dataset_drifted: report.dataset_drifted,
    };
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

/// Numbers for people: four significant decimals, small p-values in scientific notation.
fn number(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 { format!("{v:.3e}") } else { format!("{v:.4}") }
}

/// A plain-text table, one row per column, then skipped columns and the verdict.
pub fn table(report: &Report) -> String {
    let header = ["column", "type", "method", "score", "p-value", "threshold", "drifted", "missing ref/cur"];
    let mut rows: Vec<[String; 8]> = vec![header.map(String::from)];
    for c in &report.columns {
        rows.push([
            c.name.clone(),
            kind_name(c.kind).to_owned(),
            c.method.name().to_owned(),
            number(c.score),
            c.p_value.map(number).unwrap_or_else(|| "-".to_owned()),
            number(c.threshold),
            if c.drifted { "yes" } else { "no" }.to_owned(),
            format!("{}/{}", c.reference_missing, c.current_missing),
        ]);
    }
    let mut widths = [0_usize; 8];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for s in &report.skipped {
        out.push_str(&format!("{}: not compared, {}\n", s.name, s.reason));
    }
    let drifted = report.columns.iter().filter(|c| c.drifted).count();
    out.push_str(&format!(
        "\ndrifted columns: {drifted} of {} (share {}); dataset drift: {}\n",
        report.columns.len(),
        number(report.share_drifted),
        if report.dataset_drifted { "yes" } else { "no" }
    ));
    out
}

/// Text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A column's chart, drawn by the web UI's chart code (`sightline_server::ui::charts`):
/// grouped bars of the reference's and the current file's shares per bin or category.
fn chart_svg(name: &str, chart: &Chart) -> String {
    let (labels, reference, current) = match chart {
        Chart::Histogram { edges, reference, current } => {
            let labels: Vec<String> = edges.windows(2).map(|w| format!("{}–{}", number(w[0]), number(w[1]))).collect();
            (labels, reference, current)
        }
        Chart::Bars { labels, reference, current } => (labels.clone(), reference, current),
    };
    let series =
        |name: &str, values: &[f64]| Series { name: name.into(), values: values.iter().copied().map(Some).collect() };
    match bars(&labels, &[series("reference", reference), series("current", current)]) {
        // Inline SVG in HTML needs no namespace declaration: dropping it keeps the page
        // free of any URL at all.
        Ok(chart) => chart.svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1),
        Err(e) => format!("<p>the chart of {} cannot be drawn: {}</p>", escape(name), escape(&e)),
    }
}

/// A self-contained HTML page: the summary table, then per column its verdict and a chart
/// of both distributions. No scripts, fonts, images or links to anything outside the page.
pub fn html(report: &Report, reference: &str, current: &str) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Sightline drift report</title>\n<style>\
         body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}\
         .yes{color:#b00020;font-weight:bold}.key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}\
         section{margin-top:2em}</style>\n</head>\n<body>\n<h1>Data drift</h1>\n",
    );
    let drifted = report.columns.iter().filter(|c| c.drifted).count();
    out.push_str(&format!(
        "<p>Reference: {}<br>Current: {}</p>\n<p>Drifted columns: {drifted} of {} (share {}). Dataset drift: \
         <span class=\"{}\">{}</span></p>\n",
        escape(reference),
        escape(current),
        report.columns.len(),
        number(report.share_drifted),
        if report.dataset_drifted { "yes" } else { "no" },
        if report.dataset_drifted { "yes" } else { "no" },
    ));
    out.push_str(
        "<table>\n<tr><th>column</th><th>type</th><th>method</th><th>score</th><th>p-value</th><th>threshold</th>\
         <th>drifted</th><th>missing ref/cur</th></tr>\n",
    );
    for (i, c) in report.columns.iter().enumerate() {
        out.push_str(&format!(
            "<tr><td><a href=\"#column-{i}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"{}\">{}</td><td>{}/{}</td></tr>\n",
            escape(&c.name),
            kind_name(c.kind),
            c.method.name(),
            number(c.score),
            c.p_value.map(number).unwrap_or_else(|| "-".to_owned()),
            number(c.threshold),
            if c.drifted { "yes" } else { "no" },
            if c.drifted { "yes" } else { "no" },
            c.reference_missing,
            c.current_missing,
        ));
    }
    out.push_str("</table>\n");
    for s in &report.skipped {
        out.push_str(&format!("<p>{}: not compared, {}</p>\n", escape(&s.name), s.reason));
    }
    out.push_str("<p>Charts: the share of each file's non-missing values per bin or category.</p>\n");
    for (i, c) in report.columns.iter().enumerate() {
        out.push_str(&format!(
            "<section id=\"column-{i}\">\n<h2>{}</h2>\n<p>{} · {} {} · drifted: {}</p>\n",
            escape(&c.name),
            kind_name(c.kind),
            c.method.name(),
            number(if c.method.is_test() { c.p_value.unwrap_or(f64::NAN) } else { c.score }),
            if c.drifted { "yes" } else { "no" }
        ));
        if let Some(chart) = &c.chart {
            out.push_str(&chart_svg(&c.name, chart));
        }
        out.push_str("\n</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}
