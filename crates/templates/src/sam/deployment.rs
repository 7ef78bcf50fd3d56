//! A function's `DeploymentPreference`, as the SAM translator expands it:
//! one `ServerlessDeploymentApplication` (CodeDeploy, Lambda platform) and
//! one `CodeDeployServiceRole` per template, a `<Function>DeploymentGroup`
//! per function (its deployment configuration, alarms, automatic rollback),
//! and on the function's alias an `UpdatePolicy` of
//! `CodeDeployLambdaAliasUpdate` naming the application, the group and the
//! traffic hooks: CloudFormation then shifts the alias's traffic through a
//! CodeDeploy deployment instead of moving it at once.

use super::{Expansion, invalid};
use crate::Error;
use serde_json::{Value, json};

/// CodeDeploy's predefined Lambda configurations, as SAM names them.
const PREDEFINED: [&str; 9] = [
    "AllAtOnce",
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
];

pub(crate) const APPLICATION: &str = "ServerlessDeploymentApplication";
const SERVICE_ROLE: &str = "CodeDeployServiceRole";

/// Expand the preference of function `id`, whose alias is `alias`; the
/// `UpdatePolicy` to put on the alias, if any.
pub(crate) fn expand(
    x: &mut Expansion<'_>,
    id: &str,
    alias: Option<&str>,
) -> Result<Option<Value>, Error> {
    let Some(p) = x.prop("DeploymentPreference").cloned() else {
        return Ok(None);
    };
    if p.get("Enabled").is_some_and(|e| e == false || e == "false") {
        return Ok(None);
    }
    if alias.is_none() {
        return Err(invalid(
            id,
            "'DeploymentPreference' requires AutoPublishAlias property to be specified.",
        ));
    }
    let kind = p.get("Type").ok_or_else(|| {
        invalid(
            id,
            "'DeploymentPreference' is missing required Property 'Type'",
        )
    })?;
    let config = match kind.as_str() {
        Some(name) if PREDEFINED.contains(&name) => json!({
            "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": name}]
        }),
        Some(name) if !name.contains("${") => json!(name),
        _ => kind.clone(),
    };
    if !x.out.contains_key(APPLICATION) {
        x.out.insert(
            APPLICATION.into(),
            json!({"Type": "AWS::CodeDeploy::Application", "Properties": {"ComputePlatform": "Lambda"}}),
        );
    }
    let role = match p.get("Role") {
        Some(r) => r.clone(),
        None => {
            if !x.out.contains_key(SERVICE_ROLE) {
                x.out.insert(
                    SERVICE_ROLE.into(),
                    json!({"Type": "AWS::IAM::Role", "Properties": {
                        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                            "Action": ["sts:AssumeRole"], "Effect": "Allow",
                            "Principal": {"Service": ["codedeploy.amazonaws.com"]}}]},
                        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"]
                    }}),
                );
            }
            json!({"Fn::GetAtt": [SERVICE_ROLE, "Arn"]})
        }
    };
    let mut group = json!({
        "ApplicationName": {"Ref": APPLICATION},
        "AutoRollbackConfiguration": {"Enabled": true, "Events": [
            "DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"]},
        "DeploymentConfigName": config,
        "DeploymentStyle": {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"},
        "ServiceRoleArn": role,
    });
    if let Some(Value::Array(alarms)) = p.get("Alarms")
        && !alarms.is_empty()
    {
        let named: Vec<Value> = alarms.iter().map(|a| json!({"Name": a})).collect();
        group["AlarmConfiguration"] = json!({"Enabled": true, "Alarms": named});
    }
    if let Some(t) = p.get("TriggerConfigurations") {
        group["TriggerConfigurations"] = t.clone();
    }
    let group_id = format!("{id}DeploymentGroup");
    x.add(group_id.clone(), "AWS::CodeDeploy::DeploymentGroup", group);
    let mut update = json!({
        "ApplicationName": {"Ref": APPLICATION},
        "DeploymentGroupName": {"Ref": group_id},
    });
    for (hook, member) in [
        ("PreTraffic", "BeforeAllowTrafficHook"),
        ("PostTraffic", "AfterAllowTrafficHook"),
    ] {
        if let Some(h) = p.get("Hooks").and_then(|h| h.get(hook)) {
            update[member] = h.clone();
        }
    }
    Ok(Some(json!({"CodeDeployLambdaAliasUpdate": update})))
}
