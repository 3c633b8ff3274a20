//! Silences: label matchers with a time range that mute notifications for matching alerts.
//!
//! A silenced alert still changes state; only its notifications are held back, so
//! when a silence expires the alert's true state is known at once.

use super::monitor::{Labels, check_label_name};
use crate::names::{MAX_TAG_LEN, check_text};
use crate::problem::{Problem, Reason};

/// Most matchers in one silence.
pub const MAX_MATCHERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// The label is present with exactly this value.
    Equal,
    /// The label is absent or has another value (Alertmanager's `!=`, where an absent
    /// label reads as the empty string, with the same outcome for non-empty values).
    NotEqual,
}

/// One condition on one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

impl Matcher {
    pub fn matches(&self, labels: &Labels) -> bool {
        let actual = labels.get(&self.name).map(String::as_str);
        match self.op {
            MatchOp::Equal => actual == Some(self.value.as_str()),
            MatchOp::NotEqual => actual != Some(self.value.as_str()),
        }
    }
}

/// Mutes alerts whose labels match every matcher, from `starts_at_ms` (inclusive) to
/// `ends_at_ms` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub matchers: Vec<Matcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub comment: String,
}

impl Silence {
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.starts_at_ms <= now_ms && now_ms < self.ends_at_ms
    }

    /// Whether this silence mutes an alert with `labels` at `now_ms`.
    pub fn mutes(&self, labels: &Labels, now_ms: i64) -> bool {
        // An empty matcher list would mute everything; validation refuses it, and this
        // guard keeps an unvalidated silence from doing so anyway.
        self.is_active(now_ms) && !self.matchers.is_empty() && self.matchers.iter().all(|m| m.matches(labels))
    }

    /// Checks a silence; paths are relative to the silence object.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        if self.matchers.is_empty() {
            problems.push(Problem::new(
                "matchers",
                Reason::MissingField,
                "at least one matcher is required; a silence must not mute every alert",
            ));
        }
        if self.matchers.len() > MAX_MATCHERS {
            problems.push(Problem::new("matchers", Reason::TooMany, format!("at most {MAX_MATCHERS} matchers")));
        }
        for (i, m) in self.matchers.iter().enumerate() {
            if let Err(msg) = check_label_name(&m.name) {
                problems.push(Problem::new(format!("matchers[{i}].name"), Reason::InvalidValue, msg));
            }
            if let Err(msg) = check_text(&m.value, MAX_TAG_LEN) {
                problems.push(Problem::new(format!("matchers[{i}].value"), Reason::InvalidValue, msg));
            }
        }
        if self.ends_at_ms <= self.starts_at_ms {
            problems.push(Problem::new("ends_at_ms", Reason::InvalidValue, "must be after starts_at_ms"));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}

/// Whether any silence mutes an alert with `labels` at `now_ms`.
pub fn is_silenced(silences: &[Silence], labels: &Labels, now_ms: i64) -> bool {
    silences.iter().any(|s| s.mutes(labels, now_ms))
}
