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
