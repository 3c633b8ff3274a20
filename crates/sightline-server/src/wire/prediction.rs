//! Prediction events: JSON object → validated [`PredictionEvent`], and stored
//! prediction → JSON.

use super::json::{scalar, wrong_type};
use serde_json::{Map, Value, json};
use sightline_core::event::check_outputs;
use sightline_core::names::{
    MAX_REQUEST_ID_LEN, MAX_TAG_LEN, MAX_TAGS, MAX_TEXT_LEN, check_slug, check_text,
};
use sightline_core::problem::field_path;
use sightline_core::{
    ErrorInfo, FeatureValue, ModelIndex, PredictionEvent, Problem, Reason, Scalar, Target,
};
use sightline_store::StoredPrediction;

const FIELDS: &[&str] = &[
    "request_id",
    "timestamp",
    "version",
    "features",
    "prediction",
    "scores",
    "latency_ms",
    "tags",
    "error",
];

/// Validates one event object. Problem paths are relative to the event.
pub fn parse(
    value: Value,
    model: &ModelIndex,
    received_ms: i64,
) -> Result<PredictionEvent, Vec<Problem>> {
    let Value::Object(mut obj) = value else {
        return Err(vec![wrong_type("", "an event object", &value)]);
    };
    let mut problems = Vec::new();
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            problems.push(Problem::new(
                field_path("", key),
                Reason::UnknownField,
                format!("unknown field; an event has {}", FIELDS.join(", ")),
            ));
        }
    }

    let request_id = request_id(obj.remove("request_id"), &mut problems);
    let timestamp_ms = match obj.remove("timestamp") {
        None | Some(Value::Null) => received_ms,
        Some(v) => super::time::parse(&v).unwrap_or_else(|m| {
            problems.push(Problem::new("timestamp", Reason::InvalidValue, m));
            0
        }),
    };
    let version = match obj.remove("version") {
        None | Some(Value::Null) => {
            problems.push(Problem::new(
                "version",
                Reason::MissingField,
                "required: the model version that served it",
            ));
            String::new()
        }
        Some(Value::String(s)) => {
            if let Err(m) = check_slug(&s) {
                problems.push(Problem::new("version", Reason::InvalidValue, m));
            }
            s
        }
        Some(other) => {
            problems.push(wrong_type("version", "a string", &other));
            String::new()
        }
    };
    let features = match obj.remove("features") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => scalars_of(map, "features", &mut problems),
        Some(other) => {
            problems.push(wrong_type(
                "features",
                "an object of feature values",
                &other,
            ));
            Vec::new()
        }
    };
    let latency_ms = match obj.remove("latency_ms") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x >= 0.0 && x.is_finite() => Some(x),
            _ => {
                problems.push(Problem::new(
                    "latency_ms",
                    Reason::InvalidValue,
                    "must be a non-negative number",
                ));
                None
            }
        },
        Some(other) => {
            problems.push(wrong_type("latency_ms", "a number of milliseconds", &other));
            None
        }
    };
    let tags = tags(obj.remove("tags"), &mut problems);
    let error = error(obj.remove("error"), &mut problems);
    let prediction = match obj.remove("prediction") {
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
    let scores = match obj.remove("scores") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => scalars_of(map, "scores", &mut problems),
        // A bare number is the positive-class probability of a binary classifier.
        Some(Value::Number(n)) if model.spec.positive_class.is_some() => {
            let positive = model.spec.positive_class.clone().unwrap_or_default();
            vec![(positive, n.as_f64().map_or(Scalar::Null, Scalar::Float))]
        }
        Some(other) => {
            problems.push(wrong_type(
                "scores",
                "an object of class probabilities",
                &other,
            ));
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
        }),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

/// Reads a request id: a non-empty string (or an integer, kept as its decimal spelling).
pub fn request_id(value: Option<Value>, problems: &mut Vec<Problem>) -> String {
    match value {
        None | Some(Value::Null) => {
            problems.push(Problem::new(
                "request_id",
                Reason::MissingField,
                "required: a unique id of the prediction",
            ));
            String::new()
        }
        Some(Value::String(s)) if s.is_empty() => {
            problems.push(Problem::new(
                "request_id",
                Reason::InvalidValue,
                "must not be empty",
            ));
            s
        }
        Some(Value::String(s)) => {
            if let Err(m) = check_text(&s, MAX_REQUEST_ID_LEN) {
                problems.push(Problem::new("request_id", Reason::TooLong, m));
            }
            s
        }
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(other) => {
            problems.push(wrong_type("request_id", "a string", &other));
            String::new()
        }
    }
}

fn scalars_of(
    map: Map<String, Value>,
    parent: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(String, Scalar)> {
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
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

fn tags(value: Option<Value>, problems: &mut Vec<Problem>) -> Vec<(String, String)> {
    let map = match value {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            problems.push(wrong_type("tags", "an object of strings", &other));
            return Vec::new();
        }
    };
    if map.len() > MAX_TAGS {
        problems.push(Problem::new(
            "tags",
            Reason::TooMany,
            format!("at most {MAX_TAGS} tags are allowed"),
        ));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        let path = field_path("tags", &key);
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
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
        out.push((key, text));
    }
    out
}

fn error(value: Option<Value>, problems: &mut Vec<Problem>) -> Option<ErrorInfo> {
    let (kind, message) = match value {
        None | Some(Value::Null) => return None,
        Some(Value::String(message)) => ("Error".to_owned(), message),
        Some(Value::Object(mut obj)) => {
            let kind = match obj.remove("type") {
                Some(Value::String(s)) => s,
                None | Some(Value::Null) => "Error".to_owned(),
                Some(other) => {
                    problems.push(wrong_type("error.type", "a string", &other));
                    return None;
                }
            };
            let message = match obj.remove("message") {
                Some(Value::String(s)) => s,
                None | Some(Value::Null) => String::new(),
                Some(other) => {
                    problems.push(wrong_type("error.message", "a string", &other));
                    return None;
                }
            };
            if let Some(key) = obj.keys().next() {
                problems.push(Problem::new(
                    field_path("error", key),
                    Reason::UnknownField,
                    "unknown field; an error has type and message",
                ));
                return None;
            }
            (kind, message)
        }
        Some(other) => {
            problems.push(wrong_type(
                "error",
                "a message string or {type, message}",
                &other,
            ));
            return None;
        }
    };
    for (path, text, max) in [
        ("error.type", &kind, 256),
        ("error.message", &message, MAX_TEXT_LEN),
    ] {
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
        .filter_map(|(i, s)| {
            model
                .spec
                .classes
                .get(*i as usize)
                .map(|c| (c.clone(), json!(s)))
        })
        .collect();
    let tags: Map<String, Value> = p
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
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
    })
}
