//! Ground-truth labels: JSON object → validated [`LabelEvent`].

use super::json::scalar;
use super::loose::{Fields, Loose};
use super::prediction::{key_problems, request_id, timestamp};
use sightline_core::event::check_target;
use sightline_core::{LabelEvent, ModelIndex, Problem, Reason};

const FIELDS: [&str; 3] = ["request_id", "label", "timestamp"];

/// Validates one label object. Problem paths are relative to the label.
pub fn parse(value: Loose<'_>, model: &ModelIndex, received_ms: i64) -> Result<LabelEvent, Vec<Problem>> {
    let Loose::Object(entries) = value else {
        return Err(vec![super::json::wrong_type("", "a label object", &value)]);
    };
    let mut f = Fields::sort(entries, &FIELDS);
    let mut problems = Vec::new();
    key_problems(&f, &FIELDS, "a label", &mut problems);
    let request_id = request_id(f.take(0), &mut problems);
    let timestamp_ms = timestamp(f.take(2), received_ms, &mut problems);
    let label = match f.take(1) {
        None | Some(Loose::Null) => {
            problems.push(Problem::new("label", Reason::MissingField, "required: the true class or value"));
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
        Some(label) if problems.is_empty() => Ok(LabelEvent { request_id, timestamp_ms, label }),
        _ => Err(problems),
    }
}
