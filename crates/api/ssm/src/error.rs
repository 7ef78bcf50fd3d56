//! The one place where the parameter service's errors become SSM's wire
//! errors; its own failures are logged here once and answered as
//! `InternalServerError`.

use http::StatusCode;
use nimbus_api_common::ApiError;
use nimbus_parameters::Error;

pub struct SsmError(pub ApiError);

impl SsmError {
    pub fn validation(message: impl Into<String>) -> SsmError {
        SsmError(ApiError::bad_request("ValidationException", message))
    }

    /// A required member the request left out, in SSM's words.
    pub fn missing(member: &str) -> SsmError {
        let mut m = member.to_string();
        if let Some(first) = m.get_mut(..1) {
            first.make_ascii_lowercase();
        }
        SsmError::validation(format!(
            "1 validation error detected: Value null at '{m}' failed to satisfy constraint: Member must not be null"
        ))
    }
}

impl From<Error> for SsmError {
    fn from(e: Error) -> SsmError {
        let code = match &e {
            Error::NotFound(_) => "ParameterNotFound",
            Error::VersionNotFound(_) => "ParameterVersionNotFound",
            Error::AlreadyExists(_) => "ParameterAlreadyExists",
            Error::HierarchyLevel(_) => "HierarchyLevelLimitExceededException",
            Error::InvalidAllowedPattern(_) => "InvalidAllowedPatternException",
            Error::PatternMismatch(_) => "ParameterPatternMismatchException",
            Error::MaxVersions(_) => "ParameterMaxVersionLimitExceeded",
            Error::LabelLimit(_) => "ParameterVersionLabelLimitExceeded",
            Error::InvalidKeyId(_) => "InvalidKeyId",
            Error::InvalidFilterKey(_) => "InvalidFilterKey",
            Error::InvalidFilterOption(_) => "InvalidFilterOption",
            Error::InvalidFilterValue(_) => "InvalidFilterValue",
            Error::InvalidNextToken(_) => "InvalidNextToken",
            Error::InvalidResourceId(_) => "InvalidResourceId",
            Error::TooManyTags(_) => "TooManyTagsError",
            Error::UnsupportedType(_) => "UnsupportedParameterType",
            Error::Invalid(_) => "ValidationException",
            Error::Internal(_) | Error::Storage(_) => {
                tracing::error!(error = %e, "parameter service failed");
                return SsmError(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "An error occurred on the server side.",
                ));
            }
        };
        SsmError(ApiError::bad_request(code, e.to_string()))
    }
}
