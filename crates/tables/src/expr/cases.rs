//! The expression conformance cases: each `tests/cases/dynamodb/<name>/case.json`
//! of kind `condition`, `update` or `projection` is one expression with its names,
//! values and item in DynamoDB JSON, and what DynamoDB makes of it: whether a
//! condition holds, the item after an update or projection, or the text an
//! error's message contains. Add a case by adding a folder.

use super::*;
use crate::value::{item_from_json, item_to_json};
use serde_json::Value;
use std::path::Path;

fn run(case: &Value) -> Result<Value, String> {
    let names = case["names"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let values = case["values"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| AttributeValue::from_json(v).map(|v| (k.clone(), v)))
                .collect::<Result<_, _>>()
        })
        .transpose()
        .map_err(|e| e.0)?
        .unwrap_or_default();
    let mut ctx = Context::new(names, values);
    let mut item = item_from_json(&case["item"]).map_err(|e| e.0)?;
    let src = case["expression"].as_str().unwrap_or_default();
    let out = match case["kind"].as_str() {
        Some("condition") => {
            let c = parse_condition(src, "ConditionExpression", &mut ctx).map_err(|e| e.0)?;
            ctx.check_unused().map_err(|e| e.0)?;
            serde_json::json!({ "holds": c.eval(&item) })
        }
        Some("update") => {
            let u = parse_update(src, &mut ctx).map_err(|e| e.0)?;
            ctx.check_unused().map_err(|e| e.0)?;
            u.apply(&mut item).map_err(|e| e.0)?;
            serde_json::json!({ "item": item_to_json(&item) })
        }
        Some("projection") => {
            let p = parse_projection(src, &mut ctx).map_err(|e| e.0)?;
            ctx.check_unused().map_err(|e| e.0)?;
            serde_json::json!({ "item": item_to_json(&project(&item, &p)) })
        }
        other => return Err(format!("unknown case kind {other:?}")),
    };
    Ok(out)
}

#[test]
fn dynamodb_expression_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/dynamodb");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("the case folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("case.json").exists())
        // PartiQL cases run through the DynamoDB API (`api/dynamodb`).
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("partiql-"))
        })
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 20,
        "expected the case corpus at {}",
        root.display()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let case: Value = serde_json::from_slice(&std::fs::read(dir.join("case.json")).unwrap())
            .unwrap_or_else(|e| panic!("{name}: case.json: {e}"));
        let expected = &case["expected"];
        let got = run(&case);
        let ok = match (&got, expected.get("error").and_then(Value::as_str)) {
            (Err(message), Some(part)) => message.contains(part),
            (Ok(v), None) => v == expected,
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: expected {expected}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
