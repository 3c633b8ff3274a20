//! What the pages show, computed with the queries the API and monitors use: counts and
//! latencies from the event log per window, drift per window from merged profiles,
//! realized performance from predictions joined with labels.

use super::charts::Cell;
use crate::analysis::{self, AnalysisError, DriftReport, DriftSettings, Retention};
use crate::performance::{self, WindowPerformance, quantile as sorted_quantile};
use sightline_core::ModelSpec;
use sightline_stats::column_drift::ColumnDrift;
use sightline_stats::profile::Profile;
use sightline_store::{OutcomeQuery, Store, StoreError};

/// Traffic of one window, all versions (or the chosen one) together.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    pub predictions: i64,
    pub errors: i64,
    pub labelled: i64,
    /// Latency quantiles p50, p90, p99 (ms); `None` without latencies.
    pub latency: Option<[f64; 3]>,
}

impl Traffic {
    pub fn error_rate(&self) -> Option<f64> {
        (self.predictions > 0).then(|| self.errors as f64 / self.predictions as f64)
    }
}

/// Counts (and, when `latencies`, latency quantiles) per window.
pub fn traffic(
    store: &dyn Store,
    model_id: i64,
    version: Option<&str>,
    windows: &[(i64, i64)],
    latencies: bool,
) -> Result<Vec<Traffic>, StoreError> {
    windows
        .iter()
        .map(|&(from, to)| {
            let mut t = Traffic::default();
            for c in store.window_counts(model_id, version, from, to)? {
                t.predictions += c.predictions;
                t.errors += c.errors;
                t.labelled += c.labelled;
            }
            if latencies && t.predictions > 0 {
                let mut values: Vec<f64> =
                    store.window_latencies(model_id, version, from, to)?.into_iter().flat_map(|(_, v)| v).collect();
                // Sorted once for the three quantiles.
                values.sort_by(f64::total_cmp);
                let q = |p: f64| sorted_quantile(&values, p);
                if let (Some(a), Some(b), Some(c)) = (q(0.5), q(0.9), q(0.99)) {
                    t.latency = Some([a, b, c]);
                }
            }
            Ok(t)
        })
        .collect()
}

/// How strongly a column drifted relative to its threshold: 1 at the threshold, more
/// beyond. Tests compare p-values (smaller is stronger), distances compare scores.
pub fn strength(d: &ColumnDrift) -> f64 {
    match d.p_value {
        Some(p) if d.threshold > 0.0 && d.threshold < 1.0 => {
            if p <= 0.0 {
                4.0
            } else {
                p.ln() / d.threshold.ln()
            }
        }
        Some(_) => f64::from(u8::from(d.drifted)) * 2.0,
        None if d.threshold > 0.0 => d.score / d.threshold,
        None => f64::from(u8::from(d.drifted)) * 2.0,
    }
}

/// Drift of every window against the reference.
#[derive(Debug)]
pub struct DriftGrid {
    pub windows: Vec<(i64, i64)>,
    pub reports: Vec<DriftReport>,
}

impl DriftGrid {
    /// Cells per feature (in `features` order) per window.
    pub fn cells(&self, features: &[String]) -> Vec<Vec<Option<Cell>>> {
        features
            .iter()
            .map(|f| {
                self.reports
                    .iter()
                    .map(|r| {
                        let c = r.features.iter().find(|c| &c.name == f)?;
                        let d = c.outcome.as_ref().ok()?;
                        Some(Cell { score: d.score, strength: strength(d), drifted: d.drifted })
                    })
                    .collect()
            })
            .collect()
    }
}

/// The profile of one window, widened as retention requires.
pub fn window_profile(
    store: &dyn Store,
    model_id: i64,
    version_id: Option<i64>,
    window: (i64, i64),
    retention: Retention,
    now: i64,
) -> Result<(Profile, u64), AnalysisError> {
    let (from, to) = analysis::widen(window.0, window.1, now, retention);
    analysis::window_profile(store, model_id, version_id, from, to)
}

#[allow(clippy::too_many_arguments)]
pub fn drift_grid(
    store: &dyn Store,
    model_id: i64,
    version_id: Option<i64>,
    reference: &Profile,
    features: &[String],
    settings: &DriftSettings,
    windows: Vec<(i64, i64)>,
    retention: Retention,
    now: i64,
) -> Result<DriftGrid, AnalysisError> {
    let mut reports = Vec::with_capacity(windows.len());
    for &w in &windows {
        let (current, _) = window_profile(store, model_id, version_id, w, retention, now)?;
        reports.push(analysis::drift(reference, &current, features, settings));
    }
    Ok(DriftGrid { windows, reports })
}

/// Most predictions read for realized performance over a page's range.
pub const MAX_OUTCOME_ROWS: usize = 1_000_000;

/// Realized performance per window; `None` when the range holds more than
/// [`MAX_OUTCOME_ROWS`] predictions (the page asks for a shorter range).
pub fn performance(
    store: &dyn Store,
    spec: &ModelSpec,
    model_id: i64,
    version_id: Option<i64>,
    windows: &[(i64, i64)],
) -> Result<Option<Vec<WindowPerformance>>, StoreError> {
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else { return Ok(Some(Vec::new())) };
    let query = OutcomeQuery { model_id, version_id, from_ms: first.0, to_ms: last.1, limit: MAX_OUTCOME_ROWS + 1 };
    let rows = store.outcomes(&query)?;
    if rows.len() > MAX_OUTCOME_ROWS {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(windows.len());
    let mut start = 0;
    for &(_, end) in windows {
        let stop = rows[start..].iter().position(|r| r.timestamp_ms >= end).map_or(rows.len(), |n| start + n);
        let slice: Vec<&sightline_store::OutcomeRow> = rows[start..stop].iter().collect();
        out.push(performance::window(spec, &slice, None));
        start = stop;
    }
    Ok(Some(out))
}

/// The reference profile that applies to `version` (its own, else the default).
pub fn reference(
    store: &dyn Store,
    model_id: i64,
    version: Option<&str>,
) -> Result<Option<(sightline_store::ReferenceRecord, Profile)>, AnalysisError> {
    match analysis::reference_named(store, model_id, version)? {
        Some(r) => {
            let p = Profile::decode(&r.data)?;
            Ok(Some((r, p)))
        }
        None => Ok(None),
    }
}

/// A column's distribution in the reference and in the current window, as shares on
/// common labels: the reference's bins for numeric columns (every bucket counts in
/// them), the most frequent categories for categorical ones.
#[derive(Debug, Clone)]
pub struct Distribution {
    pub labels: Vec<String>,
    pub reference: Vec<Option<f64>>,
    pub current: Vec<Option<f64>>,
}

/// Most categories drawn.
const MAX_CATEGORIES: usize = 12;

fn shares(counts: &[u64]) -> Vec<Option<f64>> {
    let total: u64 = counts.iter().sum();
    counts.iter().map(|c| (total > 0).then(|| *c as f64 / total as f64)).collect()
}

pub fn distribution(
    reference: Option<&sightline_stats::profile::ColumnProfile>,
    current: Option<&sightline_stats::profile::ColumnProfile>,
) -> Option<Distribution> {
    use super::charts::number;
    use sightline_stats::profile::ColumnProfile::{Categorical, Numeric};
    match (reference?, current?) {
        (Numeric(r), Numeric(c)) => {
            let (rb, cb) = (r.bins()?, c.bins()?);
            if rb.edges() != cb.edges() {
                return None;
            }
            let e = rb.edges();
            let mut labels = vec![format!("< {}", number(*e.first()?))];
            labels.extend(e.windows(2).map(|w| format!("{}–{}", number(w[0]), number(w[1]))));
            labels.push(format!("> {}", number(*e.last()?)));
            Some(Distribution { labels, reference: shares(rb.counts()), current: shares(cb.counts()) })
        }
        (Categorical(r), Categorical(c)) => {
            let (ri, ci) = (r.items(), c.items());
            let mut names: Vec<(String, u64)> = ci.items().into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
            for (k, n) in ri.items() {
                if !names.iter().any(|(x, _)| x == k) {
                    names.push((k.to_owned(), n));
                }
            }
            names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            names.truncate(MAX_CATEGORIES);
            let labels: Vec<String> = names.into_iter().map(|(k, _)| k).collect();
            let counts = |items: &sightline_stats::profile::FrequentItems| -> Vec<Option<f64>> {
                let total = items.items().iter().map(|(_, n)| *n).sum::<u64>();
                labels.iter().map(|l| (total > 0).then(|| items.count(l) as f64 / total as f64)).collect()
            };
            Some(Distribution { reference: counts(ri), current: counts(ci), labels })
        }
        _ => None,
    }
}
