//! API destinations: HTTP endpoints as rule targets. A connection holds how
//! to authorize (`BASIC` or `API_KEY`) and the headers, query string and
//! body members every call carries; an API destination names a connection,
//! an endpoint (`*` in its path filled from the target's
//! `PathParameterValues`) and a method. A matched event becomes a durable
//! `webhooks` request in the batch that acknowledges it; the event service
//! judges its failures: a client error is final, anything else is retried
//! with a growing wait within the target's `RetryPolicy`
//! (`MaximumRetryAttempts`, `MaximumEventAgeInSeconds`), and an event given
//! up goes to the target's dead-letter queue.

use crate::{Error, Events, Result, Rule, Target};
use nimbus_invoke::permissions::Acting;
use nimbus_invoke::{Delivery, Staged};
use nimbus_model::time::now_millis;
use nimbus_storage::WriteBatch;
use nimbus_storage::records::Record;
use nimbus_webhooks::{Failure, Owner, Request};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// The owner name of EventBridge's requests.
pub(crate) const OWNER: &str = "events";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub format: u32,
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    /// `BASIC` or `API_KEY`.
    pub authorization_type: String,
    /// `AuthParameters` as given (secrets included; never shown).
    pub auth: Value,
    /// `AUTHORIZED` or `DEAUTHORIZED`.
    pub state: String,
    pub created_ms: u64,
    pub modified_ms: u64,
    pub authorized_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiDestination {
    pub format: u32,
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub connection_arn: String,
    pub endpoint: String,
    pub method: String,
    pub rate_limit: Option<u64>,
    pub created_ms: u64,
    pub modified_ms: u64,
}

impl Record for Connection {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl Record for ApiDestination {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

/// What `CreateConnection` / `UpdateConnection` give.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInput {
    pub name: String,
    pub description: Option<String>,
    pub authorization_type: Option<String>,
    pub auth: Option<Value>,
}

/// What `CreateApiDestination` / `UpdateApiDestination` give.
#[derive(Debug, Clone, Default)]
pub struct DestinationInput {
    pub name: String,
    pub description: Option<String>,
    pub connection_arn: Option<String>,
    pub endpoint: Option<String>,
    pub method: Option<String>,
    pub rate_limit: Option<u64>,
}

const METHODS: [&str; 7] = ["POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"];

fn invalid(m: impl Into<String>) -> Error {
    Error::Invalid(m.into())
}

/// Check a connection's authorization, as `CreateConnection` does.
fn check_auth(kind: &str, auth: &Value) -> Result<()> {
    let has = |path: &str| auth.pointer(path).and_then(Value::as_str).is_some();
    match kind {
        "BASIC" if has("/BasicAuthParameters/Username") && has("/BasicAuthParameters/Password") => {
            Ok(())
        }
        "API_KEY"
            if has("/ApiKeyAuthParameters/ApiKeyName")
                && has("/ApiKeyAuthParameters/ApiKeyValue") =>
        {
            Ok(())
        }
        "BASIC" | "API_KEY" => Err(invalid(format!(
            "The AuthParameters of a {kind} connection must include {}.",
            if kind == "BASIC" {
                "BasicAuthParameters with Username and Password"
            } else {
                "ApiKeyAuthParameters with ApiKeyName and ApiKeyValue"
            }
        ))),
        "OAUTH_CLIENT_CREDENTIALS" if crate::oauth::complete(auth) => Ok(()),
        "OAUTH_CLIENT_CREDENTIALS" => Err(invalid(
            "The AuthParameters of an OAUTH_CLIENT_CREDENTIALS connection must include OAuthParameters with ClientParameters (ClientID and ClientSecret), AuthorizationEndpoint and HttpMethod (GET, POST or PUT).",
        )),
        other => Err(invalid(format!(
            "1 validation error detected: Value '{other}' at 'authorizationType' failed to satisfy constraint: Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]"
        ))),
    }
}

impl Events {
    fn scoped(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:aws:events:{}:{}:{kind}/{name}/{}",
            self.region,
            self.account,
            uuid::Uuid::new_v4()
        )
    }

    pub fn create_connection(&self, c: ConnectionInput) -> Result<std::sync::Arc<Connection>> {
        if self.connections.get(&c.name).is_some() {
            return Err(Error::AlreadyExists(format!(
                "Connection {} already exists.",
                c.name
            )));
        }
        let kind = c.authorization_type.unwrap_or_default();
        let auth = c.auth.unwrap_or(Value::Null);
        check_auth(&kind, &auth)?;
        let now = now_millis();
        self.connections.put(Connection {
            format: 1,
            arn: self.scoped("connection", &c.name),
            name: c.name.clone(),
            description: c.description,
            authorization_type: kind,
            auth,
            state: "AUTHORIZED".into(),
            created_ms: now,
            modified_ms: now,
            authorized_ms: now,
        })?;
        self.connection(&c.name)
    }

    pub fn connection(&self, name: &str) -> Result<std::sync::Arc<Connection>> {
        self.connections.get(name).ok_or_else(|| {
            Error::NotFound(format!(
                "Failed to describe the connection(s). Connection '{name}' does not exist."
            ))
        })
    }

    pub fn connections(&self, prefix: Option<&str>) -> Vec<std::sync::Arc<Connection>> {
        let mut v: Vec<_> = self
            .connections
            .all()
            .into_iter()
            .filter(|c| prefix.is_none_or(|p| c.name.starts_with(p)))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn update_connection(&self, c: ConnectionInput) -> Result<std::sync::Arc<Connection>> {
        let mut next = (*self.connection(&c.name)?).clone();
        if let Some(d) = c.description {
            next.description = Some(d);
        }
        if let Some(k) = c.authorization_type {
            next.authorization_type = k;
        }
        if let Some(given @ Value::Object(_)) = c.auth {
            // Given members replace the old ones, however deep (secrets stay
            // unless given).
            merge(&mut next.auth, given);
        }
        check_auth(&next.authorization_type, &next.auth)?;
        self.oauth_tokens.forget(&next.arn);
        next.state = "AUTHORIZED".into();
        next.modified_ms = now_millis();
        next.authorized_ms = next.modified_ms;
        self.connections.put(next)?;
        self.connection(&c.name)
    }

    /// `DeauthorizeConnection`: its calls fail until it is updated.
    pub fn deauthorize_connection(&self, name: &str) -> Result<std::sync::Arc<Connection>> {
        let mut next = (*self.connection(name)?).clone();
        next.state = "DEAUTHORIZED".into();
        next.modified_ms = now_millis();
        self.oauth_tokens.forget(&next.arn);
        self.connections.put(next)?;
        self.connection(name)
    }

    pub fn delete_connection(&self, name: &str) -> Result<std::sync::Arc<Connection>> {
        let c = self.connection(name)?;
        self.connections.delete(name)?;
        Ok(c)
    }

    pub fn create_api_destination(
        &self,
        d: DestinationInput,
    ) -> Result<std::sync::Arc<ApiDestination>> {
        if self.destinations.get(&d.name).is_some() {
            return Err(Error::AlreadyExists(format!(
                "An api-destination '{}' already exists.",
                d.name
            )));
        }
        let now = now_millis();
        let next = ApiDestination {
            format: 1,
            arn: self.scoped("api-destination", &d.name),
            name: d.name.clone(),
            description: d.description,
            connection_arn: d.connection_arn.unwrap_or_default(),
            endpoint: d.endpoint.unwrap_or_default(),
            method: d.method.unwrap_or_default(),
            rate_limit: d.rate_limit,
            created_ms: now,
            modified_ms: now,
        };
        self.check_destination(&next)?;
        self.destinations.put(next)?;
        self.api_destination(&d.name)
    }

    fn check_destination(&self, d: &ApiDestination) -> Result<()> {
        if !self
            .connections
            .all()
            .iter()
            .any(|c| c.arn == d.connection_arn)
        {
            return Err(Error::NotFound(format!(
                "Connection '{}' does not exist.",
                d.connection_arn
            )));
        }
        if !METHODS.contains(&d.method.as_str()) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{}' at 'httpMethod' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                d.method,
                METHODS.join(", ")
            )));
        }
        if !(d.endpoint.starts_with("https://") || d.endpoint.starts_with("http://")) {
            return Err(invalid(format!(
                "The invocation endpoint {} is not an http(s):// URL.",
                d.endpoint
            )));
        }
        Ok(())
    }

    pub fn api_destination(&self, name: &str) -> Result<std::sync::Arc<ApiDestination>> {
        self.destinations
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("An api-destination '{name}' does not exist.")))
    }

    pub fn api_destinations(
        &self,
        prefix: Option<&str>,
        connection: Option<&str>,
    ) -> Vec<std::sync::Arc<ApiDestination>> {
        let mut v: Vec<_> = self
            .destinations
            .all()
            .into_iter()
            .filter(|d| prefix.is_none_or(|p| d.name.starts_with(p)))
            .filter(|d| connection.is_none_or(|c| d.connection_arn == c))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn update_api_destination(
        &self,
        d: DestinationInput,
    ) -> Result<std::sync::Arc<ApiDestination>> {
        let mut next = (*self.api_destination(&d.name)?).clone();
        if let Some(x) = d.description {
            next.description = Some(x);
        }
        if let Some(x) = d.connection_arn {
            next.connection_arn = x;
        }
        if let Some(x) = d.endpoint {
            next.endpoint = x;
        }
        if let Some(x) = d.method {
            next.method = x;
        }
        if d.rate_limit.is_some() {
            next.rate_limit = d.rate_limit;
        }
        self.check_destination(&next)?;
        next.modified_ms = now_millis();
        self.destinations.put(next)?;
        self.api_destination(&d.name)
    }

    pub fn delete_api_destination(&self, name: &str) -> Result<()> {
        self.api_destination(name)?;
        self.destinations.delete(name)?;
        Ok(())
    }

    /// The destination an API destination target's ARN names.
    pub(crate) fn destination_by_arn(&self, arn: &str) -> Option<std::sync::Arc<ApiDestination>> {
        self.destinations.all().into_iter().find(|d| d.arn == arn)
    }

    /// Stage the call of API destination target `t` with `payload` (the
    /// target's input), or say why not (a dead-letter error code and why).
    pub(crate) fn stage_call(
        &self,
        rule: &Rule,
        t: &Target,
        event: &Value,
        payload: &str,
        batch: &mut WriteBatch,
    ) -> std::result::Result<Staged, (&'static str, String)> {
        let hooks = self.webhooks.as_ref().ok_or((
            "INTERNAL_ERROR",
            "API destinations need the server's webhooks".to_string(),
        ))?;
        let d = self
            .destination_by_arn(&t.arn)
            .ok_or(("RESOURCE_NOT_FOUND", format!("{} does not exist", t.arn)))?;
        let c = self
            .connections
            .all()
            .into_iter()
            .find(|c| c.arn == d.connection_arn)
            .ok_or((
                "RESOURCE_NOT_FOUND",
                format!("{} does not exist", d.connection_arn),
            ))?;
        if c.state != "AUTHORIZED" {
            return Err((
                "NO_PERMISSIONS",
                format!("connection {} is {}", c.name, c.state),
            ));
        }
        let http = t.extra.get("HttpParameters");
        let mut url = d.endpoint.clone();
        for v in http
            .and_then(|h| h.get("PathParameterValues"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            url = url.replacen('*', v, 1);
        }
        let invocation = c.auth.get("InvocationHttpParameters");
        let pairs = |v: Option<&Value>| -> Vec<(String, String)> {
            v.and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    Some((
                        p.get("Key")?.as_str()?.to_string(),
                        p.get("Value")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        };
        let map = |v: Option<&Value>| -> Vec<(String, String)> {
            v.and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        };
        let mut query = pairs(invocation.and_then(|i| i.get("QueryStringParameters")));
        query.extend(map(http.and_then(|h| h.get("QueryStringParameters"))));
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&q.join("&"));
        }
        // Body members of the connection join a JSON object body.
        let mut body = payload.to_string();
        let extra_body = pairs(invocation.and_then(|i| i.get("BodyParameters")));
        if !extra_body.is_empty()
            && let Ok(Value::Object(mut o)) = serde_json::from_str::<Value>(payload)
        {
            for (k, v) in extra_body {
                o.insert(k, Value::String(v));
            }
            body = Value::Object(o).to_string();
        }
        let retry = t.extra.get("RetryPolicy");
        let context = json!({
            "rule": rule.arn, "target": t.arn, "event": event,
            "dlq": t.extra.get("DeadLetterConfig").and_then(|d| d.get("Arn")),
            "maxAttempts": retry.and_then(|r| r.get("MaximumRetryAttempts")).and_then(Value::as_u64).unwrap_or(185),
            "maxAgeSeconds": retry.and_then(|r| r.get("MaximumEventAgeInSeconds")).and_then(Value::as_u64).unwrap_or(86_400),
        });
        let mut r = Request::new(OWNER, &d.method, &url, body, context)
            .header("content-type", "application/json; charset=utf-8")
            .header("user-agent", "Amazon/EventBridge/ApiDestinations");
        match c.authorization_type.as_str() {
            "BASIC" => {
                use base64::Engine as _;
                let user = c
                    .auth
                    .pointer("/BasicAuthParameters/Username")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let pass = c
                    .auth
                    .pointer("/BasicAuthParameters/Password")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                r = r.header("authorization", &format!("Basic {token}"));
            }
            "OAUTH_CLIENT_CREDENTIALS" => {
                // The token is added when the call is made (`oauth::call`).
                r.context["oauth"] = json!(c.arn);
            }
            _ => {
                let name = c
                    .auth
                    .pointer("/ApiKeyAuthParameters/ApiKeyName")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let value = c
                    .auth
                    .pointer("/ApiKeyAuthParameters/ApiKeyValue")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                r = r.header(name, value);
            }
        }
        for (k, v) in pairs(invocation.and_then(|i| i.get("HeaderParameters")))
            .into_iter()
            .chain(map(http.and_then(|h| h.get("HeaderParameters"))))
        {
            r = r.header(&k, &v);
        }
        Ok(Staged::new(StagedCall(hooks.stage(r, batch))))
    }
}

/// `given`'s members into `kept`: objects member by member, anything else
/// replaced.
fn merge(kept: &mut Value, given: Value) {
    match (kept, given) {
        (Value::Object(k), Value::Object(g)) => {
            for (name, v) in g {
                merge(k.entry(name).or_insert(Value::Null), v);
            }
        }
        (k, g) => *k = g,
    }
}

/// An API destination call staged in a batch.
pub(crate) struct StagedCall(pub nimbus_webhooks::StagedRequest);

/// `%XX` for everything but unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Owner for Events {
    fn retry(&self, r: &Request, why: &Failure) -> Option<Duration> {
        if !why.retriable() {
            return None;
        }
        let max_attempts = r
            .context
            .get("maxAttempts")
            .and_then(Value::as_u64)
            .unwrap_or(185);
        let max_age_ms = r
            .context
            .get("maxAgeSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(86_400)
            * 1000;
        let wait = Duration::from_secs((1u64 << r.attempts.min(8)).min(300));
        let age =
            now_millis().saturating_sub(r.first_ms) + u64::try_from(wait.as_millis()).unwrap_or(0);
        // `MaximumRetryAttempts` counts retries: the first try is not one.
        (u64::from(r.attempts) <= max_attempts && age <= max_age_ms).then_some(wait)
    }

    fn give_up(&self, r: &Request, why: &Failure, batch: &mut WriteBatch) -> Vec<Staged> {
        if r.owner == crate::universal::OWNER {
            return self.give_up_universal(r, why, batch);
        }
        let mut staged = Vec::new();
        let Some(dlq) = r.context.get("dlq").and_then(Value::as_str) else {
            return staged;
        };
        let body = r
            .context
            .get("event")
            .map(Value::to_string)
            .unwrap_or_default();
        let text = |k: &str| {
            r.context
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let code = if why.status.is_some() {
            "ERROR_FROM_TARGET"
        } else {
            "CONNECTION_FAILURE"
        };
        let mut d = Delivery::new(body.as_bytes(), None)
            .attribute("RULE_ARN", text("rule"))
            .attribute("TARGET_ARN", text("target"))
            .attribute("ERROR_CODE", code)
            .attribute("ERROR_MESSAGE", why.message.clone())
            .attribute("RETRY_ATTEMPTS", (r.attempts.saturating_sub(1)).to_string());
        if why.retriable() {
            let max_attempts = r
                .context
                .get("maxAttempts")
                .and_then(Value::as_u64)
                .unwrap_or(185);
            let condition = if u64::from(r.attempts) > max_attempts {
                "MaximumRetryAttempts"
            } else {
                "MaximumEventAgeInSeconds"
            };
            d = d.attribute("EXHAUSTED_RETRY_CONDITION", condition);
        }
        // As for any rule target: sent as EventBridge for the rule, which the
        // queue's policy must let in.
        let rule = text("rule");
        let acting = Acting::Service {
            service: "events.amazonaws.com",
            source_arn: &rule,
            source_account: &self.account,
        };
        staged.extend(self.stage_dead_letter(acting, dlq, &d, batch));
        staged
    }

    fn committed(&self, staged: Vec<Staged>) {
        if !staged.is_empty() {
            self.outbox.committed(staged);
        }
    }

    fn send(
        &self,
        r: &Request,
    ) -> Option<nimbus_webhooks::BoxFuture<std::result::Result<(), Failure>>> {
        if r.owner == crate::universal::OWNER {
            return Some(self.call_universal(r));
        }
        let connection = r.context.get("oauth")?.as_str()?;
        let failed = |m: String| -> nimbus_webhooks::BoxFuture<std::result::Result<(), Failure>> {
            Box::pin(async move { Err(Failure::answered(400, m)) })
        };
        Some(
            match self
                .connections
                .all()
                .into_iter()
                .find(|c| c.arn == connection)
            {
                Some(c) if c.state == "AUTHORIZED" => crate::oauth::call(
                    self.oauth_tokens.clone(),
                    c.arn.clone(),
                    c.auth.clone(),
                    r.clone(),
                ),
                Some(c) => failed(format!("connection {} is {}", c.name, c.state)),
                None => failed(format!("{connection} does not exist")),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{encode, merge};
    use serde_json::json;

    #[test]
    fn updates_merge_into_the_kept_parameters_however_deep() {
        let mut kept = json!({"OAuthParameters": {"ClientParameters": {"ClientID": "a", "ClientSecret": "s"}, "HttpMethod": "POST"}});
        merge(
            &mut kept,
            json!({"OAuthParameters": {"ClientParameters": {"ClientID": "b"}}}),
        );
        assert_eq!(
            kept["OAuthParameters"]["ClientParameters"],
            json!({"ClientID": "b", "ClientSecret": "s"})
        );
        assert_eq!(kept["OAuthParameters"]["HttpMethod"], "POST");
    }

    #[test]
    fn query_values_are_percent_encoded_except_unreserved() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
