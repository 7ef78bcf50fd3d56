//! `OAUTH_CLIENT_CREDENTIALS` connections: the client id and secret are
//! exchanged at the connection's `AuthorizationEndpoint` for an access
//! token (HTTP Basic client authentication, the `OAuthHttpParameters` as
//! headers, query and form body, as RFC 6749's client credentials grant
//! has them), which each call carries as `Authorization: Bearer`. Tokens
//! are kept in memory per connection, refreshed within a minute of
//! expiring and when a call is answered 401 or 407, as EventBridge does.

use nimbus_model::time::now_millis;
use nimbus_webhooks::{BoxFuture, Failure, Request};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Access tokens by connection ARN, with when they expire (ms).
#[derive(Default)]
pub(crate) struct Tokens(Mutex<HashMap<String, (String, u64)>>);

impl Tokens {
    fn fresh(&self, connection: &str) -> Option<String> {
        let now = now_millis();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(connection)
            .filter(|(_, until)| until.saturating_sub(now) > 60_000)
            .map(|(t, _)| t.clone())
    }

    fn keep(&self, connection: &str, token: &str, expires_in_secs: u64) {
        let until = now_millis().saturating_add(expires_in_secs.saturating_mul(1000));
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(connection.to_string(), (token.to_string(), until));
    }

    pub(crate) fn forget(&self, connection: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(connection);
    }
}

/// Whether `auth` has what a client credentials connection needs.
pub(crate) fn complete(auth: &Value) -> bool {
    let has = |p: &str| auth.pointer(p).and_then(Value::as_str).is_some();
    has("/OAuthParameters/ClientParameters/ClientID")
        && has("/OAuthParameters/ClientParameters/ClientSecret")
        && has("/OAuthParameters/AuthorizationEndpoint")
        && matches!(
            auth.pointer("/OAuthParameters/HttpMethod")
                .and_then(Value::as_str),
            Some("GET" | "POST" | "PUT")
        )
}

/// `[{Key, Value}]` members of the OAuth request's parameters.
fn pairs(auth: &Value, kind: &str) -> Vec<(String, String)> {
    auth.pointer(&format!("/OAuthParameters/OAuthHttpParameters/{kind}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("Key")?.as_str()?.to_string(),
                p.get("Value")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

fn form(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                crate::destinations::encode(k),
                crate::destinations::encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The token request of a connection's `AuthParameters`.
fn token_request(auth: &Value) -> Request {
    use base64::Engine as _;
    let text = |p: &str| auth.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let mut url = text("/OAuthParameters/AuthorizationEndpoint").to_string();
    let query = pairs(auth, "QueryStringParameters");
    if !query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&form(&query));
    }
    let client = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        text("/OAuthParameters/ClientParameters/ClientID"),
        text("/OAuthParameters/ClientParameters/ClientSecret")
    ));
    let mut r = Request::new(
        crate::destinations::OWNER,
        text("/OAuthParameters/HttpMethod"),
        &url,
        form(&pairs(auth, "BodyParameters")),
        Value::Null,
    )
    .header("authorization", &format!("Basic {client}"))
    .header("content-type", "application/x-www-form-urlencoded")
    .header("accept", "application/json");
    for (k, v) in pairs(auth, "HeaderParameters") {
        r = r.header(&k, &v);
    }
    r
}

/// Ask the authorization endpoint for a token: it and its lifetime (s).
async fn obtain(auth: &Value) -> Result<(String, u64), Failure> {
    let r = token_request(auth);
    let (status, body) = nimbus_webhooks::fetch(&r).await?;
    if !(200..300).contains(&status) {
        return Err(Failure::answered(
            status,
            format!("the authorization endpoint {} answered {status}", r.url),
        ));
    }
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(token) = answer.get("access_token").and_then(Value::as_str) else {
        return Err(Failure::answered(
            400,
            format!("the authorization endpoint {} gave no access_token", r.url),
        ));
    };
    let lifetime = answer
        .get("expires_in")
        .and_then(|e| e.as_u64().or_else(|| e.as_str()?.parse().ok()))
        .unwrap_or(3600);
    Ok((token.to_string(), lifetime))
}

/// Make call `r` with a token of the connection (`connection` its ARN,
/// `auth` its `AuthParameters`), obtaining or refreshing one as needed.
pub(crate) fn call(
    tokens: Arc<Tokens>,
    connection: String,
    auth: Value,
    r: Request,
) -> BoxFuture<Result<(), Failure>> {
    Box::pin(async move {
        let mut refreshed = false;
        loop {
            let token = match tokens.fresh(&connection) {
                Some(t) => t,
                None => {
                    let (t, lifetime) = obtain(&auth).await?;
                    tokens.keep(&connection, &t, lifetime);
                    refreshed = true;
                    t
                }
            };
            let mut with = r.clone();
            with.headers
                .push(("authorization".into(), format!("Bearer {token}")));
            match nimbus_webhooks::send(&with).await {
                Err(f) if matches!(f.status, Some(401 | 407)) && !refreshed => {
                    tokens.forget(&connection);
                    refreshed = true;
                }
                other => return other,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_request_authenticates_the_client_and_carries_the_parameters() {
        let auth = json!({"OAuthParameters": {
            "ClientParameters": {"ClientID": "id", "ClientSecret": "s3cret"},
            "AuthorizationEndpoint": "http://auth.local/token", "HttpMethod": "POST",
            "OAuthHttpParameters": {
                "BodyParameters": [{"Key": "grant_type", "Value": "client_credentials"}],
                "QueryStringParameters": [{"Key": "audience", "Value": "a b"}],
                "HeaderParameters": [{"Key": "x-tenant", "Value": "t1"}]}}});
        assert!(complete(&auth));
        let r = token_request(&auth);
        assert_eq!(r.url, "http://auth.local/token?audience=a%20b");
        assert_eq!(r.body, "grant_type=client_credentials");
        assert!(
            r.headers
                .contains(&("authorization".into(), "Basic aWQ6czNjcmV0".into()))
        );
        assert!(r.headers.contains(&("x-tenant".into(), "t1".into())));
        assert!(!complete(
            &json!({"OAuthParameters": {"AuthorizationEndpoint": "x"}})
        ));
    }

    #[test]
    fn tokens_about_to_expire_are_not_used() {
        let t = Tokens::default();
        t.keep("c", "long", 3600);
        assert_eq!(t.fresh("c").as_deref(), Some("long"));
        t.keep("c", "short", 30);
        assert_eq!(t.fresh("c"), None);
        t.keep("c", "long", 3600);
        t.forget("c");
        assert_eq!(t.fresh("c"), None);
    }
}
