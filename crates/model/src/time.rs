//! Time formats used on the AWS wire, computed from `SystemTime` without a calendar crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
/// Nanoseconds since the Unix epoch.
pub fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos()
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 from a civil date; the inverse of `civil_from_days`.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Broken-down UTC time of an epoch-millisecond instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl Utc {
    pub fn from_millis(ms: u64) -> Utc {
        let secs = (ms / 1000) as i64;
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        Utc {
            year,
            month,
            day,
            hour: (sod / 3600) as u32,
            minute: (sod / 60 % 60) as u32,
            second: (sod % 60) as u32,
            millis: (ms % 1000) as u32,
        }
    }

    /// `2026-11-27T00:45:00.000+0000`, the format of Lambda's `LastModified`.
    pub fn lambda_timestamp(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `2026-11-27T00:45:00.000Z`, RFC 3339 with milliseconds.
    pub fn rfc3339_millis(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `2026-11-27T00:45:00Z`, RFC 3339 in whole seconds (EventBridge's `time`).
    pub fn rfc3339_seconds(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `20261127T004500Z`, SigV4's `X-Amz-Date`.
    pub fn amz_date(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// RFC 7231's IMF-fixdate (`Last-Modified`): `Fri, 27 Nov 2026 00:45:01 GMT`.
    pub fn http_date(&self) -> String {
        let days = days_from_civil(self.year, self.month, self.day);
        // 1970-01-01 was a Thursday.
        let weekday = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
        format!(
            "{weekday}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            self.day,
            MONTHS[(self.month - 1) as usize],
            self.year,
            self.hour,
            self.minute,
            self.second
        )
    }

    /// `27/Nov/2026:05:42:31 +0000`, the Common Log Format time API Gateway
    /// puts in `requestContext.time`.
    pub fn clf_date(&self) -> String {
        format!(
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
            self.day,
            MONTHS[(self.month - 1) as usize],
            self.year,
            self.hour,
            self.minute,
            self.second
        )
    }

    /// `2026/11/27`, the date prefix of a Lambda log stream name.
    pub fn slash_date(&self) -> String {
        format!("{:04}/{:02}/{:02}", self.year, self.month, self.day)
    }
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parse an IMF-fixdate (`Fri, 27 Nov 2026 00:45:01 GMT`) to epoch seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let rest = s.trim().split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let d: u32 = day.parse().ok()?;
    let m = MONTHS.iter().position(|x| x == month)? as u32 + 1;
    let y: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, se] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&d)
        || !(0..=9999).contains(&y)
        || !(0..=23).contains(h)
        || !(0..=59).contains(mi)
        || !(0..=60).contains(se)
    {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Parse an ISO 8601 / RFC 3339 time (`2026-12-07T10:00:00Z`,
/// `2026-12-07T10:00:00.250+01:00`) into epoch seconds, fraction kept.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let (date, time) = s.trim().split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let (y, mo, day): (i64, u32, u32) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some()
        || !(0..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let (clock, offset_s) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':').unwrap_or((&off[1..], "0"));
        let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
        if !(0..=23).contains(&oh) || !(0..=59).contains(&om) {
            return None;
        }
        (c, sign * (oh * 3600 + om * 60))
    } else {
        (time, 0)
    };
    let mut parts = clock.split(':');
    let (h, mi): (i64, i64) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    let sec: f64 = parts.next().unwrap_or("0").parse().ok()?;
    if parts.next().is_some()
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&mi)
        || !(0.0..61.0).contains(&sec)
    {
        return None;
    }
    Some((days_from_civil(y, mo, day) * 86_400 + h * 3600 + mi * 60 - offset_s) as f64 + sec)
}

/// Parse SigV4's `YYYYMMDDTHHMMSSZ` into epoch seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_refuse_what_no_clock_says() {
        assert_eq!(
            parse_http_date("Mon, 07 Dec 2026 22:00:00 GMT"),
            parse_amz_date("20261207T220000Z")
        );
        for bad in [
            "Mon, 07 Dec 99999999999999999 22:00:00 GMT",
            "Mon, 07 Dec -5 22:00:00 GMT",
            "Mon, 07 Dec 2026 -1:00:00 GMT",
            "Mon, 07 Dec 2026 22:00 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_times_with_fractions_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:10Z"), Some(10.0));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00.5+01:00"), Some(0.5));
        assert_eq!(parse_rfc3339("2026-12-07T10:00:00Z"), Some(1_796_637_600.0));
        assert_eq!(parse_rfc3339("2026-13-07T10:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(
            parse_rfc3339("-000000040000000000000000-01-01T00:00:00Z"),
            None
        );
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00+99999999999:00"), None);
    }

    #[test]
    fn formats_known_instant() {
        // 2026-11-27T00:45:01.234Z
        let ms = 1_795_740_301_234;
        let t = Utc::from_millis(ms);
        assert_eq!(t.rfc3339_millis(), "2026-11-27T00:45:01.234Z");
        assert_eq!(t.lambda_timestamp(), "2026-11-27T00:45:01.234+0000");
        assert_eq!(t.amz_date(), "20261127T004501Z");
        assert_eq!(parse_amz_date("20261127T004501Z"), Some(1_795_740_301));
        assert_eq!(t.http_date(), "Fri, 27 Nov 2026 00:45:01 GMT");
        assert_eq!(
            parse_http_date("Fri, 27 Nov 2026 00:45:01 GMT"),
            Some(1_795_740_301)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            Utc::from_millis(0).http_date(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(parse_http_date("garbage"), None);
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "",
            "20261127T004501",
            "2026112XT004501Z",
            "20261327T004501Z",
            "٢٠٢٦1127T004501Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
