//! `Api` and `HttpApi` events of functions, and the `AWS::Serverless::Api`
//! and `AWS::Serverless::HttpApi` resources they attach to, expanded as the
//! SAM translator expands them: an `AWS::ApiGateway::RestApi` whose `Body`
//! is a Swagger document with one `x-amazon-apigateway-integration`
//! (`aws_proxy`) per event, a `Deployment<hash>` of it and the stage that
//! serves it; an `AWS::ApiGatewayV2::Api` whose `Body` is an OpenAPI 3
//! document (payload format 2.0 by default) and its auto-deploying stage; a
//! permission per event for API Gateway to invoke the function. Events that
//! name no API share the implicit `ServerlessRestApi` (stage `Prod`) or
//! `ServerlessHttpApi` (stage `$default`).
//!
//! A REST API's `Cors` becomes an `OPTIONS` operation with a `mock`
//! integration on every path, answering the preflight with the headers it
//! names. What Nimbus's gateway cannot serve (authorizers on REST APIs,
//! models, custom domains, ...) is refused naming the property.

use super::{Expansion, invalid};
use crate::Error;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The implicit REST API's id and stage.
pub(crate) const IMPLICIT_REST: &str = "ServerlessRestApi";
const IMPLICIT_REST_STAGE: &str = "Prod";
/// The implicit HTTP API's id.
pub(crate) const IMPLICIT_HTTP: &str = "ServerlessHttpApi";
const DEFAULT_STAGE: &str = "$default";

/// Properties of an `Api` event Nimbus honours.
const REST_EVENT: [&str; 4] = ["Path", "Method", "RestApiId", "Auth"];
/// Properties of an `HttpApi` event Nimbus honours.
const HTTP_EVENT: [&str; 6] = [
    "Path",
    "Method",
    "ApiId",
    "PayloadFormatVersion",
    "TimeoutInMillis",
    "Auth",
];
/// Properties of `AWS::Serverless::Api` Nimbus honours.
const REST_API: [&str; 11] = [
    "Auth",
    "Cors",
    "StageName",
    "DefinitionBody",
    "Name",
    "Description",
    "Variables",
    "BinaryMediaTypes",
    "Tags",
    "OpenApiVersion",
    "EndpointConfiguration",
];
/// Properties of `AWS::Serverless::HttpApi` Nimbus honours.
const HTTP_API: [&str; 8] = [
    "Auth",
    "StageName",
    "DefinitionBody",
    "Name",
    "Description",
    "Tags",
    "StageVariables",
    "CorsConfiguration",
];

/// One path and method of an API, for the API's body.
struct Route {
    /// The function (for errors).
    function: String,
    event: String,
    path: String,
    /// The OpenAPI operation key: `get`, `x-amazon-apigateway-any-method`.
    operation: String,
    integration: Value,
    /// An `HttpApi` event's `Auth`.
    auth: Option<Value>,
}

/// What the events ask of APIs, gathered while functions are expanded and
/// made into APIs when every resource has been seen.
#[derive(Default)]
pub(crate) struct Routes {
    /// The stage of each `AWS::Serverless::Api` in the template.
    rest_stages: BTreeMap<String, String>,
    rest: BTreeMap<String, Vec<Route>>,
    http: BTreeMap<String, Vec<Route>>,
}

impl Routes {
    /// Routes for a template whose `AWS::Serverless::Api` resources (with
    /// their `Globals`) are `apis`.
    pub(crate) fn new(apis: &[(String, Value)]) -> Result<Routes, Error> {
        let mut rest_stages = BTreeMap::new();
        for (id, r) in apis {
            if r["Type"] == "AWS::Serverless::Api" {
                rest_stages.insert(id.clone(), stage_name(id, &r["Properties"], None)?);
            }
        }
        Ok(Routes {
            rest_stages,
            ..Routes::default()
        })
    }
}

fn stage_name(id: &str, props: &Value, default: Option<&str>) -> Result<String, Error> {
    match props.get("StageName") {
        Some(Value::String(s)) => Ok(s.clone()),
        None if default.is_some() => Ok(default.unwrap_or_default().to_string()),
        None => Err(invalid(id, "Missing required property 'StageName'.")),
        Some(_) => Err(invalid(
            id,
            "Nimbus takes 'StageName' as a string only (not an intrinsic function).",
        )),
    }
}

/// Refuse the properties of `props` not in `known`, naming the first.
fn only(id: &str, what: &str, props: &Value, known: &[&str]) -> Result<(), Error> {
    if let Some(k) = props
        .as_object()
        .and_then(|m| m.keys().find(|k| !known.contains(&k.as_str())))
    {
        return Err(invalid(
            id,
            format!("{what}Property '{k}' is not supported by Nimbus's API Gateway yet."),
        ));
    }
    Ok(())
}

/// The API an event names (`RestApiId` / `ApiId`: a `Ref`), or the implicit one.
fn api_of(id: &str, name: &str, props: &Value, key: &str, implicit: &str) -> Result<String, Error> {
    match props.get(key) {
        None => Ok(implicit.to_string()),
        Some(v) => v
            .get("Ref")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                invalid(
                    id,
                    format!("Event with id [{name}] is invalid. {key} must be a valid reference to an API resource in the same template."),
                )
            }),
    }
}

fn text<'v>(id: &str, name: &str, props: &'v Value, key: &str) -> Result<&'v str, Error> {
    props.get(key).and_then(Value::as_str).ok_or_else(|| {
        invalid(
            id,
            format!("Event with id [{name}] is invalid. Property '{key}' is required and must be a string."),
        )
    })
}

/// The OpenAPI operation key of an event's `Method`.
fn operation(method: &str) -> String {
    match method.to_ascii_lowercase().as_str() {
        "any" => "x-amazon-apigateway-any-method".into(),
        m => m.to_string(),
    }
}

/// `METHOD/path` of an `execute-api` ARN: `*` for any method and for each
/// path parameter.
fn arn_tail(method: &str, path: &str) -> String {
    // API Gateway drops a trailing `/`; so does the ARN.
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let m = if method.eq_ignore_ascii_case("any") {
        "*".to_string()
    } else {
        method.to_ascii_uppercase()
    };
    let p: Vec<&str> = path
        .split('/')
        .map(|s| if s.starts_with('{') { "*" } else { s })
        .collect();
    format!("{m}{}", p.join("/"))
}

/// What invokes the function, as `Fn::Sub` names it: `Fn.Arn`, or the alias.
fn invoked(id: &str, target: &Value) -> String {
    match target.get("Ref").and_then(Value::as_str) {
        Some(r) if r != id => r.to_string(),
        _ => format!("{id}.Arn"),
    }
}

fn permission(x: &mut Expansion<'_>, perm_id: String, target: &Value, arn: String, api: &str) {
    x.add(
        perm_id,
        "AWS::Lambda::Permission",
        json!({
            "Action": "lambda:InvokeFunction",
            "FunctionName": target,
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {"Fn::Sub": [arn, {"__ApiId__": {"Ref": api}, "__Stage__": "*"}]},
        }),
    );
}

/// An `Api` event of function `id`.
pub(crate) fn rest_event(
    x: &mut Expansion<'_>,
    routes: &mut Routes,
    id: &str,
    name: &str,
    props: &Value,
    target: &Value,
) -> Result<(), Error> {
    only(
        id,
        &format!("Event with id [{name}] is invalid. "),
        props,
        &REST_EVENT,
    )?;
    let api = api_of(id, name, props, "RestApiId", IMPLICIT_REST)?;
    let path = text(id, name, props, "Path")?;
    let method = text(id, name, props, "Method")?;
    if let Some(auth) = props.get("Auth") {
        only(
            id,
            &format!("Event with id [{name}] is invalid. Auth "),
            auth,
            &["Authorizer"],
        )?;
        if auth.get("Authorizer").and_then(Value::as_str) == Some("AWS_IAM") {
            return Err(invalid(
                id,
                format!(
                    "Event with id [{name}] is invalid. Nimbus's REST APIs do not support AWS_IAM authorization yet; use a Lambda authorizer."
                ),
            ));
        }
    }
    let stage = match routes.rest_stages.get(&api) {
        Some(s) => s.clone(),
        None if api == IMPLICIT_REST => IMPLICIT_REST_STAGE.to_string(),
        None => {
            return Err(invalid(
                id,
                format!(
                    "Event with id [{name}] is invalid. RestApiId must be a valid reference to an 'AWS::Serverless::Api' resource in same template."
                ),
            ));
        }
    };
    let arn = format!(
        "arn:aws:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{__ApiId__}}/${{__Stage__}}/{}",
        arn_tail(method, path)
    );
    let stage_suffix: String = stage.chars().filter(char::is_ascii_alphanumeric).collect();
    permission(
        x,
        format!("{id}{name}Permission{stage_suffix}"),
        target,
        arn,
        &api,
    );
    let uri = format!(
        "arn:aws:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{}}}/invocations",
        invoked(id, target)
    );
    routes.rest.entry(api).or_default().push(Route {
        function: id.to_string(),
        event: name.to_string(),
        path: path.to_string(),
        operation: operation(method),
        integration: json!({"httpMethod": "POST", "type": "aws_proxy", "uri": {"Fn::Sub": uri}}),
        auth: props.get("Auth").cloned(),
    });
    Ok(())
}

/// An `HttpApi` event of function `id`: without `Path` and `Method`, the
/// API's `$default` route.
pub(crate) fn http_event(
    x: &mut Expansion<'_>,
    routes: &mut Routes,
    id: &str,
    name: &str,
    props: &Value,
    target: &Value,
) -> Result<(), Error> {
    only(
        id,
        &format!("Event with id [{name}] is invalid. "),
        props,
        &HTTP_EVENT,
    )?;
    let api = api_of(id, name, props, "ApiId", IMPLICIT_HTTP)?;
    let (path, method) = match (props.get("Path"), props.get("Method")) {
        (None, None) => (DEFAULT_STAGE.to_string(), "any".to_string()),
        _ => (
            text(id, name, props, "Path")?.to_string(),
            text(id, name, props, "Method")?.to_string(),
        ),
    };
    let tail = if path == DEFAULT_STAGE {
        "*".to_string()
    } else {
        arn_tail(&method, &path)
    };
    let arn = format!(
        "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{__ApiId__}}/${{__Stage__}}/{tail}"
    );
    // The permission of the function's `$default` route on the same API
    // covers every other route of it, and SAM makes no other.
    let covered = path != DEFAULT_STAGE
        && x.props
            .get("Events")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.values())
            .any(|e| {
                let p = e.get("Properties").cloned().unwrap_or_else(|| json!({}));
                e["Type"] == "HttpApi"
                    && p.get("Path").is_none()
                    && p.get("Method").is_none()
                    && api_of(id, name, &p, "ApiId", IMPLICIT_HTTP).ok().as_ref() == Some(&api)
            });
    if !covered {
        permission(x, format!("{id}{name}Permission"), target, arn, &api);
    }
    let uri = format!(
        "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{}}}/invocations",
        invoked(id, target)
    );
    let mut integration = json!({
        "httpMethod": "POST",
        "type": "aws_proxy",
        "uri": {"Fn::Sub": uri},
        "payloadFormatVersion": props.get("PayloadFormatVersion").cloned().unwrap_or_else(|| json!("2.0")),
    });
    if let Some(t) = props.get("TimeoutInMillis") {
        integration["timeoutInMillis"] = t.clone();
    }
    routes.http.entry(api).or_default().push(Route {
        function: id.to_string(),
        event: name.to_string(),
        path,
        operation: operation(&method),
        integration,
        auth: props.get("Auth").cloned(),
    });
    Ok(())
}

/// Add `routes` to the `paths` of an OpenAPI `body`.
fn add_paths(
    body: &mut Value,
    routes: &[Route],
    http: bool,
    default_authorizer: Option<&str>,
) -> Result<(), Error> {
    if !body["paths"].is_object() {
        body["paths"] = json!({});
    }
    for r in routes {
        let mut op = json!({"responses": {}, "x-amazon-apigateway-integration": r.integration});
        if http && r.path == DEFAULT_STAGE {
            op["isDefaultRoute"] = json!(true);
        }
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|n| json!({"in": "path", "name": n, "required": true}))
            .collect();
        if http && !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(security) = security(r, default_authorizer)? {
            op["security"] = security;
        }
        let path = &mut body["paths"][&r.path];
        if path.get(&r.operation).is_some() {
            return Err(invalid(
                &r.function,
                format!(
                    "Event with id [{}] is invalid. API method '{}' defined multiple times for path '{}'.",
                    r.event, r.operation, r.path
                ),
            ));
        }
        path[&r.operation] = op;
    }
    Ok(())
}

/// A REST API's `Cors` (an origin, or a map of `AllowOrigin`,
/// `AllowMethods`, `AllowHeaders`, `MaxAge`, `AllowCredentials`) as SAM
/// writes it: on every path without one, an `options` operation whose `mock`
/// integration answers 200 with the `Access-Control-*` headers; the allowed
/// methods default to the path's own and `OPTIONS`.
fn add_cors(
    id: &str,
    body: &mut Value,
    cors: &Value,
    authorizer: Option<&str>,
) -> Result<(), Error> {
    let quoted = |v: &Value, what: &str| -> Result<String, Error> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(invalid(
                    id,
                    format!(
                        "Nimbus takes Cors {what} as a string only (not an intrinsic function)."
                    ),
                ));
            }
        };
        // SAM wants the quotes API Gateway's mapping needs; a bare value is quoted.
        Ok(
            if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
                s
            } else {
                format!("'{s}'")
            },
        )
    };
    let (origin, methods, headers, max_age, credentials) = match cors {
        Value::String(_) => (quoted(cors, "AllowOrigin")?, None, None, None, false),
        Value::Object(m) => {
            only(
                id,
                "Cors ",
                cors,
                &[
                    "AllowOrigin",
                    "AllowMethods",
                    "AllowHeaders",
                    "MaxAge",
                    "AllowCredentials",
                ],
            )?;
            let origin = m
                .get("AllowOrigin")
                .ok_or_else(|| invalid(id, "Cors must have AllowOrigin."))?;
            let opt = |k: &str| m.get(k).map(|v| quoted(v, k)).transpose();
            (
                quoted(origin, "AllowOrigin")?,
                opt("AllowMethods")?,
                opt("AllowHeaders")?,
                opt("MaxAge")?,
                m.get("AllowCredentials")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )
        }
        _ => return Err(invalid(id, "Cors must be a string or a map.")),
    };
    let Some(paths) = body.get_mut("paths").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    for item in paths.values_mut() {
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        if ops.contains_key("options") {
            continue;
        }
        let allowed = methods.clone().unwrap_or_else(|| {
            let all = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];
            let mut own: Vec<String> = if ops.contains_key("x-amazon-apigateway-any-method") {
                all.iter().map(|m| m.to_string()).collect()
            } else {
                ops.keys()
                    .map(|k| k.to_ascii_uppercase())
                    .filter(|k| all.contains(&k.as_str()))
                    .chain(["OPTIONS".to_string()])
                    .collect()
            };
            own.sort();
            own.dedup();
            format!("'{}'", own.join(","))
        });
        let mut parameters = Map::new();
        let mut set = |h: &str, v: String| {
            parameters.insert(format!("method.response.header.{h}"), json!(v));
        };
        if let Some(h) = &headers {
            set("Access-Control-Allow-Headers", h.clone());
        }
        set("Access-Control-Allow-Methods", allowed);
        set("Access-Control-Allow-Origin", origin.clone());
        if let Some(a) = &max_age {
            set("Access-Control-Max-Age", a.clone());
        }
        if credentials {
            set("Access-Control-Allow-Credentials", "'true'".into());
        }
        let declared: Map<String, Value> = parameters
            .keys()
            .filter_map(|k| k.strip_prefix("method.response.header."))
            .map(|h| (h.to_string(), json!({"type": "string"})))
            .collect();
        let mut preflight = json!({
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "summary": "CORS support",
            "responses": {"200": {"description": "Default response for CORS method", "headers": declared}},
            "x-amazon-apigateway-integration": {
                "type": "mock",
                "requestTemplates": {"application/json": "{\n  \"statusCode\" : 200\n}\n"},
                "responses": {"default": {
                    "statusCode": "200",
                    "responseParameters": parameters,
                    "responseTemplates": {"application/json": "{}\n"},
                }},
            },
        });
        if let Some(a) = authorizer {
            preflight["security"] = json!([{ a: [] }]);
        }
        ops.insert("options".into(), preflight);
    }
    Ok(())
}

/// A REST API's `Auth`: its Lambda `Authorizers` as the body's security
/// definitions (`TOKEN` from a header, `REQUEST` from the identity sources
/// listed), each with the permission that lets API Gateway invoke its
/// function; its `DefaultAuthorizer`, and whether CORS preflights use it
/// (`AddDefaultAuthorizerToCorsPreflight`, true unless said).
fn rest_authorizers(
    x: &mut Expansion<'_>,
    auth: &Value,
    body: &mut Value,
) -> Result<(Option<String>, bool), Error> {
    let id = x.id.to_string();
    only(
        &id,
        "Auth ",
        auth,
        &[
            "Authorizers",
            "DefaultAuthorizer",
            "AddDefaultAuthorizerToCorsPreflight",
        ],
    )?;
    let mut schemes = Map::new();
    for (name, a) in auth
        .get("Authorizers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(arn) = a.get("FunctionArn") else {
            return Err(invalid(
                &id,
                format!(
                    "Authorizer {name} must have 'FunctionArn'; Nimbus's REST APIs have Lambda authorizers only (no Cognito user pools yet)."
                ),
            ));
        };
        only(
            &id,
            &format!("Authorizer {name} "),
            a,
            &[
                "FunctionArn",
                "FunctionPayloadType",
                "Identity",
                "FunctionInvokeRole",
            ],
        )?;
        let identity = a.get("Identity").cloned().unwrap_or_else(|| json!({}));
        let kind = a
            .get("FunctionPayloadType")
            .and_then(Value::as_str)
            .unwrap_or("TOKEN");
        let mut authorizer = json!({
            "type": kind.to_ascii_lowercase(),
            "authorizerUri": {"Fn::Sub": [
                "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${__FunctionArn__}/invocations",
                {"__FunctionArn__": arn},
            ]},
        });
        if let Some(ttl) = identity.get("ReauthorizeEvery") {
            authorizer["authorizerResultTtlInSeconds"] = ttl.clone();
        }
        if let Some(role) = a.get("FunctionInvokeRole") {
            authorizer["authorizerCredentials"] = role.clone();
        }
        let scheme = match kind {
            "TOKEN" => {
                if let Some(e) = identity.get("ValidationExpression") {
                    authorizer["identityValidationExpression"] = e.clone();
                }
                let header = identity
                    .get("Header")
                    .and_then(Value::as_str)
                    .unwrap_or("Authorization");
                json!({"type": "apiKey", "name": header, "in": "header",
                       "x-amazon-apigateway-authtype": "custom",
                       "x-amazon-apigateway-authorizer": authorizer})
            }
            "REQUEST" => {
                let sources = identity_sources(
                    &identity,
                    [
                        ("Headers", "method.request.header."),
                        ("QueryStrings", "method.request.querystring."),
                        ("StageVariables", "stageVariables."),
                        ("Context", "context."),
                    ],
                );
                authorizer["identitySource"] = json!(sources.join(", "));
                json!({"type": "apiKey", "name": "Unused", "in": "header",
                       "x-amazon-apigateway-authtype": "custom",
                       "x-amazon-apigateway-authorizer": authorizer})
            }
            other => {
                return Err(invalid(
                    &id,
                    format!(
                        "Authorizer {name} has an invalid 'FunctionPayloadType' '{other}': TOKEN or REQUEST."
                    ),
                ));
            }
        };
        schemes.insert(name.clone(), scheme);
        if a.get("FunctionInvokeRole").is_none() {
            x.add(
                format!("{id}{name}AuthorizerPermission"),
                "AWS::Lambda::Permission",
                json!({
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": arn,
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": {"Fn::Sub": [
                        "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/authorizers/*",
                        {"__ApiId__": {"Ref": id}},
                    ]},
                }),
            );
        }
    }
    if !schemes.is_empty() {
        let into = if body.get("openapi").is_some() {
            &mut body["components"]["securitySchemes"]
        } else {
            &mut body["securityDefinitions"]
        };
        if !into.is_object() {
            *into = json!({});
        }
        for (k, v) in schemes {
            into[k] = v;
        }
    }
    let default = auth
        .get("DefaultAuthorizer")
        .and_then(Value::as_str)
        .map(str::to_string);
    if default.as_deref() == Some("AWS_IAM") {
        return Err(invalid(
            &id,
            "Nimbus's REST APIs do not support AWS_IAM authorization yet; use a Lambda authorizer.",
        ));
    }
    if let Some(d) = &default
        && auth.get("Authorizers").is_none_or(|m| m.get(d).is_none())
    {
        return Err(invalid(
            &id,
            format!(
                "Unable to set DefaultAuthorizer because '{d}' was not defined in 'Authorizers'."
            ),
        ));
    }
    let preflight = auth
        .get("AddDefaultAuthorizerToCorsPreflight")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    Ok((default, preflight))
}

/// An `HttpApi` event's `security`: its `Auth.Authorizer` (`NONE` for
/// none) or the API's default, with its `AuthorizationScopes`.
fn security(r: &Route, default_authorizer: Option<&str>) -> Result<Option<Value>, Error> {
    let auth = r.auth.as_ref();
    let named = match auth.and_then(|a| a.get("Authorizer")) {
        None => default_authorizer.map(str::to_string),
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => {
            return Err(invalid(
                &r.function,
                format!(
                    "Event with id [{}] is invalid. 'Authorizer' must be a string.",
                    r.event
                ),
            ));
        }
    };
    let Some(name) = named else {
        return Ok(None);
    };
    let scopes = auth
        .and_then(|a| a.get("AuthorizationScopes"))
        .cloned()
        .unwrap_or_else(|| json!([]));
    Ok(Some(json!([{ name: scopes }])))
}

/// An HTTP API's `Auth.Authorizers` as the body's security schemes; its
/// `DefaultAuthorizer`.
fn authorizers(id: &str, auth: &Value, body: &mut Value) -> Result<Option<String>, Error> {
    only(id, "Auth ", auth, &["Authorizers", "DefaultAuthorizer"])?;
    let mut schemes = Map::new();
    for (name, a) in auth
        .get("Authorizers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let scheme = if let Some(jwt) = a.get("JwtConfiguration") {
            let mut x = json!({"type": "jwt", "jwtConfiguration": jwt});
            if let Some(s) = a.get("IdentitySource") {
                x["identitySource"] = s.clone();
            }
            json!({"type": "oauth2", "x-amazon-apigateway-authorizer": x})
        } else if let Some(arn) = a.get("FunctionArn") {
            only(
                id,
                &format!("Authorizer {name} "),
                a,
                &[
                    "FunctionArn",
                    "AuthorizerPayloadFormatVersion",
                    "EnableSimpleResponses",
                    "Identity",
                ],
            )?;
            let mut x = json!({
                "type": "request",
                "authorizerUri": {"Fn::Sub": [
                    "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${__FunctionArn__}/invocations",
                    {"__FunctionArn__": arn},
                ]},
            });
            for (from, to) in [
                (
                    "AuthorizerPayloadFormatVersion",
                    "authorizerPayloadFormatVersion",
                ),
                ("EnableSimpleResponses", "enableSimpleResponses"),
            ] {
                if let Some(v) = a.get(from) {
                    x[to] = v.clone();
                }
            }
            if let Some(identity) = a.get("Identity") {
                let sources = identity_sources(
                    identity,
                    [
                        ("Headers", "$request.header."),
                        ("QueryStrings", "$request.querystring."),
                        ("Context", "$context."),
                        ("StageVariables", "$stageVariables."),
                    ],
                );
                x["identitySource"] = json!(sources);
                if let Some(ttl) = identity.get("ReauthorizeEvery") {
                    x["authorizerResultTtlInSeconds"] = ttl.clone();
                }
            }
            json!({"type": "apiKey", "name": "Unused", "in": "header", "x-amazon-apigateway-authorizer": x})
        } else {
            return Err(invalid(
                id,
                format!(
                    "Authorizer {name} must have 'JwtConfiguration' or 'FunctionArn'; Nimbus serves JWT and Lambda authorizers of HTTP APIs."
                ),
            ));
        };
        schemes.insert(name.clone(), scheme);
    }
    if !schemes.is_empty() {
        body["components"]["securitySchemes"] = Value::Object(schemes);
    }
    Ok(auth
        .get("DefaultAuthorizer")
        .and_then(Value::as_str)
        .map(str::to_string))
}

/// A Lambda authorizer's `Identity` as identity sources: each list
/// (`Headers`, `QueryStrings`, ...) with its API's prefix, in the order given
/// (SAM's differs between REST and HTTP APIs).
fn identity_sources(identity: &Value, kinds: [(&str, &str); 4]) -> Vec<String> {
    kinds
        .into_iter()
        .flat_map(|(kind, prefix)| {
            identity
                .get(kind)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(move |n| format!("{prefix}{n}"))
        })
        .collect()
}

/// A 40-hex digest of `v` (SAM's deployment ids are a SHA-1 of the API's
/// body; Nimbus uses its own hash, so only what changes it matters).
fn long_hash(v: &Value) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(v.to_string().as_bytes());
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

/// The `Body` of an API: its `DefinitionBody` or a new document.
fn body_of(id: &str, props: &Value, fresh: Value) -> Result<Value, Error> {
    match props.get("DefinitionBody") {
        None => Ok(fresh),
        Some(b @ Value::Object(_)) => Ok(b.clone()),
        Some(_) => Err(invalid(id, "'DefinitionBody' must be a map.")),
    }
}

fn tag_list(tags: Option<&Value>) -> Option<Value> {
    let m = tags?.as_object()?;
    Some(Value::Array(
        m.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    ))
}

/// `AWS::Serverless::Api` (or the implicit API, with `props` from `Globals`).
fn rest_api(x: &mut Expansion<'_>, routes: &[Route], implicit: bool) -> Result<(), Error> {
    let id = x.id.to_string();
    let props = Value::Object(x.props.clone());
    only(&id, "", &props, &REST_API)?;
    let stage = if implicit {
        IMPLICIT_REST_STAGE.to_string()
    } else {
        stage_name(&id, &props, None)?
    };
    let mut fresh = json!({"info": {"version": "1.0", "title": {"Ref": "AWS::StackName"}}});
    match props.get("OpenApiVersion") {
        Some(v) => fresh["openapi"] = v.clone(),
        None => fresh["swagger"] = json!("2.0"),
    }
    let mut body = body_of(&id, &props, fresh)?;
    // A `DefinitionBody` is the user's: SAM adds the events' paths only to
    // the body it writes (the events still get their permissions).
    let (default_authorizer, preflight) = match props.get("Auth") {
        Some(auth) => rest_authorizers(x, auth, &mut body)?,
        None => (None, true),
    };
    if props.get("DefinitionBody").is_none() {
        add_paths(&mut body, routes, false, default_authorizer.as_deref())?;
    }
    if let Some(cors) = props.get("Cors") {
        let preflight_auth = default_authorizer.as_deref().filter(|_| preflight);
        add_cors(&id, &mut body, cors, preflight_auth)?;
    }
    let mut api = json!({});
    if let Some(b) = props.get("BinaryMediaTypes") {
        body["x-amazon-apigateway-binary-media-types"] = b.clone();
        api["BinaryMediaTypes"] = b.clone();
    }
    for k in ["Name", "Description", "EndpointConfiguration"] {
        if let Some(v) = props.get(k) {
            api[k] = v.clone();
        }
    }
    let hash = long_hash(&json!([body, stage]));
    api["Body"] = body;
    x.add(id.clone(), "AWS::ApiGateway::RestApi", api);
    let deployment = format!("{id}Deployment{}", &hash[..10]);
    let mut d = json!({
        "Description": format!("RestApi deployment id: {hash}"),
        "RestApiId": {"Ref": id},
    });
    // With Swagger 2.0 SAM deploys to a stage named `Stage` too.
    if props.get("OpenApiVersion").is_none() {
        d["StageName"] = json!("Stage");
    }
    x.add(deployment.clone(), "AWS::ApiGateway::Deployment", d);
    let mut s = json!({
        "DeploymentId": {"Ref": deployment},
        "RestApiId": {"Ref": id},
        "StageName": stage,
    });
    if let Some(v) = props.get("Variables") {
        s["Variables"] = v.clone();
    }
    if let Some(t) = tag_list(props.get("Tags")) {
        s["Tags"] = t;
    }
    let suffix: String = stage.chars().filter(char::is_ascii_alphanumeric).collect();
    x.add(format!("{id}{suffix}Stage"), "AWS::ApiGateway::Stage", s);
    Ok(())
}

/// `AWS::Serverless::HttpApi` (or the implicit API).
fn http_api(x: &mut Expansion<'_>, routes: &[Route]) -> Result<(), Error> {
    let id = x.id.to_string();
    let props = Value::Object(x.props.clone());
    only(&id, "", &props, &HTTP_API)?;
    let stage = stage_name(&id, &props, Some(DEFAULT_STAGE))?;
    let mut info = json!({"version": "1.0", "title": props.get("Name").cloned().unwrap_or_else(|| json!({"Ref": "AWS::StackName"}))});
    if let Some(d) = props.get("Description") {
        info["description"] = d.clone();
    }
    let fresh = json!({"openapi": "3.0.1", "info": info, "paths": {}});
    let mut body = body_of(&id, &props, fresh)?;
    let default_authorizer = match props.get("Auth") {
        Some(auth) => authorizers(&id, auth, &mut body)?,
        None => None,
    };
    add_paths(&mut body, routes, true, default_authorizer.as_deref())?;
    let sam_tag = json!({"name": "httpapi:createdBy", "x-amazon-apigateway-tag-value": "SAM"});
    let mut tags = Vec::new();
    let mut stage_tags = Map::new();
    stage_tags.insert("httpapi:createdBy".into(), json!("SAM"));
    if let Some(Value::Object(m)) = props.get("Tags") {
        for (k, v) in m {
            tags.push(json!({"name": k, "x-amazon-apigateway-tag-value": v}));
            stage_tags.insert(k.clone(), v.clone());
        }
    }
    // SAM's own tag comes first in the body it writes, last in the user's.
    if props.get("DefinitionBody").is_some() {
        tags.push(sam_tag);
    } else {
        tags.insert(0, sam_tag);
    }
    body["tags"] = Value::Array(tags);
    match props.get("CorsConfiguration") {
        None => {}
        Some(Value::Object(c)) => {
            let lowered: Map<String, Value> =
                c.iter().map(|(k, v)| (lower_first(k), v.clone())).collect();
            body["x-amazon-apigateway-cors"] = Value::Object(lowered);
        }
        Some(_) => {
            return Err(invalid(
                &id,
                "Nimbus takes 'CorsConfiguration' as a map only (AllowOrigins, AllowMethods, ...).",
            ));
        }
    }
    x.add(
        id.clone(),
        "AWS::ApiGatewayV2::Api",
        json!({ "Body": body }),
    );
    let mut s = json!({
        "ApiId": {"Ref": id},
        "AutoDeploy": true,
        "StageName": stage,
        "Tags": stage_tags,
    });
    if let Some(v) = props.get("StageVariables") {
        s["StageVariables"] = v.clone();
    }
    let stage_id = if stage == DEFAULT_STAGE {
        format!("{id}ApiGatewayDefaultStage")
    } else {
        let suffix: String = stage.chars().filter(char::is_ascii_alphanumeric).collect();
        format!("{id}{suffix}Stage")
    };
    x.add(stage_id, "AWS::ApiGatewayV2::Stage", s);
    Ok(())
}

fn lower_first(k: &str) -> String {
    let mut c = k.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Make the APIs: each of `explicit` (id and resource, `Globals` merged),
/// and the implicit ones events ask for; `globals` is the template's
/// `Globals` (the implicit APIs take their `Api` and `HttpApi` sections).
pub(crate) fn finish(
    out: &mut Map<String, Value>,
    mut routes: Routes,
    explicit: &[(String, Value)],
    globals: &Value,
) -> Result<(), Error> {
    for (id, r) in explicit {
        let props = r
            .get("Properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut x = Expansion {
            id,
            resource: r,
            props: &props,
            out,
        };
        if r["Type"] == "AWS::Serverless::Api" {
            let mine = routes.rest.remove(id).unwrap_or_default();
            rest_api(&mut x, &mine, false)?;
        } else {
            let mine = routes.http.remove(id).unwrap_or_default();
            http_api(&mut x, &mine)?;
        }
    }
    let implicit = [(IMPLICIT_REST, "Api"), (IMPLICIT_HTTP, "HttpApi")];
    for (id, section) in implicit {
        let found = if id == IMPLICIT_REST {
            routes.rest.remove(id)
        } else {
            routes.http.remove(id)
        };
        let Some(mine) = found else { continue };
        let mut props = globals
            .get(section)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        props.remove("StageName");
        let resource = json!({"Type": section});
        let mut x = Expansion {
            id,
            resource: &resource,
            props: &props,
            out,
        };
        if id == IMPLICIT_REST {
            rest_api(&mut x, &mine, true)?;
        } else {
            http_api(&mut x, &mine)?;
        }
    }
    // Events naming an HTTP API the template does not declare.
    if let Some(r) = routes.http.values().flatten().next() {
        return Err(invalid(
            &r.function,
            format!(
                "Event with id [{}] is invalid. ApiId must be a valid reference to an 'AWS::Serverless::HttpApi' resource in same template.",
                r.event
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::content_hash;
    use super::*;

    #[test]
    fn arn_tails_widen_parameters_and_any() {
        assert_eq!(arn_tail("get", "/items/{id}"), "GET/items/*");
        assert_eq!(arn_tail("ANY", "/{proxy+}"), "*/*");
        assert_eq!(arn_tail("post", "/"), "POST/");
        assert_eq!(content_hash(&json!(1)).len(), 10);
        assert_eq!(long_hash(&json!(1)).len(), 40);
    }
}
