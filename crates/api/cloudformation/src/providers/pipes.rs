//! `AWS::Pipes::Pipe` through the Pipes REST-JSON API (the properties are the
//! API's members). Its `Ref` is its name; `Fn::GetAtt` gives `Arn`,
//! `CurrentState`, `CreationTime` and `LastModifiedTime`.

use super::{Created, Ctx, string};
use http::Method;
use serde_json::{Map, Value};

fn body(props: &Map<String, Value>) -> Value {
    let mut b = props.clone();
    b.remove("Name");
    Value::Object(b)
}

fn created(name: String, made: &Value) -> Created {
    let mut c = Created::named(name);
    for k in ["Arn", "CurrentState", "CreationTime", "LastModifiedTime"] {
        if let Some(v) = made.get(k) {
            c = c.with(k, v.clone());
        }
    }
    c
}

pub(super) async fn create_pipe(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = string(props, "Name").unwrap_or_else(|| ctx.generated_name(64));
    ctx.rest(
        "pipes",
        Method::POST,
        &format!("/v1/pipes/{name}"),
        Some(&body(props)),
    )
    .await?;
    // What the pipe is once made (running, not `CREATING`).
    let made = ctx
        .rest("pipes", Method::GET, &format!("/v1/pipes/{name}"), None)
        .await?;
    Ok(created(name, &made))
}

pub(super) async fn update_pipe(
    ctx: &Ctx,
    name: &str,
    new: &Map<String, Value>,
) -> Result<Created, String> {
    let mut b = body(new);
    // The source is the pipe's for good; UpdatePipe does not take it.
    if let Some(o) = b.as_object_mut() {
        o.remove("Source");
    }
    ctx.rest("pipes", Method::PUT, &format!("/v1/pipes/{name}"), Some(&b))
        .await?;
    let made = ctx
        .rest("pipes", Method::GET, &format!("/v1/pipes/{name}"), None)
        .await?;
    Ok(created(name.to_string(), &made))
}

pub(super) async fn delete_pipe(ctx: &Ctx, name: &str) -> Result<(), String> {
    match ctx
        .rest("pipes", Method::DELETE, &format!("/v1/pipes/{name}"), None)
        .await
    {
        Err(e) if e.contains("Status Code: 404") => Ok(()),
        other => other.map(|_| ()),
    }
}
