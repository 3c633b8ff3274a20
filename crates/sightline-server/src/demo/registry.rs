//! The demo's registry entries, made through the registry API like any client's: each
//! version's facts (parameters, tags, and metrics measured on a seeded hold-out of the
//! demo population), v1 in `Production` as `@champion` and v2 in `Staging` as
//! `@challenger`, v2's model file as an artifact, and a promotion gate; once the first
//! hour of traffic is in, `@production` is pointed at v1, which runs the gate and keeps
//! its report with the version.

use super::client::Client;
use super::population::{MODEL, Population};
use rand::SeedableRng;
use rand::rngs::StdRng;
use reqwest::Method;
use serde_json::{Map, Value, json};
use sightline_stats::performance::{BinaryRecord, Decision, binary};
use std::time::{Duration, Instant};

/// Applicants in the hold-out each version's metrics are measured on.
const HOLDOUT_ROWS: usize = 5_000;
/// Longest wait for the aggregator to fold the history before the gate reads drift.
const PROFILES_WAIT: Duration = Duration::from_secs(20);

/// ROC AUC, accuracy and log loss of a version's scores on the undrifted population.
fn holdout_metrics(population: &Population, seed: u64, version: &str) -> Result<Value, String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x401d_0a7e);
    let records: Vec<BinaryRecord> = (0..HOLDOUT_ROWS)
        .map(|_| {
            let a = population.draw(&mut rng, 0.0);
            let label = population.defaults(&mut rng, &a);
            let score = population.score(&mut rng, &a, version);
            BinaryRecord { label, prediction: score >= 0.5, score }
        })
        .collect();
    let m = binary(&records, Decision::Threshold(0.5)).map_err(|e| format!("hold-out metrics of {version}: {e}"))?;
    let mut out = Map::new();
    for (name, value) in
        [("holdout_roc_auc", m.roc_auc), ("holdout_accuracy", m.accuracy), ("holdout_log_loss", m.log_loss)]
    {
        if let Some(v) = value {
            out.insert(name.into(), json!(v));
        }
    }
    Ok(Value::Object(out))
}

/// The version facts, stages, aliases, artifact and gate of a new demo model.
pub async fn record(client: &Client, population: &Population, seed: u64, v2_model: &[u8]) -> Result<(), String> {
    let facts = [
        ("v1", json!({"team": "risk", "family": "logistic scorecard"}), json!({"decision_threshold": "0.5"})),
        (
            "v2",
            json!({"team": "risk", "family": "gradient-boosted trees", "trained_by": "scripts/demo/train_explainer.py"}),
            // The training script's parameters.
            json!({"objective": "binary:logistic", "max_depth": "4", "eta": "0.15", "num_boost_round": "60",
                   "tree_method": "exact", "decision_threshold": "0.5"}),
        ),
    ];
    for (version, tags, params) in facts {
        let body = json!({"tags": tags, "params": params, "metrics": holdout_metrics(population, seed, version)?});
        client.ensure(Method::PATCH, &format!("/models/{MODEL}/versions/{version}"), &body).await?;
    }
    let moves = [
        ("v1", "Production", "champion", "the scorecard in service since the demo began"),
        ("v2", "Staging", "challenger", "compared with the champion on live traffic"),
    ];
    for (version, stage, alias, reason) in moves {
        let stage_body = json!({"stage": stage, "reason": reason});
        client.ensure(Method::PUT, &format!("/models/{MODEL}/versions/{version}/stage"), &stage_body).await?;
        let alias_body = json!({"version": version, "reason": reason});
        client.ensure(Method::PUT, &format!("/models/{MODEL}/aliases/{alias}"), &alias_body).await?;
    }
    let path = format!("/models/{MODEL}/versions/v2/artifacts/model/credit_risk_v2.json");
    let (status, answer) = client.send(Method::PUT, &path, "application/octet-stream", v2_model.to_vec()).await?;
    if !status.is_success() {
        return Err(format!("cannot upload the demo's v2 artifact: {status} {answer}"));
    }
    let gate = json!({"lookback_hours": 1, "performance": {"roc_auc": {"min": 0.7}}, "max_share_drifted": 0.5});
    client.ensure(Method::PUT, &format!("/models/{MODEL}/promotion-gate"), &gate).await?;
    Ok(())
}

/// Points `@production` at v1 once the history's profiles are in, so that the gate is
/// evaluated on real numbers and its report kept; a failed gate leaves the alias unset
/// (the report says why), which is not an error of the demo.
pub async fn check_gate(client: &Client) -> Result<(), String> {
    let deadline = Instant::now() + PROFILES_WAIT;
    loop {
        let (status, drift) = client.json(Method::GET, &format!("/models/{MODEL}/drift"), &Value::Null).await?;
        if (status.is_success() && drift["rows"].as_u64() > Some(0)) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let body = json!({"version": "v1", "reason": "the champion, checked against the promotion gate"});
    let (status, answer) = client.json(Method::PUT, &format!("/models/{MODEL}/aliases/production"), &body).await?;
    if status.is_success() || status == reqwest::StatusCode::CONFLICT {
        Ok(())
    } else {
        Err(format!("cannot point @production at v1: {status} {answer}"))
    }
}
