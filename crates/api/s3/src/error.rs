//! S3's errors on the wire, in one place: each has S3's status and code, and
//! renders as S3's XML envelope (`<Error><Code>..</Code><Message>..</Message>
//! <Resource>..</Resource><RequestId>..</RequestId></Error>`); HEAD responses
//! carry no body.

use crate::xml::escape;
use http::StatusCode;
use nimbus_objects::Error as ObjError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra elements S3 adds (`BucketName`, `Key`, `UploadId`, ...).
    pub fields: Vec<(&'static str, String)>,
    /// Response headers the error carries (`x-amz-delete-marker`, ...).
    pub headers: Vec<(&'static str, String)>,
}

impl S3Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.fields.push((name, value.into()));
        self
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

    pub fn xml(&self, resource: &str, request_id: &str) -> String {
        let mut s = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>",
            self.code,
            escape(&self.message)
        );
        for (k, v) in &self.fields {
            s.push_str(&format!("<{k}>{}</{k}>", escape(v)));
        }
        s.push_str(&format!(
            "<Resource>{}</Resource><RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>",
            escape(resource)
        ));
        s
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
        Skewed(m) => S3Error::new(forbidden, "RequestTimeTooSkewed", m.clone()),
        Mismatch => S3Error::new(
            forbidden,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ),
        Expired => S3Error::new(forbidden, "AccessDenied", "Request has expired"),
    }
}
