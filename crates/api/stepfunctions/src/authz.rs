//! Step Functions' operations as IAM actions (`states:<Operation>`) on state
//! machine, version, alias and execution ARNs; creating or changing a
//! machine's role also passes that role (`iam:PassRole`).

use crate::Operation;
use nimbus_api_common::authz::{Access, Scope, pass_role};
use serde_json::Value;

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The member that names the resource of `op`.
fn resource_member(op: Operation) -> Option<&'static str> {
    use Operation::*;
    Some(match op {
        DescribeStateMachine
        | UpdateStateMachine
        | DeleteStateMachine
        | PublishStateMachineVersion
        | ListStateMachineVersions
        | ListStateMachineAliases
        | StartExecution
        | StartSyncExecution
        | ListExecutions => "stateMachineArn",
        DeleteStateMachineVersion => "stateMachineVersionArn",
        DescribeStateMachineAlias | UpdateStateMachineAlias | DeleteStateMachineAlias => {
            "stateMachineAliasArn"
        }
        DescribeExecution
        | DescribeStateMachineForExecution
        | StopExecution
        | GetExecutionHistory
        | ListMapRuns => "executionArn",
        DescribeMapRun | UpdateMapRun => "mapRunArn",
        TagResource | UntagResource | ListTagsForResource => "resourceArn",
        _ => return None,
    })
}

fn name(op: Operation) -> &'static str {
    use Operation::*;
    match op {
        CreateStateMachine => "CreateStateMachine",
        DescribeStateMachine => "DescribeStateMachine",
        UpdateStateMachine => "UpdateStateMachine",
        DeleteStateMachine => "DeleteStateMachine",
        ListStateMachines => "ListStateMachines",
        PublishStateMachineVersion => "PublishStateMachineVersion",
        ListStateMachineVersions => "ListStateMachineVersions",
        DeleteStateMachineVersion => "DeleteStateMachineVersion",
        CreateStateMachineAlias => "CreateStateMachineAlias",
        DescribeStateMachineAlias => "DescribeStateMachineAlias",
        UpdateStateMachineAlias => "UpdateStateMachineAlias",
        DeleteStateMachineAlias => "DeleteStateMachineAlias",
        ListStateMachineAliases => "ListStateMachineAliases",
        StartExecution => "StartExecution",
        StartSyncExecution => "StartSyncExecution",
        DescribeExecution => "DescribeExecution",
        DescribeStateMachineForExecution => "DescribeStateMachineForExecution",
        ListExecutions => "ListExecutions",
        StopExecution => "StopExecution",
        GetExecutionHistory => "GetExecutionHistory",
        SendTaskSuccess => "SendTaskSuccess",
        SendTaskFailure => "SendTaskFailure",
        SendTaskHeartbeat => "SendTaskHeartbeat",
        ValidateStateMachineDefinition => "ValidateStateMachineDefinition",
        TestState => "TestState",
        TagResource => "TagResource",
        UntagResource => "UntagResource",
        ListTagsForResource => "ListTagsForResource",
        DescribeMapRun => "DescribeMapRun",
        ListMapRuns => "ListMapRuns",
        UpdateMapRun => "UpdateMapRun",
        Unsupported(n) => n,
    }
}

/// What `op` with `params` asks of IAM.
/// What `op` with `params` asks of IAM, with the tags it sets or removes
/// as condition keys (`aws:RequestTag/KEY`, `aws:TagKeys`).
pub fn access(op: Operation, params: &Value, scope: &Scope) -> Vec<Access> {
    let mut access = asked(op, params, scope);
    tagging(op, params, &mut access);
    access
}

fn asked(op: Operation, params: &Value, scope: &Scope) -> Vec<Access> {
    let action = format!("states:{}", name(op));
    let mut out = Vec::new();
    let resource = match op {
        Operation::CreateStateMachine => str_of(params, "name")
            .map(|n| scope.arn("states", &format!("stateMachine:{n}")))
            .unwrap_or_else(|| "*".into()),
        Operation::CreateStateMachineAlias => {
            // The alias of the machine its first route's version belongs to.
            let version = params["routingConfiguration"][0]["stateMachineVersionArn"]
                .as_str()
                .unwrap_or_default();
            match (version.rsplit_once(':'), str_of(params, "name")) {
                (Some((machine, _)), Some(alias)) => format!("{machine}:{alias}"),
                _ => "*".into(),
            }
        }
        _ => resource_member(op)
            .and_then(|m| str_of(params, m))
            .unwrap_or("*")
            .to_string(),
    };
    out.push(Access::new(action, resource));
    if matches!(
        op,
        Operation::CreateStateMachine | Operation::UpdateStateMachine | Operation::TestState
    ) && let Some(role) = str_of(params, "roleArn")
    {
        out.push(pass_role(role));
    }
    out
}

/// The tags `op` sets or removes, as condition keys on its first access.
fn tagging(op: Operation, params: &Value, access: &mut [Access]) {
    use nimbus_api_common::authz::{json_strings, json_tags, removed_tag_keys, request_tags};
    let (sets, removes) = match op {
        Operation::CreateStateMachine | Operation::TagResource => (Some("tags"), None),
        Operation::UntagResource => (None, Some("tagKeys")),
        _ => (None, None),
    };
    if let Some(m) = sets {
        request_tags(access, &json_tags(params, m));
    }
    if let Some(m) = removes {
        removed_tag_keys(access, &json_strings(params, m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_map_to_machine_and_execution_arns() {
        let s = Scope::new("000000000000", "us-east-1");
        let created = access(
            Operation::CreateStateMachine,
            &json!({"name": "m", "roleArn": "arn:aws:iam::000000000000:role/r"}),
            &s,
        );
        assert_eq!(
            created,
            [
                Access::new(
                    "states:CreateStateMachine",
                    "arn:aws:states:us-east-1:000000000000:stateMachine:m"
                ),
                pass_role("arn:aws:iam::000000000000:role/r"),
            ]
        );
        let e = "arn:aws:states:us-east-1:000000000000:execution:m:e";
        assert_eq!(
            access(Operation::StopExecution, &json!({"executionArn": e}), &s),
            [Access::new("states:StopExecution", e)]
        );
        let alias = access(
            Operation::CreateStateMachineAlias,
            &json!({"name": "live", "routingConfiguration": [
                {"stateMachineVersionArn": "arn:aws:states:us-east-1:000000000000:stateMachine:m:3", "weight": 100}]}),
            &s,
        );
        assert_eq!(
            alias[0].resource,
            "arn:aws:states:us-east-1:000000000000:stateMachine:m:live"
        );
        assert_eq!(
            access(Operation::ListStateMachines, &json!({}), &s)[0].resource,
            "*"
        );
    }
}
