//! Versioned schema migrations, tracked in SQLite's `user_version`.
//!
//! Each entry is applied once, in order, inside its own transaction. Entries are never
//! edited after release; a change is a new entry.

use crate::{Result, StoreError};
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: models, versions, the prediction event log and labels.
    "CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        spec TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE versions (
        id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models(id),
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        created_ms INTEGER NOT NULL,
        UNIQUE (model_id, name)
    );
    -- seq is the rowid: the append order of the event log.
    CREATE TABLE predictions (
        seq INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        version_id INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        pred_class TEXT,
        pred_num REAL,
        scores BLOB,
        latency_ms REAL,
        features BLOB NOT NULL,
        tags TEXT,
        error_type TEXT,
        error_message TEXT
    );
    CREATE UNIQUE INDEX predictions_by_request ON predictions (model_id, request_id);
    CREATE INDEX predictions_by_time ON predictions (model_id, ts_ms);
    CREATE TABLE labels (
        model_id INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        label_class TEXT,
        label_num REAL,
        ts_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        PRIMARY KEY (model_id, request_id)
    ) WITHOUT ROWID;",
    // 2: encryption at rest. Feature blobs and tags are sealed from now on (tags become
    // BLOBs in their TEXT column; SQLite stores a blob as given). Rows stored before
    // stay readable as plaintext only up to the seq recorded here, until the server's
    // re-encryption pass has sealed them; the pass's progress is kept here too.
    "CREATE TABLE encryption_state (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO encryption_state (name, value)
        SELECT 'plaintext_max_seq', coalesce(max(seq), 0) FROM predictions;",
];

/// The schema version this build expects.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

pub fn apply(conn: &mut Connection) -> Result<()> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {current} but this build knows only up to {LATEST}; \
             run a newer sightline"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as u32 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| StoreError::Migration(format!("migration {version}: {e}")))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
