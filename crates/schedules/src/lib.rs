//! EventBridge schedule expressions and when they fire, pure: no I/O but the
//! time zone database, no clock, no storage. EventBridge rules and
//! EventBridge Scheduler ask it "is this expression valid?" and "when does
//! this schedule fire next?"; keeping schedules and firing their targets is
//! theirs.
//!
//! - [`Schedule::parse`] reads `rate(...)`, `cron(...)` and, for Scheduler,
//!   `at(...)`, refusing what AWS refuses with AWS's `ValidationException`
//!   message for the [`Flavour`] ([`ScheduleError`]).
//! - [`Timing`] is where a schedule is read: its time zone
//!   (`ScheduleExpressionTimezone`; UTC for rules) and its `StartDate` and
//!   `EndDate`.
//! - [`Schedule::next_after`] and [`Schedule::firings`] give firing instants.
//!
//! The design and what is simplified: `docs/adr/0019-schedules.md`.
//!
//! ```
//! use nimbus_schedules::{Flavour, Schedule, Timing, time_zone};
//!
//! let s = Schedule::parse("cron(30 1 * * ? *)", Flavour::Scheduler).unwrap();
//! let timing = Timing::in_zone(time_zone("America/New_York").unwrap());
//! let from: jiff::Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
//! let next: Vec<String> = s.firings(from, &timing, 2).iter().map(|t| t.to_string()).collect();
//! // 01:30 happens twice on 1 November (clocks fall back): it fires once.
//! assert_eq!(next, ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]);
//! ```

#[cfg(test)]
mod corpus;
mod cron;
#[cfg(test)]
mod props;

pub use cron::{Cron, FIRST_YEAR, LAST_YEAR};
pub use jiff::Timestamp;
pub use jiff::tz::TimeZone;

use jiff::civil::DateTime;

/// Who reads the expression: an EventBridge rule (`rate`, `cron`, always in
/// UTC) or EventBridge Scheduler (`at`, `rate`, `cron`, in a time zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Rule,
    Scheduler,
}

/// A refused expression or time zone; its `Display` is AWS's message, and
/// `ValidationException` is its code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The expression is not valid for the flavour; `reason` says why (AWS's
    /// message does not).
    #[error("{}", expression_message(*flavour, expression))]
    Expression {
        flavour: Flavour,
        expression: String,
        reason: &'static str,
    },
    /// `ScheduleExpressionTimezone` names no zone of the tz database.
    #[error("Invalid time zone {0}.")]
    TimeZone(String),
}

fn expression_message(flavour: Flavour, expression: &str) -> String {
    match flavour {
        Flavour::Rule => "Parameter ScheduleExpression is not valid.".to_string(),
        Flavour::Scheduler => format!("Invalid Schedule Expression {expression}."),
    }
}

impl ScheduleError {
    /// The AWS error code both services answer with.
    pub fn code(&self) -> &'static str {
        "ValidationException"
    }
}

/// A parsed schedule expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// `at(yyyy-mm-ddThh:mm:ss)`: once, at that time on the schedule's clock.
    At(DateTime),
    /// `rate(n unit)`: every so many seconds (a day is 24 hours, whatever
    /// the clocks do).
    Rate(i64),
    /// `cron(...)`: at the minutes the fields name, on the schedule's clock.
    Cron(Cron),
}

/// Where and when a schedule is read.
#[derive(Clone, Debug)]
pub struct Timing {
    /// The clock cron and `at` expressions are read on.
    pub zone: TimeZone,
    /// `StartDate`: nothing fires before it; a rate's firings count from it
    /// (give a rate schedule without a `StartDate` the moment it was created;
    /// without either, rates count from the Unix epoch).
    pub start: Option<Timestamp>,
    /// `EndDate`: nothing fires after it.
    pub end: Option<Timestamp>,
}

impl Timing {
    /// UTC, no start, no end: how rules read their schedules.
    pub fn utc() -> Timing {
        Timing::in_zone(TimeZone::UTC)
    }

    /// `zone`, no start, no end.
    pub fn in_zone(zone: TimeZone) -> Timing {
        Timing {
            zone,
            start: None,
            end: None,
        }
    }
}

/// The time zone `ScheduleExpressionTimezone` names: an IANA name such as
/// `America/New_York` (or a link such as `US/Eastern`, or `UTC`), spelt with
/// the database's capitals.
pub fn time_zone(name: &str) -> Result<TimeZone, ScheduleError> {
    let plausible = !name.is_empty()
        && name.len() <= 50
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b));
    if !plausible {
        return Err(ScheduleError::TimeZone(name.to_string()));
    }
    // The database's lookup ignores case; names are matched as written.
    match TimeZone::get(name) {
        Ok(zone) if zone.iana_name() == Some(name) => Ok(zone),
        _ => Err(ScheduleError::TimeZone(name.to_string())),
    }
}

impl Schedule {
    /// Reads an expression as `flavour` accepts it.
    pub fn parse(expression: &str, flavour: Flavour) -> Result<Schedule, ScheduleError> {
        parse_expression(expression, flavour).map_err(|reason| ScheduleError::Expression {
            flavour,
            expression: expression.to_string(),
            reason,
        })
    }

    /// The first firing strictly after `after`, or `None` when the schedule
    /// has no more (an `at` in the past, an `EndDate` passed, a cron whose
    /// years run out or whose days never come, such as 30 February).
    pub fn next_after(&self, after: Timestamp, timing: &Timing) -> Option<Timestamp> {
        let next_second = Timestamp::from_second(after.as_second().checked_add(1)?).ok()?;
        self.first_at_or_after(next_second, timing)
    }

    /// Up to `n` firings at or after `from`, in order.
    pub fn firings(&self, from: Timestamp, timing: &Timing, n: usize) -> Vec<Timestamp> {
        let mut out = Vec::new();
        let mut next = self.first_at_or_after(from, timing);
        while let Some(t) = next {
            if out.len() == n {
                break;
            }
            out.push(t);
            next = self.next_after(t, timing);
        }
        out
    }

    /// The first firing at or after `t`. `StartDate` and `EndDate` do not
    /// apply to `at` (as on Scheduler, which ignores them for one-time
    /// schedules).
    pub fn first_at_or_after(&self, t: Timestamp, timing: &Timing) -> Option<Timestamp> {
        let from = match timing.start {
            Some(s) if s > t && !matches!(self, Schedule::At(_)) => s,
            _ => t,
        };
        let found = match self {
            Schedule::At(dt) => {
                // A time the clocks skip fires as late as the gap is long;
                // a time they repeat fires at its first occurrence.
                let at = timing.zone.to_ambiguous_timestamp(*dt).compatible().ok()?;
                return (at >= t).then_some(at);
            }
            Schedule::Rate(every) => {
                let anchor = timing.start.map_or(0, |s| s.as_second());
                let from = from.as_second() + i64::from(from.subsec_nanosecond() > 0);
                let k = if from <= anchor {
                    0
                } else {
                    (from - anchor + every - 1) / every
                };
                Timestamp::from_second(anchor.checked_add(k.checked_mul(*every)?)?).ok()?
            }
            Schedule::Cron(cron) => cron.first_at_or_after(from, &timing.zone)?,
        };
        match timing.end {
            Some(end) if found > end => None,
            _ => Some(found),
        }
    }
}

fn parse_expression(e: &str, flavour: Flavour) -> Result<Schedule, &'static str> {
    if let Some(body) = e.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        return rate(body).map(Schedule::Rate);
    }
    if let Some(body) = e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        return Cron::parse(body).map(Schedule::Cron);
    }
    if let Some(body) = e.strip_prefix("at(").and_then(|r| r.strip_suffix(')')) {
        if flavour == Flavour::Rule {
            return Err("rules take rate and cron expressions only");
        }
        return at(body).map(Schedule::At);
    }
    Err("an expression is rate(...), cron(...) or at(...)")
}

/// `value unit`: a positive whole number, and a unit that is singular for 1
/// and plural otherwise.
fn rate(body: &str) -> Result<i64, &'static str> {
    let parts: Vec<&str> = body.split(' ').collect();
    let [value, unit] = parts[..] else {
        return Err("a rate is a value and a unit separated by one space");
    };
    if value.is_empty() || value.len() > 9 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a rate's value is a positive whole number");
    }
    let n: i64 = value
        .parse()
        .map_err(|_| "a rate's value is not a number")?;
    if n == 0 {
        return Err("a rate's value is a positive whole number");
    }
    let (seconds, singular) = match unit {
        "minute" => (60, true),
        "minutes" => (60, false),
        "hour" => (3600, true),
        "hours" => (3600, false),
        "day" => (86400, true),
        "days" => (86400, false),
        _ => return Err("a rate's unit is minutes, hours or days"),
    };
    if singular != (n == 1) {
        return Err("a rate of 1 takes a singular unit, any other a plural one");
    }
    Ok(n * seconds)
}

/// `yyyy-mm-ddThh:mm:ss`, a real date and time of day.
fn at(body: &str) -> Result<DateTime, &'static str> {
    let b = body.as_bytes();
    let shape = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return Err("at(...) holds yyyy-mm-ddThh:mm:ss");
    }
    let num = |r: std::ops::Range<usize>| body[r].parse::<i16>().unwrap_or(-1);
    DateTime::new(
        num(0..4),
        num(5..7) as i8,
        num(8..10) as i8,
        num(11..13) as i8,
        num(14..16) as i8,
        num(17..19) as i8,
        0,
    )
    .map_err(|_| "at(...) names no real date and time")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn never_firing_cron_ends_quickly() {
        let s = Schedule::parse("cron(0 0 30 2 ? *)", Flavour::Rule).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            s.next_after(ts("2026-01-01T00:00:00Z"), &Timing::utc()),
            None
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn messages_are_aws_messages() {
        let e = Schedule::parse("rate(1 minutes)", Flavour::Rule).unwrap_err();
        assert_eq!(e.to_string(), "Parameter ScheduleExpression is not valid.");
        assert_eq!(e.code(), "ValidationException");
        let e = Schedule::parse("at(2026-02-30T00:00:00)", Flavour::Scheduler).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid Schedule Expression at(2026-02-30T00:00:00)."
        );
        assert!(time_zone("Mars/Olympus_Mons").is_err());
        assert!(time_zone("Europe/London").is_ok());
        assert!(time_zone("US/Eastern").is_ok());
        assert!(time_zone("europe/london").is_err());
        assert!(time_zone("../../etc/passwd").is_err());
        assert_eq!(
            time_zone("Nowhere/Special").unwrap_err().to_string(),
            "Invalid time zone Nowhere/Special."
        );
    }
}
