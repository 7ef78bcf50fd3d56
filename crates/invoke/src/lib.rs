//! The `Invoker`: the one seam through which every trigger runs a function.
//!
//! The Invoke API, function URLs, queue pollers, stream pollers, schedules and
//! workflow Task states all build an [`InvokeRequest`] and call [`Invoker::invoke`];
//! none of them reach into the execution layer otherwise.

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
    #[error("{0}")]
    Service(String),
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs functions. Implemented by the functions service; used by every trigger.
pub trait Invoker: Send + Sync + 'static {
    fn invoke(&self, request: InvokeRequest) -> BoxFuture<'_, Result<InvokeResponse, InvokeError>>;
}

/// The largest synchronous request and response payload Lambda accepts: 6 MB.
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
