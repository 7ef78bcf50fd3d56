//! Wire machinery shared by every AWS API Nimbus serves: SigV4 verification,
//! request ids, the [`Service`] trait each API implements for the edge, the
//! protocols' framing ([`json`] for awsJson, [`query`] for the query protocol)
//! and the one wire error type,
//! [`ApiError`], with a renderer per protocol.
//!
//! Nothing here knows a particular service's operations. How to add a service
//! on this spine: `docs/adding-a-service.md`.

pub mod chunked;
pub mod json;
pub mod query;
mod service;
pub mod sigv2;
pub mod sigv4;
pub mod streaming;

pub use service::{BoxFuture, Service};

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

/// An error as it goes on the wire: status, AWS error code, message; each
/// protocol renders it in its own envelope (`rest_json`, [`json::AwsJson::error`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Extra top-level JSON fields some errors carry (Lambda's `Reason`,
    /// DynamoDB's `CancellationReasons`).
    pub extra: Vec<(String, serde_json::Value)>,
    /// For services that kept their query protocol's error codes
    /// (`awsQueryCompatible`): the legacy code, sent in `x-amzn-query-error`.
    pub query_code: Option<String>,
    /// The name of the message member: `message`, or `Message` where a
    /// service spells it so for an error.
    pub message_key: &'static str,
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
            query_code: None,
            message_key: "message",
        }
    }

    /// A 400 from the caller's side.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> ApiError {
        self.extra.push((key.to_string(), value.into()));
        self
    }

    pub fn with_query_code(mut self, code: impl Into<String>) -> ApiError {
        self.query_code = Some(code.into());
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
            body.insert(k.clone(), v.clone());
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
