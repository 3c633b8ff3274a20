//! The access layer on SQLite: projects, users, memberships, tokens, sessions.

use super::{SqliteStore, is_unique_violation};
use crate::access::{
    AccessStore, Membership, NewToken, NewUser, ProjectRecord, SessionRecord, TokenFilter, TokenRecord, UserChange,
    UserRecord,
};
use crate::{Result, StoreError};
use rusqlite::{OptionalExtension, Row, params};
use sightline_core::Role;

fn project_from_row(r: &Row<'_>) -> rusqlite::Result<ProjectRecord> {
    Ok(ProjectRecord { id: r.get(0)?, name: r.get(1)?, created_ms: r.get(2)? })
}

const USER_COLUMNS: &str = "id, name, password_hash, is_admin, disabled, totp_secret, created_ms";

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        password_hash: r.get(2)?,
        is_admin: r.get(3)?,
        disabled: r.get(4)?,
        totp_secret: r.get(5)?,
        created_ms: r.get(6)?,
    })
}

fn role(text: &str) -> Result<Role> {
    Role::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown role {text:?}")))
}

const TOKEN_COLUMNS: &str =
    "id, name, display_prefix, owner_user_id, project_id, role, created_ms, expires_ms, revoked_ms";

type RawToken = (i64, String, String, Option<i64>, Option<i64>, String, i64, Option<i64>, Option<i64>);

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<RawToken> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
}

fn decode_token(t: RawToken) -> Result<TokenRecord> {
    let (id, name, display_prefix, owner_user_id, project_id, role_text, created_ms, expires_ms, revoked_ms) = t;
    Ok(TokenRecord {
        id,
        name,
        display_prefix,
        owner_user_id,
        project_id,
        role: role(&role_text)?,
        created_ms,
        expires_ms,
        revoked_ms,
    })
}

const MEMBERSHIP_SELECT: &str = "SELECT m.project_id, p.name, m.user_id, u.name, m.role
    FROM memberships m JOIN projects p ON p.id = m.project_id JOIN users u ON u.id = m.user_id";

fn membership_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, String, i64, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn decode_membership(
    (project_id, project, user_id, user, role_text): (i64, String, i64, String, String),
) -> Result<Membership> {
    Ok(Membership { project_id, project, user_id, user, role: role(&role_text)? })
}

fn conflict<T>(result: rusqlite::Result<T>, what: impl FnOnce() -> String) -> Result<T> {
    match result {
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(what())),
        other => Ok(other?),
    }
}

impl AccessStore for SqliteStore {
    fn create_project(&self, name: &str, now_ms: i64) -> Result<ProjectRecord> {
        self.with_reader(|c| {
            conflict(
                c.execute("INSERT INTO projects (name, created_ms) VALUES (?1, ?2)", params![name, now_ms]),
                || format!("project {name:?}"),
            )?;
            Ok(ProjectRecord { id: c.last_insert_rowid(), name: name.to_owned(), created_ms: now_ms })
        })
    }

    fn get_project(&self, name: &str) -> Result<Option<ProjectRecord>> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT id, name, created_ms FROM projects WHERE name = ?1", [name], project_from_row)
                .optional()?)
        })
    }

    fn get_project_by_id(&self, id: i64) -> Result<Option<ProjectRecord>> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT id, name, created_ms FROM projects WHERE id = ?1", [id], project_from_row)
                .optional()?)
        })
    }

    fn list_projects(&self, after: Option<&str>, limit: usize) -> Result<Vec<ProjectRecord>> {
        self.with_reader(|c| {
            let mut stmt =
                c.prepare_cached("SELECT id, name, created_ms FROM projects WHERE name > ?1 ORDER BY name LIMIT ?2")?;
            let rows = stmt.query_map(params![after.unwrap_or(""), limit as i64], project_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn create_user(&self, user: &NewUser, now_ms: i64) -> Result<UserRecord> {
        self.with_reader(|c| {
            conflict(
                c.execute(
                    "INSERT INTO users (name, password_hash, is_admin, created_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![user.name, user.password_hash, user.is_admin, now_ms],
                ),
                || format!("user {:?}", user.name),
            )?;
            Ok(UserRecord {
                id: c.last_insert_rowid(),
                name: user.name.clone(),
                password_hash: user.password_hash.clone(),
                is_admin: user.is_admin,
                disabled: false,
                totp_secret: None,
                created_ms: now_ms,
            })
        })
    }

    fn get_user(&self, name: &str) -> Result<Option<UserRecord>> {
        self.with_reader(|c| {
            Ok(c.query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"), [name], user_from_row)
                .optional()?)
        })
    }

    fn get_user_by_id(&self, id: i64) -> Result<Option<UserRecord>> {
        self.with_reader(|c| {
            Ok(c.query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"), [id], user_from_row)
                .optional()?)
        })
    }

    fn list_users(&self, after: Option<&str>, limit: usize) -> Result<Vec<UserRecord>> {
        self.with_reader(|c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE name > ?1 ORDER BY name LIMIT ?2"))?;
            let rows = stmt.query_map(params![after.unwrap_or(""), limit as i64], user_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn update_user(&self, id: i64, change: &UserChange) -> Result<Option<UserRecord>> {
        self.with_reader(|c| {
            let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
            if let Some(hash) = &change.password_hash {
                tx.execute("UPDATE users SET password_hash = ?1 WHERE id = ?2", params![hash, id])?;
            }
            if let Some(admin) = change.is_admin {
                tx.execute("UPDATE users SET is_admin = ?1 WHERE id = ?2", params![admin, id])?;
            }
            if let Some(disabled) = change.disabled {
                tx.execute("UPDATE users SET disabled = ?1 WHERE id = ?2", params![disabled, id])?;
            }
            if let Some(secret) = &change.totp_secret {
                tx.execute("UPDATE users SET totp_secret = ?1 WHERE id = ?2", params![secret, id])?;
            }
            // A new password or a disabled account ends every session: whoever held
            // the old credentials must not stay logged in.
            if change.password_hash.is_some() || change.disabled == Some(true) {
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
            }
            let user = tx
                .query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"), [id], user_from_row)
                .optional()?;
            tx.commit()?;
            Ok(user)
        })
    }

    fn has_admin(&self, now_ms: i64) -> Result<bool> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE is_admin AND NOT disabled)
                     OR EXISTS (SELECT 1 FROM tokens WHERE project_id IS NULL AND role = 'admin'
                                AND revoked_ms IS NULL AND (expires_ms IS NULL OR expires_ms > ?1))",
                [now_ms],
                |r| r.get(0),
            )?)
        })
    }

    fn set_membership(&self, project_id: i64, user_id: i64, role: Option<Role>) -> Result<()> {
        self.with_reader(|c| {
            match role {
                Some(role) => c.execute(
                    "INSERT INTO memberships (project_id, user_id, role) VALUES (?1, ?2, ?3)
                     ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
                    params![project_id, user_id, role.as_str()],
                )?,
                None => c.execute(
                    "DELETE FROM memberships WHERE project_id = ?1 AND user_id = ?2",
                    params![project_id, user_id],
                )?,
            };
            Ok(())
        })
    }

    fn memberships_of_user(&self, user_id: i64) -> Result<Vec<Membership>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&format!("{MEMBERSHIP_SELECT} WHERE m.user_id = ?1 ORDER BY p.name"))?;
            let rows = stmt.query_map([user_id], membership_from_row)?;
            rows.map(|r| decode_membership(r?)).collect()
        })
    }

    fn members_of_project(&self, project_id: i64) -> Result<Vec<Membership>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&format!("{MEMBERSHIP_SELECT} WHERE m.project_id = ?1 ORDER BY u.name"))?;
            let rows = stmt.query_map([project_id], membership_from_row)?;
            rows.map(|r| decode_membership(r?)).collect()
        })
    }

    fn create_token(&self, t: &NewToken) -> Result<TokenRecord> {
        self.with_reader(|c| {
            conflict(
                c.execute(
                    "INSERT INTO tokens (hash, display_prefix, name, owner_user_id, project_id, role, created_ms,
                                         expires_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        &t.hash[..],
                        t.display_prefix,
                        t.name,
                        t.owner_user_id,
                        t.project_id,
                        t.role.as_str(),
                        t.created_ms,
                        t.expires_ms
                    ],
                ),
                || "a token with this value".to_owned(),
            )?;
            Ok(TokenRecord {
                id: c.last_insert_rowid(),
                name: t.name.clone(),
                display_prefix: t.display_prefix.clone(),
                owner_user_id: t.owner_user_id,
                project_id: t.project_id,
                role: t.role,
                created_ms: t.created_ms,
                expires_ms: t.expires_ms,
                revoked_ms: None,
            })
        })
    }

    fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>> {
        self.with_reader(|c| {
            let row = c
                .prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"))?
                .query_row([&hash[..]], token_from_row)
                .optional()?;
            row.map(decode_token).transpose()
        })
    }

    fn get_token(&self, id: i64) -> Result<Option<TokenRecord>> {
        self.with_reader(|c| {
            let row = c
                .query_row(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"), [id], token_from_row)
                .optional()?;
            row.map(decode_token).transpose()
        })
    }

    fn list_tokens(&self, filter: TokenFilter, before: Option<i64>, limit: usize) -> Result<Vec<TokenRecord>> {
        let (clause, value) = match filter {
            TokenFilter::All => ("?1 IS NULL", None),
            TokenFilter::Project(p) => ("project_id = ?1", Some(p)),
            TokenFilter::Owner(u) => ("owner_user_id = ?1", Some(u)),
        };
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE {clause} AND id < ?2 ORDER BY id DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![value, before.unwrap_or(i64::MAX), limit as i64], token_from_row)?;
            rows.map(|r| decode_token(r?)).collect()
        })
    }

    fn revoke_token(&self, id: i64, now_ms: i64) -> Result<bool> {
        self.with_reader(|c| {
            let n = c.execute(
                "UPDATE tokens SET revoked_ms = ?1 WHERE id = ?2 AND revoked_ms IS NULL",
                params![now_ms, id],
            )?;
            Ok(n == 1)
        })
    }

    fn create_session(&self, hash: &[u8; 32], s: &SessionRecord) -> Result<()> {
        self.with_reader(|c| {
            c.execute(
                "INSERT INTO sessions (hash, user_id, csrf_hash, created_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&hash[..], s.user_id, &s.csrf_hash[..], s.created_ms, s.last_seen_ms],
            )?;
            Ok(())
        })
    }

    fn get_session(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>> {
        self.with_reader(|c| {
            let row = c
                .prepare_cached("SELECT user_id, csrf_hash, created_ms, last_seen_ms FROM sessions WHERE hash = ?1")?
                .query_row([&hash[..]], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
                })
                .optional()?;
            row.map(|(user_id, csrf, created_ms, last_seen_ms)| {
                let csrf_hash: [u8; 32] =
                    csrf.try_into().map_err(|_| StoreError::Corrupt("a session's csrf hash".into()))?;
                Ok(SessionRecord { user_id, csrf_hash, created_ms, last_seen_ms })
            })
            .transpose()
        })
    }

    fn touch_session(&self, hash: &[u8; 32], now_ms: i64) -> Result<()> {
        self.with_reader(|c| {
            c.execute("UPDATE sessions SET last_seen_ms = ?1 WHERE hash = ?2", params![now_ms, &hash[..]])?;
            Ok(())
        })
    }

    fn delete_session(&self, hash: &[u8; 32]) -> Result<()> {
        self.with_reader(|c| {
            c.execute("DELETE FROM sessions WHERE hash = ?1", [&hash[..]])?;
            Ok(())
        })
    }

    fn expire_sessions(&self, created_before: i64, idle_before: i64) -> Result<usize> {
        self.with_reader(|c| {
            Ok(c.execute(
                "DELETE FROM sessions WHERE created_ms < ?1 OR last_seen_ms < ?2",
                params![created_before, idle_before],
            )?)
        })
    }
}
