//! Reported exceptions: JSON object → grouped, bounded and sealed [`PreparedError`].
//!
//! `{"type", "message", "frames": [{"file", "function", "line", "in_app"}], "version",
//! "request_id", "event_id", "timestamp", "input"}`; only `type` and `message` are
//! required. Deep traces and long texts are cut (see `sightline_core::exception`), an
//! input snapshot over 64 KiB is replaced by a note of its size: storage per event is
//! bounded whatever the client sends.

use super::json::wrong_type;
use super::loose::{Fields, Loose};
use super::prediction::{key_problems, timestamp};
use serde_json::{Value, json};
use sightline_core::exception::{self, StackFrame};
use sightline_core::names::{MAX_REQUEST_ID_LEN, check_slug, check_text};
use sightline_core::{Problem, Reason};
use sightline_store::{KeyRing, PreparedError};

const FIELDS: [&str; 8] = ["type", "message", "frames", "version", "request_id", "event_id", "timestamp", "input"];
const FRAME_FIELDS: [&str; 4] = ["file", "function", "line", "in_app"];
/// Largest input snapshot kept, as JSON text.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;
/// The version of errors that do not name one.
pub const UNKNOWN_VERSION: &str = "unknown";

/// The associated data that binds a sealed detail to its model and event.
pub fn detail_aad(model_id: i64, event_id: &str) -> Vec<u8> {
    format!("sightline/error_events/detail/{model_id}/{event_id}").into_bytes()
}

fn text(
    value: Option<Loose<'_>>,
    path: &str,
    required: bool,
    max: usize,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match value {
        None | Some(Loose::Null) => {
            if required {
                problems.push(Problem::new(path, Reason::MissingField, "required"));
            }
            None
        }
        Some(Loose::Str(s)) => {
            if let Err(m) = check_text(&s, usize::MAX) {
                problems.push(Problem::new(path, Reason::InvalidValue, m));
            }
            Some(exception::bounded(&s, max))
        }
        Some(Loose::Int(i)) if !required => Some(i.to_string()),
        Some(other) => {
            problems.push(wrong_type(path, "a string", &other));
            None
        }
    }
}

fn frames(value: Option<Loose<'_>>, problems: &mut Vec<Problem>) -> Vec<StackFrame> {
    let items = match value {
        None | Some(Loose::Null) => return Vec::new(),
        Some(Loose::Array(items)) => items,
        Some(other) => {
            problems.push(wrong_type("frames", "an array of frames", &other));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len().min(exception::MAX_FRAMES));
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("frames[{i}]");
        let Loose::Object(entries) = item else {
            problems.push(wrong_type(path, "a frame object", &item));
            continue;
        };
        let mut f = Fields::sort(entries, &FRAME_FIELDS);
        let mut p = Vec::new();
        key_problems(&f, &FRAME_FIELDS, "a frame", &mut p);
        problems.extend(p.into_iter().map(|x| Problem { path: format!("{path}.{}", x.path), ..x }));
        let file = text(f.take(0), &format!("{path}.file"), false, exception::MAX_FIELD_BYTES, problems);
        let function = text(f.take(1), &format!("{path}.function"), false, exception::MAX_FIELD_BYTES, problems);
        let line = match f.take(2) {
            None | Some(Loose::Null) => None,
            Some(Loose::Int(n)) => u32::try_from(n).ok().or_else(|| {
                problems.push(Problem::new(format!("{path}.line"), Reason::InvalidValue, "must be 0 or more"));
                None
            }),
            Some(other) => {
                problems.push(wrong_type(format!("{path}.line"), "a line number", &other));
                None
            }
        };
        let in_app = match f.take(3) {
            None | Some(Loose::Null) => None,
            Some(Loose::Bool(b)) => Some(b),
            Some(other) => {
                problems.push(wrong_type(format!("{path}.in_app"), "a boolean", &other));
                None
            }
        };
        out.push(StackFrame { file: file.unwrap_or_default(), function: function.unwrap_or_default(), line, in_app });
    }
    out
}

/// Validates one error object, groups it and seals its details. Problem paths are
/// relative to the item.
pub fn parse(value: Loose<'_>, model_id: i64, received_ms: i64, keys: &KeyRing) -> Result<PreparedError, Vec<Problem>> {
    let Loose::Object(entries) = value else {
        return Err(vec![wrong_type("", "an error object", &value)]);
    };
    let mut f = Fields::sort(entries, &FIELDS);
    let mut problems = Vec::new();
    key_problems(&f, &FIELDS, "an error", &mut problems);
    let kind = text(f.take(0), "type", true, exception::MAX_FIELD_BYTES, &mut problems);
    let message = text(f.take(1), "message", true, exception::MAX_MESSAGE_BYTES, &mut problems);
    let frames = frames(f.take(2), &mut problems);
    let version = match text(f.take(3), "version", false, usize::MAX, &mut problems) {
        None => UNKNOWN_VERSION.to_owned(),
        Some(v) => {
            if let Err(m) = check_slug(&v) {
                problems.push(Problem::new("version", Reason::InvalidValue, m));
            }
            v
        }
    };
    let request_id = text(f.take(4), "request_id", false, usize::MAX, &mut problems);
    let event_id = text(f.take(5), "event_id", false, usize::MAX, &mut problems);
    for (path, id) in [("request_id", &request_id), ("event_id", &event_id)] {
        if let Some(id) = id
            && let Err(m) = check_text(id, MAX_REQUEST_ID_LEN)
                .and_then(|()| if id.is_empty() { Err("must not be empty".into()) } else { Ok(()) })
        {
            problems.push(Problem::new(path, Reason::InvalidValue, m));
        }
    }
    let timestamp_ms = timestamp(f.take(6), received_ms, &mut problems);
    let input = f.take(7).map(|v| v.to_json());
    let (Some(kind), Some(message)) = (kind, message) else { return Err(problems) };
    if !problems.is_empty() {
        return Err(problems);
    }
    let (frames, frames_dropped) = exception::bound_frames(frames);
    let fingerprint = exception::fingerprint(&kind, &message, &frames);
    let input = input.map(|v| {
        let size = v.to_string().len();
        if size > MAX_INPUT_BYTES {
            json!({ "omitted": format!("an input snapshot of {size} bytes; the limit is {MAX_INPUT_BYTES}") })
        } else {
            v
        }
    });
    let event_id = event_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let detail = json!({
        "message": message,
        "frames": frames.iter().map(|f| json!({ "file": f.file, "function": f.function, "line": f.line, "in_app": f.in_app })).collect::<Vec<_>>(),
        "frames_dropped": frames_dropped,
        "input": input.unwrap_or(Value::Null),
    });
    let sealed = keys
        .seal(detail.to_string().as_bytes(), &detail_aad(model_id, &event_id))
        .map_err(|e| vec![Problem::new("", Reason::InvalidValue, format!("cannot be stored: {e}"))])?;
    Ok(PreparedError {
        event_id,
        request_id,
        timestamp_ms,
        version,
        title: exception::normalize_message(&message),
        fingerprint,
        kind,
        detail: Some(sealed),
    })
}
