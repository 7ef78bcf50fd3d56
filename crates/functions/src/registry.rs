//! The function registry: validation and durable create, read, update and delete
//! of `$LATEST`, its published versions and its aliases, held in memory
//! ([`Records`]) so invocations never touch the disk.

use crate::code::{self, CodeCache};
use crate::error::{Error, Result};
use crate::layers::Layers;
use nimbus_model::arn::{is_valid_function_name, is_valid_role_arn};
use nimbus_model::function::{ALIAS_RECORD_FORMAT, CodeRef, FUNCTION_RECORD_FORMAT};
use nimbus_model::{AliasRecord, EventInvokeConfig, FunctionRecord, LATEST, Runtime};
use nimbus_storage::records::{Records, Schema};
use nimbus_storage::{BlobStore, KvEngine, Table, WriteBatch};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

pub(crate) const FUNCTIONS: Table = Table("functions");
pub(crate) const EVENT_CONFIGS: Table = Table("event_invoke_configs");
/// Lambda keeps at least this much account concurrency unreserved.
pub const MIN_UNRESERVED: u32 = 100;

/// Environment variables Lambda sets itself and refuses to let a function override.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// `CreateFunction`'s input, after the wire layer decoded it.
#[derive(Debug, Clone, Default)]
pub struct CreateFunction {
    pub name: String,
    pub runtime: Option<String>,
    pub role: String,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub ephemeral_storage: Option<i64>,
    pub environment: Option<BTreeMap<String, String>>,
    pub architectures: Option<Vec<String>>,
    pub zip: Vec<u8>,
    pub tags: BTreeMap<String, String>,
    pub dead_letter_target: Option<String>,
    pub vpc: Option<nimbus_model::function::VpcConfig>,
    /// Layer version ARNs, in the order they are extracted under `/opt`.
    pub layers: Vec<String>,
    /// `Code.S3Bucket`/`S3Key`: the package is read from there into `zip`.
    pub s3: Option<code::S3Code>,
    pub logging: Option<nimbus_model::function::LoggingConfig>,
    /// `TracingConfig.Mode`.
    pub tracing: Option<String>,
    /// `CodeSigningConfigArn`.
    pub code_signing_config: Option<String>,
    /// `SnapStart.ApplyOn`.
    pub snap_start: Option<String>,
}

/// `UpdateFunctionConfiguration`'s input: only what is `Some` changes.
#[derive(Debug, Clone, Default)]
pub struct UpdateConfiguration {
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub ephemeral_storage: Option<i64>,
    pub environment: Option<BTreeMap<String, String>>,
    pub revision_id: Option<String>,
    /// `Some("")` clears the dead-letter target.
    pub dead_letter_target: Option<String>,
    /// `Some` with no subnets removes it.
    pub vpc: Option<nimbus_model::function::VpcConfig>,
    /// `Some(empty)` removes every layer.
    pub layers: Option<Vec<String>>,
    pub logging: Option<nimbus_model::function::LoggingConfig>,
    /// `TracingConfig.Mode`.
    pub tracing: Option<String>,
    /// `SnapStart.ApplyOn`.
    pub snap_start: Option<String>,
}

/// `UpdateFunctionCode`'s input.
#[derive(Debug, Clone, Default)]
pub struct UpdateCode {
    pub zip: Vec<u8>,
    /// `S3Bucket`/`S3Key`: the package is read from there into `zip`.
    pub s3: Option<code::S3Code>,
    pub architectures: Option<Vec<String>>,
    pub revision_id: Option<String>,
    pub dry_run: bool,
}

pub(crate) struct Registry {
    kv: Arc<dyn KvEngine>,
    blobs: Arc<dyn BlobStore>,
    code: Arc<CodeCache>,
    /// Layer versions: what a function's `Layers` refer to, and blobs it shares.
    pub(crate) layers: Arc<Layers>,
    functions: Records<FunctionRecord, Latest>,
    versions: Records<FunctionRecord, Published>,
    aliases: Records<AliasRecord, Aliases>,
    /// Held by every write: what one checks spans tables (an alias's target
    /// versions, whether a code package is still referenced, the sum of
    /// reserved concurrency), so writes run one at a time.
    write: Mutex<()>,
}

/// `$LATEST` of each function, under its name in FUNCTIONS.
struct Latest;

impl Schema<FunctionRecord> for Latest {
    fn key(rec: &FunctionRecord) -> Cow<'_, str> {
        Cow::Borrowed(&rec.name)
    }
    fn format(rec: &FunctionRecord) -> u32 {
        rec.format
    }
}

/// Published versions, under `name\0{version:010}` in VERSIONS: a function's
/// versions list together, in number order.
struct Published;

impl Schema<FunctionRecord> for Published {
    fn key(rec: &FunctionRecord) -> Cow<'_, str> {
        // Zero-padded like `version_key`: a published version is a number.
        Cow::Owned(format!("{}\0{:0>10}", rec.name, rec.version))
    }
    fn format(rec: &FunctionRecord) -> u32 {
        rec.format
    }
}

/// Aliases, under `name\0alias` in ALIASES.
struct Aliases;

impl Schema<AliasRecord> for Aliases {
    fn key(a: &AliasRecord) -> Cow<'_, str> {
        Cow::Owned(alias_key(&a.function, &a.name))
    }
    fn format(a: &AliasRecord) -> u32 {
        a.format
    }
}

pub(crate) const VERSIONS: Table = Table("function_versions");
pub(crate) const PROVISIONED: Table = Table("provisioned_concurrency");
pub(crate) const ALIASES: Table = Table("function_aliases");

fn version_key(name: &str, version: u32) -> String {
    format!("{name}\0{version:010}")
}

fn alias_key(name: &str, alias: &str) -> String {
    format!("{name}\0{alias}")
}

/// The prefix of the keys of `name`'s versions and aliases (a function name
/// holds no NUL).
fn owned_by(name: &str) -> String {
    format!("{name}\0")
}

/// `CreateAlias` / `UpdateAlias` input.
#[derive(Debug, Clone, Default)]
pub struct AliasInput {
    pub name: String,
    pub function_version: Option<String>,
    pub description: Option<String>,
    /// `Some(empty)` removes the routing on update.
    pub additional_weights: Option<BTreeMap<String, f64>>,
    pub revision_id: Option<String>,
}

/// Alias names: 1-128 of `[a-zA-Z0-9-_]`, not all digits (those are versions).
pub fn is_valid_alias(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        && !name.bytes().all(|c| c.is_ascii_digit())
}

fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<u32> {
    if value < min || value > max {
        return Err(Error::InvalidParameter(format!(
            "{field} value {value} is out of range: it must be between {min} and {max}"
        )));
    }
    Ok(value as u32)
}

fn check_runtime(id: &str) -> Result<Runtime> {
    Runtime::parse(id).ok_or_else(|| {
        Error::InvalidParameter(format!(
            "The runtime parameter of {id} is not supported by Nimbus. Supported runtimes: {}",
            nimbus_model::function::SUPPORTED_RUNTIMES.join(", ")
        ))
    })
}

fn check_handler(handler: Option<&str>, runtime: &Runtime) -> Result<String> {
    let Some(h) = handler else {
        if runtime.needs_module_handler() {
            return Err(Error::InvalidParameter(format!(
                "Handler is required for runtime {}: name it as MODULE.FUNCTION, e.g. app.lambda_handler",
                runtime.id
            )));
        }
        return Ok(String::new());
    };
    if h.is_empty() || h.len() > 128 || h.chars().any(char::is_whitespace) {
        return Err(Error::InvalidParameter(format!(
            "Handler '{h}' is not valid: it must be 1 to 128 characters without whitespace"
        )));
    }
    Ok(h.to_string())
}

fn check_role(role: &str) -> Result<()> {
    if is_valid_role_arn(role) {
        return Ok(());
    }
    Err(Error::Validation(format!(
        "1 validation error detected: Value '{role}' at 'role' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{{12}}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"
    )))
}

fn check_environment(env: &BTreeMap<String, String>) -> Result<()> {
    let reserved: Vec<&str> = env
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(Error::InvalidParameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables \
             you have provided contains reserved keys that are currently not supported for modification. \
             Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    for k in env.keys() {
        let mut chars = k.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: \
                 Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+] (key '{k}')"
            )));
        }
    }
    let size = serde_json::to_string(env).map(|s| s.len()).unwrap_or(0);
    if size > 4096 {
        return Err(Error::InvalidParameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables \
             you have provided exceeded the 4KB limit. String measured: {size} bytes"
        )));
    }
    Ok(())
}

/// Asynchronous results can go to another function; queues and topics arrive
/// with the services that provide them.
pub(crate) fn check_target(field: &str, arn: &str) -> Result<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", p, "lambda", _, _, "function", name, ..]
            if p.starts_with("aws") && is_valid_function_name(name) =>
        {
            Ok(name.to_string())
        }
        ["arn", p, "sqs", region, account, name]
            if p.starts_with("aws")
                && !region.is_empty()
                && !account.is_empty()
                && !name.is_empty() =>
        {
            // A queue: delivered through the queue sink (see `Functions::set_queue_sink`).
            Ok(arn.to_string())
        }
        ["arn", p, "events", region, account, bus]
            if p.starts_with("aws")
                && !region.is_empty()
                && !account.is_empty()
                && bus.starts_with("event-bus/") =>
        {
            // An event bus: delivered through the outbox, as queues are.
            Ok(arn.to_string())
        }
        ["arn", p, "sns", region, account, name]
            if p.starts_with("aws")
                && !region.is_empty()
                && !account.is_empty()
                && !name.is_empty() =>
        {
            // A topic: delivered through the outbox, as queues are.
            Ok(arn.to_string())
        }
        ["arn", p, service, ..] if p.starts_with("aws") && ["sns", "events"].contains(service) => {
            Err(Error::InvalidParameter(format!(
                "{field} {arn}: {service} targets are not supported by Nimbus yet; use a Lambda function ARN"
            )))
        }
        _ => Err(Error::InvalidParameter(format!(
            "{field} {arn} is not a valid Lambda function ARN"
        ))),
    }
}

/// Whether a checked target is a queue or a topic (its ARN) rather than a
/// function (its name).
pub(crate) fn is_queue_target(checked: &str) -> bool {
    checked.starts_with("arn:")
}

/// Whether publishing `latest` would repeat `published` (Lambda then returns it).
fn same_configuration(published: &FunctionRecord, latest: &FunctionRecord) -> bool {
    published.code.digest == latest.code.digest
        && published.runtime == latest.runtime
        && published.handler == latest.handler
        && published.role == latest.role
        && published.timeout_secs == latest.timeout_secs
        && published.memory_mb == latest.memory_mb
        && published.ephemeral_storage_mb == latest.ephemeral_storage_mb
        && published.environment == latest.environment
        && published.architecture == latest.architecture
        && published.dead_letter_target == latest.dead_letter_target
        && published.vpc == latest.vpc
        && published.layers == latest.layers
        && published.logging == latest.logging
        && published.tracing == latest.tracing
        && published.snap_start == latest.snap_start
}

/// Check `SnapStart.ApplyOn` as Lambda does: an enum, and `PublishedVersions` only
/// on the runtimes SnapStart supports (Java 11 and later, Python 3.12 and later).
fn check_snap_start(apply_on: Option<&str>, runtime: &Runtime) -> Result<Option<String>> {
    match apply_on {
        None | Some("None") => Ok(None),
        Some("PublishedVersions") => {
            let supported = match runtime.family {
                nimbus_model::RuntimeFamily::Java { major } => major >= 11,
                nimbus_model::RuntimeFamily::Python { minor } => minor >= 12,
                _ => false,
            };
            if !supported {
                return Err(Error::InvalidParameter(format!(
                    "SnapStart is not supported for runtime {}: it is available for java11 and later and python3.12 and later.",
                    runtime.id
                )));
            }
            Ok(Some("PublishedVersions".into()))
        }
        Some(other) => Err(Error::Validation(format!(
            "1 validation error detected: Value '{other}' at 'snapStart.applyOn' failed to satisfy constraint: \
             Member must satisfy enum value set: [PublishedVersions, None]"
        ))),
    }
}

/// Check `TracingConfig.Mode` as Lambda does.
fn check_tracing(mode: String) -> Result<Option<String>> {
    match mode.as_str() {
        "Active" => Ok(Some(mode)),
        "PassThrough" => Ok(None),
        _ => Err(Error::Validation(format!(
            "1 validation error detected: Value '{mode}' at 'tracingConfig.mode' failed to satisfy constraint: Member must satisfy enum value set: [Active, PassThrough]"
        ))),
    }
}

/// Check a `LoggingConfig` as Lambda does: the format, levels only with
/// JSON, the log group's name.
fn check_logging(
    l: nimbus_model::function::LoggingConfig,
) -> Result<Option<nimbus_model::function::LoggingConfig>> {
    if !matches!(l.format.as_str(), "Text" | "JSON") {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '{}' at 'loggingConfig.logFormat' failed to satisfy constraint: Member must satisfy enum value set: [JSON, Text]",
            l.format
        )));
    }
    let json = l.format == "JSON";
    for (name, level, allowed) in [
        (
            "applicationLogLevel",
            &l.application_level,
            &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"][..],
        ),
        (
            "systemLogLevel",
            &l.system_level,
            &["DEBUG", "INFO", "WARN"][..],
        ),
    ] {
        if let Some(v) = level {
            if !allowed.contains(&v.as_str()) {
                return Err(Error::Validation(format!(
                    "1 validation error detected: Value '{v}' at 'loggingConfig.{name}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                )));
            }
            if !json {
                return Err(Error::InvalidParameter(format!(
                    "LogLevel is not supported when LogFormat is set to \"Text\". Remove LogLevel from your request or change the LogFormat to \"JSON\" and try again. ({name})"
                )));
            }
        }
    }
    if let Some(g) = &l.log_group
        && (g.is_empty()
            || g.len() > 512
            || !g
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b)))
    {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '{g}' at 'loggingConfig.logGroup' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )));
    }
    let default = l.format == "Text" && l.log_group.is_none();
    Ok((!default).then_some(l))
}

/// Lambda's limit on a function's code and its layers, unzipped together.
fn check_total_size(code_unzipped: u64, layers: &[nimbus_model::LayerRef]) -> Result<()> {
    let total = code_unzipped + layers.iter().map(|l| l.unzipped_size).sum::<u64>();
    if total > code::MAX_UNZIPPED_BYTES {
        return Err(Error::InvalidParameter(format!(
            "Function code combined with layers exceeds the maximum allowed size of {} bytes. The actual size is {total} bytes.",
            code::MAX_UNZIPPED_BYTES
        )));
    }
    Ok(())
}

fn check_architectures(archs: Option<&Vec<String>>) -> Result<String> {
    match archs.map(Vec::as_slice) {
        None | Some([]) => Ok("x86_64".into()),
        Some([a]) if a == "x86_64" || a == "arm64" => Ok(a.clone()),
        Some(other) => Err(Error::Validation(format!(
            "1 validation error detected: Value '{other:?}' at 'architectures' failed to satisfy constraint: \
             Member must have length less than or equal to 1, and each member must be x86_64 or arm64"
        ))),
    }
}

/// A `RevisionId` given with an update must be the record's `current` one.
fn check_revision(current: &str, given: Option<&str>) -> Result<()> {
    match given {
        Some(rev) if rev != current => Err(Error::PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
        )),
        _ => Ok(()),
    }
}

/// Apply `UpdateFunctionConfiguration` to a copy of `$LATEST`; `layers` are
/// the request's `Layers`, resolved.
fn configure(
    rec: &mut FunctionRecord,
    req: UpdateConfiguration,
    layers: Option<Vec<nimbus_model::LayerRef>>,
) -> Result<()> {
    if let Some(l) = layers {
        rec.layers = l;
    }
    if let Some(r) = &req.runtime {
        rec.runtime = check_runtime(r)?.id;
    }
    let runtime = check_runtime(&rec.runtime)?;
    if let Some(role) = req.role {
        check_role(&role)?;
        rec.role = role;
    }
    if req.handler.is_some() || req.runtime.is_some() {
        let h = req
            .handler
            .as_deref()
            .or((!rec.handler.is_empty()).then_some(rec.handler.as_str()));
        rec.handler = check_handler(h, &runtime)?;
    }
    if let Some(d) = req.description {
        rec.description = d;
    }
    if let Some(t) = req.timeout {
        rec.timeout_secs = check_range("Timeout", t, 1, 900)?;
    }
    if let Some(m) = req.memory_size {
        rec.memory_mb = check_range("MemorySize", m, 128, 10240)?;
    }
    if let Some(e) = req.ephemeral_storage {
        rec.ephemeral_storage_mb = check_range("EphemeralStorage.Size", e, 512, 10240)?;
    }
    if let Some(env) = req.environment {
        check_environment(&env)?;
        rec.environment = env;
    }
    if let Some(v) = req.vpc {
        rec.vpc = (!v.subnet_ids.is_empty()).then_some(v);
    }
    if let Some(l) = req.logging {
        rec.logging = check_logging(l)?;
    }
    if let Some(t) = req.tracing {
        rec.tracing = check_tracing(t)?;
    }
    // A runtime change re-checks the SnapStart setting it keeps.
    let apply_on = req.snap_start.or_else(|| rec.snap_start.clone());
    rec.snap_start = check_snap_start(apply_on.as_deref(), &runtime)?;
    if let Some(t) = req.dead_letter_target {
        if t.is_empty() {
            rec.dead_letter_target = None;
        } else {
            check_target("DeadLetterConfig.TargetArn", &t)?;
            rec.dead_letter_target = Some(t);
        }
    }
    rec.last_modified_ms = nimbus_model::time::now_millis();
    rec.revision_id = new_revision();
    Ok(())
}

impl Registry {
    pub fn open(
        kv: Arc<dyn KvEngine>,
        blobs: Arc<dyn BlobStore>,
        code: Arc<CodeCache>,
        layers: Arc<Layers>,
    ) -> Result<Registry> {
        let functions = Records::open(kv.clone(), FUNCTIONS, FUNCTION_RECORD_FORMAT)?;
        let versions = Records::open(kv.clone(), VERSIONS, FUNCTION_RECORD_FORMAT)?;
        let aliases = Records::open(kv.clone(), ALIASES, ALIAS_RECORD_FORMAT)?;
        Ok(Registry {
            kv,
            blobs,
            code,
            layers,
            functions,
            versions,
            aliases,
            write: Mutex::new(()),
        })
    }

    pub fn get(&self, name: &str) -> Option<Arc<FunctionRecord>> {
        self.functions.get(name)
    }

    pub fn blob_path(&self, digest: &str) -> Option<std::path::PathBuf> {
        self.blobs.path(digest).filter(|p| p.is_file())
    }

    /// Sum of all functions' reserved concurrency (read on every invoke: no copies).
    pub fn reserved_total(&self) -> u32 {
        self.functions
            .fold(0, |sum, r| sum + r.reserved_concurrency.unwrap_or(0))
    }

    pub fn list(&self) -> Vec<Arc<FunctionRecord>> {
        // In key order: by name.
        self.functions.all()
    }

    /// Store the package durably and unpack it; returns its reference. The
    /// 50 MB limit is on packages `uploaded` in the request, not read from S3.
    fn store_code(&self, zip: &[u8], uploaded: bool) -> Result<CodeRef> {
        if zip.is_empty() {
            return Err(Error::InvalidParameter(
                "Code is required: give the deployment package as ZipFile".into(),
            ));
        }
        if uploaded && zip.len() > code::MAX_ZIPPED_BYTES {
            return Err(Error::RequestTooLarge(format!(
                "Request must be smaller than {} bytes for the CreateFunction operation",
                code::MAX_ZIPPED_BYTES
            )));
        }
        code::validate(zip)?;
        let sha = Sha256::digest(zip);
        let digest = hex::encode(sha);
        self.code.ensure(&digest, zip)?;
        let stored = self.blobs.put(zip)?;
        debug_assert_eq!(stored, digest);
        use base64::Engine as _;
        Ok(CodeRef {
            digest,
            sha256_b64: base64::engine::general_purpose::STANDARD.encode(sha),
            size: zip.len() as u64,
        })
    }

    /// The unzipped size of the stored package `digest`.
    fn unzipped_size(&self, digest: &str) -> Result<u64> {
        code::validate(&self.blobs.get(digest)?)
    }

    /// Drop a package (function code or layer) nothing references any more.
    pub(crate) fn release_code(&self, digest: &str) {
        let uses = |used: bool, r: &FunctionRecord| {
            used || r.code.digest == digest || r.layers.iter().any(|l| l.digest == digest)
        };
        let used = self.functions.fold(false, uses)
            || self.versions.fold(false, uses)
            || self.layers.uses(digest);
        // The unpacked directory stays: an environment of the old revision may
        // still be running from it. Unreferenced directories go at startup.
        if !used && let Err(e) = self.blobs.delete(digest) {
            tracing::warn!(digest, error = %e, "delete unused code blob failed");
        }
    }

    pub fn create(&self, req: CreateFunction) -> Result<Arc<FunctionRecord>> {
        if !is_valid_function_name(&req.name) {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{}' at 'functionName' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: {}",
                req.name,
                nimbus_model::arn::FUNCTION_NAME_PATTERN
            )));
        }
        let runtime_id = req.runtime.as_deref().ok_or_else(|| {
            Error::InvalidParameter("Runtime is required for .zip file archive functions".into())
        })?;
        let runtime = check_runtime(runtime_id)?;
        check_role(&req.role)?;
        let handler = check_handler(req.handler.as_deref(), &runtime)?;
        let timeout_secs = check_range("Timeout", req.timeout.unwrap_or(3), 1, 900)?;
        let memory_mb = check_range("MemorySize", req.memory_size.unwrap_or(128), 128, 10240)?;
        let ephemeral_storage_mb = check_range(
            "EphemeralStorage.Size",
            req.ephemeral_storage.unwrap_or(512),
            512,
            10240,
        )?;
        let environment = req.environment.unwrap_or_default();
        check_environment(&environment)?;
        let architecture = check_architectures(req.architectures.as_ref())?;
        let description = req.description.unwrap_or_default();
        if description.chars().count() > 256 {
            return Err(Error::Validation(
                "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256".into(),
            ));
        }

        let _w = self.write.lock().expect("registry write lock");
        if self.get(&req.name).is_some() {
            return Err(Error::Conflict(format!(
                "Function already exist: {}",
                req.name
            )));
        }
        let layers = self.layers.resolve(&req.layers)?;
        if !layers.is_empty() {
            check_total_size(code::validate(&req.zip)?, &layers)?;
        }
        let snap_start = check_snap_start(req.snap_start.as_deref(), &runtime)?;
        let code = self.store_code(&req.zip, req.s3.is_none())?;
        let rec = FunctionRecord {
            format: FUNCTION_RECORD_FORMAT,
            name: req.name,
            runtime: runtime.id,
            role: req.role,
            handler,
            description,
            timeout_secs,
            memory_mb,
            ephemeral_storage_mb,
            environment,
            architecture,
            code,
            last_modified_ms: nimbus_model::time::now_millis(),
            revision_id: new_revision(),
            tags: req.tags,
            reserved_concurrency: None,
            version: nimbus_model::LATEST.into(),
            last_version: 0,
            vpc: req.vpc.filter(|v| !v.subnet_ids.is_empty()),
            layers,
            logging: match req.logging {
                Some(l) => check_logging(l)?,
                None => None,
            },
            tracing: match req.tracing {
                Some(t) => check_tracing(t)?,
                None => None,
            },
            dead_letter_target: match req.dead_letter_target.filter(|t| !t.is_empty()) {
                Some(t) => {
                    check_target("DeadLetterConfig.TargetArn", &t)?;
                    Some(t)
                }
                None => None,
            },
            recursive_loop: None,
            runtime_management: None,
            code_signing_config: req.code_signing_config,
            snap_start,
        };
        self.functions.insert(rec)?.map_err(|existing| {
            Error::Conflict(format!("Function already exist: {}", existing.name))
        })
    }

    fn current(
        &self,
        name: &str,
        not_found: impl FnOnce() -> Error,
        revision: Option<&str>,
    ) -> Result<Arc<FunctionRecord>> {
        let rec = self.get(name).ok_or_else(not_found)?;
        check_revision(&rec.revision_id, revision)?;
        Ok(rec)
    }

    /// Edit `$LATEST` of `name` with `f` and store it, if it is at `revision`
    /// when one is given; nothing changes if `f` fails.
    fn change<O>(
        &self,
        name: &str,
        not_found: impl FnOnce() -> Error,
        revision: Option<&str>,
        f: impl FnOnce(&mut FunctionRecord) -> Result<O>,
    ) -> Result<(Arc<FunctionRecord>, O)> {
        self.functions
            .change(name, |rec| {
                check_revision(&rec.revision_id, revision)?;
                f(rec)
            })?
            .ok_or_else(not_found)
    }

    pub fn update_configuration(
        &self,
        name: &str,
        not_found: impl FnOnce() -> Error,
        req: UpdateConfiguration,
    ) -> Result<Arc<FunctionRecord>> {
        let _w = self.write.lock().expect("registry write lock");
        let revision = req.revision_id.clone();
        let layers = req
            .layers
            .as_ref()
            .map(|l| self.layers.resolve(l))
            .transpose()?;
        let (rec, ()) = self.change(name, not_found, revision.as_deref(), |rec| {
            if let Some(l) = layers.as_ref().filter(|l| !l.is_empty()) {
                check_total_size(self.unzipped_size(&rec.code.digest)?, l)?;
            }
            configure(rec, req, layers)
        })?;
        Ok(rec)
    }

    pub fn update_code(
        &self,
        name: &str,
        not_found: impl FnOnce() -> Error,
        req: UpdateCode,
    ) -> Result<Arc<FunctionRecord>> {
        let _w = self.write.lock().expect("registry write lock");
        let architecture = req
            .architectures
            .is_some()
            .then(|| check_architectures(req.architectures.as_ref()));
        if req.dry_run {
            let mut rec = (*self.current(name, not_found, req.revision_id.as_deref())?).clone();
            if let Some(a) = architecture {
                rec.architecture = a?;
            }
            let unzipped = code::validate(&req.zip)?;
            check_total_size(unzipped, &rec.layers)?;
            return Ok(Arc::new(rec));
        }
        let (rec, old_digest) =
            self.change(name, not_found, req.revision_id.as_deref(), |rec| {
                if let Some(a) = architecture {
                    rec.architecture = a?;
                }
                if !rec.layers.is_empty() {
                    check_total_size(code::validate(&req.zip)?, &rec.layers)?;
                }
                let old =
                    std::mem::replace(&mut rec.code, self.store_code(&req.zip, req.s3.is_none())?);
                rec.last_modified_ms = nimbus_model::time::now_millis();
                rec.revision_id = new_revision();
                Ok(old.digest)
            })?;
        if old_digest != rec.code.digest {
            self.release_code(&old_digest);
        }
        Ok(rec)
    }

    /// Change a function's tags (its `$LATEST` record carries them for every
    /// version); `change` refuses with a message, as for too many tags.
    pub fn change_tags(
        &self,
        name: &str,
        not_found: impl FnOnce() -> Error,
        change: impl FnOnce(
            &mut std::collections::BTreeMap<String, String>,
        ) -> std::result::Result<(), String>,
    ) -> Result<Arc<FunctionRecord>> {
        let _w = self.write.lock().expect("registry write lock");
        let (rec, ()) = self.change(name, not_found, None, |rec| {
            change(&mut rec.tags).map_err(Error::InvalidParameter)
        })?;
        Ok(rec)
    }

    /// Change a setting kept on `$LATEST` (`qualifier` none or `$LATEST`) or
    /// on a published version.
    pub fn change_settings(
        &self,
        name: &str,
        qualifier: Option<&str>,
        not_found: impl FnOnce() -> Error,
        f: impl FnOnce(&mut FunctionRecord) -> Result<()>,
    ) -> Result<Arc<FunctionRecord>> {
        let _w = self.write.lock().expect("registry write lock");
        match qualifier.filter(|q| *q != nimbus_model::LATEST) {
            None => Ok(self.change(name, not_found, None, f)?.0),
            Some(q) => match q.parse::<u32>() {
                Ok(n) => self
                    .versions
                    .change(&version_key(name, n), f)?
                    .map(|(rec, ())| rec)
                    .ok_or_else(not_found),
                Err(_) => Err(not_found()),
            },
        }
    }

    /// Set (`Some`) or remove reserved concurrency, keeping `MIN_UNRESERVED` of
    /// `account_limit` unreserved.
    pub fn set_concurrency(
        &self,
        name: &str,
        not_found: impl FnOnce() -> Error,
        reserved: Option<u32>,
        account_limit: u32,
    ) -> Result<Arc<FunctionRecord>> {
        let _w = self.write.lock().expect("registry write lock");
        let (rec, ()) = self.change(name, not_found, None, |rec| {
            if let Some(n) = reserved {
                let others = self.functions.fold(0u32, |sum, r| {
                    if r.name == name {
                        sum
                    } else {
                        sum + r.reserved_concurrency.unwrap_or(0)
                    }
                });
                if others.saturating_add(n) > account_limit.saturating_sub(MIN_UNRESERVED) {
                    return Err(Error::InvalidParameter(format!(
                        "Specified ReservedConcurrentExecutions for function decreases account's \
                         UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
                    )));
                }
            }
            rec.reserved_concurrency = reserved;
            Ok(())
        })?;
        Ok(rec)
    }

    pub fn event_config(&self, name: &str) -> Result<Option<EventInvokeConfig>> {
        match self.kv.get(EVENT_CONFIGS, name.as_bytes())? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| Error::Internal(format!("read event invoke config of {name}: {e}"))),
            None => Ok(None),
        }
    }

    /// Store (`Some`) or delete an event invoke config.
    pub fn set_event_config(&self, name: &str, cfg: Option<&EventInvokeConfig>) -> Result<()> {
        let mut batch = WriteBatch::new();
        match cfg {
            Some(c) => {
                let v = serde_json::to_vec(c).map_err(|e| Error::Internal(e.to_string()))?;
                batch.put(EVENT_CONFIGS, name.as_bytes().to_vec(), v);
            }
            None => {
                batch.delete(EVENT_CONFIGS, name.as_bytes().to_vec());
            }
        }
        self.kv.commit(batch)?;
        Ok(())
    }

    /// All code digests referenced by any version of any function or by a layer.
    pub fn all_digests(&self) -> HashSet<String> {
        let add = |mut d: HashSet<String>, r: &FunctionRecord| {
            d.insert(r.code.digest.clone());
            d.extend(r.layers.iter().map(|l| l.digest.clone()));
            d
        };
        let mut d = self.functions.fold(HashSet::new(), add);
        d.extend(self.layers.digests());
        self.versions.fold(d, add)
    }

    pub fn get_version(&self, name: &str, version: &str) -> Option<Arc<FunctionRecord>> {
        if version == LATEST {
            return self.get(name);
        }
        let n: u32 = version.parse().ok()?;
        self.versions.get(&version_key(name, n))
    }

    /// The revision environments of `name`'s `version` must have to be reused.
    pub fn current_revision(&self, name: &str, version: &str) -> Option<String> {
        self.get_version(name, version)
            .map(|r| r.revision_id.clone())
    }

    /// `$LATEST` followed by the published versions in order.
    pub fn list_versions(&self, name: &str) -> Option<Vec<Arc<FunctionRecord>>> {
        let latest = self.get(name)?;
        let mut all = vec![latest];
        all.extend(self.versions.prefixed(&owned_by(name)));
        Some(all)
    }

    /// Publish `$LATEST` as a new version, unless nothing changed since the last one.
    pub fn publish_version(
        &self,
        name: &str,
        not_found: impl FnOnce() -> Error,
        description: Option<String>,
        code_sha256: Option<String>,
        revision_id: Option<String>,
    ) -> Result<Arc<FunctionRecord>> {
        let _w = self.write.lock().expect("registry write lock");
        let latest = self.current(name, not_found, revision_id.as_deref())?;
        if let Some(sha) = code_sha256
            && sha != latest.code.sha256_b64
        {
            return Err(Error::InvalidParameter(format!(
                "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again.",
                latest.code.sha256_b64
            )));
        }
        if let Some(last) = self.get_version(name, &latest.last_version.to_string())
            && same_configuration(&last, &latest)
            && description.as_ref().is_none_or(|d| *d == last.description)
        {
            return Ok(last);
        }
        let n = latest.last_version + 1;
        let mut snapshot = (*latest).clone();
        snapshot.version = n.to_string();
        snapshot.last_version = 0;
        snapshot.revision_id = new_revision();
        snapshot.last_modified_ms = nimbus_model::time::now_millis();
        if let Some(d) = description {
            snapshot.description = d;
        }
        let mut updated = (*latest).clone();
        updated.last_version = n;
        // The new version and `$LATEST`'s count of them commit together.
        let mut functions = self.functions.writer();
        let mut versions = self.versions.writer();
        let mut batch = WriteBatch::new();
        let snapshot = versions.put(&mut batch, snapshot)?;
        functions.put(&mut batch, updated)?;
        self.kv.commit(batch)?;
        functions.apply();
        versions.apply();
        Ok(snapshot)
    }

    pub fn delete_version(
        &self,
        name: &str,
        version: &str,
        not_found: impl FnOnce() -> Error,
    ) -> Result<()> {
        let _w = self.write.lock().expect("registry write lock");
        let rec = self.get_version(name, version).ok_or_else(not_found)?;
        let n: u32 = version
            .parse()
            .map_err(|_| Error::InvalidParameter("version must be a number".into()))?;
        let using: Vec<String> = self
            .list_aliases(name)
            .into_iter()
            .filter(|a| a.function_version == version || a.additional_weights.contains_key(version))
            .map(|a| a.name)
            .collect();
        if !using.is_empty() {
            return Err(Error::Conflict(format!(
                "Unable to delete version because the following aliases reference it: {using:?}"
            )));
        }
        self.versions.delete(&version_key(name, n))?;
        self.release_code(&rec.code.digest);
        Ok(())
    }

    pub fn provisioned_configs(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<nimbus_model::ProvisionedConfig>> {
        let prefix = name
            .map(|n| format!("{n}\0").into_bytes())
            .unwrap_or_default();
        self.kv
            .scan_prefix(PROVISIONED, &prefix)?
            .into_iter()
            .map(|(_, v)| {
                serde_json::from_slice(&v)
                    .map_err(|e| Error::Internal(format!("read provisioned config: {e}")))
            })
            .collect()
    }

    /// Store (`Some`) or delete the provisioned config of `name:qualifier`.
    pub fn set_provisioned(
        &self,
        name: &str,
        qualifier: &str,
        cfg: Option<&nimbus_model::ProvisionedConfig>,
    ) -> Result<()> {
        let key = format!("{name}\0{qualifier}").into_bytes();
        let mut batch = WriteBatch::new();
        match cfg {
            Some(c) => {
                batch.put(
                    PROVISIONED,
                    key,
                    serde_json::to_vec(c).map_err(|e| Error::Internal(e.to_string()))?,
                );
            }
            None => {
                batch.delete(PROVISIONED, key);
            }
        }
        self.kv.commit(batch)?;
        Ok(())
    }

    pub fn list_aliases(&self, name: &str) -> Vec<AliasRecord> {
        let aliases = self.aliases.prefixed(&owned_by(name));
        aliases.iter().map(|a| AliasRecord::clone(a)).collect()
    }

    pub fn get_alias(&self, name: &str, alias: &str) -> Option<AliasRecord> {
        self.aliases
            .get(&alias_key(name, alias))
            .map(|a| AliasRecord::clone(&a))
    }

    fn check_alias_target(
        &self,
        name: &str,
        version: &str,
        weights: &BTreeMap<String, f64>,
    ) -> Result<()> {
        if self.get_version(name, version).is_none() {
            return Err(Error::NotFound(format!(
                "Function not found: {name}:{version}"
            )));
        }
        if weights.len() > 1 {
            return Err(Error::InvalidParameter(
                "RoutingConfig supports only one additional version".into(),
            ));
        }
        for (v, w) in weights {
            if !(0.0..=1.0).contains(w) {
                return Err(Error::Validation(format!(
                    "1 validation error detected: Value '{w}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]"
                )));
            }
            if v == LATEST || v == version {
                return Err(Error::InvalidParameter(format!(
                    "Invalid function version {v} in RoutingConfig: it must be a published version other than the alias's FunctionVersion"
                )));
            }
            if self.get_version(name, v).is_none() {
                return Err(Error::InvalidParameter(format!(
                    "Function version {v} in RoutingConfig does not exist"
                )));
            }
        }
        Ok(())
    }

    pub fn create_alias(
        &self,
        function: &str,
        not_found: impl FnOnce() -> Error,
        input: AliasInput,
        alias_arn: String,
    ) -> Result<AliasRecord> {
        let _w = self.write.lock().expect("registry write lock");
        self.get(function).ok_or_else(not_found)?;
        if !is_valid_alias(&input.name) {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
                input.name
            )));
        }
        if self.get_alias(function, &input.name).is_some() {
            return Err(Error::Conflict(format!(
                "Alias already exists: {alias_arn}"
            )));
        }
        let version = input
            .function_version
            .ok_or_else(|| Error::Validation("1 validation error detected: Value null at 'functionVersion' failed to satisfy constraint: Member must not be null".into()))?;
        let weights = input.additional_weights.unwrap_or_default();
        self.check_alias_target(function, &version, &weights)?;
        let a = AliasRecord {
            format: ALIAS_RECORD_FORMAT,
            function: function.to_string(),
            name: input.name,
            function_version: version,
            description: input.description.unwrap_or_default(),
            additional_weights: weights,
            revision_id: new_revision(),
        };
        let a = self.aliases.put(a)?;
        Ok(AliasRecord::clone(&a))
    }

    pub fn update_alias(
        &self,
        function: &str,
        input: AliasInput,
        not_found: impl FnOnce() -> Error,
    ) -> Result<AliasRecord> {
        let _w = self.write.lock().expect("registry write lock");
        let key = alias_key(function, &input.name);
        let (a, ()) = self
            .aliases
            .change(&key, |a| {
                check_revision(&a.revision_id, input.revision_id.as_deref())?;
                if let Some(v) = input.function_version {
                    a.function_version = v;
                }
                if let Some(d) = input.description {
                    a.description = d;
                }
                if let Some(w) = input.additional_weights {
                    a.additional_weights = w;
                }
                self.check_alias_target(function, &a.function_version, &a.additional_weights)?;
                a.revision_id = new_revision();
                Ok::<_, Error>(())
            })?
            .ok_or_else(not_found)?;
        Ok(AliasRecord::clone(&a))
    }

    pub fn delete_alias(&self, function: &str, alias: &str) -> Result<()> {
        let _w = self.write.lock().expect("registry write lock");
        self.aliases.delete(&alias_key(function, alias))?;
        Ok(())
    }

    pub fn delete(
        &self,
        name: &str,
        not_found: impl FnOnce() -> Error,
    ) -> Result<Arc<FunctionRecord>> {
        let _w = self.write.lock().expect("registry write lock");
        // The function, its versions, aliases and configurations go in one batch.
        let mut functions = self.functions.writer();
        let mut versions = self.versions.writer();
        let mut aliases = self.aliases.writer();
        let mut batch = WriteBatch::new();
        let old = functions.delete(&mut batch, name).ok_or_else(not_found)?;
        batch.delete(EVENT_CONFIGS, name.as_bytes().to_vec());
        let published = self.versions.prefixed(&owned_by(name));
        for v in &published {
            versions.delete(&mut batch, &Published::key(v));
        }
        for a in self.aliases.prefixed(&owned_by(name)) {
            aliases.delete(&mut batch, &Aliases::key(&a));
        }
        for (k, _) in self
            .kv
            .scan_prefix(PROVISIONED, owned_by(name).as_bytes())?
        {
            batch.delete(PROVISIONED, k);
        }
        self.kv.commit(batch)?;
        functions.apply();
        versions.apply();
        aliases.apply();
        self.release_code(&old.code.digest);
        for v in &published {
            self.release_code(&v.code.digest);
        }
        Ok(old)
    }
}

#[cfg(test)]
mod tests;
