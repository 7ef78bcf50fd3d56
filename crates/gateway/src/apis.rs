//! HTTP APIs as API Gateway v2 models them: an API with routes, integrations,
//! stages and deployments. One versioned record per API in the KV store, and a
//! copy in memory for serving requests.
//!
//! A stage serves what its last deployment captured (routes and integrations);
//! a stage with `autoDeploy` serves the API as it is now.

use crate::http_events::check_route_key;
use crate::{Error, Result};
use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

const APIS: Table = Table("apigw_apis");
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Route {
    pub id: String,
    pub key: String,
    /// `integrations/{id}`, or None.
    pub target: Option<String>,
    pub authorization_type: String,
    pub authorizer_id: Option<String>,
    /// JWT routes: the token must grant one of these (`authorizationScopes`).
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Integration {
    pub id: String,
    /// `AWS_PROXY` (Lambda) is what Nimbus runs.
    pub kind: String,
    /// A function ARN (or name), possibly qualified.
    pub uri: String,
    /// `1.0` or `2.0`.
    pub payload_format: String,
    pub timeout_ms: u64,
    pub method: String,
}

/// What a deployment captured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Snapshot {
    pub routes: Vec<Route>,
    pub integrations: Vec<Integration>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stage {
    pub name: String,
    pub auto_deploy: bool,
    pub variables: BTreeMap<String, String>,
    pub description: Option<String>,
    pub deployment_id: Option<String>,
    /// What this stage serves when it does not auto-deploy.
    pub deployed: Option<Snapshot>,
    pub created_ms: u64,
    pub modified_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Deployment {
    pub id: String,
    pub description: Option<String>,
    pub created_ms: u64,
    pub auto_deployed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Api {
    pub format: u32,
    pub id: String,
    pub name: String,
    pub protocol: String,
    pub description: Option<String>,
    pub version: Option<String>,
    /// API Gateway's `corsConfiguration` as given.
    pub cors: Option<Value>,
    pub tags: BTreeMap<String, String>,
    pub disable_execute_api_endpoint: bool,
    pub created_ms: u64,
    pub routes: Vec<Route>,
    pub integrations: Vec<Integration>,
    pub stages: Vec<Stage>,
    pub deployments: Vec<Deployment>,
    #[serde(default)]
    pub authorizers: Vec<Authorizer>,
}

/// A JWT authorizer's `jwtConfiguration`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: Vec<String>,
}

/// An authorizer of an HTTP API: a function (`REQUEST`) or JWT validation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Authorizer {
    pub id: String,
    pub name: String,
    /// `REQUEST` (a function decides).
    pub kind: String,
    /// The function: `arn:aws:apigateway:...:lambda:path/.../functions/<arn>/invocations` or an ARN.
    pub uri: String,
    /// `$request.header.Authorization`, `$request.querystring.token`, ...
    pub identity_source: Vec<String>,
    /// `1.0` (IAM policy answers) or `2.0`.
    pub payload_format: String,
    /// 2.0 only: the function answers `{"isAuthorized": bool, "context": {...}}`.
    pub simple_responses: bool,
    /// How long an answer is reused for the same identity values (0: never).
    pub ttl_secs: u64,
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
}

impl Api {
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The routes and integrations a stage serves now.
    pub fn served(&self, stage: &Stage) -> Snapshot {
        if stage.auto_deploy {
            Snapshot {
                routes: self.routes.clone(),
                integrations: self.integrations.clone(),
            }
        } else {
            stage.deployed.clone().unwrap_or_default()
        }
    }
}

/// API Gateway's ids: 10 lower-case letters and digits.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

fn now() -> u64 {
    nimbus_model::time::now_millis()
}

pub struct Apis {
    records: Records<Api>,
}

impl Record for Api {
    fn key(&self) -> &str {
        &self.id
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl Apis {
    pub fn open(kv: Arc<dyn KvEngine>) -> Result<Apis> {
        Ok(Apis {
            records: Records::open(kv, APIS, FORMAT)?,
        })
    }

    pub fn get(&self, id: &str) -> Result<Arc<Api>> {
        self.records
            .get(id)
            .ok_or_else(|| Error::NotFound(format!("Invalid API identifier specified {id}")))
    }

    pub fn list(&self) -> Vec<Arc<Api>> {
        let mut all = self.records.all();
        all.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        all
    }

    fn store(&self, api: Api) -> Result<Arc<Api>> {
        Ok(self.records.put(api)?)
    }

    pub fn create(&self, mut api: Api) -> Result<Arc<Api>> {
        if api.protocol != "HTTP" {
            return Err(Error::BadRequest(format!(
                "Nimbus serves HTTP APIs; protocolType {} is not supported",
                api.protocol
            )));
        }
        api.format = FORMAT;
        api.id = new_id();
        api.created_ms = now();
        self.store(api)
    }

    /// Change an API with `f` (validated after) and store it.
    pub fn change<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Api) -> Result<T>,
    ) -> Result<(Arc<Api>, T)> {
        let current = self.get(id)?;
        let mut api = (*current).clone();
        let out = f(&mut api)?;
        // Auto-deploying stages record a deployment for each change.
        let auto: Vec<String> = api
            .stages
            .iter()
            .filter(|s| s.auto_deploy)
            .map(|s| s.name.clone())
            .collect();
        if !auto.is_empty() && *current != api {
            let d = Deployment {
                id: new_id(),
                description: Some(
                    "Automatic deployment triggered by changes to the Api configuration".into(),
                ),
                created_ms: now(),
                auto_deployed: true,
            };
            for s in api.stages.iter_mut().filter(|s| s.auto_deploy) {
                s.deployment_id = Some(d.id.clone());
            }
            api.deployments.push(d);
        }
        Ok((self.store(api)?, out))
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.get(id)?;
        self.records.delete(id)?;
        Ok(())
    }
}

/// Add a route (checked as CreateRoute checks it).
pub fn add_route(
    api: &mut Api,
    key: &str,
    target: Option<String>,
    auth: Option<String>,
    authorizer: Option<String>,
) -> Result<Route> {
    check_route_key(key).map_err(Error::BadRequest)?;
    if api.routes.iter().any(|r| r.key == key) {
        return Err(Error::Conflict(format!(
            "Route with key {key} already exists for this API"
        )));
    }
    check_authorization(api, auth.as_deref(), authorizer.as_deref())?;
    check_target(api, target.as_deref())?;
    let r = Route {
        id: new_id()[..7].to_string(),
        key: key.to_string(),
        target,
        authorization_type: auth.unwrap_or_else(|| "NONE".into()),
        authorizer_id: authorizer,
        scopes: Vec::new(),
    };
    api.routes.push(r.clone());
    Ok(r)
}

/// A route's `authorizationType` and `authorizerId` as Nimbus serves them:
/// `NONE`, or `CUSTOM` with one of the API's authorizers.
pub fn check_authorization(api: &Api, auth: Option<&str>, authorizer: Option<&str>) -> Result<()> {
    match auth.unwrap_or("NONE") {
        "NONE" => Ok(()),
        kind @ ("CUSTOM" | "JWT") => {
            let id = authorizer.ok_or_else(|| {
                Error::BadRequest(format!("AuthorizerId is required for {kind} authorization"))
            })?;
            let want = if kind == "JWT" { "JWT" } else { "REQUEST" };
            match api.authorizers.iter().find(|a| a.id == id) {
                Some(a) if a.kind == want => Ok(()),
                Some(_) => Err(Error::BadRequest(format!(
                    "Authorizer {id} is not a {want} authorizer, as {kind} authorization needs"
                ))),
                None => Err(Error::NotFound(format!(
                    "Invalid authorizer identifier specified {id}"
                ))),
            }
        }
        "AWS_IAM" => Err(Error::BadRequest(format!(
            "Authorization type {} is not supported by Nimbus yet; use NONE or CUSTOM",
            auth.unwrap_or_default()
        ))),
        other => Err(Error::BadRequest(format!(
            "Invalid authorization type {other}"
        ))),
    }
}

pub fn check_target(api: &Api, target: Option<&str>) -> Result<()> {
    if let Some(t) = target {
        let id = t.strip_prefix("integrations/").ok_or_else(|| {
            Error::BadRequest(format!(
                "Invalid target: {t}; targets have the form integrations/{{integrationId}}"
            ))
        })?;
        if !api.integrations.iter().any(|i| i.id == id) {
            return Err(Error::NotFound(format!(
                "Invalid integration identifier specified {id}"
            )));
        }
    }
    Ok(())
}

pub fn add_integration(
    api: &mut Api,
    kind: &str,
    uri: &str,
    payload_format: Option<&str>,
    timeout_ms: Option<u64>,
) -> Result<Integration> {
    if kind != "AWS_PROXY" {
        return Err(Error::BadRequest(format!(
            "Nimbus runs AWS_PROXY (Lambda) integrations; integrationType {kind} is not supported"
        )));
    }
    let payload_format = match payload_format {
        None => "2.0",
        Some(v @ ("1.0" | "2.0")) => v,
        Some(v) => {
            return Err(Error::BadRequest(format!(
                "Unsupported payload format version {v}: use 1.0 or 2.0"
            )));
        }
    };
    let timeout_ms = timeout_ms.unwrap_or(30_000);
    if !(50..=30_000).contains(&timeout_ms) {
        return Err(Error::BadRequest(
            "Timeout must be between 50 milliseconds and 30 seconds.".into(),
        ));
    }
    let i = Integration {
        id: new_id()[..7].to_string(),
        kind: kind.to_string(),
        uri: uri.to_string(),
        payload_format: payload_format.to_string(),
        timeout_ms,
        method: "POST".into(),
    };
    api.integrations.push(i.clone());
    Ok(i)
}

#[allow(clippy::too_many_arguments)]
pub fn add_authorizer(
    api: &mut Api,
    name: &str,
    kind: &str,
    uri: Option<&str>,
    identity_source: Vec<String>,
    payload_format: Option<&str>,
    simple_responses: bool,
    ttl_secs: Option<u64>,
    jwt: Option<JwtConfig>,
) -> Result<Authorizer> {
    match kind {
        "REQUEST" => {}
        "JWT" => {
            let cfg = jwt.ok_or_else(|| {
                Error::BadRequest("JwtConfiguration is required for a JWT authorizer".into())
            })?;
            if cfg.issuer.is_empty() || cfg.audience.is_empty() {
                return Err(Error::BadRequest(
                    "JwtConfiguration needs an Issuer and at least one Audience".into(),
                ));
            }
            let identity_source = if identity_source.is_empty() {
                vec!["$request.header.Authorization".to_string()]
            } else {
                identity_source
            };
            if identity_source.len() != 1 || !identity_source[0].starts_with("$request.header.") {
                return Err(Error::BadRequest(
                    "A JWT authorizer takes one identity source, a request header".into(),
                ));
            }
            let a = Authorizer {
                id: new_id()[..6].to_string(),
                name: name.to_string(),
                kind: "JWT".into(),
                uri: String::new(),
                identity_source,
                payload_format: String::new(),
                simple_responses: false,
                ttl_secs: 0,
                jwt: Some(cfg),
            };
            api.authorizers.push(a.clone());
            return Ok(a);
        }
        other => {
            return Err(Error::BadRequest(format!(
                "Invalid authorizer type {other}: use REQUEST or JWT"
            )));
        }
    }
    let uri = uri.ok_or_else(|| {
        Error::BadRequest("AuthorizerUri is required for a REQUEST authorizer".into())
    })?;
    let payload_format = payload_format.ok_or_else(|| {
        Error::BadRequest(
            "AuthorizerPayloadFormatVersion is required for a REQUEST authorizer".into(),
        )
    })?;
    if payload_format != "1.0" && payload_format != "2.0" {
        return Err(Error::BadRequest(format!(
            "Unsupported authorizer payload format version {payload_format}: use 1.0 or 2.0"
        )));
    }
    if simple_responses && payload_format != "2.0" {
        return Err(Error::BadRequest(
            "EnableSimpleResponses is only supported with payload format version 2.0".into(),
        ));
    }
    for s in &identity_source {
        if !(s.starts_with("$request.header.")
            || s.starts_with("$request.querystring.")
            || s.starts_with("$context.")
            || s.starts_with("$stageVariables."))
        {
            return Err(Error::BadRequest(format!(
                "Invalid identity source {s}: use $request.header.<name>, $request.querystring.<name>, $context.<name> or $stageVariables.<name>"
            )));
        }
    }
    let ttl = ttl_secs.unwrap_or(if identity_source.is_empty() { 0 } else { 300 });
    if ttl > 3600 {
        return Err(Error::BadRequest(
            "AuthorizerResultTtlInSeconds must be between 0 and 3600".into(),
        ));
    }
    if ttl > 0 && identity_source.is_empty() {
        return Err(Error::BadRequest(
            "Identity sources are required when caching is enabled".into(),
        ));
    }
    let a = Authorizer {
        id: new_id()[..6].to_string(),
        name: name.to_string(),
        kind: kind.to_string(),
        uri: uri.to_string(),
        identity_source,
        payload_format: payload_format.to_string(),
        simple_responses,
        ttl_secs: ttl,
        jwt: None,
    };
    api.authorizers.push(a.clone());
    Ok(a)
}

pub fn add_stage(
    api: &mut Api,
    name: &str,
    auto_deploy: bool,
    variables: BTreeMap<String, String>,
    description: Option<String>,
) -> Result<Stage> {
    let ok = name == "$default"
        || (!name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')));
    if !ok {
        return Err(Error::BadRequest(format!(
            "Stage name only allows a-zA-Z0-9_- (or $default); got {name}"
        )));
    }
    if api.stage(name).is_some() {
        return Err(Error::Conflict(format!("Stage {name} already exists")));
    }
    let t = now();
    let s = Stage {
        name: name.to_string(),
        auto_deploy,
        variables,
        description,
        deployment_id: None,
        deployed: None,
        created_ms: t,
        modified_ms: t,
    };
    api.stages.push(s.clone());
    Ok(s)
}

/// Deploy the API as it is now, to `stage` if given.
pub fn deploy(
    api: &mut Api,
    stage: Option<&str>,
    description: Option<String>,
) -> Result<Deployment> {
    let d = Deployment {
        id: new_id(),
        description,
        created_ms: now(),
        auto_deployed: false,
    };
    if let Some(name) = stage {
        let snapshot = Snapshot {
            routes: api.routes.clone(),
            integrations: api.integrations.clone(),
        };
        let s = api
            .stages
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::NotFound(format!("Invalid stage identifier specified {name}")))?;
        if s.auto_deploy {
            return Err(Error::BadRequest(format!(
                "Stage {name} is configured for auto-deploy: deployments are made automatically"
            )));
        }
        s.deployed = Some(snapshot);
        s.deployment_id = Some(d.id.clone());
        s.modified_ms = d.created_ms;
    }
    api.deployments.push(d.clone());
    Ok(d)
}
