//! Serving requests addressed to an HTTP API or a function URL: find the API,
//! stage, route and integration (or the URL's function), answer CORS
//! preflights, build the event, invoke, and map the result (or the failure)
//! to the response API Gateway or Lambda would give.
//!
//! Addresses: `{api-id}.execute-api.<anything>` as the Host, or the path
//! `/_nimbus/execute-api/{api-id}/...`; `{url-id}.lambda-url.<anything>` as
//! the Host, or `/_nimbus/lambda-url/{url-id}/...`.

use crate::apis::{Api, Apis};
use crate::http_events::{self, HttpRequest, HttpResponse, Route};
use crate::stages::DEFAULT_STAGE;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use nimbus_invoke::permissions::Permissions;
use nimbus_invoke::{FunctionUrls, Invoker};
use nimbus_invoke::{InvokeError, InvokeRequest};
use nimbus_model::Identity;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Api(String),
    FunctionUrl(String),
}

/// The request's target and its path within it (percent-encoded, starting with `/`).
pub fn addressed(parts: &http::request::Parts) -> Option<(Target, String)> {
    let path = parts.uri.path();
    for (prefix, url) in [
        ("/_nimbus/execute-api/", false),
        ("/_nimbus/lambda-url/", true),
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let (id, tail) = match rest.split_once('/') {
                Some((id, tail)) => (id, format!("/{tail}")),
                None => (rest, "/".to_string()),
            };
            if id.is_empty() {
                return None;
            }
            let t = if url {
                Target::FunctionUrl(id.to_string())
            } else {
                Target::Api(id.to_string())
            };
            return Some((t, tail));
        }
    }
    // LocalStack's form for REST APIs: /restapis/{id}/{stage}/_user_request_/{path}.
    if let Some(rest) = path.strip_prefix("/restapis/") {
        let mut it = rest.splitn(4, '/');
        if let (Some(id), Some(stage), Some("_user_request_")) = (it.next(), it.next(), it.next()) {
            let tail = it.next().unwrap_or("");
            return Some((Target::Api(id.to_string()), format!("/{stage}/{tail}")));
        }
    }
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())?
        .to_ascii_lowercase();
    let (first, rest) = host.split_once('.')?;
    if rest.starts_with("execute-api.") {
        return Some((Target::Api(first.to_string()), path.to_string()));
    }
    if rest.starts_with("lambda-url.") {
        return Some((Target::FunctionUrl(first.to_string()), path.to_string()));
    }
    None
}

/// A request as the edge hands it over.
pub struct Call<'a> {
    /// The path within the API or URL.
    pub path: &'a str,
    pub parts: &'a http::request::Parts,
    pub body: Bytes,
    pub request_id: &'a str,
    pub source_ip: &'a str,
}

/// What an API's metrics are called: see [`Gateway::metric_names`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiMetricNames {
    pub dimension: (&'static str, String),
    pub client_errors: &'static str,
    pub server_errors: &'static str,
}

/// How long an API request's integration took (API Gateway's
/// `IntegrationLatency`), in the response's extensions for whoever counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntegrationLatency(pub Duration);

tokio::task_local! {
    /// The integration time of the request being served (its last function call).
    static INTEGRATION: std::cell::Cell<Option<Duration>>;
}

pub struct Gateway {
    apis: Arc<Apis>,
    rest: Arc<crate::rest::RestApis>,
    invoker: Arc<dyn Invoker>,
    urls: Arc<dyn FunctionUrls>,
    identity: Identity,
    /// What API Gateway may invoke (`None`: IAM is off).
    permissions: Option<Arc<dyn Permissions>>,
    /// Authorizer answers by (API, authorizer, identity values): until when, and
    /// the context to pass on (None: denied).
    auth_cache: std::sync::Mutex<std::collections::HashMap<String, (u64, Option<Value>)>>,
    /// JWT authorizers' key sets by issuer.
    jwt_keys: crate::jwt::KeyCache,
}

/// What an authorizer decided: allowed with a context, or the response to give.
type Authorized = Result<Value, Response<Bytes>>;

/// Whether `pattern` (an ARN with `*` and `?` wildcards) matches `arn`.
fn arn_matches(pattern: &str, arn: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    pattern.len() <= 2048 && go(pattern.as_bytes(), arn.as_bytes())
}

/// An IAM policy answer: allowed when a statement allows `execute-api:Invoke`
/// on the route and none denies it.
fn policy_allows(answer: &Value, route_arn: &str) -> Option<bool> {
    let statements = answer.get("policyDocument")?.get("Statement")?;
    let list: Vec<&Value> = match statements {
        Value::Array(a) => a.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => return None,
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut allowed = false;
    for st in list {
        let actions = strings(st.get("Action"));
        let acts = actions.iter().any(|a| {
            a == "*" || a == "execute-api:*" || a.eq_ignore_ascii_case("execute-api:Invoke")
        });
        let covers = strings(st.get("Resource"))
            .iter()
            .any(|r| arn_matches(r, route_arn));
        if !(acts && covers) {
            continue;
        }
        match st.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return Some(false),
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    Some(allowed)
}

fn query_value(raw_query: &str, name: &str) -> Option<String> {
    raw_query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (
                (b[i + 1] as char).to_digit(16),
                b.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn message(status: StatusCode, key: &str, text: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(json!({ key: text }).to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn to_response(h: HttpResponse) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(h.body));
    *r.status_mut() = StatusCode::from_u16(h.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (k, v) in h.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            r.headers_mut().append(name, value);
        }
    }
    r
}

/// The function an integration URI names: a function ARN (possibly
/// qualified), API Gateway's `.../functions/<arn>/invocations` form, or a name.
fn function_of(uri: &str) -> (String, Option<String>) {
    let arn = match uri.find("/functions/") {
        Some(i) if uri.starts_with("arn:aws:apigateway:") => uri[i + "/functions/".len()..]
            .trim_end_matches("/invocations")
            .to_string(),
        _ => uri.to_string(),
    };
    match nimbus_model::arn::FunctionRef::parse(&arn) {
        Ok(r) => (r.name, r.qualifier),
        Err(_) => (arn, None),
    }
}

/// CORS headers for `origin` under a configuration with API Gateway's
/// (`allowOrigins`, ...) or Lambda's (`AllowOrigins`, ...) field names.
fn cors_headers(cfg: &Value, origin: Option<&str>, preflight: bool) -> Vec<(String, String)> {
    let get = |lower: &str, upper: &str| cfg.get(lower).or_else(|| cfg.get(upper)).cloned();
    let list = |v: Option<Value>| -> Vec<String> {
        v.and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let Some(origin) = origin else {
        return Vec::new();
    };
    let origins = list(get("allowOrigins", "AllowOrigins"));
    let allowed = origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin));
    if !allowed {
        return Vec::new();
    }
    let credentials = get("allowCredentials", "AllowCredentials")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let allow_origin = if origins.iter().any(|o| o == "*") && !credentials {
        "*".to_string()
    } else {
        origin.to_string()
    };
    let mut out = vec![("access-control-allow-origin".to_string(), allow_origin)];
    if credentials {
        out.push(("access-control-allow-credentials".into(), "true".into()));
    }
    let expose = list(get("exposeHeaders", "ExposeHeaders"));
    if !expose.is_empty() {
        out.push(("access-control-expose-headers".into(), expose.join(",")));
    }
    if preflight {
        let methods = list(get("allowMethods", "AllowMethods"));
        if !methods.is_empty() {
            out.push(("access-control-allow-methods".into(), methods.join(",")));
        }
        let headers = list(get("allowHeaders", "AllowHeaders"));
        if !headers.is_empty() {
            out.push(("access-control-allow-headers".into(), headers.join(",")));
        }
        if let Some(age) = get("maxAge", "MaxAge").and_then(|v| v.as_i64()) {
            out.push(("access-control-max-age".into(), age.to_string()));
        }
    }
    out
}

fn header(parts: &http::request::Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn http_request(
    parts: &http::request::Parts,
    path: &str,
    body: Bytes,
    source_ip: &str,
) -> HttpRequest {
    let mut headers = Vec::new();
    for (k, v) in &parts.headers {
        headers.push((
            k.as_str().to_ascii_lowercase(),
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        ));
    }
    HttpRequest {
        method: parts.method.as_str().to_string(),
        raw_path: path.to_string(),
        raw_query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body: body.to_vec(),
        source_ip: source_ip.to_string(),
        protocol: "HTTP/1.1".into(),
    }
}

/// A preflight: OPTIONS with an Origin and Access-Control-Request-Method.
fn is_preflight(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::OPTIONS
        && parts.headers.contains_key("origin")
        && parts.headers.contains_key("access-control-request-method")
}

impl Gateway {
    pub fn new(
        apis: Arc<Apis>,
        rest: Arc<crate::rest::RestApis>,
        invoker: Arc<dyn Invoker>,
        urls: Arc<dyn FunctionUrls>,
        identity: Identity,
        permissions: Option<Arc<dyn Permissions>>,
    ) -> Gateway {
        Gateway {
            apis,
            rest,
            invoker,
            urls,
            identity,
            permissions,
            auth_cache: std::sync::Mutex::new(std::collections::HashMap::new()),
            jwt_keys: crate::jwt::KeyCache::default(),
        }
    }

    /// Check a route's JWT: 401 when it is missing or invalid (with
    /// `www-authenticate`), 403 when it lacks the route's scopes; the claims
    /// and scopes otherwise.
    async fn authorize_jwt(
        &self,
        authz: &crate::apis::Authorizer,
        req: &HttpRequest,
        route_scopes: &[String],
    ) -> Authorized {
        let unauthorized = |why: &str| {
            let mut r = message(StatusCode::UNAUTHORIZED, "message", "Unauthorized");
            let value = format!("Bearer error=\"invalid_token\" error_description=\"{why}\"");
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().insert("www-authenticate", v);
            }
            r
        };
        let Some(cfg) = &authz.jwt else {
            return Err(message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "message",
                "Internal Server Error",
            ));
        };
        let header = authz
            .identity_source
            .first()
            .and_then(|s| s.strip_prefix("$request.header."))
            .unwrap_or("Authorization")
            .to_ascii_lowercase();
        let Some(raw) = req
            .headers
            .iter()
            .find(|(k, _)| *k == header)
            .map(|(_, v)| v.trim())
        else {
            return Err(unauthorized("the token is missing"));
        };
        let token = raw
            .strip_prefix("Bearer ")
            .or_else(|| raw.strip_prefix("bearer "))
            .unwrap_or(raw)
            .trim();
        let now = nimbus_model::time::now_millis() / 1000;
        let mut refreshed = false;
        let claims = loop {
            let keys = match self.jwt_keys.keys(&cfg.issuer, refreshed).await {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!(issuer = %cfg.issuer, error = %e, "JWT authorizer could not get its issuer's keys");
                    return Err(unauthorized("the issuer's keys could not be read"));
                }
            };
            match crate::jwt::verify(token, &keys, &cfg.issuer, &cfg.audience, now) {
                Ok(c) => break c,
                Err(None) if !refreshed => refreshed = true,
                Err(None) => return Err(unauthorized("the token's key is not the issuer's")),
                Err(Some(why)) => return Err(unauthorized(&why.0)),
            }
        };
        let scopes = crate::jwt::scopes(&claims);
        if !route_scopes.is_empty() && !route_scopes.iter().any(|s| scopes.contains(s)) {
            return Err(message(StatusCode::FORBIDDEN, "message", "Forbidden"));
        }
        // API Gateway passes claims as strings.
        let claims: serde_json::Map<String, Value> = claims
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        let s = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), Value::String(s))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(
            json!({ "claims": claims, "scopes": if scopes.is_empty() { Value::Null } else { json!(scopes) } }),
        )
    }

    /// Run a route's Lambda authorizer (or reuse its cached answer).
    async fn authorize(
        &self,
        api: &Api,
        authz: &crate::apis::Authorizer,
        req: &HttpRequest,
        route: &Route,
    ) -> Authorized {
        let unauthorized = || message(StatusCode::UNAUTHORIZED, "message", "Unauthorized");
        let forbidden = || message(StatusCode::FORBIDDEN, "message", "Forbidden");
        let mut values = Vec::new();
        for source in &authz.identity_source {
            let v = if let Some(h) = source.strip_prefix("$request.header.") {
                let h = h.to_ascii_lowercase();
                req.headers
                    .iter()
                    .find(|(k, _)| *k == h)
                    .map(|(_, v)| v.clone())
            } else if let Some(q) = source.strip_prefix("$request.querystring.") {
                query_value(&req.raw_query, q)
            } else if let Some(sv) = source.strip_prefix("$stageVariables.") {
                route.stage_variables.get(sv).cloned()
            } else {
                source.strip_prefix("$context.").map(|c| match c {
                    "routeKey" => route.route_key.clone(),
                    "stage" => route.stage.clone(),
                    "apiId" => route.api_id.clone(),
                    _ => String::new(),
                })
            };
            match v {
                Some(v) if !v.is_empty() => values.push(v),
                _ => return Err(unauthorized()),
            }
        }
        let identity = &self.identity;
        let (method, path) = route
            .route_key
            .split_once(' ')
            .map(|(m, _)| (m.to_string(), req.raw_path.clone()))
            .unwrap_or_else(|| (req.method.clone(), req.raw_path.clone()));
        let route_arn = format!(
            "arn:aws:execute-api:{}:{}:{}/{}/{}{}",
            identity.region, identity.account_id, api.id, route.stage, method, path
        );
        let key = format!("{}/{}/{}", api.id, authz.id, values.join("\u{0}"));
        let now = nimbus_model::time::now_millis();
        if authz.ttl_secs > 0
            && let Some((until, outcome)) = self
                .auth_cache
                .lock()
                .expect("auth cache")
                .get(&key)
                .cloned()
            && until > now
        {
            return outcome.ok_or_else(forbidden);
        }
        let mut event = if authz.payload_format == "2.0" {
            let mut e = http_events::event_v2(req, route);
            e["routeArn"] = json!(route_arn);
            e["identitySource"] = json!(values);
            e
        } else {
            let mut e = http_events::event_v1(req, route);
            e["methodArn"] = json!(route_arn);
            e["identitySource"] = json!(values.join(","));
            e
        };
        event["type"] = json!("REQUEST");
        if let Some(o) = event.as_object_mut() {
            o.remove("body");
            o.remove("isBase64Encoded");
        }
        let (function, qualifier) = function_of(&authz.uri);
        let tail = format!("authorizers/{}", authz.id);
        if !self.may_invoke((&function, qualifier.as_deref()), &api.id, &tail, None) {
            return Err(message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "message",
                "Internal Server Error",
            ));
        }
        let invoked = self
            .invoke(
                function,
                qualifier,
                &event,
                Some(Duration::from_secs(10)),
                false,
                req.trace_header(),
            )
            .await;
        let Ok(out) = invoked else {
            return Err(message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "message",
                "Internal Server Error",
            ));
        };
        let Ok(answer) = serde_json::from_slice::<Value>(&out.payload) else {
            return Err(message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "message",
                "Internal Server Error",
            ));
        };
        let allowed = if authz.simple_responses {
            answer.get("isAuthorized").and_then(Value::as_bool)
        } else {
            policy_allows(&answer, &route_arn)
        };
        let Some(allowed) = allowed else {
            return Err(message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "message",
                "Internal Server Error",
            ));
        };
        let mut context = answer.get("context").cloned().unwrap_or_else(|| json!({}));
        if let Some(p) = answer.get("principalId")
            && let Some(o) = context.as_object_mut()
        {
            o.insert("principalId".into(), p.clone());
        }
        let outcome = allowed.then_some(context);
        if authz.ttl_secs > 0 {
            self.auth_cache
                .lock()
                .expect("auth cache")
                .insert(key, (now + authz.ttl_secs * 1000, outcome.clone()));
        }
        outcome.ok_or_else(forbidden)
    }

    /// Run a REST API method's Lambda authorizer (or reuse its cached answer,
    /// whose policy is judged again for this method, as API Gateway does):
    /// the `requestContext.authorizer` the integration gets, or the refusal.
    async fn rest_authorize(
        &self,
        authz: &crate::rest::RestAuthorizer,
        req: &HttpRequest,
        route: &Route,
        method_arn: &str,
    ) -> Authorized {
        let unauthorized = || message(StatusCode::UNAUTHORIZED, "message", "Unauthorized");
        let failed = || {
            let mut r = message(StatusCode::INTERNAL_SERVER_ERROR, "message", "null");
            *r.body_mut() = Bytes::from_static(b"{\"message\":null}");
            r.headers_mut().insert(
                "x-amzn-errortype",
                HeaderValue::from_static("AuthorizerConfigurationException"),
            );
            r
        };
        let header_of = |h: &str| {
            let h = h.to_ascii_lowercase();
            req.headers
                .iter()
                .find(|(k, _)| *k == h)
                .map(|(_, v)| v.clone())
        };
        let mut values = Vec::new();
        for source in authz
            .identity_source
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let v = if let Some(h) = source.strip_prefix("method.request.header.") {
                header_of(h)
            } else if let Some(q) = source.strip_prefix("method.request.querystring.") {
                query_value(&req.raw_query, q)
            } else if let Some(sv) = source.strip_prefix("stageVariables.") {
                route.stage_variables.get(sv).cloned()
            } else {
                source.strip_prefix("context.").map(|c| match c {
                    "stage" => route.stage.clone(),
                    "apiId" => route.api_id.clone(),
                    "resourcePath" => route.resource_path.clone(),
                    _ => String::new(),
                })
            };
            match v {
                Some(v) if !v.is_empty() => values.push(v),
                _ => return Err(unauthorized()),
            }
        }
        let token = values.first().cloned().unwrap_or_default();
        if authz.kind == "TOKEN"
            && let Some(e) = &authz.identity_validation
            && !crate::rest::token_matches(e, &token)
        {
            return Err(unauthorized());
        }
        let key = format!(
            "rest/{}/{}/{}",
            route.api_id,
            authz.id,
            values.join("\u{0}")
        );
        let now = nimbus_model::time::now_millis();
        let cacheable = authz.ttl_secs > 0 && !values.is_empty();
        let cached = cacheable
            .then(|| {
                self.auth_cache
                    .lock()
                    .expect("auth cache")
                    .get(&key)
                    .cloned()
            })
            .flatten()
            .filter(|(until, _)| *until > now)
            .and_then(|(_, answer)| answer);
        let answer = match cached {
            Some(a) => a,
            None => {
                let mut event = if authz.kind == "TOKEN" {
                    json!({"type": "TOKEN", "authorizationToken": token})
                } else {
                    let mut e = http_events::event_v1(req, route);
                    if let Some(o) = e.as_object_mut() {
                        o.remove("body");
                        o.remove("isBase64Encoded");
                    }
                    e["type"] = json!("REQUEST");
                    e
                };
                event["methodArn"] = json!(method_arn);
                let (function, qualifier) = function_of(&authz.uri);
                let tail = format!("authorizers/{}", authz.id);
                let credentials = authz.credentials.as_deref();
                if !self.may_invoke(
                    (&function, qualifier.as_deref()),
                    &route.api_id,
                    &tail,
                    credentials,
                ) {
                    return Err(failed());
                }
                let call = self.invoker.invoke(InvokeRequest {
                    trace_id: req.trace_header().map(str::to_string),
                    ..InvokeRequest::sync(function, qualifier, Bytes::from(event.to_string()))
                });
                // API Gateway waits for an authorizer at most 10 s.
                let Ok(Ok(out)) = tokio::time::timeout(Duration::from_secs(10), call).await else {
                    return Err(failed());
                };
                let answer = serde_json::from_slice::<Value>(&out.payload).unwrap_or(Value::Null);
                if out.function_error.is_some() {
                    // A function that fails with "Unauthorized" refuses the caller.
                    return Err(
                        if answer.get("errorMessage").and_then(Value::as_str)
                            == Some("Unauthorized")
                        {
                            unauthorized()
                        } else {
                            failed()
                        },
                    );
                }
                if answer.get("principalId").is_none() || answer.get("policyDocument").is_none() {
                    return Err(failed());
                }
                if cacheable {
                    self.auth_cache
                        .lock()
                        .expect("auth cache")
                        .insert(key, (now + authz.ttl_secs * 1000, Some(answer.clone())));
                }
                answer
            }
        };
        match policy_allows(&answer, method_arn) {
            Some(true) => {}
            Some(false) => {
                let denied = answer["policyDocument"]["Statement"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|s| s["Effect"] == "Deny"));
                let text = if denied {
                    "User is not authorized to access this resource with an explicit deny"
                } else {
                    "User is not authorized to access this resource"
                };
                return Err(message(StatusCode::FORBIDDEN, "Message", text));
            }
            None => return Err(failed()),
        }
        let mut context = json!({"principalId": answer["principalId"], "integrationLatency": 0});
        if let (Some(c), Some(o)) = (
            answer.get("context").and_then(Value::as_object),
            context.as_object_mut(),
        ) {
            for (k, v) in c {
                o.insert(k.clone(), v.clone());
            }
        }
        Ok(context)
    }

    pub fn apis(&self) -> &Arc<Apis> {
        &self.apis
    }

    /// The function URL configuration `url_id` names, if the URL exists.
    pub fn url(&self, url_id: &str) -> Option<nimbus_model::UrlConfig> {
        self.urls.url_by_id(url_id)
    }

    /// Whether API Gateway may invoke the function for `api_id`'s route or
    /// authorizer `tail` (see [`crate::access`]).
    fn may_invoke(
        &self,
        (function, qualifier): (&str, Option<&str>),
        api_id: &str,
        tail: &str,
        credentials: Option<&str>,
    ) -> bool {
        let source_arn = crate::access::execute_api_arn(&self.identity, api_id, tail);
        let what = crate::access::Invoking {
            function,
            qualifier,
            source_arn: &source_arn,
            credentials,
        };
        crate::access::may_invoke(self.permissions.as_deref(), &self.identity, &what)
    }

    async fn invoke(
        &self,
        function: String,
        qualifier: Option<String>,
        event: &Value,
        timeout: Option<Duration>,
        stream: bool,
        trace: Option<&str>,
    ) -> Result<nimbus_invoke::InvokeResponse, (StatusCode, &'static str)> {
        let req = InvokeRequest {
            stream,
            trace_id: trace.map(str::to_string),
            ..InvokeRequest::sync(function, qualifier, Bytes::from(event.to_string()))
        };
        let call = self.invoker.invoke(req);
        let started = std::time::Instant::now();
        let out = match timeout {
            Some(t) => tokio::time::timeout(t, call).await,
            None => Ok(call.await),
        };
        let _ = INTEGRATION.try_with(|c| c.set(Some(started.elapsed())));
        let Ok(out) = out else {
            return Err((StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out"));
        };
        match out {
            Ok(r) if r.function_error.is_none() => Ok(r),
            Ok(_) => Err((StatusCode::BAD_GATEWAY, "Internal Server Error")),
            Err(InvokeError::TooManyRequests { .. }) => {
                Err((StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"))
            }
            Err(e) => {
                tracing::warn!(error = %e, "gateway could not invoke its function");
                Err((StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"))
            }
        }
    }

    /// How API Gateway's metrics (`AWS/ApiGateway`) name an API: an HTTP
    /// API by `ApiId` (its errors as `4xx`, `5xx`), a REST API by `ApiName`
    /// (`4XXError`, `5XXError`). `None` for an unknown id.
    pub fn metric_names(&self, api_id: &str) -> Option<ApiMetricNames> {
        if self.apis.get(api_id).is_ok() {
            return Some(ApiMetricNames {
                dimension: ("ApiId", api_id.to_string()),
                client_errors: "4xx",
                server_errors: "5xx",
            });
        }
        let rest = self.rest.get(api_id).ok()?;
        Some(ApiMetricNames {
            dimension: ("ApiName", rest.name.clone()),
            client_errors: "4XXError",
            server_errors: "5XXError",
        })
    }

    /// Serve a request to an HTTP API or a REST API, with how long its
    /// integration took in the response's extensions ([`IntegrationLatency`]).
    pub async fn serve_api(&self, api_id: &str, call: Call<'_>) -> Response<Bytes> {
        let (mut resp, took) = INTEGRATION
            .scope(std::cell::Cell::new(None), async {
                let r = self.serve_api_request(api_id, call).await;
                (r, INTEGRATION.with(std::cell::Cell::get))
            })
            .await;
        if let Some(t) = took {
            resp.extensions_mut().insert(IntegrationLatency(t));
        }
        resp
    }

    async fn serve_api_request(&self, api_id: &str, call: Call<'_>) -> Response<Bytes> {
        let Call {
            path,
            parts,
            body,
            request_id,
            source_ip,
        } = call;
        let not_found = || message(StatusCode::NOT_FOUND, "message", "Not Found");
        let Ok(api) = self.apis.get(api_id) else {
            return match self.rest.get(api_id) {
                Ok(rest) => {
                    let mut r = self
                        .serve_rest(&rest, path, parts, body, request_id, source_ip)
                        .await;
                    if let Ok(v) = HeaderValue::from_str(request_id) {
                        r.headers_mut().insert("x-amzn-requestid", v);
                    }
                    r
                }
                Err(_) => not_found(),
            };
        };
        let Some((stage_name, route_path)) = stage_of(&api, path) else {
            return not_found();
        };
        let origin = header(parts, "origin");
        let cors = api.cors.clone();
        let mut resp = self
            .api_response(
                &api,
                &stage_name,
                &route_path,
                parts,
                body,
                request_id,
                source_ip,
            )
            .await;
        if let Some(cfg) = &cors {
            for (k, v) in cors_headers(cfg, origin.as_deref(), false) {
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    resp.headers_mut().insert(n, v);
                }
            }
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            resp.headers_mut().insert("apigw-requestid", v);
        }
        resp
    }

    #[allow(clippy::too_many_arguments)]
    async fn api_response(
        &self,
        api: &Api,
        stage_name: &str,
        path: &str,
        parts: &http::request::Parts,
        body: Bytes,
        request_id: &str,
        source_ip: &str,
    ) -> Response<Bytes> {
        let not_found = || message(StatusCode::NOT_FOUND, "message", "Not Found");
        let stage = api.stages.get(stage_name).expect("stage_of found it");
        // CORS preflights are answered by the gateway when CORS is configured.
        if let Some(cfg) = &api.cors
            && is_preflight(parts)
        {
            let mut r = Response::new(Bytes::new());
            *r.status_mut() = StatusCode::NO_CONTENT;
            for (k, v) in cors_headers(cfg, header(parts, "origin").as_deref(), true) {
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    r.headers_mut().insert(n, v);
                }
            }
            return r;
        }
        let served = api.served(stage);
        let keys: Vec<&str> = served.routes.iter().map(|r| r.key.as_str()).collect();
        let Some((i, params)) = http_events::match_route(&keys, parts.method.as_str(), path) else {
            return not_found();
        };
        let route = &served.routes[i];
        let Some(integration) = route
            .target
            .as_deref()
            .and_then(|t| t.strip_prefix("integrations/"))
            .and_then(|id| served.integrations.iter().find(|x| x.id == id))
        else {
            return not_found();
        };
        let host =
            header(parts, "host").unwrap_or_else(|| format!("{}.execute-api.localhost", api.id));
        let resource_path = route
            .key
            .split_once(' ')
            .map(|(_, p)| p.to_string())
            .unwrap_or_else(|| path.to_string());
        let full_path = if stage.name == DEFAULT_STAGE {
            path.to_string()
        } else {
            format!("/{}{path}", stage.name)
        };
        let r = Route {
            api_id: api.id.clone(),
            stage: stage.name.clone(),
            route_key: route.key.clone(),
            resource_path,
            path_parameters: params,
            stage_variables: stage.variables.clone(),
            domain_name: host,
            account_id: self.identity.account_id.clone(),
            request_id: request_id.to_string(),
            time_ms: nimbus_model::time::now_millis(),
            full_path,
        };
        let req = http_request(parts, path, body, source_ip);
        let jwt_route = route.authorization_type == "JWT";
        let authorized = if jwt_route {
            let Some(authz) = api
                .authorizers
                .iter()
                .find(|a| Some(&a.id) == route.authorizer_id.as_ref())
            else {
                return message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "message",
                    "Internal Server Error",
                );
            };
            match self.authorize_jwt(authz, &req, &route.scopes).await {
                Ok(ctx) => Some(ctx),
                Err(resp) => return resp,
            }
        } else if route.authorization_type == "CUSTOM" {
            let Some(authz) = api
                .authorizers
                .iter()
                .find(|a| Some(&a.id) == route.authorizer_id.as_ref())
            else {
                return message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "message",
                    "Internal Server Error",
                );
            };
            match self.authorize(api, authz, &req, &r).await {
                Ok(ctx) => Some(ctx),
                Err(resp) => return resp,
            }
        } else {
            None
        };
        let v2 = integration.payload_format == "2.0";
        let mut event = if v2 {
            http_events::event_v2(&req, &r)
        } else {
            http_events::event_v1(&req, &r)
        };
        if let Some(ctx) = authorized {
            event["requestContext"]["authorizer"] = match (v2, jwt_route) {
                (true, true) => json!({ "jwt": ctx }),
                (true, false) => json!({ "lambda": ctx }),
                (false, _) => ctx,
            };
        }
        let (function, qualifier) = function_of(&integration.uri);
        let tail = if route.key == "$default" {
            format!("{}/$default", stage.name)
        } else {
            format!("{}/{}{path}", stage.name, parts.method)
        };
        let credentials = integration.credentials_arn.as_deref();
        if !self.may_invoke(
            (&function, qualifier.as_deref()),
            &api.id,
            &tail,
            credentials,
        ) {
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "message",
                "Internal Server Error",
            );
        }
        let out = match self
            .invoke(
                function,
                qualifier,
                &event,
                Some(Duration::from_millis(integration.timeout_ms)),
                false,
                req.trace_header(),
            )
            .await
        {
            Ok(o) => o,
            Err((status, text)) => return message(status, "message", text),
        };
        let mapped = if v2 {
            http_events::response_v2(&out.payload)
        } else {
            http_events::response_v1(&out.payload)
        };
        match mapped {
            Ok(h) => to_response(h),
            Err(()) => message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "message",
                "Internal Server Error",
            ),
        }
    }

    /// Serve a request to a REST API: `/{stage}/{path}`; a path or method the
    /// deployed tree lacks is API Gateway's 403 "Missing Authentication Token".
    async fn serve_rest(
        &self,
        api: &crate::rest::RestApi,
        path: &str,
        parts: &http::request::Parts,
        body: Bytes,
        request_id: &str,
        source_ip: &str,
    ) -> Response<Bytes> {
        let missing = || {
            message(
                StatusCode::FORBIDDEN,
                "message",
                "Missing Authentication Token",
            )
        };
        let internal = || {
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "message",
                "Internal server error",
            )
        };
        let trimmed = path.trim_start_matches('/');
        let (stage_name, rest_path) = match trimmed.split_once('/') {
            Some((s, r)) => (s, format!("/{r}")),
            None => (trimmed, "/".to_string()),
        };
        let Some(stage) = api.stages.get(stage_name) else {
            return message(StatusCode::FORBIDDEN, "message", "Forbidden");
        };
        let Some(tree) = api.stages.captured(stage) else {
            return internal();
        };
        let keys = crate::rest::route_keys(tree);
        let key_strs: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
        let Some((i, params)) =
            http_events::match_route(&key_strs, parts.method.as_str(), &rest_path)
        else {
            return missing();
        };
        let (_, ri, m) = &keys[i];
        let resource = &tree[*ri];
        let Some(integration) = resource.methods.get(m).and_then(|x| x.integration.as_ref()) else {
            return internal();
        };
        let identity = &self.identity;
        let r = Route {
            api_id: api.id.clone(),
            stage: stage.name.clone(),
            route_key: format!("{m} {}", resource.path),
            resource_path: resource.path.clone(),
            path_parameters: params,
            stage_variables: stage.variables.clone(),
            domain_name: header(parts, "host")
                .unwrap_or_else(|| format!("{}.execute-api.localhost", api.id)),
            account_id: identity.account_id.clone(),
            request_id: request_id.to_string(),
            time_ms: nimbus_model::time::now_millis(),
            full_path: format!("/{}{rest_path}", stage.name),
        };
        let req = http_request(parts, &rest_path, body, source_ip);
        let mut event = http_events::event_v1(&req, &r);
        if let Some(method) = resource.methods.get(m)
            && method.authorization_type == "CUSTOM"
        {
            let Some(authz) = method
                .authorizer_id
                .as_deref()
                .and_then(|id| api.authorizers.iter().find(|z| z.id == id))
            else {
                return internal();
            };
            let identity = &self.identity;
            let method_arn = format!(
                "arn:aws:execute-api:{}:{}:{}/{}/{}{rest_path}",
                identity.region, identity.account_id, api.id, stage.name, parts.method
            );
            match self.rest_authorize(authz, &req, &r, &method_arn).await {
                Ok(context) => event["requestContext"]["authorizer"] = context,
                Err(refused) => return refused,
            }
        }
        if integration.kind == "MOCK" {
            let Some(answer) = crate::rest::mock_answer(integration) else {
                return internal();
            };
            let mut r = Response::new(Bytes::from(answer.body.unwrap_or_default()));
            *r.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            for (k, v) in answer.headers {
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    r.headers_mut().insert(n, v);
                }
            }
            return r;
        }
        let Some(uri) = integration
            .uri
            .as_deref()
            .filter(|_| integration.kind == "AWS_PROXY")
        else {
            return internal();
        };
        let (function, qualifier) = function_of(&stage_vars(uri, &stage.variables));
        let tail = format!("{}/{}{rest_path}", stage.name, parts.method);
        let credentials = integration.credentials.as_deref();
        if !self.may_invoke(
            (&function, qualifier.as_deref()),
            &api.id,
            &tail,
            credentials,
        ) {
            return internal();
        }
        match self
            .invoke(
                function,
                qualifier,
                &event,
                Some(Duration::from_millis(integration.timeout_ms)),
                false,
                req.trace_header(),
            )
            .await
        {
            Ok(out) => match http_events::response_v1(&out.payload) {
                Ok(h) => to_response(h),
                Err(()) => message(StatusCode::BAD_GATEWAY, "message", "Internal server error"),
            },
            Err((StatusCode::BAD_GATEWAY, _)) => {
                message(StatusCode::BAD_GATEWAY, "message", "Internal server error")
            }
            Err((StatusCode::INTERNAL_SERVER_ERROR, _)) => internal(),
            Err((status, text)) => message(status, "message", text),
        }
    }

    /// Serve a request to a function URL (its AWS_IAM signature, if any, was
    /// checked by the edge).
    pub async fn serve_url(
        &self,
        url_id: &str,
        call: Call<'_>,
        caller: Option<&str>,
    ) -> Response<nimbus_body::Body> {
        let Call {
            path,
            parts,
            body,
            request_id,
            source_ip,
        } = call;
        let Some(cfg) = self.urls.url_by_id(url_id) else {
            return message(StatusCode::FORBIDDEN, "Message", "Forbidden").map(nimbus_body::full);
        };
        let origin = header(parts, "origin");
        if let Some(c) = &cfg.cors
            && is_preflight(parts)
        {
            let mut r = Response::new(Bytes::new());
            *r.status_mut() = StatusCode::OK;
            for (k, v) in cors_headers(c, origin.as_deref(), true) {
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    r.headers_mut().insert(n, v);
                }
            }
            return r.map(nimbus_body::full);
        }
        let identity = &self.identity;
        let host = header(parts, "host")
            .unwrap_or_else(|| format!("{url_id}.lambda-url.{}.localhost", identity.region));
        let r = Route {
            api_id: url_id.to_string(),
            stage: "$default".into(),
            route_key: "$default".into(),
            resource_path: path.to_string(),
            path_parameters: BTreeMap::new(),
            stage_variables: BTreeMap::new(),
            domain_name: host,
            account_id: identity.account_id.clone(),
            request_id: request_id.to_string(),
            time_ms: nimbus_model::time::now_millis(),
            full_path: path.to_string(),
        };
        let req = http_request(parts, path, body, source_ip);
        let iam = caller.map(|key| {
            (
                key.to_string(),
                identity.account_id.clone(),
                key.to_string(),
                format!("arn:aws:iam::{}:root", identity.account_id),
            )
        });
        let event = http_events::event_function_url(
            &req,
            &r,
            iam.as_ref()
                .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str())),
        );
        let streamed = cfg.invoke_mode == "RESPONSE_STREAM";
        let mut resp: Response<nimbus_body::Body> = match self
            .invoke(
                cfg.function_name.clone(),
                cfg.qualifier.clone(),
                &event,
                None,
                true,
                req.trace_header(),
            )
            .await
        {
            Ok(out) => match out.stream.as_ref().and_then(|s| s.take()) {
                Some(rx) => stream_response(rx, streamed).await,
                None => match http_events::response_v2(&out.payload) {
                    Ok(h) => to_response(h).map(nimbus_body::full),
                    Err(()) => message(StatusCode::BAD_GATEWAY, "Message", "Internal Server Error")
                        .map(nimbus_body::full),
                },
            },
            Err((status, text)) => message(status, "Message", text).map(nimbus_body::full),
        };
        if let Some(c) = &cfg.cors {
            for (k, v) in cors_headers(c, origin.as_deref(), false) {
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    resp.headers_mut().insert(n, v);
                }
            }
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            resp.headers_mut().insert("x-amzn-requestid", v);
        }
        resp
    }
}

/// The largest HTTP prelude a streamed response may start with.
const MAX_PRELUDE: usize = 64 * 1024;

/// A function URL response the function streams: an HTTP prelude (JSON with
/// `statusCode`, `headers`, `cookies`, then eight NUL bytes) if it wrote one,
/// then the body, passed on as it comes (`streamed`) or gathered first
/// (`BUFFERED` URLs). A failure before the prelude is a 502; after it, the
/// body just ends.
async fn stream_response(
    mut rx: tokio::sync::mpsc::Receiver<nimbus_invoke::StreamChunk>,
    streamed: bool,
) -> Response<nimbus_body::Body> {
    use nimbus_invoke::StreamChunk;
    let bad = || {
        message(StatusCode::BAD_GATEWAY, "Message", "Internal Server Error").map(nimbus_body::full)
    };
    let mut head = Vec::new();
    let mut ended = false;
    // Read until the prelude's end is found, or it is clear there is none.
    let split = loop {
        if let Some(i) = head.windows(8).position(|w| w == [0u8; 8]) {
            break Some(i);
        }
        if head.len() > MAX_PRELUDE || head.first().is_some_and(|b| *b != b'{') {
            break None;
        }
        match rx.recv().await {
            Some(StreamChunk::Data(d)) => head.extend_from_slice(&d),
            Some(StreamChunk::Error { .. }) => return bad(),
            None => {
                ended = true;
                break head.windows(8).position(|w| w == [0u8; 8]);
            }
        }
    };
    let (mut builder, rest) = match split {
        Some(i) => {
            let Ok(prelude) = serde_json::from_slice::<Value>(&head[..i]) else {
                return bad();
            };
            let status = prelude
                .get("statusCode")
                .and_then(Value::as_u64)
                .and_then(|s| StatusCode::from_u16(s as u16).ok())
                .unwrap_or(StatusCode::OK);
            let mut b = Response::builder().status(status);
            if let Some(h) = prelude.get("headers").and_then(Value::as_object) {
                for (k, v) in h {
                    if let Some(v) = v
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| (!v.is_null()).then(|| v.to_string()))
                    {
                        b = b.header(k.as_str(), v);
                    }
                }
            }
            if let Some(c) = prelude.get("cookies").and_then(Value::as_array) {
                for cookie in c.iter().filter_map(Value::as_str) {
                    b = b.header("set-cookie", cookie);
                }
            }
            (b, head[i + 8..].to_vec())
        }
        None => (
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/octet-stream"),
            head,
        ),
    };
    if builder
        .headers_ref()
        .is_some_and(|h| !h.contains_key("content-type"))
    {
        builder = builder.header("content-type", "application/octet-stream");
    }
    if !streamed {
        let mut all = rest;
        if !ended {
            while let Some(c) = rx.recv().await {
                match c {
                    StreamChunk::Data(d) => all.extend_from_slice(&d),
                    StreamChunk::Error { .. } => return bad(),
                }
            }
        }
        return builder
            .body(nimbus_body::full(all))
            .unwrap_or_else(|_| bad());
    }
    let (tx, body_rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        if !rest.is_empty() && tx.send(Bytes::from(rest)).await.is_err() {
            return;
        }
        if ended {
            return;
        }
        while let Some(StreamChunk::Data(d)) = rx.recv().await {
            if tx.send(d).await.is_err() {
                return;
            }
        }
    });
    builder
        .body(nimbus_body::channel(body_rx))
        .unwrap_or_else(|_| bad())
}

/// An integration URI with `${stageVariables.name}` replaced (REST APIs use
/// them to pick a function alias per stage).
fn stage_vars(uri: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = uri.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{stageVariables.{k}}}"), v);
    }
    out
}

/// The stage a path addresses and the path within it: a first segment naming
/// a stage, else the `$default` stage with the whole path.
fn stage_of(api: &Api, path: &str) -> Option<(String, String)> {
    let trimmed = path.trim_start_matches('/');
    let (first, rest) = match trimmed.split_once('/') {
        Some((a, b)) => (a, format!("/{b}")),
        None => (trimmed, "/".to_string()),
    };
    if !first.is_empty() && first != DEFAULT_STAGE && api.stages.get(first).is_some() {
        return Some((first.to_string(), rest));
    }
    api.stages
        .get(DEFAULT_STAGE)
        .map(|_| (DEFAULT_STAGE.to_string(), path.to_string()))
}

#[cfg(test)]
mod tests;
