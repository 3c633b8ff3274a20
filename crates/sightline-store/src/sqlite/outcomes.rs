//! SQLite side of [`crate::outcomes`]: predictions joined with their labels by request id.

use super::SqliteStore;
use crate::outcomes::{OutcomeQuery, OutcomeRow, OutcomeStore};
use crate::{Result, StoreError};
use rusqlite::params;
use sightline_core::Target;
use sightline_core::codec::decode_scores;

type Raw = (i64, i64, Option<String>, Option<f64>, Option<Vec<u8>>, Option<String>, Option<f64>, Option<i64>);

fn target(class: Option<String>, num: Option<f64>) -> Option<Target> {
    class.map(Target::Class).or(num.map(Target::Number))
}

impl OutcomeStore for SqliteStore {
    fn outcomes(&self, q: &OutcomeQuery) -> Result<Vec<OutcomeRow>> {
        let raw: Vec<Raw> = self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT p.version_id, p.ts_ms, p.pred_class, p.pred_num, p.scores, l.label_class, l.label_num, l.ts_ms
                 FROM predictions p
                 LEFT JOIN labels l ON l.model_id = p.model_id AND l.request_id = p.request_id
                 WHERE p.model_id = ?1 AND p.ts_ms >= ?2 AND p.ts_ms < ?3 AND (?4 IS NULL OR p.version_id = ?4)
                 ORDER BY p.ts_ms, p.seq LIMIT ?5",
            )?;
            let rows = stmt.query_map(params![q.model_id, q.from_ms, q.to_ms, q.version_id, q.limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        raw.into_iter()
            .map(|(version_id, ts, pc, pn, scores, lc, ln, lts)| {
                let scores = match &scores {
                    Some(b) => decode_scores(b).map_err(|e| StoreError::Corrupt(format!("stored scores: {e}")))?,
                    None => Vec::new(),
                };
                Ok(OutcomeRow {
                    version_id,
                    timestamp_ms: ts,
                    prediction: target(pc, pn),
                    scores,
                    label: target(lc, ln),
                    label_timestamp_ms: lts,
                })
            })
            .collect()
    }
}
