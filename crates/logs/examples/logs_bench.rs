//! The log store alone, in process: how many function output lines it
//! appends per second (batches of 100, as an environment's pipe delivers
//! them), and how long a `FilterLogEvents`-style read of 1,000,000 events
//! with a term pattern and a JSON pattern takes.
//!
//! Run: `cargo run --release -p nimbus-logs --example logs_bench`

use nimbus_logs::{FilterPattern, Logs, Query};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let kv: Arc<dyn nimbus_storage::KvEngine> = Arc::new(
        nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("kv.redb")).expect("kv"),
    );
    let logs = Logs::open(dir.path().join("logs"), kv, "000000000000", "us-east-1").expect("store");
    const LINES: usize = 1_000_000;
    let lines: Vec<String> = (0..100)
        .map(|i| {
            if i % 10 == 0 {
                format!(r#"{{"level": "ERROR", "ms": {i}, "msg": "order failed after retries, giving up now"}}"#)
            } else {
                format!("INFO request {i:03} handled in 12 ms for customer 42 with status 200 OK ....")
            }
        })
        .collect();
    let batch: Vec<&str> = lines.iter().map(String::as_str).collect();
    let start = Instant::now();
    for n in 0..LINES / batch.len() {
        logs.append_lines("/aws/lambda/bench", &format!("stream-{}", n % 8), &batch);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "append: {LINES} lines of ~100 bytes in {secs:.2} s: {:.0} lines/s",
        LINES as f64 / secs
    );
    for pattern in [
        "ERROR",
        r#"{ $.level = "ERROR" && $.ms > 50 }"#,
        "[level, word, n = 0*, ...]",
    ] {
        let p = FilterPattern::parse(pattern).expect("a pattern");
        let start = Instant::now();
        let events = logs
            .events("/aws/lambda/bench", &Query::default())
            .expect("events");
        let read = start.elapsed().as_secs_f64();
        let hits = events.iter().filter(|e| p.matches(&e.message)).count();
        let total = start.elapsed().as_secs_f64();
        println!(
            "filter {pattern:?} over {} events: {hits} hits in {total:.3} s (reading {read:.3} s)",
            events.len()
        );
    }
}
