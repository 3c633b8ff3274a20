//! SQLite-specific behaviour: migrations, durability settings, re-opening.

use sightline_store::{SqliteOptions, SqliteStore, Store};

#[test]
fn conformance_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("db.sqlite"), SqliteOptions::default()).expect("open");
    crate::conformance::run_all(&store);
}

#[test]
fn reopening_keeps_data_and_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    let version = {
        let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
        store.create_model(&crate::conformance::binary_model("m"), 1, 1).expect("create");
        store.schema_version().expect("version")
    };
    assert!(version >= 1);
    let store = SqliteStore::open(&path, SqliteOptions::default()).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), version);
    assert!(store.get_model("m").expect("get").is_some());
}

#[test]
fn refuses_a_database_from_the_future() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    drop(SqliteStore::open(&path, SqliteOptions::default()).expect("open"));
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
    match SqliteStore::open(path, SqliteOptions::default()) {
        Ok(_) => "opened".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn new_databases_use_16_kib_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    drop(SqliteStore::open(&path, SqliteOptions::default()).expect("open"));
    // The page size is the big-endian u16 at offset 16 of the database header.
    let header = std::fs::read(&path).expect("read db");
    assert_eq!(u16::from_be_bytes([header[16], header[17]]), 16_384);
}
