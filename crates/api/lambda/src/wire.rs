//! Lambda's JSON shapes (botocore `lambda/2015-03-31`): request bodies in, and
//! `FunctionConfiguration` out.

use nimbus_model::time::Utc;
use nimbus_model::{FunctionRecord, Identity};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest as _;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentIn {
    pub variables: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcIn {
    pub subnet_ids: Option<Vec<String>>,
    pub security_group_ids: Option<Vec<String>>,
}

impl VpcIn {
    pub fn into_model(self) -> nimbus_model::function::VpcConfig {
        nimbus_model::function::VpcConfig {
            subnet_ids: self.subnet_ids.unwrap_or_default(),
            security_group_ids: self.security_group_ids.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingIn {
    pub log_format: Option<String>,
    pub application_log_level: Option<String>,
    pub system_log_level: Option<String>,
    pub log_group: Option<String>,
}

impl LoggingIn {
    pub fn into_model(self) -> nimbus_model::function::LoggingConfig {
        nimbus_model::function::LoggingConfig {
            format: self.log_format.unwrap_or_else(|| "Text".into()),
            application_level: self.application_log_level,
            system_level: self.system_log_level,
            log_group: self.log_group,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingIn {
    pub mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapStartIn {
    pub apply_on: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterIn {
    pub target_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConcurrencyIn {
    pub reserved_concurrent_executions: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationIn {
    pub destination: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfigIn {
    pub on_success: Option<DestinationIn>,
    pub on_failure: Option<DestinationIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfigIn {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_in_seconds: Option<i64>,
    pub destination_config: Option<DestinationConfigIn>,
}

/// `FunctionEventInvokeConfig`.
pub fn event_invoke_config(cfg: &nimbus_model::EventInvokeConfig, function_arn: &str) -> Value {
    let mut v = json!({
        "LastModified": cfg.last_modified_ms as f64 / 1000.0,
        "FunctionArn": format!("{function_arn}:$LATEST"),
        "MaximumRetryAttempts": cfg.retries(),
        "MaximumEventAgeInSeconds": cfg.max_age_secs(),
        "DestinationConfig": {},
    });
    if let Some(d) = &cfg.on_success {
        v["DestinationConfig"]["OnSuccess"] = json!({ "Destination": d });
    }
    if let Some(d) = &cfg.on_failure {
        v["DestinationConfig"]["OnFailure"] = json!({ "Destination": d });
    }
    v
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorageIn {
    pub size: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeIn {
    pub zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Option<String>,
    #[serde(rename = "S3Key")]
    pub s3_key: Option<String>,
    #[serde(rename = "S3ObjectVersion")]
    pub s3_object_version: Option<String>,
    pub image_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunctionIn {
    pub publish: Option<bool>,
    pub function_name: Option<String>,
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub code: Option<CodeIn>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub package_type: Option<String>,
    pub environment: Option<EnvironmentIn>,
    pub tags: Option<BTreeMap<String, String>>,
    pub layers: Option<Vec<String>>,
    pub architectures: Option<Vec<String>>,
    pub ephemeral_storage: Option<EphemeralStorageIn>,
    pub dead_letter_config: Option<DeadLetterIn>,
    pub vpc_config: Option<VpcIn>,
    pub logging_config: Option<LoggingIn>,
    pub tracing_config: Option<TracingIn>,
    pub code_signing_config_arn: Option<String>,
    pub snap_start: Option<SnapStartIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateCodeIn {
    pub publish: Option<bool>,
    pub zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Option<String>,
    #[serde(rename = "S3Key")]
    pub s3_key: Option<String>,
    #[serde(rename = "S3ObjectVersion")]
    pub s3_object_version: Option<String>,
    pub image_uri: Option<String>,
    pub architectures: Option<Vec<String>>,
    pub dry_run: Option<bool>,
    pub revision_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateConfigurationIn {
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub environment: Option<EnvironmentIn>,
    pub runtime: Option<String>,
    pub revision_id: Option<String>,
    pub layers: Option<Vec<String>>,
    pub ephemeral_storage: Option<EphemeralStorageIn>,
    pub dead_letter_config: Option<DeadLetterIn>,
    pub vpc_config: Option<VpcIn>,
    pub logging_config: Option<LoggingIn>,
    pub tracing_config: Option<TracingIn>,
    pub snap_start: Option<SnapStartIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishVersionIn {
    pub code_sha256: Option<String>,
    pub description: Option<String>,
    pub revision_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoutingIn {
    pub additional_version_weights: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasIn {
    pub name: Option<String>,
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing_config: Option<RoutingIn>,
    pub revision_id: Option<String>,
}

/// `AliasConfiguration`.
pub fn alias(a: &nimbus_model::AliasRecord, identity: &Identity) -> Value {
    let mut v = json!({
        "AliasArn": format!("{}:{}", identity.function_arn(&a.function), a.name),
        "Name": a.name,
        "FunctionVersion": a.function_version,
        "Description": a.description,
        "RevisionId": a.revision_id,
    });
    if !a.additional_weights.is_empty() {
        v["RoutingConfig"] = json!({ "AdditionalVersionWeights": a.additional_weights });
    }
    v
}

/// `FunctionConfiguration` of `$LATEST` or a published version; `qualified` puts
/// the version in `FunctionArn` (always so for published versions).
pub fn configuration(rec: &FunctionRecord, identity: &Identity) -> Value {
    configuration_with(rec, identity, rec.version != nimbus_model::LATEST)
}

pub fn configuration_with(rec: &FunctionRecord, identity: &Identity, qualified: bool) -> Value {
    let arn = if qualified {
        format!("{}:{}", identity.function_arn(&rec.name), rec.version)
    } else {
        identity.function_arn(&rec.name)
    };
    let mut v = json!({
        "FunctionName": rec.name,
        "FunctionArn": arn,
        "Runtime": rec.runtime,
        "Role": rec.role,
        "Handler": rec.handler,
        "CodeSize": rec.code.size,
        "Description": rec.description,
        "Timeout": rec.timeout_secs,
        "MemorySize": rec.memory_mb,
        "LastModified": Utc::from_millis(rec.last_modified_ms).lambda_timestamp(),
        "CodeSha256": rec.code.sha256_b64,
        "Version": rec.version,
        "TracingConfig": { "Mode": rec.tracing.as_deref().unwrap_or("PassThrough") },
        "RevisionId": rec.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": [rec.architecture],
        "EphemeralStorage": { "Size": rec.ephemeral_storage_mb },
        "SnapStart": {
            "ApplyOn": rec.snap_start.as_deref().unwrap_or("None"),
            "OptimizationStatus": if rec.snap_start_on() { "On" } else { "Off" },
        },
        "LoggingConfig": { "LogFormat": "Text", "LogGroup": rec.log_group() },
    });
    if rec.json_logs() {
        let l = rec.logging.as_ref().expect("JSON logs have a config");
        v["LoggingConfig"] = json!({
            "LogFormat": "JSON", "LogGroup": rec.log_group(),
            "ApplicationLogLevel": l.application_level.as_deref().unwrap_or("INFO"),
            "SystemLogLevel": l.system_level.as_deref().unwrap_or("INFO"),
        });
    }
    if !rec.environment.is_empty() {
        v["Environment"] = json!({ "Variables": rec.environment });
    }
    if !rec.layers.is_empty() {
        v["Layers"] = rec
            .layers
            .iter()
            .map(|l| json!({ "Arn": l.arn, "CodeSize": l.code_size }))
            .collect();
    }
    if let Some(t) = &rec.dead_letter_target {
        v["DeadLetterConfig"] = json!({ "TargetArn": t });
    }
    if let Some(vpc) = &rec.vpc {
        v["VpcConfig"] = json!({
            "SubnetIds": vpc.subnet_ids,
            "SecurityGroupIds": vpc.security_group_ids,
            "VpcId": "vpc-nimbus-host",
        });
    }
    v["RuntimeVersionConfig"] = json!({ "RuntimeVersionArn": runtime_version_arn(rec, identity) });
    v
}

/// The runtime version a function runs on: the one pinned with `Manual`
/// runtime management, else one named for the runtime (the host's runtime
/// serves every function of it).
pub fn runtime_version_arn(rec: &FunctionRecord, identity: &Identity) -> String {
    if let Some(pinned) = rec
        .runtime_management
        .as_ref()
        .and_then(|m| m.runtime_version_arn.clone())
    {
        return pinned;
    }
    let id = hex::encode(sha2::Sha256::digest(format!("nimbus:{}", rec.runtime)));
    format!("arn:aws:lambda:{}::runtime:{id}", identity.region)
}
