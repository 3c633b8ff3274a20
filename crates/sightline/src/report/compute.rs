//! Drift per column: Evidently's default method, run on the raw values with the
//! `sightline-stats` functions, and the dataset verdict.

use std::cmp::Ordering;
use std::collections::HashMap;

use anyhow::Context;
use sightline_stats::default_method::{self, ColumnKind, Method};
use sightline_stats::drift;

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

/// Distinct values and their counts on both sides, aligned; `first` is the index of the
/// smallest value, the category Evidently's z-test counts against.
struct Counts {
    reference: Vec<f64>,
    current: Vec<f64>,
    first: usize,
}

impl Counts {
    fn distinct(&self) -> usize {
        self.reference.len()
    }
}

/// Counts of numbers, keyed by value; -0.0 and 0.0 are one value, as pandas counts them.
fn numeric_counts(reference: &[f64], current: &[f64]) -> Counts {
    let key = |v: f64| if v == 0.0 { 0.0_f64.to_bits() } else { v.to_bits() };
    let reference: Vec<u64> = reference.iter().map(|v| key(*v)).collect();
    let current: Vec<u64> = current.iter().map(|v| key(*v)).collect();
    let c = drift::category_counts(&reference, &current);
    let first = smallest(&c.categories, |a, b| f64::from_bits(*a).total_cmp(&f64::from_bits(*b)));
    Counts { reference: c.reference, current: c.current, first }
}

/// The number of distinct values in both samples, or `cap` if there are at least that many.
fn distinct_up_to(reference: &[f64], current: &[f64], cap: usize) -> usize {
    let mut seen: Vec<f64> = Vec::with_capacity(cap);
    for &v in reference.iter().chain(current) {
        // `==` makes -0.0 and 0.0 one value, as `numeric_counts` keys them.
        if !seen.contains(&v) {
            seen.push(v);
            if seen.len() >= cap {
                break;
            }
        }
    }
    seen.len()
}

/// Counts of text categories over the union of both sides.
fn text_counts(reference: &[(String, u64)], current: &[(String, u64)]) -> Counts {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for (side, is_reference) in [(reference, true), (current, false)] {
        for (name, count) in side {
            let slot = *index.entry(name.as_str()).or_insert_with(|| {
                names.push(name.as_str());
                r.push(0.0);
                c.push(0.0);
                names.len() - 1
            });
            let target = if is_reference { &mut r } else { &mut c };
            target[slot] += *count as f64;
        }
    }
    // Python sorts str by code point, which is the byte order of UTF-8 that `str::cmp` uses.
    let first = smallest(&names, |a, b| a.cmp(b));
    Counts { reference: r, current: c, first }
}

fn smallest<T>(items: &[T], cmp: impl Fn(&T, &T) -> Ordering) -> usize {
    items.iter().enumerate().min_by(|(_, a), (_, b)| cmp(a, b)).map(|(i, _)| i).unwrap_or(0)
}

/// Runs a count-based method.
fn on_counts(method: Method, counts: &Counts) -> Result<drift::DriftResult, drift::DriftError> {
    match method {
        Method::ChiSquare => drift::chi_square(&counts.reference, &counts.current),
        Method::JensenShannon => drift::jensen_shannon(&counts.reference, &counts.current),
        // Evidently maps the smallest value to 0 and every other to 1, so successes are
        // the observations that are not the smallest value.
        _ => {
            let total = |c: &[f64]| c.iter().sum::<f64>() as u64;
            let (rt, ct) = (total(&counts.reference), total(&counts.current));
            let (rf, cf) = (counts.reference[counts.first] as u64, counts.current[counts.first] as u64);
            drift::z_test(rt - rf, rt, ct - cf, ct)
        }
    }
}

fn column_drift(column: &Column) -> anyhow::Result<Option<ColumnDrift>> {
    let (reference_count, current_count) = match (&column.reference, &column.current) {
        (Values::Numeric(r), Values::Numeric(c)) => (r.len(), c.len()),
        (Values::Categorical(r), Values::Categorical(c)) => {
            (r.iter().map(|x| x.1 as usize).sum(), c.iter().map(|x| x.1 as usize).sum())
        }
        // Both sides are collected with the same kind.
        _ => anyhow::bail!("column {:?} was read with two different types", column.name),
    };
    if reference_count == 0 || current_count == 0 {
        return Ok(None);
    }
    let (method, result) = match (&column.reference, &column.current) {
        (Values::Numeric(r), Values::Numeric(c)) => {
            // Only whether there are more than five distinct values matters, so a long
            // column is not counted in full unless it is tested as categories.
            let distinct = distinct_up_to(r, c, default_method::FEW_DISTINCT_MAX + 1);
            let method = default_method::default_method(column.kind, reference_count, distinct);
            let result = match method {
                Method::Ks => drift::ks_2samp(r, c),
                Method::WassersteinNormed => drift::wasserstein_normed(r, c),
                _ => on_counts(method, &numeric_counts(r, c)),
            };
            (method, result)
        }
        (Values::Categorical(r), Values::Categorical(c)) => {
            let counts = text_counts(r, c);
            let method = default_method::default_method(column.kind, reference_count, counts.distinct());
            (method, on_counts(method, &counts))
        }
        _ => anyhow::bail!("column {:?} was read with two different types", column.name),
    };
    let result = result.with_context(|| format!("column {:?}: {}", column.name, method.name()))?;
    let threshold = method.default_threshold();
    let judged = if method.is_test() { result.p_value.unwrap_or(f64::NAN) } else { result.score };
    Ok(Some(ColumnDrift {
        name: column.name.clone(),
        kind: column.kind,
        method,
        score: result.score,
        p_value: result.p_value,
        threshold,
        drifted: method.is_drifted(judged, threshold),
        reference_missing: column.reference_missing,
        current_missing: column.current_missing,
    }))
}

/// Drift for every column that has values on both sides.
pub fn report(columns: &[Column]) -> anyhow::Result<Report> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for column in columns {
        match column_drift(column)? {
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
