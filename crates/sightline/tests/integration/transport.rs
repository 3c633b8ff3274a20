//! Transport security as an operator meets it: `serve --tls-cert --tls-key` (or the
//! `SIGHTLINE_TLS_*` variables) serving HTTPS with HSTS, start-up errors that name the
//! file at fault, and plain HTTP off loopback refused unless `--insecure-http`.

use crate::pki::Pki;
use crate::support::{PROCESS_TIMEOUT, Server, client, get_text, run_to_exit, serve_args, sightline_command};
use reqwest::StatusCode;
use std::process::Command;
use std::time::Duration;

fn https_url(server: &Server, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", server.addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_tls_flags_answers_https_with_hsts() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("a temporary data dir");
    let mut cmd = sightline_command();
    cmd.args(serve_args(dir.path())).arg("--tls-cert").arg(&pki.cert).arg("--tls-key").arg(&pki.key);
    let server = Server::spawn(cmd);
    let listening =
        server.log.wait_for_json(Duration::ZERO, |v| v["message"] == "listening").expect("a \"listening\" line");
    assert_eq!(listening["tls"], true, "{listening}");

    let response = pki.client().get(https_url(&server, "/healthz")).send().await.expect("GET over HTTPS");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("strict-transport-security").and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );
    assert_eq!(response.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));

    // `http://` to the same port: a 400 that says what to do, and the server goes on.
    let (status, body) = get_text(&client(), &server.url("/healthz")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("https://"), "{body}");
    let response = pki.client().get(https_url(&server, "/readyz")).send().await.expect("GET over HTTPS");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_files_can_come_from_the_environment() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("a temporary data dir");
    let mut cmd = sightline_command();
    cmd.args(serve_args(dir.path())).env("SIGHTLINE_TLS_CERT", &pki.cert).env("SIGHTLINE_TLS_KEY", &pki.key);
    let server = Server::spawn(cmd);
    let response = pki.client().get(https_url(&server, "/healthz")).send().await.expect("GET over HTTPS");
    assert_eq!(response.status(), StatusCode::OK);
}

/// The arguments of a server on `listen` with JSON logs.
fn serve_on(listen: &str, data_dir: &std::path::Path) -> Command {
    let mut cmd = sightline_command();
    cmd.args(["serve", "--listen", listen, "--log-format", "json", "--data-dir"]).arg(data_dir);
    cmd
}

/// Runs `serve` on `listen` with `extra` arguments, which must fail; returns its stderr.
fn failed_start(listen: &str, extra: &[&std::ffi::OsStr]) -> String {
    let dir = tempfile::tempdir().expect("a temporary dir");
    let data = dir.path().join("data");
    let mut cmd = serve_on(listen, &data);
    cmd.args(extra);
    let out = run_to_exit(cmd, None, PROCESS_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "serve {extra:?} started; stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stdout.contains("\"listening\""), "serve {extra:?} listened:\n{stdout}");
    assert!(!data.exists(), "serve {extra:?} created the data dir despite the error");
    stderr
}

#[test]
fn a_bad_tls_file_fails_the_start_naming_it() {
    let pki = Pki::new();
    let missing = pki.key.with_file_name("missing.key");
    let stderr = failed_start(
        "127.0.0.1:0",
        &["--tls-cert".as_ref(), pki.cert.as_os_str(), "--tls-key".as_ref(), missing.as_os_str()],
    );
    assert!(stderr.contains("cannot read the TLS private key file"), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "the error does not name the file: {stderr}");

    let stderr = failed_start(
        "127.0.0.1:0",
        &["--tls-cert".as_ref(), pki.cert.as_os_str(), "--tls-key".as_ref(), pki.other_key.as_os_str()],
    );
    assert!(stderr.contains("does not match the certificate"), "{stderr}");
    assert!(stderr.contains(&pki.other_key.display().to_string()), "{stderr}");
    assert!(stderr.contains(&pki.cert.display().to_string()), "{stderr}");

    let stderr = failed_start("127.0.0.1:0", &["--tls-cert".as_ref(), pki.cert.as_os_str()]);
    assert!(stderr.contains("tls_key is not"), "{stderr}");
}

#[test]
fn plain_http_off_loopback_is_refused_without_insecure_http() {
    let stderr = failed_start("0.0.0.0:0", &[]);
    assert!(stderr.contains("refusing to serve plain HTTP on 0.0.0.0:0"), "{stderr}");
    assert!(stderr.contains("configure TLS (--tls-cert and --tls-key)"), "{stderr}");
    assert!(stderr.contains("--insecure-http"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_http_allows_plain_http_off_loopback_with_a_warning() {
    for opt_in in ["flag", "env"] {
        let dir = tempfile::tempdir().expect("a temporary data dir");
        let mut cmd = serve_on("0.0.0.0:0", dir.path());
        match opt_in {
            "flag" => cmd.arg("--insecure-http"),
            _ => cmd.env("SIGHTLINE_INSECURE_HTTP", "true"),
        };
        let server = Server::spawn(cmd);
        let warning = server
            .log
            .wait_for_json(Duration::ZERO, |v| {
                v["level"] == "WARN" && v["message"].as_str().is_some_and(|m| m.contains("plain HTTP"))
            })
            .unwrap_or_else(|| {
                panic!("{opt_in}: no warning about plain HTTP; the log:\n{}", server.log.lines().join("\n"))
            });
        assert!(warning["message"].as_str().is_some_and(|m| m.contains("unencrypted")), "{warning}");
        // Reached over loopback only: no test traffic leaves the machine.
        let url = format!("http://127.0.0.1:{}/healthz", server.addr.port());
        let (status, _) = get_text(&client(), &url).await;
        assert_eq!(status, StatusCode::OK, "{opt_in}");
    }
}
