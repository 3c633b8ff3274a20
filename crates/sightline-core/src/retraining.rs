//! Retraining policies as data: the conditions under which a model should be retrained
//! (drift that persists, a realized metric below a threshold, too few labels), their
//! validation, and the decision from what the server observed. The server measures; this
//! module only judges, with time passed in.

use crate::names::check_slug;
use crate::problem::{Problem, Reason};
use serde::{Deserialize, Serialize};

/// Longest evaluation window, and longest interval or cooldown: 90 days.
pub const MAX_SPAN_MS: i64 = 90 * 24 * 3_600_000;
/// Shortest evaluation interval: a minute (retraining is not a per-second decision).
pub const MIN_INTERVAL_MS: i64 = 60_000;
/// Most conditions in one policy, and most windows a drift condition looks back.
pub const MAX_CONDITIONS: usize = 20;
pub const MAX_DRIFT_WINDOWS: usize = 100;

/// One reason to retrain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// At least `features` features drifted in each of the last `windows` windows.
    Drift { features: usize, windows: usize },
    /// A realized metric (from labels) below `threshold` over the latest window.
    MetricBelow { metric: String, threshold: f64 },
    /// The share of the latest window's predictions with a label below `threshold`.
    LabelCoverageBelow { threshold: f64 },
    /// A metric estimated without labels (CBPE) below `threshold` over the latest window,
    /// calibrated on the labelled predictions of `[reference_from_ms, reference_to_ms)`.
    EstimatedMetricBelow { metric: String, threshold: f64, reference_from_ms: i64, reference_to_ms: i64 },
}

/// What the server measured for one condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// Drifted features in each window, newest last; `None` for a window without data
    /// or without a reference (it breaks a streak).
    Drift(Vec<Option<usize>>),
    /// The metric or coverage; `None` when it has no value (no predictions, no labels).
    Value(Option<f64>),
}

impl Condition {
    fn validate(&self, path: &str, problems: &mut Vec<Problem>) {
        let bad = |field: &str, m: &str| Problem::new(format!("{path}.{field}"), Reason::InvalidValue, m.to_owned());
        match self {
            Condition::Drift { features, windows } => {
                if *features == 0 {
                    problems.push(bad("features", "must be at least 1"));
                }
                if *windows == 0 || *windows > MAX_DRIFT_WINDOWS {
                    problems.push(bad("windows", &format!("must be between 1 and {MAX_DRIFT_WINDOWS}")));
                }
            }
            Condition::MetricBelow { metric, threshold } => {
                if metric.is_empty() {
                    problems.push(bad("metric", "must name a metric"));
                }
                if !threshold.is_finite() {
                    problems.push(bad("threshold", "must be a finite number"));
                }
            }
            Condition::LabelCoverageBelow { threshold } => {
                if !(0.0..=1.0).contains(threshold) {
                    problems.push(bad("threshold", "must be between 0 and 1"));
                }
            }
            Condition::EstimatedMetricBelow { metric, threshold, reference_from_ms, reference_to_ms } => {
                if metric.is_empty() {
                    problems.push(bad("metric", "must name a metric"));
                }
                if !threshold.is_finite() {
                    problems.push(bad("threshold", "must be a finite number"));
                }
                if reference_from_ms >= reference_to_ms {
                    problems.push(bad("reference_from", "must be before reference_to"));
                }
            }
        }
    }

    /// Why the condition holds on `observation`, or `None` when it does not (a missing
    /// value never holds: no data is no evidence for retraining).
    pub fn holds(&self, observation: &Observation) -> Option<String> {
        match (self, observation) {
            (Condition::Drift { features, windows }, Observation::Drift(counts)) => {
                let last = counts.len().checked_sub(*windows).map(|start| &counts[start..])?;
                last.iter()
                    .all(|c| c.is_some_and(|n| n >= *features))
                    .then(|| format!("at least {features} features drifted in each of the last {windows} windows"))
            }
            (Condition::MetricBelow { metric, threshold }, Observation::Value(Some(v))) if v < threshold => {
                Some(format!("{metric} {v} is below {threshold}"))
            }
            (Condition::LabelCoverageBelow { threshold }, Observation::Value(Some(v))) if v < threshold => {
                Some(format!("label coverage {v} is below {threshold}"))
            }
            (Condition::EstimatedMetricBelow { metric, threshold, .. }, Observation::Value(Some(v)))
                if v < threshold =>
            {
                Some(format!("estimated {metric} {v} is below {threshold}"))
            }
            _ => None,
        }
    }
}

/// Whether every condition must hold, or one is enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    #[default]
    Any,
    All,
}

/// A policy of one model (one version, or the traffic of every version).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    pub model: String,
    pub version: Option<String>,
    pub conditions: Vec<Condition>,
    pub r#match: Match,
    /// Length of the window each condition is measured over (drift: of each window).
    pub window_ms: i64,
    /// How often the policy is evaluated.
    pub interval_ms: i64,
    /// After a trigger, no other before this long (a pipeline needs time to retrain).
    pub cooldown_ms: i64,
    /// The webhook channel the trigger is sent to; without one it is only recorded.
    pub channel: Option<i64>,
}

impl Policy {
    /// Checks the policy as a whole; paths are relative to the policy object.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        for (field, value) in [("id", Some(&self.id)), ("model", Some(&self.model)), ("version", self.version.as_ref())]
        {
            if let Some(v) = value
                && let Err(m) = check_slug(v)
            {
                problems.push(Problem::new(field, Reason::InvalidValue, m));
            }
        }
        if self.conditions.is_empty() || self.conditions.len() > MAX_CONDITIONS {
            problems.push(Problem::new(
                "conditions",
                Reason::InvalidValue,
                format!("must hold between 1 and {MAX_CONDITIONS} conditions"),
            ));
        }
        for (i, c) in self.conditions.iter().enumerate() {
            c.validate(&format!("conditions[{i}]"), &mut problems);
        }
        for (field, value, min) in [
            ("window", self.window_ms, 1),
            ("interval", self.interval_ms, MIN_INTERVAL_MS),
            ("cooldown", self.cooldown_ms, 0),
        ] {
            if value < min || value > MAX_SPAN_MS {
                problems.push(Problem::new(
                    field,
                    Reason::InvalidValue,
                    format!("must be between {min} ms and 90 days"),
                ));
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// The reasons to retrain now, or `None`: one observation per condition, in order;
    /// with [`Match::All`] every condition must hold, with [`Match::Any`] one. A policy
    /// that fired at `last_fired_ms` stays quiet until its cooldown has passed.
    pub fn decide(&self, observations: &[Observation], now_ms: i64, last_fired_ms: Option<i64>) -> Option<Vec<String>> {
        if last_fired_ms.is_some_and(|t| now_ms < t.saturating_add(self.cooldown_ms)) {
            return None;
        }
        let held: Vec<Option<String>> = self.conditions.iter().zip(observations).map(|(c, o)| c.holds(o)).collect();
        let fires = match self.r#match {
            Match::Any => held.iter().any(Option::is_some),
            Match::All => held.len() == self.conditions.len() && held.iter().all(Option::is_some),
        };
        fires.then(|| held.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(conditions: Vec<Condition>, r#match: Match) -> Policy {
        Policy {
            id: "p".into(),
            model: "m".into(),
            version: None,
            conditions,
            r#match,
            window_ms: 3_600_000,
            interval_ms: 60_000,
            cooldown_ms: 86_400_000,
            channel: None,
        }
    }

    #[test]
    fn drift_must_persist_for_every_window_asked() {
        let c = Condition::Drift { features: 2, windows: 3 };
        assert!(c.holds(&Observation::Drift(vec![Some(0), Some(2), Some(3), Some(2)])).is_some());
        assert!(c.holds(&Observation::Drift(vec![Some(2), Some(1), Some(3), Some(2)])).is_none());
        assert!(c.holds(&Observation::Drift(vec![Some(2), None, Some(3), Some(2)])).is_none(), "a gap breaks it");
        assert!(c.holds(&Observation::Drift(vec![Some(5), Some(5)])).is_none(), "too few windows");
    }

    #[test]
    fn any_all_and_cooldown() {
        let conditions = vec![
            Condition::MetricBelow { metric: "accuracy".into(), threshold: 0.8 },
            Condition::LabelCoverageBelow { threshold: 0.5 },
        ];
        let low_accuracy = [Observation::Value(Some(0.7)), Observation::Value(Some(0.9))];
        let any = policy(conditions.clone(), Match::Any);
        assert_eq!(any.decide(&low_accuracy, 0, None), Some(vec!["accuracy 0.7 is below 0.8".to_owned()]));
        assert_eq!(policy(conditions.clone(), Match::All).decide(&low_accuracy, 0, None), None);
        let both = [Observation::Value(Some(0.7)), Observation::Value(Some(0.2))];
        assert_eq!(policy(conditions, Match::All).decide(&both, 0, None).map(|r| r.len()), Some(2));
        // Within the cooldown: quiet; after it: fires again. No data never fires.
        assert_eq!(any.decide(&low_accuracy, 1_000, Some(0)), None);
        assert!(any.decide(&low_accuracy, 86_400_000, Some(0)).is_some());
        assert_eq!(any.decide(&[Observation::Value(None), Observation::Value(None)], 0, None), None);
    }

    #[test]
    fn validation_names_the_field() {
        let mut p = policy(vec![Condition::Drift { features: 0, windows: 0 }], Match::Any);
        p.interval_ms = 1_000;
        let paths: Vec<String> = p.validate().expect_err("invalid").into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["conditions[0].features", "conditions[0].windows", "interval"]);
        assert!(policy(vec![], Match::Any).validate().is_err());
    }
}
