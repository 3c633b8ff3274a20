//! The event-log queries monitors read: per version, over a time window of event
//! timestamps, the numbers that throughput, latency, error-rate and label-coverage
//! signals are computed from.

use crate::Result;

/// Most latency values read for one quantile; past it the newest are used (a latency
/// quantile over a sample of that size is accurate to well under a percent).
pub const MAX_LATENCY_SAMPLE: usize = 100_000;

/// Counts of one version's predictions in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowCounts {
    pub version: String,
    pub predictions: i64,
    pub errors: i64,
    pub labelled: i64,
}

pub trait SignalStore {
    /// Per version with at least one prediction in `[from_ms, to_ms)`: counts of
    /// predictions, of those with an error, and of those with a label. Only `version`
    /// when given.
    fn window_counts(
        &self,
        model_id: i64,
        version: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<WindowCounts>>;
    /// Per version, the latencies (ms) of predictions in `[from_ms, to_ms)` that have one,
    /// newest first, at most [`MAX_LATENCY_SAMPLE`] per call.
    fn window_latencies(
        &self,
        model_id: i64,
        version: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(String, Vec<f64>)>>;
}
