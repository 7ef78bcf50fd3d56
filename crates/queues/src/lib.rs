//! The queue service behind the SQS API: standard queues with SQS's attributes,
//! messages with message attributes and SQS's MD5 digests, delays, visibility
//! timeouts, long polling, and redrive to a dead-letter queue after
//! `maxReceiveCount` receives. It knows nothing of HTTP; `nimbus-api-sqs` maps the
//! wire onto it.
//!
//! Durability: a message is committed before `send` returns; every receive (its
//! count and new visibility) and delete is committed too, so a `kill -9` loses no
//! acknowledged message and no receive count. Queues keep an in-memory index of
//! their messages, rebuilt from the store at start.

mod metrics;
mod receiving;
use md5::{Digest, Md5};
use nimbus_storage::{KvEngine, Table, WriteBatch};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const QUEUES: Table = Table("sqs_queues");
/// `queue\0<seq, 8 bytes big-endian>` -> [`Message`].
const MESSAGES: Table = Table("sqs_messages");
/// FIFO deduplication memory, so a restart does not forget it:
/// `queue\0<dedup key>` -> ([`DedupEntry`]).
const DEDUP: Table = Table("sqs_dedup");

/// A remembered deduplication id: until when, and the message first sent with it.
#[derive(Serialize, Deserialize)]
struct DedupEntry {
    until_ms: u64,
    message: Message,
}

fn dedup_table_key(queue: &str, key: &str) -> Vec<u8> {
    let mut k = queue.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// SQS's limits.
/// 1 MiB since SQS raised it in 2025 (the default of a new queue too).
pub const MAX_MESSAGE_BYTES: usize = 1_048_576;
pub const MAX_RECEIVE: usize = 10;
pub const MAX_WAIT_SECS: u64 = 20;

/// The characters a message body or attribute value may hold (XML's).
fn allowed_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    #[error("A queue already exists with the same name and a different value for attribute {0}")]
    QueueNameExists(String),
    #[error("{0}")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("The input receipt handle \"{0}\" is not a valid receipt handle.")]
    ReceiptHandleIsInvalid(String),
    #[error("{0}")]
    Unsupported(String),
    /// A body or attribute value with characters SQS does not carry.
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("The request must contain the parameter {0}.")]
    MissingParameter(String),
    #[error("Only one PurgeQueue operation on {0} is allowed every 60 seconds.")]
    PurgeQueueInProgress(String),
    #[error(
        "You must wait 60 seconds after deleting a queue before you can create another with the same name."
    )]
    QueueDeletedRecently(String),
    #[error("{0}")]
    Storage(#[from] nimbus_storage::Error),
    #[error("stored queue data is unreadable: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A message attribute as SQS carries it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attribute {
    /// `String`, `Number`, `Binary`, optionally with a `.custom` suffix.
    pub data_type: String,
    pub string_value: Option<String>,
    pub binary_value: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Message {
    pub seq: u64,
    pub id: String,
    pub body: String,
    pub attributes: BTreeMap<String, Attribute>,
    pub sent_ms: u64,
    pub visible_at_ms: u64,
    pub receive_count: u32,
    pub first_receive_ms: Option<u64>,
    /// Changes at every receive: part of the receipt handle.
    pub nonce: String,
    pub sender_id: String,
    /// `AWSTraceHeader` system attribute.
    #[serde(default)]
    pub trace_header: Option<String>,
    /// Set when the message was moved here from another queue's redrive.
    #[serde(default)]
    pub dead_letter_source_arn: Option<String>,
    /// FIFO queues: the message group, and the deduplication id.
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub dedup_id: Option<String>,
}

impl Message {
    /// FIFO's `SequenceNumber`: increasing, 20 digits.
    pub fn sequence_number(&self) -> String {
        format!("{:020}", self.seq)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueueRecord {
    pub name: String,
    pub created_ms: u64,
    pub modified_ms: u64,
    /// The settable attributes (`VisibilityTimeout`, `RedrivePolicy`, ...).
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Attributes a queue may be created or updated with, and their defaults.
const SETTABLE: &[(&str, &str)] = &[
    ("DelaySeconds", "0"),
    ("MaximumMessageSize", "1048576"),
    ("MessageRetentionPeriod", "345600"),
    ("ReceiveMessageWaitTimeSeconds", "0"),
    ("VisibilityTimeout", "30"),
    ("RedrivePolicy", ""),
    ("RedriveAllowPolicy", ""),
    ("Policy", ""),
    ("KmsMasterKeyId", ""),
    ("KmsDataKeyReusePeriodSeconds", "300"),
    ("SqsManagedSseEnabled", "true"),
];

/// Attributes only FIFO queues take, and their defaults.
const FIFO_SETTABLE: &[(&str, &str)] = &[
    ("ContentBasedDeduplication", "false"),
    ("DeduplicationScope", "queue"),
    ("FifoThroughputLimit", "perQueue"),
];

/// How long a FIFO deduplication id is remembered.
const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;

fn int_in(name: &str, v: &str, lo: u64, hi: u64) -> Result<u64> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| {
            Error::InvalidAttributeValue(format!("Invalid value for the parameter {name}."))
        })
}

/// Check one settable attribute's value.
fn validate(name: &str, value: &str) -> Result<()> {
    match name {
        "DelaySeconds" => int_in(name, value, 0, 900).map(|_| ()),
        "MaximumMessageSize" => int_in(name, value, 1024, MAX_MESSAGE_BYTES as u64).map(|_| ()),
        "MessageRetentionPeriod" => int_in(name, value, 60, 1_209_600).map(|_| ()),
        "ReceiveMessageWaitTimeSeconds" => int_in(name, value, 0, 20).map(|_| ()),
        "VisibilityTimeout" => int_in(name, value, 0, 43_200).map(|_| ()),
        "KmsDataKeyReusePeriodSeconds" => int_in(name, value, 60, 86_400).map(|_| ()),
        "RedrivePolicy" => {
            if value.is_empty() {
                return Ok(());
            }
            let p: serde_json::Value = serde_json::from_str(value).map_err(|_| {
                Error::InvalidAttributeValue("Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.".into())
            })?;
            let arn_ok = p["deadLetterTargetArn"]
                .as_str()
                .is_some_and(|a| a.starts_with("arn:aws:sqs:"));
            let count = match &p["maxReceiveCount"] {
                serde_json::Value::Number(n) => n.as_u64(),
                serde_json::Value::String(s) => s.parse().ok(),
                _ => None,
            };
            if !arn_ok || !count.is_some_and(|c| (1..=1000).contains(&c)) {
                return Err(Error::InvalidAttributeValue(
                    "Value for parameter RedrivePolicy is invalid. Reason: Redrive policy needs deadLetterTargetArn and a maxReceiveCount between 1 and 1000.".into(),
                ));
            }
            Ok(())
        }
        "RedriveAllowPolicy" => {
            if value.is_empty() {
                return Ok(());
            }
            let bad = |why: &str| {
                Error::InvalidAttributeValue(format!(
                    "Value {value} for parameter RedriveAllowPolicy is invalid. Reason: {why}"
                ))
            };
            let p: serde_json::Value = serde_json::from_str(value)
                .ok()
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| bad("Redrive allow policy is not a valid JSON map."))?;
            let sources = &p["sourceQueueArns"];
            match p["redrivePermission"].as_str() {
                Some("allowAll" | "denyAll") if sources.is_null() => Ok(()),
                Some("allowAll" | "denyAll") => Err(bad(
                    "sourceQueueArns may be given only when redrivePermission is byQueue.",
                )),
                Some("byQueue") => match sources.as_array() {
                    Some(a)
                        if (1..=10).contains(&a.len())
                            && a.iter().all(|s| {
                                s.as_str().is_some_and(|s| s.starts_with("arn:aws:sqs:"))
                            }) =>
                    {
                        Ok(())
                    }
                    _ => Err(bad(
                        "redrivePermission byQueue needs sourceQueueArns: 1 to 10 queue ARNs.",
                    )),
                },
                _ => Err(bad(
                    "redrivePermission must be allowAll, denyAll or byQueue.",
                )),
            }
        }
        "ContentBasedDeduplication" | "SqsManagedSseEnabled" => match value {
            "true" | "false" => Ok(()),
            _ => Err(Error::InvalidAttributeValue(format!(
                "Invalid value for the parameter {name}."
            ))),
        },
        "DeduplicationScope" => match value {
            "queue" | "messageGroup" => Ok(()),
            _ => Err(Error::InvalidAttributeValue(format!(
                "Invalid value for the parameter {name}."
            ))),
        },
        "FifoThroughputLimit" => match value {
            "perQueue" | "perMessageGroupId" => Ok(()),
            _ => Err(Error::InvalidAttributeValue(format!(
                "Invalid value for the parameter {name}."
            ))),
        },
        _ => Ok(()),
    }
}

/// Whether the dead-letter queue `dlq`'s `RedriveAllowPolicy` lets the queue
/// `source_arn` send its failed messages there.
fn redrive_allowed(dlq: &QueueRecord, source_arn: &str) -> bool {
    let Some(policy) = dlq.attributes.get("RedriveAllowPolicy") else {
        return true;
    };
    let Ok(p) = serde_json::from_str::<serde_json::Value>(policy) else {
        return true;
    };
    match p["redrivePermission"].as_str() {
        Some("denyAll") => false,
        Some("byQueue") => p["sourceQueueArns"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(source_arn))),
        _ => true,
    }
}

/// SQS's queue name rule: 1-80 characters, alphanumerics, hyphens, underscores
/// (and the `.fifo` suffix of a FIFO queue).
pub fn validate_name(name: &str) -> Result<()> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    if base.is_empty()
        || name.len() > 80
        || !base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
                .into(),
        ));
    }
    Ok(())
}

fn length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// SQS's `MD5OfMessageAttributes`: names sorted; for each, the name, the data
/// type, a transport byte (1 string/number, 2 binary) and the value, each
/// length-prefixed (4 bytes, big-endian).
pub fn md5_of_attributes(attrs: &BTreeMap<String, Attribute>) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    let mut buf = Vec::new();
    for (name, a) in attrs {
        length_prefixed(&mut buf, name.as_bytes());
        length_prefixed(&mut buf, a.data_type.as_bytes());
        if a.data_type.starts_with("Binary") {
            buf.push(2);
            length_prefixed(&mut buf, a.binary_value.as_deref().unwrap_or_default());
        } else {
            buf.push(1);
            length_prefixed(&mut buf, a.string_value.as_deref().unwrap_or("").as_bytes());
        }
    }
    Some(hex::encode(Md5::digest(&buf)))
}

pub fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// What a receipt handle names: the message and its receive.
fn receipt(queue: &str, m: &Message) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{queue}\n{}\n{}", m.seq, m.nonce))
}

fn parse_receipt(handle: &str) -> Option<(String, u64, String)> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(handle)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut it = text.splitn(3, '\n');
    Some((
        it.next()?.to_string(),
        it.next()?.parse().ok()?,
        it.next()?.to_string(),
    ))
}

/// Run a blocking commit without stalling the async worker it is called on:
/// a worker blocked on an fsync serves no other request, so with two workers
/// at most two commits could ever share a group. Called outside a
/// multi-threaded runtime (unit tests), it just runs.
fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn message_key(queue: &str, seq: u64) -> Vec<u8> {
    let mut k = queue.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| Error::Corrupt(e.to_string()))
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialize")
}

/// A received message, with its receipt handle.
#[derive(Debug, Clone)]
pub struct Received {
    pub message: Message,
    pub receipt_handle: String,
}

/// One message to send.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    pub body: String,
    pub attributes: BTreeMap<String, Attribute>,
    pub delay_secs: Option<u64>,
    pub trace_header: Option<String>,
    /// FIFO: `MessageGroupId` and `MessageDeduplicationId`.
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

struct Live {
    rec: QueueRecord,
    messages: BTreeMap<u64, Message>,
    notify: Arc<tokio::sync::Notify>,
    /// FIFO deduplication: key -> (forgotten at, the message first sent with it).
    dedup: HashMap<String, (u64, Message)>,
    /// When the queue was last purged (one purge a minute, as on SQS).
    purged_ms: Option<u64>,
}

impl QueueRecord {
    pub fn is_fifo(&self) -> bool {
        self.attributes
            .get("FifoQueue")
            .is_some_and(|v| v == "true")
    }
}

/// The service.
pub struct Queues {
    kv: Arc<dyn KvEngine>,
    /// Account and region, for queue ARNs.
    account: String,
    region: String,
    live: Mutex<HashMap<String, Live>>,
    /// When each queue was deleted (its name is not reused for 60 seconds).
    deleted: Mutex<HashMap<String, u64>>,
    next_seq: std::sync::atomic::AtomicU64,
    /// Where SQS's counters go (see `metrics`).
    metrics: std::sync::OnceLock<Arc<nimbus_metrics::Metrics>>,
}

impl Queues {
    /// Load every queue and message.
    pub fn open(kv: Arc<dyn KvEngine>, account: &str, region: &str) -> Result<Queues> {
        let mut live = HashMap::new();
        for (_, v) in kv.scan_prefix(QUEUES, b"")? {
            let rec: QueueRecord = decode(&v)?;
            live.insert(
                rec.name.clone(),
                Live {
                    rec,
                    messages: BTreeMap::new(),
                    notify: Arc::new(tokio::sync::Notify::new()),
                    dedup: HashMap::new(),
                    purged_ms: None,
                },
            );
        }
        let now = nimbus_model::time::now_millis();
        let mut forgotten = WriteBatch::new();
        for (k, v) in kv.scan_prefix(DEDUP, b"")? {
            let e: DedupEntry = decode(&v)?;
            let mut parts = k.splitn(2, |b| *b == 0);
            let queue = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            let key = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            match live.get_mut(&queue) {
                Some(q) if e.until_ms > now => {
                    q.dedup.insert(key, (e.until_ms, e.message));
                }
                _ => {
                    forgotten.delete(DEDUP, k);
                }
            }
        }
        if !forgotten.is_empty() {
            kv.commit(forgotten)?;
        }
        let mut max_seq = 0;
        for (k, v) in kv.scan_prefix(MESSAGES, b"")? {
            let m: Message = decode(&v)?;
            max_seq = max_seq.max(m.seq);
            let queue = k.split(|b| *b == 0).next().unwrap_or_default();
            if let Some(q) = live.get_mut(&*String::from_utf8_lossy(queue)) {
                q.messages.insert(m.seq, m);
            }
        }
        Ok(Queues {
            kv,
            account: account.into(),
            region: region.into(),
            live: Mutex::new(live),
            deleted: Mutex::new(HashMap::new()),
            next_seq: std::sync::atomic::AtomicU64::new(max_seq + 1),
            metrics: std::sync::OnceLock::new(),
        })
    }

    pub fn arn(&self, name: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{name}", self.region, self.account)
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// The queue name in an SQS queue ARN of this account and region.
    pub fn name_from_arn(&self, arn: &str) -> Option<String> {
        let prefix = format!("arn:aws:sqs:{}:{}:", self.region, self.account);
        arn.strip_prefix(&prefix).map(str::to_string)
    }

    /// Check a `RedrivePolicy` about to be set on `source`: its dead-letter queue
    /// exists, is of the same type, and its `RedriveAllowPolicy` admits `source`.
    fn check_redrive_target(
        &self,
        live: &HashMap<String, Live>,
        source: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<()> {
        let Some(policy) = attributes.get("RedrivePolicy").filter(|p| !p.is_empty()) else {
            return Ok(());
        };
        let bad = |why: String| {
            Error::InvalidParameterValue(format!(
                "Value {policy} for parameter RedrivePolicy is invalid. Reason: {why}"
            ))
        };
        let v: serde_json::Value = serde_json::from_str(policy)
            .map_err(|_| bad("Redrive policy is not a valid JSON map.".into()))?;
        let arn = v["deadLetterTargetArn"].as_str().unwrap_or_default();
        let dlq = self
            .name_from_arn(arn)
            .and_then(|n| live.get(&n))
            .ok_or_else(|| bad("Dead letter target does not exist.".into()))?;
        if dlq.rec.is_fifo() != source.ends_with(".fifo") {
            return Err(bad(
                "Dead-letter queue must be same type of queue as the source.".into(),
            ));
        }
        if !redrive_allowed(&dlq.rec, &self.arn(source)) {
            return Err(bad(format!(
                "Queue {arn} does not allow this queue to use it as a dead-letter queue (its RedriveAllowPolicy)."
            )));
        }
        Ok(())
    }

    pub fn create(
        &self,
        name: &str,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<()> {
        validate_name(name)?;
        // SQS takes `True` as well as `true`.
        let fifo = attributes
            .get("FifoQueue")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if fifo != name.ends_with(".fifo") {
            return Err(Error::InvalidParameterValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length; a queue whose name ends with .fifo must have the FifoQueue attribute set to true".into(),
            ));
        }
        let mut attrs: BTreeMap<String, String> = SETTABLE
            .iter()
            .chain(if fifo { FIFO_SETTABLE } else { &[] })
            .filter(|(_, d)| !d.is_empty())
            .map(|(k, d)| (k.to_string(), d.to_string()))
            .collect();
        if fifo {
            attrs.insert("FifoQueue".into(), "true".into());
        }
        for (k, v) in &attributes {
            if k == "FifoQueue" {
                continue;
            }
            let fifo_only = FIFO_SETTABLE.iter().any(|(n, _)| n == k);
            let known = SETTABLE.iter().any(|(n, _)| n == k) || (fifo && fifo_only);
            if !known {
                return Err(Error::InvalidAttributeName(format!(
                    "Unknown Attribute {k}."
                )));
            }
            validate(k, v)?;
            attrs.insert(k.clone(), v.clone());
        }
        let mut live = self.live.lock().expect("queues lock");
        self.check_redrive_target(&live, name, &attributes)?;
        if let Some(existing) = live.get(name) {
            // Same name, same attributes: SQS answers with the existing queue.
            for (k, v) in &attributes {
                if k != "FifoQueue" && existing.rec.attributes.get(k) != Some(v) {
                    return Err(Error::QueueNameExists(k.clone()));
                }
            }
            return Ok(());
        }
        let now = nimbus_model::time::now_millis();
        {
            let mut deleted = self.deleted.lock().expect("deleted queues lock");
            deleted.retain(|_, at| now < *at + 60_000);
            if deleted.contains_key(name) {
                return Err(Error::QueueDeletedRecently(name.to_string()));
            }
        }
        let rec = QueueRecord {
            name: name.into(),
            created_ms: now,
            modified_ms: now,
            attributes: attrs,
            tags,
        };
        let mut batch = WriteBatch::new();
        batch.put(QUEUES, name.as_bytes(), encode(&rec));
        self.kv.commit(batch)?;
        live.insert(
            name.into(),
            Live {
                rec,
                messages: BTreeMap::new(),
                notify: Arc::new(tokio::sync::Notify::new()),
                dedup: HashMap::new(),
                purged_ms: None,
            },
        );
        Ok(())
    }

    pub fn exists(&self, name: &str) -> bool {
        self.live.lock().expect("queues lock").contains_key(name)
    }

    /// The queues whose redrive policy names the queue `name` as their
    /// dead-letter queue (`ListDeadLetterSourceQueues`), sorted.
    pub fn dead_letter_sources(&self, name: &str) -> Vec<String> {
        let arn = self.arn(name);
        let live = self.live.lock().expect("queues lock");
        let mut names: Vec<String> = live
            .iter()
            .filter(|(_, q)| {
                q.rec
                    .attributes
                    .get("RedrivePolicy")
                    .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
                    .is_some_and(|p| p["deadLetterTargetArn"].as_str() == Some(arn.as_str()))
            })
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    pub fn list(&self, prefix: &str) -> Vec<String> {
        let live = self.live.lock().expect("queues lock");
        let mut names: Vec<String> = live
            .keys()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect();
        names.sort();
        names
    }

    pub fn delete_queue(&self, name: &str) -> Result<()> {
        let mut live = self.live.lock().expect("queues lock");
        let q = live.get(name).ok_or(Error::QueueDoesNotExist)?;
        let mut batch = WriteBatch::new();
        batch.delete(QUEUES, name.as_bytes());
        for seq in q.messages.keys() {
            batch.delete(MESSAGES, message_key(name, *seq));
        }
        for key in q.dedup.keys() {
            batch.delete(DEDUP, dedup_table_key(name, key));
        }
        self.kv.commit(batch)?;
        if let Some(q) = live.remove(name) {
            q.notify.notify_waiters();
        }
        self.deleted
            .lock()
            .expect("deleted queues lock")
            .insert(name.to_string(), nimbus_model::time::now_millis());
        Ok(())
    }

    pub fn purge(&self, name: &str) -> Result<()> {
        let mut live = self.live.lock().expect("queues lock");
        let q = live.get_mut(name).ok_or(Error::QueueDoesNotExist)?;
        let now = nimbus_model::time::now_millis();
        if q.purged_ms.is_some_and(|t| now < t + 60_000) {
            return Err(Error::PurgeQueueInProgress(name.to_string()));
        }
        let mut batch = WriteBatch::new();
        for seq in q.messages.keys() {
            batch.delete(MESSAGES, message_key(name, *seq));
        }
        self.kv.commit(batch)?;
        q.purged_ms = Some(now);
        q.messages.clear();
        Ok(())
    }

    /// Every queue's depth now, for CloudWatch's `AWS/SQS` gauges: name,
    /// visible, in flight, delayed, and the oldest message's age (s).
    pub fn gauges(&self) -> Vec<(String, u64, u64, u64, u64)> {
        let live = self.live.lock().expect("queues lock");
        let now = nimbus_model::time::now_millis();
        live.iter()
            .map(|(name, q)| {
                let (mut visible, mut inflight, mut delayed, mut oldest) = (0, 0, 0, now);
                for m in q.messages.values() {
                    oldest = oldest.min(m.sent_ms);
                    if m.visible_at_ms <= now {
                        visible += 1;
                    } else if m.receive_count == 0 {
                        delayed += 1;
                    } else {
                        inflight += 1;
                    }
                }
                (
                    name.clone(),
                    visible,
                    inflight,
                    delayed,
                    (now - oldest) / 1000,
                )
            })
            .collect()
    }

    /// Settable and computed attributes, by SQS's names.
    /// The queue's access policy (its `Policy` attribute), if it has one.
    pub fn policy(&self, name: &str) -> Option<String> {
        let live = self.live.lock().expect("queues lock");
        let p = live.get(name)?.rec.attributes.get("Policy")?;
        (!p.is_empty()).then(|| p.clone())
    }

    pub fn attributes(&self, name: &str) -> Result<BTreeMap<String, String>> {
        let live = self.live.lock().expect("queues lock");
        let q = live.get(name).ok_or(Error::QueueDoesNotExist)?;
        let now = nimbus_model::time::now_millis();
        let mut a = q.rec.attributes.clone();
        let (mut visible, mut inflight, mut delayed) = (0, 0, 0);
        for m in q.messages.values() {
            if m.visible_at_ms <= now {
                visible += 1;
            } else if m.receive_count == 0 {
                delayed += 1;
            } else {
                inflight += 1;
            }
        }
        a.insert("ApproximateNumberOfMessages".into(), visible.to_string());
        a.insert(
            "ApproximateNumberOfMessagesNotVisible".into(),
            inflight.to_string(),
        );
        a.insert(
            "ApproximateNumberOfMessagesDelayed".into(),
            delayed.to_string(),
        );
        a.insert(
            "CreatedTimestamp".into(),
            (q.rec.created_ms / 1000).to_string(),
        );
        a.insert(
            "LastModifiedTimestamp".into(),
            (q.rec.modified_ms / 1000).to_string(),
        );
        a.insert("QueueArn".into(), self.arn(name));
        Ok(a)
    }

    pub fn set_attributes(&self, name: &str, attributes: BTreeMap<String, String>) -> Result<()> {
        let fifo = name.ends_with(".fifo");
        for (k, v) in &attributes {
            let fifo_only = FIFO_SETTABLE.iter().any(|(n, _)| n == k);
            let known = SETTABLE.iter().any(|(n, _)| n == k) || (fifo && fifo_only);
            if !known {
                return Err(Error::InvalidAttributeName(format!(
                    "Unknown Attribute {k}."
                )));
            }
            validate(k, v)?;
        }
        let mut live = self.live.lock().expect("queues lock");
        if !live.contains_key(name) {
            return Err(Error::QueueDoesNotExist);
        }
        self.check_redrive_target(&live, name, &attributes)?;
        let q = live.get_mut(name).ok_or(Error::QueueDoesNotExist)?;
        let mut rec = q.rec.clone();
        for (k, v) in attributes {
            if v.is_empty()
                && matches!(
                    k.as_str(),
                    "RedrivePolicy" | "RedriveAllowPolicy" | "Policy"
                )
            {
                rec.attributes.remove(&k);
            } else {
                rec.attributes.insert(k, v);
            }
        }
        rec.modified_ms = nimbus_model::time::now_millis();
        let mut batch = WriteBatch::new();
        batch.put(QUEUES, name.as_bytes(), encode(&rec));
        self.kv.commit(batch)?;
        q.rec = rec;
        Ok(())
    }

    /// Whether some queue's redrive policy names `name` as its dead-letter queue.
    pub fn is_dead_letter_queue(&self, name: &str) -> bool {
        let arn = self.arn(name);
        let live = self.live.lock().expect("queues lock");
        live.values().any(|q| {
            q.rec
                .attributes
                .get("RedrivePolicy")
                .is_some_and(|p| p.contains(&format!("\"{arn}\"")))
        })
    }

    /// Move every available message of `source` (a dead-letter queue) back to
    /// the queue it came from, or to `destination`, in one transaction; returns
    /// how many moved. Messages whose origin is gone stay.
    pub fn move_messages(
        &self,
        source: &str,
        destination: Option<&str>,
        limit: usize,
    ) -> Result<usize> {
        let now = nimbus_model::time::now_millis();
        let mut live = self.live.lock().expect("queues lock");
        if let Some(d) = destination
            && !live.contains_key(d)
        {
            return Err(Error::QueueDoesNotExist);
        }
        let q = live.get(source).ok_or(Error::QueueDoesNotExist)?;
        let mut batch = WriteBatch::new();
        let mut moves = Vec::new();
        for m in q
            .messages
            .values()
            .filter(|m| m.visible_at_ms <= now)
            .take(limit)
        {
            let target = match destination {
                Some(d) => d.to_string(),
                None => match m
                    .dead_letter_source_arn
                    .as_deref()
                    .and_then(|a| self.name_from_arn(a))
                {
                    Some(t) if live.contains_key(&t) => t,
                    _ => continue,
                },
            };
            let mut moved = m.clone();
            moved.seq = self
                .next_seq
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            moved.receive_count = 0;
            moved.first_receive_ms = None;
            moved.visible_at_ms = now;
            moved.dead_letter_source_arn = None;
            batch.delete(MESSAGES, message_key(source, m.seq));
            batch.put(MESSAGES, message_key(&target, moved.seq), encode(&moved));
            moves.push((m.seq, target, moved));
        }
        if moves.is_empty() {
            return Ok(0);
        }
        self.kv.commit(batch)?;
        let n = moves.len();
        for (old, target, m) in moves {
            if let Some(q) = live.get_mut(source) {
                q.messages.remove(&old);
            }
            if let Some(t) = live.get_mut(&target) {
                t.messages.insert(m.seq, m);
                t.notify.notify_waiters();
            }
        }
        Ok(n)
    }

    /// Messages that can be received now.
    pub fn backlog(&self, name: &str) -> usize {
        let now = nimbus_model::time::now_millis();
        let live = self.live.lock().expect("queues lock");
        live.get(name).map_or(0, |q| {
            q.messages
                .values()
                .filter(|m| m.visible_at_ms <= now)
                .count()
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn tags(&self, name: &str) -> Result<BTreeMap<String, String>> {
        let live = self.live.lock().expect("queues lock");
        Ok(live
            .get(name)
            .ok_or(Error::QueueDoesNotExist)?
            .rec
            .tags
            .clone())
    }

    pub fn set_tags(
        &self,
        name: &str,
        change: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> Result<()> {
        let mut live = self.live.lock().expect("queues lock");
        let q = live.get_mut(name).ok_or(Error::QueueDoesNotExist)?;
        let mut rec = q.rec.clone();
        change(&mut rec.tags);
        let mut batch = WriteBatch::new();
        batch.put(QUEUES, name.as_bytes(), encode(&rec));
        self.kv.commit(batch)?;
        q.rec = rec;
        Ok(())
    }

    fn new_message(&self, q: &QueueRecord, out: Outgoing, sender: &str) -> Message {
        let now = nimbus_model::time::now_millis();
        let delay = out.delay_secs.unwrap_or_else(|| {
            q.attributes
                .get("DelaySeconds")
                .and_then(|d| d.parse().ok())
                .unwrap_or(0)
        });
        Message {
            seq: self
                .next_seq
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            id: uuid::Uuid::new_v4().to_string(),
            body: out.body,
            attributes: out.attributes,
            sent_ms: now,
            visible_at_ms: now + delay * 1000,
            receive_count: 0,
            first_receive_ms: None,
            nonce: String::new(),
            sender_id: sender.into(),
            trace_header: out.trace_header,
            dead_letter_source_arn: None,
            group_id: out.group_id,
            dedup_id: out.dedup_id,
        }
    }

    /// For a FIFO queue: check the group and deduplication ids and fill in the
    /// content-based one. `Ok(Some(original))` when the message is a duplicate.
    fn fifo_checks(q: &mut Live, out: &mut Outgoing, now: u64) -> Result<Option<Message>> {
        if !q.rec.is_fifo() {
            if out.dedup_id.is_some() {
                return Err(Error::InvalidParameterValue(
                    "The request include parameter MessageDeduplicationId that is not valid for this queue type".into(),
                ));
            }
            return Ok(None);
        }
        // A FIFO queue delays by its own attribute only; a message's 0 is no delay.
        if out.delay_secs.is_some_and(|d| d > 0) {
            return Err(Error::InvalidParameterValue(
                "Value for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.".into(),
            ));
        }
        out.delay_secs = None;
        let group = out
            .group_id
            .clone()
            .ok_or_else(|| Error::MissingParameter("MessageGroupId".into()))?;
        let dedup = match &out.dedup_id {
            Some(d) => d.clone(),
            None if q
                .rec
                .attributes
                .get("ContentBasedDeduplication")
                .is_some_and(|v| v == "true") =>
            {
                use sha2::Digest as _;
                hex::encode(sha2::Sha256::digest(out.body.as_bytes()))
            }
            None => {
                return Err(Error::InvalidParameterValue(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly".into(),
                ));
            }
        };
        out.dedup_id = Some(dedup.clone());
        let key = if q
            .rec
            .attributes
            .get("DeduplicationScope")
            .is_some_and(|s| s == "messageGroup")
        {
            format!("{group}\n{dedup}")
        } else {
            dedup
        };
        Ok(q.dedup
            .get(&key)
            .filter(|(until, _)| *until > now)
            .map(|(_, m)| m.clone()))
    }

    fn dedup_key(q: &Live, m: &Message) -> Option<String> {
        let dedup = m.dedup_id.clone()?;
        Some(
            if q.rec
                .attributes
                .get("DeduplicationScope")
                .is_some_and(|s| s == "messageGroup")
            {
                format!("{}\n{dedup}", m.group_id.as_deref().unwrap_or(""))
            } else {
                dedup
            },
        )
    }

    /// Check a message against the queue's size limit.
    fn check_size(q: &QueueRecord, out: &Outgoing) -> Result<()> {
        let max: usize = q
            .attributes
            .get("MaximumMessageSize")
            .and_then(|m| m.parse().ok())
            .unwrap_or(MAX_MESSAGE_BYTES);
        let attrs: usize = out
            .attributes
            .iter()
            .map(|(k, a)| {
                k.len()
                    + a.data_type.len()
                    + a.string_value.as_ref().map_or(0, String::len)
                    + a.binary_value.as_ref().map_or(0, Vec::len)
            })
            .sum();
        if out.body.len() + attrs > max {
            return Err(Error::InvalidParameterValue(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
            )));
        }
        if out.body.is_empty() {
            return Err(Error::InvalidParameterValue(
                "The request must contain the parameter MessageBody.".into(),
            ));
        }
        if let Some(c) = out.body.chars().find(|c| !allowed_char(*c)) {
            return Err(Error::InvalidMessageContents(format!(
                "Invalid binary character '#x{:X}' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
                c as u32
            )));
        }
        for (name, a) in &out.attributes {
            if let Some(c) = a
                .string_value
                .as_deref()
                .and_then(|v| v.chars().find(|c| !allowed_char(*c)))
            {
                return Err(Error::InvalidParameterValue(format!(
                    "Message (user) attribute '{name}' value contains invalid binary character '#x{:X}'. You must use only the following supported characters: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.",
                    c as u32
                )));
            }
        }
        Ok(())
    }

    /// Send messages in one commit; each gets its id. Messages that break a limit
    /// fail alone (their error in their slot).
    pub fn send(
        &self,
        queue: &str,
        batch_in: Vec<Outgoing>,
        sender: &str,
    ) -> Result<Vec<Result<Message>>> {
        let now = nimbus_model::time::now_millis();
        let mut batch = WriteBatch::new();
        let mut results = Vec::new();
        let mut accepted = Vec::new();
        let mut reserved = Vec::new();
        {
            let mut live = self.live.lock().expect("queues lock");
            let q = live.get_mut(queue).ok_or(Error::QueueDoesNotExist)?;
            // Forget expired deduplication ids, here and in the store.
            q.dedup.retain(|k, (until, _)| {
                let keep = *until > now;
                if !keep {
                    batch.delete(DEDUP, dedup_table_key(queue, k));
                }
                keep
            });
            for mut out in batch_in {
                if let Err(e) = Self::check_size(&q.rec, &out) {
                    results.push(Err(e));
                    continue;
                }
                match Self::fifo_checks(q, &mut out, now) {
                    Err(e) => results.push(Err(e)),
                    // A duplicate within five minutes: accepted, not enqueued again.
                    Ok(Some(original)) => results.push(Ok(original)),
                    Ok(None) => {
                        let m = self.new_message(&q.rec, out, sender);
                        if let Some(k) = Self::dedup_key(q, &m) {
                            let until_ms = now + DEDUP_WINDOW_MS;
                            let entry = DedupEntry {
                                until_ms,
                                message: m.clone(),
                            };
                            batch.put(DEDUP, dedup_table_key(queue, &k), encode(&entry));
                            q.dedup.insert(k.clone(), (until_ms, m.clone()));
                            reserved.push(k);
                        }
                        batch.put(MESSAGES, message_key(queue, m.seq), encode(&m));
                        accepted.push(m.clone());
                        results.push(Ok(m));
                    }
                }
            }
        }
        // Commit without holding the lock, so concurrent senders share a commit.
        if !accepted.is_empty()
            && let Err(e) = off_worker(|| self.kv.commit(batch))
        {
            let mut live = self.live.lock().expect("queues lock");
            if let Some(q) = live.get_mut(queue) {
                for k in reserved {
                    q.dedup.remove(&k);
                }
            }
            return Err(e.into());
        }
        self.publish_staged(
            accepted
                .into_iter()
                .map(|m| (queue.to_string(), m))
                .collect(),
        );
        Ok(results)
    }

    /// Put a message for `queue` into someone else's transaction (an outbox:
    /// S3 notifications, Lambda destinations); once that commits, hand the
    /// result to [`Queues::publish_staged`].
    pub fn stage_send(
        &self,
        queue: &str,
        out: Outgoing,
        sender: &str,
        batch: &mut WriteBatch,
    ) -> Result<Option<(String, Message)>> {
        let now = nimbus_model::time::now_millis();
        let mut out = out;
        let mut live = self.live.lock().expect("queues lock");
        let q = live.get_mut(queue).ok_or(Error::QueueDoesNotExist)?;
        Self::check_size(&q.rec, &out)?;
        if !q.rec.is_fifo() {
            // A standard queue subscribed to a FIFO topic: no deduplication.
            out.dedup_id = None;
        }
        // A FIFO queue's group and deduplication ids are checked as a send's
        // are; a duplicate within the window is accepted and staged as
        // nothing. (Were the emitter's commit to fail, its id would stay
        // reserved here until the window ends.)
        if Self::fifo_checks(q, &mut out, now)?.is_some() {
            return Ok(None);
        }
        let m = self.new_message(&q.rec, out, sender);
        if let Some(k) = Self::dedup_key(q, &m) {
            let until_ms = now + DEDUP_WINDOW_MS;
            let entry = DedupEntry {
                until_ms,
                message: m.clone(),
            };
            batch.put(DEDUP, dedup_table_key(queue, &k), encode(&entry));
            q.dedup.insert(k, (until_ms, m.clone()));
        }
        batch.put(MESSAGES, message_key(queue, m.seq), encode(&m));
        Ok(Some((queue.to_string(), m)))
    }

    /// Make staged messages whose transaction committed receivable.
    pub fn publish_staged(&self, staged: Vec<(String, Message)>) {
        self.count_sent(&staged);
        let mut live = self.live.lock().expect("queues lock");
        for (queue, m) in staged {
            if let Some(q) = live.get_mut(&queue) {
                q.messages.insert(m.seq, m);
                q.notify.notify_waiters();
            }
        }
    }
}

#[cfg(test)]
mod tests;
