//! `AWS::SQS::Queue` through SQS's JSON API: `Ref` is the queue URL;
//! `Arn`, `QueueName`, `QueueUrl` for `Fn::GetAtt`.

use super::{Created, Ctx, string};
use serde_json::{Map, Value, json};

const TARGET: &str = "application/x-amz-json-1.0";

pub(super) async fn create(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let fifo = props
        .get("FifoQueue")
        .is_some_and(|v| v == true || v == "true");
    let name = string(props, "QueueName").unwrap_or_else(|| {
        if fifo {
            let name = format!("{}.fifo", ctx.generated_name(75));
            ctx.claim(&name);
            name
        } else {
            ctx.generated_name(80)
        }
    });
    let attributes = attributes(props);
    let tags: Map<String, Value> = props
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t.get("Key")?.as_str()?.to_string(), t.get("Value")?.clone())))
        .collect();
    let body = json!({"QueueName": name, "Attributes": attributes, "tags": tags});
    let made = ctx
        .json("sqs", "AmazonSQS.CreateQueue", TARGET, &body)
        .await?;
    let url = made["QueueUrl"].as_str().unwrap_or_default().to_string();
    let attrs = ctx
        .json(
            "sqs",
            "AmazonSQS.GetQueueAttributes",
            TARGET,
            &json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]}),
        )
        .await?;
    let arn = attrs["Attributes"]["QueueArn"].clone();
    Ok(Created::named(url.clone())
        .with("Arn", arn)
        .with("QueueName", name)
        .with("QueueUrl", url))
}

/// The queue attributes of a queue's properties, as text.
fn attributes(props: &Map<String, Value>) -> Map<String, Value> {
    let mut attributes = Map::new();
    for (k, v) in props {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Object(_) => v.to_string(),
            Value::Number(_) | Value::Bool(_) => v.to_string(),
            _ => continue,
        };
        if !matches!(k.as_str(), "QueueName" | "Tags") {
            attributes.insert(k.clone(), Value::String(text));
        }
    }
    attributes
}

/// Update a queue in place: its attributes as the template now gives
/// them (a dropped redrive or policy cleared).
pub(super) async fn update(
    ctx: &Ctx,
    url: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let mut now = attributes(new);
    // Set at creation only.
    now.remove("FifoQueue");
    // A dropped attribute goes back to SQS's default.
    for k in attributes(old).keys() {
        let default = match k.as_str() {
            "RedrivePolicy" | "RedriveAllowPolicy" | "Policy" => "",
            "VisibilityTimeout" => "30",
            "MessageRetentionPeriod" => "345600",
            "DelaySeconds" | "ReceiveMessageWaitTimeSeconds" => "0",
            "MaximumMessageSize" => "1048576",
            _ => continue,
        };
        now.entry(k.clone())
            .or_insert_with(|| Value::String(default.to_string()));
    }
    if now.is_empty() {
        return Ok(());
    }
    let input = json!({"QueueUrl": url, "Attributes": now});
    ctx.json("sqs", "AmazonSQS.SetQueueAttributes", TARGET, &input)
        .await
        .map(|_| ())
}

/// Delete the queue named `name`, found by its name.
pub(super) async fn delete_named(ctx: &Ctx, name: &str) -> Result<(), String> {
    let found = ctx
        .json(
            "sqs",
            "AmazonSQS.GetQueueUrl",
            TARGET,
            &json!({"QueueName": name}),
        )
        .await?;
    delete(ctx, found["QueueUrl"].as_str().unwrap_or_default()).await
}

pub(super) async fn delete(ctx: &Ctx, url: &str) -> Result<(), String> {
    ctx.json(
        "sqs",
        "AmazonSQS.DeleteQueue",
        TARGET,
        &json!({"QueueUrl": url}),
    )
    .await
    .map(|_| ())
}

/// `AWS::SQS::QueuePolicy`: the `Policy` attribute of each queue in `Queues`
/// (URLs); its `Ref` is a generated id.
pub(super) async fn create_policy(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let doc = match props.get("PolicyDocument") {
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Object(_)) => v.to_string(),
        _ => {
            return Err(
                "Properties validation failed for resource: required key [PolicyDocument] not found".into(),
            );
        }
    };
    let queues: Vec<Value> = props
        .get("Queues")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for url in &queues {
        let input = json!({"QueueUrl": url, "Attributes": {"Policy": doc}});
        ctx.json("sqs", "AmazonSQS.SetQueueAttributes", TARGET, &input)
            .await?;
    }
    Ok(Created::named(ctx.generated_name(80)).with("Queues", queues))
}

pub(super) async fn delete_policy(
    ctx: &Ctx,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    for url in attributes
        .get("Queues")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let input = json!({"QueueUrl": url, "Attributes": {"Policy": ""}});
        ctx.json("sqs", "AmazonSQS.SetQueueAttributes", TARGET, &input)
            .await?;
    }
    Ok(())
}
