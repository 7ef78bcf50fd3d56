//! The interpreter: runs a [`Machine`] on an input, state by state, with the
//! States Language's input and output processing, `Retry` and `Catch`, and
//! Step Functions' history events.
//!
//! Time comes from Tokio's clock (`tokio::time`), so tests pause it and every
//! `Wait` and retry back-off passes instantly, with event timestamps that
//! still show the waits. Durability is the caller's: [`Persist::checkpoint`]
//! is called at every top-level transition with the events since the last
//! one and where to resume.

mod choice;
mod dataflow;
mod distributed;
pub use distributed::MapRunControl;
mod map;
mod tasks;
use crate::asl::{
    Against, Assign, Catcher, JTemplate, Kind, Machine, Retrier, Rule, Seconds, State, Template,
    WaitFor,
};
use crate::intrinsics;
use crate::path::Path;
use choice::*;
pub use dataflow::render_template;
use dataflow::*;
use nimbus_invoke::BoxFuture;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A failure as the language sees it: an error name and a cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: String,
    pub cause: String,
    /// A missed heartbeat: recorded as `States.Timeout`, and also matched
    /// by `States.HeartbeatTimeout` in `Retry` and `Catch`.
    pub heartbeat: bool,
}

impl Failure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            cause: cause.into(),
            heartbeat: false,
        }
    }

    /// A task that stopped sending heartbeats.
    pub fn heartbeat_timeout() -> Failure {
        Failure {
            heartbeat: true,
            ..Failure::new(
                "States.Timeout",
                "The task did not send a heartbeat in time.",
            )
        }
    }
    fn runtime(cause: impl Into<String>) -> Failure {
        Failure::new("States.Runtime", cause)
    }
}

/// A Task state's resource, as the engine distinguishes them.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`.
    LambdaArn(String),
    /// `arn:aws:states:::SERVICE:ACTION[.sync|.sync:2|.waitForTaskToken]`.
    Service {
        service: String,
        action: String,
        pattern: Pattern,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pattern {
    RequestResponse,
    Sync,
    /// `.sync:2`: the child's output as JSON rather than a string.
    Sync2,
    WaitForTaskToken,
}

impl Resource {
    pub fn parse(arn: &str) -> Result<Resource, String> {
        if arn.starts_with("arn:aws:lambda:") && arn.split(':').nth(5) == Some("function") {
            return Ok(Resource::LambdaArn(arn.to_string()));
        }
        if let Some(rest) = arn.strip_prefix("arn:aws:states:::") {
            let (service, action) = rest
                .split_once(':')
                .ok_or_else(|| format!("Resource '{arn}' is not a valid service integration"))?;
            let (action, pattern) = if let Some(a) = action.strip_suffix(".waitForTaskToken") {
                (a, Pattern::WaitForTaskToken)
            } else if let Some(a) = action.strip_suffix(".sync:2") {
                (a, Pattern::Sync2)
            } else if let Some(a) = action.strip_suffix(".sync") {
                (a, Pattern::Sync)
            } else {
                (action, Pattern::RequestResponse)
            };
            return Ok(Resource::Service {
                service: service.into(),
                action: action.into(),
                pattern,
            });
        }
        Err(format!(
            "Resource '{arn}' is not supported: use a Lambda function ARN or an arn:aws:states::: service integration"
        ))
    }

    fn pattern_suffix(&self) -> &'static str {
        match self {
            Resource::Service { pattern, .. } => match pattern {
                Pattern::RequestResponse => "",
                Pattern::Sync => ".sync",
                Pattern::Sync2 => ".sync:2",
                Pattern::WaitForTaskToken => ".waitForTaskToken",
            },
            Resource::LambdaArn(_) => "",
        }
    }
}

/// A distributed Map's Map Run as it goes, for the Map Run APIs.
#[derive(Debug, Clone)]
pub enum MapRunReport {
    Started {
        map_run_arn: String,
        execution_arn: String,
        machine_arn: String,
        start_ms: u64,
        max_concurrency: usize,
        tolerated_percentage: f64,
        tolerated_count: u64,
        items: usize,
    },
    /// A child execution started (`RUNNING`) or ended; an ended STANDARD
    /// one brings its history.
    Child {
        map_run_arn: String,
        child: ChildExecution,
        history: Vec<Event>,
    },
    /// The items its reader read.
    Items { map_run_arn: String, items: usize },
    /// Its children are starting: the handle `UpdateMapRun` changes it through.
    Control {
        map_run_arn: String,
        control: Arc<MapRunControl>,
    },
    Ended {
        map_run_arn: String,
        /// `SUCCEEDED`, `FAILED` or `ABORTED`.
        status: &'static str,
        stop_ms: u64,
    },
}

/// One child execution of a Map Run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChildExecution {
    pub arn: String,
    pub name: String,
    /// How many of the Map Run's items it was given.
    pub items: usize,
    /// `RUNNING`, `SUCCEEDED` or `FAILED`.
    #[serde(with = "status_text")]
    pub status: status_text::Status,
    pub start_ms: u64,
    pub stop_ms: Option<u64>,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// A run's status (`RUNNING`, `SUCCEEDED`, `FAILED`, `ABORTED`) as stored
/// text; anything else reads back as `FAILED`.
pub(crate) mod status_text {
    /// (Named, so serde does not take the field for a string borrowed from
    /// the input.)
    pub type Status = &'static str;

    pub fn serialize<S: serde::Serializer>(s: &&'static str, out: S) -> Result<S::Ok, S::Error> {
        out.serialize_str(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        Ok(match s.as_str() {
            "RUNNING" => "RUNNING",
            "SUCCEEDED" => "SUCCEEDED",
            "ABORTED" => "ABORTED",
            _ => "FAILED",
        })
    }
}

/// What a Task state calls: Lambda, the other services, child executions.
pub trait Integrations: Send + Sync + 'static {
    /// Hear how a distributed Map's Map Run goes (nothing by default).
    fn map_run(&self, _report: MapRunReport) {}
    /// Whether the machine's role may start the child executions of a
    /// distributed Map (`states:StartExecution` on the machine).
    fn may_start_children(&self, _ctx: &TaskContext, _machine_arn: &str) -> Result<(), Failure> {
        Ok(())
    }

    /// Run `resource` with `input` (the state's effective parameters) and
    /// return its result. For `.waitForTaskToken` the result is ignored and
    /// the engine waits for the token; the input already carries it.
    fn call(
        &self,
        resource: &Resource,
        input: Value,
        ctx: &TaskContext,
    ) -> BoxFuture<'_, Result<Value, Failure>>;
}

/// About the execution a task runs in.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub execution_arn: String,
    pub state_name: String,
    /// The state machine's role: what the task's calls act as.
    pub role_arn: String,
    /// The execution's X-Ray trace header.
    pub trace_header: Option<String>,
}

/// Task tokens waiting for `SendTaskSuccess` / `SendTaskFailure` / heartbeats.
#[derive(Default)]
pub struct Tokens {
    waiting: Mutex<HashMap<String, Waiter>>,
}

/// A task token's outcome, and its heartbeats.
type TokenWait = (
    tokio::sync::oneshot::Receiver<Result<Value, Failure>>,
    Arc<tokio::sync::Notify>,
);

struct Waiter {
    done: tokio::sync::oneshot::Sender<Result<Value, Failure>>,
    heartbeat: Arc<tokio::sync::Notify>,
}

impl Tokens {
    fn register(
        &self,
    ) -> (
        String,
        tokio::sync::oneshot::Receiver<Result<Value, Failure>>,
        Arc<tokio::sync::Notify>,
    ) {
        let mut raw = [0u8; 48];
        let _ = getrandom::fill(&mut raw);
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(raw);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let hb = Arc::new(tokio::sync::Notify::new());
        self.lock().insert(
            token.clone(),
            Waiter {
                done: tx,
                heartbeat: hb.clone(),
            },
        );
        (token, rx, hb)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiter>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Complete the task holding `token`; false when no task waits for it.
    pub fn complete(&self, token: &str, result: Result<Value, Failure>) -> bool {
        match self.lock().remove(token) {
            Some(w) => w.done.send(result).is_ok(),
            None => false,
        }
    }

    /// Record a heartbeat; false when no task waits for `token`.
    pub fn heartbeat(&self, token: &str) -> bool {
        match self.lock().get(token) {
            Some(w) => {
                w.heartbeat.notify_one();
                true
            }
            None => false,
        }
    }

    fn forget(&self, token: &str) {
        self.lock().remove(token);
    }
}

struct ForgetToken(Arc<Tokens>, String);

impl Drop for ForgetToken {
    fn drop(&mut self) {
        self.0.forget(&self.1);
    }
}

/// One history event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: u64,
    pub previous: u64,
    pub timestamp_ms: u64,
    pub kind: String,
    pub details: Option<(&'static str, Value)>,
}

impl Event {
    /// The event in `GetExecutionHistory`'s shape.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("timestamp".into(), json!(self.timestamp_ms as f64 / 1000.0));
        o.insert("type".into(), json!(self.kind));
        o.insert("id".into(), json!(self.id));
        o.insert("previousEventId".into(), json!(self.previous));
        if let Some((k, v)) = &self.details {
            o.insert((*k).into(), v.clone());
        }
        Value::Object(o)
    }
}

/// Where a durable execution resumes after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub state: String,
    pub input: Value,
    /// For a `Wait` state: when it ends (epoch ms).
    pub wait_until_ms: Option<u64>,
    /// The workflow variables when the state was entered.
    pub vars: Vars,
}

/// The most history events an execution may have.
pub const MAX_EVENTS: u64 = 25_000;

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct End {
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: &'static str,
    pub output: Option<Value>,
    pub failure: Option<Failure>,
}

/// Receives an execution's progress at each top-level transition (with where
/// to resume), and its end (with the last events), each as one durable write.
pub trait Persist: Send + Sync + 'static {
    fn checkpoint(
        &self,
        events: Vec<Event>,
        cursor: Option<&Cursor>,
        end: Option<&End>,
    ) -> Result<(), String>;
}

/// One execution in progress.
pub struct Run {
    /// Which execution this is (`last_event_id`: where numbering started).
    pub spec: RunSpec,
    pub integrations: Arc<dyn Integrations>,
    pub tokens: Arc<Tokens>,
    pub persist: Option<Arc<dyn Persist>>,
    /// The wall clock at `base_instant`: event times are this plus Tokio's elapsed time.
    base_ms: u64,
    base_instant: tokio::time::Instant,
    history: Mutex<History>,
}

#[derive(Default)]
struct History {
    next_id: u64,
    last_id: u64,
    pending: Vec<Event>,
    /// Every event, for executions that keep history in memory (EXPRESS, tests).
    all: Option<Vec<Event>>,
}

/// Per-branch position in the history (`previousEventId`).
#[derive(Clone)]
struct Thread {
    last: Arc<std::sync::atomic::AtomicU64>,
}

impl Thread {
    fn new(at: u64) -> Thread {
        Thread {
            last: Arc::new(std::sync::atomic::AtomicU64::new(at)),
        }
    }
}

pub struct RunSpec {
    pub execution_arn: String,
    pub execution_name: String,
    pub machine_arn: String,
    pub machine_name: String,
    pub role_arn: String,
    pub input: Value,
    pub start_ms: u64,
    /// Events already recorded (a resumed execution), to number on from.
    pub last_event_id: u64,
    pub keep_history: bool,
    /// The X-Ray trace header the execution runs in; its tasks' calls carry it.
    pub trace_header: Option<String>,
}

impl Run {
    pub fn new(
        spec: RunSpec,
        integrations: Arc<dyn Integrations>,
        tokens: Arc<Tokens>,
        persist: Option<Arc<dyn Persist>>,
    ) -> Arc<Run> {
        let history = History {
            next_id: spec.last_event_id + 1,
            last_id: spec.last_event_id,
            pending: Vec::new(),
            all: spec.keep_history.then(Vec::new),
        };
        Arc::new(Run {
            spec,
            integrations,
            tokens,
            persist,
            base_ms: nimbus_model::time::now_millis(),
            base_instant: tokio::time::Instant::now(),
            history: Mutex::new(history),
        })
    }

    /// Start event times at `ms` (tests use a fixed instant).
    pub fn set_clock_base(self: &mut Arc<Run>, ms: u64) {
        if let Some(r) = Arc::get_mut(self) {
            r.base_ms = ms;
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.base_ms + self.base_instant.elapsed().as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, thread: &Thread, kind: &str, details: Option<(&'static str, Value)>) -> u64 {
        let ts = self.now_ms();
        let mut h = self.lock();
        let id = h.next_id;
        h.next_id += 1;
        h.last_id = id;
        let previous = thread.last.swap(id, std::sync::atomic::Ordering::Relaxed);
        let e = Event {
            id,
            previous,
            timestamp_ms: ts,
            kind: kind.into(),
            details,
        };
        if let Some(all) = h.all.as_mut() {
            all.push(e.clone());
        }
        h.pending.push(e);
        id
    }

    /// Events not yet handed to [`Persist`] (emitted since the last transition).
    pub fn unsaved_events(&self) -> Vec<Event> {
        self.lock().pending.clone()
    }

    /// Every event so far, for executions that keep their history in memory.
    pub fn history(&self) -> Vec<Event> {
        self.lock().all.clone().unwrap_or_default()
    }

    fn checkpoint(&self, cursor: Option<&Cursor>, end: Option<&End>) -> Result<(), Failure> {
        let Some(p) = &self.persist else {
            self.lock().pending.clear();
            return Ok(());
        };
        // Stored first, then dropped from the pending list, so a reader
        // (GetExecutionHistory) always finds them in one of the two.
        let events = self.lock().pending.clone();
        let n = events.len();
        p.checkpoint(events, cursor, end).map_err(|e| {
            Failure::runtime(format!("could not record the execution's progress: {e}"))
        })?;
        self.lock().pending.drain(..n);
        Ok(())
    }

    /// Run the whole execution: `ExecutionStarted` (unless resuming) to its
    /// end event. Returns the output or the failure; `Err` with
    /// `States.Timeout` when the machine's `TimeoutSeconds` passed.
    pub async fn execute(
        self: &Arc<Run>,
        machine: Arc<Machine>,
        resume: Option<Cursor>,
    ) -> Result<Value, Failure> {
        let thread = Thread::new(self.lock().last_id);
        if resume.is_none() {
            self.emit(
                &thread,
                "ExecutionStarted",
                Some((
                    "executionStartedEventDetails",
                    json!({"input": self.spec.input.to_string(), "inputDetails": {"truncated": false}, "roleArn": self.spec.role_arn}),
                )),
            );
            // As Step Functions records it: the first state's entered event
            // follows event 0, not `ExecutionStarted`.
            thread.last.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        let body = self.clone().run_machine(
            machine.clone(),
            self.spec.input.clone(),
            thread.clone(),
            None,
            resume,
            true,
            Vars::new(),
        );
        let outcome = match machine.timeout_seconds {
            Some(t) => {
                let elapsed_ms = self.now_ms().saturating_sub(self.spec.start_ms);
                let left = Duration::from_secs(t).saturating_sub(Duration::from_millis(elapsed_ms));
                match tokio::time::timeout(left, body).await {
                    Ok(r) => r,
                    Err(_) => {
                        let f = Failure::new("States.Timeout", "The execution timed out.");
                        self.emit(
                            &thread,
                            "ExecutionTimedOut",
                            Some((
                                "executionTimedOutEventDetails",
                                json!({"error": f.error, "cause": f.cause}),
                            )),
                        );
                        self.checkpoint(
                            None,
                            Some(&End {
                                status: "TIMED_OUT",
                                output: None,
                                failure: Some(f.clone()),
                            }),
                        )?;
                        return Err(f);
                    }
                }
            }
            None => body.await,
        };
        match &outcome {
            Ok(out) => self.emit(
                &thread,
                "ExecutionSucceeded",
                Some((
                    "executionSucceededEventDetails",
                    json!({"output": out.to_string(), "outputDetails": {"truncated": false}}),
                )),
            ),
            Err(f) => self.emit(
                &thread,
                "ExecutionFailed",
                Some((
                    "executionFailedEventDetails",
                    json!({"error": f.error, "cause": f.cause}),
                )),
            ),
        };
        let end = match &outcome {
            Ok(out) => End {
                status: "SUCCEEDED",
                output: Some(out.clone()),
                failure: None,
            },
            Err(f) => End {
                status: "FAILED",
                output: None,
                failure: Some(f.clone()),
            },
        };
        self.checkpoint(None, Some(&end))?;
        outcome
    }

    /// Record that the execution was stopped.
    pub fn aborted(&self, error: Option<&str>, cause: Option<&str>) {
        let thread = Thread::new(self.lock().last_id);
        let mut d = Map::new();
        if let Some(e) = error {
            d.insert("error".into(), json!(e));
        }
        if let Some(c) = cause {
            d.insert("cause".into(), json!(c));
        }
        self.emit(
            &thread,
            "ExecutionAborted",
            Some(("executionAbortedEventDetails", Value::Object(d))),
        );
        let end = End {
            status: "ABORTED",
            output: None,
            failure: Some(Failure::new(
                error.unwrap_or_default(),
                cause.unwrap_or_default(),
            )),
        };
        let _ = self.checkpoint(None, Some(&end));
    }

    #[allow(clippy::too_many_arguments)]
    fn run_machine(
        self: Arc<Run>,
        machine: Arc<Machine>,
        input: Value,
        thread: Thread,
        map_item: Option<(usize, Value)>,
        resume: Option<Cursor>,
        top: bool,
        vars: Vars,
    ) -> BoxFuture<'static, Result<Value, Failure>> {
        Box::pin(async move {
            let (mut current, mut input, mut wait_until, mut vars) = match resume {
                Some(c) => (c.state, c.input, c.wait_until_ms, c.vars),
                None => (machine.start_at.clone(), input, None, vars),
            };
            loop {
                // Step Functions' hard limit; it also stops a state machine that
                // loops without end (and lets StopExecution reach it).
                if self.lock().next_id > MAX_EVENTS {
                    return Err(Failure::runtime(format!(
                        "The execution reached the limit of {MAX_EVENTS} history events"
                    )));
                }
                tokio::task::yield_now().await;
                let state = machine
                    .states
                    .get(&current)
                    .ok_or_else(|| Failure::runtime(format!("state '{current}' does not exist")))?;
                let (output, next) = self
                    .clone()
                    .run_state(
                        state,
                        input,
                        &thread,
                        map_item.as_ref(),
                        wait_until.take(),
                        top,
                        &mut vars,
                    )
                    .await?;
                match next {
                    Some(n) => {
                        current = n;
                        input = output;
                    }
                    None => return Ok(output),
                }
            }
        })
    }

    /// When a `Wait` state ends (epoch ms).
    fn wait_until(
        &self,
        state: &State,
        w: &WaitFor,
        raw: &Value,
        ctx: &Value,
        vars: &Vars,
    ) -> Result<u64, Failure> {
        let now = self.now_ms();
        let effective = if state.jsonata {
            raw.clone()
        } else {
            select_input(state, raw, ctx, vars)?
        };
        let data = Data {
            input: &effective,
            ctx,
            vars,
        };
        Ok(match w {
            WaitFor::Seconds(s) => now.saturating_add(s.saturating_mul(1000)),
            WaitFor::Timestamp(t) => crate::time::parse_timestamp(t).unwrap_or(0).max(0) as u64,
            WaitFor::SecondsPath(p) => {
                let v = data.select(p)?;
                let s = v.as_u64().ok_or_else(|| {
                    Failure::runtime(format!("The SecondsPath parameter does not reference a valid non-negative integer: {v}"))
                })?;
                now.saturating_add(s.saturating_mul(1000))
            }
            WaitFor::TimestampPath(p) => {
                let v = data.select(p)?;
                v.as_str()
                    .and_then(crate::time::parse_timestamp)
                    .ok_or_else(|| Failure::runtime(format!("The TimestampPath parameter does not reference a valid ISO-8601 timestamp: {v}")))?
                    .max(0) as u64
            }
            WaitFor::Expr { seconds, expr } => {
                let v = jeval(expr, &states(raw, ctx), vars)?;
                if *seconds {
                    now.saturating_add(
                        v.as_u64()
                            .ok_or_else(|| {
                                query_error(format!(
                                    "Seconds must be a non-negative integer, not {v}"
                                ))
                            })?
                            .saturating_mul(1000),
                    )
                } else {
                    v.as_str()
                        .and_then(crate::time::parse_timestamp)
                        .ok_or_else(|| {
                            query_error(format!("Timestamp must be an ISO-8601 timestamp, not {v}"))
                        })?
                        .max(0) as u64
                }
            }
        })
    }

    fn context(
        &self,
        state: &State,
        entered_ms: u64,
        retry: u32,
        token: Option<&str>,
        item: Option<&(usize, Value)>,
    ) -> Value {
        let mut c = json!({
            "Execution": {
                "Id": self.spec.execution_arn,
                "Input": self.spec.input,
                "Name": self.spec.execution_name,
                "RoleArn": self.spec.role_arn,
                "StartTime": iso(self.spec.start_ms),
                "RedriveCount": 0,
            },
            "State": {"EnteredTime": iso(entered_ms), "Name": state.name, "RetryCount": retry},
            "StateMachine": {"Id": self.spec.machine_arn, "Name": self.spec.machine_name},
        });
        if let Some(t) = token {
            c["Task"] = json!({"Token": t});
        }
        if let Some((i, v)) = item {
            c["Map"] = json!({"Item": {"Index": i, "Value": v}});
        }
        c
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_state(
        self: Arc<Run>,
        state: &State,
        raw: Value,
        thread: &Thread,
        map_item: Option<&(usize, Value)>,
        resumed_wait: Option<u64>,
        top: bool,
        vars: &mut Vars,
    ) -> Result<(Value, Option<String>), Failure> {
        let type_name = type_name(&state.kind);
        let entered_ms = self.now_ms();
        self.emit(
            thread,
            &format!("{type_name}StateEntered"),
            Some((
                "stateEnteredEventDetails",
                json!({"name": state.name, "input": raw.to_string(), "inputDetails": {"truncated": false}}),
            )),
        );
        let ctx = self.context(state, entered_ms, 0, None, map_item);
        let wait_until = match (&state.kind, resumed_wait) {
            (Kind::Wait(w), None) => Some(self.wait_until(state, w, &raw, &ctx, vars)?),
            (_, w) => w,
        };
        // A top-level state is recorded as entered, with where to resume,
        // before any of its work.
        if top {
            self.checkpoint(
                Some(&Cursor {
                    state: state.name.clone(),
                    input: raw.clone(),
                    wait_until_ms: wait_until,
                    vars: vars.clone(),
                }),
                None,
            )?;
        }
        // What the state assigns is told on its exited event: the variables
        // it set or changed (compared with a copy, taken only when it can assign).
        let before = may_assign(state).then(|| vars.clone());
        let (output, next) = self
            .clone()
            .state_body(
                state, &raw, thread, map_item, entered_ms, wait_until, &ctx, vars,
            )
            .await?;
        // A state's result is at most 256 KiB; beyond it the execution
        // fails with a terminal error no Catch takes.
        let text = output.to_string();
        if text.len() > MAX_STATE_DATA {
            return Err(Failure::new(
                "States.DataLimitExceeded",
                format!(
                    "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                    state.name
                ),
            ));
        }
        let mut details =
            json!({"name": state.name, "output": text, "outputDetails": {"truncated": false}});
        if let Some(before) = before {
            let assigned: Map<String, Value> = vars
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), Value::String(v.to_string())))
                .collect();
            if !assigned.is_empty() {
                details["assignedVariables"] = Value::Object(assigned);
                details["assignedVariablesDetails"] = json!({"truncated": false});
            }
        }
        self.emit(
            thread,
            &format!("{type_name}StateExited"),
            Some(("stateExitedEventDetails", details)),
        );
        Ok((output, next))
    }

    #[allow(clippy::too_many_arguments)]
    async fn state_body(
        self: Arc<Run>,
        state: &State,
        raw: &Value,
        thread: &Thread,
        map_item: Option<&(usize, Value)>,
        entered_ms: u64,
        wait_until: Option<u64>,
        ctx: &Value,
        vars: &mut Vars,
    ) -> Result<(Value, Option<String>), Failure> {
        let st = states(raw, ctx);
        match &state.kind {
            Kind::Pass { result } => {
                if state.jsonata {
                    let output = jeval_or(&state.output, &st, vars, raw)?;
                    apply_assign(&state.assign, raw, ctx, &st, vars)?;
                    return Ok((output, state.next.clone()));
                }
                let effective = select_input(state, raw, ctx, vars)?;
                let effective = match &state.parameters {
                    Some(t) => render(
                        t,
                        &Data {
                            input: &effective,
                            ctx,
                            vars,
                        },
                    )?,
                    None => effective,
                };
                let result = result.clone().unwrap_or(effective);
                let output = finish(state, raw, result.clone(), ctx, vars)?;
                apply_assign(&state.assign, &result, ctx, &st, vars)?;
                Ok((output, state.next.clone()))
            }
            Kind::Succeed => {
                if state.jsonata {
                    return Ok((jeval_or(&state.output, &st, vars, raw)?, None));
                }
                let effective = select_input(state, raw, ctx, vars)?;
                Ok((select_output(state, effective, ctx, vars)?, None))
            }
            Kind::Fail {
                error,
                cause,
                error_path,
                cause_path,
                error_expr,
                cause_expr,
            } => {
                let pick = |fixed: &Option<String>,
                            path: &Option<Template>,
                            expr: &Option<JTemplate>|
                 -> Result<String, Failure> {
                    if let Some(e) = expr {
                        let v = jeval(e, &st, vars)?;
                        return Ok(v
                            .as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string()));
                    }
                    match path {
                        Some(t) => {
                            let v = render(
                                t,
                                &Data {
                                    input: raw,
                                    ctx,
                                    vars,
                                },
                            )?;
                            v.as_str().map(String::from).ok_or_else(|| {
                                let what = match t {
                                    Template::Path(p) => p.text.clone(),
                                    _ => "intrinsic function".into(),
                                };
                                Failure::runtime(format!(
                                    "The {what} parameter does not reference a string: {v}"
                                ))
                            })
                        }
                        None => Ok(fixed.clone().unwrap_or_default()),
                    }
                };
                Err(Failure::new(
                    pick(error, error_path, error_expr)?,
                    pick(cause, cause_path, cause_expr)?,
                ))
            }
            Kind::Choice { choices, default } => {
                let effective = if state.jsonata {
                    raw.clone()
                } else {
                    select_input(state, raw, ctx, vars)?
                };
                let mut chosen = None;
                for c in choices {
                    let hit = match &c.rule {
                        Rule::Condition(t) => {
                            let v = jeval(t, &st, vars)?;
                            v.as_bool().ok_or_else(|| {
                                query_error(format!("a Condition must be true or false, not {v}"))
                            })?
                        }
                        rule => matches(
                            rule,
                            &Data {
                                input: &effective,
                                ctx,
                                vars,
                            },
                        )?,
                    };
                    if hit {
                        chosen = Some(c);
                        break;
                    }
                }
                let next = match (chosen, default) {
                    (Some(c), _) => c.next.clone(),
                    (None, Some(d)) => d.clone(),
                    (None, None) => {
                        return Err(Failure::new(
                            "States.NoChoiceMatched",
                            format!(
                                "No Choice Rules matched and no Default was specified in state '{}'",
                                state.name
                            ),
                        ));
                    }
                };
                let output_t = chosen
                    .and_then(|c| c.output.as_ref())
                    .or(state.output.as_ref());
                let output = if state.jsonata {
                    match output_t {
                        Some(t) => jeval(t, &st, vars)?,
                        None => raw.clone(),
                    }
                } else {
                    select_output(state, effective.clone(), ctx, vars)?
                };
                let assign = chosen
                    .and_then(|c| c.assign.clone())
                    .or_else(|| state.assign.clone());
                apply_assign(&assign, &effective, ctx, &st, vars)?;
                Ok((output, Some(next)))
            }
            Kind::Wait(_) => {
                let until = wait_until.unwrap_or(0);
                let now = self.now_ms();
                if until > now {
                    tokio::time::sleep(Duration::from_millis(until - now)).await;
                }
                if state.jsonata {
                    let output = jeval_or(&state.output, &st, vars, raw)?;
                    apply_assign(&state.assign, raw, ctx, &st, vars)?;
                    return Ok((output, state.next.clone()));
                }
                let effective = select_input(state, raw, ctx, vars)?;
                apply_assign(&state.assign, &effective, ctx, &st, vars)?;
                Ok((
                    select_output(state, effective, ctx, vars)?,
                    state.next.clone(),
                ))
            }
            Kind::Task { .. } | Kind::Parallel { .. } | Kind::Map { .. } => {
                self.with_retries(state, raw, thread, map_item, entered_ms, vars)
                    .await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        self: Arc<Run>,
        state: &State,
        raw: &Value,
        effective: &Value,
        thread: &Thread,
        map_item: Option<&(usize, Value)>,
        entered_ms: u64,
        retry_count: u32,
        vars: &Vars,
    ) -> Result<Value, Failure> {
        let ctx = self.context(state, entered_ms, retry_count, None, map_item);
        // The value a Task is called with, a Parallel's branches start from.
        let arguments = |ctx: &Value| -> Result<Value, Failure> {
            if state.jsonata {
                jeval_or(&state.arguments, &states(raw, ctx), vars, raw)
            } else {
                match &state.parameters {
                    Some(t) => render(
                        t,
                        &Data {
                            input: effective,
                            ctx,
                            vars,
                        },
                    ),
                    None => Ok(effective.clone()),
                }
            }
        };
        let seconds = |s: &Option<Seconds>| -> Result<Option<u64>, Failure> {
            Ok(match s {
                Some(Seconds::Fixed(n)) => Some(*n),
                Some(Seconds::Path(p)) => Some(
                    Data {
                        input: effective,
                        ctx: &ctx,
                        vars,
                    }
                    .select(p)?
                    .as_u64()
                    .ok_or_else(|| {
                        Failure::runtime(format!(
                            "The {} parameter does not reference a positive integer",
                            p.text
                        ))
                    })?,
                ),
                Some(Seconds::Expr(e)) => {
                    let v = jeval(e, &states(raw, &ctx), vars)?;
                    Some(v.as_u64().ok_or_else(|| {
                        query_error(format!("a timeout must be a positive integer, not {v}"))
                    })?)
                }
                None => None,
            })
        };
        match &state.kind {
            Kind::Task {
                resource,
                timeout,
                heartbeat,
            } => {
                let resource = Resource::parse(resource).map_err(Failure::runtime)?;
                let timeout = seconds(timeout)?;
                let heartbeat = seconds(heartbeat)?;
                let (token, waiter) = match resource {
                    Resource::Service {
                        pattern: Pattern::WaitForTaskToken,
                        ..
                    } => {
                        let (t, rx, hb) = self.tokens.register();
                        (Some(t), Some((rx, hb)))
                    }
                    _ => (None, None),
                };
                // Forgotten however the task ends, even when its future is
                // dropped (a failed branch, StopExecution).
                let _forget = token.clone().map(|t| ForgetToken(self.tokens.clone(), t));
                let ctx = self.context(state, entered_ms, retry_count, token.as_deref(), map_item);
                let params = arguments(&ctx)?;
                self.clone()
                    .task(state, &resource, params, thread, waiter, timeout, heartbeat)
                    .await
            }
            Kind::Parallel { branches } => {
                let input = arguments(&ctx)?;
                self.emit(thread, "ParallelStateStarted", None);
                let mut set = tokio::task::JoinSet::new();
                for (i, b) in branches.iter().enumerate() {
                    let run = self.clone();
                    let fut = run.run_machine(
                        b.clone(),
                        input.clone(),
                        thread.clone(),
                        None,
                        None,
                        false,
                        vars.clone(),
                    );
                    set.spawn(async move { (i, fut.await) });
                }
                let mut out = vec![Value::Null; branches.len()];
                while let Some(joined) = set.join_next().await {
                    let (i, r) =
                        joined.map_err(|e| Failure::runtime(format!("branch stopped: {e}")))?;
                    match r {
                        Ok(v) => out[i] = v,
                        Err(f) => {
                            set.abort_all();
                            self.emit(thread, "ParallelStateFailed", None);
                            return Err(f);
                        }
                    }
                }
                self.emit(thread, "ParallelStateSucceeded", None);
                Ok(Value::Array(out))
            }
            Kind::Map { .. } => {
                self.clone()
                    .map_state(
                        state,
                        raw,
                        effective,
                        thread,
                        entered_ms,
                        retry_count,
                        vars,
                        &ctx,
                    )
                    .await
            }
            _ => unreachable!("only Task, Parallel and Map attempt"),
        }
    }
}

fn region_of(arn: &str) -> String {
    arn.split(':').nth(3).unwrap_or("us-east-1").to_string()
}

pub fn iso(ms: u64) -> String {
    nimbus_model::time::Utc::from_millis(ms).rfc3339_millis()
}

fn type_name(k: &Kind) -> &'static str {
    match k {
        Kind::Pass { .. } => "Pass",
        Kind::Task { .. } => "Task",
        Kind::Choice { .. } => "Choice",
        Kind::Wait(_) => "Wait",
        Kind::Succeed => "Succeed",
        Kind::Fail { .. } => "Fail",
        Kind::Parallel { .. } => "Parallel",
        Kind::Map { .. } => "Map",
    }
}

/// The most a state's result may hold (Step Functions' 256 KiB).
const MAX_STATE_DATA: usize = 256 * 1024;

/// Whether a state can assign variables: its own `Assign`, its catchers' or
/// its choice rules'.
fn may_assign(state: &State) -> bool {
    state.assign.is_some()
        || state.catch.iter().any(|c| c.assign.is_some())
        || matches!(&state.kind, Kind::Choice { choices, .. } if choices.iter().any(|c| c.assign.is_some()))
}

/// `States.ALL` matches everything but `States.Runtime` and
/// `States.DataLimitExceeded` (terminal); `States.TaskFailed` every task
/// failure but a timeout; `States.HeartbeatTimeout` a missed heartbeat
/// (recorded as `States.Timeout`, which matches it too).
fn error_matches(list: &[String], f: &Failure) -> bool {
    let error = f.error.as_str();
    list.iter().any(|e| {
        e == error
            || (e == "States.HeartbeatTimeout" && f.heartbeat)
            || (e == "States.ALL"
                && !matches!(error, "States.Runtime" | "States.DataLimitExceeded"))
            || (e == "States.TaskFailed"
                && !matches!(
                    error,
                    "States.Timeout"
                        | "States.HeartbeatTimeout"
                        | "States.Runtime"
                        | "States.DataLimitExceeded"
                ))
    })
}

fn backoff(r: &Retrier, attempt: u32) -> Duration {
    let mut secs = r.interval_seconds * r.backoff_rate.powi(attempt as i32);
    if let Some(max) = r.max_delay_seconds {
        secs = secs.min(max);
    }
    if r.full_jitter {
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        secs *= (u64::from_le_bytes(b) % 10_000) as f64 / 10_000.0;
    }
    if secs.is_nan() {
        secs = 0.0;
    }
    Duration::from_secs_f64(secs.clamp(0.0, 31_622_400.0))
}

/// Workflow variables in scope.
pub type Vars = Map<String, Value>;

fn caught(
    state: &State,
    c: &Catcher,
    raw: &Value,
    f: &Failure,
    ctx: &Value,
    vars: &mut Vars,
) -> Result<(Value, Option<String>), Failure> {
    let err = json!({"Error": f.error, "Cause": f.cause});
    if state.jsonata {
        let mut st = states(raw, ctx);
        st["errorOutput"] = err.clone();
        let output = jeval_or(&c.output, &st, vars, &err)?;
        apply_assign(&c.assign, &err, ctx, &st, vars)?;
        return Ok((output, Some(c.next.clone())));
    }
    let output = match &c.result_path {
        None => raw.clone(),
        Some(p) => {
            let mut out = raw.clone();
            p.set(&mut out, err.clone())
                .map_err(|m| Failure::new("States.ResultPathMatchFailure", m))?;
            out
        }
    };
    apply_assign(&c.assign, &err, ctx, &Value::Null, vars)?;
    Ok((output, Some(c.next.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("log-*.txt", "log-2026.txt"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("log-*.txt", "log-2026.csv"));
        assert!(wildcard(r"a\*b", "a*b"));
        assert!(!wildcard(r"a\*b", "axb"));
        assert!(wildcard("*a*b*", "xxaxxbxx"));
    }

    #[test]
    fn error_names() {
        let all = vec!["States.ALL".to_string()];
        assert!(error_matches(&all, &Failure::new("Foo", "")));
        assert!(!error_matches(&all, &Failure::new("States.Runtime", "")));
        let tf = vec!["States.TaskFailed".to_string()];
        assert!(error_matches(
            &tf,
            &Failure::new("Lambda.ServiceException", "")
        ));
        assert!(!error_matches(&tf, &Failure::new("States.Timeout", "")));
        let hb = ["States.HeartbeatTimeout".to_string()];
        assert!(error_matches(&hb, &Failure::heartbeat_timeout()));
        assert!(!error_matches(&hb, &Failure::new("States.Timeout", "")));
        assert_eq!(Failure::heartbeat_timeout().error, "States.Timeout");
    }

    #[test]
    fn resources() {
        assert_eq!(
            Resource::parse("arn:aws:states:::lambda:invoke.waitForTaskToken").unwrap(),
            Resource::Service {
                service: "lambda".into(),
                action: "invoke".into(),
                pattern: Pattern::WaitForTaskToken
            }
        );
        assert!(matches!(
            Resource::parse("arn:aws:lambda:us-east-1:000000000000:function:f").unwrap(),
            Resource::LambdaArn(_)
        ));
        assert!(Resource::parse("arn:aws:ec2:::x").is_err());
    }
}
