//! Parameter names, references and labels as Parameter Store reads them:
//! hierarchy rules (a name with `/` starts with one; at most 15 levels; no
//! `aws`/`ssm` prefix), `name:version` and `name:label` selectors, and ARNs
//! (`arn:aws:ssm:<region>:<account>:parameter/<name>`). Pure functions: the
//! fuzz target drives them.

use crate::{Error, Result};

pub const MAX_LEVELS: usize = 15;
pub const MAX_NAME: usize = 1011;

/// What follows a name's `:` in a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Version(u64),
    Label(String),
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Version(v) => write!(f, ":{v}"),
            Selector::Label(l) => write!(f, ":{l}"),
        }
    }
}

/// A parsed reference: the names it may mean (an ARN's `parameter/x` is `x`
/// or `/x`), and its selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub names: Vec<String>,
    pub selector: Option<Selector>,
}

fn bad_prefix(first: &str) -> bool {
    let l = first.to_ascii_lowercase();
    l.starts_with("aws") || l.starts_with("ssm")
}

/// Check a name for `PutParameter`.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(Error::Invalid(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must have length between 1 and {MAX_NAME}"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
    {
        return Err(Error::Invalid(
            "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.".into(),
        ));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(Error::Invalid(
            "Parameter name must be a fully qualified name.".into(),
        ));
    }
    if name.contains("//") || (name.len() > 1 && name.ends_with('/')) || name == "/" {
        return Err(Error::Invalid(format!(
            "Parameter name {name} is not valid: its levels must not be empty."
        )));
    }
    let levels: Vec<&str> = name.split('/').filter(|l| !l.is_empty()).collect();
    if levels.first().is_some_and(|f| bad_prefix(f)) {
        return Err(Error::Invalid(
            "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).".into(),
        ));
    }
    if levels.len() > MAX_LEVELS {
        return Err(Error::HierarchyLevel(format!(
            "A parameter hierarchy can have a maximum of {MAX_LEVELS} levels."
        )));
    }
    Ok(())
}

/// Check a path for `GetParametersByPath`: `/`, or a name's hierarchy.
pub fn check_path(path: &str) -> Result<()> {
    if !path.starts_with('/') {
        return Err(Error::Invalid(
            "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".".into(),
        ));
    }
    if path == "/" {
        return Ok(());
    }
    check_name(path.trim_end_matches('/')).map_err(|e| match e {
        Error::HierarchyLevel(m) => Error::HierarchyLevel(m),
        _ => Error::Invalid(format!("The path {path} is not a valid parameter path.")),
    })
}

/// Check a label: 1 to 100 of letters, digits, `.`, `-`, `_`; not starting
/// with a digit, `aws` or `ssm`.
pub fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 100
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !label.as_bytes()[0].is_ascii_digit()
        && !bad_prefix(label)
}

/// Read a reference: a name or ARN, optionally `:version` or `:label`.
pub fn parse_reference(input: &str) -> Result<Reference> {
    let invalid = || Error::Invalid(format!("Invalid parameter reference: {input}"));
    let (body, names_of_arn) = match input.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [_, "ssm", _, _, resource] = parts.as_slice() else {
                return Err(invalid());
            };
            let Some(name) = resource.strip_prefix("parameter") else {
                return Err(invalid());
            };
            (name, true)
        }
        None => (input, false),
    };
    let (name, selector) = match body.rsplit_once(':') {
        Some((name, sel)) => {
            let selector = if !sel.is_empty() && sel.bytes().all(|b| b.is_ascii_digit()) {
                Selector::Version(sel.parse().map_err(|_| invalid())?)
            } else if valid_label(sel) {
                Selector::Label(sel.into())
            } else {
                return Err(invalid());
            };
            (name, Some(selector))
        }
        None => (body, None),
    };
    if name.is_empty() || name.contains(':') {
        return Err(invalid());
    }
    let names = if names_of_arn {
        let Some(bare) = name.strip_prefix('/') else {
            return Err(invalid());
        };
        if bare.contains('/') {
            vec![name.to_string()]
        } else {
            vec![bare.to_string(), name.to_string()]
        }
    } else {
        vec![name.to_string()]
    };
    Ok(Reference { names, selector })
}

/// The ARN of parameter `name`.
pub fn arn(region: &str, account: &str, name: &str) -> String {
    let sep = if name.starts_with('/') { "" } else { "/" };
    format!("arn:aws:ssm:{region}:{account}:parameter{sep}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_rules() {
        for ok in ["plain", "/a", "/a/b.c-d_e", &"/x".repeat(15)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        assert!(matches!(
            check_name(&"/x".repeat(16)),
            Err(Error::HierarchyLevel(_))
        ));
        for bad in [
            "",
            "a/b",
            "/a//b",
            "/a/",
            "/aws/x",
            "SSM-thing",
            "/a b",
            "/a:b",
            "/",
        ] {
            assert!(matches!(check_name(bad), Err(Error::Invalid(_))), "{bad}");
        }
        assert!(check_path("/").is_ok() && check_path("/a/b/").is_ok());
        assert!(check_path("a").is_err());
    }

    #[test]
    fn references_and_selectors() {
        let r = parse_reference("/app/db:3").unwrap();
        assert_eq!(
            (r.names, r.selector),
            (vec!["/app/db".to_string()], Some(Selector::Version(3)))
        );
        let r = parse_reference("/app/db:prod").unwrap();
        assert_eq!(r.selector, Some(Selector::Label("prod".into())));
        let r = parse_reference("arn:aws:ssm:us-east-1:000000000000:parameter/app/db").unwrap();
        assert_eq!(r.names, ["/app/db"]);
        let r = parse_reference("arn:aws:ssm:us-east-1:000000000000:parameter/plain:2").unwrap();
        assert_eq!(r.names, ["plain", "/plain"]);
        for bad in ["/a:", "/a:1x", "/a:b:c", ":1", "arn:aws:s3:::b", "/a:aws-x"] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
        assert!(valid_label("prod-1") && !valid_label("1prod") && !valid_label("awsx"));
        assert_eq!(arn("r", "a", "/x/y"), "arn:aws:ssm:r:a:parameter/x/y");
        assert_eq!(arn("r", "a", "x"), "arn:aws:ssm:r:a:parameter/x");
    }
}
