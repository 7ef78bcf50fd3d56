//! SNS: standard topics, their subscriptions (functions and queues), and
//! `Publish`, which stages one delivery per subscription whose filter policy
//! takes the message, all in one write batch: a message SNS acknowledged
//! reaches every subscriber, across a crash. A function receives the
//! `Records` event Lambda gets from SNS; a queue the notification envelope
//! (or, with `RawMessageDelivery`, the message alone). Deliveries act as
//! `sns.amazonaws.com` for the topic: the function's resource policy or the
//! queue's policy must let the topic in, as on AWS.

mod deliver;
mod fifo;
mod http;
pub mod signing;
mod store;

pub use store::{Subscription, Topic};

use nimbus_invoke::Outbox;
use nimbus_invoke::permissions::Permissions;
use nimbus_model::time::now_millis;
use nimbus_storage::records::Records;
use nimbus_storage::{KvEngine, Table, WriteBatch};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The largest message SNS takes, in bytes.
pub const MAX_MESSAGE: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Storage(#[from] nimbus_storage::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A message attribute: its `DataType` and value.
pub type Attribute = (String, String);

/// A message to publish.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub message: String,
    pub subject: Option<String>,
    /// `MessageStructure: json`: `message` is an object of a `default`
    /// text and per-protocol ones.
    pub json_structure: bool,
    pub attributes: BTreeMap<String, Attribute>,
    pub trace: Option<String>,
    /// FIFO topics: `MessageGroupId` and `MessageDeduplicationId`.
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

/// What `Publish` answers: the message id, and a FIFO topic's sequence
/// number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub id: String,
    pub sequence: Option<String>,
}

/// How long a FIFO topic remembers a deduplication id, as SNS does.
const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;

/// The subscription protocols Nimbus delivers to.
pub const PROTOCOLS: [&str; 4] = ["lambda", "sqs", "http", "https"];

/// Where Nimbus serves its unauthenticated SNS pages: the signing
/// certificate, and the confirmation and unsubscribe links.
pub const PAGES: &str = "/_nimbus/sns/";

/// The subscription attributes a user may set.
pub const SUBSCRIPTION_ATTRIBUTES: [&str; 5] = [
    "RawMessageDelivery",
    "FilterPolicy",
    "FilterPolicyScope",
    "RedrivePolicy",
    "DeliveryPolicy",
];

/// The topic attributes a user may set.
pub const TOPIC_ATTRIBUTES: [&str; 7] = [
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "TracingConfig",
    "SignatureVersion",
    "ContentBasedDeduplication",
];

/// Checks a filter policy and says whether it takes a message; the
/// pattern engine is given by the server.
pub trait Filters: Send + Sync {
    /// Why `policy` (JSON text) is not a valid filter policy for `scope`
    /// (`MessageAttributes` or `MessageBody`).
    fn check(&self, policy: &str, scope: &str) -> std::result::Result<(), String>;
    /// Whether `policy` takes a message with these attributes and body.
    fn takes(
        &self,
        policy: &str,
        scope: &str,
        attributes: &BTreeMap<String, Attribute>,
        body: &str,
    ) -> bool;
}

/// Filter policies in EventBridge's pattern language, as SNS reads them
/// (`nimbus-patterns`' SNS flavours).
pub struct PatternFilters;

fn flavour(scope: &str) -> nimbus_patterns::Flavour {
    if scope == "MessageBody" {
        nimbus_patterns::Flavour::SnsBody
    } else {
        nimbus_patterns::Flavour::SnsAttributes
    }
}

impl Filters for PatternFilters {
    fn check(&self, policy: &str, scope: &str) -> std::result::Result<(), String> {
        nimbus_patterns::Pattern::parse_as(policy, flavour(scope))
            .map(|_| ())
            .map_err(|e| e.message())
    }

    fn takes(
        &self,
        policy: &str,
        scope: &str,
        attributes: &BTreeMap<String, Attribute>,
        body: &str,
    ) -> bool {
        let Ok(p) = nimbus_patterns::Pattern::parse_as(policy, flavour(scope)) else {
            return false;
        };
        if scope == "MessageBody" {
            // A body that is not JSON matches no body policy.
            return serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| p.matches(&v));
        }
        let event =
            nimbus_patterns::sns::attributes_event(attributes.iter().map(|(name, (t, v))| {
                nimbus_patterns::sns::Attribute {
                    name,
                    data_type: t,
                    value: v,
                }
            }));
        p.matches(&event)
    }
}

pub struct Topics {
    kv: Arc<dyn KvEngine>,
    topics: Records<Topic>,
    subscriptions: Records<Subscription>,
    outbox: Arc<dyn Outbox>,
    permissions: Option<Arc<dyn Permissions>>,
    filters: Option<Arc<dyn Filters>>,
    account: String,
    region: String,
    /// Where Nimbus is reached, for the `UnsubscribeURL` of notifications.
    endpoint: std::sync::RwLock<String>,
    /// FIFO topics' deduplication ids: (topic, id) -> (forgotten at, what
    /// the first publish answered). Kept in memory: after a restart a
    /// duplicate within the window is delivered again (at least once).
    dedup: std::sync::Mutex<std::collections::HashMap<(String, String), (u64, Published)>>,
    /// The last sequence number a FIFO topic gave out.
    sequence: std::sync::atomic::AtomicU64,
    /// Where the signing key is kept, when the server gave a place.
    signer_dir: Option<std::path::PathBuf>,
    /// Signs notifications: the key made or read on first use.
    signer: std::sync::OnceLock<Option<signing::Signer>>,
    /// Sends HTTP subscriptions' POSTs durably (none: `http` refused).
    webhooks: Option<Arc<nimbus_webhooks::Webhooks>>,
}

impl Topics {
    pub fn open(
        kv: Arc<dyn KvEngine>,
        outbox: Arc<dyn Outbox>,
        permissions: Option<Arc<dyn Permissions>>,
        account: &str,
        region: &str,
    ) -> Result<Topics> {
        Ok(Topics {
            topics: Records::open(kv.clone(), Table("sns_topics"), store::FORMAT)?,
            subscriptions: Records::open(kv.clone(), Table("sns_subscriptions"), store::FORMAT)?,
            kv,
            outbox,
            permissions,
            filters: Some(Arc::new(PatternFilters)),
            account: account.to_string(),
            region: region.to_string(),
            endpoint: std::sync::RwLock::new("http://localhost:4566".into()),
            dedup: std::sync::Mutex::default(),
            sequence: std::sync::atomic::AtomicU64::new(0),
            signer_dir: None,
            signer: std::sync::OnceLock::new(),
            webhooks: None,
        })
    }

    /// Deliver to HTTP endpoints through `webhooks` (register the topics as
    /// the owner of `sns` requests once they are in an `Arc`).
    pub fn with_webhooks(mut self, webhooks: Arc<nimbus_webhooks::Webhooks>) -> Topics {
        self.webhooks = Some(webhooks);
        self
    }

    /// Judge the HTTP requests made for subscriptions.
    pub fn own_webhooks(self: &Arc<Self>) {
        if let Some(hooks) = &self.webhooks {
            let me: std::sync::Weak<dyn nimbus_webhooks::Owner> = Arc::downgrade(self) as _;
            hooks.register(http::OWNER, me);
        }
    }

    /// Sign every message with the key kept in `dir` (made on first use).
    pub fn with_signing_key_in(mut self, dir: &std::path::Path) -> Topics {
        self.signer_dir = Some(dir.to_path_buf());
        self
    }

    /// The signer, once its key is read or made.
    fn signer(&self) -> Option<&signing::Signer> {
        let dir = self.signer_dir.as_ref()?;
        self.signer
            .get_or_init(|| match signing::Signer::load_or_create(dir) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::error!(error = %e, "SNS messages go unsigned: no signing key");
                    None
                }
            })
            .as_ref()
    }

    /// The signing certificate, PEM, that `SigningCertURL` points at.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.signer().map(signing::Signer::certificate_pem)
    }

    /// Where Nimbus is reached (for links in messages).
    fn endpoint(&self) -> String {
        self.endpoint.read().map(|e| e.clone()).unwrap_or_default()
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// The filter-policy engine.
    pub fn with_filters(mut self, filters: Arc<dyn Filters>) -> Topics {
        self.filters = Some(filters);
        self
    }

    /// The endpoint clients reach Nimbus at.
    pub fn set_endpoint(&self, endpoint: &str) {
        if let Ok(mut e) = self.endpoint.write() {
            *e = endpoint.to_string();
        }
    }

    fn arn(&self, name: &str) -> String {
        format!("arn:aws:sns:{}:{}:{name}", self.region, self.account)
    }

    /// Create a topic, or answer the one of that name made with the same
    /// attributes.
    pub fn create_topic(
        &self,
        name: &str,
        attributes: BTreeMap<String, String>,
        tags: Vec<(String, String)>,
    ) -> Result<String> {
        let valid = !name.is_empty()
            && name.len() <= 256
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !valid {
            return Err(Error::Invalid("Invalid parameter: Topic Name".into()));
        }
        let fifo = attributes.get("FifoTopic").is_some_and(|v| v == "true");
        if fifo && !name.ends_with(".fifo") {
            return Err(Error::Invalid(
                "Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.".into(),
            ));
        }
        if !fifo && name.ends_with(".fifo") {
            return Err(Error::Invalid("Invalid parameter: Topic Name".into()));
        }
        if !fifo && attributes.contains_key("ContentBasedDeduplication") {
            return Err(Error::Invalid(
                "Invalid parameter: Attributes Reason: ContentBasedDeduplication is only valid for FIFO topics".into(),
            ));
        }
        for k in attributes.keys() {
            if !TOPIC_ATTRIBUTES.contains(&k.as_str()) && k != "FifoTopic" {
                return Err(Error::Invalid(format!(
                    "Invalid parameter: Attributes Reason: Unknown attribute {k}"
                )));
            }
        }
        let arn = self.arn(name);
        if let Some(t) = self.topics.get(&arn) {
            if attributes
                .iter()
                .all(|(k, v)| t.attributes.get(k) == Some(v))
            {
                return Ok(arn);
            }
            return Err(Error::Invalid(
                "Invalid parameter: Attributes Reason: Topic already exists with different attributes".into(),
            ));
        }
        self.topics.put(Topic {
            format: store::FORMAT,
            arn: arn.clone(),
            name: name.to_string(),
            attributes,
            tags,
            created_ms: now_millis(),
        })?;
        Ok(arn)
    }

    pub fn topic(&self, arn: &str) -> Result<Arc<Topic>> {
        self.topics
            .get(arn)
            .ok_or_else(|| Error::NotFound("Topic does not exist".into()))
    }

    pub fn topics(&self) -> Vec<Arc<Topic>> {
        let mut v = self.topics.all();
        v.sort_by(|a, b| a.arn.cmp(&b.arn));
        v
    }

    /// Delete a topic and its subscriptions (deleting one that is not there
    /// succeeds, as on SNS).
    pub fn delete_topic(&self, arn: &str) -> Result<()> {
        for s in self.subscriptions.all() {
            if s.topic_arn == arn {
                self.subscriptions.delete(&s.arn)?;
            }
        }
        self.topics.delete(arn)?;
        Ok(())
    }

    pub fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<()> {
        if !TOPIC_ATTRIBUTES.contains(&name) {
            return Err(Error::Invalid(format!(
                "Invalid parameter: AttributeName Reason: {name} is not a topic attribute you can set"
            )));
        }
        let changed = self.topics.change(arn, |t| {
            t.attributes.insert(name.to_string(), value.to_string());
            Ok::<_, Error>(())
        })?;
        changed
            .map(|_| ())
            .ok_or_else(|| Error::NotFound("Topic does not exist".into()))
    }

    pub fn tag(&self, arn: &str, tags: Vec<(String, String)>, remove: &[String]) -> Result<()> {
        let changed = self.topics.change(arn, |t| {
            t.tags
                .retain(|(k, _)| !remove.contains(k) && !tags.iter().any(|(n, _)| n == k));
            t.tags.extend(tags);
            Ok::<_, Error>(())
        })?;
        changed
            .map(|_| ())
            .ok_or_else(|| Error::NotFound("Resource does not exist".into()))
    }

    /// Subscribe `endpoint` (a function or queue ARN) over `protocol`.
    pub fn subscribe(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
        attributes: BTreeMap<String, String>,
    ) -> Result<String> {
        let topic = self.topic(topic_arn)?;
        if topic.is_fifo() && protocol != "sqs" {
            return Err(Error::Invalid(format!(
                "Invalid parameter: Invalid protocol type: {protocol}. FIFO topics deliver to SQS queues only"
            )));
        }
        if !PROTOCOLS.contains(&protocol) {
            return Err(Error::Invalid(format!(
                "Invalid parameter: Nimbus delivers to lambda, sqs, http and https subscriptions only yet, not {protocol}"
            )));
        }
        let web = matches!(protocol, "http" | "https");
        if web && self.webhooks.is_none() {
            return Err(Error::Invalid(
                "Invalid parameter: Nimbus delivers to http and https endpoints only when it runs as a server".into(),
            ));
        }
        if web && !endpoint.starts_with(&format!("{protocol}://")) {
            return Err(Error::Invalid(
                "Invalid parameter: Endpoint must match the specified protocol".into(),
            ));
        }
        if !web && !self.outbox.exists(endpoint) {
            return Err(Error::Invalid(format!(
                "Invalid parameter: Endpoint Reason: {endpoint} is not a {} of this account and region",
                if protocol == "sqs" {
                    "queue"
                } else {
                    "function"
                }
            )));
        }
        for (k, v) in &attributes {
            self.check_subscription_attribute(k, v, &attributes)?;
        }
        // Subscribing the same endpoint again answers the same subscription.
        if let Some(s) =
            self.subscriptions.all().into_iter().find(|s| {
                s.topic_arn == topic_arn && s.protocol == protocol && s.endpoint == endpoint
            })
        {
            return Ok(s.arn.clone());
        }
        let arn = format!("{topic_arn}:{}", uuid::Uuid::new_v4());
        let s = Subscription {
            format: store::FORMAT,
            arn: arn.clone(),
            topic_arn: topic_arn.to_string(),
            protocol: protocol.to_string(),
            endpoint: endpoint.to_string(),
            attributes,
            created_ms: now_millis(),
            pending_token: web.then(token),
        };
        let mut batch = WriteBatch::default();
        let mut writer = self.subscriptions.writer();
        // An HTTP endpoint is sent the confirmation in the same batch.
        let post = s
            .pending_token
            .is_some()
            .then(|| self.stage_confirmation(&s, &mut batch))
            .flatten();
        writer.put(&mut batch, s)?;
        self.kv.commit(batch)?;
        writer.apply();
        self.http_committed(post.into_iter().collect());
        Ok(arn)
    }

    /// Confirm the subscription of `topic_arn` that `token` was sent to
    /// (`ConfirmSubscription`, or the `SubscribeURL` visited); its ARN.
    pub fn confirm_subscription(&self, topic_arn: &str, token: &str) -> Result<String> {
        self.topic(topic_arn)?;
        let found = self.subscriptions.all().into_iter().find(|s| {
            s.topic_arn == topic_arn
                && (s.pending_token.as_deref() == Some(token)
                    || s.attributes.get("ConfirmedToken").map(String::as_str) == Some(token))
        });
        let Some(s) = found else {
            return Err(Error::Invalid("Invalid parameter: Token".into()));
        };
        self.subscriptions.change(&s.arn, |s| {
            if let Some(t) = s.pending_token.take() {
                // Confirming twice answers the same subscription.
                s.attributes.insert("ConfirmedToken".into(), t);
            }
            Ok::<_, Error>(())
        })?;
        Ok(s.arn.clone())
    }

    fn check_subscription_attribute(
        &self,
        name: &str,
        value: &str,
        all: &BTreeMap<String, String>,
    ) -> Result<()> {
        if !SUBSCRIPTION_ATTRIBUTES.contains(&name) {
            return Err(Error::Invalid(format!(
                "Invalid parameter: AttributeName Reason: {name} is not a subscription attribute you can set"
            )));
        }
        match name {
            "RawMessageDelivery" if !matches!(value, "true" | "false") => Err(Error::Invalid(
                "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [{value}]. Must be true or false.".replace("{value}", value),
            )),
            "FilterPolicyScope" if !matches!(value, "MessageAttributes" | "MessageBody") => {
                Err(Error::Invalid(format!(
                    "Invalid parameter: Attributes Reason: FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody or MessageAttributes"
                )))
            }
            "DeliveryPolicy" if !value.is_empty() => http::RetryPolicy::check(value)
                .map_err(|why| Error::Invalid(format!("Invalid parameter: {why}"))),
            "RedrivePolicy" if !value.is_empty() => {
                let target = serde_json::from_str::<serde_json::Value>(value)
                    .ok()
                    .and_then(|v| v.get("deadLetterTargetArn")?.as_str().map(str::to_string));
                match target {
                    Some(arn) if arn.starts_with("arn:aws:sqs:") => Ok(()),
                    Some(arn) => Err(Error::Invalid(format!(
                        "Invalid parameter: RedrivePolicy: deadLetterTargetArn is not an SQS queue ARN: {arn}"
                    ))),
                    None => Err(Error::Invalid(
                        "Invalid parameter: RedrivePolicy: Redrive policy is not a JSON object with a deadLetterTargetArn".into(),
                    )),
                }
            }
            "FilterPolicy" if !value.is_empty() => {
                let scope = all.get("FilterPolicyScope").map_or("MessageAttributes", String::as_str);
                match &self.filters {
                    Some(f) => f.check(value, scope).map_err(Error::Invalid),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Stage the `SubscriptionConfirmation` POST to a new HTTP endpoint.
    fn stage_confirmation(
        &self,
        s: &Subscription,
        batch: &mut WriteBatch,
    ) -> Option<nimbus_webhooks::StagedRequest> {
        let token = s.pending_token.clone().unwrap_or_default();
        let id = uuid::Uuid::new_v4().to_string();
        let link = format!(
            "{}{PAGES}confirm?TopicArn={}&Token={token}",
            self.endpoint(),
            s.topic_arn
        );
        let mut v = serde_json::json!({
            "Type": "SubscriptionConfirmation", "MessageId": id, "Token": token,
            "TopicArn": s.topic_arn,
            "Message": format!("You have chosen to subscribe to the topic {}.\nTo confirm the subscription, visit the SubscribeURL included in this message.", s.topic_arn),
            "SubscribeURL": link,
            "Timestamp": nimbus_model::time::Utc::from_millis(now_millis()).rfc3339_millis(),
        });
        self.sign(&mut v, &s.topic_arn, false);
        self.stage_post(
            s,
            "SubscriptionConfirmation",
            &id,
            v.to_string(),
            false,
            batch,
        )
    }

    /// Sign `message` as its topic's `SignatureVersion` says, pointing at
    /// the certificate (`SigningCertUrl` in Lambda's event).
    fn sign(&self, message: &mut serde_json::Value, topic_arn: &str, lambda: bool) {
        let Some(signer) = self.signer() else {
            return;
        };
        let version = self
            .topics
            .get(topic_arn)
            .and_then(|t| t.attributes.get("SignatureVersion").cloned())
            .and_then(|v| signing::SignatureVersion::parse(&v))
            .unwrap_or_default();
        let Some(map) = message.as_object_mut() else {
            return;
        };
        if let Err(e) = signer.sign(map, version) {
            tracing::warn!(error = %e, "sign an SNS message");
            return;
        }
        let url = format!("{}{PAGES}SimpleNotificationService.pem", self.endpoint());
        let key = if lambda {
            "SigningCertUrl"
        } else {
            "SigningCertURL"
        };
        map.insert(key.into(), serde_json::Value::String(url));
    }

    /// Hand what a batch staged to whom it belongs once written: POSTs to
    /// the HTTP worker, the rest to the outbox.
    fn finish(&self, staged: Vec<nimbus_invoke::Staged>) {
        let mut others = Vec::new();
        let mut posts = Vec::new();
        for s in staged {
            match s.downcast::<StagedPost>() {
                Ok(StagedPost(d)) => posts.push(d),
                Err(other) => others.push(other),
            }
        }
        self.http_committed(posts);
        if !others.is_empty() {
            self.outbox.committed(others);
        }
    }

    pub fn subscription(&self, arn: &str) -> Result<Arc<Subscription>> {
        self.subscriptions
            .get(arn)
            .ok_or_else(|| Error::NotFound("Subscription does not exist".into()))
    }

    pub fn subscriptions(&self, topic: Option<&str>) -> Vec<Arc<Subscription>> {
        let mut v: Vec<_> = self
            .subscriptions
            .all()
            .into_iter()
            .filter(|s| topic.is_none_or(|t| s.topic_arn == t))
            .collect();
        v.sort_by_key(|s| s.created_ms);
        v
    }

    pub fn unsubscribe(&self, arn: &str) -> Result<()> {
        self.subscriptions.delete(arn)?;
        Ok(())
    }

    pub fn set_subscription_attribute(&self, arn: &str, name: &str, value: &str) -> Result<()> {
        let s = self.subscription(arn)?;
        let mut all = s.attributes.clone();
        all.insert(name.to_string(), value.to_string());
        self.check_subscription_attribute(name, value, &all)?;
        self.subscriptions.change(arn, |s| {
            s.attributes.insert(name.to_string(), value.to_string());
            Ok::<_, Error>(())
        })?;
        Ok(())
    }

    /// Publish `m` to the topic: its message id (and a FIFO topic's
    /// sequence number) once every delivery is staged and committed.
    pub fn publish(&self, topic_arn: &str, m: &Message) -> Result<Published> {
        self.publish_batch(topic_arn, std::slice::from_ref(m))?
            .pop()
            .expect("one result per message")
    }

    /// Publish each message of a `PublishBatch` to the topic, the
    /// deliveries of all of them written in one batch: per message, its
    /// message id or why it was refused. `Err` when the topic does not
    /// exist or the batch did not commit (then none was published).
    pub fn publish_batch(
        &self,
        topic_arn: &str,
        messages: &[Message],
    ) -> Result<Vec<Result<Published>>> {
        let topic = self.topic(topic_arn)?;
        let subscriptions: Vec<_> = self
            .subscriptions
            .all()
            .into_iter()
            .filter(|s| s.topic_arn == topic_arn)
            .collect();
        let mut batch = WriteBatch::default();
        let mut staged = Vec::new();
        let mut reserved = Vec::new();
        let mut results = Vec::with_capacity(messages.len());
        for m in messages {
            let prepared = self.prepare(&topic, m);
            let (published, m, texts) = match prepared {
                Ok(Prepared::Fresh(published, m, texts)) => (published, m, texts),
                Ok(Prepared::Duplicate(first)) => {
                    results.push(Ok(first));
                    continue;
                }
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            if let Some(dedup) = &m.dedup_id
                && topic.is_fifo()
            {
                reserved.push(dedup.clone());
            }
            for s in &subscriptions {
                self.deliver(s, &m, &texts, &published, &mut batch, &mut staged);
            }
            results.push(Ok(published));
        }
        if let Err(e) = self.kv.commit(batch) {
            for dedup in &reserved {
                self.release(topic_arn, dedup);
            }
            return Err(e.into());
        }
        self.finish(staged);
        Ok(results)
    }

    /// Check one message of a publish and give it its ids: a FIFO topic's
    /// message reserves its deduplication id (a duplicate within the
    /// window answers the first's ids and delivers nothing).
    fn prepare<'m>(&self, topic: &Topic, m: &'m Message) -> Result<Prepared<'m>> {
        if m.message.is_empty() {
            return Err(Error::Invalid("Invalid parameter: Empty message".into()));
        }
        let size = m.message.len()
            + m.attributes
                .iter()
                .map(|(k, (t, v))| k.len() + t.len() + v.len())
                .sum::<usize>();
        if size > MAX_MESSAGE {
            return Err(Error::Invalid("Invalid parameter: Message too long".into()));
        }
        let texts = deliver::texts(m)?;
        let ids = self.fifo_ids(topic, m)?;
        let mut published = Published {
            id: uuid::Uuid::new_v4().to_string(),
            sequence: None,
        };
        let mut m = std::borrow::Cow::Borrowed(m);
        if let Some(ids) = ids {
            published.sequence = Some(self.next_sequence());
            if let Some(first) = self.reserve(&topic.arn, &ids.dedup, &published) {
                return Ok(Prepared::Duplicate(first));
            }
            let with_ids = m.to_mut();
            with_ids.group_id = Some(ids.group);
            with_ids.dedup_id = Some(ids.dedup);
        }
        Ok(Prepared::Fresh(published, m, texts))
    }
}

/// A message checked for publishing.
enum Prepared<'m> {
    /// To deliver, with its ids (and a FIFO topic's group and
    /// deduplication ids filled in).
    Fresh(
        Published,
        std::borrow::Cow<'m, Message>,
        serde_json::Map<String, serde_json::Value>,
    ),
    /// A FIFO duplicate: the first message's ids.
    Duplicate(Published),
}

/// What a topic target staged: the deliveries to its subscriptions.
struct StagedPublish(Vec<nimbus_invoke::Staged>);

/// A POST to an HTTP endpoint, staged.
pub(crate) struct StagedPost(nimbus_webhooks::StagedRequest);

/// A subscription's confirmation token: 128 hex digits, as SNS's are long.
fn token() -> String {
    (0..4)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect()
}

/// Topics as a target of other services' events (S3 notifications,
/// EventBridge rules, Lambda destinations): the event is published to the
/// topic, its deliveries staged in the emitter's batch.
impl Outbox for Topics {
    fn exists(&self, target: &str) -> bool {
        self.topics.get(target).is_some()
    }

    fn stage(
        &self,
        target: &str,
        payload: &[u8],
        trace: Option<&str>,
        batch: &mut WriteBatch,
    ) -> std::result::Result<nimbus_invoke::Staged, nimbus_invoke::DeliveryError> {
        self.stage_delivery(target, &nimbus_invoke::Delivery::new(payload, trace), batch)
    }

    /// Publish a delivery's payload (with its group and deduplication ids
    /// for a FIFO topic). A duplicate within the window stages nothing.
    fn stage_delivery(
        &self,
        target: &str,
        delivery: &nimbus_invoke::Delivery<'_>,
        batch: &mut WriteBatch,
    ) -> std::result::Result<nimbus_invoke::Staged, nimbus_invoke::DeliveryError> {
        use nimbus_invoke::DeliveryError;
        let Some(topic) = self.topics.get(target) else {
            return Err(DeliveryError::NoSuchTarget(format!(
                "{target} is not a topic of this account and region"
            )));
        };
        let mut m = Message {
            message: String::from_utf8_lossy(delivery.payload).into_owned(),
            subject: delivery.subject.clone(),
            trace: delivery.trace.map(str::to_string),
            group_id: delivery.group_id.clone(),
            dedup_id: delivery.dedup_id.clone(),
            ..Message::default()
        };
        let texts = deliver::texts(&m).map_err(|e| DeliveryError::Failed(e.to_string()))?;
        let mut published = Published {
            id: uuid::Uuid::new_v4().to_string(),
            sequence: None,
        };
        if let Some(ids) = self
            .fifo_ids(&topic, &m)
            .map_err(|e| DeliveryError::Failed(e.to_string()))?
        {
            published.sequence = Some(self.next_sequence());
            if self.reserve(target, &ids.dedup, &published).is_some() {
                return Ok(nimbus_invoke::Staged::new(StagedPublish(Vec::new())));
            }
            m.group_id = Some(ids.group);
            m.dedup_id = Some(ids.dedup);
        }
        let mut staged = Vec::new();
        for s in self
            .subscriptions
            .all()
            .iter()
            .filter(|s| s.topic_arn == target)
        {
            self.deliver(s, &m, &texts, &published, batch, &mut staged);
        }
        Ok(nimbus_invoke::Staged::new(StagedPublish(staged)))
    }

    fn committed(&self, staged: Vec<nimbus_invoke::Staged>) {
        let inner: Vec<nimbus_invoke::Staged> = staged
            .into_iter()
            .filter_map(|s| s.downcast::<StagedPublish>().ok())
            .flat_map(|p| p.0)
            .collect();
        self.finish(inner);
    }
}

#[cfg(test)]
mod tests;
