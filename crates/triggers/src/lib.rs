//! Triggers: everything that runs functions because something happened
//! elsewhere, built only on the [`nimbus_invoke::Invoker`] seam.
//!
//! - Event source mappings (`CreateEventSourceMapping` and the rest are Lambda
//!   API operations; the Lambda API calls this crate): their records
//!   ([`mappings`]), queue pollers ([`queue_poller`]) and table-stream pollers
//!   ([`stream_poller`]), `FilterCriteria` ([`filter`]), and the event shapes
//!   Lambda hands functions for each source. Mappings act under their
//!   function's execution role, asked through
//!   [`nimbus_invoke::permissions`] (`access`).
//! - [`Deliveries`], the [`nimbus_invoke::Outbox`] every service that emits
//!   events stages them into: asynchronous invocations of functions and
//!   messages to queues, inside the emitter's own transaction.
//!
//! Not here: running functions (the `functions` crate, reached only through the
//! `Invoker`), the queue and table services themselves.

mod access;
pub mod filter;
pub mod mappings;
mod outbox;
pub mod pipes;
pub mod queue_poller;
pub mod stream_poller;

pub use mappings::{Mapping, MappingInput, StreamSettings};
pub use outbox::Deliveries;

use nimbus_invoke::permissions::Permissions;
use nimbus_invoke::{Invoker, Outbox};
use nimbus_model::Identity;
use nimbus_queues::Queues;
use nimbus_storage::KvEngine;
use nimbus_tables::Tables;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// The trigger service's errors; the Lambda API maps each onto Lambda's codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `ResourceNotFoundException`.
    #[error("{0}")]
    NotFound(String),
    /// `ResourceConflictException`.
    #[error("{0}")]
    Conflict(String),
    /// `InvalidParameterValueException`.
    #[error("{0}")]
    InvalidParameter(String),
    #[error("storage failed: {0}")]
    Storage(#[from] nimbus_storage::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Event source mappings and their pollers. Cheap to share behind an `Arc`.
pub struct Triggers {
    identity: Identity,
    kv: Arc<dyn KvEngine>,
    invoker: Arc<dyn Invoker>,
    queues: Arc<Queues>,
    tables: Arc<Tables>,
    /// Where stream batches that failed for good go (`OnFailure` queues).
    outbox: Arc<dyn Outbox>,
    /// What function roles may do (`None`: IAM is off, everything is allowed).
    permissions: Option<Arc<dyn Permissions>>,
    /// Why mappings whose role may not read their source are not polling,
    /// by mapping ([`access`]).
    problems: Mutex<HashMap<String, String>>,
    pollers: Mutex<Pollers>,
    /// Where pipes' mappings hand their batches.
    pipes: std::sync::OnceLock<Arc<dyn pipes::PipeRunner>>,
    /// Where stream mappings' `IteratorAge` goes (`AWS/Lambda`).
    metrics: std::sync::OnceLock<Arc<nimbus_metrics::Metrics>>,
}

/// Running pollers of each mapping.
#[derive(Default)]
struct Pollers {
    running: HashMap<String, Vec<tokio::task::AbortHandle>>,
}

impl Triggers {
    /// Record stream mappings' `IteratorAge` in `m` from now on.
    pub fn set_metrics(&self, m: Arc<nimbus_metrics::Metrics>) {
        let _ = self.metrics.set(m);
    }

    pub fn new(
        identity: Identity,
        kv: Arc<dyn KvEngine>,
        invoker: Arc<dyn Invoker>,
        queues: Arc<Queues>,
        tables: Arc<Tables>,
        outbox: Arc<dyn Outbox>,
        permissions: Option<Arc<dyn Permissions>>,
    ) -> Triggers {
        Triggers {
            identity,
            kv,
            invoker,
            queues,
            tables,
            outbox,
            permissions,
            problems: Mutex::new(HashMap::new()),
            pollers: Mutex::new(Pollers::default()),
            pipes: std::sync::OnceLock::new(),
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// Start the supervisor that keeps pollers running for every enabled
    /// mapping. Call once, inside a Tokio runtime.
    pub fn start(self: &Arc<Self>) {
        tokio::spawn(supervisor(Arc::downgrade(self)));
    }

    /// Bring running pollers in line with the mappings (and the backlog).
    fn reconcile_pollers(self: &Arc<Self>) {
        let Ok(mappings) = self.all_mappings() else {
            return;
        };
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
                        tokio::spawn(crate::stream_poller::poll_stream(me, m.uuid.clone()))
                            .abort_handle(),
                    );
                }
                continue;
            }
            let max = m
                .maximum_concurrency
                .unwrap_or(queue_poller::DEFAULT_POLLERS)
                .max(1);
            let backlog = self
                .queues
                .name_from_arn(&m.event_source_arn)
                .map_or(0, |n| self.queues.backlog(&n));
            // One poller per batch waiting, within [1, max].
            let want = (backlog.div_ceil(m.batch_size.max(1) as usize) as u32).clamp(1, max);
            let tasks = pollers.running.entry(m.uuid.clone()).or_default();
            tasks.retain(|t| !t.is_finished());
            while (tasks.len() as u32) < want {
                let me = Arc::downgrade(self);
                let uuid = m.uuid.clone();
                tasks.push(tokio::spawn(queue_poller::poll(me, uuid)).abort_handle());
            }
        }
    }
}

/// What a batch's handler (a function, or a pipe) answered.
pub(crate) enum Answer {
    /// Handled: the payload (which may report `batchItemFailures`).
    Payload(bytes::Bytes),
    /// The batch failed as a whole.
    Failed,
    /// Throttled: try the batch again later.
    Throttled,
}

impl Triggers {
    /// Hand a batch of records to the mapping's function (as `{"Records":
    /// [...]}`, synchronously) or to its pipe.
    pub(crate) async fn hand_over(&self, m: &Mapping, records: Vec<serde_json::Value>) -> Answer {
        if let Some(link) = &m.pipe {
            return match self.run_pipe(link, records).await {
                Ok(p) => Answer::Payload(p.into()),
                Err(why) => {
                    tracing::warn!(pipe = %link.arn, %why, "a pipe's batch failed");
                    Answer::Failed
                }
            };
        }
        let trace = batch_trace(&records);
        let event = serde_json::json!({ "Records": records });
        let mut req = nimbus_invoke::InvokeRequest::sync(
            m.function_name.clone(),
            m.qualifier.clone(),
            bytes::Bytes::from(event.to_string()),
        );
        req.trace_id = trace;
        match self.invoker.invoke(req).await {
            Ok(out) if out.function_error.is_none() => Answer::Payload(out.payload),
            Ok(_) => Answer::Failed,
            Err(nimbus_invoke::InvokeError::TooManyRequests { .. }) => Answer::Throttled,
            Err(e) => {
                tracing::warn!(mapping = %m.uuid, error = %e, "event source mapping could not invoke its function");
                Answer::Failed
            }
        }
    }
}

/// The trace a batch of messages continues: their `AWSTraceHeader` when
/// every record carries one of the same trace (a batch of one, or messages
/// sent by one traced request); `None` (a new trace) otherwise.
fn batch_trace(records: &[serde_json::Value]) -> Option<String> {
    let header = |r: &serde_json::Value| {
        r.pointer("/attributes/AWSTraceHeader")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    let root = |h: &str| {
        h.split(';')
            .find_map(|f| f.trim().strip_prefix("Root="))
            .map(str::to_string)
    };
    let first = header(records.first()?)?;
    let first_root = root(&first)?;
    records
        .iter()
        .all(|r| header(r).and_then(|h| root(&h)).as_deref() == Some(first_root.as_str()))
        .then_some(first)
}

/// Keeps pollers running for every enabled mapping.
async fn supervisor(triggers: Weak<Triggers>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        let Some(me) = triggers.upgrade() else {
            return;
        };
        me.reconcile_pollers();
    }
}
