//! Errors of the gateway's own making, as HTTP answers: a status, a stable code (SPEC §4) and a
//! one-line message, as `{"error": {"code": "…", "message": "…"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use capsa::ErrorCode;
use capsa_store::{NameError, StoreError};

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable error code.
    pub code: ErrorCode,
    /// One line for humans.
    pub message: String,
}

impl ApiError {
    /// An error with the status that belongs to `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status: status_of(code),
            code,
            message: message.into(),
        }
    }

    /// `400 invalid_input`.
    pub fn invalid_input(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidInput, message)
    }

    /// `404 not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// `500 internal`.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Internal, message)
    }

    /// `503 busy`, with `Retry-After`.
    pub fn busy(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Busy, message)
    }

    /// The same error with another status (e.g. 431 for headers, 408 for a slow body).
    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code, "message": self.message}})
    }
}

/// The HTTP status of an error code: caller errors are 4xx, capacity is 503, a deadline is 504, and
/// everything a guest did wrong is 500.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidInput | ErrorCode::InvalidModule | ErrorCode::CompileLimitExceeded => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::PayloadTooLarge
        | ErrorCode::InputLimitExceeded
        | ErrorCode::FilesLimitExceeded => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Busy => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<capsa::Error> for ApiError {
    fn from(e: capsa::Error) -> Self {
        ApiError::new(e.code(), e.message())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "store failure");
                ApiError::internal(format!("the store failed: {m}"))
            }
        }
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        ApiError::invalid_input(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            "x-capsa-outcome",
            HeaderValue::from_static(self.code.as_str()),
        );
        if self.code == ErrorCode::Busy {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.code == ErrorCode::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
