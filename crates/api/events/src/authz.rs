//! EventBridge's operations as IAM actions (`events:<Operation>`) on rule
//! ARNs (`rule/NAME`, `rule/BUS/NAME`) and bus ARNs (`event-bus/NAME`).

use crate::Operation;
use nimbus_api_common::authz::{Access, Scope};
use serde_json::Value;

pub fn access(op: Operation, p: &Value, scope: &Scope) -> Vec<Access> {
    use Operation::*;
    let action = format!("events:{}", op.name());
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
    let bus_of = |v: &str| -> String {
        let name = v.rsplit_once("event-bus/").map_or(v, |(_, n)| n);
        if name.is_empty() {
            "default".into()
        } else {
            name.to_string()
        }
    };
    let bus_arn = |name: &str| scope.arn("events", &format!("event-bus/{}", bus_of(name)));
    let rule_arn = |name: &str| {
        let bus = bus_of(s("EventBusName"));
        if bus == "default" {
            scope.arn("events", &format!("rule/{name}"))
        } else {
            scope.arn("events", &format!("rule/{bus}/{name}"))
        }
    };
    match op {
        CreateEventBus | DescribeEventBus | DeleteEventBus | UpdateEventBus => {
            vec![Access::new(action, bus_arn(s("Name")))]
        }
        PutPermission | RemovePermission => {
            vec![Access::new(action, bus_arn(s("EventBusName")))]
        }
        TagResource | UntagResource | ListTagsForResource => {
            vec![Access::new(action, s("ResourceARN").to_string())]
        }
        PutRule | DescribeRule | DeleteRule | EnableRule | DisableRule => {
            vec![Access::new(action, rule_arn(s("Name")))]
        }
        PutTargets | RemoveTargets | ListTargetsByRule => {
            vec![Access::new(action, rule_arn(s("Rule")))]
        }
        PutEvents => {
            let mut buses: Vec<String> = p
                .get("Entries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|e| bus_arn(e.get("EventBusName").and_then(Value::as_str).unwrap_or("")))
                .collect();
            buses.sort();
            buses.dedup();
            buses
                .into_iter()
                .map(|b| Access::new(action.clone(), b))
                .collect()
        }
        CreateArchive | DescribeArchive | DeleteArchive => {
            vec![Access::new(
                action,
                scope.arn("events", &format!("archive/{}", s("ArchiveName"))),
            )]
        }
        StartReplay | DescribeReplay | CancelReplay => {
            vec![Access::new(
                action,
                scope.arn("events", &format!("replay/{}", s("ReplayName"))),
            )]
        }
        CreateConnection
        | DescribeConnection
        | UpdateConnection
        | DeleteConnection
        | DeauthorizeConnection => vec![Access::new(
            action,
            scope.arn("events", &format!("connection/{}", s("Name"))),
        )],
        CreateApiDestination
        | DescribeApiDestination
        | UpdateApiDestination
        | DeleteApiDestination => vec![Access::new(
            action,
            scope.arn("events", &format!("api-destination/{}", s("Name"))),
        )],
        ListConnections | ListApiDestinations => vec![Access::any(action)],
        ListEventBuses
        | ListRules
        | ListRuleNamesByTarget
        | TestEventPattern
        | ListArchives
        | ListReplays => vec![Access::any(action)],
    }
}
