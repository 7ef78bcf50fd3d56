//! The stored shape of a function and the runtimes Nimbus can run.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the on-disk encoding of [`FunctionRecord`]. Bump it, and teach the
/// reader the old one, whenever the stored shape changes incompatibly.
pub const FUNCTION_RECORD_FORMAT: u32 = 1;

/// Everything Nimbus keeps about one function's `$LATEST`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub format: u32,
    pub name: String,
    pub runtime: String,
    pub role: String,
    pub handler: String,
    #[serde(default)]
    pub description: String,
    pub timeout_secs: u32,
    pub memory_mb: u32,
    pub ephemeral_storage_mb: u32,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    pub architecture: String,
    pub code: CodeRef,
    /// Lambda's `LastModified`, as epoch milliseconds.
    pub last_modified_ms: u64,
    /// Changes with every update; environments of an older revision are retired.
    pub revision_id: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `PutFunctionConcurrency`: environments reserved for (and capping) this function.
    #[serde(default)]
    pub reserved_concurrency: Option<u32>,
    /// `DeadLetterConfig.TargetArn`: where asynchronous events go when they fail for good.
    #[serde(default)]
    pub dead_letter_target: Option<String>,
    /// `$LATEST`, or the number of a published version (an immutable snapshot).
    #[serde(default = "latest")]
    pub version: String,
    /// On `$LATEST`: the number of the last published version (0 if none).
    #[serde(default)]
    pub last_version: u32,
    /// `VpcConfig`: in Nimbus, a function with one gets outbound network access
    /// (the host's network) instead of an isolated loopback-only network.
    #[serde(default)]
    pub vpc: Option<VpcConfig>,
    /// `Layers`: the layer versions extracted under `/opt`, in order.
    #[serde(default)]
    pub layers: Vec<LayerRef>,
    /// `LoggingConfig` (none: text logs to `/aws/lambda/NAME`).
    #[serde(default)]
    pub logging: Option<LoggingConfig>,
    /// `TracingConfig.Mode`: `Active` or `PassThrough` (none: `PassThrough`).
    #[serde(default)]
    pub tracing: Option<String>,
    /// `PutFunctionRecursionConfig` (on `$LATEST`, for the whole function):
    /// `Allow` lets its recursive loops run (none: `Terminate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive_loop: Option<String>,
    /// `PutRuntimeManagementConfig` (none: `Auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_management: Option<RuntimeManagement>,
    /// `PutFunctionCodeSigningConfig`: the code signing configuration's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_signing_config: Option<String>,
    /// `SnapStart.ApplyOn`: `PublishedVersions` initializes each published version
    /// ahead of its invocations (none: `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snap_start: Option<String>,
}

/// How a function's runtime version is chosen (`PutRuntimeManagementConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeManagement {
    /// `Auto`, `FunctionUpdate` or `Manual`.
    pub update_runtime_on: String,
    /// The version pinned with `Manual`.
    pub runtime_version_arn: Option<String>,
}

/// Lambda's `LoggingConfig`: the log format, the levels a JSON-format
/// function's records are filtered by, and the log group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LoggingConfig {
    /// `Text` or `JSON`.
    pub format: String,
    /// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL` (JSON only).
    pub application_level: Option<String>,
    /// `DEBUG`, `INFO` or `WARN` (JSON only).
    pub system_level: Option<String>,
    pub log_group: Option<String>,
}

impl FunctionRecord {
    /// A published version of a function with `SnapStart: PublishedVersions`: its
    /// environments are initialized ahead and restored on first use.
    pub fn snap_start_on(&self) -> bool {
        self.version != LATEST && self.snap_start.as_deref() == Some("PublishedVersions")
    }

    /// The log group the function writes to.
    pub fn log_group(&self) -> String {
        self.logging
            .as_ref()
            .and_then(|l| l.log_group.clone())
            .unwrap_or_else(|| format!("/aws/lambda/{}", self.name))
    }

    /// Whether `TracingConfig` is `Active`: invocations without the caller's
    /// sampling decision are sampled by the X-Ray sampling rules.
    pub fn tracing_active(&self) -> bool {
        self.tracing.as_deref() == Some("Active")
    }

    /// Whether its logs are in Lambda's JSON format.
    pub fn json_logs(&self) -> bool {
        self.logging.as_ref().is_some_and(|l| l.format == "JSON")
    }
}

/// A layer version a function uses, as it was when the function was configured
/// (a deleted layer version keeps working for the functions that use it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRef {
    /// `arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION`.
    pub arn: String,
    /// Hex SHA-256 of the layer's zip: its blob's name.
    pub digest: String,
    /// The zip's size (`CodeSize`).
    pub code_size: u64,
    /// The unzipped size, counted against the 250 MB limit.
    pub unzipped_size: u64,
}

/// `VpcConfig` as given; Nimbus has no VPCs, the IDs are kept and reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VpcConfig {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

fn latest() -> String {
    LATEST.to_string()
}

/// `PutProvisionedConcurrencyConfig`: environments kept initialized for a version or alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionedConfig {
    pub format: u32,
    pub function: String,
    /// The version or alias it was put on.
    pub qualifier: String,
    pub requested: u32,
    pub last_modified_ms: u64,
}

/// The unpublished, mutable version of every function.
pub const LATEST: &str = "$LATEST";

/// Version of the on-disk encoding of [`AliasRecord`].
pub const ALIAS_RECORD_FORMAT: u32 = 1;

/// An alias: a name for a version, optionally splitting traffic with a second one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub format: u32,
    pub function: String,
    pub name: String,
    pub function_version: String,
    #[serde(default)]
    pub description: String,
    /// `RoutingConfig.AdditionalVersionWeights`: version -> share of traffic (0..1).
    #[serde(default)]
    pub additional_weights: BTreeMap<String, f64>,
    pub revision_id: String,
}

/// `PutFunctionEventInvokeConfig`: how asynchronous invocations are retried and
/// where their results go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventInvokeConfig {
    pub format: u32,
    /// 0 to 2; `None` means Lambda's default of 2.
    pub maximum_retry_attempts: Option<u32>,
    /// 60 to 21600; `None` means Lambda's default of 21600 (6 hours).
    pub maximum_event_age_secs: Option<u32>,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    pub last_modified_ms: u64,
}

impl EventInvokeConfig {
    pub fn retries(&self) -> u32 {
        self.maximum_retry_attempts.unwrap_or(2)
    }

    pub fn max_age_secs(&self) -> u32 {
        self.maximum_event_age_secs.unwrap_or(21_600)
    }
}

/// The function's deployment package, stored as a content-addressed blob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRef {
    /// Hex SHA-256 of the zip: the blob's name.
    pub digest: String,
    /// Base64 SHA-256 of the zip, as Lambda reports `CodeSha256`.
    pub sha256_b64: String,
    pub size: u64,
}

/// The language family a runtime identifier belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeFamily {
    /// `python3.x`: run by Nimbus's shipped bootstrap on the host's Python 3.
    Python { minor: u32 },
    /// `nodejsNN.x`: run by Nimbus's shipped bootstrap on the host's Node.js.
    Node { major: u32 },
    /// `java8.al2`, `java11`, ... `java25`: Nimbus's Java runtime client on the host's JDK.
    Java { major: u32 },
    /// `ruby3.x`: Nimbus's shipped bootstrap on the host's Ruby.
    Ruby { minor: u32 },
    /// `provided`, `provided.al2`, `provided.al2023`: the zip's own `bootstrap`.
    Provided,
}

/// A runtime identifier Nimbus accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    pub id: String,
    pub family: RuntimeFamily,
}

/// The runtime identifiers Lambda currently supports and Nimbus runs.
pub const SUPPORTED_RUNTIMES: &[&str] = &[
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "java8.al2",
    "java11",
    "java17",
    "java21",
    "java25",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "provided",
    "provided.al2",
    "provided.al2023",
];

impl Runtime {
    pub fn parse(id: &str) -> Option<Runtime> {
        if !SUPPORTED_RUNTIMES.contains(&id) {
            return None;
        }
        let family = if let Some(minor) = id.strip_prefix("python3.") {
            RuntimeFamily::Python {
                minor: minor.parse().ok()?,
            }
        } else if let Some(rest) = id.strip_prefix("nodejs") {
            RuntimeFamily::Node {
                major: rest.strip_suffix(".x")?.parse().ok()?,
            }
        } else if let Some(rest) = id.strip_prefix("java") {
            RuntimeFamily::Java {
                major: rest.trim_end_matches(".al2").parse().ok()?,
            }
        } else if let Some(minor) = id.strip_prefix("ruby3.") {
            RuntimeFamily::Ruby {
                minor: minor.parse().ok()?,
            }
        } else {
            RuntimeFamily::Provided
        };
        Some(Runtime {
            id: id.to_string(),
            family,
        })
    }

    /// Whether the runtime needs a handler (`module.function`, `package.Class::method`).
    pub fn needs_module_handler(&self) -> bool {
        !matches!(self.family, RuntimeFamily::Provided)
    }
}

/// A function URL's configuration (`CreateFunctionUrlConfig`), as stored
/// and as the gateway serves it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UrlConfig {
    pub url_id: String,
    pub function_name: String,
    /// An alias, or None for `$LATEST`.
    pub qualifier: Option<String>,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    /// `BUFFERED` or `RESPONSE_STREAM`.
    pub invoke_mode: String,
    /// Lambda's `Cors` object as given (AllowOrigins, AllowMethods, ...).
    pub cors: Option<serde_json::Value>,
    pub created_ms: u64,
    pub modified_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runtimes() {
        assert_eq!(
            Runtime::parse("python3.12").unwrap().family,
            RuntimeFamily::Python { minor: 12 }
        );
        assert_eq!(
            Runtime::parse("nodejs20.x").unwrap().family,
            RuntimeFamily::Node { major: 20 }
        );
        assert_eq!(
            Runtime::parse("provided.al2023").unwrap().family,
            RuntimeFamily::Provided
        );
        assert_eq!(
            Runtime::parse("java8.al2").unwrap().family,
            RuntimeFamily::Java { major: 8 }
        );
        assert_eq!(
            Runtime::parse("java21").unwrap().family,
            RuntimeFamily::Java { major: 21 }
        );
        assert_eq!(
            Runtime::parse("ruby3.4").unwrap().family,
            RuntimeFamily::Ruby { minor: 4 }
        );
        assert!(Runtime::parse("python2.7").is_none());
        assert!(Runtime::parse("java8").is_none());
    }

    #[test]
    fn record_round_trips_through_json() {
        let rec = FunctionRecord {
            format: FUNCTION_RECORD_FORMAT,
            name: "f".into(),
            runtime: "python3.12".into(),
            role: "arn:aws:iam::000000000000:role/r".into(),
            handler: "app.handler".into(),
            description: String::new(),
            timeout_secs: 3,
            memory_mb: 128,
            ephemeral_storage_mb: 512,
            environment: BTreeMap::from([("K".into(), "V".into())]),
            architecture: "x86_64".into(),
            code: CodeRef {
                digest: "00".into(),
                sha256_b64: "AA==".into(),
                size: 1,
            },
            last_modified_ms: 1,
            revision_id: "r".into(),
            tags: BTreeMap::new(),
            reserved_concurrency: Some(3),
            dead_letter_target: None,
            version: "$LATEST".into(),
            last_version: 0,
            vpc: None,
            layers: Vec::new(),
            logging: None,
            tracing: Some("Active".into()),
            recursive_loop: None,
            snap_start: None,
            runtime_management: None,
            code_signing_config: None,
        };
        let json = serde_json::to_vec(&rec).unwrap();
        assert_eq!(
            serde_json::from_slice::<FunctionRecord>(&json).unwrap(),
            rec
        );
    }
}
