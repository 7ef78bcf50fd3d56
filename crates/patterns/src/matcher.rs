//! One matcher of a pattern's leaf list, and how it tests one value of the
//! event (a string, number, boolean or null: arrays were taken apart before).

use serde_json::Value;
use std::net::IpAddr;

/// What one element of a leaf's list asks of a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// A string literal: equal strings (and, if it is an IP address, the
    /// same address however written).
    Str(String),
    /// A number literal: numerically equal numbers, or the same text.
    Num(String, f64),
    Bool(bool),
    Null,
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    AnythingBut(AnythingBut),
    Numeric(Range),
    Cidr(IpRange),
    Exists(bool),
}

/// The forms of `anything-but`: each matches any value but those it names.
#[derive(Debug, Clone, PartialEq)]
pub enum AnythingBut {
    Strings(Vec<String>),
    /// Numbers, as comparable keys (see [`comparable`]).
    Numbers(Vec<i64>),
    Prefix(String),
    Suffix(String),
    IgnoreCase(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

/// A numeric range over comparable keys; open ends exclude the bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub(crate) low: Option<(i64, bool)>,
    pub(crate) high: Option<(i64, bool)>,
}

/// An address range from a CIDR block: the first and last address.
#[derive(Debug, Clone, PartialEq)]
pub struct IpRange {
    low: Vec<u8>,
    high: Vec<u8>,
}

/// A wildcard pattern: literal pieces between `*`s.
#[derive(Debug, Clone, PartialEq)]
pub struct Wildcard {
    pieces: Vec<String>,
}

/// Numbers match as EventBridge compares them: within ±5e9, to six decimal
/// places. Outside that range a number matches only by its text.
pub(crate) const FIVE_BILLION: f64 = 5e9;

/// A number's comparable key, if it is within range.
pub(crate) fn comparable(f: f64) -> Option<i64> {
    if !(-FIVE_BILLION..=FIVE_BILLION).contains(&f) {
        return None;
    }
    // Truncation, as EventBridge's engine does: 1.0000001 equals 1.
    Some(((f + FIVE_BILLION) * 1_000_000.0) as i64)
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

impl Wildcard {
    /// Parse a wildcard: `*` is any run of characters, `\*` a star, `\\` a
    /// backslash. Two stars in a row, or another escape, are refused with
    /// AWS's words (positions count bytes).
    pub(crate) fn parse(text: &str) -> Result<Wildcard, String> {
        let bytes = text.as_bytes();
        let mut pieces = vec![Vec::new()];
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match b {
                b'*' => {
                    if bytes.get(i + 1) == Some(&b'*') {
                        return Err(format!("Consecutive wildcard characters at pos {i}"));
                    }
                    pieces.push(Vec::new());
                }
                b'\\' => match bytes.get(i + 1) {
                    Some(&n @ (b'*' | b'\\')) => {
                        if let Some(p) = pieces.last_mut() {
                            p.push(n);
                        }
                        i += 1;
                    }
                    _ => return Err(format!("Invalid escape character at pos {i}")),
                },
                _ => {
                    if let Some(p) = pieces.last_mut() {
                        p.push(b);
                    }
                }
            }
            i += 1;
        }
        let pieces = pieces
            .into_iter()
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .collect();
        Ok(Wildcard { pieces })
    }

    /// Whether `s` matches: the pieces in order, the first at the start and
    /// the last at the end (a leading or trailing star leaves an empty piece).
    pub(crate) fn matches(&self, s: &str) -> bool {
        let n = self.pieces.len();
        if n == 1 {
            return s == self.pieces[0];
        }
        let first = &self.pieces[0];
        let last = &self.pieces[n - 1];
        if !s.starts_with(first.as_str()) {
            return false;
        }
        let rest = &s[first.len()..];
        if rest.len() < last.len() || !rest.ends_with(last.as_str()) {
            return false;
        }
        let mut middle = &rest[..rest.len() - last.len()];
        for piece in &self.pieces[1..n - 1] {
            match middle.find(piece.as_str()) {
                Some(at) => middle = &middle[at + piece.len()..],
                None => return false,
            }
        }
        true
    }
}

impl Range {
    fn contains(&self, key: i64) -> bool {
        let above = match self.low {
            None => true,
            Some((b, open)) => key > b || (!open && key == b),
        };
        let below = match self.high {
            None => true,
            Some((t, open)) => key < t || (!open && key == t),
        };
        above && below
    }
}

/// The address `s` spells, if it looks like one: how two spellings of an
/// address compare equal.
pub(crate) fn ip_bytes(s: &str) -> Option<Vec<u8>> {
    // Only what looks like an address is tried, as AWS does (a host name is
    // never resolved): dotted digits, or hex digits with a colon.
    let v4 = s.split('.').count() == 4 && s.chars().all(|c| c.is_ascii_digit() || c == '.');
    let v6 = s.contains(':') && s.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
    if !v4 && !v6 {
        return None;
    }
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(a.octets().to_vec()),
        IpAddr::V6(a) => Some(a.octets().to_vec()),
    }
}

impl IpRange {
    /// A CIDR block, refused with AWS's words.
    pub(crate) fn parse(cidr: &str) -> Result<IpRange, String> {
        // Split as Java does: trailing empty parts are dropped.
        let mut parts: Vec<&str> = cidr.split('/').collect();
        while parts.last() == Some(&"") {
            parts.pop();
        }
        if parts.len() != 2 {
            return Err("Malformed CIDR, one '/' required".into());
        }
        let bits: i64 = parts[1]
            .parse()
            .map_err(|_| "Malformed CIDR, mask bits must be an integer".to_string())?;
        if bits < 0 {
            return Err("Malformed CIDR, mask bits must not be negative".into());
        }
        let looks = parts[0].split('.').count() == 4
            && parts[0].chars().all(|c| c.is_ascii_digit() || c == '.')
            || parts[0].contains(':')
                && parts[0].chars().all(|c| c.is_ascii_hexdigit() || c == ':');
        let ip = if looks {
            ip_bytes(parts[0]).ok_or_else(|| format!("Invalid IP address: {}", parts[0]))?
        } else {
            return Err(format!("Nonstandard IP address: {}", parts[0]));
        };
        if ip.len() == 4 && bits > 31 {
            return Err("IPv4 mask bits must be < 32".into());
        }
        if ip.len() == 16 && bits > 127 {
            return Err("IPv6 mask bits must be < 128".into());
        }
        let host_bits = ip.len() * 8 - bits as usize;
        // The bottom is the address as written, host bits and all (AWS's
        // engine does not mask it); the top sets every host bit.
        let low = ip.clone();
        let mut high = ip;
        for i in 0..host_bits {
            let byte = high.len() - 1 - i / 8;
            high[byte] |= 1u8 << (i % 8);
        }
        Ok(IpRange { low, high })
    }

    fn contains(&self, s: &str) -> bool {
        ip_bytes(s).is_some_and(|ip| {
            ip.len() == self.low.len()
                && ip.as_slice() >= self.low.as_slice()
                && ip.as_slice() <= self.high.as_slice()
        })
    }
}

impl AnythingBut {
    fn excludes(&self, v: &Value) -> bool {
        let s = v.as_str();
        match self {
            AnythingBut::Strings(set) => s.is_some_and(|s| set.iter().any(|x| x == s)),
            AnythingBut::Numbers(set) => v
                .as_f64()
                .filter(|_| v.is_number())
                .and_then(comparable)
                .is_some_and(|k| set.contains(&k)),
            AnythingBut::Prefix(p) => s.is_some_and(|s| s.starts_with(p.as_str())),
            AnythingBut::Suffix(p) => s.is_some_and(|s| s.ends_with(p.as_str())),
            AnythingBut::IgnoreCase(set) => {
                s.is_some_and(|s| set.iter().any(|x| lower(x) == lower(s)))
            }
            AnythingBut::Wildcards(ws) => s.is_some_and(|s| ws.iter().any(|w| w.matches(s))),
        }
    }
}

impl Matcher {
    /// Whether one value of the event (never an array or object) matches.
    pub(crate) fn matches(&self, v: &Value) -> bool {
        let s = v.as_str();
        match self {
            Matcher::Str(want) => s.is_some_and(|s| {
                s == want || ip_bytes(want).is_some_and(|w| ip_bytes(s) == Some(w))
            }),
            Matcher::Num(text, f) => match v {
                Value::Number(n) => {
                    let same = comparable(*f)
                        .zip(n.as_f64().and_then(comparable))
                        .is_some_and(|(a, b)| a == b);
                    same || n.to_string() == *text
                }
                _ => false,
            },
            Matcher::Bool(b) => v.as_bool() == Some(*b),
            Matcher::Null => v.is_null(),
            Matcher::Prefix(p) => s.is_some_and(|s| s.starts_with(p.as_str())),
            Matcher::Suffix(p) => s.is_some_and(|s| s.ends_with(p.as_str())),
            Matcher::PrefixIgnoreCase(p) => s.is_some_and(|s| lower(s).starts_with(&lower(p))),
            Matcher::SuffixIgnoreCase(p) => s.is_some_and(|s| lower(s).ends_with(&lower(p))),
            Matcher::EqualsIgnoreCase(want) => s.is_some_and(|s| lower(s) == lower(want)),
            Matcher::Wildcard(w) => s.is_some_and(|s| w.matches(s)),
            Matcher::AnythingBut(a) => !a.excludes(v),
            Matcher::Numeric(r) => {
                v.is_number()
                    && v.as_f64()
                        .and_then(comparable)
                        .is_some_and(|k| r.contains(k))
            }
            Matcher::Cidr(r) => s.is_some_and(|s| r.contains(s)),
            Matcher::Exists(want) => *want,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_pieces_in_order() {
        let w = |p: &str, s: &str| Wildcard::parse(p).unwrap().matches(s);
        assert!(w("*.png", "a.png"));
        assert!(w("a*b*c", "abc"));
        assert!(w("a*b*c", "axxbyyc"));
        assert!(!w("a*b*c", "acb"));
        assert!(w("*", ""));
        assert!(!w("ab*ba", "aba"));
        assert!(w(r"a\*b", "a*b"));
        assert!(!w(r"a\*b", "axb"));
        assert_eq!(
            Wildcard::parse("a**b").unwrap_err(),
            "Consecutive wildcard characters at pos 1"
        );
        assert_eq!(
            Wildcard::parse(r"a\b").unwrap_err(),
            "Invalid escape character at pos 1"
        );
    }

    #[test]
    fn cidr_blocks_cover_their_addresses() {
        let r = IpRange::parse("10.0.0.0/24").unwrap();
        assert!(r.contains("10.0.0.255"));
        assert!(!r.contains("10.0.1.0"));
        assert!(!r.contains("::1"));
        let r = IpRange::parse("2001:db8::/32").unwrap();
        assert!(r.contains("2001:db8:ffff::1"));
        assert_eq!(
            IpRange::parse("10.0.0.0/32").unwrap_err(),
            "IPv4 mask bits must be < 32"
        );
    }
}
