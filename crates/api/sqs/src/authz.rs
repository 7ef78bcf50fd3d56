//! SQS's operations as IAM actions on queue ARNs (the batch operations need
//! their single counterparts' actions, as SQS's authorization reference says).

use crate::operations::Operation;
use nimbus_api_common::authz::{Access, Scope};
use serde_json::Value;

/// The queue a request names, as its handler reads it: `QueueName` for the
/// two operations that take a name, else `QueueUrl`'s last path segment.
fn queue(op: Operation, params: &Value) -> Option<&str> {
    if matches!(op, Operation::CreateQueue | Operation::GetQueueUrl) {
        return params.get("QueueName").and_then(Value::as_str);
    }
    let url = params.get("QueueUrl").and_then(Value::as_str)?;
    url.trim_end_matches('/').rsplit('/').next()
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
    use Operation::*;
    let action = match op {
        ListQueues => return vec![Access::any("sqs:ListQueues")],
        SendMessageBatch => "SendMessage",
        DeleteMessageBatch => "DeleteMessage",
        ChangeMessageVisibilityBatch => "ChangeMessageVisibility",
        StartMessageMoveTask | ListMessageMoveTasks => {
            let name = if op == StartMessageMoveTask {
                "sqs:StartMessageMoveTask"
            } else {
                "sqs:ListMessageMoveTasks"
            };
            let source = params.get("SourceArn").and_then(Value::as_str);
            let mut v = vec![Access::new(name, source.unwrap_or("*"))];
            // Moving reads and deletes from the source (a dead-letter queue)
            // and sends to the destination, as SQS's redrive permissions say.
            if op == StartMessageMoveTask {
                if let Some(source) = source {
                    for a in ["ReceiveMessage", "DeleteMessage", "GetQueueAttributes"] {
                        v.push(Access::new(format!("sqs:{a}"), source));
                    }
                }
                if let Some(dest) = params.get("DestinationArn").and_then(Value::as_str) {
                    v.push(Access::new("sqs:SendMessage", dest));
                }
            }
            return v;
        }
        CancelMessageMoveTask => return vec![Access::any("sqs:CancelMessageMoveTask")],
        CreateQueue => "CreateQueue",
        GetQueueUrl => "GetQueueUrl",
        DeleteQueue => "DeleteQueue",
        PurgeQueue => "PurgeQueue",
        GetQueueAttributes => "GetQueueAttributes",
        SetQueueAttributes => "SetQueueAttributes",
        TagQueue => "TagQueue",
        UntagQueue => "UntagQueue",
        ListQueueTags => "ListQueueTags",
        ListDeadLetterSourceQueues => "ListDeadLetterSourceQueues",
        AddPermission => "AddPermission",
        RemovePermission => "RemovePermission",
        SendMessage => "SendMessage",
        ReceiveMessage => "ReceiveMessage",
        DeleteMessage => "DeleteMessage",
        ChangeMessageVisibility => "ChangeMessageVisibility",
    };
    let resource = queue(op, params).map_or_else(|| "*".to_string(), |q| scope.arn("sqs", q));
    vec![Access::new(format!("sqs:{action}"), resource)]
}

/// The tags `op` sets or removes, as condition keys on its first access.
fn tagging(op: Operation, params: &Value, access: &mut [Access]) {
    use nimbus_api_common::authz::{json_strings, json_tags, removed_tag_keys, request_tags};
    let (sets, removes) = match op {
        Operation::CreateQueue => (Some("tags"), None),
        Operation::TagQueue => (Some("Tags"), None),
        Operation::UntagQueue => (None, Some("TagKeys")),
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
    fn operations_map_to_queue_arns() {
        let s = Scope::new("000000000000", "us-east-1");
        let url = json!({"QueueUrl": "http://localhost:4566/000000000000/orders"});
        assert_eq!(
            access(Operation::SendMessageBatch, &url, &s),
            [Access::new(
                "sqs:SendMessage",
                "arn:aws:sqs:us-east-1:000000000000:orders"
            )]
        );
        assert_eq!(
            access(Operation::CreateQueue, &json!({"QueueName": "q"}), &s)[0].resource,
            "arn:aws:sqs:us-east-1:000000000000:q"
        );
        assert_eq!(
            access(Operation::ListQueues, &json!({}), &s),
            [Access::any("sqs:ListQueues")]
        );
    }
}
