//! The Lambda API (`2015-03-31`) over REST-JSON: each request is parsed into an
//! [`Operation`], run against the functions service or the [`Invoker`], and its
//! result or error written in Lambda's wire shapes.

mod error;
mod streaming;
mod urls;
mod wire;

use base64::Engine as _;
use bytes::Bytes;
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
}

/// Does this path belong to the Lambda API?
pub fn owns_path(path: &str) -> bool {
    [
        "/2015-03-31/functions",
        "/2015-03-31/event-source-mappings",
        "/2016-08-19/account-settings",
        "/2017-10-31/functions/",
        "/2019-09-30/functions/",
        "/2019-09-25/functions/",
        "/2021-10-31/functions/",
        "/2021-11-15/functions/",
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
    invalid("Nimbus accepts a function's code as ZipFile only; S3 and container image sources are not supported yet".into())
}

/// Parse a request into an [`Operation`].
pub fn parse(
    req: &Request<Bytes>,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let body = req.body();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!(
                "Nimbus does not implement the Lambda operation at {} {path}",
                req.method()
            ),
        )
    };
    match (req.method(), segments.as_slice()) {
        (&Method::GET, ["2016-08-19", "account-settings"]) => Ok(Operation::GetAccountSettings),
        (&Method::POST, ["2015-03-31", "event-source-mappings"]) => Ok(
            Operation::CreateEventSourceMapping(mapping_input(body, identity)?),
        ),
        (&Method::GET, ["2015-03-31", "event-source-mappings"]) => {
            let function = match query_param(query, "FunctionName") {
                Some(f) => Some(function_ref(&f, identity)?.name),
                None => None,
            };
            Ok(Operation::ListEventSourceMappings {
                function,
                source: query_param(query, "EventSourceArn"),
                marker: query_param(query, "Marker"),
                max_items: query_param(query, "MaxItems")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(100usize)
                    .clamp(1, 10_000),
            })
        }
        (method, ["2015-03-31", "event-source-mappings", uuid]) => {
            let uuid = decode(uuid)?;
            match *method {
                Method::GET => Ok(Operation::GetEventSourceMapping(uuid)),
                Method::PUT => Ok(Operation::UpdateEventSourceMapping(
                    uuid,
                    mapping_input(body, identity)?,
                )),
                Method::DELETE => Ok(Operation::DeleteEventSourceMapping(uuid)),
                _ => Err(not_found()),
            }
        }
        (&Method::POST, ["2015-03-31", "functions"]) => {
            let input: wire::CreateFunctionIn = json_body(body)?;
            let name = input
                .function_name
                .ok_or_else(|| error::validation("1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null"))?;
            let role = input
                .role
                .ok_or_else(|| error::validation("1 validation error detected: Value null at 'role' failed to satisfy constraint: Member must not be null"))?;
            if input.package_type.as_deref().is_some_and(|p| p != "Zip") {
                return Err(unsupported_code_source());
            }
            if input.layers.as_ref().is_some_and(|l| !l.is_empty()) {
                return Err(invalid(
                    "Layers are not supported by this Nimbus build yet".into(),
                ));
            }
            let code = input.code.ok_or_else(|| {
                error::validation("1 validation error detected: Value null at 'code' failed to satisfy constraint: Member must not be null")
            })?;
            if code.s3_bucket.is_some() || code.s3_key.is_some() || code.image_uri.is_some() {
                return Err(unsupported_code_source());
            }
            let zip = decode_zip(code.zip_file.as_deref().unwrap_or(""))?;
            let publish = input.publish.unwrap_or(false);
            Ok(Operation::CreateFunction(
                CreateFunction {
                    name,
                    runtime: input.runtime,
                    role,
                    handler: input.handler,
                    description: input.description,
                    timeout: input.timeout,
                    memory_size: input.memory_size,
                    ephemeral_storage: input.ephemeral_storage.and_then(|e| e.size),
                    environment: input.environment.map(|e| e.variables.unwrap_or_default()),
                    architectures: input.architectures,
                    zip,
                    tags: input.tags.unwrap_or_default(),
                    dead_letter_target: input
                        .dead_letter_config
                        .map(|d| d.target_arn.unwrap_or_default()),
                    vpc: input.vpc_config.map(wire::VpcIn::into_model),
                },
                publish,
            ))
        }
        (&Method::GET, ["2015-03-31", "functions"]) => {
            let max_items = match query_param(query, "MaxItems") {
                Some(m) => m
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| error::validation(format!("1 validation error detected: Value '{m}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000")))?,
                None => LIST_PAGE,
            };
            Ok(Operation::ListFunctions {
                marker: query_param(query, "Marker"),
                max_items: max_items.min(LIST_PAGE),
            })
        }
        (method, ["2019-09-30", "functions", raw, "provisioned-concurrency"]) => {
            let name = function_ref(raw, identity)?.name;
            if method == Method::GET && query_param(query, "List").is_some() {
                return Ok(Operation::ListProvisionedConcurrencyConfigs { name });
            }
            let qualifier = query_param(query, "Qualifier").ok_or_else(|| {
                error::validation("1 validation error detected: Value null at 'qualifier' failed to satisfy constraint: Member must not be null")
            })?;
            if method == Method::PUT {
                let v: Value = json_body::<Option<Value>>(body)?.unwrap_or(Value::Null);
                let requested = v.get("ProvisionedConcurrentExecutions").and_then(Value::as_i64).ok_or_else(|| {
                    error::validation("1 validation error detected: Value null at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must not be null")
                })?;
                Ok(Operation::PutProvisionedConcurrencyConfig {
                    name,
                    qualifier,
                    requested,
                })
            } else if method == Method::GET {
                Ok(Operation::GetProvisionedConcurrencyConfig { name, qualifier })
            } else if method == Method::DELETE {
                Ok(Operation::DeleteProvisionedConcurrencyConfig { name, qualifier })
            } else {
                Err(not_found())
            }
        }
        (
            method,
            [
                date @ ("2017-10-31" | "2019-09-30"),
                "functions",
                raw,
                "concurrency",
            ],
        ) => {
            let name = function_ref(raw, identity)?.name;
            match (method, *date) {
                (&Method::PUT, "2017-10-31") => {
                    let input: wire::ConcurrencyIn = json_body(body)?;
                    let reserved = input.reserved_concurrent_executions.ok_or_else(|| {
                        error::validation("1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null")
                    })?;
                    Ok(Operation::PutFunctionConcurrency { name, reserved })
                }
                (&Method::DELETE, "2017-10-31") => {
                    Ok(Operation::DeleteFunctionConcurrency { name })
                }
                (&Method::GET, "2019-09-30") => Ok(Operation::GetFunctionConcurrency { name }),
                _ => Err(not_found()),
            }
        }
        (
            method,
            [
                "2019-09-25",
                "functions",
                raw,
                "event-invoke-config",
                rest @ ..,
            ],
        ) => {
            let r = function_ref(raw, identity)?;
            let q = qualifier(&r, query_param(query, "Qualifier"))?;
            if q.as_deref().is_some_and(|q| q != "$LATEST") {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFoundException",
                    format!(
                        "Function not found: {}:{}",
                        identity.function_arn(&r.name),
                        q.unwrap_or_default()
                    ),
                ));
            }
            let name = r.name;
            match (method, rest) {
                (&Method::PUT, []) => Ok(Operation::PutFunctionEventInvokeConfig {
                    name,
                    input: event_config_input(body)?,
                    merge: false,
                }),
                (&Method::POST, []) => Ok(Operation::PutFunctionEventInvokeConfig {
                    name,
                    input: event_config_input(body)?,
                    merge: true,
                }),
                (&Method::GET, []) => Ok(Operation::GetFunctionEventInvokeConfig { name }),
                (&Method::DELETE, []) => Ok(Operation::DeleteFunctionEventInvokeConfig { name }),
                (&Method::GET, ["list"]) => Ok(Operation::ListFunctionEventInvokeConfigs { name }),
                _ => Err(not_found()),
            }
        }
        (method, ["2015-03-31", "functions", raw, rest @ ..]) => {
            let r = function_ref(raw, identity)?;
            let q = qualifier(&r, query_param(query, "Qualifier"))?;
            let name = r.name.clone();
            match (method, rest) {
                (&Method::GET, []) => Ok(Operation::GetFunction { name, qualifier: q }),
                (&Method::POST, ["versions"]) => Ok(Operation::PublishVersion {
                    name,
                    input: json_body(body)?,
                }),
                (&Method::GET, ["versions"]) => Ok(Operation::ListVersionsByFunction {
                    name,
                    marker: query_param(query, "Marker"),
                    max_items: query_param(query, "MaxItems")
                        .and_then(|m| m.parse().ok())
                        .unwrap_or(LIST_PAGE)
                        .clamp(1, LIST_PAGE),
                }),
                (&Method::POST, ["aliases"]) => {
                    let input: wire::AliasIn = json_body(body)?;
                    let alias = input.name.clone().ok_or_else(|| {
                        error::validation("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
                    })?;
                    Ok(Operation::CreateAlias {
                        name,
                        input: alias_input(alias, input),
                    })
                }
                (&Method::GET, ["aliases"]) => Ok(Operation::ListAliases { name }),
                (&Method::GET, ["aliases", alias]) => Ok(Operation::GetAlias {
                    name,
                    alias: decode(alias)?,
                }),
                (&Method::DELETE, ["aliases", alias]) => Ok(Operation::DeleteAlias {
                    name,
                    alias: decode(alias)?,
                }),
                (&Method::PUT, ["aliases", alias]) => {
                    let input: wire::AliasIn = json_body(body)?;
                    Ok(Operation::UpdateAlias {
                        name,
                        input: alias_input(decode(alias)?, input),
                    })
                }
                (&Method::DELETE, []) => Ok(Operation::DeleteFunction { name, qualifier: q }),
                (&Method::GET, ["configuration"]) => {
                    Ok(Operation::GetFunctionConfiguration { name, qualifier: q })
                }
                (&Method::PUT, ["configuration"]) => {
                    let input: wire::UpdateConfigurationIn = json_body(body)?;
                    if input.layers.as_ref().is_some_and(|l| !l.is_empty()) {
                        return Err(invalid(
                            "Layers are not supported by this Nimbus build yet".into(),
                        ));
                    }
                    Ok(Operation::UpdateFunctionConfiguration {
                        name,
                        update: UpdateConfiguration {
                            runtime: input.runtime,
                            role: input.role,
                            handler: input.handler,
                            description: input.description,
                            timeout: input.timeout,
                            memory_size: input.memory_size,
                            ephemeral_storage: input.ephemeral_storage.and_then(|e| e.size),
                            environment: input.environment.map(|e| e.variables.unwrap_or_default()),
                            revision_id: input.revision_id,
                            dead_letter_target: input
                                .dead_letter_config
                                .map(|d| d.target_arn.unwrap_or_default()),
                            vpc: input.vpc_config.map(wire::VpcIn::into_model),
                        },
                    })
                }
                (&Method::PUT, ["code"]) => {
                    let input: wire::UpdateCodeIn = json_body(body)?;
                    if input.s3_bucket.is_some() || input.image_uri.is_some() {
                        return Err(unsupported_code_source());
                    }
                    let zip = decode_zip(input.zip_file.as_deref().ok_or_else(|| {
                        invalid("Please provide a source for function code: ZipFile".into())
                    })?)?;
                    Ok(Operation::UpdateFunctionCode {
                        name,
                        publish: input.publish.unwrap_or(false),
                        update: UpdateCode {
                            zip,
                            architectures: input.architectures,
                            revision_id: input.revision_id,
                            dry_run: input.dry_run.unwrap_or(false),
                        },
                    })
                }
                (&Method::POST, ["invocations"]) => {
                    let invocation_type = match header(req, "x-amz-invocation-type").as_deref() {
                        None | Some("RequestResponse") => InvocationType::RequestResponse,
                        Some("Event") => InvocationType::Event,
                        Some("DryRun") => InvocationType::DryRun,
                        Some(other) => {
                            return Err(error::validation(format!(
                                "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
                            )));
                        }
                    };
                    let log_tail = match header(req, "x-amz-log-type").as_deref() {
                        None | Some("None") => false,
                        Some("Tail") => true,
                        Some(other) => {
                            return Err(error::validation(format!(
                                "1 validation error detected: Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"
                            )));
                        }
                    };
                    let client_context = match header(req, "x-amz-client-context") {
                        None => None,
                        Some(b64) => {
                            let raw = base64::engine::general_purpose::STANDARD
                                .decode(b64.trim())
                                .ok()
                                .filter(|raw| raw.len() <= 3583)
                                .and_then(|raw| String::from_utf8(raw).ok())
                                .filter(|s| {
                                    serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object())
                                });
                            Some(raw.ok_or_else(|| {
                                invalid(
                                    "Client context must be a valid Base64-encoded JSON object."
                                        .into(),
                                )
                            })?)
                        }
                    };
                    Ok(Operation::Invoke(InvokeRequest {
                        function: name,
                        qualifier: q,
                        payload: body.clone(),
                        invocation_type,
                        log_tail,
                        client_context,
                        trace_id: header(req, "x-amzn-trace-id"),
                        request_id: None,
                        stream: false,
                    }))
                }
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
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
            Ok(op) => self.execute(op).await,
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
        wire::configuration(rec, self.functions.identity())
    }

    async fn execute(&self, op: Operation) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let svc = |e: nimbus_functions::Error| error::from_service(&e);
        let trg = |e: nimbus_triggers::Error| error::from_triggers(&e);
        let t = &self.triggers;
        match op {
            Operation::CreateFunction(c, publish) => {
                let name = c.name.clone();
                let mut rec = f.create(c).await.map_err(svc)?;
                if publish {
                    rec = f
                        .publish_version(&name, None, None, None)
                        .await
                        .map_err(svc)?;
                }
                Ok(json_response(StatusCode::CREATED, self.config(&rec)))
            }
            Operation::PublishVersion { name, input } => {
                let rec = f
                    .publish_version(
                        &name,
                        input.description,
                        input.code_sha256,
                        input.revision_id,
                    )
                    .await
                    .map_err(svc)?;
                Ok(json_response(StatusCode::CREATED, self.config(&rec)))
            }
            Operation::ListVersionsByFunction {
                name,
                marker,
                max_items,
            } => {
                let all = f.list_versions(&name).map_err(svc)?;
                let start = match &marker {
                    Some(m) => all
                        .iter()
                        .position(|r| r.version == *m)
                        .map_or(all.len(), |i| i + 1),
                    None => 0,
                };
                let page: Vec<_> = all[start.min(all.len())..].iter().take(max_items).collect();
                let mut body = json!({
                    "Versions": page.iter().map(|r| wire::configuration_with(r, f.identity(), true)).collect::<Vec<_>>()
                });
                if start + page.len() < all.len()
                    && let Some(last) = page.last()
                {
                    body["NextMarker"] = json!(last.version);
                }
                Ok(json_response(StatusCode::OK, body))
            }
            Operation::CreateAlias { name, input } => {
                let a = f.create_alias(&name, input).map_err(svc)?;
                Ok(json_response(
                    StatusCode::CREATED,
                    wire::alias(&a, f.identity()),
                ))
            }
            Operation::GetAlias { name, alias } => {
                let a = f.get_alias(&name, &alias).map_err(svc)?;
                Ok(json_response(StatusCode::OK, wire::alias(&a, f.identity())))
            }
            Operation::UpdateAlias { name, input } => {
                let a = f.update_alias(&name, input).map_err(svc)?;
                Ok(json_response(StatusCode::OK, wire::alias(&a, f.identity())))
            }
            Operation::DeleteAlias { name, alias } => {
                f.delete_alias(&name, &alias).map_err(svc)?;
                let mut resp = Response::new(Bytes::new());
                *resp.status_mut() = StatusCode::NO_CONTENT;
                Ok(resp)
            }
            Operation::PutProvisionedConcurrencyConfig {
                name,
                qualifier,
                requested,
            } => {
                let cfg = f
                    .put_provisioned(&name, &qualifier, requested)
                    .map_err(svc)?;
                Ok(json_response(
                    StatusCode::ACCEPTED,
                    self.provisioned(&cfg, false),
                ))
            }
            Operation::GetProvisionedConcurrencyConfig { name, qualifier } => {
                match f.get_provisioned(&name, &qualifier).map_err(svc)? {
                    Some(cfg) => Ok(json_response(StatusCode::OK, self.provisioned(&cfg, false))),
                    None => Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        "ProvisionedConcurrencyConfigNotFoundException",
                        "No Provisioned Concurrency Config found for this function",
                    )),
                }
            }
            Operation::DeleteProvisionedConcurrencyConfig { name, qualifier } => {
                if !f.delete_provisioned(&name, &qualifier).map_err(svc)? {
                    return Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        "ProvisionedConcurrencyConfigNotFoundException",
                        "No Provisioned Concurrency Config found for this function",
                    ));
                }
                let mut resp = Response::new(Bytes::new());
                *resp.status_mut() = StatusCode::NO_CONTENT;
                Ok(resp)
            }
            Operation::ListProvisionedConcurrencyConfigs { name } => {
                let all = f.list_provisioned(&name).map_err(svc)?;
                Ok(json_response(
                    StatusCode::OK,
                    json!({ "ProvisionedConcurrencyConfigs": all.iter().map(|c| self.provisioned(c, true)).collect::<Vec<_>>() }),
                ))
            }
            Operation::ListAliases { name } => {
                let aliases = f.list_aliases(&name).map_err(svc)?;
                Ok(json_response(
                    StatusCode::OK,
                    json!({ "Aliases": aliases.iter().map(|a| wire::alias(a, f.identity())).collect::<Vec<_>>() }),
                ))
            }
            Operation::GetFunctionConfiguration { name, qualifier } => {
                let rec = self.version_of(&name, qualifier.as_deref())?;
                Ok(json_response(StatusCode::OK, self.config(&rec)))
            }
            Operation::GetFunction { name, qualifier } => {
                let rec = self.version_of(&name, qualifier.as_deref())?;
                let location = format!(
                    "{}/_nimbus/code/{}",
                    f.exec_config().endpoint_url,
                    rec.code.digest
                );
                let mut body = json!({
                    "Configuration": self.config(&rec),
                    "Code": { "RepositoryType": "S3", "Location": location },
                });
                if !rec.tags.is_empty() {
                    body["Tags"] = json!(rec.tags);
                }
                if let Some(n) = rec.reserved_concurrency {
                    body["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
                }
                Ok(json_response(StatusCode::OK, body))
            }
            Operation::ListFunctions { marker, max_items } => {
                let all = f.list();
                let start = match &marker {
                    Some(m) => all
                        .iter()
                        .position(|r| r.name.as_str() > m.as_str())
                        .unwrap_or(all.len()),
                    None => 0,
                };
                let page: Vec<_> = all[start..].iter().take(max_items).collect();
                let mut body =
                    json!({ "Functions": page.iter().map(|r| self.config(r)).collect::<Vec<_>>() });
                if start + page.len() < all.len()
                    && let Some(last) = page.last()
                {
                    body["NextMarker"] = json!(last.name);
                }
                Ok(json_response(StatusCode::OK, body))
            }
            Operation::UpdateFunctionCode {
                name,
                update,
                publish,
            } => {
                let dry = update.dry_run;
                let mut rec = f.update_code(&name, update).await.map_err(svc)?;
                if publish && !dry {
                    rec = f
                        .publish_version(&name, None, None, None)
                        .await
                        .map_err(svc)?;
                }
                Ok(json_response(StatusCode::OK, self.config(&rec)))
            }
            Operation::UpdateFunctionConfiguration { name, update } => {
                let rec = f.update_configuration(&name, update).await.map_err(svc)?;
                Ok(json_response(StatusCode::OK, self.config(&rec)))
            }
            Operation::DeleteFunction { name, qualifier } => {
                if qualifier.as_deref() == Some("$LATEST") {
                    return Err(invalid(
                        "$LATEST version cannot be deleted without deleting the function.".into(),
                    ));
                }
                match qualifier.as_deref() {
                    Some(v) if v.bytes().all(|c| c.is_ascii_digit()) => {
                        f.delete_version(&name, v).await.map_err(svc)?
                    }
                    Some(other) => {
                        return Err(invalid(format!(
                            "Deletion of aliases through DeleteFunction is not supported: use DeleteAlias for {other}"
                        )));
                    }
                    None => f.delete(&name).await.map_err(svc)?,
                }
                let mut resp = Response::new(Bytes::new());
                *resp.status_mut() = StatusCode::NO_CONTENT;
                Ok(resp)
            }
            Operation::PutFunctionConcurrency { name, reserved } => {
                let rec = f.put_concurrency(&name, reserved).await.map_err(svc)?;
                Ok(json_response(
                    StatusCode::OK,
                    json!({ "ReservedConcurrentExecutions": rec.reserved_concurrency }),
                ))
            }
            Operation::GetFunctionConcurrency { name } => {
                let rec = f.get(&name).map_err(svc)?;
                let body = match rec.reserved_concurrency {
                    Some(n) => json!({ "ReservedConcurrentExecutions": n }),
                    None => json!({}),
                };
                Ok(json_response(StatusCode::OK, body))
            }
            Operation::DeleteFunctionConcurrency { name } => {
                f.delete_concurrency(&name).await.map_err(svc)?;
                let mut resp = Response::new(Bytes::new());
                *resp.status_mut() = StatusCode::NO_CONTENT;
                Ok(resp)
            }
            Operation::PutFunctionEventInvokeConfig { name, input, merge } => {
                let cfg = f
                    .set_event_invoke_config(&name, input, merge)
                    .map_err(svc)?;
                Ok(json_response(
                    StatusCode::OK,
                    wire::event_invoke_config(&cfg, &f.identity().function_arn(&name)),
                ))
            }
            Operation::GetFunctionEventInvokeConfig { name } => {
                match f.event_invoke_config(&name).map_err(svc)? {
                    Some(cfg) => Ok(json_response(
                        StatusCode::OK,
                        wire::event_invoke_config(&cfg, &f.identity().function_arn(&name)),
                    )),
                    None => Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        "ResourceNotFoundException",
                        format!(
                            "The function {} doesn't have an EventInvokeConfig",
                            f.identity().function_arn(&name)
                        ),
                    )),
                }
            }
            Operation::DeleteFunctionEventInvokeConfig { name } => {
                f.delete_event_invoke_config(&name).map_err(svc)?;
                let mut resp = Response::new(Bytes::new());
                *resp.status_mut() = StatusCode::NO_CONTENT;
                Ok(resp)
            }
            Operation::CreateEventSourceMapping(input) => {
                let m = t.create_mapping(input).map_err(trg)?;
                Ok(json_response(
                    StatusCode::ACCEPTED,
                    mapping_json(&m, f.identity(), "Creating"),
                ))
            }
            Operation::GetEventSourceMapping(uuid) => {
                let m = t.get_mapping(&uuid).map_err(trg)?;
                Ok(json_response(
                    StatusCode::OK,
                    mapping_json(&m, f.identity(), mapping_state(&m)),
                ))
            }
            Operation::UpdateEventSourceMapping(uuid, input) => {
                let m = t.update_mapping(&uuid, input).map_err(trg)?;
                Ok(json_response(
                    StatusCode::ACCEPTED,
                    mapping_json(
                        &m,
                        f.identity(),
                        if m.enabled { "Enabling" } else { "Disabling" },
                    ),
                ))
            }
            Operation::DeleteEventSourceMapping(uuid) => {
                let m = t.delete_mapping(&uuid).map_err(trg)?;
                Ok(json_response(
                    StatusCode::ACCEPTED,
                    mapping_json(&m, f.identity(), "Deleting"),
                ))
            }
            Operation::ListEventSourceMappings {
                function,
                source,
                marker,
                max_items,
            } => {
                let all = t
                    .list_mappings(function.as_deref(), source.as_deref())
                    .map_err(trg)?;
                let start = marker.as_deref().map_or(0, |m| {
                    all.iter()
                        .position(|x| x.uuid.as_str() > m)
                        .unwrap_or(all.len())
                });
                let page = &all[start..(start + max_items).min(all.len())];
                let mut out = json!({
                    "EventSourceMappings": page
                        .iter()
                        .map(|m| mapping_json(m, f.identity(), mapping_state(m)))
                        .collect::<Vec<_>>()
                });
                if start + max_items < all.len()
                    && let Some(last) = page.last()
                {
                    out["NextMarker"] = last.uuid.clone().into();
                }
                Ok(json_response(StatusCode::OK, out))
            }
            Operation::ListFunctionEventInvokeConfigs { name } => {
                let configs: Vec<Value> = f
                    .event_invoke_config(&name)
                    .map_err(svc)?
                    .iter()
                    .map(|c| wire::event_invoke_config(c, &f.identity().function_arn(&name)))
                    .collect();
                Ok(json_response(
                    StatusCode::OK,
                    json!({ "FunctionEventInvokeConfigs": configs }),
                ))
            }
            Operation::GetAccountSettings => {
                let (limit, unreserved) = f.concurrency_limits();
                let all = f.list();
                let total: u64 = all.iter().map(|r| r.code.size).sum();
                Ok(json_response(
                    StatusCode::OK,
                    json!({
                        "AccountLimit": {
                            "TotalCodeSize": 80_530_636_800u64,
                            "CodeSizeUnzipped": nimbus_functions::code::MAX_UNZIPPED_BYTES,
                            "CodeSizeZipped": nimbus_functions::code::MAX_ZIPPED_BYTES,
                            "ConcurrentExecutions": limit,
                            "UnreservedConcurrentExecutions": unreserved,
                        },
                        "AccountUsage": { "TotalCodeSize": total, "FunctionCount": all.len() },
                    }),
                ))
            }
            Operation::Invoke(req) => {
                let whole = std::time::Instant::now();
                let out = self
                    .invoker
                    .invoke(req)
                    .await
                    .map_err(|e| error::from_invoke(&e))?;
                let mut resp = Response::new(out.payload);
                *resp.status_mut() = StatusCode::from_u16(out.status).unwrap_or(StatusCode::OK);
                let h = resp.headers_mut();
                h.insert("content-type", HeaderValue::from_static("application/json"));
                let mut set = |k: &'static str, v: &str| {
                    if let Ok(v) = HeaderValue::from_str(v) {
                        h.insert(k, v);
                    }
                };
                set("x-amz-executed-version", &out.executed_version);
                // The invocation's id is the request's id, as on Lambda.
                set("x-amzn-requestid", &out.request_id);
                if let Some(fe) = &out.function_error {
                    set("x-amz-function-error", fe);
                }
                if let Some(l) = &out.log_result {
                    set("x-amz-log-result", l);
                }
                let t = out.timing;
                // `server`: everything from the parsed request to the response.
                let mut timing = format!(
                    "server={:.3};invoke={:.3}",
                    whole.elapsed().as_secs_f64() * 1000.0,
                    t.invoke_ms
                );
                if let (Some(c), Some(i)) = (t.create_ms, t.init_ms) {
                    timing.push_str(&format!(";create={c:.3};init={i:.3}"));
                }
                if let Some(r) = t.runtime_start_ms {
                    timing.push_str(&format!(";runtime_start={r:.3}"));
                }
                for (k, v) in &t.parts {
                    timing.push_str(&format!(";sandbox.{k}={v:.3}"));
                }
                set("x-nimbus-timing", &timing);
                Ok(resp)
            }
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
