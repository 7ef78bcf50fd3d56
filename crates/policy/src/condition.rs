//! The `Condition` element: every operator family, its negations, the
//! `...IfExists` forms and the `ForAllValues:` / `ForAnyValue:` qualifiers,
//! compiled once and evaluated against a [`Context`].
//!
//! The rules, as AWS documents them: a policy's values for one key are OR'ed;
//! keys and operators are AND'ed. A key missing from the request makes a
//! condition false, except that negated operators and `...IfExists` forms
//! are then true, `ForAllValues` is true on a missing or empty key and
//! `ForAnyValue` false. A negated operator is true when no policy value
//! matches. Without a qualifier, a key with several values in the request
//! matches when any of them does (a negated operator: when none does).

use crate::context::Context;
use crate::glob::{Glob, Syntax, Template};
use crate::scalar::{self, Cidr};

/// How two ordered values are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// `ForAllValues:` or `ForAnyValue:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Qualifier {
    ForAllValues,
    ForAnyValue,
}

/// A condition operator with its negation, `IfExists` and qualifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Operator {
    family: Family,
    negated: bool,
    if_exists: bool,
    qualifier: Option<Qualifier>,
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let at = s.len().checked_sub(suffix.len())?;
    let tail = s.get(at..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..at])
}

impl Operator {
    /// The operator a `Condition` block names (names compare ignoring case).
    fn parse(name: &str) -> Option<Operator> {
        let (qualifier, rest) = if let Some(r) = strip_prefix_ci(name, "ForAllValues:") {
            (Some(Qualifier::ForAllValues), r)
        } else if let Some(r) = strip_prefix_ci(name, "ForAnyValue:") {
            (Some(Qualifier::ForAnyValue), r)
        } else {
            (None, name)
        };
        let (if_exists, base) = match strip_suffix_ci(rest, "IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        use Family::*;
        let (family, negated) = match base.to_ascii_lowercase().as_str() {
            "stringequals" => (StringEquals, false),
            "stringnotequals" => (StringEquals, true),
            "stringequalsignorecase" => (StringEqualsIgnoreCase, false),
            "stringnotequalsignorecase" => (StringEqualsIgnoreCase, true),
            "stringlike" => (StringLike, false),
            "stringnotlike" => (StringLike, true),
            "numericequals" => (Numeric(Cmp::Eq), false),
            "numericnotequals" => (Numeric(Cmp::Eq), true),
            "numericlessthan" => (Numeric(Cmp::Lt), false),
            "numericlessthanequals" => (Numeric(Cmp::Le), false),
            "numericgreaterthan" => (Numeric(Cmp::Gt), false),
            "numericgreaterthanequals" => (Numeric(Cmp::Ge), false),
            "dateequals" => (Date(Cmp::Eq), false),
            "datenotequals" => (Date(Cmp::Eq), true),
            "datelessthan" => (Date(Cmp::Lt), false),
            "datelessthanequals" => (Date(Cmp::Le), false),
            "dategreaterthan" => (Date(Cmp::Gt), false),
            "dategreaterthanequals" => (Date(Cmp::Ge), false),
            "bool" => (Bool, false),
            "binaryequals" => (Binary, false),
            "ipaddress" => (Ip, false),
            "notipaddress" => (Ip, true),
            "arnequals" | "arnlike" => (Arn, false),
            "arnnotequals" | "arnnotlike" => (Arn, true),
            "null" if !if_exists => (Null, false),
            _ => return None,
        };
        Some(Operator {
            family,
            negated,
            if_exists,
            qualifier,
        })
    }
}

/// A policy value as written, and its variables if the policy has them.
#[derive(Clone, Debug, PartialEq)]
struct Text {
    plain: String,
    template: Option<Template>,
}

impl Text {
    fn resolve<'a>(&'a self, ctx: &Context) -> Option<std::borrow::Cow<'a, str>> {
        match &self.template {
            None => Some(std::borrow::Cow::Borrowed(&self.plain)),
            Some(t) => t.resolve(ctx).map(std::borrow::Cow::Owned),
        }
    }
}

/// A condition's policy values, compiled for its operator.
#[derive(Clone, Debug, PartialEq)]
enum Values {
    Text(Vec<Text>),
    Globs(Vec<Glob>),
    Numbers(Vec<Option<f64>>),
    Dates(Vec<Option<i64>>),
    Networks(Vec<Option<Cidr>>),
    Null(Vec<Option<bool>>),
}

/// One operator applied to one condition key.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    operator: Operator,
    /// The operator as written.
    operator_name: String,
    /// The key, lower-cased (condition keys ignore case).
    key: String,
    values: Values,
}

impl Condition {
    /// Compiles `operator` on `key` with the policy's values; `None` when the
    /// operator is unknown. `variables`: the policy's Version substitutes
    /// policy variables.
    pub(crate) fn new(
        operator: &str,
        key: &str,
        values: &[String],
        variables: bool,
    ) -> Option<Condition> {
        let op = Operator::parse(operator)?;
        let text = |v: &String| Text {
            plain: v.clone(),
            template: if variables { Template::parse(v) } else { None },
        };
        let glob = |v: &String, arn: bool| {
            Glob::new(
                v,
                Syntax {
                    arn,
                    lowercase: false,
                    variables,
                },
            )
        };
        let values = match op.family {
            Family::StringEquals | Family::StringEqualsIgnoreCase => {
                Values::Text(values.iter().map(text).collect())
            }
            Family::Bool | Family::Binary => Values::Text(
                values
                    .iter()
                    .map(|v| Text {
                        plain: v.clone(),
                        template: None,
                    })
                    .collect(),
            ),
            Family::StringLike => Values::Globs(values.iter().map(|v| glob(v, false)).collect()),
            Family::Arn => Values::Globs(values.iter().map(|v| glob(v, true)).collect()),
            Family::Numeric(_) => {
                Values::Numbers(values.iter().map(|v| scalar::number(v)).collect())
            }
            Family::Date(_) => Values::Dates(values.iter().map(|v| scalar::date(v)).collect()),
            Family::Ip => Values::Networks(values.iter().map(|v| Cidr::parse(v)).collect()),
            Family::Null => Values::Null(
                values
                    .iter()
                    .map(|v| match v.to_ascii_lowercase().as_str() {
                        "true" => Some(true),
                        "false" => Some(false),
                        _ => None,
                    })
                    .collect(),
            ),
        };
        Some(Condition {
            operator: op,
            operator_name: operator.to_string(),
            key: key.to_lowercase(),
            values,
        })
    }

    /// The operator as the policy wrote it.
    pub fn operator(&self) -> &str {
        &self.operator_name
    }

    /// The condition key, lower-cased.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the condition holds for the request.
    pub fn holds(&self, ctx: &Context) -> bool {
        let op = self.operator;
        let request = ctx.values(&self.key).unwrap_or(&[]);
        if let Values::Null(wanted) = &self.values {
            let absent = request.is_empty();
            return wanted.contains(&Some(absent));
        }
        if request.is_empty() {
            return match op.qualifier {
                Some(Qualifier::ForAllValues) => true,
                Some(Qualifier::ForAnyValue) => op.if_exists,
                None => op.if_exists || op.negated,
            };
        }
        let test = |r: &String| self.any_matches(r, ctx) != op.negated;
        match op.qualifier {
            Some(Qualifier::ForAllValues) => request.iter().all(test),
            Some(Qualifier::ForAnyValue) => request.iter().any(test),
            None if op.negated => request.iter().all(test),
            None => request.iter().any(test),
        }
    }

    /// Whether any of the policy's values matches one request value.
    fn any_matches(&self, r: &str, ctx: &Context) -> bool {
        match (&self.values, self.operator.family) {
            (Values::Text(vs), Family::StringEquals | Family::Binary) => {
                vs.iter().any(|v| v.resolve(ctx).is_some_and(|v| v == r))
            }
            (Values::Text(vs), Family::StringEqualsIgnoreCase) => vs
                .iter()
                .any(|v| v.resolve(ctx).is_some_and(|v| eq_ignore_case(&v, r))),
            (Values::Text(vs), _) => vs.iter().any(|v| v.plain.eq_ignore_ascii_case(r)),
            (Values::Globs(vs), _) => vs.iter().any(|g| g.matches(r, ctx)),
            (Values::Numbers(vs), Family::Numeric(cmp)) => {
                scalar::number(r).is_some_and(|r| vs.iter().flatten().any(|v| cmp.holds(r, *v)))
            }
            (Values::Dates(vs), Family::Date(cmp)) => {
                scalar::date(r).is_some_and(|r| vs.iter().flatten().any(|v| cmp.holds(r, *v)))
            }
            (Values::Networks(vs), _) => {
                scalar::address(r).is_some_and(|ip| vs.iter().flatten().any(|n| n.contains(ip)))
            }
            _ => false,
        }
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
}

/// Whether `name` is a condition operator this crate knows.
pub(crate) fn is_operator(name: &str) -> bool {
    Operator::parse(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Context, Principal};

    fn ctx(keys: &[(&str, &[&str])]) -> Context {
        let p = Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        let mut c = Context::new("s3:GetObject", "arn:aws:s3:::b/k", p);
        for (k, vs) in keys {
            c.set(k, vs.iter().map(|v| v.to_string()).collect());
        }
        c
    }

    fn holds(op: &str, key: &str, values: &[&str], c: &Context) -> bool {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        Condition::new(op, key, &values, true).unwrap().holds(c)
    }

    #[test]
    fn operators_parse() {
        for name in [
            "StringEquals",
            "stringnotequalsifexists",
            "ForAllValues:StringLike",
            "ForAnyValue:ArnNotLikeIfExists",
            "NumericLessThanEquals",
            "DateGreaterThan",
            "Null",
            "BinaryEquals",
            "NotIpAddress",
        ] {
            assert!(is_operator(name), "{name}");
        }
        for name in [
            "NullIfExists",
            "StringEqual",
            "ForAllValues",
            "ForSomeValues:Bool",
            "",
        ] {
            assert!(!is_operator(name), "{name}");
        }
    }

    #[test]
    fn missing_keys() {
        let c = ctx(&[]);
        assert!(!holds("StringEquals", "k:k", &["a"], &c));
        assert!(holds("StringNotEquals", "k:k", &["a"], &c));
        assert!(holds("StringEqualsIfExists", "k:k", &["a"], &c));
        assert!(holds("ForAllValues:StringEquals", "k:k", &["a"], &c));
        assert!(!holds("ForAnyValue:StringEquals", "k:k", &["a"], &c));
        assert!(holds("Null", "k:k", &["true"], &c));
        assert!(!holds("Null", "k:k", &["false"], &c));
    }

    #[test]
    fn sets() {
        let c = ctx(&[("aws:TagKeys", &["a", "b"])]);
        assert!(holds(
            "ForAllValues:StringEquals",
            "aws:tagkeys",
            &["a", "b", "c"],
            &c
        ));
        assert!(!holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["a"],
            &c
        ));
        assert!(holds("ForAnyValue:StringEquals", "aws:TagKeys", &["a"], &c));
        assert!(!holds(
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &["z"],
            &c
        ));
        assert!(holds(
            "ForAnyValue:StringNotEquals",
            "aws:TagKeys",
            &["a"],
            &c
        ));
        assert!(!holds(
            "ForAllValues:StringNotEquals",
            "aws:TagKeys",
            &["a"],
            &c
        ));
    }

    #[test]
    fn families() {
        let c = ctx(&[
            ("n:n", &["10"]),
            ("aws:CurrentTime", &["2026-06-01T00:00:00Z"]),
            ("aws:SourceIp", &["203.0.113.7"]),
            ("aws:SecureTransport", &["true"]),
            ("aws:SourceArn", &["arn:aws:s3:::bucket"]),
        ]);
        assert!(holds("NumericLessThan", "n:n", &["11"], &c));
        assert!(!holds("NumericLessThan", "n:n", &["10"], &c));
        assert!(holds("NumericNotEquals", "n:n", &["9", "11"], &c));
        assert!(holds(
            "DateLessThan",
            "aws:CurrentTime",
            &["2027-01-01"],
            &c
        ));
        assert!(holds(
            "DateGreaterThan",
            "aws:currenttime",
            &["1700000000"],
            &c
        ));
        assert!(holds("IpAddress", "aws:SourceIp", &["203.0.113.0/24"], &c));
        assert!(!holds(
            "NotIpAddress",
            "aws:SourceIp",
            &["203.0.113.0/24"],
            &c
        ));
        assert!(holds("Bool", "aws:SecureTransport", &["True"], &c));
        assert!(holds("ArnLike", "aws:SourceArn", &["arn:aws:s3:::b*"], &c));
        assert!(!holds("ArnLike", "aws:SourceArn", &["arn:aws:*:b*"], &c));
        assert!(holds(
            "ArnNotEquals",
            "aws:SourceArn",
            &["arn:aws:s3:::other"],
            &c
        ));
    }

    #[test]
    fn variables_in_values() {
        let c = ctx(&[("s3:prefix", &["home/alice/"])]);
        assert!(holds(
            "StringLike",
            "s3:prefix",
            &["home/${aws:username}/*"],
            &c
        ));
        assert!(holds(
            "StringEquals",
            "s3:prefix",
            &["home/${aws:username}/"],
            &c
        ));
        let plain = Condition::new(
            "StringEquals",
            "s3:prefix",
            &["home/${aws:username}/".to_string()],
            false,
        )
        .unwrap();
        assert!(!plain.holds(&c));
    }
}
