//! The `Invoker`: the one seam through which every trigger runs a function.
//!
//! The Invoke API, function URLs, queue pollers, stream pollers, schedules and
//! workflow Task states all build an [`InvokeRequest`] and call [`Invoker::invoke`];
//! a trigger that must not lose its event (an S3 notification, an event-bus rule)
//! stages an asynchronous invocation inside its own write batch instead
//! ([`Invoker::stage_async`], then [`Invoker::committed`]). None of them reach
//! into the execution layer otherwise.
//!
//! [`Outbox`] is the same durable hand-over for any target named by ARN (a
//! function, a queue, later topics and buses): services that emit events see
//! only it.
//!
//! [`permissions`] says who a trigger acts as (a role, a service principal)
//! and asks whether that identity may do what the trigger is about to do.

mod outbox;
pub mod permissions;

pub use outbox::{Delivery, DeliveryError, Outbox, Staged};

use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;

/// How the caller wants the function run (`X-Amz-Invocation-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

/// One invocation as a trigger asks for it.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// Function name (already resolved from whatever ARN form the caller used).
    pub function: String,
    /// `$LATEST`, a version or an alias; `None` means `$LATEST`.
    pub qualifier: Option<String>,
    pub payload: Bytes,
    pub invocation_type: InvocationType,
    /// Return the last 4 KB of the invocation's log (`X-Amz-Log-Type: Tail`).
    pub log_tail: bool,
    /// The decoded `X-Amz-Client-Context` JSON, passed to the runtime as is.
    pub client_context: Option<String>,
    /// `X-Amzn-Trace-Id` to propagate to the runtime.
    pub trace_id: Option<String>,
    /// The invocation's request id when the trigger already has one (an
    /// asynchronous event keeps its id across retries); `None` makes a new one.
    pub request_id: Option<String>,
    /// The caller takes a streamed response as a stream
    /// ([`InvokeResponse::stream`]); otherwise a function that streams is
    /// answered whole, as Lambda's Invoke does.
    pub stream: bool,
}

impl InvokeRequest {
    /// A synchronous call of `function` with `payload` and nothing else set, as
    /// triggers make them.
    pub fn sync(function: String, qualifier: Option<String>, payload: Bytes) -> InvokeRequest {
        InvokeRequest {
            function,
            qualifier,
            payload,
            invocation_type: InvocationType::RequestResponse,
            log_tail: false,
            client_context: None,
            trace_id: None,
            request_id: None,
            stream: false,
        }
    }
}

/// What the caller gets back.
#[derive(Debug, Clone)]
pub struct InvokeResponse {
    /// 200 for a completed synchronous call, 202 queued, 204 dry run.
    pub status: u16,
    pub payload: Bytes,
    /// `Unhandled` when the function failed; `X-Amz-Function-Error`.
    pub function_error: Option<String>,
    /// Base64 of the log tail when asked for.
    pub log_result: Option<String>,
    pub executed_version: String,
    /// The invocation's request id (the function's `aws_request_id`).
    pub request_id: String,
    /// Where the time went, for `nimbus bench` and the `X-Nimbus-Timing` header.
    pub timing: Timing,
    /// A function answering in streaming mode: the body as it is produced
    /// (`payload` is then empty).
    pub stream: Option<ResponseStream>,
}

/// A piece of a streamed response.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamChunk {
    Data(Bytes),
    /// The function failed part way (the runtime's error trailers), or the
    /// invocation timed out or its environment died.
    Error {
        error_type: String,
        body: Bytes,
    },
}

/// A streamed response body, taken once by whoever answers the caller.
#[derive(Clone)]
pub struct ResponseStream(
    std::sync::Arc<std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<StreamChunk>>>>,
);

impl ResponseStream {
    pub fn new(rx: tokio::sync::mpsc::Receiver<StreamChunk>) -> ResponseStream {
        ResponseStream(std::sync::Arc::new(std::sync::Mutex::new(Some(rx))))
    }

    /// The receiver; `None` once taken.
    pub fn take(&self) -> Option<tokio::sync::mpsc::Receiver<StreamChunk>> {
        self.0.lock().ok().and_then(|mut r| r.take())
    }
}

impl PartialEq for ResponseStream {
    fn eq(&self, other: &ResponseStream) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseStream")
    }
}

/// The parts of an invocation's latency, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timing {
    /// Cold starts only: making the environment (code, sockets, process spawn).
    pub create_ms: Option<f64>,
    /// Cold starts only: runtime start and init code, until the first `/next`
    /// (Lambda's `Init Duration`).
    pub init_ms: Option<f64>,
    /// Cold starts only: the part of `init_ms` before the runtime first connected to
    /// the Runtime API (interpreter start-up, for runtimes that connect before init).
    pub runtime_start_ms: Option<f64>,
    /// Dispatch of the event to the runtime's answer.
    pub invoke_ms: f64,
    /// SnapStart only: handing out a prepared environment, its `afterRestore`
    /// hooks included (Lambda's `Restore Duration`).
    pub restore_ms: Option<f64>,
    /// Cold starts only: named parts of making the environment (the sandbox's
    /// network namespace, cgroup, namespaces, filesystem, privilege drop).
    pub parts: Vec<(String, f64)>,
}

/// Why an invocation could not be attempted. A function that ran and failed is
/// not an error here: that is an `InvokeResponse` with `function_error` set.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    #[error("{0}")]
    FunctionNotFound(String),
    #[error("{0}")]
    RequestTooLarge(String),
    #[error("{0}")]
    InvalidParameter(String),
    /// The payload is not JSON (`InvalidRequestContentException`).
    #[error("{0}")]
    InvalidRequestContent(String),
    #[error("{message}")]
    TooManyRequests { message: String, reason: String },
    /// A SnapStart version could not serve: `code` is Lambda's error code
    /// (`SnapStartException`: a restore hook failed; `SnapStartTimeoutException`;
    /// `SnapStartNotReadyException`: the published version is still initializing).
    #[error("{message}")]
    SnapStart { code: &'static str, message: String },
    #[error("{0}")]
    Service(String),
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A function a trigger names, resolved: its name and the version or alias
/// (`None`: `$LATEST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub qualifier: Option<String>,
    /// The execution role of the version it names: what an event source
    /// mapping acts as when it reads the function's source.
    pub role: String,
}

/// Runs functions. Implemented by the functions service; used by every trigger.
pub trait Invoker: Send + Sync + 'static {
    fn invoke(&self, request: InvokeRequest) -> BoxFuture<'_, Result<InvokeResponse, InvokeError>>;

    /// Resolve a function name, partial or full ARN (with an optional
    /// qualifier) to an existing function: `FunctionNotFound` otherwise.
    fn target(&self, function: &str) -> Result<Target, InvokeError>;

    /// Add to `batch` an asynchronous invocation of `function` (a name or ARN,
    /// optionally qualified) with `payload`, caused by a request carrying the
    /// trace header `trace` (recursion detection follows it). The invocation
    /// exists once the batch commits; hand the token to [`Invoker::committed`]
    /// then, so it runs without waiting for the next scan.
    fn stage_async(
        &self,
        function: &str,
        payload: &[u8],
        trace: Option<&str>,
        batch: &mut nimbus_storage::WriteBatch,
    ) -> Result<Staged, InvokeError>;

    /// The batch holding these staged invocations committed: run them.
    fn committed(&self, staged: Vec<Staged>);
}

/// Function URL configurations, looked up by URL id for serving: the one thing
/// the HTTP front doors need of functions besides invoking them.
pub trait FunctionUrls: Send + Sync {
    /// The configuration the URL id names, if any.
    fn url_by_id(&self, url_id: &str) -> Option<nimbus_model::UrlConfig>;
}

/// The largest synchronous request and response payload Lambda accepts: 6 MB.
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
