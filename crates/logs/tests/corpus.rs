//! The filter pattern corpus (`tests/cases/logs-filters/*.json`): each
//! pattern with the events AWS's documentation says it matches and misses,
//! or the patterns it refuses. Cases the documentation contradicts itself
//! on (marked `CONFLICT`) are skipped.

use nimbus_logs::FilterPattern;
use serde_json::Value;

#[test]
fn the_corpus_holds() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/cases/logs-filters"
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the corpus folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for case in doc["cases"].as_array().expect("cases") {
            let note = case["note"].as_str().unwrap_or_default();
            if note.contains("CONFLICT") {
                continue;
            }
            let pattern = case["pattern"].as_str().expect("pattern");
            checked += 1;
            let parsed = FilterPattern::parse(pattern);
            if case["invalid"].as_bool() == Some(true) {
                if parsed.is_ok() {
                    failures.push(format!("{name}: {pattern:?} should be refused"));
                }
                continue;
            }
            let p = match parsed {
                Ok(p) => p,
                Err(e) => {
                    failures.push(format!("{name}: {pattern:?} refused: {e}"));
                    continue;
                }
            };
            for (key, want) in [("matches", true), ("misses", false)] {
                for event in case[key].as_array().into_iter().flatten() {
                    let event = event.as_str().expect("an event is a string");
                    if p.matches(event) != want {
                        failures.push(format!(
                            "{name}: {pattern:?} should {} {event:?}",
                            if want { "match" } else { "miss" }
                        ));
                    }
                }
            }
        }
    }
    assert!(checked >= 100, "only {checked} cases");
    assert!(
        failures.is_empty(),
        "{} of {checked} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
