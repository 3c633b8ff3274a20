//! The scheduler: one task that wakes every tick, evaluates the monitors that are due
//! (each on its own interval, with `now_ms` from the server clock), stores each alert's
//! state and transitions, hands notifications to the dispatcher and applies the
//! incident policy.
//!
//! Alert state lives in memory ([`MonitorAlerts`], with anomaly baselines) and is
//! mirrored to the store after each evaluation for the API. After a restart the stored
//! states are restored (anomaly baselines start empty), so a firing alert is not
//! announced twice and its resolution is.

use super::AlertingSettings;
use super::policy;
use super::signals::Signals;
use crate::monitors::doc;
use crate::notify::dispatcher::Dispatcher;
use crate::notify::{Notification, Status};
use crate::wire::time::now_ms;
use sightline_core::alerting::monitor::RESERVED_LABELS;
use sightline_core::alerting::{
    Alert, AlertEvent, AlertState, Fingerprint, Labels, MatchOp, Matcher, Monitor, MonitorAlerts, Notice, Silence,
};
use sightline_store::{AlertEventRecord, AlertQuery, AlertRecord, MonitorRecord, Page, Store};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

struct Entry {
    /// The stored definition this state was built from; a change starts afresh.
    spec: String,
    record: MonitorRecord,
    alerts: MonitorAlerts,
    next_due_ms: i64,
    /// Last sample per series, for the stored alert and the notification.
    values: BTreeMap<Labels, Option<f64>>,
    /// When each firing alert was last sent to Alertmanager.
    sent_ms: HashMap<String, i64>,
}

pub struct Scheduler {
    store: Arc<dyn Store>,
    signals: Signals,
    dispatcher: Arc<Dispatcher>,
    settings: AlertingSettings,
    monitors: HashMap<String, Entry>,
}

/// Reads a stored silence into the pure type; a damaged row mutes nothing.
pub fn silence_of(record: &sightline_store::SilenceRecord) -> Option<Silence> {
    let matchers: Vec<serde_json::Value> = serde_json::from_str(&record.matchers).ok()?;
    let matchers = matchers
        .iter()
        .map(|m| {
            Some(Matcher {
                name: m.get("name")?.as_str()?.to_owned(),
                op: match m.get("op")?.as_str()? {
                    "=" => MatchOp::Equal,
                    "!=" => MatchOp::NotEqual,
                    _ => return None,
                },
                value: m.get("value")?.as_str()?.to_owned(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Silence {
        matchers,
        starts_at_ms: record.starts_ms,
        ends_at_ms: record.ends_ms,
        comment: record.comment.clone(),
    })
}

/// The stored alerts of `monitor` as the state machine needs them after a restart (or a
/// changed definition), so a firing alert neither fires twice nor resolves unannounced.
/// A row whose labels do not give back its fingerprint (a series label equal to one of
/// the monitor's own) is left out: it starts inactive, as before this existed.
fn restored(monitor: &Monitor, rows: &[AlertRecord]) -> Vec<Alert> {
    let mut out = Vec::new();
    for row in rows {
        let Ok(labels) = serde_json::from_str::<Labels>(&row.labels) else { continue };
        let series: Labels = labels
            .into_iter()
            .filter(|(k, v)| !RESERVED_LABELS.contains(&k.as_str()) && monitor.labels.get(k) != Some(v))
            .collect();
        if Fingerprint::of(&monitor.id, &series).to_string() != row.fingerprint {
            continue;
        }
        let state = match (row.state.as_str(), row.since_ms, row.fired_ms, row.resolved_ms) {
            ("pending", Some(since_ms), _, _) => AlertState::Pending { since_ms },
            ("firing", Some(since_ms), Some(fired_at_ms), _) => AlertState::Firing { since_ms, fired_at_ms },
            ("resolved", _, _, Some(at_ms)) => AlertState::Resolved { at_ms },
            _ => AlertState::Inactive,
        };
        out.push(Alert::restore(&monitor.id, series, state, row.last_eval_ms));
    }
    out
}

fn state_times(state: AlertState) -> (&'static str, Option<i64>, Option<i64>, Option<i64>) {
    match state {
        AlertState::Inactive => ("inactive", None, None, None),
        AlertState::Pending { since_ms } => ("pending", Some(since_ms), None, None),
        AlertState::Firing { since_ms, fired_at_ms } => ("firing", Some(since_ms), Some(fired_at_ms), None),
        AlertState::Resolved { at_ms } => ("resolved", None, None, Some(at_ms)),
    }
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn Store>,
        signals: Signals,
        dispatcher: Arc<Dispatcher>,
        settings: AlertingSettings,
    ) -> Self {
        Scheduler { store, signals, dispatcher, settings, monitors: HashMap::new() }
    }

    /// Runs until aborted.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(self.settings.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let context_every = self.settings.context_interval.as_millis() as i64;
        let mut context_due = 0;
        loop {
            tick.tick().await;
            let now = now_ms();
            if let Err(e) = self.round(now).await {
                tracing::warn!(error = %e, "alerting round failed");
            }
            if now >= context_due {
                context_due = now.saturating_add(context_every);
                let store = self.store.clone();
                match tokio::task::spawn_blocking(move || super::context::link_context(store.as_ref(), now)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "linking incident context failed"),
                    Err(e) => tracing::warn!(error = %e, "linking incident context failed"),
                }
            }
        }
    }

    /// Picks up monitor changes, then evaluates those due at `now_ms`.
    pub async fn round(&mut self, now_ms: i64) -> Result<(), String> {
        let store = self.store.clone();
        let records = tokio::task::spawn_blocking(move || store.list_monitors(None, &Page::all()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        self.monitors.retain(|id, _| records.iter().any(|r| r.id == *id));
        for record in records {
            if self.monitors.get(&record.id).is_some_and(|e| e.spec == record.spec) {
                if let Some(e) = self.monitors.get_mut(&record.id) {
                    e.record = record;
                }
                continue;
            }
            match doc::from_stored(&record.spec) {
                Ok(monitor) => {
                    let mut alerts = MonitorAlerts::new(monitor.clone());
                    let store = self.store.clone();
                    let stored = tokio::task::spawn_blocking(move || {
                        let q = AlertQuery { monitor_id: Some(monitor.id.clone()), ..AlertQuery::default() };
                        store.list_alerts(&q).map(|rows| restored(&monitor, &rows))
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                    match stored {
                        Ok(restored) => restored.into_iter().for_each(|a| alerts.restore(a)),
                        Err(e) => tracing::warn!(monitor = %record.id, error = %e, "stored alerts not restored"),
                    }
                    let entry = Entry {
                        spec: record.spec.clone(),
                        record: record.clone(),
                        alerts,
                        next_due_ms: now_ms,
                        values: BTreeMap::new(),
                        sent_ms: HashMap::new(),
                    };
                    self.monitors.insert(record.id.clone(), entry);
                }
                Err(e) => tracing::error!(monitor = %record.id, error = %e, "stored monitor cannot be read; skipped"),
            }
        }
        let due: Vec<String> =
            self.monitors.iter().filter(|(_, e)| e.next_due_ms <= now_ms).map(|(id, _)| id.clone()).collect();
        for id in due {
            if let Err(e) = self.evaluate(&id, now_ms).await {
                tracing::warn!(monitor = %id, error = %e, "monitor evaluation failed");
            }
        }
        Ok(())
    }

    async fn evaluate(&mut self, id: &str, now_ms: i64) -> Result<(), String> {
        let Some(entry) = self.monitors.get_mut(id) else { return Ok(()) };
        // Scheduled on the interval grid from the first evaluation, so a slow round
        // does not drift the schedule; a long stall skips the missed slots.
        let interval = entry.alerts.monitor.interval_ms.max(1);
        entry.next_due_ms += interval * ((now_ms - entry.next_due_ms) / interval + 1);
        let (store, signals) = (self.store.clone(), self.signals.clone());
        let (monitor, model_id, project_id) =
            (entry.alerts.monitor.clone(), entry.record.model_id, entry.record.project_id);
        let (samples, silences) = tokio::task::spawn_blocking(move || {
            let samples = signals.sample(&monitor, model_id, now_ms);
            let silences = store.list_silences(Some(&[project_id]), now_ms, &Page::all()).map_err(|e| e.to_string());
            (samples, silences)
        })
        .await
        .map_err(|e| e.to_string())?;
        let samples = samples?;
        let silences: Vec<Silence> = silences?.iter().filter_map(silence_of).collect();
        let notices = entry.alerts.evaluate(&samples, &silences, now_ms).map_err(|e| e.to_string())?;
        for (series, value) in &samples {
            entry.values.insert(series.clone(), *value);
        }
        // Mirror every alert of this monitor.
        let monitor = entry.alerts.monitor.clone();
        let mut rows = Vec::new();
        for alert in entry.alerts.alerts() {
            let labels = monitor.alert_labels(&alert.series);
            let (state, since_ms, fired_ms, resolved_ms) = state_times(alert.state());
            rows.push(AlertRecord {
                fingerprint: alert.fingerprint.to_string(),
                monitor_id: monitor.id.clone(),
                labels: serde_json::to_string(&labels).unwrap_or_else(|_| "{}".into()),
                state: state.into(),
                since_ms,
                fired_ms,
                resolved_ms,
                last_eval_ms: now_ms,
                value: entry.values.get(&alert.series).copied().flatten(),
                silenced: sightline_core::alerting::is_silenced(&silences, &labels, now_ms),
                acknowledged_ms: None,
                acknowledged_by: None,
            });
        }
        // Repeats for Alertmanager while firing and not silenced.
        let resend_ms = self.settings.alertmanager_resend.as_millis() as i64;
        let mut repeats = Vec::new();
        for row in &rows {
            if row.state == "firing" && !row.silenced {
                let last = entry.sent_ms.get(&row.fingerprint).copied().unwrap_or(i64::MIN);
                if now_ms.saturating_sub(last) >= resend_ms {
                    repeats.push(row.clone());
                }
            } else {
                entry.sent_ms.remove(&row.fingerprint);
            }
        }
        for n in &notices {
            if matches!(n.event, AlertEvent::Firing { .. }) && !n.silenced {
                entry.sent_ms.insert(n.fingerprint.to_string(), now_ms);
            }
        }
        let store = self.store.clone();
        let (persist_rows, persist_notices, min) = (rows.clone(), notices.clone(), self.settings.incident_min_severity);
        let persist_monitor = monitor.clone();
        let at = Round { project_id, min, now_ms };
        tokio::task::spawn_blocking(move || persist(&*store, &persist_monitor, at, &persist_rows, &persist_notices))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        for n in notices.iter().filter(|n| !n.silenced) {
            let (status, starts, ends) = match n.event {
                AlertEvent::Pending { .. } => continue,
                AlertEvent::Firing { since_ms } => (Status::Firing, since_ms, None),
                AlertEvent::Resolved { duration_ms } => (Status::Resolved, now_ms - duration_ms, Some(now_ms)),
            };
            let value = rows.iter().find(|r| r.fingerprint == n.fingerprint.to_string()).and_then(|r| r.value);
            self.dispatcher.dispatch(project_id, &notification(&monitor, n, status, false, value, starts, ends)).await;
        }
        for row in repeats {
            if notices.iter().any(|n| n.fingerprint.to_string() == row.fingerprint) {
                continue; // just announced
            }
            if let Some(e) = self.monitors.get_mut(id) {
                e.sent_ms.insert(row.fingerprint.clone(), now_ms);
            }
            let labels: Labels = serde_json::from_str(&row.labels).unwrap_or_default();
            let n = Notification {
                id: uuid::Uuid::new_v4().to_string(),
                status: Status::Firing,
                repeat: true,
                fingerprint: row.fingerprint.clone(),
                severity: monitor.severity,
                annotations: annotations(&monitor, &labels, row.value),
                labels,
                value: row.value,
                starts_at_ms: row.since_ms.unwrap_or(now_ms),
                ends_at_ms: None,
            };
            self.dispatcher.dispatch(project_id, &n).await;
        }
        Ok(())
    }
}

fn annotations(m: &sightline_core::alerting::Monitor, labels: &Labels, value: Option<f64>) -> BTreeMap<String, String> {
    let version = labels.get("version").map(|v| format!(" version {v}")).unwrap_or_default();
    let value = value.map(|v| format!(" is {v}")).unwrap_or_else(|| " has no data".into());
    let mut out =
        BTreeMap::from([("summary".to_owned(), format!("{} of model {}{version}{value}", m.signal.kind(), m.model))]);
    if let Some(url) = &m.runbook_url {
        out.insert("runbook_url".into(), url.clone());
    }
    out
}

fn notification(
    m: &sightline_core::alerting::Monitor,
    n: &Notice,
    status: Status,
    repeat: bool,
    value: Option<f64>,
    starts_at_ms: i64,
    ends_at_ms: Option<i64>,
) -> Notification {
    Notification {
        id: uuid::Uuid::new_v4().to_string(),
        status,
        repeat,
        fingerprint: n.fingerprint.to_string(),
        severity: m.severity,
        annotations: annotations(m, &n.labels, value),
        labels: n.labels.clone(),
        value,
        starts_at_ms,
        ends_at_ms,
    }
}

/// Where an evaluation happened: the monitor's project, the incident policy's
/// threshold, the time.
#[derive(Debug, Clone, Copy)]
struct Round {
    project_id: i64,
    min: Option<sightline_core::alerting::Severity>,
    now_ms: i64,
}

/// Stores the alerts, their transitions and the incident policy's effects. Blocking.
fn persist(
    store: &dyn Store,
    monitor: &sightline_core::alerting::Monitor,
    at: Round,
    rows: &[AlertRecord],
    notices: &[Notice],
) -> sightline_store::Result<()> {
    let Round { project_id, min, now_ms } = at;
    for row in rows {
        store.save_alert(row)?;
    }
    for n in notices {
        let fingerprint = n.fingerprint.to_string();
        let value = rows.iter().find(|r| r.fingerprint == fingerprint).and_then(|r| r.value);
        let kind = match n.event {
            AlertEvent::Pending { .. } => "pending",
            AlertEvent::Firing { .. } => "firing",
            AlertEvent::Resolved { .. } => "resolved",
        };
        store.append_alert_event(&AlertEventRecord {
            seq: 0,
            fingerprint: fingerprint.clone(),
            monitor_id: monitor.id.clone(),
            kind: kind.into(),
            ts_ms: now_ms,
            value,
            silenced: n.silenced,
        })?;
        if n.silenced {
            continue;
        }
        match n.event {
            AlertEvent::Firing { .. } => {
                let alert = policy::Firing {
                    project_id,
                    fingerprint: &fingerprint,
                    version: n.labels.get("version").map(String::as_str),
                    value,
                    now_ms,
                };
                policy::on_firing(store, min, monitor, alert)?
            }
            AlertEvent::Resolved { duration_ms } => {
                policy::on_resolved(store, monitor, &fingerprint, duration_ms, now_ms)?
            }
            AlertEvent::Pending { .. } => {}
        }
    }
    Ok(())
}
