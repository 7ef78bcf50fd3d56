//! AWS's six-field cron (`minutes hours day-of-month month day-of-week year`):
//! parsing into value sets, and the first firing at or after an instant in a
//! time zone. Not for five-field Unix cron or Quartz's seconds field.
//!
//! The grammar is Quartz's, as AWS documents it: `,` lists, `-` ranges (a range
//! may wrap, `FRI-MON`, except in the year field), `/` increments, `*`, and `?`
//! in exactly one of the two day fields; in day-of-month `L`, `L-n`, `LW` and
//! `nW`, in day-of-week `L` (Saturday), `nL` (the month's last such day) and
//! `n#k` (its k-th), each of these alone in its field. Names (`JAN`, `MON`) and
//! the special letters are case-insensitive. Day-of-week counts from 1 = Sunday.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// The first and last year a cron expression can name.
pub const FIRST_YEAR: i16 = 1970;
pub const LAST_YEAR: i16 = 2199;

/// A set of small numbers (0..256): minutes, hours, days, months, weekdays,
/// and years as offsets from [`FIRST_YEAR`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bits([u64; 4]);

impl Bits {
    fn insert(&mut self, v: u32) {
        self.0[(v / 64) as usize] |= 1 << (v % 64);
    }
    fn has(&self, v: u32) -> bool {
        v < 256 && self.0[(v / 64) as usize] & (1 << (v % 64)) != 0
    }
}

/// Which days of a month fire: decided by day-of-month or by day-of-week,
/// whichever is not `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Days {
    /// Listed days of the month (`*`, lists, ranges, increments).
    Month(Bits),
    /// `L` or `L-n`: the last day of the month, or n days before it.
    LastOfMonth(u32),
    /// `LW`: the month's last weekday (Monday to Friday).
    LastWeekday,
    /// `nW`: the weekday nearest day n, within the month.
    NearestWeekday(u32),
    /// Listed days of the week (1 = Sunday).
    Week(Bits),
    /// `nL`: the month's last day-of-week n.
    LastOfWeek(u32),
    /// `n#k`: the month's k-th day-of-week n.
    Nth(u32, u32),
}

/// A parsed cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: Bits,
    hours: Bits,
    days: Days,
    months: Bits,
    years: Bits,
}

/// Why an expression is refused (for logs and tests; AWS's message says only
/// that it is not valid).
pub type Reason = &'static str;

struct Field {
    /// Subtracted from every value before it is stored (years fit in [`Bits`]).
    base: u32,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    wraps: bool,
}

const MINUTES: Field = Field {
    base: 0,
    min: 0,
    max: 59,
    names: &[],
    wraps: true,
};
const HOURS: Field = Field {
    base: 0,
    min: 0,
    max: 23,
    names: &[],
    wraps: true,
};
const DAYS_OF_MONTH: Field = Field {
    base: 0,
    min: 1,
    max: 31,
    names: &[],
    wraps: true,
};
const MONTHS: Field = Field {
    base: 0,
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    wraps: true,
};
const DAYS_OF_WEEK: Field = Field {
    base: 0,
    min: 1,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    wraps: true,
};
const YEARS: Field = Field {
    base: FIRST_YEAR as u32,
    min: FIRST_YEAR as u32,
    max: LAST_YEAR as u32,
    names: &[],
    wraps: false,
};

impl Field {
    fn value(&self, s: &str) -> Result<u32, Reason> {
        if let Some(i) = self.names.iter().position(|n| *n == s) {
            return Ok(self.min + i as u32);
        }
        if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a value is neither a number nor a name");
        }
        let v: u32 = s.parse().map_err(|_| "a value is not a number")?;
        if v < self.min || v > self.max {
            return Err("a value is out of its field's range");
        }
        Ok(v)
    }

    /// `*`, `a`, `a-b`, with an optional `/step`, joined by commas.
    fn parse(&self, text: &str) -> Result<Bits, Reason> {
        let mut bits = Bits::default();
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
                        return Err("an increment is not a number");
                    }
                    let step: u32 = s.parse().map_err(|_| "an increment is not a number")?;
                    let limit = if self.wraps {
                        self.max
                    } else {
                        self.max - self.min
                    };
                    if step == 0 || step > limit {
                        return Err("an increment is out of range");
                    }
                    (r, Some(step))
                }
                None => (item, None),
            };
            let (from, to) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                (self.value(a)?, self.value(b)?)
            } else {
                let a = self.value(range)?;
                (a, if step.is_some() { self.max } else { a })
            };
            if from > to && !self.wraps {
                return Err("a range runs backwards");
            }
            let span = self.max - self.min + 1;
            let len = (to + span - from) % span + 1;
            let step = step.unwrap_or(1);
            let mut k = 0;
            while k < len {
                bits.insert(self.min - self.base + (from - self.min + k) % span);
                k += step;
            }
        }
        Ok(bits)
    }
}

impl Cron {
    /// Reads the six fields between `cron(` and `)`.
    pub fn parse(body: &str) -> Result<Cron, Reason> {
        let upper = body.to_ascii_uppercase();
        let fields: Vec<&str> = upper.split_ascii_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields[..] else {
            return Err("a cron expression has six fields");
        };
        for f in [minutes, hours, month, year] {
            if f.contains('?') {
                return Err("? is allowed only in the day fields");
            }
        }
        let days = match (dom == "?", dow == "?") {
            (true, true) => return Err("day-of-month and day-of-week are both ?"),
            (false, false) => return Err("one of day-of-month and day-of-week must be ?"),
            (false, true) => day_of_month(dom)?,
            (true, false) => day_of_week(dow)?,
        };
        Ok(Cron {
            minutes: MINUTES.parse(minutes)?,
            hours: HOURS.parse(hours)?,
            days,
            months: MONTHS.parse(month)?,
            years: YEARS.parse(year)?,
        })
    }

    /// The first firing at or after `t`, its minute read on `zone`'s clock.
    /// A local time that does not exist (clocks spring forward over it) does
    /// not fire; one that happens twice (clocks fall back) fires once, at its
    /// first occurrence. `None` when nothing fires before the end of
    /// [`LAST_YEAR`].
    pub fn first_at_or_after(&self, t: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        let local = zone.to_datetime(t);
        let floor = jiff::civil::date(FIRST_YEAR, 1, 1).at(0, 0, 0, 0);
        let start = if local < floor { floor } else { local };
        let (y0, m0, d0) = (start.year(), start.month() as u32, start.day() as u32);
        let (h0, mi0) = (start.hour() as u32, start.minute() as u32);
        for year in y0..=LAST_YEAR {
            if !self.years.has((year - FIRST_YEAR) as u32) {
                continue;
            }
            let first_y = year == y0;
            for month in 1..=12u32 {
                if !self.months.has(month) || (first_y && month < m0) {
                    continue;
                }
                let first_m = first_y && month == m0;
                let days = self.days_of(year, month);
                for day in 1..=31u32 {
                    if !days.has(day) || (first_m && day < d0) {
                        continue;
                    }
                    let first_d = first_m && day == d0;
                    let date = jiff::civil::date(year, month as i8, day as i8);
                    let found = self.first_in_day(date, first_d.then_some((h0, mi0)), t, zone);
                    if found.is_some() {
                        return found;
                    }
                }
            }
        }
        None
    }

    fn first_in_day(
        &self,
        date: Date,
        from: Option<(u32, u32)>,
        t: Timestamp,
        zone: &TimeZone,
    ) -> Option<Timestamp> {
        let (h0, mi0) = from.unwrap_or((0, 0));
        for hour in h0..24 {
            if !self.hours.has(hour) {
                continue;
            }
            let m_from = if from.is_some() && hour == h0 { mi0 } else { 0 };
            for minute in m_from..60 {
                if !self.minutes.has(minute) {
                    continue;
                }
                let dt: DateTime = date.at(hour as i8, minute as i8, 0, 0);
                let ambiguous = zone.to_ambiguous_timestamp(dt);
                let ts = match ambiguous.offset() {
                    AmbiguousOffset::Gap { .. } => continue,
                    AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
                        ambiguous.earlier().ok()?
                    }
                };
                if ts >= t {
                    return Some(ts);
                }
            }
        }
        None
    }

    /// Whether the fields name this minute of the local calendar (seconds
    /// aside).
    pub fn matches(&self, dt: DateTime) -> bool {
        let year = dt.year();
        (FIRST_YEAR..=LAST_YEAR).contains(&year)
            && self.years.has((year - FIRST_YEAR) as u32)
            && self.months.has(dt.month() as u32)
            && self.hours.has(dt.hour() as u32)
            && self.minutes.has(dt.minute() as u32)
            && self.days_of(year, dt.month() as u32).has(dt.day() as u32)
    }

    /// The days of `month` in `year` that fire.
    fn days_of(&self, year: i16, month: u32) -> Bits {
        let first = jiff::civil::date(year, month as i8, 1);
        let dim = first.days_in_month() as u32;
        // Day-of-week of day d, 1 = Sunday.
        let first_dow = first.weekday().to_sunday_one_offset() as u32;
        let dow = |d: u32| (first_dow - 1 + d - 1) % 7 + 1;
        let mut out = Bits::default();
        match &self.days {
            Days::Month(bits) => (1..=dim)
                .filter(|d| bits.has(*d))
                .for_each(|d| out.insert(d)),
            Days::LastOfMonth(offset) => {
                if *offset < dim {
                    out.insert(dim - offset);
                }
            }
            Days::LastWeekday => out.insert(match dow(dim) {
                7 => dim - 1,
                1 => dim - 2,
                _ => dim,
            }),
            Days::NearestWeekday(n) => {
                if *n <= dim {
                    out.insert(match dow(*n) {
                        7 if *n == 1 => 3,
                        7 => n - 1,
                        1 if *n == dim => n - 2,
                        1 => n + 1,
                        _ => *n,
                    });
                }
            }
            Days::Week(bits) => (1..=dim)
                .filter(|d| bits.has(dow(*d)))
                .for_each(|d| out.insert(d)),
            Days::LastOfWeek(n) => {
                if let Some(d) = (1..=dim).rev().find(|d| dow(*d) == *n) {
                    out.insert(d);
                }
            }
            Days::Nth(n, k) => {
                let first_n = (1..=7).find(|d| dow(*d) == *n).unwrap_or(1);
                let d = first_n + 7 * (k - 1);
                if d <= dim {
                    out.insert(d);
                }
            }
        }
        out
    }
}

fn day_of_month(f: &str) -> Result<Days, Reason> {
    if f == "L" {
        return Ok(Days::LastOfMonth(0));
    }
    if f == "LW" {
        return Ok(Days::LastWeekday);
    }
    if let Some(n) = f.strip_prefix("L-") {
        let n = DAYS_OF_MONTH
            .value(n)
            .map_err(|_| "L-n needs n from 1 to 30")?;
        if n > 30 {
            return Err("L-n needs n from 1 to 30");
        }
        return Ok(Days::LastOfMonth(n));
    }
    if let Some(n) = f.strip_suffix('W') {
        return Ok(Days::NearestWeekday(DAYS_OF_MONTH.value(n)?));
    }
    if f.contains('L') || f.contains('W') {
        return Err("L and W stand alone in day-of-month");
    }
    Ok(Days::Month(DAYS_OF_MONTH.parse(f)?))
}

fn day_of_week(f: &str) -> Result<Days, Reason> {
    if f == "L" {
        let mut bits = Bits::default();
        bits.insert(7);
        return Ok(Days::Week(bits));
    }
    if let Some((n, k)) = f.split_once('#') {
        let n = DAYS_OF_WEEK.value(n)?;
        let k: u32 = match k {
            "1" | "2" | "3" | "4" | "5" => k.parse().map_err(|_| "bad #")?,
            _ => return Err("# needs an occurrence from 1 to 5"),
        };
        return Ok(Days::Nth(n, k));
    }
    if let Some(n) = f.strip_suffix('L') {
        return Ok(Days::LastOfWeek(DAYS_OF_WEEK.value(n)?));
    }
    if f.contains('L') {
        return Err("L stands alone in day-of-week");
    }
    Ok(Days::Week(DAYS_OF_WEEK.parse(f)?))
}
