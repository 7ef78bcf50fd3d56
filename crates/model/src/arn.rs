//! Account identity and the ways a client may name a function.

use std::fmt;

/// How a queue's ARN begins (`arn:aws:sqs:<region>:<account>:<name>`): what tells
/// a queue target from a function where either may be named.
pub const QUEUE_ARN_PREFIX: &str = "arn:aws:sqs:";

/// The account and region every ARN this node mints carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account_id: String,
    pub region: String,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
        }
    }
}

impl Identity {
    /// `arn:aws:lambda:REGION:ACCOUNT:layer:NAME` (a version appends `:N`).
    pub fn layer_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:layer:{}",
            self.region, self.account_id, name
        )
    }

    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account_id, name
        )
    }
}

/// A function as a client named it: a bare name, a partial ARN or a full ARN,
/// each optionally with a `:qualifier` (version or alias).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    pub qualifier: Option<String>,
    /// Account given in the ARN, if any; must match ours to be found.
    pub account_id: Option<String>,
    pub region: Option<String>,
}

/// Why a function name was refused, phrased for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFunctionName(pub String);

impl fmt::Display for BadFunctionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lambda's constraint on the name part: 1 to 64 of `[a-zA-Z0-9-_]`.
pub fn is_valid_function_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// The `FunctionName` pattern of Lambda's API model, as its validation messages quote it.
pub const FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";

/// The model's `UnqualifiedFunctionName` pattern (operations on the whole function).
pub const UNQUALIFIED_FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)";

/// Versions are `$LATEST` or digits; aliases are `[a-zA-Z0-9-_]` and not all digits.
pub fn is_valid_qualifier(q: &str) -> bool {
    q == "$LATEST"
        || (!q.is_empty()
            && q.len() <= 128
            && q.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
}

impl FunctionRef {
    /// Parse the `FunctionName` parameter of a Lambda API call.
    pub fn parse(input: &str) -> Result<FunctionRef, BadFunctionName> {
        let invalid = || {
            BadFunctionName(format!(
                "1 validation error detected: Value '{input}' at 'functionName' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"
            ))
        };
        if input.is_empty() || input.len() > 170 {
            return Err(invalid());
        }
        let parts: Vec<&str> = input.split(':').collect();
        let (account_id, region, name, qualifier) = match parts.as_slice() {
            [name] => (None, None, *name, None),
            [name, q] => (None, None, *name, Some(*q)),
            [acct, "function", name] => (Some(*acct), None, *name, None),
            [acct, "function", name, q] => (Some(*acct), None, *name, Some(*q)),
            ["arn", partition, "lambda", region, acct, "function", name]
                if partition.starts_with("aws") =>
            {
                (Some(*acct), Some(*region), *name, None)
            }
            [
                "arn",
                partition,
                "lambda",
                region,
                acct,
                "function",
                name,
                q,
            ] if partition.starts_with("aws") => (Some(*acct), Some(*region), *name, Some(*q)),
            _ => return Err(invalid()),
        };
        if !is_valid_function_name(name) {
            return Err(invalid());
        }
        if let Some(a) = account_id
            && (a.len() != 12 || !a.bytes().all(|c| c.is_ascii_digit()))
        {
            return Err(invalid());
        }
        if let Some(q) = qualifier
            && !is_valid_qualifier(q)
        {
            return Err(invalid());
        }
        Ok(FunctionRef {
            name: name.to_string(),
            qualifier: qualifier.map(str::to_string),
            account_id: account_id.map(str::to_string),
            region: region.map(str::to_string),
        })
    }

    /// True when the ARN parts (if any) point into this node's account.
    pub fn is_in(&self, identity: &Identity) -> bool {
        self.account_id
            .as_deref()
            .is_none_or(|a| a == identity.account_id)
            && self.region.as_deref().is_none_or(|r| r == identity.region)
    }
}

/// Lambda accepts any IAM role ARN of this shape until IAM exists.
pub fn is_valid_role_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(acct), Some(res)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let Some(role_path) = res.strip_prefix("role/") else {
        return false;
    };
    partition.starts_with("aws")
        && acct.len() == 12
        && acct.bytes().all(|c| c.is_ascii_digit())
        && !role_path.is_empty()
        && role_path
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+=,.@-_/".contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_naming_form() {
        let r = FunctionRef::parse("my-fn").unwrap();
        assert_eq!((r.name.as_str(), r.qualifier), ("my-fn", None));
        let r = FunctionRef::parse("my-fn:$LATEST").unwrap();
        assert_eq!(r.qualifier.as_deref(), Some("$LATEST"));
        let r = FunctionRef::parse("123456789012:function:f1:prod").unwrap();
        assert_eq!(
            (r.name.as_str(), r.qualifier.as_deref()),
            ("f1", Some("prod"))
        );
        let r = FunctionRef::parse("arn:aws:lambda:us-east-1:000000000000:function:f1").unwrap();
        assert_eq!(r.name, "f1");
        assert!(r.is_in(&Identity::default()));
        let r = FunctionRef::parse("arn:aws:lambda:eu-west-1:000000000000:function:f1:7").unwrap();
        assert!(!r.is_in(&Identity::default()));
    }

    #[test]
    fn refuses_malformed_names() {
        for bad in [
            "",
            "a b",
            "a:b:c",
            "arn:aws:s3:::bucket",
            "x".repeat(65).as_str(),
            "f:bad qual",
            "12:function:f",
        ] {
            assert!(FunctionRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn role_arns() {
        assert!(is_valid_role_arn(
            "arn:aws:iam::123456789012:role/lambda-role"
        ));
        assert!(is_valid_role_arn(
            "arn:aws:iam::000000000000:role/service-role/x_y.z"
        ));
        assert!(!is_valid_role_arn("arn:aws:iam::123:role/x"));
        assert!(!is_valid_role_arn("arn:aws:iam::123456789012:user/x"));
        assert!(!is_valid_role_arn("role"));
    }
}
