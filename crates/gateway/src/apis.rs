//! HTTP APIs as API Gateway v2 models them: an API with routes, integrations,
//! stages and deployments. One versioned record per API in the KV store, and a
//! copy in memory for serving requests.
//!
//! Stages and deployments are [`crate::stages`]'s: a deployment captures a
//! [`Snapshot`] (routes and integrations), which the stages pointing at it
//! serve; a stage with `autoDeploy` serves the API as it is now.

use crate::http_events::check_route_key;
use crate::stages::{self, Stage, Stages};
use crate::{Error, Result};
use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

const APIS: Table = Table("apigw_apis");
/// 2: a deployment keeps what it captured (format 1 kept it in the stage, as
/// `deployed`); see [`migrate`].
pub const FORMAT: u32 = 2;

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
    /// The role API Gateway invokes the function with (`CredentialsArn`);
    /// without one it acts as itself, as the function's policy allows.
    #[serde(default)]
    pub credentials_arn: Option<String>,
}

/// What a deployment captured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Snapshot {
    pub routes: Vec<Route>,
    pub integrations: Vec<Integration>,
}

/// A deployment of an HTTP API.
pub type Deployment = stages::Deployment<Snapshot>;

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
    /// Stored as the record's `stages` and `deployments`.
    #[serde(flatten)]
    pub stages: Stages<Snapshot>,
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
    /// The routes and integrations as they are now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            routes: self.routes.clone(),
            integrations: self.integrations.clone(),
        }
    }

    /// The routes and integrations a stage serves now.
    pub fn served(&self, stage: &Stage) -> Snapshot {
        if stage.auto_deploy {
            self.snapshot()
        } else {
            self.stages.captured(stage).cloned().unwrap_or_default()
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
            records: Records::open_migrating(kv, APIS, FORMAT, migrate)?,
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
        if *current != api {
            api.stages.auto_deploy();
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
    credentials_arn: Option<&str>,
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
        credentials_arn: credentials_arn.map(str::to_string),
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

/// Deploy the API as it is now, to `stage` if given.
pub fn deploy(
    api: &mut Api,
    stage: Option<&str>,
    description: Option<String>,
) -> Result<Deployment> {
    let snapshot = api.snapshot();
    api.stages.deploy(
        snapshot,
        description,
        stage,
        BTreeMap::new(),
        stages::Missing::Refuse,
    )
}

/// Read an API stored in an older format (format 1) as format 2: the
/// snapshot a stage served (its `deployed`) moves to the deployment it names.
/// A deployment two stages named with different snapshots (possible only
/// after toggling `autoDeploy`) is copied under a new id for the second.
pub fn migrate(found: u32, mut v: Value) -> nimbus_storage::Result<Value> {
    if found != 1 {
        return Err(nimbus_storage::Error::FormatMismatch {
            found,
            expected: FORMAT,
        });
    }
    let mut deployments: Vec<Value> = match v.get_mut("deployments").map(Value::take) {
        Some(Value::Array(d)) => d,
        _ => Vec::new(),
    };
    let empty = &mut Vec::new();
    let stages = match v.get_mut("stages") {
        Some(Value::Array(s)) => s,
        _ => empty,
    };
    for stage in stages.iter_mut().filter_map(Value::as_object_mut) {
        let Some(snapshot) = stage.remove("deployed").filter(|s| !s.is_null()) else {
            continue;
        };
        let named = stage.get("deployment_id").and_then(Value::as_str);
        let at = deployments
            .iter()
            .position(|d| named.is_some() && d.get("id").and_then(Value::as_str) == named);
        match at {
            Some(i) if deployments[i].get("captured").is_none_or(Value::is_null) => {
                deployments[i]["captured"] = snapshot;
            }
            Some(i) if deployments[i]["captured"] == snapshot => {}
            _ => {
                let id = new_id();
                let mut d = match at {
                    Some(i) => deployments[i].clone(),
                    None => serde_json::json!({
                        "description": null,
                        "created_ms": stage.get("modified_ms").cloned().unwrap_or(Value::from(0)),
                        "auto_deployed": false,
                    }),
                };
                d["id"] = Value::from(id.clone());
                d["captured"] = snapshot;
                deployments.push(d);
                stage.insert("deployment_id".into(), Value::from(id));
            }
        }
    }
    v["deployments"] = Value::Array(deployments);
    v["format"] = Value::from(FORMAT);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn apis_stored_in_format_1_are_migrated_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let kv: Arc<dyn KvEngine> = Arc::new(
            nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("m.redb")).unwrap(),
        );
        let route = |key: &str| {
            json!({"id": key, "key": key, "target": "integrations/i1",
                   "authorization_type": "NONE", "authorizer_id": null})
        };
        let integration = json!({"id": "i1", "kind": "AWS_PROXY", "uri": "f",
            "payload_format": "2.0", "timeout_ms": 30000, "method": "POST"});
        let stage = |name: &str, auto: bool, deployment: &str, deployed: Value| {
            json!({"name": name, "auto_deploy": auto, "variables": {"k": "v"},
                   "description": null, "deployment_id": deployment, "deployed": deployed,
                   "created_ms": 1, "modified_ms": 2})
        };
        let deployment = |id: &str, auto: bool| json!({"id": id, "description": null, "created_ms": 2, "auto_deployed": auto});
        // prod serves an older snapshot than the API's routes; beta names the
        // same deployment with another snapshot; $default auto-deploys.
        let old = json!({
            "format": 1, "id": "a1", "name": "n", "protocol": "HTTP", "description": null,
            "version": null, "cors": null, "tags": {}, "disable_execute_api_endpoint": false,
            "created_ms": 1,
            "routes": [route("GET /x"), route("POST /y")],
            "integrations": [integration],
            "stages": [
                stage("prod", false, "d1",
                      json!({"routes": [route("GET /x")], "integrations": [integration]})),
                stage("beta", false, "d1", json!({"routes": [], "integrations": []})),
                stage("$default", true, "d2", Value::Null),
            ],
            "deployments": [deployment("d1", false), deployment("d2", true)],
        });
        let mut b = nimbus_storage::WriteBatch::new();
        b.put(APIS, "a1", serde_json::to_vec(&old).unwrap());
        kv.commit(b).unwrap();

        let api = Apis::open(kv.clone()).unwrap().get("a1").unwrap();
        assert_eq!(api.format, FORMAT);
        let served = |name: &str| {
            let s = api.stages.find(name).unwrap();
            assert_eq!(s.variables["k"], "v");
            let keys: Vec<String> = api.served(s).routes.into_iter().map(|r| r.key).collect();
            keys
        };
        assert_eq!(served("prod"), ["GET /x"]);
        assert!(served("beta").is_empty());
        assert_eq!(served("$default"), ["GET /x", "POST /y"]);
        let prod = api.stages.find("prod").unwrap();
        assert_eq!(prod.deployment_id.as_deref(), Some("d1"));
        let beta = api.stages.find("beta").unwrap();
        assert_ne!(beta.deployment_id.as_deref(), Some("d1"));
        assert_eq!(api.stages.deployments().len(), 3);
        assert!(api.stages.find_deployment("d2").unwrap().captured.is_none());

        // Written back in the new shape: a plain open reads it.
        let stored: Value = serde_json::from_slice(&kv.get(APIS, b"a1").unwrap().unwrap()).unwrap();
        assert_eq!(stored["format"], FORMAT);
        assert!(stored["stages"][0].get("deployed").is_none(), "{stored}");
        let again: Records<Api> = Records::open(kv, APIS, FORMAT).unwrap();
        assert_eq!(*again.get("a1").unwrap(), *api);
    }
}
