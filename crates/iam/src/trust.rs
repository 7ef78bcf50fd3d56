//! Whether a role's trust policy lets a principal assume it: the one function
//! [`trust_allows`], a straightforward reading of the document that the
//! policy crate's evaluation replaces when it lands.
//!
//! It understands what trust policies say in practice: `Allow` (and `Deny`)
//! statements for `sts:AssumeRole` (wildcards allowed) naming principals by
//! ARN, account root, account id, `"*"` or service, and conditions on
//! `sts:ExternalId`, `aws:PrincipalArn` and `aws:PrincipalAccount` with the
//! `StringEquals` / `StringLike` operators (and their `...IfExists` forms). A
//! statement with any other condition is not satisfied.

use crate::Principal;
use serde_json::Value;

/// Whether `trust_doc` allows `caller` to call `sts:AssumeRole`, with
/// `external_id` as the request's `ExternalId`.
pub fn trust_allows(trust_doc: &str, caller: &Principal, external_id: Option<&str>) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(trust_doc) else {
        return false;
    };
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return false,
    };
    let mut allowed = false;
    for s in statements {
        if !applies(s, caller, external_id) {
            continue;
        }
        match s.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return false,
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    allowed
}

fn values(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `*` and `?` wildcards; case-sensitive unless the caller lowercases.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn applies(s: &Value, caller: &Principal, external_id: Option<&str>) -> bool {
    let action_matches = |v: Option<&Value>| {
        values(v)
            .iter()
            .any(|a| glob(&a.to_ascii_lowercase(), "sts:assumerole"))
    };
    let acts = if s.get("Action").is_some() {
        action_matches(s.get("Action"))
    } else if s.get("NotAction").is_some() {
        !action_matches(s.get("NotAction"))
    } else {
        false
    };
    if !acts {
        return false;
    }
    let names = if s.get("Principal").is_some() {
        principal_matches(s.get("Principal"), caller)
    } else if s.get("NotPrincipal").is_some() {
        !principal_matches(s.get("NotPrincipal"), caller)
    } else {
        false
    };
    names && conditions_hold(s.get("Condition"), caller, external_id)
}

fn principal_matches(p: Option<&Value>, caller: &Principal) -> bool {
    let Some(p) = p else { return false };
    if p.as_str() == Some("*") {
        return true;
    }
    let Some(map) = p.as_object() else {
        return false;
    };
    for (kind, v) in map {
        for name in values(Some(v)) {
            let hit = match kind.as_str() {
                "AWS" => aws_principal_matches(name, caller),
                "Service" => matches!(caller, Principal::Service(s) if s == name),
                _ => false,
            };
            if hit {
                return true;
            }
        }
    }
    false
}

fn aws_principal_matches(name: &str, caller: &Principal) -> bool {
    if name == "*" {
        return !matches!(caller, Principal::Service(_));
    }
    let Some(account) = caller.account() else {
        return false;
    };
    if name == account || name == format!("arn:aws:iam::{account}:root") {
        return true;
    }
    match caller {
        Principal::Root { .. } => false,
        Principal::User { arn, .. } => name == arn,
        Principal::AssumedRole { arn, role_arn, .. } => name == arn || name == role_arn,
        Principal::Service(_) => false,
    }
}

fn conditions_hold(c: Option<&Value>, caller: &Principal, external_id: Option<&str>) -> bool {
    let Some(c) = c else { return true };
    let Some(ops) = c.as_object() else {
        return false;
    };
    for (op, keys) in ops {
        let (base, if_exists) = match op.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (op.as_str(), false),
        };
        let Some(keys) = keys.as_object() else {
            return false;
        };
        for (key, expected) in keys {
            let actual: Option<String> = match key.to_ascii_lowercase().as_str() {
                "sts:externalid" => external_id.map(str::to_string),
                "aws:principalarn" => Some(caller.arn()),
                "aws:principalaccount" => caller.account().map(str::to_string),
                _ => return false,
            };
            let Some(actual) = actual else {
                if if_exists {
                    continue;
                }
                return false;
            };
            let expected = values(Some(expected));
            let hit = match base {
                "StringEquals" => expected.iter().any(|e| *e == actual),
                "StringLike" => expected.iter().any(|e| glob(e, &actual)),
                "StringNotEquals" => expected.iter().all(|e| *e != actual),
                "StringNotLike" => expected.iter().all(|e| !glob(e, &actual)),
                "StringEqualsIgnoreCase" => {
                    expected.iter().any(|e| e.eq_ignore_ascii_case(&actual))
                }
                _ => false,
            };
            if !hit {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Principal {
        Principal::User {
            arn: "arn:aws:iam::000000000000:user/alice".into(),
            name: "alice".into(),
            id: "AIDAEXAMPLE".into(),
            account: "000000000000".into(),
        }
    }

    fn doc(principal: &str, extra: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"{extra}}}]}}"#
        )
    }

    #[test]
    fn principals_match_by_arn_account_root_and_service() {
        let root = Principal::Root {
            account: "000000000000".into(),
        };
        let lambda = Principal::Service("lambda.amazonaws.com".into());
        for p in [
            r#"{"AWS":"arn:aws:iam::000000000000:root"}"#,
            r#"{"AWS":"000000000000"}"#,
            r#"{"AWS":["arn:aws:iam::000000000000:user/alice"]}"#,
            r#""*""#,
        ] {
            assert!(trust_allows(&doc(p, ""), &user(), None), "{p}");
        }
        assert!(trust_allows(
            &doc(r#"{"AWS":"000000000000"}"#, ""),
            &root,
            None
        ));
        assert!(!trust_allows(
            &doc(r#"{"AWS":"111111111111"}"#, ""),
            &user(),
            None
        ));
        assert!(!trust_allows(
            &doc(r#"{"AWS":"arn:aws:iam::000000000000:user/bob"}"#, ""),
            &user(),
            None
        ));
        let svc = doc(r#"{"Service":"lambda.amazonaws.com"}"#, "");
        assert!(trust_allows(&svc, &lambda, None));
        assert!(!trust_allows(&svc, &user(), None));
        assert!(!trust_allows(
            &doc(r#"{"AWS":"000000000000"}"#, ""),
            &lambda,
            None
        ));
        let session = Principal::AssumedRole {
            arn: "arn:aws:sts::000000000000:assumed-role/r/s".into(),
            role_arn: "arn:aws:iam::000000000000:role/r".into(),
            role_name: "r".into(),
            role_id: "AROAX".into(),
            session_name: "s".into(),
            account: "000000000000".into(),
        };
        assert!(trust_allows(
            &doc(r#"{"AWS":"arn:aws:iam::000000000000:role/r"}"#, ""),
            &session,
            None
        ));
    }

    #[test]
    fn external_ids_actions_and_denies() {
        let d = doc(
            r#"{"AWS":"000000000000"}"#,
            r#","Condition":{"StringEquals":{"sts:ExternalId":"secret-1"}}"#,
        );
        assert!(trust_allows(&d, &user(), Some("secret-1")));
        assert!(!trust_allows(&d, &user(), Some("other")));
        assert!(!trust_allows(&d, &user(), None));
        let wrong_action =
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRoleWithSAML"}}"#;
        assert!(!trust_allows(wrong_action, &user(), None));
        let star = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:*"}}"#;
        assert!(trust_allows(star, &user(), None));
        let denied = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"*"}]}"#;
        assert!(!trust_allows(denied, &user(), None));
        let unknown = doc(
            r#""*""#,
            r#","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
        );
        assert!(!trust_allows(&unknown, &user(), None));
        assert!(!trust_allows("{", &user(), None));
    }

    #[test]
    fn globs() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*", ""));
    }
}
