//! What tracing costs an invocation, timed one invocation at a time, p50
//! and p99: the header work every invocation does (parse the caller's
//! header, ask the sampling rules, format the runtime's header), and what
//! a sampled invocation adds (the Lambda service's and the function's
//! segment documents, built and stored).
//!
//! Run: `cargo run --release -p nimbus-traces --example trace_bench`

use nimbus_traces::header::{TraceHeader, new_segment_id, new_trace_id};
use nimbus_traces::{Traces, sampling};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

fn p(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64) as usize).min(v.len() - 1)]
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let kv: Arc<dyn nimbus_storage::KvEngine> =
        Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("kv")).expect("kv"));
    let traces = Traces::open(dir.path().join("traces"), kv, 30).expect("traces");
    let n = 100_000;
    let (mut header, mut sampled) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let incoming = format!(
            "Root={};Parent={};Lineage=a87bd80c:1",
            new_trace_id(),
            new_segment_id()
        );
        let start = Instant::now();
        let mut h = TraceHeader::parse(&incoming);
        let (_, decided) = traces.sampler.decide(&sampling::Request {
            service_name: "orders",
            service_type: "AWS::Lambda::Function",
            host: "*",
            http_method: "*",
            url_path: "*",
            resource_arn: "*",
        });
        h.parent = Some(new_segment_id());
        h.sampled = Some(decided);
        let runtime_header = h.to_string();
        header.push(start.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(runtime_header);

        let start = Instant::now();
        let root = h.root.clone().unwrap_or_default();
        let (service_id, function_id) = (new_segment_id(), new_segment_id());
        let t = 1_796_000_000.0 + i as f64;
        let arn = "arn:aws:lambda:us-east-1:000000000000:function:orders";
        let service = json!({"trace_id": root, "id": service_id, "name": "orders", "origin": "AWS::Lambda",
            "start_time": t, "end_time": t + 0.01, "resource_arn": arn, "aws": {"request_id": "r"},
            "http": {"response": {"status": 200}}});
        let function = json!({"trace_id": root, "id": function_id, "parent_id": service_id, "name": "orders",
            "origin": "AWS::Lambda::Function", "start_time": t, "end_time": t + 0.01, "resource_arn": arn,
            "subsegments": [
                {"id": new_segment_id(), "name": "Invocation", "start_time": t, "end_time": t + 0.01},
                {"id": new_segment_id(), "name": "Overhead", "start_time": t + 0.01, "end_time": t + 0.01}]});
        traces
            .put_values(vec![service, function], false)
            .expect("put");
        sampled.push(start.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "every invocation (header and sampling decision): p50 {:.2} us, p99 {:.2} us",
        p(&mut header, 0.5),
        p(&mut header, 0.99)
    );
    println!(
        "a sampled invocation's two segments, built and stored: p50 {:.2} us, p99 {:.2} us",
        p(&mut sampled, 0.5),
        p(&mut sampled, 0.99)
    );
}
