//! `AWS::SecretsManager::Secret` through Secrets Manager's JSON API, with
//! `GenerateSecretString` made by `GetRandomPassword` as CloudFormation
//! does: `Ref` is the secret's ARN; `Id` too.

use super::{Created, Ctx, string};
use serde_json::{Map, Value, json};

const TARGET: &str = "application/x-amz-json-1.1";

pub(super) async fn create(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = string(props, "Name").unwrap_or_else(|| ctx.generated_name(256));
    let secret = match props.get("GenerateSecretString") {
        Some(Value::Object(g)) => Some(generate(ctx, g).await?),
        _ => string(props, "SecretString"),
    };
    let mut input = json!({"Name": name});
    if let Some(s) = secret {
        input["SecretString"] = Value::String(s);
    }
    for k in ["Description", "KmsKeyId"] {
        if let Some(v) = string(props, k) {
            input[k] = Value::String(v);
        }
    }
    if let Some(t) = props.get("Tags") {
        input["Tags"] = t.clone();
    }
    let made = ctx
        .json(
            "secretsmanager",
            "secretsmanager.CreateSecret",
            TARGET,
            &input,
        )
        .await?;
    let arn = made["ARN"].as_str().unwrap_or_default().to_string();
    Ok(Created::named(arn.clone()).with("Id", arn))
}

/// Update a secret in place: its description and key, and its value when
/// `SecretString` changed (a generated one is kept, as CloudFormation keeps
/// it unless its generation settings change).
pub(super) async fn update(
    ctx: &Ctx,
    arn: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let mut input = json!({"SecretId": arn});
    for k in ["Description", "KmsKeyId"] {
        if let Some(v) = string(new, k) {
            input[k] = Value::String(v);
        }
    }
    if old.get("GenerateSecretString") != new.get("GenerateSecretString")
        && let Some(Value::Object(g)) = new.get("GenerateSecretString")
    {
        input["SecretString"] = Value::String(generate(ctx, g).await?);
    } else if old.get("SecretString") != new.get("SecretString")
        && let Some(s) = string(new, "SecretString")
    {
        input["SecretString"] = Value::String(s);
    }
    ctx.json(
        "secretsmanager",
        "secretsmanager.UpdateSecret",
        TARGET,
        &input,
    )
    .await
    .map(|_| ())
}

/// A password by `GetRandomPassword`; with `SecretStringTemplate` and
/// `GenerateStringKey`, a JSON object with the password under that key.
async fn generate(ctx: &Ctx, g: &Map<String, Value>) -> Result<String, String> {
    let mut input = Map::new();
    for (k, v) in g {
        if !matches!(k.as_str(), "SecretStringTemplate" | "GenerateStringKey") {
            input.insert(k.clone(), v.clone());
        }
    }
    let made = ctx
        .json(
            "secretsmanager",
            "secretsmanager.GetRandomPassword",
            TARGET,
            &Value::Object(input),
        )
        .await?;
    let password = made["RandomPassword"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match (
        string(g, "SecretStringTemplate"),
        string(g, "GenerateStringKey"),
    ) {
        (Some(template), Some(key)) => {
            let mut doc: Map<String, Value> = serde_json::from_str(&template)
                .map_err(|_| "SecretStringTemplate must be a JSON object".to_string())?;
            doc.insert(key, Value::String(password));
            Ok(Value::Object(doc).to_string())
        }
        _ => Ok(password),
    }
}

pub(super) async fn delete(ctx: &Ctx, arn: &str) -> Result<(), String> {
    let input = json!({"SecretId": arn, "ForceDeleteWithoutRecovery": true});
    ctx.json(
        "secretsmanager",
        "secretsmanager.DeleteSecret",
        TARGET,
        &input,
    )
    .await
    .map(|_| ())
}

/// A secret's value, or one key of its JSON, for
/// `{{resolve:secretsmanager:...}}`.
pub(super) async fn value(
    ctx: &Ctx,
    secret_id: &str,
    json_key: Option<&str>,
    stage: Option<&str>,
    version_id: Option<&str>,
) -> Result<String, String> {
    let mut input = json!({"SecretId": secret_id});
    if let Some(s) = stage {
        input["VersionStage"] = Value::String(s.to_string());
    }
    if let Some(v) = version_id {
        input["VersionId"] = Value::String(v.to_string());
    }
    let got = ctx
        .json(
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            TARGET,
            &input,
        )
        .await?;
    let text = got["SecretString"].as_str().unwrap_or_default().to_string();
    let Some(key) = json_key else {
        return Ok(text);
    };
    let doc: Value = serde_json::from_str(&text).map_err(|_| {
        format!("Secret {secret_id} is not a JSON object, so key {key} cannot be read")
    })?;
    match doc.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(format!(
            "Could not find SecretString key {key} in secret {secret_id}"
        )),
    }
}
