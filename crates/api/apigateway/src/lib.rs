//! The API Gateway management APIs: v2 for HTTP APIs (REST-JSON under
//! `/v2/apis`, handlers in [`http_apis`]) and v1 for REST APIs (`/restapis`,
//! in [`rest`]), in API Gateway's shapes and errors (`NotFoundException`,
//! `BadRequestException`, `ConflictException`).
//!
//! A request is parsed into an [`Operation`] (named as botocore's
//! `apigatewayv2` and `apigateway` models name them, carrying the path's
//! parameters) before anything runs; [`ApiGatewayApi::execute`] then runs it.

pub mod authz;
mod error;
pub(crate) use error::{bad, err};
mod http_apis;
pub mod rest;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use nimbus_api_common::ApiError;
use nimbus_gateway::apis::Apis;
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

/// What every handler answers.
pub(crate) type R = Result<Response<Bytes>, ApiError>;

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

pub(crate) fn strings(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn opt_str(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// An API Gateway management operation, named as botocore names it: the v2
/// operations on HTTP APIs, and the v1 operations on REST APIs under
/// [`Operation::Rest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    CreateApi,
    GetApis,
    GetApi {
        api: String,
    },
    UpdateApi {
        api: String,
    },
    DeleteApi {
        api: String,
    },
    DeleteCorsConfiguration {
        api: String,
    },
    CreateRoute {
        api: String,
    },
    GetRoutes {
        api: String,
    },
    GetRoute {
        api: String,
        route: String,
    },
    UpdateRoute {
        api: String,
        route: String,
    },
    DeleteRoute {
        api: String,
        route: String,
    },
    CreateIntegration {
        api: String,
    },
    GetIntegrations {
        api: String,
    },
    GetIntegration {
        api: String,
        integration: String,
    },
    UpdateIntegration {
        api: String,
        integration: String,
    },
    DeleteIntegration {
        api: String,
        integration: String,
    },
    CreateAuthorizer {
        api: String,
    },
    GetAuthorizers {
        api: String,
    },
    GetAuthorizer {
        api: String,
        authorizer: String,
    },
    DeleteAuthorizer {
        api: String,
        authorizer: String,
    },
    CreateStage {
        api: String,
    },
    GetStages {
        api: String,
    },
    GetStage {
        api: String,
        stage: String,
    },
    UpdateStage {
        api: String,
        stage: String,
    },
    DeleteStage {
        api: String,
        stage: String,
    },
    CreateDeployment {
        api: String,
    },
    GetDeployments {
        api: String,
    },
    GetDeployment {
        api: String,
        deployment: String,
    },
    /// A v1 operation on REST APIs.
    Rest(rest::Operation),
}

/// The path's segments after the leading `/` (a trailing `/` ignored).
fn segments(path: &str) -> Vec<&str> {
    path.trim_end_matches('/').split('/').skip(1).collect()
}

impl Operation {
    /// The operation at `method` and `path`, if Nimbus implements one there.
    pub fn parse(method: &Method, path: &str) -> Option<Operation> {
        use Operation as O;
        let s = |x: &str| x.to_string();
        Some(match (method, segments(path).as_slice()) {
            (&Method::POST, ["v2", "apis"]) => O::CreateApi,
            (&Method::GET, ["v2", "apis"]) => O::GetApis,
            (m, ["v2", "apis", api, rest @ ..]) => {
                let api = s(api);
                match (m, rest) {
                    (&Method::GET, []) => O::GetApi { api },
                    (&Method::PATCH, []) => O::UpdateApi { api },
                    (&Method::DELETE, []) => O::DeleteApi { api },
                    (&Method::DELETE, ["cors"]) => O::DeleteCorsConfiguration { api },
                    (&Method::POST, ["routes"]) => O::CreateRoute { api },
                    (&Method::GET, ["routes"]) => O::GetRoutes { api },
                    (&Method::GET, ["routes", r]) => O::GetRoute { api, route: s(r) },
                    (&Method::PATCH, ["routes", r]) => O::UpdateRoute { api, route: s(r) },
                    (&Method::DELETE, ["routes", r]) => O::DeleteRoute { api, route: s(r) },
                    (&Method::POST, ["integrations"]) => O::CreateIntegration { api },
                    (&Method::GET, ["integrations"]) => O::GetIntegrations { api },
                    (&Method::GET, ["integrations", i]) => O::GetIntegration {
                        api,
                        integration: s(i),
                    },
                    (&Method::PATCH, ["integrations", i]) => O::UpdateIntegration {
                        api,
                        integration: s(i),
                    },
                    (&Method::DELETE, ["integrations", i]) => O::DeleteIntegration {
                        api,
                        integration: s(i),
                    },
                    (&Method::POST, ["authorizers"]) => O::CreateAuthorizer { api },
                    (&Method::GET, ["authorizers"]) => O::GetAuthorizers { api },
                    (&Method::GET, ["authorizers", a]) => O::GetAuthorizer {
                        api,
                        authorizer: s(a),
                    },
                    (&Method::DELETE, ["authorizers", a]) => O::DeleteAuthorizer {
                        api,
                        authorizer: s(a),
                    },
                    (&Method::POST, ["stages"]) => O::CreateStage { api },
                    (&Method::GET, ["stages"]) => O::GetStages { api },
                    (&Method::GET, ["stages", st]) => O::GetStage { api, stage: s(st) },
                    (&Method::PATCH, ["stages", st]) => O::UpdateStage { api, stage: s(st) },
                    (&Method::DELETE, ["stages", st]) => O::DeleteStage { api, stage: s(st) },
                    (&Method::POST, ["deployments"]) => O::CreateDeployment { api },
                    (&Method::GET, ["deployments"]) => O::GetDeployments { api },
                    (&Method::GET, ["deployments", d]) => O::GetDeployment {
                        api,
                        deployment: s(d),
                    },
                    _ => return None,
                }
            }
            (m, ["restapis", rest @ ..]) => O::Rest(rest::Operation::parse(m, rest)?),
            _ => return None,
        })
    }
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

    fn run(&self, req: &Request<Bytes>) -> R {
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
        let path = req.uri().path();
        let op = Operation::parse(req.method(), path)
            .ok_or_else(|| self.not_implemented(req.method(), path))?;
        nimbus_api_common::authz::authorize(req.extensions(), |s| {
            let mut access = authz::access(req.method(), path, s);
            // An integration that runs as a role passes it (v2's
            // `CredentialsArn`, v1's `credentials`).
            let role = ["CredentialsArn", "credentialsArn", "credentials"]
                .iter()
                .find_map(|k| body.get(*k).and_then(Value::as_str))
                .filter(|r| r.starts_with("arn:"));
            access.extend(role.map(nimbus_api_common::authz::pass_role));
            access
        })
        .map_err(|d| ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", d.message))?;
        self.execute(op, &body, &host)
    }

    /// Run `op` with the request's JSON `body`; `host` is what the client
    /// called (the API's endpoint is on its port).
    pub fn execute(&self, op: Operation, body: &Value, host: &str) -> R {
        use Operation as O;
        match op {
            O::CreateApi => self.create_api(body, host),
            O::GetApis => self.get_apis(host),
            O::GetApi { api } => self.get_api(&api, host),
            O::UpdateApi { api } => self.update_api(&api, body, host),
            O::DeleteApi { api } => self.delete_api(&api),
            O::DeleteCorsConfiguration { api } => self.delete_cors_configuration(&api),
            O::CreateRoute { api } => self.create_route(&api, body),
            O::GetRoutes { api } => self.get_routes(&api),
            O::GetRoute { api, route } => self.get_route(&api, &route),
            O::UpdateRoute { api, route } => self.update_route(&api, &route, body),
            O::DeleteRoute { api, route } => self.delete_route(&api, &route),
            O::CreateIntegration { api } => self.create_integration(&api, body),
            O::GetIntegrations { api } => self.get_integrations(&api),
            O::GetIntegration { api, integration } => self.get_integration(&api, &integration),
            O::UpdateIntegration { api, integration } => {
                self.update_integration(&api, &integration, body)
            }
            O::DeleteIntegration { api, integration } => {
                self.delete_integration(&api, &integration)
            }
            O::CreateAuthorizer { api } => self.create_authorizer(&api, body),
            O::GetAuthorizers { api } => self.get_authorizers(&api),
            O::GetAuthorizer { api, authorizer } => self.get_authorizer(&api, &authorizer),
            O::DeleteAuthorizer { api, authorizer } => self.delete_authorizer(&api, &authorizer),
            O::CreateStage { api } => self.create_stage(&api, body),
            O::GetStages { api } => self.get_stages(&api),
            O::GetStage { api, stage } => self.get_stage(&api, &stage),
            O::UpdateStage { api, stage } => self.update_stage(&api, &stage, body),
            O::DeleteStage { api, stage } => self.delete_stage(&api, &stage),
            O::CreateDeployment { api } => self.create_deployment(&api, body),
            O::GetDeployments { api } => self.get_deployments(&api),
            O::GetDeployment { api, deployment } => self.get_deployment(&api, &deployment),
            O::Rest(op) => rest::execute(&self.rest, op, body),
        }
    }

    /// The error for a method and path no [`Operation`] is at.
    fn not_implemented(&self, m: &Method, path: &str) -> ApiError {
        let nowhere =
            |message: String| ApiError::new(StatusCode::NOT_FOUND, "NotFoundException", message);
        match segments(path).as_slice() {
            ["v2", "apis", id, rest @ ..] => nowhere(format!(
                "Nimbus does not implement {m} on /v2/apis/{id}/{} (region {})",
                rest.join("/"),
                self.region
            )),
            ["restapis"] => bad("Unknown REST API operation"),
            ["restapis", id, rest @ ..] => nowhere(format!(
                "Nimbus does not implement {m} on /restapis/{id}/{}",
                rest.join("/")
            )),
            _ => nowhere(format!("Nimbus does not implement {m} {path}")),
        }
    }
}

#[cfg(test)]
mod tests;
