//! The conformance corpus: every case under `tests/cases/iam/<name>/case.json`.
//!
//! An evaluation case has `context` (`action`, `resource`, `principal`: an
//! IAM or STS ARN, `{"arn", "tags"}`, `{"service"}`, `{"federated"}` or
//! `"anonymous"`; `keys`: condition keys to a value or a list, `null` to
//! remove a key the principal put there), `policies` (`identity` and
//! `session`: lists of documents; `boundary`, `resource` or `trust`: one
//! document; `resource_account`; `resource_required`: the resource's policy
//! must allow, as a KMS key policy must) and `expected`: `decision`
//! (`Allow`, `ExplicitDeny`, `ImplicitDeny`), optionally `by` (the kind of
//! policy that decided: `identity-based policy`, `resource-based policy`,
//! `permissions boundary`, `session policy`, `root`), `policy` (identity
//! policies are named `identity[i]`, session policies `session[i]`, the others
//! by their slot), `sid` and `message` (a fragment of the denial message).
//!
//! A parse case has `parse` (`kind`: `identity`, `resource`, `trust` or
//! `any`; `document`: JSON, or `text`: raw text) and `expected.malformed`:
//! a fragment of the error's text, or `expected.valid: true`.

use crate::{
    Context, Decision, ParseKind, Policy, PolicyKind, PolicySet, Principal, Reason, evaluate,
    parse, parse_as,
};
use serde_json::Value;
use std::path::Path;

fn kind(name: &str) -> Result<Option<ParseKind>, String> {
    Ok(match name {
        "identity" => Some(ParseKind::Identity),
        "resource" => Some(ParseKind::Resource),
        "trust" => Some(ParseKind::Trust),
        "any" => None,
        other => return Err(format!("unknown parse kind {other}")),
    })
}

fn compile(doc: &Value, kind: Option<ParseKind>, name: &str) -> Result<Policy, String> {
    let text = doc.to_string();
    let parsed = match kind {
        Some(k) => parse_as(&text, k),
        None => parse(&text),
    };
    parsed
        .map(|p| p.named(name))
        .map_err(|e| format!("{name} refused: {e}"))
}

fn principal(v: &Value) -> Result<Principal, String> {
    let from_arn =
        |arn: &str| Principal::from_arn(arn).ok_or_else(|| format!("not a principal ARN: {arn}"));
    match v {
        Value::String(s) if s == "anonymous" => Ok(Principal::anonymous()),
        Value::String(s) => from_arn(s),
        Value::Object(o) => {
            let mut p = if let Some(s) = o.get("service").and_then(Value::as_str) {
                Principal::service(s)
            } else if let Some(f) = o.get("federated").and_then(Value::as_str) {
                Principal::federated(f)
            } else {
                from_arn(
                    o.get("arn")
                        .and_then(Value::as_str)
                        .ok_or("principal without arn")?,
                )?
            };
            for (k, v) in o
                .get("tags")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                p = p.with_tag(k, v.as_str().ok_or("tag values are strings")?);
            }
            p.canonical_user = o
                .get("canonical_user")
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok(p)
        }
        _ => Err("principal is a string or an object".into()),
    }
}

fn context(v: &Value) -> Result<Context, String> {
    let action = v["action"].as_str().ok_or("context.action")?;
    let resource = v["resource"].as_str().unwrap_or("*");
    let mut ctx = Context::new(action, resource, principal(&v["principal"])?);
    for (k, value) in v["keys"].as_object().into_iter().flatten() {
        match value {
            Value::Null => ctx.remove(k),
            Value::Array(list) => ctx.set(
                k,
                list.iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect(),
            ),
            Value::String(s) => ctx.set(k, vec![s.clone()]),
            other => ctx.set(k, vec![other.to_string()]),
        }
    }
    Ok(ctx)
}

fn run_parse_case(parse_case: &Value, expected: &Value) -> Result<(), String> {
    let kind = kind(parse_case["kind"].as_str().unwrap_or("any"))?;
    let text = match (&parse_case["text"], &parse_case["document"]) {
        (Value::String(t), _) => t.clone(),
        (_, doc) => doc.to_string(),
    };
    let outcome = match kind {
        Some(k) => parse_as(&text, k),
        None => parse(&text),
    };
    match (outcome, expected["malformed"].as_str()) {
        (Ok(_), None) if expected["valid"] == Value::Bool(true) => Ok(()),
        (Ok(_), want) => Err(format!("accepted; expected refused with {want:?}")),
        (Err(e), Some(want)) if e.to_string().contains(want) => Ok(()),
        (Err(e), want) => Err(format!("refused with {e:?}; expected {want:?}")),
    }
}

fn run_case(dir: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(dir.join("case.json")).map_err(|e| e.to_string())?;
    let case: Value = serde_json::from_str(&text).map_err(|e| format!("case.json: {e}"))?;
    let expected = &case["expected"];
    if !case["parse"].is_null() {
        return run_parse_case(&case["parse"], expected);
    }
    let ctx = context(&case["context"])?;
    let ps = &case["policies"];
    let list = |slot: &str| -> Result<Vec<Policy>, String> {
        ps[slot]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, d)| compile(d, Some(ParseKind::Identity), &format!("{slot}[{i}]")))
            .collect()
    };
    let one = |slot: &str, kind: ParseKind| -> Result<Option<Policy>, String> {
        match &ps[slot] {
            Value::Null => Ok(None),
            d => compile(d, Some(kind), slot).map(Some),
        }
    };
    let identity = list("identity")?;
    let session = list("session")?;
    let boundary = one("boundary", ParseKind::Identity)?;
    let resource = match one("trust", ParseKind::Trust)? {
        Some(t) => Some(t),
        None => one("resource", ParseKind::Resource)?,
    };
    let set = PolicySet {
        identity: identity.iter().collect(),
        boundary: boundary.as_ref(),
        session: session.iter().collect(),
        resource: resource.as_ref(),
        resource_account: ps["resource_account"].as_str().map(str::to_string),
        resource_required: ps["resource_required"].as_bool().unwrap_or(false),
    };
    let got = evaluate(&ctx, &set);

    let mut problems = Vec::new();
    let decision = match got.decision {
        Decision::Allow => "Allow",
        Decision::ExplicitDeny => "ExplicitDeny",
        Decision::ImplicitDeny => "ImplicitDeny",
    };
    let want = expected["decision"].as_str().ok_or("expected.decision")?;
    if decision != want {
        problems.push(format!("decision {decision}, expected {want}"));
    }
    let (by, policy, sid) = match &got.reason {
        Reason::Statement { kind, policy, sid } => (kind.phrase(), policy.clone(), sid.clone()),
        Reason::NotAllowed(kind) => (kind.phrase(), None, None),
        Reason::AccountRoot => ("root", None, None),
    };
    if let Some(want) = expected["by"].as_str()
        && by != want
    {
        problems.push(format!("decided by {by}, expected {want}"));
    }
    if let Some(want) = expected["policy"].as_str()
        && policy.as_deref() != Some(want)
    {
        problems.push(format!("decided by policy {policy:?}, expected {want}"));
    }
    if let Some(want) = expected["sid"].as_str()
        && sid.as_deref() != Some(want)
    {
        problems.push(format!("decided by Sid {sid:?}, expected {want}"));
    }
    if let Some(want) = expected["message"].as_str() {
        let message = got.message(&ctx).unwrap_or_default();
        if !message.contains(want) {
            problems.push(format!("message {message:?} does not contain {want:?}"));
        }
    }
    // The message names the kind of policy the reason names.
    if got.decision != Decision::Allow
        && let Reason::NotAllowed(kind) | Reason::Statement { kind, .. } = got.reason
    {
        let message = got.message(&ctx).unwrap_or_default();
        if !message.contains(PolicyKind::phrase(kind)) {
            problems.push(format!(
                "message {message:?} does not name the {}",
                kind.phrase()
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/iam");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 150, "the corpus has {} cases", dirs.len());
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
