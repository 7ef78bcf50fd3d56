//! The Step Functions API in its JSON protocol (`X-Amz-Target:
//! AWSStepFunctions.<Operation>`, `application/x-amz-json-1.0`): each request
//! is parsed into an [`Operation`], run on the workflow service, and answered
//! in Step Functions' shapes and error codes. `StartSyncExecution` and
//! `TestState` are also answered on the `sync-` host SDKs send them to.

use bytes::Bytes;
use http::{Request, Response};
use nimbus_api_common::json::AwsJson;
use nimbus_api_common::{ApiError, BoxFuture, Service};
use nimbus_workflows::service::{
    AliasChange, Error, ExecutionQuery, HistoryQuery, MachineChange, NewAlias, NewExecution,
    NewMachine, StepFunctions, TestRun,
};
use serde_json::{Value, json};
use std::sync::Arc;

pub mod authz;
mod error;
mod shapes;
use error::wire_error;
use shapes::{Params, listing};

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
    DescribeMapRun,
    ListMapRuns,
    UpdateMapRun,
    /// Activities and redrive: known, not served yet.
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
            "DescribeMapRun" => Operation::DescribeMapRun,
            "ListMapRuns" => Operation::ListMapRuns,
            "UpdateMapRun" => Operation::UpdateMapRun,
            "RedriveExecution" => Operation::Unsupported("RedriveExecution"),
            _ => return None,
        })
    }
}

impl Service for StepFunctionsApi {
    fn signing_name(&self) -> &'static str {
        "states"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        STATES_JSON.owns_request(req)
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
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |s| {
            authz::access(op, &call.params, s)
        }) {
            let e = ApiError::bad_request("AccessDeniedException", d.message);
            return STATES_JSON.error(&e, request_id);
        }
        let mut params = call.params;
        // An execution started inside an X-Ray trace runs in it unless the
        // request names another (`traceHeader`).
        if matches!(
            op,
            Operation::StartExecution | Operation::StartSyncExecution
        ) && let (Some(trace), Some(p)) = (
            nimbus_api_common::trace_header(&req),
            params.as_object_mut(),
        ) {
            p.entry("traceHeader").or_insert_with(|| trace.into());
        }
        match self.execute(op, &params).await {
            Ok(v) => STATES_JSON.respond(&v, request_id),
            Err(e) => STATES_JSON.error(&wire_error(&e), request_id),
        }
    }

    /// Run one operation: read its request, call the service, write its
    /// response.
    async fn execute(&self, op: Operation, req: &Value) -> Result<Value, Error> {
        let s = &self.service;
        let p = Params(req);
        let done = |_: ()| json!({});
        Ok(match op {
            Operation::CreateStateMachine => {
                let c = s.create_state_machine(NewMachine {
                    name: p.str("name")?.into(),
                    definition: p.str("definition")?.into(),
                    role_arn: p.str("roleArn")?.into(),
                    kind: p.string("type"),
                    logging_configuration: p.value("loggingConfiguration"),
                    tracing_configuration: p.value("tracingConfiguration"),
                    tags: p.tags(),
                    publish: p.flag("publish") == Some(true),
                    version_description: p.string("versionDescription"),
                })?;
                let mut out = json!({"stateMachineArn": c.arn, "creationDate": c.creation_date});
                if let Some(v) = c.version_arn {
                    out["stateMachineVersionArn"] = json!(v);
                }
                out
            }
            Operation::DescribeStateMachine => {
                shapes::machine(&s.describe_state_machine(p.str("stateMachineArn")?)?)
            }
            Operation::UpdateStateMachine => {
                let u = s.update_state_machine(MachineChange {
                    arn: p.str("stateMachineArn")?.into(),
                    definition: p.string("definition"),
                    role_arn: p.string("roleArn"),
                    logging_configuration: p.value("loggingConfiguration"),
                    tracing_configuration: p.value("tracingConfiguration"),
                    publish: p.flag("publish") == Some(true),
                    version_description: p.string("versionDescription"),
                })?;
                let mut out = json!({"updateDate": u.update_date, "revisionId": u.revision_id});
                if let Some(v) = u.version_arn {
                    out["stateMachineVersionArn"] = json!(v);
                }
                out
            }
            Operation::DeleteStateMachine => {
                done(s.delete_state_machine(p.str("stateMachineArn")?)?)
            }
            Operation::ListStateMachines => {
                listing("stateMachines", s.list_state_machines(&p.page())?, |m| {
                    shapes::machine_item(&m)
                })
            }
            Operation::PublishStateMachineVersion => {
                let v = s.publish_state_machine_version(
                    p.str("stateMachineArn")?,
                    p.opt_str("revisionId"),
                    p.string("description"),
                )?;
                shapes::version_item(v)
            }
            Operation::ListStateMachineVersions => listing(
                "stateMachineVersions",
                s.list_state_machine_versions(p.str("stateMachineArn")?, &p.page())?,
                shapes::version_item,
            ),
            Operation::DeleteStateMachineVersion => {
                done(s.delete_state_machine_version(p.str("stateMachineVersionArn")?)?)
            }
            Operation::CreateStateMachineAlias => {
                let a = s.create_state_machine_alias(NewAlias {
                    name: p.str("name")?.into(),
                    description: p.string("description"),
                    routing: p.routing().unwrap_or_default(),
                })?;
                shapes::alias_item(a)
            }
            Operation::DescribeStateMachineAlias => {
                shapes::alias(&s.describe_state_machine_alias(p.str("stateMachineAliasArn")?)?)
            }
            Operation::UpdateStateMachineAlias => {
                let at = s.update_state_machine_alias(AliasChange {
                    arn: p.str("stateMachineAliasArn")?.into(),
                    description: p.string("description"),
                    routing: p.routing(),
                })?;
                json!({"updateDate": at})
            }
            Operation::DeleteStateMachineAlias => {
                done(s.delete_state_machine_alias(p.str("stateMachineAliasArn")?)?)
            }
            Operation::ListStateMachineAliases => listing(
                "stateMachineAliases",
                s.list_state_machine_aliases(p.str("stateMachineArn")?, &p.page())?,
                shapes::alias_item,
            ),
            Operation::StartExecution => {
                let started = s.start_execution(new_execution(&p)?)?;
                json!({"executionArn": started.execution_arn, "startDate": started.start_date})
            }
            Operation::StartSyncExecution => {
                let outcome = s.start_sync_execution(new_execution(&p)?).await?;
                shapes::sync_execution(&outcome.execution)
            }
            Operation::DescribeExecution => {
                shapes::execution(&s.describe_execution(p.str("executionArn")?)?)
            }
            Operation::DescribeStateMachineForExecution => {
                let (e, m) = s.describe_state_machine_for_execution(p.str("executionArn")?)?;
                shapes::machine_for_execution(&e, m.as_deref())
            }
            Operation::ListExecutions => {
                let q = ExecutionQuery {
                    state_machine_arn: p.string("stateMachineArn"),
                    map_run_arn: p.string("mapRunArn"),
                    status: p.status("statusFilter")?,
                    page: p.page(),
                };
                listing("executions", s.list_executions(&q)?, shapes::execution_item)
            }
            Operation::DescribeMapRun => shapes::map_run(&s.describe_map_run(p.str("mapRunArn")?)?),
            Operation::ListMapRuns => listing(
                "mapRuns",
                s.list_map_runs(p.str("executionArn")?, &p.page())?,
                shapes::map_run_item,
            ),
            Operation::UpdateMapRun => {
                s.update_map_run(
                    p.str("mapRunArn")?,
                    p.0.get("maxConcurrency")
                        .and_then(Value::as_u64)
                        .map(|n| n as usize),
                    p.0.get("toleratedFailurePercentage")
                        .and_then(Value::as_f64),
                    p.0.get("toleratedFailureCount").and_then(Value::as_u64),
                )?;
                json!({})
            }
            Operation::StopExecution => {
                let at = s.stop_execution(
                    p.str("executionArn")?,
                    p.opt_str("error"),
                    p.opt_str("cause"),
                )?;
                json!({"stopDate": at})
            }
            Operation::GetExecutionHistory => {
                let q = HistoryQuery {
                    execution_arn: p.str("executionArn")?.into(),
                    include_execution_data: p.flag("includeExecutionData") != Some(false),
                    reverse_order: p.flag("reverseOrder") == Some(true),
                    page: p.page(),
                };
                listing("events", s.get_execution_history(&q)?, |e| e)
            }
            Operation::SendTaskSuccess => {
                let token = p.str("taskToken")?;
                done(s.send_task_success(token, p.str("output")?)?)
            }
            Operation::SendTaskFailure => done(s.send_task_failure(
                p.str("taskToken")?,
                p.opt_str("error").unwrap_or_default(),
                p.opt_str("cause").unwrap_or_default(),
            )?),
            Operation::SendTaskHeartbeat => done(s.send_task_heartbeat(p.str("taskToken")?)?),
            Operation::ValidateStateMachineDefinition => {
                shapes::validation(&s.validate_state_machine_definition(p.str("definition")?))
            }
            Operation::TestState => {
                let o = s
                    .test_state(TestRun {
                        definition: p.str("definition")?.into(),
                        // Required: its tasks act, and passing the role is
                        // what the caller is authorized for.
                        role_arn: Some(p.str("roleArn")?.into()),
                        input: p.string("input"),
                    })
                    .await?;
                let inspected = p
                    .opt_str("inspectionLevel")
                    .is_some_and(|l| l != "INFO")
                    .then(|| p.opt_str("input").unwrap_or("{}"));
                shapes::test_outcome(o, inspected)
            }
            Operation::TagResource => done(s.tag_resource(p.str("resourceArn")?, p.tags())?),
            Operation::UntagResource => {
                done(s.untag_resource(p.str("resourceArn")?, &p.strings("tagKeys"))?)
            }
            Operation::ListTagsForResource => {
                shapes::tags(&s.list_tags_for_resource(p.str("resourceArn")?)?)
            }
            Operation::Unsupported(name) => {
                return Err(Error::Validation(format!(
                    "{name} is not supported by Nimbus yet (activities, distributed map runs and redrive are not implemented)"
                )));
            }
        })
    }
}

/// `StartExecution`'s and `StartSyncExecution`'s request.
fn new_execution(p: &Params) -> Result<NewExecution, Error> {
    Ok(NewExecution {
        state_machine_arn: p.str("stateMachineArn")?.into(),
        name: p.string("name"),
        input: p.string("input"),
        trace_header: p.string("traceHeader"),
    })
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
