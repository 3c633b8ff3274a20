//! `sightline admin` and `sightline audit` against real data directories: the first
//! administrator on a server that refuses to serve without one, tokens and revocation
//! beside a running server, and audit tampering detected in every position.

use crate::support::{PROCESS_TIMEOUT, Server, run_to_exit, sightline_command};
use reqwest::StatusCode;
use serde_json::json;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn sightline(args: &[&str], dir: &Path, stdin: Option<&str>) -> Output {
    let mut cmd = sightline_command();
    cmd.args(args).arg("--data-dir").arg(dir);
    run_to_exit(cmd, stdin.map(|s| s.as_bytes().to_vec()), PROCESS_TIMEOUT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn anonymous() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_is_made_with_the_cli_and_tokens_are_revoked_beside_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut cmd = sightline_command();
    // Debug logging: not even the most verbose log may carry a secret.
    cmd.env_remove("SIGHTLINE_BOOTSTRAP_TOKEN").args(crate::support::serve_args(&data)).args(["--log-level", "debug"]);
    let server = Server::spawn(cmd);
    let http = anonymous();
    let r = http.get(server.url("/api/v1/models")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "no admin yet");

    let short = sightline(&["admin", "create-user", "--name", "root", "--admin"], &data, Some("short\n"));
    assert!(!short.status.success());
    assert!(text(&short.stderr).contains("at least 12 characters"), "{}", text(&short.stderr));
    let made = sightline(
        &["admin", "create-user", "--name", "root", "--role", "admin"],
        &data,
        Some("a long admin password\n"),
    );
    assert!(made.status.success(), "{}", text(&made.stderr));
    let bad =
        sightline(&["admin", "create-user", "--name", "eve", "--role", "editor"], &data, Some("a long password!\n"));
    assert!(text(&bad.stderr).contains("needs --project"), "{}", text(&bad.stderr));
    let member = sightline(
        &["admin", "create-user", "--name", "erin", "--role", "editor", "--project", "default"],
        &data,
        Some("erins long password\n"),
    );
    assert!(member.status.success(), "{}", text(&member.stderr));

    let login = http
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(json!({ "username": "root", "password": "a long admin password" }).to_string())
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::OK);

    let out = sightline(&["admin", "create-token", "--name", "ci", "--role", "admin"], &data, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    let me = || http.get(server.url("/api/v1/auth/me")).bearer_auth(&token).send();
    assert_eq!(me().await.expect("me").status(), StatusCode::OK);
    let id = text(&out.stderr).split_whitespace().nth(1).expect("token id").to_owned();
    let out = sightline(&["admin", "revoke-token", "--id", &id], &data, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The server's token cache holds a resolved token for at most 5 s.
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    assert_eq!(me().await.expect("me").status(), StatusCode::UNAUTHORIZED);

    let verify = sightline(&["audit", "verify"], &data, None);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    assert!(text(&verify.stdout).starts_with("audit log intact: "), "{}", text(&verify.stdout));
    let export = sightline(&["audit", "export"], &data, None);
    let actions: Vec<String> = text(&export.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["action"].as_str().expect("action").to_owned()
        })
        .collect();
    for expected in ["user.create", "member.set", "auth.login", "token.create", "token.revoke"] {
        assert!(actions.iter().any(|a| a == expected), "{expected} not in {actions:?}");
    }
    let log = server.log.lines().join("\n");
    assert!(log.contains("auth") || log.contains("request"), "the server logged its requests");
    for secret in [token.as_str(), "a long admin password"] {
        assert!(!log.contains(secret), "the server log contains a secret: {secret}");
    }
}

/// A data dir with an audit log of `n` entries, made through the CLI.
fn audited_dir(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let made =
        sightline(&["admin", "create-user", "--name", "root", "--admin"], dir.path(), Some("a long admin password\n"));
    assert!(made.status.success(), "{}", text(&made.stderr));
    for i in 1..n {
        let out =
            sightline(&["admin", "create-token", "--name", &format!("t{i}"), "--role", "viewer"], dir.path(), None);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    dir
}

fn tamper(dir: &Path, sql: &str) {
    let c = rusqlite::Connection::open(dir.join("sightline.db")).expect("open");
    c.execute_batch(sql).expect("tamper");
}

fn verify_fails_with(dir: &Path, extra: &[&str], expected: &str) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = sightline(&args, dir, None);
    assert!(!out.status.success(), "verify passed after tampering: {}", text(&out.stdout));
    assert!(text(&out.stderr).contains(expected), "expected {expected:?} in: {}", text(&out.stderr));
}

#[test]
fn audit_tampering_is_detected_in_every_position() {
    const N: i64 = 4;
    let pristine = audited_dir(N as usize);
    let out = sightline(&["audit", "verify"], pristine.path(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let head = text(&out.stdout).trim().rsplit(' ').next().expect("head").to_owned();
    let copy = || {
        let d = tempfile::tempdir().expect("tempdir");
        for f in ["sightline.db", "sightline.db-wal", "sightline.db-shm"] {
            let src = pristine.path().join(f);
            if src.exists() {
                std::fs::copy(&src, d.path().join(f)).expect("copy");
            }
        }
        d
    };
    for seq in 1..=N {
        let d = copy();
        tamper(d.path(), &format!("UPDATE audit SET outcome = 'failure' WHERE seq = {seq}"));
        verify_fails_with(d.path(), &[], &format!("entry {seq} does not match its hash"));

        let d = copy();
        tamper(d.path(), &format!("DELETE FROM audit WHERE seq = {seq}"));
        if seq < N {
            verify_fails_with(d.path(), &[], &format!("entries {seq} to {seq} are missing"));
        } else {
            // Deleting the newest entry leaves a shorter valid chain: the recorded head
            // catches it.
            verify_fails_with(d.path(), &["--expect-head", &head], "the chain ends before it");
        }

        let d = copy();
        tamper(
            d.path(),
            &format!(
                "UPDATE audit SET seq = seq + 1000 WHERE seq >= {seq};
                 UPDATE audit SET seq = seq - 999 WHERE seq >= 1000;
                 INSERT INTO audit (seq, ts_ms, actor, source, action, target, outcome, hash)
                     SELECT {seq}, ts_ms, 'user:mallory', source, action, target, outcome, hash FROM audit WHERE seq = {seq} + 1;"
            ),
        );
        verify_fails_with(d.path(), &[], &format!("entry {seq} does not match its hash"));
    }
    for seq in 1..N {
        let d = copy();
        tamper(
            d.path(),
            &format!(
                "UPDATE audit SET seq = -1 WHERE seq = {seq};
                 UPDATE audit SET seq = {seq} WHERE seq = {seq} + 1;
                 UPDATE audit SET seq = {seq} + 1 WHERE seq = -1;"
            ),
        );
        verify_fails_with(d.path(), &[], &format!("entry {seq} does not match its hash"));
    }
    // A head from elsewhere (a different chain) is refused.
    let other = audited_dir(2);
    let out = sightline(&["audit", "verify", "--expect-head", &head], other.path(), None);
    assert!(!out.status.success());
}
