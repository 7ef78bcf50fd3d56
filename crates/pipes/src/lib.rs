//! EventBridge Pipes: point-to-point integrations from a source to a
//! target. A pipe reads its source (an SQS queue or a DynamoDB stream)
//! through a mapping of the trigger pollers, which bring batching,
//! `FilterCriteria`, visibility and deletes, stream checkpoints, retries and
//! dead-letter queues; each batch that passes the filter goes through the
//! optional enrichment (a function, or an EXPRESS state machine run
//! synchronously) and then to the target: a function, a queue, a state
//! machine or an event bus, each event shaped by the target's
//! `InputTemplate` ([`run`]). A function target's `batchItemFailures` fail
//! just those records, as Pipes handles partial batch failures.
//!
//! Pipes act as their `RoleArn`: it must be allowed to read the source,
//! invoke the enrichment and reach the target.

mod run;
pub mod template;

pub use run::Machines;

use nimbus_invoke::permissions::Permissions;
use nimbus_invoke::{Invoker, Outbox};
use nimbus_model::time::now_millis;
use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use nimbus_triggers::Triggers;
use nimbus_triggers::pipes::{PipeLink, PipeSource};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `NotFoundException`.
    #[error("{0}")]
    NotFound(String),
    /// `ConflictException`.
    #[error("{0}")]
    Conflict(String),
    /// `ValidationException`.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Storage(#[from] nimbus_storage::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A pipe as stored: what `CreatePipe` / `UpdatePipe` said, and the mapping
/// that feeds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipe {
    pub format: u32,
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    /// `RUNNING` or `STOPPED`.
    pub desired_state: String,
    pub source: String,
    pub source_parameters: Value,
    pub enrichment: Option<String>,
    pub enrichment_parameters: Value,
    pub target: String,
    pub target_parameters: Value,
    pub role_arn: String,
    pub tags: BTreeMap<String, String>,
    pub created_ms: u64,
    pub modified_ms: u64,
    /// The trigger mapping that reads the source for it.
    pub mapping: String,
}

impl Record for Pipe {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

/// `CreatePipe`'s members (and `UpdatePipe`'s, which may leave any out).
#[derive(Debug, Clone, Default)]
pub struct PipeInput {
    pub name: String,
    pub description: Option<String>,
    pub desired_state: Option<String>,
    pub source: Option<String>,
    pub source_parameters: Option<Value>,
    pub enrichment: Option<String>,
    pub enrichment_parameters: Option<Value>,
    pub target: Option<String>,
    pub target_parameters: Option<Value>,
    pub role_arn: Option<String>,
    pub tags: BTreeMap<String, String>,
}

pub struct Pipes {
    kv: Arc<dyn KvEngine>,
    pipes: Records<Pipe>,
    triggers: Arc<Triggers>,
    invoker: Arc<dyn Invoker>,
    outbox: Arc<dyn Outbox>,
    machines: OnceLock<Arc<dyn Machines>>,
    permissions: Option<Arc<dyn Permissions>>,
    account: String,
    region: String,
}

fn invalid(m: impl Into<String>) -> Error {
    Error::Invalid(m.into())
}

/// What kind of resource an ARN names, as a pipe's source, enrichment or
/// target.
pub(crate) fn kind(arn: &str) -> Option<&'static str> {
    if arn.starts_with("arn:aws:lambda:") && arn.contains(":function:") {
        Some("lambda")
    } else if arn.starts_with("arn:aws:sqs:") {
        Some("sqs")
    } else if arn.starts_with("arn:aws:states:") && arn.contains(":stateMachine:") {
        Some("states")
    } else if arn.starts_with("arn:aws:events:") && arn.contains(":event-bus/") {
        Some("events")
    } else if arn.starts_with("arn:aws:dynamodb:") && arn.contains("/stream/") {
        Some("dynamodb")
    } else {
        None
    }
}

impl Pipes {
    pub fn open(
        kv: Arc<dyn KvEngine>,
        triggers: Arc<Triggers>,
        invoker: Arc<dyn Invoker>,
        outbox: Arc<dyn Outbox>,
        permissions: Option<Arc<dyn Permissions>>,
        account: &str,
        region: &str,
    ) -> Result<Pipes> {
        Ok(Pipes {
            pipes: Records::open(kv.clone(), Table("pipes"), FORMAT)?,
            kv,
            triggers,
            invoker,
            outbox,
            machines: OnceLock::new(),
            permissions,
            account: account.to_string(),
            region: region.to_string(),
        })
    }

    /// The state machine service, for enrichments and synchronous targets.
    pub fn set_machines(&self, machines: Arc<dyn Machines>) {
        let _ = self.machines.set(machines);
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn arn(&self, name: &str) -> String {
        format!("arn:aws:pipes:{}:{}:pipe/{name}", self.region, self.account)
    }

    pub fn pipe(&self, name: &str) -> Result<Arc<Pipe>> {
        self.pipes
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("Pipe {name} does not exist.")))
    }

    pub(crate) fn by_arn(&self, arn: &str) -> Option<Arc<Pipe>> {
        self.pipes.get(arn.rsplit_once("pipe/")?.1)
    }

    /// Pipes whose names start with `prefix`, by name.
    pub fn pipes(&self, prefix: Option<&str>) -> Vec<Arc<Pipe>> {
        let mut v: Vec<_> = self
            .pipes
            .all()
            .into_iter()
            .filter(|p| prefix.is_none_or(|x| p.name.starts_with(x)))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Check what a pipe is made of, as CreatePipe and UpdatePipe do.
    fn check(&self, p: &Pipe) -> Result<()> {
        let valid_name = !p.name.is_empty()
            && p.name.len() <= 64
            && p.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !valid_name {
            return Err(invalid(format!(
                "1 validation error detected: Value '{}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
                p.name
            )));
        }
        if !p.role_arn.starts_with("arn:aws:iam::") || !p.role_arn.contains(":role/") {
            return Err(invalid(format!(
                "1 validation error detected: Value '{}' at 'roleArn' failed to satisfy constraint: Member must be a role ARN",
                p.role_arn
            )));
        }
        if !matches!(p.desired_state.as_str(), "RUNNING" | "STOPPED") {
            return Err(invalid(format!(
                "1 validation error detected: Value '{}' at 'desiredState' failed to satisfy constraint: Member must satisfy enum value set: [RUNNING, STOPPED]",
                p.desired_state
            )));
        }
        if !matches!(kind(&p.source), Some("sqs" | "dynamodb")) {
            return Err(invalid(format!(
                "Source {} is not supported: Nimbus pipes read SQS queues and DynamoDB streams",
                p.source
            )));
        }
        if let Some(e) = &p.enrichment {
            if !matches!(kind(e), Some("lambda" | "states")) {
                return Err(invalid(format!(
                    "Enrichment {e} is not supported: use a Lambda function or a Step Functions state machine"
                )));
            }
            if !self.outbox.exists(e) {
                return Err(Error::NotFound(format!("Enrichment {e} does not exist.")));
            }
        }
        if !matches!(
            kind(&p.target),
            Some("lambda" | "sqs" | "states" | "events")
        ) {
            return Err(invalid(format!(
                "Target {} is not supported: Nimbus pipes deliver to Lambda functions, SQS queues, Step Functions state machines and event buses",
                p.target
            )));
        }
        if !self.outbox.exists(&p.target) {
            return Err(Error::NotFound(format!(
                "Target {} does not exist.",
                p.target
            )));
        }
        for f in filters(&p.source_parameters) {
            nimbus_triggers::filter::check_pattern(&f)
                .map_err(|why| invalid(format!("Invalid FilterCriteria pattern: {why}")))?;
        }
        Ok(())
    }

    /// Point the pipe's mapping at its source, running or not as desired.
    fn feed(&self, p: &Pipe) -> Result<()> {
        let params = &p.source_parameters;
        let stream = params.get("DynamoDBStreamParameters");
        let queue = params.get("SqsQueueParameters");
        let given = stream.or(queue);
        let number = |k: &str| given.and_then(|g| g.get(k)).and_then(Value::as_i64);
        let small = |k: &str| number(k).and_then(|n| u32::try_from(n).ok());
        let source = PipeSource {
            source_arn: p.source.clone(),
            batch_size: small("BatchSize"),
            max_batching_window_secs: small("MaximumBatchingWindowInSeconds"),
            filters: filters(params),
            enabled: p.desired_state == "RUNNING",
            starting_position: stream
                .and_then(|s| s.get("StartingPosition"))
                .and_then(Value::as_str)
                .map(str::to_string),
            maximum_retry_attempts: number("MaximumRetryAttempts"),
            maximum_record_age_secs: number("MaximumRecordAgeInSeconds"),
            bisect_on_error: stream
                .and_then(|s| s.get("OnPartialBatchItemFailure"))
                .and_then(Value::as_str)
                == Some("AUTOMATIC_BISECT"),
            dead_letter: stream
                .and_then(|s| s.pointer("/DeadLetterConfig/Arn"))
                .and_then(Value::as_str)
                .map(str::to_string),
            parallelization_factor: small("ParallelizationFactor"),
        };
        let link = PipeLink {
            arn: p.arn.clone(),
            name: p.name.clone(),
            role_arn: p.role_arn.clone(),
        };
        self.triggers
            .put_pipe_mapping(&p.mapping, link, source)
            .map_err(|e| match e {
                nimbus_triggers::Error::NotFound(m) => Error::NotFound(m),
                other => invalid(other.to_string()),
            })
    }

    pub fn create_pipe(&self, input: PipeInput) -> Result<Arc<Pipe>> {
        if self.pipes.get(&input.name).is_some() {
            return Err(Error::Conflict(format!(
                "Pipe {} already exists.",
                input.name
            )));
        }
        let now = now_millis();
        let required = |v: Option<String>, member: &str| {
            v.ok_or_else(|| {
                invalid(format!(
                    "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
                ))
            })
        };
        let p = Pipe {
            format: FORMAT,
            arn: self.arn(&input.name),
            name: input.name.clone(),
            description: input.description,
            desired_state: input.desired_state.unwrap_or_else(|| "RUNNING".into()),
            source: required(input.source, "source")?,
            source_parameters: input
                .source_parameters
                .unwrap_or_else(|| Value::Object(Default::default())),
            enrichment: input.enrichment.filter(|e| !e.is_empty()),
            enrichment_parameters: input
                .enrichment_parameters
                .unwrap_or_else(|| Value::Object(Default::default())),
            target: required(input.target, "target")?,
            target_parameters: input
                .target_parameters
                .unwrap_or_else(|| Value::Object(Default::default())),
            role_arn: required(input.role_arn, "roleArn")?,
            tags: input.tags,
            created_ms: now,
            modified_ms: now,
            mapping: uuid::Uuid::new_v4().to_string(),
        };
        self.check(&p)?;
        self.feed(&p)?;
        if let Err(e) = self.pipes.put(p.clone()) {
            let _ = self.triggers.remove_mapping(&p.mapping);
            return Err(e.into());
        }
        self.pipe(&p.name)
    }

    /// `UpdatePipe`: what is given replaces what was (the source stays).
    pub fn update_pipe(&self, input: PipeInput) -> Result<Arc<Pipe>> {
        let old = self.pipe(&input.name)?;
        let mut p = (*old).clone();
        if let Some(d) = input.description {
            p.description = Some(d);
        }
        if let Some(s) = input.desired_state {
            p.desired_state = s;
        }
        if let Some(sp) = input.source_parameters {
            // The source's own settings may change; its starting position not.
            merge(&mut p.source_parameters, sp);
        }
        if let Some(e) = input.enrichment {
            p.enrichment = Some(e).filter(|e| !e.is_empty());
        }
        if let Some(ep) = input.enrichment_parameters {
            p.enrichment_parameters = ep;
        }
        if let Some(t) = input.target {
            p.target = t;
        }
        if let Some(tp) = input.target_parameters {
            p.target_parameters = tp;
        }
        if let Some(r) = input.role_arn {
            p.role_arn = r;
        }
        p.modified_ms = now_millis();
        self.check(&p)?;
        self.feed(&p)?;
        self.pipes.put(p)?;
        self.pipe(&input.name)
    }

    /// `StartPipe` / `StopPipe`.
    pub fn set_desired_state(&self, name: &str, running: bool) -> Result<Arc<Pipe>> {
        let mut p = (*self.pipe(name)?).clone();
        p.desired_state = if running { "RUNNING" } else { "STOPPED" }.into();
        p.modified_ms = now_millis();
        self.feed(&p)?;
        self.pipes.put(p)?;
        self.pipe(name)
    }

    pub fn delete_pipe(&self, name: &str) -> Result<Arc<Pipe>> {
        let p = self.pipe(name)?;
        self.triggers
            .remove_mapping(&p.mapping)
            .map_err(|e| invalid(e.to_string()))?;
        self.pipes.delete(name)?;
        Ok(p)
    }

    pub fn tag(&self, arn: &str, add: BTreeMap<String, String>, remove: &[String]) -> Result<()> {
        let name = arn
            .rsplit_once("pipe/")
            .map(|(_, n)| n.to_string())
            .unwrap_or_default();
        let changed = self.pipes.change(&name, |p| {
            p.tags.retain(|k, _| !remove.contains(k));
            p.tags.extend(add);
            Ok::<_, Error>(())
        })?;
        changed
            .map(|_| ())
            .ok_or_else(|| Error::NotFound(format!("Pipe {name} does not exist.")))
    }

    /// Run the mappings of pipes made before a restart: nothing to do, the
    /// trigger supervisor keeps every enabled mapping polling.
    pub fn runner(self: &Arc<Self>) -> Arc<dyn nimbus_triggers::pipes::PipeRunner> {
        self.clone()
    }
}

/// The `FilterCriteria` patterns of a pipe's source parameters.
fn filters(params: &Value) -> Vec<String> {
    params
        .pointer("/FilterCriteria/Filters")
        .and_then(Value::as_array)
        .map(|fs| {
            fs.iter()
                .filter_map(|f| f.get("Pattern").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Replace `into`'s members by `from`'s, one level down for objects.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing @ Value::Object(_)) if v.is_object() => merge(existing, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests;
