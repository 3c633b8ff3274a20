//! What the pages show, computed with the queries the API and monitors use: counts and
//! latencies per window from the outcome tallies, drift per window from merged profiles,
//! realized performance from the tallies' predictions and labels.

use super::charts::Cell;
use crate::analysis::{self, AnalysisError, DriftReport, DriftSettings, Retention};
use crate::performance::estimate::FitCache;
use crate::performance::{self, WindowPerformance, tallied};
use sightline_core::{ModelSpec, Task};
use sightline_stats::column_drift::ColumnDrift;
use sightline_stats::performance::CbpeEstimate;
use sightline_stats::profile::Profile;
use sightline_store::{Store, StoreError};

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

/// Counts and latency quantiles per window, from the outcome tallies' summaries (latency
/// quantiles within `LATENCY_RELATIVE_ERROR` of logged latencies).
pub fn traffic(
    store: &dyn Store,
    model_id: i64,
    version_id: Option<i64>,
    windows: &[(i64, i64)],
    retention: Retention,
    now: i64,
) -> Result<Vec<Traffic>, StoreError> {
    windows
        .iter()
        .map(|&w| {
            let s = tallied::summary(store, model_id, version_id, w, now, retention)?;
            let q = |p: f64| s.latency_quantile(p);
            let latency = match (q(0.5), q(0.9), q(0.99)) {
                (Some(a), Some(b), Some(c)) => Some([a, b, c]),
                _ => None,
            };
            Ok(Traffic { predictions: s.predictions, errors: s.errors, labelled: s.labelled, latency })
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
    let prepared = analysis::PreparedReference::new(reference);
    for &w in &windows {
        let (current, _) = window_profile(store, model_id, version_id, w, retention, now)?;
        reports.push(analysis::drift_against(&prepared, &current, features, settings));
    }
    Ok(DriftGrid { windows, reports })
}

/// Most labelled predictions the page calibrates CBPE on.
pub const CBPE_REFERENCE_LABELS: usize = 20_000;

/// Realized performance per window, from the outcome tallies, and for a binary
/// classifier the CBPE estimate of each window, fitted on the range's earliest labelled
/// predictions (whole windows, from the first, until [`CBPE_REFERENCE_LABELS`]): where
/// labels have not arrived yet (the latest windows), the estimate says what they will
/// probably show. `Err` says why there is no estimate.
pub struct PagePerformance {
    pub windows: Vec<WindowPerformance>,
    pub estimated: Result<Vec<Option<CbpeEstimate>>, String>,
}

#[allow(clippy::too_many_arguments)]
pub fn performance(
    store: &dyn Store,
    fits: &FitCache,
    spec: &ModelSpec,
    model_id: i64,
    version_id: Option<i64>,
    windows: &[(i64, i64)],
    retention: Retention,
    now: i64,
) -> Result<PagePerformance, StoreError> {
    let tallies = windows
        .iter()
        .map(|&w| tallied::read(store, model_id, version_id, w, now, retention))
        .collect::<Result<Vec<_>, _>>()?;
    let realized = tallies.iter().map(|t| performance::window_counted(spec, &t.counted(), &t.delays, None)).collect();
    let estimated = if spec.task == Task::BinaryClassification {
        let mut reference = Vec::new();
        for t in &tallies {
            if t.labelled() > 0 {
                reference.extend(t.counted());
            }
            if reference.iter().filter(|(r, _)| r.label.is_some()).map(|(_, n)| n).sum::<usize>()
                >= CBPE_REFERENCE_LABELS
            {
                break;
            }
        }
        match fits.fit(model_id, spec, &reference, None).as_ref() {
            Ok(e) => Ok(tallies.iter().map(|t| e.estimate(spec, &t.counted()).and_then(Result::ok)).collect()),
            Err(m) => Err(m.clone()),
        }
    } else {
        Err("estimated performance is for binary classifiers".to_owned())
    };
    Ok(PagePerformance { windows: realized, estimated })
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
