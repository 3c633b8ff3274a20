//! Drift per column with `sightline_stats::column_drift` (Evidently's default or the
//! chosen method, on the raw values), and the dataset verdict.

use std::collections::HashMap;

use sightline_stats::column_drift::{self, ColumnData, Options, Tally};
use sightline_stats::default_method::{self, ColumnKind, Method};
use sightline_stats::drift::{self, DriftError};

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
    /// Both distributions, for the HTML page (computed only when it is asked for).
    pub chart: Option<Chart>,
}

/// A column's reference and current distributions as shares of each side's values.
#[derive(Debug)]
pub enum Chart {
    /// Equal-width bins over both samples' range: `edges.len() - 1` shares per side.
    Histogram { edges: Vec<f64>, reference: Vec<f64>, current: Vec<f64> },
    /// The most frequent categories (over both sides), the rest summed in the last bar.
    Bars { labels: Vec<String>, reference: Vec<f64>, current: Vec<f64> },
}

/// Bins in a numeric chart: enough to show a shape, few enough to read.
const CHART_BINS: usize = 24;
/// Bars in a categorical chart before the rest is summed into one.
const CHART_BARS: usize = 15;

fn numeric_chart(reference: &[f64], current: &[f64]) -> Chart {
    let all = reference.iter().chain(current);
    let lo = all.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = all.copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi, bins) = if hi > lo { (lo, hi, CHART_BINS) } else { (lo - 0.5, hi + 0.5, 1) };
    let edges: Vec<f64> = (0..=bins).map(|i| lo + (hi - lo) * i as f64 / bins as f64).collect();
    let shares = |v: &[f64]| {
        let n = v.len().max(1) as f64;
        drift::histogram(v, &edges).into_iter().map(|c| c / n).collect()
    };
    Chart::Histogram { reference: shares(reference), current: shares(current), edges }
}

fn categorical_chart(reference: &[(String, u64)], current: &[(String, u64)]) -> Chart {
    let (nr, nc) = (reference.iter().map(|x| x.1).sum::<u64>().max(1), current.iter().map(|x| x.1).sum::<u64>().max(1));
    let mut shares: HashMap<&str, (f64, f64)> = HashMap::new();
    for (name, count) in reference {
        shares.entry(name).or_default().0 += *count as f64 / nr as f64;
    }
    for (name, count) in current {
        shares.entry(name).or_default().1 += *count as f64 / nc as f64;
    }
    let mut rows: Vec<(&str, (f64, f64))> = shares.into_iter().collect();
    // Largest combined share first; names break ties so the page is the same on every run.
    rows.sort_by(|a, b| (b.1.0 + b.1.1).total_cmp(&(a.1.0 + a.1.1)).then_with(|| a.0.cmp(b.0)));
    let mut labels = Vec::new();
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for (name, (a, b)) in rows.iter().take(CHART_BARS) {
        labels.push((*name).to_owned());
        r.push(*a);
        c.push(*b);
    }
    if rows.len() > CHART_BARS {
        let rest = &rows[CHART_BARS..];
        labels.push(format!("other ({} categories)", rest.len()));
        r.push(rest.iter().map(|x| x.1.0).sum());
        c.push(rest.iter().map(|x| x.1.1).sum());
    }
    Chart::Bars { labels, reference: r, current: c }
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

fn column_drift(column: &Column, options: Options, charts: bool) -> anyhow::Result<Option<ColumnDrift>> {
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
    let chart = match (&column.reference, &column.current) {
        _ if !charts => None,
        (Values::Numeric(r), Values::Numeric(c)) => Some(numeric_chart(r, c)),
        (Values::Categorical(r), Values::Categorical(c)) => Some(categorical_chart(r, c)),
        _ => None,
    };
    Ok(Some(ColumnDrift {
        chart,
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
pub fn report(columns: &[Column], options: Options, charts: bool) -> anyhow::Result<Report> {
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
    }
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (column, result) in columns.iter().zip(in_parallel(columns, options, charts)) {
        match result? {
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

/// Every column's drift, on as many threads as the machine has cores (columns are
/// independent, and sorting a million values for KS or Wasserstein takes a while), in
/// the columns' order.
fn in_parallel(columns: &[Column], options: Options, charts: bool) -> Vec<anyhow::Result<Option<ColumnDrift>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, columns.len().max(1));
    let mut results: Vec<Option<anyhow::Result<Option<ColumnDrift>>>> = (0..columns.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    // Column t, t + threads, …: neighbours are often alike in cost, so striding spreads them.
                    (t..columns.len())
                        .step_by(threads)
                        .map(|i| (i, column_drift(&columns[i], options, charts)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            // A panicked worker leaves its columns as `None`, reported as an error below.
            if let Ok(done) = h.join() {
                for (i, r) in done {
                    results[i] = Some(r);
                }
            }
        }
    });
    results.into_iter().map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("a drift worker thread panicked")))).collect()
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
