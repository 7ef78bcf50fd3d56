//! The conformance corpus: every file under `tests/cases/event-patterns/`,
//! each a list of cases.
//!
//! A case has `name` and `pattern`: the pattern's text (a JSON string) or
//! the pattern itself (any other JSON value, written out compactly); and
//! optionally `flavour` (`eventbridge`, the default, `lambda`,
//! `sns-attributes` or `sns-body`). Then either `match` and `no_match`:
//! lists of events the pattern matches and does not match (for
//! `sns-attributes`, an event is the message's attributes, name to
//! `{"Type", "Value"}`), each event one case; or `error`: the reason AWS
//! gives for refusing the pattern, and optionally `message`, the whole
//! message with its location.

use crate::{Flavour, Pattern, sns};
use serde_json::Value;
use std::path::Path;

fn flavour(name: Option<&str>) -> Result<Flavour, String> {
    Ok(match name {
        None | Some("eventbridge") => Flavour::EventBridge,
        Some("lambda") => Flavour::Lambda,
        Some("sns-attributes") => Flavour::SnsAttributes,
        Some("sns-body") => Flavour::SnsBody,
        Some(other) => return Err(format!("unknown flavour {other}")),
    })
}

fn attributes(event: &Value) -> Result<Value, String> {
    let map = event.as_object().ok_or("attributes must be an object")?;
    let mut list = Vec::new();
    for (name, a) in map {
        let field = |k: &str| {
            a.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("attribute {name} needs {k}"))
        };
        list.push((name.as_str(), field("Type")?, field("Value")?));
    }
    Ok(sns::attributes_event(list.into_iter().map(
        |(name, data_type, value)| sns::Attribute {
            name,
            data_type,
            value,
        },
    )))
}

/// A case's pattern text and the flavour it is read in.
pub(crate) fn pattern_of(case: &Value) -> Result<(String, Flavour), String> {
    let flavour = flavour(case.get("flavour").and_then(Value::as_str))?;
    let text = match case.get("pattern") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => return Err("no pattern".into()),
    };
    Ok((text, flavour))
}

/// A case's events as they are matched (attributes made into the object an
/// attribute-scope policy meets), each with whether it should match.
pub(crate) fn events_of(case: &Value, flavour: Flavour) -> Result<Vec<(Value, bool)>, String> {
    let mut out = Vec::new();
    for (key, want) in [("match", true), ("no_match", false)] {
        for event in case
            .get(key)
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
        {
            let event = if flavour == Flavour::SnsAttributes {
                attributes(event)?
            } else {
                event.clone()
            };
            out.push((event, want));
        }
    }
    Ok(out)
}

/// Every case of the corpus, with its topic (its file's name), in file order.
pub(crate) fn cases() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/event-patterns");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/cases/event-patterns")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a case file");
        let cases: Vec<Value> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a JSON list: {e}", file.display()));
        let topic = file.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
        out.extend(cases.into_iter().map(|c| (topic.to_string(), c)));
    }
    out
}

/// Run one case; returns how many checks it made.
fn run_case(case: &Value) -> Result<usize, String> {
    let (text, flavour) = pattern_of(case)?;
    let parsed = Pattern::parse_as(&text, flavour);
    if let Some(want) = case.get("error") {
        let Err(e) = parsed else {
            return Err(format!("accepted, want error {want}"));
        };
        if Some(e.reason()) != want.as_str() {
            return Err(format!("error {:?}, want {want}", e.reason()));
        }
        if let Some(m) = case.get("message")
            && Some(e.message().as_str()) != m.as_str()
        {
            return Err(format!("message {:?}, want {m}", e.message()));
        }
        return Ok(1);
    }
    let pattern = parsed.map_err(|e| format!("refused: {e}"))?;
    let events = events_of(case, flavour)?;
    for (event, want) in &events {
        if pattern.matches(event) != *want {
            let verb = if *want {
                "should match"
            } else {
                "should not match"
            };
            return Err(format!("{verb} {event}"));
        }
    }
    if events.is_empty() {
        return Err("no events".into());
    }
    Ok(events.len())
}

#[test]
fn corpus() {
    let cases = cases();
    let mut failures = Vec::new();
    let mut checks = 0;
    let mut topics = std::collections::BTreeSet::new();
    for (topic, case) in &cases {
        topics.insert(topic);
        let name = case.get("name").and_then(Value::as_str).unwrap_or("?");
        match run_case(case) {
            Ok(n) => checks += n,
            Err(why) => failures.push(format!("{topic}/{name}: {why}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checks >= 300, "only {checks} cases");
    println!("{checks} event pattern cases in {} files", topics.len());
}
