//! Ground-truth labels: JSON object → validated [`LabelEvent`].

use super::json::{scalar, wrong_type};
use serde_json::Value;
use sightline_core::event::check_target;
use sightline_core::problem::field_path;
use sightline_core::{LabelEvent, ModelIndex, Problem, Reason};

const FIELDS: &[&str] = &["request_id", "label", "timestamp"];

/// Validates one label object. Problem paths are relative to the label.
pub fn parse(
    value: Value,
    model: &ModelIndex,
    received_ms: i64,
) -> Result<LabelEvent, Vec<Problem>> {
    let Value::Object(mut obj) = value else {
        return Err(vec![wrong_type("", "a label object", &value)]);
    };
    let mut problems = Vec::new();
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            problems.push(Problem::new(
                field_path("", key),
                Reason::UnknownField,
                "unknown field; a label has request_id, label and timestamp",
            ));
        }
    }
    let request_id = super::prediction::request_id(obj.remove("request_id"), &mut problems);
    let timestamp_ms = match obj.remove("timestamp") {
        None | Some(Value::Null) => received_ms,
        Some(v) => super::time::parse(&v).unwrap_or_else(|m| {
            problems.push(Problem::new("timestamp", Reason::InvalidValue, m));
            0
        }),
    };
    let label = match obj.remove("label") {
        None | Some(Value::Null) => {
            problems.push(Problem::new(
                "label",
                Reason::MissingField,
                "required: the true class or value",
            ));
            None
        }
        Some(v) => match scalar(v) {
            Ok(s) => match check_target(model, &s) {
                Ok(t) => Some(t),
                Err((reason, message)) => {
                    problems.push(Problem::new("label", reason, message));
                    None
                }
            },
            Err(kind) => {
                problems.push(Problem::new(
                    "label",
                    Reason::WrongType,
                    format!("expected a class label or a number, got {kind}"),
                ));
                None
            }
        },
    };
    match label {
        Some(label) if problems.is_empty() => Ok(LabelEvent {
            request_id,
            timestamp_ms,
            label,
        }),
        _ => Err(problems),
    }
}
