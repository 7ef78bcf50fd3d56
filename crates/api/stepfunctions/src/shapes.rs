//! Step Functions' wire shapes: requests read into the service's inputs
//! (with Step Functions' validation messages), and the service's records
//! written in each response's shape. Dates are epoch seconds.

use nimbus_workflows::service::map_runs::MapRun;
use nimbus_workflows::service::{
    Alias, Diagnostic, Error, Execution, ExecutionStatus, Listed, MachineView, Page, Route,
    StateMachine, Tag, TestOutcome, Version,
};
use serde_json::{Map, Value, json};

/// A request's members.
pub(crate) struct Params<'a>(pub &'a Value);

impl<'a> Params<'a> {
    /// A required string member.
    pub fn str(&self, name: &str) -> Result<&'a str, Error> {
        self.0.get(name).and_then(Value::as_str).ok_or_else(|| {
            Error::Validation(format!(
                "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
            ))
        })
    }

    pub fn opt_str(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).and_then(Value::as_str)
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.opt_str(name).map(String::from)
    }

    pub fn flag(&self, name: &str) -> Option<bool> {
        self.0.get(name).and_then(Value::as_bool)
    }

    pub fn value(&self, name: &str) -> Option<Value> {
        self.0.get(name).filter(|v| !v.is_null()).cloned()
    }

    pub fn page(&self) -> Page {
        Page {
            max_results: self.0.get("maxResults").and_then(Value::as_u64),
            next_token: self.string("nextToken"),
        }
    }

    pub fn tags(&self) -> Vec<Tag> {
        self.0
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|t| Tag {
                        key: t["key"].as_str().unwrap_or_default().to_string(),
                        value: t["value"].as_str().unwrap_or_default().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An alias's `routingConfiguration`, when given.
    pub fn routing(&self) -> Option<Vec<Route>> {
        let list = self.0.get("routingConfiguration")?.as_array()?;
        Some(
            list.iter()
                .map(|r| Route {
                    state_machine_version_arn: r["stateMachineVersionArn"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    weight: r["weight"].as_u64().unwrap_or(0),
                })
                .collect(),
        )
    }

    pub fn status(&self, name: &str) -> Result<Option<ExecutionStatus>, Error> {
        self.opt_str(name)
            .map(|s| {
                ExecutionStatus::parse(s).ok_or_else(|| Error::Validation(format!(
                    "1 validation error detected: Value '{s}' at '{name}' failed to satisfy constraint: Member must satisfy enum value set: [RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE]"
                )))
            })
            .transpose()
    }
}

/// A listing: its items under `key`, and the next token when there is one.
pub(crate) fn listing<T>(key: &str, l: Listed<T>, item: impl Fn(T) -> Value) -> Value {
    let mut out = Map::new();
    out.insert(key.into(), l.items.into_iter().map(item).collect());
    if let Some(t) = l.next_token {
        out.insert("nextToken".into(), json!(t));
    }
    Value::Object(out)
}

fn put_some(out: &mut Value, key: &str, v: Option<impl Into<Value>>) {
    if let Some(v) = v {
        out[key] = v.into();
    }
}

/// Epoch milliseconds in seconds.
fn secs(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// `DescribeStateMachine`: the machine, or the version the ARN names.
pub(crate) fn machine(view: &MachineView) -> Value {
    let m = &view.machine;
    let mut out = json!({
        "stateMachineArn": view.arn,
        "name": m.name,
        "status": "ACTIVE",
        "definition": m.definition,
        "roleArn": m.role_arn,
        "type": m.kind.as_str(),
        "creationDate": m.creation_date,
        "loggingConfiguration": m.logging_configuration,
        "tracingConfiguration": m.tracing_configuration,
        "revisionId": m.revision_id,
    });
    put_some(&mut out, "updateDate", m.update_date);
    if let Some(v) = &view.version {
        out["definition"] = json!(v.definition);
        out["roleArn"] = json!(v.role_arn);
        out["revisionId"] = json!(v.revision_id);
        out["creationDate"] = json!(v.creation_date);
        put_some(&mut out, "description", v.description.clone());
    }
    out
}

/// An entry of `ListStateMachines`.
pub(crate) fn machine_item(m: &StateMachine) -> Value {
    json!({"stateMachineArn": m.arn, "name": m.name, "type": m.kind.as_str(), "creationDate": m.creation_date})
}

/// An entry of `ListStateMachineVersions`.
pub(crate) fn version_item(v: Version) -> Value {
    json!({"stateMachineVersionArn": v.state_machine_version_arn, "creationDate": v.creation_date})
}

/// `DescribeStateMachineAlias`.
pub(crate) fn alias(a: &Alias) -> Value {
    let mut out = json!({
        "stateMachineAliasArn": a.state_machine_alias_arn,
        "name": a.name,
        "routingConfiguration": a.routing_configuration.iter().map(|r| json!({
            "stateMachineVersionArn": r.state_machine_version_arn,
            "weight": r.weight,
        })).collect::<Vec<_>>(),
        "creationDate": a.creation_date,
    });
    put_some(&mut out, "description", a.description.clone());
    put_some(&mut out, "updateDate", a.update_date);
    out
}

/// An entry of `ListStateMachineAliases`.
pub(crate) fn alias_item(a: Alias) -> Value {
    json!({"stateMachineAliasArn": a.state_machine_alias_arn, "creationDate": a.creation_date})
}

/// `DescribeExecution`.
pub(crate) fn execution(e: &Execution) -> Value {
    let mut out = json!({
        "executionArn": e.execution_arn,
        "stateMachineArn": e.state_machine_arn,
        "name": e.name,
        "status": e.status.as_str(),
        "startDate": secs(e.start_date),
        "input": e.input,
        "inputDetails": {"included": true},
        "redriveCount": 0,
        "redriveStatus": "NOT_REDRIVABLE",
    });
    put_some(&mut out, "stopDate", e.stop_date.map(secs));
    if let Some(o) = &e.output {
        out["output"] = json!(o);
        out["outputDetails"] = json!({"included": true});
    }
    put_some(&mut out, "error", e.error.clone());
    put_some(&mut out, "cause", e.cause.clone());
    put_some(
        &mut out,
        "stateMachineVersionArn",
        e.state_machine_version_arn.clone(),
    );
    put_some(
        &mut out,
        "stateMachineAliasArn",
        e.state_machine_alias_arn.clone(),
    );
    put_some(&mut out, "traceHeader", e.trace_header.clone());
    if let Some((run, _)) = &e.map_run {
        out["mapRunArn"] = json!(run);
    }
    out
}

/// An entry of `ListExecutions`.
pub(crate) fn execution_item(e: Execution) -> Value {
    let mut out = json!({
        "executionArn": e.execution_arn,
        "stateMachineArn": e.state_machine_arn,
        "name": e.name,
        "status": e.status.as_str(),
        "startDate": secs(e.start_date),
        "redriveCount": 0,
    });
    put_some(&mut out, "stopDate", e.stop_date.map(secs));
    put_some(
        &mut out,
        "stateMachineVersionArn",
        e.state_machine_version_arn,
    );
    put_some(&mut out, "stateMachineAliasArn", e.state_machine_alias_arn);
    if let Some((run, items)) = e.map_run {
        out["mapRunArn"] = json!(run);
        out["itemCount"] = json!(items);
    }
    out
}

/// `StartSyncExecution`: the execution and how it ended.
pub(crate) fn sync_execution(e: &Execution) -> Value {
    let stop = e.stop_date.unwrap_or(e.start_date);
    let mut out = json!({
        "executionArn": e.execution_arn,
        "stateMachineArn": e.state_machine_arn,
        "name": e.name,
        "status": e.status.as_str(),
        "startDate": secs(e.start_date),
        "stopDate": secs(stop),
        "input": e.input,
        "inputDetails": {"included": true},
        "billingDetails": {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": stop.saturating_sub(e.start_date).max(100)},
    });
    if let Some(o) = &e.output {
        out["output"] = json!(o);
        out["outputDetails"] = json!({"included": true});
    }
    put_some(&mut out, "error", e.error.clone());
    put_some(&mut out, "cause", e.cause.clone());
    put_some(&mut out, "traceHeader", e.trace_header.clone());
    out
}

/// `DescribeStateMachineForExecution`: the definition the execution runs,
/// and the machine's settings (if it still exists).
pub(crate) fn machine_for_execution(e: &Execution, m: Option<&StateMachine>) -> Value {
    let name = e.state_machine_arn.rsplit(':').next().unwrap_or_default();
    let mut out = json!({
        "stateMachineArn": e.state_machine_arn,
        "name": name,
        "definition": e.definition,
        "roleArn": e.role_arn,
    });
    if let Some(m) = m {
        out["updateDate"] = json!(m.update_date.unwrap_or(m.creation_date));
        out["loggingConfiguration"] = m.logging_configuration.clone();
        out["tracingConfiguration"] = m.tracing_configuration.clone();
        out["revisionId"] = json!(m.revision_id);
    }
    out
}

pub(crate) fn tags(tags: &[Tag]) -> Value {
    json!({"tags": tags.iter().map(|t| json!({"key": t.key, "value": t.value})).collect::<Vec<_>>()})
}

/// `ValidateStateMachineDefinition`: `OK`, or `FAIL` with what is wrong.
pub(crate) fn validation(found: &[Diagnostic]) -> Value {
    let diagnostics: Vec<Value> = found
        .iter()
        .map(|d| {
            let mut v = json!({"severity": "ERROR", "code": d.code, "message": d.message});
            put_some(&mut v, "location", d.location.clone());
            v
        })
        .collect();
    let result = if found.is_empty() { "OK" } else { "FAIL" };
    json!({"result": result, "diagnostics": diagnostics, "truncated": false})
}

/// `TestState`: how the state ended, and the input it saw when inspection
/// was asked for.
pub(crate) fn test_outcome(o: TestOutcome, inspected_input: Option<&str>) -> Value {
    let mut out = json!({"status": o.status});
    put_some(&mut out, "output", o.output);
    put_some(&mut out, "nextState", o.next_state);
    put_some(&mut out, "error", o.error);
    put_some(&mut out, "cause", o.cause);
    if let Some(input) = inspected_input {
        out["inspectionData"] = json!({"input": input});
    }
    out
}

/// `DescribeMapRun`.
pub(crate) fn map_run(r: &MapRun) -> Value {
    let counts = |by_items: bool| {
        let c = r.counts(by_items);
        let mut o = json!({
            "pending": c.pending, "running": c.running, "succeeded": c.succeeded,
            "failed": c.failed, "timedOut": 0, "aborted": 0, "total": c.total,
            "resultsWritten": c.succeeded + c.failed,
            "failuresNotRedrivable": 0, "pendingRedrive": 0,
        });
        if !by_items {
            o["resultsWritten"] = json!(c.succeeded + c.failed);
        }
        o
    };
    let mut out = json!({
        "mapRunArn": r.map_run_arn,
        "executionArn": r.execution_arn,
        "status": r.status,
        "startDate": secs(r.start_ms),
        "maxConcurrency": r.max_concurrency,
        "toleratedFailurePercentage": r.tolerated_percentage,
        "toleratedFailureCount": r.tolerated_count,
        "itemCounts": counts(true),
        "executionCounts": counts(false),
        "redriveCount": 0,
    });
    put_some(&mut out, "stopDate", r.stop_ms.map(secs));
    out
}

/// One entry of `ListMapRuns`.
pub(crate) fn map_run_item(r: MapRun) -> Value {
    let mut out = json!({
        "executionArn": r.execution_arn,
        "mapRunArn": r.map_run_arn,
        "stateMachineArn": r.state_machine_arn,
        "startDate": secs(r.start_ms),
    });
    put_some(&mut out, "stopDate", r.stop_ms.map(secs));
    out
}
