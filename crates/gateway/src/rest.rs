//! REST APIs as API Gateway v1 models them: a tree of resources (`/`,
//! `/items`, `/items/{id}`, `/{proxy+}`) with methods and their integrations,
//! deployments that capture the tree, and stages that serve a deployment with
//! stage variables (both [`crate::stages`]'s). One versioned record per API in
//! the KV store, and a copy in memory for serving.

use crate::stages::{self, Stages};
use crate::{Error, Result};
use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

const REST_APIS: Table = Table("apigw_restapis");
/// 2: stages and deployments are [`crate::stages`]'s (a deployment's tree is
/// its `captured`, format 1's `resources`); see [`migrate`].
pub const FORMAT: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestIntegration {
    /// `AWS_PROXY` is what Nimbus runs.
    pub kind: String,
    pub http_method: Option<String>,
    pub uri: Option<String>,
    pub timeout_ms: u64,
    pub passthrough: String,
    /// `PutIntegrationResponse` bodies by status code, kept as given.
    pub responses: BTreeMap<String, Value>,
    /// The role API Gateway invokes the function with (`credentials`).
    #[serde(default)]
    pub credentials: Option<String>,
    /// A `MOCK` integration's request templates by content type (its
    /// `statusCode` picks the integration response).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_templates: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Method {
    pub http_method: String,
    /// `NONE`, or `CUSTOM` (a Lambda authorizer: `authorizer_id`).
    pub authorization_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    pub api_key_required: bool,
    pub request_parameters: BTreeMap<String, bool>,
    /// `PutMethodResponse` bodies by status code, kept as given.
    pub responses: BTreeMap<String, Value>,
    pub integration: Option<RestIntegration>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Resource {
    pub id: String,
    pub parent_id: Option<String>,
    pub path_part: String,
    pub path: String,
    pub methods: BTreeMap<String, Method>,
}

/// A Lambda authorizer of a REST API (`TOKEN`: the function gets one header's
/// token; `REQUEST`: the request's parts).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestAuthorizer {
    pub id: String,
    pub name: String,
    /// `TOKEN` or `REQUEST`.
    pub kind: String,
    /// `arn:aws:apigateway:...:lambda:path/2015-03-31/functions/<arn>/invocations`.
    pub uri: String,
    /// `method.request.header.Authorization` (TOKEN), or a comma-separated
    /// list of `method.request.header.X`, `method.request.querystring.q`,
    /// `stageVariables.v`, `context.x` (REQUEST; may be empty: no caching).
    pub identity_source: String,
    /// TOKEN: a regular expression the token must match, else 401 unasked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_validation: Option<String>,
    /// How long an answer is reused for the same identity (0: never).
    pub ttl_secs: u64,
    /// The role API Gateway invokes the authorizer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
}

/// A TOKEN authorizer's `identityValidationExpression`, compiled to match a
/// whole token (API Gateway refuses a token that does not match with 401,
/// without calling the function).
pub fn token_pattern(
    expression: &str,
) -> std::result::Result<regex_automata::nfa::thompson::pikevm::PikeVM, String> {
    use regex_automata::nfa::thompson::{self, pikevm::PikeVM};
    if expression.len() > 1024 {
        return Err("the expression is longer than 1,024 characters".into());
    }
    // Bounded: a short pattern with nested repeats must not take the server's
    // memory (`(?:\w{1000}){100}` would, unbounded).
    PikeVM::builder()
        .thompson(thompson::Config::new().nfa_size_limit(Some(1 << 20)))
        .build(&format!("^(?:{expression})$"))
        .map_err(|e| e.to_string())
}

/// Whether `token` matches the validation `expression` (a bad expression
/// matches nothing).
pub fn token_matches(expression: &str, token: &str) -> bool {
    token_pattern(expression).is_ok_and(|re| {
        let mut cache = re.create_cache();
        re.is_match(&mut cache, token.as_bytes())
    })
}

/// A deployment of a REST API: the resource tree as deployed.
pub type RestDeployment = stages::Deployment<Vec<Resource>>;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestApi {
    pub format: u32,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub version: Option<String>,
    pub binary_media_types: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub created_ms: u64,
    pub root_id: String,
    pub resources: Vec<Resource>,
    /// Its Lambda authorizers (served as they are now, as API Gateway serves
    /// an authorizer's changes once deployed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorizers: Vec<RestAuthorizer>,
    /// Stored as the record's `stages` and `deployments`.
    #[serde(flatten)]
    pub stages: Stages<Vec<Resource>>,
}

impl RestApi {
    pub fn resource(&self, id: &str) -> Result<&Resource> {
        self.resources
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| Error::NotFound(format!("Invalid Resource identifier specified {id}")))
    }

    pub fn resource_mut(&mut self, id: &str) -> Result<&mut Resource> {
        self.resources
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or_else(|| Error::NotFound(format!("Invalid Resource identifier specified {id}")))
    }
}

fn now() -> u64 {
    nimbus_model::time::now_millis()
}

/// Check a path part as `CreateResource` does: `items`, `{id}`, `{proxy+}`.
pub fn check_path_part(part: &str) -> Result<()> {
    let bad = || {
        Error::BadRequest(format!(
            "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace; got {part}"
        ))
    };
    if part.is_empty() || part.len() > 512 {
        return Err(bad());
    }
    let inner = match part.strip_prefix('{') {
        Some(rest) => rest
            .strip_suffix('}')
            .map(|r| r.strip_suffix('+').unwrap_or(r))
            .ok_or_else(bad)?,
        None => part,
    };
    if inner.is_empty()
        || !inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
    {
        return Err(bad());
    }
    Ok(())
}

pub fn add_resource(api: &mut RestApi, parent_id: &str, part: &str) -> Result<Resource> {
    check_path_part(part)?;
    let parent = api.resource(parent_id)?.clone();
    if parent.path_part.ends_with("+}") {
        return Err(Error::BadRequest(
            "A greedy path variable must be the last part of a path".into(),
        ));
    }
    if api
        .resources
        .iter()
        .any(|r| r.parent_id.as_deref() == Some(parent_id) && r.path_part == part)
    {
        return Err(Error::Conflict(format!(
            "Another resource with the same parent already has this name: {part}"
        )));
    }
    let is_var = |p: &str| p.starts_with('{');
    if is_var(part)
        && api
            .resources
            .iter()
            .any(|r| r.parent_id.as_deref() == Some(parent_id) && is_var(&r.path_part))
    {
        return Err(Error::BadRequest(
            "A sibling ({...}) of this resource already has a variable path part -- only one is allowed".into(),
        ));
    }
    let path = if parent.path == "/" {
        format!("/{part}")
    } else {
        format!("{}/{part}", parent.path)
    };
    let r = Resource {
        id: crate::apis::new_id(),
        parent_id: Some(parent_id.to_string()),
        path_part: part.to_string(),
        path,
        methods: BTreeMap::new(),
    };
    api.resources.push(r.clone());
    Ok(r)
}

/// Remove a resource and everything under it.
pub fn remove_resource(api: &mut RestApi, id: &str) -> Result<()> {
    if id == api.root_id {
        return Err(Error::BadRequest(
            "The root resource cannot be deleted".into(),
        ));
    }
    let gone_path = api.resource(id)?.path.clone();
    api.resources
        .retain(|r| r.path != gone_path && !r.path.starts_with(&format!("{gone_path}/")));
    Ok(())
}

pub const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

/// What a `MOCK` integration answers, as API Gateway's mock does: the
/// request template's `statusCode` (200 without one) picks the integration
/// response whose `selectionPattern` names it, else the one without a
/// pattern; its status, the headers its `responseParameters` set to literals
/// (`'value'`), and its `application/json` template as the body. `None` when
/// no integration response is chosen (API Gateway's 500).
pub fn mock_answer(i: &RestIntegration) -> Option<MockAnswer> {
    let status = i
        .request_templates
        .get("application/json")
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| v.get("statusCode").and_then(Value::as_u64))
        .unwrap_or(200)
        .to_string();
    let pattern = |r: &Value| {
        r.get("selectionPattern")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
    };
    let chosen = i
        .responses
        .values()
        .find(|r| pattern(r).is_some_and(|p| selects(&p, &status)))
        .or_else(|| i.responses.values().find(|r| pattern(r).is_none()))?;
    let code = chosen
        .get("statusCode")
        .and_then(|c| {
            c.as_str()
                .map(str::to_string)
                .or_else(|| c.as_u64().map(|n| n.to_string()))
        })
        .and_then(|c| c.parse().ok())?;
    let headers = chosen
        .get("responseParameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("method.response.header.")?;
            let value = v.as_str()?.strip_prefix('\'')?.strip_suffix('\'')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    let body = chosen
        .get("responseTemplates")
        .and_then(|t| t.get("application/json"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(MockAnswer {
        status: code,
        headers,
        body,
    })
}

/// A selection pattern (a regular expression over the whole status code:
/// `200`, `2\d{2}`, `4\d{2}|5\d{2}`, `.*`) against a status code.
fn selects(pattern: &str, status: &str) -> bool {
    token_matches(pattern, status)
}

/// A mock integration's answer: see [`mock_answer`].
#[derive(Debug, Clone, PartialEq)]
pub struct MockAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// The route keys a deployed tree serves (`GET /items/{id}`), with the
/// resource and method each stands for.
pub fn route_keys(resources: &[Resource]) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        for m in r.methods.keys() {
            out.push((format!("{m} {}", r.path), i, m.clone()));
        }
    }
    out
}

pub struct RestApis {
    records: Records<RestApi>,
}

impl Record for RestApi {
    fn key(&self) -> &str {
        &self.id
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl RestApis {
    pub fn open(kv: Arc<dyn KvEngine>) -> Result<RestApis> {
        Ok(RestApis {
            records: Records::open_migrating(kv, REST_APIS, FORMAT, migrate)?,
        })
    }

    pub fn get(&self, id: &str) -> Result<Arc<RestApi>> {
        self.records
            .get(id)
            .ok_or_else(|| Error::NotFound(format!("Invalid API identifier specified {id}")))
    }

    pub fn list(&self) -> Vec<Arc<RestApi>> {
        let mut all = self.records.all();
        all.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        all
    }

    fn store(&self, api: RestApi) -> Result<Arc<RestApi>> {
        Ok(self.records.put(api)?)
    }

    pub fn create(
        &self,
        name: &str,
        description: Option<String>,
        binary: Vec<String>,
        tags: BTreeMap<String, String>,
    ) -> Result<Arc<RestApi>> {
        let root = Resource {
            id: crate::apis::new_id(),
            parent_id: None,
            path_part: String::new(),
            path: "/".into(),
            methods: BTreeMap::new(),
        };
        self.store(RestApi {
            format: FORMAT,
            id: crate::apis::new_id(),
            name: name.to_string(),
            description,
            version: None,
            binary_media_types: binary,
            tags,
            created_ms: now(),
            root_id: root.id.clone(),
            resources: vec![root],
            authorizers: Vec::new(),
            stages: Stages::default(),
        })
    }

    pub fn change<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut RestApi) -> Result<T>,
    ) -> Result<(Arc<RestApi>, T)> {
        let mut api = (*self.get(id)?).clone();
        let out = f(&mut api)?;
        Ok((self.store(api)?, out))
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.get(id)?;
        self.records.delete(id)?;
        Ok(())
    }
}

/// Deploy the tree as it is now, to `stage` if given (created if missing).
pub fn deploy(
    api: &mut RestApi,
    stage: Option<&str>,
    description: Option<String>,
    variables: BTreeMap<String, String>,
) -> Result<RestDeployment> {
    let has_methods = api.resources.iter().any(|r| !r.methods.is_empty());
    if !has_methods {
        return Err(Error::BadRequest(
            "The REST API doesn't contain any methods".into(),
        ));
    }
    let tree = api.resources.clone();
    api.stages
        .deploy(tree, description, stage, variables, stages::Missing::Create)
}

/// Read a REST API stored in an older format (format 1) as format 2: a
/// deployment's `resources` become its `captured`.
pub fn migrate(found: u32, mut v: Value) -> nimbus_storage::Result<Value> {
    if found != 1 {
        return Err(nimbus_storage::Error::FormatMismatch {
            found,
            expected: FORMAT,
        });
    }
    if let Some(Value::Array(deployments)) = v.get_mut("deployments") {
        for d in deployments.iter_mut().filter_map(Value::as_object_mut) {
            let tree = d.remove("resources").unwrap_or(Value::Null);
            d.insert("captured".into(), tree);
            d.insert("auto_deployed".into(), Value::Bool(false));
        }
    }
    v["format"] = Value::from(FORMAT);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mocks_answer_from_the_integration_response_their_template_selects() {
        let mut responses = BTreeMap::new();
        responses.insert(
            "200".to_string(),
            json!({"statusCode": "200", "responseTemplates": {"application/json": "{}"},
                   "responseParameters": {"method.response.header.Access-Control-Allow-Origin": "'*'",
                                          "method.response.header.X-From": "integration.response.header.x"}}),
        );
        responses.insert(
            "418".to_string(),
            json!({"statusCode": "418", "selectionPattern": "4\\d{2}"}),
        );
        let mut i = RestIntegration {
            kind: "MOCK".into(),
            http_method: None,
            uri: None,
            timeout_ms: 29_000,
            passthrough: "WHEN_NO_MATCH".into(),
            responses,
            credentials: None,
            request_templates: BTreeMap::new(),
        };
        let a = mock_answer(&i).unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(
            a.headers,
            [("Access-Control-Allow-Origin".to_string(), "*".to_string())]
        );
        assert_eq!(a.body.as_deref(), Some("{}"));
        i.request_templates
            .insert("application/json".into(), "{\"statusCode\": 404}".into());
        assert_eq!(mock_answer(&i).unwrap().status, 418);
        assert!(selects("2\\d{2}", "204") && selects(".*", "500") && !selects("200", "201"));
        assert!(selects("4\\d{2}|5\\d{2}", "503") && !selects("4\\d{2}|5\\d{2}", "200"));
        assert!(
            !selects("2{99999999999}", "200"),
            "a huge repeat is refused, not built"
        );
        assert!(
            token_pattern("(?:\\w{1000}){100}").is_err(),
            "a pattern whose automaton would be huge is refused"
        );
        i.responses.retain(|k, _| k == "418");
        i.request_templates.clear();
        assert_eq!(
            mock_answer(&i),
            None,
            "no default response: API Gateway's 500"
        );
    }

    fn api() -> RestApi {
        RestApi {
            format: FORMAT,
            id: "a".into(),
            name: "n".into(),
            description: None,
            version: None,
            binary_media_types: vec![],
            tags: BTreeMap::new(),
            created_ms: 0,
            root_id: "root".into(),
            resources: vec![Resource {
                id: "root".into(),
                parent_id: None,
                path_part: String::new(),
                path: "/".into(),
                methods: BTreeMap::new(),
            }],
            authorizers: Vec::new(),
            stages: Stages::default(),
        }
    }

    #[test]
    fn resource_trees_are_checked_as_api_gateway_does() {
        let mut a = api();
        let items = add_resource(&mut a, "root", "items").unwrap();
        let id = add_resource(&mut a, &items.id, "{id}").unwrap();
        assert_eq!(id.path, "/items/{id}");
        assert!(matches!(
            add_resource(&mut a, "root", "items"),
            Err(Error::Conflict(_))
        ));
        assert!(add_resource(&mut a, &items.id, "{other}").is_err());
        let proxy = add_resource(&mut a, "root", "{proxy+}").unwrap();
        assert!(add_resource(&mut a, &proxy.id, "below").is_err());
        for bad in ["", "a/b", "{", "{}", "a b", "{x+"] {
            assert!(check_path_part(bad).is_err(), "{bad}");
        }
        assert!(deploy(&mut a, Some("prod"), None, BTreeMap::new()).is_err());
        remove_resource(&mut a, &items.id).unwrap();
        assert_eq!(a.resources.len(), 2);
        assert!(remove_resource(&mut a, "root").is_err());
    }

    #[test]
    fn rest_apis_stored_in_format_1_are_migrated_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let kv: Arc<dyn KvEngine> = Arc::new(
            nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("m.redb")).unwrap(),
        );
        let root = json!({"id": "root", "parent_id": null, "path_part": "", "path": "/",
            "methods": {"GET": {"http_method": "GET", "authorization_type": "NONE",
                "api_key_required": false, "request_parameters": {}, "responses": {},
                "integration": null}}});
        let old = json!({
            "format": 1, "id": "r1", "name": "n", "description": null, "version": null,
            "binary_media_types": [], "tags": {}, "created_ms": 1, "root_id": "root",
            "resources": [root],
            "deployments": [{"id": "d1", "description": "first", "created_ms": 2,
                             "resources": [root]}],
            "stages": [{"name": "prod", "deployment_id": "d1", "description": null,
                        "variables": {"k": "v"}, "created_ms": 2, "modified_ms": 3}],
        });
        let mut b = nimbus_storage::WriteBatch::new();
        b.put(REST_APIS, "r1", serde_json::to_vec(&old).unwrap());
        kv.commit(b).unwrap();

        let api = RestApis::open(kv.clone()).unwrap().get("r1").unwrap();
        assert_eq!(api.format, FORMAT);
        let prod = api.stages.find("prod").unwrap();
        assert_eq!(prod.deployment_id.as_deref(), Some("d1"));
        assert_eq!(prod.variables["k"], "v");
        assert!(!prod.auto_deploy);
        let tree = api.stages.captured(prod).unwrap();
        assert_eq!(route_keys(tree)[0].0, "GET /");
        assert_eq!(
            api.stages
                .find_deployment("d1")
                .unwrap()
                .description
                .as_deref(),
            Some("first")
        );
        let stored: Value =
            serde_json::from_slice(&kv.get(REST_APIS, b"r1").unwrap().unwrap()).unwrap();
        assert_eq!(stored["format"], FORMAT);
        assert!(
            stored["deployments"][0].get("resources").is_none(),
            "{stored}"
        );
        let again: Records<RestApi> = Records::open(kv, REST_APIS, FORMAT).unwrap();
        assert_eq!(*again.get("r1").unwrap(), *api);
    }
}
