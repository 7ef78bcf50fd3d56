//! `StartLiveTail`: an event stream (`application/vnd.amazon.eventstream`)
//! that begins with `initial-response` and `sessionStart`, then carries a
//! `sessionUpdate` every second with the events written since (at most 500;
//! more are sampled down and `sampled` says so), until the client goes away
//! or three hours pass (`SessionTimeoutException`), as CloudWatch Logs does.

use crate::LOGS_JSON;
use bytes::Bytes;
use http::{Request, Response};
use nimbus_api_common::ApiError;
use nimbus_api_common::streaming::{event, event_message};
use nimbus_logs::{FilterPattern, Logs};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events in one update at most.
const PER_UPDATE: usize = 500;
/// Groups one session may tail.
const MAX_GROUPS: usize = 10;
/// How long a session lasts.
const SESSION: Duration = Duration::from_secs(3 * 3600);

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidParameterException", m)
}

/// What a session asked for.
struct Ask {
    groups: Vec<(String, String)>,
    streams: Vec<String>,
    prefixes: Vec<String>,
    pattern: Option<(String, FilterPattern)>,
}

fn strings(p: &Value, k: &str) -> Vec<String> {
    p.get(k)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn ask(p: &Value) -> Result<Ask, ApiError> {
    let ids = strings(p, "logGroupIdentifiers");
    if ids.is_empty() || ids.len() > MAX_GROUPS {
        return Err(invalid(format!(
            "1 validation error detected: Value at 'logGroupIdentifiers' failed to satisfy constraint: Member must have length between 1 and {MAX_GROUPS}"
        )));
    }
    let mut groups = Vec::new();
    for id in ids {
        let name = id
            .rsplit("log-group:")
            .next()
            .unwrap_or(&id)
            .trim_end_matches(":*")
            .to_string();
        groups.push((name, id));
    }
    let streams = strings(p, "logStreamNames");
    let prefixes = strings(p, "logStreamNamePrefixes");
    if !streams.is_empty() && !prefixes.is_empty() {
        return Err(invalid(
            "logStreamNames and logStreamNamePrefixes cannot both be given",
        ));
    }
    let pattern = match p.get("logEventFilterPattern").and_then(Value::as_str) {
        Some(t) if !t.trim().is_empty() => Some((
            t.to_string(),
            FilterPattern::parse(t).map_err(|e| invalid(e.to_string()))?,
        )),
        _ => None,
    };
    Ok(Ask {
        groups,
        streams,
        prefixes,
        pattern,
    })
}

/// Answer a `StartLiveTail` request with its stream.
pub(crate) fn start(
    logs: &Arc<Logs>,
    req: Request<Bytes>,
    request_id: &str,
) -> Response<nimbus_body::Body> {
    let refuse = |e: ApiError| LOGS_JSON.error(&e, request_id).map(nimbus_body::full);
    let call = match LOGS_JSON.call(&req) {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    let ask = match ask(&call.params) {
        Ok(a) => a,
        Err(e) => return refuse(e),
    };
    if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |s| {
        ask.groups
            .iter()
            .map(|(g, _)| {
                nimbus_api_common::authz::Access::new(
                    "logs:StartLiveTail",
                    s.arn("logs", &format!("log-group:{g}:*")),
                )
            })
            .collect()
    }) {
        return refuse(ApiError::bad_request("AccessDeniedException", d.message));
    }
    // Whether the groups exist is told only to who may tail them.
    for (g, _) in &ask.groups {
        if let Err(e) = logs.group(g) {
            return refuse(crate::ops::error(e));
        }
    }
    let events = logs.tail(ask.groups.iter().map(|(g, _)| g.clone()).collect());
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let session_id = format!("{:032x}", nimbus_model::time::now_nanos());
    let start = json!({
        "requestId": request_id, "sessionId": session_id,
        "logGroupIdentifiers": ask.groups.iter().map(|(_, id)| id).collect::<Vec<_>>(),
        "logStreamNames": ask.streams, "logStreamNamePrefixes": ask.prefixes,
        "logEventFilterPattern": ask.pattern.as_ref().map_or("", |(t, _)| t.as_str()),
    });
    tokio::spawn(async move {
        let json_event =
            |kind: &str, v: &Value| event(kind, "application/json", v.to_string().as_bytes());
        if tx
            .send(json_event("initial-response", &json!({})))
            .await
            .is_err()
            || tx.send(json_event("sessionStart", &start)).await.is_err()
        {
            return;
        }
        let began = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let mut results = Vec::new();
            let mut taken = 0usize;
            for e in events.try_iter() {
                let wanted = (ask.streams.is_empty() || ask.streams.contains(&e.stream))
                    && (ask.prefixes.is_empty()
                        || ask
                            .prefixes
                            .iter()
                            .any(|p| e.stream.starts_with(p.as_str())))
                    && ask
                        .pattern
                        .as_ref()
                        .is_none_or(|(_, p)| p.matches(&e.message));
                if !wanted {
                    continue;
                }
                taken += 1;
                if results.len() < PER_UPDATE {
                    let id = ask
                        .groups
                        .iter()
                        .find(|(g, _)| *g == e.group)
                        .map_or(e.group.as_str(), |(_, id)| id.as_str());
                    results.push(json!({"logStreamName": e.stream, "logGroupIdentifier": id,
                        "message": e.message, "timestamp": e.timestamp, "ingestionTime": e.ingested}));
                }
            }
            let update = json!({"sessionMetadata": {"sampled": taken > PER_UPDATE}, "sessionResults": results});
            if tx.send(json_event("sessionUpdate", &update)).await.is_err() {
                return;
            }
            if began.elapsed() >= SESSION {
                let body = json!({"message": "Session timed out after three hours"}).to_string();
                let _ = tx
                    .send(event_message(
                        &[
                            (":exception-type", "SessionTimeoutException"),
                            (":content-type", "application/json"),
                            (":message-type", "exception"),
                        ],
                        body.as_bytes(),
                    ))
                    .await;
                return;
            }
        }
    });
    let mut resp = Response::new(nimbus_body::channel(rx));
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        http::HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}
