//! The SQLite writer: many requests' batches in one transaction, one durable commit.

use super::tail::{CommittedTail, TailEvent};
use crate::issues::PreparedError;
use crate::profiles::FoldEvent;
use crate::record::PreparedPrediction;
use crate::record::{BatchOutcome, LabelInsert, WriteBatch};
use crate::sealed::{ResealProgress, Resealed};
use crate::{Result, StoreWriter};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sightline_core::{LabelEvent, Target};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub struct SqliteWriter {
    conn: Connection,
    /// (model id, version name) → version id, for versions known to be committed.
    versions: HashMap<(i64, String), i64>,
    /// The store's plaintext bound, lowered here once a re-encryption pass commits its end.
    plaintext_max_seq: Arc<AtomicI64>,
    /// Where committed predictions go for the aggregator.
    tail: Arc<CommittedTail>,
}

impl SqliteWriter {
    pub fn new(conn: Connection, plaintext_max_seq: Arc<AtomicI64>, tail: Arc<CommittedTail>) -> Self {
        SqliteWriter { conn, versions: HashMap::new(), plaintext_max_seq, tail }
    }
}

impl StoreWriter for SqliteWriter {
    fn commit(&mut self, batches: &[&WriteBatch]) -> Result<Vec<BatchOutcome>> {
        // Versions created in this transaction join the cache only once it commits, so a
        // rolled-back transaction cannot leave a dangling id behind.
        let mut new_versions = HashMap::new();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(batches.len());
        let mut no_plaintext_left = false;
        let mut committed = Vec::new();
        for batch in batches {
            outcomes.push(match batch {
                WriteBatch::Predictions { model_id, received_ms, events } => {
                    let mut target = Inserts {
                        tx: &tx,
                        known: &self.versions,
                        new: &mut new_versions,
                        tail: &self.tail,
                        committed: &mut committed,
                    };
                    BatchOutcome::Predictions(target.predictions(*model_id, *received_ms, events)?)
                }
                WriteBatch::Labels { model_id, received_ms, events } => {
                    BatchOutcome::Labels(insert_labels(&tx, &self.tail, *model_id, *received_ms, events)?)
                }
                WriteBatch::Errors { model_id, received_ms, events } => BatchOutcome::Errors(insert_errors(
                    &tx,
                    &self.versions,
                    &mut new_versions,
                    *model_id,
                    *received_ms,
                    events,
                )?),
                WriteBatch::Reseal { rows, progress } => {
                    no_plaintext_left |= progress.finished;
                    BatchOutcome::Resealed(reseal(&tx, rows, progress)?)
                }
                WriteBatch::Profiles { writes, watermark, prune } => {
                    BatchOutcome::Profiles { pruned: super::profiles::flush(&tx, writes, *watermark, prune)? }
                }
                WriteBatch::Tallies { writes, watermark, late_labels_through, prune } => BatchOutcome::Profiles {
                    pruned: super::tallies::flush(&tx, writes, *watermark, *late_labels_through, prune)?,
                },
            });
        }
        tx.commit()?;
        self.tail.append(committed);
        self.versions.extend(new_versions);
        if no_plaintext_left {
            self.plaintext_max_seq.store(0, Ordering::Release);
        }
        Ok(outcomes)
    }
}

fn version_id(
    tx: &Transaction<'_>,
    known: &HashMap<(i64, String), i64>,
    new: &mut HashMap<(i64, String), i64>,
    model_id: i64,
    name: &str,
    now_ms: i64,
) -> Result<i64> {
    let key = (model_id, name.to_owned());
    if let Some(id) = known.get(&key).or_else(|| new.get(&key)) {
        return Ok(*id);
    }
    tx.prepare_cached(
        "INSERT INTO versions (model_id, name, created_ms) VALUES (?1, ?2, ?3) ON CONFLICT (model_id, name) DO NOTHING",
    )?
    .execute(params![model_id, name, now_ms])?;
    let id: i64 = tx
        .prepare_cached("SELECT id FROM versions WHERE model_id = ?1 AND name = ?2")?
        .query_row(params![model_id, name], |r| r.get(0))?;
    new.insert(key, id);
    Ok(id)
}

fn split_target(t: Option<&Target>) -> (Option<&str>, Option<f64>) {
    match t {
        Some(Target::Class(c)) => (Some(c.as_str()), None),
        Some(Target::Number(x)) => (None, Some(*x)),
        None => (None, None),
    }
}

/// Where a transaction's prediction inserts go, and what they leave for the tail.
struct Inserts<'a, 't> {
    tx: &'a Transaction<'t>,
    known: &'a HashMap<(i64, String), i64>,
    new: &'a mut HashMap<(i64, String), i64>,
    tail: &'a CommittedTail,
    /// The transaction's stored predictions, for the tail once it commits.
    committed: &'a mut Vec<TailEvent>,
}

impl Inserts<'_, '_> {
    fn predictions(&mut self, model_id: i64, received_ms: i64, events: &[PreparedPrediction]) -> Result<Vec<bool>> {
        let tx = self.tx;
        let mut stmt = tx.prepare_cached(
            "INSERT INTO predictions (model_id, request_id, version_id, ts_ms, received_ms, pred_class, pred_num,
                scores, latency_ms, features, tags, error_type, error_message, attributions)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (model_id, request_id) DO NOTHING",
        )?;
        let early_labels = self.tail.has_early_labels(model_id);
        let mut inserted = Vec::with_capacity(events.len());
        // Batches usually hold one version: resolve it once, not per event.
        let mut last: Option<(&str, i64)> = None;
        for e in events {
            let version = match last {
                Some((name, id)) if name == e.version => id,
                _ => {
                    let id = version_id(tx, self.known, self.new, model_id, &e.version, received_ms)?;
                    last = Some((&e.version, id));
                    id
                }
            };
            let (pred_class, pred_num) = split_target(e.prediction.as_ref());
            let changed = stmt.execute(params![
                model_id,
                e.request_id,
                version,
                e.timestamp_ms,
                received_ms,
                pred_class,
                pred_num,
                e.scores.as_deref(),
                e.latency_ms,
                &e.features[..],
                e.tags,
                e.error.as_ref().map(|x| x.kind.as_str()),
                e.error.as_ref().map(|x| x.message.as_str()),
                e.attributions.as_deref(),
            ])?;
            if changed == 1 {
                self.committed.push(TailEvent {
                    event: FoldEvent {
                        seq: tx.last_insert_rowid(),
                        model_id,
                        version_id: version,
                        timestamp_ms: e.timestamp_ms,
                        features: e.feature_values.clone(),
                        prediction: e.prediction.clone(),
                        scores: e.score_values.clone(),
                        latency_ms: e.latency_ms,
                        has_error: e.error.is_some(),
                    },
                    request_id: early_labels.then(|| e.request_id.clone()),
                });
            }
            // An error reported with the prediction joins the model's issues too.
            if changed == 1
                && let Some(error) = &e.error
            {
                let as_issue = PreparedError {
                    event_id: format!("{}{}", super::issues::PREDICTION_EVENT_PREFIX, e.request_id),
                    request_id: Some(e.request_id.clone()),
                    timestamp_ms: e.timestamp_ms,
                    version: e.version.clone(),
                    fingerprint: sightline_core::exception::fingerprint(&error.kind, &error.message, &[]),
                    kind: error.kind.clone(),
                    title: sightline_core::exception::normalize_message(&error.message),
                    detail: None,
                };
                super::issues::record_error(tx, model_id, version, received_ms, &as_issue)?;
            }
            inserted.push(changed == 1);
        }
        Ok(inserted)
    }
}

fn insert_errors(
    tx: &Transaction<'_>,
    known: &HashMap<(i64, String), i64>,
    new: &mut HashMap<(i64, String), i64>,
    model_id: i64,
    received_ms: i64,
    events: &[PreparedError],
) -> Result<Vec<bool>> {
    events
        .iter()
        .map(|e| {
            let version = version_id(tx, known, new, model_id, &e.version, received_ms)?;
            super::issues::record_error(tx, model_id, version, received_ms, e)
        })
        .collect()
}

fn insert_labels(
    tx: &Transaction<'_>,
    tail: &CommittedTail,
    model_id: i64,
    received_ms: i64,
    events: &[LabelEvent],
) -> Result<Vec<LabelInsert>> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO labels (model_id, request_id, label_class, label_num, ts_ms, received_ms, early)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (model_id, request_id) DO NOTHING",
    )?;
    let mut prediction_of = tx.prepare_cached(
        "SELECT v.name, p.version_id, p.ts_ms, p.pred_class, p.pred_num, p.scores
         FROM predictions p JOIN versions v ON v.id = p.version_id
         WHERE p.model_id = ?1 AND p.request_id = ?2",
    )?;
    // A label for a prediction already stored is queued for the outcome tallies with what
    // the prediction said; one that comes first is `early` and joins when its prediction
    // is tallied (see migration 13).
    let mut queue = tx.prepare_cached(
        "INSERT INTO late_labels (model_id, version_id, ts_ms, pred_class, pred_num, scores, label_class, label_num, label_ts_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    type Said = (String, i64, i64, Option<String>, Option<f64>, Option<Vec<u8>>);
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let (class, num) = split_target(Some(&e.label));
        let said: Option<Said> = prediction_of
            .query_row(params![model_id, e.request_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .optional()?;
        let early = said.is_none();
        if early {
            tail.mark_early_labels(model_id);
        }
        if insert.execute(params![model_id, e.request_id, class, num, e.timestamp_ms, received_ms, early])? == 1 {
            if let Some((_, version_id, ts, pred_class, pred_num, scores)) = &said {
                queue.execute(params![
                    model_id,
                    version_id,
                    ts,
                    pred_class,
                    pred_num,
                    scores,
                    class,
                    num,
                    e.timestamp_ms
                ])?;
            }
            out.push(LabelInsert::Stored { version: said.map(|s| s.0) });
        } else {
            out.push(LabelInsert::Duplicate);
        }
    }
    Ok(out)
}

/// Replaces re-encrypted payloads (only where the row still holds what was read) and
/// records the pass's progress in the same transaction.
fn reseal(tx: &Transaction<'_>, rows: &[Resealed], progress: &ResealProgress) -> Result<usize> {
    let mut update = tx.prepare_cached(
        "UPDATE predictions SET features = ?1, tags = ?2
         WHERE seq = ?3 AND features = ?4 AND CAST(tags AS BLOB) IS ?5",
    )?;
    // The cast: tags stored before encryption are TEXT, and TEXT never equals a BLOB.
    let mut changed = 0;
    for r in rows {
        changed += update.execute(params![r.features, r.tags, r.seq, r.old_features, r.old_tags])?;
    }
    let mut put = tx.prepare_cached(
        "INSERT INTO encryption_state (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?;
    put.execute(params!["reseal_key", i64::from(progress.key_id)])?;
    put.execute(params!["reseal_cursor", progress.cursor])?;
    put.execute(params!["reseal_finished", i64::from(progress.finished)])?;
    if progress.finished {
        put.execute(params!["plaintext_max_seq", 0])?;
    }
    Ok(changed)
}
