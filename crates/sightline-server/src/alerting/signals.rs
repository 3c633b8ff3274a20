//! Where monitor samples come from: the [`SignalSource`] boundary and the source that
//! reads the event log (throughput, latency quantiles, error rate, label coverage).
//!
//! Drift scores and data-quality rates come from the aggregator's profiles
//! (`profile_signals.rs`, registered with [`Signals::with_source`]); realized performance
//! metrics from predictions joined with their labels (`outcome_signals.rs`). Estimated
//! performance has no source yet: those monitors read "no data" (their `no_data` policy
//! decides what that means).

use sightline_core::alerting::{Labels, Monitor, Signal};
use sightline_store::{Store, signals::WindowCounts};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One sample per series (series labels → value; `None` is no data).
pub type Samples = BTreeMap<Labels, Option<f64>>;

/// A provider of samples for some signal kinds. Calls block (they query storage); the
/// scheduler runs them on blocking threads.
pub trait SignalSource: Send + Sync {
    /// Whether this source computes `signal`.
    fn serves(&self, signal: &Signal) -> bool;
    /// The samples of `monitor` (whose model has id `model_id`) over its window ending at `now_ms`.
    fn sample(&self, monitor: &Monitor, model_id: i64, now_ms: i64) -> Result<Samples, String>;
}

/// The registered sources; the first that serves a signal answers.
#[derive(Clone)]
pub struct Signals {
    sources: Vec<Arc<dyn SignalSource>>,
}

impl Signals {
    /// The event-log source alone.
    pub fn new(store: Arc<dyn Store>) -> Signals {
        Signals { sources: vec![Arc::new(EventLog { store })] }
    }

    /// Adds a source (e.g. the aggregator's, for drift, quality and performance).
    pub fn with_source(mut self, source: Arc<dyn SignalSource>) -> Signals {
        self.sources.push(source);
        self
    }

    /// Samples of `monitor`; no series at all when no source serves its signal.
    pub fn sample(&self, monitor: &Monitor, model_id: i64, now_ms: i64) -> Result<Samples, String> {
        match self.sources.iter().find(|s| s.serves(&monitor.signal)) {
            Some(source) => source.sample(monitor, model_id, now_ms),
            None => Ok(Samples::new()),
        }
    }
}

/// Signals computed from the stored predictions and labels.
struct EventLog {
    store: Arc<dyn Store>,
}

fn series(version: &str) -> Labels {
    Labels::from([("version".to_owned(), version.to_owned())])
}

/// The `q` quantile of `values` by linear interpolation between closest ranks (numpy's
/// default), so a quantile of a few values is not stuck on one of them.
pub fn quantile(mut values: Vec<f64>, q: f64) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let (a, b) = (*values.get(lo)?, *values.get(hi)?);
    Some(a + (b - a) * (pos - lo as f64))
}

impl SignalSource for EventLog {
    fn serves(&self, signal: &Signal) -> bool {
        matches!(
            signal,
            Signal::Throughput | Signal::LatencyQuantile { .. } | Signal::ErrorRate | Signal::LabelCoverage
        )
    }

    fn sample(&self, m: &Monitor, model_id: i64, now_ms: i64) -> Result<Samples, String> {
        let from = now_ms.saturating_sub(m.window_ms);
        // The window ends just after now: an event stamped this millisecond counts.
        let to = now_ms.saturating_add(1);
        let version = m.version.as_deref();
        let mut out = Samples::new();
        if let Signal::LatencyQuantile { quantile: q } = m.signal {
            let per_version = self.store.window_latencies(model_id, version, from, to).map_err(|e| e.to_string())?;
            for (v, values) in per_version {
                out.insert(series(&v), quantile(values, q));
            }
        } else {
            let counts = self.store.window_counts(model_id, version, from, to).map_err(|e| e.to_string())?;
            let seconds = m.window_ms as f64 / 1000.0;
            for WindowCounts { version: v, predictions, errors, labelled } in counts {
                let n = predictions as f64;
                let value = match m.signal {
                    Signal::Throughput => Some(n / seconds),
                    Signal::ErrorRate => (predictions > 0).then(|| errors as f64 / n),
                    Signal::LabelCoverage => (predictions > 0).then(|| labelled as f64 / n),
                    _ => None,
                };
                out.insert(series(&v), value);
            }
        }
        // A watched version without traffic: zero throughput is a real value (a model
        // that stopped serving); other signals have nothing to say about it.
        if let Some(v) = version
            && !out.contains_key(&series(v))
        {
            out.insert(series(v), matches!(m.signal, Signal::Throughput).then_some(0.0));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        // numpy.quantile([1, 2, 3, 4], [0, 0.5, 0.9, 1]) = [1, 2.5, 3.7, 4]
        for (q, expected) in [(0.0, 1.0), (0.5, 2.5), (0.9, 3.7), (1.0, 4.0)] {
            let got = quantile(vec![4.0, 1.0, 3.0, 2.0], q).expect("a value");
            assert!((got - expected).abs() < 1e-12, "q={q}: {got}");
        }
        assert_eq!(quantile(Vec::new(), 0.5), None);
    }
}
