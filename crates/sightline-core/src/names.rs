//! Rules for user-chosen names (models, versions, features, request ids, tags).
//!
//! Model and version names appear in URLs and metric labels, so they are restricted to
//! a URL-safe alphabet; request ids and tag values are free text with a length cap.

/// Longest model, version or feature name.
pub const MAX_NAME_LEN: usize = 128;
/// Longest request id; long enough for any UUID, trace id or composite key.
pub const MAX_REQUEST_ID_LEN: usize = 256;
/// Longest tag key and value.
pub const MAX_TAG_LEN: usize = 256;
/// Most tags on one event.
pub const MAX_TAGS: usize = 64;
/// Longest class label or categorical value.
pub const MAX_CATEGORY_LEN: usize = 1024;
/// Longest free-text value (text features, error messages).
pub const MAX_TEXT_LEN: usize = 64 * 1024;

/// Checks a model or version name: 1–128 characters of `A-Z a-z 0-9 _ - .`, not
/// starting with `.` (so it can never be `.` or `..` in a path).
pub fn check_slug(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("must be at most {MAX_NAME_LEN} characters"));
    }
    if name.starts_with('.') {
        return Err("must not start with '.'".into());
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(format!("contains {bad:?}; allowed are letters, digits, '_', '-' and '.'"));
    }
    Ok(())
}

/// Checks a feature name: 1–128 characters, no control characters.
pub fn check_feature_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("must be at most {MAX_NAME_LEN} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Checks free text with a length cap and no NUL characters.
pub fn check_text(value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!("must be at most {max} bytes"));
    }
    if value.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["credit-risk", "v1.2.3", "A_b", "x"] {
            assert_eq!(check_slug(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn feature_names() {
        assert!(check_feature_name("income (usd)").is_ok());
        assert!(check_feature_name("a\nb").is_err());
        assert!(check_feature_name("").is_err());
    }
}
