//! The embedded SQLite backend: one database file in the data directory, WAL mode,
//! one writer connection and a small pool of reader connections.

mod access;
mod alerting;
mod audit;
mod channels;
mod explainers;
mod incidents;
mod issues;
mod lineage;
mod migrations;
mod outcomes;
mod profiles;
mod registry;
mod retraining;
mod rows;
mod signals;
mod tail;
pub mod tallies;
mod writer;

use crate::crypto::Keys;
use crate::record::{ModelRecord, PredictionQuery, StoredPrediction, VersionRecord};
use crate::sealed::{EncryptionState, Opener, StoredPayload};
use crate::{Result, Store, StoreError, StoreWriter};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use sightline_core::ModelSpec;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// How hard SQLite works to make a commit survive power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync the WAL on every commit: an acknowledged event survives power loss.
    #[default]
    Full,
    /// fsync only at checkpoints: survives a process crash, may lose the last
    /// commits on power loss.
    Normal,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// Page cache per connection, in KiB.
    pub cache_kib: u32,
    /// Committed predictions kept in memory for the aggregator (see `sqlite::tail`).
    pub tail_events: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { synchronous: Synchronous::Full, cache_kib: 64 * 1024, tail_events: 100_000 }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    options: SqliteOptions,
    /// Idle reader connections; a reader is opened when none is idle.
    readers: Mutex<Vec<Connection>>,
    keys: Arc<Keys>,
    /// Rows at or below this seq may be plaintext; shared with the writer, which lowers
    /// it to 0 when a re-encryption pass finishes.
    plaintext_max_seq: Arc<AtomicI64>,
    /// Predictions committed since the store opened, shared with the writer.
    tail: Arc<tail::CommittedTail>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

/// Readers kept idle at most; more may exist while a burst of queries runs.
const MAX_IDLE_READERS: usize = 8;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    /// Payloads are sealed by the callers and opened with `keys`.
    pub fn open(path: &Path, options: SqliteOptions, keys: Arc<Keys>) -> Result<SqliteStore> {
        let mut conn = open_connection(path, &options, true)?;
        migrations::apply(&mut conn)?;
        let state = read_encryption_state(&conn)?;
        let early_label_models = conn
            .prepare(
                "SELECT id FROM models m WHERE EXISTS (SELECT 1 FROM labels l WHERE l.model_id = m.id AND l.early = 1)",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let tail = tail::CommittedTail::new(state.max_seq, options.tail_events, early_label_models);
        Ok(SqliteStore {
            path: path.to_owned(),
            options,
            readers: Mutex::new(vec![conn]),
            keys,
            plaintext_max_seq: Arc::new(AtomicI64::new(state.plaintext_max_seq)),
            tail: Arc::new(tail),
        })
    }

    /// Whether the aggregator's reads past `after_seq` are answered from the committed
    /// tail rather than the log (for tests and diagnostics; see `sqlite::tail`).
    pub fn tail_covers(&self, after_seq: i64) -> bool {
        self.tail.covers(after_seq)
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<u32> {
        self.with_reader(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
    }

    pub(crate) fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.path, &self.options, false)?,
        };
        let result = f(&conn);
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

fn open_connection(path: &Path, options: &SqliteOptions, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    if create {
        // Takes effect only when the file is new. Larger pages than SQLite's 4 KiB
        // default make ingest ~30 % cheaper (fewer B-tree splits and WAL frames per
        // event; see examples/writer_throughput.rs) at little cost to point reads.
        conn.execute_batch("PRAGMA page_size = 16384;")?;
    }
    let sync = match options.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    // WAL lets readers run beside the writer; busy_timeout covers the short moments
    // when a checkpoint or another process holds a lock.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {sync};
         PRAGMA busy_timeout = 10000;
         PRAGMA cache_size = -{};
         PRAGMA temp_store = MEMORY;",
        options.cache_kib
    ))?;
    Ok(conn)
}

fn read_encryption_state(c: &Connection) -> Result<EncryptionState> {
    let mut state = EncryptionState::default();
    let mut stmt = c.prepare_cached("SELECT name, value FROM encryption_state")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (name, value) = row?;
        match name.as_str() {
            "plaintext_max_seq" => state.plaintext_max_seq = value,
            "reseal_key" => {
                state.key_id = u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("reseal_key {value}")))?
            }
            "reseal_cursor" => state.cursor = value,
            "reseal_finished" => state.finished = value != 0,
            _ => {}
        }
    }
    state.max_seq = c.query_row("SELECT coalesce(max(seq), 0) FROM predictions", [], |r| r.get(0))?;
    Ok(state)
}

const MODEL_COLUMNS: &str = "id, spec, created_ms, project_id";

fn model_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, i64, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn decode_model((id, spec, created_ms, project_id): (i64, String, i64, i64)) -> Result<ModelRecord> {
    let spec: ModelSpec =
        serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt(format!("model {id} spec: {e}")))?;
    Ok(ModelRecord { id, project_id, spec, created_ms })
}

fn version_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRecord> {
    Ok(VersionRecord {
        id: row.get(0)?,
        model_id: row.get(1)?,
        name: row.get(2)?,
        description: row.get(3)?,
        created_ms: row.get(4)?,
    })
}

pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

impl Store for SqliteStore {
    fn create_model(&self, spec: &ModelSpec, project_id: i64, now_ms: i64) -> Result<ModelRecord> {
        let json = serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.with_reader(|c| {
            match c.execute(
                "INSERT INTO models (name, spec, created_ms, project_id) VALUES (?1, ?2, ?3, ?4)",
                params![spec.name, json, now_ms, project_id],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict(format!("model {:?}", spec.name)));
                }
                Err(e) => return Err(e.into()),
            }
            Ok(ModelRecord { id: c.last_insert_rowid(), project_id, spec: spec.clone(), created_ms: now_ms })
        })
    }

    fn update_model_spec(&self, spec: &ModelSpec, expected_features: usize) -> Result<Option<ModelRecord>> {
        let json = serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.with_reader(|c| {
            // IMMEDIATE: take the write lock before reading, so the check and the
            // update see the same spec.
            let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
            let row = tx
                .query_row(&format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = ?1"), [&spec.name], model_from_row)
                .optional()?;
            let Some(current) = row.map(decode_model).transpose()? else {
                return Ok(None);
            };
            if current.spec.features.len() != expected_features {
                return Err(StoreError::Changed(format!("model {:?}", spec.name)));
            }
            tx.execute("UPDATE models SET spec = ?1 WHERE id = ?2", params![json, current.id])?;
            tx.commit()?;
            Ok(Some(ModelRecord { spec: spec.clone(), ..current }))
        })
    }

    fn get_model(&self, name: &str) -> Result<Option<ModelRecord>> {
        self.with_reader(|c| {
            let row = c
                .query_row(&format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = ?1"), [name], model_from_row)
                .optional()?;
            row.map(decode_model).transpose()
        })
    }

    fn model_by_id(&self, id: i64) -> Result<Option<ModelRecord>> {
        self.with_reader(|c| {
            let row = c
                .query_row(&format!("SELECT {MODEL_COLUMNS} FROM models WHERE id = ?1"), [id], model_from_row)
                .optional()?;
            row.map(decode_model).transpose()
        })
    }

    fn list_models(&self, after: Option<&str>, limit: usize, projects: Option<&[i64]>) -> Result<Vec<ModelRecord>> {
        // The project filter travels as a JSON array: one statement for any number.
        let projects = projects.map(|p| serde_json::Value::from(p.to_vec()).to_string());
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {MODEL_COLUMNS} FROM models
                 WHERE name > ?1 AND (?3 IS NULL OR project_id IN (SELECT value FROM json_each(?3)))
                 ORDER BY name LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![after.unwrap_or(""), limit as i64, projects], model_from_row)?;
            rows.map(|r| decode_model(r?)).collect()
        })
    }

    fn create_version(&self, model_id: i64, name: &str, description: &str, now_ms: i64) -> Result<VersionRecord> {
        self.with_reader(|c| {
            match c.execute(
                "INSERT INTO versions (model_id, name, description, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![model_id, name, description, now_ms],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict(format!("version {name:?}"))),
                Err(e) => return Err(e.into()),
            }
            Ok(VersionRecord {
                id: c.last_insert_rowid(),
                model_id,
                name: name.to_owned(),
                description: description.to_owned(),
                created_ms: now_ms,
            })
        })
    }

    fn get_version(&self, model_id: i64, name: &str) -> Result<Option<VersionRecord>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT id, model_id, name, description, created_ms FROM versions WHERE model_id = ?1 AND name = ?2",
                params![model_id, name],
                version_from_row,
            )
            .optional()?)
        })
    }

    fn version_by_id(&self, id: i64) -> Result<Option<VersionRecord>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT id, model_id, name, description, created_ms FROM versions WHERE id = ?1",
                [id],
                version_from_row,
            )
            .optional()?)
        })
    }

    fn list_versions(&self, model_id: i64, after: Option<&str>, limit: usize) -> Result<Vec<VersionRecord>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, model_id, name, description, created_ms FROM versions
                 WHERE model_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![model_id, after.unwrap_or(""), limit as i64], version_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn list_predictions(&self, query: &PredictionQuery) -> Result<Vec<StoredPrediction>> {
        let opener = self.opener();
        self.with_reader(|c| rows::list_predictions(c, query, &opener))
    }

    fn get_prediction(&self, model_id: i64, request_id: &str) -> Result<Option<StoredPrediction>> {
        let opener = self.opener();
        self.with_reader(|c| rows::get_prediction(c, model_id, request_id, &opener))
    }

    fn encryption_state(&self) -> Result<EncryptionState> {
        self.with_reader(read_encryption_state)
    }

    fn payloads(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredPayload>> {
        self.with_reader(|c| rows::payloads(c, after_seq, limit))
    }

    fn opener(&self) -> Opener {
        Opener { ring: self.keys.current(), plaintext_max_seq: self.plaintext_max_seq.load(Ordering::Acquire) }
    }

    fn maintain(&self) -> Result<()> {
        // PASSIVE copies what it can without waiting for or blocking the writer.
        self.with_reader(|c| Ok(c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?))
    }

    fn writer(&self) -> Result<Box<dyn StoreWriter>> {
        let conn = open_connection(&self.path, &self.options, false)?;
        // `maintain` checkpoints in the background; the writer checkpoints only as a
        // safety net if that stops (the WAL then holds ~80 MB at 16 KiB pages).
        conn.pragma_update(None, "wal_autocheckpoint", 5_000)?;
        Ok(Box::new(writer::SqliteWriter::new(conn, self.plaintext_max_seq.clone(), self.tail.clone())))
    }
}
