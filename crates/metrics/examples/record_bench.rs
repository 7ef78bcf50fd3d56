//! What Lambda's own metrics cost an invocation: the nine `record` calls of
//! one invocation (`Invocations`, `Errors`, `Duration` by account, function
//! and version), timed one invocation at a time, p50 and p99, over 100
//! functions.
//!
//! Run: `cargo run --release -p nimbus-metrics --example record_bench`

use nimbus_metrics::{MetricId, Metrics};
use std::time::Instant;

fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let m = Metrics::open(dir.path().to_path_buf()).expect("metrics");
    let mut times = Vec::with_capacity(200_000);
    for i in 0..200_000u64 {
        let f = format!("fn-{}", i % 100);
        let resource = format!("{f}:1");
        let start = Instant::now();
        let mut points = Vec::with_capacity(9);
        for (name, unit, value) in [
            ("Invocations", "Count", 1.0),
            ("Errors", "Count", 0.0),
            ("Duration", "Milliseconds", (i % 50) as f64),
        ] {
            points.push((MetricId::new("AWS/Lambda", name, &[]), unit, value));
            points.push((
                MetricId::new("AWS/Lambda", name, &[("FunctionName", &f)]),
                unit,
                value,
            ));
            points.push((
                MetricId::new(
                    "AWS/Lambda",
                    name,
                    &[("FunctionName", &f), ("Resource", &resource)],
                ),
                unit,
                value,
            ));
        }
        m.record_all(points);
        times.push(start.elapsed().as_nanos() as u64);
        if i % 20_000 == 0 {
            m.flush().expect("flush");
        }
    }
    times.sort_unstable();
    println!(
        "one invocation's metrics: p50 {:.2} µs, p99 {:.2} µs ({} invocations)",
        times[times.len() / 2] as f64 / 1000.0,
        times[times.len() * 99 / 100] as f64 / 1000.0,
        times.len()
    );
}
