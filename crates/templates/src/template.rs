//! The template model and its validation: what CloudFormation checks before it
//! binds a parameter or creates a resource, with its messages.

use crate::graph::{self, Reference};
use crate::{Error, yaml};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A parsed, structurally valid template.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pub format_version: Option<String>,
    pub description: Option<String>,
    /// Macros named by `Transform`, in order (`AWS::Serverless-2016-10-31`).
    pub transform: Vec<String>,
    pub metadata: Option<Value>,
    pub parameters: BTreeMap<String, Parameter>,
    pub mappings: Map<String, Value>,
    /// Condition name to its (unevaluated) expression.
    pub conditions: BTreeMap<String, Value>,
    pub resources: BTreeMap<String, Resource>,
    pub outputs: BTreeMap<String, Output>,
}

/// One entry of `Parameters`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parameter {
    pub kind: ParameterType,
    pub description: Option<String>,
    pub default: Option<String>,
    pub allowed_values: Option<Vec<String>>,
    pub allowed_pattern: Option<String>,
    pub constraint_description: Option<String>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub no_echo: bool,
}

/// A parameter's `Type`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ParameterType {
    #[default]
    String,
    Number,
    /// `List<Number>`.
    NumberList,
    CommaDelimitedList,
    /// An AWS-specific type (`AWS::EC2::VPC::Id`), or a list of one
    /// (`List<AWS::EC2::Subnet::Id>`): the value is the id as given.
    Aws {
        name: String,
        list: bool,
    },
    /// `AWS::SSM::Parameter::Value<T>`: the value given is a parameter name
    /// the deployer must resolve (through [`crate::Resolver::dynamic`]);
    /// `list` when `T` is a list type.
    Ssm {
        value_type: String,
        list: bool,
    },
}

impl ParameterType {
    fn parse(name: &str) -> Option<Self> {
        const AWS: &[&str] = &[
            "AWS::EC2::AvailabilityZone::Name",
            "AWS::EC2::Image::Id",
            "AWS::EC2::Instance::Id",
            "AWS::EC2::KeyPair::KeyName",
            "AWS::EC2::SecurityGroup::GroupName",
            "AWS::EC2::SecurityGroup::Id",
            "AWS::EC2::Subnet::Id",
            "AWS::EC2::Volume::Id",
            "AWS::EC2::VPC::Id",
            "AWS::Route53::HostedZone::Id",
            "AWS::SSM::Parameter::Name",
        ];
        let listed = |inner: &str| AWS.contains(&inner);
        Some(match name {
            "String" => Self::String,
            "Number" => Self::Number,
            "List<Number>" => Self::NumberList,
            "CommaDelimitedList" => Self::CommaDelimitedList,
            n if AWS.contains(&n) => Self::Aws {
                name: n.to_string(),
                list: false,
            },
            n => {
                if let Some(inner) = n.strip_prefix("List<").and_then(|s| s.strip_suffix('>'))
                    && listed(inner)
                {
                    return Some(Self::Aws {
                        name: inner.to_string(),
                        list: true,
                    });
                }
                let inner = n
                    .strip_prefix("AWS::SSM::Parameter::Value<")
                    .and_then(|s| s.strip_suffix('>'))?;
                let list = match inner {
                    "String" => false,
                    "List<String>" | "CommaDelimitedList" => true,
                    i if listed(i) => false,
                    i => match i.strip_prefix("List<").and_then(|s| s.strip_suffix('>')) {
                        Some(l) if listed(l) => true,
                        _ => return None,
                    },
                };
                Self::Ssm {
                    value_type: inner.to_string(),
                    list,
                }
            }
        })
    }

    /// Whether `Ref` to the parameter gives a list.
    pub fn is_list(&self) -> bool {
        match self {
            Self::NumberList | Self::CommaDelimitedList => true,
            Self::Aws { list, .. } | Self::Ssm { list, .. } => *list,
            Self::String | Self::Number => false,
        }
    }
}

/// One entry of `Resources`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    pub kind: String,
    pub properties: Map<String, Value>,
    pub depends_on: Vec<String>,
    pub condition: Option<String>,
    pub deletion_policy: Option<String>,
    pub update_replace_policy: Option<String>,
    pub metadata: Option<Value>,
    /// `UpdatePolicy` (`CodeDeployLambdaAliasUpdate` for an alias), as
    /// written: its references are dependencies.
    pub update_policy: Option<Value>,
}

impl Resource {
    /// What its references are read from: its properties and its
    /// `UpdatePolicy`.
    pub(crate) fn written(&self) -> Value {
        let mut v = vec![Value::Object(self.properties.clone())];
        v.extend(self.update_policy.clone());
        Value::Array(v)
    }
}

/// One entry of `Outputs`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Output {
    pub value: Value,
    pub description: Option<String>,
    /// `Export.Name`, unevaluated (it may use intrinsics).
    pub export_name: Option<Value>,
    pub condition: Option<String>,
}

const SECTIONS: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Resources",
    "Outputs",
    "Hooks",
];

const POLICIES: &[&str] = &["Delete", "Retain", "RetainExceptOnCreate", "Snapshot"];

fn format(msg: impl Into<String>) -> Error {
    Error::Format(msg.into())
}

/// Reads a JSON or YAML template and checks it as CloudFormation does before
/// any parameter is bound.
pub fn parse(text: &str) -> Result<Template, Error> {
    // `Transform: AWS::Serverless-2016-10-31`: the template as processed.
    Template::from_value(&crate::sam::transform(&read(text)?)?)
}

/// A JSON or YAML template as a JSON tree (YAML short forms in their long
/// forms), as written: before any transform (`GetTemplate`'s `Original`).
pub fn read(text: &str) -> Result<Value, Error> {
    Ok(if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| {
            format(format!(
                "JSON not well-formed. (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?
    } else {
        yaml::parse(text)?
    })
}

fn alphanumeric(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A scalar as CloudFormation reads it where it wants a string.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) => items.iter().map(scalar_text).collect(),
        other => scalar_text(other).map(|s| vec![s]),
    }
}

fn number(v: Option<&Value>, what: &str, name: &str) -> Result<Option<f64>, Error> {
    match v {
        None => Ok(None),
        Some(v) => scalar_text(v)
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(Some)
            .ok_or_else(|| format(format!("Parameter '{name}' {what} must be a number"))),
    }
}

impl Template {
    /// Checks a template's JSON tree and builds the model.
    pub fn from_value(value: &Value) -> Result<Self, Error> {
        let Value::Object(top) = value else {
            return Err(format("The template must be a JSON or YAML object"));
        };
        let unknown: Vec<&str> = top
            .keys()
            .map(String::as_str)
            .filter(|k| !SECTIONS.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(format(format!(
                "Invalid template property or properties [{}]",
                unknown.join(", ")
            )));
        }
        let mut t = Template::default();
        if let Some(v) = top.get("AWSTemplateFormatVersion") {
            match scalar_text(v) {
                Some(s) if s == "2010-09-09" => t.format_version = Some(s),
                _ => {
                    return Err(format("unsupported value for AWSTemplateFormatVersion."));
                }
            }
        }
        if let Some(v) = top.get("Description") {
            t.description = Some(
                scalar_text(v)
                    .ok_or_else(|| format("Every Description member must be a string"))?,
            );
        }
        t.metadata = top.get("Metadata").cloned();
        t.transform = match top.get("Transform") {
            None => Vec::new(),
            Some(v) => string_list(v)
                .ok_or_else(|| format("Transform must be a string or a list of strings"))?,
        };
        t.parameters = section(top, "Parameters")?
            .iter()
            .map(|(name, v)| Ok((name.clone(), parameter(name, v)?)))
            .collect::<Result<_, Error>>()?;
        t.mappings = section(top, "Mappings")?.clone();
        check_mappings(&t.mappings)?;
        t.conditions = section(top, "Conditions")?
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let resources = section(top, "Resources")?;
        if resources.is_empty() {
            return Err(format("At least one Resources member must be defined."));
        }
        t.resources = resources
            .iter()
            .map(|(name, v)| Ok((name.clone(), resource(name, v)?)))
            .collect::<Result<_, Error>>()?;
        t.outputs = section(top, "Outputs")?
            .iter()
            .map(|(name, v)| Ok((name.clone(), output(v)?)))
            .collect::<Result<_, Error>>()?;
        t.check_references()?;
        Ok(t)
    }

    /// Every `Ref`, `Fn::GetAtt`, `Fn::Sub` variable, `DependsOn` and
    /// `Condition` names something the template defines.
    fn check_references(&self) -> Result<(), Error> {
        let known = |name: &str| {
            self.parameters.contains_key(name)
                || self.resources.contains_key(name)
                || crate::params::is_pseudo(name)
        };
        let mut missing = BTreeSet::new();
        for (name, r) in &self.resources {
            if let Some(c) = &r.condition
                && !self.conditions.contains_key(c)
            {
                return Err(format(format!(
                    "Unresolved condition dependency {c} in resource {name}"
                )));
            }
            for d in &r.depends_on {
                if !self.resources.contains_key(d) {
                    missing.insert(d.clone());
                }
            }
            let refs = graph::references(&r.written(), None);
            self.unknown_refs(&refs, &known, &mut missing)?;
        }
        if !missing.is_empty() {
            return Err(unresolved(&missing, "Resources"));
        }
        for (name, o) in &self.outputs {
            if let Some(c) = &o.condition
                && !self.conditions.contains_key(c)
            {
                return Err(format(format!(
                    "Unresolved condition dependency {c} in output {name}"
                )));
            }
            let mut refs = graph::references(&o.value, None);
            if let Some(e) = &o.export_name {
                refs.extend(graph::references(e, None));
            }
            self.unknown_refs(&refs, &known, &mut missing)?;
        }
        if !missing.is_empty() {
            return Err(unresolved(&missing, "Outputs"));
        }
        for c in self.conditions.values() {
            for r in graph::references(c, None) {
                if self.resources.contains_key(r.name()) {
                    return Err(format(format!(
                        "Unresolved dependencies [{}]. Cannot reference resources in the Conditions block of the template",
                        r.name()
                    )));
                }
                if !known(r.name()) {
                    missing.insert(r.name().to_string());
                }
            }
        }
        if !missing.is_empty() {
            return Err(format(format!(
                "Unresolved dependencies [{}]. Cannot reference resources in the Conditions block of the template",
                missing.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(())
    }

    fn unknown_refs(
        &self,
        refs: &[Reference],
        known: &dyn Fn(&str) -> bool,
        missing: &mut BTreeSet<String>,
    ) -> Result<(), Error> {
        for r in refs {
            match r {
                Reference::GetAtt(res, _) if !self.resources.contains_key(res) => {
                    return Err(Error::Template(format!(
                        "instance of Fn::GetAtt references undefined resource {res}"
                    )));
                }
                Reference::Ref(n) if !known(n) => {
                    missing.insert(n.clone());
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn unresolved(missing: &BTreeSet<String>, block: &str) -> Error {
    format(format!(
        "Unresolved resource dependencies [{}] in the {block} block of the template",
        missing.iter().cloned().collect::<Vec<_>>().join(", ")
    ))
}

fn section<'a>(top: &'a Map<String, Value>, name: &str) -> Result<&'a Map<String, Value>, Error> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match top.get(name) {
        None | Some(Value::Null) => Ok(EMPTY.get_or_init(Map::new)),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(format(format!("{name} must be an object"))),
    }
}

fn check_mappings(mappings: &Map<String, Value>) -> Result<(), Error> {
    for (name, m) in mappings {
        let Value::Object(tops) = m else {
            return Err(format(format!("Mappings attribute {name} must be a map")));
        };
        for top in tops.values() {
            let Value::Object(seconds) = top else {
                return Err(format("Every Mappings member must be a map"));
            };
            for v in seconds.values() {
                let ok = match v {
                    Value::Array(items) => items.iter().all(|i| scalar_text(i).is_some()),
                    other => scalar_text(other).is_some(),
                };
                if !ok {
                    return Err(format(
                        "Every Mappings attribute must be a String or a List.",
                    ));
                }
            }
        }
    }
    Ok(())
}

fn parameter(name: &str, v: &Value) -> Result<Parameter, Error> {
    if !alphanumeric(name) {
        return Err(format(format!(
            "Parameter name {name} is non alphanumeric."
        )));
    }
    let Value::Object(o) = v else {
        return Err(format(
            "Every Parameters object must contain a Type member.",
        ));
    };
    let kind_name = o
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| format("Every Parameters object must contain a Type member."))?;
    let kind = ParameterType::parse(kind_name)
        .ok_or_else(|| format(format!("Unrecognized parameter type: {kind_name}")))?;
    let text = |key: &str| o.get(key).and_then(scalar_text);
    let allowed_values = match o.get("AllowedValues") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(scalar_text)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format("Every AllowedValues member must be a list."))?,
        ),
        Some(_) => return Err(format("Every AllowedValues member must be a list.")),
    };
    let default = match o.get("Default") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(scalar_text)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format(format!("Default of parameter {name} must be a string")))?
                .join(","),
        ),
        Some(v) => Some(
            scalar_text(v)
                .ok_or_else(|| format(format!("Default of parameter {name} must be a string")))?,
        ),
    };
    let length = |key: &str| -> Result<Option<u64>, Error> {
        Ok(number(o.get(key), key, name)?.map(|n| n.max(0.0) as u64))
    };
    Ok(Parameter {
        kind,
        description: text("Description"),
        default,
        allowed_values,
        allowed_pattern: text("AllowedPattern"),
        constraint_description: text("ConstraintDescription"),
        min_length: length("MinLength")?,
        max_length: length("MaxLength")?,
        min_value: number(o.get("MinValue"), "MinValue", name)?,
        max_value: number(o.get("MaxValue"), "MaxValue", name)?,
        no_echo: matches!(text("NoEcho").as_deref(), Some("true" | "True" | "TRUE")),
    })
}

fn resource(name: &str, v: &Value) -> Result<Resource, Error> {
    if !alphanumeric(name) {
        return Err(format(format!("Resource name {name} is non alphanumeric.")));
    }
    let Value::Object(o) = v else {
        return Err(format("Every Resources object must contain a Type member."));
    };
    let kind = o
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| format("Every Resources object must contain a Type member."))?
        .to_string();
    let properties = match o.get("Properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return Err(format(format!(
                "[/Resources/{name}/Properties] 'Properties' must be an object"
            )));
        }
    };
    let depends_on = match o.get("DependsOn") {
        None => Vec::new(),
        Some(v) => string_list(v).ok_or_else(|| {
            format(format!(
                "DependsOn of resource {name} must be a string or a list of strings"
            ))
        })?,
    };
    let policy = |key: &str| -> Result<Option<String>, Error> {
        match o.get(key) {
            None => Ok(None),
            Some(Value::String(p)) if POLICIES.contains(&p.as_str()) => Ok(Some(p.clone())),
            Some(other) => Err(format(format!(
                "Unrecognized {key} {} for resource {name}",
                scalar_text(other).unwrap_or_else(|| other.to_string())
            ))),
        }
    };
    Ok(Resource {
        kind,
        properties,
        depends_on,
        condition: o.get("Condition").and_then(scalar_text),
        deletion_policy: policy("DeletionPolicy")?,
        update_replace_policy: policy("UpdateReplacePolicy")?,
        metadata: o.get("Metadata").cloned(),
        update_policy: o.get("UpdatePolicy").cloned(),
    })
}

fn output(v: &Value) -> Result<Output, Error> {
    let Value::Object(o) = v else {
        return Err(format("Every Outputs member must contain a Value object"));
    };
    let value = o
        .get("Value")
        .filter(|v| !v.is_null())
        .cloned()
        .ok_or_else(|| format("Every Outputs member must contain a Value object"))?;
    Ok(Output {
        value,
        description: o.get("Description").and_then(scalar_text),
        export_name: o.get("Export").and_then(|e| e.get("Name")).cloned(),
        condition: o.get("Condition").and_then(scalar_text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_template_parses() {
        let t = parse("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n").unwrap();
        assert_eq!(t.resources["Q"].kind, "AWS::SQS::Queue");
        assert!(t.resources["Q"].properties.is_empty());
    }

    #[test]
    fn structural_errors_use_cloudformation_messages() {
        assert_eq!(
            refused("Resources:\n  Q:\n    Properties: {}\n"),
            "Template format error: Every Resources object must contain a Type member."
        );
        assert_eq!(
            refused("Parameters:\n  P:\n    Type: Strin\nResources:\n  Q:\n    Type: T\n"),
            "Template format error: Unrecognized parameter type: Strin"
        );
        assert_eq!(
            refused("Resources:\n  Q:\n    Type: T\n    Properties:\n      A: !Ref X\n"),
            "Template format error: Unresolved resource dependencies [X] in the Resources block of the template"
        );
        assert_eq!(
            refused("Description: x\n"),
            "Template format error: At least one Resources member must be defined."
        );
        assert_eq!(
            refused("Resources:\n  Q:\n    Type: T\nOutputs:\n  O:\n    Description: x\n"),
            "Template format error: Every Outputs member must contain a Value object"
        );
    }

    #[test]
    fn parameter_types() {
        for (name, list) in [
            ("String", false),
            ("List<Number>", true),
            ("CommaDelimitedList", true),
            ("List<AWS::EC2::Subnet::Id>", true),
            ("AWS::SSM::Parameter::Value<String>", false),
            ("AWS::SSM::Parameter::Value<List<String>>", true),
        ] {
            assert_eq!(
                ParameterType::parse(name).unwrap().is_list(),
                list,
                "{name}"
            );
        }
        assert!(ParameterType::parse("AWS::SSM::Parameter::Value<Number>").is_none());
    }
}
