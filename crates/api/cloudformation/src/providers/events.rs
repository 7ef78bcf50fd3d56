//! `AWS::Events::Rule` and `AWS::Events::EventBus` through EventBridge's
//! JSON API. A rule's `Ref` is its name (`BUS|NAME` on another bus, as on
//! AWS), `Arn` for `Fn::GetAtt`; its targets are put after it and removed
//! before it goes. A bus's `Ref` is its name (`Arn`, `Name`).

use super::{Created, Ctx, required, string};
use serde_json::{Map, Value, json};

const TARGET: &str = "application/x-amz-json-1.1";

async fn call(ctx: &Ctx, op: &str, input: &Value) -> Result<Value, String> {
    ctx.json("events", &format!("AWSEvents.{op}"), TARGET, input)
        .await
}

fn bus(props: &Map<String, Value>) -> Option<String> {
    string(props, "EventBusName").filter(|b| b != "default")
}

/// PutRule and the targets of `props` for the rule `name`; the targets
/// the rule had and no longer has are removed first.
async fn put(
    ctx: &Ctx,
    name: &str,
    props: &Map<String, Value>,
    old: &[String],
) -> Result<String, String> {
    let mut input = json!({"Name": name});
    for k in [
        "ScheduleExpression",
        "State",
        "Description",
        "RoleArn",
        "EventBusName",
    ] {
        if let Some(v) = string(props, k) {
            input[k] = json!(v);
        }
    }
    match props.get("EventPattern") {
        Some(Value::String(p)) => input["EventPattern"] = json!(p),
        Some(p @ Value::Object(_)) => input["EventPattern"] = json!(p.to_string()),
        _ => {}
    }
    let made = call(ctx, "PutRule", &input).await?;
    let targets: Vec<Value> = props
        .get("Targets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ids: Vec<String> = targets
        .iter()
        .filter_map(|t| t.get("Id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let gone: Vec<&String> = old.iter().filter(|o| !ids.contains(o)).collect();
    let on_bus = |mut v: Value| {
        if let Some(b) = bus(props) {
            v["EventBusName"] = json!(b);
        }
        v
    };
    if !gone.is_empty() {
        call(
            ctx,
            "RemoveTargets",
            &on_bus(json!({"Rule": name, "Ids": gone})),
        )
        .await?;
    }
    if !targets.is_empty() {
        let targets: Vec<Value> = targets
            .into_iter()
            .map(|mut t| {
                // CloudFormation takes a pattern or input as an object too.
                if let Some(i @ Value::Object(_)) = t.get("Input") {
                    t["Input"] = json!(i.to_string());
                }
                t
            })
            .collect();
        let put = call(
            ctx,
            "PutTargets",
            &on_bus(json!({"Rule": name, "Targets": targets})),
        )
        .await?;
        if let Some(f) = put["FailedEntries"].as_array().and_then(|f| f.first()) {
            return Err(format!(
                "Target {} could not be put: {}",
                f["TargetId"].as_str().unwrap_or_default(),
                f["ErrorMessage"].as_str().unwrap_or_default()
            ));
        }
    }
    Ok(made["RuleArn"].as_str().unwrap_or_default().to_string())
}

fn target_ids(props: &Map<String, Value>) -> Vec<String> {
    props
        .get("Targets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("Id").and_then(Value::as_str).map(str::to_string))
        .collect()
}

pub(super) async fn create_rule(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = string(props, "Name").unwrap_or_else(|| ctx.generated_name(64));
    let arn = match put(ctx, &name, props, &[]).await {
        Ok(arn) => arn,
        Err(why) => {
            // Made but not targeted: nothing would delete it.
            let _ = delete_rule(ctx, &reference(&name, props), &Map::new()).await;
            return Err(why);
        }
    };
    let mut created = Created::named(reference(&name, props)).with("Arn", arn);
    created
        .attributes
        .insert("Targets".into(), json!(target_ids(props)));
    Ok(created)
}

/// A rule's `Ref`: its name, or `BUS|NAME` on another bus.
fn reference(name: &str, props: &Map<String, Value>) -> String {
    match bus(props) {
        Some(b) => format!("{b}|{name}"),
        None => name.to_string(),
    }
}

pub(super) async fn update_rule(
    ctx: &Ctx,
    id: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let name = id.rsplit('|').next().unwrap_or(id);
    put(ctx, name, new, &target_ids(old)).await.map(|_| ())
}

pub(super) async fn delete_rule(
    ctx: &Ctx,
    id: &str,
    _attributes: &Map<String, Value>,
) -> Result<(), String> {
    let (bus, name) = match id.split_once('|') {
        Some((b, n)) => (Some(b), n),
        None => (None, id),
    };
    let with_bus = |mut v: Value| {
        if let Some(b) = bus {
            v["EventBusName"] = json!(b);
        }
        v
    };
    let listed = call(ctx, "ListTargetsByRule", &with_bus(json!({"Rule": name}))).await;
    let Ok(listed) = listed else {
        // No such rule any more.
        return Ok(());
    };
    let ids: Vec<Value> = listed["Targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("Id").cloned())
        .collect();
    if !ids.is_empty() {
        call(
            ctx,
            "RemoveTargets",
            &with_bus(json!({"Rule": name, "Ids": ids})),
        )
        .await?;
    }
    call(ctx, "DeleteRule", &with_bus(json!({"Name": name})))
        .await
        .map(|_| ())
}

pub(super) async fn create_bus(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = required(props, "Name")?;
    let made = call(
        ctx,
        "CreateEventBus",
        &json!({"Name": name, "Description": string(props, "Description")}),
    )
    .await?;
    Ok(Created::named(name.clone())
        .with("Arn", made["EventBusArn"].clone())
        .with("Name", name))
}

pub(super) async fn delete_bus(ctx: &Ctx, name: &str) -> Result<(), String> {
    call(ctx, "DeleteEventBus", &json!({"Name": name}))
        .await
        .map(|_| ())
}
