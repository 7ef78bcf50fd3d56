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

pub(super) async fn create_function(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let name = string(props, "FunctionName").unwrap_or_else(|| ctx.generated_name(64));
    let runtime = string(props, "Runtime").unwrap_or_default();
    let code = props
        .get("Code")
        .and_then(Value::as_object)
        .ok_or("Properties validation failed for resource: required key [Code] not found")?;
    let code = match string(code, "ZipFile") {
        Some(source) => {
            let zip = inline_zip(&source, &runtime)?;
            json!({"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)})
        }
        None => Value::Object(code.clone()),
    };
    let mut input = props.clone();
    input.insert("FunctionName".into(), Value::String(name.clone()));
    input.insert("Code".into(), code);
    super::typed(&mut input, &["MemorySize", "Timeout"], &["Publish"]);
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
    Ok(Created::named(name).with("Arn", made["FunctionArn"].clone()))
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
