//! The Step Functions service: state machines (with versions and aliases),
//! executions (STANDARD: durable, resumed after a restart; EXPRESS: in
//! memory), their histories, task tokens. Operations take typed inputs and
//! answer with the stored records ([`records`]); `api/stepfunctions` reads
//! requests into those inputs and puts the answers on the wire.

mod executions;
mod machines;
pub mod map_runs;
mod outbox;
pub mod records;
pub mod status_events;
mod tasks;
mod versions;
use crate::asl;
use crate::engine::{Cursor, End, Event, Failure, Integrations, Persist, Run, RunSpec, Tokens};
pub use executions::{
    ExecutionQuery, HistoryQuery, NewExecution, StagedStart, Started, SyncOutcome,
};
pub use machines::{Created, MachineChange, MachineView, NewMachine, Updated};
use nimbus_storage::records::Records;
use nimbus_storage::{KvEngine, Table, WriteBatch};
pub use records::{
    Alias, Execution, ExecutionStatus, MachineType, Route, StateMachine, Tag, Version,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
pub use tasks::{Diagnostic, TestOutcome, TestRun};
pub use versions::{AliasChange, NewAlias};

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

/// What an ARN starts: the machine, the definition to run, and the version
/// and alias it was reached through.
struct Resolved {
    machine: Arc<StateMachine>,
    definition: Arc<asl::Machine>,
    version: Option<Version>,
    alias_arn: Option<String>,
}

/// A page of a listing, as the list operations ask for one.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub max_results: Option<u64>,
    pub next_token: Option<String>,
}

/// One page of a listing and the token of the next, if any.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// The service.
pub struct StepFunctions {
    kv: Arc<dyn KvEngine>,
    account: String,
    region: String,
    integrations: OnceLock<Arc<dyn Integrations>>,
    tokens: Arc<Tokens>,
    machines: Records<StateMachine>,
    running: Mutex<HashMap<String, Running>>,
    start_lock: Mutex<()>,
    /// Finished EXPRESS executions are not kept; `.sync` waiters of STANDARD
    /// ones read the stored record once woken.
    me: Weak<StepFunctions>,
    /// Where STANDARD executions' status changes go, once set.
    status_events: OnceLock<Arc<status_events::StatusEvents>>,
    /// Distributed Maps' Map Runs, as the engine reports them.
    map_runs: Mutex<map_runs::MapRuns>,
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
    record: Mutex<Execution>,
    /// Set once stopped: later progress of the aborted run is dropped.
    closed: std::sync::atomic::AtomicBool,
    /// Where its end is announced.
    status_events: Option<Arc<status_events::StatusEvents>>,
}

impl ExecPersist {
    fn record(&self) -> std::sync::MutexGuard<'_, Execution> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claim the right to stop the execution: false once it has ended or
    /// another stop claimed it.
    fn claim_stop(&self) -> bool {
        self.record().running() && !self.closed.swap(true, std::sync::atomic::Ordering::SeqCst)
    }
}

fn encode(rec: &Execution) -> Vec<u8> {
    serde_json::to_vec(rec).unwrap_or_default()
}

impl Persist for ExecPersist {
    fn checkpoint(
        &self,
        events: Vec<Event>,
        cursor: Option<&Cursor>,
        end: Option<&End>,
    ) -> std::result::Result<(), String> {
        let mut rec = self.record();
        // An execution ends once: a run that finished is not stopped after,
        // and a stopped run's progress is dropped.
        if !rec.running() {
            return Err("the execution already ended".into());
        }
        if self.closed.load(std::sync::atomic::Ordering::SeqCst)
            && end.is_none_or(|e| e.status != "ABORTED")
        {
            return Err("the execution was stopped".into());
        }
        let mut batch = WriteBatch::new();
        for e in &events {
            batch.put(
                HISTORY,
                history_key(&rec.execution_arn, e.id),
                e.to_json().to_string(),
            );
            rec.last_event_id = e.id;
        }
        if let Some(c) = cursor {
            rec.cursor = Some(c.into());
        }
        let mut announced = None;
        if let Some(end) = end {
            rec.end(end);
            self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
            announced = self
                .status_events
                .as_ref()
                .and_then(|s| s.stage(&rec, &mut batch));
        }
        batch.put(EXECUTIONS, rec.execution_arn.as_bytes(), encode(&rec));
        let kv = self.kv.clone();
        blocking(move || kv.commit(batch)).map_err(|e| e.to_string())?;
        if let Some(s) = &self.status_events {
            s.committed(announced);
        }
        Ok(())
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

fn invalid_name(name: &str) -> Error {
    Error::InvalidName(format!("Invalid Name: '{name}'"))
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

/// Epoch milliseconds as the epoch seconds the records keep.
fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn page<T>(mut items: Vec<T>, page: &Page) -> Result<Listed<T>> {
    let max = page.max_results.filter(|m| *m > 0).unwrap_or(100).min(1000) as usize;
    let start = match &page.next_token {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| Error::InvalidToken(format!("Invalid Token: '{t}'")))?,
        None => 0,
    };
    let end = start.saturating_add(max).min(items.len());
    let next_token = (end < items.len()).then(|| end.to_string());
    items.truncate(end);
    let items = items.into_iter().skip(start).collect();
    Ok(Listed { items, next_token })
}

/// One execution's run, as [`StepFunctions::new_run`] starts it.
struct RunStart<'a> {
    arn: &'a str,
    name: &'a str,
    input: Value,
    start_ms: u64,
    /// Events already recorded (a resumed execution), to number on from.
    last_event_id: u64,
    /// The X-Ray trace header the execution was started in.
    trace_header: Option<String>,
}

impl<'a> RunStart<'a> {
    /// A run from the start, begun at `start_ms`.
    fn fresh(
        (arn, name): (&'a str, &'a str),
        input: Value,
        start_ms: u64,
        trace_header: Option<String>,
    ) -> Self {
        RunStart {
            arn,
            name,
            input,
            start_ms,
            last_event_id: 0,
            trace_header,
        }
    }
}

impl StepFunctions {
    pub fn open(kv: Arc<dyn KvEngine>, account: &str, region: &str) -> Result<Arc<StepFunctions>> {
        let machines = Records::open(kv.clone(), MACHINES, records::MACHINE_FORMAT)?;
        let map_runs = map_runs::MapRuns::load(kv.as_ref())?;
        Ok(Arc::new_cyclic(|me| StepFunctions {
            kv,
            account: account.into(),
            region: region.into(),
            integrations: OnceLock::new(),
            tokens: Arc::new(Tokens::default()),
            machines,
            running: Mutex::new(HashMap::new()),
            start_lock: Mutex::new(()),
            me: me.clone(),
            status_events: OnceLock::new(),
            map_runs: Mutex::new(map_runs),
        }))
    }

    /// Set what Task states call; before [`StepFunctions::resume`].
    pub fn set_integrations(&self, i: Arc<dyn Integrations>) {
        let _ = self.integrations.set(i);
    }

    pub fn tokens(&self) -> &Arc<Tokens> {
        &self.tokens
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

    /// The machine named `name`, or `missing`.
    fn machine(&self, name: &str, missing: Error) -> Result<Arc<StateMachine>> {
        self.machines.get(name).ok_or(missing)
    }

    /// Change a stored machine: `f` edits a copy, which is saved and only then
    /// replaces the one in memory (nothing changes if `f` or the save fails).
    fn update_machine<T>(
        &self,
        name: &str,
        missing: Error,
        f: impl FnOnce(&mut StateMachine) -> Result<T>,
    ) -> Result<T> {
        let changed = blocking(|| self.machines.change(name, f))?;
        changed.map(|(_, out)| out).ok_or(missing)
    }

    fn check_definition(definition: &str) -> Result<asl::Machine> {
        asl::parse(definition).map_err(|e| Error::InvalidDefinition(e.to_string()))
    }

    /// The machine an ARN (plain, version or alias) starts: the machine's
    /// record, the definition to run, and the version and alias.
    fn resolve(&self, arn: &str) -> Result<Resolved> {
        let (name, q) = self.parse_machine_arn(arn)?;
        let missing = || no_machine(arn);
        let m = self.machine(&name, missing())?;
        let Some(q) = q else {
            let definition = m
                .machine()
                .map_err(|e| Error::InvalidDefinition(e.to_string()))?;
            return Ok(Resolved {
                machine: m,
                definition,
                version: None,
                alias_arn: None,
            });
        };
        let (version, alias_arn) = if q.chars().all(|c| c.is_ascii_digit()) {
            (q.parse::<u64>().ok(), None)
        } else {
            let a = m.alias(&q).ok_or_else(missing)?;
            let mut roll = [0u8; 4];
            let _ = getrandom::fill(&mut roll);
            let mut pick = u64::from(u32::from_le_bytes(roll)) % 100;
            let routes = &a.routing_configuration;
            let mut chosen = routes.first();
            for r in routes {
                if pick < r.weight {
                    chosen = Some(r);
                    break;
                }
                pick -= r.weight;
            }
            let number =
                chosen.and_then(|r| r.state_machine_version_arn.rsplit(':').next()?.parse().ok());
            (number, Some(a.state_machine_alias_arn.clone()))
        };
        let v = version
            .and_then(|n| m.version(n))
            .cloned()
            .ok_or_else(missing)?;
        let definition = Arc::new(Self::check_definition(&v.definition)?);
        Ok(Resolved {
            machine: m,
            definition,
            version: Some(v),
            alias_arn,
        })
    }

    fn new_run(
        &self,
        m: &StateMachine,
        start: RunStart<'_>,
        persist: Option<Arc<dyn Persist>>,
        keep_history: bool,
    ) -> Arc<Run> {
        Run::new(
            RunSpec {
                execution_arn: start.arn.into(),
                execution_name: start.name.into(),
                machine_arn: m.arn.clone(),
                machine_name: m.name.clone(),
                role_arn: m.role_arn.clone(),
                input: start.input,
                start_ms: start.start_ms,
                last_event_id: start.last_event_id,
                keep_history,
                trace_header: start.trace_header,
            },
            self.integrations
                .get()
                .cloned()
                .unwrap_or_else(|| Arc::new(NoIntegrations)),
            self.tokens.clone(),
            persist,
        )
    }
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
