//! `AWS::DynamoDB::Table` through DynamoDB's JSON API: the properties are
//! `CreateTable`'s input; `Ref` is the table name; `Arn` and `StreamArn`.

use super::{Created, Ctx, string};
use serde_json::{Map, Value, json};

const TARGET: &str = "application/x-amz-json-1.0";

pub(super) async fn create(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = string(props, "TableName").unwrap_or_else(|| ctx.generated_name(255));
    let mut input = props.clone();
    input.insert("TableName".into(), Value::String(name.clone()));
    if let Some(Value::Object(t)) = input.get_mut("ProvisionedThroughput") {
        super::typed(t, &["ReadCapacityUnits", "WriteCapacityUnits"], &[]);
    }
    // CloudFormation's stream specification has only the view type.
    if let Some(Value::Object(spec)) = input.get_mut("StreamSpecification") {
        spec.insert("StreamEnabled".into(), Value::Bool(true));
    }
    // CloudFormation's default; CreateTable requires one.
    input
        .entry("BillingMode")
        .or_insert_with(|| Value::String("PROVISIONED".into()));
    for unsupported in [
        "PointInTimeRecoverySpecification",
        "TimeToLiveSpecification",
        "ContributorInsightsSpecification",
        "KinesisStreamSpecification",
        "ImportSourceSpecification",
    ] {
        input.remove(unsupported);
    }
    let made = ctx
        .json(
            "dynamodb",
            "DynamoDB_20120810.CreateTable",
            TARGET,
            &Value::Object(input),
        )
        .await?;
    let d = &made["TableDescription"];
    let mut created = Created::named(name).with("Arn", d["TableArn"].clone());
    if let Some(s) = d.get("LatestStreamArn") {
        created = created.with("StreamArn", s.clone());
    }
    Ok(created)
}

pub(super) async fn delete(ctx: &Ctx, name: &str) -> Result<(), String> {
    ctx.json(
        "dynamodb",
        "DynamoDB_20120810.DeleteTable",
        TARGET,
        &json!({"TableName": name}),
    )
    .await
    .map(|_| ())
}

/// Update a table in place: billing, throughput, stream and global
/// secondary indexes (created and deleted by name); the new `Arn` and
/// `StreamArn`.
pub(super) async fn update(
    ctx: &Ctx,
    name: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<Created, String> {
    let mut input = Map::new();
    input.insert("TableName".into(), Value::String(name.to_string()));
    let billing =
        |p: &Map<String, Value>| string(p, "BillingMode").unwrap_or_else(|| "PROVISIONED".into());
    if billing(old) != billing(new) {
        input.insert("BillingMode".into(), Value::String(billing(new)));
    }
    if old.get("ProvisionedThroughput") != new.get("ProvisionedThroughput")
        && let Some(Value::Object(t)) = new.get("ProvisionedThroughput")
    {
        let mut t = t.clone();
        super::typed(&mut t, &["ReadCapacityUnits", "WriteCapacityUnits"], &[]);
        input.insert("ProvisionedThroughput".into(), Value::Object(t));
    }
    if old.get("StreamSpecification") != new.get("StreamSpecification") {
        let spec = match new.get("StreamSpecification") {
            Some(Value::Object(s)) => {
                let mut s = s.clone();
                s.insert("StreamEnabled".into(), Value::Bool(true));
                Value::Object(s)
            }
            _ => json!({"StreamEnabled": false}),
        };
        input.insert("StreamSpecification".into(), spec);
    }
    let indexes = |p: &Map<String, Value>| -> Vec<Value> {
        p.get("GlobalSecondaryIndexes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let index_name = |v: &Value| {
        v.get("IndexName")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (was, now) = (indexes(old), indexes(new));
    let mut updates = Vec::new();
    for i in &now {
        if !was.iter().any(|w| index_name(w) == index_name(i)) {
            updates.push(json!({"Create": i}));
        }
    }
    for w in &was {
        if !now.iter().any(|i| index_name(i) == index_name(w)) {
            updates.push(json!({"Delete": {"IndexName": index_name(w)}}));
        }
    }
    if !updates.is_empty() {
        input.insert("GlobalSecondaryIndexUpdates".into(), Value::Array(updates));
        if let Some(a) = new.get("AttributeDefinitions") {
            input.insert("AttributeDefinitions".into(), a.clone());
        }
    }
    let target = "DynamoDB_20120810.UpdateTable";
    let d = if input.len() > 1 {
        ctx.json("dynamodb", target, TARGET, &Value::Object(input))
            .await?["TableDescription"]
            .clone()
    } else {
        let input = json!({"TableName": name});
        ctx.json(
            "dynamodb",
            "DynamoDB_20120810.DescribeTable",
            TARGET,
            &input,
        )
        .await?["Table"]
            .clone()
    };
    let mut created = Created::named(name).with("Arn", d["TableArn"].clone());
    if let Some(s) = d.get("LatestStreamArn").filter(|s| !s.is_null()) {
        created = created.with("StreamArn", s.clone());
    }
    Ok(created)
}
