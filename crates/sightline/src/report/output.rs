//! The report as JSON (the shape) and as a table for a terminal.

use serde::Serialize;
use sightline_stats::default_method::ColumnKind;

use super::compute::Report;

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
