//! The API Gateway management APIs: v1 for REST APIs (`/restapis`, in [`rest`])
//! and v2 for HTTP APIs (REST-JSON under `/v2/apis`):
//! `CreateApi` (with quick create), `GetApi(s)`, `UpdateApi`, `DeleteApi`, and
//! the routes, integrations, stages and deployments of an API, in API
//! Gateway's shapes (camelCase, ISO 8601 times) and errors (`NotFoundException`,
//! `BadRequestException`, `ConflictException`).

mod rest;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use nimbus_api_common::ApiError;
use nimbus_gateway::Error as GError;
use nimbus_gateway::apis::{self, Api, Apis, Deployment, Integration, Route, Stage};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

impl nimbus_api_common::Service for ApiGatewayApi {
    fn signing_name(&self) -> &'static str {
        "apigateway"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        owns_path(req.uri.path())
    }

    fn handle(
        &self,
        req: Request<Bytes>,
        request_id: String,
    ) -> nimbus_api_common::BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { ApiGatewayApi::handle(self, req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        err.rest_json(request_id)
    }
}

pub struct ApiGatewayApi {
    apis: Arc<Apis>,
    rest: Arc<nimbus_gateway::rest::RestApis>,
    region: String,
}

pub fn owns_path(path: &str) -> bool {
    path == "/v2/apis"
        || path.starts_with("/v2/apis/")
        || path == "/restapis"
        || path.starts_with("/restapis/")
}

pub(crate) fn err(e: GError) -> ApiError {
    let (status, code) = match &e {
        GError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFoundException"),
        GError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequestException"),
        GError::Conflict(_) => (StatusCode::CONFLICT, "ConflictException"),
        GError::Storage(_) => {
            tracing::error!(error = %e, "gateway store failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError")
        }
    };
    ApiError::new(status, code, e.to_string())
}

pub(crate) fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BadRequestException", m)
}

fn iso(ms: u64) -> String {
    nimbus_model::time::Utc::from_millis(ms).rfc3339_millis()
}

pub(crate) fn json_response(status: StatusCode, v: Value) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    r
}

pub(crate) fn no_content() -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

fn strings(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn opt_str(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn route_json(r: &Route) -> Value {
    let mut v = json!({
        "routeId": r.id, "routeKey": r.key, "authorizationType": r.authorization_type,
        "apiKeyRequired": false,
    });
    if let Some(t) = &r.target {
        v["target"] = json!(t);
    }
    if let Some(a) = &r.authorizer_id {
        v["authorizerId"] = json!(a);
    }
    if !r.scopes.is_empty() {
        v["authorizationScopes"] = json!(r.scopes);
    }
    v
}

fn authorizer_json(a: &apis::Authorizer) -> Value {
    if let Some(j) = &a.jwt {
        return json!({
            "authorizerId": a.id, "name": a.name, "authorizerType": "JWT",
            "identitySource": a.identity_source,
            "jwtConfiguration": { "issuer": j.issuer, "audience": j.audience },
        });
    }
    json!({
        "authorizerId": a.id, "name": a.name, "authorizerType": a.kind,
        "authorizerUri": a.uri, "identitySource": a.identity_source,
        "authorizerPayloadFormatVersion": a.payload_format,
        "enableSimpleResponses": a.simple_responses,
        "authorizerResultTtlInSeconds": a.ttl_secs,
    })
}

fn integration_json(i: &Integration) -> Value {
    json!({
        "integrationId": i.id, "integrationType": i.kind, "integrationUri": i.uri,
        "payloadFormatVersion": i.payload_format, "timeoutInMillis": i.timeout_ms,
        "integrationMethod": i.method, "connectionType": "INTERNET",
    })
}

fn stage_json(s: &Stage) -> Value {
    let mut v = json!({
        "stageName": s.name, "autoDeploy": s.auto_deploy, "stageVariables": s.variables,
        "createdDate": iso(s.created_ms), "lastUpdatedDate": iso(s.modified_ms),
        "defaultRouteSettings": { "detailedMetricsEnabled": false }, "routeSettings": {}, "tags": {},
    });
    if let Some(d) = &s.deployment_id {
        v["deploymentId"] = json!(d);
    }
    if let Some(d) = &s.description {
        v["description"] = json!(d);
    }
    v
}

fn deployment_json(d: &Deployment) -> Value {
    let mut v = json!({
        "deploymentId": d.id, "deploymentStatus": "DEPLOYED", "createdDate": iso(d.created_ms),
        "autoDeployed": d.auto_deployed,
    });
    if let Some(x) = &d.description {
        v["description"] = json!(x);
    }
    v
}

fn list(items: Vec<Value>) -> Value {
    json!({ "items": items })
}

impl ApiGatewayApi {
    pub fn new(
        apis: Arc<Apis>,
        rest: Arc<nimbus_gateway::rest::RestApis>,
        region: &str,
    ) -> ApiGatewayApi {
        ApiGatewayApi {
            apis,
            rest,
            region: region.to_string(),
        }
    }

    /// The endpoint clients call: `http://{id}.execute-api.localhost:{port}`.
    fn endpoint(&self, api: &Api, host: &str) -> String {
        let port = host.rsplit_once(':').map(|(_, p)| p).unwrap_or("4566");
        format!("http://{}.execute-api.localhost:{port}", api.id)
    }

    fn api_json(&self, api: &Api, host: &str) -> Value {
        let mut v = json!({
            "apiId": api.id, "name": api.name, "protocolType": api.protocol,
            "apiEndpoint": self.endpoint(api, host),
            "createdDate": iso(api.created_ms),
            "routeSelectionExpression": "$request.method $request.path",
            "apiKeySelectionExpression": "$request.header.x-api-key",
            "disableExecuteApiEndpoint": api.disable_execute_api_endpoint,
            "tags": api.tags,
        });
        if let Some(c) = &api.cors {
            v["corsConfiguration"] = c.clone();
        }
        if let Some(d) = &api.description {
            v["description"] = json!(d);
        }
        if let Some(x) = &api.version {
            v["version"] = json!(x);
        }
        v
    }

    pub fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        match self.run(&req) {
            Ok(mut r) => {
                if let Ok(v) = http::HeaderValue::from_str(request_id) {
                    r.headers_mut().insert("x-amzn-requestid", v);
                }
                r
            }
            Err(e) => {
                // API Gateway's error body is {"message": ...}.
                let mut r = e.rest_json(request_id);
                *r.body_mut() = Bytes::from(json!({ "message": e.message }).to_string());
                r
            }
        }
    }

    fn run(&self, req: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
        let host = req
            .headers()
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost:4566")
            .to_string();
        let body: Value = if req.body().is_empty() {
            json!({})
        } else {
            serde_json::from_slice(req.body())
                .map_err(|e| bad(format!("Invalid request body: {e}")))?
        };
        let segs: Vec<&str> = req
            .uri()
            .path()
            .trim_end_matches('/')
            .split('/')
            .skip(1)
            .collect();
        let a = &self.apis;
        let m = req.method();
        match (m, segs.as_slice()) {
            (&Method::POST, ["v2", "apis"]) => {
                let name = opt_str(&body, "name").ok_or_else(|| bad("Name is required"))?;
                let protocol = opt_str(&body, "protocolType")
                    .ok_or_else(|| bad("ProtocolType is required"))?;
                let api = a
                    .create(Api {
                        format: apis::FORMAT,
                        id: String::new(),
                        name,
                        protocol,
                        description: opt_str(&body, "description"),
                        version: opt_str(&body, "version"),
                        cors: body.get("corsConfiguration").cloned(),
                        tags: strings(body.get("tags")),
                        disable_execute_api_endpoint: body
                            .get("disableExecuteApiEndpoint")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                        created_ms: 0,
                        routes: vec![],
                        authorizers: vec![],
                        integrations: vec![],
                        stages: vec![],
                        deployments: vec![],
                    })
                    .map_err(err)?;
                // Quick create: an integration with the target, a route, and
                // an auto-deploying $default stage.
                let api = match opt_str(&body, "target") {
                    Some(target) => {
                        let route_key =
                            opt_str(&body, "routeKey").unwrap_or_else(|| "$default".into());
                        let id = api.id.clone();
                        match a.change(&id, |x| {
                            let i =
                                apis::add_integration(x, "AWS_PROXY", &target, Some("2.0"), None)?;
                            apis::add_route(
                                x,
                                &route_key,
                                Some(format!("integrations/{}", i.id)),
                                None,
                                None,
                            )?;
                            apis::add_stage(x, "$default", true, BTreeMap::new(), None)?;
                            Ok(())
                        }) {
                            Ok((api, ())) => api,
                            Err(e) => {
                                let _ = a.delete(&id);
                                return Err(err(e));
                            }
                        }
                    }
                    None => api,
                };
                Ok(json_response(
                    StatusCode::CREATED,
                    self.api_json(&api, &host),
                ))
            }
            (&Method::GET, ["v2", "apis"]) => Ok(json_response(
                StatusCode::OK,
                list(a.list().iter().map(|x| self.api_json(x, &host)).collect()),
            )),
            (_, ["v2", "apis", id, rest @ ..]) => self.api_op(m, id, rest, &body, &host),
            (_, ["restapis", rest @ ..]) => rest::handle(&self.rest, m, rest, &body),
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                format!("Nimbus does not implement {m} {}", req.uri().path()),
            )),
        }
    }

    /// An operation on one API, routed by the resource it names.
    fn api_op(
        &self,
        m: &Method,
        id: &str,
        rest: &[&str],
        body: &Value,
        host: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        match rest.first().copied() {
            None | Some("cors") => self.api_op_api(m, id, rest, body, host),
            Some("routes") => self.api_op_routes(m, id, rest, body, host),
            Some("integrations") => self.api_op_integrations(m, id, rest, body, host),
            Some("authorizers") => self.api_op_authorizers(m, id, rest, body, host),
            Some("stages") => self.api_op_stages(m, id, rest, body, host),
            Some("deployments") => self.api_op_deployments(m, id, rest, body, host),
            _ => self.api_op_api(m, id, rest, body, host),
        }
    }

    /// Operations on the API itself (and its CORS configuration).
    fn api_op_api(
        &self,
        m: &Method,
        id: &str,
        rest: &[&str],
        body: &Value,
        host: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let a = &self.apis;
        let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
        match (m, rest) {
            (&Method::GET, []) => ok(self.api_json(&*a.get(id).map_err(err)?, host)),
            (&Method::PATCH, []) => {
                let (api, ()) = a
                    .change(id, |x| {
                        if let Some(n) = opt_str(body, "name") {
                            x.name = n;
                        }
                        if let Some(d) = opt_str(body, "description") {
                            x.description = Some(d);
                        }
                        if let Some(c) = body.get("corsConfiguration") {
                            x.cors = (!c.is_null()).then(|| c.clone());
                        }
                        if let Some(v) = opt_str(body, "version") {
                            x.version = Some(v);
                        }
                        Ok(())
                    })
                    .map_err(err)?;
                ok(self.api_json(&api, host))
            }
            (&Method::DELETE, []) => {
                a.delete(id).map_err(err)?;
                Ok(no_content())
            }
            (&Method::DELETE, ["cors"]) => {
                a.change(id, |x| {
                    x.cors = None;
                    Ok(())
                })
                .map_err(err)?;
                Ok(no_content())
            }
            // Routes.
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                format!(
                    "Nimbus does not implement {m} on /v2/apis/{id}/{} (region {})",
                    rest.join("/"),
                    self.region
                ),
            )),
        }
    }

    /// Operations on its routes.
    fn api_op_routes(
        &self,
        m: &Method,
        id: &str,
        rest: &[&str],
        body: &Value,
        _host: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let a = &self.apis;
        let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
        let created = |v: Value| Ok(json_response(StatusCode::CREATED, v));
        match (m, rest) {
            (&Method::POST, ["routes"]) => {
                let key = opt_str(body, "routeKey").ok_or_else(|| bad("RouteKey is required"))?;
                let scopes: Vec<String> = body
                    .get("authorizationScopes")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let (_, r) = a
                    .change(id, |x| {
                        let mut r = apis::add_route(
                            x,
                            &key,
                            opt_str(body, "target"),
                            opt_str(body, "authorizationType"),
                            opt_str(body, "authorizerId"),
                        )?;
                        if let Some(stored) = x.routes.iter_mut().find(|s| s.id == r.id) {
                            stored.scopes = scopes.clone();
                        }
                        r.scopes = scopes;
                        Ok(r)
                    })
                    .map_err(err)?;
                created(route_json(&r))
            }
            (&Method::GET, ["routes"]) => ok(list(
                a.get(id)
                    .map_err(err)?
                    .routes
                    .iter()
                    .map(route_json)
                    .collect(),
            )),
            (&Method::GET, ["routes", rid]) => {
                let api = a.get(id).map_err(err)?;
                let r = api.routes.iter().find(|r| r.id == *rid).ok_or_else(|| {
                    err(GError::NotFound(format!(
                        "Invalid Route identifier specified {rid}"
                    )))
                })?;
                ok(route_json(r))
            }
            (&Method::PATCH, ["routes", rid]) => {
                let (_, r) = a
                    .change(id, |x| {
                        if let Some(t) = body.get("target") {
                            apis::check_target(x, t.as_str())?;
                        }
                        if let Some(k) = opt_str(body, "routeKey") {
                            nimbus_gateway::http_events::check_route_key(&k)
                                .map_err(GError::BadRequest)?;
                            if x.routes.iter().any(|r| r.key == k && r.id != *rid) {
                                return Err(GError::Conflict(format!(
                                    "Route with key {k} already exists for this API"
                                )));
                            }
                        }
                        let r = x.routes.iter_mut().find(|r| r.id == *rid).ok_or_else(|| {
                            GError::NotFound(format!("Invalid Route identifier specified {rid}"))
                        })?;
                        if let Some(k) = opt_str(body, "routeKey") {
                            r.key = k;
                        }
                        if let Some(t) = body.get("target") {
                            r.target = t.as_str().map(str::to_string);
                        }
                        if let Some(t) = opt_str(body, "authorizationType") {
                            r.authorization_type = t;
                        }
                        if let Some(t) = opt_str(body, "authorizerId") {
                            r.authorizer_id = Some(t);
                        }
                        let updated = r.clone();
                        apis::check_authorization(
                            x,
                            Some(&updated.authorization_type),
                            updated.authorizer_id.as_deref(),
                        )?;
                        Ok(updated)
                    })
                    .map_err(err)?;
                ok(route_json(&r))
            }
            (&Method::DELETE, ["routes", rid]) => {
                a.change(id, |x| {
                    let before = x.routes.len();
                    x.routes.retain(|r| r.id != *rid);
                    if x.routes.len() == before {
                        return Err(GError::NotFound(format!(
                            "Invalid Route identifier specified {rid}"
                        )));
                    }
                    Ok(())
                })
                .map_err(err)?;
                Ok(no_content())
            }
            // Integrations.
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                format!(
                    "Nimbus does not implement {m} on /v2/apis/{id}/{} (region {})",
                    rest.join("/"),
                    self.region
                ),
            )),
        }
    }

    /// Operations on its integrations.
    fn api_op_integrations(
        &self,
        m: &Method,
        id: &str,
        rest: &[&str],
        body: &Value,
        _host: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let a = &self.apis;
        let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
        let created = |v: Value| Ok(json_response(StatusCode::CREATED, v));
        match (m, rest) {
            (&Method::POST, ["integrations"]) => {
                let kind = opt_str(body, "integrationType")
                    .ok_or_else(|| bad("IntegrationType is required"))?;
                let uri = opt_str(body, "integrationUri")
                    .ok_or_else(|| bad("IntegrationUri is required for AWS_PROXY integrations"))?;
                let (_, i) = a
                    .change(id, |x| {
                        apis::add_integration(
                            x,
                            &kind,
                            &uri,
                            body.get("payloadFormatVersion").and_then(Value::as_str),
                            body.get("timeoutInMillis").and_then(Value::as_u64),
                        )
                    })
                    .map_err(err)?;
                created(integration_json(&i))
            }
            (&Method::GET, ["integrations"]) => ok(list(
                a.get(id)
                    .map_err(err)?
                    .integrations
                    .iter()
                    .map(integration_json)
                    .collect(),
            )),
            (&Method::GET, ["integrations", iid]) => {
                let api = a.get(id).map_err(err)?;
                let i = api
                    .integrations
                    .iter()
                    .find(|i| i.id == *iid)
                    .ok_or_else(|| {
                        err(GError::NotFound(format!(
                            "Invalid Integration identifier specified {iid}"
                        )))
                    })?;
                ok(integration_json(i))
            }
            (&Method::PATCH, ["integrations", iid]) => {
                let (_, i) = a
                    .change(id, |x| {
                        let i = x
                            .integrations
                            .iter_mut()
                            .find(|i| i.id == *iid)
                            .ok_or_else(|| {
                                GError::NotFound(format!(
                                    "Invalid Integration identifier specified {iid}"
                                ))
                            })?;
                        if let Some(u) = opt_str(body, "integrationUri") {
                            i.uri = u;
                        }
                        if let Some(p) = opt_str(body, "payloadFormatVersion") {
                            if p != "1.0" && p != "2.0" {
                                return Err(GError::BadRequest(format!(
                                    "Unsupported payload format version {p}: use 1.0 or 2.0"
                                )));
                            }
                            i.payload_format = p;
                        }
                        if let Some(t) = body.get("timeoutInMillis").and_then(Value::as_u64) {
                            i.timeout_ms = t;
                        }
                        Ok(i.clone())
                    })
                    .map_err(err)?;
                ok(integration_json(&i))
            }
            (&Method::DELETE, ["integrations", iid]) => {
                a.change(id, |x| {
                    let target = format!("integrations/{iid}");
                    if x.routes
                        .iter()
                        .any(|r| r.target.as_deref() == Some(target.as_str()))
                    {
                        return Err(GError::Conflict(format!(
                            "Integration {iid} is still used by a route"
                        )));
                    }
                    let before = x.integrations.len();
                    x.integrations.retain(|i| i.id != *iid);
                    if x.integrations.len() == before {
                        return Err(GError::NotFound(format!(
                            "Invalid Integration identifier specified {iid}"
                        )));
                    }
                    Ok(())
                })
                .map_err(err)?;
                Ok(no_content())
            }
            // Authorizers.
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                format!(
                    "Nimbus does not implement {m} on /v2/apis/{id}/{} (region {})",
                    rest.join("/"),
                    self.region
                ),
            )),
        }
    }

    /// Operations on its authorizers.
    fn api_op_authorizers(
        &self,
        m: &Method,
        id: &str,
        rest: &[&str],
        body: &Value,
        _host: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let a = &self.apis;
        let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
        let created = |v: Value| Ok(json_response(StatusCode::CREATED, v));
        match (m, rest) {
            (&Method::POST, ["authorizers"]) => {
                let name = opt_str(body, "name").ok_or_else(|| bad("Name is required"))?;
                let kind = opt_str(body, "authorizerType")
                    .ok_or_else(|| bad("AuthorizerType is required"))?;
                let sources: Vec<String> = body
                    .get("identitySource")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let (_, x) = a
                    .change(id, |api| {
                        apis::add_authorizer(
                            api,
                            &name,
                            &kind,
                            body.get("authorizerUri").and_then(Value::as_str),
                            sources,
                            body.get("authorizerPayloadFormatVersion")
                                .and_then(Value::as_str),
                            body.get("enableSimpleResponses")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                            body.get("authorizerResultTtlInSeconds")
                                .and_then(Value::as_u64),
                            body.get("jwtConfiguration").map(|j| apis::JwtConfig {
                                issuer: opt_str(j, "issuer").unwrap_or_default(),
                                audience: j
                                    .get("audience")
                                    .and_then(Value::as_array)
                                    .map(|a| {
                                        a.iter()
                                            .filter_map(|x| x.as_str().map(str::to_string))
                                            .collect()
                                    })
                                    .unwrap_or_default(),
                            }),
                        )
                    })
                    .map_err(err)?;
                created(authorizer_json(&x))
            }
            (&Method::GET, ["authorizers"]) => ok(list(
                a.get(id)
                    .map_err(err)?
                    .authorizers
                    .iter()
                    .map(authorizer_json)
                    .collect(),
            )),
            (&Method::GET, ["authorizers", aid]) => {
                let api = a.get(id).map_err(err)?;
                let x = api
                    .authorizers
                    .iter()
                    .find(|x| x.id == *aid)
                    .ok_or_else(|| {
                        err(GError::NotFound(format!(
                            "Invalid Authorizer identifier specified {aid}"
                        )))
                    })?;
                ok(authorizer_json(x))
            }
            (&Method::DELETE, ["authorizers", aid]) => {
                a.change(id, |api| {
                    if api
                        .routes
                        .iter()
                        .any(|r| r.authorizer_id.as_deref() == Some(*aid))
                    {
                        return Err(GError::Conflict(format!(
                            "Authorizer {aid} is still used by a route"
                        )));
                    }
                    let before = api.authorizers.len();
                    api.authorizers.retain(|x| x.id != *aid);
                    if api.authorizers.len() == before {
                        return Err(GError::NotFound(format!(
                            "Invalid Authorizer identifier specified {aid}"
                        )));
                    }
                    Ok(())
                })
                .map_err(err)?;
                Ok(no_content())
            }
            // Stages.
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                format!(
                    "Nimbus does not implement {m} on /v2/apis/{id}/{} (region {})",
                    rest.join("/"),
                    self.region
                ),
            )),
        }
    }

    /// Operations on its stages.
    fn api_op_stages(
        &self,
        m: &Method,
        id: &str,
        rest: &[&str],
        body: &Value,
        _host: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let a = &self.apis;
        let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
        let created = |v: Value| Ok(json_response(StatusCode::CREATED, v));
        match (m, rest) {
            (&Method::POST, ["stages"]) => {
                let name =
                    opt_str(body, "stageName").ok_or_else(|| bad("StageName is required"))?;
                let (_, s) = a
                    .change(id, |x| {
                        apis::add_stage(
                            x,
                            &name,
                            body.get("autoDeploy")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                            strings(body.get("stageVariables")),
                            opt_str(body, "description"),
                        )
                    })
                    .map_err(err)?;
                let s = a.get(id).map_err(err)?.stage(&s.name).cloned().unwrap_or(s);
                created(stage_json(&s))
            }
            (&Method::GET, ["stages"]) => ok(list(
                a.get(id)
                    .map_err(err)?
                    .stages
                    .iter()
                    .map(stage_json)
                    .collect(),
            )),
            (&Method::GET, ["stages", name]) => {
                let api = a.get(id).map_err(err)?;
                let s = api.stage(name).ok_or_else(|| {
                    err(GError::NotFound(format!(
                        "Invalid stage identifier specified {name}"
                    )))
                })?;
                ok(stage_json(s))
            }
            (&Method::PATCH, ["stages", name]) => {
                let (_, s) = a
                    .change(id, |x| {
                        let s = x
                            .stages
                            .iter_mut()
                            .find(|s| s.name == *name)
                            .ok_or_else(|| {
                                GError::NotFound(format!(
                                    "Invalid stage identifier specified {name}"
                                ))
                            })?;
                        if let Some(d) = body.get("autoDeploy").and_then(Value::as_bool) {
                            s.auto_deploy = d;
                        }
                        if body.get("stageVariables").is_some() {
                            s.variables = strings(body.get("stageVariables"));
                        }
                        if let Some(d) = opt_str(body, "description") {
                            s.description = Some(d);
                        }
                        s.modified_ms = nimbus_model::time::now_millis();
                        Ok(s.clone())
                    })
                    .map_err(err)?;
                ok(stage_json(&s))
            }
            (&Method::DELETE, ["stages", name]) => {
                a.change(id, |x| {
                    let before = x.stages.len();
                    x.stages.retain(|s| s.name != *name);
                    if x.stages.len() == before {
                        return Err(GError::NotFound(format!(
                            "Invalid stage identifier specified {name}"
                        )));
                    }
                    Ok(())
                })
                .map_err(err)?;
                Ok(no_content())
            }
            // Deployments.
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                format!(
                    "Nimbus does not implement {m} on /v2/apis/{id}/{} (region {})",
                    rest.join("/"),
                    self.region
                ),
            )),
        }
    }

    /// Operations on its deployments.
    fn api_op_deployments(
        &self,
        m: &Method,
        id: &str,
        rest: &[&str],
        body: &Value,
        _host: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let a = &self.apis;
        let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
        let created = |v: Value| Ok(json_response(StatusCode::CREATED, v));
        match (m, rest) {
            (&Method::POST, ["deployments"]) => {
                let (_, d) = a
                    .change(id, |x| {
                        apis::deploy(
                            x,
                            body.get("stageName").and_then(Value::as_str),
                            opt_str(body, "description"),
                        )
                    })
                    .map_err(err)?;
                created(deployment_json(&d))
            }
            (&Method::GET, ["deployments"]) => ok(list(
                a.get(id)
                    .map_err(err)?
                    .deployments
                    .iter()
                    .map(deployment_json)
                    .collect(),
            )),
            (&Method::GET, ["deployments", did]) => {
                let api = a.get(id).map_err(err)?;
                let d = api
                    .deployments
                    .iter()
                    .find(|d| d.id == *did)
                    .ok_or_else(|| {
                        err(GError::NotFound(format!(
                            "Invalid Deployment identifier specified {did}"
                        )))
                    })?;
                ok(deployment_json(d))
            }
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                format!(
                    "Nimbus does not implement {m} on /v2/apis/{id}/{} (region {})",
                    rest.join("/"),
                    self.region
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
