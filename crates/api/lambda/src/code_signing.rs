//! Code signing configurations and the one a function uses, on Lambda's paths
//! (`/2020-04-22/code-signing-configs`, `/2020-06-30/functions/{name}/code-signing-config`).

use crate::*;
use nimbus_functions::code_signing::{CodeSigningConfig, CodeSigningInput};

/// Most configurations (or functions) a list page holds.
const PAGE: usize = 50;

fn input(body: &Bytes) -> Result<CodeSigningInput, ApiError> {
    let v: Value = json_body::<Option<Value>>(body)?.unwrap_or(Value::Null);
    let strings = |v: Option<&Value>| {
        v.and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
    };
    Ok(CodeSigningInput {
        description: v
            .get("Description")
            .and_then(Value::as_str)
            .map(str::to_string),
        signing_profiles: strings(
            v.get("AllowedPublishers")
                .and_then(|p| p.get("SigningProfileVersionArns")),
        ),
        untrusted_artifact_on_deployment: v
            .get("CodeSigningPolicies")
            .and_then(|p| p.get("UntrustedArtifactOnDeployment"))
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn page_of(query: &str) -> Result<(Option<String>, usize), ApiError> {
    let max = match query_param(query, "MaxItems") {
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                error::validation(format!(
                    "1 validation error detected: Value '{m}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000"
                ))
            })?,
        None => PAGE,
    };
    Ok((query_param(query, "Marker"), max.min(PAGE)))
}

/// `/2020-04-22/code-signing-configs[/{arn}[/functions]]`.
pub(crate) fn parse_configs(
    req: &Request<Bytes>,
    method: &Method,
    rest: &[&str],
) -> Result<Operation, ApiError> {
    let query = req.uri().query().unwrap_or("");
    match (method, rest) {
        (&Method::POST, []) => Ok(Operation::CreateCodeSigningConfig(input(req.body())?)),
        (&Method::GET, []) => {
            let (marker, max_items) = page_of(query)?;
            Ok(Operation::ListCodeSigningConfigs { marker, max_items })
        }
        (method, [arn]) => {
            let arn = decode(arn)?;
            match *method {
                Method::GET => Ok(Operation::GetCodeSigningConfig { arn }),
                Method::PUT => Ok(Operation::UpdateCodeSigningConfig {
                    arn,
                    input: input(req.body())?,
                }),
                Method::DELETE => Ok(Operation::DeleteCodeSigningConfig { arn }),
                _ => Err(not_found(req)),
            }
        }
        (&Method::GET, [arn, "functions"]) => {
            let (marker, max_items) = page_of(query)?;
            Ok(Operation::ListFunctionsByCodeSigningConfig {
                arn: decode(arn)?,
                marker,
                max_items,
            })
        }
        _ => Err(not_found(req)),
    }
}

/// `/2020-06-30/functions/{name}/code-signing-config`.
pub(crate) fn parse_function(
    req: &Request<Bytes>,
    method: &Method,
    raw: &str,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let name = function_ref(raw, identity)?.name;
    match *method {
        Method::PUT => {
            let v: Value = json_body::<Option<Value>>(req.body())?.unwrap_or(Value::Null);
            let arn = v
                .get("CodeSigningConfigArn")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    error::validation(
                        "1 validation error detected: Value null at 'codeSigningConfigArn' failed to satisfy constraint: Member must not be null",
                    )
                })?;
            Ok(Operation::PutFunctionCodeSigningConfig {
                name,
                arn: arn.to_string(),
            })
        }
        Method::GET => Ok(Operation::GetFunctionCodeSigningConfig { name }),
        Method::DELETE => Ok(Operation::DeleteFunctionCodeSigningConfig { name }),
        _ => Err(not_found(req)),
    }
}

/// A configuration as Lambda shows it.
fn shape(c: &CodeSigningConfig) -> Value {
    json!({
        "CodeSigningConfigId": c.id,
        "CodeSigningConfigArn": c.arn,
        "Description": c.description,
        "AllowedPublishers": { "SigningProfileVersionArns": c.signing_profiles },
        "CodeSigningPolicies": { "UntrustedArtifactOnDeployment": c.untrusted_artifact_on_deployment },
        "LastModified": nimbus_model::time::Utc::from_millis(c.last_modified_ms).lambda_timestamp(),
    })
}

/// The page after `marker` (the last key of the previous page), and the next marker.
fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    marker: Option<&str>,
    max: usize,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| marker.is_none_or(|m| key(i) > m))
        .collect();
    let next = (rest.len() > max).then(|| key(&rest[max - 1]).to_string());
    rest.truncate(max);
    (rest, next)
}

impl LambdaApi {
    pub(crate) async fn execute_code_signing(
        &self,
        op: Operation,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let ok = |body: Value| Ok(json_response(StatusCode::OK, body));
        match op {
            Operation::CreateCodeSigningConfig(input) => {
                let c = f.create_code_signing_config(input).map_err(svc)?;
                Ok(json_response(
                    StatusCode::CREATED,
                    json!({ "CodeSigningConfig": shape(&c) }),
                ))
            }
            Operation::GetCodeSigningConfig { arn } => ok(
                json!({ "CodeSigningConfig": shape(&f.code_signing_config(&arn).map_err(svc)?) }),
            ),
            Operation::UpdateCodeSigningConfig { arn, input } => {
                let c = f.update_code_signing_config(&arn, input).map_err(svc)?;
                ok(json!({ "CodeSigningConfig": shape(&c) }))
            }
            Operation::DeleteCodeSigningConfig { arn } => {
                f.delete_code_signing_config(&arn).map_err(svc)?;
                let mut r = Response::new(Bytes::new());
                *r.status_mut() = StatusCode::NO_CONTENT;
                Ok(r)
            }
            Operation::ListCodeSigningConfigs { marker, max_items } => {
                let all = f.list_code_signing_configs().map_err(svc)?;
                let (items, next) = page(all, |c| c.id.as_str(), marker.as_deref(), max_items);
                let mut out =
                    json!({ "CodeSigningConfigs": items.iter().map(shape).collect::<Vec<_>>() });
                if let Some(m) = next {
                    out["NextMarker"] = json!(m);
                }
                ok(out)
            }
            Operation::ListFunctionsByCodeSigningConfig {
                arn,
                marker,
                max_items,
            } => {
                let c = f.code_signing_config(&arn).map_err(svc)?;
                let names = f.functions_signed_by(&c.arn);
                let (names, next) = page(names, String::as_str, marker.as_deref(), max_items);
                let arns: Vec<String> =
                    names.iter().map(|n| f.identity().function_arn(n)).collect();
                let mut out = json!({ "FunctionArns": arns });
                if let Some(m) = next {
                    out["NextMarker"] = json!(m);
                }
                ok(out)
            }
            Operation::PutFunctionCodeSigningConfig { name, arn } => {
                let rec = f
                    .set_function_code_signing(&name, Some(arn))
                    .await
                    .map_err(svc)?;
                ok(json!({
                    "CodeSigningConfigArn": rec.code_signing_config,
                    "FunctionName": rec.name,
                }))
            }
            Operation::GetFunctionCodeSigningConfig { name } => {
                let rec = f.get(&name).map_err(svc)?;
                ok(json!({
                    "CodeSigningConfigArn": rec.code_signing_config.as_deref().unwrap_or(""),
                    "FunctionName": rec.name,
                }))
            }
            Operation::DeleteFunctionCodeSigningConfig { name } => {
                f.set_function_code_signing(&name, None)
                    .await
                    .map_err(svc)?;
                let mut r = Response::new(Bytes::new());
                *r.status_mut() = StatusCode::NO_CONTENT;
                Ok(r)
            }
            other => unreachable!("not a code signing operation: {other:?}"),
        }
    }
}
