//! Policy documents: the JSON grammar (`Version`, `Id`, `Statement` with
//! `Sid`, `Effect`, `Principal` / `NotPrincipal`, `Action` / `NotAction`,
//! `Resource` / `NotResource`, `Condition`), checked as IAM checks it and
//! compiled into patterns and conditions that evaluation only walks.
//!
//! Size limits are the caller's: each API has its own.

use crate::condition::{self, Condition};
use crate::glob::{Glob, Syntax};
use serde_json::{Map, Value};

/// Why a document is not a policy: IAM's message (as `MalformedPolicyDocument`
/// carries it), the detail, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", detail(.reason, .position))]
pub struct Malformed {
    /// IAM's message, e.g. `Missing required field Effect`.
    pub message: String,
    /// What exactly is wrong, when the message does not say.
    pub reason: Option<String>,
    pub position: Option<Position>,
}

/// Where in a document the problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// In the text (JSON syntax errors), 1-based.
    Text { line: usize, column: usize },
    /// An element, e.g. `Statement[1].Action[0]`.
    Element(String),
}

/// What follows the message when shown: ` (reason) at position`.
fn detail(reason: &Option<String>, position: &Option<Position>) -> String {
    let mut out = String::new();
    if let Some(reason) = reason {
        out.push_str(&format!(" ({reason})"));
    }
    match position {
        Some(Position::Text { line, column }) => {
            out.push_str(&format!(" at line {line}, column {column}"));
        }
        Some(Position::Element(path)) => out.push_str(&format!(" at {path}")),
        None => {}
    }
    out
}

const SYNTAX: &str = "Syntax errors in policy.";

fn malformed(message: impl Into<String>, at: &str) -> Malformed {
    Malformed {
        message: message.into(),
        reason: None,
        position: (!at.is_empty()).then(|| Position::Element(at.to_string())),
    }
}

fn syntax(reason: impl Into<String>, at: &str) -> Malformed {
    Malformed {
        reason: Some(reason.into()),
        ..malformed(SYNTAX, at)
    }
}

/// Which kind of policy a document is meant to be: the kinds differ in the
/// elements they require and refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseKind {
    /// Attached to a user, group or role (also permissions boundaries and
    /// session policies): no `Principal`; `Resource` required.
    Identity,
    /// Attached to a resource (bucket, queue, function): `Principal` required.
    Resource,
    /// A role's trust policy: `Principal` required, no `Resource`.
    Trust,
}

/// The policy language version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
    /// `2008-10-17`, and what a document without `Version` gets: `${...}` is
    /// plain text.
    V2008_10_17,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A list that either names what a statement covers or what it excludes
/// (`Action` / `NotAction`, `Resource` / `NotResource`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Patterns {
    pub(crate) negated: bool,
    pub(crate) globs: Vec<Glob>,
}

impl Patterns {
    pub(crate) fn covers(&self, s: &str, ctx: &crate::Context) -> bool {
        self.globs.iter().any(|g| g.matches(s, ctx)) != self.negated
    }
}

/// One entry of a `Principal` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Everyone,
    /// An account (`123456789012` or `arn:aws:iam::123456789012:root`).
    Account(String),
    /// A user, role, role session or federated user by ARN.
    Arn(String),
    Service(String),
    Federated(String),
    CanonicalUser(String),
}

/// A `Principal` or `NotPrincipal` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principals {
    pub(crate) negated: bool,
    pub(crate) entries: Vec<PrincipalEntry>,
}

/// A compiled statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub(crate) actions: Patterns,
    /// `None`: the statement has no `Resource` (trust policies).
    pub(crate) resources: Option<Patterns>,
    pub(crate) principals: Option<Principals>,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    /// The statement's `Principal` or `NotPrincipal`, if it has one.
    pub fn principals(&self) -> Option<&Principals> {
        self.principals.as_ref()
    }

    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

/// A compiled policy document.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub version: Version,
    /// The document's `Id`.
    pub id: Option<String>,
    /// What the caller calls it (a policy name or ARN), for [`crate::Reason`].
    pub name: Option<String>,
    pub statements: Vec<Statement>,
}

impl Policy {
    /// The policy with a name evaluation reasons report.
    pub fn named(mut self, name: &str) -> Policy {
        self.name = Some(name.to_string());
        self
    }

    /// The name reasons report: the caller's name, else the document's `Id`.
    pub fn label(&self) -> Option<&str> {
        self.name.as_deref().or(self.id.as_deref())
    }
}

/// Nesting deeper than this is refused before anything walks it (serde_json
/// stops at 128 on its own; no element of a policy nests more than 4).
const MAX_DEPTH: usize = 64;

/// Parses a policy of no particular kind: `Principal` is allowed but not
/// required, and so is `Resource`.
pub fn parse(doc: &str) -> Result<Policy, Malformed> {
    parse_document(doc, None)
}

/// Parses a policy of the given kind, with that kind's required and
/// prohibited elements.
pub fn parse_as(doc: &str, kind: ParseKind) -> Result<Policy, Malformed> {
    parse_document(doc, Some(kind))
}

fn depth(v: &Value) -> usize {
    // Iterative, so a hostile document cannot exhaust the stack here.
    let mut max = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    max
}

fn parse_document(doc: &str, kind: Option<ParseKind>) -> Result<Policy, Malformed> {
    let value: Value = serde_json::from_str(doc).map_err(|e| Malformed {
        message: SYNTAX.to_string(),
        reason: Some(e.to_string()),
        position: Some(Position::Text {
            line: e.line(),
            column: e.column(),
        }),
    })?;
    if depth(&value) > MAX_DEPTH {
        return Err(syntax("the document nests too deeply", ""));
    }
    let Value::Object(top) = value else {
        return Err(syntax("a policy is a JSON object", ""));
    };
    for key in top.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(syntax(format!("unknown element {key}"), key));
        }
    }
    let version = match top.get("Version") {
        None => Version::V2008_10_17,
        Some(Value::String(v)) if v == "2012-10-17" => Version::V2012_10_17,
        Some(Value::String(v)) if v == "2008-10-17" => Version::V2008_10_17,
        Some(v) => {
            return Err(malformed(
                format!("The policy failed legacy parsing: unknown Version {v}"),
                "Version",
            ));
        }
    };
    let id = match top.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(syntax("Id is a string", "Id")),
    };
    let statements = match top.get("Statement") {
        None => return Err(malformed("Missing required field Statement", "")),
        Some(Value::Object(s)) => vec![(s, "Statement".to_string())],
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Value::Object(s) => Ok((s, format!("Statement[{i}]"))),
                _ => Err(syntax(
                    "a statement is a JSON object",
                    &format!("Statement[{i}]"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(syntax("Statement is an object or an array", "Statement")),
    };
    let mut policy = Policy {
        version,
        id,
        name: None,
        statements: Vec::with_capacity(statements.len()),
    };
    let mut sids = std::collections::HashSet::new();
    for (s, at) in statements {
        let statement = parse_statement(s, &at, kind, version)?;
        if let Some(sid) = &statement.sid
            && !sid.is_empty()
            && !sids.insert(sid.clone())
        {
            return Err(malformed(
                "Statement IDs (SID) in a single policy must be unique.",
                &format!("{at}.Sid"),
            ));
        }
        policy.statements.push(statement);
    }
    Ok(policy)
}

/// A string or a non-empty array of strings.
fn strings(v: &Value, at: &str) -> Result<Vec<String>, Malformed> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(list) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, x)| match x {
                Value::String(s) => Ok(s.clone()),
                _ => Err(syntax("expected a string", &format!("{at}[{i}]"))),
            })
            .collect(),
        _ => Err(syntax("expected a string or an array of strings", at)),
    }
}

fn parse_statement(
    s: &Map<String, Value>,
    at: &str,
    kind: Option<ParseKind>,
    version: Version,
) -> Result<Statement, Malformed> {
    for key in s.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(syntax(
                format!("unknown element {key}"),
                &format!("{at}.{key}"),
            ));
        }
    }
    let iam = matches!(kind, Some(ParseKind::Identity | ParseKind::Trust));
    let sid = match s.get("Sid") {
        None => None,
        Some(Value::String(sid)) => {
            if iam && !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(malformed(
                    "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
                    &format!("{at}.Sid"),
                ));
            }
            Some(sid.clone())
        }
        Some(_) => return Err(syntax("Sid is a string", &format!("{at}.Sid"))),
    };
    let effect = match s.get("Effect") {
        None => return Err(malformed("Missing required field Effect", at)),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(e) => {
            return Err(malformed(
                format!("Invalid effect: {}", e.as_str().unwrap_or(&e.to_string())),
                &format!("{at}.Effect"),
            ));
        }
    };
    let variables = version == Version::V2012_10_17;

    let actions = match (s.get("Action"), s.get("NotAction")) {
        (Some(_), Some(_)) => {
            return Err(syntax("a statement has Action or NotAction, not both", at));
        }
        (None, None) => return Err(malformed("Policy statement must contain actions.", at)),
        (Some(v), None) => actions(v, false, &format!("{at}.Action"))?,
        (None, Some(v)) => actions(v, true, &format!("{at}.NotAction"))?,
    };

    let resources = match (s.get("Resource"), s.get("NotResource")) {
        (Some(_), Some(_)) => {
            return Err(syntax(
                "a statement has Resource or NotResource, not both",
                at,
            ));
        }
        (Some(_), None) | (None, Some(_)) if kind == Some(ParseKind::Trust) => {
            let name = if s.contains_key("Resource") {
                "Resource"
            } else {
                "NotResource"
            };
            return Err(malformed(
                format!("Has prohibited field {name}"),
                &format!("{at}.{name}"),
            ));
        }
        (None, None) if kind == Some(ParseKind::Identity) => {
            return Err(malformed("Policy statement must contain resources.", at));
        }
        (None, None) => None,
        (Some(v), None) => Some(resources(v, false, variables, &format!("{at}.Resource"))?),
        (None, Some(v)) => Some(resources(v, true, variables, &format!("{at}.NotResource"))?),
    };

    let principals = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return Err(syntax(
                "a statement has Principal or NotPrincipal, not both",
                at,
            ));
        }
        (Some(_), None) | (None, Some(_)) if kind == Some(ParseKind::Identity) => {
            return Err(malformed(
                "Policy document should not specify a principal.",
                at,
            ));
        }
        (None, None) => match kind {
            Some(ParseKind::Resource) => {
                return Err(Malformed {
                    reason: Some("Principal".to_string()),
                    ..malformed("Statement is missing required element", at)
                });
            }
            Some(ParseKind::Trust) => {
                return Err(malformed("Missing required field Principal", at));
            }
            _ => None,
        },
        (Some(v), None) => Some(principals(v, false, &format!("{at}.Principal"))?),
        (None, Some(v)) => Some(principals(v, true, &format!("{at}.NotPrincipal"))?),
    };

    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(v) => conditions(v, variables, &format!("{at}.Condition"))?,
    };

    Ok(Statement {
        sid,
        effect,
        actions,
        resources,
        principals,
        conditions,
    })
}

const VENDOR: &str = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.";

fn actions(v: &Value, negated: bool, at: &str) -> Result<Patterns, Malformed> {
    let list = strings(v, at)?;
    let mut globs = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        let here = format!("{at}[{i}]");
        if a != "*" {
            let Some((vendor, name)) = a.split_once(':') else {
                return Err(Malformed {
                    reason: Some(format!("Invalid Action: {a}")),
                    ..malformed(VENDOR, &here)
                });
            };
            let vendor_ok = !vendor.is_empty()
                && vendor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '?' | '-' | '_' | '.'));
            if !vendor_ok {
                return Err(Malformed {
                    reason: Some(format!("the service prefix {vendor:?} is not valid")),
                    ..malformed(format!("Invalid Action: {a}"), &here)
                });
            }
            if !name_ok {
                return Err(malformed(format!("Invalid Action: {a}"), &here));
            }
        }
        globs.push(Glob::new(
            a,
            Syntax {
                arn: false,
                lowercase: true,
                variables: false,
            },
        ));
    }
    Ok(Patterns { negated, globs })
}

fn resources(v: &Value, negated: bool, variables: bool, at: &str) -> Result<Patterns, Malformed> {
    let list = strings(v, at)?;
    let mut globs = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let arn_like = r.starts_with("arn:") && r.matches(':').count() >= 5;
        if r != "*" && !arn_like {
            return Err(malformed(
                format!("Resource {r} must be in ARN format or \"*\"."),
                &format!("{at}[{i}]"),
            ));
        }
        globs.push(Glob::new(
            r,
            Syntax {
                arn: true,
                lowercase: false,
                variables,
            },
        ));
    }
    Ok(Patterns { negated, globs })
}

fn invalid_principal(kind: &str, value: &str, at: &str) -> Malformed {
    malformed(
        format!("Invalid principal in policy: \"{kind}\":\"{value}\""),
        at,
    )
}

fn principals(v: &Value, negated: bool, at: &str) -> Result<Principals, Malformed> {
    let mut entries = Vec::new();
    match v {
        Value::String(s) if s == "*" => entries.push(PrincipalEntry::Everyone),
        Value::Object(map) if !map.is_empty() => {
            for (kind, value) in map {
                let here = format!("{at}.{kind}");
                for p in strings(value, &here)? {
                    entries.push(principal_entry(kind, &p, &here)?);
                }
            }
        }
        _ => {
            return Err(malformed(format!("Invalid principal in policy: {v}"), at));
        }
    }
    Ok(Principals { negated, entries })
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The unique id IAM leaves in a policy when the user or role it named is
/// deleted (`AIDA...`, `AROA...`): valid, and names no one.
fn is_unique_id(s: &str) -> bool {
    (s.starts_with("AIDA") || s.starts_with("AROA"))
        && (16..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn principal_entry(kind: &str, p: &str, at: &str) -> Result<PrincipalEntry, Malformed> {
    let bad = || invalid_principal(kind, p, at);
    match kind {
        "AWS" if p == "*" => Ok(PrincipalEntry::Everyone),
        "AWS" if is_account(p) => Ok(PrincipalEntry::Account(p.to_string())),
        "AWS" if is_unique_id(p) => Ok(PrincipalEntry::Arn(p.to_string())),
        "AWS" => {
            if p.contains(['*', '?']) {
                return Err(bad());
            }
            let parts: Vec<&str> = p.splitn(6, ':').collect();
            let [arn, _, service, region, account, resource] = parts[..] else {
                return Err(bad());
            };
            if arn != "arn" || !region.is_empty() || !is_account(account) {
                return Err(bad());
            }
            match (service, resource.split_once('/')) {
                ("iam", None) if resource == "root" => {
                    Ok(PrincipalEntry::Account(account.to_string()))
                }
                ("iam", Some(("user" | "role", name)))
                | ("sts", Some(("assumed-role" | "federated-user", name)))
                    if !name.is_empty() =>
                {
                    Ok(PrincipalEntry::Arn(p.to_string()))
                }
                _ => Err(bad()),
            }
        }
        "Service" if !p.is_empty() && !p.contains(['*', '?', ' ']) => {
            Ok(PrincipalEntry::Service(p.to_string()))
        }
        "Federated" if !p.is_empty() && !p.contains(['*', '?']) => {
            Ok(PrincipalEntry::Federated(p.to_string()))
        }
        "CanonicalUser" if !p.is_empty() && !p.contains(['*', '?']) => {
            Ok(PrincipalEntry::CanonicalUser(p.to_string()))
        }
        _ => Err(bad()),
    }
}

/// A condition value as text: strings as written, numbers and booleans as
/// JSON prints them.
fn condition_value(v: &Value, at: &str) -> Result<String, Malformed> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(syntax(
            "a condition value is a string, number or boolean",
            at,
        )),
    }
}

fn conditions(v: &Value, variables: bool, at: &str) -> Result<Vec<Condition>, Malformed> {
    let Value::Object(ops) = v else {
        return Err(syntax("Condition is an object", at));
    };
    let mut out = Vec::new();
    for (op, keys) in ops {
        let here = format!("{at}.{op}");
        if !condition::is_operator(op) {
            return Err(malformed(format!("Invalid Condition type : {op}"), &here));
        }
        let Value::Object(keys) = keys else {
            return Err(syntax("a condition operator maps keys to values", &here));
        };
        for (key, values) in keys {
            let here = format!("{here}.{key}");
            if !key.contains(':') || key.starts_with(':') {
                return Err(Malformed {
                    reason: Some(format!("condition key {key}")),
                    ..malformed(VENDOR, &here)
                });
            }
            let values = match values {
                Value::Array(list) => list
                    .iter()
                    .enumerate()
                    .map(|(i, x)| condition_value(x, &format!("{here}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?,
                v => vec![condition_value(v, &here)?],
            };
            let c = Condition::new(op, key, &values, variables)
                .ok_or_else(|| malformed(format!("Invalid Condition type : {op}"), &here))?;
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_object_or_array() {
        let one = parse(r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#)
            .unwrap();
        assert_eq!(one.version, Version::V2008_10_17);
        assert_eq!(one.statements.len(), 1);
        let two = parse(
            r#"{"Version": "2012-10-17", "Id": "p1", "Statement": [
                {"Sid": "A", "Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::b/*"},
                {"Sid": "B", "Effect": "Deny", "NotAction": "iam:*", "NotResource": ["arn:aws:s3:::b"]}
            ]}"#,
        )
        .unwrap();
        assert_eq!(two.version, Version::V2012_10_17);
        assert_eq!(two.label(), Some("p1"));
        assert_eq!(two.statements[1].effect, Effect::Deny);
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = parse("{\n  \"Statement\": [\n  }").unwrap_err();
        assert_eq!(e.message, SYNTAX);
        assert!(
            matches!(e.position, Some(Position::Text { line: 3, .. })),
            "{e}"
        );
    }

    #[test]
    fn kinds() {
        let with_principal = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject", "Resource": "*"}}"#;
        let e = parse_as(with_principal, ParseKind::Identity).unwrap_err();
        assert_eq!(e.message, "Policy document should not specify a principal.");
        assert!(parse_as(with_principal, ParseKind::Resource).is_ok());
        let e = parse_as(with_principal, ParseKind::Trust).unwrap_err();
        assert_eq!(e.message, "Has prohibited field Resource");
        let without = r#"{"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole"}}"#;
        assert_eq!(
            parse_as(without, ParseKind::Trust).unwrap_err().message,
            "Missing required field Principal"
        );
        assert_eq!(
            parse_as(without, ParseKind::Identity).unwrap_err().message,
            "Policy statement must contain resources."
        );
    }

    #[test]
    fn deep_documents_are_refused() {
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&deep).is_err());
        let deeper = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&deeper).is_err());
    }
}
