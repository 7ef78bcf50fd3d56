//! Executions: start (STANDARD durable, EXPRESS in memory, synchronous
//! EXPRESS, child executions of `states:startExecution`), resume after a
//! restart, describe, list (by machine, status, pages), history (pages,
//! reverse order), stop, and waiting for an end.

use super::*;

/// `StartExecution`'s (and `StartSyncExecution`'s) input.
#[derive(Debug, Clone, Default)]
pub struct NewExecution {
    /// The machine, or one of its versions or aliases.
    pub state_machine_arn: String,
    /// A name is made up when none is given.
    pub name: Option<String>,
    /// A JSON text; `{}` when not given.
    pub input: Option<String>,
    /// The X-Ray trace header to run in (`traceHeader`, or the request's).
    pub trace_header: Option<String>,
}

/// What `StartExecution` started.
#[derive(Debug, Clone)]
pub struct Started {
    pub execution_arn: String,
    pub start_date: f64,
}

/// How a synchronous (EXPRESS) execution ended: the execution and, when it
/// succeeded, its output; else its error and cause.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    pub execution: Execution,
}

/// `ListExecutions`' input.
#[derive(Debug, Clone, Default)]
pub struct ExecutionQuery {
    pub state_machine_arn: Option<String>,
    pub map_run_arn: Option<String>,
    pub status: Option<ExecutionStatus>,
    pub page: Page,
}

/// `GetExecutionHistory`'s input.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub execution_arn: String,
    pub include_execution_data: bool,
    pub reverse_order: bool,
    pub page: Page,
}

fn parse_input(text: Option<&str>) -> Result<Value> {
    let text = text.unwrap_or("{}");
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

fn execution_name(name: Option<&str>) -> Result<String> {
    match name {
        Some(n) if valid_name(n) => Ok(n.to_string()),
        Some(n) => Err(invalid_name(n)),
        None => Ok(uuid::Uuid::new_v4().to_string()),
    }
}

/// An execution start staged in someone else's batch.
pub enum StagedStart {
    Standard(
        Arc<StateMachine>,
        Arc<asl::Machine>,
        Box<Execution>,
        Option<nimbus_invoke::Staged>,
    ),
    /// The machine, the input and the trace header to start it in.
    Express(String, String, Option<String>),
}

impl StepFunctions {
    pub(super) fn parse_input(text: Option<&str>) -> Result<Value> {
        parse_input(text)
    }

    fn express_arn(&self, m: &StateMachine, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:express:{}:{name}:{}",
            self.region,
            self.account,
            m.name,
            uuid::Uuid::new_v4()
        )
    }

    pub fn start_execution(&self, req: NewExecution) -> Result<Started> {
        let input = parse_input(req.input.as_deref())?;
        let r = self.resolve(&req.state_machine_arn)?;
        let name = execution_name(req.name.as_deref())?;
        let now = nimbus_model::time::now_millis();
        let m = &r.machine;
        if m.express() {
            let exec_arn = self.express_arn(m, &name);
            let start = RunStart::fresh((&exec_arn, &name), input, now, req.trace_header.clone());
            let run = self.new_run(m, start, None, false);
            let (tx, rx) = tokio::sync::watch::channel(false);
            let me = self.me.clone();
            let run2 = run.clone();
            let arn2 = exec_arn.clone();
            // Registered before the task can finish and remove itself.
            let mut running = self.running();
            let definition = r.definition.clone();
            let task = tokio::spawn(async move {
                let _ = run2.execute(definition, None).await;
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
            return Ok(Started {
                execution_arn: exec_arn,
                start_date: secs(now),
            });
        }
        let exec_arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{name}",
            self.region, self.account, m.name
        );
        let input_text = req.input.unwrap_or_else(|| "{}".into());
        // One start at a time: the name check, the commit and the launch
        // must not interleave with another start of the same name.
        let _starting = self.start_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.kv.get(EXECUTIONS, exec_arn.as_bytes())? {
            let rec: Option<Execution> = serde_json::from_slice(&existing).ok();
            if let Some(rec) = rec.filter(|r| r.running() && r.input == input_text) {
                return Ok(Started {
                    execution_arn: exec_arn,
                    start_date: secs(rec.start_date),
                });
            }
            return Err(Error::ExecutionAlreadyExists(format!(
                "Execution Already Exists: '{exec_arn}'"
            )));
        }
        let mut rec = self.new_record(&r, &exec_arn, name, input_text, input, now);
        rec.trace_header = req.trace_header.clone();
        let mut b = WriteBatch::new();
        self.put_new(&rec, &mut b);
        let announced = self.stage_status(&rec, &mut b);
        let kv = self.kv.clone();
        blocking(move || kv.commit(b))?;
        self.status_committed(announced);
        self.launch(m, r.definition.clone(), rec, None);
        Ok(Started {
            execution_arn: exec_arn,
            start_date: secs(now),
        })
    }

    /// Send STANDARD executions' status changes to the default bus
    /// through `outbox`.
    pub fn set_status_events(&self, outbox: Arc<dyn nimbus_invoke::Outbox>) {
        let events = super::status_events::StatusEvents::new(outbox, &self.account, &self.region);
        let _ = self.status_events.set(Arc::new(events));
    }

    /// Count STANDARD executions' status changes in `AWS/States` metrics
    /// (after [`StepFunctions::set_status_events`]).
    pub fn set_metrics(&self, m: Arc<nimbus_metrics::Metrics>) {
        if let Some(s) = self.status_events.get() {
            let _ = s.metrics.set(m);
        }
    }

    fn stage_status(&self, rec: &Execution, b: &mut WriteBatch) -> Option<nimbus_invoke::Staged> {
        self.status_events.get().and_then(|s| s.stage(rec, b))
    }

    fn status_committed(&self, staged: Option<nimbus_invoke::Staged>) {
        if let Some(s) = self.status_events.get() {
            s.committed(staged);
        }
    }

    /// The record of a new STANDARD execution of `r`.
    fn new_record(
        &self,
        r: &Resolved,
        exec_arn: &str,
        name: String,
        input_text: String,
        input: Value,
        now: u64,
    ) -> Execution {
        let m = &r.machine;
        let definition = match &r.version {
            Some(v) => v.definition.clone(),
            None => m.definition.clone(),
        };
        Execution {
            execution_arn: exec_arn.to_string(),
            state_machine_arn: m.arn.clone(),
            name,
            status: ExecutionStatus::Running,
            start_date: now,
            stop_date: None,
            input: input_text,
            output: None,
            error: None,
            cause: None,
            definition,
            role_arn: m.role_arn.clone(),
            state_machine_version_arn: r
                .version
                .as_ref()
                .map(|v| v.state_machine_version_arn.clone()),
            state_machine_alias_arn: r.alias_arn.clone(),
            last_event_id: 0,
            trace_header: None,
            map_run: None,
            cursor: Some(records::StoredCursor {
                state: r.definition.start_at.clone(),
                input,
                wait_until: None,
                vars: Default::default(),
            }),
        }
    }

    fn put_new(&self, rec: &Execution, b: &mut WriteBatch) {
        b.put(EXECUTIONS, rec.execution_arn.as_bytes(), encode(rec));
        b.put(
            BY_MACHINE,
            by_machine_key(&rec.state_machine_arn, rec.start_date, &rec.execution_arn),
            rec.execution_arn.as_bytes().to_vec(),
        );
    }

    /// Stage the start of an execution of `arn` with `input` (JSON text) into
    /// `b`, under a generated name: a STANDARD execution's record is written
    /// with the caller's batch, so it runs (or is resumed at the next start)
    /// once that batch commits; an EXPRESS one is started when it commits.
    pub fn stage_start(
        &self,
        arn: &str,
        input: &str,
        trace: Option<&str>,
        b: &mut WriteBatch,
    ) -> Result<StagedStart> {
        let parsed = parse_input(Some(input))?;
        let r = self.resolve(arn)?;
        if r.machine.express() {
            return Ok(StagedStart::Express(
                arn.to_string(),
                input.to_string(),
                trace.map(str::to_string),
            ));
        }
        let name = uuid::Uuid::new_v4().to_string();
        let exec_arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{name}",
            self.region, self.account, r.machine.name
        );
        let mut rec = self.new_record(
            &r,
            &exec_arn,
            name,
            input.to_string(),
            parsed,
            nimbus_model::time::now_millis(),
        );
        rec.trace_header = trace.map(str::to_string);
        self.put_new(&rec, b);
        let announced = self.stage_status(&rec, b);
        Ok(StagedStart::Standard(
            r.machine.clone(),
            r.definition.clone(),
            Box::new(rec),
            announced,
        ))
    }

    /// Run what [`stage_start`](Self::stage_start) staged, its batch committed.
    pub fn launch_staged(&self, s: StagedStart) {
        match s {
            StagedStart::Standard(m, definition, rec, announced) => {
                self.status_committed(announced);
                self.launch(&m, definition, *rec, None);
            }
            StagedStart::Express(arn, input, trace_header) => {
                let started = self.start_execution(NewExecution {
                    state_machine_arn: arn.clone(),
                    input: Some(input),
                    trace_header,
                    ..NewExecution::default()
                });
                if let Err(e) = started {
                    tracing::warn!(machine = %arn, error = %e, "start an express execution");
                }
            }
        }
    }

    /// Run a STANDARD execution from its record: a new one from the start, or
    /// a resumed one from its cursor.
    fn launch(
        &self,
        m: &StateMachine,
        machine: Arc<asl::Machine>,
        rec: Execution,
        resume: Option<Cursor>,
    ) {
        let exec_arn = rec.execution_arn.clone();
        let name = rec.name.clone();
        let input: Value = serde_json::from_str(&rec.input).unwrap_or(json!({}));
        let (start, last) = (rec.start_date, rec.last_event_id);
        let trace_header = rec.trace_header.clone();
        let persist = Arc::new(ExecPersist {
            kv: self.kv.clone(),
            record: Mutex::new(rec),
            closed: std::sync::atomic::AtomicBool::new(false),
            status_events: self.status_events.get().cloned(),
        });
        let start = RunStart {
            arn: &exec_arn,
            name: &name,
            input,
            start_ms: start,
            last_event_id: last,
            trace_header,
        };
        let run = self.new_run(m, start, Some(persist.clone()), false);
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
            let Ok(rec) = serde_json::from_slice::<Execution>(&v) else {
                continue;
            };
            if !rec.running() {
                continue;
            }
            let Some(m) = self
                .parse_machine_arn(&rec.state_machine_arn)
                .ok()
                .and_then(|(name, _)| self.machines.get(&name))
            else {
                continue;
            };
            let Ok(machine) = asl::parse(&rec.definition) else {
                continue;
            };
            // An execution stored but never started begins from the start.
            let resume = if rec.last_event_id == 0 {
                None
            } else {
                rec.cursor.clone().map(Cursor::from)
            };
            self.launch(&m, Arc::new(machine), rec, resume);
            n += 1;
        }
        Ok(n)
    }

    /// StartSyncExecution: run an EXPRESS machine to its end and answer with
    /// the outcome.
    pub async fn start_sync_execution(&self, req: NewExecution) -> Result<SyncOutcome> {
        let input = parse_input(req.input.as_deref())?;
        let r = self.resolve(&req.state_machine_arn)?;
        let m = &r.machine;
        if !m.express() {
            return Err(Error::StateMachineTypeNotSupported(
                "This operation is not supported by this type of state machine".into(),
            ));
        }
        let name = execution_name(req.name.as_deref())?;
        let now = nimbus_model::time::now_millis();
        let exec_arn = self.express_arn(m, &name);
        let start = RunStart::fresh((&exec_arn, &name), input, now, req.trace_header.clone());
        let run = self.new_run(m, start, None, false);
        let result = run.execute(r.definition.clone(), None).await;
        let mut execution = Execution {
            execution_arn: exec_arn,
            state_machine_arn: m.arn.clone(),
            name,
            status: ExecutionStatus::Running,
            start_date: now,
            stop_date: None,
            input: req.input.unwrap_or_else(|| "{}".into()),
            output: None,
            error: None,
            cause: None,
            definition: m.definition.clone(),
            role_arn: m.role_arn.clone(),
            state_machine_version_arn: None,
            state_machine_alias_arn: None,
            last_event_id: 0,
            cursor: None,
            trace_header: req.trace_header.clone(),
            map_run: None,
        };
        let end = match result {
            Ok(v) => End {
                status: "SUCCEEDED",
                output: Some(v),
                failure: None,
            },
            Err(f) => End {
                status: if f.error == "States.Timeout" {
                    "TIMED_OUT"
                } else {
                    "FAILED"
                },
                output: None,
                failure: Some(f),
            },
        };
        execution.end(&end);
        Ok(SyncOutcome { execution })
    }

    /// `states:startExecution` as a Task: start a child execution; with
    /// `.sync`, wait for it and answer with its description.
    pub async fn start_child(
        &self,
        params: &Value,
        wait: bool,
        output_as_json: bool,
        trace: Option<&str>,
    ) -> std::result::Result<Value, Failure> {
        let field = |k: &str| {
            params.get(k).map(|v| match v {
                Value::String(s) => s.clone(),
                // Input may be given as JSON; the API takes a string.
                other => other.to_string(),
            })
        };
        let fail = |e: Error| Failure::new(format!("StepFunctions.{}", e.code()), e.to_string());
        let started = self
            .start_execution(NewExecution {
                state_machine_arn: field("StateMachineArn").unwrap_or_default(),
                name: field("Name"),
                input: field("Input"),
                trace_header: trace.map(str::to_string),
            })
            .map_err(fail)?;
        if !wait {
            return Ok(
                json!({"ExecutionArn": started.execution_arn, "StartDate": started.start_date}),
            );
        }
        let arn = started.execution_arn;
        let rec = self.wait_for(&arn).await.map_err(fail)?;
        let mut out = json!({
            "ExecutionArn": rec.execution_arn,
            "StateMachineArn": rec.state_machine_arn,
            "Name": rec.name,
            "Status": rec.status.as_str(),
            "StartDate": secs(rec.start_date),
            "Input": rec.input,
            "InputDetails": {"Included": true},
            "RedriveCount": 0,
            "RedriveStatus": "NOT_REDRIVABLE",
        });
        if let Some(s) = rec.stop_date {
            out["StopDate"] = json!(secs(s));
        }
        if let Some(o) = &rec.output {
            out["Output"] = if output_as_json {
                serde_json::from_str(o).unwrap_or(Value::Null)
            } else {
                json!(o)
            };
            out["OutputDetails"] = json!({"Included": true});
        }
        for (k, v) in [
            ("Error", &rec.error),
            ("Cause", &rec.cause),
            ("StateMachineVersionArn", &rec.state_machine_version_arn),
            ("StateMachineAliasArn", &rec.state_machine_alias_arn),
        ] {
            if let Some(v) = v {
                out[k] = json!(v);
            }
        }
        match rec.status {
            ExecutionStatus::Succeeded => Ok(out),
            ExecutionStatus::Aborted => Err(Failure::new(
                "StepFunctions.ExecutionAbortedException",
                format!("Execution aborted: {arn}"),
            )),
            ExecutionStatus::TimedOut => Err(Failure::new(
                "StepFunctions.ExecutionTimedOutException",
                format!("Execution timed out: {arn}"),
            )),
            _ => Err(Failure::new(
                "StepFunctions.ExecutionFailedException",
                out.to_string(),
            )),
        }
    }

    pub(super) fn execution(&self, arn: &str) -> Result<Execution> {
        let missing = || Error::ExecutionDoesNotExist(format!("Execution Does Not Exist: '{arn}'"));
        if !arn.starts_with("arn:aws:states:") || !arn.contains(":execution:") {
            if arn.contains(":express:") {
                return Err(missing());
            }
            return Err(Error::InvalidArn(format!(
                "Invalid Arn: 'Resource type not valid in this context: {arn}'"
            )));
        }
        let raw = self
            .kv
            .get(EXECUTIONS, arn.as_bytes())?
            .ok_or_else(missing)?;
        // A running execution's latest state is in memory.
        if let Some(r) = self.running().get(arn)
            && let Some(p) = &r.persist
        {
            return Ok(p.record().clone());
        }
        serde_json::from_slice(&raw).map_err(|e| Error::Service(e.to_string()))
    }

    /// An execution, or a distributed Map's child execution while its Map
    /// Run is remembered.
    pub fn describe_execution(&self, arn: &str) -> Result<Execution> {
        match self.execution(arn) {
            // (EXPRESS children are not described, as EXPRESS executions are not.)
            Err(Error::ExecutionDoesNotExist(m)) => self
                .child_execution(arn)
                .filter(|_| arn.contains(":execution:"))
                .ok_or(Error::ExecutionDoesNotExist(m)),
            other => other,
        }
    }

    /// The execution and the machine it belongs to (gone if deleted since).
    pub fn describe_state_machine_for_execution(
        &self,
        arn: &str,
    ) -> Result<(Execution, Option<Arc<StateMachine>>)> {
        let rec = self.execution(arn)?;
        let name = self.parse_machine_arn(&rec.state_machine_arn)?.0;
        let m = self.machines.get(&name);
        Ok((rec, m))
    }

    /// A machine's executions (or those started through one of its
    /// versions or aliases), newest first.
    pub fn list_executions(&self, q: &ExecutionQuery) -> Result<Listed<Execution>> {
        let arn = match (&q.state_machine_arn, &q.map_run_arn) {
            (Some(a), _) => a.as_str(),
            (None, Some(run)) => return self.map_run_executions(run, q.status, &q.page),
            (None, None) => {
                return Err(Error::Validation(
                    "Must provide a StateMachine ARN or MapRun ARN".into(),
                ));
            }
        };
        let (name, qualifier) = self.parse_machine_arn(arn)?;
        let m = self.machine(&name, no_machine(arn))?;
        if m.express() {
            return Err(Error::StateMachineTypeNotSupported(
                "This operation is not supported by this type of state machine".into(),
            ));
        }
        let mut prefix = m.arn.as_bytes().to_vec();
        prefix.push(0);
        let mut all = Vec::new();
        for (_, exec) in self.kv.scan_prefix(BY_MACHINE, &prefix)? {
            let Ok(rec) = self.execution(&String::from_utf8_lossy(&exec)) else {
                continue;
            };
            if q.status.is_some_and(|s| rec.status != s) {
                continue;
            }
            if let Some(qualifier) = &qualifier {
                let through = if qualifier.chars().all(|c| c.is_ascii_digit()) {
                    &rec.state_machine_version_arn
                } else {
                    &rec.state_machine_alias_arn
                };
                if through.as_deref() != Some(arn) {
                    continue;
                }
            }
            all.push(rec);
        }
        page(all, &q.page)
    }

    /// History events in Step Functions' shape.
    pub fn get_execution_history(&self, q: &HistoryQuery) -> Result<Listed<Value>> {
        let arn = q.execution_arn.as_str();
        // ExecutionDoesNotExist / InvalidArn before reading the history (a
        // Map Run's child has its history stored under its ARN too).
        self.describe_execution(arn)?;
        let mut prefix = arn.as_bytes().to_vec();
        prefix.push(0);
        // A running execution's latest events are not stored yet: read them
        // first, then the stored ones (a transition in between moves events
        // from one to the other, never out of both).
        let unsaved = self
            .running()
            .get(arn)
            .map(|r| r.run.unsaved_events())
            .unwrap_or_default();
        let mut events: Vec<Value> = self
            .kv
            .scan_prefix(HISTORY, &prefix)?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice::<Value>(&v).ok())
            .collect();
        let stored = events.last().and_then(|e| e["id"].as_u64()).unwrap_or(0);
        events.extend(
            unsaved
                .iter()
                .filter(|e| e.id > stored)
                .map(|e| e.to_json()),
        );
        if !q.include_execution_data {
            for e in &mut events {
                if let Some(o) = e.as_object_mut() {
                    for (k, d) in o.iter_mut() {
                        if k.ends_with("EventDetails")
                            && let Some(d) = d.as_object_mut()
                        {
                            for f in ["input", "output", "parameters"] {
                                d.remove(f);
                            }
                        }
                    }
                }
            }
        }
        if q.reverse_order {
            events.reverse();
        }
        page(events, &q.page)
    }

    /// Stop a running execution (a finished one is left as it is); the
    /// stop date.
    pub fn stop_execution(
        &self,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<f64> {
        let rec = self.execution(arn)?;
        let now = nimbus_model::time::now_millis();
        if !rec.running() {
            return Ok(secs(rec.stop_date.unwrap_or(now)));
        }
        let running = self.running().remove(arn);
        match running {
            Some(r) => {
                if r.persist.as_ref().is_some_and(|p| !p.claim_stop()) {
                    // It ended (or is being stopped) meanwhile.
                    let rec = self.execution(arn)?;
                    return Ok(secs(rec.stop_date.unwrap_or(now)));
                }
                r.abort.abort();
                r.run.aborted(error, cause);
            }
            None => {
                let mut rec = rec;
                rec.end(&End {
                    status: "ABORTED",
                    output: None,
                    failure: Some(Failure::new(
                        error.unwrap_or_default(),
                        cause.unwrap_or_default(),
                    )),
                });
                let mut b = WriteBatch::new();
                b.put(EXECUTIONS, arn.as_bytes(), encode(&rec));
                let announced = self.stage_status(&rec, &mut b);
                let kv = self.kv.clone();
                blocking(move || kv.commit(b))?;
                self.status_committed(announced);
            }
        }
        Ok(secs(now))
    }

    /// Wait until an execution started here ends; its record then.
    pub async fn wait_for(&self, arn: &str) -> Result<Execution> {
        let rx = self.running().get(arn).map(|r| r.done.clone());
        if let Some(mut rx) = rx {
            while !*rx.borrow() {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
        // A stopped run's task ends before StopExecution records the end.
        for _ in 0..1000 {
            let rec = self.execution(arn)?;
            if !rec.running() || self.running().contains_key(arn) {
                return Ok(rec);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.execution(arn)
    }
}
