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

fn parsed(method: &str, path: &str) -> Option<Operation> {
    Operation::parse(&Method::from_bytes(method.as_bytes()).unwrap(), path)
}

#[test]
fn every_http_api_operation_parses_from_its_path() {
    use Operation as O;
    let a = || "a1".to_string();
    let cases = [
        ("POST", "/v2/apis", O::CreateApi),
        ("GET", "/v2/apis/", O::GetApis),
        ("GET", "/v2/apis/a1", O::GetApi { api: a() }),
        ("PATCH", "/v2/apis/a1", O::UpdateApi { api: a() }),
        ("DELETE", "/v2/apis/a1", O::DeleteApi { api: a() }),
        (
            "DELETE",
            "/v2/apis/a1/cors",
            O::DeleteCorsConfiguration { api: a() },
        ),
        ("POST", "/v2/apis/a1/routes", O::CreateRoute { api: a() }),
        ("GET", "/v2/apis/a1/routes", O::GetRoutes { api: a() }),
        (
            "GET",
            "/v2/apis/a1/routes/r1",
            O::GetRoute {
                api: a(),
                route: "r1".into(),
            },
        ),
        (
            "PATCH",
            "/v2/apis/a1/routes/r1",
            O::UpdateRoute {
                api: a(),
                route: "r1".into(),
            },
        ),
        (
            "DELETE",
            "/v2/apis/a1/routes/r1",
            O::DeleteRoute {
                api: a(),
                route: "r1".into(),
            },
        ),
        (
            "POST",
            "/v2/apis/a1/integrations",
            O::CreateIntegration { api: a() },
        ),
        (
            "GET",
            "/v2/apis/a1/integrations",
            O::GetIntegrations { api: a() },
        ),
        (
            "GET",
            "/v2/apis/a1/integrations/i1",
            O::GetIntegration {
                api: a(),
                integration: "i1".into(),
            },
        ),
        (
            "PATCH",
            "/v2/apis/a1/integrations/i1",
            O::UpdateIntegration {
                api: a(),
                integration: "i1".into(),
            },
        ),
        (
            "DELETE",
            "/v2/apis/a1/integrations/i1",
            O::DeleteIntegration {
                api: a(),
                integration: "i1".into(),
            },
        ),
        (
            "POST",
            "/v2/apis/a1/authorizers",
            O::CreateAuthorizer { api: a() },
        ),
        (
            "GET",
            "/v2/apis/a1/authorizers",
            O::GetAuthorizers { api: a() },
        ),
        (
            "GET",
            "/v2/apis/a1/authorizers/z1",
            O::GetAuthorizer {
                api: a(),
                authorizer: "z1".into(),
            },
        ),
        (
            "DELETE",
            "/v2/apis/a1/authorizers/z1",
            O::DeleteAuthorizer {
                api: a(),
                authorizer: "z1".into(),
            },
        ),
        ("POST", "/v2/apis/a1/stages", O::CreateStage { api: a() }),
        ("GET", "/v2/apis/a1/stages", O::GetStages { api: a() }),
        (
            "GET",
            "/v2/apis/a1/stages/$default",
            O::GetStage {
                api: a(),
                stage: "$default".into(),
            },
        ),
        (
            "PATCH",
            "/v2/apis/a1/stages/prod",
            O::UpdateStage {
                api: a(),
                stage: "prod".into(),
            },
        ),
        (
            "DELETE",
            "/v2/apis/a1/stages/prod",
            O::DeleteStage {
                api: a(),
                stage: "prod".into(),
            },
        ),
        (
            "POST",
            "/v2/apis/a1/deployments",
            O::CreateDeployment { api: a() },
        ),
        (
            "GET",
            "/v2/apis/a1/deployments",
            O::GetDeployments { api: a() },
        ),
        (
            "GET",
            "/v2/apis/a1/deployments/d1",
            O::GetDeployment {
                api: a(),
                deployment: "d1".into(),
            },
        ),
    ];
    for (method, path, want) in cases {
        assert_eq!(parsed(method, path), Some(want), "{method} {path}");
    }
}

#[test]
fn every_rest_api_operation_parses_from_its_path() {
    use rest::{MethodAt, Operation as O};
    let a = || "a1".to_string();
    let at = || MethodAt {
        api: a(),
        resource: "r1".into(),
        http_method: "get".into(),
    };
    let m = "/restapis/a1/resources/r1/methods/get";
    let cases = [
        ("POST", "/restapis".to_string(), O::CreateRestApi),
        ("GET", "/restapis/".into(), O::GetRestApis),
        ("GET", "/restapis/a1".into(), O::GetRestApi { api: a() }),
        (
            "POST",
            "/restapis/a1/authorizers".into(),
            O::CreateAuthorizer { api: a() },
        ),
        (
            "GET",
            "/restapis/a1/authorizers".into(),
            O::GetAuthorizers { api: a() },
        ),
        (
            "PATCH",
            "/restapis/a1/authorizers/z1".into(),
            O::UpdateAuthorizer {
                api: a(),
                authorizer: "z1".into(),
            },
        ),
        (
            "DELETE",
            "/restapis/a1/authorizers/z1".into(),
            O::DeleteAuthorizer {
                api: a(),
                authorizer: "z1".into(),
            },
        ),
        (
            "PATCH",
            "/restapis/a1".into(),
            O::UpdateRestApi { api: a() },
        ),
        (
            "DELETE",
            "/restapis/a1".into(),
            O::DeleteRestApi { api: a() },
        ),
        (
            "GET",
            "/restapis/a1/resources".into(),
            O::GetResources { api: a() },
        ),
        (
            "GET",
            "/restapis/a1/resources/r1".into(),
            O::GetResource {
                api: a(),
                resource: "r1".into(),
            },
        ),
        (
            "POST",
            "/restapis/a1/resources/r1".into(),
            O::CreateResource {
                api: a(),
                parent: "r1".into(),
            },
        ),
        (
            "DELETE",
            "/restapis/a1/resources/r1".into(),
            O::DeleteResource {
                api: a(),
                resource: "r1".into(),
            },
        ),
        ("PUT", m.into(), O::PutMethod(at())),
        ("GET", m.into(), O::GetMethod(at())),
        ("DELETE", m.into(), O::DeleteMethod(at())),
        (
            "PUT",
            format!("{m}/responses/200"),
            O::PutMethodResponse {
                method: at(),
                status_code: "200".into(),
            },
        ),
        ("PUT", format!("{m}/integration"), O::PutIntegration(at())),
        ("GET", format!("{m}/integration"), O::GetIntegration(at())),
        (
            "PUT",
            format!("{m}/integration/responses/200"),
            O::PutIntegrationResponse {
                method: at(),
                status_code: "200".into(),
            },
        ),
        (
            "POST",
            "/restapis/a1/deployments".into(),
            O::CreateDeployment { api: a() },
        ),
        (
            "GET",
            "/restapis/a1/deployments".into(),
            O::GetDeployments { api: a() },
        ),
        (
            "GET",
            "/restapis/a1/deployments/d1".into(),
            O::GetDeployment {
                api: a(),
                deployment: "d1".into(),
            },
        ),
        (
            "POST",
            "/restapis/a1/stages".into(),
            O::CreateStage { api: a() },
        ),
        (
            "GET",
            "/restapis/a1/stages".into(),
            O::GetStages { api: a() },
        ),
        (
            "GET",
            "/restapis/a1/stages/prod".into(),
            O::GetStage {
                api: a(),
                stage: "prod".into(),
            },
        ),
        (
            "PATCH",
            "/restapis/a1/stages/prod".into(),
            O::UpdateStage {
                api: a(),
                stage: "prod".into(),
            },
        ),
        (
            "DELETE",
            "/restapis/a1/stages/prod".into(),
            O::DeleteStage {
                api: a(),
                stage: "prod".into(),
            },
        ),
    ];
    for (method, path, want) in cases {
        assert_eq!(
            parsed(method, &path),
            Some(Operation::Rest(want)),
            "{method} {path}"
        );
    }
}

#[test]
fn unknown_paths_are_not_operations_and_answer_as_before() {
    let m = "/restapis/a1/resources/r1/methods/GET";
    for (method, path) in [
        ("PUT", "/v2/apis"),
        ("POST", "/v2/apis/a1"),
        ("GET", "/v2/apis/a1/nothing"),
        ("GET", "/v2/apis/a1/routes/r1/more"),
        ("DELETE", "/restapis"),
        ("POST", "/restapis/a1"),
        ("GET", "/restapis/a1/resources/r1/methods"),
        ("GET", &format!("{m}/responses/200")),
        ("GET", &format!("{m}/integration/responses/200")),
        ("GET", "/elsewhere"),
    ] {
        assert_eq!(parsed(method, path), None, "{method} {path}");
    }
    let (_d, api) = api();
    let (status, v) = call(&api, "GET", "/v2/apis/a1/nothing", "");
    assert_eq!(status, 404);
    assert_eq!(
        v["message"],
        "Nimbus does not implement GET on /v2/apis/a1/nothing (region us-east-1)"
    );
    assert_eq!(call(&api, "DELETE", "/restapis", "").0, 400);
    let (status, v) = call(&api, "POST", "/restapis/a1", "");
    assert_eq!(status, 404);
    assert_eq!(
        v["message"],
        "Nimbus does not implement POST on /restapis/a1/"
    );
    let (status, v) = call(&api, "PUT", "/v2/apis", "");
    assert_eq!(status, 404);
    assert_eq!(v["message"], "Nimbus does not implement PUT /v2/apis");
    // The body is read before the operation is looked up, as before.
    assert_eq!(call(&api, "PUT", "/v2/apis", "{not json").0, 400);
}
