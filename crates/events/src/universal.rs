//! EventBridge Scheduler's universal targets: a schedule whose target is
//! `arn:aws:scheduler:::aws-sdk:SERVICE:apiAction` calls that action of
//! that service with the target's `Input` as its request, acting as the
//! schedule's role. The call is a durable `webhooks` request written with
//! the firing, made by the server's [`SdkCalls`] (Nimbus's own APIs, in
//! process), tried again within the target's `RetryPolicy` when the
//! service fails or throttles, and sent to the `DeadLetterConfig` queue
//! when given up.

use crate::{Error, Events, Result, scheduler::Schedule};
use nimbus_invoke::permissions::Acting;
use nimbus_invoke::{Delivery, Staged};
use nimbus_storage::WriteBatch;
use nimbus_webhooks::{BoxFuture, Failure, Request};
use serde_json::{Value, json};

/// The owner of universal targets' calls among the webhooks.
pub(crate) const OWNER: &str = "scheduler";

const PREFIX: &str = "arn:aws:scheduler:::aws-sdk:";

/// Actions Scheduler refuses as targets: those that only read (AWS's list
/// of prefixes).
const READ_ONLY: [&str; 25] = [
    "get",
    "describe",
    "list",
    "poll",
    "receive",
    "search",
    "scan",
    "query",
    "select",
    "read",
    "lookup",
    "discover",
    "validate",
    "batchGet",
    "batchDescribe",
    "batchRead",
    "transactGet",
    "adminGet",
    "adminList",
    "testMigration",
    "retrieve",
    "testConnection",
    "translateDocument",
    "isAuthorized",
    "invokeModel",
];

/// Calls of Nimbus's own APIs for universal targets (the server's).
pub trait SdkCalls: Send + Sync {
    /// Whether `service` (the SDK's name: `sqs`, `sfn`, `dynamodb`) is one
    /// these calls reach.
    fn serves(&self, service: &str) -> bool;
    /// Call `action` (`SendMessage`) of `service` with the JSON request
    /// `input`, as session `session` of `role_arn`: `Ok` on a 2xx answer,
    /// else the answer's status, error code and message.
    fn call(
        &self,
        service: &str,
        action: &str,
        input: &str,
        role_arn: &str,
        session: &str,
    ) -> BoxFuture<std::result::Result<(), Failure>>;
}

/// `(service, action)` of a universal target's ARN, the action in the
/// API's own case (`sendMessage` -> `SendMessage`).
pub fn parse(arn: &str) -> Option<(&str, String)> {
    let (service, action) = arn.strip_prefix(PREFIX)?.split_once(':')?;
    if service.is_empty() || action.is_empty() || action.contains(':') {
        return None;
    }
    let mut chars = action.chars();
    let first = chars.next()?;
    Some((
        service,
        first.to_ascii_uppercase().to_string() + chars.as_str(),
    ))
}

impl Events {
    /// Use `calls` for universal targets (set once, when the APIs exist).
    pub fn set_sdk_calls(&self, calls: std::sync::Arc<dyn SdkCalls>) {
        let _ = self.sdk_calls.set(calls);
    }

    /// Whether a schedule's universal target can be called: a known
    /// service, an action that is not read-only, JSON `Input`.
    pub(crate) fn check_universal(&self, arn: &str, input: Option<&str>) -> Result<()> {
        let Some((service, action)) = parse(arn) else {
            return Err(Error::Invalid(format!(
                "Invalid RequestJson provided. Reason: {arn} is not a universal target ARN (arn:aws:scheduler:::aws-sdk:service:apiAction)."
            )));
        };
        let raw = arn.rsplit(':').next().unwrap_or_default();
        if READ_ONLY.iter().any(|p| raw.starts_with(p)) {
            return Err(Error::Invalid(format!(
                "Invalid RequestJson provided. Reason: {action} is a read-only action, which EventBridge Scheduler does not call."
            )));
        }
        if !self.sdk_calls.get().is_some_and(|c| c.serves(service)) {
            return Err(Error::Invalid(format!(
                "Nimbus cannot call aws-sdk:{service}: its universal targets reach the services Nimbus serves in the JSON and query protocols (sqs, sns, dynamodb, sfn, eventbridge, cloudwatchlogs, ssm, secretsmanager, kms)."
            )));
        }
        if let Some(i) = input
            && serde_json::from_str::<Value>(i).map_or(true, |v| !v.is_object())
        {
            return Err(Error::Invalid(
                "Invalid RequestJson provided. Reason: the Input of a universal target must be a JSON object, the action's request.".into(),
            ));
        }
        Ok(())
    }

    /// Stage the call a schedule's firing makes of its universal target.
    pub(crate) fn stage_universal(&self, s: &Schedule, batch: &mut WriteBatch) -> Option<Staged> {
        let hooks = self.webhooks.as_ref()?;
        let text = |p: &str| s.target.pointer(p).and_then(Value::as_str);
        let retry = s.target.get("RetryPolicy");
        let context = json!({
            "schedule": s.arn,
            "target": text("/Arn"),
            "role": text("/RoleArn"),
            "session": format!("scheduler-{}", s.name),
            "dlq": text("/DeadLetterConfig/Arn"),
            "maxAttempts": retry.and_then(|r| r.get("MaximumRetryAttempts")).and_then(Value::as_u64).unwrap_or(185),
            "maxAgeSeconds": retry.and_then(|r| r.get("MaximumEventAgeInSeconds")).and_then(Value::as_u64).unwrap_or(86_400),
        });
        let input = text("/Input").unwrap_or("{}").to_string();
        let r = Request::new(
            OWNER,
            "POST",
            text("/Arn").unwrap_or_default(),
            input,
            context,
        );
        Some(Staged::new(crate::destinations::StagedCall(
            hooks.stage(r, batch),
        )))
    }

    /// Make a universal target's call.
    pub(crate) fn call_universal(
        &self,
        r: &Request,
    ) -> BoxFuture<std::result::Result<(), Failure>> {
        let text = |k: &str| {
            r.context
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match (parse(&r.url), self.sdk_calls.get()) {
            (Some((service, action)), Some(calls)) => {
                calls.call(service, &action, &r.body, &text("role"), &text("session"))
            }
            _ => {
                let why = Failure::answered(400, format!("{} cannot be called", r.url));
                Box::pin(async move { Err(why) })
            }
        }
    }

    /// A given-up universal call's input to the schedule's dead-letter
    /// queue, sent as its role, with the attributes Scheduler adds.
    pub(crate) fn give_up_universal(
        &self,
        r: &Request,
        why: &Failure,
        batch: &mut WriteBatch,
    ) -> Vec<Staged> {
        let text = |k: &str| {
            r.context
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let Some(dlq) = r.context.get("dlq").and_then(Value::as_str) else {
            return Vec::new();
        };
        let code = why.code.clone().unwrap_or_else(|| {
            if why.status.is_some() {
                "ValidationException".into()
            } else {
                "InternalServerException".into()
            }
        });
        let dead = Delivery::new(r.body.as_bytes(), None)
            .attribute("ERROR_CODE", code)
            .attribute("ERROR_MESSAGE", why.message.clone())
            .attribute("EXECUTION_ID", uuid::Uuid::new_v4().to_string())
            .attribute("SCHEDULE_ARN", text("schedule"))
            .attribute("TARGET_ARN", text("target"));
        let (role, session) = (text("role"), text("session"));
        let acting = Acting::Role {
            role_arn: &role,
            session: &session,
        };
        self.stage_dead_letter(acting, dlq, &dead, batch)
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn universal_arns_name_a_service_and_an_action() {
        assert_eq!(
            parse("arn:aws:scheduler:::aws-sdk:sqs:sendMessage"),
            Some(("sqs", "SendMessage".to_string()))
        );
        assert_eq!(parse("arn:aws:scheduler:::aws-sdk:sqs"), None);
        assert_eq!(parse("arn:aws:sqs:us-east-1:000000000000:q"), None);
        assert_eq!(parse("arn:aws:scheduler:::aws-sdk::x"), None);
    }
}
