//! `AWS::CodeDeploy::Application`, `AWS::CodeDeploy::DeploymentGroup` and
//! `AWS::CodeDeploy::DeploymentConfig` through CodeDeploy's JSON API (their
//! `Ref` is their name), and the traffic shifting of an alias whose
//! `UpdatePolicy` is `CodeDeployLambdaAliasUpdate`: a CodeDeploy deployment
//! from the alias's version to the new one, waited for, as CloudFormation
//! updates such an alias.

use super::{Created, Ctx, required, string};
use serde_json::{Map, Value, json};
use std::time::Duration;

const TARGET: &str = "application/x-amz-json-1.1";

async fn call(ctx: &Ctx, op: &str, input: &Value) -> Result<Value, String> {
    ctx.json(
        "codedeploy",
        &format!("CodeDeploy_20141006.{op}"),
        TARGET,
        input,
    )
    .await
}

/// CloudFormation's property names as the API's (`AlarmConfiguration` ->
/// `alarmConfiguration`), all the way down; numbers given as text as numbers.
fn camel(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let mut c = k.clone();
                    if let Some(f) = c.get_mut(..1) {
                        f.make_ascii_lowercase();
                    }
                    (c, camel(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(camel).collect()),
        Value::String(s) => s.parse::<u64>().map_or_else(|_| v.clone(), Value::from),
        other => other.clone(),
    }
}

fn members(props: &Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| {
            let v = props.get(*k)?;
            let mut c = k.to_string();
            if let Some(f) = c.get_mut(..1) {
                f.make_ascii_lowercase();
            }
            Some((c, camel(v)))
        })
        .collect()
}

pub(super) async fn create_application(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let name = string(props, "ApplicationName").unwrap_or_else(|| ctx.generated_name(100));
    let platform = string(props, "ComputePlatform").unwrap_or_else(|| "Server".into());
    call(
        ctx,
        "CreateApplication",
        &json!({"applicationName": name, "computePlatform": platform}),
    )
    .await?;
    Ok(Created::named(name))
}

pub(super) async fn delete_application(ctx: &Ctx, name: &str) -> Result<(), String> {
    call(ctx, "DeleteApplication", &json!({"applicationName": name}))
        .await
        .map(|_| ())
}

const GROUP: [&str; 6] = [
    "DeploymentConfigName",
    "ServiceRoleArn",
    "AlarmConfiguration",
    "AutoRollbackConfiguration",
    "DeploymentStyle",
    "TriggerConfigurations",
];

pub(super) async fn create_group(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let app = required(props, "ApplicationName")?;
    let name = string(props, "DeploymentGroupName").unwrap_or_else(|| ctx.generated_name(100));
    let mut input = members(props, &GROUP);
    input.insert("applicationName".into(), json!(app));
    input.insert("deploymentGroupName".into(), json!(name));
    call(ctx, "CreateDeploymentGroup", &Value::Object(input)).await?;
    Ok(Created::named(name).with("ApplicationName", app))
}

pub(super) async fn update_group(
    ctx: &Ctx,
    name: &str,
    attributes: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let mut input = members(new, &GROUP);
    input.insert(
        "applicationName".into(),
        json!(string(attributes, "ApplicationName").unwrap_or_default()),
    );
    input.insert("currentDeploymentGroupName".into(), json!(name));
    call(ctx, "UpdateDeploymentGroup", &Value::Object(input))
        .await
        .map(|_| ())
}

pub(super) async fn delete_group(
    ctx: &Ctx,
    name: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    let app = string(attributes, "ApplicationName").unwrap_or_default();
    call(
        ctx,
        "DeleteDeploymentGroup",
        &json!({"applicationName": app, "deploymentGroupName": name}),
    )
    .await
    .map(|_| ())
}

pub(super) async fn create_config(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let name = string(props, "DeploymentConfigName").unwrap_or_else(|| ctx.generated_name(100));
    let mut input = members(props, &["ComputePlatform", "TrafficRoutingConfig"]);
    input.insert("deploymentConfigName".into(), json!(name));
    call(ctx, "CreateDeploymentConfig", &Value::Object(input)).await?;
    Ok(Created::named(name))
}

pub(super) async fn delete_config(ctx: &Ctx, name: &str) -> Result<(), String> {
    call(
        ctx,
        "DeleteDeploymentConfig",
        &json!({"deploymentConfigName": name}),
    )
    .await
    .map(|_| ())
}

/// Shift the alias `function:alias` from version `from` to `to` through a
/// deployment of the application and group `policy`
/// (`CodeDeployLambdaAliasUpdate`) names, with its hooks; wait for it.
pub(super) async fn shift_alias(
    ctx: &Ctx,
    policy: &Value,
    (function, alias): (&str, &str),
    from: &str,
    to: &str,
) -> Result<(), String> {
    let text = |k: &str| policy.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(app), Some(group)) = (text("ApplicationName"), text("DeploymentGroupName")) else {
        return Err(
            "CodeDeployLambdaAliasUpdate needs an ApplicationName and a DeploymentGroupName".into(),
        );
    };
    let mut hooks = Vec::new();
    for (member, event) in [
        ("BeforeAllowTrafficHook", "BeforeAllowTraffic"),
        ("AfterAllowTrafficHook", "AfterAllowTraffic"),
    ] {
        if let Some(h) = text(member) {
            hooks.push(json!({event: h}));
        }
    }
    let spec = json!({
        "version": 0.0,
        "Resources": [{alias: {"Type": "AWS::Lambda::Function", "Properties": {
            "Name": function, "Alias": alias, "CurrentVersion": from, "TargetVersion": to}}}],
        "Hooks": hooks,
    });
    let made = call(
        ctx,
        "CreateDeployment",
        &json!({"applicationName": app, "deploymentGroupName": group,
                "revision": {"revisionType": "AppSpecContent",
                             "appSpecContent": {"content": spec.to_string()}}}),
    )
    .await?;
    let id = made["deploymentId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    loop {
        let got = call(ctx, "GetDeployment", &json!({"deploymentId": id})).await?;
        let info = &got["deploymentInfo"];
        match info["status"].as_str().unwrap_or_default() {
            "Succeeded" => return Ok(()),
            "Failed" | "Stopped" => {
                return Err(format!(
                    "CodeDeploy deployment {id} {}: {}",
                    info["status"].as_str().unwrap_or_default().to_lowercase(),
                    info["errorInformation"]["message"]
                        .as_str()
                        .unwrap_or("no reason given")
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}
