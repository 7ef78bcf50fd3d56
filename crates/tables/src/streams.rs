//! Change streams: the record DynamoDB Streams emits for an item change, stream
//! ARNs and labels, shard iterators, and sequence numbers.
//!
//! Every table stream has one shard. A record is written in the same
//! transaction as the change it describes, keyed by a sequence number that
//! grows with every change of every table, so a stream is in commit order and
//! a restart neither loses nor repeats one.

use crate::value::{Item, item_size, item_to_json};
use base64::Engine as _;
use serde_json::{Value, json};

/// How long records are kept.
pub const RETENTION_MS: u64 = 24 * 60 * 60 * 1000;

/// `shardId-<20 digits>-<8 hex>`: the one shard of a stream.
pub fn shard_id(label: &str) -> String {
    let digits: String = label.chars().filter(char::is_ascii_digit).collect();
    format!("shardId-{:0>20}-{:08x}", digits, crc(label))
}

fn crc(s: &str) -> u32 {
    // FNV-1a: a stable, dependency-free fingerprint for the shard id's suffix.
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// DynamoDB's sequence numbers are decimal strings of 21 or more digits.
pub fn sequence_number(seq: u64) -> String {
    format!("{seq:021}")
}

pub fn parse_sequence_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The change kinds.
pub fn event_name(old: Option<&Item>, new: Option<&Item>) -> &'static str {
    match (old, new) {
        (None, _) => "INSERT",
        (Some(_), Some(_)) => "MODIFY",
        (Some(_), None) => "REMOVE",
    }
}

/// One stream record, in the shape `GetRecords` and Lambda's event both use.
#[allow(clippy::too_many_arguments)]
pub fn record(
    region: &str,
    view_type: &str,
    seq: u64,
    now_ms: u64,
    keys: &Item,
    old: Option<&Item>,
    new: Option<&Item>,
    by_ttl: bool,
) -> Value {
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": (now_ms / 1000) as f64,
        "Keys": item_to_json(keys),
        "SequenceNumber": sequence_number(seq),
        "StreamViewType": view_type,
    });
    let mut size = item_size(keys);
    if matches!(view_type, "NEW_IMAGE" | "NEW_AND_OLD_IMAGES")
        && let Some(n) = new
    {
        dynamodb["NewImage"] = item_to_json(n);
        size += item_size(n);
    }
    if matches!(view_type, "OLD_IMAGE" | "NEW_AND_OLD_IMAGES")
        && let Some(o) = old
    {
        dynamodb["OldImage"] = item_to_json(o);
        size += item_size(o);
    }
    dynamodb["SizeBytes"] = json!(size);
    let mut r = json!({
        "eventID": uuid::Uuid::new_v4().simple().to_string(),
        "eventName": event_name(old, new),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
    });
    if by_ttl {
        // The Streams API's shape; Lambda's event spells the fields in lower case.
        r["userIdentity"] = json!({ "Type": "Service", "PrincipalId": "dynamodb.amazonaws.com" });
    }
    r
}

/// Where a reader is: the stream's table and label, and the next sequence
/// number to read. Opaque to clients (base64 of the fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iterator {
    pub table: String,
    pub label: String,
    pub next_seq: u64,
    /// When it was issued: DynamoDB's iterators expire after 15 minutes.
    pub issued_ms: u64,
}

pub const ITERATOR_TTL_MS: u64 = 15 * 60 * 1000;

impl Iterator {
    pub fn encode(&self) -> String {
        let raw = format!(
            "v1\n{}\n{}\n{}\n{}",
            self.table, self.label, self.next_seq, self.issued_ms
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(s: &str) -> Option<Iterator> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let mut parts = raw.split('\n');
        if parts.next()? != "v1" {
            return None;
        }
        let it = Iterator {
            table: parts.next()?.to_string(),
            label: parts.next()?.to_string(),
            next_seq: parts.next()?.parse().ok()?,
            issued_ms: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(it)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterators_round_trip_and_refuse_garbage() {
        let it = Iterator {
            table: "t".into(),
            label: "2026-11-27T05:00:00.000".into(),
            next_seq: 42,
            issued_ms: 7,
        };
        assert_eq!(Iterator::decode(&it.encode()), Some(it));
        assert_eq!(Iterator::decode("nonsense!"), None);
        assert_eq!(Iterator::decode(""), None);
    }

    #[test]
    fn sequence_numbers_are_21_digits() {
        assert_eq!(sequence_number(5), "000000000000000000005");
        assert_eq!(parse_sequence_number("000000000000000000005"), Some(5));
        assert_eq!(parse_sequence_number("x"), None);
        assert!(shard_id("2026-11-27T05:00:00.000").starts_with("shardId-"));
    }
}
