//! Evaluating one retraining policy: each condition measured over the latest window(s)
//! (metrics, coverage and estimates from the outcome tallies, drift from the profiles),
//! the decision (`sightline_core::retraining`), and when it fires a trigger record,
//! handed to `delivery` for its webhook.

use super::{delivery, doc};
use crate::alerting::outcome_signals::metric;
use crate::analysis;
use crate::error::ApiError;
use crate::performance::estimate::estimated_metric;
use crate::performance::{Counted, tallied, window_counted};
use crate::routes::drift_settings;
use crate::state::{AppState, LoadedModel, blocking};
use serde_json::{Value, json};
use sightline_core::retraining::{Condition, Observation, Policy};
use sightline_stats::profile::Profile;
use sightline_store::{PolicyRecord, TriggerRecord};
use std::sync::Arc;
use std::time::Duration;

/// What one evaluation saw and did.
#[derive(Debug)]
pub struct Evaluation {
    pub policy: Policy,
    pub observations: Vec<Observation>,
    pub trigger: Option<TriggerRecord>,
}

/// The window every condition of `p` reads, ending at `now`: `window`, or for drift that
/// many windows back.
fn span(p: &Policy, now: i64) -> (i64, i64) {
    let windows = p
        .conditions
        .iter()
        .map(|c| match c {
            Condition::Drift { windows, .. } => *windows as i64,
            _ => 1,
        })
        .max()
        .unwrap_or(1);
    (now.saturating_sub(p.window_ms.saturating_mul(windows)), now)
}

/// Drifted features in each of the last `windows` windows, oldest first.
fn drift_counts(
    app: &AppState,
    model: &LoadedModel,
    p: &Policy,
    version_id: Option<i64>,
    windows: usize,
    now: i64,
) -> Result<Vec<Option<usize>>, String> {
    let store = app.store.as_ref();
    let Some(reference) =
        analysis::reference_named(store, model.id, p.version.as_deref()).map_err(|e| e.to_string())?
    else {
        return Ok(vec![None; windows]);
    };
    let reference = Profile::decode(&reference.data).map_err(|e| format!("the stored reference: {e}"))?;
    let settings = drift_settings::stored(store, model).map_err(|e| e.to_string())?;
    let names: Vec<String> = model.record.spec.features.iter().map(|f| f.name.clone()).collect();
    (0..windows as i64)
        .rev()
        .map(|k| {
            let to = now.saturating_sub(p.window_ms.saturating_mul(k));
            let (from, to) = analysis::widen(to.saturating_sub(p.window_ms), to, now, app.analysis.retention());
            let (current, rows) =
                analysis::window_profile(store, model.id, version_id, from, to).map_err(|e| e.to_string())?;
            if rows == 0 {
                return Ok(None);
            }
            let report = analysis::drift(&reference, &current, &names, &settings);
            Ok(Some(report.features.iter().filter(|c| c.outcome.as_ref().is_ok_and(|d| d.drifted)).count()))
        })
        .collect()
}

/// One observation per condition of `p`, measured at `now`.
fn measure(app: &AppState, model: &LoadedModel, p: &Policy, now: i64) -> Result<Vec<Observation>, String> {
    let store = app.store.as_ref();
    let version_id = match &p.version {
        None => None,
        Some(name) => match store.get_version(model.id, name).map_err(|e| e.to_string())? {
            Some(v) => Some(v.id),
            // A version not seen yet has no data: nothing holds.
            None => return Ok(p.conditions.iter().map(|_| Observation::Value(None)).collect()),
        },
    };
    let needs_outcomes = p.conditions.iter().any(|c| !matches!(c, Condition::Drift { .. }));
    // From the outcome tallies: the cost of the window's buckets, whatever its traffic.
    let retention = app.analysis.retention();
    let read = |from: i64, to: i64| {
        tallied::read(store, model.id, version_id, (from, to), now, retention).map_err(|e| e.to_string())
    };
    let latest_window = if needs_outcomes { Some(read(now.saturating_sub(p.window_ms), now)?) } else { None };
    let latest = latest_window.as_ref().map(|w| window_counted(&model.record.spec, &w.counted(), &w.delays, None));
    p.conditions
        .iter()
        .map(|c| {
            Ok(match c {
                Condition::Drift { windows, .. } => {
                    Observation::Drift(drift_counts(app, model, p, version_id, *windows, now)?)
                }
                Condition::MetricBelow { metric: name, .. } => {
                    Observation::Value(match latest.as_ref().map(|w| &w.metrics) {
                        Some(Some(Ok(m))) => metric(m, name),
                        _ => None,
                    })
                }
                Condition::LabelCoverageBelow { .. } => Observation::Value(
                    latest.as_ref().filter(|w| w.predictions > 0).map(|w| w.labelled as f64 / w.predictions as f64),
                ),
                Condition::EstimatedMetricBelow { metric: name, reference_from_ms, reference_to_ms, .. } => {
                    let reference = read(*reference_from_ms, *reference_to_ms)?;
                    let current = latest_window.as_ref().map(|w| w.counted()).unwrap_or_default();
                    Observation::Value(estimated(app, model, &reference.counted(), &current, name))
                }
            })
        })
        .collect()
}

/// CBPE's estimate of `name` on `rows`, fitted on `reference`; `None` when the reference
/// cannot calibrate (no labels, one class) or the window is empty.
fn estimated(
    app: &AppState,
    model: &LoadedModel,
    reference: &[Counted<'_>],
    rows: &[Counted<'_>],
    name: &str,
) -> Option<f64> {
    let spec = &model.record.spec;
    let fitted = app.estimators.fit(model.id, spec, reference, None);
    let e = fitted.as_ref().as_ref().ok()?.estimate(spec, rows)?.ok()?;
    estimated_metric(&e, name)
}

/// The API path of the training data a trigger points at.
pub fn export_path(p: &Policy, from: i64, to: i64) -> String {
    let version = p.version.as_ref().map_or_else(String::new, |v| format!("&version={v}"));
    format!("/api/v1/models/{}/export?from={from}&to={to}{version}", p.model)
}

/// Evaluates a stored policy at `now`: measures, decides, and when it fires records the
/// trigger and delivers it.
pub async fn evaluate(app: &Arc<AppState>, record: PolicyRecord, now: i64) -> Result<Evaluation, ApiError> {
    let store = app.store.clone();
    let model_id = record.model_id;
    let model_record = blocking(move || store.model_by_id(model_id))
        .await??
        .ok_or_else(|| ApiError::internal(format!("policy {:?} belongs to a model that is gone", record.id)))?;
    let model = app.model(&model_record.spec.name).await?;
    let policy = doc::from_doc(&record.spec, &model.record.spec)
        .map_err(|m| ApiError::internal(format!("stored policy {:?}: {m}", record.id)))?;
    let (state, loaded, p) = (app.clone(), model.clone(), policy.clone());
    // One decision at a time: the scheduler and `…/evaluate` may evaluate the same policy
    // at once, and each must see the other's trigger (the cooldown) before deciding.
    let deciding = app.retraining_decisions.lock().await;
    let (observations, trigger) = blocking(move || -> Result<_, ApiError> {
        let observations = measure(&state, &loaded, &p, now).map_err(ApiError::internal)?;
        // Read again under the lock: `record` may predate a trigger just recorded.
        let last_fired = state.store.get_policy(&p.id)?.and_then(|r| r.last_fired_ms);
        state.store.mark_policy_evaluated(&p.id, now)?;
        let Some(reasons) = p.decide(&observations, now, last_fired) else { return Ok((observations, None)) };
        let (from, to) = span(&p, now);
        let mut trigger = TriggerRecord {
            seq: 0,
            policy_id: p.id.clone(),
            model_id: loaded.id,
            version: p.version.clone(),
            from_ms: from,
            to_ms: to,
            reasons: json!(reasons).to_string(),
            export_path: export_path(&p, from, to),
            fired_ms: now,
            delivery: None,
        };
        trigger.seq = state.store.record_trigger(&trigger)?;
        Ok((observations, Some(trigger)))
    })
    .await??;
    drop(deciding);
    let trigger = match (trigger, policy.channel) {
        (Some(mut t), Some(channel)) => {
            t.delivery = Some(delivery::deliver(app, &t, &policy.model, model.record.project_id, channel).await);
            Some(t)
        }
        (t, _) => t,
    };
    Ok(Evaluation { policy, observations, trigger })
}

/// Evaluates every policy that is due (never evaluated, or `interval` since the last
/// time), every `tick`.
pub async fn evaluate_periodically(app: Arc<AppState>, tick: Duration) {
    delivery::resume(&app).await;
    // The first look is one tick after start, not at once: a policy created right after
    // start is evaluated by its creator's `…/evaluate` or at the next tick, never both.
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let store = app.store.clone();
        let policies = match blocking(move || store.list_policies(None)).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "retraining policies not read");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e.detail, "retraining policies not read");
                continue;
            }
        };
        let now = crate::wire::time::now_ms();
        for record in policies {
            let interval_ms = serde_json::from_str::<Value>(&record.spec)
                .ok()
                .and_then(|d| d["interval"].as_str().and_then(|t| crate::monitors::file::parse_duration(t).ok()));
            let due = match (record.last_evaluated_ms, interval_ms) {
                (None, _) => true,
                (Some(last), Some(every)) => now >= last.saturating_add(every),
                (Some(_), None) => false,
            };
            if !due {
                continue;
            }
            let id = record.id.clone();
            if let Err(e) = evaluate(&app, record, now).await {
                tracing::warn!(policy = %id, error = %e.detail, "retraining policy not evaluated");
            }
        }
    }
}
