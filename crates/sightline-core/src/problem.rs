//! A validation problem: which field, what is wrong, and a stable machine-readable reason.

/// Why a value was refused. The set is closed so it can label a metric without
/// unbounded cardinality; `as_str` is the stable spelling used in metrics and docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    MissingField,
    WrongType,
    InvalidValue,
    UnknownField,
    UnknownFeature,
    UnknownClass,
    NotNullable,
    TooLong,
    TooMany,
    DuplicateInBatch,
}

impl Reason {
    pub const ALL: [Reason; 10] = [
        Reason::MissingField,
        Reason::WrongType,
        Reason::InvalidValue,
        Reason::UnknownField,
        Reason::UnknownFeature,
        Reason::UnknownClass,
        Reason::NotNullable,
        Reason::TooLong,
        Reason::TooMany,
        Reason::DuplicateInBatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingField => "missing_field",
            Reason::WrongType => "wrong_type",
            Reason::InvalidValue => "invalid_value",
            Reason::UnknownField => "unknown_field",
            Reason::UnknownFeature => "unknown_feature",
            Reason::UnknownClass => "unknown_class",
            Reason::NotNullable => "not_nullable",
            Reason::TooLong => "too_long",
            Reason::TooMany => "too_many",
            Reason::DuplicateInBatch => "duplicate_in_batch",
        }
    }
}

/// One problem with one field. `path` is relative to the validated object, dotted
/// (`features.age`, `scores.bad`); the server prefixes it with the document path.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: String,
    pub message: String,
    pub reason: Reason,
}

impl Problem {
    pub fn new(path: impl Into<String>, reason: Reason, message: impl Into<String>) -> Self {
        Problem { path: path.into(), message: message.into(), reason }
    }
}
