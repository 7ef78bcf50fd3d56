//! Property tests: any JSON document reads the same through the YAML reader
//! (YAML's flow style is a superset of JSON), `Fn::Sub` leaves text without
//! variables alone, and the plan of any acyclic graph puts every resource in
//! exactly one wave after everything it waits for, while any cycle is refused.
//! Fixed seeds: failures reproduce.

use crate::graph::{Part, plan, sub_parts};
use crate::yaml;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// xorshift64*: small, deterministic, good enough to pick shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn text(&mut self, alphabet: &[char], max: usize) -> String {
        let n = self.below(max + 1);
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

const TEXT: &[char] = &[
    'a', 'Z', '0', '9', ' ', ':', '-', '#', '!', '&', '*', '"', '\'', '\\', '/', '{', '}', '[',
    ']', ',', '$', '.', '\n', '\t', 'é', '☃',
];

fn json(rng: &mut Rng, depth: usize) -> Value {
    let leaf = depth == 0 || rng.below(3) == 0;
    match rng.below(if leaf { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => Value::from(rng.next() as i64 / 3),
        3 => Value::from(rng.below(10_000) as f64 / 8.0 + 0.5),
        4 => Value::String(rng.text(TEXT, 12)),
        5 => Value::Array((0..rng.below(4)).map(|_| json(rng, depth - 1)).collect()),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                m.insert(rng.text(TEXT, 6), json(rng, depth - 1));
            }
            Value::Object(m)
        }
    }
}

#[test]
fn json_reads_the_same_as_yaml() {
    let mut rng = Rng(0x5EED_0017);
    for _ in 0..2000 {
        let mut top = Map::new();
        top.insert("Resources".into(), json(&mut rng, 4));
        let doc = Value::Object(top);
        for text in [doc.to_string(), serde_json::to_string_pretty(&doc).unwrap()] {
            match yaml::parse(&text) {
                Ok(v) => assert_eq!(v, doc, "{text}"),
                Err(e) => panic!("{e}: {text}"),
            }
        }
    }
}

#[test]
fn sub_leaves_plain_text_alone() {
    let mut rng = Rng(0x5EED_05AB);
    for _ in 0..2000 {
        let text = rng.text(&['a', '$', '{', '}', '!', '.', ' '], 16);
        let parts = sub_parts(&text);
        if !text.contains("${") {
            let expected = if text.is_empty() {
                vec![]
            } else {
                vec![Part::Text(text.clone())]
            };
            assert_eq!(parts, expected, "{text}");
        }
        // `${!x}` is always text; rendering the parts back gives the input
        // with each `${!` turned into `${`.
        let rendered: String = parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Var(v) => format!("<{v}>"),
            })
            .collect();
        if !parts.iter().any(|p| matches!(p, Part::Var(_))) {
            assert_eq!(rendered, text.replace("${!", "${"), "{text}");
        }
    }
}

#[test]
fn plans_respect_every_dependency() {
    let mut rng = Rng(0x5EED_9A7E);
    for _ in 0..500 {
        let n = 1 + rng.below(12);
        let name = |i: usize| format!("R{i:02}");
        // Edges only to lower indices: acyclic.
        let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for i in 0..n {
            let mut ds = BTreeSet::new();
            for j in 0..i {
                if rng.below(3) == 0 {
                    ds.insert(name(j));
                }
            }
            deps.insert(name(i), ds);
        }
        let p = plan(deps.clone()).expect("acyclic");
        let wave_of: BTreeMap<&str, usize> = p
            .waves
            .iter()
            .enumerate()
            .flat_map(|(w, names)| names.iter().map(move |r| (r.as_str(), w)))
            .collect();
        assert_eq!(wave_of.len(), n);
        assert_eq!(p.order.len(), n);
        for (r, ds) in &deps {
            for d in ds {
                assert!(wave_of[d.as_str()] < wave_of[r.as_str()], "{r} after {d}");
            }
        }
        // An edge back from the lowest to the highest closes a cycle when a
        // path leads up; a self-edge always does.
        let mut cyclic = deps;
        cyclic.get_mut(&name(0)).expect("R00").insert(name(n - 1));
        cyclic
            .get_mut(&name(n - 1))
            .expect("last")
            .insert(name(n - 1));
        let e = plan(cyclic).unwrap_err().to_string();
        assert!(
            e.starts_with("Circular dependency between resources: ["),
            "{e}"
        );
        assert!(e.contains(&name(n - 1)), "{e}");
    }
}
