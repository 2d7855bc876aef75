//! `ApiError`: how a failed use case becomes an HTTP status and a one-line JSON error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ops::OpsError;
use crate::wire::ErrorBody;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// Seconds for `Retry-After` (429 only).
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        let status = match &e {
            OpsError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            OpsError::AppNotFound(_) | OpsError::NotFound(_) => StatusCode::NOT_FOUND,
            OpsError::Conflict(_) => StatusCode::CONFLICT,
            OpsError::Forbidden(_) => StatusCode::FORBIDDEN,
            OpsError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            OpsError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            OpsError::Deploy(_) | OpsError::DeployFailed(_) => StatusCode::BAD_GATEWAY,
            OpsError::Build(_) => StatusCode::UNPROCESSABLE_ENTITY,
            OpsError::Store(_) | OpsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            OpsError::Addon(_) => StatusCode::BAD_GATEWAY,
            OpsError::Swarm(e) if e.is_refusal() => StatusCode::CONFLICT,
            OpsError::Swarm(_) => StatusCode::BAD_GATEWAY,
        };
        let retry_after = match &e {
            OpsError::TooManyAttempts {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        ApiError {
            retry_after,
            ..ApiError::new(status, e.to_string())
        }
    }
}

impl From<crate::domain::Invalid> for ApiError {
    fn from(e: crate::domain::Invalid) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.0)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = if self.status.is_server_error() && self.status != StatusCode::BAD_GATEWAY {
            // The detail goes to the log once; the client gets an id to find it by.
            let request_id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(request_id, status = %self.status, error = %self.message, "request failed");
            ErrorBody {
                error: format!(
                    "internal error; the server log has the details under request id {request_id}"
                ),
                request_id: Some(request_id),
            }
        } else {
            ErrorBody {
                error: self.message,
                request_id: None,
            }
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"paas\""),
            );
        }
        response
    }
}
