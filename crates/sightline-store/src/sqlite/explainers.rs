//! Version explainers on SQLite; model files sealed at rest like every other payload.

use super::SqliteStore;
use crate::explainers::{ExplainerRecord, ExplainerSource, ExplainerStore};
use crate::sealed::explainer_aad;
use crate::{Result, Store, StoreError};
use rusqlite::{OptionalExtension, params};

const COLUMNS: &str =
    "version_id, features, kind, format, sha256, data, url, timeout_ms, max_calls, batch_rows, updated_ms, updated_by";

/// A row as stored: the model file still sealed.
struct Stored {
    version_id: i64,
    features: String,
    kind: String,
    format: Option<String>,
    sha256: Option<String>,
    data: Option<Vec<u8>>,
    url: Option<String>,
    timeout_ms: Option<i64>,
    max_calls: Option<i64>,
    batch_rows: Option<i64>,
    updated_ms: i64,
    updated_by: String,
}

fn stored(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        version_id: r.get(0)?,
        features: r.get(1)?,
        kind: r.get(2)?,
        format: r.get(3)?,
        sha256: r.get(4)?,
        data: r.get(5)?,
        url: r.get(6)?,
        timeout_ms: r.get(7)?,
        max_calls: r.get(8)?,
        batch_rows: r.get(9)?,
        updated_ms: r.get(10)?,
        updated_by: r.get(11)?,
    })
}

fn unsigned(value: Option<i64>, what: &str, version_id: i64) -> Result<u64> {
    value
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("explainer of version {version_id}: {what}")))
}

impl SqliteStore {
    fn open_explainer(&self, s: Stored) -> Result<ExplainerRecord> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("explainer of version {}: {what}", s.version_id));
        let features: Vec<String> = serde_json::from_str(&s.features).map_err(|e| corrupt(&e.to_string()))?;
        let source = match s.kind.as_str() {
            "model_file" => {
                let sealed = s.data.ok_or_else(|| corrupt("no model file"))?;
                ExplainerSource::ModelFile {
                    format: s.format.ok_or_else(|| corrupt("no format"))?,
                    sha256: s.sha256.ok_or_else(|| corrupt("no digest"))?,
                    bytes: self.opener().open_explainer(s.version_id, &sealed)?,
                }
            }
            "endpoint" => ExplainerSource::Endpoint {
                url: s.url.ok_or_else(|| corrupt("no url"))?,
                timeout_ms: unsigned(s.timeout_ms, "timeout", s.version_id)?,
                max_calls: unsigned(s.max_calls, "call budget", s.version_id)?,
                batch_rows: unsigned(s.batch_rows, "batch size", s.version_id)?,
            },
            other => return Err(corrupt(&format!("kind {other:?}"))),
        };
        Ok(ExplainerRecord {
            version_id: s.version_id,
            features,
            source,
            updated_ms: s.updated_ms,
            updated_by: s.updated_by,
        })
    }

    /// Reseals model files under the active key; how many were resealed.
    pub(super) fn reseal_explainers(&self) -> Result<usize> {
        let ring = self.keys.current();
        let active = ring.active_id();
        let sealed: Vec<(i64, Vec<u8>)> = self.with_reader(|c| {
            let mut stmt = c.prepare_cached("SELECT version_id, data FROM explainers WHERE data IS NOT NULL")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let mut resealed = 0;
        for (version_id, old) in sealed {
            if crate::crypto::key_id_of(&old).is_ok_and(|id| id == active) {
                continue;
            }
            let plain = zeroize::Zeroizing::new(self.opener().open_explainer(version_id, &old)?);
            let new = ring
                .seal(&plain, &explainer_aad(version_id))
                .map_err(|e| StoreError::Corrupt(format!("model file cannot be sealed: {e}")))?;
            resealed += self.with_reader(|c| {
                Ok(c.prepare_cached("UPDATE explainers SET data = ?1 WHERE version_id = ?2 AND data = ?3")?
                    .execute(params![new, version_id, old])?)
            })?;
        }
        Ok(resealed)
    }
}

impl ExplainerStore for SqliteStore {
    fn put_explainer(&self, e: &ExplainerRecord) -> Result<()> {
        let features = serde_json::to_string(&e.features)
            .map_err(|err| StoreError::Corrupt(format!("explainer features: {err}")))?;
        let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let (kind, format, sha256, data, url, timeout, calls, batch) = match &e.source {
            ExplainerSource::ModelFile { format, sha256, bytes } => {
                let sealed = self
                    .keys
                    .current()
                    .seal(bytes, &explainer_aad(e.version_id))
                    .map_err(|err| StoreError::Corrupt(format!("model file cannot be sealed: {err}")))?;
                ("model_file", Some(format.clone()), Some(sha256.clone()), Some(sealed), None, None, None, None)
            }
            ExplainerSource::Endpoint { url, timeout_ms, max_calls, batch_rows } => (
                "endpoint",
                None,
                None,
                None,
                Some(url.clone()),
                Some(signed(*timeout_ms)),
                Some(signed(*max_calls)),
                Some(signed(*batch_rows)),
            ),
        };
        self.with_reader(|c| {
            c.prepare_cached(&format!(
                "INSERT OR REPLACE INTO explainers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))?
            .execute(params![
                e.version_id,
                features,
                kind,
                format,
                sha256,
                data,
                url,
                timeout,
                calls,
                batch,
                e.updated_ms,
                e.updated_by
            ])?;
            Ok(())
        })
    }

    fn get_explainer(&self, version_id: i64) -> Result<Option<ExplainerRecord>> {
        let row = self.with_reader(|c| {
            Ok(c.prepare_cached(&format!("SELECT {COLUMNS} FROM explainers WHERE version_id = ?1"))?
                .query_row(params![version_id], stored)
                .optional()?)
        })?;
        row.map(|s| self.open_explainer(s)).transpose()
    }

    fn delete_explainer(&self, version_id: i64) -> Result<bool> {
        self.with_reader(|c| {
            Ok(c.prepare_cached("DELETE FROM explainers WHERE version_id = ?1")?.execute(params![version_id])? == 1)
        })
    }
}
