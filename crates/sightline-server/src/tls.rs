//! Transport security: loading the certificate and key into a rustls configuration
//! (TLS 1.2 and 1.3 only, ring provider), and a listener that completes TLS handshakes
//! off the accept path so that a slow client cannot hold up anyone else.

use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The PEM files `sightline serve --tls-cert --tls-key` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server certificate first, then any intermediates.
    pub cert: PathBuf,
    /// The private key of the first certificate (PKCS#8, PKCS#1 or SEC1, unencrypted).
    pub key: PathBuf,
}

/// Why the TLS configuration cannot be used. Every variant names the file at fault,
/// since this is what an operator sees at start-up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate file {path}")]
    ReadCert { path: PathBuf, source: io::Error },
    #[error("cannot read the TLS private key file {path}")]
    ReadKey { path: PathBuf, source: io::Error },
    #[error("the TLS certificate file {path} is not valid PEM: {reason}")]
    CertPem { path: PathBuf, reason: String },
    #[error("the TLS certificate file {0} holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)")]
    NoCert(PathBuf),
    #[error("the TLS private key file {path} holds no usable private key: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the private key in {key} does not match the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("cannot use the certificate in {cert} with the key in {key}: {source}")]
    Rejected { cert: PathBuf, key: PathBuf, source: rustls::Error },
}

/// What the TLS listener answers a plain-HTTP request with, so that a user who typed
/// `http://` learns why instead of seeing a dropped connection.
const PLAIN_HTTP_BODY: &str = "this port serves HTTPS only: use an https:// URL\n";

/// The first byte of every TLS record carrying a handshake message (a ClientHello).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Handshakes in progress at once; past it the listener stops accepting and new
/// connections wait in the kernel's backlog. Bounds the memory a flood of clients that
/// never finish their handshake can take (each also times out).
const MAX_PENDING_HANDSHAKES: usize = 512;

/// The rustls configuration for `files`: TLS 1.2 and 1.3 only (rustls has nothing
/// older), the ring provider's cipher suites (all AEAD with forward secrecy), HTTP/1.1
/// over ALPN. Reads the files, so call it from a blocking context.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = load_certified_key(files, &provider)?;
    let rejected = |source| TlsError::Rejected { cert: files.cert.clone(), key: files.key.clone(), source };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(rejected)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    // The server speaks HTTP/1.1 only; saying so lets a client that offers h2 fall back
    // at once.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn load_certified_key(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_pem =
        std::fs::read(&files.cert).map_err(|source| TlsError::ReadCert { path: files.cert.clone(), source })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::CertPem { path: files.cert.clone(), reason: e.to_string() })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert(files.cert.clone()));
    }
    warn_if_readable_by_others(&files.key);
    let key_pem = std::fs::read(&files.key).map_err(|source| TlsError::ReadKey { path: files.key.clone(), source })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Key {
        path: files.key.clone(),
        reason: match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "expected a PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block (encrypted keys are not \
                 supported)"
                    .to_owned()
            }
            other => other.to_string(),
        },
    })?;
    match CertifiedKey::from_der(chain, key, provider) {
        Ok(certified) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch { cert: files.cert.clone(), key: files.key.clone() })
        }
        Err(source) => Err(TlsError::Rejected { cert: files.cert.clone(), key: files.key.clone(), source }),
    }
}

/// A private key anyone on the machine can read is a key someone may already have
/// copied; say so, but serve anyway (the operator may know better, e.g. in a container).
#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the TLS private key file is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Accepts TCP connections and hands axum only those whose TLS handshake completed.
///
/// Handshakes run in their own tasks with a deadline, so a client that connects and
/// sends nothing (or a ClientHello one byte a minute) costs a task until the deadline,
/// never the accept loop. A failed handshake closes that one connection; a plain-HTTP
/// request gets a short 400 answer saying to use HTTPS. Dropping the listener (axum
/// does on shutdown) stops accepting and abandons the handshakes in progress.
pub struct TlsListener {
    /// Shared with the accept loop; the socket closes when both are gone.
    tcp: Arc<TcpListener>,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    _accepting: AbortOnDrop,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>, handshake_timeout: Duration) -> TlsListener {
        let tcp = Arc::new(listener);
        // A small queue: axum takes connections from it as fast as they come.
        let (tx, ready) = mpsc::channel(64);
        let task = tokio::spawn(accept_loop(tcp.clone(), TlsAcceptor::from(config), handshake_timeout, tx));
        TlsListener { tcp, ready, _accepting: AbortOnDrop(task.abort_handle()) }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            None => {
                // The accept loop only ends when aborted, which happens when this
                // listener is dropped; accept has no way to report an error.
                tracing::error!("the TLS accept loop stopped; no new connections are accepted");
                std::future::pending().await
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Aborts the accept loop (and so, through its `JoinSet`, every handshake in progress)
/// when the listener goes away.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn accept_loop(
    listener: Arc<TcpListener>,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    // Owning the handshake tasks here means aborting this task aborts them all.
    let mut handshakes = JoinSet::new();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            // The semaphore is never closed.
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(connection) => connection,
            Err(e) => {
                pause_after_accept_error(&e).await;
                continue;
            }
        };
        // Reap finished handshakes so the set does not grow with every connection.
        while handshakes.try_join_next().is_some() {}
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        handshakes.spawn(async move {
            let _slot = slot;
            if let Some(tls) = handshake(stream, peer, &acceptor, handshake_timeout).await {
                // Fails only once the server stopped accepting; the connection closes.
                let _ = ready.send((tls, peer)).await;
            }
        });
    }
}

/// Errors about one connection (reset before it was accepted) are nothing to wait for;
/// others (out of file descriptors) would repeat at once, so pause as axum does.
async fn pause_after_accept_error(e: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "cannot accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The TLS handshake of one connection within `deadline`; `None` (connection closed)
/// for anything else, logged at debug level because scanners and misconfigured clients
/// produce these all day and they concern no one but that client.
async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: &TlsAcceptor,
    deadline: Duration,
) -> Option<TlsStream<TcpStream>> {
    let attempt = async {
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await? == 0 {
            return Ok(None);
        }
        if first[0] != TLS_HANDSHAKE_RECORD {
            refuse_plain(stream, first[0].is_ascii_uppercase()).await;
            tracing::debug!(%peer, "refused a connection that does not start with a TLS handshake");
            return Ok(None);
        }
        acceptor.accept(stream).await.map(Some)
    };
    match tokio::time::timeout(deadline, attempt).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, timeout_seconds = deadline.as_secs_f64(), "TLS handshake timed out");
            None
        }
    }
}

/// Closes a connection that is not TLS. If it looks like HTTP (a request line starts
/// with an upper-case method) it first gets a 400 saying to use HTTPS.
async fn refuse_plain(mut stream: TcpStream, looks_like_http: bool) {
    if looks_like_http {
        let _ = stream.write_all(plain_http_answer().as_bytes()).await;
    }
    let _ = stream.shutdown().await;
    // Closing a socket with unread input makes the kernel reset the connection, which
    // can discard the answer before the client reads it; so read (a bounded amount of)
    // what the client sent until it closes. The caller's deadline bounds the wait.
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match stream.read(&mut sink).await {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

fn plain_http_answer() -> String {
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{PLAIN_HTTP_BODY}",
        PLAIN_HTTP_BODY.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_http_answer_is_a_complete_response() {
        let answer = plain_http_answer();
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert_eq!(body, PLAIN_HTTP_BODY);
    }
}
