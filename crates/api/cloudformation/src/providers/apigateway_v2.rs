//! `AWS::ApiGatewayV2::*` (HTTP APIs) through API Gateway's v2 REST API:
//! `Api` (quick create with `Target`, or a `Body` imported as `ImportApi`
//! would: an integration and a route per operation, `$default` for the
//! `$default` path, CORS from `x-amazon-apigateway-cors`), `Integration`,
//! `Route`, `Stage` and `Deployment`. An API's `Ref` is its id (`ApiId`,
//! `ApiEndpoint`); a stage's is its name; the others' their ids.

use super::apigateway::{body, gone, operations, tag_map};
use super::{Created, Ctx, required, string, typed};
use http::Method;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

const SERVICE: &str = "apigateway";

fn api_path(api: &str) -> String {
    format!("/v2/apis/{api}")
}

/// CloudFormation's `PascalCase` members as the API's `camelCase` ones.
fn camel(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| {
            let mut c = k.chars();
            let key = match c.next() {
                Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
                None => String::new(),
            };
            (key, v.clone())
        })
        .collect()
}

pub(super) async fn create_api(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let doc = body(props)?;
    let ops = match &doc {
        Some(d) => operations(d, false)?,
        None => Vec::new(),
    };
    let name = string(props, "Name")
        .or_else(|| {
            doc.as_ref()
                .and_then(|d| d["info"]["title"].as_str().map(str::to_string))
        })
        .unwrap_or_else(|| ctx.generated_name(128));
    let mut tags = tag_map(props.get("Tags"));
    if let Some(Value::Array(list)) = doc.as_ref().and_then(|d| d.get("tags")) {
        for t in list {
            if let (Some(k), Some(v)) = (
                t.get("name").and_then(Value::as_str),
                t.get("x-amazon-apigateway-tag-value"),
            ) {
                tags.insert(k.to_string(), v.clone());
            }
        }
    }
    let protocol = string(props, "ProtocolType").unwrap_or_else(|| "HTTP".into());
    let mut input = json!({"name": name, "protocolType": protocol, "tags": tags});
    for (k, to) in [
        ("Description", "description"),
        ("Version", "version"),
        ("Target", "target"),
        ("RouteKey", "routeKey"),
    ] {
        if let Some(v) = string(props, k) {
            input[to] = json!(v);
        }
    }
    if let Some(Value::Object(c)) = props.get("CorsConfiguration") {
        input["corsConfiguration"] = Value::Object(camel(c));
    } else if let Some(c) = doc.as_ref().and_then(|d| d.get("x-amazon-apigateway-cors")) {
        input["corsConfiguration"] = c.clone();
    }
    let made = ctx
        .rest(SERVICE, Method::POST, "/v2/apis", Some(&input))
        .await?;
    let id = made["apiId"].as_str().unwrap_or_default().to_string();
    if let Err(e) = import(ctx, &id, doc.as_ref(), &ops).await {
        let _ = ctx
            .rest(SERVICE, Method::DELETE, &api_path(&id), None)
            .await;
        return Err(e);
    }
    Ok(Created::named(id.clone())
        .with("ApiId", id)
        .with("ApiEndpoint", made["apiEndpoint"].clone()))
}

/// Update an API in place when its `Body` changed: its routes,
/// integrations and authorizers are made again from the new body, so that
/// its id, and the URLs built on it, stay.
pub(super) async fn update_api(
    ctx: &Ctx,
    id: &str,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let doc = body(new)?;
    let ops = match &doc {
        Some(d) => operations(d, false)?,
        None => Vec::new(),
    };
    for (kind, key) in [
        ("routes", "routeId"),
        ("integrations", "integrationId"),
        ("authorizers", "authorizerId"),
    ] {
        let listed = ctx
            .rest(
                SERVICE,
                Method::GET,
                &format!("{}/{kind}", api_path(id)),
                None,
            )
            .await?;
        for item in listed["items"].as_array().into_iter().flatten() {
            if let Some(x) = item[key].as_str() {
                let at = format!("{}/{kind}/{x}", api_path(id));
                gone(ctx.rest(SERVICE, Method::DELETE, &at, None).await)?;
            }
        }
    }
    import(ctx, id, doc.as_ref(), &ops).await
}

/// The authorizers of the body's `components.securitySchemes` (those with
/// an `x-amazon-apigateway-authorizer`): each name to its id and type.
async fn import_authorizers(
    ctx: &Ctx,
    id: &str,
    doc: Option<&Value>,
) -> Result<BTreeMap<String, (String, &'static str)>, String> {
    let mut made = BTreeMap::new();
    let schemes = doc
        .and_then(|d| d["components"]["securitySchemes"].as_object())
        .into_iter()
        .flatten();
    for (name, scheme) in schemes {
        let Some(a) = scheme.get("x-amazon-apigateway-authorizer") else {
            continue;
        };
        let kind = a.get("type").and_then(Value::as_str).unwrap_or_default();
        let (authorizer_type, route_type) = match kind.to_ascii_lowercase().as_str() {
            "jwt" => ("JWT", "JWT"),
            "request" => ("REQUEST", "CUSTOM"),
            _ => {
                return Err(format!(
                    "Nimbus's HTTP APIs serve JWT and request (Lambda) authorizers; {name} has type '{kind}'"
                ));
            }
        };
        let sources = match a.get("identitySource") {
            Some(Value::String(s)) => json!(s.split(',').map(str::trim).collect::<Vec<_>>()),
            Some(v) => v.clone(),
            None => json!([]),
        };
        let mut input = json!({
            "name": name,
            "authorizerType": authorizer_type,
            "identitySource": sources,
        });
        for k in [
            "jwtConfiguration",
            "authorizerUri",
            "authorizerPayloadFormatVersion",
            "enableSimpleResponses",
            "authorizerResultTtlInSeconds",
        ] {
            if let Some(v) = a.get(k) {
                input[k] = v.clone();
            }
        }
        let answer = ctx
            .rest(
                SERVICE,
                Method::POST,
                &format!("{}/authorizers", api_path(id)),
                Some(&input),
            )
            .await?;
        let aid = answer["authorizerId"].as_str().unwrap_or_default();
        made.insert(name.clone(), (aid.to_string(), route_type));
    }
    Ok(made)
}

/// The body's authorizers, then an integration and a route per operation.
async fn import(
    ctx: &Ctx,
    id: &str,
    doc: Option<&Value>,
    ops: &[super::apigateway::Operation<'_>],
) -> Result<(), String> {
    let authorizers = import_authorizers(ctx, id, doc).await?;
    for op in ops {
        let i = op.integration;
        let mut input = json!({
            "integrationType": "AWS_PROXY",
            "integrationUri": op.uri,
            "payloadFormatVersion": i.get("payloadFormatVersion").cloned().unwrap_or_else(|| json!("1.0")),
        });
        if let Some(t) = i.get("timeoutInMillis") {
            input["timeoutInMillis"] = t.clone();
        }
        if let Some(c) = i.get("credentials") {
            input["credentialsArn"] = c.clone();
        }
        let made = ctx
            .rest(
                SERVICE,
                Method::POST,
                &format!("{}/integrations", api_path(id)),
                Some(&input),
            )
            .await?;
        let integration = made["integrationId"].as_str().unwrap_or_default();
        let key = if op.path == "$default" {
            "$default".to_string()
        } else {
            format!("{} {}", op.method, op.path)
        };
        let mut route = json!({"routeKey": key, "target": format!("integrations/{integration}")});
        if let Some((name, scopes)) = op.authorizer() {
            let (aid, kind) = authorizers.get(name).ok_or_else(|| {
                format!("{key} names the security scheme {name}, which the Body does not define")
            })?;
            route["authorizationType"] = json!(kind);
            route["authorizerId"] = json!(aid);
            if scopes.as_array().is_some_and(|s| !s.is_empty()) {
                route["authorizationScopes"] = scopes.clone();
            }
        }
        ctx.rest(
            SERVICE,
            Method::POST,
            &format!("{}/routes", api_path(id)),
            Some(&route),
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn delete_api(ctx: &Ctx, id: &str) -> Result<(), String> {
    gone(ctx.rest(SERVICE, Method::DELETE, &api_path(id), None).await)
}

/// Delete the HTTP API named `name` (a generated name), if there is one.
pub(super) async fn delete_named(ctx: &Ctx, name: &str) -> Result<(), String> {
    let all = ctx.rest(SERVICE, Method::GET, "/v2/apis", None).await?;
    for api in all["items"].as_array().into_iter().flatten() {
        if api["name"] == name
            && let Some(id) = api["apiId"].as_str()
        {
            delete_api(ctx, id).await?;
        }
    }
    Ok(())
}

/// Create a child (`integrations`, `routes`, `stages`, `deployments`) of the
/// API `ApiId` from the other properties; the answer and the API's id.
async fn create_child(
    ctx: &Ctx,
    props: &Map<String, Value>,
    kind: &str,
    numbers: &[&str],
    booleans: &[&str],
) -> Result<(Value, String), String> {
    let api = required(props, "ApiId")?;
    let mut input = props.clone();
    input.remove("ApiId");
    typed(&mut input, numbers, booleans);
    let made = ctx
        .rest(
            SERVICE,
            Method::POST,
            &format!("{}/{kind}", api_path(&api)),
            Some(&Value::Object(camel(&input))),
        )
        .await?;
    Ok((made, api))
}

async fn delete_child(
    ctx: &Ctx,
    kind: &str,
    id: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    let api = string(attributes, "ApiId").unwrap_or_default();
    let path = format!("{}/{kind}/{id}", api_path(&api));
    gone(ctx.rest(SERVICE, Method::DELETE, &path, None).await)
}

pub(super) async fn create_integration(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let (made, api) = create_child(ctx, props, "integrations", &["TimeoutInMillis"], &[]).await?;
    let id = made["integrationId"].as_str().unwrap_or_default();
    Ok(Created::named(id)
        .with("IntegrationId", id)
        .with("ApiId", api))
}

pub(super) async fn delete_integration(
    ctx: &Ctx,
    id: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    delete_child(ctx, "integrations", id, attributes).await
}

pub(super) async fn create_route(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let (made, api) = create_child(ctx, props, "routes", &[], &["ApiKeyRequired"]).await?;
    let id = made["routeId"].as_str().unwrap_or_default();
    Ok(Created::named(id).with("RouteId", id).with("ApiId", api))
}

pub(super) async fn delete_route(
    ctx: &Ctx,
    id: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    delete_child(ctx, "routes", id, attributes).await
}

pub(super) async fn create_stage(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let mut props = props.clone();
    // Tags and settings Nimbus keeps no record of.
    for k in [
        "Tags",
        "AccessLogSettings",
        "DefaultRouteSettings",
        "RouteSettings",
    ] {
        props.remove(k);
    }
    let (made, api) = create_child(ctx, &props, "stages", &[], &["AutoDeploy"]).await?;
    let name = made["stageName"].as_str().unwrap_or_default();
    Ok(Created::named(name).with("ApiId", api))
}

/// Update a stage in place: its deployment, description, variables and
/// automatic deployment.
pub(super) async fn update_stage(
    ctx: &Ctx,
    name: &str,
    attributes: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let api = string(attributes, "ApiId").unwrap_or_default();
    let mut body = json!({
        "description": string(new, "Description").unwrap_or_default(),
        "stageVariables": new.get("StageVariables").cloned().unwrap_or_else(|| json!({})),
    });
    if let Some(d) = string(new, "DeploymentId") {
        body["deploymentId"] = json!(d);
    }
    if let Some(a) = string(new, "AutoDeploy") {
        body["autoDeploy"] = json!(a.eq_ignore_ascii_case("true"));
    }
    let path = format!("/v2/apis/{api}/stages/{name}");
    ctx.rest(SERVICE, Method::PATCH, &path, Some(&body))
        .await
        .map(|_| ())
}

pub(super) async fn delete_stage(
    ctx: &Ctx,
    name: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    delete_child(ctx, "stages", name, attributes).await
}

pub(super) async fn create_deployment(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let (made, api) = create_child(ctx, props, "deployments", &[], &[]).await?;
    let id = made["deploymentId"].as_str().unwrap_or_default();
    Ok(Created::named(id)
        .with("DeploymentId", id)
        .with("ApiId", api))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_camel_cased() {
        let m = json!({"AllowOrigins": ["*"], "MaxAge": 5});
        assert_eq!(
            Value::Object(camel(m.as_object().unwrap())),
            json!({"allowOrigins": ["*"], "maxAge": 5})
        );
    }
}
