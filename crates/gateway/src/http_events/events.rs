//! Request → Lambda event (payload formats 1.0 and 2.0, function URLs).

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use super::util::{encode_body, format_request_time, parse_query};
use super::{HttpRequest, Route};

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn user_agent(req: &HttpRequest) -> Option<&str> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.as_str())
}

fn domain_name(route: &Route, default_suffix: &str) -> String {
    if route.domain_name.is_empty() {
        format!("{}.{}", route.api_id, default_suffix)
    } else {
        route.domain_name.clone()
    }
}

/// The first label of the domain name (API Gateway's `domainPrefix`).
fn domain_prefix(domain: &str) -> String {
    domain.split('.').next().unwrap_or(domain).to_string()
}

fn raw_path(req: &HttpRequest) -> &str {
    if req.raw_path.is_empty() {
        "/"
    } else {
        &req.raw_path
    }
}

/// The path as the client requested it, including a named stage
/// ("/prod/items/1"); the `$default` stage is served at the root and adds nothing.
fn path_with_stage(req: &HttpRequest, route: &Route) -> String {
    if !route.full_path.is_empty() {
        return route.full_path.clone();
    }
    if route.stage.is_empty() || route.stage == "$default" {
        raw_path(req).to_string()
    } else {
        format!("/{}{}", route.stage, raw_path(req))
    }
}

struct V2Parts<'a> {
    route_key: &'a str,
    stage: &'a str,
    path: String,
    domain: String,
    domain_prefix: String,
    path_parameters: Option<&'a BTreeMap<String, String>>,
    stage_variables: Option<&'a BTreeMap<String, String>>,
    authorizer: Option<Value>,
}

fn build_v2(req: &HttpRequest, route: &Route, parts: V2Parts<'_>) -> Value {
    // Headers: lower-case names, repeated values joined with ",", cookies split out.
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for (name, value) in &req.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_string())),
            );
            continue;
        }
        match headers.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                headers.insert(name, Value::String(value.clone()));
            }
        }
    }

    let mut query: Map<String, Value> = Map::new();
    for (k, v) in parse_query(&req.raw_query) {
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }

    let mut ctx = Map::new();
    ctx.insert("accountId".into(), json!(route.account_id));
    ctx.insert("apiId".into(), json!(route.api_id));
    if let Some(a) = parts.authorizer {
        ctx.insert("authorizer".into(), a);
    }
    ctx.insert("domainName".into(), json!(parts.domain));
    ctx.insert("domainPrefix".into(), json!(parts.domain_prefix));
    ctx.insert(
        "http".into(),
        json!({
            "method": req.method,
            "path": parts.path,
            "protocol": req.protocol,
            "sourceIp": req.source_ip,
            "userAgent": user_agent(req).unwrap_or(""),
        }),
    );
    ctx.insert("requestId".into(), json!(route.request_id));
    ctx.insert("routeKey".into(), json!(parts.route_key));
    ctx.insert("stage".into(), json!(parts.stage));
    ctx.insert("time".into(), json!(format_request_time(route.time_ms)));
    ctx.insert("timeEpoch".into(), json!(route.time_ms));

    let mut ev = Map::new();
    ev.insert("version".into(), json!("2.0"));
    ev.insert("routeKey".into(), json!(parts.route_key));
    ev.insert("rawPath".into(), json!(parts.path));
    ev.insert("rawQueryString".into(), json!(req.raw_query));
    if !cookies.is_empty() {
        ev.insert("cookies".into(), Value::Array(cookies));
    }
    ev.insert("headers".into(), Value::Object(headers));
    if !query.is_empty() {
        ev.insert("queryStringParameters".into(), Value::Object(query));
    }
    if let Some(p) = parts.path_parameters.filter(|p| !p.is_empty()) {
        ev.insert("pathParameters".into(), string_map(p));
    }
    if let Some(s) = parts.stage_variables.filter(|s| !s.is_empty()) {
        ev.insert("stageVariables".into(), string_map(s));
    }
    ev.insert("requestContext".into(), Value::Object(ctx));
    let is_b64 = match encode_body(&req.headers, &req.body) {
        Some((body, b64)) => {
            ev.insert("body".into(), Value::String(body));
            b64
        }
        None => false,
    };
    ev.insert("isBase64Encoded".into(), json!(is_b64));
    Value::Object(ev)
}

/// Payload format 2.0 (HTTP APIs) event.
///
/// `rawPath` / `requestContext.http.path` include a named stage (as on AWS);
/// `cookies`, `queryStringParameters`, `pathParameters`, `stageVariables` and
/// `body` are omitted when empty.
pub fn event_v2(req: &HttpRequest, route: &Route) -> Value {
    let domain = domain_name(route, "execute-api.localhost");
    let stage = if route.stage.is_empty() {
        "$default"
    } else {
        route.stage.as_str()
    };
    build_v2(
        req,
        route,
        V2Parts {
            route_key: &route.route_key,
            stage,
            path: path_with_stage(req, route),
            domain_prefix: domain_prefix(&domain),
            domain,
            path_parameters: Some(&route.path_parameters),
            stage_variables: Some(&route.stage_variables),
            authorizer: None,
        },
    )
}

/// A function URL's event: format 2.0 with routeKey/stage "$default",
/// `domainPrefix` = the URL id (`route.api_id`), and `authorizer.iam` when
/// `iam` is `Some((access_key, account_id, caller_id, user_arn))`.
/// Function URLs have no path parameters or stage variables, so those are omitted.
pub fn event_function_url(
    req: &HttpRequest,
    route: &Route,
    iam: Option<(&str, &str, &str, &str)>,
) -> Value {
    let domain = domain_name(route, "lambda-url.localhost");
    let authorizer = iam.map(|(access_key, account_id, caller_id, user_arn)| {
        json!({
            "iam": {
                "accessKey": access_key,
                "accountId": account_id,
                "callerId": caller_id,
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": user_arn,
                "userId": caller_id,
            }
        })
    });
    build_v2(
        req,
        route,
        V2Parts {
            route_key: "$default",
            stage: "$default",
            path: raw_path(req).to_string(),
            domain_prefix: route.api_id.clone(),
            domain,
            path_parameters: None,
            stage_variables: None,
            authorizer,
        },
    )
}

/// Payload format 1.0 event (HTTP API with 1.0, and REST API `AWS_PROXY`).
///
/// `headers` / `queryStringParameters` hold the last value of a repeated name,
/// `multiValueHeaders` / `multiValueQueryStringParameters` all of them; each is
/// null when there is none, as are `pathParameters`, `stageVariables`, `body`.
pub fn event_v1(req: &HttpRequest, route: &Route) -> Value {
    let mut headers = Map::new();
    let mut multi_headers: Map<String, Value> = Map::new();
    for (name, value) in &req.headers {
        headers.insert(name.clone(), Value::String(value.clone()));
        match multi_headers.get_mut(name) {
            Some(Value::Array(vs)) => vs.push(Value::String(value.clone())),
            _ => {
                multi_headers.insert(name.clone(), json!([value]));
            }
        }
    }
    let mut query = Map::new();
    let mut multi_query: Map<String, Value> = Map::new();
    for (k, v) in parse_query(&req.raw_query) {
        query.insert(k.clone(), Value::String(v.clone()));
        match multi_query.get_mut(&k) {
            Some(Value::Array(vs)) => vs.push(Value::String(v)),
            _ => {
                multi_query.insert(k, json!([v]));
            }
        }
    }
    let obj_or_null = |m: Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    let map_or_null = |m: &BTreeMap<String, String>| {
        if m.is_empty() {
            Value::Null
        } else {
            string_map(m)
        }
    };

    let resource = if route.resource_path.is_empty() {
        raw_path(req).to_string()
    } else {
        route.resource_path.clone()
    };
    let domain = domain_name(route, "execute-api.localhost");
    let stage = if route.stage.is_empty() {
        "$default"
    } else {
        route.stage.as_str()
    };
    let (body, is_b64) = match encode_body(&req.headers, &req.body) {
        Some((b, b64)) => (Value::String(b), b64),
        None => (Value::Null, false),
    };

    json!({
        "version": "1.0",
        "resource": resource,
        "path": raw_path(req),
        "httpMethod": req.method,
        "headers": obj_or_null(headers),
        "multiValueHeaders": obj_or_null(multi_headers),
        "queryStringParameters": obj_or_null(query),
        "multiValueQueryStringParameters": obj_or_null(multi_query),
        "pathParameters": map_or_null(&route.path_parameters),
        "stageVariables": map_or_null(&route.stage_variables),
        "requestContext": {
            "accountId": route.account_id,
            "apiId": route.api_id,
            "domainName": domain,
            "domainPrefix": domain_prefix(&domain),
            "extendedRequestId": route.request_id,
            "httpMethod": req.method,
            "identity": {
                "accessKey": null,
                "accountId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": req.source_ip,
                "user": null,
                "userAgent": user_agent(req),
                "userArn": null,
            },
            "path": path_with_stage(req, route),
            "protocol": req.protocol,
            "requestId": route.request_id,
            "requestTime": format_request_time(route.time_ms),
            "requestTimeEpoch": route.time_ms,
            "resourceId": null,
            "resourcePath": resource,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": is_b64,
    })
}
