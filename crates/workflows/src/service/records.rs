//! What the service stores: state machines (with their versions and aliases)
//! and executions, typed. The JSON field names are the stored format
//! (written since the first release, read back unchanged); the API's wire
//! shapes are built from these in `api/stepfunctions`.

use crate::asl;
use crate::engine::{Cursor, End};
use nimbus_storage::records::Record;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::{Arc, OnceLock};

/// The format state machine records are written in.
pub(crate) const MACHINE_FORMAT: u32 = 1;

fn machine_format() -> u32 {
    MACHINE_FORMAT
}

/// `STANDARD` (durable, resumed after a restart) or `EXPRESS` (in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MachineType {
    Standard,
    Express,
}

impl MachineType {
    pub fn parse(s: &str) -> Option<MachineType> {
        match s {
            "STANDARD" => Some(MachineType::Standard),
            "EXPRESS" => Some(MachineType::Express),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MachineType::Standard => "STANDARD",
            MachineType::Express => "EXPRESS",
        }
    }
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// A state machine, its published versions and its aliases.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateMachine {
    /// Absent in records written before formats were numbered: those are 1.
    #[serde(default = "machine_format")]
    pub format: u32,
    #[serde(rename = "stateMachineArn")]
    pub arn: String,
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    #[serde(rename = "type")]
    pub kind: MachineType,
    /// Epoch seconds.
    pub creation_date: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_date: Option<f64>,
    /// Kept as given: Nimbus writes no logs to CloudWatch destinations.
    pub logging_configuration: Value,
    pub tracing_configuration: Value,
    pub revision_id: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub versions: Vec<Version>,
    #[serde(default)]
    pub aliases: Vec<Alias>,
    /// The definition, parsed once.
    #[serde(skip)]
    pub(crate) parsed: OnceLock<Arc<asl::Machine>>,
}

impl Record for StateMachine {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl StateMachine {
    pub fn express(&self) -> bool {
        self.kind == MachineType::Express
    }

    /// The parsed definition (parsed when first asked for).
    pub(crate) fn machine(&self) -> Result<Arc<asl::Machine>, asl::Invalid> {
        if let Some(m) = self.parsed.get() {
            return Ok(m.clone());
        }
        let m = Arc::new(asl::parse(&self.definition)?);
        Ok(self.parsed.get_or_init(|| m).clone())
    }

    /// Replace the definition with one already parsed.
    pub(crate) fn set_definition(&mut self, definition: &str, parsed: asl::Machine) {
        self.definition = definition.to_string();
        self.parsed = OnceLock::from(Arc::new(parsed));
    }

    pub fn version(&self, number: u64) -> Option<&Version> {
        self.versions.iter().find(|v| v.version == number)
    }

    pub fn alias(&self, name: &str) -> Option<&Alias> {
        self.aliases.iter().find(|a| a.name == name)
    }
}

/// A published version: what the machine was when published.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub version: u64,
    pub state_machine_version_arn: String,
    pub definition: String,
    pub role_arn: String,
    pub revision_id: String,
    #[serde(default)]
    pub description: Option<String>,
    pub creation_date: f64,
}

/// An alias and the versions it routes to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alias {
    pub state_machine_alias_arn: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub routing_configuration: Vec<Route>,
    pub creation_date: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_date: Option<f64>,
}

/// One version an alias routes a share of starts to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub state_machine_version_arn: String,
    pub weight: u64,
}

/// Where an execution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }

    pub fn parse(s: &str) -> Option<ExecutionStatus> {
        [
            ExecutionStatus::Running,
            ExecutionStatus::Succeeded,
            ExecutionStatus::Failed,
            ExecutionStatus::TimedOut,
            ExecutionStatus::Aborted,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// Where a STANDARD execution resumes after a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredCursor {
    pub state: String,
    pub input: Value,
    #[serde(default)]
    pub wait_until: Option<u64>,
    #[serde(default)]
    pub vars: Map<String, Value>,
}

impl From<&Cursor> for StoredCursor {
    fn from(c: &Cursor) -> StoredCursor {
        StoredCursor {
            state: c.state.clone(),
            input: c.input.clone(),
            wait_until: c.wait_until_ms,
            vars: c.vars.clone(),
        }
    }
}

impl From<StoredCursor> for Cursor {
    fn from(c: StoredCursor) -> Cursor {
        Cursor {
            state: c.state,
            input: c.input,
            wait_until_ms: c.wait_until,
            vars: c.vars,
        }
    }
}

/// An execution: STANDARD ones are stored; EXPRESS ones only answer
/// `StartSyncExecution` in this shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    /// Epoch milliseconds.
    pub start_date: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<u64>,
    /// The input as given (a JSON text).
    pub input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The definition it runs (its version's, when started through one).
    pub definition: String,
    pub role_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_machine_version_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_machine_alias_arn: Option<String>,
    #[serde(default)]
    pub last_event_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cursor: Option<StoredCursor>,
    /// The X-Ray trace header it was started in (`traceHeader`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_header: Option<String>,
    /// A distributed Map's child execution: its Map Run and how many items
    /// it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_run: Option<(String, usize)>,
}

impl Execution {
    pub fn running(&self) -> bool {
        self.status == ExecutionStatus::Running
    }

    /// Record how it ended.
    pub(crate) fn end(&mut self, end: &End) {
        self.status = ExecutionStatus::parse(end.status).unwrap_or(ExecutionStatus::Failed);
        self.stop_date = Some(nimbus_model::time::now_millis());
        self.cursor = None;
        if let Some(out) = &end.output {
            self.output = Some(out.to_string());
        }
        if let Some(f) = &end.failure {
            if !f.error.is_empty() {
                self.error = Some(f.error.clone());
            }
            if !f.cause.is_empty() {
                self.cause = Some(f.cause.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_written_before_formats_were_numbered_still_read() {
        let old = serde_json::json!({
            "stateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:m",
            "name": "m", "status": "ACTIVE",
            "definition": r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#,
            "roleArn": "arn:aws:iam::000000000000:role/r", "type": "EXPRESS",
            "creationDate": 1.5,
            "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
            "tracingConfiguration": {"enabled": false},
            "revisionId": "r1", "tags": [{"key": "k", "value": "v"}],
            "versions": [{"version": 1, "stateMachineVersionArn": "arn:aws:states:us-east-1:000000000000:stateMachine:m:1",
                "definition": "{}", "roleArn": "arn:aws:iam::000000000000:role/r", "revisionId": "r1",
                "description": null, "creationDate": 2.0}],
            "aliases": [{"stateMachineAliasArn": "arn:aws:states:us-east-1:000000000000:stateMachine:m:a",
                "name": "a", "description": null, "creationDate": 3.0,
                "routingConfiguration": [{"stateMachineVersionArn": "arn:aws:states:us-east-1:000000000000:stateMachine:m:1", "weight": 100}]}],
        });
        let m: StateMachine = serde_json::from_value(old).unwrap();
        assert_eq!(m.format, MACHINE_FORMAT);
        assert!(m.express());
        assert_eq!(m.version(1).unwrap().revision_id, "r1");
        assert_eq!(m.alias("a").unwrap().routing_configuration[0].weight, 100);
        assert!(m.machine().is_ok());
        let exec = serde_json::json!({
            "executionArn": "e", "stateMachineArn": "m", "name": "n", "status": "RUNNING",
            "startDate": 5, "input": "{}", "definition": "{}", "roleArn": "r", "lastEventId": 0,
            "cursor": {"state": "P", "input": {}, "waitUntil": null},
        });
        let e: Execution = serde_json::from_value(exec).unwrap();
        assert!(e.running());
        assert_eq!(e.cursor.unwrap().state, "P");
    }
}
