//! The event service against a real store and an outbox that records what
//! it is given.

use super::*;
use std::sync::Mutex;

/// A delivery's attributes and FIFO group.
type Extras = (Vec<(String, String, String)>, Option<String>);

#[derive(Default)]
struct Recorder {
    staged: Mutex<Vec<(String, String)>>,
    extras: Mutex<Vec<Extras>>,
    committed: Mutex<usize>,
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
                "Function not found: {target}"
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
        d: &Delivery<'_>,
        batch: &mut WriteBatch,
    ) -> std::result::Result<Staged, nimbus_invoke::DeliveryError> {
        let staged = self.stage(target, d.payload, d.trace, batch)?;
        let extras = (d.attributes.clone(), d.group_id.clone());
        self.extras.lock().unwrap().push(extras);
        Ok(staged)
    }

    fn committed(&self, staged: Vec<Staged>) {
        *self.committed.lock().unwrap() += staged.len();
    }
}

fn open(dir: &std::path::Path, outbox: Arc<Recorder>) -> Events {
    let kv: Arc<dyn KvEngine> =
        Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("db")).unwrap());
    Events::open(kv, outbox, None, "000000000000", "us-east-1").unwrap()
}

const QUEUE: &str = "arn:aws:sqs:us-east-1:000000000000:orders";

fn order(id: &str, kind: &str) -> Entry {
    Entry {
        source: Some("shop".into()),
        detail_type: Some("Order Placed".into()),
        detail: Some(format!(r#"{{"id": "{id}", "kind": "{kind}"}}"#)),
        ..Entry::default()
    }
}

#[test]
fn events_reach_the_targets_of_matching_rules() {
    let dir = tempfile::tempdir().unwrap();
    let out = Arc::new(Recorder::default());
    let ev = open(dir.path(), out.clone());
    ev.put_rule(NewRule {
        name: "big".into(),
        pattern: Some(r#"{"source": ["shop"], "detail": {"kind": ["big"]}}"#.into()),
        ..NewRule::default()
    })
    .unwrap();
    let failed = ev
        .put_targets(
            None,
            "big",
            vec![
                Target {
                    id: "q".into(),
                    arn: QUEUE.into(),
                    input_transformer: Some(serde_json::json!({
                        "InputPathsMap": {"id": "$.detail.id"},
                        "InputTemplate": "{\"order\": <id>}"})),
                    ..Target::default()
                },
                Target {
                    id: "gone".into(),
                    arn: "arn:aws:sqs:us-east-1:000000000000:missing".into(),
                    ..Target::default()
                },
            ],
        )
        .unwrap();
    assert_eq!(failed.len(), 1);
    let outcomes = ev
        .put_events(&[order("1", "big"), order("2", "small"), Entry::default()])
        .unwrap();
    assert!(outcomes[0].is_ok() && outcomes[1].is_ok());
    assert_eq!(outcomes[2].as_ref().unwrap_err().0, "InvalidArgument");
    let staged = out.staged.lock().unwrap().clone();
    assert_eq!(
        staged,
        vec![(QUEUE.to_string(), r#"{"order": "1"}"#.to_string())]
    );
    assert_eq!(*out.committed.lock().unwrap(), 1);
    // A rule with targets cannot be deleted; disabled, it matches nothing.
    assert!(ev.delete_rule(None, "big").is_err());
    ev.set_state(None, "big", false).unwrap();
    ev.put_events(&[order("3", "big")]).unwrap();
    assert_eq!(out.staged.lock().unwrap().len(), 1);
}

#[test]
fn schedules_fire_once_per_due_time_even_after_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let out = Arc::new(Recorder::default());
    let ev = open(dir.path(), out.clone());
    ev.put_rule(NewRule {
        name: "tick".into(),
        schedule: Some("rate(1 minute)".into()),
        ..NewRule::default()
    })
    .unwrap();
    ev.put_targets(
        None,
        "tick",
        vec![Target {
            id: "q".into(),
            arn: QUEUE.into(),
            ..Target::default()
        }],
    )
    .unwrap();
    let made = ev.rule(None, "tick").unwrap().last_fired_ms;
    assert_eq!(ev.fire_due(made + 1_000).unwrap(), 0, "not due yet");
    // An hour later (the server was down): one firing, not sixty.
    assert_eq!(ev.fire_due(made + 3_600_000).unwrap(), 1);
    assert_eq!(ev.fire_due(made + 3_600_500).unwrap(), 0);
    let staged = out.staged.lock().unwrap().clone();
    assert_eq!(staged.len(), 1);
    let event: Value = serde_json::from_str(&staged[0].1).unwrap();
    assert_eq!(event["detail-type"], "Scheduled Event");
    assert_eq!(
        event["resources"][0],
        "arn:aws:events:us-east-1:000000000000:rule/tick"
    );
    // The firing was recorded: reopened, the rule is not due again.
    drop(ev);
    let ev = open(dir.path(), out.clone());
    assert_eq!(ev.fire_due(made + 3_600_500).unwrap(), 0);
}

#[test]
fn rules_and_buses_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ev = open(dir.path(), Arc::new(Recorder::default()));
    let bad = |r: NewRule| ev.put_rule(r).unwrap_err().to_string();
    assert!(
        bad(NewRule {
            name: "x".into(),
            ..NewRule::default()
        })
        .contains("EventPattern or ScheduleExpression")
    );
    assert!(
        bad(NewRule {
            name: "x".into(),
            schedule: Some("rate(1 minutes)".into()),
            ..NewRule::default()
        })
        .contains("ScheduleExpression is not valid")
    );
    assert!(
        bad(NewRule {
            name: "x".into(),
            pattern: Some("[1]".into()),
            ..NewRule::default()
        })
        .contains("Event pattern is not valid")
    );
    ev.create_bus("orders", None, Default::default()).unwrap();
    assert!(ev.create_bus("orders", None, Default::default()).is_err());
    assert!(
        bad(NewRule {
            name: "x".into(),
            bus: Some("orders".into()),
            schedule: Some("rate(5 minutes)".into()),
            ..NewRule::default()
        })
        .contains("only on the default event bus")
    );
    let arn = ev
        .put_rule(NewRule {
            name: "x".into(),
            bus: Some("arn:aws:events:us-east-1:000000000000:event-bus/orders".into()),
            pattern: Some(r#"{"source": ["a"]}"#.into()),
            ..NewRule::default()
        })
        .unwrap();
    assert_eq!(arn, "arn:aws:events:us-east-1:000000000000:rule/orders/x");
    assert!(ev.delete_bus("orders").is_err(), "it has a rule");
    assert!(ev.delete_bus("default").is_err());
}

#[test]
fn undeliverable_events_go_to_the_targets_dead_letter_queue() {
    let dir = tempfile::tempdir().unwrap();
    let out = Arc::new(Recorder::default());
    let ev = open(dir.path(), out.clone());
    let rule = ev
        .put_rule(NewRule {
            name: "r".into(),
            pattern: Some(r#"{"source": ["shop"]}"#.into()),
            ..NewRule::default()
        })
        .unwrap();
    let dlq = "arn:aws:sqs:us-east-1:000000000000:dlq";
    let gone = "arn:aws:lambda:us-east-1:000000000000:function:gone";
    let mut with_dlq = Target {
        id: "f".into(),
        arn: gone.into(),
        ..Target::default()
    };
    with_dlq
        .extra
        .insert("DeadLetterConfig".into(), json!({"Arn": dlq}));
    let mut fifo = Target {
        id: "q".into(),
        arn: "arn:aws:sqs:us-east-1:000000000000:orders.fifo".into(),
        ..Target::default()
    };
    fifo.extra
        .insert("SqsParameters".into(), json!({"MessageGroupId": "orders"}));
    ev.put_targets(None, "r", vec![with_dlq, fifo]).unwrap();
    ev.put_events(&[order("1", "big")]).unwrap();
    let staged = out.staged.lock().unwrap().clone();
    assert_eq!(staged.len(), 2, "{staged:?}");
    assert_eq!(staged[0].0, dlq);
    let event: Value = serde_json::from_str(&staged[0].1).unwrap();
    assert_eq!(event["source"], "shop", "the DLQ gets the event itself");
    let extras = out.extras.lock().unwrap().clone();
    let attributes: std::collections::BTreeMap<&str, &str> = extras[0]
        .0
        .iter()
        .map(|(k, _, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(attributes["RULE_ARN"], rule);
    assert_eq!(attributes["TARGET_ARN"], gone);
    assert_eq!(attributes["ERROR_CODE"], "RESOURCE_NOT_FOUND");
    assert!(attributes["ERROR_MESSAGE"].contains("Function not found"));
    assert_eq!(
        extras[1].1.as_deref(),
        Some("orders"),
        "the FIFO target's group"
    );
}
