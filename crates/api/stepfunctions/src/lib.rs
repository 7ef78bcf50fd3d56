//! The Step Functions API in its JSON protocol (`X-Amz-Target:
//! AWSStepFunctions.<Operation>`, `application/x-amz-json-1.0`): each request
//! becomes a call on the workflow service, answered in Step Functions' shapes
//! and error codes. `StartSyncExecution` and `TestState` are also answered on
//! the `sync-` host SDKs send them to.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use nimbus_workflows::service::{Error, StepFunctions};
use serde_json::{Value, json};
use std::sync::Arc;

pub struct StepFunctionsApi {
    service: Arc<StepFunctions>,
}

/// An error in Step Functions' JSON envelope.
pub fn error_response(code: &str, message: &str, request_id: &str) -> Response<Bytes> {
    let body =
        json!({"__type": format!("com.amazonaws.swf.service.v2.model#{code}"), "message": message});
    let mut r = Response::new(Bytes::from(body.to_string()));
    *r.status_mut() = match code {
        "ServiceException" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    headers(&mut r, request_id);
    r
}

fn headers(r: &mut Response<Bytes>, request_id: &str) {
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
}

/// Drop `null` members: the service builds shapes with optional fields unset.
fn prune(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, prune(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(prune).collect()),
        other => other,
    }
}

impl StepFunctionsApi {
    pub fn new(service: Arc<StepFunctions>) -> StepFunctionsApi {
        StepFunctionsApi { service }
    }

    pub fn owns_target(target: &str) -> bool {
        target.starts_with("AWSStepFunctions.")
    }

    pub async fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(op) = target.strip_prefix("AWSStepFunctions.") else {
            return error_response(
                "UnknownOperationException",
                &format!("{target} is not a Step Functions operation"),
                request_id,
            );
        };
        let op = op.to_string();
        let body: Value = if req.body().is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(req.body()) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => {
                    return error_response(
                        "SerializationException",
                        "The request body must be a JSON object",
                        request_id,
                    );
                }
                Err(e) => {
                    return error_response(
                        "SerializationException",
                        &format!("The request body is not valid JSON: {e}"),
                        request_id,
                    );
                }
            }
        };
        match self.run(&op, &body).await {
            Ok(v) => {
                let mut r = Response::new(Bytes::from(prune(v).to_string()));
                headers(&mut r, request_id);
                r
            }
            Err(e) => error_response(e.code, &e.message, request_id),
        }
    }

    async fn run(&self, op: &str, req: &Value) -> Result<Value, Error> {
        let s = &self.service;
        match op {
            "CreateStateMachine" => s.create_state_machine(req),
            "DescribeStateMachine" => s.describe_state_machine(req),
            "UpdateStateMachine" => s.update_state_machine(req),
            "DeleteStateMachine" => s.delete_state_machine(req),
            "ListStateMachines" => s.list_state_machines(req),
            "PublishStateMachineVersion" => s.publish_state_machine_version(req),
            "ListStateMachineVersions" => s.list_state_machine_versions(req),
            "DeleteStateMachineVersion" => s.delete_state_machine_version(req),
            "CreateStateMachineAlias" => s.create_state_machine_alias(req),
            "DescribeStateMachineAlias" => s.describe_state_machine_alias(req),
            "UpdateStateMachineAlias" => s.update_state_machine_alias(req),
            "DeleteStateMachineAlias" => s.delete_state_machine_alias(req),
            "ListStateMachineAliases" => s.list_state_machine_aliases(req),
            "StartExecution" => s.start_execution(req),
            "StartSyncExecution" => s.start_sync_execution(req).await,
            "DescribeExecution" => s.describe_execution(req),
            "DescribeStateMachineForExecution" => s.describe_state_machine_for_execution(req),
            "ListExecutions" => s.list_executions(req),
            "StopExecution" => s.stop_execution(req),
            "GetExecutionHistory" => s.get_execution_history(req),
            "SendTaskSuccess" => s.send_task_success(req),
            "SendTaskFailure" => s.send_task_failure(req),
            "SendTaskHeartbeat" => s.send_task_heartbeat(req),
            "ValidateStateMachineDefinition" => s.validate_state_machine_definition(req),
            "TestState" => s.test_state(req).await,
            "TagResource" => s.tag_resource(req),
            "UntagResource" => s.untag_resource(req),
            "ListTagsForResource" => s.list_tags_for_resource(req),
            "CreateActivity" | "DeleteActivity" | "DescribeActivity" | "GetActivityTask"
            | "SendActivity" | "ListActivities" | "DescribeMapRun" | "ListMapRuns"
            | "UpdateMapRun" | "RedriveExecution" => Err(Error::new(
                "ValidationException",
                format!(
                    "{op} is not supported by Nimbus yet (activities, distributed map runs and redrive are not implemented)"
                ),
            )),
            _ => Err(Error::new(
                "UnknownOperationException",
                format!("{op} is not a Step Functions operation"),
            )),
        }
    }
}
