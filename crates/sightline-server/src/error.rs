//! API errors: every error has a stable code, an HTTP status and a message, mapped here
//! and nowhere else, and is answered as `application/problem+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One field-level problem, as the API reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    /// JSON path of the offending value, e.g. `$.events[3].features.age`.
    pub path: String,
    pub message: String,
}

/// The stable error codes of the API (see docs/API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidJson,
    ValidationFailed,
    InvalidQuery,
    PayloadTooLarge,
    UnsupportedMediaType,
    ModelNotFound,
    PredictionNotFound,
    VersionNotFound,
    ReferenceNotFound,
    ProjectNotFound,
    UserNotFound,
    TokenNotFound,
    MonitorNotFound,
    AlertNotFound,
    SilenceNotFound,
    ChannelNotFound,
    IncidentNotFound,
    ExplainerNotFound,
    NotFound,
    Unauthenticated,
    SecondFactorRequired,
    Forbidden,
    TooManyAttempts,
    NoAdmin,
    MethodNotAllowed,
    Conflict,
    PromotionBlocked,
    Overloaded,
    NotReady,
    InvalidKeyFile,
    KeyInUse,
    ModelEndpointFailed,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidJson => "invalid_json",
            Code::ValidationFailed => "validation_failed",
            Code::InvalidQuery => "invalid_query",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::ModelNotFound => "model_not_found",
            Code::PredictionNotFound => "prediction_not_found",
            Code::VersionNotFound => "version_not_found",
            Code::ReferenceNotFound => "reference_not_found",
            Code::ProjectNotFound => "project_not_found",
            Code::UserNotFound => "user_not_found",
            Code::TokenNotFound => "token_not_found",
            Code::MonitorNotFound => "monitor_not_found",
            Code::AlertNotFound => "alert_not_found",
            Code::SilenceNotFound => "silence_not_found",
            Code::ChannelNotFound => "channel_not_found",
            Code::IncidentNotFound => "incident_not_found",
            Code::ExplainerNotFound => "explainer_not_found",
            Code::NotFound => "not_found",
            Code::Unauthenticated => "unauthenticated",
            Code::SecondFactorRequired => "second_factor_required",
            Code::Forbidden => "forbidden",
            Code::TooManyAttempts => "too_many_attempts",
            Code::NoAdmin => "no_admin",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::Conflict => "conflict",
            Code::PromotionBlocked => "promotion_blocked",
            Code::Overloaded => "overloaded",
            Code::NotReady => "not_ready",
            Code::InvalidKeyFile => "invalid_key_file",
            Code::KeyInUse => "key_in_use",
            Code::ModelEndpointFailed => "model_endpoint_failed",
            Code::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Code::InvalidJson | Code::InvalidQuery => StatusCode::BAD_REQUEST,
            Code::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::ModelNotFound
            | Code::PredictionNotFound
            | Code::VersionNotFound
            | Code::ReferenceNotFound
            | Code::ProjectNotFound
            | Code::UserNotFound
            | Code::TokenNotFound
            | Code::MonitorNotFound
            | Code::AlertNotFound
            | Code::SilenceNotFound
            | Code::ChannelNotFound
            | Code::IncidentNotFound
            | Code::ExplainerNotFound
            | Code::NotFound => StatusCode::NOT_FOUND,
            Code::Unauthenticated | Code::SecondFactorRequired => StatusCode::UNAUTHORIZED,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            Code::NoAdmin => StatusCode::SERVICE_UNAVAILABLE,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::Conflict | Code::KeyInUse | Code::PromotionBlocked => StatusCode::CONFLICT,
            Code::InvalidKeyFile => StatusCode::UNPROCESSABLE_ENTITY,
            Code::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            Code::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            Code::ModelEndpointFailed => StatusCode::BAD_GATEWAY,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Code::InvalidJson => "request body is not valid JSON",
            Code::ValidationFailed => "validation failed",
            Code::InvalidQuery => "invalid query parameter",
            Code::PayloadTooLarge => "payload too large",
            Code::UnsupportedMediaType => "unsupported media type or encoding",
            Code::ModelNotFound => "model not found",
            Code::PredictionNotFound => "prediction not found",
            Code::VersionNotFound => "version not found",
            Code::ReferenceNotFound => "reference not found",
            Code::ProjectNotFound => "project not found",
            Code::UserNotFound => "user not found",
            Code::TokenNotFound => "token not found",
            Code::MonitorNotFound => "monitor not found",
            Code::AlertNotFound => "alert not found",
            Code::SilenceNotFound => "silence not found",
            Code::ChannelNotFound => "channel not found",
            Code::IncidentNotFound => "incident not found",
            Code::ExplainerNotFound => "explainer not found",
            Code::NotFound => "not found",
            Code::Unauthenticated => "authentication required",
            Code::SecondFactorRequired => "a second-factor code is required",
            Code::Forbidden => "forbidden",
            Code::TooManyAttempts => "too many failed attempts, retry later",
            Code::NoAdmin => "no administrator exists yet",
            Code::MethodNotAllowed => "method not allowed",
            Code::Conflict => "already exists",
            Code::PromotionBlocked => "the version failed its promotion gate",
            Code::Overloaded => "server overloaded, retry later",
            Code::NotReady => "server not ready",
            Code::InvalidKeyFile => "the master key file cannot be used",
            Code::KeyInUse => "a key that stored data needs is missing",
            Code::ModelEndpointFailed => "the model's prediction endpoint failed",
            Code::Internal => "internal error",
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds after which a retry makes sense (429 and 503).
    pub retry_after: Option<u32>,
    /// Extra members merged into the problem document (e.g. a batch's `rejected`).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        ApiError { code, detail: detail.into(), errors: Vec::new(), retry_after: None, extra: None }
    }

    pub fn validation(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        ApiError { errors, ..ApiError::new(Code::ValidationFailed, detail) }
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// An internal failure: the cause is logged in full, the client sees a generic text.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        ApiError::new(Code::Internal, "the server failed to handle the request; see its log")
    }
}

impl From<sightline_store::StoreError> for ApiError {
    fn from(e: sightline_store::StoreError) -> Self {
        match e {
            sightline_store::StoreError::Conflict(what) => {
                ApiError::new(Code::Conflict, format!("{what} already exists"))
            }
            e @ sightline_store::StoreError::Changed(_) => ApiError::new(Code::Conflict, format!("{e}; retry")),
            sightline_store::StoreError::InUse(what) => ApiError::new(Code::Conflict, format!("cannot delete: {what}")),
            other => ApiError::internal(other),
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    code: &'static str,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), code = self.code.as_str(), detail = %self.detail, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), code = self.code.as_str(), detail = %self.detail, errors = self.errors.len(), "request refused");
        }
        let problem = Problem {
            kind: "about:blank",
            title: self.code.title(),
            status: status.as_u16(),
            code: self.code.as_str(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let mut doc = match serde_json::to_value(&problem) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        if let Some(extra) = self.extra {
            doc.extend(extra);
        }
        let body = serde_json::to_vec(&doc).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.code == Code::Unauthenticated {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"sightline\""));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
