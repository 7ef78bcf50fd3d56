//! A batch through a pipe: the enrichment (a function invoked synchronously
//! with the batch as a JSON array, or an EXPRESS state machine run
//! synchronously; what it answers is the batch from then on, an empty answer
//! ending it), then the target with each event shaped by its
//! `InputTemplate`:
//!
//! - a function gets the batch as a JSON array, synchronously
//!   (`REQUEST_RESPONSE`, its `batchItemFailures` honoured) or as a durable
//!   asynchronous invocation (`FIRE_AND_FORGET`);
//! - a queue one message per event (`MessageGroupId` and
//!   `MessageDeduplicationId` from the target's parameters, `$.` paths read
//!   from the event);
//! - a state machine one execution with the batch as its input, started
//!   durably (`FIRE_AND_FORGET`, the default) or run synchronously
//!   (`REQUEST_RESPONSE`, EXPRESS machines);
//! - an event bus one event per event (`Source` `Pipe <name>` and
//!   `DetailType` `Event from <source type>` unless the parameters say).
//!
//! Everything staged through the outbox is committed before the batch counts
//! as delivered, so a delivered batch survives a crash.

use crate::template::{self, Context};
use crate::{Pipe, Pipes, kind};
use nimbus_invoke::permissions::Acting;
use nimbus_invoke::{BoxFuture, Delivery, InvokeRequest};
use nimbus_storage::WriteBatch;
use serde_json::{Value, json};

/// Synchronous runs of state machines, for enrichments and
/// `REQUEST_RESPONSE` targets.
pub trait Machines: Send + Sync {
    /// Run `arn` (an EXPRESS machine) on `input`: its output, or why it
    /// failed.
    fn run_sync<'a>(
        &'a self,
        arn: &'a str,
        input: String,
    ) -> BoxFuture<'a, std::result::Result<String, String>>;
}

type Outcome = std::result::Result<Vec<u8>, String>;

/// A function's or machine's answer as the events that follow: an array's
/// elements, nothing for `null` or `[]`, otherwise the one value.
fn as_events(answer: &[u8]) -> Vec<Value> {
    match serde_json::from_slice::<Value>(answer) {
        Ok(Value::Array(a)) => a,
        Ok(Value::Null) => Vec::new(),
        Ok(v) => vec![v],
        Err(_) if answer.iter().all(u8::is_ascii_whitespace) => Vec::new(),
        Err(_) => vec![Value::String(String::from_utf8_lossy(answer).into_owned())],
    }
}

/// A queue message's body or a function's event from one value: a string
/// as it is, anything else as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Pipes {
    fn context<'a>(&self, p: &'a Pipe) -> Context<'a> {
        Context {
            pipe_arn: &p.arn,
            pipe_name: &p.name,
            source_arn: &p.source,
            enrichment_arn: p.enrichment.as_deref().unwrap_or(""),
            target_arn: &p.target,
        }
    }

    /// The role may do `action` on `resource`, or why not.
    fn allowed(&self, p: &Pipe, action: &str, resource: &str) -> std::result::Result<(), String> {
        let acting = Acting::Role {
            role_arn: &p.role_arn,
            session: &p.name,
        };
        nimbus_invoke::permissions::check(self.permissions.as_deref(), acting, action, resource)
            .map_err(|e| format!("the pipe's role may not {action} on {resource}: {e}"))
    }

    /// Invoke a function synchronously with `payload`: its answer, or why
    /// the call failed.
    async fn call_function(&self, arn: &str, payload: String) -> Outcome {
        let target = self.invoker.target(arn).map_err(|e| e.to_string())?;
        let req = InvokeRequest::sync(target.name, target.qualifier, bytes::Bytes::from(payload));
        let out = self.invoker.invoke(req).await.map_err(|e| e.to_string())?;
        match out.function_error {
            Some(kind) => Err(format!(
                "{arn} failed ({kind}): {}",
                String::from_utf8_lossy(&out.payload)
            )),
            None => Ok(out.payload.to_vec()),
        }
    }

    async fn run_machine(&self, arn: &str, input: String) -> Outcome {
        let machines = self
            .machines
            .get()
            .ok_or("there are no state machines to run")?;
        machines.run_sync(arn, input).await.map(String::into_bytes)
    }

    /// The batch after the enrichment.
    async fn enrich(
        &self,
        p: &Pipe,
        enrichment: &str,
        events: Vec<Value>,
    ) -> std::result::Result<Vec<Value>, String> {
        let ctx = self.context(p);
        let inputs: Vec<Value> = match p
            .enrichment_parameters
            .get("InputTemplate")
            .and_then(Value::as_str)
        {
            Some(t) => events.iter().map(|e| template::apply(t, e, &ctx)).collect(),
            None => events,
        };
        let payload = Value::Array(inputs).to_string();
        let answer = if kind(enrichment) == Some("states") {
            self.allowed(p, "states:StartSyncExecution", enrichment)?;
            self.run_machine(enrichment, payload).await?
        } else {
            self.allowed(p, "lambda:InvokeFunction", enrichment)?;
            self.call_function(enrichment, payload).await?
        };
        Ok(as_events(&answer))
    }

    /// Stage deliveries made by `each` in one batch and commit them.
    fn commit_staged(
        &self,
        each: impl FnOnce(&mut WriteBatch) -> std::result::Result<Vec<nimbus_invoke::Staged>, String>,
    ) -> Outcome {
        let mut batch = WriteBatch::default();
        let staged = each(&mut batch)?;
        self.kv.commit(batch).map_err(|e| e.to_string())?;
        self.outbox.committed(staged);
        Ok(b"{}".to_vec())
    }

    /// A FIFO id for `event`: the parameter as given, or the value of a
    /// `$.` path in it.
    fn id_for(param: Option<&Value>, event: &Value) -> Option<String> {
        let p = param?.as_str()?;
        if p.starts_with("$.") {
            let view = template::apply(
                &format!("<{p}>"),
                event,
                &Context {
                    pipe_arn: "",
                    pipe_name: "",
                    source_arn: "",
                    enrichment_arn: "",
                    target_arn: "",
                },
            );
            return Some(text(&view));
        }
        Some(p.to_string())
    }

    /// Deliver the batch to the pipe's target.
    async fn to_target(&self, p: &Pipe, events: Vec<Value>) -> Outcome {
        let ctx = self.context(p);
        let params = &p.target_parameters;
        let inputs: Vec<Value> = match params.get("InputTemplate").and_then(Value::as_str) {
            Some(t) => events.iter().map(|e| template::apply(t, e, &ctx)).collect(),
            None => events.clone(),
        };
        let target = p.target.as_str();
        match kind(target) {
            Some("lambda") => {
                self.allowed(p, "lambda:InvokeFunction", target)?;
                let payload = Value::Array(inputs).to_string();
                let fire = params
                    .pointer("/LambdaFunctionParameters/InvocationType")
                    .and_then(Value::as_str)
                    == Some("FIRE_AND_FORGET");
                if fire {
                    return self.commit_staged(|b| {
                        let s = self
                            .outbox
                            .stage(target, payload.as_bytes(), None, b)
                            .map_err(|e| e.to_string())?;
                        Ok(vec![s])
                    });
                }
                self.call_function(target, payload).await
            }
            Some("states") => {
                let payload = Value::Array(inputs).to_string();
                let sync = params
                    .pointer("/StepFunctionStateMachineParameters/InvocationType")
                    .and_then(Value::as_str)
                    == Some("REQUEST_RESPONSE");
                if sync {
                    self.allowed(p, "states:StartSyncExecution", target)?;
                    self.run_machine(target, payload).await?;
                    return Ok(b"{}".to_vec());
                }
                self.allowed(p, "states:StartExecution", target)?;
                self.commit_staged(|b| {
                    let s = self
                        .outbox
                        .stage(target, payload.as_bytes(), None, b)
                        .map_err(|e| e.to_string())?;
                    Ok(vec![s])
                })
            }
            Some("sqs") => {
                self.allowed(p, "sqs:SendMessage", target)?;
                let q = params.get("SqsQueueParameters");
                self.commit_staged(|b| {
                    let mut staged = Vec::new();
                    for (input, event) in inputs.iter().zip(&events) {
                        let body = text(input);
                        let mut d = Delivery::new(body.as_bytes(), None);
                        d.group_id = Self::id_for(q.and_then(|q| q.get("MessageGroupId")), event);
                        d.dedup_id =
                            Self::id_for(q.and_then(|q| q.get("MessageDeduplicationId")), event);
                        staged.push(
                            self.outbox
                                .stage_delivery(target, &d, b)
                                .map_err(|e| e.to_string())?,
                        );
                    }
                    Ok(staged)
                })
            }
            Some("events") => {
                self.allowed(p, "events:PutEvents", target)?;
                let bus = params.get("EventBridgeEventBusParameters");
                let given = |k: &str| bus.and_then(|b| b.get(k)).and_then(Value::as_str);
                let source_type = events
                    .first()
                    .and_then(|e| e.get("eventSource"))
                    .and_then(Value::as_str)
                    .unwrap_or("aws:sqs")
                    .to_string();
                let resources = bus
                    .and_then(|b| b.get("Resources"))
                    .cloned()
                    .unwrap_or_else(|| json!([]));
                self.commit_staged(|b| {
                    let mut staged = Vec::new();
                    for input in &inputs {
                        let event = json!({
                            "version": "0", "id": uuid::Uuid::new_v4().to_string(),
                            "detail-type": given("DetailType").map_or_else(|| format!("Event from {source_type}"), str::to_string),
                            "source": given("Source").map_or_else(|| format!("Pipe {}", p.name), str::to_string),
                            "account": self.account,
                            "time": nimbus_model::time::Utc::from_millis(nimbus_model::time::now_millis()).rfc3339_seconds(),
                            "region": self.region, "resources": resources,
                            "detail": input,
                        });
                        staged.push(
                            self.outbox
                                .stage(target, event.to_string().as_bytes(), None, b)
                                .map_err(|e| e.to_string())?,
                        );
                    }
                    Ok(staged)
                })
            }
            _ => Err(format!("{target} is not a target Nimbus pipes deliver to")),
        }
    }

    /// One batch through the pipe `arn`.
    async fn run_batch(&self, arn: &str, records: Vec<Value>) -> Outcome {
        let p = self
            .by_arn(arn)
            .ok_or_else(|| format!("{arn} no longer exists"))?;
        let mut events = records;
        if let Some(enrichment) = &p.enrichment {
            events = self.enrich(&p, enrichment, events).await?;
            if events.is_empty() {
                return Ok(b"{}".to_vec());
            }
        }
        self.to_target(&p, events).await
    }
}

impl nimbus_triggers::pipes::PipeRunner for Pipes {
    fn run<'a>(
        &'a self,
        pipe_arn: &'a str,
        records: Vec<Value>,
    ) -> BoxFuture<'a, nimbus_triggers::pipes::PipeOutcome> {
        Box::pin(self.run_batch(pipe_arn, records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_the_events_that_follow() {
        assert_eq!(as_events(b"[1, 2]"), vec![json!(1), json!(2)]);
        assert!(as_events(b"null").is_empty());
        assert!(as_events(b"  ").is_empty());
        assert_eq!(as_events(b"{\"a\": 1}"), vec![json!({"a": 1})]);
        assert_eq!(as_events(b"plain"), vec![json!("plain")]);
    }
}
