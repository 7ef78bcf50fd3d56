//! Property tests: random cron expressions in random zones, their next firing
//! checked against a scan of every UTC minute read on the zone's clock (a
//! different method from the calendar walk), and windows and rates checked
//! for order and bounds. Seeded, so a failure repeats.

use crate::{Flavour, Schedule, Timing, time_zone};
use jiff::Timestamp;
use jiff::tz::{AmbiguousOffset, TimeZone};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const ZONES: [&str; 7] = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kathmandu",
];

fn expression(r: &mut Rng) -> String {
    let minutes = r.pick(&["*", "0", "30", "0/15", "*/7", "5,35", "50-10", "59", "1-3"]);
    let hours = r.pick(&["*", "0", "1", "2", "3", "1-3", "0/6", "22-2", "12"]);
    let months = r.pick(&["*", "*", "*", "*", "3,4", "9-11", "NOV-FEB", "*/2"]);
    let (dom, dow) = if r.below(2) == 0 {
        let dom = r.pick(&[
            "*", "1", "15", "L", "L-2", "LW", "1W", "15W", "31W", "29", "1-7", "25-5", "*/9",
        ]);
        (dom, "?")
    } else {
        let dow = r.pick(&[
            "*", "1", "MON-FRI", "FRI-MON", "L", "6L", "1L", "2#1", "7#5", "1#2", "2-6/2",
        ]);
        ("?", dow)
    };
    let years = r.pick(&["*", "*", "*", "*", "2026-2030", "2027", "2028/2"]);
    format!("cron({minutes} {hours} {dom} {months} {dow} {years})")
}

/// The first firing at or after `t` within `horizon` minutes, by scanning.
fn scan(s: &Schedule, t: Timestamp, zone: &TimeZone, horizon: i64) -> Option<Timestamp> {
    let Schedule::Cron(cron) = s else {
        return None;
    };
    let first = (t.as_second() + 59).div_euclid(60) * 60;
    (0..horizon).find_map(|i| {
        let m = Timestamp::from_second(first + i * 60).ok()?;
        let local = zone.to_datetime(m);
        let at = zone.to_ambiguous_timestamp(local);
        // A repeated local minute fires at its first occurrence only.
        if let AmbiguousOffset::Fold { .. } = at.offset()
            && at.earlier().ok()? != m
        {
            return None;
        }
        cron.matches(local).then_some(m)
    })
}

#[test]
fn cron_agrees_with_a_minute_scan() {
    let mut r = Rng(0x5eed_cafe_f00d_0001);
    // Instants near daylight-saving changes and elsewhere, 2026-2028.
    let near = [
        "2027-03-14T05:00:00Z",
        "2027-11-07T04:00:00Z",
        "2027-03-28T00:00:00Z",
        "2027-10-31T00:00:00Z",
        "2027-04-03T14:00:00Z",
        "2027-10-02T14:00:00Z",
        "2027-09-05T03:00:00Z",
        "2027-04-04T02:00:00Z",
        "2028-02-28T12:00:00Z",
        "2026-12-31T22:00:00Z",
    ];
    let horizon = 3 * 24 * 60;
    let mut checked = 0;
    for _ in 0..800 {
        let text = expression(&mut r);
        let s = Schedule::parse(&text, Flavour::Scheduler).expect(&text);
        let zone = time_zone(ZONES[r.below(ZONES.len() as u64) as usize]).unwrap();
        let base: Timestamp = r.pick(&near).parse().unwrap();
        let t = Timestamp::from_second(base.as_second() + r.below(48 * 3600) as i64).unwrap();
        let timing = Timing::in_zone(zone.clone());
        let got = s.first_at_or_after(t, &timing);
        let end = Timestamp::from_second(t.as_second() + horizon * 60).unwrap();
        match scan(&s, t, &zone, horizon) {
            Some(want) => {
                checked += 1;
                assert_eq!(got, Some(want), "{text} in {zone:?} from {t}");
            }
            None => assert!(got.is_none_or(|g| g >= end), "{text} from {t}: {got:?}"),
        }
    }
    assert!(
        checked > 150,
        "only {checked} cases fired within the horizon"
    );
}

#[test]
fn firings_are_ordered_and_inside_the_window() {
    let mut r = Rng(0x0dd_ba11_0000_0002);
    for _ in 0..300 {
        let text = if r.below(3) == 0 {
            format!("rate({} minutes)", 2 + r.below(5000))
        } else {
            expression(&mut r)
        };
        let s = Schedule::parse(&text, Flavour::Scheduler).expect(&text);
        let zone = time_zone(ZONES[r.below(ZONES.len() as u64) as usize]).unwrap();
        let from = Timestamp::from_second(1_790_000_000 + r.below(100_000_000) as i64).unwrap();
        let start = Timestamp::from_second(from.as_second() + r.below(10_000_000) as i64).ok();
        let end = Timestamp::from_second(from.as_second() + r.below(100_000_000) as i64).ok();
        let timing = Timing { zone, start, end };
        let f = s.firings(from, &timing, 5);
        assert!(f.windows(2).all(|w| w[0] < w[1]), "{text}: {f:?}");
        for t in &f {
            assert!(
                *t >= from && Some(*t) >= start && Some(*t) <= end,
                "{text}: {t}"
            );
        }
    }
}
