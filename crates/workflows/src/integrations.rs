//! What Task states call on a running server: Lambda through the `Invoker`
//! (function ARNs and `lambda:invoke`), the other services through their own
//! JSON APIs (`sqs:sendMessage`, `dynamodb:putItem`, ..., and the same as
//! `aws-sdk:SERVICE:ACTION`), and child executions (`states:startExecution`,
//! with `.sync` and `.sync:2`), each as the state machine's role ([`access`]).

pub mod access;

use crate::engine::{Failure, Integrations, Pattern, Resource, TaskContext};
use crate::service::StepFunctions;
use bytes::Bytes;
use nimbus_invoke::permissions::Permissions;
use nimbus_invoke::{BoxFuture, InvocationType, InvokeError, InvokeRequest, Invoker};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Weak};

/// A service's API as a Task calls it: `action` is the operation's name
/// (`SendMessage`), `params` its request; the answer is its response or the
/// service's error.
pub trait ServiceApi: Send + Sync + 'static {
    fn call(&self, action: &str, params: Value) -> BoxFuture<'_, Result<Value, ServiceError>>;
}

/// An error a service answered a Task's call with: its AWS error code
/// (`QueueDoesNotExist`) and message. A Task fails with
/// `<Service>.<code>` (`SQS.QueueDoesNotExist`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServiceError {
    pub code: String,
    pub message: String,
}

pub struct Live {
    pub invoker: Arc<dyn Invoker>,
    /// By integration name (`sqs`, `dynamodb`), with the error prefix
    /// Step Functions gives their errors (`SQS`, `DynamoDB`).
    pub services: HashMap<String, (String, Arc<dyn ServiceApi>)>,
    pub states: Weak<StepFunctions>,
    /// What state machine roles may do (`None`: IAM is off).
    pub permissions: Option<Arc<dyn Permissions>>,
    /// The account and region resources' ARNs are in.
    pub identity: nimbus_model::Identity,
}

fn invoke_error(e: InvokeError) -> Failure {
    let name = match &e {
        InvokeError::FunctionNotFound(_) => "Lambda.ResourceNotFoundException",
        InvokeError::RequestTooLarge(_) => "Lambda.RequestTooLargeException",
        InvokeError::InvalidParameter(_) => "Lambda.InvalidParameterValueException",
        InvokeError::InvalidRequestContent(_) => "Lambda.InvalidRequestContentException",
        InvokeError::TooManyRequests { .. } => "Lambda.TooManyRequestsException",
        InvokeError::SnapStart { code, .. } => {
            return Failure::new(format!("Lambda.{code}"), e.to_string());
        }
        InvokeError::Service(_) => "Lambda.ServiceException",
    };
    Failure::new(name, e.to_string())
}

/// A function's error as Step Functions names it: its `errorType`, with
/// the error document as the cause in compact JSON (as Step Functions
/// records it, whatever spacing the runtime wrote).
fn function_failure(payload: &[u8]) -> Failure {
    let doc = serde_json::from_slice::<Value>(payload).ok();
    let cause = match &doc {
        Some(v) => v.to_string(),
        None => String::from_utf8_lossy(payload).to_string(),
    };
    let error = doc
        .as_ref()
        .and_then(|v| v.get("errorType").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| "Lambda.Unknown".into());
    Failure::new(error, cause)
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl Live {
    async fn invoke(
        &self,
        function: &str,
        qualifier: Option<String>,
        payload: Bytes,
        kind: InvocationType,
        trace: Option<&str>,
    ) -> Result<nimbus_invoke::InvokeResponse, Failure> {
        let r = nimbus_model::arn::FunctionRef::parse(function)
            .map_err(|e| Failure::new("Lambda.InvalidParameterValueException", e.0))?;
        self.invoker
            .invoke(InvokeRequest {
                function: r.name,
                qualifier: qualifier.or(r.qualifier),
                payload,
                invocation_type: kind,
                log_tail: false,
                client_context: None,
                trace_id: trace.map(str::to_string),
                request_id: None,
                stream: false,
            })
            .await
            .map_err(invoke_error)
    }

    async fn lambda_arn(
        &self,
        arn: &str,
        input: Value,
        trace: Option<&str>,
    ) -> Result<Value, Failure> {
        let r = self
            .invoke(
                arn,
                None,
                Bytes::from(input.to_string()),
                InvocationType::RequestResponse,
                trace,
            )
            .await?;
        if r.function_error.is_some() {
            return Err(function_failure(&r.payload));
        }
        Ok(serde_json::from_slice(&r.payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&r.payload).into())))
    }

    async fn lambda_invoke(
        &self,
        params: Value,
        pattern: Pattern,
        trace: Option<&str>,
    ) -> Result<Value, Failure> {
        let function = params
            .get("FunctionName")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Failure::new(
                    "States.Runtime",
                    "lambda:invoke needs Parameters.FunctionName",
                )
            })?;
        let payload = match params.get("Payload") {
            None => Bytes::from_static(b"{}"),
            Some(Value::String(s)) => Bytes::from(s.clone()),
            Some(v) => Bytes::from(v.to_string()),
        };
        let kind = match params.get("InvocationType").and_then(Value::as_str) {
            Some("Event") => InvocationType::Event,
            Some("DryRun") => InvocationType::DryRun,
            _ => InvocationType::RequestResponse,
        };
        let qualifier = params
            .get("Qualifier")
            .and_then(Value::as_str)
            .map(String::from);
        let r = self
            .invoke(function, qualifier, payload, kind, trace)
            .await?;
        if r.function_error.is_some() {
            return Err(function_failure(&r.payload));
        }
        if pattern == Pattern::WaitForTaskToken {
            return Ok(json!({}));
        }
        let body = if r.payload.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&r.payload)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&r.payload).into()))
        };
        Ok(json!({
            "ExecutedVersion": r.executed_version,
            "Payload": body,
            "SdkHttpMetadata": {
                "AllHttpHeaders": {"X-Amz-Executed-Version": [r.executed_version], "x-amzn-RequestId": [r.request_id]},
                "HttpHeaders": {"X-Amz-Executed-Version": r.executed_version, "x-amzn-RequestId": r.request_id},
                "HttpStatusCode": r.status,
            },
            "SdkResponseMetadata": {"RequestId": r.request_id},
            "StatusCode": r.status,
        }))
    }

    async fn service(
        &self,
        service: &str,
        action: &str,
        mut params: Value,
    ) -> Result<Value, Failure> {
        let (prefix, api) = self.services.get(service).ok_or_else(|| {
            Failure::new(
                "States.Runtime",
                format!("The resource arn:aws:states:::{service}:{action} is not supported by Nimbus (service integrations: lambda, sqs, dynamodb, s3, states)"),
            )
        })?;
        // Step Functions serializes a JSON MessageBody for SQS.
        if service == "sqs"
            && let Some(body) = params.get_mut("MessageBody")
            && !body.is_string()
        {
            *body = Value::String(body.to_string());
        }
        api.call(&upper_first(action), params)
            .await
            .map_err(|e| Failure::new(format!("{prefix}.{}", e.code), e.message))
    }
}

impl Integrations for Live {
    fn map_run(&self, report: crate::engine::MapRunReport) {
        if let Some(states) = self.states.upgrade() {
            states.record_map_run(report);
        }
    }

    fn may_start_children(&self, ctx: &TaskContext, machine_arn: &str) -> Result<(), Failure> {
        let start = Resource::Service {
            service: "states".into(),
            action: "startExecution".into(),
            pattern: Pattern::RequestResponse,
        };
        access::authorize(
            self.permissions.as_deref(),
            ctx,
            &start,
            &json!({ "StateMachineArn": machine_arn }),
            &self.identity,
        )
    }

    fn call(
        &self,
        resource: &Resource,
        mut input: Value,
        ctx: &TaskContext,
    ) -> BoxFuture<'_, Result<Value, Failure>> {
        let resource = resource.clone();
        let ctx = ctx.clone();
        Box::pin(async move {
            // A child execution's name is chosen here, so the role's right
            // to watch it (`.sync`) can be checked before it starts.
            if let Resource::Service {
                service, action, ..
            } = &resource
                && service == "states"
                && action == "startExecution"
                && let Some(params) = input.as_object_mut()
            {
                params
                    .entry("Name")
                    .or_insert_with(|| uuid::Uuid::new_v4().to_string().into());
            }
            access::authorize(
                self.permissions.as_deref(),
                &ctx,
                &resource,
                &input,
                &self.identity,
            )?;
            match &resource {
                Resource::LambdaArn(arn) => {
                    self.lambda_arn(arn, input, ctx.trace_header.as_deref())
                        .await
                }
                Resource::Service {
                    service,
                    action,
                    pattern,
                } => match (service.as_str(), action.as_str()) {
                    ("lambda", "invoke") => {
                        self.lambda_invoke(input, *pattern, ctx.trace_header.as_deref())
                            .await
                    }
                    ("states", "startExecution") => {
                        let states = self.states.upgrade().ok_or_else(|| {
                            Failure::new("States.Runtime", "the workflow service is shutting down")
                        })?;
                        let wait = matches!(pattern, Pattern::Sync | Pattern::Sync2);
                        states
                            .start_child(
                                &input,
                                wait,
                                *pattern == Pattern::Sync2,
                                ctx.trace_header.as_deref(),
                            )
                            .await
                    }
                    ("aws-sdk", sdk) => {
                        let (svc, act) = sdk.split_once(':').unwrap_or((sdk, ""));
                        self.service(svc, act, input).await
                    }
                    (svc, act) => self.service(svc, act, input).await,
                },
            }
        })
    }
}
