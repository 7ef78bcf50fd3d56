//! `AWS::Lambda::Function`, `AWS::Lambda::Permission` and
//! `AWS::Lambda::EventSourceMapping` through Lambda's REST API. Inline code
//! (`Code.ZipFile`) becomes a zip holding `index.py` or `index.js`, as
//! CloudFormation packs it. A function's `Ref` is its name (`Arn`).

use super::{Created, Ctx, required, string};
use base64::Engine;
use http::Method;
use serde_json::{Map, Value, json};
use std::io::Write;

const FUNCTIONS: &str = "/2015-03-31/functions";
const MAPPINGS: &str = "/2015-03-31/event-source-mappings";

/// `Code.ZipFile` source as a zip: one file, named for the runtime.
fn inline_zip(source: &str, runtime: &str) -> Result<Vec<u8>, String> {
    let file = if runtime.starts_with("nodejs") {
        "index.js"
    } else {
        "index.py"
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
    zip.start_file(file, options).map_err(|e| e.to_string())?;
    zip.write_all(source.as_bytes())
        .map_err(|e| e.to_string())?;
    let cursor = zip.finish().map_err(|e| e.to_string())?;
    Ok(cursor.into_inner())
}

/// CloudFormation's tag list as Lambda's tag map.
fn tag_map(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t.get("Key")?.as_str()?.to_string(), t.get("Value")?.clone())))
        .collect()
}

/// `Code` as Lambda's API takes it: inline source zipped.
fn code_input(props: &Map<String, Value>) -> Result<Value, String> {
    let runtime = string(props, "Runtime").unwrap_or_default();
    let code = props
        .get("Code")
        .and_then(Value::as_object)
        .ok_or("Properties validation failed for resource: required key [Code] not found")?;
    Ok(match string(code, "ZipFile") {
        Some(source) => {
            let zip = inline_zip(&source, &runtime)?;
            json!({"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)})
        }
        None => Value::Object(code.clone()),
    })
}

/// The function's configuration as Lambda's API takes it: numbers and
/// booleans typed, environment variables as text.
fn configuration(props: &Map<String, Value>) -> Map<String, Value> {
    let mut input = props.clone();
    super::typed(
        &mut input,
        &["MemorySize", "Timeout", "ReservedConcurrentExecutions"],
        &["Publish"],
    );
    // Environment variables are text, whatever YAML made of them.
    if let Some(Value::Object(vars)) = input
        .get_mut("Environment")
        .and_then(|e| e.get_mut("Variables"))
    {
        for v in vars.values_mut() {
            if !v.is_string() {
                *v = Value::String(v.to_string());
            }
        }
    }
    input
}

pub(super) async fn create_function(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let name = string(props, "FunctionName").unwrap_or_else(|| ctx.generated_name(64));
    let code = code_input(props)?;
    let mut input = configuration(props);
    input.insert("FunctionName".into(), Value::String(name.clone()));
    input.insert("Code".into(), code);
    let reserved = input.remove("ReservedConcurrentExecutions");
    let tags = tag_map(props.get("Tags"));
    input.insert("Tags".into(), Value::Object(tags));
    let made = ctx
        .rest(
            "lambda",
            Method::POST,
            FUNCTIONS,
            Some(&Value::Object(input)),
        )
        .await?;
    let created = Created::named(name.clone()).with("Arn", made["FunctionArn"].clone());
    if let Some(n) = reserved {
        // The function exists: a refused limit must not leave it unowned.
        if let Err(why) = reserve(ctx, &name, Some(&n)).await {
            let _ = delete_function(ctx, &name).await;
            return Err(why);
        }
    }
    Ok(created)
}

/// Set (or with `None` remove) a function's reserved concurrency.
async fn reserve(ctx: &Ctx, name: &str, n: Option<&Value>) -> Result<(), String> {
    let path = format!("/2017-10-31/functions/{name}/concurrency");
    match n {
        Some(n) => {
            let body = json!({"ReservedConcurrentExecutions": n});
            ctx.rest("lambda", Method::PUT, &path, Some(&body)).await?;
        }
        None => {
            ctx.rest("lambda", Method::DELETE, &path, None).await?;
        }
    }
    Ok(())
}

/// What `UpdateFunctionConfiguration` resets a property to when the
/// template drops it.
const CONFIGURATION_DEFAULTS: [(&str, &str); 10] = [
    ("Description", r#""""#),
    ("Timeout", "3"),
    ("MemorySize", "128"),
    ("Environment", r#"{"Variables":{}}"#),
    ("Layers", "[]"),
    ("DeadLetterConfig", "{}"),
    ("TracingConfig", r#"{"Mode":"PassThrough"}"#),
    ("VpcConfig", r#"{"SubnetIds":[],"SecurityGroupIds":[]}"#),
    ("EphemeralStorage", r#"{"Size":512}"#),
    ("SnapStart", r#"{"ApplyOn":"None"}"#),
];

/// The members of `UpdateFunctionConfiguration`'s input.
const CONFIGURATION: [&str; 17] = [
    "Role",
    "Handler",
    "Description",
    "Timeout",
    "MemorySize",
    "VpcConfig",
    "Environment",
    "Runtime",
    "DeadLetterConfig",
    "KMSKeyArn",
    "TracingConfig",
    "Layers",
    "FileSystemConfigs",
    "ImageConfig",
    "EphemeralStorage",
    "LoggingConfig",
    "SnapStart",
];

/// Update a function in place: its code when `Code` changed, its
/// configuration (dropped properties back to Lambda's defaults), its
/// reserved concurrency.
pub(super) async fn update_function(
    ctx: &Ctx,
    name: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let base = format!("{FUNCTIONS}/{name}");
    if old.get("Code") != new.get("Code") || old.get("Architectures") != new.get("Architectures") {
        let mut code = match code_input(new)? {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if let Some(a) = new.get("Architectures") {
            code.insert("Architectures".into(), a.clone());
        }
        let path = format!("{base}/code");
        ctx.rest("lambda", Method::PUT, &path, Some(&Value::Object(code)))
            .await?;
    }
    let (was, now) = (configuration(old), configuration(new));
    let mut input = Map::new();
    for k in CONFIGURATION {
        match (was.get(k), now.get(k)) {
            (a, Some(b)) if a != Some(b) => {
                input.insert(k.to_string(), b.clone());
            }
            (Some(_), None) => {
                if let Some((_, d)) = CONFIGURATION_DEFAULTS.iter().find(|(n, _)| *n == k) {
                    input.insert(
                        k.to_string(),
                        serde_json::from_str(d).unwrap_or(Value::Null),
                    );
                }
            }
            _ => {}
        }
    }
    if !input.is_empty() {
        let path = format!("{base}/configuration");
        ctx.rest("lambda", Method::PUT, &path, Some(&Value::Object(input)))
            .await?;
    }
    let key = "ReservedConcurrentExecutions";
    if was.get(key) != now.get(key) {
        reserve(ctx, name, now.get(key)).await?;
    }
    Ok(())
}

pub(super) async fn delete_function(ctx: &Ctx, name: &str) -> Result<(), String> {
    ctx.rest(
        "lambda",
        Method::DELETE,
        &format!("{FUNCTIONS}/{name}"),
        None,
    )
    .await
    .map(|_| ())
}

pub(super) async fn create_permission(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let function = required(props, "FunctionName")?;
    let sid = ctx.generated_name(100);
    let mut input = props.clone();
    input.remove("FunctionName");
    input.insert("StatementId".into(), Value::String(sid.clone()));
    let path = format!("{FUNCTIONS}/{function}/policy");
    ctx.rest("lambda", Method::POST, &path, Some(&Value::Object(input)))
        .await?;
    Ok(Created::named(sid.clone())
        .with("FunctionName", function)
        .with("StatementId", sid))
}

pub(super) async fn delete_permission(
    ctx: &Ctx,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    let function = string(attributes, "FunctionName").unwrap_or_default();
    let sid = ctx.generated_sid(attributes);
    let path = format!("{FUNCTIONS}/{function}/policy/{sid}");
    ctx.rest("lambda", Method::DELETE, &path, None)
        .await
        .map(|_| ())
}

pub(super) async fn create_mapping(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let props = mapping_input(props);
    let made = ctx
        .rest(
            "lambda",
            Method::POST,
            MAPPINGS,
            Some(&Value::Object(props)),
        )
        .await?;
    let id = made["UUID"].as_str().unwrap_or_default().to_string();
    Ok(Created::named(id.clone()).with("Id", id).with(
        "EventSourceMappingArn",
        made["EventSourceMappingArn"].clone(),
    ))
}

/// A mapping's properties as Lambda's API takes them.
fn mapping_input(props: &Map<String, Value>) -> Map<String, Value> {
    let mut props = props.clone();
    super::typed(
        &mut props,
        &[
            "BatchSize",
            "MaximumBatchingWindowInSeconds",
            "MaximumRecordAgeInSeconds",
            "MaximumRetryAttempts",
            "ParallelizationFactor",
        ],
        &["Enabled", "BisectBatchOnFunctionError"],
    );
    props
}

/// Update a mapping in place (its source and starting position make a new one).
pub(super) async fn update_mapping(
    ctx: &Ctx,
    id: &str,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let mut props = mapping_input(new);
    for k in [
        "EventSourceArn",
        "StartingPosition",
        "StartingPositionTimestamp",
        "Tags",
    ] {
        props.remove(k);
    }
    let path = format!("{MAPPINGS}/{id}");
    ctx.rest("lambda", Method::PUT, &path, Some(&Value::Object(props)))
        .await
        .map(|_| ())
}

pub(super) async fn delete_mapping(ctx: &Ctx, id: &str) -> Result<(), String> {
    ctx.rest("lambda", Method::DELETE, &format!("{MAPPINGS}/{id}"), None)
        .await
        .map(|_| ())
}

impl Ctx {
    /// A permission's statement id: its physical id, kept as an attribute.
    fn generated_sid(&self, attributes: &Map<String, Value>) -> String {
        string(attributes, "StatementId").unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_code_is_named_for_the_runtime() {
        let zip = inline_zip("x = 1\n", "python3.12").unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.by_index(0).unwrap().name(), "index.py");
        let zip = inline_zip("exports.handler = 1", "nodejs20.x").unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.by_index(0).unwrap().name(), "index.js");
    }
}
