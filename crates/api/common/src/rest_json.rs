//! The restJson1 protocol's framing as the smaller REST services use it
//! (Scheduler, Pipes, X-Ray): the operation in the method and path, a JSON
//! object body (or none), a JSON object answer; errors as
//! [`ApiError::rest_json`] writes them.

use crate::ApiError;
use bytes::Bytes;
use http::{HeaderValue, Response};
use serde_json::Value;

/// A request's JSON body (`{}` when empty); a body that is not JSON is
/// refused with `code` (the service's validation error).
pub fn body(bytes: &[u8], code: &str) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(code, format!("The body is not JSON: {e}")))
}

/// The answer to an operation: 200 with its JSON, or its error.
pub fn answer(result: Result<Value, ApiError>, request_id: &str) -> Response<Bytes> {
    match result {
        Ok(v) => {
            let mut r = Response::new(Bytes::from(v.to_string()));
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            r
        }
        Err(e) => e.rest_json(request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bodies_are_empty_objects_and_others_must_be_json() {
        assert_eq!(body(b"", "V").unwrap(), serde_json::json!({}));
        assert_eq!(body(br#"{"a":1}"#, "V").unwrap()["a"], 1);
        assert_eq!(
            body(b"{", "ValidationException").unwrap_err().code,
            "ValidationException"
        );
        let r = answer(Ok(serde_json::json!({"x": 1})), "rid");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.body().as_ref(), br#"{"x":1}"#);
    }
}
