//! The conformance corpus: every case in `tests/cases/schedules/*.json`.
//!
//! Each file is an array of cases. A case names an `expression` and its
//! `flavour` (`rule` or `scheduler`), and then either `error` (AWS's message)
//! or `from` (an RFC 3339 instant), optionally `timezone` (UTC when absent),
//! `start` and `end` (`StartDate`, `EndDate`), and `next`: the firings at or
//! after `from`, up to five (fewer when the schedule ends). `note` says what
//! the case is about.

use crate::{Flavour, Schedule, Timing, time_zone};
use serde_json::Value;
use std::path::Path;

fn instant(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str().map(|s| s.parse().expect("an RFC 3339 instant"))
}

fn run_case(case: &Value) -> Result<(), String> {
    let expression = case["expression"].as_str().ok_or("no expression")?;
    let flavour = match case["flavour"].as_str() {
        Some("rule") => Flavour::Rule,
        Some("scheduler") => Flavour::Scheduler,
        other => return Err(format!("flavour {other:?}")),
    };
    let parsed = Schedule::parse(expression, flavour);
    if let Some(want) = case["error"].as_str() {
        return match parsed {
            Err(e) if e.to_string() == want => Ok(()),
            Err(e) => Err(format!(
                "refused with {:?}; expected {want:?}",
                e.to_string()
            )),
            Ok(s) => Err(format!("accepted as {s:?}; expected {want:?}")),
        };
    }
    let schedule = parsed.map_err(|e| format!("refused: {e:?}"))?;
    let zone = match case["timezone"].as_str() {
        Some(name) => time_zone(name).map_err(|e| e.to_string())?,
        None => jiff::tz::TimeZone::UTC,
    };
    let timing = Timing {
        zone,
        start: instant(&case["start"]),
        end: instant(&case["end"]),
    };
    let from = instant(&case["from"]).ok_or("no from")?;
    let got: Vec<String> = schedule
        .firings(from, &timing, 5)
        .iter()
        .map(|t| t.to_string())
        .collect();
    let want: Vec<String> = case["next"]
        .as_array()
        .ok_or("no next")?
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    if got == want {
        Ok(())
    } else {
        Err(format!("got {got:?}, expected {want:?}"))
    }
}

#[test]
fn conformance_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/schedules");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut count = 0;
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let cases: Vec<Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (i, case) in cases.iter().enumerate() {
            count += 1;
            if let Err(why) = run_case(case) {
                let name = file.file_name().unwrap().to_string_lossy();
                failures.push(format!("{name}[{i}] {}: {why}", case["expression"]));
            }
        }
    }
    assert!(count >= 150, "the corpus has {count} cases");
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
