//! The SAM transform (`Transform: AWS::Serverless-2016-10-31`), done as AWS
//! does it: `Globals` merged into each serverless resource, then every
//! `AWS::Serverless::*` resource expanded into the plain CloudFormation
//! resources it stands for, under the logical ids the SAM translator gives
//! them (`FnRole`, `FnAliaslive`, `FnVersion<hash>`, `Fn<Event>`, ...), so
//! that `Ref` and `Fn::GetAtt` in the rest of the template and in `Outputs`
//! keep working. Kinds whose services Nimbus does not have yet are refused
//! with a message naming them.

mod api;
mod deployment;
mod function;
mod policies;
mod state_machine;

use crate::Error;
use serde_json::{Map, Value, json};

/// The transform's name in `Transform`.
pub const TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// The `Globals` sections SAM knows, and the resource type each applies to.
const GLOBALS: [(&str, &str); 5] = [
    ("Function", "AWS::Serverless::Function"),
    ("Api", "AWS::Serverless::Api"),
    ("HttpApi", "AWS::Serverless::HttpApi"),
    ("SimpleTable", "AWS::Serverless::SimpleTable"),
    ("StateMachine", "AWS::Serverless::StateMachine"),
];

/// SAM's refusal of one resource, in the translator's words.
pub(crate) fn invalid(id: &str, message: impl std::fmt::Display) -> Error {
    Error::Invalid(format!(
        "Transform {TRANSFORM} failed with: Invalid Serverless Application Specification document. \
         Number of errors found: 1. Resource with id [{id}] is invalid. {message}"
    ))
}

/// Whether a template names the SAM transform.
pub fn applies(doc: &Value) -> bool {
    match doc.get("Transform") {
        Some(Value::String(t)) => t == TRANSFORM,
        Some(Value::Array(list)) => list.iter().any(|t| t == TRANSFORM),
        _ => false,
    }
}

/// Merge `global` under `local`: the resource's own values win; maps are
/// merged key by key, lists are the global entries followed by the
/// resource's, as SAM documents for `Globals`.
fn merge(global: &Value, local: Option<&Value>) -> Value {
    match (global, local) {
        (g, None) => g.clone(),
        (Value::Object(g), Some(Value::Object(l))) => {
            let mut out = g.clone();
            for (k, v) in l {
                let merged = merge_child(out.get(k), v);
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(g), Some(Value::Array(l))) => {
            Value::Array(g.iter().chain(l.iter()).cloned().collect())
        }
        (_, Some(l)) => l.clone(),
    }
}

fn merge_child(global: Option<&Value>, local: &Value) -> Value {
    match global {
        Some(g) => merge(g, Some(local)),
        None => local.clone(),
    }
}

/// Rename every `Ref` to `from` in `v` as `Ref` to `to`.
fn rename_refs(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::Object(m) => {
            if m.len() == 1
                && let Some(Value::String(r)) = m.get_mut("Ref")
                && r == from
            {
                *r = to.to_string();
                return;
            }
            m.values_mut().for_each(|c| rename_refs(c, from, to));
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rename_refs(c, from, to)),
        _ => {}
    }
}

/// Ten hex digits of the SHA-256 of `v`'s JSON: the suffix SAM gives the
/// logical ids of resources that are replaced when their content changes
/// (function versions, layer versions).
pub(crate) fn content_hash(v: &Value) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(v.to_string().as_bytes());
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

/// The template `doc` with the SAM transform applied (a template without it
/// is returned as it is).
pub fn transform(doc: &Value) -> Result<Value, Error> {
    if !applies(doc) {
        return Ok(doc.clone());
    }
    let Value::Object(top) = doc else {
        return Ok(doc.clone());
    };
    let mut top = top.clone();
    top.remove("Transform");
    let globals = top.remove("Globals").unwrap_or(Value::Null);
    if let Value::Object(g) = &globals {
        for name in g.keys() {
            if !GLOBALS.iter().any(|(n, _)| n == name) {
                return Err(Error::Invalid(format!(
                    "Transform {TRANSFORM} failed with: Invalid Serverless Application Specification document. \
                     Number of errors found: 1. 'Globals' section is invalid. '{name}' is not a supported resource type in the Globals section."
                )));
            }
        }
    }
    let Some(Value::Object(resources)) = top.remove("Resources") else {
        return Err(Error::Format(
            "At least one Resources member must be defined.".into(),
        ));
    };
    let mut out = Map::new();
    // Plain resources first: events may add to them (an S3 bucket's
    // notification configuration).
    for (id, r) in &resources {
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or("");
        if !kind.starts_with("AWS::Serverless::") {
            out.insert(id.clone(), r.clone());
        }
    }
    // Serverless resources with their `Globals`; the APIs are made last,
    // when every event naming them has been seen.
    let mut serverless = Vec::new();
    let mut apis = Vec::new();
    for (id, r) in &resources {
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or("");
        if !kind.starts_with("AWS::Serverless::") {
            continue;
        }
        let mut r = r.clone();
        if let Some((name, _)) = GLOBALS.iter().find(|(_, t)| *t == kind)
            && let Some(g) = globals.get(*name)
        {
            let merged = merge(g, r.get("Properties"));
            r["Properties"] = merged;
        }
        if matches!(kind, "AWS::Serverless::Api" | "AWS::Serverless::HttpApi") {
            apis.push((id.clone(), r));
        } else {
            serverless.push((id.clone(), kind.to_string(), r));
        }
    }
    let mut routes = api::Routes::new(&apis)?;
    let mut renames = Vec::new();
    for (id, kind, r) in &serverless {
        let kind = kind.as_str();
        let props = r
            .get("Properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut made = Expansion {
            id,
            resource: r,
            props: &props,
            out: &mut out,
        };
        match kind {
            "AWS::Serverless::Function" => function::expand(&mut made, &mut routes)?,
            "AWS::Serverless::SimpleTable" => made.simple_table(),
            "AWS::Serverless::LayerVersion" => renames.push(made.layer_version()?),
            "AWS::Serverless::StateMachine" => state_machine::expand(&mut made)?,
            "AWS::Serverless::Application"
            | "AWS::Serverless::Connector"
            | "AWS::Serverless::GraphQLApi" => {
                return Err(invalid(
                    id,
                    format!(
                        "Nimbus does not expand {kind} yet; use the plain CloudFormation resources it stands for."
                    ),
                ));
            }
            other => {
                return Err(invalid(id, format!("Unknown resource type {other}.")));
            }
        }
    }
    api::finish(&mut out, routes, &apis, &globals)?;
    let mut processed = Value::Object(top);
    processed["Resources"] = Value::Object(out);
    for (from, to) in renames {
        rename_refs(&mut processed, &from, &to);
    }
    Ok(processed)
}

/// One serverless resource being expanded into `out`.
pub(crate) struct Expansion<'a> {
    pub id: &'a str,
    pub resource: &'a Value,
    pub props: &'a Map<String, Value>,
    pub out: &'a mut Map<String, Value>,
}

impl Expansion<'_> {
    /// Add a plain resource, with the serverless resource's attributes
    /// carried over as SAM carries them: `Condition`, `DeletionPolicy` and
    /// `UpdateReplacePolicy` to everything it makes, `DependsOn` and
    /// `Metadata` to the resource under its own id.
    pub(crate) fn add(&mut self, id: String, kind: &str, properties: Value) -> &mut Value {
        let mut r = json!({"Type": kind, "Properties": properties});
        let own = ["DependsOn", "Metadata"];
        for k in [
            "Condition",
            "DeletionPolicy",
            "UpdateReplacePolicy",
            "DependsOn",
            "Metadata",
        ] {
            if own.contains(&k) && id != self.id {
                continue;
            }
            if let Some(v) = self.resource.get(k) {
                r[k] = v.clone();
            }
        }
        if r["Properties"].as_object().is_some_and(Map::is_empty) {
            r.as_object_mut().map(|m| m.remove("Properties"));
        }
        self.out.insert(id.clone(), r);
        self.out.get_mut(&id).expect("just inserted")
    }

    fn prop(&self, name: &str) -> Option<&Value> {
        self.props.get(name)
    }

    /// `AWS::Serverless::SimpleTable`: a table keyed by `PrimaryKey` (`id`,
    /// a string, by default), on demand unless it has provisioned throughput.
    fn simple_table(&mut self) {
        let key = self.prop("PrimaryKey");
        let name = key
            .and_then(|k| k.get("Name"))
            .cloned()
            .unwrap_or_else(|| json!("id"));
        let kind = match key.and_then(|k| k.get("Type")).and_then(Value::as_str) {
            Some("Number") => "N",
            Some("Binary") => "B",
            _ => "S",
        };
        let mut p = json!({
            "AttributeDefinitions": [{"AttributeName": name, "AttributeType": kind}],
            "KeySchema": [{"AttributeName": name, "KeyType": "HASH"}],
        });
        match self.prop("ProvisionedThroughput") {
            Some(t) => p["ProvisionedThroughput"] = t.clone(),
            None => p["BillingMode"] = json!("PAY_PER_REQUEST"),
        }
        for k in [
            "TableName",
            "SSESpecification",
            "PointInTimeRecoverySpecification",
        ] {
            if let Some(v) = self.prop(k) {
                p[k] = v.clone();
            }
        }
        if let Some(Value::Object(tags)) = self.prop("Tags") {
            p["Tags"] = Value::Array(
                tags.iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect(),
            );
        }
        let id = self.id.to_string();
        self.add(id, "AWS::DynamoDB::Table", p);
    }

    /// `AWS::Serverless::LayerVersion`: a layer version under its logical id
    /// and a hash of its content (a new version when the content changes),
    /// kept on deletion unless `RetentionPolicy: Delete`. Returns the rename
    /// every `Ref` to it needs.
    fn layer_version(&mut self) -> Result<(String, String), Error> {
        let content = match self.prop("ContentUri") {
            Some(v) => function::code_location(self.id, "ContentUri", v, false)?,
            None => return Err(invalid(self.id, "Missing required property 'ContentUri'.")),
        };
        let content = json!({
            "S3Bucket": content["S3Bucket"],
            "S3Key": content["S3Key"],
        });
        let mut p = json!({
            "Content": content,
            "LayerName": self.prop("LayerName").cloned().unwrap_or_else(|| json!(self.id)),
        });
        for k in [
            "CompatibleRuntimes",
            "CompatibleArchitectures",
            "Description",
            "LicenseInfo",
        ] {
            if let Some(v) = self.prop(k) {
                p[k] = v.clone();
            }
        }
        let new_id = format!("{}{}", self.id, content_hash(&p));
        let retain = !self
            .prop("RetentionPolicy")
            .and_then(Value::as_str)
            .is_some_and(|r| r.eq_ignore_ascii_case("delete"));
        let r = self.add(new_id.clone(), "AWS::Lambda::LayerVersion", p);
        if retain {
            r["DeletionPolicy"] = json!("Retain");
        }
        Ok((self.id.to_string(), new_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globals_merge_under_the_resources_own_values() {
        let g = json!({"Timeout": 10, "Environment": {"Variables": {"A": "1", "B": "2"}}, "Layers": ["x"]});
        let l = json!({"Timeout": 3, "Environment": {"Variables": {"B": "3"}}, "Layers": ["y"]});
        assert_eq!(
            merge(&g, Some(&l)),
            json!({"Timeout": 3, "Environment": {"Variables": {"A": "1", "B": "3"}}, "Layers": ["x", "y"]})
        );
    }

    #[test]
    fn templates_without_the_transform_are_left_alone() {
        let doc = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}});
        assert_eq!(transform(&doc).unwrap(), doc);
        assert!(applies(&json!({"Transform": [TRANSFORM]})));
    }

    #[test]
    fn unknown_globals_and_unsupported_kinds_are_refused() {
        let doc = json!({"Transform": TRANSFORM, "Globals": {"Queue": {}}, "Resources": {}});
        assert!(
            transform(&doc)
                .unwrap_err()
                .to_string()
                .contains("'Queue' is not a supported")
        );
        let doc = json!({"Transform": TRANSFORM, "Resources": {"A": {"Type": "AWS::Serverless::Application"}}});
        let e = transform(&doc).unwrap_err().to_string();
        assert!(e.contains("Resource with id [A] is invalid"), "{e}");
    }
}
