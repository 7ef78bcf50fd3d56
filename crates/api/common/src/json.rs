//! The awsJson protocols (1.0 and 1.1): `POST /` with `X-Amz-Target:
//! <prefix>.<Operation>` and a JSON object body; answers are JSON objects,
//! errors `{"__type": "<namespace>#<Code>", "message": ...}`. SQS, DynamoDB,
//! Step Functions and most newer AWS services speak it. A service declares its
//! [`AwsJson`] once; parsing the target and the body, and writing answers and
//! errors, happen here and nowhere else.

use crate::ApiError;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use serde_json::Value;

/// One service's awsJson framing.
#[derive(Debug, Clone, Copy)]
pub struct AwsJson {
    /// `X-Amz-Target` prefixes before the `.` (`AmazonSQS`, `DynamoDB_20120810`).
    pub target_prefixes: &'static [&'static str],
    /// What error codes are qualified with in `__type`, including the `#`.
    pub error_namespace: &'static str,
    /// `application/x-amz-json-1.0` or `-1.1`.
    pub content_type: &'static str,
    /// Send `x-amz-crc32` of the body (DynamoDB; SDKs check it).
    pub crc32: bool,
}

/// A request as the service sees it: the target's prefix, the operation
/// named, and the parameters.
#[derive(Debug)]
pub struct Call {
    pub prefix: &'static str,
    pub operation: String,
    pub params: Value,
}

impl AwsJson {
    /// Whether an `X-Amz-Target` value is this service's.
    pub fn owns(&self, target: &str) -> bool {
        self.split(target).is_some()
    }

    /// Whether a request's `X-Amz-Target` is this service's (what
    /// [`crate::Service::owns`] answers for an awsJson service).
    pub fn owns_request(&self, req: &http::request::Parts) -> bool {
        req.headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| self.owns(t))
    }

    fn split(&self, target: &str) -> Option<(&'static str, String)> {
        let (prefix, op) = target.split_once('.')?;
        let prefix = self.target_prefixes.iter().find(|p| **p == prefix)?;
        Some((prefix, op.to_string()))
    }

    /// The operation and parameters of a request: `UnknownOperationException`
    /// for a target that is not this service's, `SerializationException` for a
    /// body that is not a JSON object (an empty body is `{}`).
    pub fn call(&self, req: &Request<Bytes>) -> Result<Call, ApiError> {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (prefix, operation) = self.split(target).ok_or_else(|| {
            ApiError::bad_request(
                "UnknownOperationException",
                format!("{target} is not an operation of this service"),
            )
        })?;
        let body = req.body();
        let params = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => {
                    return Err(ApiError::bad_request(
                        "SerializationException",
                        "Start of structure or map found where not expected",
                    ));
                }
                Err(e) => {
                    return Err(ApiError::bad_request(
                        "SerializationException",
                        format!("The request body is not valid JSON: {e}"),
                    ));
                }
            }
        };
        Ok(Call {
            prefix,
            operation,
            params,
        })
    }

    /// A successful answer.
    pub fn respond(&self, body: &Value, request_id: &str) -> Response<Bytes> {
        self.write(StatusCode::OK, body.to_string(), request_id)
    }

    /// An error in this service's envelope.
    pub fn error(&self, e: &ApiError, request_id: &str) -> Response<Bytes> {
        let mut body = serde_json::Map::new();
        body.insert(
            "__type".into(),
            format!("{}{}", self.error_namespace, e.code).into(),
        );
        body.insert(e.message_key.as_str().into(), e.message.clone().into());
        for (k, v) in &e.extra {
            body.insert(k.clone(), v.clone());
        }
        let mut r = self.write(e.status, Value::Object(body).to_string(), request_id);
        if let Some(code) = &e.query_code {
            let fault = match e.fault() {
                crate::Fault::Sender => "Sender",
                crate::Fault::Receiver => "Receiver",
            };
            if let Ok(v) = HeaderValue::from_str(&format!("{code};{fault}")) {
                r.headers_mut().insert("x-amzn-query-error", v);
            }
        }
        e.add_headers(&mut r, "x-amzn-requestid", request_id);
        r
    }

    fn write(&self, status: StatusCode, body: String, request_id: &str) -> Response<Bytes> {
        let bytes = Bytes::from(body);
        let crc = self.crc32.then(|| crc32fast::hash(&bytes));
        let mut r = Response::new(bytes);
        *r.status_mut() = status;
        let h = r.headers_mut();
        h.insert("content-type", HeaderValue::from_static(self.content_type));
        if let Some(crc) = crc {
            h.insert("x-amz-crc32", HeaderValue::from(crc));
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert("x-amzn-requestid", v);
        }
        r
    }
}

/// Whether an `Accept-Encoding` value takes gzip (by name or `*`, with a
/// quality above zero).
pub fn accepts_gzip(accept_encoding: Option<&HeaderValue>) -> bool {
    let Some(value) = accept_encoding.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let zero = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !zero
    })
}

/// Gzip an answer's body of at least `min` bytes for a client that takes
/// gzip, as DynamoDB does: `Content-Encoding: gzip`, and the `x-amz-crc32`
/// (when sent) recomputed over the compressed bytes, which is what SDKs
/// check.
pub fn gzip_answer(resp: &mut Response<Bytes>, accept_encoding: Option<&HeaderValue>, min: usize) {
    if resp.body().len() < min
        || resp.headers().contains_key("content-encoding")
        || !accepts_gzip(accept_encoding)
    {
        return;
    }
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(resp.body().len() / 4),
        flate2::Compression::fast(),
    );
    if std::io::Write::write_all(&mut gz, resp.body()).is_err() {
        return;
    }
    let Ok(compressed) = gz.finish() else {
        return;
    };
    let h = resp.headers_mut();
    h.insert("content-encoding", HeaderValue::from_static("gzip"));
    if h.contains_key("x-amz-crc32") {
        h.insert(
            "x-amz-crc32",
            HeaderValue::from(crc32fast::hash(&compressed)),
        );
    }
    h.remove("content-length");
    *resp.body_mut() = Bytes::from(compressed);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVC: AwsJson = AwsJson {
        target_prefixes: &["Svc_1", "SvcStreams_1"],
        error_namespace: "com.example#",
        content_type: "application/x-amz-json-1.0",
        crc32: true,
    };

    fn req(target: &str, body: &str) -> Request<Bytes> {
        let mut r = Request::new(Bytes::from(body.to_string()));
        r.headers_mut()
            .insert("x-amz-target", HeaderValue::from_str(target).unwrap());
        r
    }

    #[test]
    fn calls_are_framed_and_checked() {
        let c = SVC.call(&req("SvcStreams_1.ListThings", "")).unwrap();
        assert_eq!(
            (c.prefix, c.operation.as_str()),
            ("SvcStreams_1", "ListThings")
        );
        assert_eq!(c.params, serde_json::json!({}));
        assert_eq!(
            SVC.call(&req("Svc_1.Put", r#"{"a": 1}"#)).unwrap().params["a"],
            1
        );
        for (t, b, code) in [
            ("Other.Put", "{}", "UnknownOperationException"),
            ("Svc_1", "{}", "UnknownOperationException"),
            ("Svc_1.Put", "[1]", "SerializationException"),
            ("Svc_1.Put", "{", "SerializationException"),
        ] {
            assert_eq!(SVC.call(&req(t, b)).unwrap_err().code, code, "{t} {b}");
        }
    }

    #[test]
    fn errors_carry_the_namespace_extras_and_query_code() {
        let e = ApiError::bad_request("Boom", "it broke")
            .with("Item", serde_json::json!({"k": {"S": "v"}}))
            .with_query_code("AWS.Legacy.Boom");
        let r = SVC.error(&e, "rid");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()["x-amzn-query-error"], "AWS.Legacy.Boom;Sender");
        assert_eq!(r.headers()["x-amzn-requestid"], "rid");
        assert!(r.headers().contains_key("x-amz-crc32"));
        let v: Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["__type"], "com.example#Boom");
        assert_eq!(v["message"], "it broke");
        assert_eq!(v["Item"]["k"]["S"], "v");
    }

    #[test]
    fn large_answers_are_gzipped_for_clients_that_take_it() {
        let body = serde_json::json!({"Items": vec!["x".repeat(100); 100]});
        let accept = |v: &'static str| HeaderValue::from_static(v);
        for (header, gzipped) in [
            (Some(accept("gzip")), true),
            (Some(accept("deflate, GZIP;q=0.5")), true),
            (Some(accept("*")), true),
            (Some(accept("gzip;q=0")), false),
            (Some(accept("identity")), false),
            (None, false),
        ] {
            let mut r = SVC.respond(&body, "rid");
            gzip_answer(&mut r, header.as_ref(), 1024);
            assert_eq!(
                r.headers().contains_key("content-encoding"),
                gzipped,
                "{header:?}"
            );
            let crc: u32 = r.headers()["x-amz-crc32"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(crc, crc32fast::hash(r.body()));
            let mut plain = Vec::new();
            if gzipped {
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&r.body()[..]),
                    &mut plain,
                )
                .unwrap();
            } else {
                plain = r.body().to_vec();
            }
            assert_eq!(serde_json::from_slice::<Value>(&plain).unwrap(), body);
        }
        // Small answers stay as they are.
        let mut r = SVC.respond(&serde_json::json!({}), "rid");
        gzip_answer(&mut r, Some(&accept("gzip")), 1024);
        assert!(!r.headers().contains_key("content-encoding"));
    }
}
