//! The conformance corpus: every case under `tests/cases/workflows/<name>/`
//! runs on the engine with Tokio's clock paused (waits and back-offs pass at
//! once; event times still show them) and scripted task results.
//!
//! A case is `definition.json`, `input.json`, optional `tasks.json` (for each
//! resource ARN, the results its calls return in turn: `{"result": ...}`,
//! `{"error": ..., "cause": ...}`, optionally after `"seconds"` of work) and
//! `expected.json`: `output` or `error` (and `cause`), `events` (the history's
//! event types, in order), optionally `seconds` (the virtual time from the
//! first to the last event) and `calls` (the inputs each resource received).

use crate::engine::{Failure, Integrations, Resource, Run, RunSpec, TaskContext, Tokens};
use nimbus_invoke::BoxFuture;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

struct Scripted {
    script: HashMap<String, Vec<Value>>,
    calls: Mutex<HashMap<String, Vec<Value>>>,
    tokens: Arc<Tokens>,
}

fn resource_key(r: &Resource) -> String {
    match r {
        Resource::LambdaArn(a) => a.clone(),
        Resource::Service {
            service, action, ..
        } => format!("arn:aws:states:::{service}:{action}"),
    }
}

impl Integrations for Scripted {
    fn call(
        &self,
        resource: &Resource,
        input: Value,
        _: &TaskContext,
    ) -> BoxFuture<'_, Result<Value, Failure>> {
        let key = resource_key(resource);
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let list = calls.entry(key.clone()).or_default();
            list.push(input.clone());
            list.len() - 1
        };
        let step = self
            .script
            .get(&key)
            .and_then(|s| s.get(n).or(s.last()))
            .cloned()
            .unwrap_or_else(|| json!({"result": input}));
        let tokens = self.tokens.clone();
        Box::pin(async move {
            if let Some(s) = step.get("seconds").and_then(Value::as_f64) {
                tokio::time::sleep(std::time::Duration::from_secs_f64(s)).await;
            }
            // A callback task: complete the token the input carries.
            if let Some(token) = step
                .get("complete_token")
                .and_then(|p| input.pointer(p.as_str().unwrap_or("")))
                .and_then(Value::as_str)
            {
                let outcome = match step.get("error") {
                    Some(e) => Err(Failure::new(
                        e.as_str().unwrap_or_default(),
                        step["cause"].as_str().unwrap_or_default(),
                    )),
                    None => Ok(step["result"].clone()),
                };
                assert!(
                    tokens.complete(token, outcome),
                    "token {token} was not waiting"
                );
                return Ok(json!({}));
            }
            match step.get("error") {
                Some(e) => Err(Failure::new(
                    e.as_str().unwrap_or_default(),
                    step["cause"].as_str().unwrap_or_default(),
                )),
                None => Ok(step["result"].clone()),
            }
        })
    }
}

fn read(dir: &Path, name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join(name)).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display())))
}

fn run_case(dir: &Path) -> Result<(), String> {
    let definition =
        std::fs::read_to_string(dir.join("definition.json")).map_err(|e| e.to_string())?;
    let expected = read(dir, "expected.json").ok_or("no expected.json")?;
    let machine = match crate::asl::parse(&definition) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            let want = expected["invalid"]
                .as_str()
                .ok_or_else(|| format!("definition refused: {e}"))?;
            return if e.to_string().contains(want) {
                Ok(())
            } else {
                Err(format!("refused with {e}, expected it to contain {want}"))
            };
        }
    };
    if let Some(want) = expected["invalid"].as_str() {
        return Err(format!(
            "definition accepted; expected it refused with {want}"
        ));
    }
    let input = read(dir, "input.json").unwrap_or(json!({}));
    let script: HashMap<String, Vec<Value>> = read(dir, "tasks.json")
        .map(|v| serde_json::from_value(v).expect("tasks.json maps resources to lists"))
        .unwrap_or_default();
    let tokens = Arc::new(Tokens::default());
    let integrations = Arc::new(Scripted {
        script,
        calls: Mutex::new(HashMap::new()),
        tokens: tokens.clone(),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let (outcome, events) = rt.block_on(async {
        let mut run = Run::new(
            RunSpec {
                execution_arn: "arn:aws:states:us-east-1:000000000000:execution:corpus:case".into(),
                execution_name: "case".into(),
                machine_arn: "arn:aws:states:us-east-1:000000000000:stateMachine:corpus".into(),
                machine_name: "corpus".into(),
                role_arn: "arn:aws:iam::000000000000:role/corpus".into(),
                input: input.clone(),
                start_ms: 1_767_225_600_000,
                last_event_id: 0,
                keep_history: true,
                trace_header: None,
            },
            integrations.clone(),
            tokens,
            None,
        );
        run.set_clock_base(1_767_225_600_000);
        let r = run.execute(machine, None).await;
        (r, run.history())
    });
    let mut problems = Vec::new();
    match (&outcome, expected.get("output"), expected.get("error")) {
        (Ok(out), Some(want), None) if out == want => {}
        (Err(f), None, Some(want)) if f.error == *want => {
            if let Some(c) = expected.get("cause").and_then(Value::as_str)
                && !f.cause.contains(c)
            {
                problems.push(format!("cause {:?} does not contain {c:?}", f.cause));
            }
        }
        _ => problems.push(format!(
            "outcome {outcome:?}, expected output {:?} error {:?}",
            expected.get("output"),
            expected.get("error")
        )),
    }
    let types: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    if let Some(want) = expected.get("events").and_then(Value::as_array) {
        let want: Vec<&str> = want.iter().filter_map(Value::as_str).collect();
        if types != want {
            problems.push(format!("events {types:?}\n  expected {want:?}"));
        }
    }
    // Every event follows an earlier one; ids count up from 1.
    for (i, e) in events.iter().enumerate() {
        if e.id != i as u64 + 1 || e.previous >= e.id {
            problems.push(format!(
                "event {} has id {} and previous {}",
                i + 1,
                e.id,
                e.previous
            ));
        }
    }
    if let Some(want) = expected.get("seconds").and_then(Value::as_f64) {
        let took = (events.last().map(|e| e.timestamp_ms).unwrap_or(0) - events[0].timestamp_ms)
            as f64
            / 1000.0;
        if (took - want).abs() > 0.01 {
            problems.push(format!("took {took} virtual seconds, expected {want}"));
        }
    }
    if let Some(want) = expected.get("calls").and_then(Value::as_object) {
        let calls = integrations.calls.lock().unwrap();
        for (resource, inputs) in want {
            let got = calls.get(resource).cloned().unwrap_or_default();
            if Value::Array(got.clone()) != *inputs {
                problems.push(format!(
                    "{resource} was called with {got:?}, expected {inputs}"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}

#[test]
fn conformance_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/workflows");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 20, "the corpus has {} cases", dirs.len());
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|d| {
            run_case(d)
                .err()
                .map(|e| format!("{}: {e}", d.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
