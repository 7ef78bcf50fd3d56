//! The `Authorization` header parser, the canonical-request builder and the
//! request-date readers (SigV4's `X-Amz-Date` / `Date`, SigV2's `Date` with its
//! skew check) never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_api_common::sigv4::{self, Authorization, RequestParts};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (header, rest) = text.split_once('\n').unwrap_or((text, ""));
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if let Ok(auth) = Authorization::parse(header) {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("localhost"));
        headers.insert(
            "x-amz-date",
            http::HeaderValue::from_static("20261127T000000Z"),
        );
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
    // The first line as a date, in every header a date is read from.
    if let Ok(value) = http::HeaderValue::from_str(header) {
        for name in ["x-amz-date", "date"] {
            let mut headers = http::HeaderMap::new();
            headers.insert(name, value.clone());
            let _ = sigv4::request_date(&headers);
            let v2 = nimbus_api_common::sigv2::V2 {
                access_key_id: "AK".into(),
                signature: "c2ln".into(),
                expires: None,
            };
            for now in [0, 1_795_737_600, i64::MAX, i64::MIN] {
                let _ = nimbus_api_common::sigv2::verify(
                    &v2,
                    "GET",
                    &headers,
                    "/b/k",
                    |_| Some("secret".into()),
                    now,
                );
            }
        }
    }
});
