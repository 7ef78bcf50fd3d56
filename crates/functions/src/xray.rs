//! What Lambda tells X-Ray about an invocation. The trace header the runtime
//! gets (`Lambda-Runtime-Trace-Id`, `_X_AMZN_TRACE_ID`) continues the
//! caller's trace or starts one; `TracingConfig` `Active` samples by the
//! sampling rules when the caller made no decision, `PassThrough` follows the
//! caller's. A sampled invocation records two segments as Lambda does: the
//! Lambda service's (`AWS::Lambda`) and the function's
//! (`AWS::Lambda::Function`, with `Initialization`, `Invocation` and
//! `Overhead` subsegments), whose id is the `Parent` the function's X-Ray SDK
//! hangs its own subsegments under.

use nimbus_model::FunctionRecord;
use nimbus_traces::header::{TraceHeader, new_segment_id, new_trace_id};
use nimbus_traces::{Traces, sampling};
use serde_json::json;

/// A traced invocation's ids.
#[derive(Debug, Clone)]
pub(crate) struct Traced {
    pub root: String,
    /// The caller's segment, if the trace came with one.
    pub caller: Option<String>,
    pub service_id: String,
    pub function_id: String,
}

/// The header for the runtime, and the ids to record segments under when sampled.
pub(crate) fn begin(
    traces: Option<&Traces>,
    rec: &FunctionRecord,
    incoming: Option<&str>,
) -> (String, Option<Traced>) {
    let mut h = incoming.map(TraceHeader::parse).unwrap_or_default();
    let root = h.root.clone().unwrap_or_else(new_trace_id);
    let sampled = match (h.sampled, rec.tracing_active()) {
        (Some(s), _) => s,
        (None, false) => false,
        (None, true) => traces.is_some_and(|t| {
            t.sampler
                .decide(&sampling::Request {
                    service_name: &rec.name,
                    service_type: "AWS::Lambda::Function",
                    host: "*",
                    http_method: "*",
                    url_path: "*",
                    resource_arn: "*",
                })
                .1
        }),
    };
    let caller = h.parent.take();
    let function_id = new_segment_id();
    h.root = Some(root.clone());
    h.parent = Some(function_id.clone());
    h.sampled = Some(sampled);
    let traced = (sampled && traces.is_some()).then(|| Traced {
        root,
        caller,
        service_id: new_segment_id(),
        function_id,
    });
    (h.to_string(), traced)
}

/// How the invocation went, in epoch seconds.
pub(crate) struct Span {
    pub init_start: Option<f64>,
    pub start: f64,
    pub end: f64,
    pub request_id: String,
    pub function_arn: String,
    /// `Some(error type)` when the function failed.
    pub error: Option<String>,
}

/// Record the Lambda service's and the function's segments of a sampled invocation.
pub(crate) fn record(traces: &Traces, rec: &FunctionRecord, t: &Traced, s: &Span) {
    let sub = |name: &str, a: f64, b: f64| json!({"id": new_segment_id(), "name": name, "start_time": a, "end_time": b});
    let mut subsegments = Vec::new();
    if let Some(i) = s.init_start {
        subsegments.push(sub("Initialization", i, s.start));
    }
    let mut invocation = sub("Invocation", s.start, s.end);
    if let Some(e) = &s.error {
        invocation["fault"] = json!(true);
        invocation["cause"] =
            json!({"exceptions": [{"id": new_segment_id(), "message": e, "type": e}]});
    }
    subsegments.push(invocation);
    subsegments.push(sub("Overhead", s.end, s.end));
    let aws = json!({"request_id": s.request_id, "function_arn": s.function_arn,
                     "resource_names": [rec.name]});
    let mut service = json!({
        "trace_id": t.root, "id": t.service_id, "name": rec.name, "origin": "AWS::Lambda",
        "start_time": s.init_start.unwrap_or(s.start), "end_time": s.end,
        "resource_arn": s.function_arn, "aws": aws, "http": {"response": {"status": 200}},
    });
    if let Some(c) = &t.caller {
        service["parent_id"] = json!(c);
    }
    let mut function = json!({
        "trace_id": t.root, "id": t.function_id, "parent_id": t.service_id, "name": rec.name,
        "origin": "AWS::Lambda::Function", "start_time": s.init_start.unwrap_or(s.start),
        "end_time": s.end, "resource_arn": s.function_arn, "aws": aws, "subsegments": subsegments,
    });
    if s.error.is_some() {
        function["fault"] = json!(true);
    }
    if let Err(e) = traces.put_values(vec![service, function], false) {
        tracing::warn!(error = %e, "record the invocation's segments");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(active: bool) -> FunctionRecord {
        serde_json::from_value(json!({
            "format": 1, "name": "f", "runtime": "python3.12", "role": "", "handler": "app.h",
            "timeout_secs": 3, "memory_mb": 128, "ephemeral_storage_mb": 512, "architecture": "x86_64",
            "code": {"digest": "", "sha256_b64": "", "size": 0}, "last_modified_ms": 0, "revision_id": "",
            "tracing": active.then_some("Active"),
        }))
        .unwrap()
    }

    #[test]
    fn the_callers_trace_continues_under_the_function_segment() {
        let incoming = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1";
        let (h, _) = begin(None, &rec(false), Some(incoming));
        let h = TraceHeader::parse(&h);
        assert_eq!(
            h.root.as_deref(),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_ne!(h.parent.as_deref(), Some("53995c3f42cd8ad8"));
        assert_eq!(h.sampled, Some(true));
        assert_eq!(h.field("Lineage"), Some("a87bd80c:1"));
    }

    #[test]
    fn pass_through_without_a_decision_is_not_sampled() {
        let (h, t) = begin(None, &rec(false), None);
        let h = TraceHeader::parse(&h);
        assert!(h.root.is_some());
        assert_eq!(h.sampled, Some(false));
        assert!(t.is_none());
    }
}
