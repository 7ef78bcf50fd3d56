//! `AWS::StepFunctions::StateMachine` through Step Functions' JSON API:
//! `Definition` (an object) or `DefinitionString`, with
//! `DefinitionSubstitutions` (`${name}` replaced) as CloudFormation applies
//! them. `Ref` is the state machine's ARN; `Arn`, `Name` for `Fn::GetAtt`.

use super::{Created, Ctx, string};
use serde_json::{Map, Value, json};

const TARGET: &str = "application/x-amz-json-1.0";

/// The definition as text, with `DefinitionSubstitutions` applied.
fn definition(props: &Map<String, Value>) -> Result<String, String> {
    let mut definition = match (props.get("Definition"), string(props, "DefinitionString")) {
        (Some(d @ Value::Object(_)), _) => d.to_string(),
        (_, Some(s)) => s,
        _ => {
            return Err(
                "Properties validation failed for resource: one of [Definition, DefinitionString] is required"
                    .into(),
            );
        }
    };
    if let Some(Value::Object(subs)) = props.get("DefinitionSubstitutions") {
        for (k, v) in subs {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            definition = definition.replace(&format!("${{{k}}}"), &text);
        }
    }
    Ok(definition)
}

/// Update a state machine in place: its definition and role.
pub(super) async fn update(ctx: &Ctx, arn: &str, new: &Map<String, Value>) -> Result<(), String> {
    let mut input = json!({"stateMachineArn": arn, "definition": definition(new)?});
    if let Some(role) = string(new, "RoleArn") {
        input["roleArn"] = Value::String(role);
    }
    ctx.json(
        "states",
        "AWSStepFunctions.UpdateStateMachine",
        TARGET,
        &input,
    )
    .await
    .map(|_| ())
}

pub(super) async fn create(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = string(props, "StateMachineName").unwrap_or_else(|| ctx.generated_name(80));
    let definition = definition(props)?;
    let mut input = json!({"name": name, "definition": definition});
    for (prop, member) in [("RoleArn", "roleArn"), ("StateMachineType", "type")] {
        if let Some(v) = string(props, prop) {
            input[member] = Value::String(v);
        }
    }
    let made = ctx
        .json(
            "states",
            "AWSStepFunctions.CreateStateMachine",
            TARGET,
            &input,
        )
        .await?;
    let arn = made["stateMachineArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(Created::named(arn.clone())
        .with("Arn", arn)
        .with("Name", name))
}

pub(super) async fn delete(ctx: &Ctx, arn: &str) -> Result<(), String> {
    let input = json!({"stateMachineArn": arn});
    ctx.json(
        "states",
        "AWSStepFunctions.DeleteStateMachine",
        TARGET,
        &input,
    )
    .await
    .map(|_| ())
}
