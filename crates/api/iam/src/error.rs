//! The one place where errors become IAM's wire errors: the service's
//! conditions get IAM's codes and statuses, and authentication failures the
//! query protocol's codes.

use http::StatusCode;
use nimbus_api_common::ApiError;
use nimbus_iam::Error;

/// An error of this API: the wire error, built only here.
#[derive(Debug)]
pub struct IamError(pub ApiError);

impl IamError {
    pub(crate) fn validation(message: impl Into<String>) -> IamError {
        IamError(ApiError::bad_request("ValidationError", message))
    }

    /// A required member that is absent: `member` in the model's camelCase.
    pub(crate) fn missing(param: &str) -> IamError {
        let mut c = param.chars();
        let member: String = c
            .next()
            .map(|f| f.to_lowercase().chain(c).collect())
            .unwrap_or_default();
        IamError::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    }
}

impl From<Error> for IamError {
    fn from(e: Error) -> IamError {
        let m = e.to_string();
        let (status, code) = match e {
            Error::NoSuchEntity(_) => (StatusCode::NOT_FOUND, "NoSuchEntity"),
            Error::EntityAlreadyExists(_) => (StatusCode::CONFLICT, "EntityAlreadyExists"),
            Error::DeleteConflict(_) => (StatusCode::CONFLICT, "DeleteConflict"),
            Error::LimitExceeded(_) => (StatusCode::CONFLICT, "LimitExceeded"),
            Error::MalformedPolicyDocument(_) => {
                (StatusCode::BAD_REQUEST, "MalformedPolicyDocument")
            }
            Error::InvalidInput(_) => (StatusCode::BAD_REQUEST, "InvalidInput"),
            Error::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationError"),
            Error::Unmodifiable(_) => (StatusCode::BAD_REQUEST, "UnmodifiableEntity"),
            Error::AccessDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
            Error::Storage(_) | Error::Random(_) => {
                tracing::error!(error = %m, "IAM service failed");
                return IamError(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                ));
            }
        };
        IamError(ApiError::new(status, code, m))
    }
}

/// An error found before the API saw the request (authentication, a body too
/// large), with the query protocol's code for it.
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
    fn service_errors_get_iam_codes() {
        for (e, status, code) in [
            (Error::NoSuchEntity("x".into()), 404, "NoSuchEntity"),
            (
                Error::EntityAlreadyExists("x".into()),
                409,
                "EntityAlreadyExists",
            ),
            (Error::DeleteConflict("x".into()), 409, "DeleteConflict"),
            (Error::LimitExceeded("x".into()), 409, "LimitExceeded"),
            (
                Error::MalformedPolicyDocument("x".into()),
                400,
                "MalformedPolicyDocument",
            ),
            (Error::InvalidInput("x".into()), 400, "InvalidInput"),
            (Error::Validation("x".into()), 400, "ValidationError"),
        ] {
            let IamError(a) = e.into();
            assert_eq!((a.status.as_u16(), a.code.as_str()), (status, code));
        }
        assert!(
            IamError::missing("RoleName")
                .0
                .message
                .contains("'roleName'")
        );
        let edge = from_edge(&nimbus_api_common::auth_error(
            &nimbus_api_common::sigv4::AuthError::ExpiredToken,
        ));
        assert_eq!(edge.query_code.as_deref(), Some("ExpiredToken"));
        assert_eq!(edge.status, StatusCode::FORBIDDEN);
    }
}
