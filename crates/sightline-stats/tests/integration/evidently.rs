//! Per-column drift against Evidently 0.7.23's own `DataDriftPreset` on the fixtures from
//! `tests/reference/drift_evidently.py`: method chosen, score, threshold, verdict, share.

use std::collections::HashMap;

use serde::Deserialize;
use sightline_stats::column_drift::{self, ColumnData, ColumnDrift, Options, Tally};
use sightline_stats::default_method::Method;

const FIXTURES: &str = include_str!("../fixtures/drift_evidently.json");

/// Relative tolerance on scores. Evidently's numbers come from numpy and scipy; ours
/// from the same formulas in another order of operations, and statrs' normal CDF
/// carries about 1e-10 relative error.
const RELATIVE: f64 = 1e-9;

#[derive(Debug, Deserialize)]
struct Fixtures {
    evidently: String,
    datasets: Vec<Dataset>,
}

#[derive(Debug, Deserialize)]
struct Dataset {
    name: String,
    columns: Vec<Column>,
    runs: Vec<Run>,
}

#[derive(Debug, Deserialize)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    reference: Vec<serde_json::Value>,
    current: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Run {
    method: Option<String>,
    columns: Vec<Expected>,
    drifted_count: usize,
    share: f64,
}

#[derive(Debug, Deserialize)]
struct Expected {
    column: String,
    method: String,
    score: serde_json::Value,
    threshold: f64,
    drifted: bool,
}

/// A column's data as the library takes it, built once per dataset.
enum Owned {
    Numeric(Vec<f64>, Vec<f64>),
    Categorical(Tally),
}

impl Owned {
    fn data(&self) -> ColumnData<'_> {
        match self {
            Owned::Numeric(r, c) => ColumnData::Numeric { reference: r, current: c },
            Owned::Categorical(t) => ColumnData::Categorical(t),
        }
    }
}

fn owned(column: &Column) -> Owned {
    if column.kind == "numeric" {
        let numbers = |v: &[serde_json::Value]| v.iter().filter_map(serde_json::Value::as_f64).collect::<Vec<_>>();
        return Owned::Numeric(numbers(&column.reference), numbers(&column.current));
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut entries: Vec<(&str, f64, f64)> = Vec::new();
    for (side, is_ref) in [(&column.reference, true), (&column.current, false)] {
        for v in side.iter().filter_map(serde_json::Value::as_str) {
            let i = *index.entry(v).or_insert_with(|| {
                entries.push((v, 0.0, 0.0));
                entries.len() - 1
            });
            if is_ref {
                entries[i].1 += 1.0;
            } else {
                entries[i].2 += 1.0;
            }
        }
    }
    Owned::Categorical(Tally::new(&entries, |a, b| a.cmp(b)))
}

fn number(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::String(s) if s == "inf" => f64::INFINITY,
        serde_json::Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        serde_json::Value::String(s) if s == "nan" => f64::NAN,
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

fn close(actual: f64, expected: f64) -> bool {
    if actual.is_nan() || expected.is_nan() {
        return actual.is_nan() && expected.is_nan();
    }
    if actual == expected {
        return true;
    }
    (actual - expected).abs() <= RELATIVE * actual.abs().max(expected.abs())
}

/// Runs one column, or explains why it could not run.
fn ours(data: &Owned, method: Option<&str>) -> Result<ColumnDrift, String> {
    let method = match method {
        Some(name) => Some(Method::from_name(name).ok_or_else(|| format!("unknown method {name}"))?),
        None => None,
    };
    column_drift::column_drift(data.data(), Options { method, threshold: None }).map_err(|e| e.to_string())
}

#[test]
fn every_column_agrees_with_evidently() {
    let fixtures: Fixtures = serde_json::from_str(FIXTURES).expect("fixture parses");
    assert_eq!(fixtures.evidently, "0.7.23");
    let mut failures = Vec::new();
    let mut checked = 0;
    for dataset in &fixtures.datasets {
        let data: HashMap<&str, Owned> = dataset.columns.iter().map(|c| (c.name.as_str(), owned(c))).collect();
        for run in &dataset.runs {
            let mut results = Vec::new();
            for expected in &run.columns {
                let at = format!("{} / {:?} / {}", dataset.name, run.method, expected.column);
                let Some(column) = data.get(expected.column.as_str()) else {
                    failures.push(format!("{at}: column missing from the fixture"));
                    continue;
                };
                let got = match ours(column, run.method.as_deref()) {
                    Ok(got) => got,
                    Err(e) => {
                        failures.push(format!("{at}: {e}"));
                        continue;
                    }
                };
                checked += 1;
                let want_method = Method::from_name(&expected.method);
                if want_method != Some(got.method) {
                    failures.push(format!("{at}: method {} vs Evidently's {}", got.method.name(), expected.method));
                }
                let want = number(&expected.score);
                // The one documented difference (see `column_drift`'s module docs):
                // chi-square on a single category has no degrees of freedom; scipy answers
                // NaN, we answer p-value 1. Neither is drift.
                let single_category = matches!(column, Owned::Categorical(t) if t.distinct() == 1);
                let documented = single_category && want.is_nan() && got.p_value == Some(1.0);
                if !documented && !close(got.evidently_score(), want) {
                    failures.push(format!("{at}: score {:e} vs Evidently's {want:e}", got.evidently_score()));
                }
                if got.threshold != expected.threshold {
                    failures.push(format!("{at}: threshold {} vs {}", got.threshold, expected.threshold));
                }
                if got.drifted != expected.drifted {
                    failures.push(format!("{at}: drifted {} vs {}", got.drifted, expected.drifted));
                }
                results.push(got);
            }
            let (share, _) = column_drift::dataset_share(&results);
            let drifted = results.iter().filter(|c| c.drifted).count();
            if drifted != run.drifted_count || !close(share, run.share) {
                failures.push(format!(
                    "{} / {:?}: {drifted} drifted (share {share}) vs Evidently's {} ({})",
                    dataset.name, run.method, run.drifted_count, run.share
                ));
            }
        }
    }
    assert!(checked > 500, "only {checked} columns checked");
    assert!(failures.is_empty(), "{} of {checked} disagree:\n{}", failures.len(), failures.join("\n"));
}
