//! The Sightline server: HTTP API, ingest pipeline, metrics.
//!
//! [`Server::start`] opens the store (applying migrations), starts the writer thread and
//! binds the listener; [`Server::serve`] answers requests until the shutdown future
//! completes, then stops accepting, finishes in-flight requests and drains the writer,
//! so every acknowledged event is committed before the process exits.

pub mod aggregate;
pub mod alerting;
mod analysis;
pub mod artifacts;
pub mod auth;
pub mod batch;
pub mod body;
pub mod demo;
pub mod encryption;
pub mod error;
pub mod explain;
pub mod export;
pub mod gate;
pub mod ingest;
pub mod lineage;
pub mod metrics;
pub mod mlflow;
pub mod monitors;
pub mod notify;
pub mod performance;
mod reference;
pub mod request_log;
pub mod retraining;
pub mod routes;
pub mod security_headers;
pub mod state;
pub mod tls;
pub mod ui;
pub mod wire;

use axum::serve::ListenerExt;
use sightline_store::{KeyFileError, Keys, SqliteOptions, SqliteStore, Store, Synchronous};
use state::{AppState, Limits};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
pub use tls::{TlsError, TlsFiles};

/// Everything `sightline serve` can be told, with the defaults documented in the README.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub synchronous: Synchronous,
    /// Committed predictions kept in memory for the aggregator (0: none).
    pub aggregator_tail_events: usize,
    /// Most events (or labels) in one request.
    pub max_batch_events: usize,
    /// Most bytes in one request body, counted after decompression.
    pub max_body_bytes: usize,
    /// Most validated events waiting for the writer before requests get 429.
    pub queue_capacity_events: usize,
    /// Most (model, version) label pairs in /metrics.
    pub metrics_max_series: usize,
    /// How long in-flight requests may take to finish once shutdown starts.
    pub shutdown_grace: std::time::Duration,
    /// Certificate chain and private key to serve HTTPS with; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// Allows plain HTTP on an address other than loopback, which `start` otherwise
    /// refuses: tokens and production data would cross the network in clear text.
    pub insecure_http: bool,
    /// Longest a client may take to complete its TLS handshake.
    pub tls_handshake_timeout: std::time::Duration,
    /// The master key file (see docs/operations.md); `None`: `<data dir>/master.key`,
    /// created on first start.
    pub master_key_file: Option<PathBuf>,
    /// A token (made by `sightline admin generate-token`) that becomes a server-wide
    /// admin token on a start when no administrator exists; for automation.
    pub bootstrap_token: Option<String>,
    /// This process creates an administrator right after start (`serve --demo`), so a
    /// database without one is expected and not warned about.
    pub admin_arriving: bool,
    pub sessions: auth::session::SessionSettings,
    pub login_limits: auth::limiter::LimiterSettings,
    /// The aggregator, profile retention and drift gauges.
    pub analysis: state::AnalysisConfig,
    /// Monitors file, evaluation tick, incident policy, notification retries.
    pub alerting: alerting::AlertingSettings,
    /// The address users and pipelines reach this server at (`https://sightline.example`,
    /// perhaps behind a proxy); links in outgoing messages, such as a retraining
    /// trigger's export link, are absolute when it is set.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            data_dir: PathBuf::from("sightline-data"),
            synchronous: Synchronous::Full,
            aggregator_tail_events: SqliteOptions::default().tail_events,
            max_batch_events: 10_000,
            max_body_bytes: 32 * 1024 * 1024,
            queue_capacity_events: 200_000,
            metrics_max_series: 1_000,
            shutdown_grace: std::time::Duration::from_secs(30),
            tls: None,
            insecure_http: false,
            tls_handshake_timeout: std::time::Duration::from_secs(10),
            master_key_file: None,
            bootstrap_token: None,
            admin_arriving: false,
            sessions: auth::session::SessionSettings::default(),
            login_limits: auth::limiter::LimiterSettings::default(),
            analysis: state::AnalysisConfig::default(),
            alerting: alerting::AlertingSettings::default(),
            public_url: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use the data directory {path}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("the data directory {0} is in use by another sightline process")]
    DataDirInUse(PathBuf),
    #[error("cannot load the master keys")]
    Keys(#[source] KeyFileError),
    #[error("cannot open the database")]
    Store(#[from] sightline_store::StoreError),
    #[error("cannot listen on {addr}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the writer thread: {0}")]
    Writer(std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(
        "refusing to serve plain HTTP on {0}, which is not a loopback address: configure TLS (--tls-cert and \
         --tls-key) or pass --insecure-http to accept unencrypted connections"
    )]
    PlainHttpNotLoopback(SocketAddr),
    #[error("the bootstrap token is not a Sightline token; make one with `sightline admin generate-token`")]
    BadBootstrapToken,
    #[error(transparent)]
    Monitors(#[from] alerting::load::LoadError),
    #[error("the public URL {0:?} {1}")]
    PublicUrl(String, &'static str),
    #[error("cannot start the notifiers: {0}")]
    Notifiers(String),
    #[error("a start-up task failed")]
    Join(#[from] tokio::task::JoinError),
}

pub struct Server {
    /// Held (with its advisory lock) for the life of the server.
    _lock: std::fs::File,
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    writer: std::thread::JoinHandle<()>,
    shutdown_grace: std::time::Duration,
    /// The rustls configuration when serving HTTPS.
    tls: Option<Arc<rustls::ServerConfig>>,
    tls_handshake_timeout: std::time::Duration,
    scheduler: alerting::scheduler::Scheduler,
}

impl Server {
    pub async fn start(config: ServerConfig) -> Result<Server, StartError> {
        let public_url = config.public_url.as_deref().map(check_public_url).transpose()?;
        // Transport first: a bad certificate or a refused address must not leave a data
        // directory behind.
        let tls = match config.tls.clone() {
            Some(files) => Some(tokio::task::spawn_blocking(move || tls::server_config(&files)).await??),
            None => {
                check_plain_http(config.listen, config.insecure_http)?;
                None
            }
        };
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| StartError::DataDir { path: dir.clone(), source })?;
        let lock = lock_data_dir(&dir)?;
        let (configured, data_dir) = (config.master_key_file.clone(), dir.clone());
        let loaded = tokio::task::spawn_blocking(move || encryption::load(configured.as_deref(), &data_dir))
            .await?
            .map_err(StartError::Keys)?;
        tracing::info!(active_key = loaded.ring.active_id(), keys = ?loaded.ring.ids(), "master keys loaded");
        let keys = Arc::new(Keys::new(loaded.ring));
        let encryption = Arc::new(encryption::Encryption::new(loaded.path, keys.clone()));
        let options = SqliteOptions {
            synchronous: config.synchronous,
            tail_events: config.aggregator_tail_events,
            ..SqliteOptions::default()
        };
        let db = dir.join("sightline.db");
        let store_keys = keys.clone();
        let store: Arc<dyn Store> =
            Arc::new(tokio::task::spawn_blocking(move || SqliteStore::open(&db, options, store_keys)).await??);
        if let Some(token) = &config.bootstrap_token {
            let (store, token) = (store.clone(), token.clone());
            tokio::task::spawn_blocking(move || bootstrap(store.as_ref(), &token)).await??;
        }
        // Each start is audited with the security-relevant settings, so that a change of
        // configuration (TLS off, plain HTTP allowed, longer sessions) leaves a trace.
        let started = sightline_store::AuditEntry {
            ts_ms: wire::time::now_ms(),
            actor: "server".into(),
            source: "local".into(),
            action: "server.start".into(),
            target: config.listen.to_string(),
            outcome: format!(
                "success: tls={} insecure_http={} synchronous={:?} session_idle_s={} session_absolute_s={}",
                config.tls.is_some(),
                config.insecure_http,
                config.synchronous,
                config.sessions.idle.as_secs(),
                config.sessions.absolute.as_secs()
            ),
        };
        let probe = store.clone();
        tokio::task::spawn_blocking(move || probe.append_audit(&started)).await??;
        let probe = store.clone();
        if !config.admin_arriving
            && !tokio::task::spawn_blocking(move || probe.has_admin(wire::time::now_ms())).await??
        {
            tracing::warn!(
                "no administrator exists: the API refuses requests until one does; create one with \
                 `sightline admin create-user --name NAME --role admin` (password on stdin), or start with \
                 SIGHTLINE_BOOTSTRAP_TOKEN=$(sightline admin generate-token)"
            );
        }
        if let Some(path) = config.alerting.monitors_file.clone() {
            let probe = store.clone();
            let n =
                tokio::task::spawn_blocking(move || alerting::load::load(probe.as_ref(), &path, wire::time::now_ms()))
                    .await??;
            tracing::info!(monitors = n, "monitors file loaded");
        }
        let metrics = Arc::new(metrics::Metrics::new(config.metrics_max_series));
        let dispatcher = notify::dispatcher::Dispatcher::new(
            store.clone(),
            metrics.clone(),
            keys.clone(),
            config.alerting.retry.clone(),
        )
        .map_err(StartError::Notifiers)?;
        let scheduler = alerting::scheduler::Scheduler::new(
            store.clone(),
            alerting::signals::Signals::new(store.clone())
                .with_source(Arc::new(alerting::profile_signals::ProfileSignals {
                    store: store.clone(),
                    retention: config.analysis.retention(),
                }))
                .with_source(Arc::new(alerting::outcome_signals::OutcomeSignals::new(
                    store.clone(),
                    config.analysis.retention(),
                ))),
            Arc::new(dispatcher),
            config.alerting.clone(),
        );
        let writer = store.writer()?;
        let queue = Arc::new(ingest::WriteQueue::new(config.queue_capacity_events));
        let writer = ingest::spawn_writer(queue.clone(), writer, metrics.clone()).map_err(StartError::Writer)?;
        let limits = Limits { max_batch_events: config.max_batch_events, max_body_bytes: config.max_body_bytes };
        let authenticator = auth::session::Authenticator::new(store.clone(), config.sessions.clone());
        let limiter = auth::limiter::LoginLimiter::new(config.login_limits.clone());
        let state = Arc::new(
            AppState::new(store, limits, metrics, queue, encryption, authenticator, limiter)
                .with_analysis(config.analysis.clone())
                .with_data_dir(&config.data_dir)
                .with_outbound(config.alerting.retry.clone(), public_url),
        );

        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind { addr: config.listen, source })?;
        Ok(Server {
            _lock: lock,
            listener,
            state,
            writer,
            shutdown_grace: config.shutdown_grace,
            tls,
            tls_handshake_timeout: config.tls_handshake_timeout,
            scheduler,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then shuts down gracefully.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Server { _lock, listener, state, writer, shutdown_grace, tls, tls_handshake_timeout, scheduler } = self;
        let mut app = routes::router(state.clone());
        if tls.is_some() {
            app = app.layer(axum::middleware::from_fn(security_headers::hsts));
        }
        // Handlers and middleware can read the peer's address (`ConnectInfo<SocketAddr>`)
        // whichever listener serves them.
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        // Nothing to recover yet beyond migrations, which `start` applied.
        state.set_ready(true);
        // Profiles: the aggregator folds what is past its watermark, then follows the log.
        let aggregator = aggregate::Aggregator {
            store: state.store.clone(),
            queue: state.queue.clone(),
            keys: state.keys.clone(),
            metrics: state.metrics.clone(),
            control: state.aggregator.clone(),
            config: state.analysis.aggregator.clone(),
        }
        .spawn()?;
        let maintenance = tokio::spawn(maintain(state.clone()));
        let ingest_audit = tokio::spawn(flush_ingest_audit_periodically(state.clone()));
        // Re-encryption passes (at start if one is due, then after each key rotation).
        let reencryption = tokio::spawn(encryption::run(state.clone()));
        let drift_gauges = tokio::spawn(routes::drift::update_gauges_periodically(state.clone()));
        let retraining =
            tokio::spawn(retraining::evaluate::evaluate_periodically(state.clone(), state.analysis.retraining_tick));
        let alerting = tokio::spawn(scheduler.run());
        tracing::info!(addr = %listener.local_addr()?, tls = tls.is_some(), "listening");
        let draining = state.clone();
        let stopping = Arc::new(tokio::sync::Notify::new());
        let stop_signal = stopping.clone();
        let signal = async move {
            shutdown.await;
            draining.set_ready(false);
            tracing::info!("shutting down: finishing in-flight requests");
            stop_signal.notify_one();
        };
        // The same graceful shutdown either way: axum stops accepting (for TLS, dropping
        // the listener also abandons unfinished handshakes), lets in-flight requests end
        // and closes idle connections.
        let serving = match tls {
            None => axum::serve(listener, app).with_graceful_shutdown(signal).into_future(),
            Some(config) => {
                // axum gives `ConnectInfo<SocketAddr>` to a custom listener through
                // `tap_io`; the tap itself has nothing to do.
                let listener = tls::TlsListener::new(listener, config, tls_handshake_timeout).tap_io(|_| {});
                axum::serve(listener, app).with_graceful_shutdown(signal).into_future()
            }
        };
        // Requests get `shutdown_grace` to finish; a client that keeps a request open
        // longer is cut off. Batches already queued are committed below either way.
        let grace = shutdown_grace;
        tokio::select! {
            served = serving => served?,
            () = async {
                stopping.notified().await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!(grace_seconds = grace.as_secs_f64(), "requests still open after the grace period; closing them"),
        }
        maintenance.abort();
        ingest_audit.abort();
        alerting.abort();
        // The requests are over: their tallies go to the audit log now.
        auth::gate::flush_ingest_audit(&state).await;
        // A batch the pass already queued is still committed below, with its progress.
        reencryption.abort();
        drift_gauges.abort();
        retraining.abort();
        state.abort_retries();
        // The aggregator flushes what it folded (through the queue) before it closes.
        tokio::task::spawn_blocking(move || aggregator.stop())
            .await
            .map_err(std::io::Error::other)?
            .map_err(|_| std::io::Error::other("the aggregator thread panicked"))?;
        state.queue.close();
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .map_err(std::io::Error::other)?
            .map_err(|_| std::io::Error::other("the writer thread panicked"))?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The public URL as links are made from it (no trailing `/`), or why it cannot be one:
/// an absolute http(s) address, perhaps with a path prefix, without credentials, query
/// or fragment.
pub fn check_public_url(url: &str) -> Result<String, StartError> {
    let bad = |why| StartError::PublicUrl(url.to_owned(), why);
    let parsed = reqwest::Url::parse(url).map_err(|_| bad("is not an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("must start with http:// or https://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// Plain HTTP is for loopback (the default, and a reverse proxy on the same host that
/// terminates TLS); anywhere else it takes an explicit opt-in, and is then logged.
fn check_plain_http(listen: SocketAddr, insecure_http: bool) -> Result<(), StartError> {
    // `to_canonical` so that an IPv4-mapped loopback (::ffff:127.0.0.1) counts too.
    if listen.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    if !insecure_http {
        return Err(StartError::PlainHttpNotLoopback(listen));
    }
    tracing::warn!(
        addr = %listen,
        "serving plain HTTP on a non-loopback address (insecure_http): tokens and data cross the network unencrypted"
    );
    Ok(())
}

/// Creates the bootstrap admin token when no administrator exists; otherwise leaves
/// everything as it is (the variable may stay set in a deployment's environment).
fn bootstrap(store: &dyn Store, token: &str) -> Result<(), StartError> {
    if !auth::secret::is_well_formed_token(token) {
        return Err(StartError::BadBootstrapToken);
    }
    let now = wire::time::now_ms();
    let hash = auth::secret::digest(token);
    if store.has_admin(now)? {
        if store.token_by_hash(&hash)?.is_none() {
            tracing::info!("SIGHTLINE_BOOTSTRAP_TOKEN ignored: an administrator already exists");
        }
        return Ok(());
    }
    let record = store.create_token(&sightline_store::NewToken {
        hash,
        display_prefix: auth::secret::display_prefix(token),
        name: "bootstrap".into(),
        owner_user_id: None,
        project_id: None,
        role: sightline_core::Role::Admin,
        created_ms: now,
        expires_ms: None,
    })?;
    store.append_audit(&sightline_store::AuditEntry {
        ts_ms: now,
        actor: "server".into(),
        source: "local".into(),
        action: "token.bootstrap".into(),
        target: format!("token:{}", record.id),
        outcome: "success".into(),
    })?;
    tracing::info!(token_id = record.id, "created the bootstrap admin token");
    Ok(())
}

/// Appends the ingest tallies to the audit log every minute until aborted.
async fn flush_ingest_audit_periodically(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(auth::ingest_audit::FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate
    loop {
        tick.tick().await;
        auth::gate::flush_ingest_audit(&state).await;
    }
}

/// Runs the store's background maintenance once a second until aborted.
async fn maintain(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        ticks += 1;
        let store = state.store.clone();
        // Ended sessions are removed once a minute (they are refused anyway).
        let sessions = ticks.is_multiple_of(60).then(|| state.auth.settings.clone());
        match tokio::task::spawn_blocking(move || {
            if let Some(s) = sessions {
                let now = wire::time::now_ms();
                store.expire_sessions(now - s.absolute.as_millis() as i64, now - s.idle.as_millis() as i64)?;
            }
            store.maintain()
        })
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "store maintenance failed"),
            Err(e) => tracing::warn!(error = %e, "store maintenance task failed"),
        }
    }
}

/// Takes an exclusive advisory lock on `<data dir>/lock`, so that a second server on the
/// same directory fails at start instead of competing as a second "single" writer. The
/// operating system releases it when the process ends, however it ends.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, StartError> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StartError::DataDir { path: path.clone(), source })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::DataDirInUse(dir.to_owned())),
        Err(std::fs::TryLockError::Error(source)) => Err(StartError::DataDir { path, source }),
    }
}
