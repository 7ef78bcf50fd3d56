//! The one place where the secrets service's errors become Secrets Manager's
//! wire errors (`{"__type": code, "Message": ...}`); its own failures are
//! logged here once and answered as `InternalServiceError`.

use http::StatusCode;
use nimbus_api_common::{ApiError, MessageKey};
use nimbus_secrets::Error;

pub struct SecretsError(pub ApiError);

impl SecretsError {
    pub fn new(code: &str, message: impl Into<String>) -> SecretsError {
        let mut e = ApiError::bad_request(code, message);
        e.message_key = MessageKey::Upper;
        SecretsError(e)
    }

    pub fn invalid(message: impl Into<String>) -> SecretsError {
        SecretsError::new("InvalidParameterException", message)
    }

    /// A required member the request left out.
    pub fn missing(member: &str) -> SecretsError {
        SecretsError::invalid(format!("You must provide a value for {member}."))
    }
}

impl From<Error> for SecretsError {
    fn from(e: Error) -> SecretsError {
        let code = match &e {
            Error::NotFound(_) => "ResourceNotFoundException",
            Error::Exists(_) => "ResourceExistsException",
            Error::InvalidRequest(_) => "InvalidRequestException",
            Error::InvalidParameter(_) => "InvalidParameterException",
            Error::MalformedPolicy(_) => "MalformedPolicyDocumentException",
            Error::Limit(_) => "LimitExceededException",
            Error::InvalidNextToken(_) => "InvalidNextTokenException",
            Error::Encryption(_) => "EncryptionFailure",
            Error::Decryption(_) => "DecryptionFailure",
            Error::Internal(_) | Error::Storage(_) => {
                tracing::error!(error = %e, "secrets service failed");
                let mut err = ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServiceError",
                    "An error occurred on the server side.",
                );
                err.message_key = MessageKey::Upper;
                return SecretsError(err);
            }
        };
        SecretsError::new(code, e.to_string())
    }
}
