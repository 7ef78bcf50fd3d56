//! A bus's resource policy (`PutPermission`, `RemovePermission`): who else
//! may `PutEvents` to it. Statements made from a principal and an optional
//! organization condition, or a whole policy given at once; the enforcer
//! reads the policy through the server's resource policies.

use crate::{Error, Events, Result};
use serde_json::{Value, json};
use std::sync::Arc;

/// `PutPermission`'s request.
#[derive(Debug, Default, Clone)]
pub struct Permission {
    pub bus: Option<String>,
    pub action: Option<String>,
    pub principal: Option<String>,
    pub statement_id: Option<String>,
    /// `Condition`: `{"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": ...}`.
    pub condition: Option<Value>,
    /// `Policy`: the whole policy, replacing the bus's.
    pub policy: Option<String>,
}

fn invalid(m: impl Into<String>) -> Error {
    Error::Invalid(m.into())
}

/// The statement `PutPermission` makes from its parameters, as EventBridge
/// writes it.
fn statement(p: &Permission, bus_arn: &str) -> Result<(String, Value)> {
    let sid = p
        .statement_id
        .clone()
        .ok_or_else(|| invalid("StatementId is required when Policy is not given."))?;
    if sid.is_empty()
        || sid.len() > 64
        || !sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(format!(
            "1 validation error detected: Value '{sid}' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+"
        )));
    }
    let action = p
        .action
        .clone()
        .unwrap_or_else(|| "events:PutEvents".into());
    if action != "events:PutEvents" {
        return Err(invalid(format!(
            "Provided value in parameter 'action' is not supported: {action}. Only events:PutEvents is supported."
        )));
    }
    let principal = p
        .principal
        .clone()
        .ok_or_else(|| invalid("Principal is required when Policy is not given."))?;
    let who = if principal == "*" {
        json!("*")
    } else if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        json!({"AWS": format!("arn:aws:iam::{principal}:root")})
    } else {
        return Err(invalid(format!(
            "1 validation error detected: Value '{principal}' at 'principal' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\d{{12}}|\\*)"
        )));
    };
    let mut s = json!({
        "Sid": sid, "Effect": "Allow", "Principal": who,
        "Action": action, "Resource": bus_arn,
    });
    if let Some(c) = &p.condition {
        let (Some(kind), Some(key), Some(value)) = (
            c.get("Type").and_then(Value::as_str),
            c.get("Key").and_then(Value::as_str),
            c.get("Value").and_then(Value::as_str),
        ) else {
            return Err(invalid("Condition needs Type, Key and Value."));
        };
        if kind != "StringEquals" || key != "aws:PrincipalOrgID" {
            return Err(invalid(
                "Condition must be of Type StringEquals with Key aws:PrincipalOrgID.",
            ));
        }
        s["Condition"] = json!({kind: {key: value}});
    }
    Ok((sid, s))
}

impl Events {
    /// Add a statement to the bus's policy, or replace the policy.
    pub fn put_permission(&self, p: Permission) -> Result<Arc<crate::Bus>> {
        let bus = self.bus(p.bus.as_deref())?;
        let next = if let Some(policy) = &p.policy {
            let Ok(doc @ Value::Object(_)) = serde_json::from_str::<Value>(policy) else {
                return Err(invalid("Policy is not a valid JSON policy document."));
            };
            if doc.get("Statement").is_none() {
                return Err(invalid("Policy must have a Statement."));
            }
            doc
        } else {
            let (sid, s) = statement(&p, &bus.arn)?;
            let mut doc = bus
                .policy
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .unwrap_or_else(|| json!({"Version": "2012-10-17", "Statement": []}));
            let statements = statements_mut(&mut doc);
            if statements
                .iter()
                .any(|x| x.get("Sid").and_then(Value::as_str) == Some(&sid))
            {
                return Err(Error::AlreadyExists(
                    "Statement with the provided id already exists.".into(),
                ));
            }
            statements.push(s);
            doc
        };
        let text = next.to_string();
        if text.len() > 10_240 {
            return Err(Error::Limit(
                "The event bus policy is too long: its limit is 10240 characters.".into(),
            ));
        }
        self.set_bus_policy(&bus.name, Some(text))
    }

    /// Remove one statement (by id) or all of them.
    pub fn remove_permission(
        &self,
        bus: Option<&str>,
        statement_id: Option<&str>,
        all: bool,
    ) -> Result<Arc<crate::Bus>> {
        let bus = self.bus(bus)?;
        if all {
            return self.set_bus_policy(&bus.name, None);
        }
        let sid = statement_id.ok_or_else(|| {
            invalid("StatementId is required unless RemoveAllPermissions is true.")
        })?;
        let missing = || Error::NotFound("Statement with the provided id does not exist.".into());
        let mut doc = bus
            .policy
            .as_deref()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .ok_or_else(missing)?;
        let statements = statements_mut(&mut doc);
        let before = statements.len();
        statements.retain(|x| x.get("Sid").and_then(Value::as_str) != Some(sid));
        if statements.len() == before {
            return Err(missing());
        }
        let empty = statements.is_empty();
        self.set_bus_policy(&bus.name, (!empty).then(|| doc.to_string()))
    }

    fn set_bus_policy(&self, name: &str, policy: Option<String>) -> Result<Arc<crate::Bus>> {
        self.buses
            .change(name, |b| {
                b.policy = policy;
                Ok::<_, Error>(())
            })?
            .map(|(b, ())| b)
            .ok_or_else(|| Error::NotFound(format!("Event bus {name} does not exist.")))
    }
}

/// The policy's statements as a list (a lone statement object becomes one).
fn statements_mut(doc: &mut Value) -> &mut Vec<Value> {
    let s = doc
        .as_object_mut()
        .expect("a policy is an object")
        .entry("Statement")
        .or_insert_with(|| json!([]));
    if !s.is_array() {
        *s = Value::Array(vec![s.take()]);
    }
    s.as_array_mut().expect("made an array")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(principal: &str) -> Permission {
        Permission {
            principal: Some(principal.into()),
            statement_id: Some("s1".into()),
            ..Permission::default()
        }
    }

    #[test]
    fn statements_name_an_account_root_or_everyone() {
        let arn = "arn:aws:events:us-east-1:000000000000:event-bus/b";
        let (sid, s) = statement(&p("111122223333"), arn).unwrap();
        assert_eq!(sid, "s1");
        assert_eq!(s["Principal"]["AWS"], "arn:aws:iam::111122223333:root");
        assert_eq!(s["Action"], "events:PutEvents");
        let mut org = p("*");
        org.condition =
            Some(json!({"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": "o-1"}));
        let (_, s) = statement(&org, arn).unwrap();
        assert_eq!(s["Principal"], "*");
        assert_eq!(s["Condition"]["StringEquals"]["aws:PrincipalOrgID"], "o-1");
        assert!(statement(&p("12"), arn).is_err());
        let mut other = p("*");
        other.action = Some("events:PutRule".into());
        assert!(statement(&other, arn).is_err());
    }

    #[test]
    fn a_lone_statement_becomes_a_list() {
        let mut doc = json!({"Statement": {"Sid": "a"}});
        statements_mut(&mut doc).push(json!({"Sid": "b"}));
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 2);
    }
}
