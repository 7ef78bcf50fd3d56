//! The Lambda API (`2015-03-31`) over REST-JSON: each request is parsed into an
//! [`Operation`], run against the functions service or the [`Invoker`], and its
//! result or error written in Lambda's wire shapes.

pub mod authz;
mod code_signing;
mod concurrency;
mod error;
mod event_configs;
mod functions;
mod invoke;
mod layers;
mod mappings;
mod settings;
mod streaming;
mod tags;
mod urls;
mod versions;
mod wire;

use base64::Engine as _;
use bytes::Bytes;
use error::{svc, trg};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use nimbus_api_common::ApiError;
use nimbus_api_common::sigv4::percent_decode;
use nimbus_functions::{CreateFunction, Functions, UpdateCode, UpdateConfiguration};
use nimbus_invoke::{InvocationType, InvokeRequest, Invoker};
use nimbus_model::FunctionRef;
use serde_json::{Value, json};
use std::sync::Arc;

/// Lambda returns at most 50 functions per `ListFunctions` page.
const LIST_PAGE: usize = 50;

/// A Lambda API call, parsed and validated as far as the wire allows.
#[derive(Debug)]
pub enum Operation {
    TagResource {
        name: String,
        tags: std::collections::BTreeMap<String, String>,
    },
    UntagResource {
        name: String,
        keys: Vec<String>,
    },
    ListTags {
        name: String,
    },
    /// The bool is `Publish`: publish a version right after.
    CreateFunction(CreateFunction, bool),
    PublishVersion {
        name: String,
        input: wire::PublishVersionIn,
    },
    ListVersionsByFunction {
        name: String,
        marker: Option<String>,
        max_items: usize,
    },
    CreateAlias {
        name: String,
        input: nimbus_functions::AliasInput,
    },
    GetAlias {
        name: String,
        alias: String,
    },
    UpdateAlias {
        name: String,
        input: nimbus_functions::AliasInput,
    },
    DeleteAlias {
        name: String,
        alias: String,
    },
    ListAliases {
        name: String,
    },
    PutProvisionedConcurrencyConfig {
        name: String,
        qualifier: String,
        requested: i64,
    },
    GetProvisionedConcurrencyConfig {
        name: String,
        qualifier: String,
    },
    DeleteProvisionedConcurrencyConfig {
        name: String,
        qualifier: String,
    },
    ListProvisionedConcurrencyConfigs {
        name: String,
    },
    GetFunction {
        name: String,
        qualifier: Option<String>,
    },
    GetFunctionConfiguration {
        name: String,
        qualifier: Option<String>,
    },
    ListFunctions {
        marker: Option<String>,
        max_items: usize,
        /// `FunctionVersion=ALL`: published versions too.
        all_versions: bool,
    },
    UpdateFunctionCode {
        name: String,
        update: UpdateCode,
        publish: bool,
    },
    UpdateFunctionConfiguration {
        name: String,
        update: UpdateConfiguration,
    },
    DeleteFunction {
        name: String,
        qualifier: Option<String>,
    },
    Invoke(InvokeRequest),
    GetAccountSettings,
    PutFunctionConcurrency {
        name: String,
        reserved: i64,
    },
    GetFunctionConcurrency {
        name: String,
    },
    DeleteFunctionConcurrency {
        name: String,
    },
    PutFunctionEventInvokeConfig {
        name: String,
        input: nimbus_functions::EventInvokeConfigInput,
        merge: bool,
    },
    GetFunctionEventInvokeConfig {
        name: String,
    },
    DeleteFunctionEventInvokeConfig {
        name: String,
    },
    CreateEventSourceMapping(nimbus_triggers::MappingInput),
    GetEventSourceMapping(String),
    UpdateEventSourceMapping(String, nimbus_triggers::MappingInput),
    DeleteEventSourceMapping(String),
    ListEventSourceMappings {
        function: Option<String>,
        source: Option<String>,
        marker: Option<String>,
        max_items: usize,
    },
    ListFunctionEventInvokeConfigs {
        name: String,
    },
    PublishLayerVersion(nimbus_functions::layers::PublishLayer),
    /// Also `GetLayerVersionByArn`.
    GetLayerVersion {
        name: String,
        version: u32,
    },
    ListLayers(layers::ListFilter),
    ListLayerVersions {
        name: String,
        filter: layers::ListFilter,
    },
    DeleteLayerVersion {
        name: String,
        version: u32,
    },
    AddLayerVersionPermission {
        name: String,
        version: u32,
        grant: nimbus_functions::layers::LayerGrant,
    },
    RemoveLayerVersionPermission {
        name: String,
        version: u32,
        statement_id: String,
        revision_id: Option<String>,
    },
    GetLayerVersionPolicy {
        name: String,
        version: u32,
    },
    PutFunctionRecursionConfig {
        name: String,
        recursive_loop: String,
    },
    GetFunctionRecursionConfig {
        name: String,
    },
    PutRuntimeManagementConfig {
        name: String,
        qualifier: Option<String>,
        config: nimbus_model::RuntimeManagement,
    },
    GetRuntimeManagementConfig {
        name: String,
        qualifier: Option<String>,
    },
    /// The deprecated `InvokeAsync`: an `Event` invocation.
    InvokeAsync(InvokeRequest),
    CreateCodeSigningConfig(nimbus_functions::code_signing::CodeSigningInput),
    GetCodeSigningConfig {
        arn: String,
    },
    UpdateCodeSigningConfig {
        arn: String,
        input: nimbus_functions::code_signing::CodeSigningInput,
    },
    DeleteCodeSigningConfig {
        arn: String,
    },
    ListCodeSigningConfigs {
        marker: Option<String>,
        max_items: usize,
    },
    ListFunctionsByCodeSigningConfig {
        arn: String,
        marker: Option<String>,
        max_items: usize,
    },
    PutFunctionCodeSigningConfig {
        name: String,
        arn: String,
    },
    GetFunctionCodeSigningConfig {
        name: String,
    },
    DeleteFunctionCodeSigningConfig {
        name: String,
    },
}

/// Does this path belong to the Lambda API?
pub fn owns_path(path: &str) -> bool {
    [
        "/2015-03-31/functions",
        "/2015-03-31/event-source-mappings",
        "/2016-08-19/account-settings",
        layers::PREFIX,
        "/2017-10-31/functions/",
        "/2019-09-30/functions/",
        "/2019-09-25/functions/",
        "/2021-10-31/functions/",
        "/2021-11-15/functions/",
        "/2024-08-31/functions/",
        "/2021-07-20/functions/",
        "/2014-11-13/functions/",
        "/2020-04-22/code-signing-configs",
        "/2020-06-30/functions/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

/// `CreateEventSourceMapping` / `UpdateEventSourceMapping` input.
fn mapping_input(
    body: &Bytes,
    identity: &nimbus_model::Identity,
) -> Result<nimbus_triggers::MappingInput, ApiError> {
    let v: Value = json_body::<Option<Value>>(body)?.unwrap_or(Value::Null);
    let u32_field = |name: &str| -> Result<Option<u32>, ApiError> {
        match v.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| error::validation(format!("1 validation error detected: Value {x} at '{name}' failed to satisfy constraint: Member must be a non-negative integer"))),
        }
    };
    let function = match v.get("FunctionName").and_then(Value::as_str) {
        Some(f) => {
            // Validate the name the way every other operation does.
            function_ref(f, identity)?;
            Some(f.to_string())
        }
        None => None,
    };
    Ok(nimbus_triggers::MappingInput {
        function,
        event_source_arn: v
            .get("EventSourceArn")
            .and_then(Value::as_str)
            .map(str::to_string),
        batch_size: u32_field("BatchSize")?,
        max_batching_window_secs: u32_field("MaximumBatchingWindowInSeconds")?,
        enabled: v.get("Enabled").and_then(Value::as_bool),
        function_response_types: v
            .get("FunctionResponseTypes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            }),
        maximum_concurrency: v.get("ScalingConfig").map(|s| {
            s.get("MaximumConcurrency")
                .and_then(Value::as_u64)
                .map(|n| n as u32)
        }),
        filters: v.get("FilterCriteria").map(|f| {
            f.get("Filters")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.get("Pattern").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        }),
        starting_position: v
            .get("StartingPosition")
            .and_then(Value::as_str)
            .map(str::to_string),
        maximum_retry_attempts: v.get("MaximumRetryAttempts").and_then(Value::as_i64),
        maximum_record_age_secs: v.get("MaximumRecordAgeInSeconds").and_then(Value::as_i64),
        bisect_on_error: v.get("BisectBatchOnFunctionError").and_then(Value::as_bool),
        on_failure: v.get("DestinationConfig").map(|d| {
            d.get("OnFailure")
                .and_then(|o| o.get("Destination"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        }),
        parallelization_factor: u32_field("ParallelizationFactor")?,
    })
}

fn mapping_json(
    m: &nimbus_triggers::Mapping,
    identity: &nimbus_model::Identity,
    state: &str,
) -> Value {
    let mut arn = identity.function_arn(&m.function_name);
    if let Some(q) = &m.qualifier {
        arn.push(':');
        arn.push_str(q);
    }
    let mut v = json!({
        "UUID": m.uuid,
        "BatchSize": m.batch_size,
        "MaximumBatchingWindowInSeconds": m.max_batching_window_secs,
        "EventSourceArn": m.event_source_arn,
        "FunctionArn": arn,
        "LastModified": m.last_modified_ms as f64 / 1000.0,
        "State": state,
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": m.function_response_types,
    });
    if let Some(c) = m.maximum_concurrency {
        v["ScalingConfig"] = json!({ "MaximumConcurrency": c });
    }
    if !m.filters.is_empty() {
        v["FilterCriteria"] = json!({
            "Filters": m.filters.iter().map(|p| json!({ "Pattern": p })).collect::<Vec<_>>()
        });
    }
    if let Some(s) = &m.stream {
        v["StartingPosition"] = json!(s.starting_position);
        v["MaximumRetryAttempts"] = json!(s.maximum_retry_attempts);
        v["MaximumRecordAgeInSeconds"] = json!(s.maximum_record_age_secs);
        v["BisectBatchOnFunctionError"] = json!(s.bisect_on_error);
        v["ParallelizationFactor"] = json!(s.parallelization_factor);
        v["LastProcessingResult"] = json!(s.last_result);
        v["DestinationConfig"] = match &s.on_failure {
            Some(d) => json!({ "OnFailure": { "Destination": d } }),
            None => json!({ "OnFailure": {} }),
        };
    }
    v
}

fn mapping_state(m: &nimbus_triggers::Mapping) -> &'static str {
    if m.enabled { "Enabled" } else { "Disabled" }
}

fn event_config_input(body: &Bytes) -> Result<nimbus_functions::EventInvokeConfigInput, ApiError> {
    let input: wire::EventInvokeConfigIn = json_body(body)?;
    let dest = input.destination_config.unwrap_or_default();
    Ok(nimbus_functions::EventInvokeConfigInput {
        maximum_retry_attempts: input.maximum_retry_attempts,
        maximum_event_age_secs: input.maximum_event_age_in_seconds,
        on_success: dest.on_success.map(|d| d.destination.unwrap_or_default()),
        on_failure: dest.on_failure.map(|d| d.destination.unwrap_or_default()),
    })
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name.as_bytes())
            .then(|| String::from_utf8_lossy(&percent_decode(v)).into_owned())
    })
}

fn header(req: &Request<Bytes>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn function_ref(raw: &str, identity: &nimbus_model::Identity) -> Result<FunctionRef, ApiError> {
    let decoded = String::from_utf8(percent_decode(raw))
        .map_err(|_| error::validation("FunctionName must be UTF-8"))?;
    let r = FunctionRef::parse(&decoded).map_err(|e| error::validation(e.0))?;
    if !r.is_in(identity) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Function not found: {decoded}"),
        ));
    }
    Ok(r)
}

/// Merge a qualifier given in the name (`f:1`) with one given as `?Qualifier=`.
fn qualifier(r: &FunctionRef, query: Option<String>) -> Result<Option<String>, ApiError> {
    if let Some(q) = &query {
        // The model's `Qualifier`: (|[a-zA-Z0-9$_-]+), at most 128 characters.
        if q.len() > 128 {
            return Err(error::validation(format!(
                "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: \
                 Member must have length less than or equal to 128"
            )));
        }
        if !q
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'$' | b'_' | b'-'))
        {
            return Err(error::validation(format!(
                "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
            )));
        }
    }
    match (&r.qualifier, query) {
        (Some(a), Some(b)) if *a != b => Err(invalid(format!(
            "The derived qualifier from the function name does not match the specified qualifier: {a} != {b}"
        ))),
        (Some(a), _) => Ok(Some(a.clone())),
        (None, q) => Ok(q),
    }
}

fn invalid(m: String) -> ApiError {
    error::invalid(m)
}

fn json_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| error::bad_json(&e))
}

fn decode_zip(b64: &str) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| invalid("ZipFile must be base64-encoded".into()))
}

fn unsupported_code_source() -> ApiError {
    invalid(
        "PackageType Image is not supported by Nimbus: it has no container registry (ECR) to pull \
         ImageUri from and no container runtime to run it. Package the function as a .zip \
         (Code.ZipFile, or Code.S3Bucket and Code.S3Key) with a managed runtime, or with \
         provided.al2023 and a bootstrap executable."
            .into(),
    )
}

/// Where the code is: a zip in the request, or an object (`S3Bucket` and
/// `S3Key`, maybe `S3ObjectVersion`) in Nimbus's object store.
fn code_source(
    zip_file: Option<&str>,
    bucket: Option<String>,
    key: Option<String>,
    version: Option<String>,
) -> Result<(Vec<u8>, Option<nimbus_functions::code::S3Code>), ApiError> {
    match (bucket, key) {
        (None, None) if version.is_none() => Ok((decode_zip(zip_file.unwrap_or(""))?, None)),
        (Some(bucket), Some(key)) if zip_file.is_none() => Ok((
            Vec::new(),
            Some(nimbus_functions::code::S3Code {
                bucket,
                key,
                version,
            }),
        )),
        _ => Err(invalid(
            "Please provide a source for the code: ZipFile, or S3Bucket and S3Key (with S3ObjectVersion if you like)".into(),
        )),
    }
}

/// Parse a request into an [`Operation`].
pub fn parse(
    req: &Request<Bytes>,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let path = req.uri().path();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match (req.method(), segments.as_slice()) {
        (&Method::GET, ["2016-08-19", "account-settings"]) => Ok(Operation::GetAccountSettings),
        (&Method::POST, ["2015-03-31", "event-source-mappings"]) => {
            mappings::parse_create(req, identity)
        }
        (&Method::GET, ["2015-03-31", "event-source-mappings"]) => {
            mappings::parse_list(req, identity)
        }
        (method, ["2015-03-31", "event-source-mappings", uuid]) => {
            mappings::parse_item(req, method, uuid, identity)
        }
        (_, ["2018-10-31", "layers", rest @ ..]) => layers::parse(req, rest, identity),
        (_, ["2017-03-31", "tags", arn]) => tags::parse(req, arn, identity),
        (&Method::POST, ["2015-03-31", "functions"]) => functions::parse_create(req),
        (&Method::GET, ["2015-03-31", "functions"]) => functions::parse_list(req),
        (method, ["2019-09-30", "functions", raw, "provisioned-concurrency"]) => {
            concurrency::parse_provisioned(req, method, raw, identity)
        }
        (
            method,
            [
                date @ ("2017-10-31" | "2019-09-30"),
                "functions",
                raw,
                "concurrency",
            ],
        ) => concurrency::parse_reserved(req, method, date, raw, identity),
        (
            method,
            [
                "2019-09-25",
                "functions",
                raw,
                "event-invoke-config",
                rest @ ..,
            ],
        ) => event_configs::parse(req, method, raw, rest, identity),
        (method, ["2024-08-31", "functions", raw, "recursion-config"]) => {
            settings::parse_recursion(req, method, raw, identity)
        }
        (method, ["2021-07-20", "functions", raw, "runtime-management-config"]) => {
            settings::parse_runtime_management(req, method, raw, identity)
        }
        (&Method::POST, ["2014-11-13", "functions", raw, "invoke-async"]) => {
            settings::parse_invoke_async(req, raw, identity)
        }
        (method, ["2020-04-22", "code-signing-configs", rest @ ..]) => {
            code_signing::parse_configs(req, method, rest)
        }
        (method, ["2020-06-30", "functions", raw, "code-signing-config"]) => {
            code_signing::parse_function(req, method, raw, identity)
        }
        (method, ["2015-03-31", "functions", raw, rest @ ..]) => {
            functions::parse_function(req, method, raw, rest, identity)
        }
        _ => Err(not_found(req)),
    }
}

/// No Lambda operation at this method and path.
fn not_found(req: &Request<Bytes>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!(
            "Nimbus does not implement the Lambda operation at {} {}",
            req.method(),
            req.uri().path()
        ),
    )
}

impl nimbus_api_common::Service for LambdaApi {
    fn signing_name(&self) -> &'static str {
        "lambda"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        owns_path(req.uri.path())
    }

    fn handle(
        &self,
        req: Request<Bytes>,
        request_id: String,
    ) -> nimbus_api_common::BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { LambdaApi::handle(self, req, &request_id).await })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        err.rest_json(request_id)
    }

    fn streams(&self, req: &http::request::Parts) -> bool {
        LambdaApi::streams(&req.method, req.uri.path())
    }

    fn handle_stream(
        &self,
        req: Request<Bytes>,
        request_id: String,
    ) -> nimbus_api_common::BoxFuture<'_, Response<nimbus_body::Body>> {
        Box::pin(async move { LambdaApi::handle_stream(self, req, &request_id).await })
    }
}

/// The Lambda API bound to a functions service, an invoker and the triggers.
/// IAM's decision, as Lambda answers a refusal (`AccessDeniedException`, 403).
pub(crate) fn authorize(
    ext: &http::Extensions,
    access: impl FnOnce(&nimbus_api_common::authz::Scope) -> Vec<nimbus_api_common::authz::Access>,
) -> Result<(), ApiError> {
    nimbus_api_common::authz::authorize(ext, access)
        .map_err(|d| ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", d.message))
}

pub struct LambdaApi {
    functions: Arc<Functions>,
    invoker: Arc<dyn Invoker>,
    triggers: Arc<nimbus_triggers::Triggers>,
}

fn json_response(status: StatusCode, body: Value) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

fn decode(segment: &str) -> Result<String, ApiError> {
    String::from_utf8(percent_decode(segment))
        .map_err(|_| error::validation("path segment must be UTF-8"))
}

fn alias_input(name: String, input: wire::AliasIn) -> nimbus_functions::AliasInput {
    nimbus_functions::AliasInput {
        name,
        function_version: input.function_version,
        description: input.description,
        additional_weights: input
            .routing_config
            .map(|r| r.additional_version_weights.unwrap_or_default()),
        revision_id: input.revision_id,
    }
}

impl LambdaApi {
    pub fn new(
        functions: Arc<Functions>,
        invoker: Arc<dyn Invoker>,
        triggers: Arc<nimbus_triggers::Triggers>,
    ) -> LambdaApi {
        LambdaApi {
            functions,
            invoker,
            triggers,
        }
    }

    /// Serve one request; `request_id` goes into `x-amzn-RequestId`.
    /// Requests answered with a streamed body (`InvokeWithResponseStream`).
    pub fn streams(method: &Method, path: &str) -> bool {
        streaming::owns(method, path)
    }

    pub async fn handle_stream(
        &self,
        req: Request<Bytes>,
        request_id: &str,
    ) -> Response<nimbus_body::Body> {
        streaming::invoke(&*self.invoker, self.functions.identity(), req, request_id).await
    }

    pub async fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        if urls::owns(req.uri().path()) {
            let allowed = authorize(req.extensions(), |s| {
                let q = query_param(req.uri().query().unwrap_or(""), "Qualifier");
                authz::url_access(req.method(), req.uri().path(), q.as_deref(), s)
                    .unwrap_or_default()
            });
            if let Err(e) = allowed {
                return e.rest_json(request_id);
            }
            let mut resp = match urls::handle(&self.functions, &req) {
                Ok(r) => r,
                Err(e) => return e.rest_json(request_id),
            };
            if let Ok(v) = HeaderValue::from_str(request_id) {
                resp.headers_mut().entry("x-amzn-requestid").or_insert(v);
            }
            return resp;
        }
        let result = match parse(&req, self.functions.identity()) {
            Ok(op) => match authorize(req.extensions(), |s| authz::access(&op, s)) {
                Ok(()) => self.execute(op).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => return e.rest_json(request_id),
        };
        if let Ok(v) = HeaderValue::from_str(request_id) {
            resp.headers_mut().entry("x-amzn-requestid").or_insert(v);
        }
        resp
    }

    /// The version a `Qualifier` names for reading: an alias reads its primary version.
    fn version_of(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<Arc<nimbus_model::FunctionRecord>, ApiError> {
        let f = &self.functions;
        let q = match qualifier {
            Some(q) if !q.bytes().all(|c| c.is_ascii_digit()) && q != nimbus_model::LATEST => Some(
                f.get_alias(name, q)
                    .map_err(|e| error::from_service(&e))?
                    .function_version,
            ),
            other => other.map(str::to_string),
        };
        f.resolve(name, q.as_deref())
            .map_err(|e| error::from_service(&e))
    }

    /// A provisioned concurrency config as Lambda reports it (with its ARN in lists).
    fn provisioned(&self, cfg: &nimbus_model::ProvisionedConfig, with_arn: bool) -> Value {
        let (allocated, status) = self.functions.provisioned_status(cfg);
        let mut v = json!({
            "RequestedProvisionedConcurrentExecutions": cfg.requested,
            "AllocatedProvisionedConcurrentExecutions": allocated,
            "AvailableProvisionedConcurrentExecutions": allocated,
            "Status": status,
            "LastModified": nimbus_model::time::Utc::from_millis(cfg.last_modified_ms).lambda_timestamp(),
        });
        if with_arn {
            v["FunctionArn"] = json!(format!(
                "{}:{}",
                self.functions.identity().function_arn(&cfg.function),
                cfg.qualifier
            ));
        }
        v
    }

    fn config(&self, rec: &nimbus_model::FunctionRecord) -> Value {
        let mut v = wire::configuration(rec, self.functions.identity());
        versions::snap_start_state(&self.functions, rec, &mut v);
        v
    }

    async fn execute(&self, op: Operation) -> Result<Response<Bytes>, ApiError> {
        match op {
            Operation::CreateFunction(c, publish) => self.create_function(c, publish).await,
            Operation::PublishVersion { name, input } => self.publish_version(name, input).await,
            Operation::ListVersionsByFunction {
                name,
                marker,
                max_items,
            } => {
                self.list_versions_by_function(name, marker, max_items)
                    .await
            }
            Operation::CreateAlias { name, input } => self.create_alias(name, input).await,
            Operation::GetAlias { name, alias } => self.get_alias(name, alias).await,
            Operation::UpdateAlias { name, input } => self.update_alias(name, input).await,
            Operation::DeleteAlias { name, alias } => self.delete_alias(name, alias).await,
            Operation::PutProvisionedConcurrencyConfig {
                name,
                qualifier,
                requested,
            } => {
                self.put_provisioned_concurrency_config(name, qualifier, requested)
                    .await
            }
            Operation::GetProvisionedConcurrencyConfig { name, qualifier } => {
                self.get_provisioned_concurrency_config(name, qualifier)
                    .await
            }
            Operation::DeleteProvisionedConcurrencyConfig { name, qualifier } => {
                self.delete_provisioned_concurrency_config(name, qualifier)
                    .await
            }
            Operation::ListProvisionedConcurrencyConfigs { name } => {
                self.list_provisioned_concurrency_configs(name).await
            }
            Operation::ListAliases { name } => self.list_aliases(name).await,
            Operation::GetFunctionConfiguration { name, qualifier } => {
                self.get_function_configuration(name, qualifier).await
            }
            Operation::GetFunction { name, qualifier } => self.get_function(name, qualifier).await,
            Operation::ListFunctions {
                marker,
                max_items,
                all_versions,
            } => self.list_functions(marker, max_items, all_versions).await,
            Operation::UpdateFunctionCode {
                name,
                update,
                publish,
            } => self.update_function_code(name, update, publish).await,
            Operation::UpdateFunctionConfiguration { name, update } => {
                self.update_function_configuration(name, update).await
            }
            Operation::DeleteFunction { name, qualifier } => {
                self.delete_function(name, qualifier).await
            }
            Operation::PutFunctionConcurrency { name, reserved } => {
                self.put_function_concurrency(name, reserved).await
            }
            Operation::GetFunctionConcurrency { name } => self.get_function_concurrency(name).await,
            Operation::TagResource { name, tags } => self.tag_resource(name, tags).await,
            Operation::UntagResource { name, keys } => self.untag_resource(name, keys).await,
            Operation::ListTags { name } => self.list_tags(name),
            Operation::DeleteFunctionConcurrency { name } => {
                self.delete_function_concurrency(name).await
            }
            Operation::PutFunctionEventInvokeConfig { name, input, merge } => {
                self.put_function_event_invoke_config(name, input, merge)
                    .await
            }
            Operation::GetFunctionEventInvokeConfig { name } => {
                self.get_function_event_invoke_config(name).await
            }
            Operation::DeleteFunctionEventInvokeConfig { name } => {
                self.delete_function_event_invoke_config(name).await
            }
            Operation::CreateEventSourceMapping(input) => {
                self.create_event_source_mapping(input).await
            }
            Operation::GetEventSourceMapping(uuid) => self.get_event_source_mapping(uuid).await,
            Operation::UpdateEventSourceMapping(uuid, input) => {
                self.update_event_source_mapping(uuid, input).await
            }
            Operation::DeleteEventSourceMapping(uuid) => {
                self.delete_event_source_mapping(uuid).await
            }
            Operation::ListEventSourceMappings {
                function,
                source,
                marker,
                max_items,
            } => {
                self.list_event_source_mappings(function, source, marker, max_items)
                    .await
            }
            Operation::ListFunctionEventInvokeConfigs { name } => {
                self.list_function_event_invoke_configs(name).await
            }
            Operation::GetAccountSettings => self.get_account_settings().await,
            Operation::Invoke(req) => self.invoke_function(req).await,
            Operation::InvokeAsync(req) => self.invoke_async(req).await,
            op @ (Operation::CreateCodeSigningConfig(_)
            | Operation::GetCodeSigningConfig { .. }
            | Operation::UpdateCodeSigningConfig { .. }
            | Operation::DeleteCodeSigningConfig { .. }
            | Operation::ListCodeSigningConfigs { .. }
            | Operation::ListFunctionsByCodeSigningConfig { .. }
            | Operation::PutFunctionCodeSigningConfig { .. }
            | Operation::GetFunctionCodeSigningConfig { .. }
            | Operation::DeleteFunctionCodeSigningConfig { .. }) => {
                self.execute_code_signing(op).await
            }
            Operation::PutFunctionRecursionConfig {
                name,
                recursive_loop,
            } => self.put_recursion_config(name, recursive_loop).await,
            Operation::GetFunctionRecursionConfig { name } => self.get_recursion_config(name),
            Operation::PutRuntimeManagementConfig {
                name,
                qualifier,
                config,
            } => self.put_runtime_management(name, qualifier, config).await,
            Operation::GetRuntimeManagementConfig { name, qualifier } => {
                self.get_runtime_management(name, qualifier)
            }
            op @ (Operation::PublishLayerVersion(_)
            | Operation::GetLayerVersion { .. }
            | Operation::ListLayers(_)
            | Operation::ListLayerVersions { .. }
            | Operation::DeleteLayerVersion { .. }
            | Operation::AddLayerVersionPermission { .. }
            | Operation::RemoveLayerVersionPermission { .. }
            | Operation::GetLayerVersionPolicy { .. }) => self.execute_layer(op).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, body: &str) -> Request<Bytes> {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(Bytes::from(body.to_string()))
            .unwrap()
    }

    #[test]
    fn parses_invoke_with_arn_and_qualifier() {
        let id = nimbus_model::Identity::default();
        let r = req(
            "POST",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/invocations?Qualifier=%24LATEST",
            "{}",
        );
        match parse(&r, &id).unwrap() {
            Operation::Invoke(i) => {
                assert_eq!(i.function, "f");
                assert_eq!(i.qualifier.as_deref(), Some("$LATEST"));
                assert_eq!(i.invocation_type, InvocationType::RequestResponse);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_bad_input_with_aws_codes() {
        let id = nimbus_model::Identity::default();
        let cases = [
            (
                req("POST", "/2015-03-31/functions", "{not json"),
                "InvalidRequestContentException",
            ),
            (
                req("POST", "/2015-03-31/functions", r#"{"FunctionName":"f"}"#),
                "ValidationException",
            ),
            (
                req("GET", "/2015-03-31/functions/bad%20name", ""),
                "ValidationException",
            ),
            (
                req("GET", "/2015-03-31/functions?MaxItems=0", ""),
                "ValidationException",
            ),
            (
                req("PATCH", "/2015-03-31/functions/f", ""),
                "UnknownOperationException",
            ),
            (
                req("GET", "/2015-03-31/functions/f:1?Qualifier=2", ""),
                "InvalidParameterValueException",
            ),
            (
                req(
                    "POST",
                    "/2015-03-31/functions",
                    r#"{"FunctionName":"f","Role":"r","Code":{"ZipFile":"%%%"}}"#,
                ),
                "InvalidParameterValueException",
            ),
        ];
        for (r, code) in cases {
            let uri = r.uri().clone();
            assert_eq!(parse(&r, &id).unwrap_err().code, code, "{uri}");
        }
        let mut r = req("POST", "/2015-03-31/functions/f/invocations", "{}");
        r.headers_mut().insert(
            "x-amz-invocation-type",
            HeaderValue::from_static("Sometimes"),
        );
        assert_eq!(parse(&r, &id).unwrap_err().code, "ValidationException");
        let mut r = req("POST", "/2015-03-31/functions/f/invocations", "{}");
        r.headers_mut().insert(
            "x-amz-client-context",
            HeaderValue::from_static("bm90IGpzb24="),
        );
        assert_eq!(
            parse(&r, &id).unwrap_err().code,
            "InvalidParameterValueException"
        );
    }

    #[test]
    fn error_envelope_is_rest_json() {
        let e = error::from_service(&nimbus_functions::Error::NotFound(
            "Function not found: x".into(),
        ));
        let resp = e.rest_json("rid");
        assert_eq!(resp.status(), 404);
        assert_eq!(
            resp.headers()["x-amzn-errortype"],
            "ResourceNotFoundException"
        );
        let v: Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(v["Message"], "Function not found: x");
        assert_eq!(v["Type"], "User");
    }
}
