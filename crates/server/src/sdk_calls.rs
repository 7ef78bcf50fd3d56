//! Scheduler's universal targets, answered by Nimbus's own APIs: a call of
//! `aws-sdk:SERVICE:apiAction` becomes a request in that service's protocol
//! (awsJson with its `X-Amz-Target`, or SNS's query form), made in process
//! as a session of the schedule's role, authorized by the role's policies.

use crate::in_process::InProcess;
use bytes::Bytes;
use nimbus_api_common::Calls;
use nimbus_api_common::authz::{ActingRole, Authorizer};
use nimbus_webhooks::{BoxFuture, Failure};
use serde_json::Value;
use std::sync::Arc;

/// How a service is called: its signing name and protocol.
enum Protocol {
    /// awsJson: the target prefix and the JSON version.
    Json(&'static str, &'static str),
    /// The query protocol with its API version.
    Query(&'static str),
}

/// The services universal targets reach, by the SDK's name.
fn protocol(service: &str) -> Option<(&'static str, Protocol)> {
    use Protocol::{Json, Query};
    let first = |p: &'static [&'static str]| p[0];
    Some(match service {
        "sqs" => (
            "sqs",
            Json(first(nimbus_api_sqs::SQS_JSON.target_prefixes), "1.0"),
        ),
        "dynamodb" => (
            "dynamodb",
            Json(
                first(nimbus_api_dynamodb::DYNAMODB_JSON.target_prefixes),
                "1.0",
            ),
        ),
        "sfn" => (
            "states",
            Json(
                first(nimbus_api_stepfunctions::STATES_JSON.target_prefixes),
                "1.0",
            ),
        ),
        "eventbridge" => (
            "events",
            Json(first(nimbus_api_events::EVENTS_JSON.target_prefixes), "1.1"),
        ),
        "cloudwatchlogs" => (
            "logs",
            Json(first(nimbus_api_logs::LOGS_JSON.target_prefixes), "1.1"),
        ),
        "ssm" => (
            "ssm",
            Json(first(nimbus_api_ssm::SSM_JSON.target_prefixes), "1.1"),
        ),
        "secretsmanager" => (
            "secretsmanager",
            Json(
                first(nimbus_api_secretsmanager::SECRETS_JSON.target_prefixes),
                "1.1",
            ),
        ),
        "kms" => (
            "kms",
            Json(first(nimbus_api_kms::KMS_JSON.target_prefixes), "1.1"),
        ),
        "sns" => ("sns", Query("2010-03-31")),
        _ => return None,
    })
}

pub struct SdkCalls {
    calls: Arc<InProcess>,
    authorizer: Option<Arc<dyn Authorizer>>,
    iam: Arc<nimbus_iam::Iam>,
}

impl SdkCalls {
    pub fn new(
        calls: Arc<InProcess>,
        authorizer: Option<Arc<dyn Authorizer>>,
        iam: Arc<nimbus_iam::Iam>,
    ) -> SdkCalls {
        SdkCalls {
            calls,
            authorizer,
            iam,
        }
    }

    /// The request's caller: a session of the role (refused when the role
    /// is gone or does not trust Scheduler).
    fn caller(&self, role_arn: &str, session: &str) -> Result<nimbus_api_common::Caller, Failure> {
        let denied = |m: String| Failure {
            status: Some(403),
            code: Some("AccessDeniedException".into()),
            message: m,
        };
        let role = self
            .iam
            .role_by_arn(role_arn)
            .ok_or_else(|| denied(format!("The role {role_arn} does not exist.")))?;
        let scheduler = nimbus_iam::Principal::Service("scheduler.amazonaws.com".into());
        if !nimbus_iam::trust::trust_allows(&role.trust, &scheduler, None) {
            return Err(denied(format!(
                "The trust policy of {role_arn} does not let scheduler.amazonaws.com assume it."
            )));
        }
        let account = self.iam.account().to_string();
        Ok(nimbus_api_common::Caller {
            arn: format!(
                "arn:aws:sts::{account}:assumed-role/{}/{session}",
                role.name
            ),
            account,
            user_id: format!("{}:{session}", role.id),
            access_key_id: String::new(),
        })
    }
}

impl nimbus_events::universal::SdkCalls for SdkCalls {
    fn serves(&self, service: &str) -> bool {
        protocol(service).is_some()
    }

    fn call(
        &self,
        service: &str,
        action: &str,
        input: &str,
        role_arn: &str,
        session: &str,
    ) -> BoxFuture<Result<(), Failure>> {
        let made = (|| {
            let (signing, protocol) = protocol(service).ok_or_else(|| {
                Failure::answered(400, format!("Nimbus does not serve {service}"))
            })?;
            let input: Value = serde_json::from_str(input)
                .map_err(|e| Failure::answered(400, format!("the Input is not JSON: {e}")))?;
            let builder = http::Request::builder()
                .method("POST")
                .uri("/")
                .header("host", "localhost");
            let req = match protocol {
                Protocol::Json(prefix, version) => builder
                    .header("x-amz-target", format!("{prefix}.{action}"))
                    .header("content-type", format!("application/x-amz-json-{version}"))
                    .body(Bytes::from(input.to_string())),
                Protocol::Query(version) => {
                    let mut form = vec![
                        ("Action".to_string(), action.to_string()),
                        ("Version".to_string(), version.to_string()),
                    ];
                    if let Value::Object(m) = &input {
                        for (k, v) in m {
                            flatten(k, v, &mut form);
                        }
                    }
                    let body = form
                        .iter()
                        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                        .collect::<Vec<_>>()
                        .join("&");
                    builder
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(Bytes::from(body))
                }
            };
            let mut req = req.map_err(|e| Failure::answered(400, e.to_string()))?;
            req.extensions_mut().insert(self.caller(role_arn, session)?);
            req.extensions_mut().insert(ActingRole {
                role_arn: role_arn.to_string(),
                session: session.to_string(),
            });
            if let Some(a) = &self.authorizer {
                req.extensions_mut().insert(a.clone());
            }
            Ok((signing, req))
        })();
        let calls = self.calls.clone();
        Box::pin(async move {
            let (signing, req) = made?;
            let resp = calls.call(signing, req).await;
            let status = resp.status().as_u16();
            if resp.status().is_success() {
                return Ok(());
            }
            let (code, message) = error_of(resp.body());
            Err(Failure {
                status: Some(status),
                code,
                message,
            })
        })
    }
}

/// The error code and message of an API's error answer (awsJson's
/// `__type`, or the query protocol's `<Code>`).
fn error_of(body: &[u8]) -> (Option<String>, String) {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let code = v
            .get("__type")
            .and_then(Value::as_str)
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string());
        let message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        return (code, message);
    }
    let text = String::from_utf8_lossy(body);
    let between = |tag: &str| {
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{tag}>"))? + start;
        Some(text[start..end].to_string())
    };
    (between("Code"), between("Message").unwrap_or_default())
}

/// A JSON request member as query-protocol fields: lists as
/// `.member.N`, SNS's maps as `.entry.N` (`MessageAttributes` with
/// `Name` and `Value`, `Attributes` and the like with `key` and `value`),
/// structures as `.Member`.
fn flatten(key: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push((key.to_string(), b.to_string())),
        Value::Number(n) => out.push((key.to_string(), n.to_string())),
        Value::String(s) => out.push((key.to_string(), s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{key}.member.{}", i + 1), item, out);
            }
        }
        Value::Object(m) => {
            let last = key.rsplit('.').next().unwrap_or(key);
            let map_names = match last {
                "MessageAttributes" => Some(("Name", "Value")),
                "Attributes" | "DeliveryPolicy" => Some(("key", "value")),
                _ => None,
            };
            for (i, (k, x)) in m.iter().enumerate() {
                match map_names {
                    Some((kn, vn)) => {
                        let entry = format!("{key}.entry.{}", i + 1);
                        out.push((format!("{entry}.{kn}"), k.clone()));
                        flatten(&format!("{entry}.{vn}"), x, out);
                    }
                    None => flatten(&format!("{key}.{k}"), x, out),
                }
            }
        }
    }
}

/// Form encoding: `%XX` for all but unreserved characters.
fn encode(s: &str) -> String {
    nimbus_api_common::sigv4::uri_encode(s.as_bytes(), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sns_requests_flatten_to_query_fields() {
        let mut form = Vec::new();
        let input = json!({
            "TopicArn": "t", "Message": "hi",
            "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
            "Tags": [{"Key": "a", "Value": "b"}],
        });
        for (k, v) in input.as_object().unwrap() {
            flatten(k, v, &mut form);
        }
        let has = |k: &str, v: &str| form.contains(&(k.to_string(), v.to_string()));
        assert!(has("TopicArn", "t"));
        assert!(has("MessageAttributes.entry.1.Name", "k"));
        assert!(has("MessageAttributes.entry.1.Value.DataType", "String"));
        assert!(has("Tags.member.1.Key", "a"));
    }

    #[test]
    fn error_answers_give_their_code_and_message() {
        let (code, m) =
            error_of(br#"{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "gone"}"#);
        assert_eq!(
            (code.as_deref(), m.as_str()),
            (Some("QueueDoesNotExist"), "gone")
        );
        let (code, m) = error_of(b"<ErrorResponse><Error><Code>NotFound</Code><Message>Topic does not exist</Message></Error></ErrorResponse>");
        assert_eq!(
            (code.as_deref(), m.as_str()),
            (Some("NotFound"), "Topic does not exist")
        );
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
