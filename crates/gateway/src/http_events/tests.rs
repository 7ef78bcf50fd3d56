use super::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn req(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        raw_path: path.into(),
        raw_query: query.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
        source_ip: "192.0.2.1".into(),
        protocol: "HTTP/1.1".into(),
    }
}

fn route(stage: &str, key: &str, resource: &str) -> Route {
    Route {
        api_id: "abc123".into(),
        stage: stage.into(),
        route_key: key.into(),
        resource_path: resource.into(),
        path_parameters: BTreeMap::new(),
        stage_variables: BTreeMap::new(),
        domain_name: "abc123.execute-api.localhost".into(),
        account_id: "123456789012".into(),
        request_id: "req-1".into(),
        // 2026-11-27T05:42:31.123Z
        time_ms: 1_795_758_151_123,
        full_path: String::new(),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn hdr<'a>(r: &'a HttpResponse, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

// ---------------------------------------------------------------- time

#[test]
fn request_time_format() {
    assert_eq!(
        format_request_time(1_795_758_151_123),
        "27/Nov/2026:05:42:31 +0000"
    );
    assert_eq!(format_request_time(0), "01/Jan/1970:00:00:00 +0000");
    assert_eq!(
        format_request_time(1_583_348_638_390),
        "04/Mar/2020:19:03:58 +0000"
    );
    // leap day
    assert_eq!(
        format_request_time(951_782_400_000),
        "29/Feb/2000:00:00:00 +0000"
    );
    // Far-future values must not panic.
    assert!(format_request_time(u64::MAX).ends_with(" +0000"));
}

// ---------------------------------------------------------------- 2.0 events

#[test]
fn v2_full_shape() {
    let r = req(
        "POST",
        "/items/a%20b",
        "a=1&a=2&b=x%20y",
        &[
            ("host", "abc123.execute-api.localhost"),
            ("user-agent", "curl/8"),
            ("cookie", "c1=v1; c2=v2"),
            ("x-multi", "one"),
            ("x-multi", "two"),
            ("content-type", "application/json"),
        ],
        br#"{"k":1}"#,
    );
    let mut rt = route("$default", "POST /items/{id}", "/items/{id}");
    rt.path_parameters = map(&[("id", "a b")]);
    rt.stage_variables = map(&[("env", "dev")]);
    let ev = event_v2(&r, &rt);
    let expected = json!({
        "version": "2.0",
        "routeKey": "POST /items/{id}",
        "rawPath": "/items/a%20b",
        "rawQueryString": "a=1&a=2&b=x%20y",
        "cookies": ["c1=v1", "c2=v2"],
        "headers": {
            "host": "abc123.execute-api.localhost",
            "user-agent": "curl/8",
            "x-multi": "one,two",
            "content-type": "application/json"
        },
        "queryStringParameters": {"a": "1,2", "b": "x y"},
        "pathParameters": {"id": "a b"},
        "stageVariables": {"env": "dev"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.localhost",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": "/items/a%20b",
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "curl/8"
            },
            "requestId": "req-1",
            "routeKey": "POST /items/{id}",
            "stage": "$default",
            "time": "27/Nov/2026:05:42:31 +0000",
            "timeEpoch": 1_795_758_151_123u64
        },
        "body": "{\"k\":1}",
        "isBase64Encoded": false
    });
    assert_eq!(ev, expected);
}

#[test]
fn v2_omits_empty_fields() {
    let r = req("GET", "/", "", &[("host", "h")], b"");
    let ev = event_v2(&r, &route("$default", "$default", ""));
    let o = ev.as_object().unwrap();
    for absent in [
        "cookies",
        "queryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
    ] {
        assert!(!o.contains_key(absent), "{absent} should be omitted");
    }
    assert_eq!(ev["isBase64Encoded"], json!(false));
    assert_eq!(ev["rawQueryString"], json!(""));
    assert_eq!(ev["rawPath"], json!("/"));
    assert_eq!(ev["routeKey"], json!("$default"));
    assert_eq!(ev["requestContext"]["http"]["userAgent"], json!(""));
}

#[test]
fn v2_cookie_header_removed_and_multiple_cookie_headers() {
    let r = req(
        "GET",
        "/",
        "",
        &[("cookie", "a=1; b=2"), ("cookie", "c=3"), ("x", "y")],
        b"",
    );
    let ev = event_v2(&r, &route("$default", "$default", ""));
    assert_eq!(ev["cookies"], json!(["a=1", "b=2", "c=3"]));
    assert!(ev["headers"].get("cookie").is_none());
    assert_eq!(ev["headers"], json!({"x": "y"}));
}

#[test]
fn v2_query_params_edge_cases() {
    let r = req("GET", "/", "flag&&k=&x=a%26b&x=c&e%20k=v+w", &[], b"");
    let ev = event_v2(&r, &route("$default", "$default", ""));
    assert_eq!(
        ev["queryStringParameters"],
        json!({"flag": "", "k": "", "x": "a&b,c", "e k": "v+w"})
    );
    assert_eq!(
        ev["rawQueryString"],
        json!("flag&&k=&x=a%26b&x=c&e%20k=v+w")
    );
}

#[test]
fn v2_named_stage_in_raw_path() {
    let r = req("GET", "/items/1", "", &[], b"");
    let ev = event_v2(&r, &route("prod", "GET /items/{id}", ""));
    assert_eq!(ev["rawPath"], json!("/prod/items/1"));
    assert_eq!(ev["requestContext"]["http"]["path"], json!("/prod/items/1"));
    assert_eq!(ev["requestContext"]["stage"], json!("prod"));
    let mut rt = route("prod", "GET /items/{id}", "");
    rt.full_path = "/prod/items/1".into();
    assert_eq!(event_v2(&r, &rt)["rawPath"], json!("/prod/items/1"));
}

#[test]
fn v2_binary_body_base64() {
    let bytes = [0u8, 159, 146, 150, 255];
    let r = req(
        "PUT",
        "/f",
        "",
        &[("content-type", "application/octet-stream")],
        &bytes,
    );
    let ev = event_v2(&r, &route("$default", "$default", ""));
    assert_eq!(ev["isBase64Encoded"], json!(true));
    assert_eq!(ev["body"], json!("AJ+Slv8="));
}

#[test]
fn v2_text_types_not_encoded() {
    for ct in [
        "text/plain",
        "text/html; charset=utf-8",
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/vnd.api+json",
        "application/atom+xml",
        "Application/JSON; charset=UTF-8",
    ] {
        let r = req("POST", "/", "", &[("content-type", ct)], b"hello");
        let ev = event_v2(&r, &route("$default", "$default", ""));
        assert_eq!(ev["body"], json!("hello"), "{ct}");
        assert_eq!(ev["isBase64Encoded"], json!(false), "{ct}");
    }
    for ct in [
        "image/png",
        "application/octet-stream",
        "application/pdf",
        "multipart/form-data; boundary=x",
    ] {
        let r = req("POST", "/", "", &[("content-type", ct)], b"hello");
        let ev = event_v2(&r, &route("$default", "$default", ""));
        assert_eq!(ev["body"], json!("aGVsbG8="), "{ct}");
        assert_eq!(ev["isBase64Encoded"], json!(true), "{ct}");
    }
}

#[test]
fn v2_body_without_content_type_or_invalid_utf8_is_base64() {
    let r = req("POST", "/", "", &[], b"hello");
    let ev = event_v2(&r, &route("$default", "$default", ""));
    assert_eq!(ev["isBase64Encoded"], json!(true));
    let r = req(
        "POST",
        "/",
        "",
        &[("content-type", "text/plain")],
        &[0xff, 0xfe],
    );
    let ev = event_v2(&r, &route("$default", "$default", ""));
    assert_eq!(ev["isBase64Encoded"], json!(true));
    assert_eq!(ev["body"], json!("//4="));
}

#[test]
fn v2_domain_defaults() {
    let r = req("GET", "/", "", &[], b"");
    let mut rt = route("$default", "$default", "");
    rt.domain_name = String::new();
    let ev = event_v2(&r, &rt);
    assert_eq!(
        ev["requestContext"]["domainName"],
        json!("abc123.execute-api.localhost")
    );
    assert_eq!(ev["requestContext"]["domainPrefix"], json!("abc123"));
    rt.domain_name = "api.example.com".into();
    assert_eq!(
        event_v2(&r, &rt)["requestContext"]["domainPrefix"],
        json!("api")
    );
}

// ---------------------------------------------------------------- function URLs

#[test]
fn function_url_event() {
    let r = req(
        "GET",
        "/x/y",
        "q=1",
        &[("user-agent", "ua"), ("cookie", "s=1")],
        b"",
    );
    let mut rt = route("prod", "GET /ignored", "");
    rt.api_id = "urlid".into();
    rt.domain_name = "urlid.lambda-url.us-east-1.on.aws".into();
    rt.path_parameters = map(&[("a", "b")]);
    rt.stage_variables = map(&[("c", "d")]);
    let ev = event_function_url(&r, &rt, None);
    assert_eq!(ev["version"], json!("2.0"));
    assert_eq!(ev["routeKey"], json!("$default"));
    assert_eq!(ev["rawPath"], json!("/x/y"));
    assert_eq!(ev["cookies"], json!(["s=1"]));
    assert_eq!(ev["queryStringParameters"], json!({"q": "1"}));
    let ctx = &ev["requestContext"];
    assert_eq!(ctx["routeKey"], json!("$default"));
    assert_eq!(ctx["stage"], json!("$default"));
    assert_eq!(ctx["domainPrefix"], json!("urlid"));
    assert_eq!(
        ctx["domainName"],
        json!("urlid.lambda-url.us-east-1.on.aws")
    );
    assert_eq!(ctx["apiId"], json!("urlid"));
    assert_eq!(ctx["http"]["path"], json!("/x/y"));
    assert!(ctx.get("authorizer").is_none());
    assert!(ev.get("pathParameters").is_none());
    assert!(ev.get("stageVariables").is_none());
}

#[test]
fn function_url_iam_authorizer() {
    let r = req(
        "POST",
        "/",
        "",
        &[("content-type", "image/png")],
        &[1, 2, 3],
    );
    let ev = event_function_url(
        &r,
        &route("$default", "$default", ""),
        Some((
            "AKIAEXAMPLE",
            "111122223333",
            "AIDAEXAMPLE",
            "arn:aws:iam::111122223333:user/u",
        )),
    );
    assert_eq!(
        ev["requestContext"]["authorizer"],
        json!({"iam": {
            "accessKey": "AKIAEXAMPLE",
            "accountId": "111122223333",
            "callerId": "AIDAEXAMPLE",
            "cognitoIdentity": null,
            "principalOrgId": null,
            "userArn": "arn:aws:iam::111122223333:user/u",
            "userId": "AIDAEXAMPLE"
        }})
    );
    assert_eq!(ev["body"], json!("AQID"));
    assert_eq!(ev["isBase64Encoded"], json!(true));
}

// ---------------------------------------------------------------- 1.0 events

#[test]
fn v1_full_shape_rest() {
    let r = req(
        "GET",
        "/items/1",
        "a=1&a=2&b=x%20y",
        &[
            ("host", "h.example"),
            ("user-agent", "ua"),
            ("x-m", "1"),
            ("x-m", "2"),
            ("cookie", "c=1"),
        ],
        b"",
    );
    let mut rt = route("prod", "GET /items/{id}", "/items/{id}");
    rt.path_parameters = map(&[("id", "1")]);
    rt.stage_variables = map(&[("v", "w")]);
    rt.full_path = "/prod/items/1".into();
    rt.domain_name = "h.example".into();
    let ev = event_v1(&r, &rt);
    let expected = json!({
        "version": "1.0",
        "resource": "/items/{id}",
        "path": "/items/1",
        "httpMethod": "GET",
        "headers": {"host": "h.example", "user-agent": "ua", "x-m": "2", "cookie": "c=1"},
        "multiValueHeaders": {"host": ["h.example"], "user-agent": ["ua"], "x-m": ["1", "2"], "cookie": ["c=1"]},
        "queryStringParameters": {"a": "2", "b": "x y"},
        "multiValueQueryStringParameters": {"a": ["1", "2"], "b": ["x y"]},
        "pathParameters": {"id": "1"},
        "stageVariables": {"v": "w"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "h.example",
            "domainPrefix": "h",
            "extendedRequestId": "req-1",
            "httpMethod": "GET",
            "identity": {
                "accessKey": null,
                "accountId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": "192.0.2.1",
                "user": null,
                "userAgent": "ua",
                "userArn": null
            },
            "path": "/prod/items/1",
            "protocol": "HTTP/1.1",
            "requestId": "req-1",
            "requestTime": "27/Nov/2026:05:42:31 +0000",
            "requestTimeEpoch": 1_795_758_151_123u64,
            "resourceId": null,
            "resourcePath": "/items/{id}",
            "stage": "prod"
        },
        "body": null,
        "isBase64Encoded": false
    });
    assert_eq!(ev, expected);
}

#[test]
fn v1_nulls_when_absent() {
    let r = req("GET", "/a", "", &[], b"");
    let ev = event_v1(&r, &route("$default", "$default", ""));
    for k in [
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
    ] {
        assert_eq!(ev[k], Value::Null, "{k}");
        assert!(
            ev.as_object().unwrap().contains_key(k),
            "{k} must be present"
        );
    }
    // $default route with no resource: the raw path is the resource.
    assert_eq!(ev["resource"], json!("/a"));
    assert_eq!(ev["requestContext"]["resourcePath"], json!("/a"));
    assert_eq!(ev["requestContext"]["path"], json!("/a"));
    assert_eq!(ev["requestContext"]["identity"]["userAgent"], Value::Null);
}

#[test]
fn v1_bodies() {
    let r = req(
        "POST",
        "/",
        "",
        &[("content-type", "text/plain")],
        b"hi there",
    );
    let ev = event_v1(&r, &route("$default", "$default", ""));
    assert_eq!(ev["body"], json!("hi there"));
    assert_eq!(ev["isBase64Encoded"], json!(false));
    let r = req(
        "POST",
        "/",
        "",
        &[("content-type", "image/gif")],
        &[0x47, 0x49, 0x46, 0x00],
    );
    let ev = event_v1(&r, &route("$default", "$default", ""));
    assert_eq!(ev["body"], json!("R0lGAA=="));
    assert_eq!(ev["isBase64Encoded"], json!(true));
}

#[test]
fn v1_stage_path_derived_without_full_path() {
    let r = req("GET", "/x", "", &[], b"");
    let ev = event_v1(&r, &route("dev", "ANY /{proxy+}", "/{proxy+}"));
    assert_eq!(ev["path"], json!("/x"));
    assert_eq!(ev["requestContext"]["path"], json!("/dev/x"));
    assert_eq!(ev["resource"], json!("/{proxy+}"));
}

// ---------------------------------------------------------------- responses 2.0

#[test]
fn v2_response_structured() {
    let p = br#"{"statusCode":201,"headers":{"Content-Type":"text/plain","X-A":"1,2"},"cookies":["a=1; Path=/","b=2"],"body":"created","isBase64Encoded":false}"#;
    let r = response_v2(p).unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.body, b"created");
    assert_eq!(hdr(&r, "content-type"), ["text/plain"]);
    assert_eq!(hdr(&r, "x-a"), ["1,2"]);
    assert_eq!(hdr(&r, "set-cookie"), ["a=1; Path=/", "b=2"]);
    // Names are kept as given.
    assert!(r.headers.iter().any(|(n, _)| n == "Content-Type"));
}

#[test]
fn v2_response_structured_minimal() {
    let r = response_v2(br#"{"statusCode":204}"#).unwrap();
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert!(r.headers.is_empty());
}

#[test]
fn v2_response_inferred() {
    let r = response_v2(br#""Hello from Lambda!""#).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"Hello from Lambda!");
    assert_eq!(hdr(&r, "content-type"), ["application/json"]);

    let r = response_v2(br#" {"message":"hi","b":1} "#).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, br#"{"message":"hi","b":1}"#);
    assert_eq!(hdr(&r, "content-type"), ["application/json"]);

    for p in [&b"[1,2]"[..], b"42", b"true", b"null"] {
        let r = response_v2(p).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, p);
    }
    // An object with body but no statusCode is itself the body.
    let r = response_v2(br#"{"body":"x"}"#).unwrap();
    assert_eq!(r.body, br#"{"body":"x"}"#);
}

#[test]
fn v2_response_base64() {
    let r = response_v2(br#"{"statusCode":200,"body":"AJ+SlvA=","isBase64Encoded":true}"#).unwrap();
    assert_eq!(r.body, [0, 159, 146, 150, 240]);
    let r = response_v2(br#"{"statusCode":200,"body":"aGk","isBase64Encoded":true}"#).unwrap();
    assert_eq!(r.body, b"hi");
    assert!(response_v2(br#"{"statusCode":200,"body":"***","isBase64Encoded":true}"#).is_err());
    assert!(response_v2(br#"{"statusCode":200,"body":"aGk=","isBase64Encoded":"yes"}"#).is_err());
}

#[test]
fn v2_response_multi_value_headers_merge() {
    let p = br#"{"statusCode":200,"headers":{"x-a":"single","x-b":"b"},"multiValueHeaders":{"X-A":["m1","m2"]}}"#;
    let r = response_v2(p).unwrap();
    assert_eq!(hdr(&r, "x-a"), ["m1", "m2"]);
    assert_eq!(hdr(&r, "x-b"), ["b"]);
}

#[test]
fn v2_response_non_string_body_and_header_values() {
    let r = response_v2(
        br#"{"statusCode":200,"body":{"a":1},"headers":{"x-n":5,"x-t":true,"x-null":null}}"#,
    )
    .unwrap();
    assert_eq!(r.body, br#"{"a":1}"#);
    assert_eq!(hdr(&r, "x-n"), ["5"]);
    assert_eq!(hdr(&r, "x-t"), ["true"]);
    assert!(hdr(&r, "x-null").is_empty());
}

#[test]
fn v2_response_malformed() {
    for p in [
        &b""[..],
        b"not json",
        b"{\"statusCode\":200",
        br#"{"statusCode":"200"}"#,
        br#"{"statusCode":99}"#,
        br#"{"statusCode":600}"#,
        br#"{"statusCode":-1}"#,
        br#"{"statusCode":200.5}"#,
        br#"{"statusCode":null}"#,
        br#"{"statusCode":200,"headers":"x"}"#,
        br#"{"statusCode":200,"headers":{"a":{"b":1}}}"#,
        br#"{"statusCode":200,"headers":{"bad name":"v"}}"#,
        br#"{"statusCode":200,"headers":{"x":"a\r\nInjected: 1"}}"#,
        br#"{"statusCode":200,"multiValueHeaders":{"x":"notarray"}}"#,
        br#"{"statusCode":200,"cookies":"a=1"}"#,
        br#"{"statusCode":200,"cookies":[1]}"#,
        br#"{"statusCode":200,"body":{"a":1},"isBase64Encoded":true}"#,
    ] {
        assert!(response_v2(p).is_err(), "{}", String::from_utf8_lossy(p));
    }
}

// ---------------------------------------------------------------- responses 1.0

#[test]
fn v1_response_ok() {
    let p = br#"{"statusCode":404,"headers":{"Content-Type":"text/plain"},"multiValueHeaders":{"Set-Cookie":["a=1","b=2"]},"body":"nope","isBase64Encoded":false}"#;
    let r = response_v1(p).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.body, b"nope");
    assert_eq!(hdr(&r, "content-type"), ["text/plain"]);
    assert_eq!(hdr(&r, "set-cookie"), ["a=1", "b=2"]);
    let r = response_v1(br#"{"statusCode":200}"#).unwrap();
    assert!(r.body.is_empty() && r.headers.is_empty());
    let r = response_v1(br#"{"statusCode":200,"body":null,"headers":null}"#).unwrap();
    assert!(r.body.is_empty());
    // No implicit content-type for 1.0.
    let r = response_v1(br#"{"statusCode":200,"body":"x"}"#).unwrap();
    assert!(hdr(&r, "content-type").is_empty());
}

#[test]
fn v1_response_base64_and_cookies_field_ignored() {
    let r = response_v1(
        br#"{"statusCode":200,"body":"/w==","isBase64Encoded":true,"cookies":["a=1"]}"#,
    )
    .unwrap();
    assert_eq!(r.body, [0xff]);
    assert!(hdr(&r, "set-cookie").is_empty());
    assert!(response_v1(br#"{"statusCode":200,"body":"%%","isBase64Encoded":true}"#).is_err());
}

#[test]
fn v1_response_malformed() {
    for p in [
        &b""[..],
        b"\"hello\"",
        b"[]",
        b"42",
        b"null",
        br#"{"body":"x"}"#,
        br#"{"statusCode":"200","body":"x"}"#,
        br#"{"statusCode":200,"body":{"a":1}}"#,
        br#"{"statusCode":200,"body":5}"#,
        br#"{"statusCode":200,"headers":[1]}"#,
        br#"{"statusCode":200,"multiValueHeaders":{"a":[{}]}}"#,
        br#"{"statusCode":1000}"#,
    ] {
        assert!(response_v1(p).is_err(), "{}", String::from_utf8_lossy(p));
    }
}

#[test]
fn bad_gateway_shape() {
    let r = HttpResponse::bad_gateway();
    assert_eq!(r.status, 502);
    assert_eq!(r.body, br#"{"message":"Internal Server Error"}"#);
}

// ---------------------------------------------------------------- route keys

#[test]
fn route_keys_valid() {
    for k in [
        "$default",
        "GET /",
        "GET /items",
        "POST /items/{id}",
        "ANY /{proxy+}",
        "DELETE /a/{b}/c/{d+}",
        "OPTIONS /x.json",
        "HEAD /a-b/{snake_case}/{dot.name}",
        "PATCH /v1/users/{userId}/orders",
        "PUT /items/{id}",
    ] {
        assert_eq!(check_route_key(k), Ok(()), "{k}");
    }
}

#[test]
fn route_keys_invalid() {
    for k in [
        "",
        "$DEFAULT",
        "default",
        "GET",
        "GET ",
        "get /items",
        "FETCH /items",
        "GET items",
        "GET  /items",
        "GET /items ",
        "GET /items//x",
        "GET /items/",
        "GET /{proxy+}/x",
        "GET /{}",
        "GET /{+}",
        "GET /{a b}",
        "GET /items/{id",
        "GET /items/id}",
        "GET /items/x{id}",
        "GET /items/{id}.json",
        "GET /{a}/{a}",
        "GET /{a}/{a+}",
        "GET /a?b",
        "GET /a#b",
        "GET /a\tb",
        "GET /{{id}}",
        "$default GET",
    ] {
        let res = check_route_key(k);
        assert!(res.is_err(), "{k:?} should be rejected");
        assert!(!res.unwrap_err().is_empty());
    }
}

// ---------------------------------------------------------------- matching

#[test]
fn match_exact_beats_variable_and_greedy() {
    let keys = [
        "ANY /{proxy+}",
        "GET /pets/{proxy+}",
        "GET /pets/dog/{id}",
        "GET /pets/dog/1",
        "$default",
    ];
    assert_eq!(
        match_route(&keys, "GET", "/pets/dog/1"),
        Some((3, BTreeMap::new()))
    );
    assert_eq!(
        match_route(&keys, "GET", "/pets/dog/2"),
        Some((2, map(&[("id", "2")])))
    );
    assert_eq!(
        match_route(&keys, "GET", "/pets/cat/2"),
        Some((1, map(&[("proxy", "cat/2")])))
    );
    assert_eq!(
        match_route(&keys, "POST", "/pets/cat/2"),
        Some((0, map(&[("proxy", "pets/cat/2")])))
    );
    assert_eq!(match_route(&keys, "GET", "/"), Some((4, BTreeMap::new())));
}

#[test]
fn match_variable_beats_greedy_even_if_shorter_literal_prefix() {
    let keys = ["GET /a/{proxy+}", "GET /{x}/b/c"];
    assert_eq!(
        match_route(&keys, "GET", "/a/b/c"),
        Some((1, map(&[("x", "a")])))
    );
}

#[test]
fn match_literal_segments_left_to_right() {
    let keys = ["GET /{a}/b", "GET /a/{b}"];
    assert_eq!(
        match_route(&keys, "GET", "/a/b"),
        Some((1, map(&[("b", "b")])))
    );
}

#[test]
fn match_longer_greedy_prefix_wins() {
    let keys = ["ANY /{proxy+}", "ANY /api/{proxy+}", "ANY /api/v1/{proxy+}"];
    assert_eq!(
        match_route(&keys, "GET", "/api/v1/x/y"),
        Some((2, map(&[("proxy", "x/y")])))
    );
    assert_eq!(
        match_route(&keys, "GET", "/api/v2"),
        Some((1, map(&[("proxy", "v2")])))
    );
    assert_eq!(
        match_route(&keys, "GET", "/other"),
        Some((0, map(&[("proxy", "other")])))
    );
}

#[test]
fn match_specific_method_before_any() {
    let keys = ["ANY /items", "GET /items", "POST /items"];
    assert_eq!(match_route(&keys, "GET", "/items").unwrap().0, 1);
    assert_eq!(match_route(&keys, "POST", "/items").unwrap().0, 2);
    assert_eq!(match_route(&keys, "DELETE", "/items").unwrap().0, 0);
    // Identical keys: the first wins.
    assert_eq!(
        match_route(&["GET /a", "GET /a"], "GET", "/a").unwrap().0,
        0
    );
}

#[test]
fn match_method_mismatch_and_default() {
    let keys = ["GET /items", "POST /items/{id}"];
    assert_eq!(match_route(&keys, "PUT", "/items"), None);
    assert_eq!(match_route(&keys, "GET", "/items/1"), None);
    assert_eq!(match_route(&keys, "get", "/items"), None);
    let keys = ["$default", "GET /items"];
    assert_eq!(
        match_route(&keys, "PUT", "/items"),
        Some((0, BTreeMap::new()))
    );
    assert_eq!(
        match_route(&keys, "GET", "/items"),
        Some((1, BTreeMap::new()))
    );
    assert_eq!(match_route(&[], "GET", "/"), None);
}

#[test]
fn match_percent_decoding() {
    let keys = ["GET /items/{id}", "GET /files/{path+}", "GET /café"];
    assert_eq!(
        match_route(&keys, "GET", "/items/a%20b"),
        Some((0, map(&[("id", "a b")])))
    );
    // %2F stays inside one segment.
    assert_eq!(
        match_route(&keys, "GET", "/items/a%2Fb"),
        Some((0, map(&[("id", "a/b")])))
    );
    assert_eq!(
        match_route(&keys, "GET", "/files/x%20y/z%C3%A9"),
        Some((1, map(&[("path", "x y/zé")])))
    );
    assert_eq!(
        match_route(&keys, "GET", "/caf%C3%A9"),
        Some((2, BTreeMap::new()))
    );
    // Malformed escapes are matched literally and do not panic.
    assert_eq!(
        match_route(&keys, "GET", "/items/%zz%"),
        Some((0, map(&[("id", "%zz%")])))
    );
}

#[test]
fn match_root_and_trailing_slash() {
    let keys = ["GET /", "GET /items", "ANY /{proxy+}"];
    assert_eq!(match_route(&keys, "GET", "/").unwrap().0, 0);
    assert_eq!(match_route(&keys, "GET", "").unwrap().0, 0);
    assert_eq!(match_route(&keys, "GET", "/items").unwrap().0, 1);
    // "/items/" is not "/items"; the greedy route takes it.
    assert_eq!(
        match_route(&keys, "GET", "/items/"),
        Some((2, map(&[("proxy", "items/")])))
    );
    // A greedy variable needs at least something; "/" does not match "/{proxy+}".
    assert_eq!(match_route(&["ANY /{proxy+}"], "GET", "/"), None);
    // An empty segment does not fill a {var}.
    assert_eq!(match_route(&["GET /items/{id}"], "GET", "/items/"), None);
}

#[test]
fn match_ignores_invalid_keys() {
    let keys = ["GET /{a}/{a}", "bogus", "GET /x/{id}"];
    assert_eq!(
        match_route(&keys, "GET", "/x/1"),
        Some((2, map(&[("id", "1")])))
    );
}

// ---------------------------------------------------------------- robustness

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    const ALPHABET: &[u8] = b"{}[]\":,0123456789 truefalsenul/+%$ANYGET\\aZ-._\r\n\t?#";
    let len = rng.below(48);
    (0..len)
        .map(|_| match rng.below(3) {
            0 => rng.next() as u8,
            _ => ALPHABET[rng.below(ALPHABET.len())],
        })
        .collect()
}

fn random_payload(rng: &mut Rng) -> Vec<u8> {
    let fragments: [&[u8]; 14] = [
        br#"{"statusCode":"#,
        b"200",
        b"-5",
        b"1e3",
        br#","headers":{"a":"#,
        br#","multiValueHeaders":{"a":["#,
        br#","cookies":["#,
        br#","body":"#,
        br#","isBase64Encoded":true"#,
        br#""x\u00ff""#,
        b"}",
        b"]",
        b"null",
        b"\"",
    ];
    let n = rng.below(8);
    let mut out = Vec::new();
    for _ in 0..n {
        if rng.below(5) == 0 {
            out.extend(random_bytes(rng));
        } else {
            out.extend_from_slice(fragments[rng.below(fragments.len())]);
        }
    }
    out
}

#[test]
fn robustness_no_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let keys_pool = [
        "$default",
        "GET /items/{id}",
        "ANY /{proxy+}",
        "POST /items",
        "GET /a/{b}/{c+}",
    ];
    for _ in 0..5000 {
        let bytes = random_bytes(&mut rng);
        let _ = response_v1(&bytes);
        let _ = response_v2(&bytes);
        let payload = random_payload(&mut rng);
        let _ = response_v1(&payload);
        let _ = response_v2(&payload);
        let s = String::from_utf8_lossy(&bytes).into_owned();
        let _ = check_route_key(&s);
        let prefixed = format!("GET /{s}");
        let _ = check_route_key(&prefixed);
        let keys = [
            keys_pool[rng.below(keys_pool.len())],
            s.as_str(),
            prefixed.as_str(),
        ];
        let _ = match_route(&keys, "GET", &s);
        let _ = match_route(&keys, "GET", &format!("/{s}"));
        // Events must not panic on odd input either.
        let r = req(
            "GET",
            &s,
            &s,
            &[("cookie", &s), ("content-type", &s)],
            &bytes,
        );
        let _ = event_v1(&r, &route("$default", &s, &s));
        let _ = event_v2(&r, &route(&s, &s, ""));
        let _ = event_function_url(
            &r,
            &route("$default", "$default", ""),
            Some((&s, &s, &s, &s)),
        );
    }
}
