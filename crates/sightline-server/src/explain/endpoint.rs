//! A version's prediction endpoint (the team's own serving URL), called in batches from
//! an explanation's blocking thread, with a timeout per call and a call budget per request.
//!
//! Protocol: `POST <url>` with `{"columns": [feature names], "rows": [[values]]}`
//! (missing values as `null`); the answer is `{"predictions": [...]}` (or the bare array),
//! one entry per row: a number (one output) or an array of numbers (one per output).

use super::compute::RemoteModel;
use serde_json::{Value, json};
use sightline_explain::PredictError;
use sightline_explain::kernelshap::Budget;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Defaults of an endpoint's settings, and their bounds.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub const MAX_TIMEOUT_MS: u64 = 300_000;
pub const DEFAULT_MAX_CALLS: u64 = 1_000;
pub const MAX_MAX_CALLS: u64 = 1_000_000;
pub const DEFAULT_BATCH_ROWS: u64 = 1_000;
pub const MAX_BATCH_ROWS: u64 = 100_000;
/// Most bytes of one answer: an endpoint answering with more is broken or hostile.
const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub timeout_ms: u64,
    pub max_calls: u64,
    pub batch_rows: u64,
    pub columns: Vec<String>,
    client: reqwest::Client,
}

impl Endpoint {
    pub fn new(url: String, timeout_ms: u64, max_calls: u64, batch_rows: u64, columns: Vec<String>) -> Endpoint {
        // Building a client fails only without a TLS backend, which this build always has;
        // the default client then reports the problem on the first call.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Endpoint { url, timeout_ms, max_calls, batch_rows, columns, client }
    }

    /// The endpoint as one request sees it: calls counted against the budget, the first
    /// failure kept so the answer can say the endpoint failed (not the input).
    pub fn session(&self, runtime: tokio::runtime::Handle) -> Session<'_> {
        Session { endpoint: self, runtime, calls: AtomicUsize::new(0), failure: Mutex::new(None) }
    }
}

pub struct Session<'a> {
    endpoint: &'a Endpoint,
    runtime: tokio::runtime::Handle,
    calls: AtomicUsize,
    failure: Mutex<Option<String>>,
}

impl Session<'_> {
    /// The first failure of a call, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().map(|f| f.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    fn fail(&self, message: String) -> PredictError {
        let mut first = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(message.clone());
        }
        PredictError::new(message)
    }

    fn call(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
        let budget = usize::try_from(self.endpoint.max_calls).unwrap_or(usize::MAX);
        if self.calls.fetch_add(1, Ordering::Relaxed) >= budget {
            return Err(self.fail(format!(
                "the call budget of {budget} calls to the model endpoint is spent; raise max_calls or ask for less"
            )));
        }
        let rows: Vec<Vec<Value>> = rows
            .iter()
            .map(|r| r.iter().map(|v| if v.is_finite() { json!(v) } else { Value::Null }).collect())
            .collect();
        let body = json!({"columns": self.endpoint.columns, "rows": rows});
        // The request is built inside `block_on`: its timeout timer needs the runtime.
        let answer: Result<bytes::Bytes, String> = self.runtime.block_on(async {
            let request = self
                .endpoint
                .client
                .post(&self.endpoint.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .send();
            let response = request.await.map_err(|e| format!("calling {}: {e}", self.endpoint.url))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("{} answered {status}", self.endpoint.url));
            }
            let bytes =
                response.bytes().await.map_err(|e| format!("reading the answer of {}: {e}", self.endpoint.url))?;
            if bytes.len() > MAX_ANSWER_BYTES {
                return Err(format!("{} answered more than {MAX_ANSWER_BYTES} bytes", self.endpoint.url));
            }
            Ok(bytes)
        });
        let bytes = answer.map_err(|m| self.fail(m))?;
        parse_answer(&bytes, rows.len()).map_err(|m| self.fail(format!("{}: {m}", self.endpoint.url)))
    }
}

/// Reads an answer: one entry per row, each a number or an array of numbers.
pub fn parse_answer(bytes: &[u8], rows: usize) -> Result<Vec<Vec<f64>>, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let entries = match &value {
        Value::Array(entries) => entries,
        Value::Object(o) => match o.get("predictions").or_else(|| o.get("outputs")) {
            Some(Value::Array(entries)) => entries,
            _ => return Err("the answer has no \"predictions\" array".into()),
        },
        _ => return Err("the answer is neither an array nor an object with \"predictions\"".into()),
    };
    if entries.len() != rows {
        return Err(format!("the answer has {} predictions for {rows} rows", entries.len()));
    }
    let number = |v: &Value, at: usize| {
        v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| format!("prediction {at} is not a finite number: {v}"))
    };
    entries
        .iter()
        .enumerate()
        .map(|(at, entry)| match entry {
            Value::Array(values) if !values.is_empty() => values.iter().map(|v| number(v, at)).collect(),
            Value::Array(_) => Err(format!("prediction {at} is an empty array")),
            other => Ok(vec![number(other, at)?]),
        })
        .collect()
}

impl RemoteModel for Session<'_> {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
        let batch = usize::try_from(self.endpoint.batch_rows).unwrap_or(usize::MAX).max(1);
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(batch) {
            out.extend(self.call(chunk)?);
        }
        Ok(out)
    }

    fn budget(&self) -> Budget {
        Budget {
            batch_rows: usize::try_from(self.endpoint.batch_rows).unwrap_or(usize::MAX).max(1),
            max_calls: usize::try_from(self.endpoint.max_calls).unwrap_or(usize::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_in_every_documented_shape_and_garbage_is_named() {
        assert_eq!(parse_answer(b"[0.5, 1]", 2), Ok(vec![vec![0.5], vec![1.0]]));
        assert_eq!(parse_answer(br#"{"predictions": [[0.1, 0.9]]}"#, 1), Ok(vec![vec![0.1, 0.9]]));
        assert_eq!(parse_answer(br#"{"outputs": [2]}"#, 1), Ok(vec![vec![2.0]]));
        assert!(parse_answer(b"[1]", 2).expect_err("refused").contains("1 predictions for 2 rows"));
        assert!(parse_answer(b"not json", 1).expect_err("refused").contains("not JSON"));
        assert!(parse_answer(br#"["x"]"#, 1).expect_err("refused").contains("prediction 0"));
        assert!(parse_answer(br#"[[]]"#, 1).expect_err("refused").contains("empty"));
        assert!(parse_answer(br#"{"result": 1}"#, 1).expect_err("refused").contains("predictions"));
    }
}
