//! S3's errors on the wire, in one place: each has S3's status and code, and
//! renders in restXml's envelope (`<Error><Code>..</Code><Message>..</Message>
//! <Resource>..</Resource><RequestId>..</RequestId></Error>`, see
//! `nimbus_api_common::xml`); HEAD responses carry no body.

use http::StatusCode;
use nimbus_api_common::ApiError;
use nimbus_objects::Error as ObjError;

/// An S3 error: the one wire error type, rendered in restXml's envelope
/// ([`ApiError::rest_xml`]).
#[derive(Debug, Clone, PartialEq)]
pub struct S3Error(pub ApiError);

impl S3Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error(ApiError::new(status, code, message))
    }

    pub fn header(self, name: &'static str, value: impl Into<String>) -> S3Error {
        S3Error(self.0.header(name, value))
    }

    /// An extra element of the error document (`BucketName`, `Key`, ...).
    pub fn with(self, name: &str, value: impl Into<String>) -> S3Error {
        S3Error(self.0.with(name, value.into()))
    }

    pub fn bad(code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> S3Error {
        S3Error::bad("InvalidArgument", message)
    }

    pub fn not_implemented(what: &str) -> S3Error {
        S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!(
                "A header or query you provided implies functionality that is not implemented: {what} is not supported by Nimbus yet"
            ),
        )
    }

    pub fn internal(message: impl Into<String>) -> S3Error {
        S3Error::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    pub fn code(&self) -> &str {
        &self.0.code
    }
}

impl From<ObjError> for S3Error {
    fn from(e: ObjError) -> S3Error {
        let msg = e.to_string();
        match e {
            ObjError::NoSuchBucket(b) => {
                S3Error::new(StatusCode::NOT_FOUND, "NoSuchBucket", msg).with("BucketName", b)
            }
            ObjError::BucketAlreadyOwnedByYou(b) => {
                S3Error::new(StatusCode::CONFLICT, "BucketAlreadyOwnedByYou", msg)
                    .with("BucketName", b)
            }
            ObjError::BucketNotEmpty(b) => {
                S3Error::new(StatusCode::CONFLICT, "BucketNotEmpty", msg).with("BucketName", b)
            }
            ObjError::InvalidBucketName(_) => S3Error::bad("InvalidBucketName", msg),
            ObjError::NoSuchKey(k) => {
                S3Error::new(StatusCode::NOT_FOUND, "NoSuchKey", msg).with("Key", k)
            }
            ObjError::KeyTooLong => S3Error::bad("KeyTooLongError", msg),
            ObjError::NoSuchVersion(k, v) => {
                S3Error::new(StatusCode::NOT_FOUND, "NoSuchVersion", msg)
                    .with("Key", k)
                    .with("VersionId", v)
            }
            ObjError::DeleteMarker { key, version_id } => {
                S3Error::new(StatusCode::NOT_FOUND, "NoSuchKey", msg)
                    .with("Key", key)
                    .header("x-amz-delete-marker", "true")
                    .header("x-amz-version-id", version_id)
            }
            ObjError::NoSuchUpload(u) => {
                S3Error::new(StatusCode::NOT_FOUND, "NoSuchUpload", msg).with("UploadId", u)
            }
            ObjError::InvalidPart(n) => {
                S3Error::bad("InvalidPart", msg).with("PartNumber", n.to_string())
            }
            ObjError::InvalidPartOrder => S3Error::bad("InvalidPartOrder", msg),
            ObjError::EntityTooSmall => S3Error::bad("EntityTooSmall", msg),
            ObjError::InvalidArgument(_) => S3Error::invalid_argument(msg),
            ObjError::PreconditionFailed(condition) => {
                S3Error::new(StatusCode::PRECONDITION_FAILED, "PreconditionFailed", msg)
                    .with("Condition", condition)
            }
            ObjError::ObjectLocked => S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", msg),
            ObjError::LockNotConfigured => S3Error::bad("InvalidRequest", msg),
            ObjError::InvalidBucketState(_) => {
                S3Error::new(StatusCode::CONFLICT, "InvalidBucketState", msg)
            }
            // S3 names each refused destination and why, numbered from 1.
            ObjError::DestinationsNotValidated(refused) => refused.into_iter().enumerate().fold(
                S3Error::invalid_argument(msg),
                |e, (i, (target, why))| {
                    e.with(&format!("ArgumentName{}", i + 1), target)
                        .with(&format!("ArgumentValue{}", i + 1), why)
                },
            ),
            ObjError::Io(_) | ObjError::Storage(_) | ObjError::Corrupt(_) => {
                tracing::error!(error = %msg, "object store failed");
                S3Error::internal("We encountered an internal error. Please try again.")
            }
        }
    }
}

/// Authentication failures, as S3 names them.
pub fn from_auth(e: &nimbus_api_common::sigv4::AuthError) -> S3Error {
    use nimbus_api_common::sigv4::AuthError::*;
    let forbidden = StatusCode::FORBIDDEN;
    match e {
        Missing => S3Error::new(forbidden, "AccessDenied", "Access Denied"),
        Malformed(m) => S3Error::bad("AuthorizationHeaderMalformed", m.clone()),
        UnknownAccessKey => S3Error::new(
            forbidden,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        MissingDate => S3Error::new(
            forbidden,
            "AccessDenied",
            "AWS authentication requires a valid Date or x-amz-date header",
        ),
        Skewed(m) => S3Error::new(forbidden, "RequestTimeTooSkewed", m.clone()),
        Mismatch => S3Error::new(
            forbidden,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ),
        Expired => S3Error::new(forbidden, "AccessDenied", "Request has expired"),
        InvalidToken => S3Error::bad(
            "InvalidToken",
            "The provided token is malformed or otherwise invalid.",
        ),
        ExpiredToken => S3Error::bad("ExpiredToken", "The provided token has expired."),
    }
}
