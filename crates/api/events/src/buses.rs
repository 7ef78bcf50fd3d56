//! A bus's own settings and the tags of rules and buses: `PutPermission`,
//! `RemovePermission`, `UpdateEventBus`, `TagResource`, `UntagResource`,
//! `ListTagsForResource`, in EventBridge's shapes.

use crate::{Answer, Operation, error, required, text};
use nimbus_api_common::ApiError;
use nimbus_events::Events;
use nimbus_events::bus_policy::Permission;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `Tags: [{Key, Value}]` as a map.
pub(crate) fn tags_of(p: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    let mut tags = BTreeMap::new();
    for t in p
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(k), Some(v)) = (
            t.get("Key").and_then(Value::as_str),
            t.get("Value").and_then(Value::as_str),
        ) else {
            return Err(ApiError::bad_request(
                "ValidationException",
                "Each tag needs a Key and a Value.",
            ));
        };
        tags.insert(k.to_string(), v.to_string());
    }
    Ok(tags)
}

pub(crate) fn execute(ev: &Events, op: Operation, p: &Value) -> Answer {
    use Operation::*;
    let bus = text(p, "EventBusName");
    Ok(match op {
        PutPermission => {
            ev.put_permission(Permission {
                bus,
                action: text(p, "Action"),
                principal: text(p, "Principal"),
                statement_id: text(p, "StatementId"),
                condition: p.get("Condition").cloned(),
                policy: text(p, "Policy"),
            })
            .map_err(error)?;
            json!({})
        }
        RemovePermission => {
            let all = p.get("RemoveAllPermissions").and_then(Value::as_bool) == Some(true);
            ev.remove_permission(bus.as_deref(), text(p, "StatementId").as_deref(), all)
                .map_err(error)?;
            json!({})
        }
        UpdateEventBus => {
            let b = ev
                .update_bus(text(p, "Name").as_deref(), text(p, "Description"))
                .map_err(error)?;
            let mut v = json!({"Name": b.name, "Arn": b.arn});
            if let Some(d) = &b.description {
                v["Description"] = json!(d);
            }
            v
        }
        TagResource => {
            ev.tag(&required(p, "ResourceARN")?, tags_of(p)?)
                .map_err(error)?;
            json!({})
        }
        UntagResource => {
            let keys: Vec<String> = p
                .get("TagKeys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect();
            ev.untag(&required(p, "ResourceARN")?, &keys)
                .map_err(error)?;
            json!({})
        }
        ListTagsForResource => {
            let tags: Vec<Value> = ev
                .tags(&required(p, "ResourceARN")?)
                .map_err(error)?
                .into_iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
            json!({"Tags": tags})
        }
        _ => unreachable!("not a bus operation: {op:?}"),
    })
}
