//! Logs Insights queries: any text parsed as a query never panics (nor does
//! its error), and a query that parses runs, without panicking, over the
//! rest of the input's lines taken as log events.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_logs::Event;
use nimbus_logs::insights::{InsightsQuery, record};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (query, rest) = text.split_once('\n').unwrap_or((text, ""));
    match InsightsQuery::parse(query) {
        Ok(q) => {
            let records = rest.lines().enumerate().map(|(i, line)| {
                let e = Event {
                    timestamp: i as u64 * 7_919,
                    ingested: i as u64,
                    stream: "s".into(),
                    message: line.to_string(),
                    id: (0, i as u32),
                };
                record("000000000000", "/g", &e)
            });
            let _ = q.run(records, 100);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
