//! The parser and matcher never panic: every pattern of the corpus, mutated
//! a few thousand ways (characters dropped, doubled, swapped for JSON's
//! punctuation), is compiled in every flavour and matched against every
//! event of the corpus. A cheap, deterministic cousin of the fuzz target
//! `event_pattern`.

use crate::{Flavour, Pattern};
use serde_json::Value;
use std::path::Path;

fn corpus() -> (Vec<String>, Vec<Value>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/event-patterns");
    let mut patterns = Vec::new();
    let mut events = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the corpus") {
        let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("a file");
        let cases: Vec<Value> = serde_json::from_str(&text).expect("a list of cases");
        for case in cases {
            match &case["pattern"] {
                Value::String(s) => patterns.push(s.clone()),
                other => patterns.push(other.to_string()),
            }
            for key in ["match", "no_match"] {
                if let Some(list) = case[key].as_array() {
                    events.extend(list.iter().cloned());
                }
            }
        }
    }
    (patterns, events)
}

#[test]
fn mutated_patterns_never_panic() {
    let (patterns, events) = corpus();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    const PUNCTUATION: &[char] = &[
        '{', '}', '[', ']', ':', ',', '"', '\\', '*', '-', '0', '5', 'e', '.', '/', ' ', '$',
    ];
    let mut compiled = 0;
    for p in &patterns {
        for _ in 0..40 {
            let mut chars: Vec<char> = p.chars().collect();
            for _ in 0..=next(3) {
                let at = next(chars.len() + 1);
                match next(3) {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 if at < chars.len() => chars.insert(at, chars[at]),
                    _ => chars.insert(at, PUNCTUATION[next(PUNCTUATION.len())]),
                }
            }
            let text: String = chars.into_iter().collect();
            for flavour in [
                Flavour::EventBridge,
                Flavour::Lambda,
                Flavour::SnsAttributes,
                Flavour::SnsBody,
            ] {
                match Pattern::parse_as(&text, flavour) {
                    Ok(pattern) => {
                        compiled += 1;
                        for e in events.iter().step_by(7) {
                            let _ = pattern.matches(e);
                        }
                    }
                    Err(e) => {
                        let _ = e.message();
                    }
                }
            }
        }
    }
    assert!(compiled > 100, "only {compiled} mutants compiled");
}

#[test]
fn deep_and_wide_inputs_stay_bounded() {
    // Many fields: settled in a loop, not a recursion per field.
    let wide: Vec<String> = (0..20_000).map(|i| format!("\"f{i}\": [1]")).collect();
    let wide = Pattern::parse(&format!("{{{}}}", wide.join(","))).unwrap();
    let event: serde_json::Map<String, Value> = (0..20_000)
        .map(|i| (format!("f{i}"), Value::from(1)))
        .collect();
    assert!(wide.matches(&Value::Object(event)));
    let deep = format!(
        "{}\"a\": [1]{}",
        "{\"x\": ".repeat(900) + "{",
        "}".repeat(901)
    );
    assert!(Pattern::parse(&deep).is_ok());
    let too_deep = "[".repeat(2000);
    assert!(Pattern::parse(&format!("{{\"a\": {too_deep}")).is_err());
    // Alternatives nested a hundred deep against an event they almost match.
    let mut p = String::from("{\"z\": [1]}");
    for i in 0..100 {
        p = format!("{{\"$or\": [{{\"a{i}\": [1], \"$or\": [{p}, {p}]}}, {{\"b{i}\": [1]}}]}}");
        if p.len() > 200_000 {
            break;
        }
    }
    if let Ok(pattern) = Pattern::parse(&p) {
        let mut event = serde_json::Map::new();
        for i in 0..100 {
            event.insert(format!("a{i}"), Value::from(1));
        }
        let _ = pattern.matches(&Value::Object(event));
    }
}
