//! Drift per column with `sightline_stats::column_drift` (Evidently's default or the
//! chosen method, on the raw values), and the dataset verdict.

use std::collections::HashMap;

use sightline_stats::column_drift::{self, ColumnData, Options, Tally};
use sightline_stats::default_method::{self, ColumnKind, Method};
use sightline_stats::drift::DriftError;

use super::input::{Column, Values};

/// One column's drift.
#[derive(Debug)]
pub struct ColumnDrift {
    pub name: String,
    pub kind: ColumnKind,
    pub method: Method,
    pub score: f64,
    pub p_value: Option<f64>,
    pub threshold: f64,
    pub drifted: bool,
    pub reference_missing: u64,
    pub current_missing: u64,
}

/// A column with no values on one side or both, so no method can compare it.
#[derive(Debug)]
pub struct Skipped {
    pub name: String,
    pub reason: &'static str,
}

/// The whole report.
#[derive(Debug)]
pub struct Report {
    pub columns: Vec<ColumnDrift>,
    pub skipped: Vec<Skipped>,
    pub share_drifted: f64,
    pub dataset_drifted: bool,
}

/// Counts of text categories over the union of both sides.
fn text_tally(reference: &[(String, u64)], current: &[(String, u64)]) -> Tally {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut entries: Vec<(&str, f64, f64)> = Vec::new();
    for (side, is_reference) in [(reference, true), (current, false)] {
        for (name, count) in side {
            let slot = *index.entry(name.as_str()).or_insert_with(|| {
                entries.push((name.as_str(), 0.0, 0.0));
                entries.len() - 1
            });
            let target = if is_reference { &mut entries[slot].1 } else { &mut entries[slot].2 };
            *target += *count as f64;
        }
    }
    // Python sorts str by code point, which is the byte order of UTF-8 that `str::cmp` uses.
    Tally::new(&entries, |a, b| a.cmp(b))
}

fn column_drift(column: &Column, options: Options) -> anyhow::Result<Option<ColumnDrift>> {
    let tally;
    let data = match (&column.reference, &column.current) {
        (Values::Numeric(r), Values::Numeric(c)) => ColumnData::Numeric { reference: r, current: c },
        (Values::Categorical(r), Values::Categorical(c)) => {
            tally = text_tally(r, c);
            ColumnData::Categorical(&tally)
        }
        // Both sides are collected with the same kind.
        _ => anyhow::bail!("column {:?} was read with two different types", column.name),
    };
    let result = match column_drift::column_drift(data, options) {
        Ok(result) => result,
        // A column with no values on one side is skipped, not an error (see `skip_reason`).
        Err(DriftError::Empty { .. }) => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("column {:?}: {e}", column.name)),
    };
    Ok(Some(ColumnDrift {
        name: column.name.clone(),
        kind: column.kind,
        method: result.method,
        score: result.score,
        p_value: result.p_value,
        threshold: result.threshold,
        drifted: result.drifted,
        reference_missing: column.reference_missing,
        current_missing: column.current_missing,
    }))
}

/// Drift for every column that has values on both sides.
pub fn report(columns: &[Column], options: Options) -> anyhow::Result<Report> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for column in columns {
        if let Some(m) = options.method.filter(|m| !m.accepts(column.kind)) {
            anyhow::bail!(
                "--method {} does not apply to {} column {:?} (ks and wasserstein_normed take numbers, \
                 chisquare and z categories)",
                m.name(),
                kind_name(column.kind),
                column.name
            );
        }
        match column_drift(column, options)? {
            Some(d) => out.push(d),
            None => skipped.push(Skipped { name: column.name.clone(), reason: skip_reason(column) }),
        }
    }
    if out.is_empty() {
        anyhow::bail!("no column has values in both files: every column is missing on one side");
    }
    let drifted = out.iter().filter(|c| c.drifted).count();
    Ok(Report {
        share_drifted: drifted as f64 / out.len() as f64,
        dataset_drifted: default_method::dataset_drifted(drifted, out.len()),
        columns: out,
        skipped,
    })
}

fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Numeric => "numeric",
        ColumnKind::Categorical => "categorical",
    }
}

fn skip_reason(column: &Column) -> &'static str {
    let empty = |v: &Values| match v {
        Values::Numeric(x) => x.is_empty(),
        Values::Categorical(x) => x.is_empty(),
    };
    match (empty(&column.reference), empty(&column.current)) {
        (true, true) => "all values missing in both files",
        (true, false) => "all values missing in the reference",
        _ => "all values missing in the current file",
    }
}
