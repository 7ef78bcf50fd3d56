//! Unit tests of `serve`.

use super::*;

fn parts(host: &str, path: &str) -> http::request::Parts {
    http::Request::builder()
        .uri(path)
        .header("host", host)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

#[test]
fn requests_are_addressed_by_host_or_path() {
    assert_eq!(
        addressed(&parts("abc123.execute-api.localhost:4566", "/prod/x")),
        Some((Target::Api("abc123".into()), "/prod/x".into()))
    );
    assert_eq!(
        addressed(&parts("u1.lambda-url.us-east-1.localhost", "/")),
        Some((Target::FunctionUrl("u1".into()), "/".into()))
    );
    assert_eq!(
        addressed(&parts(
            "localhost:4566",
            "/_nimbus/execute-api/abc/prod/items/1"
        )),
        Some((Target::Api("abc".into()), "/prod/items/1".into()))
    );
    assert_eq!(
        addressed(&parts("localhost", "/_nimbus/lambda-url/u1")),
        Some((Target::FunctionUrl("u1".into()), "/".into()))
    );
    assert_eq!(
        addressed(&parts(
            "localhost",
            "/restapis/abc/prod/_user_request_/items/1"
        )),
        Some((Target::Api("abc".into()), "/prod/items/1".into()))
    );
    assert_eq!(
        addressed(&parts("localhost", "/restapis/abc/resources")),
        None
    );
    assert_eq!(addressed(&parts("bucket.localhost", "/key")), None);
    assert_eq!(
        addressed(&parts("localhost", "/2015-03-31/functions")),
        None
    );
}

#[test]
fn integration_uris_name_functions() {
    assert_eq!(
        function_of("arn:aws:lambda:us-east-1:000000000000:function:f"),
        ("f".into(), None)
    );
    assert_eq!(
        function_of("arn:aws:lambda:us-east-1:000000000000:function:f:live"),
        ("f".into(), Some("live".into()))
    );
    assert_eq!(
        function_of(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:g/invocations"
        ),
        ("g".into(), None)
    );
    assert_eq!(function_of("plain"), ("plain".into(), None));
}

#[test]
fn iam_policy_answers_are_read_as_api_gateway_does() {
    let arn = "arn:aws:execute-api:us-east-1:000000000000:abc/$default/GET/items/1";
    assert!(arn_matches(
        "arn:aws:execute-api:*:*:abc/*/GET/items/*",
        arn
    ));
    assert!(!arn_matches("arn:aws:execute-api:*:*:abc/*/POST/*", arn));
    let allow = json!({ "policyDocument": { "Statement": [
        { "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*" } ] } });
    assert_eq!(policy_allows(&allow, arn), Some(true));
    let deny_wins = json!({ "policyDocument": { "Statement": [
        { "Action": "*", "Effect": "Allow", "Resource": ["*"] },
        { "Action": ["execute-api:Invoke"], "Effect": "Deny", "Resource": [arn] } ] } });
    assert_eq!(policy_allows(&deny_wins, arn), Some(false));
    assert_eq!(policy_allows(&json!({ "nothing": 1 }), arn), None);
    assert_eq!(
        query_value("a=1&token=x%20y", "token").as_deref(),
        Some("x y")
    );
    assert_eq!(percent_decode("%zz%4"), "%zz%4");
}

#[test]
fn cors_allows_listed_origins() {
    let cfg = json!({ "allowOrigins": ["https://app.example"], "allowMethods": ["GET", "POST"], "maxAge": 60 });
    let h = cors_headers(&cfg, Some("https://app.example"), true);
    assert!(h.contains(&(
        "access-control-allow-origin".into(),
        "https://app.example".into()
    )));
    assert!(h.contains(&("access-control-allow-methods".into(), "GET,POST".into())));
    assert!(h.contains(&("access-control-max-age".into(), "60".into())));
    assert!(cors_headers(&cfg, Some("https://evil.example"), true).is_empty());
    let star = json!({ "AllowOrigins": ["*"] });
    assert_eq!(cors_headers(&star, Some("https://x"), false)[0].1, "*");
}
