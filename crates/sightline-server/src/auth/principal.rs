//! The authenticated caller and the roles it holds.

use sightline_core::{Need, Role};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Principal {
    /// How the caller appears in the audit log: `user:<name>` or `token:<id>`.
    pub actor: String,
    pub user_id: Option<i64>,
    pub token_id: Option<i64>,
    /// A role in every project: server administrators and server-wide tokens.
    pub server_role: Option<Role>,
    pub projects: HashMap<i64, Role>,
    /// Set when authenticated by a browser session cookie (CSRF rules apply).
    pub session: Option<[u8; 32]>,
}

impl Principal {
    /// Whether the caller has `need` in `project`.
    pub fn allows(&self, project: i64, need: Need) -> bool {
        self.server_role.is_some_and(|r| r.allows(need)) || self.projects.get(&project).is_some_and(|r| r.allows(need))
    }

    /// Whether the caller has `need` server-wide.
    pub fn allows_server(&self, need: Need) -> bool {
        self.server_role.is_some_and(|r| r.allows(need))
    }

    /// Whether the caller holds any role in `project`: those who do not get 404 for its
    /// objects, so that object names in other projects do not leak.
    pub fn knows(&self, project: i64) -> bool {
        self.server_role.is_some() || self.projects.contains_key(&project)
    }

    /// The projects where the caller has `need`; `None` means all.
    pub fn projects_allowing(&self, need: Need) -> Option<Vec<i64>> {
        if self.allows_server(need) {
            return None;
        }
        let mut ids: Vec<i64> = self.projects.iter().filter(|(_, r)| r.allows(need)).map(|(&p, _)| p).collect();
        ids.sort_unstable();
        Some(ids)
    }

    /// Whether the caller may hand out `role` in `project` (to a token or a member).
    pub fn can_grant(&self, project: Option<i64>, role: Role) -> bool {
        if self.server_role == Some(Role::Admin) {
            return true;
        }
        let Some(project) = project else {
            return false; // server-wide grants are for server administrators only
        };
        self.projects.get(&project).is_some_and(|&held| held.allows(Need::Read) && held.can_grant(role))
    }
}
