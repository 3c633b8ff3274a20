//! Who may do what: project roles, the kinds of access a route needs, and the one rule
//! that relates them.
//!
//! Roles are granted per project (or server-wide, to server administrators and their
//! tokens). `ingest` is deliberately not below `viewer`: serving code writes events
//! but must not read production inputs back.

use serde::{Deserialize, Serialize};

/// A role in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Writes predictions, feedback and errors; reads nothing.
    Ingest,
    /// Reads everything in the project.
    Viewer,
    /// Reads, writes events, and changes models, monitors and references.
    Editor,
    /// Everything, including members, tokens, channels and the audit log.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Ingest, Role::Viewer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role grants `need`.
    pub fn allows(self, need: Need) -> bool {
        match need {
            Need::Read => matches!(self, Role::Viewer | Role::Editor | Role::Admin),
            Need::Ingest => matches!(self, Role::Ingest | Role::Editor | Role::Admin),
            Need::Edit => matches!(self, Role::Editor | Role::Admin),
            Need::Admin => self == Role::Admin,
        }
    }

    /// Whether a holder of this role may hand out `other` (to a token or a member):
    /// only what one could do oneself.
    pub fn can_grant(self, other: Role) -> bool {
        match self {
            Role::Admin => true,
            Role::Editor => matches!(other, Role::Ingest | Role::Viewer | Role::Editor),
            Role::Viewer => other == Role::Viewer,
            Role::Ingest => other == Role::Ingest,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of access an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    /// Read models, events, results.
    Read,
    /// Write predictions, feedback and errors.
    Ingest,
    /// Change models, monitors, references.
    Edit,
    /// Manage members, tokens, channels; read the audit log.
    Admin,
}

impl Need {
    pub fn as_str(self) -> &'static str {
        match self {
            Need::Read => "read",
            Need::Ingest => "ingest",
            Need::Edit => "edit",
            Need::Admin => "admin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_table() {
        use Need::*;
        let table = [
            (Role::Ingest, [false, true, false, false]),
            (Role::Viewer, [true, false, false, false]),
            (Role::Editor, [true, true, true, false]),
            (Role::Admin, [true, true, true, true]),
        ];
        for (role, expected) in table {
            let got = [Read, Ingest, Edit, Admin].map(|n| role.allows(n));
            assert_eq!(got, expected, "{role}");
        }
    }

    #[test]
    fn a_role_grants_only_what_it_can_do() {
        for holder in Role::ALL {
            for other in Role::ALL {
                if holder.can_grant(other) {
                    for need in [Need::Read, Need::Ingest, Need::Edit, Need::Admin] {
                        assert!(!other.allows(need) || holder.allows(need), "{holder} grants {other} {need:?}");
                    }
                }
            }
            assert_eq!(Role::parse(holder.as_str()), Some(holder));
        }
    }
}
