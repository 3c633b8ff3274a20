//! Monitors and alerts, the pure part: definitions, the per-series state machine, fingerprints and silences.
//!
//! Nothing here reads a clock or a database: every evaluation takes `now_ms` (epoch
//! milliseconds) and a sample the server has already queried, so the whole life of an
//! alert can be replayed in a test with simulated time.

pub mod baseline;
pub mod fingerprint;
pub mod monitor;
pub mod silence;
pub mod state;
#[cfg(test)]
mod tests;

pub use fingerprint::Fingerprint;
pub use monitor::{Comparator, Condition, Direction, FeatureSelector, Labels, Monitor, NoDataPolicy, Severity, Signal};
pub use silence::{MatchOp, Matcher, Silence, is_silenced};
pub use state::{Alert, AlertEvent, AlertState, EvalError, MonitorAlerts, Notice, step};
