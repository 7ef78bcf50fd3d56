//! The trace header (`X-Amzn-Trace-Id`, `_X_AMZN_TRACE_ID` inside a function,
//! `AWSTraceHeader` on messages): `Root=1-5759e988-bd862e3fe1be46a994272793;
//! Parent=53995c3f42cd8ad8;Sampled=1`, with any other fields (Lambda's
//! `Lineage`) kept in order.

use nimbus_model::time::now_millis;

/// A parsed trace header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceHeader {
    /// The trace id, `1-<8 hex seconds>-<24 hex>`.
    pub root: Option<String>,
    /// The id of the segment or subsegment that made the call.
    pub parent: Option<String>,
    /// The upstream sampling decision: `None` when not made (`Sampled=?` or absent).
    pub sampled: Option<bool>,
    /// Other fields, as given.
    pub rest: Vec<(String, String)>,
}

thread_local! {
    /// A xorshift generator per thread, seeded once from the system's
    /// randomness: ids need to be unique, not secret, and a system call per
    /// id would cost every invocation more than the rest of its tracing.
    static RNG: std::cell::Cell<u64> = std::cell::Cell::new({
        let b = *uuid::Uuid::new_v4().as_bytes();
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) | 1
    });
}

fn next_u64() -> u64 {
    RNG.with(|c| {
        let mut x = c.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        x
    })
}

/// Sixteen random bytes.
fn random() -> [u8; 16] {
    let (a, b) = (next_u64().to_le_bytes(), next_u64().to_le_bytes());
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a);
    out[8..].copy_from_slice(&b);
    out
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// A new trace id for now: `1-<epoch seconds, 8 hex>-<96 random bits>`.
pub fn new_trace_id() -> String {
    format!("1-{:08x}-{}", now_millis() / 1000, &hex(&random())[..24])
}

/// A new segment or subsegment id: 64 random bits in 16 hex digits.
pub fn new_segment_id() -> String {
    hex(&random()[..8])
}

/// A uniform random number in `[0, 1)`, for sampling.
pub fn random_unit() -> f64 {
    (next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether `s` is a trace id X-Ray accepts: `1-` 8 hex digits `-` 24 hex digits.
pub fn valid_trace_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 35
        && s.starts_with("1-")
        && b[10] == b'-'
        && b[2..10].iter().all(u8::is_ascii_hexdigit)
        && b[11..].iter().all(u8::is_ascii_hexdigit)
}

/// Whether `s` is a segment id: 16 hex digits.
pub fn valid_segment_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl TraceHeader {
    pub fn parse(s: &str) -> TraceHeader {
        let mut h = TraceHeader::default();
        for field in s.split(';') {
            let Some((k, v)) = field.trim().split_once('=') else {
                continue;
            };
            match k.trim() {
                "Root" if valid_trace_id(v.trim()) => h.root = Some(v.trim().to_string()),
                "Parent" if valid_segment_id(v.trim()) => h.parent = Some(v.trim().to_string()),
                "Sampled" => {
                    h.sampled = match v.trim() {
                        "1" => Some(true),
                        "0" => Some(false),
                        _ => None,
                    }
                }
                "Root" | "Parent" => {}
                k => h.rest.push((k.to_string(), v.trim().to_string())),
            }
        }
        h
    }

    /// The field named `k` among the others (`Lineage`, `Self`, ...).
    pub fn field(&self, k: &str) -> Option<&str> {
        self.rest
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Display for TraceHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(r) = &self.root {
            parts.push(format!("Root={r}"));
        }
        if let Some(p) = &self.parent {
            parts.push(format!("Parent={p}"));
        }
        match self.sampled {
            Some(true) => parts.push("Sampled=1".into()),
            Some(false) => parts.push("Sampled=0".into()),
            None => {}
        }
        parts.extend(self.rest.iter().map(|(k, v)| format!("{k}={v}")));
        f.write_str(&parts.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_extra_fields() {
        let s = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1";
        let h = TraceHeader::parse(s);
        assert_eq!(
            h.root.as_deref(),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(h.parent.as_deref(), Some("53995c3f42cd8ad8"));
        assert_eq!(h.sampled, Some(true));
        assert_eq!(h.field("Lineage"), Some("a87bd80c:1"));
        assert_eq!(h.to_string(), s);
    }

    #[test]
    fn malformed_ids_are_dropped_and_undecided_sampling_kept_open() {
        let h = TraceHeader::parse("Root=1-abc;Parent=xyz;Sampled=?");
        assert_eq!(h.root, None);
        assert_eq!(h.parent, None);
        assert_eq!(h.sampled, None);
        assert!(valid_trace_id(&new_trace_id()));
        assert!(valid_segment_id(&new_segment_id()));
        let r = random_unit();
        assert!((0.0..1.0).contains(&r));
    }
}
