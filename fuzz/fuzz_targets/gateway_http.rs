//! The HTTP front doors' parsers never panic: function results mapped to HTTP
//! responses (payload 2.0 and 1.0), route keys checked and matched, events
//! built from arbitrary requests, and JWTs and key sets checked.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_gateway::http_events::{self, HttpRequest, Route};
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let _ = http_events::response_v2(data);
    let _ = http_events::response_v1(data);
    let text = String::from_utf8_lossy(data);
    let _ = http_events::check_route_key(&text);
    let mut parts = text.splitn(3, '\n');
    let key = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("/");
    let rest = parts.next().unwrap_or("");
    let _ = http_events::match_route(&[key, "ANY /{proxy+}", "GET /items/{id}", "$default"], "GET", path);
    let req = HttpRequest {
        method: "POST".into(),
        raw_path: path.into(),
        raw_query: rest.into(),
        headers: vec![("cookie".into(), rest.into()), ("content-type".into(), key.into())],
        body: data.to_vec(),
        source_ip: "127.0.0.1".into(),
        protocol: "HTTP/1.1".into(),
    };
    let route = Route {
        api_id: "a".into(),
        stage: key.into(),
        route_key: key.into(),
        resource_path: path.into(),
        path_parameters: BTreeMap::new(),
        stage_variables: BTreeMap::new(),
        domain_name: rest.into(),
        account_id: "0".into(),
        request_id: "r".into(),
        time_ms: 0,
        full_path: path.into(),
    };
    let _ = http_events::event_v2(&req, &route);
    let _ = http_events::event_v1(&req, &route);
    let _ = nimbus_gateway::jwt::parse_jwks(data);
    let _ = nimbus_gateway::jwt::verify(&text, &[], "i", &["a".into()], 0);
});
