//! Evaluation: a [`Stack`] is a template with its parameters bound and its
//! conditions decided; it resolves resource properties and outputs, every
//! intrinsic function, through the deployer's [`Resolver`].

use crate::graph::{self, Part, Plan, Reference};
use crate::params::{self, Pseudo};
use crate::template::{Template, scalar_text};
use crate::{Error, yaml};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// What only the deployer knows: the resources it created, exports, and the
/// values behind dynamic references.
pub trait Resolver {
    /// `Ref` to a resource that exists: its physical id (or what `Ref` gives
    /// for its type).
    fn ref_of(&self, logical_id: &str) -> Result<Value, String>;
    /// `Fn::GetAtt` on a resource that exists.
    fn attribute(&self, logical_id: &str, name: &str) -> Result<Value, String>;
    /// `Fn::ImportValue`: another stack's export.
    fn import(&self, name: &str) -> Result<Value, String>;
    /// `{{resolve:...}}`, and the value of an `AWS::SSM::Parameter::Value<...>`
    /// parameter (as [`DynamicRef::Ssm`]).
    fn dynamic(&self, reference: &DynamicRef) -> Result<String, String>;
    /// `Fn::GetAZs`: the region's availability zones.
    fn availability_zones(&self, region: &str) -> Vec<String> {
        ["a", "b", "c"]
            .iter()
            .map(|z| format!("{region}{z}"))
            .collect()
    }
}

/// A dynamic reference, `{{resolve:service:...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DynamicRef {
    /// `{{resolve:ssm:name[:version]}}`.
    Ssm {
        name: String,
        version: Option<String>,
    },
    /// `{{resolve:ssm-secure:name[:version]}}`.
    SsmSecure {
        name: String,
        version: Option<String>,
    },
    /// `{{resolve:secretsmanager:secret-id[:SecretString[:json-key[:stage[:id]]]]}}`;
    /// empty segments are `None`.
    SecretsManager {
        secret_id: String,
        json_key: Option<String>,
        version_stage: Option<String>,
        version_id: Option<String>,
    },
}

impl DynamicRef {
    /// Reads the inside of `{{resolve:...}}` (without the braces).
    fn parse(inner: &str) -> Result<Self, Error> {
        let bad = || Error::Template(format!("Invalid dynamic reference {{{{{inner}}}}}"));
        let rest = inner.strip_prefix("resolve:").ok_or_else(bad)?;
        let (service, rest) = rest.split_once(':').ok_or_else(bad)?;
        let versioned = |rest: &str| match rest.rsplit_once(':') {
            Some((n, v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                (n.to_string(), Some(v.to_string()))
            }
            _ => (rest.to_string(), None),
        };
        let r = match service {
            "ssm" => {
                let (name, version) = versioned(rest);
                Self::Ssm { name, version }
            }
            "ssm-secure" => {
                let (name, version) = versioned(rest);
                Self::SsmSecure { name, version }
            }
            "secretsmanager" => {
                let segments: Vec<&str> = rest.split(':').collect();
                // An ARN holds seven colon-separated segments of its own.
                let id_len = if rest.starts_with("arn:") {
                    7.min(segments.len())
                } else {
                    1
                };
                let secret_id = segments[..id_len].join(":");
                let tail = &segments[id_len..];
                let part = |i: usize| tail.get(i).filter(|s| !s.is_empty()).map(|s| s.to_string());
                if tail
                    .first()
                    .is_some_and(|k| !k.is_empty() && *k != "SecretString")
                {
                    return Err(bad());
                }
                Self::SecretsManager {
                    secret_id,
                    json_key: part(1),
                    version_stage: part(2),
                    version_id: part(3),
                }
            }
            _ => return Err(bad()),
        };
        match &r {
            Self::Ssm { name, .. } | Self::SsmSecure { name, .. } if name.is_empty() => Err(bad()),
            Self::SecretsManager { secret_id, .. } if secret_id.is_empty() => Err(bad()),
            _ => Ok(r),
        }
    }
}

/// A resolved output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputValue {
    pub value: Value,
    pub description: Option<String>,
    pub export_name: Option<String>,
}

/// A template bound to one deployment's parameters and conditions.
#[derive(Debug, Clone)]
pub struct Stack<'t> {
    template: &'t Template,
    pseudo: Pseudo,
    parameters: BTreeMap<String, Value>,
    ssm_names: BTreeMap<String, String>,
    conditions: BTreeMap<String, bool>,
}

fn template_error(msg: impl Into<String>) -> Error {
    Error::Template(msg.into())
}

/// CloudFormation's refusal of references to resources that do not exist, or
/// that the conditions drop.
fn unresolved<'n>(names: impl IntoIterator<Item = &'n str>, block: &str) -> Error {
    Error::Format(format!(
        "Unresolved resource dependencies [{}] in the {block} block of the template",
        names.into_iter().collect::<Vec<_>>().join(", ")
    ))
}

impl<'t> Stack<'t> {
    /// Binds `overrides` and defaults to the parameters (resolving SSM-typed
    /// ones through `resolver`), checks their constraints and decides every
    /// condition.
    pub fn new(
        template: &'t Template,
        overrides: &BTreeMap<String, String>,
        pseudo: Pseudo,
        resolver: &dyn Resolver,
    ) -> Result<Self, Error> {
        let bound = params::bind(template, overrides, resolver)?;
        let mut stack = Stack {
            template,
            pseudo,
            parameters: bound.values,
            ssm_names: bound.ssm_names,
            conditions: BTreeMap::new(),
        };
        let eval = Eval::new(&stack, resolver);
        let mut visiting = BTreeSet::new();
        for name in template.conditions.keys() {
            eval.named_condition(name, &mut visiting)?;
        }
        stack.conditions = eval.decided.into_inner();
        Ok(stack)
    }

    /// The template this stack deploys.
    pub fn template(&self) -> &'t Template {
        self.template
    }

    /// Each parameter's bound value: a string, or a list for list types.
    pub fn parameters(&self) -> &BTreeMap<String, Value> {
        &self.parameters
    }

    /// `AWS::SSM::Parameter::Value<...>` parameters and the SSM parameter
    /// name each was given (DescribeStacks shows it beside the resolved value).
    pub fn ssm_parameter_names(&self) -> &BTreeMap<String, String> {
        &self.ssm_names
    }

    /// Each condition's value.
    pub fn conditions(&self) -> &BTreeMap<String, bool> {
        &self.conditions
    }

    /// Whether the resource exists in this stack (its `Condition` holds).
    pub fn includes(&self, logical_id: &str) -> bool {
        self.template.resources.get(logical_id).is_some_and(|r| {
            r.condition
                .as_ref()
                .is_none_or(|c| self.conditions.get(c) == Some(&true))
        })
    }

    /// The resources the conditions keep, in waves that can be created in
    /// parallel. A reference (outside an untaken `Fn::If` branch) to a
    /// resource the conditions drop is refused as CloudFormation refuses it.
    pub fn plan(&self) -> Result<Plan, Error> {
        let mut dependencies = BTreeMap::new();
        let mut missing = BTreeSet::new();
        for (name, r) in &self.template.resources {
            if !self.includes(name) {
                continue;
            }
            let mut deps = BTreeSet::new();
            let refs = graph::references(&r.written(), Some(&self.conditions));
            let named = refs
                .iter()
                .map(Reference::name)
                .filter(|n| self.template.resources.contains_key(*n))
                .chain(r.depends_on.iter().map(String::as_str));
            for d in named {
                if self.includes(d) {
                    deps.insert(d.to_string());
                } else {
                    missing.insert(d.to_string());
                }
            }
            dependencies.insert(name.clone(), deps);
        }
        if !missing.is_empty() {
            return Err(unresolved(missing.iter().map(String::as_str), "Resources"));
        }
        graph::plan(dependencies)
    }

    /// A resource's properties with every intrinsic function and dynamic
    /// reference resolved; `None` when its condition drops it.
    pub fn resource(
        &self,
        logical_id: &str,
        resolver: &dyn Resolver,
    ) -> Result<Option<Map<String, Value>>, Error> {
        let Some(r) = self.template.resources.get(logical_id) else {
            return Err(template_error(format!("No resource named {logical_id}")));
        };
        if !self.includes(logical_id) {
            return Ok(None);
        }
        let eval = Eval::new(self, resolver);
        let props = eval.value(&Value::Object(r.properties.clone()), 0)?;
        let props = match props {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let mut resolved = Value::Object(props);
        eval.dynamic_refs(&mut resolved)?;
        match resolved {
            Value::Object(m) => Ok(Some(m)),
            _ => Ok(Some(Map::new())),
        }
    }

    /// A resource's `UpdatePolicy` resolved; `None` when it has none or its
    /// condition drops it.
    pub fn update_policy(
        &self,
        logical_id: &str,
        resolver: &dyn Resolver,
    ) -> Result<Option<Value>, Error> {
        let Some(policy) = self
            .template
            .resources
            .get(logical_id)
            .and_then(|r| r.update_policy.as_ref())
        else {
            return Ok(None);
        };
        if !self.includes(logical_id) {
            return Ok(None);
        }
        Eval::new(self, resolver).value(policy, 0)
    }

    /// The outputs whose conditions hold, resolved.
    pub fn outputs(&self, resolver: &dyn Resolver) -> Result<BTreeMap<String, OutputValue>, Error> {
        let eval = Eval::new(self, resolver);
        let mut out = BTreeMap::new();
        let kept = |o: &&crate::Output| {
            o.condition
                .as_ref()
                .is_none_or(|c| self.conditions.get(c) == Some(&true))
        };
        let refs: Vec<Reference> = self
            .template
            .outputs
            .values()
            .filter(kept)
            .flat_map(|o| graph::references(&o.value, Some(&self.conditions)))
            .collect();
        let dropped: BTreeSet<&str> = refs
            .iter()
            .map(Reference::name)
            .filter(|n| self.template.resources.contains_key(*n) && !self.includes(n))
            .collect();
        if !dropped.is_empty() {
            return Err(unresolved(dropped, "Outputs"));
        }
        for (name, o) in &self.template.outputs {
            if o.condition
                .as_ref()
                .is_some_and(|c| self.conditions.get(c) != Some(&true))
            {
                continue;
            }
            let value = eval
                .value(&o.value, 0)?
                .unwrap_or_else(|| Value::String(String::new()));
            let export_name = match &o.export_name {
                None => None,
                Some(e) => Some(eval.text(e, "Export.Name")?),
            };
            out.insert(
                name.clone(),
                OutputValue {
                    value,
                    description: o.description.clone(),
                    export_name,
                },
            );
        }
        Ok(out)
    }
}

/// One evaluation: a stack and the resolver that answers for resources.
struct Eval<'a> {
    stack: &'a Stack<'a>,
    resolver: &'a dyn Resolver,
    /// Conditions decided while deciding others: each is decided once, so
    /// conditions naming each other many times stay linear.
    decided: RefCell<BTreeMap<String, bool>>,
}

fn list_of(v: Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(items) => Some(items),
        _ => None,
    }
}

fn text_of(v: &Value) -> Option<String> {
    scalar_text(v)
}

impl<'a> Eval<'a> {
    fn new(stack: &'a Stack<'a>, resolver: &'a dyn Resolver) -> Self {
        Self {
            stack,
            resolver,
            decided: RefCell::new(BTreeMap::new()),
        }
    }

    /// Evaluates a value; `None` is `AWS::NoValue`: the property is removed.
    fn value(&self, v: &Value, depth: usize) -> Result<Option<Value>, Error> {
        if depth > yaml::MAX_DEPTH * 2 {
            return Err(template_error("Template is nested too deeply"));
        }
        match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    if let Some(x) = self.value(i, depth + 1)? {
                        out.push(x);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().expect("one entry");
                if key == "Ref" || key.starts_with("Fn::") {
                    self.function(key, arg, depth + 1)
                } else {
                    self.object(map, depth)
                }
            }
            Value::Object(map) => self.object(map, depth),
            other => Ok(Some(other.clone())),
        }
    }

    fn object(&self, map: &Map<String, Value>, depth: usize) -> Result<Option<Value>, Error> {
        let mut out = Map::new();
        for (k, v) in map {
            if let Some(x) = self.value(v, depth + 1)? {
                out.insert(k.clone(), x);
            }
        }
        Ok(Some(Value::Object(out)))
    }

    /// A value that must be a string (numbers and booleans are written out).
    fn text(&self, v: &Value, what: &str) -> Result<String, Error> {
        self.text_at(v, what, 0)
    }

    fn text_at(&self, v: &Value, what: &str, depth: usize) -> Result<String, Error> {
        self.value(v, depth + 1)?
            .as_ref()
            .and_then(text_of)
            .ok_or_else(|| template_error(format!("{what} must be a string")))
    }

    /// The argument of `Fn::Base64` and `Fn::GetAZs`.
    fn string_typed(&self, arg: &Value, name: &str, depth: usize) -> Result<String, Error> {
        self.value(arg, depth + 1)?
            .as_ref()
            .and_then(text_of)
            .ok_or_else(|| {
                template_error(format!(
                    "every {name} object must have a String-typed value."
                ))
            })
    }

    fn function(&self, name: &str, arg: &Value, depth: usize) -> Result<Option<Value>, Error> {
        let some = |v: Value| Ok(Some(v));
        match name {
            "Ref" => self.reference(arg),
            "Fn::GetAtt" => self.get_att(arg, depth).map(Some),
            "Fn::Sub" => self.sub(arg, depth).map(|s| Some(Value::String(s))),
            "Fn::Join" => self.join(arg, depth).map(|s| Some(Value::String(s))),
            "Fn::Select" => self.select(arg, depth),
            "Fn::Split" => self.split(arg, depth).map(Some),
            "Fn::If" => self.fn_if(arg, depth),
            "Fn::Equals" | "Fn::And" | "Fn::Or" | "Fn::Not" => {
                let mut visiting = BTreeSet::new();
                let v = self.condition(&single(name, arg), &mut visiting, depth)?;
                some(Value::Bool(v))
            }
            "Fn::FindInMap" => self.find_in_map(arg, depth).map(Some),
            "Fn::ImportValue" => {
                let export = self.text_at(arg, "Fn::ImportValue", depth)?;
                self.resolver
                    .import(&export)
                    .map(Some)
                    .map_err(Error::Unresolved)
            }
            "Fn::GetAZs" => {
                let region = self.string_typed(arg, "Fn::GetAZs", depth)?;
                let region = if region.is_empty() {
                    self.stack.pseudo.region.clone()
                } else {
                    region
                };
                let zones = self.resolver.availability_zones(&region);
                some(Value::Array(zones.into_iter().map(Value::String).collect()))
            }
            "Fn::Base64" => {
                let s = self.string_typed(arg, "Fn::Base64", depth)?;
                some(Value::String(base64(s.as_bytes())))
            }
            "Fn::Cidr" => self.cidr(arg, depth).map(Some),
            "Fn::Length" => match self.value(arg, depth)?.and_then(list_of) {
                Some(items) => some(Value::from(items.len())),
                None => Err(template_error("Fn::Length requires a list argument")),
            },
            "Fn::ToJsonString" => match self.value(arg, depth)? {
                Some(v @ (Value::Object(_) | Value::Array(_))) => {
                    some(Value::String(v.to_string()))
                }
                _ => Err(template_error(
                    "Fn::ToJsonString requires an object or a list argument",
                )),
            },
            other => Err(Error::Format(format!(
                "Encountered unsupported function: {other} Supported functions are: [Fn::Base64, Fn::GetAtt, Fn::GetAZs, Fn::ImportValue, Fn::Join, Fn::Split, Fn::FindInMap, Fn::Select, Ref, Fn::Equals, Fn::If, Fn::Not, Condition, Fn::And, Fn::Or, Fn::Sub, Fn::Cidr, Fn::Length, Fn::ToJsonString]"
            ))),
        }
    }

    fn reference(&self, arg: &Value) -> Result<Option<Value>, Error> {
        let Value::String(name) = arg else {
            return Err(Error::Format(
                "Every Ref object must have a single String value.".into(),
            ));
        };
        self.named(name)
    }

    /// What `Ref` to `name` gives: a parameter, pseudo parameter or resource.
    fn named(&self, name: &str) -> Result<Option<Value>, Error> {
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        if let Some(v) = self.stack.pseudo.value(name) {
            return Ok(Some(v));
        }
        if let Some(v) = self.stack.parameters.get(name) {
            return Ok(Some(v.clone()));
        }
        if self.stack.includes(name) {
            return self
                .resolver
                .ref_of(name)
                .map(Some)
                .map_err(Error::Unresolved);
        }
        Err(unresolved([name], "Resources"))
    }

    fn get_att(&self, arg: &Value, depth: usize) -> Result<Value, Error> {
        let bad = || {
            template_error(
                "every Fn::GetAtt object requires two non-empty parameters, the resource name and the resource attribute",
            )
        };
        let (res, attr) = match arg {
            Value::String(s) => {
                let (r, a) = s.split_once('.').ok_or_else(bad)?;
                (r.to_string(), a.to_string())
            }
            Value::Array(items) if items.len() == 2 => {
                let r = items[0].as_str().ok_or_else(bad)?.to_string();
                (r, self.text_at(&items[1], "Fn::GetAtt", depth)?)
            }
            _ => return Err(bad()),
        };
        if res.is_empty() || attr.is_empty() {
            return Err(bad());
        }
        if !self.stack.template.resources.contains_key(&res) {
            return Err(template_error(format!(
                "instance of Fn::GetAtt references undefined resource {res}"
            )));
        }
        if !self.stack.includes(&res) {
            return Err(unresolved([res.as_str()], "Resources"));
        }
        self.resolver
            .attribute(&res, &attr)
            .map_err(Error::Unresolved)
    }

    fn sub(&self, arg: &Value, depth: usize) -> Result<String, Error> {
        let bad = || {
            template_error(
                "One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string",
            )
        };
        let (text, locals) = match arg {
            Value::String(s) => (s.as_str(), None),
            Value::Array(items) if items.len() == 2 => {
                let s = items[0].as_str().ok_or_else(bad)?;
                let Value::Object(m) = &items[1] else {
                    return Err(bad());
                };
                (s, Some(m))
            }
            _ => return Err(bad()),
        };
        let mut out = String::new();
        for part in graph::sub_parts(text) {
            match part {
                Part::Text(t) => out.push_str(&t),
                Part::Var(v) => {
                    let value = match locals.and_then(|m| m.get(&v)) {
                        Some(local) => self.value(local, depth + 1)?,
                        None => match v.split_once('.') {
                            Some((res, attr)) => Some(
                                self.get_att(&Value::Array(vec![res.into(), attr.into()]), depth)?,
                            ),
                            None => self.named(&v)?,
                        },
                    };
                    let s = value.as_ref().and_then(text_of).ok_or_else(|| {
                        template_error(if locals.is_some_and(|m| m.contains_key(&v)) {
                            "every value of the context object of every Fn::Sub object must be a string or a function that returns a string"
                        } else {
                            "every variable in an Fn::sub object must reference a string"
                        })
                    })?;
                    out.push_str(&s);
                }
            }
        }
        Ok(out)
    }

    fn join(&self, arg: &Value, depth: usize) -> Result<String, Error> {
        let bad = || {
            template_error(
                "every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined.",
            )
        };
        let Value::Array(items) = arg else {
            return Err(bad());
        };
        let [delimiter, list] = items.as_slice() else {
            return Err(bad());
        };
        let delimiter = delimiter.as_str().ok_or_else(bad)?;
        let list = self.value(list, depth)?.and_then(list_of).ok_or_else(bad)?;
        let parts: Vec<String> = list
            .iter()
            .map(text_of)
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        Ok(parts.join(delimiter))
    }

    fn select(&self, arg: &Value, depth: usize) -> Result<Option<Value>, Error> {
        let bad = || {
            template_error(
                "Fn::Select requires a list argument with two elements: an integer index and a list",
            )
        };
        let Value::Array(items) = arg else {
            return Err(bad());
        };
        let [index, list] = items.as_slice() else {
            return Err(bad());
        };
        let index = self
            .value(index, depth)?
            .as_ref()
            .and_then(text_of)
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| {
                template_error(
                    "Fn::Select requires a list argument with a valid index value as its first element",
                )
            })?;
        let list = self.value(list, depth)?.and_then(list_of).ok_or_else(bad)?;
        usize::try_from(index)
            .ok()
            .and_then(|i| list.get(i).cloned())
            .map(Some)
            .ok_or_else(|| {
                template_error(format!(
                    "Fn::Select cannot select nonexistent value at index {index}"
                ))
            })
    }

    fn split(&self, arg: &Value, depth: usize) -> Result<Value, Error> {
        let bad = || {
            template_error(
                "every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string to be split or a function that returns a string to be split.",
            )
        };
        let Value::Array(items) = arg else {
            return Err(bad());
        };
        let [delimiter, source] = items.as_slice() else {
            return Err(bad());
        };
        let delimiter = delimiter
            .as_str()
            .filter(|d| !d.is_empty())
            .ok_or_else(bad)?;
        let source = self
            .value(source, depth)?
            .as_ref()
            .and_then(text_of)
            .ok_or_else(bad)?;
        Ok(Value::Array(
            source.split(delimiter).map(Value::from).collect(),
        ))
    }

    fn fn_if(&self, arg: &Value, depth: usize) -> Result<Option<Value>, Error> {
        let Value::Array(items) = arg else {
            return Err(template_error(
                "Fn::If requires a list argument with the first element being a condition",
            ));
        };
        let [cond, yes, no] = items.as_slice() else {
            return Err(template_error(
                "Fn::If requires a list argument with three elements",
            ));
        };
        let Some(name) = cond.as_str() else {
            return Err(template_error(
                "Fn::If requires a list argument with the first element being a condition",
            ));
        };
        let Some(holds) = self.stack.conditions.get(name).copied() else {
            return Err(template_error(format!(
                "unresolved condition dependency {name} in Fn::If"
            )));
        };
        self.value(if holds { yes } else { no }, depth)
    }

    fn find_in_map(&self, arg: &Value, depth: usize) -> Result<Value, Error> {
        let bad = || {
            template_error(
                "every Fn::FindInMap object requires three parameters, the map name, map key and the attribute for return value",
            )
        };
        let Value::Array(items) = arg else {
            return Err(bad());
        };
        if !(3..=4).contains(&items.len()) {
            return Err(bad());
        }
        let mut keys = Vec::with_capacity(3);
        for k in &items[..3] {
            keys.push(self.text_at(k, "Fn::FindInMap", depth)?);
        }
        let Some(map) = self.stack.template.mappings.get(&keys[0]) else {
            return Err(template_error(format!(
                "Mapping named '{}' is not present in the 'Mappings' section of template",
                keys[0]
            )));
        };
        let found = map.get(&keys[1]).and_then(|m| m.get(&keys[2]));
        if let Some(v) = found {
            return Ok(v.clone());
        }
        // AWS::LanguageExtensions: `[map, key, key, {DefaultValue: v}]`.
        if let Some(default) = items.get(3).and_then(|d| d.get("DefaultValue")) {
            return self.value(default, depth)?.ok_or_else(bad);
        }
        Err(template_error(format!(
            "Unable to get mapping for {}::{}::{}",
            keys[0], keys[1], keys[2]
        )))
    }

    fn cidr(&self, arg: &Value, depth: usize) -> Result<Value, Error> {
        let bad = |why: &str| template_error(format!("Fn::Cidr {why}"));
        let Value::Array(items) = arg else {
            return Err(bad(
                "requires a list: an address block, a count and the subnet's host bits",
            ));
        };
        let [block, count, bits] = items.as_slice() else {
            return Err(bad(
                "requires a list: an address block, a count and the subnet's host bits",
            ));
        };
        let block = self.text_at(block, "Fn::Cidr", depth)?;
        let number = |v: &Value| -> Result<u32, Error> {
            self.text_at(v, "Fn::Cidr", depth)?
                .parse::<u32>()
                .map_err(|_| bad("count and host bits must be integers"))
        };
        let (count, bits) = (number(count)?, number(bits)?);
        let subnets = cidr_subnets(&block, count, bits).map_err(|e| bad(&e))?;
        Ok(Value::Array(
            subnets.into_iter().map(Value::String).collect(),
        ))
    }

    /// Decides the condition `name`, deciding those it names first.
    fn named_condition(&self, name: &str, visiting: &mut BTreeSet<String>) -> Result<bool, Error> {
        if let Some(v) = self.stack.conditions.get(name) {
            return Ok(*v);
        }
        if let Some(v) = self.decided.borrow().get(name) {
            return Ok(*v);
        }
        let Some(expr) = self.stack.template.conditions.get(name) else {
            return Err(template_error(format!(
                "unresolved condition dependency {name}"
            )));
        };
        if !visiting.insert(name.to_string()) {
            return Err(Error::Format(format!(
                "Circular condition dependency involving {name}"
            )));
        }
        let v = self.condition(expr, visiting, 0)?;
        visiting.remove(name);
        self.decided.borrow_mut().insert(name.to_string(), v);
        Ok(v)
    }

    fn condition(
        &self,
        v: &Value,
        visiting: &mut BTreeSet<String>,
        depth: usize,
    ) -> Result<bool, Error> {
        if depth > yaml::MAX_DEPTH * 2 {
            return Err(template_error("Template is nested too deeply"));
        }
        let Value::Object(map) = v else {
            return Err(Error::Format(
                "Conditions can only be boolean operations on parameters and other conditions"
                    .into(),
            ));
        };
        let Some((key, arg)) = map.iter().next().filter(|_| map.len() == 1) else {
            return Err(Error::Format(
                "Conditions can only be boolean operations on parameters and other conditions"
                    .into(),
            ));
        };
        let list = |n: &str, min: usize, max: usize| -> Result<&Vec<Value>, Error> {
            match arg {
                Value::Array(items) if (min..=max).contains(&items.len()) => Ok(items),
                _ if min == 1 => Err(template_error(format!(
                    "{n} requires a list argument with one element"
                ))),
                _ => Err(template_error(format!(
                    "every {n} object requires a list of at least {min} and at most {max} boolean parameters."
                ))),
            }
        };
        match key.as_str() {
            "Condition" => match arg.as_str() {
                Some(name) => self.named_condition(name, visiting),
                None => Err(template_error("Condition must name a condition")),
            },
            "Fn::Equals" => {
                let Value::Array(items) = arg else {
                    return Err(template_error(
                        "every Fn::Equals object requires a list of 2 string parameters.",
                    ));
                };
                let [a, b] = items.as_slice() else {
                    return Err(template_error(
                        "every Fn::Equals object requires a list of 2 string parameters.",
                    ));
                };
                let a = self.value(a, depth + 1)?;
                let b = self.value(b, depth + 1)?;
                let norm = |v: Option<Value>| v.map(|v| text_of(&v).map_or(v, Value::String));
                Ok(norm(a) == norm(b))
            }
            "Fn::Not" => {
                let items = list("Fn::Not", 1, 1)?;
                Ok(!self.condition(&items[0], visiting, depth + 1)?)
            }
            "Fn::And" | "Fn::Or" => {
                let items = list(key, 2, 10)?;
                let mut results = Vec::with_capacity(items.len());
                for i in items {
                    results.push(self.condition(i, visiting, depth + 1)?);
                }
                Ok(if key == "Fn::And" {
                    results.iter().all(|r| *r)
                } else {
                    results.iter().any(|r| *r)
                })
            }
            _ => Err(Error::Format(
                "Conditions can only be boolean operations on parameters and other conditions"
                    .into(),
            )),
        }
    }

    /// Replaces each `{{resolve:...}}` in the strings of `v`.
    fn dynamic_refs(&self, v: &mut Value) -> Result<(), Error> {
        match v {
            Value::String(s) if s.contains("{{resolve:") => {
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(at) = rest.find("{{resolve:") {
                    out.push_str(&rest[..at]);
                    let inner = &rest[at + 2..];
                    let Some(end) = inner.find("}}") else {
                        out.push_str(&rest[at..]);
                        rest = "";
                        break;
                    };
                    let reference = DynamicRef::parse(&inner[..end])?;
                    out.push_str(
                        &self
                            .resolver
                            .dynamic(&reference)
                            .map_err(Error::Unresolved)?,
                    );
                    rest = &inner[end + 2..];
                }
                out.push_str(rest);
                *s = out;
                Ok(())
            }
            Value::Array(items) => items.iter_mut().try_for_each(|i| self.dynamic_refs(i)),
            Value::Object(map) => map.values_mut().try_for_each(|i| self.dynamic_refs(i)),
            _ => Ok(()),
        }
    }
}

fn single(key: &str, arg: &Value) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), arg.clone());
    Value::Object(m)
}

/// Standard base64 with padding, as `Fn::Base64` encodes.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Fn::Cidr`: `count` subnets of `bits` host bits carved from `block`.
fn cidr_subnets(block: &str, count: u32, bits: u32) -> Result<Vec<String>, String> {
    let (addr, prefix) = block
        .split_once('/')
        .ok_or("requires an address block in CIDR notation")?;
    let prefix: u32 = prefix.parse().map_err(|_| "has an invalid prefix length")?;
    let (value, width, v6): (u128, u32, bool) = if let Ok(a) = addr.parse::<std::net::Ipv4Addr>() {
        (u128::from(u32::from(a)), 32, false)
    } else if let Ok(a) = addr.parse::<std::net::Ipv6Addr>() {
        (u128::from(a), 128, true)
    } else {
        return Err("requires a valid IP address block".into());
    };
    if prefix > width || bits == 0 || bits > width - prefix || !(1..=256).contains(&count) {
        return Err("cannot carve the requested subnets from the address block".into());
    }
    let sub_prefix = width - bits;
    let available = 1u128.checked_shl(sub_prefix - prefix).unwrap_or(u128::MAX);
    if u128::from(count) > available {
        return Err("cannot carve the requested subnets from the address block".into());
    }
    let host_mask = if width - prefix == 128 {
        u128::MAX
    } else {
        (1u128 << (width - prefix)) - 1
    };
    let base = value & !host_mask;
    Ok((0..u128::from(count))
        .map(|i| {
            let net = base + i.checked_shl(bits).unwrap_or(0);
            if v6 {
                format!("{}/{sub_prefix}", std::net::Ipv6Addr::from(net))
            } else {
                format!("{}/{sub_prefix}", std::net::Ipv4Addr::from(net as u32))
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"#!/bin/bash\n"), "IyEvYmluL2Jhc2gK");
    }

    #[test]
    fn cidr_carves_subnets() {
        assert_eq!(
            cidr_subnets("192.168.0.0/24", 6, 5).unwrap(),
            [
                "192.168.0.0/27",
                "192.168.0.32/27",
                "192.168.0.64/27",
                "192.168.0.96/27",
                "192.168.0.128/27",
                "192.168.0.160/27"
            ]
        );
        assert_eq!(
            cidr_subnets("2001:db8::/56", 2, 64).unwrap(),
            ["2001:db8::/64", "2001:db8:0:1::/64"]
        );
        assert!(cidr_subnets("10.0.0.0/24", 9, 5).is_err());
        assert!(cidr_subnets("0.0.0.0/0", 1, 32).is_ok());
    }

    #[test]
    fn dynamic_references_parse() {
        assert_eq!(
            DynamicRef::parse("resolve:ssm:/app/name:3").unwrap(),
            DynamicRef::Ssm {
                name: "/app/name".into(),
                version: Some("3".into())
            }
        );
        assert_eq!(
            DynamicRef::parse("resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:1:secret:db-AbC:SecretString:password").unwrap(),
            DynamicRef::SecretsManager {
                secret_id: "arn:aws:secretsmanager:us-east-1:1:secret:db-AbC".into(),
                json_key: Some("password".into()),
                version_stage: None,
                version_id: None,
            }
        );
        assert!(DynamicRef::parse("resolve:s3:x").is_err());
    }
}
