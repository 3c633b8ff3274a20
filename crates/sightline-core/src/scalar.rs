//! Input scalars (what a client sent, wire-format agnostic) and validated feature values.

use serde::{Deserialize, Serialize};

/// A scalar as the client sent it, before it is checked against a schema. The server
/// turns JSON into these; arrays and objects never get this far.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    /// An integer written without fraction or exponent, kept exact so that categorical
    /// codes such as `40213` become the category `"40213"`, not `"40213.0"`.
    Int(i64),
    /// Any other number; always finite (the JSON grammar has no NaN or infinity).
    Float(f64),
    Str(String),
}

impl Scalar {
    /// The JSON-ish name of the value's type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::Int(_) | Scalar::Float(_) => "a number",
            Scalar::Str(_) => "a string",
        }
    }

    /// The value as a finite number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            // i64 → f64 rounds above 2^53; that is the meaning of a JSON number anyway.
            Scalar::Int(i) => Some(i as f64),
            Scalar::Float(f) if f.is_finite() => Some(f),
            _ => None,
        }
    }

    /// The value as a label (class or category): strings as they are, integers and
    /// booleans in their canonical spelling. Non-integral numbers are not labels.
    pub fn as_label(&self) -> Option<String> {
        match self {
            Scalar::Str(s) => Some(s.clone()),
            Scalar::Int(i) => Some(i.to_string()),
            Scalar::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// A feature value that passed its schema check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FeatureValue {
    Null,
    Number(f64),
    Category(String),
    Bool(bool),
    Text(String),
}
