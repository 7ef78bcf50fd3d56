//! The one place where errors become CloudFormation's wire errors. Almost
//! everything CloudFormation refuses is a `ValidationError` (400, `Sender`);
//! a few conditions have codes of their own in the model.

use http::StatusCode;
use nimbus_api_common::ApiError;

/// An error of this API: the wire error, built only here.
#[derive(Debug)]
pub struct CfnError(pub ApiError);

impl CfnError {
    pub(crate) fn validation(message: impl Into<String>) -> CfnError {
        CfnError(ApiError::bad_request("ValidationError", message))
    }

    /// `Stack with id NAME does not exist`, as CloudFormation words it for a
    /// name or id that names no stack.
    pub(crate) fn no_stack(name: &str) -> CfnError {
        CfnError::validation(format!("Stack with id {name} does not exist"))
    }

    pub(crate) fn already_exists(name: &str) -> CfnError {
        CfnError(ApiError::bad_request(
            "AlreadyExistsException",
            format!("Stack [{name}] already exists"),
        ))
    }

    pub(crate) fn insufficient_capabilities(needed: &str) -> CfnError {
        CfnError(ApiError::bad_request(
            "InsufficientCapabilitiesException",
            format!("Requires capabilities : [{needed}]"),
        ))
    }

    /// A required member that is absent, in the query protocol's words.
    pub(crate) fn missing(member: &str) -> CfnError {
        let mut c = member.chars();
        let camel: String = c
            .next()
            .map(|f| f.to_lowercase().chain(c).collect())
            .unwrap_or_default();
        CfnError::validation(format!(
            "1 validation error detected: Value null at '{camel}' failed to satisfy constraint: Member must not be null"
        ))
    }

    /// The store failed: logged here, once, and answered as a 500.
    pub(crate) fn internal(why: impl std::fmt::Display) -> CfnError {
        tracing::error!(error = %why, "CloudFormation store failed");
        CfnError(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        ))
    }
}

impl From<nimbus_templates::Error> for CfnError {
    fn from(e: nimbus_templates::Error) -> CfnError {
        CfnError::validation(e.to_string())
    }
}

impl From<nimbus_storage::Error> for CfnError {
    fn from(e: nimbus_storage::Error) -> CfnError {
        CfnError::internal(e)
    }
}

/// An error found before the API saw the request, with the query protocol's
/// code for it.
pub fn from_edge(err: &ApiError) -> ApiError {
    let code = match err.code.as_str() {
        "UnrecognizedClientException" => "InvalidClientTokenId",
        "ExpiredTokenException" => "ExpiredToken",
        "InvalidSignatureException" => "SignatureDoesNotMatch",
        "IncompleteSignatureException" => "IncompleteSignature",
        "MissingAuthenticationTokenException" => "MissingAuthenticationToken",
        other => other,
    };
    err.clone().with_query_code(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_errors_are_validation_errors_with_the_engine_message() {
        let e: CfnError = nimbus_templates::parse("Resources: {}").unwrap_err().into();
        assert_eq!(e.0.code, "ValidationError");
        assert_eq!(e.0.status, StatusCode::BAD_REQUEST);
        assert!(
            e.0.message.starts_with("Template format error"),
            "{}",
            e.0.message
        );
        assert_eq!(
            CfnError::no_stack("s").0.message,
            "Stack with id s does not exist"
        );
        assert_eq!(
            CfnError::insufficient_capabilities("CAPABILITY_IAM").0.code,
            "InsufficientCapabilitiesException"
        );
    }
}
