//! `AWS::KMS::Key` and `AWS::KMS::Alias` through KMS's JSON API. A key's
//! `Ref` is its id (`Arn`, `KeyId`); deleting it schedules its deletion
//! after `PendingWindowInDays` (30 by default), as CloudFormation does. An
//! alias's `Ref` is its name.

use super::{Created, Ctx, required, string};
use serde_json::{Map, Value, json};

const TARGET: &str = "application/x-amz-json-1.1";

async fn call(ctx: &Ctx, op: &str, input: &Value) -> Result<Value, String> {
    ctx.json("kms", &format!("TrentService.{op}"), TARGET, input)
        .await
}

fn policy(props: &Map<String, Value>) -> Option<String> {
    match props.get("KeyPolicy")? {
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    }
}

fn flag(props: &Map<String, Value>, key: &str) -> Option<bool> {
    match props.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
        _ => None,
    }
}

pub(super) async fn create_key(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let mut input = json!({});
    for k in ["Description", "KeyUsage", "KeySpec"] {
        if let Some(v) = string(props, k) {
            input[k] = Value::String(v);
        }
    }
    if let Some(p) = policy(props) {
        input["Policy"] = Value::String(p);
    }
    if let Some(t) = props.get("Tags") {
        input["Tags"] = json!(
            t.as_array()
                .into_iter()
                .flatten()
                .map(|t| json!({"TagKey": t["Key"], "TagValue": t["Value"]}))
                .collect::<Vec<_>>()
        );
    }
    let made = call(ctx, "CreateKey", &input).await?;
    let meta = &made["KeyMetadata"];
    let id = meta["KeyId"].as_str().unwrap_or_default().to_string();
    let created = Created::named(id.clone())
        .with("KeyId", id.clone())
        .with("Arn", meta["Arn"].clone());
    if flag(props, "Enabled") == Some(false) {
        call(ctx, "DisableKey", &json!({"KeyId": id})).await?;
    }
    Ok(created)
}

/// Update a key in place: its policy and whether it is enabled.
pub(super) async fn update_key(
    ctx: &Ctx,
    id: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    if policy(old) != policy(new)
        && let Some(p) = policy(new)
    {
        let input = json!({"KeyId": id, "PolicyName": "default", "Policy": p});
        call(ctx, "PutKeyPolicy", &input).await?;
    }
    let enabled = |p| flag(p, "Enabled").unwrap_or(true);
    if enabled(old) != enabled(new) {
        let op = if enabled(new) {
            "EnableKey"
        } else {
            "DisableKey"
        };
        call(ctx, op, &json!({"KeyId": id})).await?;
    }
    Ok(())
}

pub(super) async fn delete_key(
    ctx: &Ctx,
    id: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    let days = attributes
        .get("PendingWindowInDays")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        .unwrap_or(30);
    let input = json!({"KeyId": id, "PendingWindowInDays": days});
    call(ctx, "ScheduleKeyDeletion", &input).await.map(|_| ())
}

pub(super) async fn create_alias(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = required(props, "AliasName")?;
    let key = required(props, "TargetKeyId")?;
    call(
        ctx,
        "CreateAlias",
        &json!({"AliasName": name, "TargetKeyId": key}),
    )
    .await?;
    Ok(Created::named(name))
}

/// Point an alias at another key.
pub(super) async fn update_alias(
    ctx: &Ctx,
    name: &str,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let key = required(new, "TargetKeyId")?;
    call(
        ctx,
        "UpdateAlias",
        &json!({"AliasName": name, "TargetKeyId": key}),
    )
    .await
    .map(|_| ())
}

pub(super) async fn delete_alias(ctx: &Ctx, name: &str) -> Result<(), String> {
    call(ctx, "DeleteAlias", &json!({"AliasName": name}))
        .await
        .map(|_| ())
}
