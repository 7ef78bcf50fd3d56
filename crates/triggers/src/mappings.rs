//! Event source mappings as Lambda resources: their settings, Lambda's checks
//! of them, and their records in the store (`event_source_mappings`). The
//! pollers that act on them are in [`crate::queue_poller`] and
//! [`crate::stream_poller`].

use crate::{Error, Result, Triggers};
use nimbus_invoke::InvokeError;
use nimbus_storage::{Table, WriteBatch};
use serde::{Deserialize, Serialize};

pub(crate) const MAPPINGS: Table = Table("event_source_mappings");
pub(crate) const REPORT_BATCH_ITEM_FAILURES: &str = "ReportBatchItemFailures";

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
    /// The pipe this mapping feeds instead of a function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipe: Option<crate::pipes::PipeLink>,
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
        crate::filter::check_pattern(f)
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

impl Triggers {
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

    /// Lambda's event source mappings (not pipes').
    pub fn list_mappings(
        &self,
        function: Option<&str>,
        source: Option<&str>,
    ) -> Result<Vec<Mapping>> {
        let mut out = self.all_mappings()?;
        out.retain(|m| {
            m.pipe.is_none()
                && function.is_none_or(|f| f == m.function_name)
                && source.is_none_or(|s| s == m.event_source_arn)
        });
        Ok(out)
    }

    /// Every mapping, Lambda's and pipes'.
    pub(crate) fn all_mappings(&self) -> Result<Vec<Mapping>> {
        let mut out = Vec::new();
        for (_, v) in self.kv.scan_prefix(MAPPINGS, b"")? {
            let m: Mapping =
                serde_json::from_slice(&v).map_err(|e| Error::Internal(e.to_string()))?;
            out.push(m);
        }
        out.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        Ok(out)
    }

    pub fn get_mapping(&self, uuid: &str) -> Result<Mapping> {
        self.lambda_mapping(uuid)
    }

    /// Mapping `uuid`, if it is Lambda's (a pipe's is not Lambda's to show
    /// or change).
    fn lambda_mapping(&self, uuid: &str) -> Result<Mapping> {
        let m = self.mapping_record(uuid)?;
        if m.pipe.is_some() {
            return Err(Error::NotFound(format!(
                "The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: {uuid})"
            )));
        }
        Ok(m)
    }

    /// The mapping's function: it must exist (Lambda answers
    /// `ResourceNotFoundException` otherwise).
    fn resolve_target(&self, function: &str) -> Result<(String, Option<String>)> {
        let t = self.invoker.target(function).map_err(|e| match e {
            InvokeError::FunctionNotFound(m) => Error::NotFound(m),
            InvokeError::InvalidParameter(m) => invalid(m),
            other => Error::Internal(other.to_string()),
        })?;
        Ok((t.name, t.qualifier.filter(|q| q != "$LATEST")))
    }

    /// Lambda refuses a mapping whose function's role may not read its
    /// source ([`crate::access`]).
    fn check_role(&self, m: &Mapping) -> Result<()> {
        match self.role_refusal(m) {
            Some(why) => Err(invalid(why)),
            None => Ok(()),
        }
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
        let exists = self
            .queues
            .name_from_arn(&source)
            .is_some_and(|n| self.queues.exists(&n));
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
            pipe: None,
        };
        validate(&m)?;
        self.check_role(&m)?;
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
        if self.tables.stream(&source).is_err() {
            return Err(invalid(format!("Stream not found: {source}")));
        }
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
            self.tables.next_sequence()
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
            pipe: None,
        };
        validate(&m)?;
        self.check_role(&m)?;
        self.save_mapping(&m)?;
        Ok(m)
    }

    pub fn update_mapping(&self, uuid: &str, input: MappingInput) -> Result<Mapping> {
        let mut m = self.lambda_mapping(uuid)?;
        // Lambda checks the role again when the function, the destination
        // or (re-enabling) the mapping's reading changes.
        let recheck = input.function.is_some()
            || input.on_failure.is_some()
            || (input.enabled == Some(true) && !m.enabled);
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
        if recheck {
            self.check_role(&m)?;
        }
        self.save_mapping(&m)?;
        Ok(m)
    }

    pub fn delete_mapping(&self, uuid: &str) -> Result<Mapping> {
        let m = self.lambda_mapping(uuid)?;
        self.remove_mapping(uuid)?;
        Ok(m)
    }

    /// Delete mapping `uuid` (Lambda's or a pipe's), if it is there.
    pub fn remove_mapping(&self, uuid: &str) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(MAPPINGS, uuid.as_bytes());
        self.kv.commit(b)?;
        self.problems.lock().expect("problems lock").remove(uuid);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            pipe: None,
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
