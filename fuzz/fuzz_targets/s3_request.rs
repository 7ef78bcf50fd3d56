//! What S3 requests carry that we parse: request XML documents (ACLs,
//! lifecycle rules, Object Lock configurations and retentions too),
//! bucket policies read for publicness, ACL headers, SigV2 and presigned
//! SigV4 queries, and the canonical SigV2 resource; none panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_api_common::{sigv2, sigv4};

fuzz_target!(|data: &[u8]| {
    let _ = nimbus_api_s3::xml::parse(data);
    nimbus_api_s3::read_documents(data);
    let _ = nimbus_api_s3::acl::parse_policy(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = nimbus_api_s3::acl::is_public_policy(text);
    if let Ok(v) = http::HeaderValue::from_str(text) {
        for name in ["x-amz-acl", "x-amz-grant-read"] {
            let mut headers = http::HeaderMap::new();
            headers.insert(name, v.clone());
            let _ = nimbus_api_s3::acl::requested(&headers);
        }
    }
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let _ = sigv2::canonical_resource(None, path, query);
    let _ = sigv2::parse_header(text);
    if let Some(Ok(v2)) = sigv2::parse_query(query) {
        let headers = http::HeaderMap::new();
        let _ = sigv2::verify(&v2, "GET", &headers, path, |_| Some("secret".into()), 0);
    }
    if let Some(Ok(p)) = sigv4::parse_presigned(query) {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("localhost"));
        let parts = sigv4::RequestParts {
            method: "GET",
            raw_path: path,
            raw_query: query,
            headers: &headers,
            payload_hash: "UNSIGNED-PAYLOAD",
            double_encode_path: false,
        };
        let _ = sigv4::verify_presigned(&parts, &p, |_| Some("secret".into()), 1_795_737_600);
    }
});
