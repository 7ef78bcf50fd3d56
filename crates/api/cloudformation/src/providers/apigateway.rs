//! `AWS::ApiGateway::*` (REST APIs) through API Gateway's v1 REST API:
//! `RestApi` (with a `Body`, imported as `ImportRestApi` would: its Lambda
//! authorizers, a resource per path segment, a method and its Lambda proxy or
//! mock integration per operation), `Resource`, `Method`, `Authorizer`,
//! `Deployment` and `Stage`. What the gateway cannot serve (IAM and Cognito
//! authorization, HTTP and AWS integrations) is refused naming it. A REST API's `Ref` is its id (`RootResourceId`); a stage's is
//! its name; a deployment's and a resource's their ids.

use super::{Created, Ctx, required, string};
use http::Method;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

const SERVICE: &str = "apigateway";

/// The operations of an OpenAPI path item, as API Gateway's methods.
const OPERATIONS: [(&str, &str); 8] = [
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("head", "HEAD"),
    ("patch", "PATCH"),
    ("x-amazon-apigateway-any-method", "ANY"),
];

/// A failed delete of something already gone is a delete done.
pub(super) fn gone(r: Result<Value, String>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.contains("Status Code: 404") => Ok(()),
        Err(e) => Err(e),
    }
}

/// CloudFormation's tag list as a tag map.
pub(super) fn tag_map(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|t| Some((t.get("Key")?.as_str()?.to_string(), t.get("Value")?.clone())))
            .collect(),
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

/// A `Body`: an OpenAPI document, as a map or as JSON text.
pub(super) fn body(props: &Map<String, Value>) -> Result<Option<Value>, String> {
    for refused in ["BodyS3Location", "CloneFrom"] {
        if props.contains_key(refused) {
            return Err(format!(
                "Nimbus does not support {refused} yet; give the API's OpenAPI definition as Body"
            ));
        }
    }
    match props.get("Body") {
        None => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s)
            .map(Some)
            .map_err(|e| format!("Body is not a valid OpenAPI document: {e}")),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(_) => Err("Body must be an OpenAPI document".into()),
    }
}

/// One operation of an OpenAPI document: path, method, the integration's
/// function URI (empty for a mock), and its `security` (the document's when
/// it has none).
pub(super) struct Operation<'a> {
    pub path: &'a str,
    pub method: &'static str,
    pub integration: &'a Value,
    pub uri: String,
    /// A `mock` integration (REST APIs' CORS preflights): answered by the
    /// gateway from its integration responses.
    pub mock: bool,
    /// The operation's own `responses` (its method responses).
    pub responses: Option<&'a Value>,
    pub security: Option<&'a Value>,
}

impl Operation<'_> {
    /// The authorizer the operation names and its scopes: `None` without
    /// one (or with `NONE`).
    pub(super) fn authorizer(&self) -> Option<(&str, &Value)> {
        let first = self.security?.as_array()?.first()?.as_object()?;
        let (name, scopes) = first.iter().next()?;
        (name != "NONE").then_some((name.as_str(), scopes))
    }
}

/// The operations of `doc`'s `paths`; refuses integrations the gateway
/// cannot run (`mock` ones are for REST APIs only: `mocks`).
pub(super) fn operations(doc: &Value, mocks: bool) -> Result<Vec<Operation<'_>>, String> {
    let mut out = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Ok(out);
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (key, op) in item {
            let Some((_, method)) = OPERATIONS.iter().find(|(k, _)| k == key) else {
                continue;
            };
            let at = format!("{method} {path}");
            let integration = op
                .get("x-amazon-apigateway-integration")
                .ok_or_else(|| format!("{at} has no x-amazon-apigateway-integration"))?;
            let kind = integration
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mock = mocks && kind.eq_ignore_ascii_case("mock");
            if !kind.eq_ignore_ascii_case("aws_proxy") && !mock {
                let also = if mocks { " and mock" } else { "" };
                return Err(format!(
                    "Nimbus runs aws_proxy (Lambda proxy){also} integrations only; {at} has type '{kind}'"
                ));
            }
            let uri = match integration.get("uri").and_then(Value::as_str) {
                Some(u) => u.to_string(),
                None if mock => String::new(),
                None => return Err(format!("The integration of {at} has no uri")),
            };
            out.push(Operation {
                path,
                method,
                integration,
                uri,
                mock,
                responses: op.get("responses"),
                security: op.get("security").or_else(|| doc.get("security")),
            });
        }
    }
    Ok(out)
}

fn api_path(api: &str) -> String {
    format!("/restapis/{api}")
}

pub(super) async fn create_rest_api(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let doc = body(props)?;
    let ops = match &doc {
        Some(d) => operations(d, true)?,
        None => Vec::new(),
    };
    let name = string(props, "Name")
        .or_else(|| {
            doc.as_ref()
                .and_then(|d| d["info"]["title"].as_str().map(str::to_string))
        })
        .unwrap_or_else(|| ctx.generated_name(128));
    let binary = props
        .get("BinaryMediaTypes")
        .or_else(|| {
            doc.as_ref()
                .and_then(|d| d.get("x-amazon-apigateway-binary-media-types"))
        })
        .cloned()
        .unwrap_or_else(|| json!([]));
    let mut input = json!({
        "name": name,
        "binaryMediaTypes": binary,
        "tags": tag_map(props.get("Tags")),
    });
    if let Some(d) = string(props, "Description") {
        input["description"] = json!(d);
    }
    let made = ctx
        .rest(SERVICE, Method::POST, "/restapis", Some(&input))
        .await?;
    let id = made["id"].as_str().unwrap_or_default().to_string();
    let root = made["rootResourceId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Err(e) = import(ctx, &id, &root, doc.as_ref(), &ops).await {
        let _ = ctx
            .rest(SERVICE, Method::DELETE, &api_path(&id), None)
            .await;
        return Err(e);
    }
    Ok(Created::named(id.clone())
        .with("RootResourceId", root)
        .with("RestApiId", id))
}

/// Update an API in place when its `Body` changed: its resources and
/// methods are made again from the new body (deepest first away, then the
/// new ones in), so that its id, and the URLs built on it, stay.
pub(super) async fn update_rest_api(
    ctx: &Ctx,
    id: &str,
    attributes: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let doc = body(new)?;
    let ops = match &doc {
        Some(d) => operations(d, true)?,
        None => Vec::new(),
    };
    let root = string(attributes, "RootResourceId").unwrap_or_default();
    let listed = ctx
        .rest(
            SERVICE,
            Method::GET,
            &format!("{}/resources", api_path(id)),
            None,
        )
        .await?;
    let mut resources: Vec<&Value> = listed["item"].as_array().into_iter().flatten().collect();
    // Children before their parents.
    resources.sort_by_key(|r| std::cmp::Reverse(r["path"].as_str().unwrap_or("").len()));
    for r in resources {
        let rid = r["id"].as_str().unwrap_or_default();
        if rid == root {
            for m in r["resourceMethods"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(m, _)| m)
            {
                let at = format!("{}/resources/{rid}/methods/{m}", api_path(id));
                gone(ctx.rest(SERVICE, Method::DELETE, &at, None).await)?;
            }
            continue;
        }
        let at = format!("{}/resources/{rid}", api_path(id));
        gone(ctx.rest(SERVICE, Method::DELETE, &at, None).await)?;
    }
    // The body's authorizers are made again too (no method uses them now).
    let listed = ctx
        .rest(
            SERVICE,
            Method::GET,
            &format!("{}/authorizers", api_path(id)),
            None,
        )
        .await?;
    for z in listed["item"].as_array().into_iter().flatten() {
        let at = format!(
            "{}/authorizers/{}",
            api_path(id),
            z["id"].as_str().unwrap_or_default()
        );
        // One a separate `AWS::ApiGateway::Method` still uses stays (409).
        match ctx.rest(SERVICE, Method::DELETE, &at, None).await {
            Err(e) if e.contains("Status Code: 409") => {}
            other => gone(other)?,
        }
    }
    import(ctx, id, &root, doc.as_ref(), &ops).await
}

/// The body's Lambda authorizers (security schemes with
/// `x-amazon-apigateway-authorizer`), made in API `id`: their ids by scheme
/// name. Schemes Nimbus cannot serve (IAM, Cognito, API keys) are refused
/// when an operation uses them.
async fn import_authorizers(
    ctx: &Ctx,
    id: &str,
    doc: Option<&Value>,
) -> Result<BTreeMap<String, String>, String> {
    let mut made = BTreeMap::new();
    let Some(doc) = doc else {
        return Ok(made);
    };
    let schemes = doc
        .get("securityDefinitions")
        .or_else(|| doc.pointer("/components/securitySchemes"))
        .and_then(Value::as_object);
    for (name, scheme) in schemes.into_iter().flatten() {
        let Some(a) = scheme.get("x-amazon-apigateway-authorizer") else {
            continue;
        };
        let kind = a["type"].as_str().unwrap_or_default().to_ascii_uppercase();
        let mut input = json!({"name": name, "type": kind});
        if let Some(u) = a.get("authorizerUri") {
            input["authorizerUri"] = u.clone();
        }
        let source = match kind.as_str() {
            "TOKEN" => Some(json!(format!(
                "method.request.header.{}",
                scheme["name"].as_str().unwrap_or("Authorization")
            ))),
            _ => a.get("identitySource").cloned(),
        };
        if let Some(s) = source {
            input["identitySource"] = s;
        }
        for k in [
            "authorizerResultTtlInSeconds",
            "identityValidationExpression",
            "authorizerCredentials",
        ] {
            if let Some(v) = a.get(k) {
                input[k] = v.clone();
            }
        }
        let z = ctx
            .rest(
                SERVICE,
                Method::POST,
                &format!("{}/authorizers", api_path(id)),
                Some(&input),
            )
            .await?;
        made.insert(
            name.clone(),
            z["id"].as_str().unwrap_or_default().to_string(),
        );
    }
    Ok(made)
}

/// Make the authorizers of `doc`, then the resources, methods and
/// integrations of `ops`, in API `id`.
async fn import(
    ctx: &Ctx,
    id: &str,
    root: &str,
    doc: Option<&Value>,
    ops: &[Operation<'_>],
) -> Result<(), String> {
    let authorizers = import_authorizers(ctx, id, doc).await?;
    let mut resources: BTreeMap<String, String> = BTreeMap::new();
    resources.insert(String::new(), root.to_string());
    for op in ops {
        let mut at = String::new();
        let mut parent = root.to_string();
        for part in op.path.split('/').filter(|p| !p.is_empty()) {
            at = format!("{at}/{part}");
            parent = match resources.get(&at) {
                Some(r) => r.clone(),
                None => {
                    let made = ctx
                        .rest(
                            SERVICE,
                            Method::POST,
                            &format!("{}/resources/{parent}", api_path(id)),
                            Some(&json!({"pathPart": part})),
                        )
                        .await?;
                    let r = made["id"].as_str().unwrap_or_default().to_string();
                    resources.insert(at.clone(), r.clone());
                    r
                }
            };
        }
        let auth = match op.authorizer() {
            None => MethodAuth::None,
            Some((name, _)) => MethodAuth::Custom(authorizers.get(name).ok_or_else(|| {
                format!(
                    "{} {} names the security scheme {name}, which is not a Lambda authorizer of the Body (Nimbus's REST APIs have Lambda authorizers only)",
                    op.method, op.path
                )
            })?),
        };
        if op.mock {
            put_mock(ctx, id, &parent, op, auth).await?;
            continue;
        }
        let mut integration = json!({
            "type": "AWS_PROXY",
            "integrationHttpMethod": "POST",
            "uri": op.uri,
        });
        if let Some(t) = op.integration.get("timeoutInMillis") {
            integration["timeoutInMillis"] = t.clone();
        }
        if let Some(c) = op.integration.get("credentials") {
            integration["credentials"] = c.clone();
        }
        put_method(ctx, id, &parent, op.method, auth, &integration).await?;
    }
    Ok(())
}

/// A `mock` operation as `ImportRestApi` makes it: the method, its
/// responses, the MOCK integration with its request templates, and one
/// integration response per entry of the integration's `responses` (keyed by
/// selection pattern, `default` for none).
async fn put_mock(
    ctx: &Ctx,
    api: &str,
    resource: &str,
    op: &Operation<'_>,
    auth: MethodAuth<'_>,
) -> Result<(), String> {
    let mut integration = json!({"type": "MOCK"});
    if let Some(t) = op.integration.get("requestTemplates") {
        integration["requestTemplates"] = t.clone();
    }
    put_method(ctx, api, resource, op.method, auth, &integration).await?;
    let at = format!(
        "{}/resources/{resource}/methods/{}",
        api_path(api),
        op.method
    );
    for (code, r) in op
        .responses
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let headers: Map<String, Value> = r
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(h, _)| (format!("method.response.header.{h}"), json!(false)))
            .collect();
        let input = json!({"responseParameters": headers});
        let path = format!("{at}/responses/{code}");
        ctx.rest(SERVICE, Method::PUT, &path, Some(&input)).await?;
    }
    let responses = op.integration.get("responses").and_then(Value::as_object);
    for (pattern, r) in responses.into_iter().flatten() {
        let code = match r.get("statusCode") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(format!(
                    "The mock integration response '{pattern}' of {} {} has no statusCode",
                    op.method, op.path
                ));
            }
        };
        let mut input = json!({});
        if pattern != "default" {
            input["selectionPattern"] = json!(pattern);
        }
        for k in ["responseParameters", "responseTemplates"] {
            if let Some(v) = r.get(k) {
                input[k] = v.clone();
            }
        }
        let path = format!("{at}/integration/responses/{code}");
        ctx.rest(SERVICE, Method::PUT, &path, Some(&input)).await?;
    }
    Ok(())
}

/// Who may call a method: anyone, or whom a Lambda authorizer (by id) admits.
#[derive(Debug, Clone, Copy)]
enum MethodAuth<'a> {
    None,
    Custom(&'a str),
}

async fn put_method(
    ctx: &Ctx,
    api: &str,
    resource: &str,
    method: &str,
    auth: MethodAuth<'_>,
    integration: &Value,
) -> Result<(), String> {
    let at = format!("{}/resources/{resource}/methods/{method}", api_path(api));
    let input = match auth {
        MethodAuth::None => json!({"authorizationType": "NONE"}),
        MethodAuth::Custom(id) => json!({"authorizationType": "CUSTOM", "authorizerId": id}),
    };
    ctx.rest(SERVICE, Method::PUT, &at, Some(&input)).await?;
    ctx.rest(
        SERVICE,
        Method::PUT,
        &format!("{at}/integration"),
        Some(integration),
    )
    .await?;
    Ok(())
}

pub(super) async fn delete_rest_api(ctx: &Ctx, id: &str) -> Result<(), String> {
    gone(ctx.rest(SERVICE, Method::DELETE, &api_path(id), None).await)
}

/// Delete the REST API named `name` (a generated name), if there is one.
pub(super) async fn delete_named(ctx: &Ctx, name: &str) -> Result<(), String> {
    let all = ctx.rest(SERVICE, Method::GET, "/restapis", None).await?;
    for api in all["item"].as_array().into_iter().flatten() {
        if api["name"] == name
            && let Some(id) = api["id"].as_str()
        {
            delete_rest_api(ctx, id).await?;
        }
    }
    Ok(())
}

pub(super) async fn create_resource(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let api = required(props, "RestApiId")?;
    let parent = required(props, "ParentId")?;
    let part = required(props, "PathPart")?;
    let made = ctx
        .rest(
            SERVICE,
            Method::POST,
            &format!("{}/resources/{parent}", api_path(&api)),
            Some(&json!({"pathPart": part})),
        )
        .await?;
    let id = made["id"].as_str().unwrap_or_default().to_string();
    Ok(Created::named(id.clone())
        .with("ResourceId", id)
        .with("RestApiId", api))
}

pub(super) async fn delete_resource(
    ctx: &Ctx,
    id: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    let api = string(attributes, "RestApiId").unwrap_or_default();
    let path = format!("{}/resources/{id}", api_path(&api));
    gone(ctx.rest(SERVICE, Method::DELETE, &path, None).await)
}

/// `AWS::ApiGateway::Method` with its `Integration` (a Lambda proxy one).
pub(super) async fn create_method(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let api = required(props, "RestApiId")?;
    let resource = required(props, "ResourceId")?;
    let method = required(props, "HttpMethod")?.to_ascii_uppercase();
    let auth = string(props, "AuthorizationType").unwrap_or_else(|| "NONE".into());
    let authorizer = string(props, "AuthorizerId");
    if !matches!(auth.as_str(), "NONE" | "CUSTOM") {
        return Err(format!(
            "Nimbus's REST APIs do not support AuthorizationType {auth} yet; use NONE or CUSTOM (a Lambda authorizer)"
        ));
    }
    let auth = match (auth.as_str(), &authorizer) {
        ("CUSTOM", Some(id)) => MethodAuth::Custom(id),
        ("CUSTOM", None) => {
            return Err("AuthorizationType CUSTOM needs an AuthorizerId".into());
        }
        _ => MethodAuth::None,
    };
    let i = props
        .get("Integration")
        .and_then(Value::as_object)
        .ok_or("Nimbus needs a method's Integration (a Lambda proxy or mock integration)")?;
    if string(i, "Type").is_some_and(|t| t.eq_ignore_ascii_case("MOCK")) {
        create_mock_method(ctx, (&api, &resource, &method, auth), props, i).await?;
        return Ok(Created::named(format!("{api}-{resource}-{method}"))
            .with("RestApiId", api)
            .with("ResourceId", resource)
            .with("HttpMethod", method));
    }
    let mut integration = json!({
        "type": string(i, "Type").unwrap_or_default(),
        "integrationHttpMethod": string(i, "IntegrationHttpMethod").unwrap_or_else(|| "POST".into()),
        "uri": string(i, "Uri").unwrap_or_default(),
    });
    if let Some(t) = i.get("TimeoutInMillis") {
        let n = t
            .as_u64()
            .or_else(|| t.as_str().and_then(|s| s.parse().ok()));
        integration["timeoutInMillis"] = json!(n);
    }
    if let Some(c) = string(i, "Credentials") {
        integration["credentials"] = json!(c);
    }
    put_method(ctx, &api, &resource, &method, auth, &integration).await?;
    Ok(Created::named(format!("{api}-{resource}-{method}"))
        .with("RestApiId", api)
        .with("ResourceId", resource)
        .with("HttpMethod", method))
}

/// A method with a `MOCK` integration: its `MethodResponses` and the
/// integration's `RequestTemplates` and `IntegrationResponses`.
async fn create_mock_method(
    ctx: &Ctx,
    (api, resource, method, auth): (&str, &str, &str, MethodAuth<'_>),
    props: &Map<String, Value>,
    i: &Map<String, Value>,
) -> Result<(), String> {
    let mut integration = json!({"type": "MOCK"});
    if let Some(t) = i.get("RequestTemplates") {
        integration["requestTemplates"] = t.clone();
    }
    put_method(ctx, api, resource, method, auth, &integration).await?;
    let at = format!("{}/resources/{resource}/methods/{method}", api_path(api));
    let code_of = |r: &Value| match r.get("StatusCode") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(format!(
            "A response of {method} on {resource} has no StatusCode"
        )),
    };
    for r in props
        .get("MethodResponses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut input = json!({});
        if let Some(p) = r.get("ResponseParameters") {
            input["responseParameters"] = p.clone();
        }
        let path = format!("{at}/responses/{}", code_of(r)?);
        ctx.rest(SERVICE, Method::PUT, &path, Some(&input)).await?;
    }
    for r in i
        .get("IntegrationResponses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut input = json!({});
        for (from, to) in [
            ("SelectionPattern", "selectionPattern"),
            ("ResponseParameters", "responseParameters"),
            ("ResponseTemplates", "responseTemplates"),
        ] {
            if let Some(v) = r.get(from) {
                input[to] = v.clone();
            }
        }
        let path = format!("{at}/integration/responses/{}", code_of(r)?);
        ctx.rest(SERVICE, Method::PUT, &path, Some(&input)).await?;
    }
    Ok(())
}

/// `AWS::ApiGateway::Authorizer`: a Lambda (`TOKEN` or `REQUEST`) authorizer.
pub(super) async fn create_authorizer(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let api = required(props, "RestApiId")?;
    let mut input = json!({
        "name": required(props, "Name")?,
        "type": required(props, "Type")?,
    });
    for (from, to) in [
        ("AuthorizerUri", "authorizerUri"),
        ("IdentitySource", "identitySource"),
        (
            "IdentityValidationExpression",
            "identityValidationExpression",
        ),
        ("AuthorizerCredentials", "authorizerCredentials"),
    ] {
        if let Some(v) = string(props, from) {
            input[to] = json!(v);
        }
    }
    if let Some(t) = props.get("AuthorizerResultTtlInSeconds") {
        let n = t
            .as_u64()
            .or_else(|| t.as_str().and_then(|s| s.parse().ok()));
        input["authorizerResultTtlInSeconds"] = json!(n);
    }
    let made = ctx
        .rest(
            SERVICE,
            Method::POST,
            &format!("{}/authorizers", api_path(&api)),
            Some(&input),
        )
        .await?;
    let id = made["id"].as_str().unwrap_or_default().to_string();
    Ok(Created::named(id.clone())
        .with("AuthorizerId", id)
        .with("RestApiId", api))
}

pub(super) async fn delete_authorizer(
    ctx: &Ctx,
    id: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    let api = string(attributes, "RestApiId").unwrap_or_default();
    let path = format!("{}/authorizers/{id}", api_path(&api));
    gone(ctx.rest(SERVICE, Method::DELETE, &path, None).await)
}

pub(super) async fn delete_method(
    ctx: &Ctx,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    let s = |k| string(attributes, k).unwrap_or_default();
    let path = format!(
        "{}/resources/{}/methods/{}",
        api_path(&s("RestApiId")),
        s("ResourceId"),
        s("HttpMethod")
    );
    gone(ctx.rest(SERVICE, Method::DELETE, &path, None).await)
}

pub(super) async fn create_deployment(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let api = required(props, "RestApiId")?;
    let mut input = json!({});
    if let Some(d) = string(props, "Description") {
        input["description"] = json!(d);
    }
    let stage = string(props, "StageName");
    if let Some(s) = &stage {
        input["stageName"] = json!(s);
        if let Some(v) = props
            .get("StageDescription")
            .and_then(|d| d.get("Variables"))
        {
            input["variables"] = v.clone();
        }
    }
    let made = ctx
        .rest(
            SERVICE,
            Method::POST,
            &format!("{}/deployments", api_path(&api)),
            Some(&input),
        )
        .await?;
    let id = made["id"].as_str().unwrap_or_default().to_string();
    let mut c = Created::named(id.clone())
        .with("DeploymentId", id)
        .with("RestApiId", api);
    if let Some(s) = stage {
        c = c.with("StageName", s);
    }
    Ok(c)
}

/// A deployment goes with its API; the stage it made (`StageName`) goes now.
pub(super) async fn delete_deployment(
    ctx: &Ctx,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    let Some(stage) = string(attributes, "StageName") else {
        return Ok(());
    };
    let api = string(attributes, "RestApiId").unwrap_or_default();
    let path = format!("{}/stages/{stage}", api_path(&api));
    gone(ctx.rest(SERVICE, Method::DELETE, &path, None).await)
}

pub(super) async fn create_stage(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let api = required(props, "RestApiId")?;
    let name = required(props, "StageName")?;
    let mut input = json!({
        "stageName": name,
        "deploymentId": required(props, "DeploymentId")?,
    });
    if let Some(d) = string(props, "Description") {
        input["description"] = json!(d);
    }
    if let Some(v) = props.get("Variables") {
        input["variables"] = v.clone();
    }
    ctx.rest(
        SERVICE,
        Method::POST,
        &format!("{}/stages", api_path(&api)),
        Some(&input),
    )
    .await?;
    Ok(Created::named(name).with("RestApiId", api))
}

/// Update a stage in place: its deployment, description and variables.
pub(super) async fn update_stage(
    ctx: &Ctx,
    name: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let api = required(new, "RestApiId")?;
    let mut ops = vec![
        json!({"op": "replace", "path": "/deploymentId", "value": required(new, "DeploymentId")?}),
    ];
    ops.push(json!({"op": "replace", "path": "/description", "value": string(new, "Description").unwrap_or_default()}));
    let vars = |p: &Map<String, Value>| {
        p.get("Variables")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (was, now) = (vars(old), vars(new));
    for (k, v) in &now {
        let value = v.as_str().map_or_else(|| v.to_string(), str::to_string);
        ops.push(json!({"op": "replace", "path": format!("/variables/{k}"), "value": value}));
    }
    for k in was.keys().filter(|k| !now.contains_key(*k)) {
        ops.push(json!({"op": "remove", "path": format!("/variables/{k}")}));
    }
    let path = format!("{}/stages/{name}", api_path(&api));
    let body = json!({ "patchOperations": ops });
    ctx.rest(SERVICE, Method::PATCH, &path, Some(&body))
        .await
        .map(|_| ())
}

pub(super) async fn delete_stage(
    ctx: &Ctx,
    name: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    let api = string(attributes, "RestApiId").unwrap_or_default();
    let path = format!("{}/stages/{name}", api_path(&api));
    gone(ctx.rest(SERVICE, Method::DELETE, &path, None).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_read_and_non_proxy_integrations_refused() {
        let doc = json!({"paths": {
            "/a/{b}": {
                "get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": "u"}},
                "x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {"type": "AWS_PROXY", "uri": "v"}},
                "parameters": [],
            },
        }});
        let ops = operations(&doc, false).unwrap();
        let got: Vec<(&str, &str, &str)> = ops
            .iter()
            .map(|o| (o.path, o.method, o.uri.as_str()))
            .collect();
        assert_eq!(got, [("/a/{b}", "GET", "u"), ("/a/{b}", "ANY", "v")]);
        let mock = json!({"paths": {"/": {"options": {"x-amazon-apigateway-integration": {"type": "mock"}}}}});
        let e = operations(&mock, false).err().unwrap();
        assert!(e.contains("OPTIONS /") && e.contains("'mock'"), "{e}");
        let ops = operations(&mock, true).unwrap();
        assert!(ops[0].mock && ops[0].method == "OPTIONS");
        let secured = json!({"security": [{"a": ["s"]}], "paths": {
            "/": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": "u"}}},
            "/open": {"get": {"security": [{"NONE": []}], "x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": "u"}}},
        }});
        let ops = operations(&secured, false).unwrap();
        assert_eq!(ops[0].authorizer(), Some(("a", &json!(["s"]))));
        assert_eq!(ops[1].authorizer(), None);
        assert!(gone(Err("(Service: apigateway, Status Code: 404)".into())).is_ok());
    }
}
