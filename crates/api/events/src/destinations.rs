//! Connections and API destinations: `CreateConnection` and the rest,
//! `CreateApiDestination` and the rest, in EventBridge's shapes (a
//! connection's secrets are never shown back).

use crate::{Answer, Operation, error, required, text};
use nimbus_events::Events;
use nimbus_events::destinations::{ApiDestination, Connection, ConnectionInput, DestinationInput};
use serde_json::{Value, json};

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// A connection's state members (most answers are these).
fn state(c: &Connection) -> Value {
    json!({
        "ConnectionArn": c.arn, "ConnectionState": c.state,
        "CreationTime": seconds(c.created_ms), "LastModifiedTime": seconds(c.modified_ms),
        "LastAuthorizedTime": seconds(c.authorized_ms),
    })
}

/// `AuthParameters` as DescribeConnection shows them: names, no secrets.
fn shown_auth(c: &Connection) -> Value {
    let mut v = json!({});
    if let Some(u) = c.auth.pointer("/BasicAuthParameters/Username") {
        v["BasicAuthParameters"] = json!({"Username": u});
    }
    if let Some(n) = c.auth.pointer("/ApiKeyAuthParameters/ApiKeyName") {
        v["ApiKeyAuthParameters"] = json!({"ApiKeyName": n});
    }
    if let Some(Value::Object(o)) = c.auth.get("OAuthParameters") {
        let mut shown = Value::Object(o.clone());
        if let Some(client) = shown
            .get_mut("ClientParameters")
            .and_then(Value::as_object_mut)
        {
            client.remove("ClientSecret");
        }
        if let Some(Value::Object(params)) = shown.get_mut("OAuthHttpParameters") {
            hide_secret_values(params);
        }
        v["OAuthParameters"] = shown;
    }
    if let Some(Value::Object(params)) = c.auth.get("InvocationHttpParameters") {
        let mut shown = params.clone();
        hide_secret_values(&mut shown);
        v["InvocationHttpParameters"] = Value::Object(shown);
    }
    v
}

/// Drop the `Value` of each parameter marked `IsValueSecret`.
fn hide_secret_values(params: &mut serde_json::Map<String, Value>) {
    for list in params.values_mut() {
        for p in list.as_array_mut().into_iter().flatten() {
            let secret = p.get("IsValueSecret").and_then(Value::as_bool) == Some(true);
            if secret && let Some(o) = p.as_object_mut() {
                o.remove("Value");
            }
        }
    }
}

fn destination(d: &ApiDestination) -> Value {
    let mut v = json!({
        "ApiDestinationArn": d.arn, "Name": d.name, "ApiDestinationState": "ACTIVE",
        "ConnectionArn": d.connection_arn, "InvocationEndpoint": d.endpoint,
        "HttpMethod": d.method,
        "CreationTime": seconds(d.created_ms), "LastModifiedTime": seconds(d.modified_ms),
    });
    if let Some(r) = d.rate_limit {
        v["InvocationRateLimitPerSecond"] = json!(r);
    }
    if let Some(x) = &d.description {
        v["Description"] = json!(x);
    }
    v
}

fn connection_input(p: &Value) -> Result<ConnectionInput, nimbus_api_common::ApiError> {
    Ok(ConnectionInput {
        name: required(p, "Name")?,
        description: text(p, "Description"),
        authorization_type: text(p, "AuthorizationType"),
        auth: p.get("AuthParameters").cloned(),
    })
}

fn destination_input(p: &Value) -> Result<DestinationInput, nimbus_api_common::ApiError> {
    Ok(DestinationInput {
        name: required(p, "Name")?,
        description: text(p, "Description"),
        connection_arn: text(p, "ConnectionArn"),
        endpoint: text(p, "InvocationEndpoint"),
        method: text(p, "HttpMethod"),
        rate_limit: p
            .get("InvocationRateLimitPerSecond")
            .and_then(Value::as_u64),
    })
}

/// Run a connection or API destination operation.
pub(crate) fn execute(ev: &Events, op: Operation, p: &Value) -> Answer {
    use Operation::*;
    Ok(match op {
        CreateConnection => {
            let mut input = connection_input(p)?;
            if input.authorization_type.is_none() {
                required(p, "AuthorizationType")?;
            }
            input.auth.get_or_insert(Value::Null);
            state(&*ev.create_connection(input).map_err(error)?)
        }
        UpdateConnection => state(&*ev.update_connection(connection_input(p)?).map_err(error)?),
        DescribeConnection => {
            let c = ev.connection(&required(p, "Name")?).map_err(error)?;
            let mut v = state(&c);
            v["Name"] = json!(c.name);
            v["AuthorizationType"] = json!(c.authorization_type);
            v["AuthParameters"] = shown_auth(&c);
            if let Some(d) = &c.description {
                v["Description"] = json!(d);
            }
            v
        }
        DeauthorizeConnection => state(
            &*ev.deauthorize_connection(&required(p, "Name")?)
                .map_err(error)?,
        ),
        DeleteConnection => {
            let mut v = state(&*ev.delete_connection(&required(p, "Name")?).map_err(error)?);
            v["ConnectionState"] = json!("DELETING");
            v
        }
        ListConnections => {
            let want = text(p, "ConnectionState");
            let list: Vec<Value> = ev
                .connections(text(p, "NamePrefix").as_deref())
                .iter()
                .filter(|c| want.as_deref().is_none_or(|s| c.state == s))
                .map(|c| {
                    let mut v = state(c);
                    v["Name"] = json!(c.name);
                    v["AuthorizationType"] = json!(c.authorization_type);
                    v
                })
                .collect();
            json!({"Connections": list})
        }
        CreateApiDestination | UpdateApiDestination => {
            let input = destination_input(p)?;
            if op == CreateApiDestination {
                for k in ["ConnectionArn", "InvocationEndpoint", "HttpMethod"] {
                    required(p, k)?;
                }
            }
            let d = if op == CreateApiDestination {
                ev.create_api_destination(input)
            } else {
                ev.update_api_destination(input)
            }
            .map_err(error)?;
            json!({"ApiDestinationArn": d.arn, "ApiDestinationState": "ACTIVE",
                       "CreationTime": seconds(d.created_ms), "LastModifiedTime": seconds(d.modified_ms)})
        }
        DescribeApiDestination => {
            destination(&*ev.api_destination(&required(p, "Name")?).map_err(error)?)
        }
        DeleteApiDestination => {
            ev.delete_api_destination(&required(p, "Name")?)
                .map_err(error)?;
            json!({})
        }
        ListApiDestinations => {
            let list: Vec<Value> = ev
                .api_destinations(
                    text(p, "NamePrefix").as_deref(),
                    text(p, "ConnectionArn").as_deref(),
                )
                .iter()
                .map(|d| destination(d))
                .collect();
            json!({"ApiDestinations": list})
        }
        _ => {
            return Err(nimbus_api_common::ApiError::bad_request(
                "UnknownOperationException",
                format!(
                    "{} is not a connection or API destination operation",
                    op.name()
                ),
            ));
        }
    })
}
