//! SQLite-specific behaviour: migrations, durability settings, re-opening.

use crate::conformance::{binary_model, raw_event, reseal_all, ring};
use sightline_store::{Keys, PreparedPrediction, SqliteOptions, SqliteStore, Store, StoreError, WriteBatch};
use std::sync::Arc;

fn keys() -> Arc<Keys> {
    Arc::new(Keys::new(ring(&[1])))
}

fn open(path: &std::path::Path) -> sightline_store::Result<SqliteStore> {
    SqliteStore::open(path, SqliteOptions::default(), keys())
}

#[test]
fn conformance_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keys();
    let store = SqliteStore::open(&dir.path().join("db.sqlite"), SqliteOptions::default(), keys.clone()).expect("open");
    crate::conformance::run_all(&store, &keys);
}

/// Feature values and tags that must never appear in the database files in the clear.
const SECRET_CATEGORY: &str = "Zanzibar-7f3c-category";
const SECRET_TAG: &str = "tag-value-9e1d-secret";
const SECRET_NUMBER: f64 = 918_273.645_5;

#[test]
fn database_files_hold_no_plaintext_feature_values_or_tags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    let store = open(&path).expect("open");
    let m = store.create_model(&binary_model("dump"), 1, 0).expect("create");
    let ring = store.opener().ring;
    let events = (0..500)
        .map(|i| {
            let mut e = raw_event(&format!("r{i}"), i, "v1");
            e.features = vec![
                (0, sightline_core::FeatureValue::Number(SECRET_NUMBER)),
                (1, sightline_core::FeatureValue::Category(SECRET_CATEGORY.into())),
            ];
            e.tags = vec![("owner".into(), SECRET_TAG.into())];
            PreparedPrediction::new(e, m.id, &ring).expect("seal")
        })
        .collect();
    let mut w = store.writer().expect("writer");
    w.commit(&[&WriteBatch::Predictions { model_id: m.id, received_ms: 0, events }]).expect("commit");
    let got = store.get_prediction(m.id, "r3").expect("get").expect("stored");
    assert_eq!(got.tags, vec![("owner".to_string(), SECRET_TAG.to_string())], "the values are stored");
    // Checkpoint so the rows are in the main file as well as in the WAL, then read every
    // file of the database: main, WAL, shared memory.
    store.maintain().expect("checkpoint");
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).expect("ls") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        files += 1;
        for needle in [SECRET_CATEGORY.as_bytes(), SECRET_TAG.as_bytes(), &SECRET_NUMBER.to_le_bytes()[..]] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "plaintext {needle:?} found in a database file");
        }
    }
    assert!(files >= 2, "the database and its WAL were read");
    // The request id is stored in the clear (the unique index needs it): the check above
    // would have found it, which shows it reads what it should.
    let db = std::fs::read(&path).expect("read");
    assert!(db.windows(4).any(|w| w == b"r499"), "request ids are visible, so the scan works");
}

/// A database as the build before encryption left it: schema version 1, plaintext
/// feature blobs and TEXT tags.
fn legacy_database(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).expect("open");
    c.execute_batch(
        "CREATE TABLE models (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, spec TEXT NOT NULL,
            created_ms INTEGER NOT NULL);
         CREATE TABLE versions (id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES models(id),
            name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,
            UNIQUE (model_id, name));
         CREATE TABLE predictions (seq INTEGER PRIMARY KEY, model_id INTEGER NOT NULL, request_id TEXT NOT NULL,
            version_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, pred_class TEXT,
            pred_num REAL, scores BLOB, latency_ms REAL, features BLOB NOT NULL, tags TEXT, error_type TEXT,
            error_message TEXT);
         CREATE UNIQUE INDEX predictions_by_request ON predictions (model_id, request_id);
         CREATE INDEX predictions_by_time ON predictions (model_id, ts_ms);
         CREATE TABLE labels (model_id INTEGER NOT NULL, request_id TEXT NOT NULL, label_class TEXT,
            label_num REAL, ts_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
            PRIMARY KEY (model_id, request_id)) WITHOUT ROWID;
         PRAGMA user_version = 1;",
    )
    .expect("schema 1");
    let spec = serde_json::to_string(&binary_model("old")).expect("json");
    c.execute("INSERT INTO models (id, name, spec, created_ms) VALUES (1, 'old', ?1, 0)", [spec]).expect("model");
    c.execute("INSERT INTO versions (id, model_id, name, created_ms) VALUES (1, 1, 'v1', 0)", []).expect("version");
    for i in 0..30 {
        let e = raw_event(&format!("old{i}"), i, "v1");
        let mut features = Vec::new();
        sightline_core::codec::encode_features(&e.features, &mut features);
        let tags = serde_json::to_string(&e.tags).expect("json");
        c.execute(
            "INSERT INTO predictions (model_id, request_id, version_id, ts_ms, received_ms, features, tags)
             VALUES (1, ?1, 1, ?2, 0, ?3, ?4)",
            rusqlite::params![e.request_id, i, features, tags],
        )
        .expect("row");
    }
}

#[test]
fn plaintext_rows_from_before_encryption_stay_readable_until_resealed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    legacy_database(&path);
    let store = open(&path).expect("migrates");
    let state = store.encryption_state().expect("state");
    assert_eq!((state.plaintext_max_seq, state.finished, state.max_seq), (30, false, 30));
    let m = store.get_model("old").expect("get").expect("exists");
    let p = store.get_prediction(m.id, "old7").expect("plaintext row reads").expect("stored");
    assert_eq!((p.features, p.tags), (raw_event("old7", 7, "v1").features, raw_event("old7", 7, "v1").tags));

    // New rows are sealed; a plaintext value above the bound is refused.
    let ring = store.opener().ring;
    let new = PreparedPrediction::new(raw_event("new", 1, "v1"), m.id, &ring).expect("seal");
    store
        .writer()
        .expect("writer")
        .commit(&[&WriteBatch::Predictions { model_id: m.id, received_ms: 0, events: vec![new] }])
        .expect("commit");
    assert!(store.get_prediction(m.id, "new").expect("sealed row reads").is_some());

    assert_eq!(reseal_all(&store, 7), 30, "every plaintext row is sealed");
    let state = store.encryption_state().expect("state");
    assert_eq!((state.plaintext_max_seq, state.finished), (0, true));
    for p in store.payloads(0, 100).expect("payloads") {
        assert!(
            sightline_store::sealed::key_of(&p.features).is_some()
                && sightline_store::sealed::key_of(p.tags.as_deref().unwrap_or_default()).is_some()
        );
    }
    let p = store.get_prediction(m.id, "old7").expect("resealed row reads").expect("stored");
    assert_eq!(p.tags, raw_event("old7", 7, "v1").tags);
    drop(store);

    // Plaintext planted in an old row after the pass is refused, also after a reopen.
    let c = rusqlite::Connection::open(&path).expect("open");
    let mut features = Vec::new();
    sightline_core::codec::encode_features(&raw_event("old7", 7, "v1").features, &mut features);
    c.execute("UPDATE predictions SET features = ?1 WHERE request_id = 'old7'", [features]).expect("plant");
    drop(c);
    let store = open(&path).expect("reopen");
    assert!(matches!(store.get_prediction(m.id, "old7"), Err(StoreError::Corrupt(_))));
}

#[test]
fn reopening_keeps_data_and_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    let version = {
        let store = open(&path).expect("open");
        store.create_model(&crate::conformance::binary_model("m"), 1, 1).expect("create");
        store.schema_version().expect("version")
    };
    assert!(version >= 1);
    let store = open(&path).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), version);
    assert!(store.get_model("m").expect("get").is_some());
}

#[test]
fn refuses_a_database_from_the_future() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    drop(open(&path).expect("open"));
    let conn = rusqlite_free_bump(&path);
    assert!(conn.contains("newer sightline"), "{conn}");
}

/// Sets user_version past what this build knows, then reports the open error.
fn rusqlite_free_bump(path: &std::path::Path) -> String {
    // The store crate exposes no raw SQL; use the sqlite3 file header directly:
    // user_version is the big-endian u32 at byte offset 60 of the database header.
    let mut bytes = std::fs::read(path).expect("read db");
    // Make sure the header is in the main file, not only in the WAL.
    assert!(bytes.len() >= 100, "database header present");
    bytes[60..64].copy_from_slice(&999u32.to_be_bytes());
    std::fs::write(path, bytes).expect("write db");
    match open(path) {
        Ok(_) => "opened".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn new_databases_use_16_kib_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    drop(open(&path).expect("open"));
    // The page size is the big-endian u16 at offset 16 of the database header.
    let header = std::fs::read(&path).expect("read db");
    assert_eq!(u16::from_be_bytes([header[16], header[17]]), 16_384);
}
