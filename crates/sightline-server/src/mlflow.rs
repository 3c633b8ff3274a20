//! MLflow's REST API (`/api/2.0/mlflow/...`, `/api/2.0/mlflow-artifacts/...`), enough for
//! the unmodified MLflow client: experiments, runs, the model registry and proxied
//! artifacts, on Sightline's own models and versions.
//!
//! Handlers return [`ApiError`]s like every other route; [`error_layer`] rewrites any
//! problem document on these routes into MLflow's `{error_code, message}` with the status
//! MLflow uses, because the client decides what to do from `error_code` (and retries 5xx).

pub mod artifacts;
pub mod filter;
pub mod registry;
pub mod tracking;

use crate::error::{ApiError, Code};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Request parameters: the query string (GET) merged with the JSON body (other methods),
/// as the MLflow client sends them.
pub struct Params(Map<String, Value>);

/// Handlers take the parameters as their last argument (they consume the body).
impl<S: Send + Sync> axum::extract::FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Params, ApiError> {
        let (parts, body) = request.into_parts();
        Params::read(&parts.uri, &parts.headers, body).await
    }
}

impl Params {
    pub async fn read(uri: &Uri, headers: &HeaderMap, body: Body) -> Result<Params, ApiError> {
        let mut map = Map::new();
        if let Some(q) = uri.query() {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
                .map_err(|e| ApiError::new(Code::InvalidQuery, format!("invalid query string: {e}")))?;
            for (k, v) in pairs {
                // Repeated keys (`stages=a&stages=b`) are lists.
                match map.get_mut(&k) {
                    Some(Value::Array(items)) => items.push(Value::String(v)),
                    Some(first) => *first = Value::Array(vec![first.take(), Value::String(v)]),
                    None => {
                        map.insert(k, Value::String(v));
                    }
                }
            }
        }
        let bytes = crate::routes::support::read_small(headers, body).await?;
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            let doc: Value = crate::routes::support::json_body(headers, &bytes)?;
            let Value::Object(fields) = doc else {
                return Err(ApiError::new(Code::InvalidQuery, "the body must be a JSON object"));
            };
            map.extend(fields);
        }
        Ok(Params(map))
    }

    /// An optional string (numbers are accepted as their text: MLflow ids travel both ways).
    pub fn opt(&self, field: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(invalid(field, "must be a string")),
        }
    }

    pub fn req(&self, field: &str) -> Result<String, ApiError> {
        match self.opt(field)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(invalid(field, "is missing")),
        }
    }

    pub fn opt_i64(&self, field: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(field) {
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| invalid(field, "must be an integer")),
            _ => self
                .opt(field)?
                .map(|s| s.trim().parse::<i64>().map_err(|_| invalid(field, "must be an integer")))
                .transpose(),
        }
    }

    pub fn opt_f64(&self, field: &str) -> Result<Option<f64>, ApiError> {
        match self.0.get(field) {
            Some(Value::Number(n)) => Ok(n.as_f64()),
            _ => self.opt(field)?.map(|s| parse_f64(&s).ok_or_else(|| invalid(field, "must be a number"))).transpose(),
        }
    }

    pub fn opt_bool(&self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(field) {
            Some(Value::Bool(b)) => Ok(Some(*b)),
            _ => match self.opt(field)?.as_deref() {
                None => Ok(None),
                Some("true" | "True") => Ok(Some(true)),
                Some("false" | "False") => Ok(Some(false)),
                Some(_) => Err(invalid(field, "must be true or false")),
            },
        }
    }

    /// A list of strings (a JSON array, a repeated query key, or one value).
    pub fn list(&self, field: &str) -> Result<Vec<String>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(invalid(field, "must be a list of strings")),
                })
                .collect(),
            Some(_) => Ok(self.opt(field)?.into_iter().collect()),
        }
    }

    /// A list of objects (`tags`, `metrics`...), empty when absent.
    pub fn objects(&self, field: &str) -> Result<Vec<Map<String, Value>>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_object().cloned().ok_or_else(|| invalid(field, "must be a list of objects")))
                .collect(),
            Some(_) => Err(invalid(field, "must be a list")),
        }
    }

    /// `[{key, value}]` pairs.
    pub fn key_values(&self, field: &str) -> Result<Vec<(String, String)>, ApiError> {
        self.objects(field)?
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                let key =
                    Params(o.clone()).req("key").map_err(|_| invalid(&format!("{field}[{i}].key"), "is missing"))?;
                let value = Params(o).opt("value")?.unwrap_or_default();
                check_key(&format!("{field}[{i}].key"), &key)?;
                Ok((key, value))
            })
            .collect()
    }

    /// `max_results`: at least 1; above `cap` it is capped (the client asks for up to
    /// 100,000 runs by default and pages on what it gets).
    pub fn max_results(&self, default: usize, cap: usize) -> Result<usize, ApiError> {
        match self.opt_i64("max_results")? {
            None => Ok(default.min(cap)),
            Some(n) if n < 1 => Err(invalid("max_results", "must be at least 1")),
            Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX).min(cap)),
        }
    }

    pub fn sub(map: Map<String, Value>) -> Params {
        Params(map)
    }
}

/// MLflow sends NaN and infinities as these strings.
fn parse_f64(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "Infinity" | "inf" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.trim().parse().ok(),
    }
}

/// A number as MLflow writes it in JSON (NaN and infinities as strings).
pub fn number(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(v)
    }
}

pub fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::new(Code::InvalidQuery, format!("{field} {message}"))
}

pub fn not_found(what: String) -> ApiError {
    ApiError::new(Code::NotFound, what)
}

/// Keys of params, metrics and tags: 1–250 characters, no control characters, no
/// leading `/` and no `..` (MLflow's file store made paths of them; we keep the rule).
pub fn check_key(field: &str, key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 250 {
        return Err(invalid(field, "must have 1 to 250 characters"));
    }
    if key.chars().any(char::is_control) || key.starts_with('/') || key.split('/').any(|s| s == ".." || s == ".") {
        return Err(invalid(field, "must not contain control characters, a leading '/' or '.'/'..' segments"));
    }
    Ok(())
}

/// Tags as MLflow writes them.
pub fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect())
}

/// MLflow's error code and HTTP status for one of ours.
fn mlflow_code(code: &str, status: StatusCode) -> (&'static str, StatusCode) {
    match code {
        "conflict" => ("RESOURCE_ALREADY_EXISTS", StatusCode::BAD_REQUEST),
        // No administrator yet is a 503 elsewhere; the MLflow client would retry a 503
        // for minutes, so it is told at once that nobody can authenticate yet.
        "unauthenticated" | "second_factor_required" | "no_admin" => ("UNAUTHENTICATED", StatusCode::UNAUTHORIZED),
        "forbidden" => ("PERMISSION_DENIED", StatusCode::FORBIDDEN),
        "too_many_attempts" | "overloaded" => ("REQUEST_LIMIT_EXCEEDED", StatusCode::TOO_MANY_REQUESTS),
        "not_ready" => ("TEMPORARILY_UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
        "method_not_allowed" => ("ENDPOINT_NOT_FOUND", StatusCode::METHOD_NOT_ALLOWED),
        "payload_too_large" => ("INVALID_PARAMETER_VALUE", StatusCode::PAYLOAD_TOO_LARGE),
        "internal" => ("INTERNAL_ERROR", StatusCode::INTERNAL_SERVER_ERROR),
        "not_found" if status == StatusCode::NOT_FOUND => ("RESOURCE_DOES_NOT_EXIST", StatusCode::NOT_FOUND),
        c if c.ends_with("_not_found") => ("RESOURCE_DOES_NOT_EXIST", StatusCode::NOT_FOUND),
        _ => ("INVALID_PARAMETER_VALUE", StatusCode::BAD_REQUEST),
    }
}

/// Rewrites problem documents into MLflow errors (see the module docs).
pub async fn error_layer(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_problem = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == "application/problem+json");
    if !is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1024 * 1024).await.unwrap_or_default();
    let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let code = doc["code"].as_str().unwrap_or("internal");
    let mut message = doc["detail"].as_str().unwrap_or("error").to_owned();
    if let Some(errors) = doc["errors"].as_array() {
        for e in errors {
            if let (Some(p), Some(m)) = (e["path"].as_str(), e["message"].as_str())
                && !message.contains(m)
            {
                message.push_str(&format!("; {p}: {m}"));
            }
        }
    }
    let (error_code, status) = mlflow_code(code, parts.status);
    let mut out = (status, axum::Json(json!({"error_code": error_code, "message": message}))).into_response();
    for name in [header::WWW_AUTHENTICATE, header::RETRY_AFTER, header::CONNECTION, header::ALLOW] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_mlflow_statuses() {
        let check = |code, status, want: (&str, u16)| {
            let (c, s) = mlflow_code(code, status);
            assert_eq!((c, s.as_u16()), want, "{code}");
        };
        check("conflict", StatusCode::CONFLICT, ("RESOURCE_ALREADY_EXISTS", 400));
        check("model_not_found", StatusCode::NOT_FOUND, ("RESOURCE_DOES_NOT_EXIST", 404));
        check("not_found", StatusCode::NOT_FOUND, ("RESOURCE_DOES_NOT_EXIST", 404));
        check("validation_failed", StatusCode::UNPROCESSABLE_ENTITY, ("INVALID_PARAMETER_VALUE", 400));
        check("invalid_json", StatusCode::BAD_REQUEST, ("INVALID_PARAMETER_VALUE", 400));
        check("unauthenticated", StatusCode::UNAUTHORIZED, ("UNAUTHENTICATED", 401));
        check("forbidden", StatusCode::FORBIDDEN, ("PERMISSION_DENIED", 403));
        check("internal", StatusCode::INTERNAL_SERVER_ERROR, ("INTERNAL_ERROR", 500));
    }

    #[test]
    fn special_floats_parse() {
        assert!(parse_f64("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_f64("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64("1.5"), Some(1.5));
        assert_eq!(parse_f64("x"), None);
    }
}
