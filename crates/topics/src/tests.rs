//! Topics against a real store and an outbox that records what it is given.

use super::*;
use nimbus_invoke::Staged;
use serde_json::Value;
use std::sync::Mutex;

#[derive(Default)]
struct Recorder {
    staged: Mutex<Vec<(String, String)>>,
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
        self.staged.lock().unwrap().push((
            target.to_string(),
            String::from_utf8_lossy(payload).into_owned(),
        ));
        Ok(Staged::new(()))
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
        t.subscribe(&topic, "http", "http://x", BTreeMap::new())
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
    assert_ne!(record["Sns"]["MessageId"], id);
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
