//! The API Gateway v1 management API for REST APIs (REST-JSON under
//! `/restapis`): APIs, resources, methods and their integrations (and the
//! method and integration responses tools put beside them), deployments and
//! stages, in API Gateway's v1 shapes (lists under `item`, epoch-second times,
//! JSON Patch `patchOperations` for updates). Parsed into an [`Operation`],
//! then run by [`execute`].

use crate::{R, bad, err, json_response, no_content, opt_str, strings};
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use nimbus_api_common::ApiError;
use nimbus_gateway::Error as GError;
use nimbus_gateway::rest::{self, RestApi, RestApis, RestDeployment, RestIntegration};
use nimbus_gateway::stages::Stage;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A method of a resource, as its path names it (the HTTP method as given,
/// checked when the operation runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodAt {
    pub api: String,
    pub resource: String,
    pub http_method: String,
}

/// A v1 operation on REST APIs, named as botocore's `apigateway` model names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    CreateRestApi,
    GetRestApis,
    GetRestApi {
        api: String,
    },
    UpdateRestApi {
        api: String,
    },
    DeleteRestApi {
        api: String,
    },
    GetResources {
        api: String,
    },
    GetResource {
        api: String,
        resource: String,
    },
    CreateResource {
        api: String,
        parent: String,
    },
    DeleteResource {
        api: String,
        resource: String,
    },
    PutMethod(MethodAt),
    GetMethod(MethodAt),
    DeleteMethod(MethodAt),
    PutMethodResponse {
        method: MethodAt,
        status_code: String,
    },
    PutIntegration(MethodAt),
    GetIntegration(MethodAt),
    PutIntegrationResponse {
        method: MethodAt,
        status_code: String,
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
    UpdateAuthorizer {
        api: String,
        authorizer: String,
    },
    DeleteAuthorizer {
        api: String,
        authorizer: String,
    },
}

impl Operation {
    /// The operation at `method` and the path's segments after `restapis`.
    pub fn parse(method: &Method, segs: &[&str]) -> Option<Operation> {
        use Operation as O;
        let s = |x: &str| x.to_string();
        let (api, rest) = match segs {
            [] if method == Method::POST => return Some(O::CreateRestApi),
            [] if method == Method::GET => return Some(O::GetRestApis),
            [api, rest @ ..] => (s(api), rest),
            [] => return None,
        };
        if let ["resources", resource, "methods", http_method, more @ ..] = rest {
            let at = MethodAt {
                api,
                resource: s(resource),
                http_method: s(http_method),
            };
            return Some(match (method, more) {
                (&Method::PUT, []) => O::PutMethod(at),
                (&Method::GET, []) => O::GetMethod(at),
                (&Method::DELETE, []) => O::DeleteMethod(at),
                (&Method::PUT, ["responses", code]) => O::PutMethodResponse {
                    method: at,
                    status_code: s(code),
                },
                (&Method::PUT, ["integration"]) => O::PutIntegration(at),
                (&Method::GET, ["integration"]) => O::GetIntegration(at),
                (&Method::PUT, ["integration", "responses", code]) => O::PutIntegrationResponse {
                    method: at,
                    status_code: s(code),
                },
                _ => return None,
            });
        }
        Some(match (method, rest) {
            (&Method::GET, []) => O::GetRestApi { api },
            (&Method::PATCH, []) => O::UpdateRestApi { api },
            (&Method::DELETE, []) => O::DeleteRestApi { api },
            (&Method::GET, ["resources"]) => O::GetResources { api },
            (&Method::GET, ["resources", r]) => O::GetResource {
                api,
                resource: s(r),
            },
            (&Method::POST, ["resources", p]) => O::CreateResource { api, parent: s(p) },
            (&Method::DELETE, ["resources", r]) => O::DeleteResource {
                api,
                resource: s(r),
            },
            (&Method::POST, ["deployments"]) => O::CreateDeployment { api },
            (&Method::GET, ["deployments"]) => O::GetDeployments { api },
            (&Method::GET, ["deployments", d]) => O::GetDeployment {
                api,
                deployment: s(d),
            },
            (&Method::POST, ["stages"]) => O::CreateStage { api },
            (&Method::GET, ["stages"]) => O::GetStages { api },
            (&Method::GET, ["stages", st]) => O::GetStage { api, stage: s(st) },
            (&Method::PATCH, ["stages", st]) => O::UpdateStage { api, stage: s(st) },
            (&Method::DELETE, ["stages", st]) => O::DeleteStage { api, stage: s(st) },
            (&Method::POST, ["authorizers"]) => O::CreateAuthorizer { api },
            (&Method::GET, ["authorizers"]) => O::GetAuthorizers { api },
            (&Method::GET, ["authorizers", z]) => O::GetAuthorizer {
                api,
                authorizer: s(z),
            },
            (&Method::PATCH, ["authorizers", z]) => O::UpdateAuthorizer {
                api,
                authorizer: s(z),
            },
            (&Method::DELETE, ["authorizers", z]) => O::DeleteAuthorizer {
                api,
                authorizer: s(z),
            },
            _ => return None,
        })
    }
}

/// Run `op` over the REST API store with the request's JSON `body`.
pub fn execute(a: &RestApis, op: Operation, body: &Value) -> R {
    use Operation as O;
    match op {
        O::CreateRestApi => create_rest_api(a, body),
        O::GetRestApis => ok(items(a.list().iter().map(|x| api_json(x)).collect())),
        O::GetRestApi { api } => ok(api_json(&*a.get(&api).map_err(err)?)),
        O::UpdateRestApi { api } => update_rest_api(a, &api, body),
        O::DeleteRestApi { api } => {
            a.delete(&api).map_err(err)?;
            Ok(accepted())
        }
        O::GetResources { api } => {
            let x = a.get(&api).map_err(err)?;
            ok(items(x.resources.iter().map(resource_json).collect()))
        }
        O::GetResource { api, resource } => ok(resource_json(
            a.get(&api).map_err(err)?.resource(&resource).map_err(err)?,
        )),
        O::CreateResource { api, parent } => create_resource(a, &api, &parent, body),
        O::DeleteResource { api, resource } => {
            a.change(&api, |x| rest::remove_resource(x, &resource))
                .map_err(err)?;
            Ok(accepted())
        }
        O::PutMethod(at) => put_method(a, &at, body),
        O::GetMethod(at) => get_method(a, &at),
        O::DeleteMethod(at) => delete_method(a, &at),
        O::PutMethodResponse {
            method,
            status_code,
        } => put_method_response(a, &method, &status_code, body),
        O::PutIntegration(at) => put_integration(a, &at, body),
        O::GetIntegration(at) => get_integration(a, &at),
        O::PutIntegrationResponse {
            method,
            status_code,
        } => put_integration_response(a, &method, &status_code, body),
        O::CreateDeployment { api } => create_deployment(a, &api, body),
        O::GetDeployments { api } => {
            let x = a.get(&api).map_err(err)?;
            let all = x.stages.deployments();
            ok(items(all.iter().map(deployment_json).collect()))
        }
        O::GetDeployment { api, deployment } => get_deployment(a, &api, &deployment),
        O::CreateStage { api } => create_stage(a, &api, body),
        O::GetStages { api } => {
            let x = a.get(&api).map_err(err)?;
            ok(items(x.stages.list().iter().map(stage_json).collect()))
        }
        O::GetStage { api, stage } => get_stage(a, &api, &stage),
        O::UpdateStage { api, stage } => update_stage(a, &api, &stage, body),
        O::DeleteStage { api, stage } => delete_stage(a, &api, &stage),
        O::CreateAuthorizer { api } => create_authorizer(a, &api, body),
        O::GetAuthorizers { api } => {
            let x = a.get(&api).map_err(err)?;
            ok(items(x.authorizers.iter().map(authorizer_json).collect()))
        }
        O::GetAuthorizer { api, authorizer } => {
            let x = a.get(&api).map_err(err)?;
            ok(authorizer_json(authorizer_of(&x, &authorizer)?))
        }
        O::UpdateAuthorizer { api, authorizer } => update_authorizer(a, &api, &authorizer, body),
        O::DeleteAuthorizer { api, authorizer } => delete_authorizer(a, &api, &authorizer),
    }
}

fn authorizer_json(z: &rest::RestAuthorizer) -> Value {
    let mut v = json!({
        "id": z.id, "name": z.name, "type": z.kind, "authorizerUri": z.uri,
        "identitySource": z.identity_source, "authorizerResultTtlInSeconds": z.ttl_secs,
    });
    if let Some(e) = &z.identity_validation {
        v["identityValidationExpression"] = json!(e);
    }
    if let Some(c) = &z.credentials {
        v["authorizerCredentials"] = json!(c);
    }
    v
}

fn authorizer_of<'a>(api: &'a RestApi, id: &str) -> Result<&'a rest::RestAuthorizer, ApiError> {
    api.authorizers.iter().find(|z| z.id == id).ok_or_else(|| {
        err(GError::NotFound(format!(
            "Invalid authorizer identifier specified {id}"
        )))
    })
}

/// Check an authorizer as API Gateway does when it is made or changed.
fn check_authorizer(z: &rest::RestAuthorizer) -> Result<(), ApiError> {
    match z.kind.as_str() {
        "TOKEN" | "REQUEST" => {}
        "COGNITO_USER_POOLS" => {
            return Err(bad(
                "Nimbus has no Cognito user pools yet; use a TOKEN or REQUEST (Lambda) authorizer",
            ));
        }
        k => return Err(bad(format!("Invalid authorizer type {k}"))),
    }
    if z.uri.is_empty() {
        return Err(bad(
            "Authorizer URI is required for authorizer of type TOKEN or REQUEST",
        ));
    }
    if z.kind == "TOKEN" && !z.identity_source.starts_with("method.request.header.") {
        return Err(bad(
            "Identity source for authorizer of type TOKEN must be a header: method.request.header.<name>",
        ));
    }
    if z.ttl_secs > 3600 {
        return Err(bad(
            "Authorizer result TTL must be between 0 and 3600 seconds",
        ));
    }
    if let Some(e) = &z.identity_validation
        && let Err(why) = nimbus_gateway::rest::token_pattern(e)
    {
        return Err(bad(format!(
            "Invalid identity validation expression {e}: {why}"
        )));
    }
    Ok(())
}

fn create_authorizer(a: &RestApis, api: &str, body: &Value) -> R {
    let name = opt_str(body, "name").ok_or_else(|| bad("Authorizer name is required"))?;
    let kind = opt_str(body, "type").ok_or_else(|| bad("Invalid authorizer type"))?;
    let z = rest::RestAuthorizer {
        id: nimbus_gateway::apis::new_id(),
        name,
        identity_source: opt_str(body, "identitySource").unwrap_or_else(|| {
            if kind == "TOKEN" {
                "method.request.header.Authorization".into()
            } else {
                String::new()
            }
        }),
        kind,
        uri: opt_str(body, "authorizerUri").unwrap_or_default(),
        identity_validation: opt_str(body, "identityValidationExpression"),
        ttl_secs: body
            .get("authorizerResultTtlInSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(300),
        credentials: opt_str(body, "authorizerCredentials"),
    };
    check_authorizer(&z)?;
    let stored = z.clone();
    a.change(api, |x| {
        if x.authorizers.iter().any(|o| o.name == stored.name) {
            return Err(GError::Conflict(format!(
                "Authorizer with name {} already exists",
                stored.name
            )));
        }
        x.authorizers.push(stored);
        Ok(())
    })
    .map_err(err)?;
    created(authorizer_json(&z))
}

fn update_authorizer(a: &RestApis, api: &str, id: &str, body: &Value) -> R {
    let (x, _) = a
        .change(api, |x| {
            let z = x
                .authorizers
                .iter_mut()
                .find(|z| z.id == id)
                .ok_or_else(|| {
                    GError::NotFound(format!("Invalid authorizer identifier specified {id}"))
                })?;
            for (op, path, value) in patches(body) {
                let v = value.unwrap_or_default();
                match (op.as_str(), path.as_str()) {
                    ("replace", "/name") => z.name = v,
                    ("replace", "/authorizerUri") => z.uri = v,
                    ("replace", "/identitySource") => z.identity_source = v,
                    ("replace", "/identityValidationExpression") => {
                        z.identity_validation = Some(v).filter(|s| !s.is_empty());
                    }
                    ("replace", "/authorizerResultTtlInSeconds") => {
                        z.ttl_secs = v
                            .parse()
                            .map_err(|_| GError::BadRequest(format!("Invalid TTL value {v}")))?;
                    }
                    ("replace", "/authorizerCredentials") => {
                        z.credentials = Some(v).filter(|s| !s.is_empty());
                    }
                    ("replace", "/type") => z.kind = v,
                    _ => {
                        return Err(GError::BadRequest(format!(
                            "Invalid patch path {path} for operation {op}"
                        )));
                    }
                }
            }
            // Checked before it is stored: a refused patch changes nothing.
            check_authorizer(z).map_err(|e| GError::BadRequest(e.message))?;
            Ok(())
        })
        .map_err(err)?;
    ok(authorizer_json(authorizer_of(&x, id)?))
}

fn delete_authorizer(a: &RestApis, api: &str, id: &str) -> R {
    a.change(api, |x| {
        if !x.authorizers.iter().any(|z| z.id == id) {
            return Err(GError::NotFound(format!(
                "Invalid authorizer identifier specified {id}"
            )));
        }
        if x.resources
            .iter()
            .flat_map(|r| r.methods.values())
            .any(|m| m.authorizer_id.as_deref() == Some(id))
        {
            return Err(GError::Conflict(
                "Cannot delete authorizer, is referenced in method".into(),
            ));
        }
        x.authorizers.retain(|z| z.id != id);
        Ok(())
    })
    .map_err(err)?;
    Ok(accepted())
}

fn ok(v: Value) -> R {
    Ok(json_response(StatusCode::OK, v))
}

fn created(v: Value) -> R {
    Ok(json_response(StatusCode::CREATED, v))
}
fn secs(ms: u64) -> f64 {
    (ms / 1000) as f64
}

fn accepted() -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

fn items(v: Vec<Value>) -> Value {
    json!({ "item": v })
}

fn api_json(a: &RestApi) -> Value {
    let mut v = json!({
        "id": a.id, "name": a.name, "createdDate": secs(a.created_ms),
        "binaryMediaTypes": a.binary_media_types, "apiKeySource": "HEADER",
        "endpointConfiguration": { "types": ["EDGE"] }, "disableExecuteApiEndpoint": false,
        "rootResourceId": a.root_id, "tags": a.tags,
    });
    if let Some(d) = &a.description {
        v["description"] = json!(d);
    }
    if let Some(x) = &a.version {
        v["version"] = json!(x);
    }
    v
}

fn integration_json(i: &RestIntegration) -> Value {
    let mut v = json!({
        "type": i.kind, "passthroughBehavior": i.passthrough, "timeoutInMillis": i.timeout_ms,
        "cacheNamespace": "", "cacheKeyParameters": [], "connectionType": "INTERNET",
    });
    if let Some(m) = &i.http_method {
        v["httpMethod"] = json!(m);
    }
    if let Some(u) = &i.uri {
        v["uri"] = json!(u);
    }
    if let Some(c) = &i.credentials {
        v["credentials"] = json!(c);
    }
    if !i.request_templates.is_empty() {
        v["requestTemplates"] = json!(i.request_templates);
    }
    if !i.responses.is_empty() {
        v["integrationResponses"] = json!(i.responses);
    }
    v
}

fn method_json(m: &rest::Method) -> Value {
    let mut v = json!({
        "httpMethod": m.http_method, "authorizationType": m.authorization_type,
        "apiKeyRequired": m.api_key_required,
    });
    if let Some(a) = &m.authorizer_id {
        v["authorizerId"] = json!(a);
    }
    if !m.request_parameters.is_empty() {
        v["requestParameters"] = json!(m.request_parameters);
    }
    if !m.responses.is_empty() {
        v["methodResponses"] = json!(m.responses);
    }
    if let Some(i) = &m.integration {
        v["methodIntegration"] = integration_json(i);
    }
    v
}

fn resource_json(r: &rest::Resource) -> Value {
    let mut v = json!({ "id": r.id, "path": r.path });
    if let Some(p) = &r.parent_id {
        v["parentId"] = json!(p);
        v["pathPart"] = json!(r.path_part);
    }
    if !r.methods.is_empty() {
        let methods: serde_json::Map<String, Value> = r
            .methods
            .iter()
            .map(|(k, m)| (k.clone(), method_json(m)))
            .collect();
        v["resourceMethods"] = Value::Object(methods);
    }
    v
}

fn deployment_json(d: &RestDeployment) -> Value {
    let mut v = json!({ "id": d.id, "createdDate": secs(d.created_ms) });
    if let Some(x) = &d.description {
        v["description"] = json!(x);
    }
    v
}

fn stage_json(s: &Stage) -> Value {
    let mut v = json!({
        "stageName": s.name, "deploymentId": s.deployment_id, "variables": s.variables,
        "createdDate": secs(s.created_ms), "lastUpdatedDate": secs(s.modified_ms),
        "cacheClusterEnabled": false, "tracingEnabled": false, "methodSettings": {},
    });
    if let Some(d) = &s.description {
        v["description"] = json!(d);
    }
    v
}

/// JSON Patch operations of an update: (op, path, value).
fn patches(body: &Value) -> Vec<(String, String, Option<String>)> {
    body.get("patchOperations")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        opt_str(p, "op").unwrap_or_default(),
                        opt_str(p, "path").unwrap_or_default(),
                        opt_str(p, "value"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn method_name(raw: &str) -> Result<String, ApiError> {
    let m = raw.to_ascii_uppercase();
    if rest::METHODS.contains(&m.as_str()) {
        Ok(m)
    } else {
        Err(bad(format!(
            "Invalid HttpMethod specified. Valid options are {}",
            rest::METHODS.join(",")
        )))
    }
}

fn no_method(m: &str) -> GError {
    GError::NotFound(format!("Invalid Method identifier specified {m}"))
}

fn create_rest_api(a: &RestApis, body: &Value) -> R {
    let name = opt_str(body, "name").ok_or_else(|| bad("Invalid REST API name specified"))?;
    let binary = body
        .get("binaryMediaTypes")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let api = a
        .create(
            &name,
            opt_str(body, "description"),
            binary,
            strings(body.get("tags")),
        )
        .map_err(err)?;
    created(api_json(&api))
}

fn update_rest_api(a: &RestApis, id: &str, body: &Value) -> R {
    let (api, ()) = a
        .change(id, |x| {
            for (op, path, value) in patches(body) {
                match (op.as_str(), path.as_str()) {
                    ("replace", "/name") => x.name = value.unwrap_or_default(),
                    ("replace", "/description") => x.description = value,
                    ("add", p) if p.starts_with("/binaryMediaTypes/") => x
                        .binary_media_types
                        .push(p["/binaryMediaTypes/".len()..].replace("~1", "/")),
                    ("remove", p) if p.starts_with("/binaryMediaTypes/") => {
                        let t = p["/binaryMediaTypes/".len()..].replace("~1", "/");
                        x.binary_media_types.retain(|b| *b != t);
                    }
                    _ => {
                        return Err(GError::BadRequest(format!("Invalid patch path {path}")));
                    }
                }
            }
            Ok(())
        })
        .map_err(err)?;
    ok(api_json(&api))
}

fn create_resource(a: &RestApis, id: &str, parent: &str, body: &Value) -> R {
    let part = opt_str(body, "pathPart").ok_or_else(|| bad("Invalid resource path part"))?;
    let (_, r) = a
        .change(id, |x| rest::add_resource(x, parent, &part))
        .map_err(err)?;
    created(resource_json(&r))
}

fn put_method(a: &RestApis, at: &MethodAt, body: &Value) -> R {
    let hm = method_name(&at.http_method)?;
    let auth =
        opt_str(body, "authorizationType").ok_or_else(|| bad("Invalid authorizationType"))?;
    let authorizer_id = opt_str(body, "authorizerId");
    match auth.as_str() {
        "NONE" => {}
        "CUSTOM" => {
            let id = authorizer_id
                .as_deref()
                .ok_or_else(|| bad("Invalid authorizer ID specified. Setting the authorization type to CUSTOM requires a valid authorizer."))?;
            let api = a.get(&at.api).map_err(err)?;
            if !api.authorizers.iter().any(|z| z.id == id) {
                return Err(bad(format!("Invalid authorizer ID specified: {id}")));
            }
        }
        _ => {
            return Err(bad(format!(
                "Authorization type {auth} is not supported by Nimbus's REST APIs yet; use NONE or CUSTOM (a Lambda authorizer)"
            )));
        }
    }
    let authorizer_id = authorizer_id.filter(|_| auth == "CUSTOM");
    let params: BTreeMap<String, bool> = body
        .get("requestParameters")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_bool().unwrap_or(false)))
                .collect()
        })
        .unwrap_or_default();
    let meth = rest::Method {
        http_method: hm.clone(),
        authorization_type: auth,
        authorizer_id,
        api_key_required: body
            .get("apiKeyRequired")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        request_parameters: params,
        responses: BTreeMap::new(),
        integration: None,
    };
    let stored = meth.clone();
    a.change(&at.api, |x| {
        x.resource_mut(&at.resource)?.methods.insert(hm, stored);
        Ok(())
    })
    .map_err(err)?;
    created(method_json(&meth))
}

/// The method `at` names, in `api`.
fn method_of<'a>(api: &'a RestApi, at: &MethodAt, hm: &str) -> Result<&'a rest::Method, ApiError> {
    api.resource(&at.resource)
        .map_err(err)?
        .methods
        .get(hm)
        .ok_or_else(|| err(no_method(hm)))
}

/// Change the method `at` names with `f`.
fn change_method(
    a: &RestApis,
    at: &MethodAt,
    hm: &str,
    f: impl FnOnce(&mut rest::Method) -> nimbus_gateway::Result<()>,
) -> Result<(), ApiError> {
    a.change(&at.api, |x| {
        let meth = x
            .resource_mut(&at.resource)?
            .methods
            .get_mut(hm)
            .ok_or_else(|| no_method(hm))?;
        f(meth)
    })
    .map_err(err)?;
    Ok(())
}

fn get_method(a: &RestApis, at: &MethodAt) -> R {
    let hm = method_name(&at.http_method)?;
    let api = a.get(&at.api).map_err(err)?;
    ok(method_json(method_of(&api, at, &hm)?))
}

fn delete_method(a: &RestApis, at: &MethodAt) -> R {
    let hm = method_name(&at.http_method)?;
    a.change(&at.api, |x| {
        x.resource_mut(&at.resource)?
            .methods
            .remove(&hm)
            .map(|_| ())
            .ok_or_else(|| no_method(&hm))
    })
    .map_err(err)?;
    Ok(no_content())
}

fn put_method_response(a: &RestApis, at: &MethodAt, code: &str, body: &Value) -> R {
    let hm = method_name(&at.http_method)?;
    let mut resp = body.clone();
    resp["statusCode"] = json!(code);
    let stored = resp.clone();
    change_method(a, at, &hm, |meth| {
        meth.responses.insert(code.to_string(), stored);
        Ok(())
    })?;
    created(resp)
}

fn no_integration() -> GError {
    GError::NotFound("No integration defined for method".into())
}

fn put_integration(a: &RestApis, at: &MethodAt, body: &Value) -> R {
    let hm = method_name(&at.http_method)?;
    let kind = opt_str(body, "type").ok_or_else(|| bad("Invalid integration type"))?;
    if kind == "MOCK" {
        return put_mock_integration(a, at, &hm, body);
    }
    if kind != "AWS_PROXY" {
        return Err(bad(format!(
            "Nimbus runs AWS_PROXY (Lambda proxy) and MOCK integrations; integration type {kind} is not supported"
        )));
    }
    let uri =
        opt_str(body, "uri").ok_or_else(|| bad("Enumeration value for Uri must be non-empty"))?;
    if opt_str(body, "integrationHttpMethod")
        .as_deref()
        .is_some_and(|x| x != "POST")
    {
        return Err(bad(
            "Lambda proxy integrations must use integrationHttpMethod POST",
        ));
    }
    let timeout = body
        .get("timeoutInMillis")
        .and_then(Value::as_u64)
        .unwrap_or(29_000);
    if !(50..=29_000).contains(&timeout) {
        return Err(bad("Timeout should be between 50 ms and 29000 ms"));
    }
    let integ = RestIntegration {
        kind,
        http_method: Some("POST".into()),
        uri: Some(uri),
        timeout_ms: timeout,
        passthrough: opt_str(body, "passthroughBehavior").unwrap_or_else(|| "WHEN_NO_MATCH".into()),
        responses: BTreeMap::new(),
        credentials: opt_str(body, "credentials"),
        request_templates: BTreeMap::new(),
    };
    let stored = integ.clone();
    change_method(a, at, &hm, |meth| {
        meth.integration = Some(stored);
        Ok(())
    })?;
    created(integration_json(&integ))
}

/// A `MOCK` integration: answered by the gateway itself from the integration
/// response its request template's `statusCode` selects.
fn put_mock_integration(a: &RestApis, at: &MethodAt, hm: &str, body: &Value) -> R {
    let templates: BTreeMap<String, String> = match body.get("requestTemplates") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| bad("requestTemplates must map content types to templates"))?,
    };
    let integ = RestIntegration {
        kind: "MOCK".into(),
        http_method: None,
        uri: None,
        timeout_ms: 29_000,
        passthrough: opt_str(body, "passthroughBehavior").unwrap_or_else(|| "WHEN_NO_MATCH".into()),
        responses: BTreeMap::new(),
        credentials: None,
        request_templates: templates,
    };
    let stored = integ.clone();
    change_method(a, at, hm, |meth| {
        meth.integration = Some(stored);
        Ok(())
    })?;
    created(integration_json(&integ))
}

fn get_integration(a: &RestApis, at: &MethodAt) -> R {
    let hm = method_name(&at.http_method)?;
    let api = a.get(&at.api).map_err(err)?;
    let meth = method_of(&api, at, &hm)?;
    let i = meth
        .integration
        .as_ref()
        .ok_or_else(|| err(no_integration()))?;
    ok(integration_json(i))
}

fn put_integration_response(a: &RestApis, at: &MethodAt, code: &str, body: &Value) -> R {
    let hm = method_name(&at.http_method)?;
    let mut resp = body.clone();
    resp["statusCode"] = json!(code);
    let stored = resp.clone();
    change_method(a, at, &hm, |meth| {
        let i = meth.integration.as_mut().ok_or_else(no_integration)?;
        i.responses.insert(code.to_string(), stored);
        Ok(())
    })?;
    created(resp)
}

fn create_deployment(a: &RestApis, id: &str, body: &Value) -> R {
    let (_, d) = a
        .change(id, |x| {
            rest::deploy(
                x,
                body.get("stageName").and_then(Value::as_str),
                opt_str(body, "description"),
                strings(body.get("variables")),
            )
        })
        .map_err(err)?;
    created(deployment_json(&d))
}

fn get_deployment(a: &RestApis, id: &str, did: &str) -> R {
    let api = a.get(id).map_err(err)?;
    ok(deployment_json(
        api.stages.find_deployment(did).map_err(err)?,
    ))
}

fn create_stage(a: &RestApis, id: &str, body: &Value) -> R {
    let name = opt_str(body, "stageName").ok_or_else(|| bad("Invalid stage name"))?;
    let did = opt_str(body, "deploymentId").ok_or_else(|| bad("Invalid deployment identifier"))?;
    let (_, s) = a
        .change(id, |x| {
            x.stages.create(
                &name,
                false,
                Some(did.clone()),
                strings(body.get("variables")),
                opt_str(body, "description"),
            )
        })
        .map_err(err)?;
    created(stage_json(&s))
}

fn get_stage(a: &RestApis, id: &str, name: &str) -> R {
    let api = a.get(id).map_err(err)?;
    ok(stage_json(api.stages.find(name).map_err(err)?))
}

fn update_stage(a: &RestApis, id: &str, name: &str, body: &Value) -> R {
    let (_, s) = a
        .change(id, |x| {
            x.stages.find(name)?;
            for (op, path, value) in patches(body) {
                if let ("replace", "/deploymentId") = (op.as_str(), path.as_str()) {
                    x.stages.point(name, &value.unwrap_or_default())?;
                    continue;
                }
                let s = x.stages.find_mut(name)?;
                match (op.as_str(), path.as_str()) {
                    ("replace", p) if p.starts_with("/variables/") => {
                        s.variables.insert(
                            p["/variables/".len()..].to_string(),
                            value.unwrap_or_default(),
                        );
                    }
                    ("remove", p) if p.starts_with("/variables/") => {
                        s.variables.remove(&p["/variables/".len()..]);
                    }
                    ("replace", "/description") => s.description = value,
                    _ => {
                        return Err(GError::BadRequest(format!("Invalid patch path {path}")));
                    }
                }
            }
            let s = x.stages.find_mut(name)?;
            s.modified_ms = nimbus_model::time::now_millis();
            Ok(s.clone())
        })
        .map_err(err)?;
    ok(stage_json(&s))
}

fn delete_stage(a: &RestApis, id: &str, name: &str) -> R {
    a.change(id, |x| x.stages.delete(name).map(|_| ()))
        .map_err(err)?;
    Ok(accepted())
}
