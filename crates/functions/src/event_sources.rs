//! Event source mappings from queues to functions, with Lambda's semantics:
//! pollers receive batches (`BatchSize`, `MaximumBatchingWindowInSeconds`), invoke
//! the function synchronously with SQS's record shape, and delete what was
//! handled: everything on success, nothing on a function error (the messages
//! come back after their visibility timeout, and move to the queue's dead-letter
//! queue by its redrive policy), and with `ReportBatchItemFailures` everything
//! but the `batchItemFailures` the function reported. Pollers scale with the
//! backlog up to `ScalingConfig.MaximumConcurrency`.
//!
//! Mappings from table streams run one poller each, in order; their delivery
//! (retries, bisection, checkpoints) is in [`crate::stream_sources`].
//! `FilterCriteria` drops records that match no filter ([`crate::event_filter`]).
//!
//! The queue service is reached through [`QueueSource`] and table streams
//! through [`crate::stream_sources::StreamSource`], so this crate depends on
//! neither.

use crate::{Error, Functions, Result};
use nimbus_invoke::{BoxFuture, InvocationType, InvokeError, InvokeRequest};
use nimbus_storage::{Table, WriteBatch};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Weak};

pub(crate) const MAPPINGS: Table = Table("event_source_mappings");
/// Pollers per mapping when `ScalingConfig` says nothing (Lambda starts with 5
/// concurrent batches for a queue).
const DEFAULT_POLLERS: u32 = 5;
const REPORT_BATCH_ITEM_FAILURES: &str = "ReportBatchItemFailures";

/// One received message, ready to hand to a function.
#[derive(Debug, Clone)]
pub struct SourceMessage {
    pub message_id: String,
    pub receipt_handle: String,
    /// The record as Lambda's SQS event has it (`messageId`, `body`, ...).
    pub record: serde_json::Value,
}

/// A queue service that event source mappings read from.
pub trait QueueSource: Send + Sync {
    fn exists(&self, arn: &str) -> bool;
    /// Up to `max` messages, waiting up to `wait_secs` for the first.
    fn receive(
        &self,
        arn: &str,
        max: usize,
        wait_secs: u64,
    ) -> BoxFuture<'_, std::result::Result<Vec<SourceMessage>, String>>;
    fn delete(&self, arn: &str, receipt_handle: &str) -> std::result::Result<(), String>;
    /// Messages waiting to be received (for scaling pollers).
    fn backlog(&self, arn: &str) -> usize;
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mapping {
    pub uuid: String,
    pub function_name: String,
    /// A version or alias the mapping invokes, if not `$LATEST`.
    pub qualifier: Option<String>,
    pub event_source_arn: String,
    pub batch_size: u32,
    pub max_batching_window_secs: u32,
    pub enabled: bool,
    pub function_response_types: Vec<String>,
    pub maximum_concurrency: Option<u32>,
    pub last_modified_ms: u64,
    /// `FilterCriteria.Filters[].Pattern`s.
    #[serde(default)]
    pub filters: Vec<String>,
    /// Settings of a stream source (absent for queues).
    #[serde(default)]
    pub stream: Option<StreamSettings>,
}

/// What only stream mappings have.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamSettings {
    /// TRIM_HORIZON or LATEST.
    pub starting_position: String,
    /// -1: retry until the record expires.
    pub maximum_retry_attempts: i64,
    /// -1: no limit (the stream's 24 hours).
    pub maximum_record_age_secs: i64,
    pub bisect_on_error: bool,
    /// `DestinationConfig.OnFailure.Destination` (a queue ARN).
    pub on_failure: Option<String>,
    pub parallelization_factor: u32,
    /// The next sequence number to deliver.
    pub checkpoint: u64,
    /// What happened to the last batch (`LastProcessingResult`).
    #[serde(default)]
    pub last_result: String,
}

impl Mapping {
    pub fn is_stream(&self) -> bool {
        self.stream.is_some()
    }
}

/// Create or update input (`None`: keep, or the default on create).
#[derive(Debug, Clone, Default)]
pub struct MappingInput {
    pub function: Option<String>,
    pub event_source_arn: Option<String>,
    pub batch_size: Option<u32>,
    pub max_batching_window_secs: Option<u32>,
    pub enabled: Option<bool>,
    pub function_response_types: Option<Vec<String>>,
    pub maximum_concurrency: Option<Option<u32>>,
    pub filters: Option<Vec<String>>,
    pub starting_position: Option<String>,
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_record_age_secs: Option<i64>,
    pub bisect_on_error: Option<bool>,
    /// Some(None) removes it.
    pub on_failure: Option<Option<String>>,
    pub parallelization_factor: Option<u32>,
}

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidParameter(m.into())
}

fn validate(m: &Mapping) -> Result<()> {
    if !(1..=10_000).contains(&m.batch_size) {
        return Err(invalid(if m.is_stream() {
            "BatchSize must be between 1 and 10000 for Amazon DynamoDB stream event sources"
        } else {
            "BatchSize must be between 1 and 10000 for Amazon SQS event sources"
        }));
    }
    if m.filters.len() > 5 {
        return Err(invalid("FilterCriteria may hold at most 5 filters"));
    }
    for f in &m.filters {
        crate::event_filter::check_pattern(f)
            .map_err(|why| invalid(format!("Invalid filter pattern definition: {why}")))?;
    }
    if let Some(s) = &m.stream {
        if !matches!(s.starting_position.as_str(), "TRIM_HORIZON" | "LATEST") {
            return Err(invalid(format!(
                "Unsupported starting position {} for DynamoDB streams: use TRIM_HORIZON or LATEST",
                s.starting_position
            )));
        }
        if !(s.maximum_retry_attempts == -1 || (0..=10_000).contains(&s.maximum_retry_attempts)) {
            return Err(invalid("MaximumRetryAttempts must be between -1 and 10000"));
        }
        if !(s.maximum_record_age_secs == -1 || (60..=604_800).contains(&s.maximum_record_age_secs))
        {
            return Err(invalid(
                "MaximumRecordAgeInSeconds must be -1 or between 60 and 604800",
            ));
        }
        if !(1..=10).contains(&s.parallelization_factor) {
            return Err(invalid("ParallelizationFactor must be between 1 and 10"));
        }
        if let Some(d) = &s.on_failure
            && !d.starts_with("arn:aws:sqs:")
        {
            return Err(invalid(format!(
                "Unsupported OnFailure destination {d}: Nimbus delivers stream failures to SQS queues"
            )));
        }
        if m.max_batching_window_secs > 300 {
            return Err(invalid(
                "MaximumBatchingWindowInSeconds must be between 0 and 300",
            ));
        }
        return Ok(());
    }
    if m.max_batching_window_secs > 300 {
        return Err(invalid(
            "MaximumBatchingWindowInSeconds must be between 0 and 300",
        ));
    }
    if m.batch_size > 10 && m.max_batching_window_secs == 0 {
        return Err(invalid(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
        ));
    }
    if let Some(t) = m
        .function_response_types
        .iter()
        .find(|t| *t != REPORT_BATCH_ITEM_FAILURES)
    {
        return Err(invalid(format!(
            "FunctionResponseTypes may only contain ReportBatchItemFailures, not {t}"
        )));
    }
    if let Some(c) = m.maximum_concurrency
        && !(2..=1000).contains(&c)
    {
        return Err(invalid(
            "ScalingConfig.MaximumConcurrency must be between 2 and 1000",
        ));
    }
    Ok(())
}

/// Which of a batch to delete after the function answered `payload`
/// successfully: `None` means none (an invalid failure report fails the batch).
pub fn handled(
    batch: &[SourceMessage],
    payload: &[u8],
    report_failures: bool,
) -> Option<Vec<usize>> {
    let all: Vec<usize> = (0..batch.len()).collect();
    if !report_failures {
        return Some(all);
    }
    let v: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        // Not JSON (or empty): a success with nothing reported.
        Err(_) => return Some(all),
    };
    let failures = match v.get("batchItemFailures") {
        None | Some(serde_json::Value::Null) => return Some(all),
        Some(serde_json::Value::Array(a)) => a,
        Some(_) => return None,
    };
    let mut failed = Vec::new();
    for f in failures {
        let id = f.get("itemIdentifier").and_then(|i| i.as_str())?;
        let i = batch.iter().position(|m| m.message_id == id)?;
        failed.push(i);
    }
    // FIFO: after a failed message, the rest of its group stays too (order).
    let group = |i: usize| {
        batch[i].record["attributes"]["MessageGroupId"]
            .as_str()
            .map(str::to_string)
    };
    Some(
        all.into_iter()
            .filter(|&i| {
                !failed.contains(&i)
                    && !failed
                        .iter()
                        .any(|&f| f < i && group(f).is_some() && group(f) == group(i))
            })
            .collect(),
    )
}

/// Running pollers of each mapping.
#[derive(Default)]
pub(crate) struct Pollers {
    running: HashMap<String, Vec<tokio::task::AbortHandle>>,
}

impl Functions {
    /// Connect the queue service for event source mappings (set once, at start).
    pub fn set_queue_source(&self, source: Arc<dyn QueueSource>) {
        let _ = self.queue_source.set(source);
    }

    pub(crate) fn mapping_record(&self, uuid: &str) -> Result<Mapping> {
        let v = self.kv.get(MAPPINGS, uuid.as_bytes())?.ok_or_else(|| {
            Error::NotFound(format!(
                "The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: {uuid})"
            ))
        })?;
        serde_json::from_slice(&v).map_err(|e| Error::Internal(e.to_string()))
    }

    pub(crate) fn save_mapping(&self, m: &Mapping) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(
            MAPPINGS,
            m.uuid.as_bytes(),
            serde_json::to_vec(m).map_err(|e| Error::Internal(e.to_string()))?,
        );
        self.kv.commit(b)?;
        Ok(())
    }

    pub fn list_mappings(
        &self,
        function: Option<&str>,
        source: Option<&str>,
    ) -> Result<Vec<Mapping>> {
        let mut out = Vec::new();
        for (_, v) in self.kv.scan_prefix(MAPPINGS, b"")? {
            let m: Mapping =
                serde_json::from_slice(&v).map_err(|e| Error::Internal(e.to_string()))?;
            if function.is_some_and(|f| f != m.function_name) {
                continue;
            }
            if source.is_some_and(|s| s != m.event_source_arn) {
                continue;
            }
            out.push(m);
        }
        out.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        Ok(out)
    }

    pub fn get_mapping(&self, uuid: &str) -> Result<Mapping> {
        self.mapping_record(uuid)
    }

    fn resolve_target(&self, function: &str) -> Result<(String, Option<String>)> {
        let r =
            nimbus_model::arn::FunctionRef::parse(function).map_err(|e| invalid(e.to_string()))?;
        self.resolve(&r.name, r.qualifier.as_deref())?;
        Ok((r.name, r.qualifier.filter(|q| q != "$LATEST")))
    }

    pub fn create_mapping(&self, input: MappingInput) -> Result<Mapping> {
        let function = input
            .function
            .clone()
            .ok_or_else(|| invalid("FunctionName is required"))?;
        let (function_name, qualifier) = self.resolve_target(&function)?;
        let source = input
            .event_source_arn
            .clone()
            .ok_or_else(|| invalid("EventSourceArn is required for Amazon SQS event sources"))?;
        if source.starts_with("arn:aws:dynamodb:") && source.contains("/stream/") {
            return self.create_stream_mapping(function_name, qualifier, source, input);
        }
        if !source.starts_with("arn:aws:sqs:") {
            return Err(invalid(format!(
                "Unsupported event source {source}: Nimbus maps SQS queues and DynamoDB streams to functions"
            )));
        }
        let exists = self.queue_source.get().is_some_and(|q| q.exists(&source));
        if !exists {
            return Err(invalid(format!(
                "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist: {source}"
            )));
        }
        if self
            .list_mappings(Some(&function_name), Some(&source))?
            .iter()
            .any(|m| m.qualifier == qualifier)
        {
            return Err(Error::Conflict(format!(
                "An event source mapping with SQS arn (\" {source} \") and function (\" {function_name} \") already exists. Please update or delete the existing mapping with UUID"
            )));
        }
        let m = Mapping {
            uuid: uuid::Uuid::new_v4().to_string(),
            function_name,
            qualifier,
            event_source_arn: source,
            batch_size: input.batch_size.unwrap_or(10),
            max_batching_window_secs: input.max_batching_window_secs.unwrap_or(0),
            enabled: input.enabled.unwrap_or(true),
            function_response_types: input.function_response_types.unwrap_or_default(),
            maximum_concurrency: input.maximum_concurrency.flatten(),
            last_modified_ms: nimbus_model::time::now_millis(),
            filters: input.filters.unwrap_or_default(),
            stream: None,
        };
        validate(&m)?;
        self.save_mapping(&m)?;
        Ok(m)
    }

    fn create_stream_mapping(
        &self,
        function_name: String,
        qualifier: Option<String>,
        source: String,
        input: MappingInput,
    ) -> Result<Mapping> {
        let streams = self
            .stream_source
            .get()
            .filter(|s| s.exists(&source))
            .ok_or_else(|| invalid(format!("Stream not found: {source}")))?;
        let starting_position = input.starting_position.clone().ok_or_else(|| {
            invalid("1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null")
        })?;
        if self
            .list_mappings(Some(&function_name), Some(&source))?
            .iter()
            .any(|m| m.qualifier == qualifier)
        {
            return Err(Error::Conflict(format!(
                "The event source arn (\" {source} \") and function (\" {function_name} \") provided mapping already exists. Please update or delete the existing mapping with UUID"
            )));
        }
        let checkpoint = if starting_position == "LATEST" {
            streams.latest(&source)
        } else {
            0
        };
        let m = Mapping {
            uuid: uuid::Uuid::new_v4().to_string(),
            function_name,
            qualifier,
            event_source_arn: source,
            batch_size: input.batch_size.unwrap_or(100),
            max_batching_window_secs: input.max_batching_window_secs.unwrap_or(0),
            enabled: input.enabled.unwrap_or(true),
            function_response_types: input.function_response_types.unwrap_or_default(),
            maximum_concurrency: None,
            last_modified_ms: nimbus_model::time::now_millis(),
            filters: input.filters.unwrap_or_default(),
            stream: Some(StreamSettings {
                starting_position,
                maximum_retry_attempts: input.maximum_retry_attempts.unwrap_or(-1),
                maximum_record_age_secs: input.maximum_record_age_secs.unwrap_or(-1),
                bisect_on_error: input.bisect_on_error.unwrap_or(false),
                on_failure: input.on_failure.flatten(),
                parallelization_factor: input.parallelization_factor.unwrap_or(1),
                checkpoint,
                last_result: "No records processed".into(),
            }),
        };
        validate(&m)?;
        self.save_mapping(&m)?;
        Ok(m)
    }

    pub fn update_mapping(&self, uuid: &str, input: MappingInput) -> Result<Mapping> {
        let mut m = self.mapping_record(uuid)?;
        if let Some(f) = input.function {
            let (name, q) = self.resolve_target(&f)?;
            m.function_name = name;
            m.qualifier = q;
        }
        if let Some(b) = input.batch_size {
            m.batch_size = b;
        }
        if let Some(w) = input.max_batching_window_secs {
            m.max_batching_window_secs = w;
        }
        if let Some(e) = input.enabled {
            m.enabled = e;
        }
        if let Some(t) = input.function_response_types {
            m.function_response_types = t;
        }
        if let Some(c) = input.maximum_concurrency {
            m.maximum_concurrency = c;
        }
        if let Some(f) = input.filters {
            m.filters = f;
        }
        if let Some(s) = m.stream.as_mut() {
            if let Some(r) = input.maximum_retry_attempts {
                s.maximum_retry_attempts = r;
            }
            if let Some(a) = input.maximum_record_age_secs {
                s.maximum_record_age_secs = a;
            }
            if let Some(b) = input.bisect_on_error {
                s.bisect_on_error = b;
            }
            if let Some(d) = input.on_failure {
                s.on_failure = d;
            }
            if let Some(p) = input.parallelization_factor {
                s.parallelization_factor = p;
            }
        }
        m.last_modified_ms = nimbus_model::time::now_millis();
        validate(&m)?;
        self.save_mapping(&m)?;
        Ok(m)
    }

    pub fn delete_mapping(&self, uuid: &str) -> Result<Mapping> {
        let m = self.mapping_record(uuid)?;
        let mut b = WriteBatch::new();
        b.delete(MAPPINGS, uuid.as_bytes());
        self.kv.commit(b)?;
        Ok(m)
    }

    /// Bring running pollers in line with the mappings (and the backlog).
    fn reconcile_pollers(self: &Arc<Self>) {
        let Ok(mappings) = self.list_mappings(None, None) else {
            return;
        };
        let source = self.queue_source.get().cloned();
        let mut pollers = self.pollers.lock().expect("pollers lock");
        pollers.running.retain(|uuid, tasks| {
            let keep = mappings.iter().any(|m| m.uuid == *uuid && m.enabled);
            if !keep {
                tasks.iter().for_each(|t| t.abort());
            }
            keep
        });
        for m in mappings.into_iter().filter(|m| m.enabled) {
            if m.is_stream() {
                // One poller per shard (one shard per stream): records stay in order.
                let tasks = pollers.running.entry(m.uuid.clone()).or_default();
                tasks.retain(|t| !t.is_finished());
                if tasks.is_empty() {
                    let me = Arc::downgrade(self);
                    tasks.push(
                        tokio::spawn(crate::stream_sources::poll_stream(me, m.uuid.clone()))
                            .abort_handle(),
                    );
                }
                continue;
            }
            let Some(source) = source.as_ref() else {
                continue;
            };
            let max = m.maximum_concurrency.unwrap_or(DEFAULT_POLLERS).max(1);
            let backlog = source.backlog(&m.event_source_arn);
            // One poller per batch waiting, within [1, max].
            let want = (backlog.div_ceil(m.batch_size.max(1) as usize) as u32).clamp(1, max);
            let tasks = pollers.running.entry(m.uuid.clone()).or_default();
            tasks.retain(|t| !t.is_finished());
            while (tasks.len() as u32) < want {
                let me = Arc::downgrade(self);
                let uuid = m.uuid.clone();
                tasks.push(tokio::spawn(poll(me, uuid)).abort_handle());
            }
        }
    }
}

/// Keeps pollers running for every enabled mapping.
pub(crate) async fn supervisor(functions: Weak<Functions>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        let Some(me) = functions.upgrade() else {
            return;
        };
        me.reconcile_pollers();
    }
}

/// One poller: receive a batch, invoke, delete what was handled, repeat; ends
/// when its mapping is disabled or deleted, or when there is nothing to do and
/// other pollers are enough.
async fn poll(functions: Weak<Functions>, uuid: String) {
    let mut idle_rounds = 0;
    loop {
        let Some(me) = functions.upgrade() else {
            return;
        };
        let Ok(m) = me.mapping_record(&uuid) else {
            return;
        };
        if !m.enabled {
            return;
        }
        let Some(source) = me.queue_source.get().cloned() else {
            return;
        };
        let batch = match gather(&*source, &m).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(mapping = %uuid, error = %e, "event source mapping could not receive");
                drop(me);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        // FilterCriteria: messages no filter matches are deleted unprocessed.
        let filters = crate::event_filter::compile(&m.filters);
        let (batch, dropped): (Vec<SourceMessage>, Vec<SourceMessage>) =
            batch.into_iter().partition(|b| {
                let mut view = b.record.clone();
                if let Some(body) = b.record["body"].as_str()
                    && let Ok(parsed) = serde_json::from_str::<serde_json::Value>(body)
                {
                    view["body"] = parsed;
                }
                crate::event_filter::keep(&filters, &view)
            });
        for d in &dropped {
            if let Err(e) = source.delete(&m.event_source_arn, &d.receipt_handle) {
                tracing::warn!(mapping = %uuid, error = %e, "delete a filtered-out message failed");
            }
        }
        if batch.is_empty() && !dropped.is_empty() {
            continue;
        }
        if batch.is_empty() {
            idle_rounds += 1;
            // Scale down: a poller idle for a while leaves (the supervisor keeps one).
            if idle_rounds >= 3 {
                return;
            }
            continue;
        }
        idle_rounds = 0;
        let event = serde_json::json!({
            "Records": batch.iter().map(|b| b.record.clone()).collect::<Vec<_>>()
        });
        let req = InvokeRequest {
            function: m.function_name.clone(),
            qualifier: m.qualifier.clone(),
            payload: bytes::Bytes::from(event.to_string()),
            invocation_type: InvocationType::RequestResponse,
            log_tail: false,
            client_context: None,
            trace_id: None,
            request_id: None,
            stream: false,
        };
        let report = m
            .function_response_types
            .iter()
            .any(|t| t == REPORT_BATCH_ITEM_FAILURES);
        let done = match me.invoke_request(req).await {
            Ok(out) if out.function_error.is_none() => handled(&batch, &out.payload, report),
            Ok(_) => None,
            Err(InvokeError::TooManyRequests { .. }) => {
                // Throttled: the batch comes back after its visibility timeout.
                drop(me);
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(mapping = %uuid, error = %e, "event source mapping could not invoke its function");
                None
            }
        };
        if let Some(indices) = done {
            for i in indices {
                if let Err(e) = source.delete(&m.event_source_arn, &batch[i].receipt_handle) {
                    tracing::warn!(mapping = %uuid, error = %e, "delete a handled message failed");
                }
            }
        }
    }
}

/// Receive a batch: as soon as messages arrive, or, with a batching window, until
/// the batch is full or the window has passed.
async fn gather(
    source: &dyn QueueSource,
    m: &Mapping,
) -> std::result::Result<Vec<SourceMessage>, String> {
    let max = m.batch_size as usize;
    let mut batch = source.receive(&m.event_source_arn, max.min(10), 2).await?;
    if m.max_batching_window_secs == 0 || batch.is_empty() {
        return Ok(batch);
    }
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_secs(m.max_batching_window_secs as u64);
    while batch.len() < max && tokio::time::Instant::now() < deadline {
        let more = source
            .receive(&m.event_source_arn, (max - batch.len()).min(10), 0)
            .await?;
        if more.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        batch.extend(more);
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ids: &[&str]) -> Vec<SourceMessage> {
        ids.iter()
            .map(|i| SourceMessage {
                message_id: i.to_string(),
                receipt_handle: format!("rh-{i}"),
                record: serde_json::Value::Null,
            })
            .collect()
    }

    #[test]
    fn batch_item_failures_select_what_stays() {
        let b = batch(&["a", "b", "c"]);
        assert_eq!(handled(&b, b"null", false), Some(vec![0, 1, 2]));
        assert_eq!(
            handled(
                &b,
                br#"{"batchItemFailures": [{"itemIdentifier": "b"}]}"#,
                true
            ),
            Some(vec![0, 2])
        );
        assert_eq!(
            handled(&b, br#"{"batchItemFailures": []}"#, true),
            Some(vec![0, 1, 2])
        );
        assert_eq!(handled(&b, b"", true), Some(vec![0, 1, 2]));
        assert_eq!(handled(&b, br#"{}"#, true), Some(vec![0, 1, 2]));
        // An identifier that is missing or not in the batch fails the whole batch.
        assert_eq!(
            handled(
                &b,
                br#"{"batchItemFailures": [{"itemIdentifier": "zz"}]}"#,
                true
            ),
            None
        );
        assert_eq!(handled(&b, br#"{"batchItemFailures": [{}]}"#, true), None);
        assert_eq!(handled(&b, br#"{"batchItemFailures": "b"}"#, true), None);
        // FIFO groups: a failure keeps the rest of its group.
        let mut g = batch(&["a", "b", "c", "d"]);
        for (m, grp) in g.iter_mut().zip(["x", "x", "y", "x"]) {
            m.record = serde_json::json!({ "attributes": { "MessageGroupId": grp } });
        }
        assert_eq!(
            handled(
                &g,
                br#"{"batchItemFailures": [{"itemIdentifier": "b"}]}"#,
                true
            ),
            Some(vec![0, 2])
        );
    }

    #[test]
    fn mapping_settings_are_checked() {
        let ok = Mapping {
            uuid: "u".into(),
            function_name: "f".into(),
            qualifier: None,
            event_source_arn: "arn:aws:sqs:us-east-1:000000000000:q".into(),
            batch_size: 10,
            max_batching_window_secs: 0,
            enabled: true,
            function_response_types: vec![],
            maximum_concurrency: None,
            last_modified_ms: 0,
            filters: vec![],
            stream: None,
        };
        assert!(validate(&ok).is_ok());
        assert!(
            validate(&Mapping {
                filters: vec!["{\"a\": \"not a list\"}".into()],
                ..ok.clone()
            })
            .is_err()
        );
        let stream = Mapping {
            batch_size: 100,
            stream: Some(StreamSettings {
                starting_position: "LATEST".into(),
                maximum_retry_attempts: -1,
                maximum_record_age_secs: -1,
                bisect_on_error: false,
                on_failure: None,
                parallelization_factor: 1,
                checkpoint: 0,
                last_result: String::new(),
            }),
            ..ok.clone()
        };
        assert!(validate(&stream).is_ok());
        for bad in [
            |s: &mut StreamSettings| s.starting_position = "AT_TIMESTAMP".into(),
            |s: &mut StreamSettings| s.maximum_retry_attempts = -2,
            |s: &mut StreamSettings| s.maximum_record_age_secs = 59,
            |s: &mut StreamSettings| s.parallelization_factor = 11,
            |s: &mut StreamSettings| s.on_failure = Some("arn:aws:lambda:x".into()),
        ] {
            let mut m = stream.clone();
            bad(m.stream.as_mut().unwrap());
            assert!(validate(&m).is_err());
        }
        assert!(
            validate(&Mapping {
                batch_size: 11,
                ..ok.clone()
            })
            .is_err()
        );
        assert!(
            validate(&Mapping {
                batch_size: 11,
                max_batching_window_secs: 1,
                ..ok.clone()
            })
            .is_ok()
        );
        assert!(
            validate(&Mapping {
                batch_size: 0,
                ..ok.clone()
            })
            .is_err()
        );
        assert!(
            validate(&Mapping {
                maximum_concurrency: Some(1),
                ..ok.clone()
            })
            .is_err()
        );
        assert!(
            validate(&Mapping {
                function_response_types: vec!["Other".into()],
                ..ok
            })
            .is_err()
        );
    }
}
