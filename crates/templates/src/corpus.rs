//! The conformance corpus: every case under `tests/cases/templates/<name>/`.
//!
//! A case has `template.yaml` or `template.json`, optionally
//! `parameters.json` (parameter overrides, `{"Name": "value"}`), and
//! `expected.json`: either `{"error": "..."}`, CloudFormation's exact message
//! from whichever step refuses (parsing, binding, planning, resolving), or
//! what a deployment gives: `resources` (each resource the conditions keep,
//! to its resolved properties), and optionally `outputs` (name to value),
//! `exports` (output name to export name), `waves` and `conditions`; and
//! `processed`: the `Resources` of the template after the SAM transform,
//! unresolved, with the content hash of version, layer version and REST API
//! deployment ids (and of a deployment's description) written `<hash>` (the
//! expectations of SAM cases come from the AWS SAM translator's output,
//! hashes aside).
//!
//! The stack is `test-stack` in account `123456789012`, `us-east-1`. The
//! resolver answers `Ref` to resource `X` with `X-id`, `Fn::GetAtt X.A` with
//! `X.A`, `Fn::ImportValue N` with `imported:N` (or "No export named N found."
//! when `N` starts with `missing`), `{{resolve:ssm:N[:v]}}` with `ssm:N[:v]`,
//! and `{{resolve:secretsmanager:S::K}}` with `secret:S[:K]`.

use crate::{DynamicRef, Error, Pseudo, Resolver, Stack, parse};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;

struct Fake;

impl Resolver for Fake {
    fn ref_of(&self, id: &str) -> Result<Value, String> {
        Ok(json!(format!("{id}-id")))
    }
    fn attribute(&self, id: &str, name: &str) -> Result<Value, String> {
        Ok(json!(format!("{id}.{name}")))
    }
    fn import(&self, name: &str) -> Result<Value, String> {
        if name.starts_with("missing") {
            return Err(format!("No export named {name} found."));
        }
        Ok(json!(format!("imported:{name}")))
    }
    fn dynamic(&self, r: &DynamicRef) -> Result<String, String> {
        Ok(match r {
            DynamicRef::Ssm { name, version } | DynamicRef::SsmSecure { name, version } => {
                match version {
                    Some(v) => format!("ssm:{name}:{v}"),
                    None => format!("ssm:{name}"),
                }
            }
            DynamicRef::SecretsManager {
                secret_id,
                json_key,
                ..
            } => match json_key {
                Some(k) => format!("secret:{secret_id}:{k}"),
                None => format!("secret:{secret_id}"),
            },
        })
    }
}

/// Everything a deployment of the case's template gives, as JSON.
fn deploy(dir: &Path) -> Result<Value, Error> {
    let text = ["template.yaml", "template.json"]
        .iter()
        .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .expect("template.yaml or template.json");
    let overrides: BTreeMap<String, String> = std::fs::read_to_string(dir.join("parameters.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).expect("parameters.json"))
        .unwrap_or_default();
    let template = parse(&text)?;
    let pseudo = Pseudo::new("123456789012", "us-east-1", "test-stack");
    let stack = Stack::new(&template, &overrides, pseudo, &Fake)?;
    let plan = stack.plan()?;
    let mut resources = Map::new();
    for id in &plan.order {
        if let Some(props) = stack.resource(id, &Fake)? {
            resources.insert(id.clone(), Value::Object(props));
        }
    }
    let mut outputs = Map::new();
    let mut exports = Map::new();
    for (name, o) in stack.outputs(&Fake)? {
        outputs.insert(name.clone(), o.value);
        if let Some(e) = o.export_name {
            exports.insert(name, Value::String(e));
        }
    }
    let mut processed = crate::sam::transform(&crate::read(&text)?)?["Resources"].take();
    unhash(&mut processed);
    Ok(json!({
        "processed": processed,
        "resources": resources,
        "outputs": outputs,
        "exports": exports,
        "waves": plan.waves,
        "conditions": stack.conditions(),
    }))
}

/// Write the content hash of version, layer version and deployment ids as `<hash>`,
/// in the ids and wherever they are named.
fn unhash(resources: &mut Value) {
    let hashed: Vec<String> = resources
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(id, r)| {
                    matches!(
                        r["Type"].as_str(),
                        Some(
                            "AWS::Lambda::Version"
                                | "AWS::Lambda::LayerVersion"
                                | "AWS::ApiGateway::Deployment"
                        )
                    ) && id.len() > 10
                        && id[id.len() - 10..].bytes().all(|b| b.is_ascii_hexdigit())
                })
                .map(|(id, _)| id.clone())
                .collect()
        })
        .unwrap_or_default();
    fn rename(v: &mut Value, from: &str, to: &str) {
        match v {
            Value::String(s) if s == from => *s = to.to_string(),
            Value::Array(a) => a.iter_mut().for_each(|c| rename(c, from, to)),
            Value::Object(m) => m.values_mut().for_each(|c| rename(c, from, to)),
            _ => {}
        }
    }
    for id in hashed {
        let to = format!("{}<hash>", &id[..id.len() - 10]);
        rename(resources, &id, &to);
        if let Some(m) = resources.as_object_mut()
            && let Some(mut r) = m.remove(&id)
        {
            // A REST API deployment's description carries the hash too.
            if r["Type"] == "AWS::ApiGateway::Deployment" {
                r["Properties"]["Description"] = json!("RestApi deployment id: <hash>");
            }
            m.insert(to, r);
        }
    }
}

fn run_case(dir: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(dir.join("expected.json")).map_err(|e| e.to_string())?;
    let expected: Value = serde_json::from_str(&text).map_err(|e| format!("expected.json: {e}"))?;
    let got = deploy(dir);
    if let Some(want) = expected["error"].as_str() {
        return match got {
            Err(e) if e.to_string() == want => Ok(()),
            Err(e) => Err(format!(
                "refused with {:?}; expected {want:?}",
                e.to_string()
            )),
            Ok(_) => Err(format!("deployed; expected refused with {want:?}")),
        };
    }
    let got = got.map_err(|e| format!("refused: {e}"))?;
    let mut problems = Vec::new();
    for key in [
        "processed",
        "resources",
        "outputs",
        "exports",
        "waves",
        "conditions",
    ] {
        if expected[key].is_null() {
            continue;
        }
        if expected[key] != got[key] {
            problems.push(format!(
                "{key}: got {}, expected {}",
                got[key], expected[key]
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[test]
fn conformance_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/templates");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 40, "the corpus has {} cases", dirs.len());
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|d| {
            run_case(d)
                .err()
                .map(|e| format!("{}: {e}", d.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
