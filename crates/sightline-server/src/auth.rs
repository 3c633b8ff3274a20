//! Authentication and authorization: who is calling ([`Principal`]), what each route
//! needs ([`Access`]), and the gate that checks one against the other before any
//! handler runs.
//!
//! Deny by default: every route in the route table declares its [`Access`]; the gate is
//! applied to each route as it is added, so a route cannot exist without a check.

pub mod gate;
pub mod ingest_audit;
pub mod limiter;
pub mod principal;
pub mod secret;
pub mod session;
pub mod totp;

pub use principal::Principal;

use sightline_core::Need;

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, even before an administrator exists: probes, the API description, login.
    Public,
    /// Any authenticated caller (their own identity, logout, their own tokens).
    Authenticated,
    /// The need, server-wide (a server administrator or a server-wide token).
    Server(Need),
    /// The need in the project of the `{model}` in the path.
    Model(Need),
    /// The need in the `{project}` of the path.
    Project(Need),
    /// An authenticated caller; the handler checks the need against the project it
    /// finds in the body or filters what it lists. The role matrix test covers each.
    Handler(Need),
}

impl Access {
    /// Whether a state-changing request on this route is written to the audit log
    /// one entry per request. Event ingest is audited in summaries instead
    /// ([`ingest_audit`]); public routes audit their own events (login).
    pub fn is_audited(self) -> bool {
        !matches!(self, Access::Public | Access::Model(Need::Ingest))
    }

    /// Whether this is an event-ingest route (audited in summaries).
    pub fn is_ingest(self) -> bool {
        self == Access::Model(Need::Ingest)
    }
}
