//! Topics against a real store and an outbox that records what it is given.

use super::*;
use nimbus_invoke::Staged;
use serde_json::Value;
use std::sync::Mutex;

/// What a delivery carried besides its payload: attributes, group, dedup.
type Extras = (
    Vec<(String, String, String)>,
    Option<String>,
    Option<String>,
);

#[derive(Default)]
struct Recorder {
    staged: Mutex<Vec<(String, String)>>,
    extras: Mutex<Vec<(String, Extras)>>,
}

impl Outbox for Recorder {
    fn exists(&self, target: &str) -> bool {
        !target.contains("missing")
    }
    fn stage(
        &self,
        target: &str,
        payload: &[u8],
        _trace: Option<&str>,
        _batch: &mut WriteBatch,
    ) -> std::result::Result<Staged, nimbus_invoke::DeliveryError> {
        if target.contains("gone") {
            return Err(nimbus_invoke::DeliveryError::NoSuchTarget(format!(
                "{target} is gone"
            )));
        }
        self.staged.lock().unwrap().push((
            target.to_string(),
            String::from_utf8_lossy(payload).into_owned(),
        ));
        Ok(Staged::new(()))
    }
    fn stage_delivery(
        &self,
        target: &str,
        d: &nimbus_invoke::Delivery<'_>,
        batch: &mut WriteBatch,
    ) -> std::result::Result<Staged, nimbus_invoke::DeliveryError> {
        let staged = self.stage(target, d.payload, d.trace, batch)?;
        let extras = (d.attributes.clone(), d.group_id.clone(), d.dedup_id.clone());
        self.extras
            .lock()
            .unwrap()
            .push((target.to_string(), extras));
        Ok(staged)
    }
    fn committed(&self, _staged: Vec<Staged>) {}
}

/// Takes a message when its `kind` attribute is in the policy's list.
struct KindFilter;

impl Filters for KindFilter {
    fn check(&self, policy: &str, _scope: &str) -> std::result::Result<(), String> {
        serde_json::from_str::<Value>(policy)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    fn takes(
        &self,
        policy: &str,
        _: &str,
        attributes: &BTreeMap<String, Attribute>,
        _: &str,
    ) -> bool {
        let p: Value = serde_json::from_str(policy).unwrap();
        let kind = attributes
            .get("kind")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        p["kind"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == kind))
    }
}

const QUEUE: &str = "arn:aws:sqs:us-east-1:000000000000:q";
const FUNCTION: &str = "arn:aws:lambda:us-east-1:000000000000:function:f";

fn open(dir: &std::path::Path, out: Arc<Recorder>) -> Topics {
    let kv: Arc<dyn KvEngine> =
        Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("db")).unwrap());
    Topics::open(kv, out, None, "000000000000", "us-east-1")
        .unwrap()
        .with_filters(Arc::new(KindFilter))
}

#[test]
fn messages_fan_out_to_subscriptions_that_take_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = Arc::new(Recorder::default());
    let t = open(dir.path(), out.clone());
    let topic = t
        .create_topic("orders", BTreeMap::new(), Vec::new())
        .unwrap();
    assert_eq!(topic, "arn:aws:sns:us-east-1:000000000000:orders");
    assert_eq!(
        t.create_topic("orders", BTreeMap::new(), Vec::new())
            .unwrap(),
        topic
    );
    let raw = BTreeMap::from([("RawMessageDelivery".to_string(), "true".to_string())]);
    t.subscribe(&topic, "sqs", QUEUE, raw).unwrap();
    let big = BTreeMap::from([(
        "FilterPolicy".to_string(),
        r#"{"kind": ["big"]}"#.to_string(),
    )]);
    let sub = t.subscribe(&topic, "lambda", FUNCTION, big).unwrap();
    assert!(
        t.subscribe(&topic, "https", "https://x", BTreeMap::new())
            .is_err()
    );
    let mut m = Message {
        message: "hello".into(),
        subject: Some("greeting".into()),
        ..Message::default()
    };
    m.attributes
        .insert("kind".into(), ("String".into(), "small".into()));
    let id = t.publish(&topic, &m).unwrap();
    m.attributes
        .insert("kind".into(), ("String".into(), "big".into()));
    t.publish(&topic, &m).unwrap();
    let staged = out.staged.lock().unwrap().clone();
    assert_eq!(staged.len(), 3, "the raw queue twice, the function once");
    assert_eq!(staged[0], (QUEUE.to_string(), "hello".to_string()));
    // The second message's two deliveries come in the subscriptions' order.
    let to_function = staged
        .iter()
        .find(|(target, _)| target == FUNCTION)
        .unwrap();
    let event: Value = serde_json::from_str(&to_function.1).unwrap();
    let record = &event["Records"][0];
    assert_eq!(record["EventSource"], "aws:sns");
    assert_eq!(record["EventSubscriptionArn"], sub);
    assert_eq!(record["Sns"]["Message"], "hello");
    assert_eq!(record["Sns"]["Subject"], "greeting");
    assert_eq!(record["Sns"]["MessageAttributes"]["kind"]["Value"], "big");
    assert_ne!(record["Sns"]["MessageId"], id.id);
}

#[test]
fn json_structured_messages_give_each_protocol_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let out = Arc::new(Recorder::default());
    let t = open(dir.path(), out.clone());
    let topic = t.create_topic("t", BTreeMap::new(), Vec::new()).unwrap();
    t.subscribe(&topic, "sqs", QUEUE, BTreeMap::new()).unwrap();
    let m = Message {
        message: r#"{"default": "plain", "sqs": "for queues"}"#.into(),
        json_structure: true,
        ..Message::default()
    };
    t.publish(&topic, &m).unwrap();
    let envelope: Value = serde_json::from_str(&out.staged.lock().unwrap()[0].1).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["Message"], "for queues");
    assert!(envelope.get("Subject").is_none());
    let bad = Message {
        message: r#"{"sqs": "x"}"#.into(),
        json_structure: true,
        ..Message::default()
    };
    assert!(
        t.publish(&topic, &bad)
            .unwrap_err()
            .to_string()
            .contains("No default entry")
    );
    assert!(
        t.publish("arn:aws:sns:us-east-1:000000000000:nope", &m)
            .is_err()
    );
    t.delete_topic(&topic).unwrap();
    assert!(t.subscriptions(None).is_empty());
}

#[test]
fn fifo_topics_need_group_ids_and_drop_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let out = Arc::new(Recorder::default());
    let t = open(dir.path(), out.clone());
    let fifo = BTreeMap::from([("FifoTopic".to_string(), "true".to_string())]);
    let bad_name = t.create_topic("orders", fifo.clone(), Vec::new());
    assert!(
        bad_name
            .unwrap_err()
            .to_string()
            .contains("must end with .fifo")
    );
    assert!(
        t.create_topic("x.fifo", BTreeMap::new(), Vec::new())
            .is_err()
    );
    let topic = t.create_topic("orders.fifo", fifo, Vec::new()).unwrap();
    let fifo_queue = "arn:aws:sqs:us-east-1:000000000000:q.fifo";
    assert!(
        t.subscribe(&topic, "lambda", FUNCTION, BTreeMap::new())
            .is_err()
    );
    t.subscribe(&topic, "sqs", fifo_queue, BTreeMap::new())
        .unwrap();
    let mut m = Message {
        message: "first".into(),
        ..Message::default()
    };
    let no_group = t.publish(&topic, &m).unwrap_err().to_string();
    assert!(no_group.contains("MessageGroupId"), "{no_group}");
    m.group_id = Some("g1".into());
    let no_dedup = t.publish(&topic, &m).unwrap_err().to_string();
    assert!(no_dedup.contains("ContentBasedDeduplication"), "{no_dedup}");
    m.dedup_id = Some("d1".into());
    let first = t.publish(&topic, &m).unwrap();
    let again = t.publish(&topic, &m).unwrap();
    assert_eq!(first, again, "a duplicate answers the first publish");
    m.dedup_id = Some("d2".into());
    let second = t.publish(&topic, &m).unwrap();
    assert!(second.sequence > first.sequence, "sequence numbers rise");
    assert_eq!(second.sequence.as_ref().unwrap().len(), 20);
    let staged = out.staged.lock().unwrap().clone();
    assert_eq!(staged.len(), 2, "the duplicate went nowhere");
    let envelope: Value = serde_json::from_str(&staged[0].1).unwrap();
    assert_eq!(envelope["SequenceNumber"], first.sequence.clone().unwrap());
    let extras = out.extras.lock().unwrap().clone();
    assert_eq!(extras[0].1.1.as_deref(), Some("g1"));
    assert_eq!(extras[0].1.2.as_deref(), Some("d1"));
}

#[test]
fn undeliverable_messages_go_to_the_redrive_queue_with_sns_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let out = Arc::new(Recorder::default());
    let t = open(dir.path(), out.clone());
    let topic = t.create_topic("t", BTreeMap::new(), Vec::new()).unwrap();
    let dlq = "arn:aws:sqs:us-east-1:000000000000:dlq";
    let bad = BTreeMap::from([("RedrivePolicy".to_string(), r#"{"x": 1}"#.to_string())]);
    assert!(t.subscribe(&topic, "sqs", QUEUE, bad).is_err());
    let redrive = BTreeMap::from([(
        "RedrivePolicy".to_string(),
        format!(r#"{{"deadLetterTargetArn": "{dlq}"}}"#),
    )]);
    let gone = "arn:aws:lambda:us-east-1:000000000000:function:gone";
    let sub = t.subscribe(&topic, "lambda", gone, redrive).unwrap();
    let mut m = Message {
        message: "lost?".into(),
        ..Message::default()
    };
    m.attributes
        .insert("kind".into(), ("String".into(), "x".into()));
    t.publish(&topic, &m).unwrap();
    let staged = out.staged.lock().unwrap().clone();
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].0, dlq);
    let envelope: Value = serde_json::from_str(&staged[0].1).unwrap();
    assert_eq!(envelope["Message"], "lost?");
    assert!(envelope["UnsubscribeURL"].as_str().unwrap().contains(&sub));
    let extras = out.extras.lock().unwrap().clone();
    let names: Vec<&str> = extras[0].1.0.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["RequestID", "ErrorCode", "ErrorMessage"]);
    assert_eq!(extras[0].1.0[1].2, "EndpointNotFound");
}

#[test]
fn raw_delivery_hands_message_attributes_to_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let out = Arc::new(Recorder::default());
    let t = open(dir.path(), out.clone());
    let topic = t.create_topic("t", BTreeMap::new(), Vec::new()).unwrap();
    let raw = BTreeMap::from([("RawMessageDelivery".to_string(), "true".to_string())]);
    t.subscribe(&topic, "sqs", QUEUE, raw).unwrap();
    let mut m = Message {
        message: "body".into(),
        ..Message::default()
    };
    m.attributes
        .insert("n".into(), ("Number".into(), "5".into()));
    m.attributes
        .insert("tags".into(), ("String.Array".into(), r#"["a"]"#.into()));
    t.publish(&topic, &m).unwrap();
    let extras = out.extras.lock().unwrap().clone();
    assert_eq!(
        extras[0].1.0,
        vec![
            ("n".to_string(), "Number".to_string(), "5".to_string()),
            (
                "tags".to_string(),
                "String".to_string(),
                r#"["a"]"#.to_string()
            ),
        ]
    );
}
