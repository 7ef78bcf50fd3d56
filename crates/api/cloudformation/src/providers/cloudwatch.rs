//! `AWS::CloudWatch::Alarm` and `AWS::CloudWatch::CompositeAlarm` through
//! CloudWatch's awsJson API: `Ref` is the alarm's name, `Fn::GetAtt` gives
//! its `Arn`. Every property but `AlarmName` is updated in place
//! (`PutMetricAlarm` or `PutCompositeAlarm` again).

use super::{Created, Ctx, string};
use serde_json::{Map, Value, json};

const TYPE: &str = "application/x-amz-json-1.0";

pub(super) async fn create(
    ctx: &Ctx,
    props: &Map<String, Value>,
    composite: bool,
) -> Result<Created, String> {
    let name = string(props, "AlarmName").unwrap_or_else(|| {
        let name = ctx.generated_name(255);
        ctx.claim(&name);
        name
    });
    put(ctx, name, props, composite).await
}

pub(super) async fn update(
    ctx: &Ctx,
    name: &str,
    new: &Map<String, Value>,
    composite: bool,
) -> Result<Created, String> {
    put(ctx, name.to_string(), new, composite).await
}

async fn put(
    ctx: &Ctx,
    name: String,
    props: &Map<String, Value>,
    composite: bool,
) -> Result<Created, String> {
    let mut input = json!({"AlarmName": name});
    for (k, v) in props {
        if k == "AlarmName" {
            continue;
        }
        // CloudFormation gives numbers as text at times.
        let v = match (k.as_str(), v) {
            ("Period" | "EvaluationPeriods" | "DatapointsToAlarm", Value::String(s)) => {
                s.parse::<u64>().map_or_else(|_| v.clone(), |n| json!(n))
            }
            ("Threshold", Value::String(s)) => {
                s.parse::<f64>().map_or_else(|_| v.clone(), |n| json!(n))
            }
            _ => v.clone(),
        };
        input[k] = v;
    }
    let (op, kind, list) = if composite {
        ("PutCompositeAlarm", "CompositeAlarm", "CompositeAlarms")
    } else {
        ("PutMetricAlarm", "MetricAlarm", "MetricAlarms")
    };
    ctx.json(
        "monitoring",
        &format!("GraniteServiceVersion20100801.{op}"),
        TYPE,
        &input,
    )
    .await?;
    let got = ctx
        .json(
            "monitoring",
            "GraniteServiceVersion20100801.DescribeAlarms",
            TYPE,
            &json!({"AlarmNames": [name], "AlarmTypes": [kind]}),
        )
        .await?;
    let arn = got[list][0]["AlarmArn"].clone();
    Ok(Created::named(name).with("Arn", arn))
}

pub(super) async fn delete(ctx: &Ctx, name: &str) -> Result<(), String> {
    ctx.json(
        "monitoring",
        "GraniteServiceVersion20100801.DeleteAlarms",
        TYPE,
        &json!({"AlarmNames": [name]}),
    )
    .await
    .map(|_| ())
}
