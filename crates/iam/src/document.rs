//! Write-time checks of policy documents: the one function
//! [`check_policy_document`], which the policy crate's parser replaces when
//! it lands, and the URL-decoding of documents some clients send encoded.
//!
//! Not an evaluator: what a document allows is the policy crate's business.

use crate::Error;
use serde_json::Value;

/// Where a document is going: each kind has IAM's own size quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A customer managed policy version (6,144 characters).
    Managed,
    /// An inline policy of a user (2,048 characters, all of the user's together).
    UserInline,
    /// An inline policy of a group (5,120 characters together).
    GroupInline,
    /// An inline policy of a role (10,240 characters together).
    RoleInline,
    /// A role's trust policy (2,048 characters).
    Trust,
    /// A session policy passed to `AssumeRole` / `GetFederationToken` (2,048).
    Session,
}

impl PolicyKind {
    /// IAM's quota in characters, whitespace not counted.
    pub fn max_chars(self) -> usize {
        match self {
            PolicyKind::Managed => 6_144,
            PolicyKind::UserInline | PolicyKind::Trust | PolicyKind::Session => 2_048,
            PolicyKind::GroupInline => 5_120,
            PolicyKind::RoleInline => 10_240,
        }
    }
}

/// The size IAM counts a document at: its characters, whitespace excluded.
pub fn counted_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// A document as a client sent it: JSON, or JSON URL-encoded once more (some
/// clients encode documents as IAM encodes them in its answers).
pub fn decode_document(text: &str) -> String {
    let trimmed = text.trim_start();
    if trimmed.starts_with('%') && serde_json::from_str::<Value>(text).is_err() {
        let bytes = percent_decode(text);
        if let Ok(s) = String::from_utf8(bytes) {
            return s;
        }
    }
    text.to_string()
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn malformed(m: impl Into<String>) -> Error {
    Error::MalformedPolicyDocument(m.into())
}

/// Check a document before it is stored: well-formed JSON, a known
/// `Version`, a `Statement` of statements each with an `Effect` of `Allow` or
/// `Deny`, an action, a resource (identity policies) or a principal (trust
/// policies), and the kind's size quota.
pub fn check_policy_document(kind: PolicyKind, text: &str) -> Result<(), Error> {
    let size = counted_size(text);
    if size > kind.max_chars() {
        return Err(Error::LimitExceeded(format!(
            "Cannot exceed quota for PolicySize: {}",
            kind.max_chars()
        )));
    }
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        malformed(format!(
            "Syntax errors in policy. (line {}, column {}: {e})",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(doc) = doc else {
        return Err(malformed(
            "Syntax errors in policy. The policy must be a JSON object.",
        ));
    };
    for key in doc.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(malformed(format!(
                "Syntax errors in policy. Unknown field {key}."
            )));
        }
    }
    match doc.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(v) => {
            return Err(malformed(format!(
                "The policy failed legacy parsing: Version {v} is not 2012-10-17 or 2008-10-17"
            )));
        }
    }
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        Some(_) => {
            return Err(malformed(
                "Syntax errors in policy. Statement must be an object or a non-empty array.",
            ));
        }
        None => {
            return Err(malformed(
                "Syntax errors in policy. Missing required field Statement.",
            ));
        }
    };
    for (i, s) in statements.iter().enumerate() {
        let Value::Object(s) = s else {
            return Err(malformed(format!(
                "Syntax errors in policy. Statement {i} must be an object."
            )));
        };
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            Some(e) => return Err(malformed(format!("Invalid effect: {e}"))),
            None => return Err(malformed("Missing required field Effect")),
        }
        let has = |a: &str, b: &str| s.contains_key(a) || s.contains_key(b);
        if !has("Action", "NotAction") {
            return Err(malformed("Policy statement must contain actions."));
        }
        if s.contains_key("Action") && s.contains_key("NotAction") {
            return Err(malformed(
                "Statement can not have both Action and NotAction.",
            ));
        }
        for (key, v) in s {
            let ok = match key.as_str() {
                "Sid" => v.is_string(),
                "Effect" => true,
                "Action" | "NotAction" | "Resource" | "NotResource" => strings(v),
                "Principal" | "NotPrincipal" => v.is_string() || v.is_object(),
                "Condition" => v.is_object(),
                other => {
                    return Err(malformed(format!(
                        "Syntax errors in policy. Unknown field {other} in statement {i}."
                    )));
                }
            };
            if !ok {
                return Err(malformed(format!(
                    "Syntax errors in policy. Field {key} of statement {i} has the wrong type."
                )));
            }
        }
        if kind == PolicyKind::Trust {
            if !has("Principal", "NotPrincipal") {
                return Err(malformed(
                    "AssumeRolepolicy contained an invalid principal element: a trust policy statement must name a Principal.",
                ));
            }
            if has("Resource", "NotResource") {
                return Err(malformed("Has prohibited field Resource"));
            }
        } else {
            if has("Principal", "NotPrincipal") {
                return Err(malformed("Policy document should not specify a principal."));
            }
            if !has("Resource", "NotResource") {
                return Err(malformed("Policy statement must contain resources."));
            }
        }
    }
    Ok(())
}

/// A string or a non-empty array of strings.
fn strings(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(a) => !a.is_empty() && a.iter().all(Value::is_string),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

    fn err(kind: PolicyKind, text: &str) -> String {
        match check_policy_document(kind, text) {
            Err(Error::MalformedPolicyDocument(m)) => m,
            other => panic!("expected MalformedPolicyDocument for {text}, got {other:?}"),
        }
    }

    #[test]
    fn documents_are_checked() {
        check_policy_document(PolicyKind::Managed, OK).unwrap();
        assert!(err(PolicyKind::Managed, "{").starts_with("Syntax errors in policy. (line 1"));
        assert!(err(PolicyKind::Managed, "[]").contains("JSON object"));
        assert!(
            err(
                PolicyKind::Managed,
                r#"{"Version":"2012-10-18","Statement":[]}"#
            )
            .contains("Version")
        );
        assert!(err(PolicyKind::Managed, r#"{"Version":"2012-10-17"}"#).contains("Statement"));
        assert!(
            err(
                PolicyKind::Managed,
                r#"{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}"#
            )
            .contains("effect")
        );
        assert!(
            err(
                PolicyKind::Managed,
                r#"{"Statement":{"Action":"*","Resource":"*"}}"#
            )
            .contains("Effect")
        );
        assert!(
            err(
                PolicyKind::Managed,
                r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#
            )
            .contains("resources")
        );
        assert!(
            err(
                PolicyKind::Trust,
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#
            )
            .contains("Principal")
        );
        check_policy_document(
            PolicyKind::Trust,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .unwrap();
    }

    #[test]
    fn sizes_follow_iam_quotas_without_whitespace() {
        let big = format!(
            r#"{{"Statement":{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}}}"#,
            "a".repeat(2_100)
        );
        assert!(matches!(
            check_policy_document(PolicyKind::UserInline, &big),
            Err(Error::LimitExceeded(_))
        ));
        check_policy_document(PolicyKind::RoleInline, &big).unwrap();
        let spaced = OK.replace(',', ",                                         ");
        assert_eq!(counted_size(&spaced), counted_size(OK));
    }

    #[test]
    fn encoded_documents_are_decoded_once() {
        assert_eq!(decode_document("%7B%22a%22%3A1%7D"), r#"{"a":1}"#);
        assert_eq!(decode_document(OK), OK);
        assert_eq!(decode_document("%zz"), "%zz");
    }
}
