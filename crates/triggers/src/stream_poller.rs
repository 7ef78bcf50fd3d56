//! Event source mappings from table streams: one poller per mapping reads the
//! stream in order from its checkpoint, drops records no filter matches, and
//! invokes the function with batches as Lambda does for DynamoDB streams:
//!
//! - a function error retries the batch (with backoff) up to
//!   `MaximumRetryAttempts`, or until its oldest record is older than
//!   `MaximumRecordAgeInSeconds`; with `BisectBatchOnFunctionError` a failed
//!   batch is split in two and each half retried (splitting is not a retry);
//! - with `ReportBatchItemFailures` the function names records by
//!   `SequenceNumber`, and delivery resumes from the lowest one it names;
//! - a batch that runs out of retries or age goes to the `OnFailure`
//!   destination (a queue) as Lambda's invocation record with
//!   `DDBStreamBatchInfo`, and the stream moves on.
//!
//! The checkpoint is stored after every batch (with the failure record, in one
//! transaction), so a restart resumes where delivery stood: a batch may be
//! delivered again, none is skipped.

use crate::mappings::{MAPPINGS, Mapping, REPORT_BATCH_ITEM_FAILURES};
use crate::{Answer, Result, Triggers};
use nimbus_storage::WriteBatch;
use nimbus_tables::Tables;
use serde_json::{Value, json};
use std::sync::Weak;
use std::time::Duration;

/// One stream record, shaped as Lambda's DynamoDB event record.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub seq: u64,
    /// When the change was made (ms since the epoch).
    pub created_ms: u64,
    pub record: Value,
}

/// The table stream a mapping reads, as its ARN names it.
struct Stream<'a> {
    tables: &'a Tables,
    arn: String,
}

impl Stream<'_> {
    /// Up to `max` records from sequence number `from` on, in Lambda's
    /// DynamoDB event record shape.
    fn read(
        &self,
        from: u64,
        max: usize,
    ) -> std::result::Result<Vec<StreamRecord>, nimbus_tables::Error> {
        let (table, label) = self.tables.parse_stream_arn(&self.arn).ok_or_else(|| {
            nimbus_tables::Error::ResourceNotFound(format!("not a stream ARN: {}", self.arn))
        })?;
        let (records, _) = self.tables.stream_records(&table, &label, from, max)?;
        Ok(records
            .into_iter()
            .map(|mut r| {
                let seq = r["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .and_then(nimbus_tables::streams::parse_sequence_number)
                    .unwrap_or(0);
                let created_ms = (r["dynamodb"]["ApproximateCreationDateTime"]
                    .as_f64()
                    .unwrap_or(0.0)
                    * 1000.0) as u64;
                r["eventSourceARN"] = json!(self.arn);
                // Lambda's event spells the identity's fields in lower case.
                if let Some(id) = r.get("userIdentity").cloned() {
                    r["userIdentity"] = json!({
                        "type": id["Type"], "principalId": id["PrincipalId"]
                    });
                }
                StreamRecord {
                    seq,
                    created_ms,
                    record: r,
                }
            })
            .collect())
    }

    /// The stream's shard id (for failure records).
    fn shard_id(&self) -> String {
        let label = self
            .tables
            .parse_stream_arn(&self.arn)
            .map(|(_, l)| l)
            .unwrap_or_default();
        nimbus_tables::streams::shard_id(&label)
    }
}

/// Resolves when records may have been added to any stream; registered at
/// once, so a commit between this call and the first poll still wakes it.
fn stream_changed(tables: &Tables) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
    let mut waiting = Box::pin(tables.stream_notify().notified());
    waiting.as_mut().enable();
    waiting
}

/// How (part of) a batch ended.
enum Outcome {
    Failed(&'static str),
    Done,
}

/// What the function made of a batch: `Ok(None)` all handled,
/// `Ok(Some(seq))` records from `seq` on failed (reported), `Err` the call failed.
async fn invoke_batch(
    me: &Triggers,
    m: &Mapping,
    batch: &[StreamRecord],
) -> std::result::Result<Option<u64>, bool> {
    let records = batch.iter().map(|r| r.record.clone()).collect();
    match me.hand_over(m, records).await {
        Answer::Payload(payload) => {
            let report = m
                .function_response_types
                .iter()
                .any(|t| t == REPORT_BATCH_ITEM_FAILURES);
            if !report {
                return Ok(None);
            }
            match reported_failure(batch, &payload) {
                Some(first) => Ok(first),
                // An unreadable report fails the whole batch.
                None => Err(false),
            }
        }
        Answer::Failed => Err(false),
        Answer::Throttled => Err(true),
    }
}

/// The lowest sequence number a `batchItemFailures` report names: `Some(None)`
/// when it names none, `None` when the report is malformed.
pub fn reported_failure(batch: &[StreamRecord], payload: &[u8]) -> Option<Option<u64>> {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return Some(None);
    };
    let failures = match v.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(None),
        Some(Value::Array(a)) => a,
        Some(_) => return None,
    };
    let mut lowest: Option<u64> = None;
    for f in failures {
        let id = f.get("itemIdentifier").and_then(Value::as_str)?;
        let seq = batch
            .iter()
            .find(|r| r.record["dynamodb"]["SequenceNumber"].as_str() == Some(id))?
            .seq;
        lowest = Some(lowest.map_or(seq, |l: u64| l.min(seq)));
    }
    Some(lowest)
}

/// Deliver one batch with retries and bisection; returns how it ended for the
/// records it covers, in order: records before the returned failure point are done.
async fn deliver(
    me: &Triggers,
    m: &Mapping,
    records: Vec<StreamRecord>,
) -> Vec<(Vec<StreamRecord>, Outcome)> {
    let s = m.stream.as_ref().expect("a stream mapping");
    let mut out = Vec::new();
    // Work in order: (records, retries so far).
    let mut work: std::collections::VecDeque<(Vec<StreamRecord>, i64)> =
        std::collections::VecDeque::from([(records, 0)]);
    while let Some((batch, retries)) = work.pop_front() {
        let now = nimbus_model::time::now_millis();
        let too_old = s.maximum_record_age_secs >= 0
            && batch.first().is_some_and(|r| {
                now.saturating_sub(r.created_ms) > s.maximum_record_age_secs as u64 * 1000
            });
        if too_old {
            out.push((batch, Outcome::Failed("RecordAgeExceeded")));
            continue;
        }
        // Lambda's IteratorAge: how old the batch's last record is as it is handed over.
        if let (Some(metrics), Some(last)) = (me.metrics.get(), batch.last())
            && m.pipe.is_none()
        {
            let name = nimbus_model::arn::FunctionRef::parse(&m.function_name)
                .map_or_else(|_| m.function_name.clone(), |r| r.name);
            metrics.record(
                nimbus_metrics::MetricId::new(
                    "AWS/Lambda",
                    "IteratorAge",
                    &[("FunctionName", &name)],
                ),
                "Milliseconds",
                now.saturating_sub(last.created_ms) as f64,
            );
        }
        match invoke_batch(me, m, &batch).await {
            Ok(None) => out.push((batch, Outcome::Done)),
            Ok(Some(from)) => {
                let (done, rest): (Vec<_>, Vec<_>) = batch.into_iter().partition(|r| r.seq < from);
                if !done.is_empty() {
                    out.push((done, Outcome::Done));
                }
                if s.maximum_retry_attempts >= 0 && retries >= s.maximum_retry_attempts {
                    out.push((rest, Outcome::Failed("RetryAttemptsExhausted")));
                } else {
                    backoff(retries).await;
                    work.push_front((rest, retries + 1));
                }
            }
            Err(true) => {
                // Throttled: not a retry.
                tokio::time::sleep(Duration::from_millis(500)).await;
                work.push_front((batch, retries));
            }
            Err(false) => {
                if s.bisect_on_error && batch.len() > 1 {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    work.push_front((second, retries));
                    work.push_front((first, retries));
                } else if s.maximum_retry_attempts >= 0 && retries >= s.maximum_retry_attempts {
                    out.push((batch, Outcome::Failed("RetryAttemptsExhausted")));
                } else {
                    backoff(retries).await;
                    work.push_front((batch, retries + 1));
                }
            }
        }
    }
    out
}

async fn backoff(retries: i64) {
    let ms = 100u64.saturating_mul(1 << retries.clamp(0, 6)).min(5_000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Lambda's invocation record for a stream batch that could not be processed.
pub fn failure_record(
    function_arn: &str,
    condition: &str,
    stream_arn: &str,
    shard_id: &str,
    batch: &[StreamRecord],
    attempts: u64,
) -> Value {
    let iso = |ms: u64| nimbus_model::time::Utc::from_millis(ms).rfc3339_millis();
    let first = batch.first();
    let last = batch.last();
    json!({
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": iso(nimbus_model::time::now_millis()),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first.map(|r| r.record["dynamodb"]["SequenceNumber"].clone()),
            "endSequenceNumber": last.map(|r| r.record["dynamodb"]["SequenceNumber"].clone()),
            "approximateArrivalOfFirstRecord": first.map(|r| iso(r.created_ms)),
            "approximateArrivalOfLastRecord": last.map(|r| iso(r.created_ms)),
            "batchSize": batch.len(),
            "streamArn": stream_arn,
        }
    })
}

/// Store the mapping's new checkpoint, with failure records for its
/// destination queue in the same transaction.
fn checkpoint(
    me: &Triggers,
    m: &mut Mapping,
    next: u64,
    failures: &[Value],
    result: &str,
) -> Result<()> {
    let s = m.stream.as_mut().expect("a stream mapping");
    s.checkpoint = next;
    s.last_result = result.to_string();
    let mut batch = WriteBatch::new();
    let mut staged = Vec::new();
    if let Some(dest) = s.on_failure.clone() {
        for f in failures {
            match me
                .outbox
                .stage(&dest, f.to_string().as_bytes(), None, &mut batch)
            {
                Ok(st) => staged.push(st),
                Err(e) => {
                    tracing::warn!(mapping = %m.uuid, queue = %dest, error = %e, "stream failure destination unavailable; record dropped");
                }
            }
        }
    } else if !failures.is_empty() {
        tracing::warn!(mapping = %m.uuid, "a stream batch failed for good; no OnFailure destination configured");
    }
    batch.put(
        MAPPINGS,
        m.uuid.as_bytes(),
        serde_json::to_vec(&*m).map_err(|e| crate::Error::Internal(e.to_string()))?,
    );
    me.kv.commit(batch)?;
    if !staged.is_empty() {
        me.outbox.committed(staged);
    }
    Ok(())
}

/// The poller of one stream mapping; ends when the mapping is disabled or deleted.
pub(crate) async fn poll_stream(triggers: Weak<Triggers>, uuid: String) {
    loop {
        let Some(me) = triggers.upgrade() else {
            return;
        };
        let Ok(mut m) = me.mapping_record(&uuid) else {
            return;
        };
        if !m.enabled {
            return;
        }
        // The function's role must be allowed to read the stream; checked
        // each round, so fixing the role resumes delivery.
        if !me.may_poll(&m) {
            drop(me);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Its own handle on the tables, so `me` can be let go while waiting.
        let tables = me.tables.clone();
        let source = Stream {
            tables: &tables,
            arn: m.event_source_arn.clone(),
        };
        let Some(s) = m.stream.clone() else {
            return;
        };
        let changed = stream_changed(&tables);
        let max = m.batch_size as usize;
        let mut records = match source.read(s.checkpoint, max) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(mapping = %uuid, error = %e, "stream mapping could not read its stream");
                drop(me);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if records.is_empty() {
            drop(me);
            // Woken by a commit, or look again in a second.
            let _ = tokio::time::timeout(Duration::from_secs(1), changed).await;
            continue;
        }
        // Batching window: wait for a full batch or the window's end.
        if m.max_batching_window_secs > 0 && records.len() < max {
            let deadline = tokio::time::Instant::now()
                + Duration::from_secs(u64::from(m.max_batching_window_secs));
            while records.len() < max && tokio::time::Instant::now() < deadline {
                let _ = tokio::time::timeout_at(deadline, stream_changed(&tables)).await;
                let from = records.last().map_or(s.checkpoint, |r| r.seq + 1);
                if let Ok(more) = source.read(from, max - records.len()) {
                    records.extend(more);
                }
            }
        }
        let next = records.last().map_or(s.checkpoint, |r| r.seq + 1);
        let filters = crate::filter::compile(&m.filters);
        let batch: Vec<StreamRecord> = records
            .into_iter()
            .filter(|r| crate::filter::keep(&filters, &r.record))
            .collect();
        let mut failures = Vec::new();
        let mut result = "OK";
        if !batch.is_empty() {
            let arn = {
                let mut a = me.identity.function_arn(&m.function_name);
                if let Some(q) = &m.qualifier {
                    a.push(':');
                    a.push_str(q);
                }
                a
            };
            for (records, outcome) in deliver(&me, &m, batch).await {
                if let Outcome::Failed(condition) = outcome {
                    result = "PROBLEM: Function call failed";
                    let attempts = s.maximum_retry_attempts.max(0) as u64 + 1;
                    failures.push(failure_record(
                        &arn,
                        condition,
                        &m.event_source_arn,
                        &source.shard_id(),
                        &records,
                        attempts,
                    ));
                }
            }
        }
        // The mapping may have changed while the function ran: keep its
        // settings, move its checkpoint.
        if let Ok(current) = me.mapping_record(&uuid) {
            m = Mapping {
                stream: current.stream.or(m.stream),
                ..current
            };
        }
        if let Err(e) = checkpoint(&me, &mut m, next, &failures, result) {
            tracing::error!(mapping = %uuid, error = %e, "store stream checkpoint failed");
            drop(me);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64) -> StreamRecord {
        StreamRecord {
            seq,
            created_ms: 1_000,
            record: json!({ "dynamodb": { "SequenceNumber": format!("{seq:021}") } }),
        }
    }

    #[test]
    fn reports_resume_from_the_lowest_failure() {
        let batch: Vec<StreamRecord> = (5..10).map(rec).collect();
        let report = |ids: &[u64]| {
            json!({ "batchItemFailures": ids.iter().map(|i| json!({ "itemIdentifier": format!("{i:021}") })).collect::<Vec<_>>() })
                .to_string()
        };
        assert_eq!(
            reported_failure(&batch, report(&[8, 6]).as_bytes()),
            Some(Some(6))
        );
        assert_eq!(reported_failure(&batch, report(&[]).as_bytes()), Some(None));
        assert_eq!(reported_failure(&batch, b"null"), Some(None));
        assert_eq!(reported_failure(&batch, report(&[42]).as_bytes()), None);
        assert_eq!(
            reported_failure(&batch, br#"{"batchItemFailures": "x"}"#),
            None
        );
    }

    #[test]
    fn failure_records_describe_the_batch() {
        let batch: Vec<StreamRecord> = (1..4).map(rec).collect();
        let r = failure_record(
            "arn:f",
            "RetryAttemptsExhausted",
            "arn:s",
            "shardId-1",
            &batch,
            3,
        );
        assert_eq!(r["requestContext"]["condition"], "RetryAttemptsExhausted");
        assert_eq!(r["DDBStreamBatchInfo"]["batchSize"], 3);
        assert_eq!(
            r["DDBStreamBatchInfo"]["startSequenceNumber"],
            "000000000000000000001"
        );
        assert_eq!(
            r["DDBStreamBatchInfo"]["endSequenceNumber"],
            "000000000000000000003"
        );
    }
}
