//! Durable hand-over of events to targets named by ARN, inside the emitting
//! service's own write batch: the change and its event commit together or not
//! at all (an outbox, not a best-effort callback).

use nimbus_storage::WriteBatch;
use std::any::Any;

/// What a stager hands back from `stage`, to be given to its `committed` once
/// the batch committed. Opaque to everyone but the stager.
pub struct Staged(Box<dyn Any + Send>);

impl Staged {
    pub fn new<T: Any + Send>(token: T) -> Staged {
        Staged(Box::new(token))
    }

    /// The stager's own token, or `self` back if it is of another type.
    pub fn downcast<T: Any>(self) -> Result<T, Staged> {
        self.0.downcast::<T>().map(|b| *b).map_err(Staged)
    }
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Staged")
    }
}

/// Why an event could not be staged for its target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The target does not exist (a deleted function or queue).
    #[error("{0}")]
    NoSuchTarget(String),
    /// Nimbus cannot deliver to this kind of target.
    #[error("{0}")]
    Unsupported(String),
    /// The target exists but refused the event (too large, storage failed).
    #[error("{0}")]
    Failed(String),
}

/// One delivery with what only a queue keeps of it: message attributes and
/// a FIFO queue's group and deduplication ids. Other targets take the
/// payload alone.
#[derive(Debug, Clone, Default)]
pub struct Delivery<'a> {
    pub payload: &'a [u8],
    /// The trace header of the request that caused it.
    pub trace: Option<&'a str>,
    /// Message attributes: name, data type (`String`, `Number`, `Binary`
    /// with an optional `.custom` suffix), value (base64 for `Binary`).
    pub attributes: Vec<(String, String, String)>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    /// A topic's message subject (CloudWatch alarms' notifications).
    pub subject: Option<String>,
}

impl<'a> Delivery<'a> {
    pub fn new(payload: &'a [u8], trace: Option<&'a str>) -> Delivery<'a> {
        Delivery {
            payload,
            trace,
            ..Delivery::default()
        }
    }

    /// With one more `String` message attribute.
    #[must_use]
    pub fn attribute(mut self, name: &str, value: impl Into<String>) -> Delivery<'a> {
        self.attributes
            .push((name.to_string(), "String".to_string(), value.into()));
        self
    }
}

/// Delivers events to functions (as asynchronous invocations), queues (as
/// messages) and any later target kind, inside the caller's transaction.
pub trait Outbox: Send + Sync {
    /// Whether `target` (a function name or ARN, or a queue ARN) exists.
    fn exists(&self, target: &str) -> bool;
    /// Add to `batch` what durably delivers `payload` to `target`, caused by a
    /// request with the trace header `trace`; returns a token for
    /// [`Outbox::committed`].
    fn stage(
        &self,
        target: &str,
        payload: &[u8],
        trace: Option<&str>,
        batch: &mut WriteBatch,
    ) -> Result<Staged, DeliveryError>;
    /// [`Outbox::stage`] with a queue message's extras; targets other than
    /// queues ignore them.
    fn stage_delivery(
        &self,
        target: &str,
        delivery: &Delivery<'_>,
        batch: &mut WriteBatch,
    ) -> Result<Staged, DeliveryError> {
        self.stage(target, delivery.payload, delivery.trace, batch)
    }
    /// The batch committed: run or publish what was staged.
    fn committed(&self, staged: Vec<Staged>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_back_only_as_their_own_type() {
        let s = Staged::new((1u64, 2u64));
        let s = s.downcast::<String>().expect_err("not a string");
        assert_eq!(s.downcast::<(u64, u64)>().unwrap(), (1, 2));
    }
}
