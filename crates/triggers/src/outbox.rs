//! [`Deliveries`]: the outbox every event-emitting service stages into. A
//! function target becomes an asynchronous invocation (through the
//! [`Invoker`]), a queue target a message; both inside the emitter's batch.

use nimbus_invoke::{Delivery, DeliveryError, Invoker, Outbox, Staged};
use nimbus_model::arn::QUEUE_ARN_PREFIX;
use nimbus_queues::{Message, Outgoing, Queues};
use nimbus_storage::WriteBatch;
use std::sync::Arc;

/// Routes each target by its ARN: queues to the queue service, topics to the
/// topic service and event buses to the event service (once they are set:
/// both deliver through this outbox themselves), everything else to
/// functions.
pub struct Deliveries {
    invoker: Arc<dyn Invoker>,
    queues: Arc<Queues>,
    topics: std::sync::OnceLock<Arc<dyn Outbox>>,
    buses: std::sync::OnceLock<Arc<dyn Outbox>>,
    machines: std::sync::OnceLock<Arc<dyn Outbox>>,
}

/// The ARN prefix of topic targets.
const TOPIC_ARN_PREFIX: &str = "arn:aws:sns:";

/// The ARN prefix of event bus targets.
const EVENTS_ARN_PREFIX: &str = "arn:aws:events:";

/// A delivery staged by the topic service.
struct StagedTopic(Staged);

/// A delivery staged by the event service.
struct StagedBus(Staged);

/// The ARN prefix of state machine targets.
const STATES_ARN_PREFIX: &str = "arn:aws:states:";

/// An execution start staged by the workflow service.
struct StagedStart(Staged);

/// A staged queue message: its queue's name and the message (none for a
/// FIFO duplicate, accepted but not sent again).
struct StagedMessage(Option<(String, Message)>);

impl Deliveries {
    pub fn new(invoker: Arc<dyn Invoker>, queues: Arc<Queues>) -> Deliveries {
        Deliveries {
            invoker,
            queues,
            topics: std::sync::OnceLock::new(),
            buses: std::sync::OnceLock::new(),
            machines: std::sync::OnceLock::new(),
        }
    }

    /// The workflow service, for state machine targets.
    pub fn set_machines(&self, machines: Arc<dyn Outbox>) {
        let _ = self.machines.set(machines);
    }

    /// The event service, for event bus targets.
    pub fn set_buses(&self, buses: Arc<dyn Outbox>) {
        let _ = self.buses.set(buses);
    }

    /// The topic service, which itself delivers through this outbox.
    pub fn set_topics(&self, topics: Arc<dyn Outbox>) {
        let _ = self.topics.set(topics);
    }

    fn queue_name(&self, arn: &str) -> Result<String, DeliveryError> {
        self.queues
            .name_from_arn(arn)
            .filter(|n| self.queues.exists(n))
            .ok_or_else(|| {
                DeliveryError::NoSuchTarget(format!(
                    "{arn} is not a queue of this account and region"
                ))
            })
    }
}

/// A delivery's attributes as queue message attributes (`Binary` values
/// come base64-encoded; one that does not decode is left out).
fn message_attributes(
    attributes: &[(String, String, String)],
) -> std::collections::BTreeMap<String, nimbus_queues::Attribute> {
    use base64::Engine as _;
    attributes
        .iter()
        .filter_map(|(name, data_type, value)| {
            let attribute = if data_type.starts_with("Binary") {
                nimbus_queues::Attribute {
                    data_type: data_type.clone(),
                    string_value: None,
                    binary_value: Some(
                        base64::engine::general_purpose::STANDARD
                            .decode(value)
                            .ok()?,
                    ),
                }
            } else {
                nimbus_queues::Attribute {
                    data_type: data_type.clone(),
                    string_value: Some(value.clone()),
                    binary_value: None,
                }
            };
            Some((name.clone(), attribute))
        })
        .collect()
}

impl Outbox for Deliveries {
    fn exists(&self, target: &str) -> bool {
        if target.starts_with(STATES_ARN_PREFIX) {
            return self.machines.get().is_some_and(|m| m.exists(target));
        }
        if target.starts_with(EVENTS_ARN_PREFIX) {
            return self.buses.get().is_some_and(|b| b.exists(target));
        }
        if target.starts_with(TOPIC_ARN_PREFIX) {
            return self.topics.get().is_some_and(|t| t.exists(target));
        }
        if target.starts_with(QUEUE_ARN_PREFIX) {
            return self.queue_name(target).is_ok();
        }
        self.invoker.target(target).is_ok()
    }

    fn stage(
        &self,
        target: &str,
        payload: &[u8],
        trace: Option<&str>,
        batch: &mut WriteBatch,
    ) -> Result<Staged, DeliveryError> {
        self.stage_delivery(target, &Delivery::new(payload, trace), batch)
    }

    fn stage_delivery(
        &self,
        target: &str,
        delivery: &Delivery<'_>,
        batch: &mut WriteBatch,
    ) -> Result<Staged, DeliveryError> {
        let (payload, trace) = (delivery.payload, delivery.trace);
        if target.starts_with(STATES_ARN_PREFIX) {
            let machines = self.machines.get().ok_or_else(|| {
                DeliveryError::NoSuchTarget(format!("{target}: there are no state machines yet"))
            })?;
            let inner = machines.stage(target, payload, trace, batch)?;
            return Ok(Staged::new(StagedStart(inner)));
        }
        if target.starts_with(EVENTS_ARN_PREFIX) {
            let buses = self.buses.get().ok_or_else(|| {
                DeliveryError::NoSuchTarget(format!("{target}: there are no event buses yet"))
            })?;
            let inner = buses.stage(target, payload, trace, batch)?;
            return Ok(Staged::new(StagedBus(inner)));
        }
        if target.starts_with(TOPIC_ARN_PREFIX) {
            let topics = self.topics.get().ok_or_else(|| {
                DeliveryError::NoSuchTarget(format!("{target}: there are no topics yet"))
            })?;
            let inner = topics.stage_delivery(target, delivery, batch)?;
            return Ok(Staged::new(StagedTopic(inner)));
        }
        if target.starts_with(QUEUE_ARN_PREFIX) {
            let name = self.queue_name(target)?;
            let out = Outgoing {
                body: String::from_utf8_lossy(payload).into_owned(),
                trace_header: trace.map(str::to_string),
                attributes: message_attributes(&delivery.attributes),
                group_id: delivery.group_id.clone(),
                dedup_id: delivery.dedup_id.clone(),
                ..Default::default()
            };
            let staged = self
                .queues
                .stage_send(&name, out, "nimbus", batch)
                .map_err(|e| match e {
                    nimbus_queues::Error::QueueDoesNotExist => {
                        DeliveryError::NoSuchTarget(format!("{target}: {e}"))
                    }
                    other => DeliveryError::Failed(format!("{target}: {other}")),
                })?;
            return Ok(Staged::new(StagedMessage(staged)));
        }
        self.invoker
            .stage_async(target, payload, trace, batch)
            .map_err(|e| match e {
                nimbus_invoke::InvokeError::FunctionNotFound(m) => DeliveryError::NoSuchTarget(m),
                other => DeliveryError::Failed(other.to_string()),
            })
    }

    fn committed(&self, staged: Vec<Staged>) {
        let mut messages = Vec::new();
        let mut invocations = Vec::new();
        let mut published = Vec::new();
        let mut events = Vec::new();
        let mut starts = Vec::new();
        for s in staged {
            let s = match s.downcast::<StagedStart>() {
                Ok(StagedStart(inner)) => {
                    starts.push(inner);
                    continue;
                }
                Err(other) => other,
            };
            let s = match s.downcast::<StagedBus>() {
                Ok(StagedBus(inner)) => {
                    events.push(inner);
                    continue;
                }
                Err(other) => other,
            };
            let s = match s.downcast::<StagedTopic>() {
                Ok(StagedTopic(inner)) => {
                    published.push(inner);
                    continue;
                }
                Err(other) => other,
            };
            match s.downcast::<StagedMessage>() {
                Ok(StagedMessage(message)) => messages.extend(message),
                Err(other) => invocations.push(other),
            }
        }
        if let (Some(topics), false) = (self.topics.get(), published.is_empty()) {
            topics.committed(published);
        }
        if let (Some(buses), false) = (self.buses.get(), events.is_empty()) {
            buses.committed(events);
        }
        if let (Some(machines), false) = (self.machines.get(), starts.is_empty()) {
            machines.committed(starts);
        }
        if !messages.is_empty() {
            self.queues.publish_staged(messages);
        }
        if !invocations.is_empty() {
            self.invoker.committed(invocations);
        }
    }
}
