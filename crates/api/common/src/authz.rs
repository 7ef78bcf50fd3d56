//! What a request asks of IAM: the actions it performs and the resources it
//! performs them on, as each service's authorization reference names them
//! (`sqs:SendMessage` on `arn:aws:sqs:us-east-1:000000000000:orders`). Each
//! API crate maps its parsed operations to a list of [`Access`]es (one
//! request may need several: `CopyObject` reads one object and writes
//! another, `CreateFunction` also passes a role); the edge's authorizer
//! evaluates every one against the caller's policies.

/// One action on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `service:Action`, as IAM names it.
    pub action: String,
    /// The resource's ARN, or `*` for actions on no particular resource
    /// (`ListQueues`, `ListBuckets`).
    pub resource: String,
    /// Condition keys the request sets besides the global ones
    /// (`lambda:FunctionUrlAuthType`), with their values.
    pub keys: Vec<(String, String)>,
}

impl Access {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Access {
        Access {
            action: action.into(),
            resource: resource.into(),
            keys: Vec::new(),
        }
    }

    /// The same access, with the condition key `key` set to `value`.
    pub fn with_key(mut self, key: impl Into<String>, value: impl Into<String>) -> Access {
        self.keys.push((key.into(), value.into()));
        self
    }

    /// An action that names no resource.
    pub fn any(action: impl Into<String>) -> Access {
        Access::new(action, "*")
    }
}

/// The account and region resources are named in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Scope {
        Scope {
            account: account.into(),
            region: region.into(),
        }
    }

    /// `arn:aws:<service>:<region>:<account>:<resource>`.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account
        )
    }
}

/// Why a request was refused: AWS's message ("User: arn:... is not authorized
/// to perform: sqs:SendMessage on resource: arn:... because no identity-based
/// policy allows the sqs:SendMessage action").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub message: String,
}

/// What decides whether a caller may do what a request asks. The edge puts one
/// (as an `Arc<dyn Authorizer>`) into every request's extensions, next to the
/// caller it verified; a request without one is not checked (`--iam off`).
pub trait Authorizer: Send + Sync {
    /// The account and region this platform names its resources in.
    fn scope(&self) -> &Scope;
    /// Allow every access, or refuse with the first denied one's message.
    fn check(&self, request: &http::Extensions, access: &[Access]) -> Result<(), Denied>;
    /// Whether the request's caller may do anything (the account's root), so
    /// that what it asks need not even be worked out.
    fn unrestricted(&self, _request: &http::Extensions) -> bool {
        false
    }
}

/// Where resources keep their own policies (a function's permissions, a
/// queue's `Policy` attribute, a secret's resource policy): the authorizer
/// asks for the policy of each resource a request acts on.
pub trait ResourcePolicies: Send + Sync {
    /// The policy document of the resource `arn` names, if it has one.
    fn policy(&self, arn: &str) -> Option<String>;
    /// The resource's tags (`aws:ResourceTag/KEY`); none by default.
    fn tags(&self, _arn: &str) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Check what a request asks (computed, in the authorizer's scope, only when
/// the request carries an authorizer) against that authorizer.
/// A request Nimbus makes for a service acting with a role (Scheduler's
/// universal targets): put in the request's extensions, it is authorized
/// as a session `session` of `role_arn`, by the role's policies. Only the
/// server sets extensions; a client cannot.
#[derive(Debug, Clone)]
pub struct ActingRole {
    pub role_arn: String,
    pub session: String,
}

pub fn authorize(
    request: &http::Extensions,
    access: impl FnOnce(&Scope) -> Vec<Access>,
) -> Result<(), Denied> {
    match request.get::<std::sync::Arc<dyn Authorizer>>() {
        Some(a) if !a.unrestricted(request) => a.check(request, &access(a.scope())),
        _ => Ok(()),
    }
}

/// Set the condition keys of the tags a request sets (`aws:RequestTag/KEY`
/// and `aws:TagKeys`) on its first access (the action on the resource being
/// tagged or made).
pub fn request_tags(access: &mut [Access], tags: &[(String, String)]) {
    let Some(first) = access.first_mut() else {
        return;
    };
    for (k, v) in tags {
        first.keys.push((format!("aws:RequestTag/{k}"), v.clone()));
        first.keys.push(("aws:TagKeys".into(), k.clone()));
    }
}

/// Set `aws:TagKeys` to the keys a request removes, on its first access.
pub fn removed_tag_keys(access: &mut [Access], keys: &[String]) {
    if let Some(first) = access.first_mut() {
        first
            .keys
            .extend(keys.iter().map(|k| ("aws:TagKeys".to_string(), k.clone())));
    }
}

/// The tags of a JSON request's `member`, in whichever shape the API uses:
/// a map (`{"team": "blue"}`), or a list of `{"Key", "Value"}`,
/// `{"TagKey", "TagValue"}` (KMS) or `{"key", "value"}` (Step Functions).
pub fn json_tags(params: &serde_json::Value, member: &str) -> Vec<(String, String)> {
    use serde_json::Value;
    match params.get(member) {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|t| {
                let field = |names: [&str; 3]| {
                    names
                        .iter()
                        .find_map(|n| t.get(*n).and_then(Value::as_str))
                        .map(str::to_string)
                };
                Some((
                    field(["Key", "TagKey", "key"])?,
                    field(["Value", "TagValue", "value"]).unwrap_or_default(),
                ))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The names in a JSON request's list `member` (`TagKeys`).
pub fn json_strings(params: &serde_json::Value, member: &str) -> Vec<String> {
    params
        .get(member)
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// `iam:PassRole` on `role`: what creating a resource that runs under a role
/// (a function, a state machine) also needs.
pub fn pass_role(role: &str) -> Access {
    Access::new("iam:PassRole", role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct OnlyReads(Scope);

    impl Authorizer for OnlyReads {
        fn scope(&self) -> &Scope {
            &self.0
        }
        fn check(&self, _: &http::Extensions, access: &[Access]) -> Result<(), Denied> {
            match access.iter().find(|a| !a.action.contains(":Get")) {
                Some(a) => Err(Denied {
                    message: format!("not authorized to perform: {}", a.action),
                }),
                None => Ok(()),
            }
        }
    }

    #[test]
    fn requests_without_an_authorizer_are_not_checked() {
        let mut ext = http::Extensions::new();
        let asked = std::cell::Cell::new(false);
        let all = |_: &Scope| {
            asked.set(true);
            vec![Access::any("s3:PutObject")]
        };
        assert!(authorize(&ext, all).is_ok());
        assert!(!asked.get(), "nothing to check, nothing computed");
        ext.insert::<Arc<dyn Authorizer>>(Arc::new(OnlyReads(Scope::new("1", "r"))));
        assert!(authorize(&ext, |_| vec![Access::any("s3:GetObject")]).is_ok());
        let denied = authorize(&ext, |s| {
            vec![Access::new("s3:PutObject", s.arn("s3", "x"))]
        })
        .unwrap_err();
        assert!(denied.message.contains("s3:PutObject"));
    }

    #[test]
    fn request_tags_become_condition_keys() {
        let params = serde_json::json!({
            "map": {"team": "blue"},
            "list": [{"Key": "a", "Value": "1"}, {"TagKey": "b", "TagValue": "2"}, {"key": "c", "value": "3"}],
            "keys": ["x", "y"],
        });
        assert_eq!(json_tags(&params, "map"), [("team".into(), "blue".into())]);
        assert_eq!(json_tags(&params, "list").len(), 3);
        assert!(json_tags(&params, "missing").is_empty());
        let mut access = vec![Access::any("sqs:TagQueue"), Access::any("x:Other")];
        request_tags(&mut access, &json_tags(&params, "map"));
        removed_tag_keys(&mut access, &json_strings(&params, "keys"));
        assert_eq!(
            access[0].keys,
            [
                ("aws:RequestTag/team".to_string(), "blue".to_string()),
                ("aws:TagKeys".into(), "team".into()),
                ("aws:TagKeys".into(), "x".into()),
                ("aws:TagKeys".into(), "y".into()),
            ]
        );
        assert!(access[1].keys.is_empty());
    }

    #[test]
    fn arns_name_the_scope() {
        let s = Scope::new("000000000000", "us-east-1");
        assert_eq!(
            s.arn("sqs", "orders"),
            "arn:aws:sqs:us-east-1:000000000000:orders"
        );
        assert_eq!(Access::any("s3:ListAllMyBuckets").resource, "*");
        assert_eq!(pass_role("arn:aws:iam::1:role/r").action, "iam:PassRole");
    }
}
