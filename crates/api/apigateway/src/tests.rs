//! The management API in process, over real API stores on a temporary directory.

use super::*;

fn api() -> (tempfile::TempDir, ApiGatewayApi) {
    let d = tempfile::tempdir().unwrap();
    let kv = Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&d.path().join("m.redb")).unwrap());
    let apis = Arc::new(Apis::open(kv.clone()).unwrap());
    let rest = Arc::new(nimbus_gateway::rest::RestApis::open(kv).unwrap());
    (d, ApiGatewayApi::new(apis, rest, "us-east-1"))
}

fn call(api: &ApiGatewayApi, method: &str, path: &str, body: &str) -> (u16, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let resp = api.handle(req, "rid");
    assert_eq!(resp.headers()["x-amzn-requestid"], "rid");
    let v = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    (resp.status().as_u16(), v)
}

#[test]
fn quick_create_makes_an_integration_a_route_and_a_stage() {
    let (_d, api) = api();
    let (status, created) = call(
        &api,
        "POST",
        "/v2/apis",
        r#"{"name": "q", "protocolType": "HTTP", "target": "arn:aws:lambda:us-east-1:000000000000:function:f"}"#,
    );
    assert_eq!(status, 201, "{created}");
    let id = created["apiId"].as_str().unwrap();
    let (_, routes) = call(&api, "GET", &format!("/v2/apis/{id}/routes"), "");
    assert_eq!(routes["items"][0]["routeKey"], "$default");
    let (_, stages) = call(&api, "GET", &format!("/v2/apis/{id}/stages"), "");
    assert_eq!(stages["items"][0]["stageName"], "$default");
    assert_eq!(stages["items"][0]["autoDeploy"], true);
    assert_eq!(call(&api, "DELETE", &format!("/v2/apis/{id}"), "").0, 204);
}

#[test]
fn errors_are_api_gateway_shaped() {
    let (_d, api) = api();
    let (status, v) = call(&api, "GET", "/v2/apis/nosuchapi", "");
    assert_eq!(status, 404);
    assert!(v["message"].as_str().unwrap().contains("nosuchapi"), "{v}");
    let (status, v) = call(&api, "POST", "/v2/apis", r#"{"protocolType": "HTTP"}"#);
    assert_eq!(status, 400, "{v}");
    let (status, _) = call(&api, "POST", "/v2/apis", "{not json");
    assert_eq!(status, 400);
    let (status, v) = call(
        &api,
        "POST",
        "/v2/apis",
        r#"{"name": "w", "protocolType": "WEBSOCKET"}"#,
    );
    assert_eq!(status, 400, "{v}");
}

#[test]
fn rest_api_integration_responses_are_kept() {
    let (_d, api) = api();
    let (status, created) = call(&api, "POST", "/restapis", r#"{"name": "r"}"#);
    assert_eq!(status, 201, "{created}");
    let (id, root) = (
        created["id"].as_str().unwrap(),
        created["rootResourceId"].as_str().unwrap(),
    );
    let method = format!("/restapis/{id}/resources/{root}/methods/GET");
    let (status, _) = call(&api, "PUT", &method, r#"{"authorizationType": "NONE"}"#);
    assert_eq!(status, 201);
    let (status, _) = call(
        &api,
        "PUT",
        &format!("{method}/integration"),
        r#"{"type": "AWS_PROXY", "uri": "arn:aws:lambda:us-east-1:000000000000:function:f"}"#,
    );
    assert_eq!(status, 201);
    let (status, v) = call(
        &api,
        "PUT",
        &format!("{method}/integration/responses/200"),
        r#"{"selectionPattern": ""}"#,
    );
    assert_eq!((status, &v["statusCode"]), (201, &json!("200")), "{v}");
    let (_, i) = call(&api, "GET", &format!("{method}/integration"), "");
    assert_eq!(i["integrationResponses"]["200"]["statusCode"], "200", "{i}");
}
