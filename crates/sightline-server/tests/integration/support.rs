//! The test harness: a real server on an ephemeral port over a temporary data dir, an
//! HTTP client for it, and the fixtures (a model, valid events) the suites share.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sightline_server::{Server, ServerConfig};
use std::io::Write;
use std::net::SocketAddr;

/// One answer of the server: status, headers, and the body as text and, when it is
/// JSON, parsed (`Value::Null` otherwise).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn expect_status(&self, status: u16) {
        assert_eq!(self.status, status, "{}", self.text);
    }

    /// Asserts a problem document: the status, the problem content type, and a `status`
    /// member that agrees with the HTTP status. Returns the `detail` text.
    pub fn expect_problem(&self, status: u16) -> &str {
        assert_eq!(self.status, status, "unexpected status: {}", self.text);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "a problem document: {}", self.text);
        assert_eq!(self.json["status"], json!(status), "{}", self.text);
        self.json["detail"].as_str().expect("a problem document has a detail")
    }

    /// Every `errors[].path` of a problem document.
    pub fn error_paths(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["path"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// The bootstrap admin token; every request of `client` carries it.
    pub token: String,
    config: ServerConfig,
    client: reqwest::Client,
    /// A client that sends no credentials.
    anonymous: reqwest::Client,
    /// The CA both clients trust when the server speaks TLS.
    ca_pem: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    // Dropped last: the server's files live here.
    /// Owns the data dir (deleted on drop); `None` only once `stop` handed it on.
    dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server with the default configuration on a fresh data dir.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// A server on a fresh data dir, with the configuration adjusted by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        TestServer::start_configured(None, configure).await
    }

    /// A server speaking HTTPS with the certificate of `pki` (configuration adjusted by
    /// `configure`), and clients that trust the test CA.
    pub async fn start_tls(pki: &crate::pki::Pki, configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let files = sightline_server::TlsFiles { cert: pki.cert.clone(), key: pki.key.clone() };
        TestServer::start_configured(Some(pki.ca_pem.clone()), |config| {
            config.tls = Some(files);
            configure(config);
        })
        .await
    }

    /// `ca_pem`: the CA the clients trust when the server speaks TLS.
    async fn start_configured(ca_pem: Option<String>, configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("a temporary data dir");
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("a socket address"),
            data_dir: dir.path().to_path_buf(),
            bootstrap_token: Some(sightline_server::auth::secret::generate_token()),
            ..ServerConfig::default()
        };
        configure(&mut config);
        TestServer::launch(config, Some(dir), ca_pem).await
    }

    async fn launch(config: ServerConfig, dir: Option<tempfile::TempDir>, ca_pem: Option<String>) -> TestServer {
        let server = Server::start(config.clone()).await.expect("the server starts");
        let addr = server.local_addr().expect("the listener has an address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = rx.await;
        }));
        let token = config.bootstrap_token.clone().unwrap_or_default();
        let mut auth = HeaderMap::new();
        if !token.is_empty() {
            auth.insert("authorization", format!("Bearer {token}").parse().expect("a header value"));
        }
        let builder = || {
            let builder = reqwest::Client::builder().no_proxy();
            match &ca_pem {
                Some(pem) => builder
                    .use_rustls_tls()
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("the test CA as PEM")),
                None => builder,
            }
        };
        let client = builder().default_headers(auth).build().expect("an HTTP client");
        let anonymous = builder().build().expect("an HTTP client");
        TestServer { addr, token, config, client, anonymous, ca_pem, shutdown: Some(tx), task: Some(task), dir }
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    /// A handle on the test client, for requests made from spawned tasks.
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// Tells the server to shut down, without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts the server down gracefully and checks that it stopped cleanly.
    pub async fn stop(mut self) -> (ServerConfig, Option<tempfile::TempDir>) {
        self.begin_shutdown();
        if let Some(task) = self.task.take() {
            task.await.expect("the serve task did not panic").expect("the server stopped cleanly");
        }
        (self.config.clone(), self.dir.take())
    }

    /// Stops the server and starts a new one on the same data dir (a process restart).
    pub async fn restart(self) -> TestServer {
        self.restart_with(|_| {}).await
    }

    /// A restart with the configuration adjusted by `configure`.
    pub async fn restart_with(self, configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let ca_pem = self.ca_pem.clone();
        let (mut config, dir) = self.stop().await;
        config.listen = "127.0.0.1:0".parse().expect("a socket address");
        configure(&mut config);
        TestServer::launch(config, dir, ca_pem).await
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.config.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{}", self.addr, path)
    }

    /// Any request as the admin; `headers` are (name, value) pairs (an `authorization`
    /// among them replaces the admin's).
    pub async fn request(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Reply {
        self.send(&self.client, method, path, headers, body).await
    }

    /// Any request with the given bearer token, or none.
    pub async fn request_as(&self, token: Option<&str>, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(b) = &bearer {
            headers.push(("authorization", b.as_str()));
        }
        let bytes = body.map(|b| {
            headers.push(("content-type", "application/json"));
            serde_json::to_vec(b).expect("serializable JSON")
        });
        self.send(&self.anonymous, method, path, &headers, bytes).await
    }

    /// Any request with exactly these headers and no credentials of the harness.
    pub async fn request_as_headers(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        self.send(&self.anonymous, method, path, headers, body).await
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut req = client.request(method, self.url(path));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let response = req.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("the body is readable");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, json, text }
    }

    /// POSTs `body` with chunked transfer encoding (no `Content-Length`), written by
    /// hand over a plain TCP connection, so that only the server's own reading of the
    /// stream can enforce the body limit.
    pub async fn post_chunked(
        &self,
        path: &str,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n",
            self.addr, self.token
        );
        if let Some(ct) = content_type {
            head.push_str(&format!("content-type: {ct}\r\n"));
        }
        if let Some(ce) = content_encoding {
            head.push_str(&format!("content-encoding: {ce}\r\n"));
        }
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        for chunk in body.chunks(4096) {
            wire.extend(format!("{:x}\r\n", chunk.len()).into_bytes());
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        // Plain blocking sockets on a blocking thread: simple, and the client side
        // needs nothing from the async runtime.
        let addr = self.addr;
        let answer = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).expect("connect");
            stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("a read timeout");
            // The server may answer (and close) before reading the whole body.
            let _ = stream.write_all(&wire);
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            answer
        })
        .await
        .expect("the client thread");
        parse_response(&answer)
    }

    /// A GET with the path exactly as given (no normalization of dot segments or
    /// percent-encoding), as the admin, over a plain TCP connection.
    pub async fn raw_get(&self, path: &str) -> Reply {
        let wire = format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\nconnection: close\r\n\r\n",
            self.addr, self.token
        )
        .into_bytes();
        let addr = self.addr;
        let answer = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).expect("connect");
            stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("a read timeout");
            stream.write_all(&wire).expect("write");
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            answer
        })
        .await
        .expect("the client thread");
        parse_response(&answer)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("serializable JSON");
        self.post_raw(path, Some("application/json"), None, bytes).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut headers = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        if let Some(ce) = content_encoding {
            headers.push(("content-encoding", ce));
        }
        self.request(Method::POST, path, &headers, Some(body)).await
    }

    /// Creates a model and asserts it was created.
    pub async fn create_model(&self, spec: &Value) {
        let r = self.post_json("/api/v1/models", spec).await;
        assert_eq!(r.status, 201, "creating {spec}: {}", r.text);
    }

    /// Posts prediction events as a JSON batch and asserts full acceptance.
    pub async fn ingest(&self, model: &str, events: &[Value]) -> Reply {
        let r = self.post_json(&format!("/api/v1/models/{model}/predictions"), &json!({ "events": events })).await;
        assert_eq!(r.status, 200, "ingest: {}", r.text);
        assert_eq!(r.json["rejected"], json!([]), "ingest: {}", r.text);
        r
    }

    /// The `/metrics` exposition text.
    pub async fn metrics(&self) -> String {
        let r = self.get("/metrics").await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.text
    }

    /// The value of one series, e.g. `sightline_labels_total{model="m",version="v1"}`.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.metrics().await, series)
    }

    /// Every prediction of a model, paging through the list endpoint with `limit`.
    pub async fn all_predictions(&self, model: &str, query: &str, limit: usize) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/models/{model}/predictions?limit={limit}{query}");
            if let Some(c) = &cursor {
                path.push_str("&cursor=");
                path.push_str(c);
            }
            let r = self.get(&path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            let page = r.json["items"].as_array().expect("items");
            assert!(page.len() <= limit, "a page holds at most limit items");
            items.extend(page.iter().cloned());
            match r.json["next_cursor"].as_str() {
                Some(c) => {
                    assert_eq!(page.len(), limit, "only the last page may be short");
                    cursor = Some(c.to_owned());
                }
                None => {
                    assert!(!page.is_empty() || items.is_empty(), "{path}: a cursor led to an empty page");
                    break;
                }
            }
        }
        items
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// Parses a raw HTTP/1.1 response (fixed length or chunked body). No response at all
/// is status 0, so that a caller can report it like any wrong status.
pub fn parse_response(raw: &[u8]) -> Reply {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Reply {
            status: 0,
            headers: HeaderMap::new(),
            json: Value::Null,
            text: format!("no complete HTTP response: {:?}", String::from_utf8_lossy(raw)),
        };
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 =
        lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status line");
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.append(
                reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).expect("a header name"),
                value.trim().parse().expect("a header value"),
            );
        }
    }
    let chunked = headers.get("transfer-encoding").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    if chunked {
        let mut decoded = Vec::new();
        let mut rest = &body[..];
        while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(&String::from_utf8_lossy(&rest[..end]), 16).expect("a chunk size");
            if size == 0 {
                break;
            }
            decoded.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 2 + size + 2..];
        }
        body = decoded;
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Reply { status, headers, json, text }
}

/// The value of one series in Prometheus text exposition.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok())
    })
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip write");
    e.finish().expect("gzip finish")
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("zstd encode")
}

/// The JSON batch envelope.
pub fn batch(events: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "events": events })).expect("serializable JSON")
}

/// The same events as NDJSON lines.
pub fn ndjson(events: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        out.extend(serde_json::to_vec(e).expect("serializable JSON"));
        out.push(b'\n');
    }
    out
}

/// A binary classifier with one feature of each type; only `age` is required.
pub fn credit_model(name: &str) -> Value {
    json!({
        "name": name,
        "task": "binary_classification",
        "features": [
            {"name": "age", "type": "numeric", "nullable": false},
            {"name": "city", "type": "categorical"},
            {"name": "member", "type": "boolean"},
            {"name": "note", "type": "text"},
        ],
        "classes": ["good", "bad"],
        "positive_class": "bad",
        "description": "credit risk",
    })
}

/// A valid event of [`credit_model`].
pub fn event(request_id: &str) -> Value {
    json!({
        "request_id": request_id,
        "timestamp": "2026-01-02T03:04:05.678Z",
        "version": "v1",
        "features": {"age": 41, "city": "Paris", "member": true, "note": "first loan"},
        "prediction": "good",
        "scores": {"good": 0.8, "bad": 0.2},
        "latency_ms": 12.5,
        "tags": {"region": "eu"},
    })
}

/// `value` with the member at JSON pointer `pointer` set (the parent must exist).
pub fn with(mut value: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let slot = value.pointer_mut(parent).and_then(Value::as_object_mut).expect("the parent object exists");
    slot.insert(key.to_owned(), new);
    value
}

/// `value` without the member at JSON pointer `pointer`.
pub fn without(mut value: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    value.pointer_mut(parent).and_then(Value::as_object_mut).expect("the parent object exists").remove(key);
    value
}
