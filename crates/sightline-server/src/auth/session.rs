//! Turning credentials into a [`Principal`]: bearer tokens (cached briefly, so ingest
//! pays a hash and a map lookup, not a database read) and browser session cookies.

use super::principal::Principal;
use super::secret;
use crate::error::{ApiError, Code};
use crate::state::blocking;
use sightline_core::Role;
use sightline_store::{SessionRecord, Store, TokenRecord};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The session cookie. `__Host-` makes browsers accept it only when Secure, without a
/// Domain, and with `Path=/`, so no subdomain or path can plant or read it.
pub const SESSION_COOKIE: &str = "__Host-sightline_session";
/// The header a cookie-authenticated state-changing request must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a resolved token is trusted before it is read again. Revocations through
/// this server's API take effect at once (the cache is cleared); changes made by the
/// CLI or another replica take effect within this time.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
const TOKEN_CACHE_MAX: usize = 10_000;
/// A session's last-seen time is written at most this often.
const SESSION_TOUCH_MS: i64 = 60_000;

#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// A session ends after this long without a request.
    pub idle: Duration,
    /// A session ends this long after login, however active.
    pub absolute: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings { idle: Duration::from_secs(30 * 60), absolute: Duration::from_secs(12 * 3600) }
    }
}

/// Resolved tokens by digest, with the time they were resolved.
type TokenCache = HashMap<[u8; 32], (Instant, Arc<Principal>)>;

pub struct Authenticator {
    store: Arc<dyn Store>,
    pub settings: SessionSettings,
    tokens: Mutex<TokenCache>,
    /// Once an administrator exists it stays known; until then every request asks the
    /// store, so an admin made by the CLI is seen at once.
    admin_exists: AtomicBool,
    /// One-time codes already used, per user.
    pub totp: super::totp::ReplayGuard,
}

/// Why credentials were not accepted (all answered 401 with the same text on purpose).
fn unauthenticated(detail: &str) -> ApiError {
    ApiError::new(Code::Unauthenticated, detail.to_owned())
}

impl Authenticator {
    pub fn new(store: Arc<dyn Store>, settings: SessionSettings) -> Authenticator {
        Authenticator {
            store,
            settings,
            tokens: Mutex::new(HashMap::new()),
            admin_exists: AtomicBool::new(false),
            totp: super::totp::ReplayGuard::default(),
        }
    }

    /// Forgets every cached token, after a revocation or a change of roles.
    pub fn invalidate(&self) {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub async fn admin_exists(&self, now_ms: i64) -> Result<bool, ApiError> {
        if self.admin_exists.load(Ordering::Acquire) {
            return Ok(true);
        }
        let store = self.store.clone();
        let exists = blocking(move || store.has_admin(now_ms)).await??;
        if exists {
            self.admin_exists.store(true, Ordering::Release);
        }
        Ok(exists)
    }

    /// The principal of a bearer token.
    pub async fn from_token(&self, token: &str, now_ms: i64) -> Result<Arc<Principal>, ApiError> {
        if !secret::is_well_formed_token(token) {
            return Err(unauthenticated("the bearer token is not a valid Sightline token"));
        }
        let hash = secret::digest(token);
        if let Some((at, p)) = self.tokens.lock().unwrap_or_else(|p| p.into_inner()).get(&hash)
            && at.elapsed() < TOKEN_CACHE_TTL
        {
            return Ok(p.clone());
        }
        let store = self.store.clone();
        let principal = blocking(move || token_principal(store.as_ref(), &hash, now_ms)).await??;
        let principal = Arc::new(principal.ok_or_else(|| unauthenticated("the token is unknown, expired or revoked"))?);
        let mut cache = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= TOKEN_CACHE_MAX {
            cache.clear();
        }
        cache.insert(hash, (Instant::now(), principal.clone()));
        Ok(principal)
    }

    /// The principal of a session cookie, with the session's CSRF digest.
    pub async fn from_session(&self, id: &str, now_ms: i64) -> Result<(Arc<Principal>, [u8; 32]), ApiError> {
        let hash = secret::digest(id);
        let store = self.store.clone();
        let settings = self.settings.clone();
        let found = blocking(move || session_principal(store.as_ref(), &hash, &settings, now_ms)).await??;
        found.map(|(p, csrf)| (Arc::new(p), csrf)).ok_or_else(|| unauthenticated("the session has ended; log in again"))
    }
}

fn token_principal(store: &dyn Store, hash: &[u8; 32], now_ms: i64) -> sightline_store::Result<Option<Principal>> {
    let Some(token) = store.token_by_hash(hash)? else { return Ok(None) };
    if !token.is_live(now_ms) {
        return Ok(None);
    }
    // A disabled user's tokens stop working with the account.
    if let Some(owner) = token.owner_user_id
        && store.get_user_by_id(owner)?.is_none_or(|u| u.disabled)
    {
        return Ok(None);
    }
    Ok(Some(principal_of_token(&token)))
}

pub fn principal_of_token(token: &TokenRecord) -> Principal {
    let (server_role, projects) = match token.project_id {
        None => (Some(token.role), HashMap::new()),
        Some(p) => (None, HashMap::from([(p, token.role)])),
    };
    Principal {
        actor: format!("token:{}", token.id),
        user_id: token.owner_user_id,
        token_id: Some(token.id),
        server_role,
        projects,
        session: None,
    }
}

fn session_principal(
    store: &dyn Store,
    hash: &[u8; 32],
    settings: &SessionSettings,
    now_ms: i64,
) -> sightline_store::Result<Option<(Principal, [u8; 32])>> {
    let Some(session) = store.get_session(hash)? else { return Ok(None) };
    let SessionRecord { user_id, csrf_hash, created_ms, last_seen_ms } = session;
    let expired = now_ms - created_ms >= settings.absolute.as_millis() as i64
        || now_ms - last_seen_ms >= settings.idle.as_millis() as i64;
    if expired {
        store.delete_session(hash)?;
        return Ok(None);
    }
    let Some(user) = store.get_user_by_id(user_id)? else { return Ok(None) };
    if user.disabled {
        return Ok(None);
    }
    if now_ms - last_seen_ms >= SESSION_TOUCH_MS {
        store.touch_session(hash, now_ms)?;
    }
    let projects = store.memberships_of_user(user.id)?.into_iter().map(|m| (m.project_id, m.role)).collect();
    let principal = Principal {
        actor: format!("user:{}", user.name),
        user_id: Some(user.id),
        token_id: None,
        server_role: user.is_admin.then_some(Role::Admin),
        projects,
        session: Some(*hash),
    };
    Ok(Some((principal, csrf_hash)))
}
