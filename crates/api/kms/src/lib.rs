//! The KMS API in its JSON protocol (`X-Amz-Target: TrentService.<Operation>`,
//! `application/x-amz-json-1.1`): each request is parsed into an
//! [`Operation`], authorized, run on the key service and answered in KMS's
//! shapes (blobs as base64) and error codes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::{Request, Response};
use nimbus_api_common::json::AwsJson;
use nimbus_api_common::{ApiError, BoxFuture, Service};
use nimbus_kms::{AliasRecord, Context, KeyRecord, Kms, NewKey, Tag};
use serde_json::{Value, json};
use std::sync::Arc;

pub mod authz;
mod error;
pub use error::KmsError;

/// KMS's awsJson framing.
pub const KMS_JSON: AwsJson = AwsJson {
    target_prefixes: &["TrentService"],
    error_namespace: "",
    content_type: "application/x-amz-json-1.1",
    crc32: false,
};

macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// A KMS operation, parsed from `X-Amz-Target`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation { $($op),* }

        impl Operation {
            pub fn parse(name: &str) -> Option<Operation> {
                match name {
                    $(stringify!($op) => Some(Operation::$op),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self { $(Operation::$op => stringify!($op)),* }
            }
        }
    };
}

operations! {
    CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey, ScheduleKeyDeletion,
    CancelKeyDeletion, CreateAlias, DeleteAlias, ListAliases, UpdateAlias, Encrypt, Decrypt,
    GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncrypt, GenerateRandom, GetKeyPolicy,
    PutKeyPolicy, ListKeyPolicies, GetKeyRotationStatus, TagResource, UntagResource,
    ListResourceTags,
}

pub struct KmsApi {
    kms: Arc<Kms>,
}

impl Service for KmsApi {
    fn signing_name(&self) -> &'static str {
        "kms"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        KMS_JSON.owns_request(req)
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { KmsApi::handle(self, req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        KMS_JSON.error(err, request_id)
    }
}

/// The members of a request, read with KMS's validation messages.
struct Params<'a>(&'a Value);

impl<'a> Params<'a> {
    fn opt(&self, k: &str) -> Option<&'a str> {
        self.0.get(k).and_then(Value::as_str)
    }
    fn str(&self, k: &str) -> Result<&'a str, KmsError> {
        self.opt(k).ok_or_else(|| KmsError::missing(k))
    }
    fn int(&self, k: &str) -> Option<i64> {
        self.0.get(k).and_then(Value::as_i64)
    }
    fn blob(&self, k: &str) -> Result<Vec<u8>, KmsError> {
        B64.decode(self.str(k)?)
            .map_err(|_| KmsError::validation(format!("{k} is not valid base64")))
    }
    fn context(&self, k: &str) -> Result<Context, KmsError> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(Context::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(v) => Ok((k.clone(), v.to_string())),
                    None => Err(KmsError::validation(
                        "EncryptionContext values must be strings",
                    )),
                })
                .collect(),
            Some(_) => Err(KmsError::validation("EncryptionContext must be a map")),
        }
    }
    fn tags(&self) -> Vec<Tag> {
        self.0
            .get("Tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| Tag {
                key: t["TagKey"].as_str().unwrap_or_default().into(),
                value: t["TagValue"].as_str().unwrap_or_default().into(),
            })
            .collect()
    }
    /// `Limit` (1 to `max`) and `Marker`.
    fn page(&self, max: i64) -> Result<(usize, Option<&'a str>), KmsError> {
        let limit = self.int("Limit").unwrap_or(max.min(100));
        if !(1..=max).contains(&limit) {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {max}"
            )));
        }
        Ok((limit as usize, self.opt("Marker")))
    }
}

/// One page of `items` after `marker` (a key of a previous page), answered
/// in `field` with `Truncated` and `NextMarker`.
fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    (limit, marker): (usize, Option<&str>),
    field: &str,
    shape: impl Fn(&T) -> Value,
) -> Result<Value, KmsError> {
    let start = match marker {
        None => 0,
        Some(m) => items
            .iter()
            .position(|i| key(i).as_str() > m)
            .unwrap_or(items.len()),
    };
    let rest = &items[start..];
    let shown = &rest[..rest.len().min(limit)];
    let mut out = json!({ field: shown.iter().map(shape).collect::<Vec<_>>(), "Truncated": rest.len() > limit });
    if rest.len() > limit
        && let Some(last) = shown.last()
    {
        out["NextMarker"] = json!(key(last));
    }
    Ok(out)
}

fn seconds(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn metadata(k: &KeyRecord, account: &str) -> Value {
    let mut m = json!({
        "AWSAccountId": account,
        "KeyId": k.key_id,
        "Arn": k.arn,
        "CreationDate": seconds(k.created),
        "Enabled": k.state == nimbus_kms::KeyState::Enabled,
        "Description": k.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": k.state.as_str(),
        "Origin": "AWS_KMS",
        "KeyManager": if k.aws_managed { "AWS" } else { "CUSTOMER" },
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false,
    });
    if let Some(d) = k.deletion_date {
        m["DeletionDate"] = seconds(d);
    }
    if let Some(w) = k.pending_window_days {
        m["PendingDeletionWindowInDays"] = json!(w);
    }
    m
}

fn tag_list(tags: &[Tag]) -> Value {
    tags.iter()
        .map(|t| json!({"TagKey": t.key, "TagValue": t.value}))
        .collect()
}

impl KmsApi {
    pub fn new(kms: Arc<Kms>) -> KmsApi {
        KmsApi { kms }
    }

    pub fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let call = match KMS_JSON.call(&req) {
            Ok(c) => c,
            Err(e) => return KMS_JSON.error(&e, request_id),
        };
        let Some(op) = Operation::parse(&call.operation) else {
            let e = ApiError::bad_request(
                "UnknownOperationException",
                format!("{} is not a KMS operation", call.operation),
            );
            return KMS_JSON.error(&e, request_id);
        };
        let lookup = |name: &str| self.kms.describe_key(name).ok().map(|k| k.arn.clone());
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |s| {
            authz::access(op, &call.params, s, &lookup)
        }) {
            return KMS_JSON.error(&KmsError::access_denied(d.message).0, request_id);
        }
        match self.execute(op, &Params(&call.params)) {
            Ok(v) => KMS_JSON.respond(&v, request_id),
            Err(e) => KMS_JSON.error(&e.0, request_id),
        }
    }

    fn execute(&self, op: Operation, p: &Params<'_>) -> Result<Value, KmsError> {
        use Operation::*;
        match op {
            CreateKey => self.create_key(p),
            DescribeKey => self.describe_key(p),
            ListKeys => self.list_keys(p),
            EnableKey => self.set_enabled(p, true),
            DisableKey => self.set_enabled(p, false),
            ScheduleKeyDeletion => self.schedule_key_deletion(p),
            CancelKeyDeletion => self.cancel_key_deletion(p),
            CreateAlias => self.create_alias(p),
            UpdateAlias => self.update_alias(p),
            DeleteAlias => self.delete_alias(p),
            ListAliases => self.list_aliases(p),
            Encrypt => self.encrypt(p),
            Decrypt => self.decrypt(p),
            GenerateDataKey => self.generate_data_key(p, true),
            GenerateDataKeyWithoutPlaintext => self.generate_data_key(p, false),
            ReEncrypt => self.re_encrypt(p),
            GenerateRandom => self.generate_random(p),
            GetKeyPolicy => self.get_key_policy(p),
            PutKeyPolicy => self.put_key_policy(p),
            ListKeyPolicies => self.list_key_policies(p),
            GetKeyRotationStatus => self.get_key_rotation_status(p),
            TagResource => self.tag_resource(p),
            UntagResource => self.untag_resource(p),
            ListResourceTags => self.list_resource_tags(p),
        }
    }

    fn meta(&self, k: &KeyRecord) -> Value {
        json!({"KeyMetadata": metadata(k, self.kms.account())})
    }

    fn create_key(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        let k = self.kms.create_key(NewKey {
            description: p.opt("Description").unwrap_or_default().into(),
            key_usage: p.opt("KeyUsage").map(Into::into),
            key_spec: p
                .opt("KeySpec")
                .or(p.opt("CustomerMasterKeySpec"))
                .map(Into::into),
            policy: p.opt("Policy").map(Into::into),
            tags: p.tags(),
        })?;
        Ok(self.meta(&k))
    }

    fn describe_key(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        let k = self.kms.describe_key(p.str("KeyId")?)?;
        Ok(self.meta(&k))
    }

    fn list_keys(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        page(
            self.kms.list_keys(),
            |k| k.key_id.clone(),
            p.page(1000)?,
            "Keys",
            |k| json!({"KeyId": k.key_id, "KeyArn": k.arn}),
        )
    }

    fn set_enabled(&self, p: &Params<'_>, enabled: bool) -> Result<Value, KmsError> {
        self.kms.set_enabled(p.str("KeyId")?, enabled)?;
        Ok(json!({}))
    }

    fn schedule_key_deletion(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        let k = self
            .kms
            .schedule_key_deletion(p.str("KeyId")?, p.int("PendingWindowInDays"))?;
        Ok(json!({
            "KeyId": k.arn,
            "DeletionDate": seconds(k.deletion_date.unwrap_or_default()),
            "KeyState": k.state.as_str(),
            "PendingWindowInDays": k.pending_window_days,
        }))
    }

    fn cancel_key_deletion(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        let k = self.kms.cancel_key_deletion(p.str("KeyId")?)?;
        Ok(json!({"KeyId": k.arn}))
    }

    fn create_alias(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        self.kms
            .create_alias(p.str("AliasName")?, p.str("TargetKeyId")?)?;
        Ok(json!({}))
    }

    fn update_alias(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        self.kms
            .update_alias(p.str("AliasName")?, p.str("TargetKeyId")?)?;
        Ok(json!({}))
    }

    fn delete_alias(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        self.kms.delete_alias(p.str("AliasName")?)?;
        Ok(json!({}))
    }

    fn list_aliases(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        let aliases = self.kms.list_aliases(p.opt("KeyId"))?;
        page(
            aliases,
            |a| a.name.clone(),
            p.page(100)?,
            "Aliases",
            |a: &Arc<AliasRecord>| {
                json!({
                    "AliasName": a.name,
                    "AliasArn": self.kms.arn(&a.name),
                    "TargetKeyId": a.target_key_id,
                    "CreationDate": seconds(a.created),
                    "LastUpdatedDate": seconds(a.updated),
                })
            },
        )
    }

    fn encrypt(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        check_algorithm(p)?;
        let plain = p.blob("Plaintext")?;
        let (blob, k) =
            self.kms
                .encrypt(p.str("KeyId")?, &plain, &p.context("EncryptionContext")?)?;
        Ok(json!({
            "CiphertextBlob": B64.encode(blob),
            "KeyId": k.arn,
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }))
    }

    fn decrypt(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        check_algorithm(p)?;
        let (plain, k) = self.kms.decrypt(
            &p.blob("CiphertextBlob")?,
            &p.context("EncryptionContext")?,
            p.opt("KeyId"),
        )?;
        Ok(json!({
            "KeyId": k.arn,
            "Plaintext": B64.encode(plain),
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }))
    }

    fn generate_data_key(&self, p: &Params<'_>, with_plaintext: bool) -> Result<Value, KmsError> {
        let bytes = match (p.opt("KeySpec"), p.int("NumberOfBytes")) {
            (Some(_), Some(_)) => {
                return Err(KmsError::validation(
                    "Please specify either number of bytes or key spec.",
                ));
            }
            (Some("AES_256"), None) => 32,
            (Some("AES_128"), None) => 16,
            (Some(s), None) => {
                return Err(KmsError::validation(format!(
                    "1 validation error detected: Value '{s}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
                )));
            }
            (None, Some(n)) => usize::try_from(n).unwrap_or(0),
            (None, None) => {
                return Err(KmsError::validation(
                    "Please specify either number of bytes or key spec.",
                ));
            }
        };
        let (plain, blob, k) =
            self.kms
                .generate_data_key(p.str("KeyId")?, bytes, &p.context("EncryptionContext")?)?;
        let mut out = json!({"CiphertextBlob": B64.encode(blob), "KeyId": k.arn});
        if with_plaintext {
            out["Plaintext"] = json!(B64.encode(plain));
        }
        Ok(out)
    }

    fn re_encrypt(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        let (blob, src, dst) = self.kms.re_encrypt(
            &p.blob("CiphertextBlob")?,
            &p.context("SourceEncryptionContext")?,
            p.opt("SourceKeyId"),
            p.str("DestinationKeyId")?,
            &p.context("DestinationEncryptionContext")?,
        )?;
        Ok(json!({
            "CiphertextBlob": B64.encode(blob),
            "SourceKeyId": src.arn,
            "KeyId": dst.arn,
            "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }))
    }

    fn generate_random(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        let n = p.int("NumberOfBytes").unwrap_or(32);
        if !(1..=1024).contains(&n) {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
            )));
        }
        let mut b = vec![0u8; n as usize];
        nimbus_kms::crypto::random(&mut b)
            .map_err(|e| KmsError::from(nimbus_kms::Error::Crypto(e.to_string())))?;
        Ok(json!({"Plaintext": B64.encode(b)}))
    }

    fn get_key_policy(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        let policy = self.kms.key_policy(p.str("KeyId")?, p.opt("PolicyName"))?;
        Ok(json!({"Policy": policy, "PolicyName": "default"}))
    }

    fn put_key_policy(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        self.kms
            .put_key_policy(p.str("KeyId")?, p.opt("PolicyName"), p.str("Policy")?)?;
        Ok(json!({}))
    }

    fn list_key_policies(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        self.kms.describe_key(p.str("KeyId")?)?;
        Ok(json!({"PolicyNames": ["default"], "Truncated": false}))
    }

    fn get_key_rotation_status(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        let k = self.kms.describe_key(p.str("KeyId")?)?;
        Ok(json!({"KeyRotationEnabled": false, "KeyId": k.arn}))
    }

    fn tag_resource(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        self.kms.tag(p.str("KeyId")?, p.tags())?;
        Ok(json!({}))
    }

    fn untag_resource(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        let keys: Vec<String> =
            p.0.get("TagKeys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str().map(Into::into))
                .collect();
        self.kms.untag(p.str("KeyId")?, &keys)?;
        Ok(json!({}))
    }

    fn list_resource_tags(&self, p: &Params<'_>) -> Result<Value, KmsError> {
        let tags = self.kms.tags(p.str("KeyId")?)?;
        let (limit, marker) = p.page(50)?;
        let start = marker.and_then(|m| m.parse::<usize>().ok()).unwrap_or(0);
        let rest = tags.get(start..).unwrap_or_default();
        let mut out = json!({
            "Tags": tag_list(&rest[..rest.len().min(limit)]),
            "Truncated": rest.len() > limit,
        });
        if rest.len() > limit {
            out["NextMarker"] = json!((start + limit).to_string());
        }
        Ok(out)
    }
}

fn check_algorithm(p: &Params<'_>) -> Result<(), KmsError> {
    match p.opt("EncryptionAlgorithm") {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(a) => Err(KmsError(ApiError::bad_request(
            "InvalidKeyUsageException",
            format!("The encryption algorithm {a} is not supported by a symmetric key"),
        ))),
    }
}

#[cfg(test)]
mod tests;
