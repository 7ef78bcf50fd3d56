//! The Secrets Manager API in its JSON protocol (`X-Amz-Target:
//! secretsmanager.<Operation>`, `application/x-amz-json-1.1`): each request
//! is parsed into an [`Operation`], authorized, run on the secrets service
//! and answered in Secrets Manager's shapes and error codes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::{Request, Response};
use nimbus_api_common::json::AwsJson;
use nimbus_api_common::{ApiError, BoxFuture, Service};
use nimbus_secrets::{
    Fetched, ListQuery, NewSecret, PasswordOptions, Rotation, SecretChange, SecretRecord,
    SecretValue, Secrets, Tag, Written,
};
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub mod authz;
mod error;
pub use error::SecretsError;

/// Secrets Manager's awsJson framing.
pub const SECRETS_JSON: AwsJson = AwsJson {
    target_prefixes: &["secretsmanager"],
    error_namespace: "",
    content_type: "application/x-amz-json-1.1",
    crc32: false,
};

macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// A Secrets Manager operation, parsed from `X-Amz-Target`.
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
    CreateSecret, GetSecretValue, BatchGetSecretValue, PutSecretValue, UpdateSecret,
    UpdateSecretVersionStage, DescribeSecret, ListSecrets, ListSecretVersionIds, DeleteSecret,
    RestoreSecret, GetRandomPassword, TagResource, UntagResource, PutResourcePolicy,
    GetResourcePolicy, DeleteResourcePolicy, RotateSecret,
}

pub struct SecretsManagerApi {
    secrets: Arc<Secrets>,
}

impl Service for SecretsManagerApi {
    fn signing_name(&self) -> &'static str {
        "secretsmanager"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        SECRETS_JSON.owns_request(req)
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { SecretsManagerApi::handle(self, req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        SECRETS_JSON.error(err, request_id)
    }
}

/// The members of a request.
struct Params<'a>(&'a Value);

impl<'a> Params<'a> {
    fn opt(&self, k: &str) -> Option<&'a str> {
        self.0.get(k).and_then(Value::as_str)
    }
    fn str(&self, k: &str) -> Result<&'a str, SecretsError> {
        self.opt(k).ok_or_else(|| SecretsError::missing(k))
    }
    fn string(&self, k: &str) -> Option<String> {
        self.opt(k).map(Into::into)
    }
    fn int(&self, k: &str) -> Option<i64> {
        self.0.get(k).and_then(Value::as_i64)
    }
    fn flag(&self, k: &str) -> Option<bool> {
        self.0.get(k).and_then(Value::as_bool)
    }
    fn strings(&self, k: &str) -> Option<Vec<String>> {
        self.0.get(k).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(Into::into))
                .collect()
        })
    }
    /// `SecretString` or `SecretBinary` (base64), not both.
    fn value(&self) -> Result<Option<SecretValue>, SecretsError> {
        match (self.opt("SecretString"), self.opt("SecretBinary")) {
            (Some(_), Some(_)) => Err(SecretsError::invalid(
                "You can't specify both a binary secret value and a string secret value in the same secret.",
            )),
            (Some(s), None) => Ok(Some(SecretValue::String(s.into()))),
            (None, Some(b)) => B64
                .decode(b)
                .map(|b| Some(SecretValue::Binary(b)))
                .map_err(|_| SecretsError::invalid("SecretBinary is not valid base64.")),
            (None, None) => Ok(None),
        }
    }
    fn tags(&self) -> Vec<Tag> {
        self.0
            .get("Tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| Tag {
                key: t["Key"].as_str().unwrap_or_default().into(),
                value: t["Value"].as_str().unwrap_or_default().into(),
            })
            .collect()
    }
    fn filters(&self) -> Vec<(String, Vec<String>)> {
        self.0
            .get("Filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|f| {
                let values = f["Values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(Into::into))
                    .collect();
                (f["Key"].as_str().unwrap_or_default().to_string(), values)
            })
            .collect()
    }
}

fn seconds(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn stages_map(s: &SecretRecord) -> Value {
    Value::Object(
        s.versions
            .iter()
            .filter(|v| !v.stages.is_empty())
            .map(|v| (v.id.clone(), json!(v.stages)))
            .collect::<Map<_, _>>(),
    )
}

/// The members `DescribeSecret` and `ListSecrets` share.
fn describe(s: &SecretRecord, versions_key: &str) -> Value {
    let mut o = json!({
        "ARN": s.arn,
        "Name": s.name,
        "CreatedDate": seconds(s.created),
        "LastChangedDate": seconds(s.last_changed),
        "RotationEnabled": s.rotation_enabled,
        "Tags": s.tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect::<Vec<_>>(),
        versions_key: stages_map(s),
    });
    let mut set = |k: &str, v: Value| {
        o[k] = v;
    };
    if let Some(d) = &s.description {
        set("Description", json!(d));
    }
    if let Some(k) = &s.kms_key_id {
        set("KmsKeyId", json!(k));
    }
    if let Some(d) = s.last_accessed {
        set("LastAccessedDate", seconds(d));
    }
    if let Some(d) = s.deleted_at {
        set("DeletedDate", seconds(d));
    }
    if let Some(d) = s.last_rotated {
        set("LastRotatedDate", seconds(d));
    }
    if let Some(r) = &s.rotation {
        if let Some(l) = &r.lambda_arn {
            set("RotationLambdaARN", json!(l));
        }
        let mut rules = Map::new();
        if let Some(d) = r.automatically_after_days {
            rules.insert("AutomaticallyAfterDays".into(), json!(d));
        }
        if let Some(d) = &r.duration {
            rules.insert("Duration".into(), json!(d));
        }
        if let Some(e) = &r.schedule_expression {
            rules.insert("ScheduleExpression".into(), json!(e));
        }
        set("RotationRules", Value::Object(rules));
    }
    o
}

fn fetched(f: &Fetched) -> Value {
    let mut o = json!({
        "ARN": f.arn,
        "Name": f.name,
        "VersionId": f.version_id,
        "VersionStages": f.stages,
        "CreatedDate": seconds(f.created),
    });
    match &f.value {
        SecretValue::String(s) => o["SecretString"] = json!(s),
        SecretValue::Binary(b) => o["SecretBinary"] = json!(B64.encode(b)),
    }
    o
}

fn written(w: &Written) -> Value {
    let mut o = json!({"ARN": w.arn, "Name": w.name});
    if let Some(v) = &w.version_id {
        o["VersionId"] = json!(v);
    }
    o
}

impl SecretsManagerApi {
    pub fn new(secrets: Arc<Secrets>) -> SecretsManagerApi {
        SecretsManagerApi { secrets }
    }

    pub fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let call = match SECRETS_JSON.call(&req) {
            Ok(c) => c,
            Err(e) => return SECRETS_JSON.error(&e, request_id),
        };
        let Some(op) = Operation::parse(&call.operation) else {
            let e = ApiError::bad_request(
                "UnknownOperationException",
                format!("{} is not a Secrets Manager operation", call.operation),
            );
            return SECRETS_JSON.error(&e, request_id);
        };
        let lookup = |id: &str| {
            let s = self.secrets.find(id).ok()?;
            let key = s
                .kms_key_id
                .as_deref()
                .filter(|k| !k.starts_with("alias/aws/"));
            let scope = nimbus_api_common::authz::Scope::new(
                s.arn.split(':').nth(4).unwrap_or_default(),
                s.arn.split(':').nth(3).unwrap_or_default(),
            );
            Some((s.arn.clone(), key.map(|k| authz::kms_arn(k, &scope))))
        };
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |s| {
            authz::access(op, &call.params, s, &lookup)
        }) {
            let e = SecretsError::new("AccessDeniedException", d.message);
            return SECRETS_JSON.error(&e.0, request_id);
        }
        // Each secret a batch returns is read as GetSecretValue would read it.
        let may_read = |id: &str| {
            nimbus_api_common::authz::authorize(req.extensions(), |s| {
                authz::access(
                    Operation::GetSecretValue,
                    &serde_json::json!({ "SecretId": id }),
                    s,
                    &lookup,
                )
            })
            .map_err(|d| d.message)
        };
        let result = if op == Operation::BatchGetSecretValue {
            self.batch_get_secret_value(&Params(&call.params), &may_read)
        } else {
            self.execute(op, &Params(&call.params))
        };
        match result {
            Ok(v) => SECRETS_JSON.respond(&v, request_id),
            Err(e) => SECRETS_JSON.error(&e.0, request_id),
        }
    }

    fn execute(&self, op: Operation, p: &Params<'_>) -> Result<Value, SecretsError> {
        use Operation::*;
        match op {
            CreateSecret => self.create_secret(p),
            GetSecretValue => self.get_secret_value(p),
            BatchGetSecretValue => self.batch_get_secret_value(p, &|_| Ok(())),
            PutSecretValue => self.put_secret_value(p),
            UpdateSecret => self.update_secret(p),
            UpdateSecretVersionStage => self.update_secret_version_stage(p),
            DescribeSecret => self.describe_secret(p),
            ListSecrets => self.list_secrets(p),
            ListSecretVersionIds => self.list_secret_version_ids(p),
            DeleteSecret => self.delete_secret(p),
            RestoreSecret => self.restore_secret(p),
            GetRandomPassword => self.get_random_password(p),
            TagResource => self.tag_resource(p),
            UntagResource => self.untag_resource(p),
            PutResourcePolicy => self.put_resource_policy(p),
            GetResourcePolicy => self.get_resource_policy(p),
            DeleteResourcePolicy => self.delete_resource_policy(p),
            RotateSecret => self.rotate_secret(p),
        }
    }

    fn create_secret(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let w = self.secrets.create(NewSecret {
            name: p.str("Name")?.into(),
            description: p.string("Description"),
            kms_key_id: p.string("KmsKeyId"),
            value: p.value()?,
            token: p.string("ClientRequestToken"),
            tags: p.tags(),
        })?;
        Ok(written(&w))
    }

    fn get_secret_value(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let f = self.secrets.get_value(
            p.str("SecretId")?,
            p.opt("VersionId"),
            p.opt("VersionStage"),
        )?;
        Ok(fetched(&f))
    }

    /// `may_read` refuses a secret the caller may not read (its message).
    fn batch_get_secret_value(
        &self,
        p: &Params<'_>,
        may_read: &dyn Fn(&str) -> Result<(), String>,
    ) -> Result<Value, SecretsError> {
        let ids = p.strings("SecretIdList");
        let filters = p.filters();
        let (ids, next) = match (ids, filters.is_empty()) {
            (Some(_), false) => {
                return Err(SecretsError::invalid(
                    "Either 'SecretIdList' or 'Filters' must be provided, not both.",
                ));
            }
            (Some(ids), true) => {
                if ids.is_empty() || ids.len() > 20 {
                    return Err(SecretsError::invalid(
                        "SecretIdList must name 1 to 20 secrets.",
                    ));
                }
                (ids, None)
            }
            (None, true) => {
                return Err(SecretsError::invalid(
                    "Either 'SecretIdList' or 'Filters' must be provided.",
                ));
            }
            (None, false) => {
                let (page, next) = self.secrets.list(&ListQuery {
                    filters,
                    max_results: p.int("MaxResults").or(Some(20)),
                    next_token: p.string("NextToken"),
                    ..ListQuery::default()
                })?;
                (page.iter().map(|s| s.arn.clone()).collect(), next)
            }
        };
        let mut values = Vec::new();
        let mut errors = Vec::new();
        for id in ids {
            if let Err(message) = may_read(&id) {
                errors.push(json!({"SecretId": id, "ErrorCode": "AccessDeniedException", "Message": message}));
                continue;
            }
            match self.secrets.get_value(&id, None, None) {
                Ok(f) => values.push(fetched(&f)),
                Err(e) => {
                    let e = SecretsError::from(e).0;
                    errors.push(json!({"SecretId": id, "ErrorCode": e.code, "Message": e.message}));
                }
            }
        }
        let mut out = json!({"SecretValues": values, "Errors": errors});
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        Ok(out)
    }

    fn put_secret_value(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let Some(value) = p.value()? else {
            return Err(SecretsError::invalid(
                "You must provide either SecretString or SecretBinary.",
            ));
        };
        let w = self.secrets.put_value(
            p.str("SecretId")?,
            p.string("ClientRequestToken"),
            value,
            p.strings("VersionStages"),
        )?;
        let mut out = written(&w);
        out["VersionStages"] = json!(w.stages);
        Ok(out)
    }

    fn update_secret(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let w = self.secrets.update(
            p.str("SecretId")?,
            SecretChange {
                description: p.string("Description"),
                kms_key_id: p.string("KmsKeyId"),
                value: p.value()?,
                token: p.string("ClientRequestToken"),
            },
        )?;
        Ok(written(&w))
    }

    fn update_secret_version_stage(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let w = self.secrets.update_stage(
            p.str("SecretId")?,
            p.str("VersionStage")?,
            p.opt("MoveToVersionId"),
            p.opt("RemoveFromVersionId"),
        )?;
        Ok(json!({"ARN": w.arn, "Name": w.name}))
    }

    fn describe_secret(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let s = self.secrets.describe(p.str("SecretId")?)?;
        Ok(describe(&s, "VersionIdsToStages"))
    }

    fn list_secrets(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let descending = match p.opt("SortOrder") {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(o) => {
                return Err(SecretsError::invalid(format!(
                    "SortOrder must be asc or desc, not {o}."
                )));
            }
        };
        let (page, next) = self.secrets.list(&ListQuery {
            filters: p.filters(),
            include_planned_deletion: p.flag("IncludePlannedDeletion").unwrap_or(false),
            max_results: p.int("MaxResults"),
            next_token: p.string("NextToken"),
            descending,
        })?;
        let list: Vec<Value> = page
            .iter()
            .map(|s| describe(s, "SecretVersionsToStages"))
            .collect();
        let mut out = json!({"SecretList": list});
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        Ok(out)
    }

    fn list_secret_version_ids(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let s = self.secrets.describe(p.str("SecretId")?)?;
        let deprecated = p.flag("IncludeDeprecated").unwrap_or(false);
        let max = p.int("MaxResults").unwrap_or(100);
        if !(1..=100).contains(&max) {
            return Err(SecretsError::invalid(
                "MaxResults must be between 1 and 100.",
            ));
        }
        let versions: Vec<&nimbus_secrets::Version> = s
            .versions
            .iter()
            .filter(|v| deprecated || !v.stages.is_empty())
            .collect();
        let start = match p.opt("NextToken") {
            None => 0,
            Some(t) => t
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= versions.len())
                .ok_or_else(|| {
                    SecretsError::new("InvalidNextTokenException", "The NextToken is not valid.")
                })?,
        };
        let end = (start + max as usize).min(versions.len());
        let list: Vec<Value> = versions[start..end]
            .iter()
            .map(|v| {
                json!({
                    "VersionId": v.id,
                    "VersionStages": v.stages,
                    "CreatedDate": seconds(v.created),
                    "KmsKeyIds": v.kms_key_ids,
                })
            })
            .collect();
        let mut out = json!({"ARN": s.arn, "Name": s.name, "Versions": list});
        if end < versions.len() {
            out["NextToken"] = json!(end.to_string());
        }
        Ok(out)
    }

    fn delete_secret(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let (s, date) = self.secrets.delete(
            p.str("SecretId")?,
            p.int("RecoveryWindowInDays"),
            p.flag("ForceDeleteWithoutRecovery").unwrap_or(false),
        )?;
        Ok(json!({"ARN": s.arn, "Name": s.name, "DeletionDate": seconds(date)}))
    }

    fn restore_secret(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let s = self.secrets.restore(p.str("SecretId")?)?;
        Ok(json!({"ARN": s.arn, "Name": s.name}))
    }

    fn get_random_password(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let d = PasswordOptions::default();
        let o = PasswordOptions {
            length: p.int("PasswordLength").unwrap_or(d.length),
            exclude_characters: p.string("ExcludeCharacters").unwrap_or_default(),
            exclude_numbers: p.flag("ExcludeNumbers").unwrap_or(false),
            exclude_punctuation: p.flag("ExcludePunctuation").unwrap_or(false),
            exclude_uppercase: p.flag("ExcludeUppercase").unwrap_or(false),
            exclude_lowercase: p.flag("ExcludeLowercase").unwrap_or(false),
            include_space: p.flag("IncludeSpace").unwrap_or(false),
            require_each_included_type: p.flag("RequireEachIncludedType").unwrap_or(true),
        };
        Ok(json!({"RandomPassword": nimbus_secrets::random_password(&o)?}))
    }

    fn tag_resource(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        self.secrets.tag(p.str("SecretId")?, p.tags())?;
        Ok(json!({}))
    }

    fn untag_resource(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let keys = p.strings("TagKeys").unwrap_or_default();
        self.secrets.untag(p.str("SecretId")?, &keys)?;
        Ok(json!({}))
    }

    fn put_resource_policy(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let s = self
            .secrets
            .put_policy(p.str("SecretId")?, p.str("ResourcePolicy")?)?;
        Ok(json!({"ARN": s.arn, "Name": s.name}))
    }

    fn get_resource_policy(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let s = self.secrets.describe(p.str("SecretId")?)?;
        let mut out = json!({"ARN": s.arn, "Name": s.name});
        if let Some(policy) = &s.policy {
            out["ResourcePolicy"] = json!(policy);
        }
        Ok(out)
    }

    fn delete_resource_policy(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let s = self.secrets.delete_policy(p.str("SecretId")?)?;
        Ok(json!({"ARN": s.arn, "Name": s.name}))
    }

    fn rotate_secret(&self, p: &Params<'_>) -> Result<Value, SecretsError> {
        let rules = p.0.get("RotationRules");
        let rule = |k: &str| rules.and_then(|r| r.get(k));
        let w = self.secrets.rotate(
            p.str("SecretId")?,
            p.string("ClientRequestToken"),
            Rotation {
                lambda_arn: p.string("RotationLambdaARN"),
                automatically_after_days: rule("AutomaticallyAfterDays").and_then(Value::as_i64),
                duration: rule("Duration").and_then(Value::as_str).map(Into::into),
                schedule_expression: rule("ScheduleExpression")
                    .and_then(Value::as_str)
                    .map(Into::into),
            },
            p.flag("RotateImmediately").unwrap_or(true),
        )?;
        Ok(written(&w))
    }
}

#[cfg(test)]
mod tests;
