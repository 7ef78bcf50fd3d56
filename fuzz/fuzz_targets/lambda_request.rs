//! Any method, path, query, headers and body give an Operation or an ApiError.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(4, '\n');
    let method = parts.next().unwrap_or("GET");
    let uri = parts.next().unwrap_or("/");
    let header = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("");
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else { return };
    let mut b = http::Request::builder().method(method).uri(uri);
    if let Some((k, v)) = header.split_once(':') {
        b = b.header(k.trim(), v.trim());
    }
    let Ok(req) = b.body(bytes::Bytes::from(body.to_string())) else { return };
    let _ = nimbus_api_lambda::parse(&req, &nimbus_model::Identity::default());
});
