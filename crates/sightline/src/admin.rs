//! `sightline admin`: the operator's commands on a data directory — first administrator,
//! tokens for automation, revoking and disabling in an incident. They work beside a
//! running server (SQLite coordinates the writes); the server sees a revocation within
//! its token cache time (5 s). Every change is appended to the audit log.

use anyhow::{Context, bail};
use sightline_core::Role;
use sightline_server::auth::secret;
use sightline_store::{AccessStore, AuditEntry, AuditStore, NewToken, NewUser, SqliteStore, UserChange};
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum Which {
    /// Print a new random API token (for SIGHTLINE_BOOTSTRAP_TOKEN); stores nothing.
    GenerateToken,
    /// Create a user; the password is read from the first line of standard input.
    CreateUser {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long)]
        name: String,
        /// Make the user a server administrator (the same as `--role admin` without
        /// `--project`).
        #[arg(long)]
        admin: bool,
        /// `admin` alone: a server administrator; with `--project`: the user's role in
        /// that project (ingest, viewer, editor or admin).
        #[arg(long)]
        role: Option<String>,
        /// The project of `--role`.
        #[arg(long, requires = "role")]
        project: Option<String>,
    },
    /// Disable a user: their sessions end and their tokens stop working.
    DisableUser {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long)]
        name: String,
    },
    /// Create an API token and print it (shown once).
    CreateToken {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long)]
        name: String,
        /// Scope it to this project; without, it is server-wide.
        #[arg(long)]
        project: Option<String>,
        /// ingest, viewer, editor or admin.
        #[arg(long)]
        role: String,
        /// Days until it expires; without, it does not.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke an API token by its id (as listed by `GET /api/v1/tokens`).
    RevokeToken {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long)]
        id: i64,
    },
    /// Add a new master key and re-encrypt stored payloads under it, online.
    RotateKey(crate::rotate_key::RotateArgs),
}

#[derive(Debug, clap::Args)]
pub struct DataDir {
    /// The server's data directory [default: ./sightline-data].
    #[arg(long, env = "SIGHTLINE_DATA_DIR", default_value = "sightline-data")]
    pub data_dir: PathBuf,
    /// The server's master key file [default: <data dir>/master.key, created if missing].
    #[arg(long, env = "SIGHTLINE_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

impl DataDir {
    /// Opens the database, which must exist unless `create` (a first user may be made
    /// before the first start).
    pub fn open(&self, create: bool) -> anyhow::Result<SqliteStore> {
        let db = self.data_dir.join("sightline.db");
        if !create && !db.exists() {
            bail!("no database at {}; pass --data-dir (or SIGHTLINE_DATA_DIR)", db.display());
        }
        std::fs::create_dir_all(&self.data_dir).with_context(|| format!("creating {}", self.data_dir.display()))?;
        // The same keys as the server: the store opens nothing sealed without them.
        let keys = sightline_server::encryption::load(self.master_key_file.as_deref(), &self.data_dir)
            .context("loading the master keys")?;
        let keys = std::sync::Arc::new(sightline_store::Keys::new(keys.ring));
        SqliteStore::open(&db, Default::default(), keys).with_context(|| format!("opening {}", db.display()))
    }
}

fn now_ms() -> i64 {
    sightline_server::wire::time::now_ms()
}

/// The actor of CLI changes in the audit log: the operating-system user who ran it.
fn actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

fn audit(store: &SqliteStore, action: &str, target: &str) -> anyhow::Result<()> {
    let entry = AuditEntry {
        ts_ms: now_ms(),
        actor: actor(),
        source: "local".into(),
        action: action.into(),
        target: target.into(),
        outcome: "success".into(),
    };
    store.append_audit(&entry).context("appending to the audit log")?;
    Ok(())
}

pub fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::RotateKey(args) => crate::rotate_key::run(args),
        Which::GenerateToken => {
            println!("{}", secret::generate_token());
            Ok(())
        }
        Which::CreateUser { dir, name, admin, role, project } => {
            let grant = match (role.as_deref(), project) {
                (None, _) => Grant { admin, project: None },
                (Some("admin"), None) => Grant { admin: true, project: None },
                (Some(r), None) => bail!("--role {r} needs --project (only admin is a server-wide role)"),
                (Some(r), Some(p)) => {
                    let role = Role::parse(r)
                        .with_context(|| format!("unknown role {r:?}; use ingest, viewer, editor or admin"))?;
                    Grant { admin, project: Some((p, role)) }
                }
            };
            create_user(&dir, &name, &grant, std::io::stdin().lock())
        }
        Which::DisableUser { dir, name } => {
            let store = dir.open(false)?;
            let user = store.get_user(&name)?.with_context(|| format!("no user {name:?}"))?;
            store.update_user(user.id, &UserChange { disabled: Some(true), ..UserChange::default() })?;
            audit(&store, "user.disable", &format!("user:{name}"))?;
            eprintln!("disabled {name:?}: their sessions ended and their tokens stop working");
            Ok(())
        }
        Which::CreateToken { dir, name, project, role, expires_in_days } => {
            let store = dir.open(false)?;
            let role = Role::parse(&role)
                .with_context(|| format!("unknown role {role:?}; use ingest, viewer, editor or admin"))?;
            let project_id = match &project {
                Some(p) => Some(store.get_project(p)?.with_context(|| format!("no project {p:?}"))?.id),
                None => None,
            };
            let token = secret::generate_token();
            let now = now_ms();
            let record = store.create_token(&NewToken {
                hash: secret::digest(&token),
                display_prefix: secret::display_prefix(&token),
                name,
                owner_user_id: None,
                project_id,
                role,
                created_ms: now,
                expires_ms: expires_in_days.map(|d| now + i64::from(d) * 86_400_000),
            })?;
            audit(&store, "token.create", &format!("token:{}", record.id))?;
            eprintln!("token {} ({role}, {}):", record.id, project.as_deref().unwrap_or("server-wide"));
            println!("{token}");
            Ok(())
        }
        Which::RevokeToken { dir, id } => {
            let store = dir.open(false)?;
            if store.get_token(id)?.is_none() {
                bail!("no token {id}");
            }
            store.revoke_token(id, now_ms())?;
            audit(&store, "token.revoke", &format!("token:{id}"))?;
            eprintln!("revoked token {id}");
            Ok(())
        }
    }
}

/// What a new user is given: server administration, and/or a role in a project.
struct Grant {
    admin: bool,
    project: Option<(String, Role)>,
}

fn create_user(dir: &DataDir, name: &str, grant: &Grant, mut input: impl BufRead) -> anyhow::Result<()> {
    let admin = grant.admin;
    sightline_core::names::check_slug(name).map_err(|m| anyhow::anyhow!("--name: {m}"))?;
    let mut password = String::new();
    input.read_line(&mut password).context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']);
    secret::check_password(password).map_err(|m| anyhow::anyhow!("the password {m}"))?;
    let store = dir.open(true)?;
    let hash = secret::hash_password(password).map_err(anyhow::Error::msg)?;
    let project = match &grant.project {
        Some((p, role)) => Some((store.get_project(p)?.with_context(|| format!("no project {p:?}"))?, *role)),
        None => None,
    };
    let user = store.create_user(&NewUser { name: name.into(), password_hash: hash, is_admin: admin }, now_ms())?;
    audit(&store, "user.create", &format!("user:{name}{}", if admin { " (admin)" } else { "" }))?;
    if let Some((project, role)) = project {
        store.set_membership(project.id, user.id, Some(role))?;
        audit(&store, "member.set", &format!("project:{} user:{name} role:{role}", project.name))?;
    }
    eprintln!("created {}user {name:?} in {}", if admin { "administrator " } else { "" }, display(&dir.data_dir));
    Ok(())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
