//! The request context a policy is evaluated against: who asks (the
//! [`Principal`]), for which action on which resource, and the condition keys
//! (`aws:SourceIp`, `aws:RequestTag/...`, service keys) with their values.
//!
//! Nothing here reads a clock or the network: the caller supplies
//! `aws:CurrentTime`, `aws:SecureTransport` and the like.

use std::collections::HashMap;

/// What kind of identity makes the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root user (`arn:aws:iam::ACCOUNT:root`).
    Root,
    /// An IAM user.
    User { name: String },
    /// A role session; `role_arn` is the role's own ARN
    /// (`arn:aws:iam::ACCOUNT:role/NAME`).
    AssumedRole { role_arn: String, session: String },
    /// A federated user session (`GetFederationToken`).
    FederatedUser { name: String },
    /// An AWS service acting on its own behalf (`lambda.amazonaws.com`).
    Service { name: String },
    /// A web identity or SAML provider asking to assume a role.
    Federated { provider: String },
    /// An unsigned request.
    Anonymous,
}

/// The identity a request is made by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The principal's ARN (a session's `assumed-role` ARN; a service's name).
    pub arn: String,
    /// The account it belongs to; empty for services and anonymous callers.
    pub account: String,
    pub kind: PrincipalKind,
    /// The principal's tags (`aws:PrincipalTag/KEY`).
    pub tags: Vec<(String, String)>,
    /// An S3 canonical user id, when the caller knows it.
    pub canonical_user: Option<String>,
}

impl Principal {
    /// The principal an IAM or STS ARN names: `...:root`, `...:user/PATH/NAME`,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`,
    /// `...:federated-user/NAME`. `None` for anything else.
    pub fn from_arn(arn: &str) -> Option<Principal> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(_), Some(account), Some(rest)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let kind = match (service, rest.split_once('/')) {
            ("iam", None) if rest == "root" => PrincipalKind::Root,
            ("iam", Some(("user", path))) => PrincipalKind::User {
                name: path.rsplit('/').next().unwrap_or(path).to_string(),
            },
            ("sts", Some(("assumed-role", role_session))) => {
                let (role, session) = role_session.split_once('/')?;
                PrincipalKind::AssumedRole {
                    role_arn: format!("arn:{partition}:iam::{account}:role/{role}"),
                    session: session.to_string(),
                }
            }
            ("sts", Some(("federated-user", name))) => PrincipalKind::FederatedUser {
                name: name.to_string(),
            },
            _ => return None,
        };
        Some(Principal {
            arn: arn.to_string(),
            account: account.to_string(),
            kind,
            tags: Vec::new(),
            canonical_user: None,
        })
    }

    /// The account's root user.
    pub fn root(account: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{account}:root"),
            account: account.to_string(),
            kind: PrincipalKind::Root,
            tags: Vec::new(),
            canonical_user: None,
        }
    }

    /// A service principal such as `lambda.amazonaws.com`.
    pub fn service(name: &str) -> Principal {
        Principal {
            arn: name.to_string(),
            account: String::new(),
            kind: PrincipalKind::Service {
                name: name.to_string(),
            },
            tags: Vec::new(),
            canonical_user: None,
        }
    }

    /// A web identity or SAML provider (`AssumeRoleWithWebIdentity`).
    pub fn federated(provider: &str) -> Principal {
        Principal {
            arn: provider.to_string(),
            account: String::new(),
            kind: PrincipalKind::Federated {
                provider: provider.to_string(),
            },
            tags: Vec::new(),
            canonical_user: None,
        }
    }

    /// An unsigned caller.
    pub fn anonymous() -> Principal {
        Principal {
            arn: "*".to_string(),
            account: String::new(),
            kind: PrincipalKind::Anonymous,
            tags: Vec::new(),
            canonical_user: None,
        }
    }

    pub fn with_tag(mut self, key: &str, value: &str) -> Principal {
        self.tags.push((key.to_string(), value.to_string()));
        self
    }

    /// The ARN `aws:PrincipalArn` reports: a role session's role.
    pub fn principal_arn(&self) -> &str {
        match &self.kind {
            PrincipalKind::AssumedRole { role_arn, .. } => role_arn,
            _ => &self.arn,
        }
    }

    /// Whether the principal is an identity of an account (not a service, a
    /// provider or anonymous): only those have identity-based policies.
    pub fn has_account(&self) -> bool {
        !self.account.is_empty()
    }
}

/// A request as policies see it.
#[derive(Clone, Debug)]
pub struct Context {
    action: String,
    action_lower: String,
    resource: String,
    principal: Principal,
    keys: HashMap<String, Vec<String>>,
}

impl Context {
    /// A request for `action` (`service:Action`) on `resource` (an ARN or
    /// `*`) by `principal`. The principal's keys are filled in:
    /// `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType`,
    /// `aws:username` (users), `aws:PrincipalTag/KEY`,
    /// `aws:PrincipalServiceName` and `aws:PrincipalIsAWSService`.
    pub fn new(action: &str, resource: &str, principal: Principal) -> Context {
        let mut keys: HashMap<String, Vec<String>> = HashMap::new();
        let mut put = |key: &str, value: &str| {
            keys.entry(key.to_lowercase())
                .or_default()
                .push(value.to_string());
        };
        let p = &principal;
        let kind = match &p.kind {
            PrincipalKind::Root => Some("Account"),
            PrincipalKind::User { .. } => Some("User"),
            PrincipalKind::AssumedRole { .. } => Some("AssumedRole"),
            PrincipalKind::FederatedUser { .. } => Some("FederatedUser"),
            _ => None,
        };
        if let Some(kind) = kind {
            put("aws:PrincipalArn", p.principal_arn());
            put("aws:PrincipalAccount", &p.account);
            put("aws:PrincipalType", kind);
        }
        if let PrincipalKind::User { name } = &p.kind {
            put("aws:username", name);
        }
        for (k, v) in &p.tags {
            put(&format!("aws:PrincipalTag/{k}"), v);
        }
        match &p.kind {
            PrincipalKind::Service { name } => {
                put("aws:PrincipalServiceName", name);
                put("aws:PrincipalIsAWSService", "true");
            }
            PrincipalKind::Anonymous => {}
            _ => put("aws:PrincipalIsAWSService", "false"),
        }
        Context {
            action: action.to_string(),
            action_lower: action.to_lowercase(),
            resource: resource.to_string(),
            principal,
            keys,
        }
    }

    /// Adds `value` to the key's values (a key given twice is multivalued).
    pub fn insert(&mut self, key: &str, value: &str) {
        self.keys
            .entry(key.to_lowercase())
            .or_default()
            .push(value.to_string());
    }

    /// Sets the key's values, replacing any; an empty list is a key present
    /// with no value (`aws:TagKeys` of a request without tags).
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        self.keys.insert(key.to_lowercase(), values);
    }

    pub fn with(mut self, key: &str, value: &str) -> Context {
        self.insert(key, value);
        self
    }

    /// Removes a key (`aws:username` of a request that should not carry one).
    pub fn remove(&mut self, key: &str) {
        self.keys.remove(&key.to_lowercase());
    }

    /// The key's values; `key` must be lower-case (policies compile theirs).
    pub(crate) fn values(&self, key: &str) -> Option<&[String]> {
        self.keys.get(key).map(Vec::as_slice)
    }

    /// The key's values, the key in any case.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values(&key.to_lowercase())
    }

    /// The action as the request named it.
    pub fn action(&self) -> &str {
        &self.action
    }

    pub(crate) fn action_lower(&self) -> &str {
        &self.action_lower
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_from_arns() {
        let u = Principal::from_arn("arn:aws:iam::111122223333:user/dev/alice").unwrap();
        assert_eq!(
            u.kind,
            PrincipalKind::User {
                name: "alice".into()
            }
        );
        let r = Principal::from_arn("arn:aws:sts::111122223333:assumed-role/Admin/s1").unwrap();
        assert_eq!(r.principal_arn(), "arn:aws:iam::111122223333:role/Admin");
        assert_eq!(
            Principal::from_arn("arn:aws:iam::111122223333:root")
                .unwrap()
                .kind,
            PrincipalKind::Root
        );
        assert!(Principal::from_arn("arn:aws:iam::1:user/x").is_none());
        assert!(Principal::from_arn("arn:aws:s3:::bucket").is_none());
    }

    #[test]
    fn keys_are_case_insensitive() {
        let p = Principal::from_arn("arn:aws:iam::111122223333:user/alice")
            .unwrap()
            .with_tag("Team", "blue");
        let ctx = Context::new("S3:GetObject", "*", p).with("aws:SourceIp", "10.0.0.1");
        assert_eq!(ctx.get("AWS:SOURCEIP").unwrap(), ["10.0.0.1"]);
        assert_eq!(ctx.get("aws:principaltag/team").unwrap(), ["blue"]);
        assert_eq!(ctx.get("aws:UserName").unwrap(), ["alice"]);
        assert_eq!(ctx.action_lower(), "s3:getobject");
    }
}
