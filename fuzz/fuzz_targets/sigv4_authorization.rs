//! The `Authorization` header parser and the canonical-request builder never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_api_common::sigv4::{self, Authorization, RequestParts};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (header, rest) = text.split_once('\n').unwrap_or((text, ""));
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if let Ok(auth) = Authorization::parse(header) {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("localhost"));
        headers.insert("x-amz-date", http::HeaderValue::from_static("20261127T000000Z"));
        let parts = RequestParts {
            method: "GET",
            raw_path: path,
            raw_query: query,
            headers: &headers,
            payload_hash: "UNSIGNED-PAYLOAD",
            double_encode_path: true,
        };
        let _ = sigv4::verify(&parts, &auth, |_| Some("secret".into()), 1_795_737_600);
    }
    let _ = sigv4::percent_decode(text);
});
