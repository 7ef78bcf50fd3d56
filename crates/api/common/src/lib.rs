//! Wire machinery shared by every AWS API Nimbus serves: SigV4 verification,
//! request ids, and the error type each API renders in its own envelope.
//!
//! Nothing here knows a particular service's operations.

pub mod chunked;
pub mod sigv2;
pub mod sigv4;
pub mod streaming;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

/// A new request id in the UUID form AWS services use.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Whether the caller is at fault (`Sender`, a 4xx) or we are (`Receiver`, a 5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Sender,
    Receiver,
}

/// An error as it goes on the wire: status, AWS error code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Extra top-level JSON fields some errors carry (e.g. Lambda's `Reason`).
    pub extra: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> ApiError {
        self.extra.push((key.to_string(), value.into()));
        self
    }

    pub fn fault(&self) -> Fault {
        if self.status.is_server_error() {
            Fault::Receiver
        } else {
            Fault::Sender
        }
    }

    /// The REST-JSON envelope (Lambda, API Gateway): the code in `x-amzn-ErrorType`
    /// and `{"Type": "User"|"Service", "Message": ...}` in the body.
    pub fn rest_json(&self, request_id: &str) -> Response<Bytes> {
        let mut body = serde_json::Map::new();
        let kind = match self.fault() {
            Fault::Sender => "User",
            Fault::Receiver => "Service",
        };
        body.insert("Type".into(), kind.into());
        body.insert("Message".into(), self.message.clone().into());
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone().into());
        }
        let mut resp = Response::new(Bytes::from(serde_json::Value::Object(body).to_string()));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            h.insert("x-amzn-errortype", v);
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert("x-amzn-requestid", v);
        }
        resp
    }
}

/// Errors of authentication, before any service sees the request.
pub fn auth_error(e: &sigv4::AuthError) -> ApiError {
    use sigv4::AuthError::*;
    let forbidden = StatusCode::FORBIDDEN;
    match e {
        Missing => ApiError::new(
            forbidden,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        Malformed(m) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "IncompleteSignatureException",
            m.clone(),
        ),
        UnknownAccessKey => ApiError::new(
            forbidden,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        Skewed(m) => ApiError::new(forbidden, "InvalidSignatureException", m.clone()),
        Expired => ApiError::new(forbidden, "AccessDenied", "Request has expired"),
        Mismatch => ApiError::new(
            forbidden,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS \
             Secret Access Key and signing method. Consult the service documentation for details.",
        ),
    }
}
