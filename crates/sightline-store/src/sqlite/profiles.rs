//! SQLite side of the aggregator: the event log in `seq` order, bucket profiles with
//! the watermark (flushed by the writer), and reference profiles.

use super::SqliteStore;
use super::tail::Reader;
use crate::profiles::{
    FoldEvent, ProfileKey, ProfileQuery, ProfileStore, ProfileWrite, ReferenceRecord, Resolution, StoredProfile,
};
use crate::sealed::{Column, reference_aad};
use crate::{Result, Store, StoreError};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use sightline_core::Target;
use sightline_core::codec::{decode_features, decode_scores};

/// Writes a flush: the changed profiles, the watermark, then the retention cuts.
pub fn flush(
    tx: &Transaction<'_>,
    writes: &[ProfileWrite],
    watermark: i64,
    prune: &[(Resolution, i64)],
) -> Result<usize> {
    let mut put = tx.prepare_cached(
        "INSERT INTO profiles (model_id, resolution_ms, bucket_ms, version_id, rows, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (model_id, resolution_ms, bucket_ms, version_id)
         DO UPDATE SET rows = excluded.rows, data = excluded.data",
    )?;
    for w in writes {
        let k = &w.key;
        put.execute(params![k.model_id, k.resolution.ms(), k.bucket_ms, k.version_id, w.rows as i64, w.data])?;
    }
    // The watermark only moves forward, even if a flush is replayed.
    tx.prepare_cached("UPDATE aggregator_state SET watermark = max(watermark, ?1) WHERE id = 1")?
        .execute(params![watermark])?;
    let mut pruned = 0;
    for (resolution, before_ms) in prune {
        pruned += tx
            .prepare_cached("DELETE FROM profiles WHERE resolution_ms = ?1 AND bucket_ms < ?2")?
            .execute(params![resolution.ms(), before_ms])?;
    }
    Ok(pruned)
}

fn stored_profile(r: &Row<'_>) -> rusqlite::Result<(ProfileKey, i64, Vec<u8>)> {
    let resolution_ms: i64 = r.get(1)?;
    let resolution = Resolution::from_ms(resolution_ms).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Integer, "unknown resolution".into())
    })?;
    let key = ProfileKey { model_id: r.get(0)?, resolution, bucket_ms: r.get(2)?, version_id: r.get(3)? };
    Ok((key, r.get(4)?, r.get(5)?))
}

impl SqliteStore {
    /// [`ProfileStore::fold_events`] read from the log alone, never from the committed tail.
    pub fn fold_events_from_log(&self, after_seq: i64, limit: usize) -> Result<Vec<FoldEvent>> {
        let opener = self.opener();
        type Raw =
            (i64, i64, i64, i64, String, Option<String>, Option<f64>, Option<Vec<u8>>, Option<f64>, Vec<u8>, bool);
        let raw: Vec<Raw> = self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, model_id, version_id, ts_ms, request_id, pred_class, pred_num, scores, latency_ms,
                        features, error_type IS NOT NULL OR error_message IS NOT NULL
                 FROM predictions WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after_seq, limit as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    super::rows::bytes(r, 9)?.unwrap_or_default(),
                    r.get(10)?,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        raw.into_iter()
            .map(|(seq, model_id, version_id, ts, rid, class, num, scores, latency_ms, features, has_error)| {
                let corrupt = |what: &str, e: &dyn std::fmt::Display| {
                    StoreError::Corrupt(format!("prediction {rid:?} {what}: {e}"))
                };
                let plain = zeroize::Zeroizing::new(opener.open(Column::Features, seq, model_id, &rid, features)?);
                let features = decode_features(&plain).map_err(|e| corrupt("features", &e))?;
                let scores = match &scores {
                    Some(b) => decode_scores(b).map_err(|e| corrupt("scores", &e))?,
                    None => Vec::new(),
                };
                Ok(FoldEvent {
                    seq,
                    model_id,
                    version_id,
                    timestamp_ms: ts,
                    features: features.into(),
                    prediction: class.map(Target::Class).or(num.map(Target::Number)),
                    scores,
                    latency_ms,
                    has_error,
                })
            })
            .collect()
    }

    fn open_profiles(&self, raw: Vec<(ProfileKey, i64, Vec<u8>)>) -> Result<Vec<StoredProfile>> {
        let opener = self.opener();
        raw.into_iter()
            .map(|(key, rows, sealed)| {
                Ok(StoredProfile { key, rows: rows.max(0) as u64, data: opener.open_profile(&key, &sealed)? })
            })
            .collect()
    }
}

fn reference_row(r: &Row<'_>) -> rusqlite::Result<ReferenceRecord> {
    Ok(ReferenceRecord {
        model_id: r.get(0)?,
        version: r.get(1)?,
        created_ms: r.get(2)?,
        rows: r.get::<_, i64>(3)?.max(0) as u64,
        source: r.get(4)?,
        data: r.get(5)?,
    })
}

impl ProfileStore for SqliteStore {
    fn aggregator_watermark(&self) -> Result<i64> {
        self.with_reader(|c| Ok(c.query_row("SELECT watermark FROM aggregator_state WHERE id = 1", [], |r| r.get(0))?))
    }

    fn max_seq(&self) -> Result<i64> {
        self.with_reader(|c| Ok(c.query_row("SELECT coalesce(max(seq), 0) FROM predictions", [], |r| r.get(0))?))
    }

    fn fold_events(&self, after_seq: i64, limit: usize) -> Result<Vec<FoldEvent>> {
        match self.tail.read(Reader::Profiles, after_seq, limit) {
            Some(events) => Ok(events.into_iter().map(|e| e.event).collect()),
            None => self.fold_events_from_log(after_seq, limit),
        }
    }

    fn load_profiles(&self, q: &ProfileQuery) -> Result<Vec<StoredProfile>> {
        let raw = self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT model_id, resolution_ms, bucket_ms, version_id, rows, data FROM profiles
                 WHERE model_id = ?1 AND resolution_ms = ?2 AND bucket_ms >= ?3 AND bucket_ms < ?4
                   AND (?5 IS NULL OR version_id = ?5)
                 ORDER BY bucket_ms, version_id",
            )?;
            let rows = stmt
                .query_map(params![q.model_id, q.resolution.ms(), q.from_ms, q.to_ms, q.version_id], stored_profile)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        self.open_profiles(raw)
    }

    fn load_profile(&self, key: &ProfileKey) -> Result<Option<StoredProfile>> {
        let raw = self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT model_id, resolution_ms, bucket_ms, version_id, rows, data FROM profiles
                 WHERE model_id = ?1 AND resolution_ms = ?2 AND bucket_ms = ?3 AND version_id = ?4",
            )?
            .query_row(params![key.model_id, key.resolution.ms(), key.bucket_ms, key.version_id], stored_profile)
            .optional()?)
        })?;
        Ok(self.open_profiles(raw.into_iter().collect())?.pop())
    }

    fn put_reference(&self, r: &ReferenceRecord) -> Result<()> {
        let sealed = self
            .keys
            .current()
            .seal(&r.data, &reference_aad(r.model_id, &r.version))
            .map_err(|e| StoreError::Corrupt(format!("reference cannot be sealed: {e}")))?;
        self.with_reader(|c| {
            c.prepare_cached(
                "INSERT INTO reference_profiles (model_id, version, created_ms, rows, source, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (model_id, version) DO UPDATE SET created_ms = excluded.created_ms,
                    rows = excluded.rows, source = excluded.source, data = excluded.data",
            )?
            .execute(params![r.model_id, r.version, r.created_ms, r.rows as i64, r.source, sealed])?;
            Ok(())
        })
    }

    fn get_reference(&self, model_id: i64, version: &str) -> Result<Option<ReferenceRecord>> {
        let row = self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT model_id, version, created_ms, rows, source, data FROM reference_profiles
                 WHERE model_id = ?1 AND version = ?2",
            )?
            .query_row(params![model_id, version], reference_row)
            .optional()?)
        })?;
        row.map(|r| self.open_reference(r)).transpose()
    }

    fn list_references(&self, model_id: i64) -> Result<Vec<ReferenceRecord>> {
        let rows = self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT model_id, version, created_ms, rows, source, data FROM reference_profiles
                 WHERE model_id = ?1 ORDER BY version",
            )?;
            let rows = stmt.query_map(params![model_id], reference_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        rows.into_iter().map(|r| self.open_reference(r)).collect()
    }

    fn drift_settings(&self, model_id: i64) -> Result<Option<String>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached("SELECT settings FROM drift_settings WHERE model_id = ?1")?
                .query_row(params![model_id], |r| r.get(0))
                .optional()?)
        })
    }

    fn put_drift_settings(&self, model_id: i64, settings: &str, now_ms: i64) -> Result<()> {
        self.with_reader(|c| {
            c.prepare_cached(
                "INSERT INTO drift_settings (model_id, settings, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (model_id) DO UPDATE SET settings = excluded.settings, updated_ms = excluded.updated_ms",
            )?
            .execute(params![model_id, settings, now_ms])?;
            Ok(())
        })
    }

    fn reseal_profiles(&self) -> Result<usize> {
        Ok(self.reseal_bucket_profiles()? + self.reseal_references()? + self.reseal_explainers()?)
    }

    fn delete_reference(&self, model_id: i64, version: &str) -> Result<bool> {
        self.with_reader(|c| {
            Ok(c.prepare_cached("DELETE FROM reference_profiles WHERE model_id = ?1 AND version = ?2")?
                .execute(params![model_id, version])?
                == 1)
        })
    }
}

/// Profiles and references resealed per page.
const RESEAL_PAGE: i64 = 500;

impl SqliteStore {
    fn reseal_bucket_profiles(&self) -> Result<usize> {
        let ring = self.keys.current();
        let active = ring.active_id();
        let mut after = (i64::MIN, i64::MIN, i64::MIN, i64::MIN);
        let mut resealed = 0;
        loop {
            let page: Vec<(ProfileKey, i64, Vec<u8>)> = self.with_reader(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT model_id, resolution_ms, bucket_ms, version_id, rows, data FROM profiles
                     WHERE (model_id, resolution_ms, bucket_ms, version_id) > (?1, ?2, ?3, ?4)
                     ORDER BY model_id, resolution_ms, bucket_ms, version_id LIMIT ?5",
                )?;
                let rows = stmt.query_map(params![after.0, after.1, after.2, after.3, RESEAL_PAGE], stored_profile)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })?;
            let Some(last) = page.last() else { return Ok(resealed) };
            after = (last.0.model_id, last.0.resolution.ms(), last.0.bucket_ms, last.0.version_id);
            for (key, _, old) in &page {
                if crate::crypto::key_id_of(old).is_ok_and(|id| id == active) {
                    continue;
                }
                let plain = zeroize::Zeroizing::new(self.opener().open_profile(key, old)?);
                let new = crate::sealed::seal_profile(&ring, key, &plain)
                    .map_err(|e| StoreError::Corrupt(format!("profile cannot be sealed: {e}")))?;
                resealed +=
                    self.with_reader(|c| {
                        Ok(c.prepare_cached(
                        "UPDATE profiles SET data = ?1 WHERE model_id = ?2 AND resolution_ms = ?3 AND bucket_ms = ?4
                           AND version_id = ?5 AND data = ?6",
                    )?
                    .execute(params![new, key.model_id, key.resolution.ms(), key.bucket_ms, key.version_id, old])?)
                    })?;
            }
        }
    }

    fn reseal_references(&self) -> Result<usize> {
        let ring = self.keys.current();
        let active = ring.active_id();
        let sealed: Vec<(i64, String, Vec<u8>)> = self.with_reader(|c| {
            let mut stmt = c.prepare_cached("SELECT model_id, version, data FROM reference_profiles")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let mut resealed = 0;
        for (model_id, version, old) in sealed {
            if crate::crypto::key_id_of(&old).is_ok_and(|id| id == active) {
                continue;
            }
            let plain = zeroize::Zeroizing::new(self.opener().open_reference(model_id, &version, &old)?);
            let new = ring
                .seal(&plain, &reference_aad(model_id, &version))
                .map_err(|e| StoreError::Corrupt(format!("reference cannot be sealed: {e}")))?;
            resealed += self.with_reader(|c| {
                Ok(c.prepare_cached(
                    "UPDATE reference_profiles SET data = ?1 WHERE model_id = ?2 AND version = ?3 AND data = ?4",
                )?
                .execute(params![new, model_id, version, old])?)
            })?;
        }
        Ok(resealed)
    }

    fn open_reference(&self, mut r: ReferenceRecord) -> Result<ReferenceRecord> {
        r.data = self.opener().open_reference(r.model_id, &r.version, &r.data)?;
        Ok(r)
    }
}
