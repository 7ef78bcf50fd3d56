//! The API Gateway v1 management API for REST APIs (REST-JSON under
//! `/restapis`): APIs, resources, methods and their integrations (and the
//! method and integration responses tools put beside them), deployments and
//! stages, in API Gateway's v1 shapes (lists under `item`, epoch-second times,
//! JSON Patch `patchOperations` for updates).

use crate::{bad, err, json_response, no_content};
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use nimbus_api_common::ApiError;
use nimbus_gateway::Error as GError;
use nimbus_gateway::rest::{self, RestApi, RestApis, RestDeployment, RestIntegration, RestStage};
use serde_json::{Value, json};
use std::collections::BTreeMap;

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

fn stage_json(s: &RestStage) -> Value {
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

pub fn handle(
    a: &RestApis,
    m: &Method,
    segs: &[&str],
    body: &Value,
) -> Result<Response<Bytes>, ApiError> {
    let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
    let created = |v: Value| Ok(json_response(StatusCode::CREATED, v));
    match (m, segs) {
        (&Method::POST, []) => {
            let name =
                opt_str(body, "name").ok_or_else(|| bad("Invalid REST API name specified"))?;
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
        (&Method::GET, []) => ok(items(a.list().iter().map(|x| api_json(x)).collect())),
        (_, [id, rest @ ..]) => api_op(a, m, id, rest, body),
        _ => Err(bad("Unknown REST API operation")),
    }
}

/// An operation on one API, routed by the resource it names.
fn api_op(
    a: &RestApis,
    m: &Method,
    id: &str,
    rest: &[&str],
    body: &Value,
) -> Result<Response<Bytes>, ApiError> {
    let op = match (rest.first().copied(), rest.get(2).copied()) {
        (Some("resources"), Some("methods")) => api_op_methods,
        (Some("resources"), _) => api_op_resources,
        (Some("deployments"), _) => api_op_deployments,
        (Some("stages"), _) => api_op_stages,
        _ => api_op_api,
    };
    op(a, m, id, rest, body)
}

/// Operations on the API itself (and its CORS configuration).
fn api_op_api(
    a: &RestApis,
    m: &Method,
    id: &str,
    rest: &[&str],
    body: &Value,
) -> Result<Response<Bytes>, ApiError> {
    let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
    match (m, rest) {
        (&Method::GET, []) => ok(api_json(&*a.get(id).map_err(err)?)),
        (&Method::PATCH, []) => {
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
                                return Err(GError::BadRequest(format!(
                                    "Invalid patch path {path}"
                                )));
                            }
                        }
                    }
                    Ok(())
                })
                .map_err(err)?;
            ok(api_json(&api))
        }
        (&Method::DELETE, []) => {
            a.delete(id).map_err(err)?;
            Ok(accepted())
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            format!(
                "Nimbus does not implement {m} on /restapis/{id}/{}",
                rest.join("/")
            ),
        )),
    }
}

/// Operations on the resource tree.
fn api_op_resources(
    a: &RestApis,
    m: &Method,
    id: &str,
    rest: &[&str],
    body: &Value,
) -> Result<Response<Bytes>, ApiError> {
    let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
    let created = |v: Value| Ok(json_response(StatusCode::CREATED, v));
    match (m, rest) {
        (&Method::GET, ["resources"]) => ok(items(
            a.get(id)
                .map_err(err)?
                .resources
                .iter()
                .map(resource_json)
                .collect(),
        )),
        (&Method::GET, ["resources", rid]) => ok(resource_json(
            a.get(id).map_err(err)?.resource(rid).map_err(err)?,
        )),
        (&Method::POST, ["resources", parent]) => {
            let part =
                opt_str(body, "pathPart").ok_or_else(|| bad("Invalid resource path part"))?;
            let (_, r) = a
                .change(id, |x| rest::add_resource(x, parent, &part))
                .map_err(err)?;
            created(resource_json(&r))
        }
        (&Method::DELETE, ["resources", rid]) => {
            a.change(id, |x| rest::remove_resource(x, rid))
                .map_err(err)?;
            Ok(accepted())
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            format!(
                "Nimbus does not implement {m} on /restapis/{id}/{}",
                rest.join("/")
            ),
        )),
    }
}

/// Operations on methods, their responses and integrations.
fn api_op_methods(
    a: &RestApis,
    m: &Method,
    id: &str,
    rest: &[&str],
    body: &Value,
) -> Result<Response<Bytes>, ApiError> {
    let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
    let created = |v: Value| Ok(json_response(StatusCode::CREATED, v));
    match (m, rest) {
        (&Method::PUT, ["resources", rid, "methods", hm]) => {
            let hm = method_name(hm)?;
            let auth = opt_str(body, "authorizationType")
                .ok_or_else(|| bad("Invalid authorizationType"))?;
            if auth != "NONE" {
                return Err(bad(format!(
                    "Authorization type {auth} is not supported by Nimbus's REST APIs yet; use NONE"
                )));
            }
            let params: BTreeMap<String, bool> = body
                .get("requestParameters")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_bool().unwrap_or(false)))
                        .collect()
                })
                .unwrap_or_default();
            let (_, meth) = a
                .change(id, |x| {
                    let r = x.resource_mut(rid)?;
                    let meth = rest::Method {
                        http_method: hm.clone(),
                        authorization_type: auth.clone(),
                        api_key_required: body
                            .get("apiKeyRequired")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                        request_parameters: params,
                        responses: BTreeMap::new(),
                        integration: None,
                    };
                    r.methods.insert(hm.clone(), meth.clone());
                    Ok(meth)
                })
                .map_err(err)?;
            created(method_json(&meth))
        }
        (&Method::GET, ["resources", rid, "methods", hm]) => {
            let hm = method_name(hm)?;
            let api = a.get(id).map_err(err)?;
            let meth = api
                .resource(rid)
                .map_err(err)?
                .methods
                .get(&hm)
                .ok_or_else(|| err(no_method(&hm)))?;
            ok(method_json(meth))
        }
        (&Method::DELETE, ["resources", rid, "methods", hm]) => {
            let hm = method_name(hm)?;
            a.change(id, |x| {
                x.resource_mut(rid)?
                    .methods
                    .remove(&hm)
                    .map(|_| ())
                    .ok_or_else(|| no_method(&hm))
            })
            .map_err(err)?;
            Ok(no_content())
        }
        (&Method::PUT, ["resources", rid, "methods", hm, "responses", code]) => {
            let hm = method_name(hm)?;
            let mut resp = body.clone();
            resp["statusCode"] = json!(code);
            let stored = resp.clone();
            a.change(id, |x| {
                let meth = x
                    .resource_mut(rid)?
                    .methods
                    .get_mut(&hm)
                    .ok_or_else(|| no_method(&hm))?;
                meth.responses.insert(code.to_string(), stored);
                Ok(())
            })
            .map_err(err)?;
            created(resp)
        }
        (&Method::PUT, ["resources", rid, "methods", hm, "integration"]) => {
            let hm = method_name(hm)?;
            let kind = opt_str(body, "type").ok_or_else(|| bad("Invalid integration type"))?;
            if kind != "AWS_PROXY" {
                return Err(bad(format!(
                    "Nimbus runs AWS_PROXY (Lambda proxy) integrations; integration type {kind} is not supported"
                )));
            }
            let uri = opt_str(body, "uri")
                .ok_or_else(|| bad("Enumeration value for Uri must be non-empty"))?;
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
                passthrough: opt_str(body, "passthroughBehavior")
                    .unwrap_or_else(|| "WHEN_NO_MATCH".into()),
                responses: BTreeMap::new(),
            };
            let stored = integ.clone();
            a.change(id, |x| {
                let meth = x
                    .resource_mut(rid)?
                    .methods
                    .get_mut(&hm)
                    .ok_or_else(|| no_method(&hm))?;
                meth.integration = Some(stored);
                Ok(())
            })
            .map_err(err)?;
            created(integration_json(&integ))
        }
        (&Method::GET, ["resources", rid, "methods", hm, "integration"]) => {
            let hm = method_name(hm)?;
            let api = a.get(id).map_err(err)?;
            let meth = api
                .resource(rid)
                .map_err(err)?
                .methods
                .get(&hm)
                .ok_or_else(|| err(no_method(&hm)))?;
            let i = meth
                .integration
                .as_ref()
                .ok_or_else(|| err(GError::NotFound("No integration defined for method".into())))?;
            ok(integration_json(i))
        }
        (
            &Method::PUT,
            [
                "resources",
                rid,
                "methods",
                hm,
                "integration",
                "responses",
                code,
            ],
        ) => {
            let hm = method_name(hm)?;
            let mut resp = body.clone();
            resp["statusCode"] = json!(code);
            let stored = resp.clone();
            a.change(id, |x| {
                let meth = x
                    .resource_mut(rid)?
                    .methods
                    .get_mut(&hm)
                    .ok_or_else(|| no_method(&hm))?;
                let i = meth
                    .integration
                    .as_mut()
                    .ok_or_else(|| GError::NotFound("No integration defined for method".into()))?;
                i.responses.insert(code.to_string(), stored);
                Ok(())
            })
            .map_err(err)?;
            created(resp)
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            format!(
                "Nimbus does not implement {m} on /restapis/{id}/{}",
                rest.join("/")
            ),
        )),
    }
}

/// Operations on its deployments.
fn api_op_deployments(
    a: &RestApis,
    m: &Method,
    id: &str,
    rest: &[&str],
    body: &Value,
) -> Result<Response<Bytes>, ApiError> {
    let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
    let created = |v: Value| Ok(json_response(StatusCode::CREATED, v));
    match (m, rest) {
        (&Method::POST, ["deployments"]) => {
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
        (&Method::GET, ["deployments"]) => ok(items(
            a.get(id)
                .map_err(err)?
                .deployments
                .iter()
                .map(deployment_json)
                .collect(),
        )),
        (&Method::GET, ["deployments", did]) => {
            let api = a.get(id).map_err(err)?;
            let d = api.deployment(did).ok_or_else(|| {
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
                "Nimbus does not implement {m} on /restapis/{id}/{}",
                rest.join("/")
            ),
        )),
    }
}

/// Operations on its stages.
fn api_op_stages(
    a: &RestApis,
    m: &Method,
    id: &str,
    rest: &[&str],
    body: &Value,
) -> Result<Response<Bytes>, ApiError> {
    let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
    let created = |v: Value| Ok(json_response(StatusCode::CREATED, v));
    match (m, rest) {
        (&Method::POST, ["stages"]) => {
            let name = opt_str(body, "stageName").ok_or_else(|| bad("Invalid stage name"))?;
            let did = opt_str(body, "deploymentId")
                .ok_or_else(|| bad("Invalid deployment identifier"))?;
            let (_, s) = a
                .change(id, |x| {
                    if x.deployment(&did).is_none() {
                        return Err(GError::NotFound(format!(
                            "Invalid Deployment identifier specified {did}"
                        )));
                    }
                    if x.stage(&name).is_some() {
                        return Err(GError::Conflict("Stage already exists".into()));
                    }
                    let t = nimbus_model::time::now_millis();
                    let s = RestStage {
                        name: name.clone(),
                        deployment_id: did.clone(),
                        description: opt_str(body, "description"),
                        variables: strings(body.get("variables")),
                        created_ms: t,
                        modified_ms: t,
                    };
                    x.stages.push(s.clone());
                    Ok(s)
                })
                .map_err(err)?;
            created(stage_json(&s))
        }
        (&Method::GET, ["stages"]) => ok(items(
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
                    "Invalid Stage identifier specified {name}"
                )))
            })?;
            ok(stage_json(s))
        }
        (&Method::PATCH, ["stages", name]) => {
            let (_, s) = a
                .change(id, |x| {
                    let known: Vec<String> = x.deployments.iter().map(|d| d.id.clone()).collect();
                    let s = x
                        .stages
                        .iter_mut()
                        .find(|s| s.name == *name)
                        .ok_or_else(|| {
                            GError::NotFound(format!("Invalid Stage identifier specified {name}"))
                        })?;
                    for (op, path, value) in patches(body) {
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
                            ("replace", "/deploymentId") => {
                                let d = value.unwrap_or_default();
                                if !known.contains(&d) {
                                    return Err(GError::NotFound(format!(
                                        "Invalid Deployment identifier specified {d}"
                                    )));
                                }
                                s.deployment_id = d;
                            }
                            _ => {
                                return Err(GError::BadRequest(format!(
                                    "Invalid patch path {path}"
                                )));
                            }
                        }
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
                        "Invalid Stage identifier specified {name}"
                    )));
                }
                Ok(())
            })
            .map_err(err)?;
            Ok(accepted())
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            format!(
                "Nimbus does not implement {m} on /restapis/{id}/{}",
                rest.join("/")
            ),
        )),
    }
}
