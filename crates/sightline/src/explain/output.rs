//! Explanations as JSON (`--json`) or as a table on stdout.

use std::fmt::Write as _;

use serde::Serialize;
use sightline_explain::Ensemble;
use sightline_explain::formats::Format as ModelFile;

use super::compute::{Explanation, Explanations, Method};

pub struct Report<'a> {
    pub file: ModelFile,
    pub ensemble: &'a Ensemble,
    pub method: Method,
    pub names: &'a [String],
    pub rows: &'a [Vec<f64>],
    pub explanations: &'a Explanations,
}

#[derive(Serialize)]
struct Document<'a> {
    method: &'static str,
    model: Model<'a>,
    /// Feature names; every `attributions`/`weights` array is in this order.
    features: &'a [String],
    rows: Vec<Row<'a>>,
}

#[derive(Serialize)]
struct Model<'a> {
    format: &'static str,
    objective: &'a str,
    features: usize,
    outputs: usize,
}

#[derive(Serialize)]
struct Row<'a> {
    /// 1-based, as the data rows of the file.
    row: usize,
    outputs: Vec<Output<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Output<'a> {
    Shap { expected_value: f64, margin: f64, attributions: &'a [f64] },
    Lime { intercept: f64, prediction: f64, local_prediction: f64, score: f64, weights: &'a [f64] },
}

pub fn json(report: &Report<'_>) -> anyhow::Result<String> {
    let rows = report
        .explanations
        .iter()
        .enumerate()
        .map(|(index, outputs)| Row {
            row: index + 1,
            outputs: outputs
                .iter()
                .map(|e| match e {
                    Explanation::Shap { expected_value, margin, attributions } => {
                        Output::Shap { expected_value: *expected_value, margin: *margin, attributions }
                    }
                    Explanation::Lime { intercept, prediction, local_prediction, score, weights } => Output::Lime {
                        intercept: *intercept,
                        prediction: *prediction,
                        local_prediction: *local_prediction,
                        score: *score,
                        weights,
                    },
                })
                .collect(),
        })
        .collect();
    let document = Document {
        method: report.method.name(),
        model: Model {
            format: report.file.name(),
            objective: report.ensemble.objective(),
            features: report.ensemble.num_features(),
            outputs: report.ensemble.num_outputs(),
        },
        features: report.names,
        rows,
    };
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    Ok(text)
}

/// Features shown per row and output in the table, by decreasing |attribution|.
const TABLE_FEATURES: usize = 10;

pub fn table(report: &Report<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} on {} model ({}), {} rows",
        report.method.name(),
        report.file.name(),
        report.ensemble.objective(),
        report.rows.len()
    );
    let width = report.names.iter().map(String::len).max().unwrap_or(0).max(7);
    for (index, outputs) in report.explanations.iter().enumerate() {
        for (output, explanation) in outputs.iter().enumerate() {
            let (summary, values) = match explanation {
                Explanation::Shap { expected_value, margin, attributions } => {
                    (format!("margin {margin:.6} = expected {expected_value:.6} + attributions"), attributions)
                }
                Explanation::Lime { intercept, prediction, local_prediction, score, weights } => (
                    format!(
                        "prediction {prediction:.6}, local fit {local_prediction:.6} = intercept {intercept:.6} \
                         + weights (R² {score:.4})"
                    ),
                    weights,
                ),
            };
            let _ = writeln!(out, "\nrow {} output {output}: {summary}", index + 1);
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()));
            for &feature in order.iter().take(TABLE_FEATURES) {
                let value = report.rows[index][feature];
                let _ = writeln!(
                    out,
                    "  {:<width$}  {:>12}  {:>+12.6}",
                    report.names[feature],
                    if value.is_nan() { "missing".to_owned() } else { format!("{value:.6}") },
                    values[feature]
                );
            }
        }
    }
    out
}
