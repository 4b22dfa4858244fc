//! The one place where errors become HTTP statuses. Every error answers with orchestrator's
//! envelope (`{"Code":"ERROR","Message":...}`), which is what `orchestrator-client` parses.

use arbor_api::ApiResponse;
use arbor_discovery::DiscoveryError;
use arbor_store::StoreError;
use arbor_topology::ResolveHintError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request itself is malformed (bad port, bad key).
    #[error("{0}")]
    BadRequest(String),
    /// The instance or cluster it names is unknown.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request's head is larger than arbor reads.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// The request conflicts with the state: another recovery runs, the block period holds,
    /// nothing is failing.
    #[error("{0}")]
    Conflict(String),
    /// Understood but cannot be done (no candidate, not the leader, bad designated replica).
    #[error("{0}")]
    Unprocessable(String),
    /// A managed server (or a would-be Raft member) the request names could not be reached:
    /// 422, the request's own subject is at fault, not arbor (no 5xx for it).
    #[error("{0}")]
    Unreachable(String),
    /// arbor itself cannot take the request now (a Raft group without a leader); retry.
    #[error("{0}")]
    Unavailable(String),
    /// An orchestrator route arbor deliberately does not build (Pseudo-GTID, agents): why,
    /// and what to use instead.
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unreachable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(message) = &self {
            tracing::error!(%message, "request failed");
        }
        let retry = matches!(self, ApiError::Unavailable(_));
        let mut response =
            (self.status(), Json(ApiResponse::error(self.to_string()))).into_response();
        if retry {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(message) => ApiError::Unavailable(message),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<DiscoveryError> for ApiError {
    fn from(error: DiscoveryError) -> Self {
        match error {
            DiscoveryError::Unreachable { .. } => ApiError::Unreachable(error.to_string()),
            DiscoveryError::Ignored { .. } => ApiError::BadRequest(error.to_string()),
            DiscoveryError::Store(error) => error.into(),
            DiscoveryError::Stopped => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<ResolveHintError> for ApiError {
    fn from(error: ResolveHintError) -> Self {
        ApiError::NotFound(error.to_string())
    }
}
