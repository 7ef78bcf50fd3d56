//! The API Gateway management API (v1 and v2) never panics, whatever the
//! method, path and body: each request is parsed into an operation and run on
//! real API stores, which keep what earlier inputs created.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use nimbus_api_apigateway::ApiGatewayApi;
use std::sync::{Arc, OnceLock};

fn api() -> &'static ApiGatewayApi {
    static API: OnceLock<ApiGatewayApi> = OnceLock::new();
    API.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("nimbus-fuzz-apigw-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let kv = Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("m.redb")).unwrap());
        let apis = Arc::new(nimbus_gateway::apis::Apis::open(kv.clone()).unwrap());
        let rest = Arc::new(nimbus_gateway::rest::RestApis::open(kv).unwrap());
        ApiGatewayApi::new(apis, rest, "us-east-1")
    })
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let (path, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let path = String::from_utf8_lossy(path);
    let prefix = if m & 0x80 == 0 { "/v2/apis" } else { "/restapis" };
    let uri = format!("{prefix}{path}");
    let Ok(req) = http::Request::builder()
        .method(METHODS[usize::from(m) % METHODS.len()])
        .uri(uri)
        .body(Bytes::copy_from_slice(body))
    else {
        return;
    };
    let _ = api().handle(req, "rid");
});
