//! A resource's `Tags` changed in an update: updated in place with the
//! service's own tag and untag calls, as CloudFormation does, so the resource
//! (and what refers to it) stays.

use super::apigateway::tag_map;
use super::{Created, Ctx};
use http::Method;
use serde_json::{Map, Value, json};

const JSON_1_0: &str = "application/x-amz-json-1.0";

/// The tags to set (new or changed) and the keys to remove.
fn diff(old: &Map<String, Value>, new: &Map<String, Value>) -> (Map<String, Value>, Vec<String>) {
    let (was, now) = (tag_map(old.get("Tags")), tag_map(new.get("Tags")));
    let set = now
        .iter()
        .filter(|(k, v)| was.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed = was
        .keys()
        .filter(|k| !now.contains_key(*k))
        .cloned()
        .collect();
    (set, removed)
}

/// The types whose tags change in place.
pub(super) fn retaggable(kind: &str) -> bool {
    matches!(
        kind,
        "AWS::Lambda::Function"
            | "AWS::SQS::Queue"
            | "AWS::DynamoDB::Table"
            | "AWS::SNS::Topic"
            | "AWS::StepFunctions::StateMachine"
    )
}

/// Bring the tags of `was` (of `kind`) from `old`'s to `new`'s.
pub(super) async fn retag(
    ctx: &Ctx,
    kind: &str,
    was: &Created,
    (old, new): (&Map<String, Value>, &Map<String, Value>),
) -> Result<(), String> {
    let (set, removed) = diff(old, new);
    if set.is_empty() && removed.is_empty() {
        return Ok(());
    }
    let id = was.physical_id.as_str();
    let arn =
        || super::string(&was.attributes, "Arn").ok_or_else(|| format!("{kind} {id} has no Arn"));
    let list = |key: &str, value: &str| -> Vec<Value> {
        set.iter().map(|(k, v)| json!({key: k, value: v})).collect()
    };
    match kind {
        "AWS::Lambda::Function" => {
            let path = format!("/2017-03-31/tags/{}", arn()?);
            if !set.is_empty() {
                let body = json!({"Tags": set});
                ctx.rest("lambda", Method::POST, &path, Some(&body)).await?;
            }
            if !removed.is_empty() {
                let keys: Vec<String> = removed
                    .iter()
                    .map(|k| format!("tagKeys={}", super::encode(k)))
                    .collect();
                let at = format!("{path}?{}", keys.join("&"));
                ctx.rest("lambda", Method::DELETE, &at, None).await?;
            }
        }
        "AWS::SQS::Queue" => {
            if !set.is_empty() {
                let body = json!({"QueueUrl": id, "Tags": set});
                ctx.json("sqs", "AmazonSQS.TagQueue", JSON_1_0, &body)
                    .await?;
            }
            if !removed.is_empty() {
                let body = json!({"QueueUrl": id, "TagKeys": removed});
                ctx.json("sqs", "AmazonSQS.UntagQueue", JSON_1_0, &body)
                    .await?;
            }
        }
        "AWS::DynamoDB::Table" => {
            let target = |op: &str| format!("DynamoDB_20120810.{op}");
            if !set.is_empty() {
                let body = json!({"ResourceArn": arn()?, "Tags": list("Key", "Value")});
                ctx.json("dynamodb", &target("TagResource"), JSON_1_0, &body)
                    .await?;
            }
            if !removed.is_empty() {
                let body = json!({"ResourceArn": arn()?, "TagKeys": removed});
                ctx.json("dynamodb", &target("UntagResource"), JSON_1_0, &body)
                    .await?;
            }
        }
        "AWS::StepFunctions::StateMachine" => {
            let target = |op: &str| format!("AWSStepFunctions.{op}");
            if !set.is_empty() {
                let body = json!({"resourceArn": id, "tags": list("key", "value")});
                ctx.json("states", &target("TagResource"), JSON_1_0, &body)
                    .await?;
            }
            if !removed.is_empty() {
                let body = json!({"resourceArn": id, "tagKeys": removed});
                ctx.json("states", &target("UntagResource"), JSON_1_0, &body)
                    .await?;
            }
        }
        "AWS::SNS::Topic" => {
            let start = |action: &str| {
                vec![
                    ("Action".to_string(), action.to_string()),
                    ("Version".to_string(), "2010-03-31".to_string()),
                    ("ResourceArn".to_string(), id.to_string()),
                ]
            };
            if !set.is_empty() {
                let mut form = start("TagResource");
                for (i, (k, v)) in set.iter().enumerate() {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    form.push((format!("Tags.member.{}.Key", i + 1), k.clone()));
                    form.push((format!("Tags.member.{}.Value", i + 1), v));
                }
                ctx.query("sns", &form).await?;
            }
            if !removed.is_empty() {
                let mut form = start("UntagResource");
                for (i, k) in removed.iter().enumerate() {
                    form.push((format!("TagKeys.member.{}", i + 1), k.clone()));
                }
                ctx.query("sns", &form).await?;
            }
        }
        other => return Err(format!("Nimbus cannot change the tags of {other} in place")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_set_changed_and_removed() {
        let old = json!({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]});
        let new = json!({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "c", "Value": "3"}]});
        let (set, removed) = diff(old.as_object().unwrap(), new.as_object().unwrap());
        assert_eq!(Value::Object(set), json!({"c": "3"}));
        assert_eq!(removed, ["b"]);
    }
}
