//! Transport security against a real listener: TLS 1.3 and 1.2 served, TLS 1.1 and 1.0
//! refused, plain HTTP on the TLS port refused cleanly, handshakes that never finish cut
//! off, HSTS only with TLS, the start-up errors of a bad certificate or key, plain HTTP
//! refused off loopback, and graceful shutdown over TLS.

use crate::pki::Pki;
use crate::support::{Reply, TestServer, credit_model, parse_response};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use sightline_server::{Server, ServerConfig, TlsFiles};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A rustls client trusting the test CA that offers exactly `versions`.
fn client_config(pki: &Pki, versions: &[&'static SupportedProtocolVersion]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone().into()).expect("the test CA is a valid root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("supported versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Connects with `config`, sends `request` (raw HTTP/1.1) and returns the negotiated
/// version and the answer; the request should ask for `connection: close`.
async fn tls_exchange(addr: SocketAddr, config: Arc<ClientConfig>, request: &[u8]) -> (ProtocolVersion, Reply) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("a server name");
    let mut tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.expect("the TLS handshake");
    let version = tls.get_ref().1.protocol_version().expect("a negotiated version");
    tls.write_all(request).await.expect("write the request");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut answer))
        .await
        .expect("the answer within 30 s")
        .expect("read the answer");
    (version, parse_response(&answer))
}

const GET_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";

#[tokio::test]
async fn tls_1_3_and_1_2_are_served() {
    let pki = Pki::new();
    let server = TestServer::start_tls(&pki, |_| {}).await;
    for (versions, expected) in [
        (&[&rustls::version::TLS13][..], ProtocolVersion::TLSv1_3),
        (&[&rustls::version::TLS12][..], ProtocolVersion::TLSv1_2),
    ] {
        let (version, reply) = tls_exchange(server.addr, client_config(&pki, versions), GET_HEALTHZ).await;
        assert_eq!(version, expected);
        reply.expect_status(200);
        assert_eq!(reply.text, "ok\n");
    }
    // And the API through an ordinary HTTPS client.
    server.create_model(&credit_model("over-tls")).await;
    let r = server.get("/api/v1/models/over-tls").await;
    r.expect_status(200);
    assert_eq!(r.json["name"], "over-tls");
}

/// A ClientHello as a TLS 1.0 or 1.1 client sends it: `legacy_version` 3.1 or 3.2, no
/// `supported_versions` extension, suites of the time, and a server_name. With
/// `signature_algorithms`, the extension TLS 1.2 introduced (a newer library capped at
/// an old version may send it), the version is the only thing the server can object to.
fn old_client_hello(minor: u8, signature_algorithms: bool) -> Vec<u8> {
    let mut body = vec![3, minor];
    body.extend_from_slice(&[0x5a; 32]); // client random
    body.push(0); // no session id
    let suites: [u8; 6] = [0xc0, 0x13, 0xc0, 0x14, 0x00, 0x2f]; // ECDHE-RSA-AES128/256-SHA, RSA-AES128-SHA
    body.extend_from_slice(&(suites.len() as u16).to_be_bytes());
    body.extend_from_slice(&suites);
    body.extend_from_slice(&[1, 0]); // compression: null only
    let host = b"localhost";
    let mut sni = Vec::new();
    sni.extend_from_slice(&((host.len() + 3) as u16).to_be_bytes()); // server name list
    sni.push(0); // host_name
    sni.extend_from_slice(&(host.len() as u16).to_be_bytes());
    sni.extend_from_slice(host);
    let mut extensions = vec![0, 0]; // server_name
    extensions.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    extensions.extend_from_slice(&sni);
    if signature_algorithms {
        // ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
        extensions.extend_from_slice(&[0, 13, 0, 8, 0, 6, 4, 3, 8, 4, 4, 1]);
    }
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1]; // client_hello
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 3, 1]; // handshake record, version 3.1 as clients send
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test]
async fn tls_1_1_and_1_0_client_hellos_are_refused_with_a_protocol_version_alert() {
    let pki = Pki::new();
    let server = TestServer::start_tls(&pki, |_| {}).await;
    for (minor, signature_algorithms) in [(2u8, true), (2, false), (1, true), (1, false)] {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        tcp.write_all(&old_client_hello(minor, signature_algorithms)).await.expect("send the ClientHello");
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer))
            .await
            .expect("the server closes the connection")
            .expect("read");
        // One alert record — type 21, any version, length 2, level fatal (2) — and
        // nothing else: no ServerHello. Its description is protocol_version (70); without
        // signature_algorithms rustls objects to that first, with handshake_failure (40).
        let what = format!("TLS 1.{} ClientHello, signature_algorithms {signature_algorithms}", minor - 1);
        assert_eq!(answer.len(), 7, "{what}: expected one alert record, got {answer:02x?}");
        assert_eq!(answer[0], 0x15, "{what}: an alert record: {answer:02x?}");
        let description = if signature_algorithms { 70 } else { 40 };
        assert_eq!(&answer[3..], &[0, 2, 2, description], "{what}: a fatal alert: {answer:02x?}");
    }
    // Other clients are served all along.
    let (_, reply) = tls_exchange(server.addr, client_config(&pki, &[&rustls::version::TLS13]), GET_HEALTHZ).await;
    reply.expect_status(200);
}

#[tokio::test]
async fn plain_http_to_the_tls_port_is_refused_cleanly() {
    let pki = Pki::new();
    let server = TestServer::start_tls(&pki, |_| {}).await;
    let addr = server.addr;
    // What `curl http://…` sends: an answer saying to use HTTPS, then the connection closes.
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("a read timeout");
        stream.write_all(GET_HEALTHZ).expect("write");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("the connection closes cleanly, without a reset");
        answer
    })
    .await
    .expect("the client thread");
    let reply = parse_response(&answer);
    reply.expect_status(400);
    assert!(reply.text.contains("https://"), "{}", reply.text);
    assert_eq!(reply.header("connection"), Some("close"));

    // Bytes that are neither TLS nor HTTP: closed without an answer.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"\x00\x01garbage").await.expect("write");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest)).await.expect("closed");
    assert!(read.is_err() || rest.is_empty(), "an answer to garbage: {rest:02x?}");

    // The server serves TLS clients as before.
    server.get("/healthz").await.expect_status(200);
}

#[tokio::test]
async fn a_handshake_that_never_finishes_is_cut_off_without_holding_up_others() {
    let pki = Pki::new();
    let timeout = Duration::from_millis(500);
    let server = TestServer::start_tls(&pki, |c| c.tls_handshake_timeout = timeout).await;
    // One client connects and says nothing; another sends half a ClientHello.
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let mut half = TcpStream::connect(server.addr).await.expect("connect");
    let hello = old_client_hello(3, true);
    half.write_all(&hello[..hello.len() / 2]).await.expect("write half a ClientHello");
    // Meanwhile others are served.
    for _ in 0..3 {
        server.get("/healthz").await.expect_status(200);
    }
    for stream in [&mut silent, &mut half] {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
            .await
            .expect("the server closes a stalled handshake");
        assert!(read.is_err() || buf.is_empty(), "no answer to a stalled handshake: {buf:02x?}");
    }
    let took = started.elapsed();
    assert!(took >= timeout, "closed before the handshake timeout: {took:?}");
    server.get("/healthz").await.expect_status(200);
}

#[tokio::test]
async fn hsts_is_sent_with_tls_and_only_with_tls() {
    let pki = Pki::new();
    let tls = TestServer::start_tls(&pki, |_| {}).await;
    for r in [tls.get("/healthz").await, tls.get("/no/such/route").await] {
        assert_eq!(r.header("strict-transport-security"), Some("max-age=31536000"), "{r:?}");
    }
    let plain = TestServer::start().await;
    let r = plain.get("/healthz").await;
    r.expect_status(200);
    assert_eq!(r.header("strict-transport-security"), None);
}

fn config_in(dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        data_dir: dir.join("data"),
        ..ServerConfig::default()
    }
}

/// Starts a server that must fail, and returns its error message with every cause.
async fn start_error(config: ServerConfig) -> String {
    let data_dir = config.data_dir.clone();
    match Server::start(config).await {
        Ok(_) => panic!("the server started"),
        Err(e) => {
            assert!(!data_dir.exists(), "a refused start created the data dir");
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            message
        }
    }
}

#[tokio::test]
async fn a_bad_certificate_or_key_fails_the_start_naming_the_file() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("a temporary dir");
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
        .expect("write");
    let shown = |p: &std::path::Path| p.display().to_string();
    let cases = [
        (missing.clone(), pki.key.clone(), vec!["cannot read the TLS certificate file".to_owned(), shown(&missing)]),
        (pki.cert.clone(), missing.clone(), vec!["cannot read the TLS private key file".to_owned(), shown(&missing)]),
        (garbage.clone(), pki.key.clone(), vec!["not valid PEM".to_owned(), shown(&garbage)]),
        // A key where the certificate belongs, a certificate where the key belongs.
        (pki.key.clone(), pki.key.clone(), vec!["holds no certificate".to_owned(), shown(&pki.key)]),
        (pki.cert.clone(), pki.cert.clone(), vec!["holds no usable private key".to_owned(), shown(&pki.cert)]),
        (
            pki.cert.clone(),
            pki.other_key.clone(),
            vec!["does not match the certificate".to_owned(), shown(&pki.other_key), shown(&pki.cert)],
        ),
    ];
    for (cert, key, expected) in cases {
        let config =
            ServerConfig { tls: Some(TlsFiles { cert: cert.clone(), key: key.clone() }), ..config_in(dir.path()) };
        let message = start_error(config).await;
        for part in expected {
            assert!(message.contains(&part), "cert {cert:?}, key {key:?}: {message:?} lacks {part:?}");
        }
    }
}

#[tokio::test]
async fn plain_http_off_loopback_needs_insecure_http() {
    let dir = tempfile::tempdir().expect("a temporary dir");
    let off_loopback: SocketAddr = "0.0.0.0:0".parse().expect("an address");
    let message = start_error(ServerConfig { listen: off_loopback, ..config_in(dir.path()) }).await;
    for part in ["refusing to serve plain HTTP on 0.0.0.0:0", "configure TLS", "--insecure-http"] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
    // With the opt-in it starts (and logs a warning, checked in the binary's tests).
    let config = ServerConfig { listen: off_loopback, insecure_http: true, ..config_in(dir.path()) };
    let server = Server::start(config).await.expect("plain HTTP off loopback with insecure_http");
    drop(server);
    // Loopback needs nothing, IPv4-mapped loopback included.
    let mapped: SocketAddr = "[::ffff:127.0.0.1]:0".parse().expect("an address");
    if std::net::TcpListener::bind(mapped).is_ok() {
        let config = ServerConfig { listen: mapped, ..config_in(&dir.path().join("mapped")) };
        drop(Server::start(config).await.expect("plain HTTP on mapped loopback"));
    }
}

/// Shutdown over TLS keeps the semantics of plain HTTP: a request in flight when the
/// signal comes is answered; one that never completes is cut off after the grace period.
#[tokio::test]
async fn graceful_shutdown_over_tls_finishes_in_flight_requests_within_the_grace_period() {
    let pki = Pki::new();
    let grace = Duration::from_millis(1500);
    let mut server = TestServer::start_tls(&pki, |c| c.shutdown_grace = grace).await;
    server.create_model(&credit_model("m")).await;
    let connect = || async {
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("a server name");
        tokio_rustls::TlsConnector::from(client_config(&pki, &[&rustls::version::TLS13]))
            .connect(name, tcp)
            .await
            .expect("the TLS handshake")
    };
    let body = serde_json::to_vec(&serde_json::json!({"events": [crate::support::event("r-1")]})).expect("json");
    let head = format!(
        "POST /api/v1/models/m/predictions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         authorization: Bearer {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        server.token,
        body.len()
    );
    // In flight: headers and half the body sent before the signal, the rest after.
    let mut in_flight = connect().await;
    in_flight.write_all(head.as_bytes()).await.expect("write");
    in_flight.write_all(&body[..body.len() / 2]).await.expect("write");
    in_flight.flush().await.expect("flush");
    // Stuck: never sends its body.
    let mut stuck = connect().await;
    stuck.write_all(head.as_bytes()).await.expect("write");
    stuck.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    in_flight.write_all(&body[body.len() / 2..]).await.expect("write the rest");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), in_flight.read_to_end(&mut answer))
        .await
        .expect("an answer during shutdown")
        .expect("read");
    let reply = parse_response(&answer);
    reply.expect_status(200);
    assert_eq!(reply.json["accepted"], 1, "{}", reply.text);

    let (_config, _dir) = tokio::time::timeout(Duration::from_secs(10), server.stop()).await.expect("stopped");
    let took = started.elapsed();
    assert!(took >= grace, "stopped before the grace period ended: {took:?}");
    assert!(took < grace + Duration::from_secs(5), "took {took:?}");
    drop(stuck);
}
