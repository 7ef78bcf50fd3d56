//! Function URL configurations (`/2021-10-31/functions/{name}/url[s]`) and
//! resource-based policies (`/2015-03-31/functions/{name}/policy[/{sid}]`, and the
//! whole-document `/2026-07-09/resource-policy/{ResourceArn}`).

use crate::{error, function_ref, json_response, qualifier, query_param};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use nimbus_api_common::ApiError;
use nimbus_functions::Functions;
use nimbus_functions::urls::{UrlConfig, UrlInput};
use serde_json::{Value, json};

/// Does this request belong here?
pub fn owns(path: &str) -> bool {
    if path.starts_with("/2021-10-31/functions/")
        || path.starts_with("/2026-07-09/resource-policy/")
    {
        return true;
    }
    // `/2015-03-31/functions/{name}/policy[/{sid}]`: the segment after the
    // name (a function may be called `policy-reader`).
    path.strip_prefix("/2015-03-31/functions/")
        .and_then(|rest| rest.split('/').nth(1))
        == Some("policy")
}

fn iso(ms: u64) -> String {
    nimbus_model::time::Utc::from_millis(ms).rfc3339_millis()
}

/// The URL clients call: `http://{id}.lambda-url.{region}.localhost:{port}/`.
pub fn function_url(cfg: &UrlConfig, region: &str, host: &str) -> String {
    let port = host.rsplit_once(':').map(|(_, p)| p).unwrap_or("4566");
    format!(
        "http://{}.lambda-url.{region}.localhost:{port}/",
        cfg.url_id
    )
}

fn config_json(f: &Functions, cfg: &UrlConfig, host: &str) -> Value {
    let mut arn = f.identity().function_arn(&cfg.function_name);
    if let Some(q) = &cfg.qualifier {
        arn = format!("{arn}:{q}");
    }
    let mut v = json!({
        "FunctionUrl": function_url(cfg, &f.identity().region, host),
        "FunctionArn": arn,
        "AuthType": cfg.auth_type,
        "InvokeMode": cfg.invoke_mode,
        "CreationTime": iso(cfg.created_ms),
        "LastModifiedTime": iso(cfg.modified_ms),
    });
    if let Some(c) = &cfg.cors {
        v["Cors"] = c.clone();
    }
    v
}

fn input(body: &Bytes) -> Result<UrlInput, ApiError> {
    let v: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| error::bad_json(&e))?
    };
    Ok(UrlInput {
        auth_type: v
            .get("AuthType")
            .and_then(Value::as_str)
            .map(str::to_string),
        invoke_mode: v
            .get("InvokeMode")
            .and_then(Value::as_str)
            .map(str::to_string),
        cors: v.get("Cors").map(|c| (!c.is_null()).then(|| c.clone())),
    })
}

pub fn handle(f: &Functions, req: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost:4566");
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let svc = |e: nimbus_functions::Error| error::from_service(&e);
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!(
                "Nimbus does not implement the Lambda operation at {} {path}",
                req.method()
            ),
        )
    };
    let (name, q) = match segments.get(2) {
        Some(raw) if segments.get(1) == Some(&"resource-policy") => {
            let arn =
                String::from_utf8_lossy(&nimbus_api_common::sigv4::percent_decode(raw)).to_string();
            if !arn.contains(":function:") {
                return Err(error::invalid(format!(
                    "Nimbus keeps resource policies for functions only: {arn} is not a function ARN"
                )));
            }
            let r = function_ref(raw, f.identity())?;
            (r.name, r.qualifier)
        }
        Some(raw) => {
            let r = function_ref(raw, f.identity())?;
            let q = qualifier(&r, query_param(query, "Qualifier"))?;
            (r.name, q)
        }
        None => return Err(not_found()),
    };
    match (req.method(), segments.as_slice()) {
        (&Method::POST, ["2021-10-31", "functions", _, "url"]) => {
            let cfg = f
                .create_url(&name, q.as_deref(), input(req.body())?)
                .map_err(svc)?;
            let mut v = config_json(f, &cfg, host);
            if let Some(o) = v.as_object_mut() {
                o.remove("LastModifiedTime");
            }
            Ok(json_response(StatusCode::CREATED, v))
        }
        (&Method::GET, ["2021-10-31", "functions", _, "url"]) => {
            let cfg = f.get_url(&name, q.as_deref()).map_err(svc)?;
            Ok(json_response(StatusCode::OK, config_json(f, &cfg, host)))
        }
        (&Method::PUT, ["2021-10-31", "functions", _, "url"]) => {
            let cfg = f
                .update_url(&name, q.as_deref(), input(req.body())?)
                .map_err(svc)?;
            Ok(json_response(StatusCode::OK, config_json(f, &cfg, host)))
        }
        (&Method::DELETE, ["2021-10-31", "functions", _, "url"]) => {
            f.delete_url(&name, q.as_deref()).map_err(svc)?;
            let mut r = Response::new(Bytes::new());
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        (&Method::GET, ["2021-10-31", "functions", _, "urls"]) => {
            let list: Vec<Value> = f
                .list_urls(&name)
                .map_err(svc)?
                .iter()
                .map(|c| config_json(f, c, host))
                .collect();
            Ok(json_response(
                StatusCode::OK,
                json!({ "FunctionUrlConfigs": list }),
            ))
        }
        (&Method::POST, ["2015-03-31", "functions", _, "policy"]) => {
            let v: Value = serde_json::from_slice(req.body()).map_err(|e| error::bad_json(&e))?;
            let field = |n: &str| {
                v.get(n).and_then(Value::as_str).ok_or_else(|| {
                    error::validation(format!(
                        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                        n[..1].to_lowercase() + &n[1..]
                    ))
                })
            };
            let optional = |n: &str| v.get(n).and_then(Value::as_str);
            let grant = nimbus_functions::urls::Grant {
                statement_id: field("StatementId")?,
                action: field("Action")?,
                principal: field("Principal")?,
                source_arn: optional("SourceArn"),
                source_account: optional("SourceAccount"),
                function_url_auth_type: optional("FunctionUrlAuthType"),
                invoked_via_function_url: v
                    .get("InvokedViaFunctionUrl")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            };
            let st = f.add_permission(&name, q.as_deref(), &grant).map_err(svc)?;
            Ok(json_response(
                StatusCode::CREATED,
                json!({ "Statement": st.to_string() }),
            ))
        }
        (&Method::GET, ["2015-03-31", "functions", _, "policy"]) => {
            let statements = f.policy_statements(&name, q.as_deref()).map_err(svc)?;
            if statements.is_empty() {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFoundException",
                    "The resource you requested does not exist.",
                ));
            }
            let policy =
                json!({ "Version": "2012-10-17", "Id": "default", "Statement": statements });
            Ok(json_response(
                StatusCode::OK,
                json!({ "Policy": policy.to_string(), "RevisionId": uuid_of(&policy) }),
            ))
        }
        (&Method::GET, ["2026-07-09", "resource-policy", _]) => {
            let statements = f.policy_statements(&name, q.as_deref()).map_err(svc)?;
            if statements.is_empty() {
                return Err(no_policy(&name, q.as_deref(), f));
            }
            let policy = whole_policy(statements);
            Ok(json_response(
                StatusCode::OK,
                json!({ "Policy": policy.to_string(), "RevisionId": uuid_of(&policy) }),
            ))
        }
        (&Method::PUT, ["2026-07-09", "resource-policy", _]) => {
            let v: Value = serde_json::from_slice(req.body()).map_err(|e| error::bad_json(&e))?;
            let Some(text) = v.get("Policy").and_then(Value::as_str) else {
                return Err(error::validation(
                    "1 validation error detected: Value null at 'policy' failed to satisfy constraint: Member must not be null",
                ));
            };
            let doc: Value = serde_json::from_str(text)
                .map_err(|e| error::invalid(format!("The policy is not valid JSON: {e}")))?;
            let statements = match doc.get("Statement") {
                Some(Value::Array(list)) if !list.is_empty() => list.clone(),
                Some(st @ Value::Object(_)) => vec![st.clone()],
                _ => {
                    return Err(error::invalid(
                        "The policy must have a Statement: one statement object or a non-empty list of them",
                    ));
                }
            };
            if statements.iter().any(|s| !s.is_object()) {
                return Err(error::invalid(
                    "Each statement of the policy must be an object",
                ));
            }
            let expected = v
                .get("RevisionId")
                .and_then(Value::as_str)
                .map(String::from);
            let set = f
                .replace_policy(&name, q.as_deref(), statements, |current| {
                    check_revision(expected.as_deref(), current)
                })
                .map_err(svc)?;
            let policy = whole_policy(set);
            Ok(json_response(
                StatusCode::OK,
                json!({ "Policy": policy.to_string(), "RevisionId": uuid_of(&policy) }),
            ))
        }
        (&Method::DELETE, ["2026-07-09", "resource-policy", _]) => {
            let expected = query_param(query, "RevisionId");
            if f.policy_statements(&name, q.as_deref())
                .map_err(svc)?
                .is_empty()
            {
                return Err(no_policy(&name, q.as_deref(), f));
            }
            f.replace_policy(&name, q.as_deref(), Vec::new(), |current| {
                check_revision(expected.as_deref(), current)
            })
            .map_err(svc)?;
            let mut r = Response::new(Bytes::new());
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        (&Method::DELETE, ["2015-03-31", "functions", _, "policy", sid]) => {
            f.remove_permission(&name, q.as_deref(), sid).map_err(svc)?;
            let mut r = Response::new(Bytes::new());
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        _ => Err(not_found()),
    }
}

/// A function's policy document as `GetPolicy` and `GetResourcePolicy` show it.
fn whole_policy(statements: Vec<Value>) -> Value {
    json!({ "Version": "2012-10-17", "Id": "default", "Statement": statements })
}

fn no_policy(name: &str, q: Option<&str>, f: &Functions) -> ApiError {
    let mut arn = f.identity().function_arn(name);
    if let Some(q) = q {
        arn = format!("{arn}:{q}");
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!("No policy is found for: {arn}"),
    )
}

/// A `RevisionId` precondition against the policy's current statements.
fn check_revision(
    expected: Option<&str>,
    current: &[Value],
) -> Result<(), nimbus_functions::Error> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let now = uuid_of(&whole_policy(current.to_vec()));
    if current.is_empty() || expected != now {
        return Err(nimbus_functions::Error::PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetResourcePolicy API to retrieve the latest Revision Id".into(),
        ));
    }
    Ok(())
}

/// A revision id that changes with the policy, shaped as Lambda's (a UUID: the
/// model's `RevisionId` is 36 characters).
fn uuid_of(v: &Value) -> String {
    let text = v.to_string();
    let fnv = |seed: u64| {
        let mut h: u64 = seed;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    };
    let hex = format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x8422_2325_cbf2_9ce4)
    );
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn policy_paths_are_told_from_functions_named_policy() {
        assert!(super::owns("/2015-03-31/functions/f/policy"));
        assert!(super::owns("/2015-03-31/functions/f/policy/sid-1"));
        assert!(super::owns("/2021-10-31/functions/f/url"));
        assert!(!super::owns(
            "/2015-03-31/functions/policy-reader/invocations"
        ));
        assert!(!super::owns("/2015-03-31/functions/policy/configuration"));
        assert!(!super::owns("/2015-03-31/functions/f/versions"));
    }
}
