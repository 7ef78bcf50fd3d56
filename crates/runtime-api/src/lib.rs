//! Server side of the AWS Lambda Runtime API (`/2018-06-01/runtime/...`), one
//! listener per execution environment.
//!
//! The host creates the listening socket (on loopback, or inside the environment's
//! network namespace) and hands it to [`RuntimeApi::serve`]; which listener a
//! request arrives on says which environment sent it. The execution layer drives an
//! environment through [`RuntimeApi::dispatch`] and [`RuntimeApi::phase`]; this
//! crate knows nothing of functions, pools or logs.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

/// Largest response a runtime may post: Lambda's 6 MB synchronous limit.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// Largest streamed response (Lambda's soft limit for response streaming).
pub const MAX_STREAM_BYTES: usize = 20 * 1024 * 1024;
/// Largest error document or init error a runtime may post.
const MAX_ERROR_BYTES: usize = 1024 * 1024;
const PREFIX: &str = "/2018-06-01/runtime/";

/// One event as the runtime receives it from `/invocation/next`.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub deadline_ms: u64,
    pub invoked_function_arn: String,
    pub trace_id: Option<String>,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    pub payload: Bytes,
}

/// How the runtime answered an invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Bytes),
    /// `/error`: the `Lambda-Runtime-Function-Error-Type` header and the body.
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
    /// The runtime tried to post a response larger than the limit (its size, if known).
    ResponseTooLarge(Option<usize>),
    /// The runtime answers in streaming mode
    /// (`Lambda-Runtime-Function-Response-Mode: streaming`): the body arrives
    /// through this stream, which ends when the runtime's request does.
    Streaming(nimbus_invoke::ResponseStream),
}

/// Where the environment's runtime is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Started, not yet asked for its first event.
    Initializing,
    /// Has called `/invocation/next` at least once: init is done.
    Ready,
    /// Posted `/init/error`.
    InitFailed {
        error_type: Option<String>,
        body: Bytes,
    },
    /// SnapStart: init is done and the runtime waits in `/restore/next` until
    /// [`RuntimeApi::restore`] hands the environment out.
    Restorable,
    /// SnapStart: posted `/restore/error` (an `afterRestore` hook failed).
    RestoreFailed {
        error_type: Option<String>,
        body: Bytes,
    },
}

#[derive(Default)]
struct Inner {
    waiting: Option<oneshot::Sender<Invocation>>,
    queued: Option<Invocation>,
    inflight: Option<(String, oneshot::Sender<Outcome>)>,
}

struct Shared {
    inner: Mutex<Inner>,
    phase: watch::Sender<Phase>,
    /// When the runtime first connected: the end of "runtime start" for runtimes
    /// that connect before running init code (Nimbus's shipped bootstraps do).
    first_connection: std::sync::OnceLock<std::time::Instant>,
    /// Opened by [`RuntimeApi::restore`]: answers the runtime's `/restore/next`.
    restore_gate: tokio::sync::Notify,
}

/// A running Runtime API endpoint for one environment. Dropping it stops serving.
pub struct RuntimeApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Serve the Runtime API on an already bound listener.
    pub fn serve(listener: std::net::TcpListener) -> std::io::Result<RuntimeApi> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (phase, _) = watch::channel(Phase::Initializing);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            phase,
            first_connection: std::sync::OnceLock::new(),
            restore_gate: tokio::sync::Notify::new(),
        });
        let server = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(RuntimeApi {
            shared,
            addr,
            server,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When the runtime first opened a connection to this endpoint, if it has.
    pub fn first_connection(&self) -> Option<std::time::Instant> {
        self.shared.first_connection.get().copied()
    }

    /// Watch the runtime's lifecycle phase.
    pub fn phase(&self) -> watch::Receiver<Phase> {
        self.shared.phase.subscribe()
    }

    /// Hand an invocation to the runtime (now, or at its next `/next`); the
    /// receiver completes when the runtime answers it.
    pub fn dispatch(&self, invocation: Invocation) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.shared.inner.lock().expect("runtime api lock");
        inner.inflight = Some((invocation.request_id.clone(), tx));
        match inner.waiting.take() {
            Some(waiter) => {
                if let Err(inv) = waiter.send(invocation) {
                    inner.queued = Some(inv);
                }
            }
            None => inner.queued = Some(invocation),
        }
        rx
    }

    /// SnapStart: hand a restorable environment out, answering the runtime's
    /// `/restore/next` (it then runs its `afterRestore` hooks and asks for its first
    /// event, or posts `/restore/error`). False when the runtime never waited for a
    /// restore (one without SnapStart hooks): it is ready as it is.
    pub fn restore(&self) -> bool {
        if *self.shared.phase.borrow() != Phase::Restorable {
            return false;
        }
        self.shared.restore_gate.notify_one();
        true
    }

    /// Forget an invocation the host gave up on (timeout), so a late answer gets 400.
    pub fn abandon(&self) {
        let mut inner = self.shared.inner.lock().expect("runtime api lock");
        inner.inflight = None;
        inner.queued = None;
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "runtime api accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = shared.first_connection.set(std::time::Instant::now());
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&shared, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
        while conns.try_join_next().is_some() {}
    }
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        serde_json::json!({ "errorMessage": message, "errorType": error_type }).to_string(),
    )
}

fn accepted() -> Response<Full<Bytes>> {
    json(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.into())
}

enum Route<'a> {
    Next,
    Response(&'a str),
    Error(&'a str),
    InitError,
    RestoreNext,
    RestoreError,
}

fn route<'a>(method: &Method, path: &'a str) -> Option<Route<'a>> {
    let rest = path.strip_prefix(PREFIX)?;
    match (method, rest) {
        (&Method::GET, "invocation/next") => Some(Route::Next),
        (&Method::POST, "init/error") => Some(Route::InitError),
        (&Method::GET, "restore/next") => Some(Route::RestoreNext),
        (&Method::POST, "restore/error") => Some(Route::RestoreError),
        (&Method::POST, _) => {
            let rest = rest.strip_prefix("invocation/")?;
            if let Some(id) = rest.strip_suffix("/response") {
                Some(Route::Response(id))
            } else {
                rest.strip_suffix("/error").map(Route::Error)
            }
        }
        _ => None,
    }
}

async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ()> {
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(()),
    }
}

fn error_type_header(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let Some(route) = route(req.method(), &path) else {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no such Runtime API route: {} {path}", req.method()),
        );
    };
    match route {
        Route::Next => next(shared).await,
        Route::RestoreNext => {
            let gate = shared.restore_gate.notified();
            shared.phase.send_if_modified(|p| {
                let was = *p == Phase::Initializing;
                if was {
                    *p = Phase::Restorable;
                }
                was
            });
            gate.await;
            json(StatusCode::OK, String::new())
        }
        Route::RestoreError => {
            let (error_type, body) = posted_error(req).await;
            shared
                .phase
                .send_replace(Phase::RestoreFailed { error_type, body });
            accepted()
        }
        Route::InitError => {
            let (error_type, body) = posted_error(req).await;
            shared
                .phase
                .send_replace(Phase::InitFailed { error_type, body });
            accepted()
        }
        Route::Response(id) => {
            let id = id.to_string();
            if !is_inflight(shared, &id) {
                return invalid_id(&id);
            }
            let streaming = req
                .headers()
                .get("lambda-runtime-function-response-mode")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
            if streaming {
                return stream_response(shared, &id, req.into_body()).await;
            }
            let declared = req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            let outcome = match read_body(req.into_body(), MAX_RESPONSE_BYTES).await {
                Ok(body) => Outcome::Response(body),
                Err(()) => Outcome::ResponseTooLarge(declared),
            };
            let too_large = matches!(outcome, Outcome::ResponseTooLarge(_));
            if !complete(shared, &id, outcome) {
                return invalid_id(&id);
            }
            if too_large {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    &format!(
                        "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                    ),
                );
            }
            accepted()
        }
        Route::Error(id) => {
            let id = id.to_string();
            let error_type = error_type_header(&req);
            let body = read_body(req.into_body(), MAX_ERROR_BYTES)
                .await
                .unwrap_or_default();
            if complete(shared, &id, Outcome::Error { error_type, body }) {
                accepted()
            } else {
                invalid_id(&id)
            }
        }
    }
}

/// An error the runtime posts: its `Lambda-Runtime-Function-Error-Type` and body.
async fn posted_error(req: Request<Incoming>) -> (Option<String>, Bytes) {
    let error_type = error_type_header(&req);
    let body = read_body(req.into_body(), MAX_ERROR_BYTES)
        .await
        .unwrap_or_default();
    (error_type, body)
}

fn invalid_id(id: &str) -> Response<Full<Bytes>> {
    error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        &format!("Invalid request ID: {id} is not the invocation in progress"),
    )
}

fn is_inflight(shared: &Shared, id: &str) -> bool {
    let inner = shared.inner.lock().expect("runtime api lock");
    inner.inflight.as_ref().is_some_and(|(cur, _)| cur == id) && inner.queued.is_none()
}

/// The error a streamed response ends with when its connection breaks off
/// (most often: the runtime died part way).
pub const STREAM_BROKE_OFF: &str = "Runtime.StreamError";

/// A response in streaming mode: hand the stream to the waiting invocation,
/// then pass each piece on as it arrives; the error trailers
/// (`Lambda-Runtime-Function-Error-Type`, `-Error-Body` in base64) end it as a
/// failure.
async fn stream_response(shared: &Shared, id: &str, mut body: Incoming) -> Response<Full<Bytes>> {
    use base64::Engine as _;
    use nimbus_invoke::StreamChunk;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    if !complete(
        shared,
        id,
        Outcome::Streaming(nimbus_invoke::ResponseStream::new(rx)),
    ) {
        return invalid_id(id);
    }
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                let _ = tx
                    .send(StreamChunk::Error {
                        error_type: STREAM_BROKE_OFF.into(),
                        body: Bytes::from(format!("the response stream broke off: {e}")),
                    })
                    .await;
                return accepted();
            }
        };
        match frame.into_data() {
            Ok(d) => {
                total += d.len();
                if total > MAX_STREAM_BYTES {
                    let _ = tx
                        .send(StreamChunk::Error {
                            error_type: "Function.ResponseSizeTooLarge".into(),
                            body: Bytes::from(format!(
                                "Response payload size exceeded maximum allowed payload size ({MAX_STREAM_BYTES} bytes)."
                            )),
                        })
                        .await;
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "RequestEntityTooLarge",
                        "Response payload size exceeded the streaming limit.",
                    );
                }
                if tx.send(StreamChunk::Data(d)).await.is_err() {
                    // Nobody listens any more (timeout, client gone): drain quietly.
                    continue;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers()
                    && let Some(t) = trailers
                        .get("lambda-runtime-function-error-type")
                        .and_then(|v| v.to_str().ok())
                {
                    let body = trailers
                        .get("lambda-runtime-function-error-body")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                        .unwrap_or_default();
                    let _ = tx
                        .send(StreamChunk::Error {
                            error_type: t.to_string(),
                            body: Bytes::from(body),
                        })
                        .await;
                }
            }
        }
    }
    accepted()
}

fn complete(shared: &Shared, id: &str, outcome: Outcome) -> bool {
    let tx = {
        let mut inner = shared.inner.lock().expect("runtime api lock");
        match &inner.inflight {
            Some((cur, _)) if cur == id && inner.queued.is_none() => {
                inner.inflight.take().map(|(_, tx)| tx)
            }
            _ => None,
        }
    };
    match tx {
        Some(tx) => {
            let _ = tx.send(outcome);
            true
        }
        None => false,
    }
}

async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    let rx = {
        let mut inner = shared.inner.lock().expect("runtime api lock");
        shared.phase.send_if_modified(|p| {
            if matches!(p, Phase::Initializing | Phase::Restorable) {
                *p = Phase::Ready;
                true
            } else {
                false
            }
        });
        if let Some(inv) = inner.queued.take() {
            return invocation_response(inv);
        }
        let (tx, rx) = oneshot::channel();
        inner.waiting = Some(tx);
        rx
    };
    match rx.await {
        Ok(inv) => invocation_response(inv),
        // The environment is being torn down.
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceShutdown",
            "environment is shutting down",
        ),
    }
}

fn invocation_response(inv: Invocation) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(inv.payload));
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &inv.request_id);
    set("lambda-runtime-deadline-ms", &inv.deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        &inv.invoked_function_arn,
    );
    if let Some(t) = &inv.trace_id {
        set("lambda-runtime-trace-id", t);
    }
    if let Some(c) = &inv.client_context {
        set("lambda-runtime-client-context", c);
    }
    if let Some(c) = &inv.cognito_identity {
        set("lambda-runtime-cognito-identity", c);
    }
    resp
}

#[cfg(test)]
mod tests;
