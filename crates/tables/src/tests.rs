//! The store against the real embedded engine: writes, conditions, transactions,
//! queries, streams (with trimming) and a reopen.

use super::*;
use crate::schema::{KeySchema, ScalarType, StreamDef, Throughput};
use crate::value::Number;
use std::collections::HashMap;

fn open(dir: &std::path::Path) -> Tables {
    let kv = Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("db")).unwrap());
    Tables::open(kv, "000000000000", "us-east-1").unwrap()
}

fn record(name: &str, stream: bool) -> TableRecord {
    TableRecord {
        format: schema::FORMAT,
        name: name.into(),
        id: String::new(),
        created_ms: 0,
        key: KeySchema {
            hash: "pk".into(),
            range: Some("sk".into()),
            ..KeySchema::default()
        },
        attributes: BTreeMap::from([
            ("pk".to_string(), ScalarType::S),
            ("sk".to_string(), ScalarType::N),
        ]),
        indexes: vec![],
        billing_mode: "PAY_PER_REQUEST".into(),
        throughput: Throughput::default(),
        stream: stream.then(|| StreamDef {
            view_type: "NEW_AND_OLD_IMAGES".into(),
            label: "2026-11-27T00:00:00.000".into(),
            enabled: true,
        }),
        old_streams: vec![],
        ttl_attribute: None,
        tags: BTreeMap::new(),
        deletion_protection: false,
        table_class: None,
        policies: BTreeMap::new(),
    }
}

fn item(pk: &str, sk: i64, v: &str) -> Item {
    Item::from([
        ("pk".to_string(), AttributeValue::S(pk.into())),
        ("sk".to_string(), AttributeValue::N(Number::from_i64(sk))),
        ("v".to_string(), AttributeValue::S(v.into())),
    ])
}

fn put(t: &Tables, table: &str, i: Item) -> Result<Vec<Written>> {
    t.write(
        vec![WriteOp {
            table: table.into(),
            key: Item::new(),
            condition: None,
            change: Change::Put(i),
            old_on_failure: false,
        }],
        false,
    )
}

fn condition(src: &str, values: &[(&str, AttributeValue)]) -> Condition {
    let values: HashMap<String, AttributeValue> = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let mut ctx = expr::Context::new(HashMap::new(), values);
    expr::parse_condition(src, "ConditionExpression", &mut ctx).unwrap()
}

#[test]
fn writes_queries_and_conditions() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path());
    t.create_table(record("ttt", false)).unwrap();
    for sk in [3, 1, 20, 2] {
        put(&t, "ttt", item("a", sk, "x")).unwrap();
    }
    put(&t, "ttt", item("b", 1, "y")).unwrap();
    let spec = ReadSpec {
        table: "ttt",
        index: None,
        forward: true,
        limit: None,
        start: None,
        filter: None,
    };
    let page = t
        .read(&spec, Some(&AttributeValue::S("a".into())), None, None)
        .unwrap();
    let sks: Vec<Value> = page
        .items
        .iter()
        .map(|i| i["sk"].to_json()["N"].clone())
        .collect();
    // Numeric order, not string order.
    assert_eq!(sks, ["1", "2", "3", "20"]);
    let between = SortCondition::on(KeyOp::Between(
        AttributeValue::N(Number::from_i64(2)),
        AttributeValue::N(Number::from_i64(3)),
    ));
    let page = t
        .read(
            &spec,
            Some(&AttributeValue::S("a".into())),
            Some(&between),
            None,
        )
        .unwrap();
    assert_eq!(page.items.len(), 2);
    // A failing condition changes nothing and says so.
    let err = t
        .write(
            vec![WriteOp {
                table: "ttt".into(),
                key: Item::new(),
                condition: Some(condition("attribute_not_exists(pk)", &[])),
                change: Change::Put(item("a", 1, "z")),
                old_on_failure: true,
            }],
            false,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::ConditionalCheckFailed { item: Some(_) }
    ));
    // A transaction with one failing condition applies none of its writes.
    let err = t
        .write(
            vec![
                WriteOp {
                    table: "ttt".into(),
                    key: Item::new(),
                    condition: None,
                    change: Change::Put(item("c", 1, "new")),
                    old_on_failure: false,
                },
                WriteOp {
                    table: "ttt".into(),
                    key: t.record("ttt").unwrap().key_of(&item("b", 1, "")),
                    condition: Some(condition(
                        "v = :v",
                        &[(":v", AttributeValue::S("not y".into()))],
                    )),
                    change: Change::Delete,
                    old_on_failure: false,
                },
            ],
            true,
        )
        .unwrap_err();
    match err {
        Error::TransactionCanceled { reasons } => {
            assert_eq!(
                reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
                ["None", "ConditionalCheckFailed"]
            );
        }
        other => panic!("{other:?}"),
    }
    let key_c = t.record("ttt").unwrap().key_of(&item("c", 1, ""));
    assert!(t.get_item("ttt", &key_c).unwrap().is_none());
}

#[test]
fn streams_survive_a_reopen_and_are_trimmed_after_a_day() {
    let dir = tempfile::tempdir().unwrap();
    {
        let t = open(dir.path());
        t.create_table(record("sss", true)).unwrap();
        put(&t, "sss", item("a", 1, "one")).unwrap();
        put(&t, "sss", item("a", 1, "one")).unwrap(); // unchanged: no record
        put(&t, "sss", item("a", 1, "two")).unwrap();
    }
    let t = open(dir.path());
    let label = "2026-11-27T00:00:00.000";
    let (records, next) = t.stream_records("sss", label, 0, 100).unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| r["eventName"].clone())
            .collect::<Vec<_>>(),
        ["INSERT", "MODIFY"]
    );
    // Sequence numbers continue after a reopen.
    put(&t, "sss", item("a", 2, "three")).unwrap();
    let (more, _) = t.stream_records("sss", label, next, 100).unwrap();
    assert_eq!(more.len(), 1);
    assert!(
        more[0]["dynamodb"]["SequenceNumber"].as_str()
            > records[1]["dynamodb"]["SequenceNumber"].as_str()
    );
    // Nothing is a day old yet; a day later, everything is.
    assert_eq!(t.trim_streams(now_ms()).unwrap(), 0);
    assert_eq!(
        t.trim_streams(now_ms() + streams::RETENTION_MS + 1000)
            .unwrap(),
        3
    );
    assert!(t.stream_records("sss", label, 0, 100).unwrap().0.is_empty());
}

#[test]
fn multi_attribute_keys_order_attribute_by_attribute() {
    use std::cmp::Ordering::*;
    let n = |v: i64| AttributeValue::N(Number::from_i64(v));
    let key = |vs: &[i64]| AttributeValue::L(vs.iter().map(|v| n(*v)).collect());
    // Numerically, attribute by attribute: (2, 10) after (2, 9), before (3, 1).
    assert_eq!(key_order(&key(&[2, 10]), &key(&[2, 9])), Greater);
    assert_eq!(key_order(&key(&[2, 10]), &key(&[3, 1])), Less);
    assert_eq!(key_order(&key(&[2, 10]), &key(&[2, 10])), Equal);
    let cond = SortCondition {
        prefix: vec![n(2)],
        last: Some(KeyOp::Gt(n(9))),
    };
    assert!(cond.matches(&key(&[2, 10, 1])));
    assert!(!cond.matches(&key(&[2, 9, 1])));
    assert!(!cond.matches(&key(&[3, 10])));
    assert!(SortCondition::on(KeyOp::Eq(n(1))).matches(&n(1)));
}
