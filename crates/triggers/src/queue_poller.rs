//! Event source mappings from queues, with Lambda's semantics: pollers receive
//! batches (`BatchSize`, `MaximumBatchingWindowInSeconds`), invoke the function
//! synchronously with SQS's record shape, and delete what was handled:
//! everything on success, nothing on a function error (the messages come back
//! after their visibility timeout, and move to the queue's dead-letter queue by
//! its redrive policy), and with `ReportBatchItemFailures` everything but the
//! `batchItemFailures` the function reported. Pollers scale with the backlog up
//! to `ScalingConfig.MaximumConcurrency`. `FilterCriteria` drops messages that
//! match no filter ([`crate::filter`]).

use crate::mappings::{Mapping, REPORT_BATCH_ITEM_FAILURES};
use crate::{Answer, Triggers};
use nimbus_queues::Queues;
use std::sync::Weak;

/// Pollers per mapping when `ScalingConfig` says nothing (Lambda starts with 5
/// concurrent batches for a queue).
pub(crate) const DEFAULT_POLLERS: u32 = 5;

/// One received message, ready to hand to a function.
#[derive(Debug, Clone)]
pub struct SourceMessage {
    pub message_id: String,
    pub receipt_handle: String,
    /// The record as Lambda's SQS event has it (`messageId`, `body`, ...).
    pub record: serde_json::Value,
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

/// One poller: receive a batch, invoke, delete what was handled, repeat; ends
/// when its mapping is disabled or deleted, or when there is nothing to do and
/// other pollers are enough.
pub(crate) async fn poll(triggers: Weak<Triggers>, uuid: String) {
    let mut idle_rounds = 0;
    loop {
        let Some(me) = triggers.upgrade() else {
            return;
        };
        let Ok(m) = me.mapping_record(&uuid) else {
            return;
        };
        if !m.enabled {
            return;
        }
        // The function's role must be allowed to read the queue; checked
        // each round, so fixing the role resumes polling.
        if !me.may_poll(&m) {
            drop(me);
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        // Its own handle on the queues, so `me` can be let go while waiting.
        let queues = me.queues.clone();
        let source = Source {
            queues: &queues,
            arn: &m.event_source_arn,
        };
        let batch = match gather(&source, &m).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(mapping = %uuid, error = %e, "event source mapping could not receive");
                drop(me);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        // FilterCriteria: messages no filter matches are deleted unprocessed.
        let filters = crate::filter::compile(&m.filters);
        let (batch, dropped): (Vec<SourceMessage>, Vec<SourceMessage>) =
            batch.into_iter().partition(|b| {
                let mut view = b.record.clone();
                if let Some(body) = b.record["body"].as_str()
                    && let Ok(parsed) = serde_json::from_str::<serde_json::Value>(body)
                {
                    view["body"] = parsed;
                }
                crate::filter::keep(&filters, &view)
            });
        for d in &dropped {
            if let Err(e) = source.delete(&d.receipt_handle) {
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
        let records = batch.iter().map(|b| b.record.clone()).collect();
        let report = m
            .function_response_types
            .iter()
            .any(|t| t == REPORT_BATCH_ITEM_FAILURES);
        let done = match me.hand_over(&m, records).await {
            Answer::Payload(payload) => handled(&batch, &payload, report),
            Answer::Failed => None,
            Answer::Throttled => {
                // Throttled: the batch comes back after its visibility timeout.
                drop(me);
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        if let Some(indices) = done {
            for i in indices {
                if let Err(e) = source.delete(&batch[i].receipt_handle) {
                    tracing::warn!(mapping = %uuid, error = %e, "delete a handled message failed");
                }
            }
        }
    }
}

/// The queue a mapping reads, as its ARN names it.
struct Source<'a> {
    queues: &'a Queues,
    arn: &'a str,
}

impl Source<'_> {
    fn name(&self) -> Result<String, nimbus_queues::Error> {
        self.queues
            .name_from_arn(self.arn)
            .ok_or(nimbus_queues::Error::QueueDoesNotExist)
    }

    /// Up to `max` messages, waiting up to `wait_secs` for the first.
    async fn receive(
        &self,
        max: usize,
        wait_secs: u64,
    ) -> Result<Vec<SourceMessage>, nimbus_queues::Error> {
        let got = self
            .queues
            .receive(&self.name()?, max, None, Some(wait_secs))
            .await?;
        Ok(got
            .into_iter()
            .map(|r| SourceMessage {
                message_id: r.message.id.clone(),
                receipt_handle: r.receipt_handle.clone(),
                record: sqs_record(self.queues.region(), self.arn, r),
            })
            .collect())
    }

    fn delete(&self, receipt_handle: &str) -> Result<(), nimbus_queues::Error> {
        self.queues.delete_message(&self.name()?, receipt_handle)
    }
}

/// Receive a batch: as soon as messages arrive, or, with a batching window, until
/// the batch is full or the window has passed.
async fn gather(
    source: &Source<'_>,
    m: &Mapping,
) -> Result<Vec<SourceMessage>, nimbus_queues::Error> {
    let max = m.batch_size as usize;
    let mut batch = source.receive(max.min(10), 2).await?;
    if m.max_batching_window_secs == 0 || batch.is_empty() {
        return Ok(batch);
    }
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_secs(m.max_batching_window_secs as u64);
    while batch.len() < max && tokio::time::Instant::now() < deadline {
        let more = source.receive((max - batch.len()).min(10), 0).await?;
        if more.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        batch.extend(more);
    }
    Ok(batch)
}

/// Lambda's SQS record for a received message.
pub fn sqs_record(region: &str, arn: &str, r: nimbus_queues::Received) -> serde_json::Value {
    use base64::Engine as _;
    let m = r.message;
    let mut attributes = serde_json::json!({
        "ApproximateReceiveCount": m.receive_count.to_string(),
        "SentTimestamp": m.sent_ms.to_string(),
        "SenderId": m.sender_id,
        "ApproximateFirstReceiveTimestamp": m.first_receive_ms.unwrap_or(m.sent_ms).to_string(),
    });
    if let Some(t) = &m.trace_header {
        attributes["AWSTraceHeader"] = t.clone().into();
    }
    if let Some(g) = &m.group_id {
        attributes["MessageGroupId"] = g.clone().into();
    }
    if let Some(d) = &m.dedup_id {
        attributes["MessageDeduplicationId"] = d.clone().into();
        attributes["SequenceNumber"] = m.sequence_number().into();
    }
    let message_attributes: serde_json::Map<String, serde_json::Value> = m
        .attributes
        .iter()
        .map(|(k, a)| {
            let mut v = serde_json::json!({
                "stringListValues": [], "binaryListValues": [], "dataType": a.data_type,
            });
            if let Some(s) = &a.string_value {
                v["stringValue"] = s.clone().into();
            }
            if let Some(b) = &a.binary_value {
                v["binaryValue"] = base64::engine::general_purpose::STANDARD.encode(b).into();
            }
            (k.clone(), v)
        })
        .collect();
    serde_json::json!({
        "messageId": m.id,
        "receiptHandle": r.receipt_handle,
        "body": m.body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": nimbus_queues::md5_hex(&m.body),
        "md5OfMessageAttributes": nimbus_queues::md5_of_attributes(&m.attributes),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    })
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
}
