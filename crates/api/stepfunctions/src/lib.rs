//! The Step Functions API in its JSON protocol (`X-Amz-Target:
//! AWSStepFunctions.<Operation>`, `application/x-amz-json-1.0`): each request
//! is parsed into an [`Operation`], run on the workflow service, and answered
//! in Step Functions' shapes and error codes. `StartSyncExecution` and
//! `TestState` are also answered on the `sync-` host SDKs send them to.

use bytes::Bytes;
use http::{Request, Response};
use nimbus_api_common::json::AwsJson;
use nimbus_api_common::{ApiError, BoxFuture, Service};
use nimbus_workflows::service::{Error, StepFunctions};
use serde_json::Value;
use std::sync::Arc;

mod error;
use error::wire_error;

pub struct StepFunctionsApi {
    service: Arc<StepFunctions>,
}

/// Step Functions' awsJson framing.
pub const STATES_JSON: AwsJson = AwsJson {
    target_prefixes: &["AWSStepFunctions"],
    error_namespace: "com.amazonaws.swf.service.v2.model#",
    content_type: "application/x-amz-json-1.0",
    crc32: false,
};

/// A Step Functions operation, parsed from `X-Amz-Target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreateStateMachine,
    DescribeStateMachine,
    UpdateStateMachine,
    DeleteStateMachine,
    ListStateMachines,
    PublishStateMachineVersion,
    ListStateMachineVersions,
    DeleteStateMachineVersion,
    CreateStateMachineAlias,
    DescribeStateMachineAlias,
    UpdateStateMachineAlias,
    DeleteStateMachineAlias,
    ListStateMachineAliases,
    StartExecution,
    StartSyncExecution,
    DescribeExecution,
    DescribeStateMachineForExecution,
    ListExecutions,
    StopExecution,
    GetExecutionHistory,
    SendTaskSuccess,
    SendTaskFailure,
    SendTaskHeartbeat,
    ValidateStateMachineDefinition,
    TestState,
    TagResource,
    UntagResource,
    ListTagsForResource,
    /// Activities, distributed map runs and redrive: known, not served yet.
    Unsupported(&'static str),
}

impl Operation {
    pub fn parse(name: &str) -> Option<Operation> {
        Some(match name {
            "CreateStateMachine" => Operation::CreateStateMachine,
            "DescribeStateMachine" => Operation::DescribeStateMachine,
            "UpdateStateMachine" => Operation::UpdateStateMachine,
            "DeleteStateMachine" => Operation::DeleteStateMachine,
            "ListStateMachines" => Operation::ListStateMachines,
            "PublishStateMachineVersion" => Operation::PublishStateMachineVersion,
            "ListStateMachineVersions" => Operation::ListStateMachineVersions,
            "DeleteStateMachineVersion" => Operation::DeleteStateMachineVersion,
            "CreateStateMachineAlias" => Operation::CreateStateMachineAlias,
            "DescribeStateMachineAlias" => Operation::DescribeStateMachineAlias,
            "UpdateStateMachineAlias" => Operation::UpdateStateMachineAlias,
            "DeleteStateMachineAlias" => Operation::DeleteStateMachineAlias,
            "ListStateMachineAliases" => Operation::ListStateMachineAliases,
            "StartExecution" => Operation::StartExecution,
            "StartSyncExecution" => Operation::StartSyncExecution,
            "DescribeExecution" => Operation::DescribeExecution,
            "DescribeStateMachineForExecution" => Operation::DescribeStateMachineForExecution,
            "ListExecutions" => Operation::ListExecutions,
            "StopExecution" => Operation::StopExecution,
            "GetExecutionHistory" => Operation::GetExecutionHistory,
            "SendTaskSuccess" => Operation::SendTaskSuccess,
            "SendTaskFailure" => Operation::SendTaskFailure,
            "SendTaskHeartbeat" => Operation::SendTaskHeartbeat,
            "ValidateStateMachineDefinition" => Operation::ValidateStateMachineDefinition,
            "TestState" => Operation::TestState,
            "TagResource" => Operation::TagResource,
            "UntagResource" => Operation::UntagResource,
            "ListTagsForResource" => Operation::ListTagsForResource,
            "CreateActivity" => Operation::Unsupported("CreateActivity"),
            "DeleteActivity" => Operation::Unsupported("DeleteActivity"),
            "DescribeActivity" => Operation::Unsupported("DescribeActivity"),
            "GetActivityTask" => Operation::Unsupported("GetActivityTask"),
            "SendActivity" => Operation::Unsupported("SendActivity"),
            "ListActivities" => Operation::Unsupported("ListActivities"),
            "DescribeMapRun" => Operation::Unsupported("DescribeMapRun"),
            "ListMapRuns" => Operation::Unsupported("ListMapRuns"),
            "UpdateMapRun" => Operation::Unsupported("UpdateMapRun"),
            "RedriveExecution" => Operation::Unsupported("RedriveExecution"),
            _ => return None,
        })
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

impl Service for StepFunctionsApi {
    fn signing_name(&self) -> &'static str {
        "states"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        req.headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| STATES_JSON.owns(t))
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { StepFunctionsApi::handle(self, req, &request_id).await })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        STATES_JSON.error(err, request_id)
    }
}

impl StepFunctionsApi {
    pub fn new(service: Arc<StepFunctions>) -> StepFunctionsApi {
        StepFunctionsApi { service }
    }

    pub async fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let call = match STATES_JSON.call(&req) {
            Ok(c) => c,
            Err(e) => return STATES_JSON.error(&e, request_id),
        };
        let Some(op) = Operation::parse(&call.operation) else {
            let e = ApiError::bad_request(
                "UnknownOperationException",
                format!("{} is not a Step Functions operation", call.operation),
            );
            return STATES_JSON.error(&e, request_id);
        };
        match self.execute(op, &call.params).await {
            Ok(v) => STATES_JSON.respond(&prune(v), request_id),
            Err(e) => STATES_JSON.error(&wire_error(&e), request_id),
        }
    }

    async fn execute(&self, op: Operation, req: &Value) -> Result<Value, Error> {
        let s = &self.service;
        match op {
            Operation::CreateStateMachine => s.create_state_machine(req),
            Operation::DescribeStateMachine => s.describe_state_machine(req),
            Operation::UpdateStateMachine => s.update_state_machine(req),
            Operation::DeleteStateMachine => s.delete_state_machine(req),
            Operation::ListStateMachines => s.list_state_machines(req),
            Operation::PublishStateMachineVersion => s.publish_state_machine_version(req),
            Operation::ListStateMachineVersions => s.list_state_machine_versions(req),
            Operation::DeleteStateMachineVersion => s.delete_state_machine_version(req),
            Operation::CreateStateMachineAlias => s.create_state_machine_alias(req),
            Operation::DescribeStateMachineAlias => s.describe_state_machine_alias(req),
            Operation::UpdateStateMachineAlias => s.update_state_machine_alias(req),
            Operation::DeleteStateMachineAlias => s.delete_state_machine_alias(req),
            Operation::ListStateMachineAliases => s.list_state_machine_aliases(req),
            Operation::StartExecution => s.start_execution(req),
            Operation::StartSyncExecution => s.start_sync_execution(req).await,
            Operation::DescribeExecution => s.describe_execution(req),
            Operation::DescribeStateMachineForExecution => {
                s.describe_state_machine_for_execution(req)
            }
            Operation::ListExecutions => s.list_executions(req),
            Operation::StopExecution => s.stop_execution(req),
            Operation::GetExecutionHistory => s.get_execution_history(req),
            Operation::SendTaskSuccess => s.send_task_success(req),
            Operation::SendTaskFailure => s.send_task_failure(req),
            Operation::SendTaskHeartbeat => s.send_task_heartbeat(req),
            Operation::ValidateStateMachineDefinition => s.validate_state_machine_definition(req),
            Operation::TestState => s.test_state(req).await,
            Operation::TagResource => s.tag_resource(req),
            Operation::UntagResource => s.untag_resource(req),
            Operation::ListTagsForResource => s.list_tags_for_resource(req),
            Operation::Unsupported(name) => Err(Error::Validation(format!(
                "{name} is not supported by Nimbus yet (activities, distributed map runs and redrive are not implemented)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_parse_by_their_wire_names() {
        assert_eq!(
            Operation::parse("StartExecution"),
            Some(Operation::StartExecution)
        );
        assert_eq!(
            Operation::parse("RedriveExecution"),
            Some(Operation::Unsupported("RedriveExecution"))
        );
        assert_eq!(Operation::parse("Nope"), None);
        let e = wire_error(&Error::ExecutionDoesNotExist("gone".into()));
        assert_eq!(
            (e.status, e.code.as_str()),
            (http::StatusCode::BAD_REQUEST, "ExecutionDoesNotExist")
        );
    }
}

#[cfg(test)]
mod api_tests {
    use super::*;

    fn api() -> (tempfile::TempDir, StepFunctionsApi) {
        let d = tempfile::tempdir().unwrap();
        let kv =
            Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&d.path().join("m.redb")).unwrap());
        let service = StepFunctions::open(kv, "000000000000", "us-east-1").unwrap();
        (d, StepFunctionsApi::new(service))
    }

    fn call(api: &StepFunctionsApi, op: &str, body: &Value) -> (u16, Value) {
        let mut req = Request::new(Bytes::from(body.to_string()));
        req.headers_mut().insert(
            "x-amz-target",
            http::HeaderValue::from_str(&format!("AWSStepFunctions.{op}")).unwrap(),
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let resp = rt.block_on(api.handle(req, "rid"));
        let v = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
        (resp.status().as_u16(), v)
    }

    #[test]
    fn a_pass_machine_runs_synchronously() {
        let (_d, api) = api();
        let definition = serde_json::json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": true}, "End": true}}});
        let (status, created) = call(
            &api,
            "CreateStateMachine",
            &serde_json::json!({"name": "m", "type": "EXPRESS", "definition": definition.to_string(),
                "roleArn": "arn:aws:iam::000000000000:role/r"}),
        );
        assert_eq!(status, 200, "{created}");
        let arn = created["stateMachineArn"].as_str().unwrap();
        let (status, run) = call(
            &api,
            "StartSyncExecution",
            &serde_json::json!({"stateMachineArn": arn, "input": "{}"}),
        );
        assert_eq!(status, 200, "{run}");
        assert_eq!(run["status"], "SUCCEEDED");
        assert_eq!(run["output"], r#"{"ok":true}"#);
        // Unset optional members are left out, not sent as null.
        assert!(
            !run.as_object().unwrap().values().any(Value::is_null),
            "{run}"
        );
    }

    #[test]
    fn errors_carry_step_functions_codes() {
        let (_d, api) = api();
        let arn = "arn:aws:states:us-east-1:000000000000:execution:m:e";
        for (op, body, code) in [
            ("Nope", serde_json::json!({}), "UnknownOperationException"),
            (
                "DescribeExecution",
                serde_json::json!({"executionArn": arn}),
                "ExecutionDoesNotExist",
            ),
            (
                "DescribeStateMachine",
                serde_json::json!({"stateMachineArn": "bad"}),
                "InvalidArn",
            ),
            (
                "CreateStateMachine",
                serde_json::json!({"name": "m", "definition": "{", "roleArn": "arn:aws:iam::000000000000:role/r"}),
                "InvalidDefinition",
            ),
            (
                "RedriveExecution",
                serde_json::json!({"executionArn": arn}),
                "ValidationException",
            ),
        ] {
            let (status, v) = call(&api, op, &body);
            assert_eq!(status, 400, "{op}: {v}");
            assert_eq!(
                v["__type"],
                format!("com.amazonaws.swf.service.v2.model#{code}"),
                "{op}: {v}"
            );
        }
    }
}
