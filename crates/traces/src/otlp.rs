//! Segments as OpenTelemetry spans, in OTLP/HTTP's JSON encoding
//! (`ExportTraceServiceRequest` for `POST /v1/traces`): each segment and
//! each subsegment inside it is a span; the X-Ray trace id
//! `1-5759e988-bd862e3fe1be46a994272793` is the trace id
//! `5759e988bd862e3fe1be46a994272793`, segment ids are span ids, and spans
//! are grouped by their segment's service (`service.name`). Annotations
//! become attributes; a fault or error is the span's error status.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// An X-Ray trace id as an OTLP trace id (32 hex digits).
pub fn trace_id(xray: &str) -> Option<String> {
    let rest = xray.strip_prefix("1-")?;
    let (time, random) = rest.split_once('-')?;
    let id = format!("{time}{random}");
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

fn nanos(secs: Option<f64>) -> String {
    secs.map_or_else(
        || "0".to_string(),
        |s| format!("{}", (s * 1e9).round() as u128),
    )
}

fn attribute(key: &str, v: &Value) -> Option<Value> {
    let value = match v {
        Value::String(s) => json!({"stringValue": s}),
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Number(n) if n.is_i64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n.as_f64()?}),
        _ => return None,
    };
    Some(json!({"key": key, "value": value}))
}

/// The spans of one (sub)segment and everything inside it.
fn spans_of(doc: &Value, trace: &str, parent: Option<&str>, top: bool, out: &mut Vec<Value>) {
    let Some(id) = doc.get("id").and_then(Value::as_str) else {
        return;
    };
    let f = |k: &str| doc.get(k).and_then(Value::as_f64);
    let mut attributes = Vec::new();
    for (k, path) in [
        ("aws.origin", "/origin"),
        ("aws.request_id", "/aws/request_id"),
        ("aws.operation", "/aws/operation"),
        ("faas.invoked_arn", "/resource_arn"),
        ("http.method", "/http/request/method"),
        ("http.url", "/http/request/url"),
        ("http.status_code", "/http/response/status"),
    ] {
        if let Some(a) = doc.pointer(path).and_then(|v| attribute(k, v)) {
            attributes.push(a);
        }
    }
    if let Some(Value::Object(a)) = doc.get("annotations") {
        for (k, v) in a {
            attributes.extend(attribute(&format!("annotation.{k}"), v));
        }
    }
    let failed = ["fault", "error", "throttle"]
        .iter()
        .any(|k| doc.get(k).and_then(Value::as_bool) == Some(true));
    // SERVER for a segment, CLIENT for a call to an AWS service or a remote host.
    let kind = match doc.get("namespace").and_then(Value::as_str) {
        _ if top => 2,
        Some("aws" | "remote") => 3,
        _ => 1,
    };
    let mut span = json!({
        "traceId": trace, "spanId": id,
        "name": doc.get("name").and_then(Value::as_str).unwrap_or_default(),
        "kind": kind,
        "startTimeUnixNano": nanos(f("start_time")),
        "endTimeUnixNano": nanos(f("end_time").or(f("start_time"))),
        "attributes": attributes,
        "status": {"code": if failed { 2 } else { 0 }},
    });
    if let Some(p) = parent {
        span["parentSpanId"] = json!(p);
    }
    out.push(span);
    if let Some(Value::Array(subs)) = doc.get("subsegments") {
        for s in subs {
            spans_of(s, trace, Some(id), false, out);
        }
    }
}

/// An `ExportTraceServiceRequest` of `docs` (stored segment documents).
pub fn export_request(docs: &[impl AsRef<Value>]) -> Value {
    let mut by_service: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for doc in docs {
        let doc = doc.as_ref();
        // An in-progress segment is sent again when it ends: export it then.
        if doc.get("in_progress").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let Some(trace) = doc
            .get("trace_id")
            .and_then(Value::as_str)
            .and_then(trace_id)
        else {
            continue;
        };
        let service = doc
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let parent = doc.get("parent_id").and_then(Value::as_str);
        let top = doc.get("type").and_then(Value::as_str) != Some("subsegment");
        spans_of(
            doc,
            &trace,
            parent,
            top,
            by_service.entry(service).or_default(),
        );
    }
    let resource_spans: Vec<Value> = by_service
        .into_iter()
        .map(|(service, spans)| {
            let mut resource = Map::new();
            resource.insert(
                "attributes".into(),
                json!([{"key": "service.name", "value": {"stringValue": service}},
                       {"key": "cloud.provider", "value": {"stringValue": "aws"}}]),
            );
            json!({"resource": resource, "scopeSpans": [{"scope": {"name": "nimbus"}, "spans": spans}]})
        })
        .collect();
    json!({"resourceSpans": resource_spans})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_subsegments_become_spans_of_one_trace() {
        let doc = json!({"trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": "aaaaaaaaaaaaaaaa",
            "parent_id": "cccccccccccccccc", "name": "orders", "origin": "AWS::Lambda::Function",
            "start_time": 1.5, "end_time": 2.0, "fault": true,
            "subsegments": [{"id": "bbbbbbbbbbbbbbbb", "name": "DynamoDB", "namespace": "aws",
                             "start_time": 1.6, "end_time": 1.7, "annotations": {"n": 3}}]});
        let r = export_request(&[std::sync::Arc::new(doc)]);
        let spans = &r["resourceSpans"][0]["scopeSpans"][0]["spans"];
        assert_eq!(
            r["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "orders"
        );
        assert_eq!(spans[0]["traceId"], "5759e988bd862e3fe1be46a994272793");
        assert_eq!(spans[0]["parentSpanId"], "cccccccccccccccc");
        assert_eq!(spans[0]["startTimeUnixNano"], "1500000000");
        assert_eq!(spans[0]["status"]["code"], 2);
        assert_eq!(spans[0]["kind"], 2);
        assert_eq!(spans[1]["parentSpanId"], "aaaaaaaaaaaaaaaa");
        assert_eq!(spans[1]["kind"], 3);
        assert_eq!(spans[1]["attributes"][0]["key"], "annotation.n");
        assert_eq!(trace_id("1-x"), None);
    }
}
