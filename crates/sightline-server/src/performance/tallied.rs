//! A window's outcomes from the stored outcome tallies (`sightline_core::outcome_tally`)
//! instead of re-joining its predictions with their labels: the window's inner part is
//! covered by whole day, hour and minute tallies (as retention keeps them), what was
//! committed since the last flush is added, and only the edges finer than a bucket are
//! read from the events. The answer equals the join's, at the cost of the buckets.

use super::Counted;
use crate::analysis::{Retention, ceil, cover, floor};
use sightline_core::outcome_tally::{TallyRuns, TallySummary};
use sightline_store::{OutcomeQuery, OutcomeRow, Resolution, Store, StoreError, TallyWindowQuery};
use std::time::Duration;

/// What a window's predictions said and what turned out true, each distinct outcome once
/// with its count, and the label delays.
#[derive(Debug, Default)]
pub struct TalliedWindow {
    rows: Vec<(OutcomeRow, usize)>,
    /// Label delays (ms), sorted, with their counts.
    pub delays: Vec<(i64, usize)>,
    /// Failed prediction calls.
    pub errors: usize,
}

impl TalliedWindow {
    pub fn counted(&self) -> Vec<Counted<'_>> {
        self.rows.iter().map(|(r, n)| (r, *n)).collect()
    }

    /// Predictions in the window.
    pub fn predictions(&self) -> usize {
        self.rows.iter().map(|(_, n)| n).sum()
    }

    /// Predictions with a label.
    pub fn labelled(&self) -> usize {
        self.delays.iter().map(|(_, n)| n).sum()
    }

    fn from_tally(tally: &TallyRuns) -> Result<Self, String> {
        let mut rows = Vec::new();
        for (o, n) in tally.outcomes().map_err(|e| e.to_string())? {
            let n = usize::try_from(n).map_err(|_| format!("an outcome is counted {n} times"))?;
            let row = OutcomeRow {
                version_id: 0,
                timestamp_ms: 0,
                prediction: o.prediction,
                scores: o.scores,
                label: o.label,
                label_timestamp_ms: None,
            };
            rows.push((row, n));
        }
        let delays = tally
            .delays()
            .into_iter()
            .map(|(d, n)| usize::try_from(n).map(|n| (d, n)).map_err(|_| format!("a label delay is counted {n} times")))
            .collect::<Result<_, String>>()?;
        let errors = usize::try_from(tally.summary().errors).map_err(|_| "a negative error count".to_owned())?;
        Ok(TalliedWindow { rows, delays, errors })
    }

    /// The same from rows read one by one.
    fn from_rows(rows: Vec<OutcomeRow>) -> Self {
        let delays = super::delays_of(&rows);
        TalliedWindow { rows: rows.into_iter().map(|r| (r, 1)).collect(), delays, errors: 0 }
    }
}

/// Where buckets of `resolution` are surely still stored: a bucket older than the cut
/// may be pruned. The cut is one coarser bucket later than retention's, so that a run of
/// finer buckets up to a coarser boundary never reaches into pruned ones.
fn kept_from(now: i64, keep: Option<Duration>, coarser: Resolution) -> i64 {
    keep.map_or(i64::MIN, |k| now.saturating_sub(k.as_millis() as i64).saturating_add(coarser.ms()))
}

/// The tally query of `[from, to)`: its inner part shrunk to the buckets retention keeps
/// at each end, and the runs of buckets covering it.
pub fn query(
    model_id: i64,
    version_id: Option<i64>,
    (from, to): (i64, i64),
    now: i64,
    retention: Retention,
) -> TallyWindowQuery {
    let (mut a, mut b) = (ceil(from, Resolution::Minute), floor(to, Resolution::Minute));
    let cuts = [
        (kept_from(now, retention.minute, Resolution::Hour), Resolution::Hour),
        (kept_from(now, retention.hour, Resolution::Day), Resolution::Day),
    ];
    for (cut, coarser) in cuts {
        if a < cut {
            a = ceil(a, coarser);
        }
        if b < cut {
            b = floor(b, coarser);
        }
    }
    let inner = if a < b { (a, b) } else { (from, from) };
    let buckets = if a < b { cover(a, b) } else { Vec::new() };
    TallyWindowQuery { model_id, version_id, from_ms: from, to_ms: to, inner, buckets, summary_only: false }
}

/// The outcomes of `[from, to)` for one version or all. Tallies that do not add up (a
/// bug, or damage) are reported and the window is read from the events instead.
pub fn read(
    store: &dyn Store,
    model_id: i64,
    version_id: Option<i64>,
    window: (i64, i64),
    now: i64,
    retention: Retention,
) -> Result<TalliedWindow, StoreError> {
    let q = query(model_id, version_id, window, now, retention);
    let tally = store.window_tally(&q);
    match tally.map_err(|e| e.to_string()).and_then(|t| TalliedWindow::from_tally(&t)) {
        Ok(w) => Ok(w),
        Err(e) => {
            tracing::error!(error = %e, model_id, "outcome tallies cannot be read; joining the window's events instead");
            let rows = store.outcomes(&OutcomeQuery {
                model_id,
                version_id,
                from_ms: window.0,
                to_ms: window.1,
                limit: usize::MAX >> 1,
            })?;
            Ok(TalliedWindow::from_rows(rows))
        }
    }
}

/// The counts and latencies of `[from, to)` (reading only the tallies' summaries).
pub fn summary(
    store: &dyn Store,
    model_id: i64,
    version_id: Option<i64>,
    window: (i64, i64),
    now: i64,
    retention: Retention,
) -> Result<TallySummary, StoreError> {
    let q = TallyWindowQuery { summary_only: true, ..query(model_id, version_id, window, now, retention) };
    Ok(store.window_tally(&q)?.summary().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    const HOUR: i64 = 3_600_000;

    fn retention() -> Retention {
        Retention { minute: Some(Duration::from_secs(2 * 86_400)), hour: Some(Duration::from_secs(90 * 86_400)) }
    }

    #[test]
    fn the_inner_part_uses_only_buckets_retention_keeps() {
        let now = 100 * DAY + 5 * HOUR + 17 * 60_000;
        // A recent window: minutes at both ends, edges finer than a minute from events.
        let q = query(1, None, (now - HOUR - 30_000, now - 10_000), now, retention());
        assert_eq!(q.inner, (now - HOUR, now - 60_000));
        assert!(q.buckets.iter().all(|(_, a, b)| *a >= q.inner.0 && *b <= q.inner.1));
        // A month ago: minutes are gone there, so the start rounds up to an hour.
        let from = now - 30 * DAY + 7 * 60_000;
        let q = query(1, None, (from, now), now, retention());
        assert_eq!(q.inner.0, ceil(from, Resolution::Hour));
        assert!(q.buckets.iter().all(|(r, a, _)| *r != Resolution::Minute || *a >= now - 2 * DAY));
        // Runs are contiguous and cover the inner part exactly.
        let mut t = q.inner.0;
        for (_, a, b) in &q.buckets {
            assert_eq!(*a, t);
            t = *b;
        }
        assert_eq!(t, q.inner.1);
        // Too short for any bucket: all edge.
        let q = query(1, None, (now - 50_000, now - 10_000), now, retention());
        assert!(q.buckets.is_empty() && q.inner.0 == q.inner.1);
    }

    #[test]
    fn counted_quantiles_are_numpys_linear_ones() {
        let sorted = [(10, 2), (20, 1), (40, 1)];
        // numpy.quantile([10, 10, 20, 40], q) for each q.
        for (q, want) in [(0.0, 10.0), (0.25, 10.0), (0.5, 15.0), (0.9, 34.0), (1.0, 40.0)] {
            let got = super::super::counted_quantile(&sorted, q).expect("a quantile");
            assert!((got - want).abs() < 1e-12, "q{q}: {got}");
        }
        assert_eq!(super::super::counted_quantile(&[], 0.5), None);
    }
}
