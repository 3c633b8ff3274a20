//! Shared plumbing of the end-to-end tests: the `sightline serve` child process, the
//! HTTP client, request bodies, external tools and deadlines.
//!
//! Every wait has a deadline so a hung server fails a test instead of hanging the run,
//! and every child process is killed when its guard is dropped, also on panic.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Longest wait for a server to log "listening" or to exit after a signal.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for one HTTP exchange with the server.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A command running the `sightline` binary built for this test, with no `SIGHTLINE_*`
/// variable inherited from the environment of the test run (a developer's
/// `SIGHTLINE_LISTEN` must not change what the tests exercise).
/// The admin token of every server these tests start (its bootstrap token); `client()`
/// sends it with every request.
pub fn admin_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(sightline_server::auth::secret::generate_token)
}

pub fn sightline_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sightline"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SIGHTLINE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("SIGHTLINE_BOOTSTRAP_TOKEN", admin_token());
    cmd
}

/// The arguments of a server on an ephemeral loopback port with JSON logs.
pub fn serve_args(data_dir: &Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> =
        ["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--data-dir"].iter().map(Into::into).collect();
    args.push(data_dir.into());
    args
}

/// Lines a child wrote to stdout so far, and whether it closed stdout.
#[derive(Default)]
struct LogState {
    lines: Vec<String>,
    closed: bool,
}

/// A child's stdout, collected line by line on a thread (so the child never blocks on
/// a full pipe) and waited on with deadlines.
#[derive(Clone, Default)]
pub struct Log {
    state: Arc<(Mutex<LogState>, Condvar)>,
}

impl Log {
    fn collect(stdout: impl Read + Send + 'static) -> Log {
        let log = Log::default();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let (lock, cv) = &*sink.state;
                lock.lock().unwrap_or_else(|p| p.into_inner()).lines.push(line);
                cv.notify_all();
            }
            let (lock, cv) = &*sink.state;
            lock.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
            cv.notify_all();
        });
        log
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        let (lock, _) = &*self.state;
        lock.lock().unwrap_or_else(|p| p.into_inner()).lines.clone()
    }

    /// The first JSON line satisfying `pred`, waiting up to `timeout`; `None` if stdout
    /// closed or the time ran out first.
    pub fn wait_for_json(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.state;
        let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut checked = 0;
        loop {
            for line in &state.lines[checked..] {
                if let Ok(v) = serde_json::from_str::<Value>(line)
                    && pred(&v)
                {
                    return Some(v);
                }
            }
            checked = state.lines.len();
            let now = Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = cv.wait_timeout(state, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// A running `sightline serve`; killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub log: Log,
}

impl Server {
    /// Starts a server on `data_dir` (created if missing), an ephemeral loopback port,
    /// JSON logs, and waits until it listens.
    pub fn start(data_dir: &Path) -> Server {
        let mut cmd = sightline_command();
        cmd.args(serve_args(data_dir));
        Server::spawn(cmd)
    }

    /// Spawns `cmd`, a `sightline serve` command logging JSON to stdout, and waits for
    /// its "listening" line.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning the sightline binary");
        let stdout = child.stdout.take().expect("the child's stdout is piped");
        let log = Log::collect(stdout);
        // Built before waiting so the child is killed if the wait panics.
        let mut server = Server { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), log };
        let listening = server.log.wait_for_json(PROCESS_TIMEOUT, |v| v["message"] == "listening");
        let Some(listening) = listening else {
            let status = server.child.try_wait().ok().flatten();
            panic!(
                "the server did not log \"listening\" within {PROCESS_TIMEOUT:?} (exit status: {status:?}); its log:\n{}",
                server.log.lines().join("\n")
            );
        };
        server.addr = listening["addr"]
            .as_str()
            .expect("the listening line has an addr")
            .parse()
            .expect("the listening addr is a socket address");
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: the process dies at once, mid-write if it was writing.
    pub fn kill(mut self) {
        self.child.kill().expect("sending SIGKILL to the server");
        self.child.wait().expect("reaping the killed server");
    }

    /// Sends SIGTERM and returns without waiting.
    pub fn terminate(&self) {
        let status =
            Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().expect("running kill -TERM");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the process to exit, at most `timeout` (then the test fails and the
    /// guard kills it).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        wait_child(&mut self.child, timeout).unwrap_or_else(|| panic!("the server did not exit within {timeout:?}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `child` until it exits or `timeout` passes.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("polling a child process") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` to completion with its stdout and stderr captured; fails the test if it
/// does not exit within `timeout`.
pub fn run_to_exit(mut cmd: Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Output {
    let mut child = ChildGuard(
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning a command"),
    );
    let writer = stdin.map(|bytes| {
        let mut pipe = child.0.stdin.take().expect("stdin is piped");
        std::thread::spawn(move || {
            use std::io::Write;
            // A child that exits without reading everything closes the pipe; its exit
            // status tells what happened.
            let _ = pipe.write_all(&bytes);
        })
    });
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = read(child.0.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err = read(child.0.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let status = wait_child(&mut child.0, timeout).unwrap_or_else(|| panic!("{cmd:?} did not exit within {timeout:?}"));
    if let Some(w) = writer {
        w.join().expect("stdin writer thread");
    }
    Output {
        status,
        stdout: out.join().expect("stdout reader thread"),
        stderr: err.join().expect("stderr reader thread"),
    }
}

/// Kills (SIGKILL) and reaps a child process when dropped, also on panic.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTP client for loopback: no proxy from the environment, bounded requests.
pub fn client() -> reqwest::Client {
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert("authorization", format!("Bearer {}", admin_token()).parse().expect("a header value"));
    reqwest::Client::builder()
        .no_proxy()
        .timeout(HTTP_TIMEOUT)
        .default_headers(auth)
        .build()
        .expect("building the HTTP client")
}

/// POSTs a JSON document; the error is the transport's (connection refused, reset…).
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).expect("serialising a request body"))
        .send()
        .await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    let doc = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!("POST {url} answered {status} with a body that is not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
    });
    Ok((status, doc))
}

/// GETs a JSON document; a transport error fails the test.
pub async fn get_json(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let response = client.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
    let doc = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!("GET {url} answered {status} with a body that is not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
    });
    (status, doc)
}

/// GETs a text document; a transport error fails the test.
pub async fn get_text(client: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let response = client.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
    (status, text)
}

/// Creates a binary classifier `name` with a numeric and a categorical feature.
pub async fn create_model(client: &reqwest::Client, server: &Server, name: &str) {
    let doc = json!({
        "name": name,
        "task": "binary_classification",
        "classes": ["no", "yes"],
        "positive_class": "yes",
        "features": [
            {"name": "age", "type": "numeric"},
            {"name": "plan", "type": "categorical"},
        ],
    });
    let (status, body) = post_json(client, &server.url("/api/v1/models"), &doc).await.expect("creating a model");
    assert_eq!(status, StatusCode::CREATED, "creating model {name}: {body}");
}

/// One valid prediction event of the model made by [`create_model`]; `n` varies the
/// values.
pub fn event(request_id: &str, version: &str, n: usize) -> Value {
    let score = (n % 100) as f64 / 100.0;
    let plan = ["free", "pro", "team"][n % 3];
    json!({
        "request_id": request_id,
        "version": version,
        "features": {"age": 18 + n % 60, "plan": plan},
        "prediction": if score >= 0.5 { "yes" } else { "no" },
        "scores": score,
        "latency_ms": 0.2 + (n % 50) as f64 * 1.7,
    })
}

/// A batch body of one event per request id.
pub fn batch(ids: &[String], version: &str) -> Value {
    let events: Vec<Value> = ids.iter().enumerate().map(|(i, id)| event(id, version, i)).collect();
    json!({ "events": events })
}

/// The request id of every stored prediction of `model`, in list order, by paging
/// through `GET /api/v1/models/{model}/predictions` to the end.
pub async fn all_request_ids(client: &reqwest::Client, server: &Server, model: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    // A cursor that never ends would be a bug; bound the pages by far more than any
    // test stores.
    for _ in 0..10_000 {
        let mut url = server.url(&format!("/api/v1/models/{model}/predictions?limit=1000"));
        if let Some(c) = &cursor {
            url.push_str("&cursor=");
            url.push_str(c);
        }
        let (status, page) = get_json(client, &url).await;
        assert_eq!(status, StatusCode::OK, "listing predictions: {page}");
        let items = page["items"].as_array().expect("a page has items");
        for item in items {
            ids.push(item["request_id"].as_str().expect("a prediction has a request_id").to_owned());
        }
        match &page["next_cursor"] {
            Value::Null => return ids,
            Value::String(c) => cursor = Some(c.clone()),
            other => panic!("next_cursor is neither null nor a string: {other}"),
        }
    }
    panic!("paging predictions of {model} did not end after 10000 pages");
}

/// Asserts that no request id appears twice and returns them as a set.
pub fn distinct(ids: &[String]) -> HashSet<String> {
    let set: HashSet<String> = ids.iter().cloned().collect();
    if set.len() != ids.len() {
        let mut seen = HashSet::new();
        let twice: Vec<&String> = ids.iter().filter(|id| !seen.insert(*id)).take(20).collect();
        panic!("{} rows but {} distinct request ids; stored twice (first 20): {twice:?}", ids.len(), set.len());
    }
    set
}

/// The path of executable `name` on `PATH`, if any.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| {
        use std::os::unix::fs::PermissionsExt;
        candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// An external program a test runs for real. Missing, it fails the test when
/// `SIGHTLINE_E2E_TOOLS=1` (as `scripts/test` sets after installing it) and otherwise
/// skips the test with a notice.
pub fn external_tool(name: &str) -> Option<PathBuf> {
    if let Some(path) = on_path(name) {
        return Some(path);
    }
    let required = std::env::var("SIGHTLINE_E2E_TOOLS").is_ok_and(|v| v == "1");
    assert!(!required, "{name} is not on PATH and SIGHTLINE_E2E_TOOLS=1 requires it; run scripts/install-test-tools");
    eprintln!(
        "SKIPPED: {name} is not on PATH (scripts/install-test-tools installs it; SIGHTLINE_E2E_TOOLS=1 makes this a failure)"
    );
    None
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral loopback port")
        .port()
}
