//! KMS's operations as IAM actions on key ARNs. A request may name its key by
//! alias; `key_arn` (the API's lookup) turns any name into the key's ARN, as
//! KMS authorizes on the key. `Decrypt` names its key inside the blob;
//! `ReEncrypt` needs `ReEncryptFrom` on the source and `ReEncryptTo` on the
//! destination; alias operations need the action on the alias and on the key.

use crate::Operation;
use nimbus_api_common::authz::{Access, Scope};
use serde_json::Value;

/// What `op` with `params` asks of IAM; `key_arn` resolves a key id, key ARN,
/// alias name or alias ARN to its key's ARN, or `None`.
/// What `op` with `params` asks of IAM, with the tags it sets or removes
/// as condition keys (`aws:RequestTag/KEY`, `aws:TagKeys`).
pub fn access(
    op: Operation,
    params: &Value,
    scope: &Scope,
    key_arn: &dyn Fn(&str) -> Option<String>,
) -> Vec<Access> {
    let mut access = asked(op, params, scope, key_arn);
    tagging(op, params, &mut access);
    access
}

fn asked(
    op: Operation,
    params: &Value,
    scope: &Scope,
    key_arn: &dyn Fn(&str) -> Option<String>,
) -> Vec<Access> {
    use Operation::*;
    let s = |k: &str| params.get(k).and_then(Value::as_str);
    let key = |k: &str| -> String {
        match s(k) {
            Some(name) => key_arn(name).unwrap_or_else(|| fallback(name, scope)),
            None => "*".into(),
        }
    };
    let act = |name: &str| format!("kms:{name}");
    match op {
        CreateKey | ListKeys | ListAliases | GenerateRandom => {
            vec![Access::any(act(op.name()))]
        }
        CreateAlias | UpdateAlias => vec![
            Access::new(act(op.name()), alias(s("AliasName").unwrap_or(""), scope)),
            Access::new(act(op.name()), key("TargetKeyId")),
        ],
        DeleteAlias => {
            let name = s("AliasName").unwrap_or("");
            vec![
                Access::new(act("DeleteAlias"), alias(name, scope)),
                Access::new(act("DeleteAlias"), key("AliasName")),
            ]
        }
        Decrypt => {
            let arn = match s("KeyId") {
                Some(_) => key("KeyId"),
                None => blob_key(params, scope).unwrap_or_else(|| "*".into()),
            };
            vec![Access::new(act("Decrypt"), arn)]
        }
        ReEncrypt => {
            let src = match s("SourceKeyId") {
                Some(_) => key("SourceKeyId"),
                None => blob_key(params, scope).unwrap_or_else(|| "*".into()),
            };
            vec![
                Access::new(act("ReEncryptFrom"), src),
                Access::new(act("ReEncryptTo"), key("DestinationKeyId")),
            ]
        }
        _ => vec![Access::new(act(op.name()), key("KeyId"))],
    }
}

fn fallback(name: &str, scope: &Scope) -> String {
    if name.starts_with("arn:") {
        name.to_string()
    } else if name.starts_with("alias/") {
        alias(name, scope)
    } else {
        scope.arn("kms", &format!("key/{name}"))
    }
}

fn alias(name: &str, scope: &Scope) -> String {
    if name.starts_with("arn:") {
        name.to_string()
    } else {
        scope.arn("kms", name)
    }
}

/// The key a `CiphertextBlob` names.
fn blob_key(params: &Value, scope: &Scope) -> Option<String> {
    use base64::Engine;
    let b64 = params.get("CiphertextBlob")?.as_str()?;
    let blob = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let parsed = nimbus_kms::crypto::parse(&blob)?;
    Some(scope.arn("kms", &format!("key/{}", parsed.key_id)))
}

/// The tags `op` sets or removes, as condition keys on its first access.
fn tagging(op: Operation, params: &Value, access: &mut [Access]) {
    use nimbus_api_common::authz::{json_strings, json_tags, removed_tag_keys, request_tags};
    let (sets, removes) = match op {
        Operation::CreateKey | Operation::TagResource => (Some("Tags"), None),
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
    fn operations_map_to_key_arns() {
        let s = Scope::new("000000000000", "us-east-1");
        let none = |_: &str| None;
        assert_eq!(
            access(Operation::Encrypt, &json!({"KeyId": "k1"}), &s, &none),
            [Access::new(
                "kms:Encrypt",
                "arn:aws:kms:us-east-1:000000000000:key/k1"
            )]
        );
        let resolved = |_: &str| Some("arn:aws:kms:us-east-1:000000000000:key/real".to_string());
        let a = access(
            Operation::CreateAlias,
            &json!({"AliasName": "alias/x", "TargetKeyId": "real"}),
            &s,
            &resolved,
        );
        assert_eq!(a[0].resource, "arn:aws:kms:us-east-1:000000000000:alias/x");
        assert_eq!(a[1].resource, "arn:aws:kms:us-east-1:000000000000:key/real");
        assert_eq!(
            access(Operation::ListKeys, &json!({}), &s, &none),
            [Access::any("kms:ListKeys")]
        );
        let re = access(
            Operation::ReEncrypt,
            &json!({"CiphertextBlob": "AA==", "DestinationKeyId": "d"}),
            &s,
            &none,
        );
        assert_eq!(re[0], Access::any("kms:ReEncryptFrom"));
        assert_eq!(re[1].action, "kms:ReEncryptTo");
    }
}
