//! The v2 operations on HTTP APIs (`/v2/apis`): one handler per [`Operation`]
//! variant, reading API Gateway v2's input shape and answering its output
//! shape (camelCase, ISO 8601 times, lists under `items`).
//!
//! [`Operation`]: crate::Operation

use crate::{ApiGatewayApi, R, bad, err, json_response, no_content, opt_str, strings};
use http::StatusCode;
use nimbus_gateway::Error as GError;
use nimbus_gateway::apis::{self, Api, Deployment, Integration, Route};
use nimbus_gateway::stages::{DEFAULT_STAGE, Stage};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn iso(ms: u64) -> String {
    nimbus_model::time::Utc::from_millis(ms).rfc3339_millis()
}

fn ok(v: Value) -> R {
    Ok(json_response(StatusCode::OK, v))
}

fn created(v: Value) -> R {
    Ok(json_response(StatusCode::CREATED, v))
}

fn list(items: Vec<Value>) -> Value {
    json!({ "items": items })
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
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
    let mut v = json!({
        "integrationId": i.id, "integrationType": i.kind, "integrationUri": i.uri,
        "payloadFormatVersion": i.payload_format, "timeoutInMillis": i.timeout_ms,
        "integrationMethod": i.method, "connectionType": "INTERNET",
    });
    if let Some(c) = &i.credentials_arn {
        v["credentialsArn"] = json!(c);
    }
    v
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

fn not_found(what: &str, id: &str) -> GError {
    GError::NotFound(format!("Invalid {what} identifier specified {id}"))
}

impl ApiGatewayApi {
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

    pub(crate) fn create_api(&self, body: &Value, host: &str) -> R {
        let a = &self.apis;
        let name = opt_str(body, "name").ok_or_else(|| bad("Name is required"))?;
        let protocol =
            opt_str(body, "protocolType").ok_or_else(|| bad("ProtocolType is required"))?;
        let api = a
            .create(Api {
                format: apis::FORMAT,
                id: String::new(),
                name,
                protocol,
                description: opt_str(body, "description"),
                version: opt_str(body, "version"),
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
                stages: Default::default(),
            })
            .map_err(err)?;
        // Quick create: an integration with the target, a route, and an
        // auto-deploying $default stage.
        let api = match opt_str(body, "target") {
            Some(target) => {
                let route_key = opt_str(body, "routeKey").unwrap_or_else(|| "$default".into());
                let id = api.id.clone();
                match a.change(&id, |x| {
                    let i =
                        apis::add_integration(x, "AWS_PROXY", &target, Some("2.0"), None, None)?;
                    apis::add_route(
                        x,
                        &route_key,
                        Some(format!("integrations/{}", i.id)),
                        None,
                        None,
                    )?;
                    x.stages
                        .create(DEFAULT_STAGE, true, None, BTreeMap::new(), None)?;
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
        created(self.api_json(&api, host))
    }

    pub(crate) fn get_apis(&self, host: &str) -> R {
        let all = self.apis.list();
        ok(list(all.iter().map(|x| self.api_json(x, host)).collect()))
    }

    pub(crate) fn get_api(&self, id: &str, host: &str) -> R {
        ok(self.api_json(&*self.apis.get(id).map_err(err)?, host))
    }

    pub(crate) fn update_api(&self, id: &str, body: &Value, host: &str) -> R {
        let (api, ()) = self
            .apis
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

    pub(crate) fn delete_api(&self, id: &str) -> R {
        self.apis.delete(id).map_err(err)?;
        Ok(no_content())
    }

    pub(crate) fn delete_cors_configuration(&self, id: &str) -> R {
        self.apis
            .change(id, |x| {
                x.cors = None;
                Ok(())
            })
            .map_err(err)?;
        Ok(no_content())
    }

    pub(crate) fn create_route(&self, id: &str, body: &Value) -> R {
        let key = opt_str(body, "routeKey").ok_or_else(|| bad("RouteKey is required"))?;
        let scopes = string_list(body.get("authorizationScopes"));
        let (_, r) = self
            .apis
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

    pub(crate) fn get_routes(&self, id: &str) -> R {
        let api = self.apis.get(id).map_err(err)?;
        ok(list(api.routes.iter().map(route_json).collect()))
    }

    pub(crate) fn get_route(&self, id: &str, rid: &str) -> R {
        let api = self.apis.get(id).map_err(err)?;
        let r = api.routes.iter().find(|r| r.id == rid);
        ok(route_json(r.ok_or_else(|| err(not_found("Route", rid)))?))
    }

    pub(crate) fn update_route(&self, id: &str, rid: &str, body: &Value) -> R {
        let (_, r) = self
            .apis
            .change(id, |x| {
                if let Some(t) = body.get("target") {
                    apis::check_target(x, t.as_str())?;
                }
                if let Some(k) = opt_str(body, "routeKey") {
                    nimbus_gateway::http_events::check_route_key(&k).map_err(GError::BadRequest)?;
                    if x.routes.iter().any(|r| r.key == k && r.id != rid) {
                        return Err(GError::Conflict(format!(
                            "Route with key {k} already exists for this API"
                        )));
                    }
                }
                let r = x
                    .routes
                    .iter_mut()
                    .find(|r| r.id == rid)
                    .ok_or_else(|| not_found("Route", rid))?;
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

    pub(crate) fn delete_route(&self, id: &str, rid: &str) -> R {
        self.apis
            .change(id, |x| {
                let before = x.routes.len();
                x.routes.retain(|r| r.id != rid);
                if x.routes.len() == before {
                    return Err(not_found("Route", rid));
                }
                Ok(())
            })
            .map_err(err)?;
        Ok(no_content())
    }

    pub(crate) fn create_integration(&self, id: &str, body: &Value) -> R {
        let kind =
            opt_str(body, "integrationType").ok_or_else(|| bad("IntegrationType is required"))?;
        let uri = opt_str(body, "integrationUri")
            .ok_or_else(|| bad("IntegrationUri is required for AWS_PROXY integrations"))?;
        let (_, i) = self
            .apis
            .change(id, |x| {
                apis::add_integration(
                    x,
                    &kind,
                    &uri,
                    body.get("payloadFormatVersion").and_then(Value::as_str),
                    body.get("timeoutInMillis").and_then(Value::as_u64),
                    body.get("credentialsArn").and_then(Value::as_str),
                )
            })
            .map_err(err)?;
        created(integration_json(&i))
    }

    pub(crate) fn get_integrations(&self, id: &str) -> R {
        let api = self.apis.get(id).map_err(err)?;
        ok(list(
            api.integrations.iter().map(integration_json).collect(),
        ))
    }

    pub(crate) fn get_integration(&self, id: &str, iid: &str) -> R {
        let api = self.apis.get(id).map_err(err)?;
        let i = api.integrations.iter().find(|i| i.id == iid);
        ok(integration_json(
            i.ok_or_else(|| err(not_found("Integration", iid)))?,
        ))
    }

    pub(crate) fn update_integration(&self, id: &str, iid: &str, body: &Value) -> R {
        let (_, i) = self
            .apis
            .change(id, |x| {
                let i = x
                    .integrations
                    .iter_mut()
                    .find(|i| i.id == iid)
                    .ok_or_else(|| not_found("Integration", iid))?;
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
                if let Some(c) = opt_str(body, "credentialsArn") {
                    i.credentials_arn = Some(c).filter(|c| !c.is_empty());
                }
                Ok(i.clone())
            })
            .map_err(err)?;
        ok(integration_json(&i))
    }

    pub(crate) fn delete_integration(&self, id: &str, iid: &str) -> R {
        self.apis
            .change(id, |x| {
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
                x.integrations.retain(|i| i.id != iid);
                if x.integrations.len() == before {
                    return Err(not_found("Integration", iid));
                }
                Ok(())
            })
            .map_err(err)?;
        Ok(no_content())
    }

    pub(crate) fn create_authorizer(&self, id: &str, body: &Value) -> R {
        let name = opt_str(body, "name").ok_or_else(|| bad("Name is required"))?;
        let kind =
            opt_str(body, "authorizerType").ok_or_else(|| bad("AuthorizerType is required"))?;
        let sources = string_list(body.get("identitySource"));
        let (_, x) = self
            .apis
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
                        audience: string_list(j.get("audience")),
                    }),
                )
            })
            .map_err(err)?;
        created(authorizer_json(&x))
    }

    pub(crate) fn get_authorizers(&self, id: &str) -> R {
        let api = self.apis.get(id).map_err(err)?;
        ok(list(api.authorizers.iter().map(authorizer_json).collect()))
    }

    pub(crate) fn get_authorizer(&self, id: &str, aid: &str) -> R {
        let api = self.apis.get(id).map_err(err)?;
        let x = api.authorizers.iter().find(|x| x.id == aid);
        ok(authorizer_json(
            x.ok_or_else(|| err(not_found("Authorizer", aid)))?,
        ))
    }

    pub(crate) fn delete_authorizer(&self, id: &str, aid: &str) -> R {
        self.apis
            .change(id, |api| {
                if api
                    .routes
                    .iter()
                    .any(|r| r.authorizer_id.as_deref() == Some(aid))
                {
                    return Err(GError::Conflict(format!(
                        "Authorizer {aid} is still used by a route"
                    )));
                }
                let before = api.authorizers.len();
                api.authorizers.retain(|x| x.id != aid);
                if api.authorizers.len() == before {
                    return Err(not_found("Authorizer", aid));
                }
                Ok(())
            })
            .map_err(err)?;
        Ok(no_content())
    }

    pub(crate) fn create_stage(&self, id: &str, body: &Value) -> R {
        let a = &self.apis;
        let name = opt_str(body, "stageName").ok_or_else(|| bad("StageName is required"))?;
        let (_, s) = a
            .change(id, |x| {
                x.stages.create(
                    &name,
                    body.get("autoDeploy")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    opt_str(body, "deploymentId"),
                    strings(body.get("stageVariables")),
                    opt_str(body, "description"),
                )
            })
            .map_err(err)?;
        // An auto-deploying stage has its first deployment now.
        let s = a
            .get(id)
            .map_err(err)?
            .stages
            .get(&s.name)
            .cloned()
            .unwrap_or(s);
        created(stage_json(&s))
    }

    pub(crate) fn get_stages(&self, id: &str) -> R {
        let api = self.apis.get(id).map_err(err)?;
        ok(list(api.stages.list().iter().map(stage_json).collect()))
    }

    pub(crate) fn get_stage(&self, id: &str, name: &str) -> R {
        let api = self.apis.get(id).map_err(err)?;
        ok(stage_json(api.stages.find(name).map_err(err)?))
    }

    pub(crate) fn update_stage(&self, id: &str, name: &str, body: &Value) -> R {
        let (_, s) = self
            .apis
            .change(id, |x| {
                let s = x.stages.find_mut(name)?;
                if let Some(d) = body.get("autoDeploy").and_then(Value::as_bool) {
                    s.auto_deploy = d;
                }
                if body.get("stageVariables").is_some() {
                    s.variables = strings(body.get("stageVariables"));
                }
                if let Some(d) = opt_str(body, "description") {
                    s.description = Some(d);
                }
                if let Some(d) = opt_str(body, "deploymentId") {
                    s.deployment_id = Some(d);
                }
                s.modified_ms = nimbus_model::time::now_millis();
                Ok(s.clone())
            })
            .map_err(err)?;
        ok(stage_json(&s))
    }

    pub(crate) fn delete_stage(&self, id: &str, name: &str) -> R {
        self.apis
            .change(id, |x| x.stages.delete(name).map(|_| ()))
            .map_err(err)?;
        Ok(no_content())
    }

    pub(crate) fn create_deployment(&self, id: &str, body: &Value) -> R {
        let (_, d) = self
            .apis
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

    pub(crate) fn get_deployments(&self, id: &str) -> R {
        let api = self.apis.get(id).map_err(err)?;
        let all = api.stages.deployments();
        ok(list(all.iter().map(deployment_json).collect()))
    }

    pub(crate) fn get_deployment(&self, id: &str, did: &str) -> R {
        let api = self.apis.get(id).map_err(err)?;
        ok(deployment_json(
            api.stages.find_deployment(did).map_err(err)?,
        ))
    }
}
