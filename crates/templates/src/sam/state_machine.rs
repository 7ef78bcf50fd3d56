//! `AWS::Serverless::StateMachine`: the state machine (its `Definition` as
//! the definition string SAM writes, or `DefinitionUri`) and, without a
//! `Role`, a generated role that Step Functions may assume, with the
//! machine's `Policies`.

use super::{Expansion, function::code_location, invalid, policies};
use crate::Error;
use serde_json::{Value, json};

/// Whether `v` holds an intrinsic function anywhere.
fn has_intrinsic(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            (m.len() == 1 && m.keys().all(|k| k == "Ref" || k.starts_with("Fn::")))
                || m.values().any(has_intrinsic)
        }
        Value::Array(a) => a.iter().any(has_intrinsic),
        _ => false,
    }
}

/// A definition as SAM writes it: its JSON (keys sorted, four-space
/// indents) joined from lines; one with intrinsics inside is made a string
/// when the stack resolves it.
fn definition_string(def: &Value) -> Value {
    if has_intrinsic(def) {
        return json!({"Fn::ToJsonString": def});
    }
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(def, &mut ser).expect("a JSON value serializes");
    let text = String::from_utf8(out).expect("JSON is UTF-8");
    json!({"Fn::Join": ["\n", text.split('\n').collect::<Vec<_>>()]})
}

fn tags(user: Option<&Value>) -> Value {
    let mut list = vec![json!({"Key": "stateMachine:createdBy", "Value": "SAM"})];
    if let Some(Value::Object(m)) = user {
        list.extend(m.iter().map(|(k, v)| json!({"Key": k, "Value": v})));
    }
    Value::Array(list)
}

pub(crate) fn expand(x: &mut Expansion<'_>) -> Result<(), Error> {
    let id = x.id.to_string();
    if let Some(Value::Object(events)) = x.prop("Events")
        && let Some(name) = events.keys().next()
    {
        return Err(invalid(
            &id,
            format!(
                "Event with id [{name}] is invalid. Nimbus does not start state machines from events yet."
            ),
        ));
    }
    let mut m = serde_json::Map::new();
    match (x.prop("Definition"), x.prop("DefinitionUri")) {
        (Some(def), None) => {
            m.insert("DefinitionString".into(), definition_string(def));
        }
        (None, Some(uri)) => {
            let loc = code_location(&id, "DefinitionUri", uri, false)?;
            let mut s3 = json!({"Bucket": loc["S3Bucket"], "Key": loc["S3Key"]});
            if let Some(v) = loc.get("S3ObjectVersion") {
                s3["Version"] = v.clone();
            }
            m.insert("DefinitionS3Location".into(), s3);
        }
        _ => {
            return Err(invalid(
                &id,
                "Specify exactly one of 'Definition' or 'DefinitionUri'.",
            ));
        }
    }
    for (from, to) in [
        ("DefinitionSubstitutions", "DefinitionSubstitutions"),
        ("Name", "StateMachineName"),
        ("Type", "StateMachineType"),
        ("Logging", "LoggingConfiguration"),
        ("Tracing", "TracingConfiguration"),
    ] {
        if let Some(v) = x.prop(from) {
            m.insert(to.into(), v.clone());
        }
    }
    let user_tags = x.prop("Tags").cloned();
    m.insert("Tags".into(), tags(user_tags.as_ref()));
    match x.prop("Role") {
        Some(role) => {
            m.insert("RoleArn".into(), role.clone());
        }
        None => {
            let p = policies::read(&id, x.prop("Policies"))?;
            let inline: Vec<Value> = p
                .inline
                .into_iter()
                .map(|(i, doc)| json!({"PolicyName": format!("{id}RolePolicy{i}"), "PolicyDocument": doc}))
                .collect();
            let mut role = json!({
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Action": ["sts:AssumeRole"],
                        "Effect": "Allow",
                        "Principal": {"Service": ["states.amazonaws.com"]},
                    }],
                },
                "ManagedPolicyArns": p.managed,
                "Tags": tags(user_tags.as_ref()),
            });
            if !inline.is_empty() {
                role["Policies"] = Value::Array(inline);
            }
            if let Some(b) = x.prop("PermissionsBoundary") {
                role["PermissionsBoundary"] = b.clone();
            }
            x.add(format!("{id}Role"), "AWS::IAM::Role", role);
            m.insert(
                "RoleArn".into(),
                json!({"Fn::GetAtt": [format!("{id}Role"), "Arn"]}),
            );
        }
    }
    x.add(id, "AWS::StepFunctions::StateMachine", Value::Object(m));
    Ok(())
}
