//! Distributed Map states: items read from S3 by the `ItemReader` (a JSON
//! array, JSON Lines or CSV object, or a bucket's listing) or taken from the
//! input, selected, batched by the `ItemBatcher`, each batch (or item) run as
//! a child execution of the processor in its own history, under
//! `MaxConcurrency` and the tolerated failures; the Map Run's results go back
//! as the state's value, or to S3 through the `ResultWriter` (a manifest and
//! `SUCCEEDED_n.json` / `FAILED_n.json` files). The parent history records
//! `MapRunStarted` and `MapRunSucceeded` / `MapRunFailed`.

use super::*;
use crate::asl::{Distributed, ItemReader};

/// What a child execution came to, as the result files record it.
struct Child {
    arn: String,
    name: String,
    input: Value,
    start_ms: u64,
    stop_ms: u64,
    outcome: Result<Value, Failure>,
}

impl Child {
    fn record(&self, machine_arn: &str) -> Value {
        let mut r = json!({
            "ExecutionArn": self.arn,
            "Input": self.input.to_string(),
            "InputDetails": {"Included": true},
            "Name": self.name,
            "RedriveCount": 0,
            "RedriveStatus": "NOT_REDRIVABLE",
            "StartDate": iso(self.start_ms),
            "StateMachineArn": machine_arn,
            "StopDate": iso(self.stop_ms),
        });
        match &self.outcome {
            Ok(out) => {
                r["Status"] = json!("SUCCEEDED");
                r["Output"] = json!(out.to_string());
                r["OutputDetails"] = json!({"Included": true});
            }
            Err(f) => {
                r["Status"] = json!("FAILED");
                r["Error"] = json!(f.error);
                r["Cause"] = json!(f.cause);
            }
        }
        r
    }
}

/// The records of a CSV document (`delimiter`-separated, `"` quoting with
/// `""` escapes, `\n` or `\r\n` rows).
pub(crate) fn csv_rows(text: &str, delimiter: u8) -> Vec<Vec<String>> {
    let d = delimiter as char;
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            c if c == d => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            c => field.push(c),
        }
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    rows.retain(|r| !(r.len() == 1 && r[0].is_empty()));
    rows
}

/// What one Map Run works from.
struct MapRunSpec<'a> {
    d: &'a Distributed,
    /// The items, when they came from the input (not a reader).
    given: Option<Vec<Value>>,
    raw: &'a Value,
    data: &'a Data<'a>,
    entered: (u64, u32),
    max_concurrency: usize,
    map_run_arn: &'a str,
    label: &'a str,
    prefix: &'a str,
    run_id: &'a str,
}

/// A running Map Run's settings that `UpdateMapRun` changes while it runs: the
/// permits its children start under, and the failures it tolerates.
#[derive(Debug)]
pub struct MapRunControl {
    permits: Arc<tokio::sync::Semaphore>,
    /// How many children it has in all (an unlimited `MaxConcurrency` is up to
    /// 1,000 of them at once).
    children: usize,
    settings: std::sync::Mutex<ControlSettings>,
}

#[derive(Debug)]
struct ControlSettings {
    /// Permits in play now.
    limit: usize,
    tolerated_count: Option<u64>,
    tolerated_percentage: Option<f64>,
}

impl MapRunControl {
    fn effective_limit(&self, max_concurrency: usize) -> usize {
        if max_concurrency == 0 {
            self.children.clamp(1, 1000)
        } else {
            max_concurrency.min(self.children.max(1))
        }
    }

    /// Apply `UpdateMapRun`: a higher limit starts waiting children at once, a lower
    /// one takes permits back as running children end.
    pub fn update(
        &self,
        max_concurrency: Option<usize>,
        tolerated_percentage: Option<f64>,
        tolerated_count: Option<u64>,
    ) {
        let mut s = self.settings.lock().expect("map run control lock");
        if let Some(p) = tolerated_percentage {
            s.tolerated_percentage = Some(p);
        }
        if let Some(c) = tolerated_count {
            s.tolerated_count = Some(c);
        }
        let Some(m) = max_concurrency else { return };
        let limit = self.effective_limit(m);
        if limit > s.limit {
            self.permits.add_permits(limit - s.limit);
        } else if limit < s.limit {
            let (permits, fewer) = (self.permits.clone(), (s.limit - limit) as u32);
            tokio::spawn(async move {
                if let Ok(taken) = permits.acquire_many_owned(fewer).await {
                    taken.forget();
                }
            });
        }
        s.limit = limit;
    }

    /// Whether this many failed items are beyond what the run tolerates (any
    /// failure when neither limit is set).
    fn exceeded(&self, failed_items: usize, total_items: usize) -> bool {
        let s = self.settings.lock().expect("map run control lock");
        if s.tolerated_count.is_none() && s.tolerated_percentage.is_none() {
            return failed_items > 0;
        }
        s.tolerated_count.is_some_and(|c| failed_items as u64 > c)
            || s.tolerated_percentage.is_some_and(|p| {
                total_items > 0 && (failed_items as f64) * 100.0 / (total_items as f64) > p
            })
    }
}

/// Reports a Map Run ABORTED if its execution stops it (the future dropped)
/// before it ends.
struct RunGuard {
    integrations: Arc<dyn Integrations>,
    map_run_arn: String,
    done: bool,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if !self.done {
            self.integrations.map_run(MapRunReport::Ended {
                map_run_arn: std::mem::take(&mut self.map_run_arn),
                status: "ABORTED",
                stop_ms: nimbus_model::time::now_millis(),
            });
        }
    }
}

fn reader_failed(cause: impl Into<String>) -> Failure {
    Failure::new("States.ItemReaderFailed", cause)
}

/// The items of an object's text, read as `input_type` says.
pub(crate) fn parse_items(body: &str, r: &ItemReader) -> Result<Vec<Value>, Failure> {
    match r.input_type.as_deref() {
        Some("JSONL") => body
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| {
                    reader_failed(format!("A line of the JSON Lines file is not JSON: {e}"))
                })
            })
            .collect(),
        Some("CSV") => {
            let mut rows = csv_rows(body, r.csv_delimiter).into_iter();
            let headers = match &r.csv_headers {
                Some(h) => h.clone(),
                None => rows
                    .next()
                    .ok_or_else(|| reader_failed("The CSV file has no header row"))?,
            };
            let mut seen = std::collections::HashSet::new();
            if !headers.iter().all(|h| seen.insert(h)) {
                return Err(reader_failed("CSV headers cannot contain duplicates."));
            }
            Ok(rows
                .map(|row| {
                    let o: Map<String, Value> = headers
                        .iter()
                        .enumerate()
                        .map(|(i, h)| (h.clone(), json!(row.get(i).cloned().unwrap_or_default())))
                        .collect();
                    Value::Object(o)
                })
                .collect())
        }
        _ => match serde_json::from_str::<Value>(body) {
            Ok(Value::Array(items)) => Ok(items),
            Ok(_) => Err(reader_failed("Attempting to map over non-iterable node.")),
            Err(e) => Err(reader_failed(format!("The object is not JSON: {e}"))),
        },
    }
}

/// `ListObjectsV2`'s entry as a distributed Map's item.
fn listed(o: &Value) -> Value {
    let modified = o["LastModified"]
        .as_str()
        .and_then(crate::time::parse_timestamp)
        .map(|ms| ms / 1000)
        .unwrap_or(0);
    json!({
        "Etag": o["ETag"],
        "Key": o["Key"],
        "LastModified": modified,
        "Size": o["Size"],
        "StorageClass": o["StorageClass"],
    })
}

fn s3(action: &str) -> Resource {
    Resource::Service {
        service: "s3".into(),
        action: action.into(),
        pattern: Pattern::RequestResponse,
    }
}

impl Run {
    fn task_context(&self, state: &State) -> TaskContext {
        TaskContext {
            execution_arn: self.spec.execution_arn.clone(),
            state_name: state.name.clone(),
            role_arn: self.spec.role_arn.clone(),
            trace_header: self.spec.trace_header.clone(),
        }
    }

    /// The items an `ItemReader` reads.
    async fn read_items(
        &self,
        state: &State,
        r: &ItemReader,
        raw: &Value,
        data: &Data<'_>,
    ) -> Result<Vec<Value>, Failure> {
        let params = match (&r.parameters, &r.arguments) {
            (Some(t), _) => render(t, data)?,
            (None, Some(t)) => jeval(t, &states(raw, data.ctx), data.vars)?,
            (None, None) => json!({}),
        };
        let tctx = self.task_context(state);
        let max = match &r.max_items_path {
            Some(p) => Some(data.select(p)?.as_u64().ok_or_else(|| {
                Failure::runtime(format!(
                    "The MaxItemsPath field does not reference a non-negative integer: {}",
                    p.text
                ))
            })?),
            None => r.max_items,
        }
        .filter(|n| *n > 0);
        let failed = |f: Failure| reader_failed(format!("{}: {}", f.error, f.cause));
        let mut items = if r.action == "getObject" {
            let got = self
                .integrations
                .call(&s3("getObject"), params, &tctx)
                .await
                .map_err(failed)?;
            parse_items(got["Body"].as_str().unwrap_or_default(), r)?
        } else {
            let mut items = Vec::new();
            let mut page = params;
            loop {
                let got = self
                    .integrations
                    .call(&s3("listObjectsV2"), page.clone(), &tctx)
                    .await
                    .map_err(failed)?;
                if let Some(list) = got["Contents"].as_array() {
                    items.extend(list.iter().map(listed));
                }
                let next = got["NextContinuationToken"].as_str();
                match next {
                    Some(t)
                        if got["IsTruncated"] == json!(true)
                            && max.is_none_or(|m| (items.len() as u64) < m) =>
                    {
                        page["ContinuationToken"] = json!(t);
                    }
                    _ => break,
                }
            }
            items
        };
        if let Some(m) = max {
            items.truncate(m as usize);
        }
        Ok(items)
    }

    /// Run a distributed Map state: `MapStateStarted`, then the Map Run
    /// (`MapRunStarted` before its items are read, `MapRunSucceeded` or
    /// `MapRunFailed` whatever ends it), then `MapStateSucceeded` or
    /// `MapStateFailed`. Its value is the children's outputs in order, or
    /// where the `ResultWriter` put them.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn distributed_map(
        self: Arc<Run>,
        state: &State,
        d: &Distributed,
        raw: &Value,
        effective: &Value,
        thread: &Thread,
        (entered_ms, retry_count): (u64, u32),
        vars: &Vars,
        ctx: &Value,
        max_concurrency: usize,
    ) -> Result<Value, Failure> {
        let Kind::Map {
            tolerated_percentage,
            tolerated_count,
            ..
        } = &state.kind
        else {
            return Err(Failure::runtime(format!(
                "{} is not a Map state",
                state.name
            )));
        };
        let data = Data {
            input: effective,
            ctx,
            vars,
        };
        // Items from the input are known at once; a reader's come later.
        let given = match &d.reader {
            Some(_) => None,
            None => Some(super::map::input_items(state, raw, &data)?),
        };
        self.emit(
            thread,
            "MapStateStarted",
            Some((
                "mapStateStartedEventDetails",
                json!({"length": given.as_ref().map_or(0, Vec::len)}),
            )),
        );
        // arn:aws:states:REGION:ACCOUNT:stateMachine:NAME -> mapRun:NAME/LABEL:ID
        let run_id = uuid::Uuid::new_v4().to_string();
        let label = d
            .label
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_string());
        let prefix = self
            .spec
            .machine_arn
            .split(":stateMachine:")
            .next()
            .unwrap_or_default()
            .to_string();
        let map_run_arn = format!(
            "{prefix}:mapRun:{}/{label}:{run_id}",
            self.spec.machine_name
        );
        self.emit(
            thread,
            "MapRunStarted",
            Some((
                "mapRunStartedEventDetails",
                json!({"mapRunArn": map_run_arn}),
            )),
        );
        self.integrations.map_run(MapRunReport::Started {
            map_run_arn: map_run_arn.clone(),
            execution_arn: self.spec.execution_arn.clone(),
            machine_arn: self.spec.machine_arn.clone(),
            start_ms: nimbus_model::time::now_millis(),
            max_concurrency,
            tolerated_percentage: tolerated_percentage.unwrap_or(0.0),
            tolerated_count: tolerated_count.unwrap_or(0),
            items: given.as_ref().map_or(0, Vec::len),
        });
        // A Map Run stopped with its execution is reported ABORTED.
        let mut guard = RunGuard {
            integrations: self.integrations.clone(),
            map_run_arn: map_run_arn.clone(),
            done: false,
        };
        let run = MapRunSpec {
            d,
            given,
            raw,
            data: &data,
            entered: (entered_ms, retry_count),
            max_concurrency,
            map_run_arn: &map_run_arn,
            label: &label,
            prefix: &prefix,
            run_id: &run_id,
        };
        let outcome = self.clone().map_run(state, run).await;
        guard.done = true;
        self.integrations.map_run(MapRunReport::Ended {
            map_run_arn: map_run_arn.clone(),
            status: if outcome.is_ok() {
                "SUCCEEDED"
            } else {
                "FAILED"
            },
            stop_ms: nimbus_model::time::now_millis(),
        });
        match &outcome {
            Ok(_) => {
                self.emit(thread, "MapRunSucceeded", None);
                self.emit(thread, "MapStateSucceeded", None);
            }
            Err(f) => {
                self.emit(
                    thread,
                    "MapRunFailed",
                    Some((
                        "mapRunFailedEventDetails",
                        json!({"error": f.error, "cause": f.cause}),
                    )),
                );
                self.emit(thread, "MapStateFailed", None);
            }
        }
        outcome
    }

    /// The Map Run itself: items read and selected, batched, run as child
    /// executions until done or beyond the tolerated failures, results
    /// written.
    async fn map_run(self: Arc<Run>, state: &State, run: MapRunSpec<'_>) -> Result<Value, Failure> {
        let Kind::Map {
            processor,
            tolerated_percentage,
            tolerated_count,
            ..
        } = &state.kind
        else {
            return Err(Failure::runtime(format!(
                "{} is not a Map state",
                state.name
            )));
        };
        let (d, data, raw) = (run.d, run.data, run.raw);
        let (ctx, vars) = (data.ctx, data.vars);
        let items = match (&d.reader, run.given) {
            (_, Some(items)) => items,
            (Some(r), None) => {
                let items = self.read_items(state, r, raw, data).await?;
                self.integrations.map_run(MapRunReport::Items {
                    map_run_arn: run.map_run_arn.to_string(),
                    items: items.len(),
                });
                items
            }
            (None, None) => Vec::new(),
        };
        let selected = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.select_item(state, raw, data, run.entered, (i, item)))
            .collect::<Result<Vec<_>, _>>()?;
        let total_items = selected.len();
        let inputs = match &d.batcher {
            None => selected,
            Some(b) => {
                let per_batch = match &b.max_items_path {
                    Some(p) => data.select(p)?.as_u64(),
                    None => b.max_items,
                }
                .filter(|n| *n > 0)
                .unwrap_or(u64::MAX) as usize;
                let max_bytes = b.max_bytes.unwrap_or(256 * 1024) as usize;
                let batch_input = match (&b.batch_input, &b.batch_input_expr) {
                    (Some(t), _) => Some(render(t, data)?),
                    (None, Some(t)) => Some(jeval(t, &states(raw, ctx), vars)?),
                    (None, None) => None,
                };
                let mut batches = Vec::new();
                let mut current: Vec<Value> = Vec::new();
                let mut bytes = 0;
                for item in selected {
                    let size = item.to_string().len();
                    if !current.is_empty()
                        && (current.len() >= per_batch || bytes + size > max_bytes)
                    {
                        batches.push(std::mem::take(&mut current));
                        bytes = 0;
                    }
                    bytes += size;
                    current.push(item);
                }
                if !current.is_empty() {
                    batches.push(current);
                }
                batches
                    .into_iter()
                    .map(|items| {
                        let mut input = json!({ "Items": items });
                        if let Some(b) = &batch_input {
                            input["BatchInput"] = b.clone();
                        }
                        input
                    })
                    .collect()
            }
        };
        let kind = if d.execution_type == "EXPRESS" {
            "express"
        } else {
            "execution"
        };
        let n = inputs.len();
        let batch_sizes: Vec<usize> = inputs
            .iter()
            .map(|i| match (&d.batcher, i["Items"].as_array()) {
                (Some(_), Some(a)) => a.len(),
                _ => 1,
            })
            .collect();
        // The children start as the machine's role.
        self.integrations
            .may_start_children(&self.task_context(state), &self.spec.machine_arn)?;
        let mut control = MapRunControl {
            permits: Arc::new(tokio::sync::Semaphore::new(0)),
            children: n,
            settings: std::sync::Mutex::new(ControlSettings {
                limit: 0,
                tolerated_count: *tolerated_count,
                tolerated_percentage: *tolerated_percentage,
            }),
        };
        let limit = control.effective_limit(run.max_concurrency);
        control.permits = Arc::new(tokio::sync::Semaphore::new(limit));
        control.settings.get_mut().expect("fresh lock").limit = limit;
        let control = Arc::new(control);
        let permits = control.permits.clone();
        self.integrations.map_run(MapRunReport::Control {
            map_run_arn: run.map_run_arn.to_string(),
            control: control.clone(),
        });
        let mut set = tokio::task::JoinSet::new();
        for (i, input) in inputs.into_iter().enumerate() {
            let name = uuid::Uuid::new_v4().to_string();
            let arn = format!(
                "{}:{kind}:{}/{}:{name}",
                run.prefix, self.spec.machine_name, run.label
            );
            let spec = RunSpec {
                execution_arn: arn.clone(),
                execution_name: name.clone(),
                machine_arn: self.spec.machine_arn.clone(),
                machine_name: self.spec.machine_name.clone(),
                role_arn: self.spec.role_arn.clone(),
                input: input.clone(),
                start_ms: 0,
                last_event_id: 0,
                // A STANDARD child's history is kept (EXPRESS ones have none).
                keep_history: kind == "execution",
                trace_header: self.spec.trace_header.clone(),
            };
            let (integrations, tokens, processor, permits) = (
                self.integrations.clone(),
                self.tokens.clone(),
                processor.clone(),
                permits.clone(),
            );
            let (map_run, items) = (run.map_run_arn.to_string(), batch_sizes[i]);
            set.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let start_ms = nimbus_model::time::now_millis();
                let mut report = ChildExecution {
                    arn: arn.clone(),
                    name: name.clone(),
                    items,
                    status: "RUNNING",
                    start_ms,
                    stop_ms: None,
                    input: input.to_string(),
                    output: None,
                    error: None,
                    cause: None,
                };
                integrations.map_run(MapRunReport::Child {
                    map_run_arn: map_run.clone(),
                    child: report.clone(),
                    history: Vec::new(),
                });
                let child = Run::new(
                    RunSpec { start_ms, ..spec },
                    integrations.clone(),
                    tokens,
                    None,
                );
                let outcome = child.execute(processor, None).await;
                let stop_ms = nimbus_model::time::now_millis();
                report.stop_ms = Some(stop_ms);
                match &outcome {
                    Ok(out) => {
                        report.status = "SUCCEEDED";
                        report.output = Some(out.to_string());
                    }
                    Err(f) => {
                        report.status = "FAILED";
                        report.error = Some(f.error.clone());
                        report.cause = Some(f.cause.clone());
                    }
                }
                integrations.map_run(MapRunReport::Child {
                    map_run_arn: map_run,
                    child: report,
                    history: child.history(),
                });
                (
                    i,
                    Child {
                        arn,
                        name,
                        input,
                        start_ms,
                        stop_ms,
                        outcome,
                    },
                )
            });
        }
        // Failures count by item, against both limits as they are now (an
        // `UpdateMapRun` may have changed them): beyond either (or any failure
        // when neither is set) the Map Run fails at once.
        let exceeded = |failed_items: usize| control.exceeded(failed_items, total_items);
        let mut children: Vec<Option<Child>> = (0..n).map(|_| None).collect();
        let mut failed_items = 0;
        let mut over = false;
        while let Some(joined) = set.join_next().await {
            let (i, c) =
                joined.map_err(|e| Failure::runtime(format!("child execution stopped: {e}")))?;
            if c.outcome.is_err() {
                failed_items += batch_sizes[i];
                if exceeded(failed_items) {
                    over = true;
                    set.abort_all();
                }
            }
            children[i] = Some(c);
            if over {
                break;
            }
        }
        let children: Vec<Child> = children.into_iter().flatten().collect();
        let written = match &d.writer {
            Some(w) => {
                let params = match (&w.parameters, &w.arguments) {
                    (Some(t), _) => render(t, data)?,
                    (None, Some(t)) => jeval(t, &states(raw, ctx), vars)?,
                    (None, None) => json!({}),
                };
                Some(
                    self.write_results(state, &params, run.map_run_arn, run.run_id, &children)
                        .await?,
                )
            }
            None => None,
        };
        if over {
            return Err(Failure::new(
                "States.ExceedToleratedFailureThreshold",
                "The specified tolerated failure threshold was exceeded",
            ));
        }
        if let Some(details) = written {
            return Ok(json!({"MapRunArn": run.map_run_arn, "ResultWriterDetails": details}));
        }
        Ok(Value::Array(
            children
                .into_iter()
                .map(|c| match c.outcome {
                    Ok(v) => v,
                    Err(f) => json!({"Error": f.error, "Cause": f.cause}),
                })
                .collect(),
        ))
    }

    /// Write the Map Run's results where the `ResultWriter` says: the
    /// succeeded and failed children's records and a manifest naming them.
    async fn write_results(
        &self,
        state: &State,
        params: &Value,
        map_run_arn: &str,
        run_id: &str,
        children: &[Child],
    ) -> Result<Value, Failure> {
        let bucket = params["Bucket"]
            .as_str()
            .ok_or_else(|| Failure::runtime("The ResultWriter's Parameters need a Bucket"))?
            .to_string();
        let prefix = params["Prefix"]
            .as_str()
            .unwrap_or("")
            .trim_end_matches('/');
        let base = if prefix.is_empty() {
            run_id.to_string()
        } else {
            format!("{prefix}/{run_id}")
        };
        let tctx = self.task_context(state);
        let failed = |f: Failure| {
            Failure::new(
                "States.ResultWriterFailed",
                format!("{}: {}", f.error, f.cause),
            )
        };
        let mut files = json!({"FAILED": [], "PENDING": [], "SUCCEEDED": []});
        for (status, ok) in [("SUCCEEDED", true), ("FAILED", false)] {
            let records: Vec<Value> = children
                .iter()
                .filter(|c| c.outcome.is_ok() == ok)
                .map(|c| c.record(&self.spec.machine_arn))
                .collect();
            if records.is_empty() {
                continue;
            }
            let body = Value::Array(records).to_string();
            let key = format!("{base}/{status}_0.json");
            let put = json!({"Bucket": bucket, "Key": key, "Body": body, "ContentType": "application/json"});
            self.integrations
                .call(&s3("putObject"), put, &tctx)
                .await
                .map_err(failed)?;
            if let Some(list) = files[status].as_array_mut() {
                list.push(json!({"Key": key, "Size": body.len()}));
            }
        }
        let manifest_key = format!("{base}/manifest.json");
        let manifest = json!({
            "DestinationBucket": bucket,
            "MapRunArn": map_run_arn,
            "ResultFiles": files,
        });
        let put = json!({"Bucket": bucket, "Key": manifest_key, "Body": manifest.to_string(), "ContentType": "application/json"});
        self.integrations
            .call(&s3("putObject"), put, &tctx)
            .await
            .map_err(failed)?;
        Ok(json!({"Bucket": bucket, "Key": manifest_key}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_with_quotes_and_delimiters() {
        assert_eq!(
            csv_rows("a,b\r\n1,\"x, \"\"y\"\"\"\n\n2,\n", b','),
            vec![
                vec!["a".to_string(), "b".into()],
                vec!["1".into(), "x, \"y\"".into()],
                vec!["2".into(), String::new()],
            ]
        );
        assert_eq!(
            csv_rows("a|b", b'|'),
            vec![vec!["a".to_string(), "b".into()]]
        );
    }

    #[test]
    fn items_by_input_type() {
        let reader = |t: &str| ItemReader {
            action: "getObject".into(),
            input_type: Some(t.into()),
            csv_headers: None,
            csv_delimiter: b',',
            max_items: None,
            max_items_path: None,
            parameters: None,
            arguments: None,
        };
        assert_eq!(
            parse_items("[1, {\"a\": 2}]", &reader("JSON")).unwrap(),
            vec![json!(1), json!({"a": 2})]
        );
        assert_eq!(
            parse_items("{\"a\":1}\n\n{\"a\":2}\n", &reader("JSONL")).unwrap(),
            vec![json!({"a": 1}), json!({"a": 2})]
        );
        assert_eq!(
            parse_items("id,name\n1,x\n2,y", &reader("CSV")).unwrap(),
            vec![
                json!({"id": "1", "name": "x"}),
                json!({"id": "2", "name": "y"})
            ]
        );
        assert_eq!(
            parse_items("{\"a\":1}", &reader("JSON")).unwrap_err().error,
            "States.ItemReaderFailed"
        );
    }
}
