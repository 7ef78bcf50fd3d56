//! The SSM Parameter Store API in its JSON protocol (`X-Amz-Target:
//! AmazonSSM.<Operation>`, `application/x-amz-json-1.1`): each request is
//! parsed into an [`Operation`], authorized, run on the parameter service and
//! answered in SSM's shapes and error codes. A SecureString read without
//! decryption answers its ciphertext (base64), as SSM does.

use bytes::Bytes;
use http::{Request, Response};
use nimbus_api_common::json::AwsJson;
use nimbus_api_common::{ApiError, BoxFuture, Service};
use nimbus_parameters::{Filter, Kind, NewParameter, Parameters, Shown, Tag};
use serde_json::{Value, json};
use std::sync::Arc;

pub mod authz;
mod error;
pub use error::SsmError;

/// SSM's awsJson framing.
pub const SSM_JSON: AwsJson = AwsJson {
    target_prefixes: &["AmazonSSM"],
    error_namespace: "",
    content_type: "application/x-amz-json-1.1",
    crc32: false,
};

macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// A Parameter Store operation, parsed from `X-Amz-Target`.
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
    PutParameter, GetParameter, GetParameters, GetParametersByPath, GetParameterHistory,
    DeleteParameter, DeleteParameters, LabelParameterVersion, UnlabelParameterVersion,
    DescribeParameters, AddTagsToResource, RemoveTagsFromResource, ListTagsForResource,
}

pub struct SsmApi {
    parameters: Arc<Parameters>,
}

impl Service for SsmApi {
    fn signing_name(&self) -> &'static str {
        "ssm"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        SSM_JSON.owns_request(req)
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { SsmApi::handle(self, req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        SSM_JSON.error(err, request_id)
    }
}

/// The members of a request.
struct Params<'a>(&'a Value);

impl<'a> Params<'a> {
    fn opt(&self, k: &str) -> Option<&'a str> {
        self.0.get(k).and_then(Value::as_str)
    }
    fn str(&self, k: &str) -> Result<&'a str, SsmError> {
        self.opt(k).ok_or_else(|| SsmError::missing(k))
    }
    fn string(&self, k: &str) -> Option<String> {
        self.opt(k).map(Into::into)
    }
    fn int(&self, k: &str) -> Option<i64> {
        self.0.get(k).and_then(Value::as_i64)
    }
    fn flag(&self, k: &str) -> bool {
        self.0.get(k).and_then(Value::as_bool).unwrap_or(false)
    }
    fn strings(&self, k: &str) -> Result<Vec<String>, SsmError> {
        let Some(a) = self.0.get(k).and_then(Value::as_array) else {
            return Err(SsmError::missing(k));
        };
        Ok(a.iter()
            .filter_map(|v| v.as_str().map(Into::into))
            .collect())
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
    /// `ParameterFilters` (`Key`, `Option`, `Values`), and for
    /// `DescribeParameters` the older `Filters` (`Key`, `Values`).
    fn filters(&self) -> Vec<Filter> {
        let read = |k: &str| {
            self.0
                .get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|f| Filter {
                    key: f["Key"].as_str().unwrap_or_default().into(),
                    option: f["Option"].as_str().map(Into::into),
                    values: f["Values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(Into::into))
                        .collect(),
                })
                .collect::<Vec<_>>()
        };
        let mut all = read("ParameterFilters");
        all.extend(read("Filters"));
        all
    }
}

fn seconds(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// The ARN of the customer-managed KMS key a SecureString is encrypted
/// under (none for the `aws/ssm` key, which any caller may use).
fn customer_key(s: &Shown) -> Option<String> {
    let key = s
        .version
        .key_id
        .clone()
        .filter(|k| !k.starts_with("alias/aws/"))?;
    let parts: Vec<&str> = s.arn.split(':').collect();
    let scope = nimbus_api_common::authz::Scope::new(*parts.get(4)?, *parts.get(3)?);
    Some(if key.starts_with("arn:") {
        key
    } else if key.starts_with("alias/") {
        scope.arn("kms", &key)
    } else {
        scope.arn("kms", &format!("key/{key}"))
    })
}

fn parameter(s: &Shown) -> Value {
    let mut o = json!({
        "Name": s.name,
        "Type": s.version.kind.as_str(),
        "Value": s.version.value,
        "Version": s.version.version,
        "LastModifiedDate": seconds(s.version.modified),
        "ARN": s.arn,
        "DataType": s.version.data_type,
    });
    if let Some(sel) = &s.selector {
        o["Selector"] = json!(sel);
    }
    o
}

fn history(s: &Shown) -> Value {
    let v = &s.version;
    let mut o = json!({
        "Name": s.name,
        "Type": v.kind.as_str(),
        "Value": v.value,
        "Version": v.version,
        "LastModifiedDate": seconds(v.modified),
        "LastModifiedUser": v.user,
        "Labels": v.labels,
        "Tier": v.tier,
        "Policies": [],
        "DataType": v.data_type,
    });
    for (k, val) in [
        ("KeyId", &v.key_id),
        ("Description", &v.description),
        ("AllowedPattern", &v.allowed_pattern),
    ] {
        if let Some(x) = val {
            o[k] = json!(x);
        }
    }
    o
}

fn with_token(mut o: Value, next: Option<String>) -> Value {
    if let Some(n) = next {
        o["NextToken"] = json!(n);
    }
    o
}

impl SsmApi {
    pub fn new(parameters: Arc<Parameters>) -> SsmApi {
        SsmApi { parameters }
    }

    pub fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let call = match SSM_JSON.call(&req) {
            Ok(c) => c,
            Err(e) => return SSM_JSON.error(&e, request_id),
        };
        let Some(op) = Operation::parse(&call.operation) else {
            let e = ApiError::bad_request(
                "UnknownOperationException",
                format!("{} is not a Parameter Store operation", call.operation),
            );
            return SSM_JSON.error(&e, request_id);
        };
        let secure_key = |name: &str| customer_key(&self.parameters.get(name, false).ok()?);
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |s| {
            authz::access(op, &call.params, s, &secure_key)
        }) {
            let e = ApiError::bad_request("AccessDeniedException", d.message);
            return SSM_JSON.error(&e, request_id);
        }
        match self.execute(op, &Params(&call.params), req.extensions()) {
            Ok(v) => SSM_JSON.respond(&v, request_id),
            Err(e) => SSM_JSON.error(&e.0, request_id),
        }
    }

    fn execute(
        &self,
        op: Operation,
        p: &Params<'_>,
        request: &http::Extensions,
    ) -> Result<Value, SsmError> {
        use Operation::*;
        match op {
            PutParameter => self.put_parameter(p),
            GetParameter => self.get_parameter(p),
            GetParameters => self.get_parameters(p),
            GetParametersByPath => self.get_parameters_by_path(p, request),
            GetParameterHistory => self.get_parameter_history(p),
            DeleteParameter => self.delete_parameter(p),
            DeleteParameters => self.delete_parameters(p),
            LabelParameterVersion => self.label_parameter_version(p),
            UnlabelParameterVersion => self.unlabel_parameter_version(p),
            DescribeParameters => self.describe_parameters(p),
            AddTagsToResource => self.add_tags_to_resource(p),
            RemoveTagsFromResource => self.remove_tags_from_resource(p),
            ListTagsForResource => self.list_tags_for_resource(p),
        }
    }

    fn put_parameter(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        let kind = p.opt("Type").map(Kind::parse).transpose()?;
        if p.0.get("Policies").is_some_and(|v| !v.is_null()) {
            return Err(SsmError(ApiError::bad_request(
                "InvalidPolicyTypeException",
                "Parameter policies are not supported.",
            )));
        }
        let (version, tier) = self.parameters.put(NewParameter {
            name: p.str("Name")?.into(),
            value: p.str("Value")?.into(),
            kind,
            key_id: p.string("KeyId"),
            overwrite: p.flag("Overwrite"),
            description: p.string("Description"),
            allowed_pattern: p.string("AllowedPattern"),
            tier: p.string("Tier"),
            data_type: p.string("DataType"),
            tags: p.tags(),
            user: self.parameters.root_user(),
        })?;
        Ok(json!({"Version": version, "Tier": tier}))
    }

    fn get_parameter(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        let s = self
            .parameters
            .get(p.str("Name")?, p.flag("WithDecryption"))?;
        Ok(json!({"Parameter": parameter(&s)}))
    }

    fn get_parameters(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        let (found, invalid) = self
            .parameters
            .get_many(&p.strings("Names")?, p.flag("WithDecryption"))?;
        Ok(json!({
            "Parameters": found.iter().map(parameter).collect::<Vec<_>>(),
            "InvalidParameters": invalid,
        }))
    }

    fn get_parameters_by_path(
        &self,
        p: &Params<'_>,
        request: &http::Extensions,
    ) -> Result<Value, SsmError> {
        let decrypt = p.flag("WithDecryption");
        let (found, next) = self.parameters.by_path(
            p.str("Path")?,
            p.flag("Recursive"),
            &p.filters(),
            decrypt,
            p.int("MaxResults"),
            p.opt("NextToken"),
        )?;
        // Which SecureStrings a path holds is known only now: each one under
        // a customer key needs `kms:Decrypt` on that key.
        if decrypt {
            nimbus_api_common::authz::authorize(request, |_| {
                found
                    .iter()
                    .filter_map(customer_key)
                    .map(|k| nimbus_api_common::authz::Access::new("kms:Decrypt", k))
                    .collect()
            })
            .map_err(|d| SsmError(ApiError::bad_request("AccessDeniedException", d.message)))?;
        }
        Ok(with_token(
            json!({"Parameters": found.iter().map(parameter).collect::<Vec<_>>()}),
            next,
        ))
    }

    fn get_parameter_history(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        let (found, next) = self.parameters.history(
            p.str("Name")?,
            p.flag("WithDecryption"),
            p.int("MaxResults"),
            p.opt("NextToken"),
        )?;
        Ok(with_token(
            json!({"Parameters": found.iter().map(history).collect::<Vec<_>>()}),
            next,
        ))
    }

    fn delete_parameter(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        self.parameters.delete(p.str("Name")?)?;
        Ok(json!({}))
    }

    fn delete_parameters(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        let (deleted, invalid) = self.parameters.delete_many(&p.strings("Names")?)?;
        Ok(json!({"DeletedParameters": deleted, "InvalidParameters": invalid}))
    }

    fn label_parameter_version(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        let version = p.int("ParameterVersion").map(|v| v.max(0) as u64);
        let (invalid, version) =
            self.parameters
                .label(p.str("Name")?, version, &p.strings("Labels")?)?;
        Ok(json!({"InvalidLabels": invalid, "ParameterVersion": version}))
    }

    fn unlabel_parameter_version(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        let Some(version) = p.int("ParameterVersion") else {
            return Err(SsmError::missing("ParameterVersion"));
        };
        let (removed, invalid) = self.parameters.unlabel(
            p.str("Name")?,
            version.max(0) as u64,
            &p.strings("Labels")?,
        )?;
        Ok(json!({"RemovedLabels": removed, "InvalidLabels": invalid}))
    }

    fn describe_parameters(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        let (found, next) =
            self.parameters
                .describe(&p.filters(), p.int("MaxResults"), p.opt("NextToken"))?;
        let list: Vec<Value> = found
            .iter()
            .map(|rec| {
                let v = rec.latest();
                let mut o = json!({
                    "Name": rec.name,
                    "ARN": rec.arn,
                    "Type": v.kind.as_str(),
                    "LastModifiedDate": seconds(v.modified),
                    "LastModifiedUser": v.user,
                    "Version": v.version,
                    "Tier": v.tier,
                    "Policies": [],
                    "DataType": v.data_type,
                });
                for (k, val) in [
                    ("KeyId", &v.key_id),
                    ("Description", &v.description),
                    ("AllowedPattern", &v.allowed_pattern),
                ] {
                    if let Some(x) = val {
                        o[k] = json!(x);
                    }
                }
                o
            })
            .collect();
        Ok(with_token(json!({"Parameters": list}), next))
    }

    /// The parameter a tagging request names (`ResourceType` must be
    /// `Parameter`).
    fn resource<'a>(&self, p: &Params<'a>) -> Result<&'a str, SsmError> {
        match p.str("ResourceType")? {
            "Parameter" => p.str("ResourceId"),
            other => Err(SsmError(ApiError::bad_request(
                "InvalidResourceType",
                format!("The resource type {other} is not valid: Nimbus tags parameters"),
            ))),
        }
    }

    fn add_tags_to_resource(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        self.parameters.add_tags(self.resource(p)?, p.tags())?;
        Ok(json!({}))
    }

    fn remove_tags_from_resource(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        self.parameters
            .remove_tags(self.resource(p)?, &p.strings("TagKeys")?)?;
        Ok(json!({}))
    }

    fn list_tags_for_resource(&self, p: &Params<'_>) -> Result<Value, SsmError> {
        let tags = self.parameters.tags(self.resource(p)?)?;
        Ok(json!({
            "TagList": tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect::<Vec<_>>(),
        }))
    }
}

#[cfg(test)]
mod tests;
