//! The set agrees with matching every pattern one by one: on hand-picked
//! corners, on the whole conformance corpus, and on random patterns and
//! events over a small vocabulary.

use super::*;
use crate::{Flavour, corpus};
use serde_json::json;
use std::collections::BTreeMap;

/// A set and the same patterns in a plain map, to match one by one.
#[derive(Default)]
struct Both {
    set: PatternSet<usize>,
    naive: BTreeMap<usize, Pattern>,
}

impl Both {
    fn insert(&mut self, key: usize, pattern: Pattern) {
        self.set.insert(key, pattern.clone());
        self.naive.insert(key, pattern);
    }

    fn remove(&mut self, key: usize) {
        assert_eq!(self.set.remove(&key), self.naive.remove(&key));
    }

    /// The keys the set finds, checked against matching one by one.
    fn check(&self, event: &Value) -> Vec<usize> {
        let mut got = self.set.matching(event);
        got.sort_unstable();
        let want: Vec<usize> = self
            .naive
            .iter()
            .filter(|(_, p)| p.matches(event))
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(got, want, "event {event}");
        assert_eq!(self.set.len(), self.naive.len());
        got
    }
}

fn p(text: &str) -> Pattern {
    Pattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn filed_under<'s>(set: &'s PatternSet<&str>, key: &str) -> Option<&'s str> {
    let slot = set.by_key[&key];
    let entry = set.slots[slot].as_ref().expect("a live slot");
    entry.filed.as_ref().map(|(path, _)| path.as_str())
}

#[test]
fn insert_replace_and_remove() {
    let mut set = PatternSet::new();
    assert!(set.is_empty());
    assert_eq!(set.matching(&json!({"source": "a"})), Vec::<&str>::new());
    assert!(set.insert("r", p(r#"{"source": ["a"]}"#)).is_none());
    assert_eq!(set.len(), 1);
    assert_eq!(set.matching(&json!({"source": "a"})), ["r"]);
    assert!(set.matching(&json!({"source": "b"})).is_empty());

    let old = set.insert("r", p(r#"{"source": ["b"]}"#));
    assert_eq!(old, Some(p(r#"{"source": ["a"]}"#)));
    assert_eq!(set.len(), 1);
    assert!(set.matching(&json!({"source": "a"})).is_empty());
    assert_eq!(set.matching(&json!({"source": "b"})), ["r"]);
    assert_eq!(set.get(&"r"), Some(&p(r#"{"source": ["b"]}"#)));

    set.insert("s", p(r#"{"detail": {"n": [{"numeric": [">", 1]}]}}"#));
    let mut hits = set.matching(&json!({"source": "b", "detail": {"n": 2}}));
    hits.sort_unstable();
    assert_eq!(hits, ["r", "s"]);

    assert_eq!(set.remove(&"r"), Some(p(r#"{"source": ["b"]}"#)));
    assert_eq!(set.remove(&"r"), None);
    assert!(set.remove(&"s").is_some());
    assert!(set.is_empty());
    // Nothing is left behind to look up.
    assert!(set.paths.is_empty() && set.everywhere.is_empty());
    // Slots are reused.
    set.insert("t", p(r#"{"source": ["c"]}"#));
    assert_eq!(set.slots.len(), 2);
    assert_eq!(set.matching(&json!({"source": "c"})), ["t"]);
}

#[test]
fn patterns_are_filed_under_an_exact_field_of_their_conjunction() {
    let mut set = PatternSet::new();
    let mut put = |key, text| set.insert(key, p(text));
    put("exact", r#"{"source": ["a"], "detail-type": ["t"]}"#);
    put(
        "prefix",
        r#"{"source": [{"prefix": "a"}], "detail-type": ["t"]}"#,
    );
    put(
        "mixed",
        r#"{"source": ["a", {"prefix": "b"}], "detail": {"n": [1, 2]}}"#,
    );
    put(
        "or",
        r#"{"$or": [{"source": ["a"]}, {"detail-type": ["t"]}]}"#,
    );
    put(
        "or-and-field",
        r#"{"$or": [{"source": ["a"]}, {"source": ["b"]}], "detail": {"k": [null]}}"#,
    );
    put("anything-but", r#"{"source": [{"anything-but": "a"}]}"#);
    put("absent", r#"{"source": ["a", {"exists": false}]}"#);
    put(
        "present",
        r#"{"source": [{"exists": true}], "x": [true, false]}"#,
    );
    put(
        "ignore-case",
        r#"{"source": [{"equals-ignore-case": "a"}]}"#,
    );
    assert_eq!(filed_under(&set, "exact"), Some("source"));
    assert_eq!(filed_under(&set, "prefix"), Some("detail-type"));
    assert_eq!(filed_under(&set, "mixed"), Some("detail.n"));
    assert_eq!(filed_under(&set, "or"), None);
    assert_eq!(filed_under(&set, "or-and-field"), Some("detail.k"));
    assert_eq!(filed_under(&set, "anything-but"), None);
    assert_eq!(filed_under(&set, "absent"), None);
    assert_eq!(filed_under(&set, "present"), Some("x"));
    assert_eq!(filed_under(&set, "ignore-case"), None);
}

#[test]
fn the_path_with_the_fewest_patterns_per_value_is_chosen() {
    let mut set = PatternSet::new();
    for (key, t) in [("r1", "t1"), ("r2", "t2"), ("r3", "t3"), ("r4", "t4")] {
        let text = format!(r#"{{"source": ["aws.ec2"], "detail-type": ["{t}"]}}"#);
        set.insert(key, p(&text));
    }
    // The first two share `source` (a new path costs as much as one
    // pattern more); then `source`'s value is crowded and `detail-type` wins.
    assert_eq!(filed_under(&set, "r1"), Some("source"));
    assert_eq!(filed_under(&set, "r2"), Some("source"));
    assert_eq!(filed_under(&set, "r3"), Some("detail-type"));
    assert_eq!(filed_under(&set, "r4"), Some("detail-type"));
}

const CORNER_PATTERNS: &[&str] = &[
    r#"{"source": ["a"]}"#,
    r#"{"source": ["a", "b"]}"#,
    r#"{"source": ["a", {"prefix": "x"}]}"#,
    r#"{"source": [{"anything-but": "a"}]}"#,
    r#"{"source": [{"anything-but": ["a", "b"]}], "detail-type": ["t"]}"#,
    r#"{"source": [{"prefix": "a"}]}"#,
    r#"{"source": [{"equals-ignore-case": "A"}]}"#,
    r#"{"source": ["a"], "x": [{"exists": false}]}"#,
    r#"{"source": [{"exists": false}]}"#,
    r#"{"source": ["a", {"exists": false}]}"#,
    r#"{"source": [{"exists": true}]}"#,
    r#"{"$or": [{"source": ["a"]}, {"detail-type": ["t"]}]}"#,
    r#"{"source": ["a"], "$or": [{"detail": {"n": [1]}}, {"detail": {"n": [{"numeric": [">", 5]}]}}]}"#,
    r#"{"detail": {"n": [1]}}"#,
    r#"{"detail": {"n": [1.0]}}"#,
    r#"{"detail": {"n": [1.0000001]}}"#,
    r#"{"detail": {"n": [-2.5, 7]}}"#,
    r#"{"detail": {"n": [10000000000]}}"#,
    r#"{"detail": {"n": [1e10]}}"#,
    r#"{"detail": {"n": [{"numeric": ["=", 1]}]}}"#,
    r#"{"detail": {"n": ["1"]}}"#,
    r#"{"ip": ["10.0.0.1"]}"#,
    r#"{"ip": ["::1"]}"#,
    r#"{"ip": ["0:0:0:0:0:0:0:1"]}"#,
    r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#,
    r#"{"flag": [true]}"#,
    r#"{"flag": [false]}"#,
    r#"{"flag": [null]}"#,
    r#"{"flag": [null, "null"]}"#,
    r#"{"detail": {"status": ["ok"]}}"#,
    r#"{"detail.status": ["ok"]}"#,
    r#"{"detail": {"items": {"k": ["a"], "v": [1]}}}"#,
    r#"{"resources": ["arn:1"]}"#,
    r#"{"": ["e"]}"#,
    r#"{"": {"": ["e"]}}"#,
    r#"{"a": {"": ["e"]}}"#,
    r#"{"source": ["a"], "detail-type": ["t"], "detail": {"status": ["ok"]}}"#,
];

fn corner_events() -> Vec<Value> {
    vec![
        json!({}),
        json!({"source": "a"}),
        json!({"source": "b"}),
        json!({"source": "A"}),
        json!({"source": "x1"}),
        json!({"source": ["a", "c"]}),
        json!({"source": ["c", ["b"]]}),
        json!({"source": []}),
        json!({"source": {"a": 1}}),
        json!({"source": null}),
        json!({"source": 1}),
        json!({"source": "a", "x": 1}),
        json!({"source": "a", "x": null}),
        json!({"source": "a", "x": []}),
        json!({"source": "a", "x": {"y": 1}}),
        json!({"source": "c", "detail-type": "t"}),
        json!({"source": "a", "detail-type": "t", "detail": {"status": "ok"}}),
        json!({"source": "a", "detail": {"n": 1}}),
        json!({"source": "a", "detail": {"n": 6}}),
        json!({"detail": {"n": 1.0}}),
        json!({"detail": {"n": 1.00000001}}),
        json!({"detail": {"n": 1.000001}}),
        json!({"detail": {"n": -2.5}}),
        json!({"detail": {"n": [3, 7]}}),
        json!({"detail": {"n": 10000000000u64}}),
        json!({"detail": {"n": 1e10}}),
        json!({"detail": {"n": "1"}}),
        json!({"detail": [{"n": 1}, {"n": "1"}]}),
        json!({"ip": "10.0.0.1"}),
        json!({"ip": "10.0.0.9"}),
        json!({"ip": "::1"}),
        json!({"ip": "0::1"}),
        json!({"ip": "::0:1"}),
        json!({"ip": ["::2", "0:0::1"]}),
        json!({"flag": true}),
        json!({"flag": false}),
        json!({"flag": null}),
        json!({"flag": "null"}),
        json!({"flag": "true"}),
        json!({"detail.status": "ok"}),
        json!({"detail": {"status": ["no", "ok"]}}),
        json!({"detail": [{"status": "ok"}]}),
        json!({"detail": {"items": [{"k": "a", "v": 2}, {"k": "b", "v": 1}]}}),
        json!({"detail": {"items": [{"k": "b", "v": 2}, {"k": "a", "v": 1}]}}),
        json!({"resources": ["arn:0", "arn:1"]}),
        json!("e"),
        json!(["e", 1]),
        json!({"": "e"}),
        json!({"": {"": "e"}}),
        json!({"a": {"": "e"}}),
        json!({"a.": "e"}),
        json!([{"source": "a"}, {"source": "b"}]),
        json!(1),
        json!(null),
    ]
}

#[test]
fn corners_agree_with_matching_one_by_one() {
    let mut both = Both::default();
    for (key, text) in CORNER_PATTERNS.iter().enumerate() {
        both.insert(key, p(text));
    }
    let mut hits = 0;
    for event in corner_events() {
        hits += both.check(&event).len();
    }
    assert!(hits > 40, "only {hits} matches");
    // Taken out one by one, the rest still agree.
    for key in 0..CORNER_PATTERNS.len() {
        both.remove(key);
        for event in corner_events() {
            both.check(&event);
        }
    }
    assert!(both.set.paths.is_empty() && both.set.everywhere.is_empty());
}

#[test]
fn other_flavours_agree_too() {
    let mut both = Both::default();
    let patterns = [
        (r#"{"store": ["shop"]}"#, Flavour::SnsAttributes),
        (
            r#"{"price": [{"numeric": [">=", 100]}]}"#,
            Flavour::SnsAttributes,
        ),
        (
            r#"{"tags": ["red"], "store": ["shop"]}"#,
            Flavour::SnsAttributes,
        ),
        (r#"{"body": {"kind": ["order"]}}"#, Flavour::SnsBody),
        (
            r#"{"body": {"kind": [{"anything-but": "order"}]}}"#,
            Flavour::Lambda,
        ),
        (r#"{"data": {"n": [7]}}"#, Flavour::Lambda),
    ];
    for (key, (text, flavour)) in patterns.iter().enumerate() {
        both.insert(key, Pattern::parse_as(text, *flavour).unwrap());
    }
    let attrs = |list: &[(&str, &str, &str)]| {
        crate::sns::attributes_event(list.iter().map(|(name, data_type, value)| {
            crate::sns::Attribute {
                name,
                data_type,
                value,
            }
        }))
    };
    let events = [
        attrs(&[("store", "String", "shop"), ("price", "Number", "120")]),
        attrs(&[
            ("store", "String", "shop"),
            ("tags", "String.Array", r#"["blue", "red"]"#),
        ]),
        attrs(&[("price", "String", "120")]),
        json!({"body": {"kind": "order"}}),
        json!({"body": {"kind": "refund"}, "data": {"n": 7.0}}),
    ];
    for event in &events {
        both.check(event);
    }
}

#[test]
fn the_whole_corpus_agrees_with_matching_one_by_one() {
    let mut both = Both::default();
    let mut events = Vec::new();
    for (_, case) in corpus::cases() {
        let (text, flavour) = corpus::pattern_of(&case).expect("a pattern");
        if let Ok(pattern) = Pattern::parse_as(&text, flavour) {
            both.insert(both.naive.len(), pattern);
            let case_events = corpus::events_of(&case, flavour).expect("events");
            events.extend(case_events.into_iter().map(|(e, _)| e));
        }
    }
    assert!(both.naive.len() > 100, "only {} patterns", both.naive.len());
    let mut hits = 0;
    for event in &events {
        hits += both.check(event).len();
    }
    let indexed = both.set.len() - both.set.everywhere.len();
    println!(
        "{} patterns ({indexed} indexed, under {} paths), {} events, {hits} matches agree",
        both.naive.len(),
        both.set.paths.len(),
        events.len()
    );
    assert!(hits > events.len() / 2, "only {hits} matches");
}

/// A tiny deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

const SOURCES: &[&str] = &["a", "b", "c", "aws.ec2", "10.0.0.1"];
const TYPES: &[&str] = &["t1", "t2", "T1"];

fn scalars() -> Vec<Value> {
    vec![
        json!("a"),
        json!("b"),
        json!("ok"),
        json!("OK"),
        json!("::1"),
        json!("0::1"),
        json!(0),
        json!(1),
        json!(1.0),
        json!(2.5),
        json!(1e10),
        json!(-3),
        json!(true),
        json!(false),
        Value::Null,
    ]
}

/// An event value: mostly a scalar, sometimes an array of them.
fn event_value(rng: &mut Rng, pool: &[Value]) -> Value {
    match rng.below(10) {
        0 => Value::Array((0..rng.below(3)).map(|_| rng.pick(pool)).collect()),
        _ => rng.pick(pool),
    }
}

fn random_event(rng: &mut Rng) -> Value {
    let sources: Vec<Value> = SOURCES.iter().map(|s| json!(s)).collect();
    let types: Vec<Value> = TYPES.iter().map(|s| json!(s)).collect();
    let pool = scalars();
    let mut event = serde_json::Map::new();
    if rng.chance(90) {
        event.insert("source".into(), event_value(rng, &sources));
    }
    if rng.chance(80) {
        event.insert("detail-type".into(), event_value(rng, &types));
    }
    let mut detail = serde_json::Map::new();
    for field in ["x", "y"] {
        if rng.chance(60) {
            detail.insert(field.into(), event_value(rng, &pool));
        }
    }
    match rng.below(4) {
        0 => {
            detail.insert("z".into(), json!({"w": event_value(rng, &pool)}));
        }
        1 => {
            let items = (0..rng.below(3))
                .map(|_| json!({"w": rng.pick(&pool), "x": rng.pick(&pool)}))
                .collect();
            detail.insert("z".into(), Value::Array(items));
        }
        _ => {}
    }
    if rng.chance(10) {
        event.insert("detail.x".into(), rng.pick(&pool));
    }
    if !detail.is_empty() || rng.chance(50) {
        event.insert("detail".into(), Value::Object(detail));
    }
    Value::Object(event)
}

/// A leaf's list of matchers, mostly exact values from `values`.
fn random_leaf(rng: &mut Rng, values: &[Value]) -> Value {
    let n = 1 + rng.below(3);
    let mut list = Vec::new();
    for _ in 0..n {
        let m = match rng.below(12) {
            0 => json!({"prefix": rng.pick(&["a", "o", "aws."])}),
            1 => json!({"anything-but": rng.pick(&["a", "ok"])}),
            2 => json!({"anything-but": [1, 2.5]}),
            3 => json!({"numeric": [">", rng.pick(&[-1, 0, 1])]}),
            4 => json!({"exists": rng.chance(50)}),
            5 => json!({"equals-ignore-case": "ok"}),
            _ => rng.pick(values),
        };
        list.push(m);
    }
    Value::Array(list)
}

/// A pattern's object; alternatives (one level) in a fifth of them.
fn random_rule(rng: &mut Rng, nested: bool) -> Value {
    let sources: Vec<Value> = SOURCES.iter().map(|s| json!(s)).collect();
    let types: Vec<Value> = TYPES.iter().map(|s| json!(s)).collect();
    let pool = scalars();
    let mut rule = serde_json::Map::new();
    if rng.chance(60) {
        rule.insert("source".into(), random_leaf(rng, &sources));
    }
    if rng.chance(40) {
        rule.insert("detail-type".into(), random_leaf(rng, &types));
    }
    let mut detail = serde_json::Map::new();
    for field in ["x", "y"] {
        if rng.chance(30) {
            detail.insert(field.into(), random_leaf(rng, &pool));
        }
    }
    if rng.chance(20) {
        detail.insert("z".into(), json!({"w": random_leaf(rng, &pool)}));
    }
    if !detail.is_empty() {
        rule.insert("detail".into(), Value::Object(detail));
    }
    if !nested && rng.chance(20) {
        let alts = vec![random_rule(rng, true), random_rule(rng, true)];
        rule.insert("$or".into(), Value::Array(alts));
    }
    if rule.is_empty() {
        rule.insert("source".into(), random_leaf(rng, &sources));
    }
    Value::Object(rule)
}

fn random_pattern(rng: &mut Rng) -> Pattern {
    loop {
        let text = random_rule(rng, false).to_string();
        let flavour = rng.pick(&[Flavour::EventBridge, Flavour::Lambda, Flavour::SnsBody]);
        if let Ok(pattern) = Pattern::parse_as(&text, flavour) {
            return pattern;
        }
    }
}

#[test]
fn random_patterns_and_events_agree_with_matching_one_by_one() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut both = Both::default();
    for key in 0..150 {
        both.insert(key, random_pattern(&mut rng));
    }
    let mut hits = 0;
    for round in 0..4000 {
        hits += both.check(&random_event(&mut rng)).len();
        // Now and then take some out, replace some, add some.
        if round % 250 == 249 {
            for _ in 0..10 {
                both.remove(rng.below(200));
                both.insert(rng.below(200), random_pattern(&mut rng));
            }
        }
    }
    let indexed = both.set.len() - both.set.everywhere.len();
    println!(
        "{} patterns ({indexed} indexed), 4000 events, {hits} matches agree",
        both.set.len()
    );
    assert!(hits > 4000, "only {hits} matches");
    assert!(indexed > both.set.len() / 2, "only {indexed} indexed");
}
