//! Event patterns: any text compiled as an EventBridge pattern, a Lambda
//! filter or an SNS filter policy never panics (nor does its error message),
//! and a pattern that compiles matches, without panicking, an event made from
//! the rest of the input (JSON if it parses, a string otherwise), the pattern
//! text itself read as JSON, and SNS attributes made from the input's lines;
//! the pattern index (`PatternSet`) agrees with the pattern on each of them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_patterns::{Flavour, Pattern, PatternSet, sns};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, rest) = text.split_once('\n').unwrap_or((text, ""));
    let mut events = vec![
        serde_json::from_str::<Value>(rest).unwrap_or_else(|_| Value::String(rest.into())),
    ];
    if let Ok(v) = serde_json::from_str::<Value>(pattern) {
        events.push(v);
    }
    let lines: Vec<&str> = rest.lines().collect();
    events.push(sns::attributes_event(lines.chunks(3).map(|c| sns::Attribute {
        name: c[0],
        data_type: c.get(1).copied().unwrap_or("String"),
        value: c.get(2).copied().unwrap_or(""),
    })));
    for flavour in [
        Flavour::EventBridge,
        Flavour::Lambda,
        Flavour::SnsAttributes,
        Flavour::SnsBody,
    ] {
        match Pattern::parse_as(pattern, flavour) {
            Ok(p) => {
                let mut set = PatternSet::new();
                set.insert(0u8, p.clone());
                for e in &events {
                    assert_eq!(set.matching(e) == [0], p.matches(e), "the index disagrees");
                }
            }
            Err(e) => {
                let _ = (e.message(), e.location());
            }
        }
    }
});
