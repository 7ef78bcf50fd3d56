//! Secrets Manager's operations as IAM actions on secret ARNs. A request may
//! name its secret by name or partial ARN; `lookup` (the API's) gives the
//! secret's full ARN and, when it is encrypted under a customer key, that
//! key's ARN: reading such a value also needs `kms:Decrypt` on it, writing one
//! `kms:GenerateDataKey`, as on AWS.

use crate::Operation;
use nimbus_api_common::authz::{Access, Scope};
use serde_json::Value;

/// A secret's full ARN and its customer key's ARN, if any.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<(String, Option<String>)>;

/// What `op` with `params` asks of IAM, with the tags it sets or removes
/// as condition keys (`aws:RequestTag/KEY`, `aws:TagKeys`).
pub fn access(op: Operation, params: &Value, scope: &Scope, lookup: Lookup<'_>) -> Vec<Access> {
    let mut access = asked(op, params, scope, lookup);
    tagging(op, params, &mut access);
    access
}

fn asked(op: Operation, params: &Value, scope: &Scope, lookup: Lookup<'_>) -> Vec<Access> {
    use Operation::*;
    let action = format!("secretsmanager:{}", op.name());
    let arn_of = |id: &str| -> (String, Option<String>) {
        lookup(id).unwrap_or_else(|| {
            let arn = if id.starts_with("arn:") {
                id.to_string()
            } else {
                scope.arn("secretsmanager", &format!("secret:{id}"))
            };
            (arn, None)
        })
    };
    match op {
        ListSecrets | GetRandomPassword => vec![Access::any(action)],
        BatchGetSecretValue => {
            let mut v = vec![Access::any(action)];
            for id in params
                .get("SecretIdList")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let (arn, key) = arn_of(id);
                v.push(Access::new("secretsmanager:GetSecretValue", arn));
                v.extend(key.map(|k| Access::new("kms:Decrypt", k)));
            }
            v
        }
        CreateSecret => {
            let name = params.get("Name").and_then(Value::as_str).unwrap_or("");
            let mut v = vec![Access::new(
                action,
                scope.arn("secretsmanager", &format!("secret:{name}")),
            )];
            if let Some(k) = params.get("KmsKeyId").and_then(Value::as_str)
                && !k.starts_with("alias/aws/")
            {
                v.push(Access::new("kms:GenerateDataKey", kms_arn(k, scope)));
            }
            v
        }
        _ => {
            let id = params.get("SecretId").and_then(Value::as_str).unwrap_or("");
            let (arn, key) = arn_of(id);
            let new_key = params
                .get("KmsKeyId")
                .and_then(Value::as_str)
                .filter(|k| !k.starts_with("alias/aws/"));
            let mut v = vec![Access::new(action, arn)];
            if let Some(k) = key {
                match op {
                    GetSecretValue => v.push(Access::new("kms:Decrypt", k)),
                    PutSecretValue => v.push(Access::new("kms:GenerateDataKey", k)),
                    // A new value is written under the key the request
                    // names, if it names one, else under the secret's own.
                    UpdateSecret if new_key.is_none() => {
                        v.push(Access::new("kms:GenerateDataKey", k));
                    }
                    _ => {}
                }
            }
            if op == UpdateSecret
                && let Some(k) = new_key
            {
                v.push(Access::new("kms:GenerateDataKey", kms_arn(k, scope)));
            }
            v
        }
    }
}

/// A key id or alias as the ARN KMS would name it.
pub fn kms_arn(key: &str, scope: &Scope) -> String {
    if key.starts_with("arn:") {
        key.to_string()
    } else if key.starts_with("alias/") {
        scope.arn("kms", key)
    } else {
        scope.arn("kms", &format!("key/{key}"))
    }
}

/// The tags `op` sets or removes, as condition keys on its first access.
fn tagging(op: Operation, params: &Value, access: &mut [Access]) {
    use nimbus_api_common::authz::{json_strings, json_tags, removed_tag_keys, request_tags};
    let (sets, removes) = match op {
        Operation::CreateSecret | Operation::TagResource => (Some("Tags"), None),
        Operation::UntagResource => (None, Some("TagKeys")),
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
    fn operations_map_to_secret_arns() {
        let s = Scope::new("000000000000", "us-east-1");
        let found = |_: &str| {
            Some((
                "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf".to_string(),
                Some("arn:aws:kms:us-east-1:000000000000:key/k".to_string()),
            ))
        };
        let a = access(
            Operation::GetSecretValue,
            &json!({"SecretId": "db"}),
            &s,
            &found,
        );
        assert_eq!(
            a,
            [
                Access::new(
                    "secretsmanager:GetSecretValue",
                    "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf"
                ),
                Access::new("kms:Decrypt", "arn:aws:kms:us-east-1:000000000000:key/k"),
            ]
        );
        let none = |_: &str| None;
        assert_eq!(
            access(Operation::ListSecrets, &json!({}), &s, &none),
            [Access::any("secretsmanager:ListSecrets")]
        );
        let b = access(
            Operation::BatchGetSecretValue,
            &json!({"SecretIdList": ["a"]}),
            &s,
            &none,
        );
        assert_eq!(
            b[1].resource,
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:a"
        );
    }
}
