//! The functions service: the registry of functions, their code packages, the
//! execution environments that run them, and their logs. It implements the
//! [`Invoker`] every trigger calls.
//!
//! It is not an HTTP API: `nimbus-api-lambda` turns wire requests into calls on
//! [`Functions`], and maps [`Error`] onto Lambda's error codes.

pub mod code;
pub mod error;
mod execution;
pub mod logs;
mod registry;
pub mod runtimes;

pub use error::{Error, Result};
pub use execution::{ExecConfig, PlatformEndpoint};
pub use registry::{CreateFunction, UpdateCode, UpdateConfiguration};

use bytes::Bytes;
use code::CodeCache;
use execution::Executor;
use logs::LogStore;
use nimbus_invoke::{
    BoxFuture, InvocationType, InvokeError, InvokeRequest, InvokeResponse, Invoker,
    MAX_SYNC_PAYLOAD, Timing,
};
use nimbus_model::{FunctionRecord, Identity};
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
    logs: Arc<LogStore>,
}

/// Where the service keeps its files, and which interpreters run shipped runtimes.
#[derive(Debug, Clone)]
pub struct Paths<'a> {
    pub data_dir: &'a Path,
    pub python: &'a str,
    pub node: &'a str,
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
        let logs =
            Arc::new(LogStore::new(paths.data_dir.join("logs")).map_err(io("open log directory"))?);
        let runtimes =
            Runtimes::install(&paths.data_dir.join("runtimes"), paths.python, paths.node)
                .map_err(io("install runtime bootstraps"))?;
        if runtimes.python().is_none() {
            tracing::warn!(
                "no python3 found: python3.* functions will fail with Runtime.Unavailable"
            );
        }
        if runtimes.node().is_none() {
            tracing::warn!("no node found: nodejs* functions will fail with Runtime.Unavailable");
        }
        let registry = Arc::new(Registry::open(kv, blobs.clone(), code.clone())?);
        // Unpacked packages nothing references any more (left by updates and deletes).
        let live: std::collections::HashSet<String> = registry
            .list()
            .iter()
            .map(|r| r.code.digest.clone())
            .collect();
        if let Ok(entries) = std::fs::read_dir(paths.data_dir.join("code")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if !live.contains(&name) {
                    code.remove(&name);
                }
            }
        }
        let identity = cfg.identity.clone();
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
            logs,
        })
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

    /// Create a function; its package is unpacked off the async threads.
    pub async fn create(self: &Arc<Self>, req: CreateFunction) -> Result<Arc<FunctionRecord>> {
        let me = self.clone();
        let name = req.name.clone();
        let rec = spawn_blocking(move || me.registry.create(req)).await?;
        self.logs.forget(&name);
        Ok(rec)
    }

    pub async fn update_configuration(
        self: &Arc<Self>,
        name: &str,
        req: UpdateConfiguration,
    ) -> Result<Arc<FunctionRecord>> {
        let me = self.clone();
        let n = name.to_string();
        let rec = spawn_blocking(move || {
            me.registry
                .update_configuration(&n, || me.not_found(&n), req)
        })
        .await?;
        self.executor.retire(name);
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
        let rec =
            spawn_blocking(move || me.registry.update_code(&n, || me.not_found(&n), req)).await?;
        if !dry {
            self.executor.retire(name);
        }
        Ok(rec)
    }

    pub async fn delete(self: &Arc<Self>, name: &str) -> Result<()> {
        let me = self.clone();
        let n = name.to_string();
        spawn_blocking(move || me.registry.delete(&n, || me.not_found(&n))).await?;
        self.executor.retire(name);
        self.logs.forget(name);
        Ok(())
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
        let rec = self.registry.get(&req.function).ok_or_else(|| {
            InvokeError::FunctionNotFound(format!(
                "Function not found: {}",
                self.identity.function_arn(&req.function)
            ))
        })?;
        if let Some(q) = req.qualifier.as_deref()
            && q != "$LATEST"
        {
            return Err(InvokeError::FunctionNotFound(format!(
                "Function not found: {}:{q}",
                self.identity.function_arn(&req.function)
            )));
        }
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
                timing: Timing::default(),
            }),
            InvocationType::Event => Err(InvokeError::Unsupported(
                "Asynchronous invocation (InvocationType Event) is not available in this Nimbus build yet".into(),
            )),
            InvocationType::RequestResponse => Ok(self.executor.invoke(rec, &req).await),
        }
    }
}

impl Invoker for Functions {
    fn invoke(
        &self,
        request: InvokeRequest,
    ) -> BoxFuture<'_, std::result::Result<InvokeResponse, InvokeError>> {
        Box::pin(self.invoke_request(request))
    }
}

async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("worker failed: {e}")))?
}
