//! CloudWatch Logs filter patterns: any text parsed as a filter pattern never
//! panics (nor does its error message), and a pattern that parses matches,
//! without panicking, the rest of the input as a log event, and gives the
//! value of each of its field references.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_logs::FilterPattern;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, event) = text.split_once('\n').unwrap_or((text, ""));
    match FilterPattern::parse(pattern) {
        Ok(p) => {
            let _ = p.matches(event);
            let _ = p.matches(pattern);
            for reference in ["$.a", "$.a[0].b", "a", "status"] {
                let _ = p.value_of(event, reference);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
