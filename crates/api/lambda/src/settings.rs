//! Per-function settings with their own paths: `Put/GetFunctionRecursionConfig`
//! (`Allow` lets the function's recursive loops run; Nimbus stops them
//! otherwise) and `Put/GetRuntimeManagementConfig` (kept and reported: a
//! function runs on the runtime the host has), and the deprecated
//! `InvokeAsync`.

use crate::*;

/// `RecursiveLoop`'s values.
const RECURSIVE_LOOP: [&str; 2] = ["Allow", "Terminate"];
/// `UpdateRuntimeOn`'s values.
const UPDATE_RUNTIME_ON: [&str; 3] = ["Auto", "FunctionUpdate", "Manual"];

/// A required member that is one of `allowed`, refused in the model's words
/// (`field`: the member as the model's messages name it).
fn required_enum<'a>(
    v: &'a Value,
    (member, field): (&str, &str),
    allowed: &[&str],
) -> Result<&'a str, ApiError> {
    match v.get(member) {
        None | Some(Value::Null) => Err(error::validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))),
        Some(x) => x.as_str().filter(|s| allowed.contains(s)).ok_or_else(|| {
            let shown = x.as_str().map_or_else(|| x.to_string(), str::to_string);
            error::validation(format!(
                "1 validation error detected: Value '{shown}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ))
        }),
    }
}

pub(crate) fn parse_recursion(
    req: &Request<Bytes>,
    method: &Method,
    raw: &str,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let r = function_ref(raw, identity)?;
    // The name is unqualified by the model's pattern.
    if r.qualifier.is_some() {
        return Err(error::validation(format!(
            "1 validation error detected: Value '{}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {}",
            decode(raw)?,
            nimbus_model::arn::UNQUALIFIED_FUNCTION_NAME_PATTERN
        )));
    }
    match *method {
        Method::PUT => {
            let v: Value = json_body::<Option<Value>>(req.body())?.unwrap_or(Value::Null);
            let value = required_enum(&v, ("RecursiveLoop", "recursiveLoop"), &RECURSIVE_LOOP)?;
            Ok(Operation::PutFunctionRecursionConfig {
                name: r.name,
                recursive_loop: value.to_string(),
            })
        }
        Method::GET => Ok(Operation::GetFunctionRecursionConfig { name: r.name }),
        _ => Err(not_found(req)),
    }
}

pub(crate) fn parse_runtime_management(
    req: &Request<Bytes>,
    method: &Method,
    raw: &str,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let r = function_ref(raw, identity)?;
    let q = qualifier(
        &r,
        query_param(req.uri().query().unwrap_or(""), "Qualifier"),
    )?;
    if let Some(q) = &q
        && q != nimbus_model::LATEST
        && !q.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid(format!(
            "Runtime management configuration is set on $LATEST or a published version, not on alias {q}."
        )));
    }
    match *method {
        Method::PUT => {
            let v: Value = json_body::<Option<Value>>(req.body())?.unwrap_or(Value::Null);
            let on = required_enum(
                &v,
                ("UpdateRuntimeOn", "updateRuntimeOn"),
                &UPDATE_RUNTIME_ON,
            )?;
            let version = v
                .get("RuntimeVersionArn")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
                .map(str::to_string);
            match (on, &version) {
                ("Manual", None) => {
                    return Err(invalid(
                        "RuntimeVersionArn is required when UpdateRuntimeOn is Manual.".into(),
                    ));
                }
                ("Auto" | "FunctionUpdate", Some(_)) => {
                    return Err(invalid(format!(
                        "RuntimeVersionArn can only be specified when UpdateRuntimeOn is Manual, not {on}."
                    )));
                }
                _ => {}
            }
            if let Some(a) = &version
                && !(a.starts_with("arn:aws:lambda:") && a.contains(":runtime:"))
            {
                return Err(invalid(format!(
                    "RuntimeVersionArn {a} is not a runtime version ARN (arn:aws:lambda:REGION::runtime:ID)."
                )));
            }
            Ok(Operation::PutRuntimeManagementConfig {
                name: r.name,
                qualifier: q,
                config: nimbus_model::RuntimeManagement {
                    update_runtime_on: on.to_string(),
                    runtime_version_arn: version,
                },
            })
        }
        Method::GET => Ok(Operation::GetRuntimeManagementConfig {
            name: r.name,
            qualifier: q,
        }),
        _ => Err(not_found(req)),
    }
}

/// `InvokeAsync` (deprecated): the body is the event, queued as an `Event`
/// invocation; the answer is `202 {"Status": 202}`.
pub(crate) fn parse_invoke_async(
    req: &Request<Bytes>,
    raw: &str,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let r = function_ref(raw, identity)?;
    Ok(Operation::InvokeAsync(InvokeRequest {
        function: r.name,
        qualifier: r.qualifier,
        payload: req.body().clone(),
        invocation_type: InvocationType::Event,
        log_tail: false,
        client_context: None,
        trace_id: header(req, "x-amzn-trace-id"),
        request_id: None,
        stream: false,
    }))
}

impl LambdaApi {
    pub(crate) async fn put_recursion_config(
        &self,
        name: String,
        value: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let set = value.clone();
        self.functions
            .change_settings(&name, None, move |rec| {
                rec.recursive_loop = Some(set);
                Ok(())
            })
            .await
            .map_err(svc)?;
        Ok(json_response(
            StatusCode::OK,
            json!({ "RecursiveLoop": value }),
        ))
    }

    pub(crate) fn get_recursion_config(&self, name: String) -> Result<Response<Bytes>, ApiError> {
        let rec = self.functions.get(&name).map_err(svc)?;
        Ok(json_response(
            StatusCode::OK,
            json!({ "RecursiveLoop": rec.recursive_loop.as_deref().unwrap_or("Terminate") }),
        ))
    }

    pub(crate) async fn put_runtime_management(
        &self,
        name: String,
        qualifier: Option<String>,
        config: nimbus_model::RuntimeManagement,
    ) -> Result<Response<Bytes>, ApiError> {
        let set = config.clone();
        let rec = self
            .functions
            .change_settings(&name, qualifier.clone(), move |rec| {
                rec.runtime_management = Some(set);
                Ok(())
            })
            .await
            .map_err(svc)?;
        let mut out = json!({
            "UpdateRuntimeOn": config.update_runtime_on,
            "FunctionArn": self.qualified_arn(&rec),
        });
        if let Some(a) = config.runtime_version_arn {
            out["RuntimeVersionArn"] = json!(a);
        }
        Ok(json_response(StatusCode::OK, out))
    }

    pub(crate) fn get_runtime_management(
        &self,
        name: String,
        qualifier: Option<String>,
    ) -> Result<Response<Bytes>, ApiError> {
        let rec = self.version_of(&name, qualifier.as_deref())?;
        let mut out = json!({
            "UpdateRuntimeOn": rec.runtime_management.as_ref().map_or("Auto", |m| m.update_runtime_on.as_str()),
            "FunctionArn": self.qualified_arn(&rec),
        });
        if let Some(a) = rec
            .runtime_management
            .as_ref()
            .and_then(|m| m.runtime_version_arn.clone())
        {
            out["RuntimeVersionArn"] = json!(a);
        }
        Ok(json_response(StatusCode::OK, out))
    }

    /// A record's ARN with its version (`:$LATEST` for the unpublished one).
    fn qualified_arn(&self, rec: &nimbus_model::FunctionRecord) -> String {
        format!(
            "{}:{}",
            self.functions.identity().function_arn(&rec.name),
            rec.version
        )
    }

    pub(crate) async fn invoke_async(
        &self,
        req: InvokeRequest,
    ) -> Result<Response<Bytes>, ApiError> {
        self.invoker
            .invoke(req)
            .await
            .map_err(|e| error::from_invoke(&e))?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            json!({ "Status": 202 }),
        ))
    }
}
