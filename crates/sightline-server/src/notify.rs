//! Notifications: what is sent when an alert fires or resolves, the channels it goes
//! to, and the per-channel workers that send it with retries and log every attempt.
//!
//! Each channel has its own worker task and bounded queue, so a slow or failing
//! channel delays neither evaluation (the scheduler only enqueues) nor other channels.

pub mod alertmanager;
pub mod channel;
pub mod dispatcher;
pub mod email;
pub mod slack;
pub mod webhook;
pub mod worker;

use sightline_core::alerting::{Labels, Severity};
use std::collections::BTreeMap;

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// One notification about one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The same on every attempt and every channel, so receivers can deduplicate.
    pub id: String,
    pub status: Status,
    /// A repeat of a firing alert for channels that expire alerts unless told again
    /// (Alertmanager); other channels ignore repeats.
    pub repeat: bool,
    pub fingerprint: String,
    pub severity: Severity,
    /// The alert's labels (`monitor`, `model`, `severity`, the series and the monitor's own).
    pub labels: Labels,
    /// `summary` and, when the monitor has one, `runbook_url`.
    pub annotations: BTreeMap<String, String>,
    pub value: Option<f64>,
    pub starts_at_ms: i64,
    pub ends_at_ms: Option<i64>,
}
