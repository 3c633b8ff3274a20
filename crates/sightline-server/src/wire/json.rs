//! Small helpers for walking untyped JSON ([`Loose`]) while collecting field problems.

use super::loose::Loose;
use sightline_core::{Problem, Reason, Scalar};

/// Converts a JSON scalar; arrays and objects are not scalars.
pub fn scalar(value: Loose<'_>) -> Result<Scalar, &'static str> {
    match value {
        Loose::Null => Ok(Scalar::Null),
        Loose::Bool(b) => Ok(Scalar::Bool(b)),
        Loose::Int(i) => Ok(Scalar::Int(i)),
        Loose::Float(f) => Ok(Scalar::Float(f)),
        Loose::Str(s) => Ok(Scalar::Str(s.into_owned())),
        Loose::Array(_) => Err("an array"),
        Loose::Object(_) => Err("an object"),
    }
}

pub fn wrong_type(path: impl Into<String>, expected: &str, got: &Loose<'_>) -> Problem {
    Problem::new(path, Reason::WrongType, format!("expected {expected}, got {}", got.kind()))
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
