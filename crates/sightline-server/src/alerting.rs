//! Monitors at run time: the monitors file loaded at start, the scheduler that
//! evaluates every monitor on its interval, the signal sources it reads, and the
//! policy that opens incidents from firing alerts.

pub mod context;
pub mod load;
pub mod outcome_signals;
pub mod policy;
pub mod profile_signals;
pub mod scheduler;
pub mod signals;

use crate::notify::worker::RetrySettings;
use sightline_core::alerting::Severity;
use std::path::PathBuf;
use std::time::Duration;

/// How alerting runs; see `ServerConfig::alerting`.
#[derive(Debug, Clone)]
pub struct AlertingSettings {
    /// A TOML monitors file (configuration as code) loaded at start.
    pub monitors_file: Option<PathBuf>,
    /// How often the scheduler looks for due monitors (their intervals are at least 1 s;
    /// a short tick keeps evaluation close to the interval).
    pub tick: Duration,
    /// Firing alerts at or above this severity open an incident; `None`: never.
    pub incident_min_severity: Option<Severity>,
    /// How often a firing alert is sent to Alertmanager again (it expires alerts it has
    /// not heard of for its `resolve_timeout`, 5 minutes by default).
    pub alertmanager_resend: Duration,
    /// How often unresolved incidents get new versions and error groups of their model
    /// linked ([`context`]).
    pub context_interval: Duration,
    pub retry: RetrySettings,
}

impl Default for AlertingSettings {
    fn default() -> Self {
        AlertingSettings {
            monitors_file: None,
            tick: Duration::from_millis(250),
            incident_min_severity: Some(Severity::High),
            alertmanager_resend: Duration::from_secs(60),
            context_interval: Duration::from_secs(10),
            retry: RetrySettings::default(),
        }
    }
}
