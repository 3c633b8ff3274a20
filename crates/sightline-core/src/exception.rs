//! Exceptions reported by serving code, and how they are grouped: the fingerprint of an
//! exception is its type, its message with the parts that vary between occurrences
//! (numbers, ids, hashes, paths) replaced by placeholders, and its innermost frames
//! without line numbers (which move with every release).
//!
//! Stack traces can be arbitrarily deep and messages arbitrarily long, so both are
//! bounded here, once, for storage and for grouping alike.

use crate::alerting::fingerprint::fnv1a64;

/// Longest message kept; the rest is cut (at a character boundary) and marked.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;
/// Longest exception type and frame field kept.
pub const MAX_FIELD_BYTES: usize = 1024;
/// Frames kept: the innermost ones, where the failure is, and a few outermost ones.
pub const MAX_FRAMES: usize = 100;
const OUTERMOST_KEPT: usize = 10;
/// Innermost frames that make up the fingerprint.
pub const FINGERPRINT_FRAMES: usize = 5;

/// One frame of a stack trace, outermost first (as Python's `traceback` lists them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackFrame {
    /// File or module, e.g. `app/model.py`.
    pub file: String,
    pub function: String,
    pub line: Option<u32>,
    /// Whether the frame is in the user's own code (not a library); when any frame
    /// says so, only those frames make the fingerprint.
    pub in_app: Option<bool>,
}

/// Cuts `text` to at most `max` bytes at a character boundary, marking the cut.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &text[..end], text.len() - end)
}

/// Keeps at most [`MAX_FRAMES`] frames (the innermost, and the [`OUTERMOST_KEPT`]
/// outermost), each field bounded; returns how many were dropped.
pub fn bound_frames(frames: Vec<StackFrame>) -> (Vec<StackFrame>, usize) {
    let bound = |f: StackFrame| StackFrame {
        file: bounded(&f.file, MAX_FIELD_BYTES),
        function: bounded(&f.function, MAX_FIELD_BYTES),
        ..f
    };
    let n = frames.len();
    if n <= MAX_FRAMES {
        return (frames.into_iter().map(bound).collect(), 0);
    }
    let dropped = n - MAX_FRAMES;
    let kept = frames
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i < OUTERMOST_KEPT || *i >= OUTERMOST_KEPT + dropped)
        .map(|(_, f)| bound(f))
        .collect();
    (kept, dropped)
}

/// The message with what varies between occurrences replaced: UUIDs by `<uuid>`,
/// hexadecimal ids and hashes by `<hex>`, numbers by `<n>`, file paths by `<path>`.
pub fn normalize_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    let mut after_word = false;
    while let Some(c) = rest.chars().next() {
        // Tokens start on a word boundary: `v2` and `utf8` stay as they are.
        if let Some((len, placeholder)) = (!after_word).then(|| variable_token(rest)).flatten() {
            out.push_str(placeholder);
            rest = &rest[len..];
            after_word = false;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            after_word = c.is_ascii_alphanumeric();
        }
    }
    out
}

/// The length and placeholder of a variable token at the start of `s`, if one is there.
fn variable_token(s: &str) -> Option<(usize, &'static str)> {
    let b = s.as_bytes();
    let word_len = b.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'-').count();
    if is_uuid(&b[..word_len.min(36)]) {
        return Some((36, "<uuid>"));
    }
    if b.len() > 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') {
        let hex = b[2..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if hex > 0 {
            return Some((2 + hex, "<hex>"));
        }
    }
    let alnum = b.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
    if alnum >= 16 && b[..alnum].iter().all(u8::is_ascii_hexdigit) && b[..alnum].iter().any(u8::is_ascii_digit) {
        return Some((alnum, "<hex>"));
    }
    if b[0].is_ascii_digit() {
        // Dotted runs (decimals, addresses, versions like 1.2.3) are one number.
        let mut i = b.iter().take_while(|c| c.is_ascii_digit()).count();
        while i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1 + b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        }
        return Some((i, "<n>"));
    }
    let is_path_start = b[0] == b'/' && b.get(1).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'_')
        || (b.len() > 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\');
    if is_path_start {
        let end = |c: char| c.is_whitespace() || matches!(c, '\'' | '"' | ',' | ')' | ']' | '>' | ':' | ';');
        // A Windows drive's colon is part of the path.
        let skip = if b[0] == b'/' { 0 } else { 2 };
        let len = s[skip..].find(end).map_or(s.len(), |i| i + skip);
        if s[..len].matches(['/', '\\']).count() >= 2 {
            return Some((len, "<path>"));
        }
    }
    None
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// The group key of an exception: 16 hex digits.
pub fn fingerprint(kind: &str, message: &str, frames: &[StackFrame]) -> String {
    let in_app_only = frames.iter().any(|f| f.in_app == Some(true));
    let innermost = frames.iter().rev().filter(|f| !in_app_only || f.in_app == Some(true)).take(FINGERPRINT_FRAMES);
    let mut key = Vec::new();
    let mut put = |s: &str| {
        key.extend_from_slice(&(s.len() as u64).to_le_bytes());
        key.extend_from_slice(s.as_bytes());
    };
    put(kind);
    put(&normalize_message(message));
    for f in innermost {
        put(&f.file);
        put(&f.function);
    }
    format!("{:016x}", fnv1a64(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(file: &str, function: &str, line: u32) -> StackFrame {
        StackFrame { file: file.into(), function: function.into(), line: Some(line), in_app: None }
    }

    #[test]
    fn messages_lose_what_varies_between_occurrences() {
        let cases = [
            ("KeyError: 'customer_12345'", "KeyError: 'customer_<n>'"),
            ("timeout after 30.5s talking to 10.0.0.12:8080", "timeout after <n>s talking to <n>:<n>"),
            ("request 3f2b8c1e-9a4d-4f6b-8e2a-1c3d5e7f9a0b failed", "request <uuid> failed"),
            ("object at 0x7f3a2b1c9d80", "object at <hex>"),
            ("sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b mismatch", "sha <hex> mismatch"),
            ("cannot open /var/lib/models/v3/model.bin: no such file", "cannot open <path>: no such file"),
            ("cannot open C:\\models\\v3\\m.bin", "cannot open <path>"),
            ("model v2 expects 25 features", "model v2 expects <n> features"),
            (
                "ValueError: could not convert string to float: 'abc'",
                "ValueError: could not convert string to float: 'abc'",
            ),
            ("", ""),
            ("ünïcödé 42 ✓", "ünïcödé <n> ✓"),
        ];
        for (message, expected) in cases {
            assert_eq!(normalize_message(message), expected, "{message}");
        }
    }

    #[test]
    fn occurrences_group_and_different_failures_do_not() {
        let frames = vec![frame("app/serve.py", "handle", 10), frame("app/model.py", "predict", 42)];
        let moved = vec![frame("app/serve.py", "handle", 12), frame("app/model.py", "predict", 57)];
        let a = fingerprint("KeyError", "missing 'user_17'", &frames);
        assert_eq!(a, fingerprint("KeyError", "missing 'user_99231'", &moved), "ids and line numbers do not matter");
        assert_ne!(a, fingerprint("ValueError", "missing 'user_17'", &frames));
        assert_ne!(a, fingerprint("KeyError", "missing 'user_17'", &frames[..1]));
        assert_ne!(a, fingerprint("KeyError", "no 'user_17'", &frames));
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn library_frames_do_not_split_groups_when_app_frames_are_marked() {
        let mut lib_a = vec![frame("app/model.py", "predict", 1), frame("numpy/core.py", "dot", 2)];
        lib_a[0].in_app = Some(true);
        lib_a[1].in_app = Some(false);
        let mut lib_b = lib_a.clone();
        lib_b[1] =
            StackFrame { file: "numpy/core.py".into(), function: "matmul".into(), line: Some(9), in_app: Some(false) };
        assert_eq!(fingerprint("E", "m", &lib_a), fingerprint("E", "m", &lib_b));
    }

    #[test]
    fn deep_traces_and_long_texts_are_bounded() {
        let frames: Vec<_> = (0..10_000).map(|i| frame(&format!("f{i}.py"), "g", i)).collect();
        let (kept, dropped) = bound_frames(frames);
        assert_eq!((kept.len(), dropped), (MAX_FRAMES, 9_900));
        assert_eq!(kept[0].file, "f0.py");
        assert_eq!(kept[OUTERMOST_KEPT].file, format!("f{}.py", OUTERMOST_KEPT + 9_900));
        assert_eq!(kept[MAX_FRAMES - 1].file, "f9999.py", "the innermost frame is kept");
        let long = "é".repeat(10_000);
        let cut = bounded(&long, MAX_MESSAGE_BYTES);
        assert!(cut.len() < MAX_MESSAGE_BYTES + 40 && cut.ends_with("bytes cut]"), "{}", cut.len());
        assert_eq!(bounded("short", 10), "short");
    }

    proptest::proptest! {
        #[test]
        fn normalizing_never_panics_and_is_idempotent(s in "\\PC{0,200}") {
            let once = normalize_message(&s);
            proptest::prop_assert_eq!(normalize_message(&once), once);
        }
    }
}
