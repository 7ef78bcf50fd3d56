//! Lambda result → HTTP response (payload formats 2.0 / function URLs, and 1.0 / REST).

use serde_json::{Map, Value};

use super::HttpResponse;
use super::util::{b64_decode, is_header_value, is_token};

/// A header value as the function may give it: a string, or (leniently) a
/// number or boolean, which are stringified. `null` means "absent".
fn header_value(v: &Value) -> Result<Option<String>, ()> {
    match v {
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Null => Ok(None),
        _ => Err(()),
    }
}

fn status_code(v: Option<&Value>) -> Result<u16, ()> {
    let n = v.ok_or(())?;
    let code = if let Some(u) = n.as_u64() {
        u
    } else if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0) {
        f as u64
    } else {
        return Err(());
    };
    if (100..=599).contains(&code) {
        Ok(code as u16)
    } else {
        Err(())
    }
}

fn optional_object<'a>(
    m: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, ()> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(()),
    }
}

fn push_header(out: &mut Vec<(String, String)>, name: &str, value: String) -> Result<(), ()> {
    if !is_token(name) || !is_header_value(&value) {
        return Err(());
    }
    out.push((name.to_string(), value));
    Ok(())
}

/// `headers` merged with `multiValueHeaders`: a name present in
/// `multiValueHeaders` (case-insensitively) takes only those values.
fn collect_headers(m: &Map<String, Value>) -> Result<Vec<(String, String)>, ()> {
    let single = optional_object(m, "headers")?;
    let multi = optional_object(m, "multiValueHeaders")?;
    let in_multi = |name: &str| {
        multi.is_some_and(|mm| {
            mm.iter()
                .any(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_null())
        })
    };
    let mut out = Vec::new();
    if let Some(h) = single {
        for (name, v) in h {
            if in_multi(name) {
                continue;
            }
            if let Some(value) = header_value(v)? {
                push_header(&mut out, name, value)?;
            }
        }
    }
    if let Some(mh) = multi {
        for (name, v) in mh {
            match v {
                Value::Null => {}
                Value::Array(values) => {
                    for item in values {
                        if let Some(value) = header_value(item)? {
                            push_header(&mut out, name, value)?;
                        }
                    }
                }
                _ => return Err(()),
            }
        }
    }
    Ok(out)
}

fn is_base64(m: &Map<String, Value>) -> Result<bool, ()> {
    match m.get("isBase64Encoded") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(()),
    }
}

fn finish_body(text: &str, b64: bool) -> Result<Vec<u8>, ()> {
    if b64 {
        b64_decode(text)
    } else {
        Ok(text.as_bytes().to_vec())
    }
}

fn parse_json(payload: &[u8]) -> Result<Value, ()> {
    serde_json::from_slice(payload).map_err(|_| ())
}

/// The function's result as API Gateway (HTTP API, payload format 2.0) and
/// Lambda function URLs answer it.
///
/// * An object with `statusCode` is a structured response: `statusCode`,
///   `headers`, `multiValueHeaders`, `cookies` (one `Set-Cookie` each), `body`
///   (string; other JSON values are serialized), `isBase64Encoded`.
/// * Any other valid JSON is the body of a 200 response with
///   `content-type: application/json`; a JSON string contributes its contents.
/// * Invalid JSON, a bad `statusCode`, ill-typed fields, bad header names or
///   values and bad base64 give `Err(())` (API Gateway then answers 502).
#[allow(clippy::result_unit_err)] // the error carries no detail: 502 either way
pub fn response_v2(payload: &[u8]) -> Result<HttpResponse, ()> {
    let value = parse_json(payload)?;
    match &value {
        Value::Object(m) if m.contains_key("statusCode") => {
            let status = status_code(m.get("statusCode"))?;
            let mut headers = collect_headers(m)?;
            match m.get("cookies") {
                None | Some(Value::Null) => {}
                Some(Value::Array(cookies)) => {
                    for c in cookies {
                        match c {
                            Value::String(s) => push_header(&mut headers, "set-cookie", s.clone())?,
                            _ => return Err(()),
                        }
                    }
                }
                Some(_) => return Err(()),
            }
            let b64 = is_base64(m)?;
            let body = match m.get("body") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => finish_body(s, b64)?,
                Some(other) if !b64 => serde_json::to_vec(other).map_err(|_| ())?,
                Some(_) => return Err(()),
            };
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        }
        other => {
            let body = match other {
                Value::String(s) => s.as_bytes().to_vec(),
                _ => payload.trim_ascii().to_vec(),
            };
            Ok(HttpResponse {
                status: 200,
                headers: vec![("content-type".to_string(), "application/json".to_string())],
                body,
            })
        }
    }
}

/// Payload format 1.0 / REST `AWS_PROXY`: the result must be an object with a
/// numeric `statusCode` and optional `headers`, `multiValueHeaders`, `body`
/// (string) and `isBase64Encoded`; anything else is `Err(())` ("Malformed
/// Lambda proxy response", answered with 502).
#[allow(clippy::result_unit_err)] // the error carries no detail: 502 either way
pub fn response_v1(payload: &[u8]) -> Result<HttpResponse, ()> {
    let value = parse_json(payload)?;
    let m = value.as_object().ok_or(())?;
    let status = status_code(m.get("statusCode"))?;
    let headers = collect_headers(m)?;
    let b64 = is_base64(m)?;
    let body = match m.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => finish_body(s, b64)?,
        Some(_) => return Err(()),
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}
