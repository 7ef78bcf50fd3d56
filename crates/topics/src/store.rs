//! Topics and subscriptions as durable records, keyed by ARN.

use nimbus_storage::records::Record;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    pub format: u32,
    pub arn: String,
    pub name: String,
    /// The attributes set (`DisplayName`, `Policy`, ...).
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<(String, String)>,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub format: u32,
    /// `TOPIC_ARN:UUID`.
    pub arn: String,
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    /// `RawMessageDelivery`, `FilterPolicy`, `FilterPolicyScope`, ...
    pub attributes: BTreeMap<String, String>,
    pub created_ms: u64,
    /// An HTTP subscription waiting for its endpoint to confirm it: the
    /// token the confirmation message carries.
    #[serde(default)]
    pub pending_token: Option<String>,
}

impl Subscription {
    /// Confirmed: it receives messages.
    pub fn confirmed(&self) -> bool {
        self.pending_token.is_none()
    }
}

impl Topic {
    /// A FIFO topic (`FifoTopic` true, its name ending `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.attributes
            .get("FifoTopic")
            .is_some_and(|v| v == "true")
    }
}

impl Record for Topic {
    fn key(&self) -> &str {
        &self.arn
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl Record for Subscription {
    fn key(&self) -> &str {
        &self.arn
    }
    fn format(&self) -> u32 {
        self.format
    }
}
