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

/// Appends `key` to a JSON path: `parent.key` when the key is a plain identifier,
/// `parent["key"]` (JSON-escaped) otherwise, so every path stays unambiguous.
pub fn field_path(parent: &str, key: &str) -> String {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut out = String::with_capacity(parent.len() + key.len() + 4);
    out.push_str(parent);
    if plain {
        if !parent.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    } else {
        out.push_str("[\"");
        for c in key.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push_str("\"]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::field_path;

    #[test]
    fn paths_quote_what_is_not_an_identifier() {
        assert_eq!(field_path("features", "age"), "features.age");
        assert_eq!(field_path("", "age"), "age");
        assert_eq!(field_path("features", "income (usd)"), r#"features["income (usd)"]"#);
        assert_eq!(field_path("scores", "1"), r#"scores["1"]"#);
        assert_eq!(field_path("f", "a\"b"), r#"f["a\"b"]"#);
    }
}
