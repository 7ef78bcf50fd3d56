//! X-Ray: any text parsed as a filter expression or a trace header never
//! panics, and an expression that parses is evaluated, without panicking,
//! against the rest of the input taken as a trace's segment documents (also
//! summarized and drawn as a service graph).
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_traces::{FilterExpression, TraceHeader, summary};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (expression, rest) = text.split_once('\n').unwrap_or((text, ""));
    let _ = TraceHeader::parse(expression).to_string();
    let docs: Vec<serde_json::Value> = match serde_json::from_str(rest) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(v) => vec![v],
        Err(_) => Vec::new(),
    };
    match FilterExpression::parse(expression) {
        Ok(f) => {
            let _ = f.matches(&docs);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = summary::summary("1-00000000-000000000000000000000000", &docs, "000000000000");
    let _ = summary::service_graph(std::slice::from_ref(&docs), "000000000000");
});
