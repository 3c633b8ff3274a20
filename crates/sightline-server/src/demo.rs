//! `sightline serve --demo`: a demo user and token, a credit-risk model with two
//! versions and a reference, and live traffic sent through the server's own API.
//!
//! [`prepare`] runs before the server answers (it writes the user and token straight
//! to the store); [`spawn`] starts the generator, which waits for the server to be
//! ready and then talks to it over loopback like any client.

mod client;
mod population;
mod registry;
mod traffic;

use crate::auth::secret;
use crate::wire::time::now_ms;
use sightline_core::Role;
use sightline_store::{NewToken, NewUser, Store, UserChange};
use std::net::SocketAddr;

pub use population::MODEL;
/// The demo challenger's XGBoost model file (eight numeric inputs), which the month
/// benchmark also explains its model with.
pub use traffic::V2_MODEL as EXPLAINER_MODEL;

/// The demo user's name.
pub const USER: &str = "demo";
/// How long the generator's token lives; a new one is made at every start.
const TOKEN_LIFETIME_MS: i64 = 7 * 24 * 3_600_000;

#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Prediction events per second.
    pub rate: f64,
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig { rate: 20.0, seed: 42 }
    }
}

/// What a person needs to sign in, and the generator's token.
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot prepare the demo: {0}")]
    Store(#[from] sightline_store::StoreError),
    #[error("cannot prepare the demo: {0}")]
    Other(String),
}

/// Makes the demo administrator (or gives an existing one a new password: the
/// password is shown once, at start, and never stored in clear) and a server-wide
/// editor token for the generator.
pub async fn prepare(server: &crate::Server) -> Result<Credentials, DemoError> {
    let store = server.state.store.clone();
    tokio::task::spawn_blocking(move || prepare_store(store.as_ref()))
        .await
        .map_err(|e| DemoError::Other(e.to_string()))?
}

fn prepare_store(store: &dyn Store) -> Result<Credentials, DemoError> {
    let now = now_ms();
    let password = secret::random_secret();
    let hash = secret::hash_password(&password).map_err(DemoError::Other)?;
    match store.get_user(USER)? {
        None => {
            store.create_user(&NewUser { name: USER.into(), password_hash: hash, is_admin: true }, now)?;
        }
        Some(user) => {
            let change = UserChange {
                password_hash: Some(hash),
                is_admin: Some(true),
                disabled: Some(false),
                ..UserChange::default()
            };
            store.update_user(user.id, &change)?;
        }
    }
    let token = secret::generate_token();
    store.create_token(&NewToken {
        hash: secret::digest(&token),
        display_prefix: secret::display_prefix(&token),
        name: "demo traffic".into(),
        owner_user_id: None,
        project_id: None,
        role: Role::Editor,
        created_ms: now,
        expires_ms: Some(now + TOKEN_LIFETIME_MS),
    })?;
    store.append_audit(&sightline_store::AuditEntry {
        ts_ms: now,
        actor: "server".into(),
        source: "local".into(),
        action: "demo.prepare".into(),
        target: format!("user:{USER}"),
        outcome: "success".into(),
    })?;
    Ok(Credentials { user: USER.into(), password, token })
}

/// Starts the generator against the server listening on `addr` (an unspecified
/// address is reached on loopback). It sets up what is missing, then sends traffic
/// until the task is aborted; failures are logged, never fatal to the server.
pub fn spawn(addr: SocketAddr, token: String, config: DemoConfig) -> tokio::task::JoinHandle<()> {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    tokio::spawn(async move {
        let started = async {
            let client = client::Client::new(target, &token)?;
            let mut traffic = traffic::Traffic::new(client, config.seed)?;
            traffic.setup(config.seed, config.rate).await?;
            Ok::<_, String>(traffic)
        };
        match started.await {
            Ok(traffic) => {
                tracing::info!(model = MODEL, rate = config.rate, "demo traffic started");
                traffic.run(config.rate).await;
            }
            Err(e) => tracing::error!(error = %e, "the demo could not be set up"),
        }
    })
}
