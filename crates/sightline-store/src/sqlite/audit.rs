//! The audit log on SQLite: appends under the write lock, so two appends never chain
//! onto the same predecessor, even from two processes (server and CLI).

use super::SqliteStore;
use crate::audit::{AuditEntry, AuditQuery, AuditRecord, AuditStore, GENESIS, chain_hash};
use crate::{Result, StoreError};
use rusqlite::{OptionalExtension, Row, params};

type RawRecord = (i64, i64, String, String, String, String, String, Vec<u8>);

fn from_row(r: &Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
}

fn decode((seq, ts_ms, actor, source, action, target, outcome, hash): RawRecord) -> Result<AuditRecord> {
    let hash: [u8; 32] =
        hash.try_into().map_err(|_| StoreError::Corrupt(format!("audit entry {seq}: the hash is not 32 bytes")))?;
    Ok(AuditRecord { seq, entry: AuditEntry { ts_ms, actor, source, action, target, outcome }, hash })
}

impl AuditStore for SqliteStore {
    fn append_audit(&self, entry: &AuditEntry) -> Result<AuditRecord> {
        self.with_reader(|c| {
            let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
            let last = tx
                .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .optional()?;
            let (prev_seq, prev_hash) = match last {
                None => (0, GENESIS),
                Some((seq, hash)) => (
                    seq,
                    hash.try_into()
                        .map_err(|_| StoreError::Corrupt(format!("audit entry {seq}: the hash is not 32 bytes")))?,
                ),
            };
            let seq = prev_seq + 1;
            let hash = chain_hash(&prev_hash, seq, entry);
            tx.execute(
                "INSERT INTO audit (seq, ts_ms, actor, source, action, target, outcome, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    seq,
                    entry.ts_ms,
                    entry.actor,
                    entry.source,
                    entry.action,
                    entry.target,
                    entry.outcome,
                    &hash[..]
                ],
            )?;
            tx.commit()?;
            Ok(AuditRecord { seq, entry: entry.clone(), hash })
        })
    }

    fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, ts_ms, actor, source, action, target, outcome, hash FROM audit
                 WHERE seq > ?1 AND ts_ms >= ?2 AND ts_ms < ?3
                   AND (?4 IS NULL OR actor = ?4)
                   AND (?5 IS NULL OR substr(action, 1, length(?5)) = ?5)
                 ORDER BY seq LIMIT ?6",
            )?;
            let rows = stmt.query_map(
                params![
                    q.after_seq.unwrap_or(0),
                    q.from_ms.unwrap_or(i64::MIN),
                    q.to_ms.unwrap_or(i64::MAX),
                    q.actor,
                    q.action_prefix,
                    q.limit as i64
                ],
                from_row,
            )?;
            rows.map(|r| decode(r?)).collect()
        })
    }
}
