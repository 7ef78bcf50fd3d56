//! Composite alarms' rules: any text parsed as an `AlarmRule` never panics
//! (nor does its error), and a rule that parses is judged, without
//! panicking, with every alarm it names in each state.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_metrics::rules::AlarmRule;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match AlarmRule::parse(text) {
        Ok(r) => {
            let _ = r.alarms();
            for state in ["ALARM", "OK", "INSUFFICIENT_DATA"] {
                let _ = r.holds(&|_: &str| Some(state.to_string()));
            }
            let _ = r.holds(&|_: &str| None);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
