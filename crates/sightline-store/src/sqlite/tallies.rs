//! SQLite side of the outcome tallies: predictions with their early labels and queued
//! late labels in `seq` order for the aggregator, its flushes, and a window's tally read
//! in one snapshot.

use super::SqliteStore;
use super::tail::Reader;
use crate::FoldEvent;
use crate::outcomes::{LateLabel, TallyEvent, TallyStore, TallyWindowQuery};
use crate::{ProfileKey, Resolution, Result, StoreError};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sightline_core::Target;
use sightline_core::codec::decode_scores;
use sightline_core::outcome_tally::{OutcomeTally, TallyRuns, TallySummary};

/// Predictions past a `seq` with their early labels (the join a tally pass makes).
const TALLY_EVENTS: &str = "SELECT p.seq, p.model_id, p.version_id, p.ts_ms, p.pred_class, p.pred_num, p.scores,
        p.error_type IS NOT NULL OR p.error_message IS NOT NULL, l.label_class, l.label_num, l.ts_ms, p.latency_ms
 FROM predictions p
 LEFT JOIN labels l ON l.model_id = p.model_id AND l.request_id = p.request_id AND l.early = 1";

const LATE_LABELS: &str =
    "SELECT seq, model_id, version_id, ts_ms, pred_class, pred_num, scores, label_class, label_num,
        label_ts_ms
 FROM late_labels";

fn target(class: Option<String>, num: Option<f64>) -> Option<Target> {
    class.map(Target::Class).or(num.map(Target::Number))
}

/// Stored scores (column `index` of the row), decoded.
fn scores(raw: Option<Vec<u8>>, index: usize) -> rusqlite::Result<Vec<(u32, f64)>> {
    match raw {
        None => Ok(Vec::new()),
        Some(b) => decode_scores(&b)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Blob, Box::new(e))),
    }
}

fn tally_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<TallyEvent> {
    let label = match (target(r.get(8)?, r.get(9)?), r.get::<_, Option<i64>>(10)?) {
        (Some(t), Some(ts)) => Some((t, ts)),
        _ => None,
    };
    Ok(TallyEvent {
        seq: r.get(0)?,
        model_id: r.get(1)?,
        version_id: r.get(2)?,
        timestamp_ms: r.get(3)?,
        prediction: target(r.get(4)?, r.get(5)?),
        scores: scores(r.get(6)?, 6)?,
        failed: r.get(7)?,
        latency_ms: r.get(11)?,
        label,
    })
}

/// A prediction from the committed tail as the tally pass reads it.
fn tally_of(e: FoldEvent, label: Option<(Target, i64)>) -> TallyEvent {
    TallyEvent {
        seq: e.seq,
        model_id: e.model_id,
        version_id: e.version_id,
        timestamp_ms: e.timestamp_ms,
        prediction: e.prediction,
        scores: e.scores,
        failed: e.has_error,
        latency_ms: e.latency_ms,
        label,
    }
}

impl SqliteStore {
    /// [`TallyStore::tally_events`] read from the log alone, never from the committed tail.
    pub fn tally_events_from_log(&self, after_seq: i64, limit: usize) -> Result<Vec<TallyEvent>> {
        self.with_reader(|c| {
            let sql = format!("{TALLY_EVENTS} WHERE p.seq > ?1 ORDER BY p.seq LIMIT ?2");
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![after_seq, limit as i64], tally_event)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

fn late_label(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<LateLabel>> {
    let Some(label) = target(r.get(7)?, r.get(8)?) else { return Ok(None) };
    Ok(Some(LateLabel {
        seq: r.get(0)?,
        model_id: r.get(1)?,
        version_id: r.get(2)?,
        timestamp_ms: r.get(3)?,
        prediction: target(r.get(4)?, r.get(5)?),
        scores: scores(r.get(6)?, 6)?,
        label,
        label_timestamp_ms: r.get(9)?,
    }))
}

/// Folds an event into a tally (the one rule the aggregator and window reads share).
pub fn tally_prediction(tally: &mut OutcomeTally, e: &TallyEvent) {
    let label = e.label.as_ref().map(|(t, ts)| (t, ts - e.timestamp_ms));
    tally.add_prediction(e.prediction.as_ref(), &e.scores, label, e.failed, e.latency_ms);
}

/// Folds a late label into a tally.
pub fn tally_late_label(tally: &mut OutcomeTally, l: &LateLabel) {
    tally.add_late_label(l.prediction.as_ref(), &l.scores, &l.label, l.label_timestamp_ms - l.timestamp_ms);
}

/// Writes a flush: the changed tallies, the watermark, the folded queue, the retention cuts.
pub fn flush(
    tx: &Transaction<'_>,
    writes: &[(ProfileKey, Vec<u8>)],
    watermark: i64,
    late_labels_through: i64,
    prune: &[(Resolution, i64)],
) -> Result<usize> {
    let mut put = tx.prepare_cached(
        "INSERT INTO outcome_buckets (model_id, resolution_ms, bucket_ms, version_id, data)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (model_id, resolution_ms, bucket_ms, version_id) DO UPDATE SET data = excluded.data",
    )?;
    for (k, data) in writes {
        put.execute(params![k.model_id, k.resolution.ms(), k.bucket_ms, k.version_id, data])?;
    }
    tx.prepare_cached("UPDATE tally_state SET watermark = max(watermark, ?1) WHERE id = 1")?
        .execute(params![watermark])?;
    tx.prepare_cached("DELETE FROM late_labels WHERE seq <= ?1")?.execute(params![late_labels_through])?;
    let mut pruned = 0;
    for (resolution, before_ms) in prune {
        pruned += tx
            .prepare_cached("DELETE FROM outcome_buckets WHERE resolution_ms = ?1 AND bucket_ms < ?2")?
            .execute(params![resolution.ms(), before_ms])?;
    }
    Ok(pruned)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// The window read, on a connection inside a read transaction: the stored tallies as
/// they are encoded (merged when their outcomes are read), and one more tally of what
/// they do not hold yet.
fn read_window(c: &Connection, q: &TallyWindowQuery) -> Result<TallyRuns> {
    let mut runs = TallyRuns::new();
    // Committed since the last flush, queued late labels and the edges.
    let mut tally = OutcomeTally::new();
    let (inner_from, inner_to) = q.inner;
    if inner_from < inner_to {
        let watermark: i64 = c.query_row("SELECT watermark FROM tally_state WHERE id = 1", [], |r| r.get(0))?;
        let mut buckets = c.prepare_cached(
            "SELECT data FROM outcome_buckets
             WHERE model_id = ?1 AND resolution_ms = ?2 AND bucket_ms >= ?3 AND bucket_ms < ?4
               AND (?5 IS NULL OR version_id = ?5)",
        )?;
        for (resolution, from, to) in &q.buckets {
            let mut rows = buckets.query(params![q.model_id, resolution.ms(), from, to, q.version_id])?;
            while let Some(row) = rows.next()? {
                if q.summary_only {
                    // Only the head of the encoding is read: no copy of the rest.
                    let data = row.get_ref(0)?.as_blob().map_err(|e| corrupt("stored outcome tally", e))?;
                    let summary = TallySummary::decode(data).map_err(|e| corrupt("stored outcome tally", e))?;
                    runs.merge_summary(&summary);
                } else {
                    runs.push_encoded(row.get(0)?).map_err(|e| corrupt("stored outcome tally", e))?;
                }
            }
        }
        // Committed since the last flush: predictions past the watermark, queued labels.
        // The unary `+` keeps SQLite on the `seq` range (the few events past the
        // watermark) rather than the time index (every event of the window).
        let sql = format!(
            "{TALLY_EVENTS} WHERE p.seq > ?1 AND +p.model_id = ?2 AND +p.ts_ms >= ?3 AND +p.ts_ms < ?4
               AND (?5 IS NULL OR p.version_id = ?5)"
        );
        let mut pending = c.prepare_cached(&sql)?;
        for e in pending.query_map(params![watermark, q.model_id, inner_from, inner_to, q.version_id], tally_event)? {
            tally_prediction(&mut tally, &e?);
        }
        let sql = format!(
            "{LATE_LABELS} WHERE model_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 AND (?4 IS NULL OR version_id = ?4)"
        );
        let mut queued = c.prepare_cached(&sql)?;
        for l in queued.query_map(params![q.model_id, inner_from, inner_to, q.version_id], late_label)? {
            if let Some(l) = l? {
                tally_late_label(&mut tally, &l);
            }
        }
    }
    // The edges the buckets do not cover, from the events and every label.
    let mut edge = c.prepare_cached(
        "SELECT p.pred_class, p.pred_num, p.scores, p.error_type IS NOT NULL OR p.error_message IS NOT NULL,
                l.label_class, l.label_num, l.ts_ms - p.ts_ms, p.latency_ms
         FROM predictions p
         LEFT JOIN labels l ON l.model_id = p.model_id AND l.request_id = p.request_id
         WHERE p.model_id = ?1 AND p.ts_ms >= ?2 AND p.ts_ms < ?3 AND (?4 IS NULL OR p.version_id = ?4)",
    )?;
    let edges = if inner_from < inner_to {
        vec![(q.from_ms, inner_from), (inner_to, q.to_ms)]
    } else {
        vec![(q.from_ms, q.to_ms)]
    };
    for (from, to) in edges {
        if from >= to {
            continue;
        }
        let rows = edge.query_map(params![q.model_id, from, to, q.version_id], |r| {
            let scores = scores(r.get(2)?, 2)?;
            let label = target(r.get(4)?, r.get(5)?);
            let delay: Option<i64> = r.get(6)?;
            let latency: Option<f64> = r.get(7)?;
            Ok((target(r.get(0)?, r.get(1)?), scores, r.get::<_, bool>(3)?, label, delay, latency))
        })?;
        for row in rows {
            let (prediction, scores, failed, label, delay, latency) = row?;
            let label = match (&label, delay) {
                (Some(t), Some(d)) => Some((t, d)),
                _ => None,
            };
            tally.add_prediction(prediction.as_ref(), &scores, label, failed, latency);
        }
    }
    if q.summary_only {
        runs.merge_summary(tally.summary());
    } else {
        runs.push(&tally);
    }
    Ok(runs)
}

impl TallyStore for SqliteStore {
    fn tally_watermark(&self) -> Result<i64> {
        self.with_reader(|c| Ok(c.query_row("SELECT watermark FROM tally_state WHERE id = 1", [], |r| r.get(0))?))
    }

    fn tally_events(&self, after_seq: i64, limit: usize) -> Result<Vec<TallyEvent>> {
        let Some(events) = self.tail.read(Reader::Tallies, after_seq, limit) else {
            return self.tally_events_from_log(after_seq, limit);
        };
        if events.iter().all(|e| e.request_id.is_none()) {
            return Ok(events.into_iter().map(|e| tally_of(e.event, None)).collect());
        }
        // The join the log read makes, for the events whose model has early labels.
        self.with_reader(|c| {
            let mut early = c.prepare_cached(
                "SELECT label_class, label_num, ts_ms FROM labels WHERE model_id = ?1 AND request_id = ?2 AND early = 1",
            )?;
            events
                .into_iter()
                .map(|e| {
                    let label = match &e.request_id {
                        None => None,
                        Some(rid) => early
                            .query_row(params![e.event.model_id, rid], |r| {
                                Ok((target(r.get(0)?, r.get(1)?), r.get::<_, i64>(2)?))
                            })
                            .optional()?
                            .and_then(|(t, ts)| t.map(|t| (t, ts))),
                    };
                    Ok(tally_of(e.event, label))
                })
                .collect()
        })
    }

    fn late_labels(&self, after_seq: i64, limit: usize) -> Result<Vec<LateLabel>> {
        self.with_reader(|c| {
            let sql = format!("{LATE_LABELS} WHERE seq > ?1 ORDER BY seq LIMIT ?2");
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![after_seq, limit as i64], late_label)?;
            let all: Vec<Option<LateLabel>> = rows.collect::<rusqlite::Result<_>>()?;
            Ok(all.into_iter().flatten().collect())
        })
    }

    fn load_tally(&self, key: &ProfileKey) -> Result<Option<Vec<u8>>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT data FROM outcome_buckets
                 WHERE model_id = ?1 AND resolution_ms = ?2 AND bucket_ms = ?3 AND version_id = ?4",
            )?
            .query_row(params![key.model_id, key.resolution.ms(), key.bucket_ms, key.version_id], |r| r.get(0))
            .optional()?)
        })
    }

    fn window_tally(&self, query: &TallyWindowQuery) -> Result<TallyRuns> {
        self.with_reader(|c| {
            // One snapshot: the tallies, the watermark they hold and what came after.
            c.execute_batch("BEGIN DEFERRED")?;
            let result = read_window(c, query);
            let end = c.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
            let tally = result?;
            end?;
            Ok(tally)
        })
    }
}
