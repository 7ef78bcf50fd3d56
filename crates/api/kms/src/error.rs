//! The one place where the key service's errors become KMS's wire errors:
//! AWS's code for each condition, 500 (`KMSInternalException`) for the
//! service's own failures, logged here once.

use http::StatusCode;
use nimbus_api_common::ApiError;
use nimbus_kms::Error;

pub struct KmsError(pub ApiError);

impl KmsError {
    pub fn validation(message: impl Into<String>) -> KmsError {
        KmsError(ApiError::bad_request("ValidationException", message))
    }

    /// A required member the request left out, in KMS's words.
    pub fn missing(member: &str) -> KmsError {
        let mut m = member.to_string();
        if let Some(first) = m.get_mut(..1) {
            first.make_ascii_lowercase();
        }
        KmsError::validation(format!(
            "1 validation error detected: Value null at '{m}' failed to satisfy constraint: Member must not be null"
        ))
    }

    pub fn access_denied(message: String) -> KmsError {
        KmsError(ApiError::bad_request("AccessDeniedException", message))
    }
}

impl From<Error> for KmsError {
    fn from(e: Error) -> KmsError {
        let code = match &e {
            Error::NotFound(_) => "NotFoundException",
            Error::AlreadyExists(_) => "AlreadyExistsException",
            Error::Disabled(_) => "DisabledException",
            Error::InvalidState(_) => "KMSInvalidStateException",
            Error::InvalidCiphertext(_) => "InvalidCiphertextException",
            Error::IncorrectKey(_) => "IncorrectKeyException",
            Error::InvalidAliasName(_) => "InvalidAliasNameException",
            Error::NotAuthorized(_) => "NotAuthorizedException",
            Error::MalformedPolicy(_) => "MalformedPolicyDocumentException",
            Error::Unsupported(_) => "UnsupportedOperationException",
            Error::InvalidArn(_) => "InvalidArnException",
            Error::Invalid(_) => "ValidationException",
            Error::Tag(_) => "TagException",
            Error::Crypto(_) | Error::Storage(_) => {
                tracing::error!(error = %e, "key service failed");
                return KmsError(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "KMSInternalException",
                    "The request was rejected because an internal exception occurred.",
                ));
            }
        };
        KmsError(ApiError::bad_request(code, e.to_string()))
    }
}
