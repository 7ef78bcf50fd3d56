//! Write-time checks of policy documents: [`check_policy_document`] (IAM's
//! size quotas, then the policy crate's parser with its messages), and the
//! URL-decoding of documents some clients send encoded.

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
    let parse_kind = match kind {
        PolicyKind::Trust => nimbus_policy::ParseKind::Trust,
        _ => nimbus_policy::ParseKind::Identity,
    };
    nimbus_policy::parse_as(text, parse_kind).map_err(|m| malformed(m.to_string()))?;
    Ok(())
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
        // The policy crate's messages: IAM's text, then where.
        let e = err(PolicyKind::Managed, "{");
        assert!(
            e.starts_with("Syntax errors in policy.") && e.contains("line 1"),
            "{e}"
        );
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
            .contains("Invalid effect: Maybe at Statement.Effect")
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
