//! How fast a bus's rules match: 100 mixed rules, 100,000 events, matched
//! one rule at a time (as `PutEvents` did) and through a `PatternSet`.
//! Prints per-event p50/p99 and events per second for each.
//!
//! ```text
//! cargo run --release -p nimbus-patterns --example index_bench
//! ```

use nimbus_patterns::{Pattern, PatternSet};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const RULES: usize = 100;
const EVENTS: usize = 100_000;
const SOURCES: usize = 20;
const DETAIL_TYPES: usize = 30;
const STATES: &[&str] = &["pending", "running", "stopped", "terminated"];

/// A tiny deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn source(i: usize) -> String {
    format!("app.service{:02}", i % SOURCES)
}

fn detail_type(i: usize) -> String {
    format!("Thing {:02} Changed", i % DETAIL_TYPES)
}

/// Rule `i` of the mix: exact source and detail-type (some with a state),
/// source with a prefix or a numeric range, anything-but, `$or`, and a few
/// with no exact field at all.
fn rule(i: usize) -> Value {
    let (s, t, state) = (source(i), detail_type(i), STATES[i % STATES.len()]);
    match i {
        0..40 if i.is_multiple_of(3) => {
            json!({"source": [s], "detail-type": [t], "detail": {"state": [state]}})
        }
        0..40 => json!({"source": [s], "detail-type": [t]}),
        40..55 => {
            json!({"source": [s], "detail": {"key": [{"prefix": format!("uploads/{}/", i % 7)}]}})
        }
        55..70 => {
            json!({"source": [s], "detail": {"size": [{"numeric": [">=", i * 10, "<", i * 10 + 400]}]}})
        }
        70..80 => json!({"source": [{"anything-but": [s]}], "detail-type": [t]}),
        80..85 => json!({"$or": [{"source": [s]}, {"detail-type": [t]}]}),
        85..90 => json!({
            "detail": {"state": [state]},
            "$or": [{"source": [{"prefix": "app.service1"}]}, {"detail": {"size": [{"numeric": ["<", 10]}]}}]
        }),
        90..94 => json!({"source": [{"prefix": format!("app.service0{}", i % 10)}]}),
        94..97 => json!({"detail": {"size": [{"numeric": [">", 990 + i]}]}}),
        _ => {
            json!({"detail": {"user": [{"exists": true}], "state": [{"anything-but": ["pending"]}]}})
        }
    }
}

fn event(rng: &mut Rng, n: usize) -> Value {
    let s = rng.below(SOURCES + 2);
    let s = if s < SOURCES {
        source(s)
    } else {
        format!("aws.service{s}")
    };
    let mut detail = json!({
        "state": STATES[rng.below(STATES.len())],
        "size": rng.below(1200),
        "key": format!("uploads/{}/file-{}.png", rng.below(10), rng.below(1000)),
        "bucket": {"name": format!("bucket-{}", rng.below(5)), "region": "us-east-1"},
        "tags": ["a", "b", "c"],
    });
    if rng.below(2) == 0 {
        detail["user"] = json!(format!("user-{}", rng.below(100)));
    }
    json!({
        "version": "0",
        "id": format!("6a7e8feb-b491-4cf7-a9f1-{n:012}"),
        "detail-type": detail_type(rng.below(DETAIL_TYPES)),
        "source": s,
        "account": "123456789012",
        "time": "2026-12-07T18:43:48Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:app:us-east-1:123456789012:thing/{n}")],
        "detail": detail,
    })
}

/// Time `run` on every event; returns the per-event times, the wall time and
/// how many matches it found.
fn measure(
    events: &[Value],
    mut run: impl FnMut(&Value) -> usize,
) -> (Vec<Duration>, Duration, usize) {
    let mut times = Vec::with_capacity(events.len());
    let mut found = 0;
    let start = Instant::now();
    for e in events {
        let t = Instant::now();
        found += run(e);
        times.push(t.elapsed());
    }
    let wall = start.elapsed();
    times.sort_unstable();
    (times, wall, found)
}

fn report(name: &str, (times, wall, found): &(Vec<Duration>, Duration, usize)) {
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{name:<12} p50 {:>8.2} µs   p99 {:>8.2} µs   {:>10.0} events/s   ({found} matches)",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        times.len() as f64 / wall.as_secs_f64(),
    );
}

fn main() {
    let rules: Vec<(String, Pattern)> = (0..RULES)
        .map(|i| {
            let text = rule(i).to_string();
            let pattern = Pattern::parse(&text).unwrap_or_else(|e| panic!("rule {i}: {e}"));
            (format!("rule-{i:03}"), pattern)
        })
        .collect();
    let mut set = PatternSet::new();
    for (name, pattern) in &rules {
        set.insert(name.clone(), pattern.clone());
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let events: Vec<Value> = (0..EVENTS).map(|n| event(&mut rng, n)).collect();

    // Both must find the same rules for every event.
    for e in events.iter().step_by(10) {
        let mut got = set.matching(e);
        got.sort();
        let want: Vec<String> = rules
            .iter()
            .filter(|(_, p)| p.matches(e))
            .map(|(n, _)| n.clone())
            .collect();
        assert_eq!(got, want, "{e}");
    }

    println!("{RULES} rules, {EVENTS} events");
    let naive = measure(&events, |e| {
        rules
            .iter()
            .filter(|(_, p)| p.matches(e))
            .map(|(n, _)| n.clone())
            .collect::<Vec<String>>()
            .len()
    });
    report("one by one", &naive);
    let indexed = measure(&events, |e| set.matching(e).len());
    report("PatternSet", &indexed);
    assert_eq!(naive.2, indexed.2, "both find the same matches");
}
