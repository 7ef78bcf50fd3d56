//! `AWS::Logs::LogGroup`, `AWS::Logs::MetricFilter` and
//! `AWS::Logs::SubscriptionFilter` through CloudWatch Logs' JSON API. A log
//! group's `Ref` is its name (`Arn` the `...:log-group:NAME:*` ARN); a
//! filter's is its name, its physical id `group|name`.

use super::{Created, Ctx, required, string};
use serde_json::{Map, Value, json};

const TYPE: &str = "application/x-amz-json-1.1";

async fn call(ctx: &Ctx, op: &str, input: &Value) -> Result<Value, String> {
    ctx.json("logs", &format!("Logs_20140328.{op}"), TYPE, input)
        .await
}

fn tags(props: &Map<String, Value>) -> Value {
    let m: Map<String, Value> = props
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t.get("Key")?.as_str()?.to_string(), t.get("Value")?.clone())))
        .collect();
    Value::Object(m)
}

pub(super) async fn create_group(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = string(props, "LogGroupName").unwrap_or_else(|| ctx.generated_name(512));
    let mut input = json!({"logGroupName": name});
    let t = tags(props);
    if t.as_object().is_some_and(|m| !m.is_empty()) {
        input["tags"] = t;
    }
    match call(ctx, "CreateLogGroup", &input).await {
        Ok(_) => {}
        // A function's group made by its first invocation is adopted, as
        // templates declare `/aws/lambda/NAME` to set its retention.
        Err(e) if e.contains("already exists") && name.starts_with("/aws/lambda/") => {}
        Err(e) => return Err(e),
    }
    update_group(ctx, &name, props).await
}

pub(super) async fn update_group(
    ctx: &Ctx,
    name: &str,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    match props
        .get("RetentionInDays")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
    {
        Some(days) => {
            call(
                ctx,
                "PutRetentionPolicy",
                &json!({"logGroupName": name, "retentionInDays": days}),
            )
            .await?;
        }
        None => {
            call(ctx, "DeleteRetentionPolicy", &json!({"logGroupName": name})).await?;
        }
    }
    let got = call(
        ctx,
        "DescribeLogGroups",
        &json!({"logGroupNamePrefix": name}),
    )
    .await?;
    let arn = got["logGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["logGroupName"] == name)
        .and_then(|g| g["arn"].as_str())
        .unwrap_or_default()
        .to_string();
    Ok(Created::named(name).with("Arn", arn))
}

pub(super) async fn delete_group(ctx: &Ctx, name: &str) -> Result<(), String> {
    match call(ctx, "DeleteLogGroup", &json!({"logGroupName": name})).await {
        Err(e) if !e.contains("does not exist") => Err(e),
        _ => Ok(()),
    }
}

/// Physical id `group|name`.
fn split(id: &str) -> (&str, &str) {
    id.split_once('|').unwrap_or((id, ""))
}

pub(super) async fn create_metric_filter(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let group = required(props, "LogGroupName")?;
    let name = string(props, "FilterName").unwrap_or_else(|| ctx.generated_name(512));
    let transformations: Vec<Value> = props
        .get("MetricTransformations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            let mut v = json!({
                "metricName": t.get("MetricName"), "metricNamespace": t.get("MetricNamespace"),
                "metricValue": t.get("MetricValue"),
            });
            if let Some(d) = t.get("DefaultValue") {
                v["defaultValue"] = match d {
                    Value::String(s) => s.parse::<f64>().map_or(d.clone(), |n| json!(n)),
                    _ => d.clone(),
                };
            }
            if let Some(u) = t.get("Unit") {
                v["unit"] = u.clone();
            }
            if let Some(Value::Array(dims)) = t.get("Dimensions") {
                let m: Map<String, Value> = dims
                    .iter()
                    .filter_map(|d| {
                        Some((d.get("Key")?.as_str()?.to_string(), d.get("Value")?.clone()))
                    })
                    .collect();
                v["dimensions"] = Value::Object(m);
            }
            v
        })
        .collect();
    call(
        ctx,
        "PutMetricFilter",
        &json!({"logGroupName": group, "filterName": name,
        "filterPattern": string(props, "FilterPattern").unwrap_or_default(),
        "metricTransformations": transformations}),
    )
    .await?;
    Ok(Created {
        physical_id: format!("{group}|{name}"),
        reference: Value::String(name),
        attributes: Map::new(),
    })
}

pub(super) async fn delete_metric_filter(ctx: &Ctx, id: &str) -> Result<(), String> {
    let (group, name) = split(id);
    match call(
        ctx,
        "DeleteMetricFilter",
        &json!({"logGroupName": group, "filterName": name}),
    )
    .await
    {
        Err(e) if !e.contains("does not exist") => Err(e),
        _ => Ok(()),
    }
}

pub(super) async fn create_subscription(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let group = required(props, "LogGroupName")?;
    let name = string(props, "FilterName").unwrap_or_else(|| ctx.generated_name(512));
    let mut input = json!({"logGroupName": group, "filterName": name,
        "filterPattern": string(props, "FilterPattern").unwrap_or_default(),
        "destinationArn": required(props, "DestinationArn")?});
    for (k, member) in [("RoleArn", "roleArn"), ("Distribution", "distribution")] {
        if let Some(v) = string(props, k) {
            input[member] = json!(v);
        }
    }
    call(ctx, "PutSubscriptionFilter", &input).await?;
    Ok(Created {
        physical_id: format!("{group}|{name}"),
        reference: Value::String(name),
        attributes: Map::new(),
    })
}

pub(super) async fn delete_subscription(ctx: &Ctx, id: &str) -> Result<(), String> {
    let (group, name) = split(id);
    match call(
        ctx,
        "DeleteSubscriptionFilter",
        &json!({"logGroupName": group, "filterName": name}),
    )
    .await
    {
        Err(e) if !e.contains("does not exist") => Err(e),
        _ => Ok(()),
    }
}
