//! Encryption at rest through the server: the key file at start-up, the key status
//! endpoint, online rotation under concurrent ingest, and refused reloads.

use crate::support::{TestServer, credit_model, event};
use serde_json::{Value, json};
use sightline_server::{Server, ServerConfig, StartError};
use sightline_store::KeyFileError;
use sightline_store::crypto::{add_key_to_file, create_key_file};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Polls `GET /admin/keys` until the re-encryption pass under `key` has finished.
async fn wait_finished(server: &TestServer, key: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = server.get("/api/v1/admin/keys").await;
        assert_eq!(r.status, 200, "{}", r.text);
        if r.json["reencryption"]["state"] == "finished" && r.json["reencryption"]["key_id"] == key {
            return r.json;
        }
        assert!(r.json["reencryption"]["state"] != "failed", "{}", r.text);
        assert!(Instant::now() < deadline, "re-encryption did not finish: {}", r.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every stored payload's key id, read from the database file itself.
fn stored_key_ids(data_dir: &Path) -> Vec<u32> {
    let c = rusqlite::Connection::open(data_dir.join("sightline.db")).expect("open the database");
    let mut stmt = c.prepare("SELECT features, tags FROM predictions").expect("prepare");
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<Vec<u8>>>(1)?)))
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows");
    let mut ids = Vec::new();
    for (features, tags) in rows {
        for value in std::iter::once(features).chain(tags) {
            assert_eq!(value[0], 0xE1, "every payload is sealed");
            ids.push(u32::from_be_bytes([value[1], value[2], value[3], value[4]]));
        }
    }
    ids
}

/// Keeps only the last key line of a key file (the old keys are removed).
fn keep_only_active_key(path: &Path) {
    let text = std::fs::read_to_string(path).expect("read the key file");
    let last = text.lines().rfind(|l| !l.starts_with('#') && !l.trim().is_empty()).expect("a key");
    std::fs::write(path, format!("{last}\n")).expect("rewrite the key file");
}

#[tokio::test]
async fn a_private_master_key_is_generated_beside_the_data_on_first_start() {
    let server = TestServer::start().await;
    let path = server.data_dir().join("master.key");
    let mode = std::fs::metadata(&path).expect("master.key exists").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let status = wait_finished(&server, 1).await;
    assert_eq!((status["active_key_id"].clone(), status["key_ids"].clone()), (json!(1), json!([1])));
    assert!(
        !status.to_string().contains(std::fs::read_to_string(&path).expect("read").lines().next_back().unwrap_or("-"))
    );
    server.create_model(&credit_model("m")).await;
    server.ingest("m", &[event("r1")]).await;
    let r = server.get("/api/v1/models/m/predictions/r1").await;
    assert_eq!((r.json["features"]["city"].clone(), r.json["tags"]["region"].clone()), (json!("Paris"), json!("eu")));
    assert_eq!(stored_key_ids(server.data_dir()), vec![1, 1]);
}

fn config_with_key_file(data_dir: &Path, key_file: PathBuf) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        data_dir: data_dir.to_path_buf(),
        master_key_file: Some(key_file),
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn unusable_key_files_stop_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "1 c2hvcnQ=\n").expect("write");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let data = dir.path().join("data");
    let err = Server::start(config_with_key_file(&data, keys.clone())).await.err().expect("refused");
    let StartError::Keys(cause @ KeyFileError::Permissions { .. }) = &err else { panic!("{err}") };
    assert!(cause.to_string().contains("chmod 600"), "{cause}");

    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let err = Server::start(config_with_key_file(&data, keys.clone())).await.err().expect("refused");
    let StartError::Keys(cause @ KeyFileError::Format { line: 1, .. }) = &err else { panic!("{err}") };
    assert!(cause.to_string().contains("5 bytes long"), "{cause}");

    let missing = dir.path().join("nope");
    let err = Server::start(config_with_key_file(&data, missing)).await.err().expect("refused");
    assert!(matches!(err, StartError::Keys(KeyFileError::Read { .. })), "{err}");
}

#[tokio::test]
async fn reloads_that_drop_a_needed_key_or_break_the_file_are_refused() {
    let keys_dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir.path().join("keys");
    create_key_file(&keys).expect("key file");
    let k = keys.clone();
    let server = TestServer::start_with(move |c| c.master_key_file = Some(k)).await;
    wait_finished(&server, 1).await;

    // A file whose only key is new: key 1 still encrypts everything stored.
    let other = keys_dir.path().join("other");
    create_key_file(&other).expect("key file");
    add_key_to_file(&other).expect("add");
    let original = std::fs::read(&keys).expect("read");
    std::fs::copy(&other, &keys).expect("copy");
    keep_only_active_key(&keys);
    let r = server.request(reqwest::Method::POST, "/api/v1/admin/keys/rotate", &[], None).await;
    assert_eq!((r.status, r.json["code"].clone()), (409, json!("key_in_use")), "{}", r.text);

    // Key id 1 reused for another key.
    std::fs::copy(&other, &keys).expect("copy");
    let r = server.request(reqwest::Method::POST, "/api/v1/admin/keys/rotate", &[], None).await;
    assert_eq!((r.status, r.json["code"].clone()), (409, json!("key_in_use")), "{}", r.text);
    assert!(r.json["detail"].as_str().unwrap_or_default().contains("never be reused"), "{}", r.text);

    std::fs::write(&keys, "1 !!!\n").expect("write");
    let r = server.request(reqwest::Method::POST, "/api/v1/admin/keys/rotate", &[], None).await;
    assert_eq!((r.status, r.json["code"].clone()), (422, json!("invalid_key_file")), "{}", r.text);
    assert!(r.json["detail"].as_str().unwrap_or_default().contains("line 1"), "{}", r.text);

    std::fs::write(&keys, &original).expect("restore");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let r = server.request(reqwest::Method::POST, "/api/v1/admin/keys/rotate", &[], None).await;
    assert_eq!((r.status, r.json["code"].clone()), (422, json!("invalid_key_file")), "{}", r.text);

    // Nothing changed: key 1 is still the one in use.
    let r = server.get("/api/v1/admin/keys").await;
    assert_eq!(r.json["active_key_id"], 1, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_concurrent_ingest_loses_nothing_and_old_keys_can_go() {
    let keys_dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir.path().join("keys");
    create_key_file(&keys).expect("key file");
    let k = keys.clone();
    let server = TestServer::start_with(move |c| c.master_key_file = Some(k)).await;
    server.create_model(&credit_model("m")).await;
    // Some history under key 1 first.
    for b in 0..20 {
        let events: Vec<Value> = (0..100).map(|i| event(&format!("pre-{b}-{i}"))).collect();
        server.ingest("m", &events).await;
    }

    let client = server.client();
    let url = server.url("/api/v1/models/m/predictions");
    let writer = tokio::spawn(async move {
        let mut acked = Vec::new();
        for b in 0..150 {
            let ids: Vec<String> = (0..20).map(|i| format!("live-{b}-{i}")).collect();
            let events: Vec<Value> = ids.iter().map(|id| event(id)).collect();
            let body = serde_json::to_vec(&json!({ "events": events })).expect("JSON");
            let r =
                client.post(&url).header("content-type", "application/json").body(body).send().await.expect("ingest");
            assert_eq!(r.status(), 200);
            acked.extend(ids);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        acked
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(add_key_to_file(&keys).expect("add a key"), 2);
    let r = server.request(reqwest::Method::POST, "/api/v1/admin/keys/rotate", &[], None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["active_key_id"], 2, "{}", r.text);
    let acked = writer.await.expect("the ingest task");
    let status = wait_finished(&server, 2).await;
    assert_eq!(status["reencryption"]["rows_failed"], 0, "{status}");
    assert_eq!(status["removable_key_ids"], json!([1]), "{status}");
    assert!(stored_key_ids(server.data_dir()).iter().all(|k| *k == 2), "every payload is under key 2");

    // Remove key 1 and restart: everything still opens.
    keep_only_active_key(&keys);
    let server = server.restart().await;
    let stored = server.all_predictions("m", "", 1000).await;
    assert_eq!(stored.len(), 2000 + acked.len());
    let ids: std::collections::HashSet<&str> = stored.iter().filter_map(|p| p["request_id"].as_str()).collect();
    assert!(acked.iter().all(|id| ids.contains(id.as_str())), "every acknowledged event is stored");
    assert!(stored.iter().all(|p| p["features"]["city"] == "Paris" && p["tags"]["region"] == "eu"));
    let status = wait_finished(&server, 2).await;
    assert_eq!(status["key_ids"], json!([2]), "{status}");
}

/// Second-factor secrets are stored secrets too: a rotation re-seals them, and after the
/// old key is gone the second factor still works.
#[tokio::test]
async fn second_factor_secrets_move_to_the_new_key() {
    use crate::access::login;
    use sightline_server::auth::totp;
    let keys_dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir.path().join("keys");
    create_key_file(&keys).expect("key file");
    let k = keys.clone();
    let server = TestServer::start_with(move |c| c.master_key_file = Some(k)).await;
    let dana = json!({ "name": "dana", "password": "danas long password" });
    server.post_json("/api/v1/users", &dana).await.expect_status(201);
    let (cookie, csrf, _) = login(&server, "dana", "danas long password").await;
    let (cookie, csrf) = (cookie.expect("cookie"), csrf.expect("csrf"));
    let h = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str()), ("content-type", "application/json")];
    let setup = server.request_as_headers(reqwest::Method::POST, "/api/v1/auth/totp/setup", &h[..2], None).await;
    let text = setup.json["secret"].as_str().expect("secret").to_owned();
    let secret = totp::from_base32(&text).expect("base32");
    let now = sightline_server::wire::time::now_ms() as u64 / 1000;
    let body = json!({ "secret": text, "code": totp::code_at(&secret, now).expect("code"), "password": "danas long password" });
    let r = server
        .request_as_headers(reqwest::Method::POST, "/api/v1/auth/totp/enable", &h, Some(body.to_string().into_bytes()))
        .await;
    r.expect_status(204);

    assert_eq!(add_key_to_file(&keys).expect("add a key"), 2);
    let r = server.request(reqwest::Method::POST, "/api/v1/admin/keys/rotate", &[], None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    wait_finished(&server, 2).await;
    let c = rusqlite::Connection::open(server.data_dir().join("sightline.db")).expect("open");
    let sealed: Vec<u8> =
        c.query_row("SELECT totp_secret FROM users WHERE name = 'dana'", [], |r| r.get(0)).expect("row");
    assert_eq!(u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]), 2, "re-sealed under key 2");

    keep_only_active_key(&keys);
    let server = server.restart().await;
    let body = json!({ "username": "dana", "password": "danas long password", "totp_code": totp::code_at(&secret, now + 30).expect("code") });
    server.request_as(None, reqwest::Method::POST, "/api/v1/auth/login", Some(&body)).await.expect_status(200);
}
