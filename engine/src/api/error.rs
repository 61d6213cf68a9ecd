//! The one error type of the HTTP API: `{"error":{"code","message","details"}}`.
//! 5xx bodies never carry internals; those go to the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The shape of every error answer, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorFields,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorFields {
    /// Stable, machine-readable: `unauthorized`, `forbidden`, `not_found`,
    /// `invalid_body`, `quota_exceeded`, …
    code: String,
    message: String,
    /// Where and what: a JSON path, validation problems, a quota's numbers.
    details: serde_json::Value,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), details: Value::Null, retry_after: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The same answer for every credential problem: no hint which part was wrong.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or invalid credentials")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// Also what another tenant's resource answers: never 403.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 429 with the quota's name, limit and current use.
    pub fn quota(exceeded: crate::quota::QuotaExceeded) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", exceeded.to_string())
            .with_details(json!({"quota": exceeded.quota, "limit": exceeded.limit, "used": exceeded.used}))
    }

    /// 429 for a rate quota, with when to try again.
    pub fn too_fast(too_fast: &crate::quota::rate::TooFast) -> Self {
        let mut error = Self::quota(too_fast.exceeded());
        error.retry_after = Some(too_fast.retry_after.as_secs_f64().ceil() as u64);
        error
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message, "details": self.details}});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        ApiError::internal(error)
    }
}

impl From<crate::executor::EngineError> for ApiError {
    fn from(error: crate::executor::EngineError) -> Self {
        use crate::executor::EngineError;
        match error {
            EngineError::RunNotFound(_) => ApiError::not_found("run"),
            EngineError::WorkflowNotFound(_) => ApiError::not_found("workflow"),
            EngineError::NotFinished(_) => ApiError::new(StatusCode::CONFLICT, "not_finished", error.to_string()),
            EngineError::UnknownNode { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_node", error.to_string())
            }
            EngineError::NotWaiting { .. } => ApiError::new(StatusCode::CONFLICT, "not_waiting", error.to_string()),
            EngineError::NotTestable { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_testable", error.to_string())
            }
            EngineError::Invalid(problems) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_workflow", "the workflow is invalid")
                    .with_details(json!({ "problems": problems }))
            }
            EngineError::InvalidInput(errors) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", "input does not match input_schema")
                    .with_details(json!({ "errors": errors }))
            }
            // A start refused by its rate may be sent again within a second.
            EngineError::Quota(exceeded) if exceeded.quota == "runs_per_second" => {
                ApiError { retry_after: Some(1), ..ApiError::quota(exceeded) }
            }
            EngineError::Quota(exceeded) => ApiError::quota(exceeded),
            EngineError::Plugins(error) => {
                tracing::error!(%error, "the tenant's plugins are unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "plugins_unavailable",
                    "the tenant's plugins are unavailable right now",
                )
            }
            other => ApiError::internal(other),
        }
    }
}
