//! The typed values condition operators compare: numbers, dates (ISO 8601 or
//! epoch seconds) and IP networks (IPv4 and IPv6 CIDR).

use std::net::IpAddr;

/// A number as `Numeric*` operators read it (integers and decimals).
pub(crate) fn number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A date as `Date*` operators read it, in milliseconds since the epoch:
/// epoch seconds (`1735689600`, `1735689600.5`) or ISO 8601
/// (`2026-01-01`, `2026-01-01T12:00Z`, `2026-01-01T12:00:00.250+02:00`).
pub(crate) fn date(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        && !s[1..].contains('-')
    {
        let secs: f64 = s.parse().ok()?;
        return (secs.abs() < 1e14).then(|| (secs * 1000.0).round() as i64);
    }
    iso8601(s)
}

fn digits(s: &str, n: usize) -> Option<(i64, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &s[n..]))
}

fn iso8601(s: &str) -> Option<i64> {
    let (year, rest) = digits(s, 4)?;
    let rest = rest.strip_prefix('-')?;
    let (month, rest) = digits(rest, 2)?;
    let rest = rest.strip_prefix('-')?;
    let (day, mut rest) = digits(rest, 2)?;
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let mut ms = 0i64;
    if let Some(time) = rest.strip_prefix(['T', 't', ' ']) {
        let (h, r) = digits(time, 2)?;
        let r = r.strip_prefix(':')?;
        let (m, mut r) = digits(r, 2)?;
        let mut sec = 0;
        if let Some(after) = r.strip_prefix(':') {
            let (v, after) = digits(after, 2)?;
            sec = v;
            r = after;
            if let Some(frac) = r.strip_prefix('.') {
                let n = frac.bytes().take_while(u8::is_ascii_digit).count();
                if n == 0 {
                    return None;
                }
                let millis: String = frac[..n].chars().chain("000".chars()).take(3).collect();
                ms += millis.parse::<i64>().ok()?;
                r = &frac[n..];
            }
        }
        if h > 23 || m > 59 || sec > 60 {
            return None;
        }
        ms += (h * 3600 + m * 60 + sec) * 1000;
        rest = r;
        match rest.as_bytes().first() {
            None => {}
            Some(b'Z' | b'z') if rest.len() == 1 => rest = "",
            Some(sign @ (b'+' | b'-')) => {
                let sign = if *sign == b'+' { 1 } else { -1 };
                let (oh, r) = digits(&rest[1..], 2)?;
                let r = r.strip_prefix(':').unwrap_or(r);
                let (om, r) = digits(r, 2)?;
                if !r.is_empty() || oh > 23 || om > 59 {
                    return None;
                }
                ms -= sign * (oh * 3600 + om * 60) * 1000;
                rest = "";
            }
            Some(_) => return None,
        }
    }
    if !rest.is_empty() {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400_000 + ms)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An IP network: `203.0.113.0/24`, `2001:db8::/32`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (a, Some(p.parse::<u8>().ok()?))
            }
            Some(_) => return None,
            None => (s, None),
        };
        let net: IpAddr = addr.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { net, prefix })
    }

    /// Whether the address is inside the network (an IPv4 network holds no
    /// IPv6 address and the other way round).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The address a request value names (a bare address, or one written with a
/// prefix length).
pub(crate) fn address(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.split_once('/').map_or(s, |(a, _)| a).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(date("1735689600"), Some(1_735_689_600_000));
        assert_eq!(date("2025-01-01"), Some(1_735_689_600_000));
        assert_eq!(date("2025-01-01T00:00Z"), Some(1_735_689_600_000));
        assert_eq!(date("2025-01-01T02:00:00+02:00"), Some(1_735_689_600_000));
        assert_eq!(date("2025-01-01T00:00:00.250Z"), Some(1_735_689_600_250));
        assert_eq!(date("2024-02-29"), Some(1_709_164_800_000));
        assert_eq!(date("2025-02-29"), None);
        assert_eq!(date("2025-13-01"), None);
        assert_eq!(date("yesterday"), None);
        assert_eq!(date("2025-01-01T00:00:00Zjunk"), None);
        assert_eq!(date("-"), None);
    }

    #[test]
    fn networks() {
        let c = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(c.contains("203.0.113.9".parse().unwrap()));
        assert!(!c.contains("203.0.114.9".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        assert!(!v6.contains("203.0.113.9".parse().unwrap()));
        assert!(
            Cidr::parse("10.0.0.1")
                .unwrap()
                .contains("10.0.0.1".parse().unwrap())
        );
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("10.0.0.0/"), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(number("10"), Some(10.0));
        assert_eq!(number("-1.5"), Some(-1.5));
        assert_eq!(number("inf"), None);
        assert_eq!(number("ten"), None);
    }
}
