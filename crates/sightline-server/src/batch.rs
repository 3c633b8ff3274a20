//! Batch bodies shared by every ingest endpoint: JSON envelope or NDJSON lines in,
//! per-item validation, in-batch duplicate detection, and the partial-success answer.

use crate::body::BatchFormat;
use crate::error::{ApiError, Code, FieldError};
use crate::wire::json::prefix;
use crate::wire::loose::{self, Loose};
use crate::wire::prediction::declared_request_id;
use serde::Serialize;
use sightline_core::{Problem, Reason};
use std::borrow::Cow;
use std::collections::HashMap;

/// One refused item, as reported to the client.
#[derive(Debug, Serialize)]
pub struct Rejected {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub errors: Vec<FieldError>,
    /// Why it was refused (its first problem's reason), for the rejection metric.
    #[serde(skip)]
    pub reason: Reason,
    /// Relative paths of its wrong-type problems (e.g. `features.age`), for the
    /// data-quality count of type mismatches per feature.
    #[serde(skip)]
    pub wrong_types: Vec<String>,
}

/// Most problems listed for one item; the rest are summarised in one line.
pub const MAX_ERRORS_PER_ITEM: usize = 10;
/// Most problems listed in one answer; past it, each further item gets only a summary,
/// so that no request can draw an answer much larger than itself.
pub const MAX_ERRORS_PER_ANSWER: usize = 1_000;

/// The problems of one item as reported, bounded by the item and answer budgets.
fn report(path: &str, problems: Vec<Problem>, budget: &mut usize) -> Vec<FieldError> {
    let total = problems.len();
    let shown = total.min(MAX_ERRORS_PER_ITEM).min(*budget);
    *budget -= shown;
    let mut errors = prefix(path, problems.into_iter().take(shown).collect());
    if shown < total {
        let more = total - shown;
        errors.push(FieldError {
            path: path.to_owned(),
            message: format!(
                "{more} more problem{} not listed (at most {MAX_ERRORS_PER_ITEM} per item and {MAX_ERRORS_PER_ANSWER} per answer are)",
                if more == 1 { "" } else { "s" }
            ),
        });
    }
    errors
}

/// The valid items (in order) and the refused ones.
#[derive(Debug)]
pub struct Parsed<T> {
    pub valid: Vec<T>,
    pub rejected: Vec<Rejected>,
}

/// One validated item and the request id it declared (for reporting a rejection).
type Checked<'a, T> = (Option<Cow<'a, str>>, Result<T, Vec<Problem>>);

/// Parses and validates a batch. `key` is the envelope's array member (`events`,
/// `labels`); `parse_one` validates one item; `request_id_of` names it for the
/// duplicate check. Structural problems of the whole body are errors; problems of
/// one item reject only that item.
pub fn parse<T>(
    bytes: &[u8],
    format: BatchFormat,
    key: &str,
    max_items: usize,
    parse_one: impl Fn(Loose<'_>) -> Result<T, Vec<Problem>>,
    request_id_of: impl Fn(&T) -> &str,
) -> Result<Parsed<T>, ApiError> {
    let items: Vec<Result<Loose<'_>, String>> = match format {
        BatchFormat::Json => envelope(bytes, key)?.into_iter().map(Ok).collect(),
        BatchFormat::Ndjson => {
            let lines: Vec<&[u8]> =
                bytes.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).collect();
            if lines.len() > max_items {
                return Err(too_many(lines.len(), max_items));
            }
            lines.into_iter().map(|line| loose::parse(line).map_err(|e| format!("invalid JSON: {e}"))).collect()
        }
    };
    if items.len() > max_items {
        return Err(too_many(items.len(), max_items));
    }
    // Paths are spelled only for the items that need one.
    let path_of = |index: usize| match format {
        BatchFormat::Json => format!("$.{key}[{index}]"),
        BatchFormat::Ndjson => format!("$[{index}]"),
    };

    // First validate every item, keeping the id each declares (borrowed from the body)
    // for reporting a rejection.
    let results: Vec<Checked<'_, T>> = items
        .into_iter()
        .map(|item| {
            let declared_id = item.as_ref().ok().and_then(declared_request_id);
            let result = match item {
                Ok(value) => parse_one(value),
                Err(message) => Err(vec![Problem::new("", Reason::WrongType, message)]),
            };
            (declared_id, result)
        })
        .collect();
    // Then find repeated request ids, borrowing them from the validated items.
    let mut first_of: Vec<Option<usize>> = vec![None; results.len()];
    {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(results.len());
        for (index, (_, result)) in results.iter().enumerate() {
            if let Ok(t) = result {
                match seen.entry(request_id_of(t)) {
                    std::collections::hash_map::Entry::Occupied(first) => first_of[index] = Some(*first.get()),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(index);
                    }
                }
            }
        }
    }

    let mut valid = Vec::with_capacity(results.len());
    let mut rejected = Vec::new();
    let mut budget = MAX_ERRORS_PER_ANSWER;
    for (index, ((declared_id, result), first)) in results.into_iter().zip(first_of).enumerate() {
        match (result, first) {
            (Ok(t), None) => valid.push(t),
            (Ok(t), Some(first)) => rejected.push(Rejected {
                index,
                request_id: Some(request_id_of(&t).to_owned()),
                errors: vec![FieldError {
                    path: format!("{}.request_id", path_of(index)),
                    message: format!("duplicate request_id within the batch (same as item {first})"),
                }],
                reason: Reason::DuplicateInBatch,
                wrong_types: Vec::new(),
            }),
            (Err(problems), _) => {
                let reason = problems.first().map_or(Reason::InvalidValue, |p| p.reason);
                let wrong_types =
                    problems.iter().filter(|p| p.reason == Reason::WrongType).map(|p| p.path.clone()).collect();
                let errors = report(&path_of(index), problems, &mut budget);
                rejected.push(Rejected {
                    index,
                    request_id: declared_id.map(Cow::into_owned),
                    errors,
                    reason,
                    wrong_types,
                });
            }
        }
    }
    Ok(Parsed { valid, rejected })
}

fn too_many(n: usize, max: usize) -> ApiError {
    ApiError::new(Code::PayloadTooLarge, format!("the batch has {n} items; the limit is {max} per request"))
}

/// Reads `{"<key>": [...]}`; anything else is a 400 (not JSON) or 422 (wrong shape).
fn envelope<'a>(bytes: &'a [u8], key: &str) -> Result<Vec<Loose<'a>>, ApiError> {
    let doc = loose::parse(bytes)
        .map_err(|e| ApiError::new(Code::InvalidJson, format!("the body is not valid JSON: {e}")))?;
    let shape = || format!("expected an object {{\"{key}\": [...]}}");
    let problem = |path: String, message: String| ApiError::validation(shape(), vec![FieldError { path, message }]);
    let Loose::Object(entries) = doc else {
        return Err(problem("$".into(), format!("expected an object, got {}", doc.kind())));
    };
    let mut items = None;
    for (k, v) in entries {
        if k != key {
            return Err(problem(format!("$.{k}"), format!("unknown field; the body has only {key:?}")));
        }
        if items.is_some() {
            return Err(problem(format!("$.{key}"), "the key appears more than once".into()));
        }
        items = Some(v);
    }
    match items {
        Some(Loose::Array(items)) => Ok(items),
        Some(other) => Err(problem(format!("$.{key}"), format!("expected an array, got {}", other.kind()))),
        None => Err(problem(format!("$.{key}"), "required".into())),
    }
}

/// The partial-success answer of a batch.
#[derive(Debug, Serialize)]
pub struct BatchResult {
    pub accepted: usize,
    pub duplicates: usize,
    /// Labels only: how many of the accepted labels have no stored prediction yet. Not
    /// an error (labels may come first), but a typo in request ids shows up here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<usize>,
    pub rejected: Vec<Rejected>,
}

impl BatchResult {
    /// 200 with the result, or 422 when every item was refused (nothing to accept),
    /// so that a client that only looks at the status still notices.
    pub fn into_response(self) -> axum::response::Response {
        use axum::response::IntoResponse;
        if self.accepted == 0 && self.duplicates == 0 && !self.rejected.is_empty() {
            // The top-level list repeats the items' errors for clients that read only
            // `errors`; bounded like them.
            let errors: Vec<FieldError> =
                self.rejected.iter().flat_map(|r| r.errors.iter().cloned()).take(MAX_ERRORS_PER_ANSWER).collect();
            let mut err = ApiError::validation(format!("all {} items were rejected", self.rejected.len()), errors);
            let mut extra = serde_json::Map::new();
            extra.insert("accepted".into(), 0.into());
            extra.insert("duplicates".into(), 0.into());
            extra.insert("rejected".into(), serde_json::to_value(&self.rejected).unwrap_or_default());
            err.extra = Some(extra);
            return err.into_response();
        }
        axum::Json(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::prediction;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use sightline_core::{FeatureSpec, FeatureType, ModelIndex, ModelSpec, Task};

    fn model() -> ModelIndex {
        let kinds = [FeatureType::Numeric, FeatureType::Categorical, FeatureType::Boolean, FeatureType::Text];
        ModelIndex::new(ModelSpec {
            name: "m".into(),
            task: Task::BinaryClassification,
            features: kinds
                .iter()
                .enumerate()
                .map(|(i, k)| FeatureSpec { name: format!("f{i}"), kind: *k, nullable: i % 2 == 0 })
                .collect(),
            classes: vec!["no".into(), "yes".into()],
            positive_class: Some("yes".into()),
            description: String::new(),
        })
    }

    /// Any JSON value, biased towards the names and shapes events use.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(Value::from),
            prop_oneof![Just("yes".to_string()), Just("no".to_string()), ".{0,12}"].prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            let key = prop_oneof![
                Just("request_id".to_string()),
                Just("version".to_string()),
                Just("features".to_string()),
                Just("prediction".to_string()),
                Just("scores".to_string()),
                Just("timestamp".to_string()),
                Just("latency_ms".to_string()),
                Just("tags".to_string()),
                Just("error".to_string()),
                Just("f0".to_string()),
                Just("f1".to_string()),
                Just("yes".to_string()),
                "[a-z]{1,6}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key, inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn run(body: &[u8], format: BatchFormat) -> Result<Parsed<sightline_core::PredictionEvent>, ApiError> {
        let m = model();
        parse(body, format, "events", 100, |v| prediction::parse(v, &m, 1_000), |e| e.request_id.as_str())
    }

    proptest! {
        /// No event, however odd, panics the parser; every item is either valid or
        /// rejected with at least one located problem.
        #[test]
        fn arbitrary_events_are_accepted_or_rejected(events in proptest::collection::vec(any_json(), 0..8)) {
            let n = events.len();
            let body = serde_json::to_vec(&json!({"events": events})).expect("serialize");
            let parsed = run(&body, BatchFormat::Json).expect("a well-formed envelope");
            prop_assert_eq!(parsed.valid.len() + parsed.rejected.len(), n);
            for r in &parsed.rejected {
                prop_assert!(!r.errors.is_empty());
                let prefix = format!("$.events[{}]", r.index);
                let located = r.errors.iter().all(|e| e.path.starts_with(&prefix));
                prop_assert!(located, "errors not under {}: {:?}", prefix, r.errors);
            }
        }

        /// Arbitrary bytes, as JSON or NDJSON, never panic the parser either.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = run(&bytes, BatchFormat::Json);
            let _ = run(&bytes, BatchFormat::Ndjson);
        }
    }
}
