//! Reading predictions (with their labels) back into records, opening their sealed
//! payloads.

use crate::record::{PredictionQuery, StoredLabel, StoredPrediction};
use crate::sealed::{Column, Opener, StoredPayload};
use crate::{Result, StoreError};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params};
use sightline_core::codec::{decode_features, decode_scores};
use sightline_core::{ErrorInfo, Target};

const SELECT: &str = "SELECT p.seq, p.request_id, p.ts_ms, p.received_ms, v.name, p.pred_class, p.pred_num,
        p.scores, p.latency_ms, p.features, p.tags, p.error_type, p.error_message,
        l.label_class, l.label_num, l.ts_ms, l.received_ms, p.model_id, p.version_id, p.attributions
    FROM predictions p
    JOIN versions v ON v.id = p.version_id
    LEFT JOIN labels l ON l.model_id = p.model_id AND l.request_id = p.request_id";

pub fn list_predictions(c: &Connection, q: &PredictionQuery, opener: &Opener) -> Result<Vec<StoredPrediction>> {
    let (before_ts, before_seq) = q.before.unwrap_or((i64::MAX, i64::MAX));
    let sql = format!(
        "{SELECT}
        WHERE p.model_id = ?1 AND p.ts_ms >= ?2 AND p.ts_ms < ?3
          AND (?4 IS NULL OR v.name = ?4)
          AND (p.ts_ms, p.seq) < (?5, ?6)
        ORDER BY p.ts_ms DESC, p.seq DESC
        LIMIT ?7"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            q.model_id,
            q.from_ms.unwrap_or(i64::MIN),
            q.to_ms.unwrap_or(i64::MAX),
            q.version,
            before_ts,
            before_seq,
            q.limit as i64
        ],
        RawRow::read,
    )?;
    rows.map(|r| r?.decode(opener)).collect()
}

pub fn get_prediction(
    c: &Connection,
    model_id: i64,
    request_id: &str,
    opener: &Opener,
) -> Result<Option<StoredPrediction>> {
    let sql = format!("{SELECT} WHERE p.model_id = ?1 AND p.request_id = ?2");
    let row = c.prepare_cached(&sql)?.query_row(params![model_id, request_id], RawRow::read).optional()?;
    row.map(|r| r.decode(opener)).transpose()
}

pub fn payloads(c: &Connection, after_seq: i64, limit: usize) -> Result<Vec<StoredPayload>> {
    let mut stmt = c.prepare_cached(
        "SELECT seq, model_id, request_id, features, tags FROM predictions WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after_seq, limit as i64], |r| {
        Ok(StoredPayload {
            seq: r.get(0)?,
            model_id: r.get(1)?,
            request_id: r.get(2)?,
            features: bytes(r, 3)?.unwrap_or_default(),
            tags: bytes(r, 4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A payload column as bytes: sealed values are BLOBs; tags written before encryption
/// are TEXT.
pub(super) fn bytes(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<Vec<u8>>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Blob(b) | ValueRef::Text(b) => Some(b.to_vec()),
        other => {
            return Err(rusqlite::Error::FromSqlConversionFailure(
                i,
                other.data_type(),
                "expected a blob or text payload".into(),
            ));
        }
    })
}

/// A row as SQLite returns it, before blobs and JSON are decoded (decoding errors are
/// ours, not rusqlite's, so they happen outside the row callback).
struct RawRow {
    seq: i64,
    request_id: String,
    ts_ms: i64,
    received_ms: i64,
    version: String,
    pred_class: Option<String>,
    pred_num: Option<f64>,
    scores: Option<Vec<u8>>,
    latency_ms: Option<f64>,
    features: Vec<u8>,
    tags: Option<Vec<u8>>,
    error_type: Option<String>,
    error_message: Option<String>,
    label_class: Option<String>,
    label_num: Option<f64>,
    label_ts: Option<i64>,
    label_received: Option<i64>,
    model_id: i64,
    version_id: i64,
    attributions: Option<Vec<u8>>,
}

fn target(class: Option<String>, num: Option<f64>) -> Option<Target> {
    class.map(Target::Class).or(num.map(Target::Number))
}

impl RawRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<RawRow> {
        Ok(RawRow {
            seq: r.get(0)?,
            request_id: r.get(1)?,
            ts_ms: r.get(2)?,
            received_ms: r.get(3)?,
            version: r.get(4)?,
            pred_class: r.get(5)?,
            pred_num: r.get(6)?,
            scores: r.get(7)?,
            latency_ms: r.get(8)?,
            features: bytes(r, 9)?.unwrap_or_default(),
            tags: bytes(r, 10)?,
            error_type: r.get(11)?,
            error_message: r.get(12)?,
            label_class: r.get(13)?,
            label_num: r.get(14)?,
            label_ts: r.get(15)?,
            label_received: r.get(16)?,
            model_id: r.get(17)?,
            version_id: r.get(18)?,
            attributions: r.get(19)?,
        })
    }

    fn decode(self, opener: &Opener) -> Result<StoredPrediction> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("prediction {:?} {what}: {e}", self.request_id))
        };
        let (seq, model_id, rid) = (self.seq, self.model_id, self.request_id.as_str());
        let features = zeroize::Zeroizing::new(opener.open(Column::Features, seq, model_id, rid, self.features)?);
        let features = decode_features(&features).map_err(|e| corrupt("features", &e))?;
        let scores = match &self.scores {
            Some(b) => decode_scores(b).map_err(|e| corrupt("scores", &e))?,
            None => Vec::new(),
        };
        let attributions = match &self.attributions {
            Some(b) => decode_scores(b).map_err(|e| corrupt("attributions", &e))?,
            None => Vec::new(),
        };
        let tags = match self.tags {
            Some(t) => {
                let json = zeroize::Zeroizing::new(opener.open(Column::Tags, seq, model_id, rid, t)?);
                serde_json::from_slice(&json).map_err(|e| corrupt("tags", &e))?
            }
            None => Vec::new(),
        };
        let error = match (self.error_type, self.error_message) {
            (None, None) => None,
            (kind, message) => Some(ErrorInfo { kind: kind.unwrap_or_default(), message: message.unwrap_or_default() }),
        };
        let label = match (target(self.label_class, self.label_num), self.label_ts, self.label_received) {
            (Some(label), Some(timestamp_ms), Some(received_ms)) => {
                Some(StoredLabel { label, timestamp_ms, received_ms })
            }
            _ => None,
        };
        Ok(StoredPrediction {
            seq: self.seq,
            request_id: self.request_id,
            timestamp_ms: self.ts_ms,
            received_ms: self.received_ms,
            version: self.version,
            version_id: self.version_id,
            features,
            prediction: target(self.pred_class, self.pred_num),
            scores,
            latency_ms: self.latency_ms,
            tags,
            error,
            label,
            attributions,
        })
    }
}
