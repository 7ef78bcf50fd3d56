use super::*;
use nimbus_storage_embedded::EmbeddedKv;

fn open(dir: &std::path::Path) -> Queues {
    let kv = Arc::new(EmbeddedKv::open(&dir.join("m.redb")).unwrap());
    Queues::open(kv, "000000000000", "us-east-1").unwrap()
}

fn msg(body: &str) -> Outgoing {
    Outgoing {
        body: body.into(),
        ..Default::default()
    }
}

fn attr(t: &str, s: Option<&str>, b: Option<&[u8]>) -> Attribute {
    Attribute {
        data_type: t.into(),
        string_value: s.map(str::to_string),
        binary_value: b.map(<[u8]>::to_vec),
    }
}

#[test]
fn attribute_digest_is_sqs_s() {
    // Computed independently (Python struct + hashlib) from SQS's documented encoding.
    let mut a = BTreeMap::new();
    a.insert("n".to_string(), attr("Number", Some("42"), None));
    a.insert("a".to_string(), attr("String", Some("x"), None));
    a.insert("bin".to_string(), attr("Binary", None, Some(&[0, 1])));
    assert_eq!(
        md5_of_attributes(&a).as_deref(),
        Some("2e1b8bb0d88ac3c4744f7b508ba870a4")
    );
    assert_eq!(md5_of_attributes(&BTreeMap::new()), None);
    assert_eq!(md5_hex("hello"), "5d41402abc4b2a76b9719d911017c592");
}

#[test]
fn names_and_attributes_are_validated() {
    let d = tempfile::tempdir().unwrap();
    let q = open(d.path());
    assert!(matches!(
        q.create("bad name", BTreeMap::new(), BTreeMap::new()),
        Err(Error::InvalidParameterValue(_))
    ));
    // A .fifo name needs FifoQueue=true, and FifoQueue=true needs a .fifo name.
    assert!(matches!(
        q.create("f.fifo", BTreeMap::new(), BTreeMap::new()),
        Err(Error::InvalidParameterValue(_))
    ));
    let fifo = BTreeMap::from([("FifoQueue".to_string(), "true".to_string())]);
    assert!(matches!(
        q.create("f", fifo.clone(), BTreeMap::new()),
        Err(Error::InvalidParameterValue(_))
    ));
    q.create("f.fifo", fifo, BTreeMap::new()).unwrap();
    let bad = BTreeMap::from([("VisibilityTimeout".to_string(), "99999".to_string())]);
    assert!(matches!(
        q.create("q", bad, BTreeMap::new()),
        Err(Error::InvalidAttributeValue(_))
    ));
    let unknown = BTreeMap::from([("Colour".to_string(), "blue".to_string())]);
    assert!(matches!(
        q.create("q", unknown, BTreeMap::new()),
        Err(Error::InvalidAttributeName(_))
    ));
    let a = BTreeMap::from([("VisibilityTimeout".to_string(), "5".to_string())]);
    q.create("q", a.clone(), BTreeMap::new()).unwrap();
    // Same attributes: fine; different: QueueNameExists.
    q.create("q", a, BTreeMap::new()).unwrap();
    let other = BTreeMap::from([("VisibilityTimeout".to_string(), "6".to_string())]);
    assert!(matches!(
        q.create("q", other, BTreeMap::new()),
        Err(Error::QueueNameExists(_))
    ));
}

#[tokio::test]
async fn messages_are_hidden_while_received_and_survive_a_restart() {
    let d = tempfile::tempdir().unwrap();
    {
        let q = open(d.path());
        q.create("work", BTreeMap::new(), BTreeMap::new()).unwrap();
        let sent = q.send("work", vec![msg("one"), msg("two")], "me").unwrap();
        assert!(sent.iter().all(Result::is_ok));
        let got = q.receive("work", 10, Some(60), Some(0)).await.unwrap();
        assert_eq!(got.len(), 2);
        assert!(
            q.receive("work", 10, None, Some(0))
                .await
                .unwrap()
                .is_empty()
        );
        q.delete_message("work", &got[0].receipt_handle).unwrap();
        assert!(matches!(
            q.delete_message("work", "garbage"),
            Err(Error::ReceiptHandleIsInvalid(_))
        ));
    }
    // Reopened: the deleted one is gone, the other is still in flight with its count.
    let q = open(d.path());
    let a = q.attributes("work").unwrap();
    assert_eq!(a["ApproximateNumberOfMessagesNotVisible"], "1");
    assert_eq!(a["ApproximateNumberOfMessages"], "0");
    let gauges = q.gauges();
    let work = gauges.iter().find(|g| g.0 == "work").unwrap();
    assert_eq!(
        (work.1, work.2, work.3),
        (0, 1, 0),
        "CloudWatch's gauges agree"
    );
}

#[tokio::test]
async fn visibility_changes_and_long_polls_wake_on_send() {
    let d = tempfile::tempdir().unwrap();
    let q = Arc::new(open(d.path()));
    q.create("lp", BTreeMap::new(), BTreeMap::new()).unwrap();
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move {
            let t = std::time::Instant::now();
            let got = q.receive("lp", 1, Some(30), Some(10)).await.unwrap();
            (got, t.elapsed())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    q.send("lp", vec![msg("wake")], "me").unwrap();
    let (got, waited) = waiter.await.unwrap();
    assert_eq!(got[0].message.body, "wake");
    assert!(waited < std::time::Duration::from_secs(5));
    // Visible again at once after a visibility change to 0.
    q.change_visibility("lp", &got[0].receipt_handle, 0)
        .unwrap();
    let again = q.receive("lp", 1, None, Some(0)).await.unwrap();
    assert_eq!(again[0].message.receive_count, 2);
}

#[tokio::test]
async fn messages_over_max_receive_count_move_to_the_dead_letter_queue() {
    let d = tempfile::tempdir().unwrap();
    let q = open(d.path());
    q.create("dlq", BTreeMap::new(), BTreeMap::new()).unwrap();
    let policy = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"2"}}"#,
        q.arn("dlq")
    );
    q.create(
        "src",
        BTreeMap::from([("RedrivePolicy".to_string(), policy)]),
        BTreeMap::new(),
    )
    .unwrap();
    q.send("src", vec![msg("poison")], "me").unwrap();
    for _ in 0..2 {
        let got = q.receive("src", 1, Some(0), Some(0)).await.unwrap();
        assert_eq!(got.len(), 1);
    }
    // The third receive moves it instead of returning it.
    assert!(
        q.receive("src", 1, Some(0), Some(0))
            .await
            .unwrap()
            .is_empty()
    );
    let dead = q.receive("dlq", 1, None, Some(0)).await.unwrap();
    assert_eq!(dead[0].message.body, "poison");
    assert_eq!(
        dead[0].message.dead_letter_source_arn.as_deref(),
        Some(q.arn("src").as_str())
    );
}

fn fifo_msg(body: &str, group: &str, dedup: Option<&str>) -> Outgoing {
    Outgoing {
        body: body.into(),
        group_id: Some(group.into()),
        dedup_id: dedup.map(str::to_string),
        ..Default::default()
    }
}

#[tokio::test]
async fn fifo_groups_deliver_in_order_one_in_flight_and_deduplicate() {
    let d = tempfile::tempdir().unwrap();
    let q = open(d.path());
    let attrs = BTreeMap::from([
        ("FifoQueue".to_string(), "true".to_string()),
        ("ContentBasedDeduplication".to_string(), "true".to_string()),
    ]);
    q.create("o.fifo", attrs, BTreeMap::new()).unwrap();
    let sent = q
        .send(
            "o.fifo",
            vec![
                fifo_msg("a1", "a", None),
                fifo_msg("a2", "a", None),
                fifo_msg("b1", "b", None),
            ],
            "me",
        )
        .unwrap();
    let first = sent[0].as_ref().unwrap().clone();
    // The same content within five minutes: accepted, not enqueued again.
    let dup = q
        .send("o.fifo", vec![fifo_msg("a1", "a", None)], "me")
        .unwrap();
    assert_eq!(dup[0].as_ref().unwrap().id, first.id);
    assert!(matches!(
        q.send("o.fifo", vec![msg("no group")], "me").unwrap()[0],
        Err(Error::MissingParameter(_))
    ));
    let got = q.receive("o.fifo", 1, Some(60), Some(0)).await.unwrap();
    assert_eq!(got[0].message.body, "a1");
    // Group a is blocked while a1 is in flight; b is not.
    let next = q.receive("o.fifo", 10, Some(60), Some(0)).await.unwrap();
    let bodies: Vec<&str> = next.iter().map(|r| r.message.body.as_str()).collect();
    assert_eq!(bodies, ["b1"]);
    q.delete_message("o.fifo", &got[0].receipt_handle).unwrap();
    let after = q.receive("o.fifo", 10, Some(60), Some(0)).await.unwrap();
    assert_eq!(after[0].message.body, "a2");
    assert!(after[0].message.sequence_number() > first.sequence_number());
}
