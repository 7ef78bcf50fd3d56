//! Buses and rules as durable records (rules keyed `bus/name`).

use nimbus_storage::records::Record;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bus {
    pub format: u32,
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub policy: Option<String>,
    pub created_ms: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// One target of a rule, as `PutTargets` gives it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub arn: String,
    /// `Input`: the JSON text sent instead of the event.
    pub input: Option<String>,
    /// `InputPath`: the part of the event sent.
    pub input_path: Option<String>,
    /// `InputTransformer` (`InputPathsMap`, `InputTemplate`).
    pub input_transformer: Option<Value>,
    pub role_arn: Option<String>,
    /// `DeadLetterConfig.Arn`, `RetryPolicy`, `SqsParameters`: kept and shown.
    pub extra: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub format: u32,
    /// `bus/name`.
    pub key: String,
    pub name: String,
    pub bus: String,
    pub arn: String,
    pub pattern: Option<String>,
    pub schedule: Option<String>,
    pub state: String,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub targets: Vec<Target>,
    /// When its schedule last fired (or the rule was made or enabled): the
    /// next firing is the schedule's first after it.
    pub last_fired_ms: u64,
    pub created_ms: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl Rule {
    pub fn enabled(&self) -> bool {
        self.state == "ENABLED"
    }
}

impl Record for Bus {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl Record for Rule {
    fn key(&self) -> &str {
        &self.key
    }
    fn format(&self) -> u32 {
        self.format
    }
}

pub fn rule_key(bus: &str, name: &str) -> String {
    format!("{bus}/{name}")
}

/// `arn:aws:events:R:A:rule/NAME`, or `rule/BUS/NAME` on another bus.
pub fn rule_arn(region: &str, account: &str, bus: &str, name: &str) -> String {
    if bus == crate::DEFAULT_BUS {
        format!("arn:aws:events:{region}:{account}:rule/{name}")
    } else {
        format!("arn:aws:events:{region}:{account}:rule/{bus}/{name}")
    }
}
