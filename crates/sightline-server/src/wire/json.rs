//! Small helpers for walking untyped JSON while collecting field problems.

use serde_json::Value;
use sightline_core::{Problem, Reason, Scalar};

/// Converts a JSON scalar; arrays and objects are not scalars.
pub fn scalar(value: Value) -> Result<Scalar, &'static str> {
    match value {
        Value::Null => Ok(Scalar::Null),
        Value::Bool(b) => Ok(Scalar::Bool(b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(Scalar::Int(i)),
            // serde_json only produces finite floats (the grammar has no NaN).
            None => n.as_f64().map(Scalar::Float).ok_or("a number out of range"),
        },
        Value::String(s) => Ok(Scalar::Str(s)),
        Value::Array(_) => Err("an array"),
        Value::Object(_) => Err("an object"),
    }
}

/// The JSON type name of a value, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub fn wrong_type(path: impl Into<String>, expected: &str, got: &Value) -> Problem {
    Problem::new(
        path,
        Reason::WrongType,
        format!("expected {expected}, got {}", kind(got)),
    )
}

/// Prefixes relative problem paths with the document path of their object.
pub fn prefix(prefix: &str, problems: Vec<Problem>) -> Vec<crate::error::FieldError> {
    problems
        .into_iter()
        .map(|p| crate::error::FieldError {
            path: if p.path.is_empty() {
                prefix.to_owned()
            } else if p.path.starts_with('[') {
                format!("{prefix}{}", p.path)
            } else {
                format!("{prefix}.{}", p.path)
            },
            message: p.message,
        })
        .collect()
}
