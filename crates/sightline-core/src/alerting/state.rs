//! The alert state machine per (monitor, series labels): inactive → pending → firing → resolved → inactive.
//!
//! Rules (the tests in `alerting/tests.rs` pin each one):
//! - A condition that starts to hold makes the alert `Pending` — or `Firing` at once
//!   when `for_ms` is 0. Pending becomes firing on the first evaluation at which the
//!   condition has held for at least `for_ms` (exactly `for_ms` is enough), measured
//!   from the evaluation that first saw it hold.
//! - A condition that stops holding drops a pending alert back to `Inactive` silently
//!   (nothing was ever announced) and turns a firing alert into `Resolved`.
//! - `Resolved` lasts until the next evaluation with data: it goes `Inactive` if the
//!   condition is still false, or starts a new episode (`Pending`, or `Firing` when
//!   `for_ms` is 0).
//! - A missing, NaN or infinite sample is "no data", handled by the monitor's
//!   [`NoDataPolicy`]: by default nothing changes at all.
//! - Only three transitions produce events, the ones a notifier acts on: entering
//!   pending, entering firing and resolving.

use super::baseline::Baseline;
use super::fingerprint::Fingerprint;
use super::monitor::{Condition, Direction, Labels, Monitor, NoDataPolicy};
use super::silence::{Silence, is_silenced};
use std::collections::BTreeMap;

/// Where one alert is. Times are epoch milliseconds of evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    /// The condition has held since `since_ms`, not yet for `for_ms`.
    Pending {
        since_ms: i64,
    },
    /// The condition has held since `since_ms`; the alert fired at `fired_at_ms`.
    Firing {
        since_ms: i64,
        fired_at_ms: i64,
    },
    /// The condition stopped holding at `at_ms` after firing.
    Resolved {
        at_ms: i64,
    },
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending { .. } => "pending",
            AlertState::Firing { .. } => "firing",
            AlertState::Resolved { .. } => "resolved",
        }
    }
}

/// A transition worth telling someone about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertEvent {
    /// The condition started to hold at `since_ms`.
    Pending { since_ms: i64 },
    /// The alert fired; the condition has held since `since_ms`.
    Firing { since_ms: i64 },
    /// The alert resolved after firing for `duration_ms`.
    Resolved { duration_ms: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// Evaluations must come in time order; an older one would rewrite history that
    /// notifications have already announced.
    #[error("evaluation at {now_ms} is earlier than the previous one at {last_ms}")]
    TimeWentBackwards { last_ms: i64, now_ms: i64 },
}

/// The pure transition function. `holds` is `None` for "no data, change nothing".
pub fn step(state: AlertState, holds: Option<bool>, for_ms: i64, now_ms: i64) -> (AlertState, Option<AlertEvent>) {
    let Some(holds) = holds else { return (state, None) };
    match (state, holds) {
        (AlertState::Inactive | AlertState::Resolved { .. }, true) => {
            if for_ms <= 0 {
                let next = AlertState::Firing { since_ms: now_ms, fired_at_ms: now_ms };
                (next, Some(AlertEvent::Firing { since_ms: now_ms }))
            } else {
                (AlertState::Pending { since_ms: now_ms }, Some(AlertEvent::Pending { since_ms: now_ms }))
            }
        }
        (AlertState::Inactive | AlertState::Resolved { .. }, false) => (AlertState::Inactive, None),
        (AlertState::Pending { since_ms }, true) => {
            // Saturating: times are caller input, and a difference must not overflow.
            if now_ms.saturating_sub(since_ms) >= for_ms {
                (AlertState::Firing { since_ms, fired_at_ms: now_ms }, Some(AlertEvent::Firing { since_ms }))
            } else {
                (state, None)
            }
        }
        (AlertState::Pending { .. }, false) => (AlertState::Inactive, None),
        (AlertState::Firing { .. }, true) => (state, None),
        (AlertState::Firing { fired_at_ms, .. }, false) => (
            AlertState::Resolved { at_ms: now_ms },
            Some(AlertEvent::Resolved { duration_ms: now_ms.saturating_sub(fired_at_ms) }),
        ),
    }
}

/// One alert: the state of one monitor on one series, plus what the condition needs
/// to remember (the anomaly baseline) and what people did to it (acknowledgement).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub fingerprint: Fingerprint,
    /// The series labels (e.g. `version`), without the monitor's own labels.
    pub series: Labels,
    state: AlertState,
    baseline: Baseline,
    last_eval_ms: Option<i64>,
    acknowledged: bool,
}

impl Alert {
    pub fn new(monitor_id: &str, series: Labels) -> Alert {
        Alert {
            fingerprint: Fingerprint::of(monitor_id, &series),
            series,
            state: AlertState::Inactive,
            baseline: Baseline::default(),
            last_eval_ms: None,
            acknowledged: false,
        }
    }

    /// An alert as it was stored before a restart: its state and last evaluation. The
    /// anomaly baseline starts empty (it is not stored) and the acknowledgement is the
    /// caller's to keep.
    pub fn restore(monitor_id: &str, series: Labels, state: AlertState, last_eval_ms: i64) -> Alert {
        Alert { state, last_eval_ms: Some(last_eval_ms), ..Alert::new(monitor_id, series) }
    }

    pub fn state(&self) -> AlertState {
        self.state
    }

    /// Points in the anomaly baseline (always 0 for threshold monitors).
    pub fn baseline_len(&self) -> usize {
        self.baseline.len()
    }

    pub fn is_acknowledged(&self) -> bool {
        self.acknowledged
    }

    /// Marks a pending or firing alert as acknowledged; returns whether it did. The
    /// flag belongs to the episode: the next episode starts unacknowledged, because
    /// an acknowledgement of last week's failure says nothing about today's.
    pub fn acknowledge(&mut self) -> bool {
        let active = matches!(self.state, AlertState::Pending { .. } | AlertState::Firing { .. });
        if active {
            self.acknowledged = true;
        }
        active
    }

    /// Evaluates one sample at `now_ms`. `None`, NaN and ±infinity are "no data".
    pub fn evaluate(
        &mut self,
        monitor: &Monitor,
        sample: Option<f64>,
        now_ms: i64,
    ) -> Result<Option<AlertEvent>, EvalError> {
        if let Some(last_ms) = self.last_eval_ms
            && now_ms < last_ms
        {
            return Err(EvalError::TimeWentBackwards { last_ms, now_ms });
        }
        self.last_eval_ms = Some(now_ms);
        let holds = match sample.filter(|v| v.is_finite()) {
            Some(v) => Some(self.condition_holds(&monitor.condition, v)),
            None => match monitor.no_data {
                NoDataPolicy::Keep => None,
                NoDataPolicy::Ok => Some(false),
                NoDataPolicy::Alerting => Some(true),
            },
        };
        let was_active = matches!(self.state, AlertState::Pending { .. } | AlertState::Firing { .. });
        let (next, event) = step(self.state, holds, monitor.for_ms, now_ms);
        let is_active = matches!(next, AlertState::Pending { .. } | AlertState::Firing { .. });
        if is_active && !was_active {
            self.acknowledged = false;
        }
        self.state = next;
        Ok(event)
    }

    /// Whether the condition holds for `value`; updates the anomaly baseline after
    /// judging, so the current sample is never part of its own baseline.
    fn condition_holds(&mut self, condition: &Condition, value: f64) -> bool {
        match *condition {
            Condition::Threshold { op, value: threshold } => op.holds(value, threshold),
            Condition::Anomaly { k, window_points, min_points, direction } => {
                let holds = match self.baseline.mean_std() {
                    Some((mean, std)) if self.baseline.len() >= min_points => {
                        // With zero spread any change is "more than k deviations" away;
                        // that is the literal rule and a flat signal that moves is news.
                        let limit = k * std;
                        match direction {
                            Direction::Above => value - mean > limit,
                            Direction::Below => mean - value > limit,
                            Direction::Both => (value - mean).abs() > limit,
                        }
                    }
                    _ => false,
                };
                // Anomalous samples join the baseline too: a lasting level shift becomes
                // the new normal after about a window, which ends the alert instead of
                // firing forever on a changed but healthy signal.
                self.baseline.push(value, window_points);
                holds
            }
        }
    }
}

/// A transition of one series, as handed to the notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub fingerprint: Fingerprint,
    /// The full alert labels ([`Monitor::alert_labels`]).
    pub labels: Labels,
    pub event: AlertEvent,
    pub acknowledged: bool,
    /// Whether a silence mutes it: the notifier holds it back, but the state changed
    /// all the same, so it is still reported (and recorded) here.
    pub silenced: bool,
}

/// Every alert of one monitor, keyed by series labels.
#[derive(Debug, Clone)]
pub struct MonitorAlerts {
    pub monitor: Monitor,
    alerts: BTreeMap<Labels, Alert>,
}

impl MonitorAlerts {
    pub fn new(monitor: Monitor) -> MonitorAlerts {
        MonitorAlerts { monitor, alerts: BTreeMap::new() }
    }

    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    pub fn alert_mut(&mut self, series: &Labels) -> Option<&mut Alert> {
        self.alerts.get_mut(series)
    }

    /// Puts back an alert restored after a restart ([`Alert::restore`]), replacing any of
    /// the same series.
    pub fn restore(&mut self, alert: Alert) {
        self.alerts.insert(alert.series.clone(), alert);
    }

    /// Evaluates one round: `samples` holds the series the query returned; a known
    /// series missing from it is evaluated as "no data". Returns notices in series
    /// order, so the output is deterministic, each marked silenced if one of
    /// `silences` mutes it at `now_ms`. A time error leaves every alert untouched.
    ///
    /// Series are never forgotten here: their number is bounded by what the server's
    /// query returns (versions are capped), and an anomaly baseline is worth keeping.
    pub fn evaluate(
        &mut self,
        samples: &BTreeMap<Labels, Option<f64>>,
        silences: &[Silence],
        now_ms: i64,
    ) -> Result<Vec<Notice>, EvalError> {
        if let Some(last_ms) = self.alerts.values().filter_map(|a| a.last_eval_ms).max()
            && now_ms < last_ms
        {
            return Err(EvalError::TimeWentBackwards { last_ms, now_ms });
        }
        for series in samples.keys() {
            if !self.alerts.contains_key(series) {
                self.alerts.insert(series.clone(), Alert::new(&self.monitor.id, series.clone()));
            }
        }
        let mut notices = Vec::new();
        for (series, alert) in &mut self.alerts {
            let sample = samples.get(series).copied().flatten();
            if let Some(event) = alert.evaluate(&self.monitor, sample, now_ms)? {
                let labels = self.monitor.alert_labels(series);
                notices.push(Notice {
                    fingerprint: alert.fingerprint,
                    silenced: is_silenced(silences, &labels, now_ms),
                    labels,
                    event,
                    acknowledged: alert.acknowledged,
                });
            }
        }
        Ok(notices)
    }
}
