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
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use nimbus_functions::Functions;
use nimbus_invoke::{InvocationType, InvokeError, InvokeRequest};
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

pub struct Gateway {
    apis: Arc<Apis>,
    functions: Arc<Functions>,
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
    pub fn new(apis: Arc<Apis>, functions: Arc<Functions>) -> Gateway {
        Gateway { apis, functions }
    }

    pub fn apis(&self) -> &Arc<Apis> {
        &self.apis
    }

    /// A function URL's auth type (`NONE`, `AWS_IAM`), if the URL exists.
    pub fn url_auth(&self, url_id: &str) -> Option<String> {
        self.functions
            .url_by_id(url_id)
            .ok()
            .flatten()
            .map(|c| c.auth_type)
    }

    async fn invoke(
        &self,
        function: String,
        qualifier: Option<String>,
        event: &Value,
        timeout: Option<Duration>,
    ) -> Result<nimbus_invoke::InvokeResponse, (StatusCode, &'static str)> {
        let req = InvokeRequest {
            function,
            qualifier,
            payload: Bytes::from(event.to_string()),
            invocation_type: InvocationType::RequestResponse,
            log_tail: false,
            client_context: None,
            trace_id: None,
            request_id: None,
        };
        let call = nimbus_invoke::Invoker::invoke(&*self.functions, req);
        let out = match timeout {
            Some(t) => match tokio::time::timeout(t, call).await {
                Ok(r) => r,
                Err(_) => return Err((StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out")),
            },
            None => call.await,
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

    /// Serve a request to an HTTP API.
    pub async fn serve_api(&self, api_id: &str, call: Call<'_>) -> Response<Bytes> {
        let Call {
            path,
            parts,
            body,
            request_id,
            source_ip,
        } = call;
        let not_found = || message(StatusCode::NOT_FOUND, "message", "Not Found");
        let Ok(api) = self.apis.get(api_id) else {
            return not_found();
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
        let stage = api.stage(stage_name).expect("stage_of found it");
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
        let full_path = if stage.name == "$default" {
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
            account_id: self.functions.identity().account_id.clone(),
            request_id: request_id.to_string(),
            time_ms: nimbus_model::time::now_millis(),
            full_path,
        };
        let req = http_request(parts, path, body, source_ip);
        let v2 = integration.payload_format == "2.0";
        let event = if v2 {
            http_events::event_v2(&req, &r)
        } else {
            http_events::event_v1(&req, &r)
        };
        let (function, qualifier) = function_of(&integration.uri);
        let out = match self
            .invoke(
                function,
                qualifier,
                &event,
                Some(Duration::from_millis(integration.timeout_ms)),
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

    /// Serve a request to a function URL (its AWS_IAM signature, if any, was
    /// checked by the edge).
    pub async fn serve_url(
        &self,
        url_id: &str,
        call: Call<'_>,
        caller: Option<&str>,
    ) -> Response<Bytes> {
        let Call {
            path,
            parts,
            body,
            request_id,
            source_ip,
        } = call;
        let Ok(Some(cfg)) = self.functions.url_by_id(url_id) else {
            return message(StatusCode::FORBIDDEN, "Message", "Forbidden");
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
            return r;
        }
        let identity = self.functions.identity();
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
        let mut resp = match self
            .invoke(
                cfg.function_name.clone(),
                cfg.qualifier.clone(),
                &event,
                None,
            )
            .await
        {
            Ok(out) => match http_events::response_v2(&out.payload) {
                Ok(h) => to_response(h),
                Err(()) => message(StatusCode::BAD_GATEWAY, "Message", "Internal Server Error"),
            },
            Err((status, text)) => message(status, "Message", text),
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

/// The stage a path addresses and the path within it: a first segment naming
/// a stage, else the `$default` stage with the whole path.
fn stage_of(api: &Api, path: &str) -> Option<(String, String)> {
    let trimmed = path.trim_start_matches('/');
    let (first, rest) = match trimmed.split_once('/') {
        Some((a, b)) => (a, format!("/{b}")),
        None => (trimmed, "/".to_string()),
    };
    if !first.is_empty() && first != "$default" && api.stage(first).is_some() {
        return Some((first.to_string(), rest));
    }
    api.stage("$default")
        .map(|_| ("$default".to_string(), path.to_string()))
}

#[cfg(test)]
mod tests {
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
}
