//! The one place where errors become Lambda's wire errors.

use http::StatusCode;
use nimbus_api_common::ApiError;
use nimbus_functions::Error;
use nimbus_invoke::InvokeError;

/// For `map_err`: a functions service error on the wire.
pub fn svc(e: Error) -> ApiError {
    from_service(&e)
}

/// For `map_err`: a trigger service error on the wire.
pub fn trg(e: nimbus_triggers::Error) -> ApiError {
    from_triggers(&e)
}

pub fn from_service(e: &Error) -> ApiError {
    let (status, code) = match e {
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
        Error::Conflict(_) => (StatusCode::CONFLICT, "ResourceConflictException"),
        Error::InvalidParameter(_) => (StatusCode::BAD_REQUEST, "InvalidParameterValueException"),
        Error::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationException"),
        Error::PreconditionFailed(_) => (
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedException",
        ),
        Error::RequestTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLargeException"),
        Error::CodeSigningConfigNotFound(_) => {
            (StatusCode::NOT_FOUND, "CodeSigningConfigNotFoundException")
        }
        Error::CodeVerificationFailed(_) => {
            (StatusCode::BAD_REQUEST, "CodeVerificationFailedException")
        }
        Error::Storage(_) | Error::Internal(_) => {
            tracing::error!(error = %e, "lambda service error");
            (StatusCode::INTERNAL_SERVER_ERROR, "ServiceException")
        }
    };
    ApiError::new(status, code, e.to_string())
}

pub fn from_triggers(e: &nimbus_triggers::Error) -> ApiError {
    use nimbus_triggers::Error as E;
    let (status, code) = match e {
        E::NotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
        E::Conflict(_) => (StatusCode::CONFLICT, "ResourceConflictException"),
        E::InvalidParameter(_) => (StatusCode::BAD_REQUEST, "InvalidParameterValueException"),
        E::Storage(_) | E::Internal(_) => {
            tracing::error!(error = %e, "event source mapping error");
            (StatusCode::INTERNAL_SERVER_ERROR, "ServiceException")
        }
    };
    ApiError::new(status, code, e.to_string())
}

pub fn from_invoke(e: &InvokeError) -> ApiError {
    match e {
        InvokeError::FunctionNotFound(m) => ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            m.clone(),
        ),
        InvokeError::RequestTooLarge(m) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            m.clone(),
        ),
        InvokeError::InvalidParameter(m) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            m.clone(),
        ),
        InvokeError::InvalidRequestContent(m) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            m.clone(),
        ),
        InvokeError::TooManyRequests { message, reason } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            message.clone(),
        )
        .with("Reason", reason.clone()),
        InvokeError::SnapStart { code, message } => ApiError::new(
            match *code {
                "SnapStartTimeoutException" => StatusCode::REQUEST_TIMEOUT,
                "SnapStartNotReadyException" => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            },
            *code,
            message.clone(),
        ),
        InvokeError::Service(m) => {
            tracing::error!(error = %m, "invoke failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                m.clone(),
            )
        }
    }
}

pub fn bad_json(e: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidRequestContentException",
        format!("Could not parse request body into json: {e}"),
    )
}

pub fn validation(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "ValidationException", m)
}

pub fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "InvalidParameterValueException", m)
}
