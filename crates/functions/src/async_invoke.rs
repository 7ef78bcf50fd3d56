//! Asynchronous invocation (`InvocationType: Event`): events are committed to the
//! store before the caller gets its 202, then run with retries, and their outcome
//! is delivered to the function's destinations or dead-letter target.
//!
//! Each event is a record in the `async_events` table keyed by a sequence number;
//! the queue keeps an in-memory schedule of (due time, sequence) rebuilt from the
//! table at start-up, so events acknowledged before a crash run after it. Moving an
//! outcome to a destination deletes the event and enqueues the destination's event
//! in one transaction.

use crate::error::{Error, Result};
use bytes::Bytes;
use nimbus_model::time::{Utc, now_millis};
use nimbus_storage::{KvEngine, Table, WriteBatch};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) const ASYNC_EVENTS: Table = Table("async_events");
pub const EVENT_FORMAT: u32 = 1;
/// Lambda's limit on an asynchronous event: 1 MB.
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

/// One queued asynchronous invocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AsyncEvent {
    pub format: u32,
    pub seq: u64,
    pub request_id: String,
    pub function: String,
    /// The event, as JSON text.
    pub payload: String,
    pub enqueued_ms: u64,
    /// Runs so far (throttled attempts do not count).
    pub attempts: u32,
    pub due_ms: u64,
    /// Consecutive throttles, for backoff.
    #[serde(default)]
    pub throttles: u32,
    /// The version or alias the event was sent to.
    #[serde(default)]
    pub qualifier: Option<String>,
    /// The X-Ray trace header of the invocation, with its lineage (see
    /// [`crate::lineage`]).
    #[serde(default)]
    pub trace_id: Option<String>,
}

/// The queue: durable records plus the schedule of what is due when.
pub(crate) struct Queue {
    kv: Arc<dyn KvEngine>,
    next_seq: AtomicU64,
    schedule: Mutex<BTreeSet<(u64, u64)>>,
    pub(crate) wake: tokio::sync::Notify,
}

fn key(seq: u64) -> Vec<u8> {
    seq.to_be_bytes().to_vec()
}

impl Queue {
    /// Load every pending event from the store.
    pub fn open(kv: Arc<dyn KvEngine>) -> Result<Queue> {
        let mut schedule = BTreeSet::new();
        let mut max_seq = 0;
        for (_, v) in kv.scan_prefix(ASYNC_EVENTS, b"")? {
            let ev: AsyncEvent = serde_json::from_slice(&v)
                .map_err(|e| Error::Internal(format!("read queued event: {e}")))?;
            max_seq = max_seq.max(ev.seq);
            schedule.insert((ev.due_ms, ev.seq));
        }
        Ok(Queue {
            kv,
            next_seq: AtomicU64::new(max_seq + 1),
            schedule: Mutex::new(schedule),
            wake: tokio::sync::Notify::new(),
        })
    }

    pub fn pending(&self) -> usize {
        self.schedule.lock().expect("schedule lock").len()
    }

    /// A new event for `function`, not yet stored.
    pub fn new_event(&self, function: &str, payload: &Bytes, request_id: String) -> AsyncEvent {
        let now = now_millis();
        AsyncEvent {
            format: EVENT_FORMAT,
            seq: self.next_seq.fetch_add(1, Ordering::SeqCst),
            request_id,
            function: function.to_string(),
            payload: String::from_utf8_lossy(payload).into_owned(),
            enqueued_ms: now,
            attempts: 0,
            due_ms: now,
            throttles: 0,
            qualifier: None,
            trace_id: None,
        }
    }

    /// Add `put` events and remove `delete` in one durable transaction, then
    /// schedule what was added.
    pub fn commit(&self, put: &[AsyncEvent], delete: Option<u64>) -> Result<()> {
        let mut batch = WriteBatch::new();
        for ev in put {
            let v = serde_json::to_vec(ev).map_err(|e| Error::Internal(e.to_string()))?;
            batch.put(ASYNC_EVENTS, key(ev.seq), v);
        }
        if let Some(seq) = delete {
            batch.delete(ASYNC_EVENTS, key(seq));
        }
        self.kv.commit(batch)?;
        let mut schedule = self.schedule.lock().expect("schedule lock");
        for ev in put {
            schedule.insert((ev.due_ms, ev.seq));
        }
        drop(schedule);
        self.wake.notify_one();
        Ok(())
    }

    /// Like [`Queue::commit`], with more of the caller's changes in the same
    /// transaction.
    pub fn commit_with(
        &self,
        put: &[AsyncEvent],
        delete: Option<u64>,
        mut batch: WriteBatch,
    ) -> Result<()> {
        for ev in put {
            self.stage(ev, &mut batch)?;
        }
        if let Some(seq) = delete {
            batch.delete(ASYNC_EVENTS, key(seq));
        }
        self.kv.commit(batch)?;
        self.schedule(&put.iter().map(|e| (e.due_ms, e.seq)).collect::<Vec<_>>());
        Ok(())
    }

    /// Put `ev` into someone else's transaction (an outbox); once that commits,
    /// [`Queue::schedule`] it.
    pub fn stage(&self, ev: &AsyncEvent, batch: &mut WriteBatch) -> Result<()> {
        let v = serde_json::to_vec(ev).map_err(|e| Error::Internal(e.to_string()))?;
        batch.put(ASYNC_EVENTS, key(ev.seq), v);
        Ok(())
    }

    /// Schedule staged events whose transaction committed.
    pub fn schedule(&self, staged: &[(u64, u64)]) {
        let mut schedule = self.schedule.lock().expect("schedule lock");
        for s in staged {
            schedule.insert(*s);
        }
        drop(schedule);
        self.wake.notify_one();
    }

    pub fn load(&self, seq: u64) -> Result<Option<AsyncEvent>> {
        match self.kv.get(ASYNC_EVENTS, &key(seq))? {
            Some(v) => {
                Ok(Some(serde_json::from_slice(&v).map_err(|e| {
                    Error::Internal(format!("read queued event: {e}"))
                })?))
            }
            None => Ok(None),
        }
    }

    /// Take the events due by `now`; returns them and the next due time, if any.
    pub fn take_due(&self, now: u64) -> (Vec<u64>, Option<u64>) {
        let mut schedule = self.schedule.lock().expect("schedule lock");
        let mut due = Vec::new();
        while let Some(&(when, seq)) = schedule.first() {
            if when > now {
                return (due, Some(when));
            }
            schedule.remove(&(when, seq));
            due.push(seq);
        }
        (due, None)
    }
}

/// Why an event's processing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Success,
    RetriesExhausted,
    EventAgeExceeded,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Condition::Success => "Success",
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

/// Lambda's destination record for an asynchronous invocation's outcome.
pub fn destination_record(
    ev: &AsyncEvent,
    function_arn: &str,
    executed_version: &str,
    condition: Condition,
    function_error: Option<&str>,
    response: Option<&[u8]>,
) -> serde_json::Value {
    let request_payload: serde_json::Value =
        serde_json::from_str(&ev.payload).unwrap_or(serde_json::Value::String(ev.payload.clone()));
    let mut response_context =
        serde_json::json!({ "statusCode": 200, "executedVersion": "$LATEST" });
    if let Some(fe) = function_error {
        response_context["functionError"] = fe.into();
    }
    let mut record = serde_json::json!({
        "version": "1.0",
        "timestamp": Utc::from_millis(now_millis()).rfc3339_millis(),
        "requestContext": {
            "requestId": ev.request_id,
            "functionArn": format!("{function_arn}:{executed_version}"),
            "condition": condition.as_str(),
            "approximateInvokeCount": ev.attempts,
        },
        "requestPayload": request_payload,
        "responseContext": response_context,
    });
    if condition == Condition::EventAgeExceeded {
        record["responseContext"] = serde_json::Value::Null;
    }
    if let Some(body) = response {
        record["responsePayload"] = serde_json::from_slice(body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(body).into_owned())
        });
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_storage_embedded::EmbeddedKv;

    #[test]
    fn events_survive_reopen_in_due_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.redb");
        {
            let kv: Arc<dyn KvEngine> = Arc::new(EmbeddedKv::open(&path).unwrap());
            let q = Queue::open(kv).unwrap();
            let mut a = q.new_event("f", &Bytes::from_static(b"{\"a\":1}"), "r1".into());
            let mut b = q.new_event("f", &Bytes::from_static(b"{\"b\":2}"), "r2".into());
            a.due_ms = 200;
            b.due_ms = 100;
            q.commit(&[a, b], None).unwrap();
        }
        let kv: Arc<dyn KvEngine> = Arc::new(EmbeddedKv::open(&path).unwrap());
        let q = Queue::open(kv).unwrap();
        assert_eq!(q.pending(), 2);
        let (due, next) = q.take_due(150);
        assert_eq!(due.len(), 1);
        assert_eq!(q.load(due[0]).unwrap().unwrap().request_id, "r2");
        assert_eq!(next, Some(200));
        // Sequence numbers continue after the stored ones.
        let c = q.new_event("f", &Bytes::new(), "r3".into());
        assert!(c.seq > 2);
        // Handing an event on deletes it in the same commit.
        q.commit(&[c], Some(due[0])).unwrap();
        assert!(q.load(due[0]).unwrap().is_none());
    }

    #[test]
    fn destination_record_has_lambdas_shape() {
        let ev = AsyncEvent {
            format: 1,
            seq: 1,
            request_id: "rid".into(),
            function: "f".into(),
            payload: "{\"k\":1}".into(),
            enqueued_ms: 0,
            attempts: 3,
            due_ms: 0,
            throttles: 0,
            qualifier: None,
            trace_id: None,
        };
        let r = destination_record(
            &ev,
            "arn:aws:lambda:us-east-1:000000000000:function:f",
            "$LATEST",
            Condition::RetriesExhausted,
            Some("Unhandled"),
            Some(b"{\"errorMessage\":\"x\"}"),
        );
        assert_eq!(r["version"], "1.0");
        assert_eq!(r["requestContext"]["condition"], "RetriesExhausted");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(
            r["requestContext"]["functionArn"],
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"
        );
        assert_eq!(r["requestPayload"]["k"], 1);
        assert_eq!(r["responseContext"]["functionError"], "Unhandled");
        assert_eq!(r["responsePayload"]["errorMessage"], "x");
    }
}
