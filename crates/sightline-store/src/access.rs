//! Records and storage of the access layer: projects, users, memberships, API tokens
//! and browser sessions.
//!
//! Secrets never reach this crate in clear: tokens and session ids arrive as SHA-256
//! digests, passwords as Argon2id hashes. The server makes and checks them.

use crate::Result;
use sightline_core::Role;

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRecord {
    pub id: i64,
    pub name: String,
    pub created_ms: i64,
}

/// The project every database starts with; models created without naming a project go
/// there.
pub const DEFAULT_PROJECT: &str = "default";

#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: i64,
    pub name: String,
    /// PHC string of an Argon2id hash.
    pub password_hash: String,
    /// A server administrator: admin of every project, manages users and projects.
    pub is_admin: bool,
    pub disabled: bool,
    /// The TOTP secret, sealed by the server (never stored in clear); `None` without a
    /// second factor.
    pub totp_secret: Option<Vec<u8>>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
}

/// A change to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserChange {
    pub password_hash: Option<String>,
    pub is_admin: Option<bool>,
    pub disabled: Option<bool>,
    /// `Some(None)` removes the second factor.
    pub totp_secret: Option<Option<Vec<u8>>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub project_id: i64,
    pub project: String,
    pub user_id: i64,
    pub user: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it in lists; not a secret.
    pub display_prefix: String,
    /// The user who made it; `None` for tokens made by another token or the CLI.
    pub owner_user_id: Option<i64>,
    /// The project it is scoped to; `None` for a server-wide token.
    pub project_id: Option<i64>,
    pub role: Role,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

impl TokenRecord {
    /// Whether the token may be used at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.revoked_ms.is_none() && self.expires_ms.is_none_or(|e| now_ms < e)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    /// SHA-256 of the token text.
    pub hash: [u8; 32],
    pub display_prefix: String,
    pub name: String,
    pub owner_user_id: Option<i64>,
    pub project_id: Option<i64>,
    pub role: Role,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
}

/// Which tokens to list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TokenFilter {
    All,
    Project(i64),
    Owner(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub user_id: i64,
    /// SHA-256 of the session's CSRF token.
    pub csrf_hash: [u8; 32],
    pub created_ms: i64,
    pub last_seen_ms: i64,
}

/// Storage of the access layer. Times are parameters.
pub trait AccessStore {
    /// Creates a project; `Conflict` if the name is taken.
    fn create_project(&self, name: &str, now_ms: i64) -> Result<ProjectRecord>;
    fn get_project(&self, name: &str) -> Result<Option<ProjectRecord>>;
    fn get_project_by_id(&self, id: i64) -> Result<Option<ProjectRecord>>;
    /// Projects ordered by name, strictly after `after`.
    fn list_projects(&self, after: Option<&str>, limit: usize) -> Result<Vec<ProjectRecord>>;

    /// Creates a user; `Conflict` if the name is taken.
    fn create_user(&self, user: &NewUser, now_ms: i64) -> Result<UserRecord>;
    fn get_user(&self, name: &str) -> Result<Option<UserRecord>>;
    fn get_user_by_id(&self, id: i64) -> Result<Option<UserRecord>>;
    fn list_users(&self, after: Option<&str>, limit: usize) -> Result<Vec<UserRecord>>;
    /// Applies `change`; `None` if the user does not exist. Disabling a user or changing
    /// the password ends all the user's sessions.
    fn update_user(&self, id: i64, change: &UserChange) -> Result<Option<UserRecord>>;
    /// Whether any enabled server administrator exists: an enabled admin user or a live
    /// server-wide admin token.
    fn has_admin(&self, now_ms: i64) -> Result<bool>;

    /// Grants `role` in a project to a user, or removes the membership with `None`.
    fn set_membership(&self, project_id: i64, user_id: i64, role: Option<Role>) -> Result<()>;
    /// A user's memberships, by project name.
    fn memberships_of_user(&self, user_id: i64) -> Result<Vec<Membership>>;
    /// A project's members, by user name.
    fn members_of_project(&self, project_id: i64) -> Result<Vec<Membership>>;

    fn create_token(&self, token: &NewToken) -> Result<TokenRecord>;
    fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>>;
    fn get_token(&self, id: i64) -> Result<Option<TokenRecord>>;
    /// Tokens newest first, strictly before id `before`.
    fn list_tokens(&self, filter: TokenFilter, before: Option<i64>, limit: usize) -> Result<Vec<TokenRecord>>;
    /// Marks a token revoked; `false` if it does not exist or was already revoked.
    fn revoke_token(&self, id: i64, now_ms: i64) -> Result<bool>;

    fn create_session(&self, hash: &[u8; 32], session: &SessionRecord) -> Result<()>;
    fn get_session(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>>;
    fn touch_session(&self, hash: &[u8; 32], now_ms: i64) -> Result<()>;
    fn delete_session(&self, hash: &[u8; 32]) -> Result<()>;
    /// Deletes sessions created before `created_before` or idle since before `idle_before`.
    fn expire_sessions(&self, created_before: i64, idle_before: i64) -> Result<usize>;
}
