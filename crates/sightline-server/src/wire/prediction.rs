//! Prediction events: JSON object → validated [`PredictionEvent`], and stored
//! prediction → JSON.

use super::json::{scalar, wrong_type};
use super::loose::{Fields, Loose};
use serde_json::{Map, Value, json};
use sightline_core::event::check_outputs;
use sightline_core::names::{MAX_REQUEST_ID_LEN, MAX_TAG_LEN, MAX_TAGS, MAX_TEXT_LEN, check_slug, check_text};
use sightline_core::problem::field_path;
use sightline_core::{ErrorInfo, FeatureValue, ModelIndex, PredictionEvent, Problem, Reason, Scalar, Target};
use sightline_store::StoredPrediction;
use std::borrow::Cow;

const FIELDS: [&str; 10] = [
    "request_id",
    "timestamp",
    "version",
    "features",
    "prediction",
    "scores",
    "latency_ms",
    "tags",
    "error",
    "attributions",
];
const REQUEST_ID: usize = 0;
const TIMESTAMP: usize = 1;
const VERSION: usize = 2;
const FEATURES: usize = 3;
const PREDICTION: usize = 4;
const SCORES: usize = 5;
const LATENCY_MS: usize = 6;
const TAGS: usize = 7;
const ERROR: usize = 8;
const ATTRIBUTIONS: usize = 9;

/// Reports unknown and repeated keys of an object.
pub fn key_problems<const N: usize>(
    fields: &Fields<'_, N>,
    names: &[&str; N],
    what: &str,
    problems: &mut Vec<Problem>,
) {
    for key in &fields.unknown {
        problems.push(Problem::new(
            field_path("", key),
            Reason::UnknownField,
            format!("unknown field; {what} has {}", names.join(", ")),
        ));
    }
    for key in &fields.duplicate {
        problems.push(Problem::new(field_path("", key), Reason::InvalidValue, "the key appears more than once"));
    }
}

/// Validates one event object. Problem paths are relative to the event.
pub fn parse(value: Loose<'_>, model: &ModelIndex, received_ms: i64) -> Result<PredictionEvent, Vec<Problem>> {
    let Loose::Object(entries) = value else {
        return Err(vec![wrong_type("", "an event object", &value)]);
    };
    let mut f = Fields::sort(entries, &FIELDS);
    let mut problems = Vec::new();
    key_problems(&f, &FIELDS, "an event", &mut problems);

    let request_id = request_id(f.take(REQUEST_ID), &mut problems);
    let timestamp_ms = timestamp(f.take(TIMESTAMP), received_ms, &mut problems);
    let version = match f.take(VERSION) {
        None | Some(Loose::Null) => {
            problems.push(Problem::new("version", Reason::MissingField, "required: the model version that served it"));
            String::new()
        }
        Some(Loose::Str(s)) => {
            if let Err(m) = check_slug(&s) {
                problems.push(Problem::new("version", Reason::InvalidValue, m));
            }
            s.into_owned()
        }
        Some(other) => {
            problems.push(wrong_type("version", "a string", &other));
            String::new()
        }
    };
    let features = match f.take(FEATURES) {
        None | Some(Loose::Null) => Vec::new(),
        Some(Loose::Object(entries)) => scalars_of(entries, "features", &mut problems),
        Some(other) => {
            problems.push(wrong_type("features", "an object of feature values", &other));
            Vec::new()
        }
    };
    let latency_ms = match f.take(LATENCY_MS) {
        None | Some(Loose::Null) => None,
        Some(Loose::Int(i)) if i >= 0 => Some(i as f64),
        Some(Loose::Float(x)) if x >= 0.0 => Some(x),
        Some(Loose::Int(_) | Loose::Float(_)) => {
            problems.push(Problem::new("latency_ms", Reason::InvalidValue, "must be a non-negative number"));
            None
        }
        Some(other) => {
            problems.push(wrong_type("latency_ms", "a number of milliseconds", &other));
            None
        }
    };
    let tags = tags(f.take(TAGS), &mut problems);
    let error = error(f.take(ERROR), &mut problems);
    let attributions = attributions(f.take(ATTRIBUTIONS), model, &mut problems);
    let prediction = match f.take(PREDICTION) {
        None => None,
        Some(v) => match scalar(v) {
            Ok(s) => Some(s),
            Err(kind) => {
                problems.push(Problem::new(
                    "prediction",
                    Reason::WrongType,
                    format!("expected a class label or a number, got {kind}"),
                ));
                Some(Scalar::Null)
            }
        },
    };
    let scores = match f.take(SCORES) {
        None | Some(Loose::Null) => Vec::new(),
        Some(Loose::Object(entries)) => scalars_of(entries, "scores", &mut problems),
        // A bare number is the positive-class probability of a binary classifier.
        Some(n @ (Loose::Int(_) | Loose::Float(_))) if model.spec.positive_class.is_some() => {
            let positive = model.spec.positive_class.clone().unwrap_or_default();
            vec![(Cow::Owned(positive), scalar(n).unwrap_or(Scalar::Null))]
        }
        Some(other) => {
            problems.push(wrong_type("scores", "an object of class probabilities", &other));
            Vec::new()
        }
    };

    let had_problems = !problems.is_empty();
    match check_outputs(model, features, prediction, scores, error.is_some()) {
        Ok(out) if !had_problems => Ok(PredictionEvent {
            request_id,
            timestamp_ms,
            version,
            features: out.features,
            prediction: out.prediction,
            scores: out.scores,
            latency_ms,
            tags,
            error,
            attributions,
        }),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

/// Reads an optional timestamp; absent means "when the server received it".
pub fn timestamp(value: Option<Loose<'_>>, received_ms: i64, problems: &mut Vec<Problem>) -> i64 {
    match value {
        None | Some(Loose::Null) => received_ms,
        Some(v) => super::time::parse(&v).unwrap_or_else(|m| {
            problems.push(Problem::new("timestamp", Reason::InvalidValue, m));
            0
        }),
    }
}

/// Reads a request id: a non-empty string (or an integer, kept as its decimal spelling).
pub fn request_id(value: Option<Loose<'_>>, problems: &mut Vec<Problem>) -> String {
    match value {
        None | Some(Loose::Null) => {
            problems.push(Problem::new("request_id", Reason::MissingField, "required: a unique id of the prediction"));
            String::new()
        }
        Some(Loose::Str(s)) if s.is_empty() => {
            problems.push(Problem::new("request_id", Reason::InvalidValue, "must not be empty"));
            String::new()
        }
        Some(Loose::Str(s)) => {
            if let Err(m) = check_text(&s, MAX_REQUEST_ID_LEN) {
                problems.push(Problem::new("request_id", Reason::TooLong, m));
            }
            s.into_owned()
        }
        Some(Loose::Int(i)) => i.to_string(),
        Some(other) => {
            problems.push(wrong_type("request_id", "a string", &other));
            String::new()
        }
    }
}

/// The request id an item declares, if it is readable, for reporting a rejection.
/// Borrowed from the body where possible: it is taken for every item but turned into a
/// `String` only for the few that are rejected.
pub fn declared_request_id<'a>(value: &Loose<'a>) -> Option<Cow<'a, str>> {
    let Loose::Object(entries) = value else { return None };
    entries.iter().find(|(k, _)| k == "request_id").and_then(|(_, v)| match v {
        Loose::Str(s) => Some(s.clone()),
        Loose::Int(i) => Some(Cow::Owned(i.to_string())),
        // Not a valid id, but naming it helps the client find the item.
        Loose::Float(x) => Some(Cow::Owned(x.to_string())),
        _ => None,
    })
}

fn scalars_of<'a>(
    entries: Vec<(Cow<'a, str>, Loose<'a>)>,
    parent: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(Cow<'a, str>, Scalar)> {
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        match scalar(value) {
            Ok(s) => out.push((key, s)),
            Err(kind) => problems.push(Problem::new(
                field_path(parent, &key),
                Reason::WrongType,
                format!("expected a single value, got {kind}"),
            )),
        }
    }
    out
}

/// Attributions the client computed: an object of feature name to a finite number,
/// kept by feature ordinal, ascending.
fn attributions(value: Option<Loose<'_>>, model: &ModelIndex, problems: &mut Vec<Problem>) -> Vec<(u32, f64)> {
    let entries = match value {
        None | Some(Loose::Null) => return Vec::new(),
        Some(Loose::Object(entries)) => entries,
        Some(other) => {
            problems.push(wrong_type("attributions", "an object of feature name to number", &other));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let path = field_path("attributions", &key);
        let Some(ordinal) = model.feature_index(&key) else {
            problems.push(Problem::new(path, Reason::UnknownFeature, "not a feature of the model"));
            continue;
        };
        match value {
            Loose::Int(i) => out.push((ordinal as u32, i as f64)),
            Loose::Float(x) if x.is_finite() => out.push((ordinal as u32, x)),
            other => problems.push(wrong_type(&path, "a finite number", &other)),
        }
    }
    out.sort_by_key(|(ordinal, _)| *ordinal);
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        problems.push(Problem::new("attributions", Reason::InvalidValue, "a feature appears more than once"));
    }
    out
}

fn tags(value: Option<Loose<'_>>, problems: &mut Vec<Problem>) -> Vec<(String, String)> {
    let entries = match value {
        None | Some(Loose::Null) => return Vec::new(),
        Some(Loose::Object(entries)) => entries,
        Some(other) => {
            problems.push(wrong_type("tags", "an object of strings", &other));
            return Vec::new();
        }
    };
    if entries.len() > MAX_TAGS {
        problems.push(Problem::new("tags", Reason::TooMany, format!("at most {MAX_TAGS} tags are allowed")));
        return Vec::new();
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let path = field_path("tags", &key);
        let text = match value {
            Loose::Str(s) => s.into_owned(),
            Loose::Int(i) => i.to_string(),
            Loose::Float(x) => x.to_string(),
            Loose::Bool(b) => b.to_string(),
            other => {
                problems.push(wrong_type(path, "a string", &other));
                continue;
            }
        };
        if key.is_empty() || key.len() > MAX_TAG_LEN || text.len() > MAX_TAG_LEN {
            problems.push(Problem::new(
                path,
                Reason::TooLong,
                format!("keys and values must be 1 to {MAX_TAG_LEN} bytes"),
            ));
            continue;
        }
        if out.iter().any(|(k, _)| *k == key) {
            problems.push(Problem::new(path, Reason::InvalidValue, "the key appears more than once"));
            continue;
        }
        out.push((key.into_owned(), text));
    }
    out
}

fn error(value: Option<Loose<'_>>, problems: &mut Vec<Problem>) -> Option<ErrorInfo> {
    let (kind, message) = match value {
        None | Some(Loose::Null) => return None,
        Some(Loose::Str(message)) => ("Error".to_owned(), message.into_owned()),
        Some(Loose::Object(entries)) => {
            let mut f = Fields::sort(entries, &["type", "message"]);
            if !f.unknown.is_empty() || !f.duplicate.is_empty() {
                let mut p = Vec::new();
                key_problems(&f, &["type", "message"], "an error", &mut p);
                problems.extend(p.into_iter().map(|x| Problem { path: format!("error.{}", x.path), ..x }));
                return None;
            }
            let mut text = |i: usize, name: &str, default: &str| match f.take(i) {
                Some(Loose::Str(s)) => Some(s.into_owned()),
                None | Some(Loose::Null) => Some(default.to_owned()),
                Some(other) => {
                    problems.push(wrong_type(format!("error.{name}"), "a string", &other));
                    None
                }
            };
            let kind = text(0, "type", "Error");
            let message = text(1, "message", "");
            (kind?, message?)
        }
        Some(other) => {
            problems.push(wrong_type("error", "a message string or {type, message}", &other));
            return None;
        }
    };
    for (path, text, max) in [("error.type", &kind, 256), ("error.message", &message, MAX_TEXT_LEN)] {
        if let Err(m) = check_text(text, max) {
            problems.push(Problem::new(path, Reason::TooLong, m));
            return None;
        }
    }
    Some(ErrorInfo { kind, message })
}

pub fn target_json(t: &Target) -> Value {
    match t {
        Target::Class(c) => Value::String(c.clone()),
        Target::Number(x) => json!(x),
    }
}

/// The API document of a stored prediction. Every declared feature appears, `null`
/// where the event had no value.
pub fn to_json(p: &StoredPrediction, model: &ModelIndex) -> Value {
    let mut features = Map::with_capacity(model.spec.features.len());
    for f in &model.spec.features {
        features.insert(f.name.clone(), Value::Null);
    }
    for (ordinal, value) in &p.features {
        let Some(spec) = model.spec.features.get(*ordinal as usize) else {
            continue;
        };
        let v = match value {
            FeatureValue::Null => Value::Null,
            FeatureValue::Number(x) => json!(x),
            FeatureValue::Category(s) | FeatureValue::Text(s) => Value::String(s.clone()),
            FeatureValue::Bool(b) => Value::Bool(*b),
        };
        features.insert(spec.name.clone(), v);
    }
    let scores: Map<String, Value> = p
        .scores
        .iter()
        .filter_map(|(i, s)| model.spec.classes.get(*i as usize).map(|c| (c.clone(), json!(s))))
        .collect();
    let tags: Map<String, Value> = p.tags.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let attributions: Map<String, Value> = p
        .attributions
        .iter()
        .filter_map(|(i, v)| model.spec.features.get(*i as usize).map(|f| (f.name.clone(), json!(v))))
        .collect();
    let mut doc = json!({
        "request_id": p.request_id,
        "timestamp": super::time::format(p.timestamp_ms),
        "received_at": super::time::format(p.received_ms),
        "version": p.version,
        "features": features,
        "prediction": p.prediction.as_ref().map(target_json),
        "scores": scores,
        "latency_ms": p.latency_ms,
        "tags": tags,
        "error": p.error.as_ref().map(|e| json!({"type": e.kind, "message": e.message})),
        "label": p.label.as_ref().map(|l| json!({
            "label": target_json(&l.label),
            "timestamp": super::time::format(l.timestamp_ms),
            "received_at": super::time::format(l.received_ms),
        })),
    });
    // Only events that carried attributions show them.
    if !attributions.is_empty() {
        doc["attributions"] = Value::Object(attributions);
    }
    doc
}
