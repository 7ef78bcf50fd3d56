//! Pipes' share of the pollers: an EventBridge pipe reads its source (a
//! queue or a table stream) through a mapping like a Lambda event source
//! mapping's (batches, `FilterCriteria`, visibility and deletes, stream
//! checkpoints, retries, bisection and dead-letter queues), but hands each
//! batch to a [`PipeRunner`] (the pipe's enrichment and target) instead of a
//! function. Such mappings act as the pipe's role and are not Lambda's:
//! `ListEventSourceMappings` does not show them.

use crate::mappings::{Mapping, StreamSettings};
use crate::{Error, Result, Triggers};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// Which pipe a mapping feeds, and the role it reads its source as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipeLink {
    pub arn: String,
    pub name: String,
    pub role_arn: String,
}

/// What a pipe's runner made of a batch.
pub type PipeOutcome = std::result::Result<Vec<u8>, String>;

/// Runs a batch through a pipe: `Ok` with what the target answered (a
/// `batchItemFailures` report names the records that failed; anything else
/// means all were delivered), `Err` when the batch failed as a whole.
pub trait PipeRunner: Send + Sync {
    fn run<'a>(
        &'a self,
        pipe_arn: &'a str,
        records: Vec<Value>,
    ) -> Pin<Box<dyn Future<Output = PipeOutcome> + Send + 'a>>;
}

/// A pipe's source settings, as its mapping keeps them.
#[derive(Debug, Clone, Default)]
pub struct PipeSource {
    pub source_arn: String,
    pub batch_size: Option<u32>,
    pub max_batching_window_secs: Option<u32>,
    pub filters: Vec<String>,
    pub enabled: bool,
    /// Streams: `TRIM_HORIZON` or `LATEST`.
    pub starting_position: Option<String>,
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_record_age_secs: Option<i64>,
    pub bisect_on_error: bool,
    pub dead_letter: Option<String>,
    pub parallelization_factor: Option<u32>,
}

impl Triggers {
    /// The runner pipe mappings hand their batches to.
    pub fn set_pipe_runner(&self, runner: std::sync::Arc<dyn PipeRunner>) {
        let _ = self.pipes.set(runner);
    }

    /// Create or replace the mapping `uuid` that feeds pipe `link` from
    /// `source` (a stream's checkpoint survives a replacement).
    pub fn put_pipe_mapping(&self, uuid: &str, link: PipeLink, source: PipeSource) -> Result<()> {
        let arn = source.source_arn.clone();
        let kept = self.mapping_record(uuid).ok();
        let stream = if arn.starts_with("arn:aws:dynamodb:") && arn.contains("/stream/") {
            if self.tables.stream(&arn).is_err() {
                return Err(Error::InvalidParameter(format!("Stream not found: {arn}")));
            }
            let starting_position = source
                .starting_position
                .clone()
                .unwrap_or_else(|| "LATEST".into());
            let checkpoint = match kept.as_ref().and_then(|m| m.stream.as_ref()) {
                Some(s) if kept.as_ref().is_some_and(|m| m.event_source_arn == arn) => s.checkpoint,
                _ if starting_position == "LATEST" => self.tables.next_sequence(),
                _ => 0,
            };
            Some(StreamSettings {
                starting_position,
                maximum_retry_attempts: source.maximum_retry_attempts.unwrap_or(-1),
                maximum_record_age_secs: source.maximum_record_age_secs.unwrap_or(-1),
                bisect_on_error: source.bisect_on_error,
                on_failure: source.dead_letter.clone(),
                parallelization_factor: source.parallelization_factor.unwrap_or(1),
                checkpoint,
                last_result: "No records processed".into(),
            })
        } else if arn.starts_with("arn:aws:sqs:") {
            let exists = self
                .queues
                .name_from_arn(&arn)
                .is_some_and(|n| self.queues.exists(&n));
            if !exists {
                return Err(Error::InvalidParameter(format!(
                    "The source queue {arn} does not exist"
                )));
            }
            None
        } else {
            return Err(Error::InvalidParameter(format!(
                "Unsupported source {arn}: Nimbus pipes read SQS queues and DynamoDB streams"
            )));
        };
        let default_batch = if stream.is_some() { 100 } else { 10 };
        let m = Mapping {
            uuid: uuid.to_string(),
            function_name: String::new(),
            qualifier: None,
            event_source_arn: arn,
            batch_size: source.batch_size.unwrap_or(default_batch),
            max_batching_window_secs: source.max_batching_window_secs.unwrap_or(0),
            enabled: source.enabled,
            function_response_types: vec![crate::mappings::REPORT_BATCH_ITEM_FAILURES.into()],
            maximum_concurrency: None,
            last_modified_ms: nimbus_model::time::now_millis(),
            filters: source.filters,
            stream,
            pipe: Some(link),
        };
        self.save_mapping(&m)
    }

    /// Hand a mapping's batch to its pipe.
    pub(crate) async fn run_pipe(&self, link: &PipeLink, records: Vec<Value>) -> PipeOutcome {
        let Some(runner) = self.pipes.get() else {
            return Err("pipes are not running".into());
        };
        runner.run(&link.arn, records).await
    }
}
