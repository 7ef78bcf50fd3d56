//! `InvokeWithResponseStream` (`POST /2021-11-15/functions/{name}/response-streaming-invocations`):
//! the function's response as an event stream of `PayloadChunk` events, as the
//! function produces it, ended by `InvokeComplete` (with `ErrorCode` and
//! `ErrorDetails` when it failed, and `LogResult` when the tail was asked for).

use crate::{error, function_ref, qualifier, query_param};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use nimbus_api_common::ApiError;
use nimbus_api_common::streaming::event;
use nimbus_invoke::{InvocationType, InvokeRequest, Invoker, StreamChunk};
use serde_json::{Value, json};

pub fn owns(method: &http::Method, path: &str) -> bool {
    method == http::Method::POST
        && path.starts_with("/2021-11-15/functions/")
        && path.ends_with("/response-streaming-invocations")
}

fn chunk(b: &[u8]) -> Bytes {
    event("PayloadChunk", "application/octet-stream", b)
}

fn complete(error_code: Option<&str>, details: Option<&str>, log: Option<&str>) -> Bytes {
    let mut v = json!({});
    if let Some(c) = error_code {
        v["ErrorCode"] = json!(c);
    }
    if let Some(d) = details {
        v["ErrorDetails"] = json!(d);
    }
    if let Some(l) = log {
        v["LogResult"] = json!(l);
    }
    event(
        "InvokeComplete",
        "application/json",
        v.to_string().as_bytes(),
    )
}

fn error_response(e: ApiError, request_id: &str) -> Response<nimbus_body::Body> {
    e.rest_json(request_id).map(nimbus_body::full)
}

pub async fn invoke(
    invoker: &dyn Invoker,
    identity: &nimbus_model::Identity,
    req: Request<Bytes>,
    request_id: &str,
) -> Response<nimbus_body::Body> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let Some(raw) = segments.get(2) else {
        return error_response(error::validation("FunctionName is required"), request_id);
    };
    let r = match function_ref(raw, identity) {
        Ok(r) => r,
        Err(e) => return error_response(e, request_id),
    };
    let q = match qualifier(
        &r,
        query_param(req.uri().query().unwrap_or(""), "Qualifier"),
    ) {
        Ok(q) => q,
        Err(e) => return error_response(e, request_id),
    };
    if let Err(e) = crate::authorize(req.extensions(), |s| {
        crate::authz::invoke_access(&r.name, q.as_deref(), s)
    }) {
        return error_response(e, request_id);
    }
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let invocation_type = match header("x-amz-invocation-type").as_deref() {
        None | Some("RequestResponse") => InvocationType::RequestResponse,
        Some("DryRun") => InvocationType::DryRun,
        Some(other) => {
            return error_response(
                error::validation(format!(
                    "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [RequestResponse, DryRun]"
                )),
                request_id,
            );
        }
    };
    let log_tail = header("x-amz-log-type").as_deref() == Some("Tail");
    let out = invoker
        .invoke(InvokeRequest {
            function: r.name,
            qualifier: q,
            payload: req.body().clone(),
            invocation_type,
            log_tail,
            client_context: None,
            trace_id: header("x-amzn-trace-id"),
            request_id: None,
            stream: true,
        })
        .await;
    let out = match out {
        Ok(o) => o,
        Err(e) => return error_response(error::from_invoke(&e), request_id),
    };
    let mut resp = if invocation_type == InvocationType::DryRun {
        let mut r = Response::new(nimbus_body::full(Bytes::new()));
        *r.status_mut() = StatusCode::NO_CONTENT;
        r
    } else if let Some(rx) = out.stream.as_ref().and_then(|s| s.take()) {
        let (tx, body_rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut rx = rx;
            let mut failed: Option<(String, String)> = None;
            while let Some(c) = rx.recv().await {
                match c {
                    StreamChunk::Data(d) => {
                        if tx.send(chunk(&d)).await.is_err() {
                            return;
                        }
                    }
                    StreamChunk::Error { error_type, body } => {
                        failed = Some((error_type, String::from_utf8_lossy(&body).into_owned()));
                    }
                }
            }
            let end = match &failed {
                Some((t, d)) => complete(Some(t), Some(d), None),
                None => complete(None, None, None),
            };
            let _ = tx.send(end).await;
        });
        Response::new(nimbus_body::channel(body_rx))
    } else {
        // A function that answered whole: one chunk, then the end.
        let mut body = Vec::new();
        let log = out.log_result.as_deref();
        match &out.function_error {
            None => {
                body.extend_from_slice(&chunk(&out.payload));
                body.extend_from_slice(&complete(None, None, log));
            }
            Some(_) => {
                let details = String::from_utf8_lossy(&out.payload).into_owned();
                let code = serde_json::from_slice::<Value>(&out.payload)
                    .ok()
                    .and_then(|v| v["errorType"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "Unhandled".into());
                body.extend_from_slice(&complete(Some(&code), Some(&details), log));
            }
        }
        Response::new(nimbus_body::full(body))
    };
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Ok(v) = HeaderValue::from_str(&out.executed_version) {
        h.insert("x-amz-executed-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}
