//! `AWS::Scheduler::Schedule` and `AWS::Scheduler::ScheduleGroup` through
//! Scheduler's REST-JSON API. A schedule's `Ref` is its name (`Arn`); a
//! group's its name (`Arn`).

use super::{Created, Ctx, string};
use http::Method;
use serde_json::{Map, Value, json};

/// The schedule's properties as the API's body (they have the same names).
fn body(props: &Map<String, Value>) -> Result<Value, String> {
    let mut b = props.clone();
    b.remove("Name");
    for k in ["StartDate", "EndDate"] {
        if b.contains_key(k) {
            return Err(format!(
                "Nimbus does not take {k} on AWS::Scheduler::Schedule yet; set it with the Scheduler API"
            ));
        }
    }
    Ok(Value::Object(b))
}

fn path(name: &str, group: Option<&str>) -> String {
    match group {
        Some(g) => format!("/schedules/{name}?groupName={g}"),
        None => format!("/schedules/{name}"),
    }
}

pub(super) async fn create_schedule(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let name = string(props, "Name").unwrap_or_else(|| ctx.generated_name(64));
    let made = ctx
        .rest(
            "scheduler",
            Method::POST,
            &path(&name, None),
            Some(&body(props)?),
        )
        .await?;
    let mut created = Created::named(name).with("Arn", made["ScheduleArn"].clone());
    if let Some(g) = string(props, "GroupName") {
        created = created.with("GroupName", g);
    }
    Ok(created)
}

pub(super) async fn update_schedule(
    ctx: &Ctx,
    name: &str,
    new: &Map<String, Value>,
) -> Result<(), String> {
    ctx.rest(
        "scheduler",
        Method::PUT,
        &path(name, None),
        Some(&body(new)?),
    )
    .await
    .map(|_| ())
}

pub(super) async fn delete_schedule(
    ctx: &Ctx,
    name: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    let group = string(attributes, "GroupName");
    match ctx
        .rest(
            "scheduler",
            Method::DELETE,
            &path(name, group.as_deref()),
            None,
        )
        .await
    {
        // Gone already (a one-time schedule that deleted itself).
        Err(e) if e.contains("Status Code: 404") => Ok(()),
        other => other.map(|_| ()),
    }
}

pub(super) async fn create_group(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = string(props, "Name").unwrap_or_else(|| ctx.generated_name(64));
    let made = ctx
        .rest(
            "scheduler",
            Method::POST,
            &format!("/schedule-groups/{name}"),
            Some(&json!({})),
        )
        .await?;
    Ok(Created::named(name).with("Arn", made["ScheduleGroupArn"].clone()))
}

pub(super) async fn delete_group(ctx: &Ctx, name: &str) -> Result<(), String> {
    ctx.rest(
        "scheduler",
        Method::DELETE,
        &format!("/schedule-groups/{name}"),
        None,
    )
    .await
    .map(|_| ())
}
