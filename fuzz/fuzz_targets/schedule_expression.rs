//! Schedule expressions: any text parsed as a rule's or a Scheduler's
//! expression never panics, and one that parses gives its firings, in a time
//! zone with daylight saving and inside a start and end window made from the
//! input, quickly, in order and inside the window.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_schedules::{Flavour, Schedule, Timestamp, Timing, time_zone};

const ZONES: [&str; 4] = [
    "UTC",
    "America/New_York",
    "Australia/Lord_Howe",
    "Europe/London",
];

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let (when, text) = rest.split_at(rest.len().min(4));
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let flavour = if head & 1 == 0 {
        Flavour::Rule
    } else {
        Flavour::Scheduler
    };
    let Ok(schedule) = Schedule::parse(text, flavour) else {
        return;
    };
    // An instant between 1833 and 2106 from four bytes of the input.
    let mut seconds = [0u8; 4];
    seconds[..when.len()].copy_from_slice(when);
    let from =
        Timestamp::from_second(i64::from(i32::from_le_bytes(seconds)) * 2).expect("in range");
    let mut timing = Timing::in_zone(time_zone(ZONES[usize::from(head >> 1) % 4]).expect("a zone"));
    if head & 0x10 != 0 {
        timing.start = Timestamp::from_second(from.as_second() + i64::from(head) * 3_600).ok();
    }
    if head & 0x20 != 0 {
        timing.end = Timestamp::from_second(from.as_second() + i64::from(head) * 86_400).ok();
    }
    let firings = schedule.firings(from, &timing, 5);
    for pair in firings.windows(2) {
        assert!(pair[0] < pair[1], "firings in order");
    }
    for t in &firings {
        assert!(*t >= from, "no firing before from");
        if !matches!(schedule, Schedule::At(_)) {
            assert!(
                timing.end.is_none_or(|end| *t <= end),
                "no firing after EndDate"
            );
            assert!(
                timing.start.is_none_or(|start| *t >= start),
                "no firing before StartDate"
            );
        }
    }
});
