//! `AWS::Lambda::Version`, `AWS::Lambda::Alias`, `AWS::Lambda::Url` and
//! `AWS::Lambda::LayerVersion` through Lambda's REST API. A version's and
//! an alias's `Ref` is its ARN; a URL's is its function's ARN
//! (`FunctionUrl` for `Fn::GetAtt`); a layer version's its ARN.

use super::{Created, Ctx, required, string};
use http::Method;
use serde_json::{Map, Value};

const FUNCTIONS: &str = "/2015-03-31/functions";
const URLS: &str = "/2021-10-31/functions";
const LAYERS: &str = "/2018-10-31/layers";

/// The members of `props` but `skip`, as the API's input.
fn input(props: &Map<String, Value>, skip: &[&str]) -> Value {
    Value::Object(
        props
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// The parts of a qualified ARN `arn:aws:lambda:R:A:function:NAME:QUALIFIER`
/// (or of a layer version's, `...:layer:NAME:N`): name and qualifier.
pub(super) fn qualified(arn: &str) -> (String, String) {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        [.., name, q] if parts.len() >= 8 => (name.to_string(), q.to_string()),
        _ => (arn.to_string(), String::new()),
    }
}

pub(super) async fn create_version(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let function = required(props, "FunctionName")?;
    let path = format!("{FUNCTIONS}/{function}/versions");
    let body = input(props, &["FunctionName", "ProvisionedConcurrencyConfig"]);
    let made = ctx.rest("lambda", Method::POST, &path, Some(&body)).await?;
    let arn = made["FunctionArn"].as_str().unwrap_or_default().to_string();
    Ok(Created::named(arn.clone())
        .with("FunctionArn", arn)
        .with("Version", made["Version"].clone()))
}

pub(super) async fn delete_version(ctx: &Ctx, arn: &str) -> Result<(), String> {
    let (name, version) = qualified(arn);
    let path = format!("{FUNCTIONS}/{name}?Qualifier={version}");
    ctx.rest("lambda", Method::DELETE, &path, None)
        .await
        .map(|_| ())
}

pub(super) async fn create_alias(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let function = required(props, "FunctionName")?;
    let path = format!("{FUNCTIONS}/{function}/aliases");
    let body = input(props, &["FunctionName", "ProvisionedConcurrencyConfig"]);
    let made = ctx.rest("lambda", Method::POST, &path, Some(&body)).await?;
    let arn = made["AliasArn"].as_str().unwrap_or_default().to_string();
    let created = Created::named(arn.clone()).with("AliasArn", arn.clone());
    if let Some(pc) = props.get("ProvisionedConcurrencyConfig") {
        // The alias exists: a refused configuration must not leave it unowned.
        if let Err(why) = provision(ctx, &arn, Some(pc)).await {
            let _ = delete_alias(ctx, &arn).await;
            return Err(why);
        }
    }
    Ok(created)
}

/// Set (or with `None` remove) the provisioned concurrency of the alias `arn`.
async fn provision(ctx: &Ctx, arn: &str, config: Option<&Value>) -> Result<(), String> {
    let (name, alias) = qualified(arn);
    let path = format!("/2019-09-30/functions/{name}/provisioned-concurrency?Qualifier={alias}");
    match config {
        Some(c) => {
            let n = match c.get("ProvisionedConcurrentExecutions") {
                Some(Value::String(s)) => {
                    s.trim().parse::<u64>().map(Value::from).unwrap_or_default()
                }
                Some(v) => v.clone(),
                None => Value::Null,
            };
            let body = serde_json::json!({ "ProvisionedConcurrentExecutions": n });
            ctx.rest("lambda", Method::PUT, &path, Some(&body)).await?;
        }
        None => {
            ctx.rest("lambda", Method::DELETE, &path, None).await?;
        }
    }
    Ok(())
}

/// Update an alias in place: its version, description, weights and
/// provisioned concurrency.
pub(super) async fn update_alias(
    ctx: &Ctx,
    arn: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let (name, alias) = qualified(arn);
    let path = format!("{FUNCTIONS}/{name}/aliases/{alias}");
    let mut body = input(
        new,
        &["FunctionName", "Name", "ProvisionedConcurrencyConfig"],
    );
    if body.get("RoutingConfig").is_none() {
        body["RoutingConfig"] = serde_json::json!({"AdditionalVersionWeights": {}});
    }
    ctx.rest("lambda", Method::PUT, &path, Some(&body)).await?;
    let key = "ProvisionedConcurrencyConfig";
    if old.get(key) != new.get(key) {
        provision(ctx, arn, new.get(key)).await?;
    }
    Ok(())
}

/// Update a function URL in place: its auth type, CORS and invoke mode.
pub(super) async fn update_url(
    ctx: &Ctx,
    attributes: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let path = string(attributes, "UrlPath").unwrap_or_default();
    let mut body = input(new, &["TargetFunctionArn", "Qualifier"]);
    if body.get("Cors").is_none() {
        body["Cors"] = serde_json::json!({});
    }
    ctx.rest("lambda", Method::PUT, &path, Some(&body))
        .await
        .map(|_| ())
}

pub(super) async fn delete_alias(ctx: &Ctx, arn: &str) -> Result<(), String> {
    let (name, alias) = qualified(arn);
    let path = format!("{FUNCTIONS}/{name}/aliases/{alias}");
    ctx.rest("lambda", Method::DELETE, &path, None)
        .await
        .map(|_| ())
}

pub(super) async fn create_url(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let function = required(props, "TargetFunctionArn")?;
    let mut path = format!("{URLS}/{function}/url");
    if let Some(q) = string(props, "Qualifier") {
        path = format!("{path}?Qualifier={q}");
    }
    let body = input(props, &["TargetFunctionArn", "Qualifier"]);
    let made = ctx.rest("lambda", Method::POST, &path, Some(&body)).await?;
    let arn = made["FunctionArn"].as_str().unwrap_or_default().to_string();
    Ok(Created::named(arn.clone())
        .with("FunctionArn", arn)
        .with("FunctionUrl", made["FunctionUrl"].clone())
        .with("UrlPath", path))
}

pub(super) async fn delete_url(ctx: &Ctx, attributes: &Map<String, Value>) -> Result<(), String> {
    let path = string(attributes, "UrlPath").unwrap_or_default();
    ctx.rest("lambda", Method::DELETE, &path, None)
        .await
        .map(|_| ())
}

pub(super) async fn create_layer(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = string(props, "LayerName").unwrap_or_else(|| ctx.generated_name(64));
    let path = format!("{LAYERS}/{name}/versions");
    let body = input(props, &["LayerName"]);
    let made = ctx.rest("lambda", Method::POST, &path, Some(&body)).await?;
    let arn = made["LayerVersionArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(Created::named(arn.clone()).with("LayerVersionArn", arn))
}

pub(super) async fn delete_layer(ctx: &Ctx, arn: &str) -> Result<(), String> {
    let (name, version) = qualified(arn);
    let path = format!("{LAYERS}/{name}/versions/{version}");
    ctx.rest("lambda", Method::DELETE, &path, None)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_arns_give_name_and_qualifier() {
        assert_eq!(
            qualified("arn:aws:lambda:us-east-1:1:function:f:3"),
            ("f".to_string(), "3".to_string())
        );
        assert_eq!(
            qualified("arn:aws:lambda:us-east-1:1:layer:l:2"),
            ("l".to_string(), "2".to_string())
        );
    }
}
