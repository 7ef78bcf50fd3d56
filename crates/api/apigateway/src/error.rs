//! The one place where the gateway's errors become API Gateway's wire errors
//! (restJson: the code in `x-amzn-ErrorType`, the message in the body).

use http::StatusCode;
use nimbus_api_common::ApiError;
use nimbus_gateway::Error as GError;

pub(crate) fn err(e: GError) -> ApiError {
    let (status, code) = match &e {
        GError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFoundException"),
        GError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequestException"),
        GError::Conflict(_) => (StatusCode::CONFLICT, "ConflictException"),
        GError::Storage(_) => {
            tracing::error!(error = %e, "gateway store failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError")
        }
    };
    ApiError::new(status, code, e.to_string())
}

/// A request API Gateway refuses: `BadRequestException`.
pub(crate) fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BadRequestException", m)
}
