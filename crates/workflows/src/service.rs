//! The Step Functions service: state machines (with versions and aliases),
//! executions (STANDARD: durable, resumed after a restart; EXPRESS: in
//! memory), their histories, task tokens. Operations take and return the
//! API's JSON shapes; `api/stepfunctions` puts them on the wire.

mod executions;
mod tasks;
mod versions;
use crate::asl;
use crate::engine::{Cursor, End, Event, Failure, Integrations, Persist, Run, RunSpec, Tokens};
use nimbus_storage::{KvEngine, Table, WriteBatch};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

const MACHINES: Table = Table("sfn_machines");
const EXECUTIONS: Table = Table("sfn_executions");
const BY_MACHINE: Table = Table("sfn_executions_by_machine");
const HISTORY: Table = Table("sfn_history");

/// The largest input or output Step Functions carries: 256 KiB.
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// Why a Step Functions operation failed. The API maps each onto Step
/// Functions' wire code (`api/stepfunctions`); [`Error::code`] is that name,
/// which `.sync` integrations also report as `StepFunctions.<code>`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    ExecutionAlreadyExists(String),
    #[error("{0}")]
    ExecutionDoesNotExist(String),
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    InvalidDefinition(String),
    #[error("{0}")]
    InvalidExecutionInput(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidOutput(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    MissingRequiredParameter(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    Service(String),
    #[error("{0}")]
    StateMachineAlreadyExists(String),
    #[error("{0}")]
    StateMachineDoesNotExist(String),
    #[error("{0}")]
    StateMachineTypeNotSupported(String),
    #[error("{0}")]
    TaskDoesNotExist(String),
    #[error("{0}")]
    TooManyTags(String),
    #[error("{0}")]
    Validation(String),
}

impl Error {
    /// Step Functions' name for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Conflict(_) => "ConflictException",
            Error::ExecutionAlreadyExists(_) => "ExecutionAlreadyExists",
            Error::ExecutionDoesNotExist(_) => "ExecutionDoesNotExist",
            Error::InvalidArn(_) => "InvalidArn",
            Error::InvalidDefinition(_) => "InvalidDefinition",
            Error::InvalidExecutionInput(_) => "InvalidExecutionInput",
            Error::InvalidName(_) => "InvalidName",
            Error::InvalidOutput(_) => "InvalidOutput",
            Error::InvalidToken(_) => "InvalidToken",
            Error::MissingRequiredParameter(_) => "MissingRequiredParameter",
            Error::ResourceNotFound(_) => "ResourceNotFound",
            Error::Service(_) => "ServiceException",
            Error::StateMachineAlreadyExists(_) => "StateMachineAlreadyExists",
            Error::StateMachineDoesNotExist(_) => "StateMachineDoesNotExist",
            Error::StateMachineTypeNotSupported(_) => "StateMachineTypeNotSupported",
            Error::TaskDoesNotExist(_) => "TaskDoesNotExist",
            Error::TooManyTags(_) => "TooManyTags",
            Error::Validation(_) => "ValidationException",
        }
    }
}

impl From<nimbus_storage::Error> for Error {
    fn from(e: nimbus_storage::Error) -> Error {
        Error::Service(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// What runs a transition's durable write without stalling the async runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// A state machine as stored.
#[derive(Debug, Clone)]
struct MachineRecord {
    doc: Value,
    parsed: Arc<asl::Machine>,
    /// Published versions: number → (definition, roleArn, description, date).
    versions: Vec<Value>,
    aliases: Vec<Value>,
}

impl MachineRecord {
    fn name(&self) -> &str {
        self.doc["name"].as_str().unwrap_or_default()
    }
    fn arn(&self) -> &str {
        self.doc["stateMachineArn"].as_str().unwrap_or_default()
    }
    fn express(&self) -> bool {
        self.doc["type"] == "EXPRESS"
    }
    fn to_json(&self) -> Value {
        let mut d = self.doc.clone();
        d["versions"] = Value::Array(self.versions.clone());
        d["aliases"] = Value::Array(self.aliases.clone());
        d
    }
    fn from_json(mut v: Value) -> Option<MachineRecord> {
        let versions = v
            .get("versions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let aliases = v
            .get("aliases")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("versions");
            o.remove("aliases");
        }
        let parsed = Arc::new(asl::parse(v["definition"].as_str()?).ok()?);
        Some(MachineRecord {
            doc: v,
            parsed,
            versions,
            aliases,
        })
    }
}

/// What an ARN starts: the machine, the definition to run, and the version
/// and alias it was reached through.
type Resolved = (
    MachineRecord,
    Arc<asl::Machine>,
    Option<String>,
    Option<String>,
);

/// The service.
pub struct StepFunctions {
    kv: Arc<dyn KvEngine>,
    account: String,
    region: String,
    integrations: OnceLock<Arc<dyn Integrations>>,
    tokens: Arc<Tokens>,
    machines: Mutex<HashMap<String, MachineRecord>>,
    running: Mutex<HashMap<String, Running>>,
    start_lock: Mutex<()>,
    /// Finished EXPRESS executions are not kept; `.sync` waiters of STANDARD
    /// ones read the stored record once woken.
    me: Weak<StepFunctions>,
}

struct Running {
    run: Arc<Run>,
    abort: tokio::task::AbortHandle,
    done: tokio::sync::watch::Receiver<bool>,
    persist: Option<Arc<ExecPersist>>,
}

/// Writes one STANDARD execution's progress.
struct ExecPersist {
    kv: Arc<dyn KvEngine>,
    record: Mutex<Value>,
    /// Set once stopped: later progress of the aborted run is dropped.
    closed: std::sync::atomic::AtomicBool,
}

impl ExecPersist {
    /// Claim the right to stop the execution: false once it has ended or
    /// another stop claimed it.
    fn claim_stop(&self) -> bool {
        let rec = self.record.lock().unwrap_or_else(|p| p.into_inner());
        rec["status"] == "RUNNING" && !self.closed.swap(true, std::sync::atomic::Ordering::SeqCst)
    }
}

impl Persist for ExecPersist {
    fn checkpoint(
        &self,
        events: Vec<Event>,
        cursor: Option<&Cursor>,
        end: Option<&End>,
    ) -> std::result::Result<(), String> {
        let mut rec = self.record.lock().unwrap_or_else(|p| p.into_inner());
        // An execution ends once: a run that finished is not stopped after,
        // and a stopped run's progress is dropped.
        if rec["status"] != "RUNNING" {
            return Err("the execution already ended".into());
        }
        if self.closed.load(std::sync::atomic::Ordering::SeqCst)
            && end.is_none_or(|e| e.status != "ABORTED")
        {
            return Err("the execution was stopped".into());
        }
        let arn = rec["executionArn"].as_str().unwrap_or_default().to_string();
        let mut batch = WriteBatch::new();
        for e in &events {
            batch.put(HISTORY, history_key(&arn, e.id), e.to_json().to_string());
            rec["lastEventId"] = json!(e.id);
        }
        if let Some(c) = cursor {
            rec["cursor"] = json!({"state": c.state, "input": c.input, "waitUntil": c.wait_until_ms, "vars": c.vars});
        }
        if let Some(end) = end {
            apply_end(&mut rec, end);
            self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        batch.put(EXECUTIONS, arn.as_bytes().to_vec(), rec.to_string());
        let kv = self.kv.clone();
        blocking(move || kv.commit(batch)).map_err(|e| e.to_string())
    }
}

fn apply_end(rec: &mut Value, end: &End) {
    rec["status"] = json!(end.status);
    rec["stopDate"] = json!(nimbus_model::time::now_millis());
    if let Some(o) = rec.as_object_mut() {
        o.remove("cursor");
    }
    if let Some(out) = &end.output {
        rec["output"] = json!(out.to_string());
    }
    if let Some(f) = &end.failure {
        if !f.error.is_empty() {
            rec["error"] = json!(f.error);
        }
        if !f.cause.is_empty() {
            rec["cause"] = json!(f.cause);
        }
    }
}

fn history_key(arn: &str, id: u64) -> Vec<u8> {
    let mut k = arn.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn by_machine_key(machine_arn: &str, start_ms: u64, exec_arn: &str) -> Vec<u8> {
    let mut k = machine_arn.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&(u64::MAX - start_ms).to_be_bytes());
    k.extend_from_slice(exec_arn.as_bytes());
    k
}

fn no_machine(arn: &str) -> Error {
    Error::StateMachineDoesNotExist(format!("State Machine Does Not Exist: '{arn}'"))
}

fn not_found(arn: &str) -> Error {
    Error::ResourceNotFound(format!("Resource not found: '{arn}'"))
}

fn str_field<'a>(req: &'a Value, field: &str) -> Result<&'a str> {
    req.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Validation(format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(field))))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Names of state machines, executions and aliases: 1-80 characters, none of
/// whitespace, brackets, wildcards, punctuation Step Functions refuses, or
/// control characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 80
        && name.chars().all(|c| {
            !c.is_whitespace() && !c.is_control() && !"<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
        })
}

fn secs(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn page<T: Clone>(items: &[T], req: &Value) -> Result<(Vec<T>, Option<String>)> {
    let max = req
        .get("maxResults")
        .and_then(Value::as_u64)
        .filter(|m| *m > 0)
        .unwrap_or(100)
        .min(1000) as usize;
    let start = match req.get("nextToken").and_then(Value::as_str) {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| Error::InvalidToken(format!("Invalid Token: '{t}'")))?,
        None => 0,
    };
    let end = start.saturating_add(max).min(items.len());
    let slice = items.get(start..end).unwrap_or_default().to_vec();
    Ok((slice, (end < items.len()).then(|| end.to_string())))
}

impl StepFunctions {
    pub fn open(kv: Arc<dyn KvEngine>, account: &str, region: &str) -> Result<Arc<StepFunctions>> {
        let mut machines = HashMap::new();
        for (_, v) in kv.scan_prefix(MACHINES, b"")? {
            if let Some(m) = serde_json::from_slice(&v)
                .ok()
                .and_then(MachineRecord::from_json)
            {
                machines.insert(m.name().to_string(), m);
            }
        }
        Ok(Arc::new_cyclic(|me| StepFunctions {
            kv,
            account: account.into(),
            region: region.into(),
            integrations: OnceLock::new(),
            tokens: Arc::new(Tokens::default()),
            machines: Mutex::new(machines),
            running: Mutex::new(HashMap::new()),
            start_lock: Mutex::new(()),
            me: me.clone(),
        }))
    }

    /// Set what Task states call; before [`StepFunctions::resume`].
    pub fn set_integrations(&self, i: Arc<dyn Integrations>) {
        let _ = self.integrations.set(i);
    }

    pub fn tokens(&self) -> &Arc<Tokens> {
        &self.tokens
    }

    fn machines(&self) -> std::sync::MutexGuard<'_, HashMap<String, MachineRecord>> {
        self.machines.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn machine_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            self.region, self.account
        )
    }

    /// Split a state machine ARN (or a version or alias ARN) into the machine
    /// name and the qualifier.
    fn parse_machine_arn(&self, arn: &str) -> Result<(String, Option<String>)> {
        let prefix = format!(
            "arn:aws:states:{}:{}:stateMachine:",
            self.region, self.account
        );
        let rest = arn
            .strip_prefix(&prefix)
            .or_else(|| {
                // Any region or account names the same local machine.
                let p: Vec<&str> = arn.splitn(7, ':').collect();
                (p.len() >= 7 && p[0] == "arn" && p[2] == "states" && p[5] == "stateMachine")
                    .then(|| &arn[arn.len() - p[6].len()..])
            })
            .ok_or_else(|| {
                Error::InvalidArn(format!(
                    "Invalid Arn: 'Resource type not valid in this context: {arn}'"
                ))
            })?;
        Ok(match rest.split_once(':') {
            Some((n, q)) => (n.to_string(), Some(q.to_string())),
            None => (rest.to_string(), None),
        })
    }

    /// Change a stored machine: `f` edits a copy, which is saved and only then
    /// replaces the one in memory (nothing changes if `f` or the save fails).
    fn update_machine<T>(
        &self,
        name: &str,
        missing: Error,
        f: impl FnOnce(&mut MachineRecord) -> Result<T>,
    ) -> Result<T> {
        let mut machines = self.machines();
        let m = machines.get_mut(name).ok_or(missing)?;
        let mut next = m.clone();
        let out = f(&mut next)?;
        self.save_machine(&next)?;
        *m = next;
        Ok(out)
    }

    fn save_machine(&self, m: &MachineRecord) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(
            MACHINES,
            m.name().as_bytes().to_vec(),
            m.to_json().to_string(),
        );
        let kv = self.kv.clone();
        blocking(move || kv.commit(b))?;
        Ok(())
    }

    fn check_definition(definition: &str) -> Result<asl::Machine> {
        asl::parse(definition).map_err(|e| Error::InvalidDefinition(e.to_string()))
    }

    pub fn create_state_machine(&self, req: &Value) -> Result<Value> {
        let name = str_field(req, "name")?;
        if !valid_name(name) {
            return Err(Error::InvalidName(format!("Invalid Name: '{name}'")));
        }
        let definition = str_field(req, "definition")?;
        let role = str_field(req, "roleArn")?;
        if !nimbus_model::arn::is_valid_role_arn(role) {
            return Err(Error::InvalidArn(format!(
                "Invalid Arn: 'Resource type not valid in this context: {role}'"
            )));
        }
        let kind = req
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("STANDARD");
        if kind != "STANDARD" && kind != "EXPRESS" {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{kind}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
            )));
        }
        let parsed = Self::check_definition(definition)?;
        let arn = self.machine_arn(name);
        let now = nimbus_model::time::now_millis();
        let mut machines = self.machines();
        if let Some(existing) = machines.get(name) {
            // Creating the same machine again is idempotent.
            if existing.doc["definition"] == definition
                && existing.doc["roleArn"] == role
                && existing.doc["type"] == kind
            {
                return Ok(
                    json!({"stateMachineArn": arn, "creationDate": existing.doc["creationDate"]}),
                );
            }
            return Err(Error::StateMachineAlreadyExists(format!(
                "State Machine Already Exists: '{arn}'"
            )));
        }
        let mut doc = json!({
            "stateMachineArn": arn,
            "name": name,
            "status": "ACTIVE",
            "definition": definition,
            "roleArn": role,
            "type": kind,
            "creationDate": secs(now),
            "loggingConfiguration": req.get("loggingConfiguration").cloned().unwrap_or(json!({"level": "OFF", "includeExecutionData": false})),
            "tracingConfiguration": req.get("tracingConfiguration").cloned().unwrap_or(json!({"enabled": false})),
            "revisionId": uuid::Uuid::new_v4().to_string(),
            "tags": req.get("tags").cloned().unwrap_or(json!([])),
        });
        if let Some(d) = req.get("versionDescription") {
            doc["versionDescription"] = d.clone();
        }
        let mut m = MachineRecord {
            doc,
            parsed: Arc::new(parsed),
            versions: Vec::new(),
            aliases: Vec::new(),
        };
        let mut out = json!({"stateMachineArn": arn, "creationDate": secs(now)});
        if req.get("publish").and_then(Value::as_bool) == Some(true) {
            out["stateMachineVersionArn"] =
                json!(Self::publish(&mut m, req.get("versionDescription"), now));
        }
        self.save_machine(&m)?;
        machines.insert(name.to_string(), m);
        Ok(out)
    }

    fn publish(m: &mut MachineRecord, description: Option<&Value>, now: u64) -> String {
        let n = m
            .versions
            .iter()
            .filter_map(|v| v["version"].as_u64())
            .max()
            .unwrap_or(0)
            + 1;
        let arn = format!("{}:{n}", m.arn());
        m.versions.push(json!({
            "version": n,
            "stateMachineVersionArn": arn,
            "definition": m.doc["definition"],
            "roleArn": m.doc["roleArn"],
            "revisionId": m.doc["revisionId"],
            "description": description.cloned().unwrap_or(Value::Null),
            "creationDate": secs(now),
        }));
        arn
    }

    pub fn describe_state_machine(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineArn")?;
        let (name, qualifier) = self.parse_machine_arn(arn)?;
        let machines = self.machines();
        let m = machines.get(&name).ok_or_else(|| no_machine(arn))?;
        let mut out = m.doc.clone();
        if let Some(o) = out.as_object_mut() {
            o.remove("tags");
            o.remove("versionDescription");
        }
        match qualifier {
            None => {}
            Some(q) => {
                let v = m
                    .versions
                    .iter()
                    .find(|v| version_is(v, &q))
                    .ok_or_else(|| no_machine(arn))?;
                out["stateMachineArn"] = json!(arn);
                out["definition"] = v["definition"].clone();
                out["roleArn"] = v["roleArn"].clone();
                out["revisionId"] = v["revisionId"].clone();
                out["creationDate"] = v["creationDate"].clone();
                if !v["description"].is_null() {
                    out["description"] = v["description"].clone();
                }
            }
        }
        Ok(out)
    }

    pub fn update_state_machine(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineArn")?;
        let (name, q) = self.parse_machine_arn(arn)?;
        if q.is_some() {
            return Err(Error::Validation(
                "Versions and aliases cannot be updated; update the state machine".into(),
            ));
        }
        let definition = req.get("definition").and_then(Value::as_str);
        let role = req.get("roleArn").and_then(Value::as_str);
        if definition.is_none()
            && role.is_none()
            && req.get("loggingConfiguration").is_none()
            && req.get("tracingConfiguration").is_none()
        {
            return Err(Error::MissingRequiredParameter("Either the definition, the roleArn, the loggingConfiguration or the tracingConfiguration must be specified".into(),
            ));
        }
        let parsed = definition.map(Self::check_definition).transpose()?;
        self.update_machine(&name, no_machine(arn), |next| {
            if let (Some(d), Some(p)) = (definition, parsed) {
                next.doc["definition"] = json!(d);
                next.parsed = Arc::new(p);
            }
            if let Some(r) = role {
                next.doc["roleArn"] = json!(r);
            }
            for f in ["loggingConfiguration", "tracingConfiguration"] {
                if let Some(v) = req.get(f) {
                    next.doc[f] = v.clone();
                }
            }
            let now = nimbus_model::time::now_millis();
            next.doc["revisionId"] = json!(uuid::Uuid::new_v4().to_string());
            next.doc["updateDate"] = secs(now);
            let mut out = json!({"updateDate": secs(now), "revisionId": next.doc["revisionId"]});
            if req.get("publish").and_then(Value::as_bool) == Some(true) {
                out["stateMachineVersionArn"] =
                    json!(Self::publish(next, req.get("versionDescription"), now));
            }
            Ok(out)
        })
    }

    pub fn list_state_machines(&self, req: &Value) -> Result<Value> {
        let mut all: Vec<Value> = self
            .machines()
            .values()
            .map(|m| json!({"stateMachineArn": m.arn(), "name": m.name(), "type": m.doc["type"], "creationDate": m.doc["creationDate"]}))
            .collect();
        all.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let (items, next) = page(&all, req)?;
        Ok(json!({"stateMachines": items, "nextToken": next}))
    }

    pub fn delete_state_machine(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineArn")?;
        let (name, q) = self.parse_machine_arn(arn)?;
        if q.is_some() {
            return Err(Error::Validation(
                "Use DeleteStateMachineVersion or DeleteStateMachineAlias for a qualified ARN"
                    .into(),
            ));
        }
        let mut machines = self.machines();
        if machines.remove(&name).is_some() {
            let mut b = WriteBatch::new();
            b.delete(MACHINES, name.as_bytes().to_vec());
            let kv = self.kv.clone();
            blocking(move || kv.commit(b))?;
        }
        Ok(json!({}))
    }

    /// The machine an ARN (plain, version or alias) starts: the machine's
    /// record, the definition to run, and the version and alias ARNs.
    fn resolve(&self, arn: &str) -> Result<Resolved> {
        let (name, q) = self.parse_machine_arn(arn)?;
        let machines = self.machines();
        let missing = || no_machine(arn);
        let m = machines.get(&name).ok_or_else(missing)?.clone();
        drop(machines);
        let Some(q) = q else {
            let parsed = m.parsed.clone();
            return Ok((m, parsed, None, None));
        };
        let (version, alias) = if q.chars().all(|c| c.is_ascii_digit()) {
            (q.clone(), None)
        } else {
            let a = m
                .aliases
                .iter()
                .find(|a| a["name"] == q.as_str())
                .ok_or_else(missing)?;
            let routes = a["routingConfiguration"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut roll = [0u8; 4];
            let _ = getrandom::fill(&mut roll);
            let mut pick = u64::from(u32::from_le_bytes(roll)) % 100;
            let mut chosen = routes.first().cloned().unwrap_or(Value::Null);
            for r in &routes {
                let w = r["weight"].as_u64().unwrap_or(0);
                if pick < w {
                    chosen = r.clone();
                    break;
                }
                pick -= w;
            }
            let varn = chosen["stateMachineVersionArn"]
                .as_str()
                .unwrap_or_default();
            (
                varn.rsplit(':').next().unwrap_or_default().to_string(),
                Some(
                    a["stateMachineAliasArn"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
            )
        };
        let v = m
            .versions
            .iter()
            .find(|v| version_is(v, &version))
            .ok_or_else(missing)?;
        let parsed = asl::parse(v["definition"].as_str().unwrap_or_default())
            .map_err(|e| Error::InvalidDefinition(e.to_string()))?;
        let varn = v["stateMachineVersionArn"].as_str().map(String::from);
        Ok((m, Arc::new(parsed), varn, alias))
    }

    fn parse_input(req: &Value) -> Result<Value> {
        let text = req.get("input").and_then(Value::as_str).unwrap_or("{}");
        if text.len() > MAX_PAYLOAD {
            return Err(Error::InvalidExecutionInput(
                "Input exceeds the maximum size of 262144 bytes".into(),
            ));
        }
        serde_json::from_str(text).map_err(|e| {
            Error::InvalidExecutionInput(format!(
                "Invalid State Machine Execution Input: 'Unexpected input: {e}'"
            ))
        })
    }

    pub fn start_execution(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineArn")?;
        let input = Self::parse_input(req)?;
        let (m, machine, version_arn, alias_arn) = self.resolve(arn)?;
        let name = match req.get("name").and_then(Value::as_str) {
            Some(n) => {
                if !valid_name(n) {
                    return Err(Error::InvalidName(format!("Invalid Name: '{n}'")));
                }
                n.to_string()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let now = nimbus_model::time::now_millis();
        if m.express() {
            let exec_arn = format!(
                "arn:aws:states:{}:{}:express:{}:{name}:{}",
                self.region,
                self.account,
                m.name(),
                uuid::Uuid::new_v4()
            );
            let run = self.new_run(&m, &exec_arn, &name, input, now, 0, None, false);
            let (tx, rx) = tokio::sync::watch::channel(false);
            let me = self.me.clone();
            let run2 = run.clone();
            let arn2 = exec_arn.clone();
            // Registered before the task can finish and remove itself.
            let mut running = self.running();
            let task = tokio::spawn(async move {
                let _ = run2.execute(machine, None).await;
                let _ = tx.send(true);
                if let Some(me) = me.upgrade() {
                    me.running().remove(&arn2);
                }
            });
            running.insert(
                exec_arn.clone(),
                Running {
                    run,
                    abort: task.abort_handle(),
                    done: rx,
                    persist: None,
                },
            );
            return Ok(json!({"executionArn": exec_arn, "startDate": secs(now)}));
        }
        let exec_arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{name}",
            self.region,
            self.account,
            m.name()
        );
        // One start at a time: the name check, the commit and the launch
        // must not interleave with another start of the same name.
        let _starting = self.start_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.kv.get(EXECUTIONS, exec_arn.as_bytes())? {
            let rec: Value = serde_json::from_slice(&existing).unwrap_or(Value::Null);
            if rec["status"] == "RUNNING"
                && rec["input"] == req.get("input").and_then(Value::as_str).unwrap_or("{}")
            {
                return Ok(
                    json!({"executionArn": exec_arn, "startDate": secs(rec["startDate"].as_u64().unwrap_or(0))}),
                );
            }
            return Err(Error::ExecutionAlreadyExists(format!(
                "Execution Already Exists: '{exec_arn}'"
            )));
        }
        let mut rec = json!({
            "executionArn": exec_arn,
            "stateMachineArn": m.arn(),
            "name": name,
            "status": "RUNNING",
            "startDate": now,
            "input": req.get("input").and_then(Value::as_str).unwrap_or("{}"),
            "definition": machine_definition(&m, version_arn.as_deref()),
            "roleArn": m.doc["roleArn"],
            "lastEventId": 0,
            "cursor": {"state": machine.start_at, "input": input, "waitUntil": null},
        });
        if let Some(v) = &version_arn {
            rec["stateMachineVersionArn"] = json!(v);
        }
        if let Some(a) = &alias_arn {
            rec["stateMachineAliasArn"] = json!(a);
        }
        let mut b = WriteBatch::new();
        b.put(EXECUTIONS, exec_arn.as_bytes().to_vec(), rec.to_string());
        b.put(
            BY_MACHINE,
            by_machine_key(m.arn(), now, &exec_arn),
            exec_arn.as_bytes().to_vec(),
        );
        let kv = self.kv.clone();
        blocking(move || kv.commit(b))?;
        self.launch(&m, machine, rec, None);
        Ok(json!({"executionArn": exec_arn, "startDate": secs(now)}))
    }

    #[allow(clippy::too_many_arguments)]
    fn new_run(
        &self,
        m: &MachineRecord,
        exec_arn: &str,
        name: &str,
        input: Value,
        start_ms: u64,
        last_event_id: u64,
        persist: Option<Arc<dyn Persist>>,
        keep_history: bool,
    ) -> Arc<Run> {
        Run::new(
            RunSpec {
                execution_arn: exec_arn.into(),
                execution_name: name.into(),
                machine_arn: m.arn().into(),
                machine_name: m.name().into(),
                role_arn: m.doc["roleArn"].as_str().unwrap_or_default().into(),
                input,
                start_ms,
                last_event_id,
                keep_history,
            },
            self.integrations
                .get()
                .cloned()
                .unwrap_or_else(|| Arc::new(NoIntegrations)),
            self.tokens.clone(),
            persist,
        )
    }

    /// Run a STANDARD execution from its record: a new one from the start, or
    /// a resumed one from its cursor.
    fn launch(
        &self,
        m: &MachineRecord,
        machine: Arc<asl::Machine>,
        rec: Value,
        resume: Option<Cursor>,
    ) {
        let exec_arn = rec["executionArn"].as_str().unwrap_or_default().to_string();
        let name = rec["name"].as_str().unwrap_or_default().to_string();
        let input: Value =
            serde_json::from_str(rec["input"].as_str().unwrap_or("{}")).unwrap_or(json!({}));
        let start = rec["startDate"].as_u64().unwrap_or(0);
        let last = rec["lastEventId"].as_u64().unwrap_or(0);
        let persist = Arc::new(ExecPersist {
            kv: self.kv.clone(),
            record: Mutex::new(rec),
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        let run = self.new_run(
            m,
            &exec_arn,
            &name,
            input,
            start,
            last,
            Some(persist.clone()),
            false,
        );
        let (tx, rx) = tokio::sync::watch::channel(false);
        let me = self.me.clone();
        let run2 = run.clone();
        let arn2 = exec_arn.clone();
        // Registered before the task can finish and remove itself.
        let mut running = self.running();
        let task = tokio::spawn(async move {
            let _ = run2.execute(machine, resume).await;
            if let Some(me) = me.upgrade() {
                me.running().remove(&arn2);
            }
            let _ = tx.send(true);
        });
        running.insert(
            exec_arn,
            Running {
                run,
                abort: task.abort_handle(),
                done: rx,
                persist: Some(persist),
            },
        );
    }

    /// Continue every STANDARD execution a restart interrupted, from the
    /// state it was in (a Task in flight runs again, as after a lost worker;
    /// a Wait waits only for what was left of it).
    pub fn resume(&self) -> Result<usize> {
        let mut n = 0;
        for (_, v) in self.kv.scan_prefix(EXECUTIONS, b"")? {
            let Ok(rec) = serde_json::from_slice::<Value>(&v) else {
                continue;
            };
            if rec["status"] != "RUNNING" {
                continue;
            }
            let Some(m) = self
                .parse_machine_arn(rec["stateMachineArn"].as_str().unwrap_or_default())
                .ok()
                .and_then(|(name, _)| self.machines().get(&name).cloned())
            else {
                continue;
            };
            let Ok(machine) = asl::parse(rec["definition"].as_str().unwrap_or_default()) else {
                continue;
            };
            let cursor = rec.get("cursor").filter(|c| !c.is_null()).map(|c| Cursor {
                state: c["state"].as_str().unwrap_or_default().to_string(),
                input: c["input"].clone(),
                wait_until_ms: c["waitUntil"].as_u64(),
                vars: c["vars"].as_object().cloned().unwrap_or_default(),
            });
            // An execution stored but never started begins from the start.
            let resume = if rec["lastEventId"] == 0 {
                None
            } else {
                cursor
            };
            self.launch(&m, Arc::new(machine), rec, resume);
            n += 1;
        }
        Ok(n)
    }

    /// StartSyncExecution: run an EXPRESS machine to its end and answer with
    /// the outcome.
    pub async fn start_sync_execution(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineArn")?;
        let input = Self::parse_input(req)?;
        let (m, machine, _, _) = self.resolve(arn)?;
        if !m.express() {
            return Err(Error::StateMachineTypeNotSupported(
                "This operation is not supported by this type of state machine".into(),
            ));
        }
        let name = match req.get("name").and_then(Value::as_str) {
            Some(n) if valid_name(n) => n.to_string(),
            Some(n) => return Err(Error::InvalidName(format!("Invalid Name: '{n}'"))),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let now = nimbus_model::time::now_millis();
        let exec_arn = format!(
            "arn:aws:states:{}:{}:express:{}:{name}:{}",
            self.region,
            self.account,
            m.name(),
            uuid::Uuid::new_v4()
        );
        let run = self.new_run(&m, &exec_arn, &name, input, now, 0, None, false);
        let r = run.execute(machine, None).await;
        let stop = nimbus_model::time::now_millis();
        let mut out = json!({
            "executionArn": exec_arn,
            "stateMachineArn": m.arn(),
            "name": name,
            "startDate": secs(now),
            "stopDate": secs(stop),
            "input": req.get("input").and_then(Value::as_str).unwrap_or("{}"),
            "inputDetails": {"included": true},
            "billingDetails": {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": (stop - now).max(100)},
        });
        match r {
            Ok(v) => {
                out["status"] = json!("SUCCEEDED");
                out["output"] = json!(v.to_string());
                out["outputDetails"] = json!({"included": true});
            }
            Err(f) => {
                out["status"] = json!(if f.error == "States.Timeout" {
                    "TIMED_OUT"
                } else {
                    "FAILED"
                });
                out["error"] = json!(f.error);
                out["cause"] = json!(f.cause);
            }
        }
        Ok(out)
    }

    /// `states:startExecution` as a Task: start a child execution; with
    /// `.sync`, wait for it and answer with its description.
    pub async fn start_child(
        &self,
        params: &Value,
        wait: bool,
        output_as_json: bool,
    ) -> std::result::Result<Value, Failure> {
        let mut req = Map::new();
        for (k, v) in params.as_object().cloned().unwrap_or_default() {
            let key = lower_first(&k);
            // Input may be given as JSON; the API takes a string.
            let v = if key == "input" && !v.is_string() {
                json!(v.to_string())
            } else {
                v
            };
            req.insert(key, v);
        }
        let req = Value::Object(req);
        let started = self
            .start_execution(&req)
            .map_err(|e| Failure::new(format!("StepFunctions.{}", e.code()), e.to_string()))?;
        if !wait {
            return Ok(
                json!({"ExecutionArn": started["executionArn"], "StartDate": started["startDate"]}),
            );
        }
        let arn = started["executionArn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let rec = self
            .wait_for(&arn)
            .await
            .map_err(|e| Failure::new(format!("StepFunctions.{}", e.code()), e.to_string()))?;
        let d = describe(&rec);
        let mut out = Map::new();
        for (k, v) in d.as_object().cloned().unwrap_or_default() {
            let mut c = k.chars();
            let key: String = c
                .next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default();
            out.insert(key, v);
        }
        if output_as_json && let Some(Value::String(s)) = out.get("Output") {
            let parsed = serde_json::from_str(s).unwrap_or(Value::Null);
            out.insert("Output".into(), parsed);
        }
        match rec["status"].as_str() {
            Some("SUCCEEDED") => Ok(Value::Object(out)),
            Some("ABORTED") => Err(Failure::new(
                "StepFunctions.ExecutionAbortedException",
                format!("Execution aborted: {arn}"),
            )),
            Some("TIMED_OUT") => Err(Failure::new(
                "StepFunctions.ExecutionTimedOutException",
                format!("Execution timed out: {arn}"),
            )),
            _ => Err(Failure::new(
                "StepFunctions.ExecutionFailedException",
                Value::Object(out).to_string(),
            )),
        }
    }
}

fn version_is(v: &Value, q: &str) -> bool {
    q.parse::<u64>()
        .ok()
        .is_some_and(|n| v["version"].as_u64() == Some(n))
}

fn machine_definition(m: &MachineRecord, version_arn: Option<&str>) -> Value {
    match version_arn {
        Some(v) => m
            .versions
            .iter()
            .find(|x| x["stateMachineVersionArn"] == v)
            .map(|x| x["definition"].clone())
            .unwrap_or_else(|| m.doc["definition"].clone()),
        None => m.doc["definition"].clone(),
    }
}

/// A stored record in DescribeExecution's shape.
fn describe(rec: &Value) -> Value {
    let mut out = json!({
        "executionArn": rec["executionArn"],
        "stateMachineArn": rec["stateMachineArn"],
        "name": rec["name"],
        "status": rec["status"],
        "startDate": secs(rec["startDate"].as_u64().unwrap_or(0)),
        "input": rec["input"],
        "inputDetails": {"included": true},
        "redriveCount": 0,
        "redriveStatus": "NOT_REDRIVABLE",
    });
    if let Some(s) = rec["stopDate"].as_u64() {
        out["stopDate"] = secs(s);
    }
    for k in [
        "output",
        "error",
        "cause",
        "stateMachineVersionArn",
        "stateMachineAliasArn",
    ] {
        if let Some(v) = rec.get(k) {
            out[k] = v.clone();
        }
    }
    if rec.get("output").is_some() {
        out["outputDetails"] = json!({"included": true});
    }
    out
}

/// Integrations before the server sets them (unit tests of the API).
struct NoIntegrations;

impl Integrations for NoIntegrations {
    fn call(
        &self,
        resource: &crate::engine::Resource,
        _: Value,
        _: &crate::engine::TaskContext,
    ) -> nimbus_invoke::BoxFuture<'_, std::result::Result<Value, Failure>> {
        let r = format!("{resource:?}");
        Box::pin(async move {
            Err(Failure::new(
                "States.Runtime",
                format!("no integration can run {r}"),
            ))
        })
    }
}
