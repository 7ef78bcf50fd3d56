//! Wire machinery shared by every AWS API Nimbus serves: SigV4 verification,
//! request ids, the [`Service`] trait each API implements for the edge, the
//! protocols' framing ([`json`] for awsJson, [`query`] for the query protocol,
//! [`xml`] for restXml and query documents) and the one wire error type,
//! [`ApiError`], with a renderer per protocol (awsJson and query in their
//! modules; [`ApiError::rest_json`] and [`ApiError::rest_xml`] here).
//!
//! Nothing here knows a particular service's operations. How to add a service
//! on this spine: `docs/adding-a-service.md`.

pub mod authz;
pub mod cbor;
pub mod chunked;
pub mod json;
pub mod query;
pub mod rest_json;
mod service;
pub mod sigv2;
pub mod sigv4;
pub mod streaming;
pub mod xml;

pub use service::{BoxFuture, Calls, Service};

/// Who signed a request, as the edge found after verifying its signature:
/// carried in the request's `http::Extensions` for the APIs that answer
/// about the caller (`GetCallerIdentity`, `GetUser` without a name) and for
/// authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `arn:aws:iam::ACCT:root`, a user's ARN, or
    /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`.
    pub arn: String,
    pub account: String,
    /// The account id (root), `AIDA...` (user), `AROA...:SESSION` (session).
    pub user_id: String,
    pub access_key_id: String,
}

impl Caller {
    /// An unsigned request (S3 serves them when a bucket's policy or ACL
    /// lets everyone in): no key, no account.
    pub fn anonymous() -> Caller {
        Caller {
            arn: "anonymous".into(),
            account: String::new(),
            user_id: "anonymous".into(),
            access_key_id: String::new(),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.access_key_id.is_empty() && self.arn == "anonymous"
    }
}

/// The address a request came from (`aws:SourceIp`), set by the edge in the
/// request's extensions next to the [`Caller`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIp(pub String);

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

/// A new request id in the UUID form AWS services use.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The request's X-Ray trace header (`X-Amzn-Trace-Id`), which goes with
/// what the request causes: a message's `AWSTraceHeader`, an invocation.
pub fn trace_header<B>(req: &http::Request<B>) -> Option<&str> {
    req.headers()
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok())
}

/// Whether the caller is at fault (`Sender`, a 4xx) or we are (`Receiver`, a 5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Sender,
    Receiver,
}

/// The name of an awsJson error's message member: `message`, or `Message`
/// where a service spells it so for an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKey {
    Lower,
    Upper,
}

impl MessageKey {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKey::Lower => "message",
            MessageKey::Upper => "Message",
        }
    }
}

/// An error as it goes on the wire: status, AWS error code, message; each
/// protocol renders it in its own envelope ([`ApiError::rest_json`],
/// [`ApiError::rest_xml`], [`json::AwsJson::error`], [`query::Query::error`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Extra members some errors carry (Lambda's `Reason`, DynamoDB's
    /// `CancellationReasons`, S3's `BucketName`): top-level JSON fields, or
    /// elements of restXml's `<Error>`.
    pub extra: Vec<(String, serde_json::Value)>,
    /// Response headers the error carries (S3's `x-amz-delete-marker`).
    pub headers: Vec<(String, String)>,
    /// For services that kept their query protocol's error codes
    /// (`awsQueryCompatible`): the legacy code, sent in `x-amzn-query-error`.
    pub query_code: Option<Box<str>>,
    /// How awsJson spells the message member for this error.
    pub message_key: MessageKey,
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
            headers: Vec::new(),
            query_code: None,
            message_key: MessageKey::Lower,
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

    pub fn header(mut self, name: &str, value: impl Into<String>) -> ApiError {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// An extra member's text, if the error has it.
    pub fn extra_text(&self, key: &str) -> Option<String> {
        self.extra
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
    }

    /// Add the error's own headers and the request id header to `resp`.
    pub fn add_headers<B>(
        &self,
        resp: &mut Response<B>,
        request_id_header: &'static str,
        request_id: &str,
    ) {
        let h = resp.headers_mut();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                h.insert(k, v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert(request_id_header, v);
        }
    }

    pub fn with_query_code(mut self, code: impl Into<String>) -> ApiError {
        self.query_code = Some(code.into().into_boxed_str());
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
        self.add_headers(&mut resp, "x-amzn-requestid", request_id);
        resp
    }

    /// The restXml error document (S3): `<Error>` with the code, the message,
    /// the extra members as elements, the resource and the request id.
    pub fn rest_xml_document(&self, resource: &str, request_id: &str) -> String {
        use xml::{el, escape};
        let mut s = format!(
            "{}<Error>{}{}",
            xml::DECL,
            el("Code", &self.code),
            el("Message", &self.message)
        );
        for (k, _) in &self.extra {
            s.push_str(&el(k, &self.extra_text(k).unwrap_or_default()));
        }
        let id = escape(request_id);
        s.push_str(&format!(
            "{}<RequestId>{id}</RequestId><HostId>{id}</HostId></Error>",
            el("Resource", resource)
        ));
        s
    }

    /// The restXml error response: the document (none for a `HEAD` request,
    /// whose answer has no body), the error's headers, `x-amz-request-id`.
    pub fn rest_xml(&self, resource: &str, request_id: &str, with_body: bool) -> Response<Bytes> {
        let mut resp = if with_body {
            let mut r = Response::new(Bytes::from(self.rest_xml_document(resource, request_id)));
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/xml"));
            r
        } else {
            Response::new(Bytes::new())
        };
        *resp.status_mut() = self.status;
        self.add_headers(&mut resp, "x-amz-request-id", request_id);
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
        MissingDate => ApiError::new(
            StatusCode::BAD_REQUEST,
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ),
        UnknownAccessKey | InvalidToken => ApiError::new(
            forbidden,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        ExpiredToken => ApiError::new(
            forbidden,
            "ExpiredTokenException",
            "The security token included in the request is expired",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_xml_errors_carry_members_headers_and_no_body_for_head() {
        let e = ApiError::new(StatusCode::NOT_FOUND, "NoSuchKey", "gone <here>")
            .with("Key", "a&b")
            .header("x-amz-delete-marker", "true");
        let r = e.rest_xml("/b/a&b", "rid", true);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()["x-amz-delete-marker"], "true");
        assert_eq!(r.headers()["x-amz-request-id"], "rid");
        let body = String::from_utf8(r.body().to_vec()).unwrap();
        let root = xml::parse(body.as_bytes()).unwrap();
        assert_eq!(root.child_text("Code"), Some("NoSuchKey"));
        assert_eq!(root.child_text("Message"), Some("gone <here>"));
        assert_eq!(root.child_text("Key"), Some("a&b"));
        assert_eq!(root.child_text("Resource"), Some("/b/a&b"));
        assert_eq!(root.child_text("RequestId"), Some("rid"));
        let head = e.rest_xml("/b/a&b", "rid", false);
        assert!(head.body().is_empty());
        assert_eq!(head.headers()["x-amz-delete-marker"], "true");
        // The same error in restJson keeps its headers too.
        let j = e.rest_json("rid");
        assert_eq!(j.headers()["x-amzn-errortype"], "NoSuchKey");
        assert_eq!(j.headers()["x-amz-delete-marker"], "true");
    }
}
