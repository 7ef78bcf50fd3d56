//! Parameter Store's operations as IAM actions on parameter ARNs
//! (`arn:aws:ssm:<region>:<account>:parameter/<name without its leading />`).
//! Reading a SecureString with decryption also needs `kms:Decrypt` on its
//! customer key, writing one `kms:Encrypt`; `secure_key` (the API's lookup)
//! names that key.

use crate::Operation;
use nimbus_api_common::authz::{Access, Scope};
use serde_json::Value;

/// A parameter's customer-managed KMS key ARN, when it is a SecureString
/// under one.
pub type SecureKey<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The ARN of the parameter a name, `name:selector` or ARN names.
/// An ARN is read for its name only (the service ignores its account and
/// region), and the ARN rebuilt in this platform's scope.
pub fn parameter_arn(reference: &str, scope: &Scope) -> String {
    let reference = match reference.split_once(":parameter") {
        Some((head, rest)) if head.starts_with("arn:") => rest,
        _ => reference,
    };
    let name = reference.split(':').next().unwrap_or(reference);
    scope.arn(
        "ssm",
        &format!("parameter/{}", name.trim_start_matches('/')),
    )
}

/// What `op` with `params` asks of IAM, with the tags it sets or removes
/// as condition keys (`aws:RequestTag/KEY`, `aws:TagKeys`).
pub fn access(
    op: Operation,
    params: &Value,
    scope: &Scope,
    secure_key: SecureKey<'_>,
) -> Vec<Access> {
    let mut access = asked(op, params, scope, secure_key);
    tagging(op, params, &mut access);
    access
}

fn asked(op: Operation, params: &Value, scope: &Scope, secure_key: SecureKey<'_>) -> Vec<Access> {
    use Operation::*;
    let action = format!("ssm:{}", op.name());
    let s = |k: &str| params.get(k).and_then(Value::as_str);
    let decrypt = params.get("WithDecryption").and_then(Value::as_bool) == Some(true);
    let one = |name: &str, kms_action: Option<&str>| -> Vec<Access> {
        let mut v = vec![Access::new(action.clone(), parameter_arn(name, scope))];
        if let (Some(a), Some(k)) = (kms_action, secure_key(name)) {
            v.push(Access::new(a, k));
        }
        v
    };
    match op {
        DescribeParameters => vec![Access::any(action)],
        GetParameters | DeleteParameters => params
            .get("Names")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .flat_map(|n| one(n, (op == GetParameters && decrypt).then_some("kms:Decrypt")))
            .collect(),
        GetParametersByPath => one(s("Path").unwrap_or("/"), None),
        AddTagsToResource | RemoveTagsFromResource | ListTagsForResource => {
            one(s("ResourceId").unwrap_or(""), None)
        }
        PutParameter => {
            let name = s("Name").unwrap_or("");
            let mut v = vec![Access::new(action.clone(), parameter_arn(name, scope))];
            if let Some(k) = s("KeyId").filter(|k| !k.starts_with("alias/aws/")) {
                let key = if k.starts_with("arn:") {
                    k.to_string()
                } else if k.starts_with("alias/") {
                    scope.arn("kms", k)
                } else {
                    scope.arn("kms", &format!("key/{k}"))
                };
                v.push(Access::new("kms:Encrypt", key));
            }
            v
        }
        GetParameter | GetParameterHistory => {
            one(s("Name").unwrap_or(""), decrypt.then_some("kms:Decrypt"))
        }
        _ => one(s("Name").unwrap_or(""), None),
    }
}

/// The tags `op` sets or removes, as condition keys on its first access.
fn tagging(op: Operation, params: &Value, access: &mut [Access]) {
    use nimbus_api_common::authz::{json_strings, json_tags, removed_tag_keys, request_tags};
    let (sets, removes) = match op {
        Operation::PutParameter | Operation::AddTagsToResource => (Some("Tags"), None),
        Operation::RemoveTagsFromResource => (None, Some("TagKeys")),
        _ => (None, None),
    };
    if let Some(m) = sets {
        request_tags(access, &json_tags(params, m));
    }
    if let Some(m) = removes {
        removed_tag_keys(access, &json_strings(params, m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_map_to_parameter_arns() {
        let s = Scope::new("000000000000", "us-east-1");
        let key = |_: &str| Some("arn:aws:kms:us-east-1:000000000000:key/k".to_string());
        assert_eq!(
            access(
                Operation::GetParameter,
                &json!({"Name": "/app/db:2", "WithDecryption": true}),
                &s,
                &key
            ),
            [
                Access::new(
                    "ssm:GetParameter",
                    "arn:aws:ssm:us-east-1:000000000000:parameter/app/db"
                ),
                Access::new("kms:Decrypt", "arn:aws:kms:us-east-1:000000000000:key/k"),
            ]
        );
        let none = |_: &str| None;
        assert_eq!(
            access(
                Operation::GetParameters,
                &json!({"Names": ["a", "/b"]}),
                &s,
                &none
            )
            .len(),
            2
        );
        assert_eq!(
            access(Operation::DescribeParameters, &json!({}), &s, &none),
            [Access::any("ssm:DescribeParameters")]
        );
        // An ARN counts for its name: the service ignores its account and region.
        assert_eq!(
            parameter_arn("arn:aws:ssm:xx-1:999999999999:parameter/x:3", &s),
            "arn:aws:ssm:us-east-1:000000000000:parameter/x"
        );
    }
}
