//! `AWS::SSM::Parameter` through Parameter Store's JSON API: `Ref` is the
//! parameter's name; `Type` and `Value` for `Fn::GetAtt`.

use super::{Created, Ctx, required, string};
use serde_json::{Map, Value, json};

const TARGET: &str = "application/x-amz-json-1.1";

pub(super) async fn create(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = string(props, "Name").unwrap_or_else(|| {
        let name = format!("CFN-{}", ctx.generated_name(2000));
        ctx.claim(&name);
        name
    });
    put(ctx, name, props, false).await
}

/// Update a parameter in place: a new value (and version) under its name.
pub(super) async fn update(
    ctx: &Ctx,
    name: &str,
    new: &Map<String, Value>,
) -> Result<Created, String> {
    put(ctx, name.to_string(), new, true).await
}

async fn put(
    ctx: &Ctx,
    name: String,
    props: &Map<String, Value>,
    overwrite: bool,
) -> Result<Created, String> {
    let kind = required(props, "Type")?;
    let value = required(props, "Value")?;
    let mut input = json!({"Name": name, "Type": kind, "Value": value, "Overwrite": overwrite});
    for k in ["Description", "AllowedPattern", "Tier", "DataType"] {
        if let Some(v) = string(props, k) {
            input[k] = Value::String(v);
        }
    }
    ctx.json("ssm", "AmazonSSM.PutParameter", TARGET, &input)
        .await?;
    Ok(Created::named(name).with("Type", kind).with("Value", value))
}

pub(super) async fn delete(ctx: &Ctx, name: &str) -> Result<(), String> {
    ctx.json(
        "ssm",
        "AmazonSSM.DeleteParameter",
        TARGET,
        &json!({"Name": name}),
    )
    .await
    .map(|_| ())
}

/// A parameter's value, for `{{resolve:ssm:...}}`, `{{resolve:ssm-secure:...}}`
/// and `AWS::SSM::Parameter::Value<...>` parameters.
pub(super) async fn value(
    ctx: &Ctx,
    name: &str,
    version: Option<&str>,
    decrypt: bool,
) -> Result<String, String> {
    let selector = version.map_or_else(|| name.to_string(), |v| format!("{name}:{v}"));
    let input = json!({"Name": selector, "WithDecryption": decrypt});
    let got = ctx
        .json("ssm", "AmazonSSM.GetParameter", TARGET, &input)
        .await?;
    Ok(got["Parameter"]["Value"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}
