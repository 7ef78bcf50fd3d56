//! The functions service: the registry of functions, their code packages, the
//! execution environments that run them, and their logs. It implements the
//! [`Invoker`] every trigger calls.
//!
//! It is not an HTTP API: `nimbus-api-lambda` turns wire requests into calls on
//! [`Functions`], and maps [`Error`] onto Lambda's error codes.

pub mod async_invoke;
pub mod code;
pub mod code_signing;
pub mod concurrency;
pub mod error;
mod execution;
pub mod layers;
pub mod lineage;
pub mod logs;
mod metrics;
mod registry;
pub mod roles;
pub mod runtimes;
pub mod urls;
mod xray;

pub use error::{Error, Result};
pub use execution::{ExecConfig, PlatformEndpoint};
pub use registry::{AliasInput, CreateFunction, UpdateCode, UpdateConfiguration};

use bytes::Bytes;
use code::CodeCache;
use execution::Executor;
use logs::LogStore;
use nimbus_invoke::{
    BoxFuture, InvocationType, InvokeError, InvokeRequest, InvokeResponse, Invoker,
    MAX_SYNC_PAYLOAD, Outbox, Staged, Target, Timing,
};
use nimbus_model::{FunctionRecord, Identity, LATEST};
use nimbus_sandbox::Sandbox;
use nimbus_storage::{BlobStore, KvEngine};
use registry::Registry;
use runtimes::Runtimes;
use std::path::Path;
use std::sync::Arc;

/// The functions service. Cheap to share behind an `Arc`.
pub struct Functions {
    identity: Identity,
    registry: Arc<Registry>,
    executor: Arc<Executor>,
    roles: std::sync::OnceLock<Arc<dyn roles::ExecutionRoles>>,
    logs: Arc<LogStore>,
    queue: Arc<async_invoke::Queue>,
    concurrency: concurrency::Concurrency,
    concurrency_limit: u32,
    async_retry_delay: std::time::Duration,
    /// Where destinations and dead-letter targets that are queues go.
    outbox: std::sync::OnceLock<Arc<dyn Outbox>>,
    /// Function URL configurations by URL id, as served (cleared on every change).
    url_cache: std::sync::Mutex<std::collections::HashMap<String, urls::UrlConfig>>,
    kv: Arc<dyn KvEngine>,
    /// Where packages given as `S3Bucket`/`S3Key` are read from.
    code_objects: std::sync::OnceLock<Arc<dyn code::CodeObjects>>,
}

/// `PutFunctionEventInvokeConfig` / `UpdateFunctionEventInvokeConfig` input.
#[derive(Debug, Clone, Default)]
pub struct EventInvokeConfigInput {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_secs: Option<i64>,
    /// `Some("")` clears a destination on update.
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
}

/// Where the service keeps its files, and which interpreters run shipped runtimes.
#[derive(Debug, Clone)]
pub struct Paths<'a> {
    pub data_dir: &'a Path,
    pub python: &'a str,
    pub node: &'a str,
    pub java: &'a str,
    pub ruby: &'a str,
}

impl Functions {
    /// Open the service over the given storage; must run inside a Tokio runtime.
    pub fn open(
        cfg: ExecConfig,
        paths: Paths<'_>,
        kv: Arc<dyn KvEngine>,
        blobs: Arc<dyn BlobStore>,
        sandbox: Arc<dyn Sandbox>,
    ) -> Result<Functions> {
        let io = |what: &str| {
            let what = what.to_string();
            move |e: std::io::Error| Error::Internal(format!("{what}: {e}"))
        };
        let code =
            Arc::new(CodeCache::new(paths.data_dir.join("code")).map_err(io("open code cache"))?);
        let logs = Arc::new(LogStore::new(Arc::new(
            nimbus_logs::Logs::open(
                paths.data_dir.join("logs"),
                kv.clone(),
                &cfg.identity.account_id,
                &cfg.identity.region,
            )
            .map_err(|e| Error::Internal(format!("open the log store: {e}")))?,
        )));
        let hosts = runtimes::Interpreters {
            python: paths.python,
            node: paths.node,
            java: paths.java,
            ruby: paths.ruby,
        };
        let runtimes = Runtimes::install(&paths.data_dir.join("runtimes"), &hosts)
            .map_err(io("install runtime bootstraps"))?;
        if runtimes.python().is_none() {
            tracing::warn!(
                "no python3 found: python3.* functions will fail with Runtime.Unavailable"
            );
        }
        if runtimes.node().is_none() {
            tracing::warn!("no node found: nodejs* functions will fail with Runtime.Unavailable");
        }
        if runtimes.jdks().next().is_none() {
            tracing::warn!("no JDK found: java* functions will fail with Runtime.Unavailable");
        }
        if runtimes.ruby().is_none() {
            tracing::warn!("no ruby found: ruby3.* functions will fail with Runtime.Unavailable");
        }
        let layers = Arc::new(layers::Layers::open(
            kv.clone(),
            blobs.clone(),
            code.clone(),
            cfg.identity.clone(),
        )?);
        let registry = Arc::new(Registry::open(
            kv.clone(),
            blobs.clone(),
            code.clone(),
            layers,
        )?);
        let queue = Arc::new(async_invoke::Queue::open(kv.clone())?);
        // Unpacked packages nothing references any more (left by updates and deletes).
        let live = registry.all_digests();
        if let Ok(entries) = std::fs::read_dir(paths.data_dir.join("code")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if !live.contains(&name) {
                    code.remove(&name);
                }
            }
        }
        let identity = cfg.identity.clone();
        let concurrency_limit = cfg.concurrency_limit;
        let async_retry_delay = cfg.async_retry_delay;
        let executor = Executor::new(
            cfg,
            runtimes,
            sandbox,
            logs.clone(),
            code,
            blobs,
            registry.clone(),
        );
        Ok(Functions {
            identity,
            registry,
            executor,
            roles: std::sync::OnceLock::new(),
            logs,
            queue,
            concurrency: concurrency::Concurrency::default(),
            concurrency_limit,
            async_retry_delay,
            outbox: std::sync::OnceLock::new(),
            url_cache: std::sync::Mutex::new(std::collections::HashMap::new()),
            kv,
            code_objects: std::sync::OnceLock::new(),
        })
    }

    /// Connect the queue service, for destinations and dead-letter targets
    /// that are queues (set once, at start).
    pub fn set_outbox(&self, outbox: Arc<dyn Outbox>) {
        let _ = self.outbox.set(outbox);
    }

    /// Connect the object store, for code given as `S3Bucket`/`S3Key` (set once, at start).
    pub fn set_code_objects(&self, objects: Arc<dyn code::CodeObjects>) {
        let _ = self.code_objects.set(objects);
    }

    /// A package from the object store.
    fn read_s3(&self, at: &code::S3Code) -> Result<Vec<u8>> {
        code::read_s3(self.code_objects.get().map(|o| &**o), at)
    }

    /// Record Lambda's own metrics (`AWS/Lambda`) in `m`.
    pub fn set_metrics(&self, m: Arc<nimbus_metrics::Metrics>) {
        self.logs.set_metrics(m.clone());
        self.executor.set_metrics(m);
    }

    /// Record X-Ray segments in `t`: the platform's for sampled invocations,
    /// and what functions' X-Ray SDKs send to their daemon address (inside
    /// an isolated environment `127.0.0.1:2000`; otherwise `host_daemon`,
    /// the server's own daemon socket).
    pub fn set_traces(&self, t: Arc<nimbus_traces::Traces>, host_daemon: String) {
        self.executor.set_traces(t, host_daemon);
    }

    /// The CloudWatch Logs store functions write their log groups to.
    pub fn logs(&self) -> Arc<nimbus_logs::Logs> {
        self.logs.logs().clone()
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn exec_config(&self) -> &ExecConfig {
        self.executor.config()
    }

    fn not_found(&self, name: &str) -> Error {
        Error::NotFound(format!(
            "Function not found: {}",
            self.identity.function_arn(name)
        ))
    }

    pub fn get(&self, name: &str) -> Result<Arc<FunctionRecord>> {
        self.registry.get(name).ok_or_else(|| self.not_found(name))
    }

    pub fn list(&self) -> Vec<Arc<FunctionRecord>> {
        self.registry.list()
    }

    /// Give each environment its function's execution-role credentials, and
    /// refuse roles Lambda cannot assume ([`roles`]).
    pub fn set_execution_roles(&self, roles: Arc<dyn roles::ExecutionRoles>) {
        let _ = self.roles.set(roles.clone());
        self.executor.set_execution_roles(roles);
    }

    /// Refuse a role Lambda cannot assume (when execution roles are on).
    fn check_role(&self, role: &str) -> Result<()> {
        match self.roles.get().map(|r| r.check(role)) {
            Some(Err(roles::RoleError::NotAssumable(_))) => {
                Err(Error::InvalidParameter(roles::NOT_ASSUMABLE.to_string()))
            }
            Some(Err(roles::RoleError::Unavailable(m))) => Err(Error::Internal(m)),
            Some(Ok(())) | None => Ok(()),
        }
    }

    /// Create a function; its package is unpacked off the async threads.
    pub async fn create(self: &Arc<Self>, req: CreateFunction) -> Result<Arc<FunctionRecord>> {
        // A malformed ARN is the registry's ValidationException.
        if nimbus_model::arn::is_valid_role_arn(&req.role) {
            self.check_role(&req.role)?;
        }
        let mut req = req;
        req.code_signing_config = self.check_signature(req.code_signing_config.as_deref())?;
        let me = self.clone();
        let name = req.name.clone();
        let rec = spawn_blocking(move || {
            let mut req = req;
            if let Some(at) = &req.s3 {
                req.zip = me.read_s3(at)?;
            }
            me.registry.create(req)
        })
        .await?;
        self.logs.forget(&name);
        Ok(rec)
    }

    pub async fn update_configuration(
        self: &Arc<Self>,
        name: &str,
        req: UpdateConfiguration,
    ) -> Result<Arc<FunctionRecord>> {
        if let Some(role) = req
            .role
            .as_deref()
            .filter(|r| nimbus_model::arn::is_valid_role_arn(r))
        {
            self.check_role(role)?;
        }
        let me = self.clone();
        let n = name.to_string();
        let rec = spawn_blocking(move || {
            me.registry
                .update_configuration(&n, || me.not_found(&n), req)
        })
        .await?;
        self.executor.retire(name, false);
        Ok(rec)
    }

    pub async fn update_code(
        self: &Arc<Self>,
        name: &str,
        req: UpdateCode,
    ) -> Result<Arc<FunctionRecord>> {
        let me = self.clone();
        let n = name.to_string();
        let dry = req.dry_run;
        let rec = spawn_blocking(move || {
            let mut req = req;
            me.check_signature(me.get(&n)?.code_signing_config.as_deref())?;
            if let Some(at) = &req.s3 {
                req.zip = me.read_s3(at)?;
            }
            me.registry.update_code(&n, || me.not_found(&n), req)
        })
        .await?;
        if !dry {
            self.executor.retire(name, false);
        }
        Ok(rec)
    }

    pub async fn delete(self: &Arc<Self>, name: &str) -> Result<()> {
        let me = self.clone();
        let n = name.to_string();
        spawn_blocking(move || me.registry.delete(&n, || me.not_found(&n))).await?;
        self.executor.retire(name, true);
        self.logs.forget(name);
        self.forget_function_resources(name)?;
        Ok(())
    }

    /// The version a qualifier names: `None`/`$LATEST`, a version number, or an
    /// alias (which may route a share of calls to its additional version).
    pub fn resolve(&self, name: &str, qualifier: Option<&str>) -> Result<Arc<FunctionRecord>> {
        let not_found = |q: &str| {
            Error::NotFound(format!(
                "Function not found: {}:{q}",
                self.identity.function_arn(name)
            ))
        };
        match qualifier {
            None | Some(LATEST) => self.get(name),
            Some(q) if q.bytes().all(|c| c.is_ascii_digit()) => {
                self.get(name)?;
                self.registry
                    .get_version(name, q)
                    .ok_or_else(|| not_found(q))
            }
            Some(q) => {
                self.get(name)?;
                let alias = self
                    .registry
                    .get_alias(name, q)
                    .ok_or_else(|| not_found(q))?;
                let mut version = alias.function_version.clone();
                if let Some((extra, weight)) = alias.additional_weights.iter().next() {
                    let r = (uuid::Uuid::new_v4().as_u128() >> 64) as f64 / u64::MAX as f64;
                    if r < *weight {
                        version = extra.clone();
                    }
                }
                self.registry
                    .get_version(name, &version)
                    .ok_or_else(|| not_found(&version))
            }
        }
    }

    pub async fn publish_version(
        self: &Arc<Self>,
        name: &str,
        description: Option<String>,
        code_sha256: Option<String>,
        revision_id: Option<String>,
    ) -> Result<Arc<FunctionRecord>> {
        let me = self.clone();
        let n = name.to_string();
        let rec = spawn_blocking(move || {
            me.registry.publish_version(
                &n,
                || me.not_found(&n),
                description,
                code_sha256,
                revision_id,
            )
        })
        .await?;
        // SnapStart: the version's first environment is initialized now; until it
        // is, the version is `Pending` and refuses invocations.
        if rec.snap_start_on() {
            self.executor.prepare_snapshot(rec.clone(), true);
        }
        Ok(rec)
    }

    pub fn list_versions(&self, name: &str) -> Result<Vec<Arc<FunctionRecord>>> {
        self.registry
            .list_versions(name)
            .ok_or_else(|| self.not_found(name))
    }

    /// Whether a published SnapStart version is still initializing its first
    /// environment (its state is `Pending` until then).
    pub fn snap_start_pending(&self, rec: &FunctionRecord) -> bool {
        self.executor.snapshot_pending(&rec.name, &rec.version)
    }

    /// `DeleteFunction` with a version qualifier.
    pub async fn delete_version(self: &Arc<Self>, name: &str, version: &str) -> Result<()> {
        let me = self.clone();
        let (n, v) = (name.to_string(), version.to_string());
        let arn = self.identity.function_arn(name);
        spawn_blocking(move || {
            me.registry.delete_version(&n, &v, || {
                Error::NotFound(format!("Function not found: {arn}:{v}"))
            })
        })
        .await?;
        self.executor.forget_snapshots(name, Some(version));
        Ok(())
    }

    pub fn alias_arn(&self, name: &str, alias: &str) -> String {
        format!("{}:{alias}", self.identity.function_arn(name))
    }

    pub fn create_alias(&self, name: &str, input: AliasInput) -> Result<nimbus_model::AliasRecord> {
        let arn = self.alias_arn(name, &input.name);
        self.registry
            .create_alias(name, || self.not_found(name), input, arn)
    }

    pub fn get_alias(&self, name: &str, alias: &str) -> Result<nimbus_model::AliasRecord> {
        self.get(name)?;
        self.registry.get_alias(name, alias).ok_or_else(|| {
            Error::NotFound(format!(
                "Cannot find alias arn: {}",
                self.alias_arn(name, alias)
            ))
        })
    }

    pub fn update_alias(&self, name: &str, input: AliasInput) -> Result<nimbus_model::AliasRecord> {
        self.get(name)?;
        let arn = self.alias_arn(name, &input.name);
        self.registry.update_alias(name, input, || {
            Error::NotFound(format!("Cannot find alias arn: {arn}"))
        })
    }

    pub fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        self.get_alias(name, alias)?;
        self.registry.delete_alias(name, alias)
    }

    pub fn list_aliases(&self, name: &str) -> Result<Vec<nimbus_model::AliasRecord>> {
        self.get(name)?;
        Ok(self.registry.list_aliases(name))
    }

    /// The stored deployment package of a function.
    pub fn code_path(&self, digest: &str) -> Option<std::path::PathBuf> {
        self.registry.blob_path(digest)
    }

    /// Stop all environments and clean up after them (server shutdown).
    pub async fn shutdown(&self) {
        self.executor.shutdown().await;
    }

    /// Warm idle environments of `function` right now.
    pub fn idle_environments(&self, function: &str) -> usize {
        self.executor.idle_count(function)
    }

    async fn invoke_request(
        &self,
        req: InvokeRequest,
    ) -> std::result::Result<InvokeResponse, InvokeError> {
        if req.payload.len() > MAX_SYNC_PAYLOAD {
            return Err(InvokeError::RequestTooLarge(format!(
                "Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"
            )));
        }
        let rec = self
            .resolve(&req.function, req.qualifier.as_deref())
            .map_err(|e| InvokeError::FunctionNotFound(e.to_string()))?;
        let mut req = req;
        if req.payload.is_empty() {
            req.payload = Bytes::from_static(b"{}");
        } else if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&req.payload) {
            return Err(InvokeError::InvalidRequestContent(format!(
                "Could not parse request body into json: {e}"
            )));
        }
        match req.invocation_type {
            InvocationType::DryRun => Ok(InvokeResponse {
                status: 204,
                payload: Bytes::new(),
                function_error: None,
                log_result: None,
                executed_version: "$LATEST".into(),
                request_id: uuid::Uuid::new_v4().to_string(),
                timing: Timing::default(),
                stream: None,
            }),
            InvocationType::Event => {
                if req.payload.len() > async_invoke::MAX_ASYNC_PAYLOAD {
                    return Err(InvokeError::RequestTooLarge(format!(
                        "Request must be smaller than {} bytes for the InvokeAsync operation",
                        async_invoke::MAX_ASYNC_PAYLOAD
                    )));
                }
                let request_id = uuid::Uuid::new_v4().to_string();
                let mut ev = self
                    .queue
                    .new_event(&rec.name, &req.payload, request_id.clone());
                // Run what was asked for: a version or alias, re-resolved at run time.
                ev.qualifier = req.qualifier.clone().filter(|q| q != "$LATEST");
                ev.trace_id = Some(lineage::child(
                    req.trace_id.as_deref(),
                    &self.identity.function_arn(&rec.name),
                ));
                // Durable before the 202: the caller is told only what survives a crash.
                self.queue
                    .commit(&[ev], None)
                    .map_err(|e| InvokeError::Service(format!("queue the event: {e}")))?;
                if let Some(m) = self.executor.metrics() {
                    metrics::async_event(m, &rec, "AsyncEventsReceived", 1.0);
                }
                Ok(InvokeResponse {
                    status: 202,
                    payload: Bytes::new(),
                    function_error: None,
                    log_result: None,
                    executed_version: rec.version.clone(),
                    request_id,
                    timing: Timing::default(),
                    stream: None,
                })
            }
            InvocationType::RequestResponse => {
                let _admitted = self.admit(&rec).map_err(|t| InvokeError::TooManyRequests {
                    message: "Rate Exceeded.".into(),
                    reason: t.reason().into(),
                })?;
                self.executor
                    .invoke(rec, &req)
                    .await
                    .map_err(|refused| match refused {
                        execution::Refused::Throttled => InvokeError::TooManyRequests {
                            message: "Rate Exceeded.".into(),
                            reason: "ConcurrentInvocationLimitExceeded".into(),
                        },
                        execution::Refused::SnapStart { code, message } => {
                            InvokeError::SnapStart { code, message }
                        }
                    })
            }
        }
    }
}

impl Functions {
    fn admit(
        &self,
        rec: &FunctionRecord,
    ) -> std::result::Result<concurrency::Admission, concurrency::Throttle> {
        let admitted =
            self.concurrency
                .admit(rec, self.concurrency_limit, self.registry.reserved_total());
        if let Some(m) = self.executor.metrics() {
            match &admitted {
                Err(_) => metrics::throttle(m, rec),
                Ok(_) => {
                    let (function, account) = self.concurrency.in_flight(&rec.name);
                    metrics::concurrency(m, rec, function, account);
                }
            }
        }
        admitted
    }

    /// The account's concurrency limit and what reservations leave unreserved.
    pub fn concurrency_limits(&self) -> (u32, u32) {
        (
            self.concurrency_limit,
            self.concurrency_limit
                .saturating_sub(self.registry.reserved_total()),
        )
    }

    pub async fn put_concurrency(
        self: &Arc<Self>,
        name: &str,
        reserved: i64,
    ) -> Result<Arc<FunctionRecord>> {
        if !(0..=self.concurrency_limit as i64).contains(&reserved) {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{reserved}' at 'reservedConcurrentExecutions' failed to \
                 satisfy constraint: Member must have value between 0 and {}",
                self.concurrency_limit
            )));
        }
        let me = self.clone();
        let n = name.to_string();
        let limit = self.concurrency_limit;
        spawn_blocking(move || {
            me.registry
                .set_concurrency(&n, || me.not_found(&n), Some(reserved as u32), limit)
        })
        .await
    }

    /// Change a function's tags (`TagResource`, `UntagResource`).
    pub async fn change_tags(
        self: &Arc<Self>,
        name: &str,
        change: impl FnOnce(
            &mut std::collections::BTreeMap<String, String>,
        ) -> std::result::Result<(), String>
        + Send
        + 'static,
    ) -> Result<Arc<FunctionRecord>> {
        let me = self.clone();
        let n = name.to_string();
        spawn_blocking(move || me.registry.change_tags(&n, || me.not_found(&n), change)).await
    }

    /// Change a setting of `$LATEST` or of a published version
    /// (`PutFunctionRecursionConfig`, `PutRuntimeManagementConfig`).
    pub async fn change_settings(
        self: &Arc<Self>,
        name: &str,
        qualifier: Option<String>,
        change: impl FnOnce(&mut FunctionRecord) -> Result<()> + Send + 'static,
    ) -> Result<Arc<FunctionRecord>> {
        let me = self.clone();
        let n = name.to_string();
        spawn_blocking(move || {
            let not_found = || match &qualifier {
                Some(q) if q != nimbus_model::LATEST => me.not_found(&format!("{n}:{q}")),
                _ => me.not_found(&n),
            };
            me.registry
                .change_settings(&n, qualifier.as_deref(), not_found, change)
        })
        .await
    }

    pub async fn delete_concurrency(self: &Arc<Self>, name: &str) -> Result<()> {
        let me = self.clone();
        let n = name.to_string();
        let limit = self.concurrency_limit;
        spawn_blocking(move || {
            me.registry
                .set_concurrency(&n, || me.not_found(&n), None, limit)
        })
        .await?;
        Ok(())
    }

    /// The stored event invoke config of `name` (`None` if it has none).
    pub fn event_invoke_config(
        &self,
        name: &str,
    ) -> Result<Option<nimbus_model::EventInvokeConfig>> {
        self.get(name)?;
        self.registry.event_config(name)
    }

    /// Put (replace) or update (merge) a function's event invoke config.
    pub fn set_event_invoke_config(
        &self,
        name: &str,
        input: EventInvokeConfigInput,
        merge: bool,
    ) -> Result<nimbus_model::EventInvokeConfig> {
        self.get(name)?;
        let mut cfg = if merge {
            self.registry.event_config(name)?.unwrap_or_default()
        } else {
            nimbus_model::EventInvokeConfig::default()
        };
        cfg.format = 1;
        if let Some(r) = input.maximum_retry_attempts {
            if !(0..=2).contains(&r) {
                return Err(Error::Validation(format!(
                    "1 validation error detected: Value '{r}' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2"
                )));
            }
            cfg.maximum_retry_attempts = Some(r as u32);
        }
        if let Some(a) = input.maximum_event_age_secs {
            if !(60..=21_600).contains(&a) {
                return Err(Error::Validation(format!(
                    "1 validation error detected: Value '{a}' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value between 60 and 21600"
                )));
            }
            cfg.maximum_event_age_secs = Some(a as u32);
        }
        for (field, value, slot) in [
            (
                "DestinationConfig.OnSuccess.Destination",
                input.on_success,
                &mut cfg.on_success,
            ),
            (
                "DestinationConfig.OnFailure.Destination",
                input.on_failure,
                &mut cfg.on_failure,
            ),
        ] {
            match value {
                Some(v) if v.is_empty() => *slot = None,
                Some(v) => {
                    registry::check_target(field, &v)?;
                    *slot = Some(v);
                }
                None => {}
            }
        }
        cfg.last_modified_ms = nimbus_model::time::now_millis();
        self.registry.set_event_config(name, Some(&cfg))?;
        Ok(cfg)
    }

    pub fn delete_event_invoke_config(&self, name: &str) -> Result<()> {
        if self.event_invoke_config(name)?.is_none() {
            return Err(Error::NotFound(format!(
                "The function {} doesn't have an EventInvokeConfig",
                self.identity.function_arn(name)
            )));
        }
        self.registry.set_event_config(name, None)
    }

    /// Asynchronous events waiting to run (or to be retried).
    pub fn queued_events(&self) -> usize {
        self.queue.pending()
    }

    /// Start the background work: the asynchronous-invocation worker and the
    /// provisioner. Call once, on the shared service.
    pub fn start_background(self: &Arc<Self>) {
        tokio::spawn(async_worker(Arc::downgrade(self)));
        tokio::spawn(provisioner(Arc::downgrade(self)));
    }

    /// The version a provisioned config on `qualifier` keeps warm.
    fn provisioned_version(&self, name: &str, qualifier: &str) -> Result<Arc<FunctionRecord>> {
        if qualifier == LATEST {
            return Err(Error::InvalidParameter(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.".into(),
            ));
        }
        let version = if qualifier.bytes().all(|c| c.is_ascii_digit()) {
            qualifier.to_string()
        } else {
            self.get_alias(name, qualifier)?.function_version
        };
        if version == LATEST {
            return Err(Error::InvalidParameter(
                "Provisioned Concurrency Configs cannot be applied to an alias of $LATEST.".into(),
            ));
        }
        self.resolve(name, Some(&version))
    }

    /// What Lambda reports of a provisioned config: (config, allocated, status).
    pub fn provisioned_status(&self, cfg: &nimbus_model::ProvisionedConfig) -> (u32, &'static str) {
        let allocated = self
            .provisioned_version(&cfg.function, &cfg.qualifier)
            .map(|rec| self.executor.provisioned_count(&rec.name, &rec.version) as u32)
            .unwrap_or(0)
            .min(cfg.requested);
        (
            allocated,
            if allocated >= cfg.requested {
                "READY"
            } else {
                "IN_PROGRESS"
            },
        )
    }

    pub fn put_provisioned(
        self: &Arc<Self>,
        name: &str,
        qualifier: &str,
        requested: i64,
    ) -> Result<nimbus_model::ProvisionedConfig> {
        if !(1..=self.concurrency_limit as i64).contains(&requested) {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{requested}' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1"
            )));
        }
        let rec = self.provisioned_version(name, qualifier)?;
        if rec.snap_start_on() {
            return Err(Error::InvalidParameter(format!(
                "Provisioned concurrency can't be configured on {}:{}: it is a SnapStart version. \
                 Use SnapStart or provisioned concurrency, not both, on one function version.",
                self.identity.function_arn(name),
                rec.version
            )));
        }
        let cfg = nimbus_model::ProvisionedConfig {
            format: 1,
            function: name.to_string(),
            qualifier: qualifier.to_string(),
            requested: requested as u32,
            last_modified_ms: nimbus_model::time::now_millis(),
        };
        self.registry.set_provisioned(name, qualifier, Some(&cfg))?;
        self.executor
            .unprovision(&rec.name, &rec.version, cfg.requested as usize);
        self.executor.provision(rec, cfg.requested as usize);
        Ok(cfg)
    }

    pub fn get_provisioned(
        &self,
        name: &str,
        qualifier: &str,
    ) -> Result<Option<nimbus_model::ProvisionedConfig>> {
        self.get(name)?;
        Ok(self
            .registry
            .provisioned_configs(Some(name))?
            .into_iter()
            .find(|c| c.qualifier == qualifier))
    }

    pub fn list_provisioned(&self, name: &str) -> Result<Vec<nimbus_model::ProvisionedConfig>> {
        self.get(name)?;
        self.registry.provisioned_configs(Some(name))
    }

    pub fn delete_provisioned(&self, name: &str, qualifier: &str) -> Result<bool> {
        let Some(cfg) = self.get_provisioned(name, qualifier)? else {
            return Ok(false);
        };
        self.registry.set_provisioned(name, qualifier, None)?;
        if let Ok(rec) = self.provisioned_version(name, &cfg.qualifier) {
            self.executor.unprovision(&rec.name, &rec.version, 0);
        }
        Ok(true)
    }

    /// Run one queued event once, and record what happens next.
    async fn process_event(self: Arc<Self>, seq: u64) {
        if let Err(e) = self.try_process_event(seq).await {
            tracing::error!(seq, error = %e, "asynchronous event processing failed; it stays queued");
            // Try again later rather than losing it.
            if let Ok(Some(mut ev)) = self.queue.load(seq) {
                ev.due_ms = nimbus_model::time::now_millis() + 5_000;
                let _ = self.queue.commit(&[ev], None);
            }
        }
    }

    async fn try_process_event(&self, seq: u64) -> Result<()> {
        use async_invoke::Condition;
        let Some(mut ev) = self.queue.load(seq)? else {
            return Ok(());
        };
        let now = nimbus_model::time::now_millis();
        let Ok(rec) = self.resolve(&ev.function, ev.qualifier.as_deref()) else {
            tracing::warn!(function = %ev.function, request_id = %ev.request_id, "dropping an asynchronous event of a deleted function");
            return self.queue.commit(&[], Some(seq));
        };
        let cfg = self.registry.event_config(&rec.name)?.unwrap_or_default();
        if now.saturating_sub(ev.enqueued_ms) > cfg.max_age_secs() as u64 * 1000 {
            return self.finish(ev, &rec, &cfg, Condition::EventAgeExceeded, None, None);
        }
        let arn = self.identity.function_arn(&rec.name);
        let depth = lineage::depth(ev.trace_id.as_deref(), &arn);
        // `PutFunctionRecursionConfig` `Allow` (on the function) lets loops run.
        if depth > lineage::LIMIT
            && !self
                .get(&rec.name)
                .is_ok_and(|f| f.recursive_loop.as_deref() == Some("Allow"))
        {
            let msg = format!(
                "Nimbus stopped a recursive invocation loop: this event would have been invocation {depth} of {} in one chain of events (the limit is {}). A function that writes where its own trigger watches (for example under the S3 prefix that invokes it) invokes itself again and again; write elsewhere. RequestId: {}",
                rec.name,
                lineage::LIMIT,
                ev.request_id
            );
            tracing::warn!(function = %rec.name, request_id = %ev.request_id, depth, "recursive invocation loop stopped");
            self.logs.append(&rec.log_group(), "recursion", &msg);
            return self.finish(
                ev,
                &rec,
                &cfg,
                Condition::RetriesExhausted,
                Some("RecursiveInvocationException"),
                None,
            );
        }
        if let Some(m) = self.executor.metrics() {
            metrics::async_event(
                m,
                &rec,
                "AsyncEventAge",
                now.saturating_sub(ev.enqueued_ms) as f64,
            );
        }
        let Ok(admitted) = self.admit(&rec) else {
            // Throttled: retried with backoff (up to 5 minutes), not counted as a run.
            ev.throttles += 1;
            let backoff = (1000u64 << ev.throttles.min(8)).min(300_000);
            ev.due_ms = now + backoff;
            return self.queue.commit(&[ev], None);
        };
        ev.attempts += 1;
        ev.throttles = 0;
        let req = InvokeRequest {
            function: rec.name.clone(),
            qualifier: ev.qualifier.clone(),
            payload: Bytes::from(ev.payload.clone()),
            invocation_type: InvocationType::Event,
            log_tail: false,
            client_context: None,
            trace_id: ev.trace_id.clone(),
            request_id: Some(ev.request_id.clone()),
            stream: false,
        };
        let out = self.executor.invoke(rec.clone(), &req).await;
        drop(admitted);
        let Ok(out) = out else {
            // No memory for an environment, or a SnapStart restore failed: retried
            // later, as a throttle is.
            ev.attempts -= 1;
            ev.throttles += 1;
            ev.due_ms =
                nimbus_model::time::now_millis() + (1000u64 << ev.throttles.min(8)).min(300_000);
            return self.queue.commit(&[ev], None);
        };
        match out.function_error {
            None => self.finish(ev, &rec, &cfg, Condition::Success, None, Some(&out.payload)),
            Some(fe) if ev.attempts > cfg.retries() => self.finish(
                ev,
                &rec,
                &cfg,
                Condition::RetriesExhausted,
                Some(&fe),
                Some(&out.payload),
            ),
            Some(_) => {
                let delay = self.async_retry_delay.as_millis() as u64 * ev.attempts as u64;
                ev.due_ms = nimbus_model::time::now_millis() + delay;
                self.queue.commit(&[ev], None)
            }
        }
    }

    /// Hand an event's outcome to its destination (or dead-letter target) and
    /// remove it, in one transaction.
    fn finish(
        &self,
        ev: async_invoke::AsyncEvent,
        rec: &FunctionRecord,
        cfg: &nimbus_model::EventInvokeConfig,
        condition: async_invoke::Condition,
        function_error: Option<&str>,
        response: Option<&[u8]>,
    ) -> Result<()> {
        use async_invoke::Condition;
        let arn = self.identity.function_arn(&rec.name);
        let (target, payload) = match condition {
            Condition::Success => match &cfg.on_success {
                Some(t) => (Some(t.clone()), None),
                None => (None, None),
            },
            _ => match (&cfg.on_failure, &rec.dead_letter_target) {
                (Some(t), _) => (Some(t.clone()), None),
                // A dead-letter target receives the original event.
                (None, Some(dlq)) => (Some(dlq.clone()), Some(Bytes::from(ev.payload.clone()))),
                (None, None) => {
                    tracing::warn!(function = %rec.name, request_id = %ev.request_id, condition = ?condition, "asynchronous event failed for good; no destination configured");
                    if let Some(m) = self.executor.metrics() {
                        metrics::async_event(m, rec, "AsyncEventsDropped", 1.0);
                    }
                    (None, None)
                }
            },
        };
        let mut put = Vec::new();
        let mut batch = nimbus_storage::WriteBatch::new();
        let mut staged = Vec::new();
        let payload_is_event = payload.is_some();
        if let Some(target) = target {
            let name = registry::check_target("destination", &target)?;
            let body = payload.unwrap_or_else(|| {
                Bytes::from(
                    async_invoke::destination_record(
                        &ev,
                        &arn,
                        &rec.version,
                        condition,
                        function_error,
                        response,
                    )
                    .to_string(),
                )
            });
            if registry::is_queue_target(&name) {
                let delivered = match self.outbox.get() {
                    Some(outbox) => match outbox.stage(&name, &body, None, &mut batch) {
                        Ok(s) => {
                            staged.push(s);
                            true
                        }
                        Err(e) => {
                            tracing::warn!(function = %rec.name, queue = %name, error = %e, "destination queue unavailable; record dropped");
                            false
                        }
                    },
                    None => {
                        tracing::warn!(function = %rec.name, queue = %name, "no queue service; record dropped");
                        false
                    }
                };
                if !delivered && let Some(m) = self.executor.metrics() {
                    // The original event went to a dead-letter queue; a record to a destination.
                    let failure = if payload_is_event {
                        "DeadLetterErrors"
                    } else {
                        "DestinationDeliveryFailures"
                    };
                    metrics::async_event(m, rec, failure, 1.0);
                }
            } else {
                put.push(
                    self.queue
                        .new_event(&name, &body, uuid::Uuid::new_v4().to_string()),
                );
            }
        }
        self.queue.commit_with(&put, Some(ev.seq), batch)?;
        if !staged.is_empty()
            && let Some(outbox) = self.outbox.get()
        {
            outbox.committed(staged);
        }
        Ok(())
    }
}

/// Keeps every provisioned config's environments initialized (replacing any that
/// crashed or timed out) and no more.
async fn provisioner(functions: std::sync::Weak<Functions>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tick.tick().await;
        let Some(me) = functions.upgrade() else {
            return;
        };
        let configs = match me.registry.provisioned_configs(None) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "read provisioned concurrency configs failed");
                continue;
            }
        };
        let mut wanted = std::collections::HashSet::new();
        for cfg in configs {
            if let Ok(rec) = me.provisioned_version(&cfg.function, &cfg.qualifier) {
                me.executor
                    .unprovision(&rec.name, &rec.version, cfg.requested as usize);
                wanted.insert((rec.name.clone(), rec.version.clone()));
                me.executor.provision(rec, cfg.requested as usize);
            }
        }
        // Versions no config keeps warm any more (an alias moved, a config was
        // deleted) give their provisioned environments back.
        for (function, version) in me.executor.provisioned_keys() {
            if !wanted.contains(&(function.clone(), version.clone())) {
                me.executor.unprovision(&function, &version, 0);
            }
        }
    }
}

async fn async_worker(functions: std::sync::Weak<Functions>) {
    loop {
        let Some(me) = functions.upgrade() else {
            return;
        };
        let queue = me.queue.clone();
        let wake = queue.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        let (due, next) = queue.take_due(nimbus_model::time::now_millis());
        for seq in due {
            tokio::spawn(me.clone().process_event(seq));
        }
        let sleep = match next {
            Some(when) => std::time::Duration::from_millis(
                when.saturating_sub(nimbus_model::time::now_millis()),
            ),
            None => std::time::Duration::from_secs(3600),
        };
        drop(me);
        tokio::select! {
            _ = wake => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// A staged asynchronous invocation: when it is due and its sequence number.
struct StagedInvocation(u64, u64);

impl Invoker for Functions {
    fn invoke(
        &self,
        request: InvokeRequest,
    ) -> BoxFuture<'_, std::result::Result<InvokeResponse, InvokeError>> {
        Box::pin(self.invoke_request(request))
    }

    fn target(&self, function: &str) -> std::result::Result<Target, InvokeError> {
        let r = nimbus_model::arn::FunctionRef::parse(function)
            .map_err(|e| InvokeError::InvalidParameter(e.to_string()))?;
        let version = self
            .resolve(&r.name, r.qualifier.as_deref())
            .map_err(invoke_error)?;
        Ok(Target {
            name: r.name,
            qualifier: r.qualifier,
            role: version.role.clone(),
        })
    }

    fn stage_async(
        &self,
        function: &str,
        payload: &[u8],
        trace: Option<&str>,
        batch: &mut nimbus_storage::WriteBatch,
    ) -> std::result::Result<Staged, InvokeError> {
        let target = self.target(function)?;
        let mut ev = self.queue.new_event(
            &target.name,
            &Bytes::copy_from_slice(payload),
            uuid::Uuid::new_v4().to_string(),
        );
        ev.qualifier = target.qualifier;
        ev.trace_id = Some(lineage::child(
            trace,
            &self.identity.function_arn(&target.name),
        ));
        self.queue.stage(&ev, batch).map_err(invoke_error)?;
        Ok(Staged::new(StagedInvocation(ev.due_ms, ev.seq)))
    }

    fn committed(&self, staged: Vec<Staged>) {
        let due: Vec<(u64, u64)> = staged
            .into_iter()
            .filter_map(|s| s.downcast::<StagedInvocation>().ok())
            .map(|StagedInvocation(due, seq)| (due, seq))
            .collect();
        self.queue.schedule(&due);
    }
}

/// The service's errors as the Invoker reports them.
fn invoke_error(e: Error) -> InvokeError {
    match e {
        Error::NotFound(m) => InvokeError::FunctionNotFound(m),
        Error::InvalidParameter(m) | Error::Validation(m) => InvokeError::InvalidParameter(m),
        Error::RequestTooLarge(m) => InvokeError::RequestTooLarge(m),
        other => InvokeError::Service(other.to_string()),
    }
}

async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("worker failed: {e}")))?
}
