//! Parameter binding: defaults, overrides and constraints with
//! CloudFormation's messages, and the pseudo parameters (`AWS::Region`...).

use crate::Error;
use crate::evaluate::{DynamicRef, Resolver};
use crate::template::{Parameter, ParameterType, Template};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const PSEUDO: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

pub(crate) fn is_pseudo(name: &str) -> bool {
    PSEUDO.contains(&name)
}

/// The values of the pseudo parameters for one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pseudo {
    pub account_id: String,
    pub region: String,
    pub stack_name: String,
    pub stack_id: String,
    pub partition: String,
    pub url_suffix: String,
    pub notification_arns: Vec<String>,
}

impl Pseudo {
    /// The pseudo parameters of stack `stack_name`; the partition and URL
    /// suffix follow the region (`cn-*`: `aws-cn`, `amazonaws.com.cn`).
    pub fn new(account_id: &str, region: &str, stack_name: &str) -> Self {
        let (partition, url_suffix) = if region.starts_with("cn-") {
            ("aws-cn", "amazonaws.com.cn")
        } else if region.starts_with("us-gov-") {
            ("aws-us-gov", "amazonaws.com")
        } else {
            ("aws", "amazonaws.com")
        };
        Self {
            stack_id: format!(
                "arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/00000000-0000-0000-0000-000000000000"
            ),
            account_id: account_id.to_string(),
            region: region.to_string(),
            stack_name: stack_name.to_string(),
            partition: partition.to_string(),
            url_suffix: url_suffix.to_string(),
            notification_arns: Vec::new(),
        }
    }

    /// The stack's id as the deployer minted it.
    #[must_use]
    pub fn with_stack_id(mut self, stack_id: &str) -> Self {
        self.stack_id = stack_id.to_string();
        self
    }

    /// A pseudo parameter's value; `None` for `AWS::NoValue` and unknown names.
    pub(crate) fn value(&self, name: &str) -> Option<Value> {
        let s = |v: &str| Some(Value::String(v.to_string()));
        match name {
            "AWS::AccountId" => s(&self.account_id),
            "AWS::Region" => s(&self.region),
            "AWS::StackName" => s(&self.stack_name),
            "AWS::StackId" => s(&self.stack_id),
            "AWS::Partition" => s(&self.partition),
            "AWS::URLSuffix" => s(&self.url_suffix),
            "AWS::NotificationARNs" => Some(Value::Array(
                self.notification_arns
                    .iter()
                    .map(|a| a.as_str().into())
                    .collect(),
            )),
            _ => None,
        }
    }
}

/// Parameters bound for one deployment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bound {
    /// What `Ref` gives: a string, or a list of strings for list types.
    pub values: BTreeMap<String, Value>,
    /// `AWS::SSM::Parameter::Value<...>` parameters: the SSM parameter name given.
    pub ssm_names: BTreeMap<String, String>,
}

/// Binds overrides and defaults to the template's parameters, checks each
/// value against its constraints and resolves SSM-typed parameters.
pub(crate) fn bind(
    template: &Template,
    overrides: &BTreeMap<String, String>,
    resolver: &dyn Resolver,
) -> Result<Bound, Error> {
    let unknown: Vec<&str> = overrides
        .keys()
        .map(String::as_str)
        .filter(|k| !template.parameters.contains_key(*k))
        .collect();
    if !unknown.is_empty() {
        return Err(Error::Invalid(format!(
            "Parameters: [{}] do not exist in the template",
            unknown.join(", ")
        )));
    }
    let missing: BTreeSet<&str> = template
        .parameters
        .iter()
        .filter(|(name, p)| p.default.is_none() && !overrides.contains_key(*name))
        .map(|(name, _)| name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Invalid(format!(
            "Parameters: [{}] must have values",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut bound = Bound::default();
    for (name, p) in &template.parameters {
        let Some(given) = overrides.get(name).or(p.default.as_ref()) else {
            continue;
        };
        let text = match &p.kind {
            ParameterType::Ssm { .. } => {
                bound.ssm_names.insert(name.clone(), given.clone());
                resolver
                    .dynamic(&DynamicRef::Ssm {
                        name: given.clone(),
                        version: None,
                    })
                    .map_err(Error::Unresolved)?
            }
            _ => given.clone(),
        };
        check(name, p, &text)?;
        let value = if p.kind.is_list() {
            Value::Array(
                text.split(',')
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            )
        } else {
            Value::String(text)
        };
        bound.values.insert(name.clone(), value);
    }
    Ok(bound)
}

fn show(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// Checks one value against its parameter's type and constraints.
fn check(name: &str, p: &Parameter, value: &str) -> Result<(), Error> {
    let fail = |msg: String| {
        Err(Error::Invalid(match &p.constraint_description {
            Some(d) => format!("Parameter {name} failed to satisfy constraint: {d}"),
            None => msg,
        }))
    };
    let items: Vec<&str> = if p.kind.is_list() {
        value.split(',').collect()
    } else {
        vec![value]
    };
    let numeric = matches!(p.kind, ParameterType::Number | ParameterType::NumberList);
    for item in &items {
        if numeric {
            let Ok(n) = item.trim().parse::<f64>() else {
                return Err(Error::Invalid(format!(
                    "Parameter '{name}' must be a number"
                )));
            };
            if let Some(min) = p.min_value
                && n < min
            {
                return fail(format!(
                    "Parameter '{name}' must be a number not less than {}",
                    show(min)
                ));
            }
            if let Some(max) = p.max_value
                && n > max
            {
                return fail(format!(
                    "Parameter '{name}' must be a number not greater than {}",
                    show(max)
                ));
            }
        }
        if let Some(allowed) = &p.allowed_values
            && !allowed.iter().any(|a| a == item)
        {
            return fail(format!("Parameter '{name}' must be one of AllowedValues"));
        }
    }
    let chars = value.chars().count() as u64;
    if let Some(min) = p.min_length
        && chars < min
    {
        return fail(format!(
            "Parameter '{name}' must contain at least {min} characters"
        ));
    }
    if let Some(max) = p.max_length
        && chars > max
    {
        return fail(format!(
            "Parameter '{name}' must contain at most {max} characters"
        ));
    }
    if let Some(pattern) = &p.allowed_pattern
        && !matches_pattern(pattern, value)?
    {
        return fail(format!("Parameter '{name}' must match pattern {pattern}"));
    }
    Ok(())
}

/// `AllowedPattern` must match the whole value, as Java's `matches` does.
fn matches_pattern(pattern: &str, value: &str) -> Result<bool, Error> {
    use regex_automata::dfa::{dense, regex::Builder};
    let invalid = || Error::Format(format!("Invalid AllowedPattern: {pattern}"));
    if pattern.len() > 4096 {
        return Err(invalid());
    }
    let re = Builder::new()
        .dense(
            dense::Config::new()
                .dfa_size_limit(Some(1 << 22))
                .determinize_size_limit(Some(1 << 22)),
        )
        .build(&format!("^(?:{pattern})$"))
        .map_err(|_| invalid())?;
    Ok(re.is_match(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(kind: ParameterType) -> Parameter {
        Parameter {
            kind,
            ..Parameter::default()
        }
    }

    #[test]
    fn constraints_use_cloudformation_messages() {
        let mut p = param(ParameterType::String);
        p.allowed_values = Some(vec!["a".into(), "b".into()]);
        assert_eq!(
            check("Env", &p, "c").unwrap_err().to_string(),
            "Parameter 'Env' must be one of AllowedValues"
        );
        p.constraint_description = Some("Must be a or b".into());
        assert_eq!(
            check("Env", &p, "c").unwrap_err().to_string(),
            "Parameter Env failed to satisfy constraint: Must be a or b"
        );
        let mut p = param(ParameterType::Number);
        p.min_value = Some(1.0);
        assert_eq!(
            check("N", &p, "0").unwrap_err().to_string(),
            "Parameter 'N' must be a number not less than 1"
        );
        let mut p = param(ParameterType::String);
        p.allowed_pattern = Some("[a-z]+".into());
        assert!(check("S", &p, "abc").is_ok());
        assert_eq!(
            check("S", &p, "abc1").unwrap_err().to_string(),
            "Parameter 'S' must match pattern [a-z]+"
        );
        p.min_length = Some(4);
        assert_eq!(
            check("S", &p, "abc").unwrap_err().to_string(),
            "Parameter 'S' must contain at least 4 characters"
        );
    }

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(
            Pseudo::new("1", "cn-north-1", "s").url_suffix,
            "amazonaws.com.cn"
        );
        assert_eq!(Pseudo::new("1", "us-east-1", "s").partition, "aws");
    }
}
